"""A blind review of the section table: which categories do readers accept for a heading's items?

    .venv/bin/python bench/heading_review.py sample      # corpus/build/headings/items.jsonl
    .venv/bin/python bench/heading_review.py score corpus/headings/verdicts-*.jsonl

`corpus/sections.toml` maps each heading to the categories a reader accepts for its items, and
the goal of issue 12 is scored against those labels. The table was written from a reading of
the headings and a few items each. This review checks it with a sample of every heading:
`sample` draws PER_HEADING items of each mapped heading of MIN_ITEMS or more (seeded, the same
every time, none of the audit's items) into the ignored `corpus/build/headings/items.jsonl`,
shuffled together and shown with title and summary only, as in the audit
(`bench/category_audit.py`); `sample --more VERDICTS… --out FILE` draws PER_HEADING more of each
heading with a share within BORDER of ACCEPTED, so that a close call rests on twice the items.
Judges give each item every category a subscriber would want; their verdicts ({"key",
"categories"}, no text) are committed in `corpus/headings/`. `score` prints, per heading of the
judged items, the share of its items each judge gives each category, and the categories that
the judges give to at least ACCEPTED of its items on average. A category the table lacks there
is one readers accept for most of the heading's items, so the table should map the heading to
it too; a category of the table's that falls short is "weak".

A source whose headings are written afresh every day (AInewsbot's cluster names, mapped by topic
patterns) has no heading of MIN_ITEMS items; its items are grouped by their labels instead. The
sample is drawn on the table as it stands, so once the table follows a review, `sample` draws
such a source's items anew; `score` keeps reading the judged items.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.categories import SIX_NAMES  # noqa: E402
from bench.category_audit import (  # noqa: E402
    CORPUS,
    draw,
    item_key,
    read_rows,
    read_verdicts,
    write_shown,
)

SAMPLE = ROOT / "corpus" / "build" / "headings" / "items.jsonl"
PER_HEADING = 30
MIN_ITEMS = 50  # smaller headings carry too few items to move any source's figure
ACCEPTED = 0.5  # a category given to at least this share of a heading's items, on average
BORDER = 0.15  # a share this close to ACCEPTED is confirmed on PER_HEADING more items
SEED = "headings-12"
BY_LABELS = frozenset({"ainewsbot"})  # headings new every day: grouped by their labels

Row = dict[str, object]
Judges = dict[str, dict[str, frozenset[str]]]  # judge → item key → categories


@dataclass(frozen=True)
class HeadingReview:
    """What the judges say of one heading's items, beside the table's labels for it."""

    items: int
    labels: list[str]  # the table's
    shares: dict[str, dict[str, float]]  # category → judge (and "mean") → share of the items
    accepted: list[str]  # categories given to at least ACCEPTED of the items, on average
    add: list[str]  # accepted, not in the table
    weak: list[str]  # in the table, not accepted


def heading(row: Row) -> str:
    """The group a row is reviewed in: "source: heading", or "source: labels" for BY_LABELS."""
    source = str(row["source"])
    if source in BY_LABELS:
        return f"{source}: " + " + ".join(str(c) for c in row["labels"])  # type: ignore[attr-defined]
    return f"{source}: {row['section']}"


def groups(rows: list[Row]) -> dict[str, list[Row]]:
    """The reviewed headings of the tested sources (not items labelled one by one), each with
    its rows, the audit's items left out so the audit stays a check of its own."""
    audited = {item_key(r) for r in draw(rows)}
    found: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if "/" not in str(row["source"]) and item_key(row) not in audited:
            found[heading(row)].append(row)
    return {name: found[name] for name in sorted(found) if len(found[name]) >= MIN_ITEMS}


def draw_headings(rows: list[Row]) -> list[Row]:
    """PER_HEADING rows of each reviewed heading, drawn with SEED, in one shuffled order."""
    rng = random.Random(SEED)
    sample = [r for rows_of in groups(rows).values() for r in rng.sample(rows_of, PER_HEADING)]
    rng.shuffle(sample)
    return sample


def borderline(found: dict[str, HeadingReview]) -> list[str]:
    """The reviewed headings with a category whose share is within BORDER of ACCEPTED."""
    return [
        name
        for name, row in found.items()
        if any(abs(s["mean"] - ACCEPTED) <= BORDER for s in row.shares.values())
    ]


def draw_more(rows: list[Row], judges: Judges) -> list[Row]:
    """PER_HEADING further rows of each borderline heading, none judged yet nor audited,
    drawn with SEED, shuffled: the second look that settles a close call."""
    judged = set.union(*(set(verdict) for verdict in judges.values()))
    rng = random.Random(f"{SEED}-more")
    pools = groups(rows)
    sample = []
    for name in borderline(review(rows, judges)):
        fresh = [r for r in pools.get(name, []) if item_key(r) not in judged]
        sample += rng.sample(fresh, min(PER_HEADING, len(fresh)))
    rng.shuffle(sample)
    return sample


