"""Engines and units of work for SQLite (embedded default) and PostgreSQL.

SQLite is driven in WAL mode with the driver's own transaction handling switched off, so
that a writing unit of work starts with ``BEGIN IMMEDIATE``: it takes the write lock up
front and waits for it (busy timeout) instead of failing later with "database is locked"
when two requests both try to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

import broker.db.revision  # noqa: F401  (keeps the registry revision in step with facility rows)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Where a session keeps the audit key it was opened with (``Session.info``).
AUDIT_KEY_INFO = "broker.audit_key"
POSTGRES_LOCK_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            pool_size=pool_size,
            max_overflow=20,
        )
        _configure_sqlite(engine)
        return engine
    # A request never waits for a lock for ever: after LOCK_TIMEOUT it fails and says so.
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"options": f"-c lock_timeout={POSTGRES_LOCK_TIMEOUT_MS}"},
    )


def snapshot(engine: Engine) -> Engine:
    """The engine for a read that must see one snapshot throughout (an audit walk, the
    invariant check). A SQLite read transaction is one snapshot already."""
    return (
        engine if is_sqlite(engine) else engine.execution_options(isolation_level="REPEATABLE READ")
    )


def open_session(engine: Engine, *, write: bool, audit_key: bytes | None = None) -> Session:
    """A session for one unit of work. ``audit_key`` (from the settings) is what the audit
    chain's MACs are made with; a unit of work without it may not record audit entries."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if write else engine
    info = {AUDIT_KEY_INFO: audit_key} if audit_key else {}
    return Session(bind=bind, expire_on_commit=False, info=info)


@contextmanager
def unit_of_work(
    engine: Engine, *, write: bool = True, audit_key: bytes | None = None
) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back otherwise."""
    session = open_session(engine, write=write, audit_key=audit_key)
    try:
        yield session
        if write:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
