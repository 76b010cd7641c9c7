"""corpus/written/: the stories written for training (issue 12, round 13) are well formed, each
file one source of its language, every label one of the six, no story twice; and the bench
trains on them by default, as the shipped model was."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType

from bench.categories import BASE, WRITTEN, default_base
from bot.categorising.training import GOAL_MIN_ITEMS, read_labelled

ROOT = Path(__file__).resolve().parent.parent
SIX = {"AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"}
KEYS = {"source", "lang", "title", "summary", "labels"}


def files() -> list[Path]:
    return sorted(WRITTEN.glob("*.jsonl"))


def test_there_are_written_stories_in_both_languages() -> None:
    found = Counter(path.name.split("-", 1)[0] for path in files())
    assert found["en"] >= 20 and found["zh"] >= 10 and set(found) == {"en", "zh"}, found


def test_chinese_stories_teach_every_category_but_ai_applications() -> None:
    # the Chinese writers' sections file far fewer stories under AI应用 than the labelling
    # guide does; taught so, the written Chinese stories lowered two of them (docs/BENCHMARKS.md,
    # round 13): a Chinese story keeps its labels and learns the others
    for path in files():
        for item in read_labelled(path):
            if path.name.startswith("zh-"):
                assert "AI应用" not in item.targets and item.targets, path
            else:
                assert item.targets == item.labels, path


def test_every_line_is_a_story_of_its_files_source_and_language() -> None:
    for path in files():
        lang = path.name.split("-", 1)[0]
        lines = path.read_text("utf-8").splitlines()
        assert lines, path
        for number, line in enumerate(lines, 1):
            row = json.loads(line)
            where = f"{path.name}:{number}"
            assert KEYS <= set(row) <= KEYS | {"learn"}, where
            assert row["source"] == f"written-{path.stem}", where
            assert row["lang"] == lang, where
            assert row["title"].strip() == row["title"] and row["title"], where
            assert isinstance(row["summary"], str), where
            assert row["labels"] and set(row["labels"]) <= SIX, where
            assert len(set(row["labels"])) == len(row["labels"]), where


def test_each_file_stays_below_the_size_of_a_source_the_goal_is_about() -> None:
    # a written file of GOAL_MIN_ITEMS or more would be a "source" when training chooses the
    # second-category rule on the goal's sources; written stories must not choose it
    for path in files():
        assert len(read_labelled(path)) < GOAL_MIN_ITEMS, path


def test_no_story_is_written_twice() -> None:
    titles = Counter(
        " ".join(json.loads(line)["title"].lower().split())
        for path in files()
        for line in path.read_text("utf-8").splitlines()
    )
    assert [t for t, n in titles.items() if n > 1] == []


def test_every_category_has_hundreds_of_written_stories() -> None:
    counts = Counter(
        label for path in files() for item in read_labelled(path) for label in item.labels
    )
    assert set(counts) == SIX and min(counts.values()) >= 200, counts


def test_the_bench_trains_on_them_by_default() -> None:
    assert default_base() == [str(BASE), *map(str, files())]


def load_overlap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_overlap", ROOT / "corpus" / "overlap.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_overlap_check_tells_a_remembered_headline_from_the_same_event_retold() -> None:
    overlap = load_overlap()
    corpus = [
        "Amazon Pauses Police Use of Its Facial Recognition Software",
        "Chipmaker posts record quarter on data-centre demand",
    ]
    titles, index = overlap.indexed(corpus)
    copied = overlap.nearest(
        "amazon pauses police use of its facial recognition software!", titles, index
    )
    retold = overlap.nearest(
        "Amazon halts police access to its face recognition tool for a year", titles, index
    )
    unrelated = overlap.nearest("Robots learn to fold laundry", titles, index)
    remembered = overlap.nearest(
        "IBM quits facial recognition; Amazon pauses police use of Rekognition", titles, index
    )
    assert copied == (1.0, 0)
    assert remembered[1] == 0 and remembered[0] >= overlap.TOO_NEAR
    assert retold[1] == 0 and 0.2 < retold[0] < overlap.TOO_NEAR
    assert unrelated[0] < 0.2
