"""Training the category model from labelled items (needs the `train` extra: scikit-learn).

    items = read_labelled(Path("items.jsonl"))      # {"source","title","summary","labels",...}
    data = train(items, categories)                 # the model file's JSON, ready to write
    write_model(data, Path("bot/categorising/model.json"))

Sublinear TF-IDF over the character n-grams of `bot.categorising.features`, the n-grams most
telling for some category kept (chi²), one logistic regression per category (an item may carry
several), then a Platt calibration per category fitted on out-of-fold scores (folds by source
when there are several sources, so the calibration is that of a writer the model has not seen).
The rule for a second category is chosen on the same out-of-fold probabilities, nudged by the
category table's keywords and after its explicit tags and decisive keywords, as the service
decides (given the table; `Settings.second_nudged`). The file keeps counts of the training data
and a hash of it, never its text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.categorising.features import MAX_N, MIN_N, SCHEME, SCHEMES, features
from bot.categorising.model import FORMAT, VERSION, sigmoid

if TYPE_CHECKING:
    from bot.categorising.table import CategoryTable

WEIGHT_SCALE = 1e-4  # weights and IDFs are stored as integers of this unit: a small file
GOAL_HIT, GOAL_PRECISION = 0.85, 0.75  # issue 12's goal for a writer never seen
GOAL_MIN_ITEMS = 200  # ... on every source with at least this many items
SECOND_RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01)
MIN_PROBABILITIES = (0.2, 0.3, 0.4, 0.5, 0.6)
CORRECTION_WEIGHT = 3.0  # an operator's correction counts as much as this many distant labels


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One training item: where it comes from, its text and its acceptable categories."""

    source: str
    title: str
    summary: str
    labels: tuple[str, ...]
    lang: str = ""
    weight: float = 1.0  # an operator's correction counts more (CORRECTION_WEIGHT)
    date: str = ""  # the digest's date (YYYY-MM-DD) where known: what came first
    # the categories to learn where they are fewer than those a reader accepts (`labels`):
    # a section whose launches a reader accepts under AI应用 too teaches AI工具 alone
    learn: tuple[str, ...] = ()
    section: str = ""  # the heading it stood under, where known: for breakdowns, never trained on

    @property
    def targets(self) -> tuple[str, ...]:
        """What training fits: `learn` where given, else the labels."""
        return self.learn or self.labels


@dataclass(frozen=True, slots=True)
class Settings:
    """What training may vary; the defaults are the shipped model's."""

    features: int = 12000  # n-grams kept
    min_df: int = 2
    c: float = 4.0  # inverse regularisation of each logistic regression
    folds: int = 5
    balanced: bool = True  # weight each category's items against its others (rare ones count)
    # how the second-category rule is chosen on out-of-fold probabilities: "f1" of the chosen
    # categories; "goal": the best worse one of hit/GOAL_HIT and precision/GOAL_PRECISION over
    # all items; "source_goal": that worse one per source, averaged over the sources (the goal
    # holds per writer, so one large source does not choose the rule for all)
    second_objective: str = "source_goal"
    # Train with one indicator feature per source, dropped from the model file: what is typical
    # of one writer (its language, its label mix) goes there instead of into the n-grams'
    # weights, so a writer the model has never seen is judged on what its items say.
    source_features: bool = False
    # the feature scheme (`bot.categorising.features.SCHEMES`): character n-grams alone, or with
    # the bilingual glossary's concepts (and Latin-script words)
    scheme: str = SCHEME
    # With a category table given to `train`: choose the second-category rule on the
    # probabilities the service computes (explicit tags and decisive keywords first, the model's
    # nudged by the table's keywords), not on the model's alone.
    second_nudged: bool = True


class TrainingError(ValueError):
    """Labelled data that cannot train a model (too few items, a category without any)."""


def read_labelled(path: Path, weight: float = 1.0) -> list[LabelledItem]:
    """Labelled items from a JSON-lines file (the corpus's and `categories export`'s shape)."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            found.append(labelled_from_row(json.loads(line), weight))
        except (ValueError, KeyError, TypeError) as error:
            raise TrainingError(f"{path}:{number}: not a labelled item ({error})") from None
    return found


def labelled_from_row(row: dict[str, Any], weight: float = 1.0) -> LabelledItem:
    """A `LabelledItem` from one parsed JSON line (KeyError, TypeError, ValueError if bad)."""
    labels = _names(row["labels"], "labels")
    learn = _names(row.get("learn", []), "learn")
    if not set(learn) <= set(labels):
        raise ValueError(f"learn {list(learn)} names categories that are not among its labels")
    return LabelledItem(
        source=str(row.get("source", "")),
        title=str(row["title"]),
        summary=str(row.get("summary", "")),
        labels=labels,
        lang=str(row.get("lang", "")),
        weight=float(row.get("weight", weight)),
        date=str(row.get("date", "")),
        learn=learn,
        section=str(row.get("section", "")),
    )


def _names(value: object, field: str) -> tuple[str, ...]:
    """A list of category names from JSON (a bare string would be split into characters)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{field} must be a list of category names, not {value!r}")
    return tuple(value)


