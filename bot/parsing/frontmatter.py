"""Split off a digest's YAML front matter and read its `title`, `date` and `categories`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import yaml

from bot.parsing.dates import to_datetime
from bot.parsing.failure import ParseFailure
from bot.parsing.text import structural

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML whose impossible timestamps (`2025-02-30`) stay strings.

    The date reader then reports them against the `date:` line instead of YAML failing with no
    line at all.
    """


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class _TextLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML whose scalars are the text as written, except that null stays None.

    YAML 1.1 guesses types: `title: yes` would be True, `1.10` would be 1.1 and `1:20` would be
    80.  The title and the category names are text, so they are read with this loader.
    """


def _as_written(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("bool", "int", "float", "timestamp"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_written)

_NAME_SPLIT_RE = re.compile(r"[,，、]")
MAX_FRONT_MATTER_CHARS = 64 * 1024


@dataclass(frozen=True)
class FrontMatter:
    """What the front matter says; None where it says nothing."""

    title: str | None
    date: datetime | None
    categories: tuple[str, ...]
    open_line: int  # line of the opening `---`
    date_line: int  # line of the `date:` key (the opening `---` without one)
    body_index: int  # index in the file's lines of the first line after the closing `---`


def read_front_matter(lines: list[str], zone: ZoneInfo) -> FrontMatter:
    """Find the `---` fenced front matter at the top of `lines` and read it."""
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start == len(lines):
        raise ParseFailure(1, "empty file: no front matter and no items")
    if structural(lines[start]).strip() != "---":
        raise ParseFailure(start + 1, "missing front matter: the file must start with a '---' line")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if structural(lines[i]).rstrip() in ("---", "...")
        ),
        None,
    )
    if end is None:
        raise ParseFailure(
            start + 1,
            "unclosed front matter: no closing '---' line (is the file still being written?)",
        )
    block = [structural(line) for line in lines[start + 1 : end]]
    size = sum(len(line) + 1 for line in block)
    if size > MAX_FRONT_MATTER_CHARS:  # real ones are a few lines; YAML is slow on huge ones
        raise ParseFailure(
            start + 1,
            f"front matter too large: {size} characters, at most {MAX_FRONT_MATTER_CHARS}",
        )
    data = _load(block, start + 2, _Loader)
    fields = {key.strip().lower(): value for key, value in data.items() if isinstance(key, str)}
    # Loaded a second time (it is small) so that only `date` has its type guessed.
    text = _load(block, start + 2, _TextLoader)
    texts = {key.strip().lower(): value for key, value in text.items() if isinstance(key, str)}
    locate = _KeyLines(block, start + 2, start + 1)
    date = fields.get("date")
    try:
        when = None if date is None or date == "" else to_datetime(date, zone)
    except ValueError as exc:
        raise ParseFailure(locate("date"), str(exc)) from None
    categories = texts.get("categories")
    key = "categories" if categories is not None else "tags"
    return FrontMatter(
        title=_title(texts.get("title"), locate("title")),
        date=when,
        categories=names(categories if categories is not None else texts.get("tags"), key,
                         locate(key)),
        open_line=start + 1,
        date_line=locate("date"),
        body_index=end + 1,
    )  # fmt: skip


def _load(block: list[str], first_line: int, loader: type[yaml.SafeLoader]) -> dict[object, object]:
    try:
        data = yaml.load("\n".join(block), Loader=loader)  # both loaders are safe loaders
    except yaml.YAMLError as exc:
        raise ParseFailure(*_yaml_problem(exc, first_line)) from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        raise ParseFailure(first_line - 1, f"invalid value in front matter: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParseFailure(
            first_line - 1,
            f"front matter is not a mapping of keys to values (it is a {type(data).__name__})",
        )
    return data


def _yaml_problem(exc: yaml.YAMLError, first_line: int) -> tuple[int, str]:
    """The file line and the reason of a YAML error; the line where it was noticed, and where
    the construct it was in began (an unclosed quote is noticed only at the end)."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = problem_mark or context_mark
    line = first_line + mark.line if mark is not None else first_line - 1
    reason = f"invalid YAML in front matter: {problem}"
    context = getattr(exc, "context", None)
    if context and context_mark is not None and context_mark.line != getattr(mark, "line", None):
        reason += f" ({context} that begins on line {first_line + context_mark.line})"
    return line, reason


def _title(value: object, line: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict | set | tuple):
        raise ParseFailure(line, "title must be text")
    return str(value).strip() or None


def names(value: object, key: str, line: int) -> tuple[str, ...]:
    """Category names from a YAML list or a string separated by `,`, `，` or `、`."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts: list[object] = list(_NAME_SPLIT_RE.split(value))
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ParseFailure(line, f"{key} must be a list or a comma-separated string")
    cleaned = []
    for part in parts:
        if isinstance(part, list | dict | set | tuple):
            raise ParseFailure(line, f"{key} must be a list of names, not of lists or mappings")
        name = "" if part is None else str(part).strip().lstrip("#").strip()
        if name:
            cleaned.append(name)
    return tuple(dict.fromkeys(cleaned))


class _KeyLines:
    """Finds the file line of a top-level key of the front matter, for error messages."""

    def __init__(self, block: list[str], first_line: int, fallback: int) -> None:
        self._block, self._first, self._fallback = block, first_line, fallback

    def __call__(self, key: str) -> int:
        for index, line in enumerate(self._block):
            head = line.split(":", 1)[0].strip().strip("'\"").lower()
            if head == key and ":" in line:
                return self._first + index
        return self._fallback
