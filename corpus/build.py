"""Rebuilds the labelled corpus of AI-news digest items from git mirrors of public digests.

Every source in ``corpus/manifest.toml`` is read at its pinned commit from a local git mirror
(layout ``<mirrors>/<owner>+<name>``), its items are cut out of the markdown under their
section headings, each heading is mapped to categories through ``corpus/sections.toml``, and
the result is written to ``corpus/build/items.jsonl`` and ``corpus/build/stats.json``.
The third-party text only ever lands in that ignored folder.

    python corpus/build.py [--mirrors /work/.mirror] [--out corpus/build] [--only SOURCE]
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
DEFAULT_MIRRORS = Path("/work/.mirror")
DEFAULT_MANIFEST = HERE / "manifest.toml"
DEFAULT_SECTIONS = HERE / "sections.toml"
DEFAULT_JUDGED = HERE / "judged"  # <source>.jsonl: verdicts on items of [<source>.judged]
JUDGED_SUFFIX = "/judged"  # the source id of a source's judged items: trained on, never tested
DEFAULT_CATEGORIES = HERE.parent / "config" / "categories.toml"
DEFAULT_OUT = HERE / "build"
SUMMARY_LIMIT = 800

DATE_IN_TEXT = re.compile(r"(20\d\d)[-_./](\d\d)[-_./](\d\d)")
DATE_IN_NAME = re.compile(r"(?:^|/)(20\d\d)-(\d\d?)-(\d\d?)-")  # Jekyll posts: 2021-2-15-103.md
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
ABSOLUTE_URL = re.compile(r"https?://\S+")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
COUNT_SUFFIX = re.compile(r"[（(]\s*\d+\s*[条篇项個个则]?\s*[）)]\s*$")
SYMBOL_CATEGORIES = {"So", "Sk", "Cs", "Co", "Mn", "Cf"}  # emoji and their modifiers
MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".mp4", ".mp3", ".pdf")
THEMATIC_BREAK = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
# Issue 12 reserves these for independent evaluation: a manifest naming one is refused, so a
# source of that family can never enter the corpus by mistake (corpus/README.md, "Reserved").
RESERVED = re.compile(
    r"(?:^|/)(?:CloudFlare-AI-Insight-Daily|[^/]*Hextra-AI-Insight-Daily[^/]*"
    r"|aitechdaily\.github\.io|daily-ai-news-blog|ainews-web_ZH_CN|ai-daily-briefing"
    r"|ai-news-today|AINews)$"
    r"|^(?:justlovemaki|AIHeadline[^/]*|smol-ai)/",
    re.IGNORECASE,
)
TRACKING_PARAMS = re.compile(r"^(utm_[a-z]+|ref|source|spm|from)=", re.IGNORECASE)


class BuildError(Exception):
    """A manifest, table or mirror problem that stops the build, said in one sentence."""


@dataclass(frozen=True)
class Source:
    """One digest repository as the manifest names it."""

    id: str
    repository: str
    commit: str
    paths: tuple[str, ...]
    exclude: tuple[str, ...]
    format: str
    language: str
    section_level: int
    item_level: int
    section_from: str
    drop_lines: tuple[re.Pattern[str], ...]
    title_strip: tuple[re.Pattern[str], ...]
    min_chars: int
    history: bool


@dataclass
class Item:
    """One labelled digest item, the unit written to items.jsonl."""

    source: str
    date: str | None
    section: str
    title: str
    summary: str
    url: str | None
    lang: str
    labels: list[str] = field(default_factory=list)
    # what training learns where the section table says less than `labels` (a subset);
    # empty: the labels themselves. The bench scores against `labels`.
    learn: list[str] = field(default_factory=list)


@dataclass
class RawItem:
    """An item as a parser found it, before mapping and cleaning."""

    section: str
    title: str
    body: list[str]
    url: str | None
    date: str | None


@dataclass
class SectionTable:
    """The reviewed mapping of one source's normalised headings to categories."""

    mapped: dict[str, list[str]]
    skipped: dict[str, str]
    patterns: list[tuple[re.Pattern[str], list[str]]] = field(default_factory=list)
    # headings whose items mix topics and are labelled one by one: heading → why
    judged: dict[str, str] = field(default_factory=dict)
    # headings whose items are trained on fewer of their labels than a reader accepts:
    # heading → the labels learned (a subset of its mapped labels)
    learn: dict[str, list[str]] = field(default_factory=dict)

    def labels_for(self, key: str) -> list[str] | None:
        """Labels of a normalised heading: its own entry first, else every matching pattern."""
        if key in self.mapped:
            return self.mapped[key]
        found: list[str] = []
        for pattern, labels in self.patterns:
            if pattern.search(key):
                found += [label for label in labels if label not in found]
        return found or None


