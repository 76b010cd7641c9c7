"""The category model: the shipped file, training end to end, the order of the rules, and what
happens with a broken or mismatched model file (a clear `check` error; keyword rules instead)."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE
from test_categorising import SIX, digest, item, one
from test_cli import digestbot

from bot.categorising.assign import RULE_DECISIVE, RULE_KEYWORDS, RULE_MODEL, RULE_TAG, assignments
from bot.categorising.model import FORMAT, ModelError, builtin_path, load_model
from bot.categorising.table import CategoryTable, load_table

TABLE_FILE = ROOT / "config" / "categories.toml"
TRAINING = ROOT / "tests" / "data" / "training_items.jsonl"
MODEL_TABLE = load_table(TABLE_FILE)


def table_naming(tmp_path: Path, model: str, extra: str = "") -> Path:
    """A copy of the shipped table whose `model` line names `model`."""
    text = TABLE_FILE.read_text("utf-8").replace('model = "builtin"', f'model = "{model}"', 1)
    path = tmp_path / "categories.toml"
    path.write_text(text.replace("nudge = ", f"{extra}nudge = ", 1), "utf-8")
    return path


def broken_copy(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(builtin_path().read_text("utf-8"))
    change(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


# ------------------------------------------------------------------ the shipped model


def test_the_shipped_model_loads_and_gives_the_same_answer_twice() -> None:
    model = load_model(builtin_path())
    assert set(model.categories) == set(SIX)
    assert MODEL_TABLE.model is not None and not MODEL_TABLE.model_problem
    title, summary = "英伟达发布新一代 GPU 芯片", "数据中心算力翻倍，服务器集群全面升级。"
    first = model.probabilities(title, summary)
    assert first == model.probabilities(title, summary)
    assert first == load_model(builtin_path()).probabilities(title, summary)
    assert all(0.0 < p < 1.0 for p in first.values())
    assert model.choose(first, SIX) == model.choose(dict(first), SIX)
    # The service's pipeline (the model nudged by the keyword table) puts it under hardware.
    assert one(item(title, summary), MODEL_TABLE).categories[0] == "硬件设施"


def test_the_shipped_model_file_is_small_and_holds_counts_not_text() -> None:
    path = builtin_path()
    assert path.stat().st_size < 2_000_000
    meta = load_model(path).metadata
    assert meta["items"] == sum(meta["sources"].values())  # type: ignore[union-attr]
    assert set(meta["labels"]) == set(SIX)  # type: ignore[arg-type]
    assert len(str(meta["data_sha256"])) == 64
    # Weights and n-grams (at most three characters), no sentences.
    data = json.loads(path.read_text("utf-8"))
    assert max(len(term) for term in data["terms"]) <= 3


def test_the_model_categorises_with_the_rule_model_and_a_score() -> None:
    (found,) = assignments(digest(item("OpenAI 完成新一轮融资，估值翻倍")), MODEL_TABLE)
    assert found.rule == RULE_MODEL and found.categories[0] == "AI产业"
    assert found.score is not None and 0.0 < found.score < 1.0
    assert 1 <= len(found.categories) <= 2


def test_the_model_chooses_among_the_digests_categories_only() -> None:
    got = one(item("英伟达发布新一代 GPU 芯片"), MODEL_TABLE, categories=("AI工具", "AI应用"))
    assert got.category_rule == RULE_MODEL
    assert set(got.categories) <= {"AI工具", "AI应用"}
    none = one(item("英伟达发布新一代 GPU 芯片"), MODEL_TABLE, categories=())
    assert (none.categories, none.category_rule) == ((), "")


# ------------------------------------------------------------------ the order of the rules


def test_explicit_tags_still_win_over_the_model() -> None:
    got = one(item("英伟达发布新一代 GPU 芯片", tags=("AI伦理",)), MODEL_TABLE)
    assert (got.categories, got.category_rule) == (("AI伦理",), RULE_TAG)


def test_a_decisive_keyword_forces_its_category(tmp_path: Path) -> None:
    path = table_naming(tmp_path, "builtin")
    text = path.read_text("utf-8").replace(
        'label = "AI Ethics"\n', 'label = "AI Ethics"\ndecisive = ["显卡"]\n', 1
    )
    path.write_text(text, "utf-8")
    table = load_table(path)
    assert table.model is not None
    got = one(item("英伟达发布新一代显卡"), table)
    assert (got.categories, got.category_rule) == (("AI伦理",), RULE_DECISIVE)
    # Not among the digest's categories: no force.
    other = one(item("英伟达发布新一代显卡"), table, categories=("硬件设施", "AI工具"))
    assert other.category_rule == RULE_MODEL
    # A tag still beats it.
    tagged = one(item("英伟达发布新一代显卡", tags=("AI工具",)), table)
    assert tagged.category_rule == RULE_TAG


def test_keyword_weights_nudge_the_models_scores(tmp_path: Path) -> None:
    plain = load_table(table_naming(tmp_path, "builtin").replace(tmp_path / "a.toml"))
    pushed_file = table_naming(tmp_path, "builtin")
    text = pushed_file.read_text("utf-8")
    pushed_file.write_text(re.sub(r"(?m)^nudge = .*$", "nudge = 5", text, count=1), "utf-8")
    pushed = load_table(pushed_file)
    assert pushed.nudge == 5 and plain.nudge < 5
    story = item("一家公司发布新产品", "新品面向医院，医生可用于诊断。")
    (a,) = assignments(digest(story), plain)
    (b,) = assignments(digest(story), pushed)
    assert b.scores["AI应用"] > a.scores["AI应用"]
    assert b.categories[0] == "AI应用"


# ------------------------------------------------------------------ training end to end


def test_training_writes_a_model_that_check_validates(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "trained.json"
    trained = digestbot("categories", "train", str(TRAINING), "--out", str(out), cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "model written" in trained.stdout
    model = load_model(out)
    assert model.metadata["items"] == len(TRAINING.read_text("utf-8").splitlines())
    assert model.metadata["sources"] == {"written-a": 14, "written-b": 14, "written-c": 14}
    # The trained model gets most of its own training items right (it learned something).
    rows = [json.loads(line) for line in TRAINING.read_text("utf-8").splitlines()]
    right = sum(
        model.choose(model.probabilities(r["title"], r["summary"]), SIX)[0] in r["labels"]
        for r in rows
    )
    assert right >= 0.9 * len(rows)
    table = table_naming(tmp_path, out.name)
    checked = digestbot(
        "check", str(SAMPLE), cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(table)}
    )
    assert checked.returncode == 0, checked.stdout
    assert load_table(table).model is not None


def test_training_with_a_category_without_items_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    few = tmp_path / "few.jsonl"
    lines = [line for line in TRAINING.read_text("utf-8").splitlines() if "AI工具" not in line]
    few.write_text("\n".join(lines) + "\n", "utf-8")
    result = digestbot(
        "categories", "train", str(few), "--out", str(tmp_path / "m.json"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "cannot train: too few labelled items" in result.stderr and "AI工具" in result.stderr
    assert not (tmp_path / "m.json").exists()


# ------------------------------------------------------------------ broken or mismatched files


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(version=99), "model version 99 is not supported"),
        (lambda d: d.update(format="other"), "not a model file"),
        (
            lambda d: d.update(categories=["AI产业", "机器人", *d["categories"][2:]]),
            "categories unknown to the table: 机器人",
        ),
        (lambda d: d.update(weights=d["weights"][:-3]), "differ in length"),
        (lambda d: d.pop("bias"), "broken model file"),
    ],
)
def test_a_mismatched_model_is_a_clear_check_error(tmp_path: Path, change, reason: str) -> None:  # type: ignore[no-untyped-def]
    model = broken_copy(tmp_path, change)
    table = table_naming(tmp_path, model.name)
    result = digestbot(
        "check", str(SAMPLE), cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(table)}
    )
    assert result.returncode == 1
    assert f"category model: {model}: " in result.stdout and reason in result.stdout


def test_a_corrupt_or_missing_model_file_is_a_clear_check_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "model.json"
    corrupt.write_bytes(builtin_path().read_bytes()[:5000])
    table = table_naming(tmp_path, corrupt.name)
    result = digestbot("check", cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(table)})
    assert result.returncode == 1
    assert f"category model: {corrupt}: not a model file: not JSON" in result.stdout
    missing = table_naming(tmp_path, "nowhere.json")
    result = digestbot("check", cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(missing)})
    assert "nowhere.json: cannot read the model file" in result.stdout
    with pytest.raises(ModelError, match="not JSON"):
        load_model(corrupt)


def test_with_a_broken_model_the_keyword_rules_decide_after_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = broken_copy(tmp_path, lambda d: d.update(version=2))
    table_file = table_naming(tmp_path, model.name)
    with caplog.at_level(logging.WARNING, logger="digestbot"):
        tables = [load_table(table_file) for _ in range(3)]
    warnings = [r for r in caplog.records if "category model not used" in r.getMessage()]
    assert len(warnings) == 1 and "model version 2" in warnings[0].getMessage()
    table: CategoryTable = tables[-1]
    assert table.model is None and "model version 2" in table.model_problem
    got = one(item("英伟达发布新一代 GPU 芯片", "数据中心算力翻倍"), table)
    assert (got.categories, got.category_rule) == (("硬件设施",), RULE_KEYWORDS)


def test_the_service_builds_with_a_broken_model_using_the_keyword_rules(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    shutil.copy(SAMPLE, tmp_path / "seeds" / SAMPLE.name)
    model = tmp_path / "model.json"
    model.write_text('{"format": "' + FORMAT + '", "version": 1', "utf-8")  # cut short
    table = table_naming(tmp_path, model.name)
    built = digestbot("build", cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(table)})
    assert built.returncode == 0, built.stderr
    assert built.stderr.count("category model not used") == 1
    parsed = digestbot(
        "parse", str(SAMPLE), cwd=tmp_path, env={"DIGESTBOT_CATEGORIES_FILE": str(table)}
    )
    rules = {i["category_rule"] for i in json.loads(parsed.stdout)["items"]}
    assert rules <= {"keywords", "fallback"}


def test_parse_shows_each_items_rule_and_score(tmp_path: Path) -> None:
    parsed = digestbot("parse", str(SAMPLE), cwd=tmp_path)
    assert parsed.returncode == 0, parsed.stderr
    items = json.loads(parsed.stdout)["items"]
    assert {i["category_rule"] for i in items} == {"model"}
    for i in items:
        assert 0 < i["category_score"] <= 1
        assert i["category_scores"][i["categories"][0]] == i["category_score"]


def test_source_indicators_help_training_but_stay_out_of_the_model_file() -> None:
    pytest.importorskip("sklearn")
    from bot.categorising.model import model_from_dict
    from bot.categorising.training import Settings, read_labelled, train

    items = read_labelled(TRAINING)
    data = train(items, SIX, Settings(source_features=True, second_objective="goal"))
    assert len(data["weights"]) == len(SIX) * len(data["terms"])  # n-grams only, no sources
    assert not any(term.startswith("written-") for term in data["terms"])
    assert data["metadata"]["settings"]["source_features"] is True
    model = model_from_dict(data)
    right = sum(
        model.choose(model.probabilities(i.title, i.summary), SIX)[0] in i.labels for i in items
    )
    assert right >= 0.9 * len(items)


def test_the_goal_objective_adds_a_second_category_only_where_it_pays() -> None:
    import numpy as np

    from bot.categorising.training import _second_rule

    # Every item has one label, the best category; a second one is always wrong.
    probabilities = np.array([[0.9, 0.5, 0.1]] * 20)
    y = np.array([[1, 0, 0]] * 20)

    def takes_second(ratio: float, floor: float) -> bool:
        return floor <= 0.5 and ratio * 0.9 <= 0.5

    assert not takes_second(*_second_rule(probabilities, y, "goal"))
    # Half the items need the second category: it pays for hit rate at a small precision cost.
    y = np.array([[1, 0, 0]] * 10 + [[0, 1, 0]] * 10)
    assert takes_second(*_second_rule(probabilities, y, "goal"))


def test_the_per_source_goal_keeps_one_large_source_from_choosing_the_rule() -> None:
    import numpy as np

    from bot.categorising.training import _second_rule

    def takes_second(ratio: float, floor: float) -> bool:
        return floor <= 0.5 and ratio * 0.9 <= 0.5

    # A large source whose items need the second category most of the time, beside two
    # smaller ones where the second category is always wrong (each of the goal's 200+ items);
    # the twelve written items are too few to count.
    probabilities = np.array([[0.9, 0.5, 0.1]] * 1212)
    y = np.array([[1, 0, 0]] * 200 + [[0, 1, 0]] * 600 + [[1, 0, 0]] * 412)
    sources = ["large"] * 800 + ["a"] * 200 + ["b"] * 200 + ["written"] * 12
    assert takes_second(*_second_rule(probabilities, y, "goal", sources))
    assert not takes_second(*_second_rule(probabilities, y, "source_goal", sources))


def test_a_calibration_never_lowers_a_probability_as_the_models_evidence_grows() -> None:
    import numpy as np

    from bot.categorising.training import _platt

    scores = np.linspace(-3.0, 3.0, 100)
    # scores that rise with the label calibrate as usual: a positive slope
    slope, _ = _platt(scores, (scores > 0.5).astype(int))
    assert slope > 0
    # scores that fall as the label gets likelier (one writer labels the category, the others
    # file its items elsewhere): no slope, the label's base rate for every score
    labels = (scores < -2.0).astype(int)
    slope, intercept = _platt(scores, labels)
    rate = 1.0 / (1.0 + np.exp(-intercept))
    assert slope == 0.0
    assert rate == pytest.approx((labels.sum() + 1) / (len(labels) + 2))


def test_training_for_a_table_without_categories_is_a_clear_error() -> None:
    pytest.importorskip("sklearn")
    from bot.categorising.training import TrainingError, read_labelled, train

    with pytest.raises(TrainingError, match="no categories"):
        train(read_labelled(TRAINING), [])


# ------------------------------------------------------------------ feature schemes


def test_the_concept_features_are_shared_by_both_languages() -> None:
    from bot.categorising.features import (
        SCHEME,
        SCHEME_CONCEPTS,
        SCHEME_WORDS_CONCEPTS,
        features,
        ngrams,
    )

    english = features("Startup raises $50 million", "for chips", SCHEME_CONCEPTS)
    chinese = features("初创公司完成融资", "用于芯片研发", SCHEME_CONCEPTS)
    for concept in ("~funding", "~chip", "~company"):
        assert concept in english and concept in chinese
    # The first scheme is the character n-grams alone, as the models trained before read them.
    assert features("Startup raises", "芯片", SCHEME) == ngrams("Startup raises", "芯片")
    assert not any(f.startswith("~") and len(f) > 3 for f in ngrams("Startup raises", "芯片"))
    words = features("Startup raises $50 million", "", SCHEME_WORDS_CONCEPTS)
    assert "_startup" in words and "_million" in words and "_50" not in words
    with pytest.raises(ValueError, match="unknown feature scheme"):
        features("a", "b", "nonsense")


@pytest.mark.parametrize("scheme", ["char-ngrams-concepts-v1", "char-ngrams-words-concepts-v1"])
def test_a_model_of_another_feature_scheme_trains_and_loads(scheme: str) -> None:
    pytest.importorskip("sklearn")
    from bot.categorising.model import model_from_dict
    from bot.categorising.training import Settings, read_labelled, train

    items = read_labelled(TRAINING)
    data = train(items, SIX, Settings(scheme=scheme))
    assert data["features"] == scheme and data["metadata"]["settings"]["scheme"] == scheme
    assert any(term.startswith("~") for term in data["terms"])
    model = model_from_dict(data)
    assert model.scheme == scheme
    right = sum(
        model.choose(model.probabilities(i.title, i.summary), SIX)[0] in i.labels for i in items
    )
    assert right >= 0.9 * len(items)
    with pytest.raises(ModelError, match="features 'other' are none this digestbot reads"):
        model_from_dict(data | {"features": "other"})


def test_the_second_rule_is_chosen_on_what_the_service_decides() -> None:
    pytest.importorskip("sklearn")
    from bot.categorising.training import LabelledItem, _service_priors, read_labelled, train

    rows = [
        LabelledItem("s", "某公司完成 2 亿元融资", "估值翻倍。", ("AI产业",)),
        LabelledItem("s", "#AI工具 一个新插件", "", ("AI工具",)),
    ]
    offsets, forced = _service_priors(rows, SIX, MODEL_TABLE)
    industry = SIX.index("AI产业")
    assert offsets[0][industry] > 0 and offsets[0][industry] == max(offsets[0])
    assert forced == [(), (SIX.index("AI工具"),)]  # an explicit tag decides before the model
    items = read_labelled(TRAINING)
    assert train(items, SIX, table=MODEL_TABLE)["metadata"]["settings"]["second_nudged"] is True
    assert train(items, SIX)["metadata"]["settings"]["second_nudged"] is False


def test_leave_one_source_out_can_list_only_the_writers_own_categories() -> None:
    """`bench/categories.py`'s second column: each left-out writer's digests list only the
    categories its sections map to, and the model then never assigns another."""
    pytest.importorskip("sklearn")
    from bench.categories import leave_one_source_out, writer_categories
    from bot.categorising.training import read_labelled

    own = ("AI产业", "AI发展")
    items = [
        i for i in read_labelled(TRAINING) if i.source != "written-c" or set(i.labels) <= set(own)
    ]
    left_out = [i for i in items if i.source == "written-c"]
    assert writer_categories(left_out, SIX) == own  # in the table's order, not the items'
    found = leave_one_source_out(items, MODEL_TABLE, base=[])["written-c"]
    assert found["own"].items == len(left_out)
    assigned = {s.name: s.tp + s.fp for s in found["own"].per_category}
    assert all(n == 0 for name, n in assigned.items() if name not in own)
    assert sum(assigned.values()) >= len(left_out)  # every item still gets a category
    # among all six, the same model strays outside the writer's two on this small set
    six = {s.name: s.tp + s.fp for s in found["model"].per_category}
    assert any(n for name, n in six.items() if name not in own)


def test_a_writers_judged_items_are_left_out_with_it_and_never_tested() -> None:
    """Items of a writer's mixed sections labelled one by one ("<writer>/judged") train the
    other folds; the writer's own fold is the same with or without them."""
    pytest.importorskip("sklearn")
    from dataclasses import replace

    from bench.categories import leave_one_source_out, tested_sources, writer
    from bot.categorising.training import read_labelled

    items = read_labelled(TRAINING)
    judged = [
        replace(i, source="written-c/judged", labels=("AI伦理",))
        for i in items
        if i.source == "written-c"
    ]
    assert writer("written-c/judged") == "written-c"
    assert tested_sources(items + judged) == ["written-a", "written-b", "written-c"]
    alone = leave_one_source_out(items, MODEL_TABLE, base=[])
    found = leave_one_source_out(items + judged, MODEL_TABLE, base=[])
    assert "written-c/judged" not in found
    assert found["written-c"]["model"] == alone["written-c"]["model"]
    assert found["written-a"]["model"] != alone["written-a"]["model"]  # they trained the others


