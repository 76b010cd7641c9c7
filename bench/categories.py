"""How well keyword rules categorise items: precision, recall and F1 on the labelled set.

    .venv/bin/python bench/categories.py                  # every split, per category
    .venv/bin/python bench/categories.py --errors         # also the wrong items (not held-out)
    .venv/bin/python bench/categories.py --table other.toml --json

The labelled set is `tests/data/labelled_items.toml`. Its `heldout` split is not for tuning the
table: `--errors` leaves its items out unless `--show-heldout` is given. Explicit tags play no
part here (the items carry none): this measures the keyword rules and the best-category fallback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.categorising.assign import Assignment, assignments  # noqa: E402
from bot.categorising.table import CategoryTable, load_table  # noqa: E402
from bot.model import Digest, Item  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled_items.toml"
TABLE = ROOT / "config" / "categories.toml"
SPLITS = ("sample", "tune", "heldout")


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    split: str
    lang: str
    title: str
    summary: str
    digest: tuple[str, ...]
    expected: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts and figures for one category, or micro/macro over all of them."""

    name: str
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True, slots=True)
class Report:
    """The figures for one set of items."""

    items: int
    per_category: tuple[Scores, ...]
    micro: Scores
    macro_f1: float
    exact: float  # share of items whose categories are exactly the expected ones


def load_labelled(path: Path = LABELLED) -> list[Labelled]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    default = tuple(data["digest"])
    found = []
    for entry in data["item"]:
        found.append(
            Labelled(
                id=entry["id"],
                split=entry["split"],
                lang=entry["lang"],
                title=entry["title"],
                summary=entry["summary"],
                digest=tuple(entry.get("digest", default)),
                expected=tuple(entry["expected"]),
                reason=entry["reason"],
            )
        )
    return found


def predict(labelled: list[Labelled], table: CategoryTable) -> dict[str, Assignment]:
    """Each labelled item's assignment. The sample's items form their digest as in the seed;
    every other item is a digest of its own (it was written alone)."""
    groups: dict[str, list[Labelled]] = {}
    for entry in labelled:
        key = "sample" if entry.split == "sample" else entry.id
        groups.setdefault(key, []).append(entry)
    found: dict[str, Assignment] = {}
    for key, entries in groups.items():
        digest = _digest(key, entries)
        for entry, assignment in zip(entries, assignments(digest, table), strict=True):
            found[entry.id] = assignment
    return found


def evaluate(
    labelled: list[Labelled], predicted: dict[str, Assignment], categories: tuple[str, ...]
) -> Report:
    counts = {name: [0, 0, 0] for name in categories}
    exact = 0
    for entry in labelled:
        got = set(predicted[entry.id].categories)
        want = set(entry.expected)
        exact += got == want
        for name in categories:
            tp_fp_fn = counts[name]
            if name in got and name in want:
                tp_fp_fn[0] += 1
            elif name in got:
                tp_fp_fn[1] += 1
            elif name in want:
                tp_fp_fn[2] += 1
    per = tuple(_scores(name, *counts[name]) for name in categories)
    micro = _scores("micro", sum(s.tp for s in per), sum(s.fp for s in per), sum(s.fn for s in per))
    macro = sum(s.f1 for s in per) / len(per) if per else 0.0
    return Report(len(labelled), per, micro, macro, exact / len(labelled) if labelled else 0.0)


def reports(
    labelled: list[Labelled], table: CategoryTable
) -> tuple[dict[str, Report], dict[str, Assignment]]:
    """Figures for the full set, each split and each language."""
    predicted = predict(labelled, table)
    categories = tuple(dict.fromkeys(c for e in labelled for c in (*e.digest, *e.expected)))
    subsets = {"full": labelled}
    subsets |= {split: [e for e in labelled if e.split == split] for split in SPLITS}
    subsets["not held-out"] = [e for e in labelled if e.split != "heldout"]
    for lang in sorted({e.lang for e in labelled}):
        subsets[f"lang={lang}"] = [e for e in labelled if e.lang == lang]
    return {
        name: evaluate(items, predicted, categories) for name, items in subsets.items() if items
    }, predicted


def _scores(name: str, tp: int, fp: int, fn: int) -> Scores:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(name, tp, fp, fn, precision, recall, f1)


def _digest(key: str, entries: list[Labelled]) -> Digest:
    items = tuple(
        Item(
            id=entry.id,
            position=number,
            title=entry.title,
            url=None,
            author=None,
            summary_md=entry.summary,
            summary_html=entry.summary,
            summary_text=entry.summary,
        )
        for number, entry in enumerate(entries, 1)
    )
    return Digest(
        id=key,
        title=key,
        date=datetime(2025, 11, 27, tzinfo=UTC),
        categories=entries[0].digest,
        items=items,
        source=LABELLED,
        content_hash=key,
    )


def _print_report(title: str, report: Report) -> None:
    print(f"\n{title} ({report.items} items)")
    print(f"  {'category':<10} {'P':>6} {'R':>6} {'F1':>6}   {'tp':>4} {'fp':>4} {'fn':>4}")
    for s in (*report.per_category, report.micro):
        label = s.name if s.name != "micro" else "micro avg"
        print(
            f"  {_pad(label, 10)}"
            f" {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f}   {s.tp:4d} {s.fp:4d} {s.fn:4d}"
        )
    print(f"  {'macro F1':<10} {'':>13} {report.macro_f1:6.3f}")
    print(f"  exact match {report.exact:6.3f}")


def _pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (CJK characters take two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--errors", action="store_true", help="list wrongly categorised items")
    parser.add_argument("--show-heldout", action="store_true", help="--errors includes held-out")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    labelled = load_labelled(args.labelled)
    found, predicted = reports(labelled, load_table(args.table))
    if args.json:
        print(json.dumps({name: _as_dict(r) for name, r in found.items()}, indent=2))
    else:
        print(f"table {args.table}, labelled set {args.labelled}")
        for name, report in found.items():
            _print_report(name, report)
    if args.errors:
        print("\nwrong (expected → got, rule):")
        for entry in labelled:
            if entry.split == "heldout" and not args.show_heldout:
                continue
            got = predicted[entry.id]
            if set(got.categories) != set(entry.expected):
                print(
                    f"  {entry.id} {entry.title[:50]}\n"
                    f"      {', '.join(entry.expected)} → {', '.join(got.categories)}"
                    f" ({got.rule}) {got.as_dict()['scores']}"
                )
    return 0


def _as_dict(report: Report) -> dict[str, object]:
    def figures(s: Scores) -> dict[str, object]:
        return {
            "precision": round(s.precision, 4),
            "recall": round(s.recall, 4),
            "f1": round(s.f1, 4),
            "tp": s.tp,
            "fp": s.fp,
            "fn": s.fn,
        }

    return {
        "items": report.items,
        "categories": {s.name: figures(s) for s in report.per_category},
        "micro": figures(report.micro),
        "macro_f1": round(report.macro_f1, 4),
        "exact": round(report.exact, 4),
    }


if __name__ == "__main__":
    raise SystemExit(main())
