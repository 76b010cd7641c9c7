"""Where SQL lives: every statement in `bot/storing/`, behind store methods; stores keep to their
own private parts."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
STORING = BOT / "storing"
# Building statements: anything a module needs these for belongs in a store.
STATEMENT_NAMES = {"select", "insert", "update", "delete", "text", "func", "bindparam"}


# Raw SQL still being moved into stores on the `service` branch (issue 11); drop on merge.
def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "migrations" not in p.parts)


def _builds_sql(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("sqlalchemy") and node.module != "sqlalchemy.exc":
                found += [a.name for a in node.names if a.name in STATEMENT_NAMES]
            if node.module == "bot.storing.tables":
                found += [a.name for a in node.names]
    return found


def test_no_sql_outside_the_stores() -> None:
    offenders = {}
    for path in _modules(BOT):
        if STORING in path.parents:
            continue
        names = _builds_sql(ast.parse(path.read_text("utf-8")))
        if names:
            offenders[str(path.relative_to(BOT))] = names
    assert offenders == {}


def test_stores_do_not_call_each_others_private_parts() -> None:
    reached = []
    for path in _modules(STORING):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                reached.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert reached == []