def train(
    items: Sequence[LabelledItem],
    categories: Sequence[str],
    settings: Settings = Settings(),
    description: str = "",
    table: CategoryTable | None = None,
) -> dict[str, Any]:
    """The JSON of a model file trained on `items` for `categories` (labels outside are dropped).

    With the category `table` the service will use (and `settings.second_nudged`), the rule for
    a second category is chosen on what the service decides: see `_service_priors`."""
    import numpy as np

    if not categories:
        raise TrainingError("the category table lists no categories to learn")
    if table is None and settings.second_nudged:
        settings = replace(settings, second_nudged=False)  # as recorded in the metadata
    if settings.scheme not in SCHEMES:
        raise TrainingError(f"unknown feature scheme {settings.scheme!r} (known: {SCHEMES})")
    items = [i for i in items if set(i.targets) & set(categories)]
    k = len(categories)
    y = np.array([[name in i.targets for name in categories] for i in items], dtype=int)
    y = y.reshape(len(items), k)
    # what a reader accepts: the second-category rule is chosen on these, as the goal is scored
    accepted = np.array([[name in i.labels for name in categories] for i in items], dtype=int)
    accepted = np.maximum(accepted.reshape(len(items), k), y)
    if len(items) < 2 * settings.folds or any(y[:, j].sum() < 2 for j in range(k)):
        raise TrainingError(
            f"too few labelled items: {len(items)} items, per category "
            f"{dict(zip(categories, y.sum(axis=0).tolist(), strict=True))} (need 2 or more each)"
        )
    documents = [_document(i) for i in items]
    terms, idf, x = _features(documents, y, settings)
    sample_weight = np.array([i.weight for i in items])
    sources = [i.source for i in items]
    x_fit = _with_sources(x, sources) if settings.source_features else x
    models = [_fit(x_fit, y[:, j], sample_weight, settings) for j in range(k)]
    out_of_fold = _out_of_fold(x_fit, y, sample_weight, sources, settings, x.shape[1])
    calibration = [_platt(out_of_fold[:, j], y[:, j]) for j in range(k)]
    logits = out_of_fold * np.array([a for a, _ in calibration]) + np.array(
        [b for _, b in calibration]
    )
    forced: list[tuple[int, ...]] = []
    if table is not None and settings.second_nudged:
        offsets, forced = _service_priors(items, categories, table)
        logits = logits + offsets
    probabilities = np.vectorize(sigmoid)(logits)
    second_ratio, min_probability = _second_rule(
        probabilities, accepted, settings.second_objective, sources, forced
    )
    weights = np.column_stack([m.coef_[0][: len(terms)] for m in models])  # terms × categories
    return {
        "format": FORMAT,
        "version": VERSION,
        "features": settings.scheme,
        "ngrams": [MIN_N, MAX_N],
        "categories": list(categories),
        "weight_scale": WEIGHT_SCALE,
        "terms": terms,
        "idf": [round(v / WEIGHT_SCALE) for v in idf.tolist()],
        "weights": [round(w / WEIGHT_SCALE) for w in weights.flatten().tolist()],
        "bias": [float(m.intercept_[0]) for m in models],
        "calibration": [[round(a, 6), round(b, 6)] for a, b in calibration],
        "second_ratio": second_ratio,
        "min_probability": min_probability,
        "metadata": _metadata(items, categories, settings, description),
    }


