"""The command line: `digestbot run | parse | check | build | publish | stats | categories`.

This package is the outside of digestbot: argument parsing and exit codes here, `publish` and the
`stats` figures next to it, progress bars in `progress`. The work itself is `bot.pipeline`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot import __version__
from bot.cli.progress import track
from bot.settings import (
    Settings,
    SettingsError,
    load_settings,
    unknown_channel_categories,
    unknown_variables,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_SETTINGS = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_SETTINGS
    _utf8_output()
    return int(args.handler(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digestbot",
        description="Syndicates AI-news digests as feeds and Telegram messages.",
    )
    parser.add_argument("--version", action="version", version=f"digestbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="the service: watch, build feeds, serve, bot, deliver")
    run.set_defaults(handler=cmd_run)

    parse = sub.add_parser("parse", help="print digests as JSON, one object per line")
    parse.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parse.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    parse.set_defaults(handler=cmd_parse)

    check = sub.add_parser("check", help="check the settings, category table and digests")
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    check.set_defaults(handler=cmd_check)

    build = sub.add_parser("build", help="ingest the digests folder and write the feeds once")
    build.set_defaults(handler=cmd_build)

    publish = sub.add_parser("publish", help="ingest one digest and deliver it, then exit")
    publish.add_argument("file", type=Path, metavar="FILE")
    publish.set_defaults(handler=cmd_publish)

    stats = sub.add_parser("stats", help="subscribers per category and deliveries by state")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(handler=cmd_stats)

    from bot.categorising import commandline as categories

    categories.add_parser(sub)
    return parser


def _utf8_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(encoding="utf-8", errors="replace")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"digestbot: bad setting: {error}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS) from None
    for warning in unknown_variables():
        print(f"digestbot: warning: {warning}", file=sys.stderr)
    return settings


def cmd_parse(args: argparse.Namespace) -> int:
    settings = _settings()
    from bot.categorising.assign import categorise
    from bot.categorising.commandline import explained
    from bot.categorising.table import CategoryTableError, load_table
    from bot.model import DigestError
    from bot.parsing import digest_to_dict, parse_file

    try:
        table = load_table(settings.categories_file)
    except CategoryTableError as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    status = EXIT_OK
    for path in args.files:
        if not path.is_file():  # a FIFO or device would block the read; a folder is a typo
            print(f"{path}:1: not a regular file", file=sys.stderr)
            status = EXIT_PROBLEMS
            continue
        try:
            digest = categorise(parse_file(path, zone=settings.zone), table)
        except DigestError as error:
            print(error, file=sys.stderr)
            status = EXIT_PROBLEMS
            continue
        shown = explained(digest, table, digest_to_dict(digest))
        print(json.dumps(shown, ensure_ascii=False, indent=args.indent))
        sys.stdout.flush()
    return status


def cmd_check(args: argparse.Namespace) -> int:
    from bot.categorising.table import CategoryTableError, load_table
    from bot.ingest import digest_files
    from bot.model import DigestError
    from bot.parsing import parse_file

    problems: list[str] = []
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"settings: {error}")
        return EXIT_PROBLEMS
    try:
        table = load_table(settings.categories_file)
    except CategoryTableError as error:
        problems.append(str(error))
        table = None
    for warning in unknown_variables():
        print(f"warning: {warning}", file=sys.stderr)
    if table is not None:
        from bot.categorising.commandline import model_problems

        problems.extend(model_problems(table))
        problems.extend(unknown_channel_categories(settings, table))
    paths = args.paths or [settings.digests_dir]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(digest_files(path))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}:0: no such file or folder")
    n_items = 0
    for file in track(files, "checking"):
        try:
            n_items += len(parse_file(file, zone=settings.zone).items)
        except DigestError as error:
            problems.append(str(error))
    for warning in _site_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    n_categories = len(table.categories) if table else 0
    print(f"ok: {len(files)} digest(s), {n_items} item(s), {n_categories} categories")
    return EXIT_OK


def _site_warnings(settings: Settings) -> list[str]:
    """A bot that talks to people while the site is still the local default puts links that
    reach nobody into every message footer."""
    from urllib.parse import urlsplit

    host = (urlsplit(settings.site_url).hostname or "").lower()
    local = host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.endswith(".localhost")
    if settings.token and local:
        return [
            f"site_url (DIGESTBOT_SITE_URL) is {settings.site_url} while a bot token is set: "
            "every message links there; set the site's public address"
        ]
    return []


def cmd_build(args: argparse.Namespace) -> int:
    settings = _settings()
    from bot.categorising.table import CategoryTableError, load_table
    from bot.ingest import digest_files
    from bot.pipeline import Pipeline
    from bot.storing.database import open_database

    try:
        table = load_table(settings.categories_file)
    except CategoryTableError as error:
        print(error, file=sys.stderr)
        return EXIT_PROBLEMS
    pipeline = Pipeline(
        open_database(settings.database_url),
        table,
        settings,
        bot_username=settings.telegram.username,
    )
    settings.digests_dir.mkdir(parents=True, exist_ok=True)
    errors = 0
    pending = pipeline.changed_files(digest_files(settings.digests_dir))
    for path in track(pending, "ingesting"):
        outcome = pipeline.ingest(path)
        if outcome.error:
            errors += 1
            print(outcome.error, file=sys.stderr)
    written = pipeline.render()
    if written is None:
        print(f"feeds: {pipeline.failures.report()}", file=sys.stderr)
        return EXIT_PROBLEMS
    digests, items = pipeline.archive.counts()
    print(
        f"{digests} digest(s), {items} item(s); {len(written)} feed file(s) written "
        f"to {settings.feeds_dir}" + (f"; {errors} bad digest(s)" if errors else "")
    )
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    settings = _settings()
    from bot.cli.publish import publish
    from bot.logs import configure_logging

    configure_logging(settings.log_level, secrets=[settings.token])
    return asyncio.run(publish(settings, args.file))


def cmd_stats(args: argparse.Namespace) -> int:
    settings = _settings()
    from bot.cli.stats import format_stats, stats

    figures = stats(settings)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        print(format_stats(figures))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    from bot.scheduling.service import run

    return run(settings)