@dataclass
class SourceStats:
    """What happened to one source's items on the way to the corpus."""

    files: int = 0
    found: int = 0
    kept: int = 0
    mapped_sections: dict[str, list[str]] = field(default_factory=dict)
    section_counts: Counter[str] = field(default_factory=Counter)
    skipped_sections: Counter[str] = field(default_factory=Counter)
    unreviewed_sections: Counter[str] = field(default_factory=Counter)
    too_short: int = 0
    duplicate_in_source: int = 0
    duplicate_across_sources: int = 0
    judged: int = 0  # items of judged sections kept with their verdict's categories
    judged_not_ai: int = 0  # ... judged not about AI at all (an empty verdict): dropped
    unjudged: int = 0  # ... without a verdict: dropped


# ----------------------------------------------------------------------------- configuration


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise BuildError(f"{path}: file not found") from error
    except tomllib.TOMLDecodeError as error:
        raise BuildError(f"{path}: {error}") from error


def load_category_names(path: Path) -> set[str]:
    names = {entry["name"] for entry in load_toml(path).get("category", [])}
    if not names:
        raise BuildError(f"{path}: no [[category]] names")
    return names


def compile_all(patterns: Iterable[str], where: str) -> tuple[re.Pattern[str], ...]:
    try:
        return tuple(re.compile(pattern) for pattern in patterns)
    except re.error as error:
        raise BuildError(f"{where}: bad regular expression: {error}") from error


def parse_source(entry: dict[str, Any], manifest: Path) -> Source:
    where = f"{manifest}: source {entry.get('id', '?')!r}"
    for key in ("id", "repository", "commit", "paths", "format", "language"):
        if key not in entry:
            raise BuildError(f"{where}: missing {key!r}")
    if not re.fullmatch(r"[0-9a-f]{40}", entry["commit"]):
        raise BuildError(f"{where}: commit must be 40 hex digits")
    if RESERVED.search(entry["repository"]):
        raise BuildError(f"{where}: {entry['repository']} is reserved for evaluation, never read")
    if entry["format"] not in PARSERS:
        raise BuildError(f"{where}: unknown format {entry['format']!r} (known: {sorted(PARSERS)})")
    return Source(
        id=entry["id"],
        repository=entry["repository"],
        commit=entry["commit"],
        paths=tuple(entry["paths"]),
        exclude=tuple(entry.get("exclude", [])),
        format=entry["format"],
        language=entry["language"],
        section_level=int(entry.get("section_level", 2)),
        item_level=int(entry.get("item_level", 3)),
        section_from=entry.get("section_from", "heading"),
        drop_lines=compile_all(entry.get("drop_lines", []), where),
        title_strip=compile_all(entry.get("title_strip", []), where),
        min_chars=int(entry.get("min_chars", 30)),
        history=bool(entry.get("history", False)),
    )


def load_manifest(path: Path) -> list[Source]:
    sources = [parse_source(entry, path) for entry in load_toml(path).get("source", [])]
    if not sources:
        raise BuildError(f"{path}: no [[source]] entries")
    ids = [source.id for source in sources]
    if len(set(ids)) != len(ids):
        raise BuildError(f"{path}: source ids must be unique")
    return sources


def checked_labels(labels: list[str], categories: set[str], where: str) -> list[str]:
    unknown = [label for label in labels if label not in categories]
    if unknown or not labels:
        raise BuildError(f"{where}: unknown labels {unknown}")
    return list(labels)


