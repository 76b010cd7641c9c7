"""Settings: the TOML file, environment overrides with `__` nesting, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_from_the_shipped_file() -> None:
    settings = load_settings()
    assert settings.digests_dir == Path("seeds")
    assert settings.database_url == "sqlite:///state/digestbot.db"
    assert settings.http.port == 8080
    assert settings.timezone == "Asia/Shanghai"
    assert settings.telegram.base_url == "https://api.telegram.org/bot"
    assert settings.token is None


def test_environment_overrides_file_with_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_HTTP__PORT", "9191")
    monkeypatch.setenv("DIGESTBOT_DIGESTS_DIR", "/tmp/digests")
    monkeypatch.setenv(
        "DIGESTBOT_TELEGRAM__CHANNELS",
        '[{"chat": "@ai_news", "categories": ["AI工具"]}, {"chat": -1001234}]',
    )
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__ADMINS", "[42, 43]")
    settings = load_settings()
    assert settings.http.port == 9191
    assert settings.digests_dir == Path("/tmp/digests")
    assert [c.chat for c in settings.telegram.channels] == ["@ai_news", -1001234]
    assert settings.telegram.channels[0].categories == ["AI工具"]
    assert settings.telegram.admins == [42, 43]


def test_custom_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "custom.toml"
    config.write_text('site_url = "https://news.example.com"\n[http]\nport = 7000\n', "utf-8")
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(config))
    settings = load_settings()
    assert settings.site_url == "https://news.example.com/"
    assert settings.http.port == 7000


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DIGESTBOT_HTTP__PORT", "eighty", "http.port (DIGESTBOT_HTTP__PORT)"),
        ("DIGESTBOT_HTTP__PORT", "70000", "http.port"),
        ("DIGESTBOT_TIMEZONE", "Mars/Olympus", "timezone (DIGESTBOT_TIMEZONE): is not a known"),
        ("DIGESTBOT_DATABASE_URL", "mysql://x", "database_url"),
        ("DIGESTBOT_SITE_URL", "ftp://x", "site_url"),
        ("DIGESTBOT_TELEGRAM__CHANNELS", '[{"chat": "no spaces"}]', "telegram.channels"),
        ("DIGESTBOT_TELEGRAM__CHANNELS", "not json", "telegram"),
        ("DIGESTBOT_TELEGRAM__TOKEN", "hunter2", "telegram.token"),
    ],
)
def test_bad_values_name_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_bad_token_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "12345:short"
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", secret)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert secret not in str(caught.value)


def test_unknown_key_and_bad_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("digest_dir = 'typo'\n", "utf-8")
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"digest_dir .*not a known setting"):
        load_settings()
    config.write_text("[http\nport = 1\n", "utf-8")
    with pytest.raises(SettingsError, match=r"c\.toml"):
        load_settings()
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DIGESTBOT_HTTP__PORT": "eighty", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "build"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "http.port" in lines[0]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e999"])
@pytest.mark.parametrize(
    "variable",
    [
        "DIGESTBOT_SCAN_INTERVAL",
        "DIGESTBOT_TELEGRAM__GLOBAL_PER_SECOND",
        "DIGESTBOT_HTTP__HEADER_TIMEOUT",
    ],
)
def test_non_finite_numbers_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_non_finite_numbers_in_the_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("settle_seconds = inf\n[telegram]\nrequest_timeout = nan\n", "utf-8")
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"(settle_seconds|request_timeout) \(.*c\.toml\)"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DIGESTBOT_HTTP__PORT", "abc"),
        ("DIGESTBOT_HTTP", "not json"),
        ("DIGESTBOT_TELEGRAM__CHANNELS", "[bad"),
        ("DIGESTBOT_TELEGRAM__ADMINS", "{"),
    ],
)
def test_an_error_in_a_variable_names_the_variable_not_the_file(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message and "digestbot.toml" not in message
    assert "\n" not in message


def test_an_error_in_the_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[http]\nport = 'abc'\n", "utf-8")
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"http\.port \(.*c\.toml\)"):
        load_settings()


def test_unknown_variable_is_a_warning_naming_it(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DIGESTBOT_CONFIG": str(ROOT / "config" / "digestbot.toml"),
        "DIGESTBOT_DIGEST_DIR": str(tmp_path / "typo"),
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "DIGESTBOT_FEEDS_DIR": str(tmp_path / "feeds"),
        "DIGESTBOT_DIGESTS_DIR": str(tmp_path / "seeds"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "build"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "DIGESTBOT_DIGEST_DIR" in line)
    assert "warning" in warning and "did you mean DIGESTBOT_DIGESTS_DIR?" in warning
    assert "DIGESTBOT_DIGESTS_DIR " not in result.stderr.replace(warning, "")  # known ones: quiet