def test_an_item_learns_only_its_learn_categories_and_keeps_its_labels() -> None:
    """A launch a reader accepts under AI应用 too, but whose section teaches AI工具 alone
    (corpus/sections.toml's [<source>.learn]), does not train AI应用."""
    pytest.importorskip("sklearn")
    from dataclasses import replace

    from bot.categorising.model import model_from_dict
    from bot.categorising.training import LabelledItem, labelled_from_row, read_labelled, train

    items = read_labelled(TRAINING)
    row = {"title": "Zorblat quixle 1", "labels": ["AI工具", "AI应用"], "learn": ["AI工具"]}
    assert labelled_from_row(row).targets == ("AI工具",)
    assert labelled_from_row({**row, "learn": []}).targets == ("AI工具", "AI应用")
    for bad in ({**row, "learn": ["AI伦理"]}, {**row, "learn": "AI工具"}, {**row, "labels": "AI"}):
        with pytest.raises((TypeError, ValueError)):
            labelled_from_row(bad)
    launches = [
        LabelledItem("odd", f"Zorblat quixle {n}", "Vemmish plonk.", ("AI工具", "AI应用"), "en")
        for n in range(12)
    ]
    learned = [replace(i, learn=("AI工具",)) for i in launches]
    both = train(items + launches, SIX)
    tools = train(items + learned, SIX)
    assert tools["metadata"]["labels"]["AI应用"] == both["metadata"]["labels"]["AI应用"] - 12
    assert tools["metadata"]["data_sha256"] != both["metadata"]["data_sha256"]

    def application(data: dict[str, object]) -> float:
        return model_from_dict(data).probabilities("Zorblat quixle 99", "Vemmish plonk.")["AI应用"]

    assert application(tools) < application(both) / 2


