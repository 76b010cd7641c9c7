"""The category table of `config/categories.toml`: names, ASCII slugs, English labels, rules.

The table is the operator's to edit, so every problem in it is reported as `file:line: reason`.
Categories that digests use but the table lacks still get a stable ASCII slug, because feed URLs
and Telegram deep links allow only ASCII.

The table also names the category model (`model = "builtin"` or a file). A model file that
cannot be used does not stop the service: the table is loaded without it (the keyword rules
take over), the problem is logged once and kept in `model_problem` for `digestbot check`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.categorising.matching import KeywordMatcher
from bot.categorising.model import BUILTIN, CategoryModel, ModelError, builtin_path, load_model
from bot.model import Category

_COMPACT = re.compile(r"[\s\-_·・.]+")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_CATEGORY_KEYS = {"name", "slug", "label", "keywords", "patterns", "decisive", "title_weight"}
_TOP_KEYS = {"category", "title_weight", "min_score", "model", "nudge"}
log = logging.getLogger("digestbot")
_warned: set[str] = set()  # model problems already logged: one warning each, not one per load


class CategoryTableError(ValueError):
    """A problem in the category table, as `file:line: reason`."""

    def __init__(self, source: str | Path, line: int, reason: str) -> None:
        self.source, self.line, self.reason = str(source), line, reason
        super().__init__(f"{source}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """How to recognise one category in an item's text: weighted keywords and regex patterns."""

    category: Category
    keywords: tuple[tuple[str, float], ...] = ()
    patterns: tuple[tuple[re.Pattern[str], float], ...] = ()
    decisive: tuple[str, ...] = ()  # keywords that force the category, whatever the model says


@dataclass(frozen=True)
class CategoryTable:
    """Every known category, in table order, with the rules that recognise it."""

    rules: tuple[CategoryRule, ...] = ()
    title_weight: float = 2.0
    min_score: float = 1.0
    source: str = "<default>"
    model: CategoryModel | None = None
    nudge: float = 0.0  # log-odds added to the model's score per unit of keyword weight
    model_problem: str = ""  # why the named model is not used (for `digestbot check`)
    _by_key: dict[str, Category] = field(default_factory=dict, init=False, repr=False)
    # Built on first use (a table made by `replace` builds its own): every keyword in one trie.
    _matchers: dict[str, KeywordTerms] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for rule in self.rules:
            category = rule.category
            for key in (category.name, category.slug, category.label):
                self._by_key.setdefault(fold(key), category)

    @property
    def keyword_terms(self) -> KeywordTerms:
        """Every weighted and decisive keyword of every category, ready to be found at once."""
        terms = self._matchers.get("terms")
        if terms is None:
            terms = self._matchers["terms"] = KeywordTerms.of(self.rules)
        return terms

    @property
    def categories(self) -> tuple[Category, ...]:
        return tuple(rule.category for rule in self.rules)

    def get(self, name: str) -> Category:
        """The category called `name` (or with that slug or label); an unknown name gets an
        automatic ASCII slug and is its own label."""
        found = self._by_key.get(fold(name))
        return found if found else Category(name=name, slug=auto_slug(name), label=name)

    def without_model(self) -> CategoryTable:
        """The same table deciding by keyword rules only (as when no model is named)."""
        return replace(self, model=None, model_problem="")

    def known(self, name: str) -> bool:
        return fold(name) in self._by_key

    def rule_for(self, name: str) -> CategoryRule | None:
        return next((r for r in self.rules if r.category.name == name), None)

    def resolve(self, query: str, among: tuple[Category, ...] | None = None) -> list[Category]:
        """Categories a user's word means: exact name, slug or label (case-insensitive), else
        every category whose name, slug or label contains it. One result means a match."""
        pool = among if among is not None else self.categories
        wanted = fold(query)
        if not wanted:
            return []
        exact = [c for c in pool if wanted in (fold(c.name), fold(c.slug), fold(c.label))]
        if exact:
            return exact[:1]
        return [c for c in pool if any(wanted in fold(key) for key in (c.name, c.slug, c.label))]