def load_sections(path: Path, categories: set[str]) -> dict[str, SectionTable]:
    tables: dict[str, SectionTable] = {}
    for source_id, table in load_toml(path).items():
        mapped = {
            normalise_heading(heading): checked_labels(
                labels, categories, f"{path}: [{source_id}.map] {heading!r}"
            )
            for heading, labels in table.get("map", {}).items()
        }
        skipped = {normalise_heading(h): reason for h, reason in table.get("skip", {}).items()}
        judged = {normalise_heading(h): why for h, why in table.get("judged", {}).items()}
        for first, second in ((mapped, skipped), (mapped, judged), (skipped, judged)):
            twice = sorted(set(first) & set(second))
            if twice:
                raise BuildError(f"{path}: [{source_id}] a heading in two lists: {twice}")
        patterns = [
            (
                compile_all([pattern], f"{path}: [{source_id}.patterns]")[0],
                checked_labels(labels, categories, f"{path}: [{source_id}.patterns] {pattern!r}"),
            )
            for pattern, labels in table.get("patterns", {}).items()
        ]
        learn = {
            normalise_heading(heading): checked_labels(
                labels, categories, f"{path}: [{source_id}.learn] {heading!r}"
            )
            for heading, labels in table.get("learn", {}).items()
        }
        for key, labels in learn.items():
            if not set(labels) < set(mapped.get(key, ())):
                raise BuildError(
                    f"{path}: [{source_id}.learn] {key!r} must name fewer of the labels that "
                    f"[{source_id}.map] gives it ({mapped.get(key, [])})"
                )
        tables[source_id] = SectionTable(mapped, skipped, patterns, judged, learn)
    return tables


# ----------------------------------------------------------------------------- git mirrors


def mirror_dir(mirrors: Path, repository: str) -> Path:
    """The git directory of a mirror: `<owner>+<name>` (bare) or its `repo` subfolder."""
    base = mirrors / repository.replace("/", "+")
    for candidate in (base / "repo", base, base.with_name(base.name + ".git")):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise BuildError(
        f"no git mirror of {repository} under {mirrors}; get it with "
        f"`git clone --mirror https://github.com/{repository} {base}`"
    )


def git(gitdir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["git", "--git-dir", str(gitdir), *args], input=stdin, capture_output=True, check=False
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise BuildError(f"git {' '.join(args[:2])} in {gitdir}: {message}")
    return result.stdout


def selected_paths(gitdir: Path, source: Source) -> list[str]:
    try:
        git(gitdir, "cat-file", "-e", f"{source.commit}^{{commit}}")
    except BuildError as error:
        raise BuildError(
            f"{source.repository}: commit {source.commit} is not in {gitdir}; "
            f"update the mirror with `git --git-dir {gitdir} fetch`"
        ) from error
    if source.history:
        # Every path the history up to the commit ever held, so files since moved still count.
        listing = git(gitdir, "log", "-z", "--name-only", "--format=", source.commit)
    else:
        listing = git(gitdir, "ls-tree", "-r", "-z", "--name-only", source.commit)
    names = sorted(
        {name.strip("\n") for name in listing.decode("utf-8").split("\0") if name.strip()}
    )
    chosen = [
        name
        for name in names
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in source.paths)
        and not any(fnmatch.fnmatchcase(name, pattern) for pattern in source.exclude)
    ]
    return sorted(chosen)


def versions(gitdir: Path, commit: str, path: str) -> list[tuple[str, str]]:
    """Every (commit, author date) in which `path` changed, up to `commit`."""
    log = git(gitdir, "log", "--format=%H %as", commit, "--", path).decode("utf-8")
    return [(line.split()[0], line.split()[1]) for line in log.splitlines() if line.strip()]