def test_the_second_rule_is_chosen_on_what_a_reader_accepts_not_on_what_is_learned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The goal scores a launch's AI应用 as right, so the rule for a second category counts it
    right too, though training learns AI工具 alone."""
    pytest.importorskip("sklearn")
    from dataclasses import replace

    from bot.categorising import training

    items = training.read_labelled(TRAINING)
    launches = [
        training.LabelledItem("odd", f"Zorblat quixle {n}", "Vemmish.", ("AI工具", "AI应用"), "en")
        for n in range(12)
    ]
    seen: list[object] = []
    chosen = training._second_rule

    def spy(probabilities, y, *rest):  # type: ignore[no-untyped-def]
        seen.append(y)
        return chosen(probabilities, y, *rest)

    monkeypatch.setattr(training, "_second_rule", spy)
    data = training.train(items + [replace(i, learn=("AI工具",)) for i in launches], SIX)
    application = list(SIX).index("AI应用")
    assert data["metadata"]["labels"]["AI应用"] == sum("AI应用" in i.labels for i in items)
    assert seen[0][-12:, application].tolist() == [1] * 12  # type: ignore[index]


def test_a_new_writers_first_items_as_corrections_teach_its_later_ones() -> None:
    """`bench/categories.py --corrections`: the writer's first K items (by date) go to training
    as corrections and are never tested; every K is tested on the same later items."""
    pytest.importorskip("sklearn")
    from dataclasses import replace

    from bench.categories import with_corrections
    from bot.categorising.training import LabelledItem, read_labelled

    items = read_labelled(TRAINING)
    # a writer with words of its own, who files them all under AI伦理 and repeats itself
    first = [
        LabelledItem(
            "odd", f"Zorblat quixle {n}", "Vemmish plonk.", ("AI伦理",), "en", 1, "2026-01"
        )
        for n in range(12)
    ]
    later = [replace(i, date="2026-02") for i in first]
    found = with_corrections(items + later + first, MODEL_TABLE, (len(first),), base=[])["odd"]
    assert set(found) == {0, len(first)}
    assert found[0].items == found[len(first)].items == len(later)
    assert found[len(first)].hit > found[0].hit


def test_within_writer_tests_half_a_writers_digests_three_ways(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench/categories.py --within-writer`: half a writer's digests (seeded) are tested by
    the other writers' model, by a model of its other half alone and by both. A writer whose
    made-up words no other writer uses is learned only from its own half; a writer with one
    category is left out (nothing to learn)."""
    pytest.importorskip("sklearn")
    from bench.categories import WITHIN_COLUMNS, main, within_writer
    from bot.categorising.training import LabelledItem, read_labelled

    items = read_labelled(TRAINING)
    words = {"AI伦理": "Zorblat quixle", "AI工具": "Vemmish plonk"}  # against the names' sense
    odd = [
        LabelledItem("odd", f"{words[label]} {n}", f"{words[label]}.", (label,), "en", 1, f"d{n}")
        for n in range(24)
        for label in words
    ]
    lonely = [LabelledItem("lonely", f"Story {n}", "", ("AI产业",), "en", 1, "d") for n in range(3)]
    found = within_writer(items + odd + lonely, MODEL_TABLE, base=[])
    # "lonely" has one category; the written writers' halves lack some of theirs
    assert sorted(found) == ["odd"]
    row = found["odd"]
    assert list(row) == list(WITHIN_COLUMNS)
    assert {o.items for o in row.values()} == {24}  # 12 of its 24 digests, two items each
    never, alone, both = row.values()
    assert alone.hit == 1.0 and alone.precision == 1.0
    assert never.hit < 0.75
    assert both.hit > never.hit
    # the bench's command line carries the same figures
    corpus = tmp_path / "items.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {"source": i.source, "lang": i.lang, "title": i.title, "summary": i.summary}
                | {"labels": list(i.labels), "date": i.date},
                ensure_ascii=False,
            )
            + "\n"
            for i in items + odd + lonely
        ),
        "utf-8",
    )
    assert main(["--corpus", str(corpus), "--base", "", "--within-writer", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)["within_writer"]
    assert sorted(figures) == ["odd"]
    assert figures["odd"][WITHIN_COLUMNS[1]]["hit"] == 1.0


def test_a_text_item_for_training_keeps_its_text_and_escapes_its_html() -> None:
    from bot.categorising.assign import text_item

    found = text_item("<b>Chips</b> & co", "a < b, #AI工具", "7", 3)
    assert (found.id, found.position, found.url, found.author) == ("7", 3, None, None)
    assert found.summary_text == found.summary_md == "a < b, #AI工具"  # what the rules read
    assert found.summary_html == "a &lt; b, #AI工具"


def test_the_breakdown_splits_a_left_out_writers_figures_by_section_and_year(
    tmp_path: Path,
) -> None:
    """`bench/categories.py --breakdown`: each left-out source's items by the heading they stood
    under (read from the corpus row) and by year; the parts add up to the source's figures."""
    pytest.importorskip("sklearn")
    from dataclasses import replace

    from bench.categories import Answer, breakdown, leave_one_source_out
    from bot.categorising.training import read_labelled

    rows = [json.loads(line) for line in TRAINING.read_text(encoding="utf-8").splitlines()]
    for n, row in enumerate(rows):
        row |= {"section": f"heading {n % 2}", "date": f"{2020 + n % 3}-05-01"}
    corpus = tmp_path / "items.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    items = read_labelled(corpus)
    assert {i.section for i in items} == {"heading 0", "heading 1"}
    answers: dict[str, list[Answer]] = {}
    found = leave_one_source_out(items, MODEL_TABLE, base=[], answers=answers)
    parts = breakdown(answers, SIX, min_items=1)
    for source, groups in parts.items():
        whole = found[source]["model"]
        assert sorted(groups) == ["section", "year"]
        mine = [i for i in items if i.source == source]
        assert list(groups["section"]) == sorted({i.section for i in mine})
        assert list(groups["year"]) == sorted({i.date[:4] for i in mine})
        for rows_by in groups.values():
            assert sum(o.items for o in rows_by.values()) == whole.items
            hits = sum(o.hit * o.items for o in rows_by.values())
            assert hits == pytest.approx(whole.hit * whole.items)
    # an item without section or date is counted under "?", not dropped
    bare: dict[str, list[Answer]] = {
        "written-a": [(replace(items[0], section="", date=""), items[0].labels[:1])]
    }
    assert breakdown(bare, SIX)["written-a"]["section"]["?"].hit == 1.0
    # small headings are pooled under one key, and still counted
    pooled = breakdown(answers, SIX, min_items=10**6)
    for source, groups in pooled.items():
        (key,) = groups["section"]
        assert key == f"(2 headings of < {10**6})"
        assert groups["section"][key] == found[source]["model"]


def test_the_bench_prints_the_breakdown_and_refuses_it_without_a_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench/categories.py --corpus F --breakdown --json` carries the breakdown; without
    `--corpus` there is nothing to break down, which is a usage error, not a silent no-op."""
    pytest.importorskip("sklearn")
    from bench.categories import main

    with pytest.raises(SystemExit) as exit:
        main(["--breakdown"])
    assert exit.value.code == 2
    assert "--breakdown, --corrections and --within-writer need --corpus" in capsys.readouterr().err
    rows = [json.loads(line) for line in TRAINING.read_text(encoding="utf-8").splitlines()]
    corpus = tmp_path / "items.jsonl"
    corpus.write_text(
        "".join(json.dumps(r | {"section": "one"}, ensure_ascii=False) + "\n" for r in rows),
        "utf-8",
    )
    assert main(["--corpus", str(corpus), "--base", "", "--breakdown", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    sources = sorted({r["source"] for r in rows})
    assert sorted(figures["breakdown"]) == sources
    for source in sources:
        whole = figures["leave_one_source_out"][source]["model"]
        assert figures["breakdown"][source]["section"]["one"] == whole
        assert list(figures["breakdown"][source]["year"]) == ["?"]
