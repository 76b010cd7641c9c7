"""The quality of categorising on the hand-labelled set, kept from regressing: the service's
pipeline (the shipped model nudged by the keyword table) and the keyword rules alone.

The figures are those recorded in docs/BENCHMARKS.md (`bench/categories.py`); when a change to
config/categories.toml or a retrained model raises them, record the new ones there and here.
The model was trained on the real corpus, never on this set; the keyword table was tuned on its
`tune` split, and the nudge chosen on the corpus (leave one source out), not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, SAMPLE

from bench.categories import LABELLED, labelled_outcomes, load_labelled, predict, reports
from bot.categorising.table import load_table
from bot.parsing import parse_file

# micro-averaged F1 recorded for the keyword rules alone (full set; held-out split)
RECORDED = {"full": 0.856, "heldout": 0.851}
# the service's pipeline with the shipped model: micro-F1, hit rate, precision
# (issue 12's fourth round: the second-category rule is chosen on the nudged probabilities the
# service computes, and now adds a second category less often (ratio 0.8 -> 0.95): precision
# 0.810 -> 0.863 on the full set and 0.844 -> 0.878 held-out, held-out hit kept, for fewer
# second categories: full hit 0.930 -> 0.913 (two items), micro-F1 0.822 -> 0.808 and held-out
# 0.863 -> 0.857 (recall), while leave-one-source-out precision rose on all six sources by
# 0.03-0.07, the goal's binding figure: docs/BENCHMARKS.md, round 4; round 6 adds 1,164 English
# items of tianyaxiang's mixed feeds labelled one by one: full 0.808 / 0.913 / 0.863 -> 0.8477 /
# 0.939 / 0.889, held-out 0.857 / 0.941 / 0.878 -> 0.881 / 0.971 / 0.902; round 7 trains the
# launches of juya's 产品应用 and tianyaxiang's Product Hunt as AI工具 alone (a reader accepts
# AI应用 too): leave-one-source-out rises on four sources of six, the worst among them, while
# here AI应用's recall falls: full 0.848 / 0.939 / 0.889 -> 0.8267 / 0.939 / 0.873, held-out
# 0.881 / 0.971 / 0.902 -> 0.8706 / 0.971 / 0.881, one more wrong category of 42 held-out;
# round 13 adds 3,522 English and 1,448 Chinese stories written for training (corpus/written/):
# full 0.827 / 0.939 / 0.873 -> 0.8667 / 0.957 / 0.915, held-out 0.871 / 0.971 / 0.881 -> 0.916
# / 1.000 / 0.950)
RECORDED_MODEL = {"full": (0.866, 0.957, 0.915), "heldout": (0.916, 1.0, 0.950)}
GOAL = 0.8
SIX = {"AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"}
TABLE = load_table(ROOT / "config" / "categories.toml")


@pytest.fixture(scope="module")
def figures():  # type: ignore[no-untyped-def]
    return reports(load_labelled(), TABLE.without_model())[0]


def test_the_pipeline_with_the_model_holds_its_recorded_figures() -> None:
    assert TABLE.model is not None
    found = reports(load_labelled(), TABLE)[0]
    outcomes = labelled_outcomes(load_labelled(), TABLE)
    for split, (f1, hit, precision) in RECORDED_MODEL.items():
        assert round(found[split].micro.f1, 3) >= f1, split
        assert round(outcomes[split].hit, 3) >= hit, split
        assert round(outcomes[split].precision, 3) >= precision, split
        assert found[split].micro.f1 >= GOAL, split


def test_the_sample_items_get_the_categories_a_reader_would_agree_with() -> None:
    """Ten of the eleven items get their labels (the eleventh, a demo project built on Llama,
    labelled AI发展, gets AI伦理: the keyword table's 监管 and 下架 outweigh the model's AI工具);
    every category given is among the item's labels but two."""
    sample = [e for e in load_labelled() if e.split == "sample"]
    got = predict(sample, TABLE)
    assert all(got[e.id].rule == "model" for e in sample)
    agreed = [e.id for e in sample if set(got[e.id].categories) & set(e.expected)]
    assert len(agreed) >= 10, agreed
    wrong = sum(len(set(got[e.id].categories) - set(e.expected)) for e in sample)
    assert wrong <= 2


def test_micro_f1_does_not_fall_below_the_recorded_figures(figures) -> None:  # type: ignore[no-untyped-def]
    for split, recorded in RECORDED.items():
        assert round(figures[split].micro.f1, 3) >= recorded, split
        assert figures[split].micro.f1 >= GOAL, split


def test_no_category_is_left_behind(figures) -> None:  # type: ignore[no-untyped-def]
    for scores in figures["full"].per_category:
        assert scores.f1 >= 0.7, scores


def test_the_labelled_set_is_what_the_issue_asks_for() -> None:
    items = load_labelled()
    assert len({e.id for e in items}) == len(items)
    assert len({e.title for e in items}) == len(items)
    written = [e for e in items if e.split != "sample"]
    assert len(written) >= 80
    assert sum(e.split == "heldout" for e in items) >= 30
    assert Counter(e.lang for e in written).keys() == {"zh", "en"}
    assert min(Counter(e.lang for e in written).values()) >= 30
    positives = Counter(c for e in written for c in e.expected)
    assert positives.keys() == SIX and min(positives.values()) >= 15
    for e in items:
        assert e.expected and set(e.expected) <= set(e.digest), e.id
        assert len(e.reason) >= 8 and e.summary and e.title, e.id


def test_the_sample_items_are_the_seeds_items_in_order() -> None:
    seed = parse_file(SAMPLE, zone=ZoneInfo("Asia/Shanghai"))
    sample = [e for e in load_labelled() if e.split == "sample"]
    assert [e.title for e in sample] == [i.title for i in seed.items]
    assert [e.summary for e in sample] == [i.summary_text for i in seed.items]
    assert all(e.digest == seed.categories for e in sample)


def test_the_bench_runs_as_a_script() -> None:
    script = ROOT / "bench" / "categories.py"
    shown = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "heldout [model] (34 items)" in shown and "micro avg" in shown and "macro F1" in shown
    assert "model: hit" in shown and "keywords: hit" in shown
    as_json = subprocess.run(
        [sys.executable, str(script), "--json", "--labelled", str(LABELLED)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    data = json.loads(as_json)
    assert data["full"]["items"] == len(load_labelled())
    assert data["keywords"]["full"]["micro"]["f1"] >= RECORDED["full"]
    assert data["full"]["micro"]["f1"] >= RECORDED_MODEL["full"][0]
    assert set(data["full"]["categories"]) == SIX
