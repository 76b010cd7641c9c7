"""The command line as users run it: `python -m bot parse | check | build | stats`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"


def digestbot(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "DIGESTBOT_CONFIG": str(ROOT / "config" / "digestbot.toml"),
        "DIGESTBOT_CATEGORIES_FILE": str(ROOT / "config" / "categories.toml"),
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{cwd}/state/db.sqlite",
        "DIGESTBOT_FEEDS_DIR": str(cwd / "feeds"),
        "DIGESTBOT_DIGESTS_DIR": str(cwd / "seeds"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_parse_prints_the_sample_with_categories(tmp_path: Path) -> None:
    result = digestbot("parse", str(SAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)
    assert len(digest["items"]) == 11
    assert digest["date"].startswith("2025-11-27T12:00:10.236")
    assert all(item["categories"] and item["category_rule"] for item in digest["items"])


def test_parse_reports_bad_file_and_still_prints_good(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: x\n---\n\nno items here\n", "utf-8")
    result = digestbot("parse", str(bad), str(SAMPLE), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:")
    assert len(result.stdout.strip().splitlines()) == 1


def test_check_passes_on_seeds_and_names_a_broken_digest(tmp_path: Path) -> None:
    ok = digestbot("check", str(ROOT / "seeds"), cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 1 digest(s), 11 item(s)")
    folder = tmp_path / "digests"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    (folder / "2025.11.27.16.md").write_text(
        "---\ntitle: t\ndate: 2025-11-27T16:00:00+08:00\n---\n\n1. [cut off](https://exa", "utf-8"
    )
    bad = digestbot("check", str(folder), cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith(f"{folder / '2025.11.27.16.md'}:6: ")


def test_check_rejects_channel_filter_with_unknown_category(tmp_path: Path) -> None:
    channels = json.dumps([{"chat": "@ai_news", "categories": ["AI工具", "AI玩具"]}])
    result = digestbot(
        "check", str(ROOT / "seeds"), cwd=tmp_path, env={"DIGESTBOT_TELEGRAM__CHANNELS": channels}
    )
    assert result.returncode == 1
    assert "unknown category 'AI玩具'" in result.stdout
    assert "AI工具'" not in result.stdout


def test_check_warns_when_the_bot_would_link_to_localhost(tmp_path: Path) -> None:
    token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(30)}"  # shaped, never real
    bot = {"DIGESTBOT_TELEGRAM__TOKEN": token}
    local = digestbot("check", str(ROOT / "seeds"), cwd=tmp_path, env=bot)
    assert local.returncode == 0, local.stderr
    assert "warning: site_url (DIGESTBOT_SITE_URL) is http://localhost:8080/" in local.stderr
    assert token not in local.stdout + local.stderr
    public = {**bot, "DIGESTBOT_SITE_URL": "https://news.example.com/"}
    assert "warning" not in digestbot("check", str(ROOT / "seeds"), cwd=tmp_path, env=public).stderr
    assert "warning" not in digestbot("check", str(ROOT / "seeds"), cwd=tmp_path).stderr


def test_build_then_stats(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    shutil.copy(SAMPLE, tmp_path / "seeds" / SAMPLE.name)
    built = digestbot("build", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "1 digest(s), 11 item(s)" in built.stdout
    assert (tmp_path / "feeds" / "c" / "ai-tools" / "feed.json").is_file()
    again = digestbot("build", cwd=tmp_path)
    assert "0 feed file(s) written" in again.stdout  # nothing changed, nothing rewritten
    stats = digestbot("stats", "--json", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert isinstance(json.loads(stats.stdout), dict)


def test_parse_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    result = digestbot("parse", str(fifo), str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{fifo}:1: not a regular file",
        f"{tmp_path}:1: not a regular file",
    ]


def test_run_refuses_a_channel_filter_with_unknown_category(tmp_path: Path) -> None:
    channels = json.dumps([{"chat": "@ai_news", "categories": ["AI玩具"]}])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "DIGESTBOT_CONFIG": str(ROOT / "config" / "digestbot.toml"),
            "DIGESTBOT_CATEGORIES_FILE": str(ROOT / "config" / "categories.toml"),
            "DIGESTBOT_TELEGRAM__CHANNELS": channels,
            "DIGESTBOT_HTTP__PORT": "0",
        },
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown category 'AI玩具'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_command_and_python_m_bot_are_the_same(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("digestbot")
    for command in ([str(script)], [sys.executable, "-m", "bot"]):
        result = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0 and result.stdout.startswith("digestbot ")