def write_model(data: dict[str, Any], path: Path) -> None:
    """Write a model file: compact JSON, one line, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    partial.replace(path)


def data_hash(items: Iterable[LabelledItem]) -> str:
    """A SHA-256 over the training items (text and labels): which data made a model."""
    digest = hashlib.sha256()
    for i in items:
        row = [i.source, i.title, i.summary, i.labels] + ([i.learn] if i.learn else [])
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def _document(item: LabelledItem) -> str:
    return f"{item.title}\x00{item.summary}"


def _analyse(document: str, scheme: str = SCHEME) -> list[str]:
    title, _, summary = document.partition("\x00")
    return features(title, summary, scheme)


def _features(documents: list[str], y: Any, settings: Settings) -> tuple[list[str], Any, Any]:
    """The kept n-grams (those with the highest chi² for some category, in sorted order), their
    IDFs, and the items' sublinear TF-IDF rows over them, L2-normalised: what inference computes.
    The documents are split into n-grams once; selection and weighting work on the counts."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.feature_selection import chi2

    analyser = partial(_analyse, scheme=settings.scheme)
    counts = CountVectorizer(analyzer=analyser, min_df=settings.min_df, dtype=np.float64)
    matrix = counts.fit_transform(documents)
    names = counts.get_feature_names_out()
    if len(names) > settings.features:
        weighted = TfidfTransformer(sublinear_tf=True).fit_transform(matrix)
        best = np.zeros(len(names))
        for j in range(y.shape[1]):
            scores, _ = chi2(weighted, y[:, j])
            best = np.maximum(best, np.nan_to_num(scores))
        keep = np.sort(np.argsort(-best, kind="stable")[: settings.features])
        matrix, names = matrix[:, keep], names[keep]
    transformer = TfidfTransformer(sublinear_tf=True)
    x = transformer.fit_transform(matrix)
    return names.tolist(), transformer.idf_, x


def _fit(x: Any, y: Any, sample_weight: Any, settings: Settings) -> Any:
    from sklearn.linear_model import LogisticRegression

    weighting = "balanced" if settings.balanced else None
    model = LogisticRegression(C=settings.c, class_weight=weighting, max_iter=1000)
    model.fit(x, y, sample_weight=sample_weight)
    return model


def _with_sources(x: Any, sources: list[str]) -> Any:
    """`x` with one more column per source: 1 on that source's items."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]

    names = sorted(set(sources))
    rows = np.arange(len(sources))
    columns = np.array([names.index(source) for source in sources])
    indicator = csr_matrix(
        (np.ones(len(sources)), (rows, columns)), shape=(len(sources), len(names))
    )
    return hstack([x, indicator], format="csr")


def _out_of_fold(
    x: Any, y: Any, sample_weight: Any, sources: list[str], settings: Settings, terms: int
) -> Any:
    """Each item's raw score from models that did not see it (nor, with several sources, its
    source): what the calibration must map to a probability. Only the first `terms` columns
    (the n-grams) score, as in the model file."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold

    groups = sorted(set(sources))
    if len(groups) >= 3:
        splitter: Any = GroupKFold(n_splits=min(settings.folds, len(groups)))
        folds = splitter.split(x, groups=sources)
    else:
        folds = KFold(n_splits=settings.folds, shuffle=True, random_state=0).split(x)
    scores = np.zeros(y.shape, dtype=float)
    for train_rows, test_rows in folds:
        for j in range(y.shape[1]):
            column = y[train_rows, j]
            if column.min() == column.max():  # a fold without this category: no evidence
                scores[test_rows, j] = -4.0 if column.max() == 0 else 4.0
                continue
            model = _fit(x[train_rows], column, sample_weight[train_rows], settings)
            coef = model.coef_[0][:terms]
            scores[test_rows, j] = x[test_rows][:, :terms] @ coef + model.intercept_[0]
    return scores


