"""The category table: the shipped one, and mistakes in an operator's table reported by line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from bot.categorising.table import CategoryTableError, load_table
from bot.cli import main

SHIPPED = ROOT / "config" / "categories.toml"
SIX = {
    "AI产业": ("ai-industry", "AI Industry"),
    "AI发展": ("ai-progress", "AI Progress"),
    "AI应用": ("ai-applications", "AI Applications"),
    "AI伦理": ("ai-ethics", "AI Ethics"),
    "硬件设施": ("hardware", "Hardware & Infrastructure"),
    "AI工具": ("ai-tools", "AI Tools"),
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_shipped_table_has_the_six_categories_of_the_sample() -> None:
    table = load_table(SHIPPED)
    assert {c.name: (c.slug, c.label) for c in table.categories} == SIX
    assert table.min_score > 0 and table.title_weight > 1


def test_every_shipped_category_has_chinese_and_english_keywords() -> None:
    for rule in load_table(SHIPPED).rules:
        words = [word for word, _ in rule.keywords]
        assert sum(bool(_CJK.search(w)) for w in words) >= 20, rule.category.name
        assert sum(w.isascii() for w in words) >= 20, rule.category.name
        assert all(weight > 0 for _, weight in rule.keywords), rule.category.name


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("title_weight = 2\nmin_scroe = 1\n", 2, "unknown key 'min_scroe'"),
        ('[[category]]\nname = "A"\nslug = "a"\nlable = "A"\n', 4, "unknown key 'lable'"),
        (
            '[[category]]\nname = "A"\nslug = "a"\n\n[category.keywordz]\n"x" = 1\n',
            5,
            "unknown key 'keywordz'",
        ),
        (
            '[[category]]\nname = "A"\nslug = "a"\n[category.patterns]\n\'ok\' = 1\n'
            "'(unclosed' = 2\n",
            6,
            "bad pattern '(unclosed'",
        ),
        (
            '[[category]]\nname = "A"\nslug = "a"\npatterns = { "\\\\bfoo[" = 1 }\n',
            4,
            "bad pattern '\\\\bfoo['",
        ),
        (
            '[[category]]\nname = "A"\nslug = "same"\n\n[[category]]\nname = "B"\nslug = "same"\n',
            5,
            "duplicate slug 'same'",
        ),
        ('[[category]]\nname = "A"\n[[category]]\nname = "A"\n', 3, "duplicate category 'A'"),
        ('[[category]]\nname = "A"\nslug = "AI Tools"\n', 3, "slug 'AI Tools' must be"),
        (
            '[[category]]\nname = "A"\nslug = "a"\n[category.keywords]\n"GPU" = 1\n"chip" = 1\n'
            '"ｇｐｕ" = 2\n',
            7,
            "keyword 'ｇｐｕ' repeats 'GPU'",
        ),
        (
            '[[category]]\nname = "A"\nslug = "a"\n[category.keywords]\n"x" = "heavy"\n',
            4,
            "weight of 'x' must be a number",
        ),
        ('[[category]]\nname = "A"\nslug = "a"\nkeywords = { "x" = 1 \n', 4, ""),
    ],
)
def test_a_bad_table_is_reported_with_its_line(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = tmp_path / "categories.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CategoryTableError) as caught:
        load_table(path)
    assert (caught.value.source, caught.value.line) == (str(path), line)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_digestbot_check_fails_on_a_bad_table_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "categories.toml"
    bad.write_text(
        SHIPPED.read_text(encoding="utf-8").replace('slug = "ai-tools"', 'slug = "hardware"'),
        encoding="utf-8",
    )
    rows = SHIPPED.read_text(encoding="utf-8").splitlines()
    last = max(n for n, row in enumerate(rows, 1) if row == "[[category]]")  # AI工具, the last
    monkeypatch.setenv("DIGESTBOT_CATEGORIES_FILE", str(bad))
    assert main(["check", str(SAMPLE)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:{last}: duplicate slug 'hardware' (also '硬件设施')" in out


def test_digestbot_check_accepts_the_shipped_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_CATEGORIES_FILE", str(SHIPPED))
    assert main(["check", str(SAMPLE)]) == 0
    assert "6 categories" in capsys.readouterr().out
