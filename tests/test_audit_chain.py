"""The audit log is append-only and hash-chained, on both databases.

A chain is built through real API actions; then, inside a transaction that is rolled back,
the database is tampered with behind the triggers' back (SQLite: the triggers are dropped
in that transaction; PostgreSQL: a replica session fires none) in many random ways. Every
case must be caught, at the right first broken entry.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import Session, SQLModel

from broker.cli import main
from broker.db.engine import is_sqlite, make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import (
    AuditAction,
    ChainBreak,
    ChainSummary,
    EntryFields,
    Problem,
    entry_mac,
)
from broker.errors import ConfigurationError
from broker.services import audit
from broker.services.audit import audit_chain_verify, audit_record
from broker.settings import Settings
from tests.conftest import POSTGRES_SERVER_URL, Accounts, TestClock, create_facility

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SQLITE_TRIGGERS = [
    "audit_events_no_update",
    "audit_events_no_delete",
    "audit_chain_head_forward_only",
    "audit_chain_head_no_delete",
]
FAMILY = {"family": {"adults": [{"age": 30, "sex": "female"}], "children": []}}
EVENTS = SQLModel.metadata.tables["audit_events"]
HEAD = SQLModel.metadata.tables["audit_chain_head"]
SYSTEM = Principal(user_id=1, username="admin", role=Role.ADMIN)


@pytest.fixture
def chain(
    client: TestClient[Any],
    admin: dict[str, str],
    accounts: Accounts,
    clock: TestClock,
    settings: Settings,
) -> int:
    """A chain made by logins, a failed login, facility, address, capacity and hold actions,
    and some entries written directly through the service; returns its length."""
    facility = create_facility(client, admin)
    other = create_facility(client, admin, name="Second Centre")
    staff = accounts.headers("chain-staff", "shelter_staff", [facility["id"]])
    desk = accounts.headers("chain-desk", "counsellor")
    wrong = client.post("/api/v1/auth/token", json={"username": "chain-desk", "password": "x"})
    assert wrong.status_code == 401
    for fid in (facility["id"], other["id"]):
        clock.advance(minutes=5)
        put = client.put(
            f"/api/v1/facilities/{fid}/address", json={"address": "Chain utca 1."}, headers=admin
        )
        assert put.status_code == 204
        assert client.get(f"/api/v1/facilities/{fid}/address", headers=admin).status_code == 200
    for units in (3, 2, 4):
        clock.advance(minutes=7)
        report = client.put(
            f"/api/v1/facilities/{facility['id']}/capacity",
            json={"free_units": units, "free_beds": units * 2},
            headers=staff,
        )
        assert report.status_code == 200, report.text
    held = client.post(
        "/api/v1/holds", json={**FAMILY, "facility_id": facility["id"]}, headers=desk
    )
    assert held.status_code == 201, held.text
    assert client.delete(f"/api/v1/holds/{held.json()['hold_id']}", headers=desk).status_code in (
        200,
        204,
    )
    engine = make_engine(settings.database_url, pool_size=1)
    for batch in range(4):
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            for item in range(batch + 1):
                audit_record(
                    session=session,
                    now=clock() + timedelta(microseconds=batch * 10 + item),
                    actor=SYSTEM if item % 2 else None,
                    action=AuditAction.OPERATOR_POLICY,
                    subject_type="batch",
                    subject_id=batch,
                    detail={"item": item, "nested": {"z": [1, 2], "a": "ä"}},
                )
    with engine.connect() as connection:
        count = int(connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one())
    engine.dispose()
    assert count > 25
    return count


@contextmanager
def tampering(url: str) -> Iterator[sa.Connection]:
    """A transaction that the append-only triggers do not guard, always rolled back."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            if is_sqlite(engine):
                for name in SQLITE_TRIGGERS:
                    connection.exec_driver_sql(f"DROP TRIGGER {name}")
            else:
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            try:
                yield connection
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def verify_on(connection: sa.Connection, key: bytes) -> ChainBreak | ChainSummary:
    with Session(bind=connection) as session:
        return audit_chain_verify(session=session, key=key)


