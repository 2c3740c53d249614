"""The stored state's invariants, checked from a test (``broker db check`` in-process)."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.db.engine import make_engine, snapshot, unit_of_work
from broker.services.integrity import Violation, integrity_check
from broker.settings import Settings


def violations(database_url: str, *, now: datetime | None = None) -> list[Violation]:
    engine = make_engine(database_url, pool_size=1)
    try:
        with unit_of_work(snapshot(engine), write=False) as session:
            return integrity_check(
                session=session,
                audit_key=Settings(database_url=database_url).audit_key_bytes,
                now=now or datetime.now(UTC),
            )
    finally:
        engine.dispose()


def assert_consistent(database_url: str, *, now: datetime | None = None) -> None:
    """Fail naming every broken invariant."""
    found = violations(database_url, now=now)
    assert not found, "broken invariants:\n" + "\n".join(str(v) for v in found)
