"""Shared fixtures: real SQLite files and a real PostgreSQL database, migrated by Alembic.

Every database test runs on both engines. The PostgreSQL half is marked ``postgres`` and
uses a database of its own, created at the start of the run on the server named by
``BROKER_TEST_POSTGRES_URL`` and dropped at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import SQLModel

from api.app import create_app
from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.services.accounts import user_create
from broker.settings import Settings

POSTGRES_SERVER_URL = os.environ.get(
    "BROKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class TestClock:
    """A clock the test moves by hand."""

    __test__ = False

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    server = make_engine(POSTGRES_SERVER_URL, pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    name = f"broker_test_{uuid.uuid4().hex[:10]}"
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER_URL}: {exc}")
    url = (
        sa.engine.make_url(POSTGRES_SERVER_URL)
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    upgrade(url)
    yield url
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server.engine.dispose()


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        # the audit tables refuse TRUNCATE by trigger; a replica session fires no triggers
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # the one row the migration seeds
        connection.exec_driver_sql("INSERT INTO registry_revision (id, value) VALUES (1, 0)")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "broker.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tokens outlive the hours the tests move the clock by; expiry has its own test.
    # Pages in English unless a test asks for Hungarian (the product's default).
    return Settings(
        database_url=database_url,
        stale_after_minutes=24 * 60,
        token_ttl_minutes=365 * 24 * 60,
        language="en",
    )


@pytest.fixture
def client(settings: Settings, clock: TestClock) -> Iterator[TestClient[Any]]:
    app = create_app(settings, clock=clock)
    with TestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def passwords() -> Passwords:
    return Passwords()


PASSWORD = "correct-horse-battery"


class Accounts:
    """Creates accounts directly through the service and signs them in over HTTP."""

    def __init__(self, settings: Settings, client: TestClient[Any], clock: TestClock) -> None:
        self.settings, self.client, self.clock = settings, client, clock
        self._passwords = Passwords()

    def create(self, username: str, role: str, facilities: list[int] | None = None) -> None:
        engine = make_engine(self.settings.database_url, pool_size=1)
        try:
            with unit_of_work(engine, audit_key=self.settings.audit_key_bytes) as session:
                user_create(
                    session=session,
                    passwords=self._passwords,
                    username=username,
                    role=role,
                    password=PASSWORD,
                    facility_ids=facilities or [],
                    now=self.clock(),
                )
        finally:
            engine.dispose()

    def headers(
        self, username: str, role: str | None = None, facilities: list[int] | None = None
    ) -> dict[str, str]:
        if role is not None:
            self.create(username, role, facilities)
        response = self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def accounts(settings: Settings, client: TestClient[Any], clock: TestClock) -> Accounts:
    return Accounts(settings, client, clock)


@pytest.fixture
def admin(accounts: Accounts) -> dict[str, str]:
    return accounts.headers("admin", "admin")


@pytest.fixture
def counsellor(accounts: Accounts) -> dict[str, str]:
    return accounts.headers("counsellor", "counsellor")


def facility_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Test Crisis Centre",
        "kind": "crisis_centre",
        "operator": "Test Operator",
        "region": "Baranya",
        "total_units": 4,
        "total_beds": 12,
        "meeting_point": "Main railway station, by the ticket office.",
        "boys_max_age": 12,
        "admits_adult_men": False,
        "wheelchair_units": 1,
        "accepts_pets": False,
        "languages": ["hu", "en"],
        "night_admission": True,
        "accepts_reentry": True,
    }
    body.update(overrides)
    return body


def create_facility(
    client: TestClient[Any], admin: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = client.post("/api/v1/facilities", json=facility_body(**overrides), headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


# --- logs -------------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def captured_logs(client: TestClient[Any]) -> Iterator[LogCapture]:
    """Attached after the app has configured logging, and before anything is planted."""
    handler = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one per test module."""
    from tests.browser_support import chromium  # only browser tests need Playwright

    with chromium() as launched:
        yield launched
