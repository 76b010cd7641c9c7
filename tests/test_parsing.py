"""The parsing stage against the sample digest and one fixture per tolerance and per error."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.model import Digest, DigestError
from bot.parsing import (
    MAX_BYTES,
    digest_id,
    digest_to_dict,
    normalise_link,
    parse_bytes,
    parse_file,
    short_hash,
)

DATA = Path(__file__).parent / "data" / "digests"
SAMPLE = DATA / "sample" / "2025.11.27.12.md"  # a byte-for-byte copy of seeds/2025.11.27.12.md
SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def sample() -> Digest:
    return parse_file(SAMPLE, zone=SHANGHAI)


def parse(name: str, zone: ZoneInfo = SHANGHAI) -> Digest:
    return parse_file(DATA / name, zone=zone)


def error(name: str) -> DigestError:
    with pytest.raises(DigestError) as caught:
        parse(name)
    return caught.value


# --- the sample -----------------------------------------------------------------------------

SAMPLE_ITEMS = [
    (1, "sfcompute 获得 4000 万美元融资并招聘 Linux 程序员",
     "https://x.com/bentossell/status/1993804613146038363", "Ben Tossell"),
    (2, "Gary Marcus 持续批评大型语言模型与 AGI 发展",
     "https://x.com/GaryMarcus/status/1993742337491784144", "Gary Marcus"),
    (3, "AI 图像生成：3D 微缩城市天气卡片与个性化日历插画提示词",
     "https://x.com/dotey/status/1993730209464418499", "宝玉"),
    (4, "Hugging Face 被誉为 AI 公司启动最佳平台，LeRobot 模拟平台获重大升级",
     "https://x.com/ClementDelangue/status/1993773737976746352", "clem 🤗"),
    (5, "“Whisper Thunder”：新的文本转视频模型跃居全球第一",
     "https://x.com/amasad/status/1993771201559425039", "Amjad Masad"),
    (6, "“埃菲尔铁塔 Llama”AI 演示项目亮相",
     "https://x.com/mervenoyann/status/1993790763885560083", "merve"),
    (7, "Edison’s Kosmos AI 显著加速科学研究进程",
     "https://x.com/PeterDiamandis/status/1993779434386543092", "Peter H. Diamandis, MD"),
    (8, "ListenHub x Labnana 推出黑五 AI 会员促销与学生白嫖方案",
     "https://x.com/oran_ge/status/1993797764434809249", "Orange AI"),
    (9, "美国“创世纪计划”推动大规模 AI 基础设施建设，挑战英伟达主导地位",
     "https://x.com/PeterDiamandis/status/1993813344902332891", "Peter H. Diamandis, MD"),
    (10, "AI 后端开发模型对比：Codex Max 与 Opus 4.5",
     "https://x.com/bentossell/status/1993822673130942485", "Ben Tossell"),
    (11, "华纳与 Suno 达成历史性和解，共建授权 AI 音乐生态",
     "https://x.com/imxiaohu/status/1993852218911699450", "小互"),
]  # fmt: skip


def test_sample_front_matter(sample: Digest) -> None:
    assert sample.title == "2025.11.27.12 过去4小时全球AI发生了什么？"
    assert sample.date == datetime(2025, 11, 27, 12, 0, 10, 236000, tzinfo=CST)
    assert sample.date.utcoffset() == timedelta(hours=8)
    assert sample.categories == ("AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具")
    assert sample.source == SAMPLE
    assert sample.content_hash == __import__("hashlib").sha256(SAMPLE.read_bytes()).hexdigest()
    assert sample.id == digest_id(sample.date, sample.title)
    assert len(sample.id) == 16


def test_sample_has_exactly_the_eleven_items(sample: Digest) -> None:
    got = [(i.position, i.title, i.url, i.author) for i in sample.items]
    assert got == SAMPLE_ITEMS
    assert [i.line for i in sample.items] == [7 + 3 * n for n in range(11)]
    assert all(i.categories == () and i.category_rule == "" and i.tags == () for i in sample.items)


def test_sample_item_ids_are_the_hash_of_the_link(sample: Digest) -> None:
    for item in sample.items:
        assert item.id == short_hash(normalise_link(item.url or ""))
    assert len({i.id for i in sample.items}) == 11


def test_sample_bold_becomes_b(sample: Digest) -> None:
    first = sample.items[0]
    assert first.summary_md.startswith("sfcompute 公司近日宣布成功完成 **4000 万美元融资**")
    assert "<b>4000 万美元融资</b>" in first.summary_html
    assert "<b>Linux 程序员</b>" in first.summary_html
    assert "**" not in first.summary_text and "<" not in first.summary_text
    assert first.summary_text.startswith("sfcompute 公司近日宣布成功完成 4000 万美元融资，")
    # every bold of the sample renders, including `**“创世纪计划”**` next to CJK punctuation
    for item in sample.items:
        assert item.summary_html.count("<b>") == item.summary_md.count("**") // 2
        assert "**" not in item.summary_html


def test_the_sample_ends_without_a_newline_and_is_complete(sample: Digest) -> None:
    assert not SAMPLE.read_bytes().endswith(b"\n")
    assert sample.items[-1].summary_text.endswith("意在将平台服务拓展至线下音乐产业。")


def test_same_bytes_under_another_name_is_the_same_digest(sample: Digest, tmp_path: Path) -> None:
    copy = tmp_path / "renamed.md"
    copy.write_bytes(SAMPLE.read_bytes())
    again = parse_file(copy, zone=SHANGHAI)
    assert again.id == sample.id
    assert [i.id for i in again.items] == [i.id for i in sample.items]
    assert again == replace(sample, source=copy)


def test_digest_to_dict_is_json_ready(sample: Digest) -> None:
    data = digest_to_dict(sample)
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["date"] == "2025-11-27T12:00:10.236000+08:00"
    assert data["source"] == str(SAMPLE)
    assert data["categories"] == list(sample.categories)
    first = data["items"][0]
    assert set(first) == {
        "id", "position", "title", "url", "author", "summary_md", "summary_html",
        "summary_text", "line", "tags", "categories", "category_rule",
    }  # fmt: skip
    assert first["position"] == 1 and first["line"] == 7 and first["tags"] == []


# --- tolerances -----------------------------------------------------------------------------


def items_of(name: str) -> list[tuple[int, str, str | None, str | None]]:
    return [(i.position, i.title, i.url, i.author) for i in parse(name).items]


def test_numbering_with_dunhao() -> None:
    assert items_of("ok/numbering_dunhao.md") == [
        (1, "OpenAI 发布新模型", "https://openai.com/blog/new-model", "OpenAI"),
        (2, "第二条", "https://example.com/2", "作者二"),
        (3, "第三条没有链接", None, "作者三"),
    ]


def test_numbering_with_fullwidth_dot() -> None:
    assert items_of("ok/numbering_fullwidth.md") == [
        (1, "全角编号一", "https://example.com/fw/1", "甲"),
        (2, "全角编号二", "https://example.com/fw/2", "乙"),
    ]


def test_one_to_three_spaces_and_more_after_the_number() -> None:
    got = items_of("ok/numbering_spaces.md")
    assert [(p, t) for p, t, _, _ in got] == [
        (1, "one space"), (2, "two spaces"), (3, "three spaces"),
        (4, "six spaces"), (5, "a tab"), (12, "two digits"),
    ]  # fmt: skip
    assert [i.summary_text for i in parse("ok/numbering_spaces.md").items][-1] == "s12"


def test_author_separators() -> None:
    assert [a for _, _, _, a in items_of("ok/author_separators.md")] == [
        "Ben Tossell", "宝玉", "Peter H. Diamandis, MD", "小互", "@karpathy",
    ]  # fmt: skip


def test_no_author() -> None:
    assert items_of("ok/no_author.md") == [
        (1, "没有作者的条目", "https://example.com/na/1", None),
        (2, "后面只有分隔符", "https://example.com/na/2", None),
    ]


def test_no_link() -> None:
    assert items_of("ok/no_link.md") == [
        (1, "只有标题没有链接", None, None),
        (2, "没有链接但有作者", None, "宝玉"),
        (3, "GPT-4o 与 o3-mini 对比", None, None),
        (4, "[视频] 方括号不是链接", None, "作者四"),
    ]


def test_no_space_after_the_number_when_a_link_or_bold_follows() -> None:
    digest = parse("ok/numbering_no_space.md")
    assert [(i.position, i.title, i.url, i.author) for i in digest.items] == [
        (1, "一", "https://example.com/ns/1", "甲"),
        (2, "二", "https://example.com/ns/2", "乙"),
        (3, "三", None, "丙"),
        (4, "四", "https://example.com/ns/4", "丁"),
    ]
    assert digest.items[0].summary_text == "摘要一。"
    assert digest.items[-1].summary_text == "1.5 亿美元不是条目。"


def test_a_link_that_is_not_the_first_thing_on_the_title_line() -> None:
    digest = parse("ok/link_after_text.md")
    assert [(i.position, i.title, i.url, i.author) for i in digest.items] == [
        (1, "[OpenAI] GPT-5 发布", "https://openai.com/index/gpt-5/", "OpenAI"),
        (2, "华纳与 Suno 和解：原文", "https://example.com/lat/2", "小互"),
        (3, "空格隔开", "https://example.com/lat/3", "作者三"),
        (4, "作者有主页", None, "作者四"),
        (5, "[来源] 加粗前缀", "https://example.com/lat/5", None),
        (6, "[视频] (重制版) 不是链接", None, None),
    ]
    for item in digest.items:  # a linked item's id comes from its link, as for any other
        if item.url is not None:
            assert item.id == short_hash(normalise_link(item.url))


def test_title_line_as_heading() -> None:
    assert items_of("ok/heading_items.md") == [
        (1, "Heading item", "https://example.com/h/1", "Author One"),
        (2, "Closing hashes", "https://example.com/h/2", "Author Two"),
        (3, "没有链接的标题条目", None, None),
    ]


def test_title_line_in_bold() -> None:
    assert items_of("ok/bold_items.md") == [
        (1, "加粗的纯标题", None, None),
        (2, "加粗的链接标题", "https://example.com/b/2", "作者二"),
        (3, "只有编号加粗", "https://example.com/b/3", "作者三"),
        (4, "标题加粗", "https://example.com/b/4", "作者四"),
        (5, "整行加粗", None, "作者五"),
        (6, "整行加粗带链接", "https://example.com/b/6", "作者六"),
    ]
    assert items_of("ok/unclosed_bold_tolerated.md") == [(1, "标题没有闭合的加粗", None, None)]


def test_summary_over_several_lines() -> None:
    first, second, third = parse("ok/multiline_summary.md").items
    assert first.summary_md.splitlines()[:2] == ["第一行摘要，", "第二行摘要。"]
    # a soft break joins CJK lines directly and other lines with a space
    assert first.summary_text == (
        "第一行摘要，第二行摘要。 Third line in English continues here.\n\n"
        "第二段落，有 加粗。\n\n• 要点一\n• 要点二"
    )
    assert "<b>加粗</b>" in first.summary_html
    assert second.summary_text == "没有缩进的摘要第一行，没有缩进的摘要第二行。"
    # text after the last item that is not indented under it belongs to no item
    assert third.summary_text == "最后一条的摘要。"


@pytest.mark.parametrize("name", ["ok/crlf.md", "ok/mixed_endings.md"])
def test_crlf_and_mixed_line_endings(name: str) -> None:
    digest = parse(name)
    assert [(i.position, i.title, i.line) for i in digest.items] == [
        (1, "CRLF 条目", 7), (2, "第二条", 11),
    ]  # fmt: skip
    assert digest.items[0].summary_md == "第一行\n第二行"
    assert all("\r" not in i.summary_md + i.title + (i.author or "") for i in digest.items)


def test_crlf_digest_equals_lf_digest_apart_from_its_bytes() -> None:
    crlf = parse("ok/crlf.md")
    lf = parse_bytes((DATA / "ok/crlf.md").read_bytes().replace(b"\r\n", b"\n"), "x", zone=SHANGHAI)
    assert crlf.items == lf.items and crlf.id == lf.id
    assert crlf.content_hash != lf.content_hash


def test_bom() -> None:
    digest = parse("ok/bom.md")
    assert digest.title == "带 BOM"
    assert items_of("ok/bom.md") == [(1, "BOM 条目", "https://example.com/bom/1", "作者")]


def test_nbsp_and_zero_width_characters() -> None:
    first, second = parse("ok/nbsp_zero_width.md").items
    assert (first.title, first.url, first.author) == (
        "Open\u00a0AI 标题", "https://example.com/nb/1", "Sam Altman",
    )  # fmt: skip
    assert first.summary_text == "摘要里有\u00a0不换行空格和零宽字符。"
    assert (second.position, second.title, second.author) == (2, "第二条", "作者二")
    # zero-width joiners inside an emoji sequence are part of the emoji and stay
    assert "👨\u200d👩\u200d👧" in second.summary_text
    assert "\u200b" not in repr(digest_to_dict(parse("ok/nbsp_zero_width.md")))


def test_html_in_a_summary_is_reduced_to_text() -> None:
    first, second, third = parse("ok/html_summary.md").items
    assert first.summary_text.startswith("第一行\n第二行\n第三行 粗体 & 斜体 红色")
    assert first.summary_html.startswith("第一行\n第二行\n第三行 粗体 &amp; 斜体 红色")
    assert "alert" not in first.summary_html  # a <script> block's content is dropped
    assert second.summary_html == "块内 链接 文字"
    assert "javascript" not in second.summary_html
    assert third.summary_html == (
        '[点这里](javascript:alert(1)) 和 <a href="https://example.com/safe">安全链接</a>'
        " 以及 <code>&lt;code&gt;</code> 与 。"
    )
    for item in (first, second, third):
        assert not _tags_other_than(item.summary_html, {"b", "i", "code", "a"})


def _tags_other_than(html: str, allowed: set[str]) -> list[str]:
    import re

    return [t for t in re.findall(r"</?([a-zA-Z0-9]+)", html) if t not in allowed]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ok/date_space_offset.md", datetime(2025, 8, 1, 8, 0, tzinfo=CST)),
        ("ok/date_utc_z.md", datetime(2025, 11, 27, 4, 0, 10, tzinfo=UTC)),
        ("ok/date_only.md", datetime(2025, 11, 27, tzinfo=SHANGHAI)),
        ("ok/date_naive.md", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("ok/date_quoted.md", datetime(2025, 11, 27, 12, 0, 10, 236000, tzinfo=CST)),
        ("ok/nodate_2025-11-27-12.md", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("ok/nodate_2025.11.27.12.md", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
    ],
)
def test_dates(name: str, expected: datetime) -> None:
    got = parse(name).date
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


def test_a_date_without_offset_is_read_in_the_configured_zone() -> None:
    utc = parse("ok/date_naive.md", zone=ZoneInfo("UTC")).date
    assert utc == datetime(2025, 11, 27, 12, tzinfo=UTC)
    assert parse("ok/date_space_offset.md", zone=ZoneInfo("UTC")).date.utcoffset() == timedelta(
        hours=8
    )


@pytest.mark.parametrize(
    ("name", "categories"),
    [
        ("ok/categories_string.md", ("AI工具", "AI应用", "AI产业", "硬件设施")),
        ("ok/categories_from_tags.md", ("AI工具", "AI伦理")),
        ("ok/no_categories.md", ()),
    ],
)
def test_categories(name: str, categories: tuple[str, ...]) -> None:
    assert parse(name).categories == categories


def test_front_matter_text_is_kept_as_written() -> None:
    digest = parse("ok/scalar_text.md")
    # YAML 1.1 would make these True, 1.1, 31, 80 and a datetime
    assert digest.title == "1.10"
    assert digest.categories == ("yes", "1.10", "0x1F", "1:20", "2025-11-27T12:00:00Z", "AI工具")


@pytest.mark.parametrize(
    ("field", "written", "expected"),
    [
        ("title", "yes", "yes"),
        ("title", "on", "on"),
        ("title", "1.10", "1.10"),
        ("title", "017", "017"),
        ("title", "1_000", "1_000"),
        ("title", "2025-11-27T12:00:00Z", "2025-11-27T12:00:00Z"),
        ("title", ".inf", ".inf"),
        ("tags", "[no, 3.0]", ("no", "3.0")),
        ("categories", "yes, 1.10", ("yes", "1.10")),
    ],
)
def test_front_matter_scalars_are_not_type_guessed(
    field: str, written: str, expected: str | tuple[str, ...]
) -> None:
    data = f"---\n{field}: {written}\ndate: 2025-01-01\n---\n# h\n1. t\n".encode()
    digest = parse_bytes(data, "scalars.md", zone=SHANGHAI)
    assert (digest.title if field == "title" else digest.categories) == expected


def test_explicit_tags_on_items() -> None:
    items = parse("ok/explicit_tags.md").items
    assert [i.tags for i in items] == [
        ("AI工具", "AI应用"), ("AI产业", "AI工具"), ("硬件设施", "AI伦理"), ("AI工具", "AI应用"),
    ]  # fmt: skip
    # the tag line is not part of the summary; hashtags are
    assert items[0].summary_md == "这是摘要。"
    assert items[1].summary_md == "Summary text."
    assert items[2].summary_md == "摘要三。"
    assert "#AI工具" in items[3].summary_text
    assert all(i.categories == () and i.category_rule == "" for i in items)


def test_title_falls_back_to_the_first_heading() -> None:
    assert parse("ok/title_from_heading.md").title == "从标题行取得的标题"


def test_text_before_the_first_item_and_section_headings_are_tolerated() -> None:
    digest = parse("ok/preamble.md")
    assert [(i.position, i.title, i.line) for i in digest.items] == [
        (1, "条目一", 14), (2, "条目二", 21),
    ]  # fmt: skip
    assert digest.items[0].summary_text == "摘要一。"  # the `---` and `## AI 产业` are not in it


def test_aggregator_links_and_linkless_items() -> None:
    digest = parse("ok/aggregator.md")
    first, second, linkless, x1, x2 = digest.items
    assert normalise_link(first.url or "") == normalise_link(second.url or "")
    # one link for two stories: the title joins the key, so the ids differ
    assert first.id != second.id
    assert first.id != short_hash(normalise_link(first.url or ""))
    # a story without a link: keyed by digest and title
    assert linkless.url is None and linkless.title == "[没有链接的故事]"
    # twitter.com?s=…&t=… and x.com are one link; an exact repeat still gets its own id
    assert x1.id == short_hash("https://x.com/i/status/123")
    assert x2.id != x1.id
    assert len({i.id for i in digest.items}) == 5


def test_the_same_story_in_a_later_digest_keeps_its_id() -> None:
    earlier = parse("ok/aggregator.md")
    text = (DATA / "ok/aggregator.md").read_text(encoding="utf-8")
    later_text = text.replace(
        "date: 2025-11-27T12:00:10.236+08:00", "date: 2025-11-27T16:00:00+08:00"
    )
    later_text = later_text.replace('title: "聚合页面"', 'title: "下一期"')
    later = parse_bytes(later_text.encode(), "later.md", zone=SHANGHAI)
    assert later.id != earlier.id
    same = [a.id == b.id for a, b in zip(earlier.items, later.items, strict=True)]
    # linked stories keep their ids; the linkless one is keyed by its digest, as SPEC §2 says
    assert same == [True, True, False, True, True]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("bad/invalid_yaml.md", 4, "invalid YAML in front matter"),
        (
            "bad/invalid_yaml_indent.md",
            6,
            "invalid YAML in front matter: did not find expected key",
        ),
        ("bad/no_front_matter.md", 1, "missing front matter"),
        ("bad/unclosed_front_matter.md", 1, "unclosed front matter"),
        ("bad/no_items.md", 6, "no numbered items"),
        ("bad/truncated.md", 13, "unclosed Markdown link on the item line"),
        ("bad/unclosed_label.md", 10, "unclosed Markdown link on the item line ('[' without ']')"),
        ("bad/malformed_link.md", 7, "malformed link"),
        ("bad/front_matter_list.md", 1, "front matter is not a mapping"),
        ("bad/no_title.md", 1, "no title"),
        ("bad/impossible_date.md", 3, "date '2025-02-30' is out of range"),
        ("bad/unreadable_date.md", 4, "date '明天早上' is not an ISO 8601 date or time"),
        ("bad/no_date.md", 1, "no date"),
        ("bad/categories_mapping.md", 4, "categories must be a list or a comma-separated string"),
        ("bad/empty_item_title.md", 10, "item 2 has no title"),
        ("bad/binary_nul.md", 8, "binary file"),
        ("bad/invalid_utf8.md", 8, "not UTF-8 text"),
        ("bad/utf16.md", 1, "UTF-16"),
    ],
)
def test_errors_name_the_file_the_line_and_the_reason(name: str, line: int, reason: str) -> None:
    exc = error(name)
    assert exc.source == str(DATA / name)
    assert exc.line == line
    assert reason in exc.reason
    assert str(exc) == f"{DATA / name}:{line}: {exc.reason}"


def test_invalid_yaml_also_names_where_the_broken_construct_began() -> None:
    assert "quoted scalar that begins on line 2" in error("bad/invalid_yaml.md").reason


def test_a_file_still_being_written_mid_front_matter_or_mid_item() -> None:
    whole = SAMPLE.read_bytes()
    for cut in (40, whole.index(b"(https://x.com/dotey") + 12):
        with pytest.raises(DigestError, match="still being written"):
            parse_bytes(whole[:cut], "partial.md", zone=SHANGHAI)


def test_every_fixture_is_checked() -> None:
    names = {p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.md")}
    module = Path(__file__).read_text(encoding="utf-8")
    assert [n for n in sorted(names) if n not in module and not n.startswith("sample/")] == []


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(SAMPLE.read_bytes() + b"\n" + b" " * MAX_BYTES)
    with pytest.raises(DigestError, match="file too large") as caught:
        parse_file(big, zone=SHANGHAI)
    assert caught.value.line == 1
    with pytest.raises(DigestError, match="file too large"):
        parse_bytes(b"x" * (MAX_BYTES + 1), "big.md", zone=SHANGHAI)


def test_unreadable_file_is_a_digest_error(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="cannot read the file"):
        parse_file(tmp_path / "missing.md", zone=SHANGHAI)
    with pytest.raises(DigestError, match=r"not a regular file \(a directory\)"):
        parse_file(tmp_path, zone=SHANGHAI)


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"", 1, "empty file"),
        (b"\n\n  \n", 1, "empty file"),
        (b"---\ntitle: t\n---\n", 4, "no numbered items"),
        (b"---\n[a, b\n---\n1. t\n", 3, "invalid YAML"),
        (b"---\ntitle: [a]\ndate: 2025-01-01\n---\n1. t\n", 2, "title must be text"),
        (b"---\ntitle: t\ndate: 12\n---\n1. t\n", 3, "date must be an ISO 8601"),
        (b"---\ntitle: t\ndate: 2025-01-01T08:00+25:00\n---\n1. t\n", 3, "impossible offset"),
        (b"---\ntitle: t\ndate: 2025-01-01\ncategories: [[a]]\n---\n1. t\n", 4, "list of names"),
        (b"---\ntitle: t\ndate: 2025-01-01\n---\n1.\n", 5, "item 1 has no title"),
        (b"---\ntitle: t\ndate: 2025-01-01\n---\n1. [t](https://a.b/(x)\n", 5, "unclosed"),
        (b"---\ntitle: t\ndate: 2025-01-01\ncategories: &a [*a]\n---\n1. t\n", 4, "list of"),
        (b"---\n&a [*a]\n---\n1. t\n", 1, "front matter is not a mapping"),
        (b"---\ntitle: t\ndate: 2025-01-01\n---\n1. t [u](https://a.b/x\n", 5, "unclosed"),
        (b"---\ntitle: t\ndate: 2025-01-01\n---\n1. [t] (https://a.b/x\n", 5, "unclosed"),
    ],
)
def test_small_errors(data: bytes, line: int, reason: str) -> None:
    with pytest.raises(DigestError) as caught:
        parse_bytes(data, "small.md", zone=SHANGHAI)
    assert (caught.value.line, caught.value.source) == (line, "small.md")
    assert reason in caught.value.reason


@pytest.mark.timeout(10)
def test_yaml_aliases_cannot_blow_up() -> None:
    """A "billion laughs" front matter: 9**9 names if expanded, refused at once instead."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    laughs = "\n".join(["---", "title: t", "date: 2025-01-01", *levels, "categories: *l8", "---"])
    with pytest.raises(DigestError, match="list of names") as caught:
        parse_bytes(f"{laughs}\n1. t\n".encode(), "laughs.md", zone=SHANGHAI)
    assert caught.value.line == 13


