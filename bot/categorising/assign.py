"""Assigning categories to items: explicit tags, the operator's keywords, the model, the rules.

For each item of a digest, in this order (SPEC §2, Item categories; rule names in `code`):

1. ``tag`` — explicit tags on the item win: the parser's `Item.tags` (a `分类: …` /
   `Categories: …` line, and `#hashtags`) plus hashtags found in the title and summary. A tag
   that names a known category (by name, slug or English label, ignoring case, width, spaces,
   `-` and `_`) or one of the digest's categories becomes that category's name; so does a tag
   of a `分类:` line that is a unique part of one (`工具` → `AI工具`). Any other tag from a
   `分类:` line is kept as written (the writer said so); any other hashtag is not a category
   (`#GPT5`). Explicit tags are used even when they are not among the digest's
   categories, and even when the digest lists no categories at all.
2. ``keyword`` — a keyword the table marks `decisive` for one of the digest's categories forces
   that category (every such category found).
3. ``model`` — with a category model (`model = …` in the table), the model's calibrated
   probabilities for the digest's categories that it knows, each nudged by the keyword score
   below (`nudge` log-odds per unit of weight): the most likely category, and the second when it
   is nearly as likely (the model file's `second_ratio` and `min_probability`).

Without a model (none named, or it could not be loaded), or when the model knows none of the
digest's categories, the keyword table decides, as before the model existed:

4. ``keywords`` — the weighted keywords and patterns of `config/categories.toml`, for the
   digest's categories only, matched on NFKC-normalised, case-folded text: an item's score for
   a category is the sum of the weights found, a title match counting `title_weight` times
   (plus once more when the summary has it too); where keywords overlap, the longest wins. The
   item gets every category scoring at least `min_score`.
5. ``fallback`` — otherwise the best-scoring digest category; with no keyword found at all, the
   digest category most often given to the other items of the digest, else the first one.

A digest without categories (and an item without explicit tags) gives an item no categories and
the rule ``""``: such items go to channels without a filter and to `all` subscribers only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from bot.categorising.model import sigmoid
from bot.categorising.table import CategoryTable, compact
from bot.model import Digest, Item
from bot.parsing.text import normalise_text
from bot.sanitizer import escape_text

RULE_TAG = "tag"
RULE_DECISIVE = "keyword"
RULE_MODEL = "model"
RULE_KEYWORDS = "keywords"
RULE_BEST = "fallback"
RULE_NONE = ""

# `#AI工具` in running text; not `C#`, `&#39;`, `example.com/#anchor`, nor `# heading`.
_HASHTAG_RE = re.compile(
    r"(?<![a-z0-9_#&/.=?])#([^\s#,，。、;；:：!！?？()（）\[\]【】<>{}\"'“”‘’`*|]{1,60})"
)
_ASCII_WORD = re.compile(r"[a-z0-9]")


@dataclass(frozen=True, slots=True)
class Assignment:
    """How one item got its categories: the result, the rule, and the evidence for it."""

    categories: tuple[str, ...]
    rule: str
    scores: dict[str, float] = field(default_factory=dict)  # keyword sums, or probabilities
    hits: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """The score that gave the (first) category: its probability or keyword sum."""
        if not self.categories or self.categories[0] not in self.scores:
            return None
        return self.scores[self.categories[0]]

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, for `digestbot parse` and the benchmark."""
        score = self.score
        return {
            "categories": list(self.categories),
            "category_rule": self.rule,
            "category_score": None if score is None else round(score, 3),
            "scores": {name: round(score, 3) for name, score in self.scores.items() if score},
            "hits": {name: list(words) for name, words in self.hits.items() if words},
        }


def categorise(digest: Digest, table: CategoryTable) -> Digest:
    """The digest with every item's `categories` and `category_rule` filled."""
    found = assignments(digest, table)
    items = tuple(
        replace(item, categories=a.categories, category_rule=a.rule)
        for item, a in zip(digest.items, found, strict=True)
    )
    return replace(digest, items=items)


