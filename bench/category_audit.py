"""A blind audit of the corpus's labels and of the model: would a reader accept the category?

    .venv/bin/python bench/category_audit.py sample                 # corpus/build/audit/items.jsonl
    .venv/bin/python bench/category_audit.py score corpus/audit/verdicts-*.jsonl

The corpus labels each item with the categories its editor's section maps to: one reading of
the story, by one writer. The goal of issue 12 is measured against those labels. This audit asks
how far they are what a reader wants. `sample` draws the same items every time (40 a source,
seeded) into the ignored `corpus/build/audit/items.jsonl`, with only their title and summary:
no source, section, label or model answer. Judges then give each item every category a
subscriber of it would want (the labelling guide of `tests/data/labelled_items.toml`), and
their verdicts ({"key", "categories"}, no third-party text) are committed in `corpus/audit/`.
`score` trains the six leave-one-source-out models as `bench/categories.py` does and prints,
per source and overall:

- how often the judges agree (the same categories; at least one in common);
- how often the editor's label is among a judge's categories, and a judge's among the label;
- the model's hit rate and precision against the editor's labels (the goal's measure, on the
  sample), against each judge, and against "the editor's or the judge's" categories.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.categories import (  # noqa: E402
    BASE,
    TABLE,
    categorise_alone,
    tested_sources,
    with_model,
    writer,
)
from bot.categorising.table import load_table  # noqa: E402
from bot.categorising.training import LabelledItem, Settings, read_labelled  # noqa: E402

CORPUS = ROOT / "corpus" / "build" / "items.jsonl"
SAMPLE = ROOT / "corpus" / "build" / "audit" / "items.jsonl"
PER_SOURCE = 40
SEED = 12
SUMMARY_CHARS = 600  # what a judge reads of the summary

Sets = list[tuple[frozenset[str], frozenset[str]]]  # (acceptable, assigned) pairs


def _corpus_build() -> ModuleType:
    """`corpus/build.py`, a script (its output folder `corpus/build/` shadows it as a package)."""
    spec = importlib.util.spec_from_file_location("corpus_build", ROOT / "corpus" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corpus_build", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build_item_key = _corpus_build().item_key


def item_key(row: dict[str, object]) -> str:
    """A corpus row's key, as the build keys judged items (no text in verdicts)."""
    date = row.get("date")
    return build_item_key(str(row["source"]), str(date) if date else None, str(row["title"]))