def verify(url: str, key: bytes) -> ChainBreak | ChainSummary:
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(engine, write=False) as session:
            return audit_chain_verify(session=session, key=key)
    finally:
        engine.dispose()


def _rows(connection: sa.Connection) -> list[dict[str, Any]]:
    result = connection.execute(sa.select(EVENTS).order_by(EVENTS.c.sequence))
    return [dict(row) for row in result.mappings()]


def _set(connection: sa.Connection, row_id: int, **values: Any) -> None:
    connection.execute(sa.update(EVENTS).where(EVENTS.c.id == row_id).values(**values))


def _delete(connection: sa.Connection, *row_ids: int) -> None:
    connection.execute(sa.delete(EVENTS).where(EVENTS.c.id.in_(row_ids)))


@dataclass(frozen=True)
class Expected:
    description: str
    sequence: int
    entry_id: int | None
    problems: frozenset[Problem]


Tamper = Callable[[random.Random, sa.Connection, list[dict[str, Any]]], Expected]

CONTENT = [
    "at",
    "actor_user_id",
    "actor_role",
    "action",
    "subject_type",
    "subject_id",
    "detail",
    "previous_hash",
    "entry_hash",
]


def _changed_value(field: str, value: Any, rng: random.Random) -> Any:
    if field == "at":
        return value + timedelta(microseconds=rng.choice([1, 1000, 3_600_000_000]))
    if field == "actor_user_id":
        return 1 if value is None or value != 1 else None
    if field == "detail":
        return {**value, "tampered": True} if rng.random() < 0.5 else {}
    if field in ("previous_hash", "entry_hash"):
        return secrets.token_hex(32)
    return f"{value}x"


def change_a_field(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    row = rng.choice(rows)
    field = rng.choice(CONTENT)
    new = _changed_value(field, row[field], rng)
    if field == "detail" and new == row[field]:
        new = {"other": 1}
    _set(c, row["id"], **{field: new})
    return Expected(
        f"change {field} of {row['sequence']}",
        row["sequence"],
        row["id"],
        frozenset({Problem.CHANGED}),
    )


def change_and_forge_a_mac(
    rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]
) -> Expected:
    """Change an entry and sign it again with a key of one's own."""
    row = rng.choice(rows)
    fields = EntryFields(
        **{
            **{k: row[k] for k in CONTENT if k != "entry_hash"},
            "sequence": row["sequence"],
            "action": "hold.release",
        }
    )
    forged = entry_mac(secrets.token_bytes(32), fields)
    _set(c, row["id"], action="hold.release", entry_hash=forged)
    return Expected(
        f"forge {row['sequence']}", row["sequence"], row["id"], frozenset({Problem.CHANGED})
    )