def assignments(digest: Digest, table: CategoryTable) -> tuple[Assignment, ...]:
    """Each item's `Assignment`, in item order (what `categorise` applies, with its evidence)."""
    names = digest_categories(digest, table)
    first: list[Assignment] = []
    for item in digest.items:
        tags = explicit_categories(item, table, names)
        if tags:
            first.append(Assignment(tags, RULE_TAG))
        elif not names:
            first.append(Assignment((), RULE_NONE))
        else:
            first.append(
                _by_decisive(item, names, table)
                or _by_model(item, names, table)
                or _by_keywords(item, names, table)
            )
    # Items without a single keyword take the category most common among their neighbours.
    usual = Counter(c for a in first if a.rule == RULE_KEYWORDS for c in a.categories)
    return tuple(
        _best(a, names, usual) if a.rule == RULE_BEST and not any(a.scores.values()) else a
        for a in first
    )


def text_item(title: str, summary: str, id: str = "", position: int = 1) -> Item:
    """An item of plain text, without link or author: what training and the benchmark give the
    rules (they read `summary_text`; the HTML form is escaped, never the raw text)."""
    return Item(
        id=id,
        position=position,
        title=title,
        url=None,
        author=None,
        summary_md=summary,
        summary_html=escape_text(summary),
        summary_text=summary,
    )


def digest_categories(digest: Digest, table: CategoryTable) -> tuple[str, ...]:
    """The digest's categories as category names: a slug or label the table knows becomes the
    table's name for it; an unknown category stays as the digest writes it."""
    names = []
    for written in digest.categories:
        written = written.strip()
        if written:
            names.append(table.get(written).name if table.known(written) else written)
    return tuple(dict.fromkeys(names))


