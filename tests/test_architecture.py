"""Layering rules that code review would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in forbidden or name.startswith(forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_solver_is_pure() -> None:
    assert (
        _offenders(
            "solver", ("broker", "api", "sqlalchemy", "sqlmodel", "litestar", "httpx", "alembic")
        )
        == []
    )


def test_domain_rules_do_no_io() -> None:
    assert (
        _offenders(
            "broker/domain",
            ("sqlalchemy", "sqlmodel", "litestar", "httpx", "api", "broker.db", "broker.services"),
        )
        == []
    )


def test_handlers_hold_no_sql() -> None:
    offenders = [
        line
        for folder in ("api/controllers", "api/pages")
        for line in _offenders(folder, ("sqlalchemy", "sqlmodel"))
    ]
    assert offenders == []