@dataclass(frozen=True, slots=True)
class KeywordTerms:
    """The table's keywords in one `KeywordMatcher`: entry i is (category name, keyword, is it
    a decisive one)."""

    entries: tuple[tuple[str, str, bool], ...]
    matcher: KeywordMatcher
    # (category name, keyword or pattern) → (its place in the category's rule, its weight)
    weights: dict[tuple[str, str], tuple[int, float]]
    category_keys: dict[str, str]  # compact name, slug or label → the category's name

    @classmethod
    def of(cls, rules: tuple[CategoryRule, ...]) -> KeywordTerms:
        entries = [(r.category.name, word, False) for r in rules for word, _ in r.keywords]
        entries += [(r.category.name, word, True) for r in rules for word in r.decisive]
        weights: dict[tuple[str, str], tuple[int, float]] = {}
        for rule in rules:
            terms = [*rule.keywords, *((p.pattern, w) for p, w in rule.patterns)]
            for order, (term, weight) in enumerate(terms):
                pair = (rule.category.name, term)
                first, before = weights.get(pair, (order, 0.0))
                weights[pair] = (first, before + weight)
        keys: dict[str, str] = {}
        for rule in rules:
            category = rule.category
            for key in (category.name, category.slug, category.label):
                keys.setdefault(compact(key), category.name)
        keys.pop("", None)
        return cls(tuple(entries), KeywordMatcher(word for _, word, _ in entries), weights, keys)


def fold(text: str) -> str:
    """Case- and width-insensitive form for comparing category words."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_]+", " ", text).strip()


def compact(text: str) -> str:
    """`fold` without spaces, dashes, underscores and dots: `ai-tools` and `AI Tools` alike."""
    return _COMPACT.sub("", fold(text))


def auto_slug(name: str) -> str:
    """An ASCII slug for a category the table does not list: readable when the name is ASCII,
    a short stable hash otherwise."""
    ascii_part = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")
    if ascii_part and ascii_part.isascii() and fold(name).isascii():
        return ascii_part[:40]
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{ascii_part[:30]}-{digest}" if ascii_part else f"c-{digest}"


def load_table(path: Path) -> CategoryTable:
    """Read and check the table; a missing file is an empty table (automatic slugs only)."""
    if not path.is_file():
        return CategoryTable(source=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # Python < 3.14 gives the position only in the message: "… (at line 4, column 22)".
        where = re.search(r"at line (\d+)", str(error))
        line = getattr(error, "lineno", None) or (int(where[1]) if where else 1)
        raise CategoryTableError(path, line, str(error)) from None
    for key in data:
        if key not in _TOP_KEYS:
            raise CategoryTableError(path, _line_of(text, key), f"unknown key {key!r}")
    entries = data.get("category", [])
    if not isinstance(entries, list):
        raise CategoryTableError(path, _line_of(text, "category"), "use [[category]] tables")
    rules: list[CategoryRule] = []
    slugs: dict[str, str] = {}
    names: set[str] = set()
    for index, entry in enumerate(entries):
        line = _line_of_table(text, index)
        rule = _rule(path, text, line, entry)
        category = rule.category
        if category.name in names:
            raise CategoryTableError(path, line, f"duplicate category {category.name!r}")
        if category.slug in slugs:
            raise CategoryTableError(
                path, line, f"duplicate slug {category.slug!r} (also {slugs[category.slug]!r})"
            )
        names.add(category.name)
        slugs[category.slug] = category.name
        rules.append(rule)
    model, problem = _model(path, text, data, rules)
    return CategoryTable(
        rules=tuple(rules),
        title_weight=_number(path, text, data, "title_weight", 2.0),
        min_score=_number(path, text, data, "min_score", 1.0),
        source=str(path),
        model=model,
        nudge=_number(path, text, data, "nudge", 0.0),
        model_problem=problem,
    )


def model_file(table_path: Path, written: str) -> Path:
    """The file a table's `model = "…"` names: the shipped one, or a path relative to the table."""
    return builtin_path() if written == BUILTIN else table_path.parent / written


def check_model(model: CategoryModel, rules: list[CategoryRule] | tuple[CategoryRule, ...]) -> None:
    """A model may only name categories the table has (else `ModelError`)."""
    names = {rule.category.name for rule in rules}
    unknown = [name for name in model.categories if name not in names]
    if unknown:
        raise ModelError(
            model.source,
            f"categories unknown to the table: {', '.join(unknown)} "
            f"(the table has: {', '.join(sorted(names)) or 'none'}); retrain the model",
        )


def _model(
    path: Path, text: str, data: dict, rules: list[CategoryRule]
) -> tuple[CategoryModel | None, str]:
    written = data.get("model", "")
    if not isinstance(written, str):
        raise CategoryTableError(path, _line_of(text, "model"), 'model must be "builtin" or a path')
    if not written.strip():
        return None, ""
    file = model_file(path, written.strip())
    try:
        model = _cached_model(file)
        check_model(model, rules)
    except ModelError as error:
        problem = f"{error}"
        if problem not in _warned:
            _warned.add(problem)
            log.warning("category model not used, keyword rules instead: %s", problem)
        return None, problem
    return model, ""