def delete_an_entry(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    index = rng.randrange(len(rows) - 1)  # not the last: see delete_the_tail
    _delete(c, rows[index]["id"])
    return Expected(
        f"delete {index + 1}", index + 1, rows[index + 1]["id"], frozenset({Problem.MISSING})
    )


def delete_entries(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    start = rng.randrange(len(rows) - 3)
    doomed = rows[start : start + rng.randint(2, 3)]
    _delete(c, *(row["id"] for row in doomed))
    after = rows[start + len(doomed)]
    return Expected(
        f"delete {len(doomed)} from {start + 1}",
        start + 1,
        after["id"],
        frozenset({Problem.MISSING}),
    )


def delete_the_tail(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    count = rng.randint(1, 3)
    _delete(c, *(row["id"] for row in rows[-count:]))
    return Expected(
        f"delete last {count}", len(rows) - count + 1, None, frozenset({Problem.MISSING})
    )


def delete_the_tail_and_rewind_the_head(
    rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]
) -> Expected:
    count = rng.randint(1, 3)
    _delete(c, *(row["id"] for row in rows[-count:]))
    last = rows[-count - 1]
    c.execute(sa.update(HEAD).values(sequence=last["sequence"], entry_hash=last["entry_hash"]))
    return Expected(
        f"delete last {count}, rewind head",
        len(rows) - count + 1,
        None,
        frozenset({Problem.HEAD_MISMATCH}),
    )


def delete_the_head(_rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    c.execute(sa.delete(HEAD))
    return Expected("delete head", len(rows) + 1, None, frozenset({Problem.HEAD_MISMATCH}))


def _two(rng: random.Random, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    first, second = sorted(rng.sample(range(len(rows)), 2))
    return rows[first], rows[second]


def swap_sequences(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    early, late = _two(rng, rows)
    _set(c, early["id"], sequence=-1)  # the unique index allows no moment with two alike
    _set(c, late["id"], sequence=early["sequence"])
    _set(c, early["id"], sequence=late["sequence"])
    return Expected(
        f"swap sequences {early['sequence']}<->{late['sequence']}",
        early["sequence"],
        late["id"],
        frozenset({Problem.OUT_OF_ORDER}),
    )


def swap_contents(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    early, late = _two(rng, rows)
    _set(c, early["id"], **{field: late[field] for field in CONTENT})
    _set(c, late["id"], **{field: early[field] for field in CONTENT})
    return Expected(
        f"swap contents {early['sequence']}<->{late['sequence']}",
        early["sequence"],
        early["id"],
        frozenset({Problem.OUT_OF_ORDER}),
    )


def move_to_the_end(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    index = rng.randrange(len(rows))
    _set(c, rows[index]["id"], sequence=len(rows) + 1)
    found = rows[index + 1]["id"] if index + 1 < len(rows) else rows[index]["id"]
    return Expected(f"move {index + 1} to the end", index + 1, found, frozenset({Problem.MISSING}))


def replay_an_entry(rng: random.Random, c: sa.Connection, rows: list[dict[str, Any]]) -> Expected:
    row = rng.choice(rows)
    values = {field: row[field] for field in CONTENT}
    inserted = c.execute(
        sa.insert(EVENTS).values(sequence=len(rows) + 1, **values).returning(EVENTS.c.id)
    ).scalar_one()
    return Expected(
        f"replay {row['sequence']} at the end",
        len(rows) + 1,
        inserted,
        frozenset({Problem.CHANGED, Problem.OUT_OF_ORDER}),
    )


TAMPERS: list[Tamper] = [
    change_a_field,
    change_a_field,
    change_and_forge_a_mac,
    delete_an_entry,
    delete_entries,
    delete_the_tail,
    delete_the_tail_and_rewind_the_head,
    delete_the_head,
    swap_sequences,
    swap_contents,
    move_to_the_end,
    replay_an_entry,
]


def test_every_tampering_is_caught_at_the_first_broken_entry(
    chain: int, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "_VERIFY_BATCH", 7)  # the walk crosses many batch borders
    key, url = settings.audit_key_bytes, settings.database_url
    before = verify(url, key)
    assert isinstance(before, ChainSummary) and before.count == chain
    rng = random.Random(20261121)
    cases = [*TAMPERS, *(rng.choice(TAMPERS) for _ in range(60))]
    for case in cases:
        with tampering(url) as connection:
            rows = _rows(connection)
            assert [row["sequence"] for row in rows] == list(range(1, chain + 1))
            expected = case(rng, connection, rows)
            found = verify_on(connection, key)
        assert isinstance(found, ChainBreak), f"{expected.description}: not caught"
        assert found.problem in expected.problems, (expected, found)
        assert (found.sequence, found.entry_id) == (expected.sequence, expected.entry_id), (
            expected,
            found,
        )
    # every case was rolled back: the stored chain is whole
    intact = verify(url, key)
    assert isinstance(intact, ChainSummary) and intact.count == chain


def test_the_chain_is_gapless_and_linked_and_another_key_does_not_verify_it(
    chain: int, settings: Settings
) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = _rows(connection)
        head = connection.execute(sa.select(HEAD)).mappings().one()
    engine.dispose()
    assert [row["sequence"] for row in rows] == list(range(1, chain + 1))
    assert rows[0]["previous_hash"] == "0" * 64
    assert all(b["previous_hash"] == a["entry_hash"] for a, b in pairwise(rows))
    # entries are inserted in chain order, so row ids rise with the sequence
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert (head["sequence"], head["entry_hash"]) == (chain, rows[-1]["entry_hash"])
    found = verify(settings.database_url, secrets.token_bytes(32))
    assert isinstance(found, ChainBreak)
    assert (found.sequence, found.problem) == (1, Problem.CHANGED)


def test_the_database_refuses_to_change_or_delete_audit_entries(
    chain: int, settings: Settings
) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    statements = [
        "UPDATE audit_events SET action = 'nothing.happened' WHERE sequence = 2",
        "UPDATE audit_events SET detail = '{}'",
        "DELETE FROM audit_events WHERE sequence = 1",
        f"DELETE FROM audit_events WHERE sequence = {chain}",
        "DELETE FROM audit_events",
        "UPDATE audit_chain_head SET sequence = sequence - 1",
        "DELETE FROM audit_chain_head",
    ]
    if not is_sqlite(engine):
        statements += ["TRUNCATE audit_events", "TRUNCATE audit_chain_head"]
    for statement in statements:
        with pytest.raises(sa.exc.IntegrityError) as refused, engine.begin() as connection:
            connection.exec_driver_sql(statement)
        message = str(refused.value)
        assert "append-only" in message or "chain head" in message, statement
    with engine.connect() as connection:
        assert len(_rows(connection)) == chain
    engine.dispose()
    assert isinstance(verify(settings.database_url, settings.audit_key_bytes), ChainSummary)


def test_cli_verify_exits_0_when_intact_and_1_naming_the_broken_entry(
    chain: int,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BROKER_DATABASE_URL", settings.database_url)
    assert main(["audit", "verify"]) == 0
    assert f"intact: {chain} entries" in capsys.readouterr().out

    engine = make_engine(settings.database_url, pool_size=1)
    with engine.begin() as connection:
        if is_sqlite(engine):
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        victim = _rows(connection)[6]
        _set(connection, victim["id"], subject_id="someone-else")
    engine.dispose()
    assert main(["audit", "verify"]) == 1
    error = capsys.readouterr().err
    assert "sequence 7 [changed]" in error and f"entry 7 (id {victim['id']})" in error


def test_concurrent_writers_never_share_a_sequence_or_fork_the_chain(
    settings: Settings, clock: TestClock
) -> None:
    engine = make_engine(settings.database_url, pool_size=8)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for round_ in range(6):
                with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
                    for item in range(1 + (number + round_) % 3):
                        audit_record(
                            session=session,
                            now=clock(),
                            actor=None,
                            action=AuditAction.HOLD_CREATE,
                            subject_id=f"{number}-{round_}-{item}",
                        )
        except BaseException as problem:  # reported below, not lost in the thread
            failures.append(problem)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert failures == []
    expected = sum(1 + (n + r) % 3 for n in range(6) for r in range(6))
    found = verify(settings.database_url, settings.audit_key_bytes)
    assert isinstance(found, ChainSummary) and found.count == expected


def test_a_rolled_back_unit_of_work_leaves_no_entry_and_a_key_is_required(
    settings: Settings, clock: TestClock
) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    with (
        pytest.raises(RuntimeError),
        unit_of_work(engine, audit_key=settings.audit_key_bytes) as session,
    ):
        audit_record(session=session, now=clock(), actor=None, action=AuditAction.HOLD_RELEASE)
        raise RuntimeError("the request failed")
    with (
        pytest.raises(ValueError, match="not a valid AuditAction"),
        unit_of_work(engine, audit_key=settings.audit_key_bytes) as session,
    ):
        audit_record(session=session, now=clock(), actor=None, action="no.such")  # type: ignore[arg-type]
    with unit_of_work(engine) as session, pytest.raises(ConfigurationError):
        audit_record(session=session, now=clock(), actor=None, action=AuditAction.HOLD_RELEASE)
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        audit_record(session=session, now=clock(), actor=None, action=AuditAction.HOLD_CREATE)
    engine.dispose()
    found = verify(settings.database_url, settings.audit_key_bytes)
    assert isinstance(found, ChainSummary) and found.count == 1


def _page(client: TestClient[Any], headers: dict[str, str], query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/audit{query}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_auditor_reads_the_log_filtered_and_paginated(
    client: TestClient[Any],
    chain: int,
    accounts: Accounts,
    admin: dict[str, str],
) -> None:
    auditor = accounts.headers("the-auditor", "auditor")
    total = chain + 2  # the auditor's account and login
    everything = _page(client, auditor, "?limit=500")
    entries = everything["entries"]
    assert everything["next"] is None and len(entries) == total
    assert [entry["sequence"] for entry in entries] == list(range(1, total + 1))
    assert set(entries[0]) == {"sequence", *CONTENT}
    assert all(b["previous_hash"] == a["entry_hash"] for a, b in pairwise(entries))
    assert _page(client, auditor, "?limit=500") == everything, "reading is not audited"

    walked, cursor = [], None
    while True:
        page = _page(client, auditor, "?limit=7" + (f"&after={cursor}" if cursor else ""))
        walked += page["entries"]
        cursor = page["next"]
        if cursor is None:
            break
    assert walked == entries
    assert _page(client, auditor, "?limit=5&offset=10")["entries"] == entries[10:15]
    assert len(_page(client, auditor, "")["entries"]) == min(total, 50)

    failed = _page(client, auditor, "?action=auth.login_failed")["entries"]
    assert len(failed) == 1 and failed[0]["actor_user_id"] is None
    batch = _page(client, auditor, "?subject_type=batch&subject_id=2")["entries"]
    assert [e["detail"]["item"] for e in batch] == [0, 1, 2]
    staff_id = next(e for e in entries if e["action"] == "capacity.report")["actor_user_id"]
    by_staff = _page(client, auditor, f"?actor_user_id={staff_id}")["entries"]
    assert by_staff and {e["actor_role"] for e in by_staff} == {"shelter_staff"}
    start = entries[0]["at"]
    assert _page(client, auditor, f"?until={start}")["entries"] == []
    since = _page(client, auditor, f"?since={start}&limit=500")["entries"]
    assert since == entries
    naive = start.removesuffix("Z").split("+")[0]
    assert _page(client, auditor, f"?since={naive}&limit=500")["entries"] == entries

    for query in (
        "?since=yesterday",
        "?until=2026-02-30T00:00:00",
        "?limit=0",
        "?limit=501",
        "?after=-1",
        "?offset=-3",
        "?actor_user_id=abc",
        "?after=2&offset=2",
        f"?since={start}&until={start}",
    ):
        response = client.get(f"/api/v1/audit{query}", headers=auditor)
        assert response.status_code in (400, 422), (query, response.status_code)
        assert response.json()["error"]["message"], query
    # a misspelt action is refused with the catalogue, not answered with an empty page
    misspelt = client.get("/api/v1/audit?action=police_inquiry", headers=auditor)
    assert misspelt.status_code == 422
    assert "'police_inquiry' is not an audit action" in misspelt.json()["error"]["message"]
    assert "police.inquiry" in misspelt.json()["error"]["message"]
    for other in (admin, accounts.headers("late-desk", "counsellor")):
        assert client.get("/api/v1/audit", headers=other).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database with no schema at all, to be migrated step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = make_engine(POSTGRES_SERVER_URL, pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    name = f"broker_chain_{secrets.token_hex(5)}"
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield (
        sa.engine.make_url(POSTGRES_SERVER_URL)
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server.engine.dispose()


def test_the_upgrade_chains_entries_written_before_the_chain_existed(
    empty_database_url: str, settings: Settings
) -> None:
    upgrade(empty_database_url, "0004")
    engine = make_engine(empty_database_url, pool_size=1)
    with engine.begin() as connection:
        for number in range(3):
            connection.execute(
                sa.text(
                    "INSERT INTO audit_events (at, actor_user_id, actor_role, action,"
                    " subject_type, subject_id, detail)"
                    " VALUES (:at, NULL, '', 'capacity.report', 'facility', :subject, :detail)"
                ),
                {"at": datetime(2026, 1, 1 + number), "subject": str(number), "detail": "{}"},
            )
    engine.dispose()
    upgrade(empty_database_url, audit_key=settings.audit_key_bytes)
    found = verify(empty_database_url, settings.audit_key_bytes)
    assert isinstance(found, ChainSummary) and found.count == 3
    assert not isinstance(verify(empty_database_url, b"k" * 32), ChainSummary)