def explicit_categories(
    item: Item, table: CategoryTable, digest_names: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The categories an item names itself, as category names (see the module's notes).

    `digest_names` are the digest's categories (`digest_categories`): a tag may name one of them
    even when the table does not know it."""
    keys = _category_keys(table, digest_names)
    pool = table.categories + tuple(
        table.get(name) for name in digest_names if not table.known(name)
    )
    text = normalise_text(f"{item.title}\n{item.summary_text}")
    found: list[str] = []
    for tag in item.tags:
        written = tag.strip().lstrip("#").strip()
        if not written:
            continue
        name = keys.get(_compact(written))
        is_hashtag = tag.lstrip().startswith("#") or f"#{normalise_text(written)}" in text
        if name:
            found.append(name)
        elif not is_hashtag:  # from a `分类:` line: a unique part of a name counts (工具 →
            matches = table.resolve(written, pool)  # AI工具), else the writer's own word
            found.append(matches[0].name if len(matches) == 1 else written)
    for hashtag in _HASHTAG_RE.findall(text):
        name = _hashtag_category(hashtag, keys)
        if name:
            found.append(name)
    return tuple(dict.fromkeys(found))


def score_item(
    title: str, summary: str, table: CategoryTable, among: Iterable[str]
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Keyword scores of the categories `among` (names) and the words that matched each.

    Where keywords overlap in the text, the longest wins, in every category of the table:
    `scaling law` (AI发展) hides `law` (AI伦理) in "scaling laws", `大模型` hides `模型`. So a
    keyword of weight 0 neutralises a false friend ("贸易融资" is not a funding round).
    """
    in_title = _found(normalise_text(title), table)
    in_summary = _found(normalise_text(summary), table)
    weights = table.keyword_terms.weights
    scores: dict[str, float] = {}
    hits: dict[str, tuple[str, ...]] = {}
    for name in among:
        present = sorted(
            (weights[(n, term)], term) for n, term in in_title | in_summary if n == name
        )
        total, matched = 0.0, []
        for (_order, weight), term in present:
            t, s = (name, term) in in_title, (name, term) in in_summary
            total += weight * (table.title_weight * t + s)
            matched.append(term)
        scores[name], hits[name] = total, tuple(matched)
    return scores, hits


def _found(text: str, table: CategoryTable) -> set[tuple[str, str]]:
    """(category name, keyword or pattern) pairs present in `text`, overlaps given to the
    longest keyword."""
    terms = table.keyword_terms
    matches = [
        (m.start, m.end, name, word)
        for m in terms.matcher.find(text)
        for name, word, decisive in (terms.entries[m.entry],)
        if not decisive
    ]
    found: set[tuple[str, str]] = set()
    for rule in table.rules:
        for pattern, _weight in rule.patterns:
            if pattern.search(text):
                found.add((rule.category.name, pattern.pattern))
    matches.sort(key=lambda m: m[0] - m[1])  # longest first
    taken: list[tuple[int, int]] = []
    for start, end, name, word in matches:
        if any(s < end and start < e and e - s > end - start for s, e in taken):
            continue
        taken.append((start, end))
        found.add((name, word))
    return found


def decisive_found(
    title: str, summary: str, table: CategoryTable, among: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """The decisive keywords of the categories `among` found in the item, per category."""
    wanted = set(among)
    terms = table.keyword_terms
    if not any(rule.decisive for rule in table.rules if rule.category.name in wanted):
        return {}
    present: dict[str, set[str]] = {}
    for m in terms.matcher.find(normalise_text(f"{title}\n{summary}")):
        name, word, decisive = terms.entries[m.entry]
        if decisive and name in wanted:
            present.setdefault(name, set()).add(word)
    found: dict[str, tuple[str, ...]] = {}
    for name in among:
        rule = table.rule_for(name)
        words = tuple(w for w in (rule.decisive if rule else ()) if w in present.get(name, ()))
        if words:
            found[name] = words
    return found


def _by_decisive(item: Item, names: tuple[str, ...], table: CategoryTable) -> Assignment | None:
    found = decisive_found(item.title, item.summary_text, table, names)
    if not found:
        return None
    return Assignment(
        tuple(n for n in names if n in found), RULE_DECISIVE, {n: 1.0 for n in found}, found
    )


def model_probabilities(
    title: str, summary: str, table: CategoryTable, among: Iterable[str]
) -> dict[str, float]:
    """The model's probabilities for the categories `among` that it knows, nudged by keywords."""
    model = table.model
    if model is None:
        return {}
    known = [name for name in among if name in model.categories]
    if not known:
        return {}
    logits = model.logits(title, summary)
    if table.nudge:
        keyword_scores, _ = score_item(title, summary, table, known)
        return {n: sigmoid(logits[n] + table.nudge * keyword_scores[n]) for n in known}
    return {n: sigmoid(logits[n]) for n in known}


def _by_model(item: Item, names: tuple[str, ...], table: CategoryTable) -> Assignment | None:
    probabilities = model_probabilities(item.title, item.summary_text, table, names)
    if not probabilities or table.model is None:
        return None
    return Assignment(table.model.choose(probabilities, names), RULE_MODEL, probabilities)


def _by_keywords(item: Item, names: tuple[str, ...], table: CategoryTable) -> Assignment:
    scores, hits = score_item(item.title, item.summary_text, table, names)
    best = max(scores.values(), default=0.0)
    chosen = tuple(name for name in names if scores[name] >= table.min_score and scores[name] > 0)
    if chosen:
        return Assignment(chosen, RULE_KEYWORDS, scores, hits)
    if best > 0:
        top = next(name for name in names if scores[name] == best)
        return Assignment((top,), RULE_BEST, scores, hits)
    return Assignment((), RULE_BEST, scores, hits)  # decided by `_best` once all are scored


def _best(found: Assignment, names: tuple[str, ...], usual: Counter[str]) -> Assignment:
    top = max(names, key=lambda name: (usual[name], -names.index(name)))
    return replace(found, categories=(top,))


def _category_keys(table: CategoryTable, names: tuple[str, ...]) -> dict[str, str]:
    """Compact forms of every name, slug and label → the category name they mean."""
    keys = dict(table.keyword_terms.category_keys)
    for name in names:
        keys.setdefault(_compact(name), name)
    keys.pop("", None)
    return keys


def _compact(text: str) -> str:
    return compact(text)


def _hashtag_category(hashtag: str, keys: dict[str, str]) -> str | None:
    """The category a hashtag names. Chinese runs on without a space (`#AI工具今日推荐`), so the
    longest known key the hashtag starts with counts, unless it ends mid-word in Latin script."""
    tag = _compact(hashtag)
    best = ""
    for key in keys:
        if tag.startswith(key) and len(key) > len(best):
            rest = tag[len(key) :]
            if not (rest and _ASCII_WORD.match(key[-1]) and _ASCII_WORD.match(rest[0])):
                best = key
    return keys[best] if best else None