def _cached_model(file: Path) -> CategoryModel:
    """The model of `file`, read again only when the file changes (several parts load the table)."""
    try:
        stat = file.stat()
    except OSError as error:
        raise ModelError(file, f"cannot read the model file ({error.strerror or error})") from None
    key = (str(file), stat.st_mtime_ns, stat.st_size)
    if _model_cache.get("key") != key:
        _model_cache.clear()
        _model_cache["model"] = load_model(file)
        _model_cache["key"] = key
    model = _model_cache["model"]
    assert isinstance(model, CategoryModel)
    return model


_model_cache: dict[str, object] = {}


def _rule(path: Path, text: str, line: int, entry: object) -> CategoryRule:
    if not isinstance(entry, dict):
        raise CategoryTableError(path, line, "each [[category]] must be a table")
    for key in entry:
        if key not in _CATEGORY_KEYS:
            raise CategoryTableError(path, _line_after(text, line, key), f"unknown key {key!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CategoryTableError(path, line, "category needs a non-empty name")
    slug = entry.get("slug", auto_slug(name))
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise CategoryTableError(
            path, _line_after(text, line, "slug"), f"slug {slug!r} must be lower-case a-z, 0-9, -"
        )
    label = entry.get("label", name)
    if not isinstance(label, str) or not label.strip():
        raise CategoryTableError(path, _line_after(text, line, "label"), "label must be text")
    keywords = _weights(path, _line_after(text, line, "keywords"), entry.get("keywords", {}))
    folded: dict[str, str] = {}
    for keyword, _weight in keywords:
        if fold(keyword) in folded:  # "GPU" and "gpu" would count twice
            raise CategoryTableError(
                path,
                _line_after(text, _line_after(text, line, "keywords"), keyword),
                f"keyword {keyword!r} repeats {folded[fold(keyword)]!r} (case and width ignored)",
            )
        folded[fold(keyword)] = keyword
    patterns = []
    for pattern, weight in _weights(
        path, _line_after(text, line, "patterns"), entry.get("patterns", {})
    ):
        try:
            patterns.append((re.compile(pattern, re.IGNORECASE), weight))
        except re.error as error:
            raise CategoryTableError(
                path, _line_after(text, line, pattern), f"bad pattern {pattern!r}: {error}"
            ) from None
    decisive = entry.get("decisive", [])
    if not isinstance(decisive, list) or not all(
        isinstance(word, str) and word.strip() for word in decisive
    ):
        raise CategoryTableError(
            path, _line_after(text, line, "decisive"), "decisive must be a list of keywords"
        )
    return CategoryRule(
        category=Category(name=name.strip(), slug=slug, label=label.strip()),
        keywords=tuple((fold(k), w) for k, w in keywords),
        patterns=tuple(patterns),
        decisive=tuple(dict.fromkeys(fold(word) for word in decisive)),
    )


def _weights(path: Path, line: int, value: object) -> list[tuple[str, float]]:
    if isinstance(value, list):
        value = {str(k): 1.0 for k in value}
    if not isinstance(value, dict):
        raise CategoryTableError(path, line, "keywords/patterns must be a table of weights")
    pairs = []
    for key, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise CategoryTableError(path, line, f"weight of {key!r} must be a number")
        if not key.strip():
            raise CategoryTableError(path, line, "empty keyword")
        pairs.append((key, float(weight)))
    return pairs


def _number(path: Path, text: str, data: dict, key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CategoryTableError(path, _line_of(text, key), f"{key} must be a number >= 0")
    return float(value)


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip().strip("[]")
        if stripped.startswith(key) or stripped.startswith(f'"{key}"'):
            return number
    return 1


def _line_of_table(text: str, index: int) -> int:
    seen = -1
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("[[category]]"):
            seen += 1
            if seen == index:
                return number
    return 1


def _line_after(text: str, start: int, key: str) -> int:
    lines = text.splitlines()
    # A key as TOML may write it: bare, "basic" (backslashes doubled), 'literal', or the header
    # of a sub-table ([category.keywords]).
    basic = key.replace("\\", "\\\\").replace('"', '\\"')
    quoted = (f'"{key}"', f'"{basic}"', f"'{key}'")
    for number in range(start, len(lines) + 1):
        line = lines[number - 1].strip()
        if number > start and line.startswith("[[category]]"):
            break
        if (
            line.startswith(key)
            or any(form in line for form in quoted)
            or line.replace(" ", "") == f"[category.{key}]"
        ):
            return number
    return start