# --- limits and the error contract ----------------------------------------------------------


def test_an_absurdly_long_summary_is_refused() -> None:
    data = (HEADER_MIN + "1. t\n    " + "[*" * 60_000 + "\n").encode()
    with pytest.raises(DigestError, match="summary of item 1 is too long") as caught:
        parse_bytes(data, "long.md", zone=SHANGHAI)
    assert caught.value.line == 5


def test_an_absurdly_large_front_matter_is_refused() -> None:
    data = ("---\ntitle: t\nx: [" + "1, " * 30_000 + "]\n---\n1. t\n").encode()
    with pytest.raises(DigestError, match="front matter too large") as caught:
        parse_bytes(data, "fm.md", zone=SHANGHAI)
    assert caught.value.line == 1


def test_parsing_gives_up_rather_than_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.parsing.digest.TIME_LIMIT_SECONDS", -1.0)
    with pytest.raises(DigestError, match=r"gave up after .* at item 1") as caught:
        parse_file(SAMPLE, zone=SHANGHAI)
    assert caught.value.line == 7


def test_an_unforeseen_failure_is_still_a_digest_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(markdown: str) -> tuple[str, str]:
        raise KeyError(markdown[:5])

    monkeypatch.setattr("bot.parsing.digest.render", broken)
    with pytest.raises(DigestError, match="unexpected parser error: KeyError") as caught:
        parse_file(SAMPLE, zone=SHANGHAI)
    assert caught.value.source == str(SAMPLE)


HEADER_MIN = "---\ntitle: t\ndate: 2025-01-01\n---\n"
