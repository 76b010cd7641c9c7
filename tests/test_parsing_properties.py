"""Property-based tests of the parsing stage (hypothesis).

Any text or bytes give a Digest or a DigestError, nothing else, quickly; realistic digests
written in any of the tolerated styles parse back to what was written.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model import Digest, DigestError
from bot.parsing import normalise_link, parse_bytes

SHANGHAI = ZoneInfo("Asia/Shanghai")
FAST = settings(
    max_examples=150, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
HEADER = "---\ntitle: t\ndate: 2025-11-27T12:00:00+08:00\ncategories: [AI工具]\n---\n"


def outcome(data: bytes) -> Digest | DigestError:
    """Parse, insisting that nothing but a Digest or a deliberate DigestError comes out."""
    try:
        digest = parse_bytes(data, "prop.md", zone=SHANGHAI)
    except DigestError as exc:
        assert not exc.reason.startswith("unexpected parser error"), exc.reason
        assert exc.line >= 1
        return exc
    assert isinstance(digest, Digest) and digest.items
    return digest


# Pieces real digests are made of, so random text reaches the item and summary code paths.
FRAGMENTS = st.sampled_from(
    [
        "\n", "\r\n", "\r", "---\n", "...\n", "1. ", "2、", "3．", "12.  ", "### ", "**", "__", "[",
        "]", "(", ")", "](", "](https://x.com/a/status/1)", "<", ">", "<br/>", "<script>", "-->",
        "<!--", " - ", " — ", " – ", "    ", "\t", "\u00a0", "\u200b", "\u200d", "\ufeff", "#",
        "#AI工具", "分类: ", "Categories：", "`", "\\", "*", "_", "&amp;", "title: ", "date: ",
        "categories: ", "2025-11-27", "T12:00:00+08:00", "&a ", "*a", "[x, y]", "{", "}", ": ",
        "'", '"', "https://", "javascript:", "中文", "作者", "\x00", "\x0b", "\u2028", "😀",
    ]
)  # fmt: skip
PIECES = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=60).map("".join)


@FAST
@given(st.text(max_size=2000))
def test_any_text_gives_a_digest_or_a_digest_error(text: str) -> None:
    outcome(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_digest_or_a_digest_error(data: bytes) -> None:
    outcome(data)


@FAST
@given(PIECES)
def test_digest_like_text_gives_a_digest_or_a_digest_error(text: str) -> None:
    outcome(text.encode("utf-8", "surrogatepass"))


# Body lines: an item-like or summary-like start, then anything; so most bodies have items.
LINE = st.tuples(
    st.sampled_from(["", "1. ", "2、", "3．", "### 4. ", "**5. ", "6.  [", "    ", "\t", "  "]),
    PIECES,
).map("".join)
BODY = st.lists(LINE, min_size=1, max_size=12).map("\n".join)


@FAST
@given(BODY)
def test_any_body_after_valid_front_matter(text: str) -> None:
    outcome((HEADER + text).encode("utf-8", "surrogatepass"))


@FAST
@given(PIECES, st.integers(min_value=0, max_value=6))
def test_any_front_matter(text: str, body_items: int) -> None:
    body = "".join(f"{n}. [t{n}](https://a.com/{n}) - a\n    s\n" for n in range(1, body_items + 1))
    outcome(f"---\n{text}\n---\n{body}".encode("utf-8", "surrogatepass"))


@FAST
@given(st.text(max_size=200))
def test_normalise_link_never_fails_and_is_idempotent(url: str) -> None:
    once = normalise_link(url)
    assert normalise_link(once) == once


URL_PART = st.text(alphabet="abcXYZ019-._~%/?=&#:@!$'()*+,; 中", max_size=20)


@FAST
@given(URL_PART, URL_PART)
def test_normalise_link_on_web_links(host: str, rest: str) -> None:
    once = normalise_link(f"https://{host}/{rest}")
    assert normalise_link(once) == once


# --- round trip -----------------------------------------------------------------------------

# Text that survives Markdown unchanged: no markup characters, no separators, no leading number.
WORD = st.text(
    alphabet=st.sampled_from(
        "abcdefgxyzABCXYZ0123456789人工智能模型发布融资芯片工具？！，。：“”‘’😀"
    ),
    min_size=1,
    max_size=12,
)
PHRASE = st.lists(WORD, min_size=1, max_size=5).map(" ".join)
TITLE = PHRASE.filter(lambda s: not s[0].isdigit())
URL = st.builds(
    "https://{}.com/{}/{}".format,
    st.text(alphabet="abcdefghij", min_size=1, max_size=8),
    st.text(alphabet="abcxyz0123", min_size=1, max_size=8),
    st.integers(min_value=0, max_value=10**12),
)
ITEM = st.fixed_dictionaries(
    {
        "title": TITLE,
        "url": st.one_of(st.none(), URL),
        "author": st.one_of(st.none(), PHRASE),
        "summary": st.lists(PHRASE, min_size=1, max_size=3),
        "bold": st.booleans(),
        "tags": st.lists(
            st.sampled_from(["AI工具", "AI应用", "硬件设施"]), max_size=2, unique=True
        ),
    }
)
STYLE = st.fixed_dictionaries(
    {
        "number": st.sampled_from(["{n}. ", "{n}.  ", "{n}.   ", "{n}、", "{n}． ", "{n}.\u00a0"]),
        "wrap": st.sampled_from(["plain", "heading", "bold"]),
        "separator": st.sampled_from([" - ", " — ", " – "]),
        "indent": st.sampled_from(["    ", "  ", "\t", "   "]),
        "newline": st.sampled_from(["\n", "\r\n"]),
        "bom": st.booleans(),
        "final_newline": st.booleans(),
        "categories": st.sampled_from(["list", "string", "tags", "none"]),
    }
)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2026, 12, 31),  # not ahead of now by more than dates.MAX_AHEAD
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5))]),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


Spec = dict[str, Any]


def write(title: str, when: datetime, cats: list[str], items: list[Spec], style: Spec) -> bytes:
    lines = ["---", f'title: "{title}"', f"date: {when.isoformat()}"]
    if style["categories"] == "list":
        lines.append("categories: [" + ", ".join(f'"{c}"' for c in cats) + "]")
    elif style["categories"] == "string":
        lines.append("categories: " + "，".join(cats))
    elif style["categories"] == "tags":
        lines.append("tags:\n" + "\n".join(f"  - {c}" for c in cats))
    lines += ["---", ""]
    for n, item in enumerate(items, start=1):
        head = f"[{item['title']}]({item['url']})" if item["url"] else item["title"]
        number = style["number"].format(n=n)
        if style["wrap"] == "heading":
            line = f"### {number}{head}"
        elif style["wrap"] == "bold":
            line = f"**{number}{head}**"
        else:
            line = number + head
        if item["author"]:
            line += style["separator"] + item["author"]
        lines.append(line)
        summary = list(item["summary"])
        if item["bold"]:
            summary[0] = f"**{summary[0]}**"
        lines += [style["indent"] + s for s in summary]
        if item["tags"]:
            lines.append(style["indent"] + "分类: " + ", ".join(item["tags"]))
        lines.append("")
    text = style["newline"].join(lines)
    if not style["final_newline"]:
        text = text.rstrip("\r\n")
    return (b"\xef\xbb\xbf" if style["bom"] else b"") + text.encode()


@settings(max_examples=120, deadline=timedelta(seconds=2))
@given(
    TITLE,
    TIMES,
    st.lists(st.sampled_from(["AI产业", "AI应用", "AI工具", "硬件设施"]), min_size=1, unique=True),
    st.lists(ITEM, min_size=1, max_size=8),
    STYLE,
)
def test_generated_digests_round_trip(
    title: str, when: datetime, cats: list[str], items: list[Spec], style: Spec
) -> None:
    digest = parse_bytes(write(title, when, cats, items, style), "gen.md", zone=SHANGHAI)
    assert digest.title == title
    assert digest.date == when and digest.date.utcoffset() == when.utcoffset()
    assert digest.categories == (() if style["categories"] == "none" else tuple(cats))
    assert len(digest.items) == len(items)
    assert len({i.id for i in digest.items}) == len(items)
    for n, (got, want) in enumerate(zip(digest.items, items, strict=True), start=1):
        assert got.position == n
        assert (got.title, got.url, got.author) == (want["title"], want["url"], want["author"])
        assert got.tags == tuple(want["tags"])
        assert got.summary_text == _joined(want["summary"])
        assert ("<b>" in got.summary_html) == want["bold"]


def _joined(lines: list[str]) -> str:
    """Summary lines as one paragraph: a soft break between two CJK characters is nothing."""
    text = lines[0]
    for line in lines[1:]:
        wide = _wide(text[-1]) and _wide(line[0])
        text += ("" if wide else " ") + line
    return text


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


@FAST
@given(
    st.text(
        # control characters never reach a title: line breaks split lines, the rest are removed
        alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\\`*_[]<>&!"),
        max_size=60,
    )
)
def test_plain_titles_skip_markdown_but_read_the_same(text: str) -> None:
    from bot.parsing.summary import _MD, inline_text, render_inline

    tokens = _MD.parseInline(text)
    assert inline_text(text) == render_inline(tokens[0].children or [])[1]