def cmd_sample(corpus: Path, out: Path, verdict_paths: list[Path]) -> int:
    rows = read_rows(corpus)
    if not verdict_paths:
        write_shown(draw_headings(rows), out)
        return 0
    judges = checked_judges(rows, verdict_paths)
    if judges is None:
        return 1
    write_shown(draw_more(rows, judges), out)
    return 0


def shares(keys: list[str], judges: Judges) -> dict[str, dict[str, float]]:
    """Per category: the share of `keys` each judge gives it, and their mean ("mean")."""
    found: dict[str, dict[str, float]] = {}
    for name in SIX_NAMES:
        row = {
            judge: sum(name in verdict[k] for k in keys) / (len(keys) or 1)
            for judge, verdict in sorted(judges.items())
        }
        row["mean"] = sum(row.values()) / (len(row) or 1)
        found[name] = row
    return found


def review(rows: list[Row], judges: Judges) -> dict[str, HeadingReview]:
    """Per heading of the judged items (as the table groups them now): its labels, the judges'
    shares, the categories they accept for most of its items, and of those the ones the table
    lacks ("add") and the table's they do not ("weak")."""
    judged = set.intersection(*(set(verdict) for verdict in judges.values()))
    by_heading: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if item_key(row) in judged:
            by_heading[heading(row)].append(row)
    result: dict[str, HeadingReview] = {}
    for name, sampled in sorted(by_heading.items()):
        labels = sorted({str(c) for r in sampled for c in r["labels"]})  # type: ignore[attr-defined]
        found = shares([item_key(r) for r in sampled], judges)
        accepted = [c for c in SIX_NAMES if found[c]["mean"] >= ACCEPTED]
        result[name] = HeadingReview(
            items=len(sampled),
            labels=labels,
            shares={c: row for c, row in found.items() if row["mean"] > 0},
            accepted=accepted,
            add=[c for c in accepted if c not in labels],
            weak=[c for c in labels if c not in accepted],
        )
    return result


def checked_judges(rows: list[Row], verdict_paths: list[Path]) -> Judges | None:
    """judge ("a" of verdicts-a.jsonl) → key → categories, or None (with the reason on stderr)
    when a file cannot be read or the judges did not judge the same corpus items. The verdicts'
    items are what was reviewed, not a fresh draw: once the table follows the review, a source
    grouped by its labels (BY_LABELS) is grouped anew."""
    judges: Judges = {}
    for path in verdict_paths:
        try:
            judges[path.stem.removeprefix("verdicts-")] = read_verdicts(path, SIX_NAMES)
        except (OSError, ValueError, KeyError, TypeError) as error:  # JSON errors are ValueErrors
            print(f"{path}: {type(error).__name__}: {error}", file=sys.stderr)
            return None
    known = {item_key(r) for r in rows}
    first = set(next(iter(judges.values())))
    for judge, verdict in judges.items():
        if set(verdict) != first or not first <= known:
            print(
                f"judge {judge}: {len(set(verdict) & known)} of {len(verdict)} verdicts name "
                f"corpus items, {len(set(verdict) ^ first)} differ from the first judge's "
                "(rebuild the corpus at the manifest's commits?)",
                file=sys.stderr,
            )
            return None
    return judges


def cmd_score(corpus: Path, verdict_paths: list[Path], as_json: bool) -> int:
    rows = read_rows(corpus)
    judges = checked_judges(rows, verdict_paths)
    if judges is None:
        return 1
    found = review(rows, judges)
    if as_json:
        as_dicts = {name: asdict(row) for name, row in found.items()}
        print(json.dumps(as_dicts, ensure_ascii=False, indent=2))
        return 0
    for name, row in found.items():
        by_share = sorted(row.shares.items(), key=lambda pair: -pair[1]["mean"])
        shown = ", ".join(f"{c} {s['mean']:.2f}" for c, s in by_share)
        print(f"{name} ({row.items}; table: {' + '.join(row.labels)}): {shown}")
        if row.add or row.weak:
            print(f"    add {row.add}, weak {row.weak}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="write the items for the judges")
    sample.add_argument("--out", type=Path, default=SAMPLE)
    sample.add_argument(
        "--more",
        type=Path,
        nargs="+",
        default=[],
        metavar="VERDICTS",
        help="given the verdicts so far: more items of the borderline headings",
    )
    score = sub.add_parser("score", help="the judges' shares per heading")
    score.add_argument("verdicts", type=Path, nargs="+")
    score.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "sample":
        return cmd_sample(args.corpus, args.out, args.more)
    return cmd_score(args.corpus, args.verdicts, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
