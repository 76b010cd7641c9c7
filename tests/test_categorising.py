"""Assigning categories to items: explicit tags, keyword rules, the best digest category."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, SAMPLE
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.categorising.assign import (
    RULE_BEST,
    RULE_KEYWORDS,
    RULE_NONE,
    RULE_TAG,
    assignments,
    categorise,
    digest_categories,
    score_item,
)
from bot.categorising.table import CategoryTable, load_table
from bot.model import Digest, Item
from bot.parsing import parse_bytes

SIX = ("AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具")
# The keyword rules, as they decide without a model (the model's tests: test_categorising_model).
TABLE = load_table(ROOT / "config" / "categories.toml").without_model()


def item(title: str, summary: str = "", tags: tuple[str, ...] = (), position: int = 1) -> Item:
    return Item(
        id=f"i{position}",
        position=position,
        title=title,
        url=None,
        author=None,
        summary_md=summary,
        summary_html=summary,
        summary_text=summary,
        tags=tags,
    )


def digest(*items: Item, categories: tuple[str, ...] = SIX) -> Digest:
    return Digest(
        id="d",
        title="d",
        date=datetime(2025, 11, 27, tzinfo=UTC),
        categories=categories,
        items=tuple(items),
        source=Path("d.md"),
        content_hash="h",
    )


def one(it: Item, table: CategoryTable = TABLE, categories: tuple[str, ...] = SIX) -> Item:
    return categorise(digest(it, categories=categories), table).items[0]


def small_table(tmp_path: Path, body: str) -> CategoryTable:
    path = tmp_path / "categories.toml"
    path.write_text(body, encoding="utf-8")
    return load_table(path)


GPU_STORY = "英伟达发布新一代 GPU 芯片，数据中心算力翻倍"


# ------------------------------------------------------------------ explicit tags


def test_explicit_tags_win_over_keywords() -> None:
    got = one(item(GPU_STORY, "服务器与集群全面升级。", tags=("AI工具",)))
    assert got.categories == ("AI工具",)
    assert got.category_rule == RULE_TAG


def test_tags_written_as_slug_label_or_other_width_become_category_names() -> None:
    got = one(item("x", tags=("ai-tools", "AI Tools", "ＡＩ工具", "hardware", "ai progress")))
    assert got.categories == ("AI工具", "硬件设施", "AI发展")
    assert got.category_rule == RULE_TAG


def test_a_unique_part_of_a_name_in_a_tag_line_means_that_category() -> None:
    assert one(item("x", tags=("工具",))).categories == ("AI工具",)
    # "AI" is part of five names: not a match, kept as the writer wrote it.
    assert one(item("x", tags=("AI",))).categories == ("AI",)


def test_unknown_tag_from_a_tag_line_is_kept_as_written() -> None:
    got = one(item(GPU_STORY, tags=("机器人", "AI工具")))
    assert got.categories == ("机器人", "AI工具")
    assert got.category_rule == RULE_TAG


def test_explicit_tags_are_used_even_outside_the_digests_categories() -> None:
    got = one(item(GPU_STORY, tags=("AI伦理",)), categories=("AI产业",))
    assert got.categories == ("AI伦理",)


def test_a_hashtag_that_is_not_a_category_is_not_a_tag() -> None:
    # The parser lists every #hashtag in `tags`; #GPT5 stays in the summary text.
    got = one(item(GPU_STORY, "OpenAI 的新模型 #GPT5 表现如何？", tags=("GPT5",)))
    assert "GPT5" not in got.categories
    assert got.category_rule == RULE_KEYWORDS
    assert "硬件设施" in got.categories


def test_hashtags_in_the_text_name_categories() -> None:
    cases = {
        "今日推荐 #AI工具": ("AI工具",),
        "#AI工具今日推荐：十个插件": ("AI工具",),  # Chinese runs on without a space
        "see #ai-tools and #AITools and #Hardware": ("AI工具", "硬件设施"),
        "#AI工具 #GPT5 #硬件设施": ("AI工具", "硬件设施"),
    }
    for summary, expected in cases.items():
        got = one(item("标题", summary))
        assert (got.categories, got.category_rule) == (expected, RULE_TAG), summary


def test_things_that_only_look_like_hashtags_are_not_tags() -> None:
    for summary in ("用 C#AI工具 写代码", "见 https://example.com/#AI工具", "&#AI工具;"):
        got = one(item("AlphaFold 新论文登顶基准", summary))
        assert got.category_rule != RULE_TAG, summary
    # A Latin-script category name must end where the hashtag's word ends.
    assert one(item("x", "#hardwarehacks")).category_rule != RULE_TAG


def test_a_hashtag_may_name_a_digest_category_the_table_does_not_know() -> None:
    got = one(item("x", "#机器人 新闻"), categories=("机器人", "AI工具"))
    assert (got.categories, got.category_rule) == (("机器人",), RULE_TAG)
    # …but not one the digest does not list either.
    assert one(item("x", "#机器人 新闻")).category_rule != RULE_TAG


# ------------------------------------------------------------------ digests without categories


def test_a_digest_without_categories_gives_items_without_categories() -> None:
    d = categorise(
        digest(item(GPU_STORY), item("Anthropic 完成融资", position=2), categories=()), TABLE
    )
    assert [(i.categories, i.category_rule) for i in d.items] == [((), RULE_NONE)] * 2


def test_explicit_tags_still_count_in_a_digest_without_categories() -> None:
    got = one(item(GPU_STORY, "#GPT5 #AI工具", tags=("AI应用", "GPT5")), categories=())
    assert (got.categories, got.category_rule) == (("AI应用", "AI工具"), RULE_TAG)
    only_unknown_hashtag = one(item(GPU_STORY, "#GPT5", tags=("GPT5",)), categories=())
    assert (only_unknown_hashtag.categories, only_unknown_hashtag.category_rule) == ((), "")


# ------------------------------------------------------------------ keyword rules


def test_keyword_rules_are_limited_to_the_digests_categories() -> None:
    story = item("芯片初创公司完成 5 亿美元融资", "资金将用于 GPU 研发与数据中心建设。")
    assert one(story).categories == ("AI产业", "硬件设施")
    got = one(story, categories=("AI产业", "AI工具"))
    assert (got.categories, got.category_rule) == (("AI产业",), RULE_KEYWORDS)


def test_an_item_may_get_several_categories_in_digest_order() -> None:
    got = one(item("法院裁定 Suno 音乐版权诉讼和解", "AI 音乐平台 Suno 与唱片公司和解。"))
    assert got.categories == ("AI应用", "AI伦理")
    assert got.category_rule == RULE_KEYWORDS


def test_matching_is_on_nfkc_casefolded_text() -> None:
    for title in ("ＮＶＩＤＩＡ ＧＰＵ ｓａｌｅｓ", "nvidia gpu sales", "NVIDIA GPU SALES"):
        assert one(item(title)).categories == ("硬件设施",), title


def test_the_title_weighs_more_than_the_summary(tmp_path: Path) -> None:
    table = small_table(
        tmp_path,
        'title_weight = 2\nmin_score = 4\n[[category]]\nname = "A"\nslug = "a"\n'
        '[category.keywords]\n"alpha" = 3\n[[category]]\nname = "B"\nslug = "b"\n',
    )
    in_summary = one(item("news", "about alpha"), table, ("A", "B"))
    in_title = one(item("alpha news", "more"), table, ("A", "B"))
    assert in_summary.category_rule == RULE_BEST  # 3 < 4, still the best of the digest
    assert in_title.category_rule == RULE_KEYWORDS  # 2 x 3 = 6
    assert score_item("alpha", "alpha", table, ["A", "B"])[0] == {"A": 9.0, "B": 0.0}


def test_latin_keywords_match_whole_words_plurals_and_prefixes(tmp_path: Path) -> None:
    table = small_table(
        tmp_path,
        '[[category]]\nname = "A"\nslug = "a"\n'
        '[category.keywords]\n"agi" = 1\n"chip" = 1\n"regulat*" = 1\n"data center" = 1\n'
        '"芯片" = 1\n',
    )

    def hits(text: str) -> tuple[str, ...]:
        return score_item(text, "", table, ["A"])[1]["A"]

    assert hits("a magic trick") == ()
    assert hits("AGI soon?") == ("agi",)
    assert hits("new chips") == ("chip",)
    assert hits("chipper mood") == ()
    assert hits("EU regulators act") == ("regulat*",)
    assert hits("data\u00a0 centers") == ("data center",)
    assert hits("国产AI芯片出货") == ("芯片",)


def test_a_product_named_cyber_something_is_not_a_security_story() -> None:
    scores = [
        score_item(title, "", TABLE, SIX)[0]["AI伦理"]
        for title in (
            "Meet Xiaomi's new humanoid robot, CyberOne",
            "Tesla shows the Cybercab",
            "A cyberattack hits a hospital's AI triage system",
            "Cybersecurity firms race to add AI agents",
        )
    ]
    assert scores[:2] == [0.0, 0.0] and min(scores[2:]) > 0


def test_where_keywords_overlap_the_longest_wins(tmp_path: Path) -> None:
    table = small_table(
        tmp_path,
        'min_score = 1\n[[category]]\nname = "P"\nslug = "p"\n[category.keywords]\n'
        '"scaling law" = 1\n"贸易融资" = 0\n'
        '[[category]]\nname = "E"\nslug = "e"\n[category.keywords]\n"law" = 5\n"融资" = 5\n',
    )
    scores, _ = score_item("Scaling laws hold", "银行贸易融资业务", table, ["P", "E"])
    assert scores == {"P": 2.0, "E": 0.0}
    scores, _ = score_item("New AI law", "完成融资", table, ["P", "E"])
    assert scores == {"P": 0.0, "E": 15.0}


def test_digest_categories_written_as_slug_or_label_are_category_names() -> None:
    d = digest(item(GPU_STORY), categories=("hardware", "AI Tools", "机器人", "hardware"))
    assert digest_categories(d, TABLE) == ("硬件设施", "AI工具", "机器人")
    assert categorise(d, TABLE).items[0].categories == ("硬件设施",)


# ------------------------------------------------------------------ the best category


def test_without_enough_keywords_the_best_scoring_category_is_given() -> None:
    got = one(item("一个模型的故事", "闲谈。"))
    assert got.category_rule == RULE_BEST
    assert got.categories == ("AI发展",)  # 模型 is a weak AI发展 word


def test_without_any_keyword_the_digests_usual_category_is_given() -> None:
    d = categorise(
        digest(
            item("Cursor 编程工具更新", position=1),
            item("今天天晴", "无事发生", position=2),
            item("Claude Code 命令行插件", position=3),
        ),
        TABLE,
    )
    assert [i.categories for i in d.items] == [("AI工具",), ("AI工具",), ("AI工具",)]
    assert d.items[1].category_rule == RULE_BEST
    alone = one(item("今天天晴", "无事发生"), categories=("AI伦理", "AI产业"))
    assert (alone.categories, alone.category_rule) == (("AI伦理",), RULE_BEST)


def test_categories_unknown_to_the_table_still_give_every_item_one() -> None:
    got = one(item(GPU_STORY), categories=("机器人", "自动驾驶"))
    assert (got.categories, got.category_rule) == (("机器人",), RULE_BEST)


def test_an_empty_table_still_categorises() -> None:
    got = one(item(GPU_STORY), CategoryTable())
    assert (got.categories, got.category_rule) == (("AI产业",), RULE_BEST)


_text = st.text(
    alphabet=st.sampled_from(list("AIaiGPU芯片工具融资模型 #-_,.\n\u00a0\u200bＡ·分类:")),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    titles=st.lists(st.tuples(_text, _text), min_size=1, max_size=4),
    cats=st.lists(st.sampled_from([*SIX, "机器人", "ai-tools"]), min_size=1, max_size=4),
)
def test_every_item_of_a_digest_with_categories_gets_one(
    titles: list[tuple[str, str]], cats: list[str]
) -> None:
    items = [item(t, s, position=n) for n, (t, s) in enumerate(titles, 1)]
    d = digest(*items, categories=tuple(cats))
    names = set(digest_categories(d, TABLE))
    for got in categorise(d, TABLE).items:
        assert got.categories, got
        assert len(set(got.categories)) == len(got.categories)
        if got.category_rule == RULE_TAG:
            assert set(got.categories) <= {c.name for c in TABLE.categories} | names
        else:
            assert got.category_rule in (RULE_KEYWORDS, RULE_BEST)
            assert set(got.categories) <= names


def test_categorise_keeps_everything_else() -> None:
    d = digest(item(GPU_STORY, position=1), item("Anthropic 完成融资", position=2))
    out = categorise(d, TABLE)
    assert [i.id for i in out.items] == ["i1", "i2"]
    assert all(
        (a.title, a.summary_md, a.tags) == (b.title, b.summary_md, b.tags)
        for a, b in zip(d.items, out.items, strict=True)
    )
    assert d.items[0].categories == ()  # the input is not changed
    assert (out.id, out.categories, out.date) == (d.id, d.categories, d.date)


def test_assignments_explain_the_result() -> None:
    found = assignments(digest(item(GPU_STORY)), TABLE)[0].as_dict()
    assert found["categories"] == ["硬件设施"]
    assert found["category_rule"] == RULE_KEYWORDS
    assert {"gpu", "芯片", "数据中心", "算力"} <= set(found["hits"]["硬件设施"])
    assert found["scores"]["硬件设施"] >= TABLE.min_score


# ------------------------------------------------------------------ with the real parser


def test_the_sample_digest_gets_categories_per_item() -> None:
    d = categorise(parse_bytes(SAMPLE.read_bytes(), SAMPLE, zone=ZoneInfo("Asia/Shanghai")), TABLE)
    assert len(d.items) == 11
    for got in d.items:
        assert got.categories and set(got.categories) <= set(SIX)
        assert got.category_rule in (RULE_KEYWORDS, RULE_BEST)
    assert d.items[0].categories == ("AI产业", "硬件设施")  # sfcompute: funding, supercomputer
    assert "AI伦理" in d.items[10].categories  # Warner and Suno settle a copyright suit


TAG_LINES = ["    分类: AI工具, hardware", "    Categories: ai-tools，硬件设施"]


@pytest.mark.parametrize("line", TAG_LINES)
def test_a_tag_line_in_a_digest_wins(line: str) -> None:
    text = SAMPLE.read_text(encoding="utf-8").splitlines()
    first = next(n for n, row in enumerate(text) if row.startswith("1."))
    text.insert(first + 2, line)
    data = ("\n".join(text) + "\n").encode()
    d = categorise(parse_bytes(data, SAMPLE, zone=ZoneInfo("Asia/Shanghai")), TABLE)
    assert (d.items[0].categories, d.items[0].category_rule) == (("AI工具", "硬件设施"), RULE_TAG)
    assert d.items[1].category_rule == RULE_KEYWORDS


def test_hashtags_in_a_digest() -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "以支持其超级计算机项目。", "以支持其超级计算机项目。#GPT5 #AI应用"
    )
    d = categorise(parse_bytes(text.encode(), SAMPLE, zone=ZoneInfo("Asia/Shanghai")), TABLE)
    assert (d.items[0].categories, d.items[0].category_rule) == (("AI应用",), RULE_TAG)
