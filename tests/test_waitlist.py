"""The waiting list through the API and its matching job, on SQLite and PostgreSQL: a family
that fits nowhere is told of the place a report frees, highest risk and longest wait are
served first, entries expire by the clock, are purged by retention, count as unmet until a
place is found, and only counsellors see the list (never an address)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine, unit_of_work
from broker.jobs import JOBS, RAN
from broker.services import statistics, upkeep
from broker.services.waitlist import CALLBACK_WINDOW
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.integrity_support import assert_consistent, violations
from tests.job_support import runner_at
from tests.placement_support import Desk, family

JOB = "waitlist_matching"
CODE = re.compile(r"[ACDEFHJKLMNPRTUVWXY34679]{4}-[ACDEFHJKLMNPRTUVWXY34679]{4}")
CANARY = "Várólista köz 99., 1111 Canaryville"


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _add(desk: Desk, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = desk.client.post(
        "/api/v1/waitlist", json={**(body or family()), **extra}, headers=desk.counsellor
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _tick(settings: Settings, at: datetime) -> dict[str, Any]:
    runner = runner_at(settings, at)
    try:
        outcome = runner.tick(JOB)
    finally:
        runner.engine.dispose()
    assert outcome.status == RAN, outcome
    return outcome.summary


def _rows(settings: Settings, query: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(query), params)]
    finally:
        engine.dispose()


def _found_messages(settings: Settings) -> list[tuple[Any, ...]]:
    return _rows(
        settings,
        "SELECT audience, facility_id, payload FROM outbox "
        "WHERE event = 'waitlist.place_found' ORDER BY id",
    )


def _entry(desk: Desk, entry_id: str) -> dict[str, Any]:
    response = desk.client.get(f"/api/v1/waitlist/{entry_id}", headers=desk.counsellor)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_family_that_fits_nowhere_is_told_of_the_place_a_report_frees(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=0, free_beds=0, name="Full Centre")
    created = _add(desk)
    assert CODE.fullmatch(created["code"])
    assert datetime.fromisoformat(created["expires_at"]) == clock() + timedelta(hours=48)
    assert _tick(settings, clock()) == {"waiting": 1, "found": 0, "expired": 0}
    assert _found_messages(settings) == []

    clock.advance(seconds=5)
    reported_at = clock()
    desk.report(fid, 1, 3)
    # the next tick of the job finds it: the promise is the interval plus one run
    interval = JOBS[JOB].every_seconds
    assert interval is not None and interval <= 30
    clock.advance(seconds=interval)
    assert _tick(settings, clock()) == {"waiting": 1, "found": 1, "expired": 0}

    [(audience, facility, payload)] = _found_messages(settings)
    assert (audience, facility) == ("hotline", None)
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    # ids and the code only: no name, kind, region or address
    assert set(payload) == {"event", "at", "waitlist_id", "code", "facility_id"}
    assert (payload["waitlist_id"], payload["code"], payload["facility_id"]) == (
        created["waitlist_id"],
        created["code"],
        fid,
    )
    inbox = desk.client.get("/api/v1/inbox", headers=desk.counsellor).json()
    assert [m["event"] for m in inbox] == ["waitlist.place_found"]
    told_at = datetime.fromisoformat(inbox[0]["created_at"])
    assert told_at - reported_at <= timedelta(seconds=60)

    entry = _entry(desk, created["waitlist_id"])
    assert entry["state"] == "found"
    place = entry["place"]
    assert datetime.fromisoformat(place.pop("found_at")) == clock()
    assert place == {
        "facility_id": fid,
        "name": "Full Centre",
        "kind": "crisis_centre",
        "region": "Baranya",
    }
    # the hotline is told once, however often the job runs
    clock.advance(seconds=interval)
    assert _tick(settings, clock())["found"] == 0
    assert len(_found_messages(settings)) == 1
    # the callback: the entry's own request is the hold's body
    held = desk.hold(fid, entry["request"])
    assert held.status_code == 201, held.text
    assert_consistent(settings.database_url, now=clock())


def test_bad_input_is_a_clear_422(desk: Desk) -> None:
    for hours in (0, 169, "48", 2.5, None):
        response = desk.client.post(
            "/api/v1/waitlist", json={**family(), "hours": hours}, headers=desk.counsellor
        )
        assert response.status_code == 422, (hours, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    unknown = desk.client.post(
        "/api/v1/waitlist",
        json={**family(), "avoid_regions": ["Atlantis"]},
        headers=desk.counsellor,
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == [
        {"field": "avoid_regions", "message": "unknown region 'Atlantis'"}
    ]
    for body in (
        {**family(), "limit": 3},  # a field of the search, not of the list
        {**family(), "facility_id": 1},
        family(adults=0),
        {"family": {"adults": [{"age": 3, "sex": "female"}]}},
    ):
        response = desk.client.post("/api/v1/waitlist", json=body, headers=desk.counsellor)
        assert response.status_code == 422, (body, response.text)
    assert desk.client.get("/api/v1/waitlist", headers=desk.counsellor).json() == []
    longest = _add(desk, hours=168)
    assert longest["expires_at"]


def test_the_list_is_the_hotlines_and_an_entry_can_be_taken_off(
    desk: Desk, accounts: Accounts, clock: TestClock
) -> None:
    colleague = accounts.headers("colleague", "counsellor")
    mine = _add(desk)
    listed = desk.client.get("/api/v1/waitlist", headers=colleague).json()
    assert [(e["waitlist_id"], e["code"], e["state"]) for e in listed] == [
        (mine["waitlist_id"], mine["code"], "waiting")
    ]
    assert listed[0]["counsellor"] == "desk-counsellor"
    assert listed[0]["place"] is None and listed[0]["persons"] == 2

    path = f"/api/v1/waitlist/{mine['waitlist_id']}"
    assert desk.client.delete(path, headers=colleague).status_code == 204
    gone = desk.client.get(path, headers=desk.counsellor).json()
    assert gone["state"] == "cancelled"
    assert datetime.fromisoformat(gone["closed_at"]) == clock()
    assert desk.client.get("/api/v1/waitlist", headers=desk.counsellor).json() == []
    again = desk.client.delete(path, headers=desk.counsellor)
    assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"]
    for unknown in ("0" * 32, "not-an-id", "A" * 32):
        assert desk.client.get(f"/api/v1/waitlist/{unknown}", headers=colleague).status_code == 404
        assert desk.client.delete(f"/api/v1/waitlist/{unknown}", headers=colleague).status_code == (
            404
        )


def test_only_counsellors_see_the_list_and_never_an_address(
    desk: Desk, accounts: Accounts, admin: dict[str, str], settings: Settings, clock: TestClock
) -> None:
    secret = desk.facility(
        free_units=1, free_beds=4, kind="secret_shelter", name="Canary Secret", region="Pest"
    )
    stored = desk.client.put(
        f"/api/v1/facilities/{secret}/address", json={"address": CANARY}, headers=admin
    )
    assert stored.status_code == 204, stored.text
    entry = _add(desk, risk="high")
    _tick(settings, clock())
    assert _entry(desk, entry["waitlist_id"])["place"]["facility_id"] == secret
    paths = ["/api/v1/waitlist", f"/api/v1/waitlist/{entry['waitlist_id']}"]
    for path in paths:
        shown = desk.client.get(path, headers=desk.counsellor)
        assert shown.status_code == 200
        assert CANARY.split(",")[0] not in shown.text
    others = {
        "police": accounts.headers("officer", "police"),
        "shelter_staff": desk.staff[secret],
        "auditor": accounts.headers("auditor", "auditor"),
        "admin": admin,
        "anonymous": {},
    }
    for who, headers in others.items():
        expected = 401 if who == "anonymous" else 403
        for method, path, body in [
            ("GET", paths[0], None),
            ("GET", paths[1], None),
            ("DELETE", paths[1], None),
            ("POST", paths[0], family()),
        ]:
            response = desk.client.request(method, path, json=body, headers=headers)
            assert response.status_code == expected, (who, method, path, response.text)
            assert entry["code"] not in response.text and entry["waitlist_id"] not in response.text
            assert CANARY.split(",")[0] not in response.text
    for message in _found_messages(settings):
        assert "Canary" not in str(message) and CANARY.split(",")[0] not in str(message)
    assert _entry(desk, entry["waitlist_id"])["state"] == "found"


def test_highest_risk_then_longest_wait_is_served_first(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    shelter = desk.facility(free_units=0, free_beds=0, kind="secret_shelter", region="Pest")
    centre = desk.facility(free_units=0, free_beds=0, total_units=2, total_beds=3)
    oldest = _add(desk)  # standard risk, waiting longest
    clock.advance(minutes=5)
    medium = _add(desk, risk="medium")
    clock.advance(minutes=5)
    high = _add(desk, risk="high")
    clock.advance(minutes=5)
    newer = _add(desk)
    listed = desk.client.get("/api/v1/waitlist", headers=desk.counsellor).json()
    assert [e["waitlist_id"] for e in listed] == [
        high["waitlist_id"],
        medium["waitlist_id"],
        oldest["waitlist_id"],
        newer["waitlist_id"],
    ]
    # one secret-shelter unit: the high-risk family gets it though she came later
    desk.report(shelter, 1, 3)
    # two units, three beds at the centre: a family of two takes one unit and two beds,
    # which leaves one bed: too few for the next family of two in the same run
    desk.report(centre, 2, 3)
    assert _tick(settings, clock())["found"] == 2
    place = {e: _entry(desk, e)["place"] for e in (x["waitlist_id"] for x in listed)}
    assert place[high["waitlist_id"]]["facility_id"] == shelter
    assert place[medium["waitlist_id"]]["facility_id"] == centre
    assert place[oldest["waitlist_id"]] is None and place[newer["waitlist_id"]] is None

    # a lone woman fits the bed that is left
    lone = _add(desk, family(children=()))
    clock.advance(seconds=20)
    assert _tick(settings, clock())["found"] == 1
    assert _entry(desk, lone["waitlist_id"])["place"]["facility_id"] == centre

    # while the counsellors call back, their places are not offered to the others ...
    desk.client.delete(f"/api/v1/waitlist/{lone['waitlist_id']}", headers=desk.counsellor)
    clock.advance(minutes=1)
    assert _tick(settings, clock())["found"] == 0
    # ... and once no hold came of it within the callback window, the next in line gets one:
    # the one waiting longest first (her best place is the centre, which then has one bed)
    clock.advance(seconds=CALLBACK_WINDOW.total_seconds())
    assert _tick(settings, clock())["found"] == 2
    assert _entry(desk, oldest["waitlist_id"])["place"]["facility_id"] == centre
    assert _entry(desk, newer["waitlist_id"])["place"]["facility_id"] == shelter
    assert len(_found_messages(settings)) == 5
    assert_consistent(settings.database_url, now=clock())


def test_an_entry_expires_by_the_clock_before_the_job_runs(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=0, free_beds=0)
    entry = _add(desk, hours=1)
    path = f"/api/v1/waitlist/{entry['waitlist_id']}"
    clock.advance(hours=1)
    shown = desk.client.get(path, headers=desk.counsellor).json()
    assert shown["state"] == "expired"
    assert datetime.fromisoformat(shown["closed_at"]) == datetime.fromisoformat(entry["expires_at"])
    assert desk.client.get("/api/v1/waitlist", headers=desk.counsellor).json() == []
    assert desk.client.delete(path, headers=desk.counsellor).status_code == 409
    desk.report(fid, 1, 3)  # too late: an expired entry is not served
    assert _tick(settings, clock()) == {"waiting": 0, "found": 0, "expired": 1}
    assert _rows(settings, "SELECT state FROM waitlist_entries") == [("expired",)]
    assert _found_messages(settings) == []
    assert_consistent(settings.database_url, now=clock())


def test_ended_entries_are_purged_with_closed_stays(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    desk.facility(free_units=0, free_beds=0)
    taken_off = _add(desk)
    expiring = _add(desk, hours=2)
    waiting = _add(desk, hours=168)
    desk.client.delete(f"/api/v1/waitlist/{taken_off['waitlist_id']}", headers=desk.counsellor)
    retention = timedelta(days=settings.placement_retention_days)
    engine = make_engine(settings.database_url, pool_size=1)

    def purge(at: datetime) -> set[str]:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            upkeep.retention_purge(
                session=session,
                now=at,
                identity_retention=settings.identity_retention,
                closed_retention=retention,
            )
        return {row[0] for row in _rows(settings, "SELECT id FROM waitlist_entries")}

    try:
        assert len(purge(clock() + retention - timedelta(minutes=1))) == 3
        assert purge(clock() + retention + timedelta(hours=3)) == {waiting["waitlist_id"]}, (
            "taken off and expired entries go after the retention; a waiting one stays"
        )
        assert expiring["waitlist_id"]
        assert purge(clock() + retention + timedelta(days=8)) == set()
    finally:
        engine.dispose()


def _unmet(settings: Settings, day: Any) -> int | None:
    rows = _rows(settings, "SELECT cases FROM daily_unmet WHERE day = :day", day=day)
    return rows[0][0] if rows else None


def _snapshot(settings: Settings, day: Any) -> dict[str, int]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine) as session:
            return statistics.statistics_snapshot(session=session, day=day, min_count=5)
    finally:
        engine.dispose()


def test_an_entry_counts_as_unmet_until_a_place_is_found(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=0, free_beds=0)
    day = clock().date()
    # a search that finds nothing, then the same family on the list: one case
    assert desk.match(family())["options"] == []
    helped = _add(desk)
    # a family put on the list without a search first counts too, and is never helped
    never = _add(desk, family(children=((3, "male"), (5, "female"))))
    cases = _rows(settings, "SELECT met FROM unmet_cases")
    assert sorted(bool(met) for (met,) in cases) == [False, False]
    clock.advance(days=1)
    assert _snapshot(settings, day)["unmet_cases"] == 2
    assert _unmet(settings, day) == 2

    # the next day a place comes free: the first family is helped, a day later
    desk.report(fid, 1, 2)
    assert _tick(settings, clock())["found"] == 1
    assert _entry(desk, helped["waitlist_id"])["state"] == "found"
    assert _entry(desk, never["waitlist_id"])["state"] == "waiting"
    assert sorted(bool(met) for (met,) in _rows(settings, "SELECT met FROM unmet_cases")) == [
        False,
        True,
    ]
    # the next snapshot recounts the day the case was made on: one unmet case is left
    assert _snapshot(settings, clock().date())["unmet_cases"] == 0
    assert _unmet(settings, day) == 1
    # the other one never found a place: taken off the list, it still counts as unmet
    desk.client.delete(f"/api/v1/waitlist/{never['waitlist_id']}", headers=desk.counsellor)
    clock.advance(days=1)
    _snapshot(settings, clock().date() - timedelta(days=1))
    assert _unmet(settings, day) == 1


def test_the_invariant_check_names_broken_entries(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=1, free_beds=3)
    found = _add(desk)
    waiting = _add(desk, family(adults=1, children=((2, "female"),) * 4))
    taken_off = _add(desk)
    desk.client.delete(f"/api/v1/waitlist/{taken_off['waitlist_id']}", headers=desk.counsellor)
    _tick(settings, clock())
    assert violations(settings.database_url, now=clock()) == []
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE waitlist_entries SET found_facility_id = :f WHERE id = :id"),
                {"f": fid, "id": waiting["waitlist_id"]},
            )
            connection.execute(
                sa.text("UPDATE waitlist_entries SET closed_at = NULL WHERE id = :id"),
                {"id": taken_off["waitlist_id"]},
            )
            connection.execute(sa.text("DELETE FROM outbox WHERE event = 'waitlist.place_found'"))
    finally:
        engine.dispose()
    named = {(v.check, v.subject) for v in violations(settings.database_url, now=clock())}
    assert named == {
        ("waitlist_found_place", f"waiting-list entry {waiting['waitlist_id']}"),
        ("waitlist_closed_time", f"waiting-list entry {taken_off['waitlist_id']}"),
        ("waitlist_notified_once", f"waiting-list entry {found['waitlist_id']}"),
    }