def read_rows(path: Path) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def draw(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """PER_SOURCE items of each source, drawn with SEED, in one shuffled order."""
    rng = random.Random(SEED)
    by_source: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if "/" not in str(row["source"]):  # items labelled one by one are not audited
            by_source[str(row["source"])].append(row)
    sample = [r for s in sorted(by_source) for r in rng.sample(by_source[s], PER_SOURCE)]
    rng.shuffle(sample)
    return sample


def write_shown(sample: list[dict[str, object]], out: Path) -> None:
    """What a judge sees of each sampled row: its number, key, title and summary, nothing more."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as file:
        for n, row in enumerate(sample, 1):
            shown = {"n": n, "key": item_key(row), "title": row["title"]}
            shown["summary"] = str(row.get("summary", ""))[:SUMMARY_CHARS]
            file.write(json.dumps(shown, ensure_ascii=False) + "\n")
    print(f"{len(sample)} items written to {out}")


def cmd_sample(corpus: Path, out: Path) -> int:
    write_shown(draw(read_rows(corpus)), out)
    return 0


def read_verdicts(path: Path, names: Iterable[str]) -> dict[str, frozenset[str]]:
    """key → categories of one judge's file; an unknown category is an error."""
    known = set(names)
    found = {}
    for row in read_rows(path):
        categories = frozenset(str(c) for c in row["categories"])  # type: ignore[attr-defined]
        if not categories or not categories <= known:
            raise ValueError(f"{path}: {row['key']}: categories {sorted(categories)}")
        found[str(row["key"])] = categories
    return found


def loso_answers(
    corpus: list[LabelledItem], keys: list[str], wanted: set[str], settings: Settings
) -> dict[str, frozenset[str]]:
    """key → the categories the model trained without the item's source gives (all six listed),
    for the `wanted` items: the goal's leave-one-source-out answer."""
    from bot.categorising.training import train

    table = load_table(TABLE)
    names = tuple(c.name for c in table.categories)
    base = read_labelled(BASE)
    answers: dict[str, frozenset[str]] = {}
    for source in tested_sources(corpus):
        rest = [i for i in corpus if writer(i.source) != source] + base
        tested = [(k, i) for k, i in zip(keys, corpus, strict=True) if i.source == source]
        tested = [(k, i) for k, i in tested if k in wanted]
        model = with_model(table, train(rest, names, settings, table=table.without_model()))
        got = categorise_alone([i for _, i in tested], model)
        answers |= {k: frozenset(g) for (k, _), g in zip(tested, got, strict=True)}
        print(f"  left out {source}", file=sys.stderr)
    return answers


def hit_precision(pairs: Sets) -> tuple[float, float]:
    """Share of items with an acceptable category, share of assigned ones that are."""
    hits = sum(1 for ok, got in pairs if ok & got)
    assigned = sum(len(got) for _, got in pairs)
    good = sum(len(ok & got) for ok, got in pairs)
    return hits / (len(pairs) or 1), good / (assigned or 1)


def agreement(first: list[frozenset[str]], second: list[frozenset[str]]) -> tuple[float, float]:
    """Share of items two judgements give the same categories; share with one in common."""
    n = len(first) or 1
    same = sum(a == b for a, b in zip(first, second, strict=True))
    overlap = sum(bool(a & b) for a, b in zip(first, second, strict=True))
    return same / n, overlap / n


def score_rows(
    sources: dict[str, str],
    labels: dict[str, frozenset[str]],
    judges: dict[str, dict[str, frozenset[str]]],
    model: dict[str, frozenset[str]],
) -> dict[str, dict[str, float]]:
    """Per source and "overall": the audit's figures (see the module docstring)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key in labels:
        groups[sources[key]].append(key)
    groups["overall"] = list(labels)
    table: dict[str, dict[str, float]] = {}
    for group, keys in groups.items():
        row: dict[str, float] = {"items": len(keys)}
        names = sorted(judges)
        if len(names) >= 2:
            a, b = judges[names[0]], judges[names[1]]
            row["judges_same"], row["judges_overlap"] = agreement(
                [a[k] for k in keys], [b[k] for k in keys]
            )
        for name in names:
            verdict = judges[name]
            row[f"label_in_{name}"] = hit_precision([(verdict[k], labels[k]) for k in keys])[1]
            row[f"{name}_hit_by_label"] = hit_precision([(labels[k], verdict[k]) for k in keys])[0]
            row[f"model_vs_{name}_hit"], row[f"model_vs_{name}_precision"] = hit_precision(
                [(verdict[k], model[k]) for k in keys]
            )
            either = [(verdict[k] | labels[k], model[k]) for k in keys]
            row[f"model_vs_label_or_{name}_hit"], row[f"model_vs_label_or_{name}_precision"] = (
                hit_precision(either)
            )
        row["model_vs_label_hit"], row["model_vs_label_precision"] = hit_precision(
            [(labels[k], model[k]) for k in keys]
        )
        table[group] = row
    return table


def cmd_score(corpus_path: Path, verdict_paths: list[Path], as_json: bool) -> int:
    rows = read_rows(corpus_path)
    corpus = read_labelled(corpus_path)
    keys = [item_key(row) for row in rows]
    names = tuple(c.name for c in load_table(TABLE).categories)
    judges = {
        path.stem.removeprefix("verdicts-"): read_verdicts(path, names) for path in verdict_paths
    }
    sampled = {item_key(row) for row in draw(rows)}
    for judge, verdict in judges.items():
        if set(verdict) != sampled:
            print(
                f"judge {judge}: verdicts for {len(set(verdict) & sampled)} of {len(sampled)} "
                "sampled items (rebuild the corpus at the manifest's commits?)",
                file=sys.stderr,
            )
            return 1
    model = loso_answers(corpus, keys, sampled, Settings())
    by_key = {k: i for k, i in zip(keys, corpus, strict=True) if k in sampled}
    sources = {k: i.source for k, i in by_key.items()}
    labels = {k: frozenset(i.labels) for k, i in by_key.items()}
    figures = score_rows(sources, labels, judges, model)
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        print_figures(figures, sorted(judges))
    return 0


def print_figures(figures: dict[str, dict[str, float]], judges: list[str]) -> None:
    columns = ["items"]
    if len(judges) >= 2:
        columns += ["judges_same", "judges_overlap"]
    for name in judges:
        columns += [f"label_in_{name}", f"{name}_hit_by_label"]
    columns += ["model_vs_label_hit", "model_vs_label_precision"]
    for name in judges:
        columns += [f"model_vs_{name}_hit", f"model_vs_{name}_precision"]
        columns += [f"model_vs_label_or_{name}_hit", f"model_vs_label_or_{name}_precision"]
    for column in columns:
        print(f"{column:36s}" + "".join(f"{group[:8]:>9s}" for group in figures))
        print(" " * 36 + "".join(f"{row[column]:9.3f}" for row in figures.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="write the items for the judges")
    sample.add_argument("--out", type=Path, default=SAMPLE)
    score = sub.add_parser("score", help="the audit's figures from the judges' verdicts")
    score.add_argument("verdicts", type=Path, nargs="+")
    score.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "sample":
        return cmd_sample(args.corpus, args.out)
    return cmd_score(args.corpus, args.verdicts, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
