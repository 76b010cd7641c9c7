"""Find the explicit tags written on an item: a `分类: …` / `Categories: …` line and `#hashtags`."""

from __future__ import annotations

import re

from bot.parsing.text import structural

# A tag line may be emphasised as a whole or in its label: `**分类**：AI工具`, `*Tags: a, b*`.
_TAG_LINE_RE = re.compile(
    r"[*_]{0,3}[ ]?(?:分类|類別|类别|标签|標籤|categories|category|tags|tag)"
    r"[ ]?[*_]{0,3}[ ]?[:：](.*)",
    re.IGNORECASE,
)
_TAG_SPLIT_RE = re.compile(r"[,，、;；|]|[ ]+(?=#)")
# Longer lines are prose that happens to start with "Tags:", not a tag line.
_MAX_TAG_LINE = 300
_MAX_TAG = 40
# `#AI工具` in running text; not `C#`, `&#39;`, `example.com/#anchor`, nor `# heading`.
# At most _MAX_TAG (40) characters, which also bounds the work per `#`.
_HASHTAG_RE = re.compile(
    r"(?<![A-Za-z0-9_#&/.=?])#([^\s#,，。、;；:：!！?？()（）\[\]【】<>{}\"'“”‘’`*|]{1,40})"
)


def split_tag_line(lines: list[str]) -> tuple[list[str], list[str]]:
    """The summary lines without their tag lines, and the tags those lines named."""
    kept: list[str] = []
    tags: list[str] = []
    for line in lines:
        found = _tag_line(line)
        if found is None:
            kept.append(line)
        else:
            tags.extend(found)
    return kept, tags


def _tag_line(line: str) -> list[str] | None:
    flat = structural(line).strip()
    if not flat or len(flat) > _MAX_TAG_LINE:
        return None
    m = _TAG_LINE_RE.fullmatch(flat)
    if m is None:
        return None
    start = len(line) - len(line.lstrip()) + m.start(1)  # same index on the displayed line
    value = line[start:].strip()
    names = [_clean(part) for part in _TAG_SPLIT_RE.split(structural(value))]
    return [name for name in names if name]


def hashtags(text: str) -> list[str]:
    """`#tag` words of a summary's plain text, in order of appearance."""
    found = []
    for m in _HASHTAG_RE.finditer(text):
        name = m[1].rstrip(".-_~")
        if name and not name.isdigit():
            found.append(name)
    return found


def _clean(name: str) -> str:
    name = name.strip().strip("*_`").strip().lstrip("#").strip()
    return name if len(name) <= _MAX_TAG else ""


def unique(names: list[str]) -> tuple[str, ...]:
    """Names in first-seen order without repeats."""
    return tuple(dict.fromkeys(names))
