"""Shape rules for the code itself: modules a newcomer can read, and names defined once."""

from __future__ import annotations

import ast
from pathlib import Path

from broker.domain.states import Audience, DeliveryState, Event, HoldState, PlanState, StayState

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("api", "broker", "solver")
MAX_MODULE_LINES = 500


def _modules() -> list[Path]:
    return [
        path
        for folder in PRODUCTION
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_no_production_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_event_names_are_written_only_in_their_enumeration() -> None:
    """An event name typed as a literal elsewhere would drift from the one the inbox and the
    webhooks know; code uses ``Event`` members."""
    names = {member.value for member in Event}
    # the enumerations themselves (an audit action may share an event's name)
    enumerations = {
        ROOT / "broker" / "domain" / "states.py",
        ROOT / "broker" / "domain" / "audit_chain.py",
    }
    found = [
        f"{path.relative_to(ROOT)}:{line} {value!r}"
        for path in _modules()
        if path not in enumerations
        for line, value in _string_constants(path)
        if value in names
    ]
    assert found == []


def test_stored_states_are_distinct_within_each_enumeration() -> None:
    for enumeration in (HoldState, StayState, PlanState, DeliveryState, Audience, Event):
        values = [member.value for member in enumeration]
        assert len(values) == len(set(values)), enumeration.__name__