def read_blobs(gitdir: Path, revisions: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Yields (path, text) for each (commit, path), with one `git cat-file --batch`."""
    if not revisions:
        return
    request = "".join(f"{commit}:{path}\n" for commit, path in revisions).encode("utf-8")
    data = git(gitdir, "cat-file", "--batch", stdin=request)
    offset = 0
    for _, path in revisions:
        end = data.index(b"\n", offset)
        header = data[offset:end].split()
        offset = end + 1
        if len(header) < 3 or header[1] != b"blob":
            yield path, ""  # missing, or not a file: nothing to read, but keep the order
            continue
        size = int(header[2])
        yield path, data[offset : offset + size].decode("utf-8", "replace")
        offset += size + 1


# ----------------------------------------------------------------------------- text helpers


def normalise_heading(text: str) -> str:
    """Heading text without emoji, numbering, item counts or case: the key of the table."""
    text = unicodedata.normalize("NFKC", text)
    text = LINK.sub(r"\1", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in SYMBOL_CATEGORIES)
    text = COUNT_SUFFIX.sub("", text.strip())
    text = re.sub(r"^\d+[.、)]\s*", "", text)
    text = re.sub(r"[*_`#]", "", text)
    return re.sub(r"\s+", " ", text).strip(" :：-—|").casefold()


def plain_text(markdown: str) -> str:
    """Markdown reduced to its words: links keep their text, images and markup go."""
    text = re.sub(r"<[^>]+>", " ", markdown)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = LINK.sub(r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__|\*|~~)", "", text)
    text = re.sub(r"^\s*(>\s*)+", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*([-*+]|\d+\.)\s+", "", text, flags=re.MULTILINE)
    return re.sub(r"\s+", " ", text).strip()


def is_page_link(url: str) -> bool:
    """An absolute link to a page, not to an image or other media file."""
    path = urlsplit(url).path.lower()
    return url.startswith(("http://", "https://")) and not path.endswith(MEDIA_SUFFIXES)


def first_absolute_url(lines: Iterable[str]) -> str | None:
    for line in lines:
        without_images = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", line)
        for match in LINK.finditer(without_images):
            if is_page_link(match.group(2)):
                return match.group(2)
        bare = ABSOLUTE_URL.search(without_images)
        if bare and is_page_link(bare.group(0)):
            return bare.group(0).rstrip(").,>")
    return None


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    query = "&".join(p for p in parts.query.split("&") if p and not TRACKING_PARAMS.match(p))
    host = parts.netloc.lower().removeprefix("www.")
    return urlunsplit(("", host, parts.path.rstrip("/"), query, "")).lstrip("/")


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    return re.sub(r"[\W_]+", "", text)


def language_of(text: str) -> str:
    cjk = len(CJK.findall(text))
    latin = len(LATIN.findall(text))
    return "zh" if cjk and cjk * 4 >= latin else "en"


def date_of(path: str, text: str) -> str | None:
    front = re.match(r"^---\n(.*?)\n---", text, re.DOTALL)
    if front:
        found = re.search(r"^date:\s*[\"']?(20\d\d-\d\d-\d\d)", front.group(1), re.MULTILINE)
        if found:
            return found.group(1)
    for place in (path, text[:400]):
        match = DATE_IN_TEXT.search(place)
        if match:
            return "-".join(match.groups())
        loose = DATE_IN_NAME.search(path)
        if place is path and loose:
            return "-".join(part.zfill(2) for part in loose.groups())
    return None


def front_matter_value(text: str, key: str) -> str | None:
    front = re.match(r"^---\n(.*?)\n---", text, re.DOTALL)
    if not front:
        return None
    found = re.search(rf"^{re.escape(key)}:\s*[\"']?([^\"'\n]+)", front.group(1), re.MULTILINE)
    return found.group(1).strip() if found else None


def split_title(raw: str) -> tuple[str, str | None]:
    """A heading's text and the link it carries, if the heading is a link."""
    link = LINK.search(raw)
    url = link.group(2) if link and is_page_link(link.group(2)) else None
    return plain_text(raw), url


# ----------------------------------------------------------------------------- parsers


def parse_heading_items(path: str, text: str, source: Source) -> list[RawItem]:
    """Items are headings of `item_level` under section headings of `section_level`.

    With `section_from = "front_matter:<key>"` or `"path"` the whole file is one section.
    """
    date = date_of(path, text)
    fixed_section: str | None = None
    if source.section_from.startswith("front_matter:"):
        fixed_section = front_matter_value(text, source.section_from.split(":", 1)[1])
        if fixed_section is None:
            return []
    elif source.section_from == "path":
        fixed_section = path.rsplit("/", 1)[-1].removesuffix(".md")
    section = fixed_section
    items: list[RawItem] = []
    current: RawItem | None = None
    body = re.sub(r"^---\n.*?\n---\n", "", text, count=1, flags=re.DOTALL)
    in_code = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        heading = HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if fixed_section is None and level == source.section_level:
                section, current = heading.group(2), None
                continue
            if level == source.item_level and section is not None:
                title, url = split_title(heading.group(2))
                current = RawItem(section=section, title=title, body=[], url=url, date=date)
                items.append(current)
                continue
            if level <= max(source.item_level, source.section_level):
                current = None
                if fixed_section is None and level < source.section_level:
                    section = None
                continue
        if current is not None:
            current.body.append(line)
    return items


JUYA_OVERVIEW_ITEM = re.compile(r"^\s*[-*]\s+(.*?)\s*`#(\d+)`\s*$")
JUYA_DETAIL = re.compile(r"^##\s+(.*?)\s*`#(\d+)`\s*$")


def parse_overview_index(path: str, text: str, source: Source) -> list[RawItem]:
    """An overview lists `- title [↗](url) `#N`` under `### section`; `## [title](url) `#N``
    blocks further down carry each item's text."""
    date = date_of(path, text)
    sections: dict[str, tuple[str, str, str | None]] = {}
    bodies: dict[str, list[str]] = defaultdict(list)
    detail_urls: dict[str, str | None] = {}
    section: str | None = None
    current: str | None = None
    in_overview = False
    for line in text.split("\n"):
        heading = HEADING.match(line)
        detail = JUYA_DETAIL.match(line)
        if detail:
            current, in_overview = detail.group(2), False
            detail_urls[current] = split_title(detail.group(1))[1]
            continue
        if heading:
            level, words = len(heading.group(1)), heading.group(2)
            if level == source.section_level - 1:
                in_overview = normalise_heading(words) in {"概览", "overview"}
                current = None
            elif level == source.section_level and in_overview:
                section = words
            continue
        if in_overview and section is not None:
            entry = JUYA_OVERVIEW_ITEM.match(line)
            if entry:
                title, url = split_title(entry.group(1))
                title = title.removesuffix("↗").strip()
                sections[entry.group(2)] = (section, title, url)
            continue
        if current is not None:
            if line.strip() == "---":
                current = None
            else:
                bodies[current].append(line)
    return [
        RawItem(
            section=sec,
            title=title,
            body=bodies.get(number, []),
            url=url or detail_urls.get(number),
            date=date,
        )
        for number, (sec, title, url) in sections.items()
    ]


BULLET = re.compile(r"^[-*+]\s+(.*\S)\s*$")
TRAILING_SOURCE = re.compile(r"\s+[-–—]\s+\[[^\]]+\]\([^)]+\)\s*$")


def parse_bullet_items(path: str, text: str, source: Source) -> list[RawItem]:
    """Items are the top-level bullets under headings of `section_level`; a bullet is one
    sentence with its source link at the end ("… - [Publisher](link)")."""
    date = date_of(path, text)
    section: str | None = None
    items: list[RawItem] = []
    for line in text.split("\n"):
        heading = HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if level == source.section_level:
                section = heading.group(2)
            elif level < source.section_level:
                section = None
            continue
        bullet = BULLET.match(line)
        if bullet and section is not None:
            words = bullet.group(1)
            url = first_absolute_url([words])
            title = plain_text(TRAILING_SOURCE.sub("", words))
            items.append(RawItem(section=section, title=title, body=[], url=url, date=date))
    return items


LINK_ITEM = re.compile(r"^(?:[-*+]\s+)?\[([^\]]+)\]\((https?://[^)\s]+)\)(.*)$")
LEADING_SEPARATOR = re.compile(r"^[\s.:\-–—]+")


def parse_link_items(path: str, text: str, source: Source) -> list[RawItem]:
    """Items are lines that open with a link ("* [title](link) - summary", "[title](link).
    summary") or headings that are a link; the section is the latest heading that is not a
    link, whatever its level (a newsletter nests "Tools" under "Other News" in some years and
    puts "Concerns & Hype" at the top in others). A line item's summary is the rest of its
    paragraph; a heading item's runs to the next heading or item."""
    date = date_of(path, text)
    section: str | None = None
    items: list[RawItem] = []
    current: RawItem | None = None
    open_paragraph = False  # a line item takes the lines up to the next blank line
    body = re.sub(r"^---\n.*?\n---", "", text, count=1, flags=re.DOTALL)
    for line in body.split("\n"):
        heading = HEADING.match(line)
        if heading:
            linked = LINK_ITEM.match(heading.group(2))
            if linked and section is not None:
                title, url = plain_text(linked.group(1)), linked.group(2)
                current = RawItem(section=section, title=title, body=[], url=url, date=date)
                items.append(current)
                open_paragraph = False
            else:
                section, current = (None if linked else heading.group(2)), None
            continue
        entry = LINK_ITEM.match(line.strip())
        if entry and section is not None and is_page_link(entry.group(2)):
            rest = LEADING_SEPARATOR.sub("", entry.group(3))
            title, url = plain_text(entry.group(1)), entry.group(2)
            current = RawItem(section=section, title=title, body=[rest], url=url, date=date)
            items.append(current)
            open_paragraph = True
            continue
        if current is None:
            continue
        if not line.strip() and open_paragraph:
            current = None
            continue
        current.body.append(line)
    return items


PARSERS = {
    "heading_items": parse_heading_items,
    "overview_index": parse_overview_index,
    "bullet_items": parse_bullet_items,
    "link_items": parse_link_items,
}


# ----------------------------------------------------------------------------- assembling


def summary_of(body: list[str], source: Source) -> str:
    kept = [
        line
        for line in body
        if not THEMATIC_BREAK.match(line) and not any(p.search(line) for p in source.drop_lines)
    ]
    text = plain_text("\n".join(kept))
    text = re.sub(r"^(摘要|核心内容|简介|summary)\s*[:：]\s*", "", text, flags=re.IGNORECASE)
    if len(text) > SUMMARY_LIMIT:
        cut = text[:SUMMARY_LIMIT]
        text = cut[: max(cut.rfind("。"), cut.rfind(". "), SUMMARY_LIMIT // 2) + 1].strip()
    return text


def clean_title(title: str, source: Source) -> str:
    for pattern in source.title_strip:
        title = pattern.sub("", title)
    return re.sub(r"^\d+[.、]\s*", "", title).strip()


def labelled_items(
    source: Source, raw_items: Iterable[RawItem], table: SectionTable, stats: SourceStats
) -> Iterator[Item]:
    for raw in raw_items:
        stats.found += 1
        key = normalise_heading(raw.section)
        if key in table.judged:
            continue  # `judged_items` takes these
        if key in table.skipped:
            stats.skipped_sections[key] += 1
            continue
        labels = table.labels_for(key)
        if labels is None:
            stats.unreviewed_sections[key] += 1
            continue
        stats.mapped_sections[key] = labels
        stats.section_counts[key] += 1
        title = clean_title(raw.title, source)
        summary = summary_of(raw.body, source)
        if len(normalise_title(title)) < 4 or len(title) + len(summary) < source.min_chars:
            stats.too_short += 1
            continue
        url = raw.url or first_absolute_url(raw.body)
        yield Item(
            source=source.id,
            date=raw.date,
            section=key,
            title=title,
            summary=summary,
            url=url,
            lang=language_of(f"{title} {summary}"),
            labels=list(labels),
            learn=list(table.learn.get(key, [])),
        )


def item_key(source_id: str, date: str | None, title: str) -> str:
    """A verdict's key: the item's source, date and title, hashed (no text in the verdicts)."""
    text = f"{source_id}\n{date or ''}\n{title}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def load_verdicts(path: Path, categories: set[str]) -> dict[str, list[str]]:
    """key → categories of a judged-items file ({"key", "categories"} lines; [] = not AI)."""
    if not path.exists():
        return {}
    found: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            labels = row["categories"]  # [] = judged not about AI
            found[str(row["key"])] = (
                checked_labels(labels, categories, f"{path}:{number}") if labels else []
            )
    return found


def judged_items(
    source: Source,
    raw_items: list[RawItem],
    table: SectionTable,
    verdicts: dict[str, list[str]],
    stats: SourceStats,
) -> Iterator[Item]:
    """The items of judged sections, labelled with their verdict's categories. A heading with
    no text right before a heading in Chinese is a title with its translation (tianyaxiang's
    "### <original>" then "### <译名>"): one item, the original's title, the translation's text."""
    found = [r for r in raw_items if normalise_heading(r.section) in table.judged]
    for n, raw in enumerate(found):
        title = clean_title(raw.title, source)
        if CJK.search(title):
            continue  # a translation: its text went to the original before it (or nowhere)
        body = raw.body
        after = found[n + 1] if n + 1 < len(found) else None
        same_day = after is not None and (after.section, after.date) == (raw.section, raw.date)
        if not summary_of(body, source) and after and same_day:
            body = after.body if CJK.search(after.title) else body
        verdict = verdicts.get(item_key(source.id, raw.date, title))
        if verdict is None:
            stats.unjudged += 1
            continue
        if not verdict:
            stats.judged_not_ai += 1
            continue
        summary = summary_of(body, source)
        yield Item(
            source=source.id + JUDGED_SUFFIX,
            date=raw.date,
            section=normalise_heading(raw.section),
            title=title,
            summary=summary,
            url=raw.url or first_absolute_url(body),
            lang=language_of(f"{title} {summary}"),
            labels=list(verdict),
        )


def story_keys(item: Item) -> set[str]:
    """What makes two items one story: the same normalised title, or the same link."""
    keys = {"t:" + normalise_title(item.title)}
    if item.url:
        keys.add("u:" + normalise_url(item.url))
    return keys


def deduplicated(items: Iterable[Item], stats: SourceStats, seen_elsewhere: set[str]) -> list[Item]:
    """Keeps each story once per source (same link or same title) and drops stories an
    earlier source already gave (an exact duplicate across sources)."""
    kept: list[Item] = []
    seen_here: set[str] = set()
    for item in items:
        keys = story_keys(item)
        if keys & seen_here:
            stats.duplicate_in_source += 1
            continue
        seen_here |= keys
        if keys & seen_elsewhere:
            stats.duplicate_across_sources += 1
            continue
        kept.append(item)
    seen_elsewhere |= seen_here
    return kept


def build_source(
    source: Source,
    mirrors: Path,
    table: SectionTable,
    seen: set[str],
    verdicts: dict[str, list[str]] | None = None,
) -> tuple[list[Item], SourceStats]:
    gitdir = mirror_dir(mirrors, source.repository)
    paths = selected_paths(gitdir, source)
    stats = SourceStats(files=len(paths))
    if not paths:
        raise BuildError(f"{source.id}: no files at {source.commit} match {list(source.paths)}")
    parser = PARSERS[source.format]
    dated: list[tuple[str, str, str | None]]
    if source.history:
        dated = [(c, p, day) for p in paths for c, day in versions(gitdir, source.commit, p)]
    else:
        dated = [(source.commit, p, None) for p in paths]
    raw: list[RawItem] = []
    blobs = read_blobs(gitdir, [(commit, path) for commit, path, _ in dated])
    for (path, text), (_, _, day) in zip(blobs, dated, strict=True):
        for item in parser(path, text, source):
            # A file rewritten in place (history = true) is dated by the commit that wrote it.
            item.date = day or item.date
            raw.append(item)
    items = deduplicated(labelled_items(source, raw, table, stats), stats, seen)
    stats.kept = len(items)
    # after the mapped items, so judging a section never changes which of those are kept
    # on a copy of `seen`: judged items never take a story from a later source (`build` drops
    # those that a later source gives)
    found = judged_items(source, raw, table, verdicts or {}, stats)
    judged = deduplicated(found, stats, set(seen))
    stats.judged = len(judged)
    return items + judged, stats


def summarise(items: list[Item], per_source: dict[str, SourceStats]) -> dict[str, Any]:
    by_source_label: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        for label in item.labels:
            by_source_label[item.source][label] += 1
    return {
        "items": len(items),
        "per_source": {sid: stats.kept for sid, stats in per_source.items()},
        "per_label": dict(Counter(label for item in items for label in item.labels).most_common()),
        "per_language": dict(Counter(item.lang for item in items).most_common()),
        "per_source_label": {sid: dict(c.most_common()) for sid, c in by_source_label.items()},
        "labels_per_item": dict(sorted(Counter(len(item.labels) for item in items).items())),
        "sources": {
            sid: {
                **{k: v for k, v in asdict(stats).items() if isinstance(v, int)},
                "mapped_sections": {
                    key: {"items": count, "labels": stats.mapped_sections[key]}
                    for key, count in stats.section_counts.most_common()
                },
                "skipped_sections": dict(stats.skipped_sections.most_common()),
                "unreviewed_sections": dict(stats.unreviewed_sections.most_common()),
            }
            for sid, stats in per_source.items()
        },
    }


def build(
    mirrors: Path,
    manifest: Path,
    sections: Path,
    categories: Path,
    out: Path,
    only: set[str] | None = None,
    judged: Path = DEFAULT_JUDGED,
) -> dict[str, Any]:
    sources = load_manifest(manifest)
    names = load_category_names(categories)
    tables = load_sections(sections, names)
    items: list[Item] = []
    per_source: dict[str, SourceStats] = {}
    seen: set[str] = set()
    for source in sources:
        if only and source.id not in only:
            continue
        if source.id not in tables:
            raise BuildError(f"{sections}: no table for source {source.id!r}")
        verdicts = load_verdicts(judged / f"{source.id}.jsonl", names)
        found, stats = build_source(source, mirrors, tables[source.id], seen, verdicts)
        items.extend(found)
        per_source[source.id] = stats
    plain = {key for i in items if not i.source.endswith(JUDGED_SUFFIX) for key in story_keys(i)}
    items = [i for i in items if not i.source.endswith(JUDGED_SUFFIX) or not story_keys(i) & plain]
    for source_id, stats in per_source.items():
        stats.judged = sum(1 for i in items if i.source == source_id + JUDGED_SUFFIX)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.jsonl").open("w", encoding="utf-8") as handle:
        for item in items:
            row = {k: v for k, v in asdict(item).items() if k != "learn" or v}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    stats_out = summarise(items, per_source)
    summary = json.dumps(stats_out, ensure_ascii=False, indent=2) + "\n"
    (out / "stats.json").write_text(summary, "utf-8")
    return stats_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="git mirrors")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--sections", type=Path, default=DEFAULT_SECTIONS)
    parser.add_argument("--categories", type=Path, default=DEFAULT_CATEGORIES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--judged", type=Path, default=DEFAULT_JUDGED, help="verdicts folder")
    parser.add_argument("--only", action="append", help="build only this source id (repeatable)")
    parser.add_argument(
        "--explain", action="store_true", help="print every heading found and what it became"
    )
    args = parser.parse_args(argv)
    try:
        stats = build(
            args.mirrors,
            args.manifest,
            args.sections,
            args.categories,
            args.out,
            set(args.only) if args.only else None,
            args.judged,
        )
    except BuildError as error:
        print(f"corpus build: {error}", file=sys.stderr)
        return 1
    if args.explain:
        for source_id, found in stats["sources"].items():
            print(f"# {source_id}")
            for key, entry in found["mapped_sections"].items():
                print(f"{entry['items']:6d}  {key}  -> {', '.join(entry['labels'])}")
            for key, count in found["skipped_sections"].items():
                print(f"{count:6d}  {key}  -- skipped")
            for key, count in found["unreviewed_sections"].items():
                print(f"{count:6d}  {key}  ?? unreviewed")
            if found["judged"] or found["unjudged"]:
                print(
                    f"{found['judged']:6d}  judged items kept ({found['judged_not_ai']} judged"
                    f" not about AI, {found['unjudged']} without a verdict)"
                )
    headline = {k: stats[k] for k in ("items", "per_source", "per_label", "per_language")}
    print(json.dumps(headline, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
