"""The blind audit of the corpus's labels (`bench/category_audit.py`): the sample the judges saw
is drawn the same way every time and shows them nothing but the text; verdicts are checked;
the figures count what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.category_audit import (
    PER_SOURCE,
    agreement,
    cmd_sample,
    draw,
    hit_precision,
    item_key,
    read_verdicts,
    score_rows,
)

ROOT = Path(__file__).resolve().parent.parent
SIX = ("AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具")


def _rows(sources: int = 2, each: int = PER_SOURCE + 5) -> list[dict[str, object]]:
    return [
        {
            "source": f"s{s}",
            "date": "2026-01-02",
            "section": "Secret section",
            "title": f"title {s}-{n}",
            "summary": "x" * 900,
            "labels": ["AI产业"],
        }
        for s in range(sources)
        for n in range(each)
    ]


def test_the_sample_is_the_same_every_time_and_shows_only_text(tmp_path: Path) -> None:
    rows = _rows()
    first, again = draw(rows), draw(list(rows))
    assert [item_key(r) for r in first] == [item_key(r) for r in again]
    assert {str(r["source"]) for r in first} == {"s0", "s1"}
    assert sum(r["source"] == "s0" for r in first) == PER_SOURCE
    corpus = tmp_path / "items.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "audit" / "items.jsonl"
    assert cmd_sample(corpus, out) == 0
    shown = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(shown) == 2 * PER_SOURCE
    assert all(set(s) == {"n", "key", "title", "summary"} for s in shown)  # no source, label
    assert all(len(s["summary"]) == 600 for s in shown)


def test_a_key_names_the_source_date_and_title() -> None:
    row = {"source": "juya", "date": "2026-05-24", "title": "T"}
    assert item_key(row) != item_key({**row, "source": "ming_h"})
    assert item_key(row) != item_key({**row, "date": "2026-05-25"})
    assert len(item_key(row)) == 12


def test_a_verdict_with_an_unknown_or_no_category_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "verdicts-x.jsonl"
    path.write_text('{"key": "k1", "categories": ["AI工具"]}\n', encoding="utf-8")
    assert read_verdicts(path, SIX) == {"k1": frozenset({"AI工具"})}
    path.write_text('{"key": "k1", "categories": ["AI Tools"]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="k1"):
        read_verdicts(path, SIX)
    path.write_text('{"key": "k1", "categories": []}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="k1"):
        read_verdicts(path, SIX)


def test_hit_precision_and_agreement_count_what_they_say() -> None:
    a, b, c = frozenset({"AI产业"}), frozenset({"AI发展"}), frozenset({"AI产业", "AI发展"})
    assert hit_precision([(a, a), (a, b), (a, c)]) == (2 / 3, 2 / 4)
    assert agreement([a, a, c], [a, b, a]) == (1 / 3, 2 / 3)


def test_the_figures_per_source_set_label_judge_and_model_apart() -> None:
    a, b = frozenset({"AI产业"}), frozenset({"AI发展"})
    sources = {"k1": "s0", "k2": "s0", "k3": "s1"}
    labels = {"k1": a, "k2": a, "k3": b}
    judges = {"a": {"k1": a, "k2": b, "k3": b}, "b": {"k1": a, "k2": b, "k3": a}}
    model = {"k1": b, "k2": b, "k3": b}
    found = score_rows(sources, labels, judges, model)
    s0 = found["s0"]
    assert s0["items"] == 2 and found["overall"]["items"] == 3
    assert s0["judges_same"] == 1.0 and found["s1"]["judges_same"] == 0.0
    assert s0["label_in_a"] == 0.5  # the editor's k2 is not the judge's
    assert s0["model_vs_label_hit"] == 0.0  # the model says AI发展, the editor AI产业
    assert s0["model_vs_a_hit"] == 0.5  # ... which judge a accepts for k2
    assert s0["model_vs_label_or_a_precision"] == 0.5


def test_the_committed_verdicts_name_only_categories_and_no_text() -> None:
    for path in sorted((ROOT / "corpus" / "audit").glob("verdicts-*.jsonl")):
        verdicts = read_verdicts(path, SIX)
        assert len(verdicts) == 6 * PER_SOURCE
        for line in path.read_text(encoding="utf-8").splitlines():
            assert set(json.loads(line)) == {"key", "categories"}
