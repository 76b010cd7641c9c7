"""The blind review of the section table (`bench/heading_review.py`): every large heading is
sampled the same way every time, apart from the audit's items, shown as text only; the review
says which categories the judges accept for most of a heading's items."""

from __future__ import annotations

import json
from pathlib import Path

from bench.category_audit import draw, item_key
from bench.heading_review import (
    MIN_ITEMS,
    PER_HEADING,
    borderline,
    cmd_sample,
    cmd_score,
    draw_headings,
    draw_more,
    groups,
    heading,
    review,
)

Row = dict[str, object]


def _rows(source: str, section: str, labels: list[str], count: int) -> list[Row]:
    return [
        {
            "source": source,
            "date": "2026-01-02",
            "section": section,
            "title": f"{source} {section} {labels} {n}",
            "summary": "y" * 900,
            "labels": labels,
        }
        for n in range(count)
    ]


def _corpus() -> list[Row]:
    return [
        *_rows("juya", "模型发布", ["AI发展"], MIN_ITEMS + 50),  # enough after the audit's 40
        *_rows("juya", "行业动态", ["AI产业"], MIN_ITEMS - 1),  # too small
        *_rows("ainewsbot", "Chip Wars", ["硬件设施"], 60),
        *_rows("ainewsbot", "Compute & Power", ["硬件设施"], 60),
        *_rows("ainewsbot", "Funding Frenzy", ["AI产业"], 100),
        *_rows("juya/judged", "要闻", ["AI产业"], 100),  # labelled one by one: not a heading
    ]


def test_large_headings_are_sampled_the_same_way_without_the_audits_items(
    tmp_path: Path,
) -> None:
    rows = _corpus()
    found = groups(rows)
    assert sorted(found) == ["ainewsbot: AI产业", "ainewsbot: 硬件设施", "juya: 模型发布"]
    assert len(found["ainewsbot: 硬件设施"]) == 120 - sum(
        r["labels"] == ["硬件设施"] for r in draw(rows)
    )
    sample = draw_headings(rows)
    assert [item_key(r) for r in sample] == [item_key(r) for r in draw_headings(list(rows))]
    assert len(sample) == 3 * PER_HEADING
    assert not {item_key(r) for r in sample} & {item_key(r) for r in draw(rows)}
    corpus = tmp_path / "items.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "headings" / "items.jsonl"
    assert cmd_sample(corpus, out, []) == 0
    shown = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(s) == {"n", "key", "title", "summary"} for s in shown)  # no source, section
    assert all(len(s["summary"]) == 600 for s in shown)


def test_a_heading_is_the_source_and_section_or_for_daily_headings_the_labels() -> None:
    assert heading({"source": "juya", "section": "模型发布", "labels": ["AI发展"]}) == (
        "juya: 模型发布"
    )
    assert heading({"source": "ainewsbot", "section": "X", "labels": ["AI伦理", "AI产业"]}) == (
        "ainewsbot: AI伦理 + AI产业"
    )


