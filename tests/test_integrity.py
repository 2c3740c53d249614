"""``broker db check`` names every broken invariant, and the schema itself refuses the
impossible states it can express, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine
from broker.services.integrity import CHECK_CODES
from tests.conftest import Accounts, TestClock
from tests.integrity_support import violations
from tests.placement_support import Desk


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _history(desk: Desk, client: TestClient[Any]) -> dict[str, Any]:
    """A crisis centre with one family staying, one transferred on to a temporary home,
    one departed, and a released hold: every kind of row the checks read."""
    crisis = desk.facility(3, 9, total_units=4, total_beds=12)
    home = desk.facility(2, 6, kind="temporary_home_mothers", name="Home", region="Zala")
    stays = []
    for _ in range(3):
        hold_id = desk.hold(crisis).json()["hold_id"]
        response = desk.confirm(hold_id, crisis)
        assert response.status_code == 200, response.text
        stays.append(response.json()["placement_id"])
    staying, moving, leaving = stays
    transfer = client.post(
        f"/api/v1/placements/{moving}/transfer",
        json={"facility_id": home},
        headers=desk.staff[crisis],
    )
    assert transfer.status_code == 201, transfer.text
    moved = desk.confirm(transfer.json()["hold_id"], home)
    assert moved.status_code == 200, moved.text
    departed = client.post(
        f"/api/v1/placements/{leaving}/depart",
        json={"reason": "other"},
        headers=desk.staff[crisis],
    )
    assert departed.status_code == 200, departed.text
    released = desk.hold(crisis).json()["hold_id"]
    assert client.delete(f"/api/v1/holds/{released}", headers=desk.counsellor).status_code == 204
    return {
        "crisis": crisis,
        "home": home,
        "staying": staying,
        "moved_from": moving,
        "moved_to": moved.json()["placement_id"],
        "departed": leaving,
        "released": released,
    }


def _execute(database_url: str, sql: str, **params: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def _codes(database_url: str, clock: TestClock) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in violations(database_url, now=clock()):
        found.setdefault(violation.check, []).append(violation.subject)
    return found


def test_a_sound_history_passes_and_each_planted_break_is_named(
    desk: Desk, client: TestClient[Any], database_url: str, clock: TestClock
) -> None:
    rows = _history(desk, client)
    assert _codes(database_url, clock) == {}
    crisis = rows["crisis"]  # where a family is still staying

    # a report that frees the unit the staying family occupies
    _execute(
        database_url,
        "UPDATE facilities SET reported_free_units = total_units, reported_free_beds = total_beds"
        " WHERE id = :id",
        id=crisis,
    )
    # a released hold that lost its closing time
    _execute(database_url, "UPDATE holds SET closed_at = NULL WHERE id = :id", id=rows["released"])
    # the departed family's hold marked expired although her stay came from it
    _execute(
        database_url,
        "UPDATE holds SET state = 'expired' WHERE id ="
        " (SELECT hold_id FROM placements WHERE id = :id)",
        id=rows["departed"],
    )
    # the transferred stay marked active again: two current stays of one case, and an
    # active stay that has a next stay
    _execute(
        database_url,
        "UPDATE placements SET state = 'departed' WHERE id = :id",
        id=rows["moved_from"],
    )
    assert _codes(database_url, clock) == {
        "room_for_stays": [f"facility {crisis}"],
        "hold_closed_time": [f"hold {rows['released']}"],
        "closed_hold_without_stay": [f"hold {_hold_of(database_url, rows['departed'])}"],
        "transferred_has_successor": [f"stay {rows['moved_from']}"],
    }
    # marking the stay she was transferred out of current again is refused by the schema:
    # her case would have two current stays
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            "UPDATE placements SET state = 'active', ended_at = NULL WHERE id = :id",
            id=rows["moved_from"],
        )


def _hold_of(database_url: str, placement_id: str) -> str:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(
                    sa.text("SELECT hold_id FROM placements WHERE id = :id"), {"id": placement_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_schema_refuses_a_second_stay_confirmation_or_open_transfer(
    desk: Desk, client: TestClient[Any], database_url: str, clock: TestClock
) -> None:
    rows = _history(desk, client)
    copy_stay = (
        "INSERT INTO placements (id, case_code, case_id, facility_id, hold_id, request, units,"
        " beds, state, started_at, prior_days, limit_at, previous_placement_id)"
        " SELECT :new_id, :code, {case}, facility_id, {hold}, request, units, beds, 'active',"
        " started_at, prior_days, limit_at, {previous} FROM placements WHERE id = :id"
    )
    # a hold confirmed twice
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            copy_stay.format(case="'another-case'", hold="hold_id", previous="NULL"),
            new_id="dup-hold",
            code="ZZZZ-ZZZ1",
            id=rows["staying"],
        )
    # a second current stay of the same case (another hold of the same facility)
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            copy_stay.format(
                case="case_id",
                hold=f"'{_hold_of(database_url, rows['departed'])}'",
                previous="NULL",
            ),
            new_id="dup-case",
            code="ZZZZ-ZZZ2",
            id=rows["staying"],
        )
    # a stay transferred to two next stays (a fork of its chain)
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            copy_stay.format(
                case="'fork-case'",
                hold=f"'{_hold_of(database_url, rows['departed'])}'",
                previous=f"'{rows['moved_from']}'",
            ),
            new_id="dup-fork",
            code="ZZZZ-ZZZ3",
            id=rows["moved_to"],
        )
    # a second open transfer hold of one stay
    first = client.post(
        f"/api/v1/placements/{rows['staying']}/transfer",
        json={"facility_id": rows["home"]},
        headers=desk.staff[rows["crisis"]],
    )
    assert first.status_code == 201, first.text
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            "INSERT INTO holds (id, facility_id, counsellor_user_id, state, units, beds, request,"
            " created_at, expires_at, transfer_from_placement_id) SELECT 'dup-transfer',"
            " facility_id, counsellor_user_id, 'open', units, beds, request, created_at,"
            " expires_at, transfer_from_placement_id FROM holds WHERE id = :id",
            id=first.json()["hold_id"],
        )
    # free places below zero or above the totals
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            database_url,
            "UPDATE facilities SET reported_free_units = -1 WHERE id = :id",
            id=rows["crisis"],
        )
    assert _codes(database_url, clock) == {}


def test_broker_db_check_exits_non_zero_naming_each_violation(
    desk: Desk, client: TestClient[Any], database_url: str
) -> None:
    rows = _history(desk, client)
    env = {**os.environ, "BROKER_DATABASE_URL": database_url}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", "db", "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    clean = check()
    assert clean.returncode == 0, clean.stderr
    assert f"{len(CHECK_CODES)} invariants hold" in clean.stdout
    _execute(
        database_url,
        "UPDATE facilities SET reported_free_units = total_units, reported_free_beds = total_beds"
        " WHERE id = :id",
        id=rows["crisis"],
    )
    _execute(
        database_url,
        "UPDATE placements SET ended_at = NULL WHERE id = :id",
        id=rows["departed"],
    )
    broken = check()
    assert broken.returncode == 1
    lines = broken.stderr.splitlines()
    assert f"VIOLATION room_for_stays facility {rows['crisis']}" in "\n".join(lines)
    assert f"VIOLATION ended_stay_has_end stay {rows['departed']}" in "\n".join(lines)
    assert lines[-1] == "2 violations"
