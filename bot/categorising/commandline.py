"""`digestbot categories export | train`, and the category parts of `parse` and `check`.

    digestbot categories export [--out FILE]          corrections as labelled JSON lines
    digestbot categories train [CORPUS ...] [--out FILE]
                                                      retrain from the corpus and the corrections

`train` needs the `train` extra (scikit-learn); it writes the model file the table names
(`model = "builtin"`: the one shipped in the package) unless `--out` says otherwise, and checks
the written file as `digestbot check` would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.categorising.assign import assignments
from bot.categorising.model import BUILTIN, ModelError, load_model
from bot.categorising.table import CategoryTable, check_model, model_file
from bot.model import Digest

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(sub: Any) -> None:
    """Register `categories export` and `categories train` on the CLI's subparsers."""
    group = sub.add_parser("categories", help="export corrections; retrain the category model")
    inner = group.add_subparsers(dest="categories_command", metavar="ACTION", required=True)
    export = inner.add_parser("export", help="write corrections as labelled items (JSON lines)")
    export.add_argument("--out", type=Path, default=None, help="a file instead of stdout")
    export.set_defaults(handler=cmd_export)
    train = inner.add_parser("train", help="retrain the model from a corpus and the corrections")
    train.add_argument("corpus", nargs="*", type=Path, metavar="CORPUS", help="JSON-lines files")
    train.add_argument("--out", type=Path, default=None, help="the model file to write")
    train.add_argument(
        "--without-corrections", action="store_true", help="leave the database's corrections out"
    )
    train.set_defaults(handler=cmd_train)


def explained(digest: Digest, table: CategoryTable, as_dict: dict[str, Any]) -> dict[str, Any]:
    """`digestbot parse`'s JSON of a categorised digest with each item's rule and score."""
    found = assignments(digest, table)
    for item, assignment in zip(as_dict["items"], found, strict=True):
        if item["category_rule"] == assignment.rule:  # not replaced by a correction
            shown = assignment.as_dict()
            item["category_score"] = shown["category_score"]
            item["category_scores"] = shown["scores"]
    return as_dict


def model_problems(table: CategoryTable) -> list[str]:
    """`digestbot check`'s lines about the category model: why the named file is not used."""
    return [f"category model: {table.model_problem}"] if table.model_problem else []


def cmd_export(args: argparse.Namespace) -> int:
    from bot.categorising.corrected import export_lines
    from bot.settings import load_settings
    from bot.storing.corrections import Corrections
    from bot.storing.database import open_database

    settings = load_settings()
    lines = list(export_lines(Corrections(open_database(settings.database_url)).all()))
    text = "".join(f"{line}\n" for line in lines)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(lines)} correction(s) written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from bot.categorising.table import CategoryTableError, load_table
    from bot.settings import load_settings

    settings = load_settings()
    try:
        table = load_table(settings.categories_file)
    except CategoryTableError as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        from bot.categorising import training
    except ImportError as error:
        print(f"training needs the train extra (pip install 'digestbot[train]'): {error}")
        return EXIT_PROBLEMS
    import json

    from bot.categorising.corrected import export_lines
    from bot.storing.corrections import Corrections
    from bot.storing.database import open_database

    items: list[training.LabelledItem] = []
    try:
        for path in args.corpus:
            items.extend(training.read_labelled(path))
        corrected = (
            []
            if args.without_corrections
            else list(export_lines(Corrections(open_database(settings.database_url)).all()))
        )
        items.extend(
            training.labelled_from_row(json.loads(line), training.CORRECTION_WEIGHT)
            for line in corrected
        )
        names = [c.name for c in table.categories]
        data = training.train(
            items,
            names,
            description=f"{', '.join(p.name for p in args.corpus) or 'no corpus'}"
            f" + {len(corrected)} correction(s)",
            table=table,
        )
    except (OSError, training.TrainingError) as error:
        print(f"cannot train: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    out = args.out or model_file(settings.categories_file, _named_model(settings.categories_file))
    training.write_model(data, out)
    try:
        check_model(load_model(out), table.rules)
    except ModelError as error:
        print(f"the written model does not check: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    meta = data["metadata"]
    print(f"model written to {out}: {meta['items']} items, {len(data['terms'])} n-grams")
    return EXIT_OK


def _named_model(table_path: Path) -> str:
    import tomllib

    try:
        written = tomllib.loads(table_path.read_text(encoding="utf-8")).get("model", "")
    except (OSError, tomllib.TOMLDecodeError):
        written = ""
    return written.strip() if isinstance(written, str) and written.strip() else BUILTIN