def test_the_review_adds_what_judges_accept_for_most_items_and_marks_weak_labels() -> None:
    rows = _corpus()
    sample = [r for r in draw_headings(rows) if heading(r) == "juya: 模型发布"]
    keys = [item_key(r) for r in sample]
    tools = set(keys[: PER_HEADING // 2 + 3])  # judge a: AI工具 on just over half
    judge_a = {k: frozenset({"AI发展", "AI工具"} if k in tools else {"AI发展"}) for k in keys}
    judge_b = {k: frozenset({"AI工具"}) for k in keys}  # judge b: AI工具 alone, on all
    others = {item_key(r): frozenset({"AI产业"}) for r in draw_headings(rows)}
    found = review(rows, {"a": {**others, **judge_a}, "b": {**others, **judge_b}})
    row = found["juya: 模型发布"]
    assert row.items == PER_HEADING
    assert row.shares["AI发展"] == {"a": 1.0, "b": 0.0, "mean": 0.5}
    assert row.shares["AI工具"]["a"] == len(tools) / PER_HEADING
    assert row.accepted == ["AI发展", "AI工具"]  # 0.5 is enough, as for AI发展
    assert row.add == ["AI工具"]
    assert row.weak == []
    chips = found["ainewsbot: 硬件设施"]
    assert chips.add == ["AI产业"] and chips.weak == ["硬件设施"]


def test_a_close_call_gets_a_second_look_at_items_not_judged_yet() -> None:
    rows = _corpus()
    sampled = draw_headings(rows)
    close = {item_key(r) for r in sampled if heading(r) == "juya: 模型发布"}
    tools = set(sorted(close)[: PER_HEADING // 2])  # AI工具 on half: within the border
    judge = {
        item_key(r): frozenset({"AI工具"} if item_key(r) in tools else set(r["labels"]))  # type: ignore[call-overload]
        for r in sampled
    }
    judges = {"a": judge, "b": judge}
    assert borderline(review(rows, judges)) == ["juya: 模型发布"]
    more = draw_more(rows, judges)
    assert len(more) == PER_HEADING
    assert {heading(r) for r in more} == {"juya: 模型发布"}
    keys = {item_key(r) for r in more}
    assert not keys & set(judge) and not keys & {item_key(r) for r in draw(rows)}
    assert [item_key(r) for r in draw_more(list(rows), judges)] == [item_key(r) for r in more]


def _written(
    tmp_path: Path, rows: list[Row], judges: dict[str, list[str]]
) -> tuple[Path, list[Path]]:
    """`rows` as a corpus file, and one verdict file per judge giving every key `categories`."""
    corpus = tmp_path / "items.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    keys = [item_key(r) for r in draw_headings(rows)]
    paths = []
    for judge, categories in judges.items():
        path = tmp_path / f"verdicts-{judge}.jsonl"
        lines = [json.dumps({"key": k, "categories": categories}) + "\n" for k in keys]
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    return corpus, paths


def test_score_prints_each_heading_and_what_the_table_lacks(tmp_path: Path, capsys) -> None:
    corpus, paths = _written(tmp_path, _corpus(), {"a": ["AI产业"], "b": ["AI产业"]})
    assert cmd_score(corpus, paths, as_json=False) == 0
    out = capsys.readouterr().out
    assert "juya: 模型发布 (30; table: AI发展): AI产业 1.00" in out
    assert "    add ['AI产业'], weak ['AI发展']" in out
    assert cmd_score(corpus, paths, as_json=True) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["ainewsbot: AI产业"]["add"] == [] and found["ainewsbot: AI产业"]["items"] == 30


def test_verdicts_that_do_not_match_or_cannot_be_read_are_a_clear_error(
    tmp_path: Path, capsys
) -> None:
    rows = _corpus()
    corpus, (a, b) = _written(tmp_path, rows, {"a": ["AI产业"], "b": ["AI产业"]})
    b.write_text("".join(b.read_text(encoding="utf-8").splitlines(True)[1:]), encoding="utf-8")
    assert cmd_score(corpus, [a, b], as_json=False) == 1
    assert "judge b: 89 of 89 verdicts name corpus items, 1 differ" in capsys.readouterr().err
    b.write_text('{"key": "x", "categories": ["AI产业"]}\n{"key": "y"', encoding="utf-8")
    out = tmp_path / "more.jsonl"
    assert cmd_sample(corpus, out, [a, b]) == 1 and not out.exists()
    assert f"{b}: JSONDecodeError" in capsys.readouterr().err
    b.write_text('{"key": "x", "categories": ["AI未来"]}\n', encoding="utf-8")
    assert cmd_score(corpus, [a, b], as_json=False) == 1
    assert f"{b}: ValueError" in capsys.readouterr().err
    b.write_text('{"categories": ["AI产业"]}\n', encoding="utf-8")
    assert cmd_score(corpus, [a, b], as_json=False) == 1
    assert f"{b}: KeyError: 'key'" in capsys.readouterr().err