def _platt(scores: Any, labels: Any) -> tuple[float, float]:
    """a, b so that sigmoid(a·score + b) is the probability of the label (Platt scaling), with
    a ≥ 0: where a writer never seen scores the other way round (a category only one source
    labels, whose items the other writers file elsewhere), the score tells nothing of that
    writer, and the probability is the label's base rate, not one that falls as the model's
    evidence for the category grows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=100.0).fit(scores.reshape(-1, 1), labels)
    slope, intercept = float(fitted.coef_[0][0]), float(fitted.intercept_[0])
    if slope > 0:
        return slope, intercept
    rate = (float(np.sum(labels)) + 1.0) / (len(labels) + 2.0)  # never 0 or 1
    return 0.0, math.log(rate / (1.0 - rate))


def _service_priors(
    items: Sequence[LabelledItem], categories: Sequence[str], table: CategoryTable
) -> tuple[Any, list[tuple[int, ...]]]:
    """What the service adds to the model's log-odds for each item (the table's `nudge` times
    its keyword score, items × categories), and per item the categories that explicit tags or
    decisive keywords force whatever the model says (indices; empty when the model decides)."""
    import numpy as np

    from bot.categorising.assign import decisive_found, explicit_categories, score_item, text_item

    names = tuple(categories)
    offsets = np.zeros((len(items), len(names)))
    forced: list[tuple[int, ...]] = []
    for row, i in enumerate(items):
        item = text_item(i.title, i.summary, str(row))
        decided = explicit_categories(item, table, names) or tuple(
            decisive_found(i.title, i.summary, table, names)
        )
        forced.append(tuple(names.index(n) for n in decided if n in names))
        if table.nudge:
            scores, _ = score_item(i.title, i.summary, table, names)
            offsets[row] = [table.nudge * scores[n] for n in names]
    return offsets, forced


def _second_rule(
    probabilities: Any,
    y: Any,
    objective: str = "f1",
    sources: Sequence[str] = (),
    forced: Sequence[tuple[int, ...]] = (),
) -> tuple[float, float]:
    """The second-category rule with the best `objective` (see `Settings`) out of fold;
    `forced` (per item, may be empty) are the categories decided before the model."""
    best = (-1.0, 1.01, 0.5)
    order = (-probabilities).argsort(axis=1)
    rows = range(len(y))
    top = [order[r, 0] for r in rows]
    runner = [order[r, 1] for r in rows]
    groups: list[str | None] = (
        _goal_groups(sources, len(y)) if objective == "source_goal" else [""] * len(y)
    )
    for ratio in SECOND_RATIOS:
        for floor in MIN_PROBABILITIES:
            counts: dict[str, list[int]] = {}  # per group: right, wrong, hits, items
            for r in rows:
                chosen = [top[r]]
                p1, p2 = probabilities[r, top[r]], probabilities[r, runner[r]]
                if r < len(forced) and forced[r]:
                    chosen = list(forced[r])
                elif p2 >= floor and p2 >= ratio * p1:
                    chosen.append(runner[r])
                group = groups[r]
                if group is None:  # a small source: not one the goal is about
                    continue
                right = sum(int(y[r, c]) for c in chosen)
                tally = counts.setdefault(group, [0, 0, 0, 0])
                tally[0] += right
                tally[1] += len(chosen) - right
                tally[2] += bool(right)
                tally[3] += 1
            if objective in ("goal", "source_goal"):
                score = sum(_goal_score(*tally) for tally in counts.values()) / len(counts)
            else:
                tp, fp = sum(t[0] for t in counts.values()), sum(t[1] for t in counts.values())
                fn = int(y.sum()) - tp
                score = 2 * tp / (2 * tp + fp + fn)
            if score > best[0] + 1e-9:
                best = (score, ratio, floor)
    return best[1], best[2]


def _goal_groups(sources: Sequence[str], items: int) -> list[str | None]:
    """Each item's group for "source_goal": its source when that source has GOAL_MIN_ITEMS or
    more (the goal's sources), else None (left out of the choice); all items one group when no
    source is that large."""
    sizes = Counter(sources)
    if len(sources) != items or max(sizes.values(), default=0) < GOAL_MIN_ITEMS:
        return [""] * items
    return [s if sizes[s] >= GOAL_MIN_ITEMS else None for s in sources]


def _goal_score(right: int, wrong: int, hits: int, items: int) -> float:
    """How near a set of items is to the goal: the worse of hit/GOAL_HIT and
    precision/GOAL_PRECISION (1 or more where both are met)."""
    precision = right / (right + wrong) if right + wrong else 0.0
    return min(hits / items / GOAL_HIT, precision / GOAL_PRECISION)


def _metadata(
    items: Sequence[LabelledItem], categories: Sequence[str], settings: Settings, description: str
) -> dict[str, Any]:
    """Counts only: items per source, language and category; no text."""
    return {
        "trained": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": description,
        "data_sha256": data_hash(items),
        "items": len(items),
        "sources": dict(sorted(Counter(i.source for i in items).items())),
        "languages": dict(sorted(Counter(i.lang or "?" for i in items).items())),
        "labels": {name: sum(name in i.targets for i in items) for name in categories},
        "corrections": sum(1 for i in items if i.source == "corrections"),
        "settings": {
            "features": settings.features,
            "min_df": settings.min_df,
            "c": settings.c,
            "folds": settings.folds,
            "balanced": settings.balanced,
            "second_objective": settings.second_objective,
            "source_features": settings.source_features,
            "scheme": settings.scheme,
            "second_nudged": settings.second_nudged,
        },
    }
