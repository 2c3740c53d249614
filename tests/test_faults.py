"""Faults under load, against real ``broker serve`` processes.

A. The server is killed (SIGKILL) while holds, confirmations, departures, transfers and
   capacity reports are in flight, on SQLite and on PostgreSQL. Every write that was
   answered 2xx before the kill is still in the database afterwards, ``broker db check``
   finds the database consistent, and a new server on the same database serves at once.
B. A private PostgreSQL cluster is stopped and started again under a steady load. While it
   is down the broker answers 503 ``database_busy``, never 500 and never a hang; once it is
   back the broker serves again by itself, without being restarted.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.db.models import CapacityReport, Hold, Placement
from broker.services.accounts import user_create
from broker.settings import load_settings
from tests.conftest import facility_body
from tests.pg_cluster_support import PrivateCluster, unavailable_reason
from tests.server_support import BrokerServer

PASSWORD = "correct-horse-battery"
FAMILY: dict[str, Any] = {
    "family": {
        "adults": [{"age": 31, "sex": "female"}],
        "children": [{"age": 6, "sex": "female"}],
    }
}
TOTAL_UNITS, TOTAL_BEDS = 200, 600
REQUEST_TIMEOUT = 10.0


# --- shared helpers -------------------------------------------------------------------------


def create_accounts(database_url: str, accounts: list[tuple[str, str, list[int]]]) -> None:
    """Accounts have no HTTP endpoint; they are made the way ``broker users create`` makes
    them, with the settings the server itself reads from the environment."""
    settings = load_settings({**os.environ, "BROKER_DATABASE_URL": database_url})
    engine = make_engine(database_url, pool_size=1)
    passwords = Passwords()
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            for username, role, facility_ids in accounts:
                user_create(
                    session=session,
                    passwords=passwords,
                    username=username,
                    role=role,
                    password=PASSWORD,
                    facility_ids=facility_ids,
                    now=datetime.now(UTC),
                )
    finally:
        engine.dispose()


def sign_in(base: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": username, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_facility(base: str, admin: dict[str, str], **fields: Any) -> int:
    body = facility_body(total_units=TOTAL_UNITS, total_beds=TOTAL_BEDS, **fields)
    response = httpx.post(
        f"{base}/api/v1/facilities", json=body, headers=admin, timeout=REQUEST_TIMEOUT
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def report_capacity(base: str, staff: dict[str, str], facility_id: int, units: int) -> None:
    response = httpx.put(
        f"{base}/api/v1/facilities/{facility_id}/capacity",
        json={"free_units": units, "free_beds": 3 * units},
        headers=staff,
        timeout=REQUEST_TIMEOUT,
    )
    assert response.status_code == 200, response.text


def db_check(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", "db", "check"],
        env={**os.environ, "BROKER_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def server_errors(server: BrokerServer) -> list[str]:
    """The server log's unexpected-error lines: route and exception type, never values."""
    return [line for line in server.log().splitlines() if "unexpected" in line]


# --- A. SIGKILL under load ------------------------------------------------------------------

KILL_AFTER_SECONDS = 2.5
WORKERS = 5
MAX_REQUESTS_PER_WORKER = 2_000


@dataclass(frozen=True, slots=True)
class OpenHold:
    hold_id: str
    facility_id: int
    transfer_from: str | None


@dataclass(frozen=True, slots=True)
class Stay:
    placement_id: str
    facility_id: int


@dataclass
class Ledger:
    """What the load has to work with, and every write the server acknowledged with a 2xx.

    An item is taken out of its pool while a request about it is in flight, so two workers
    never race for the same hold or stay; an item whose request got no answer is not put
    back, because whether that request landed is unknown."""

    crisis: list[int]
    homes: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_holds: list[OpenHold] = field(default_factory=list)
    active: list[Stay] = field(default_factory=list)
    holds: dict[str, OpenHold] = field(default_factory=dict)
    confirmed: dict[str, str] = field(default_factory=dict)
    transferred: dict[str, str] = field(default_factory=dict)
    departed: set[str] = field(default_factory=set)
    reports: set[tuple[int, int, int, datetime]] = field(default_factory=set)
    answered: Counter[tuple[str, int]] = field(default_factory=Counter)
    in_flight_at_kill: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Call:
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    on_success: Callable[[dict[str, Any]], None]


class KillLoad:
    """Workers sending a mixed load of writes until told to stop."""

    def __init__(
        self,
        server: BrokerServer,
        ledger: Ledger,
        counsellors: list[dict[str, str]],
        staff: dict[int, dict[str, str]],
    ) -> None:
        self.server, self.ledger = server, ledger
        self.counsellors, self.staff = counsellors, staff
        self.stop = threading.Event()
        self.killed_at: float | None = None
        self.failures: list[str] = []

    def _next_call(self, rng: random.Random, worker: int) -> Call:
        ledger = self.ledger
        with ledger.lock:
            crisis_stays = [s for s in ledger.active if s.facility_id in ledger.crisis]
            choices = [("hold", 3), ("capacity", 1)]
            choices += [("confirm", 4)] if ledger.open_holds else []
            choices += [("depart", 1)] if ledger.active else []
            choices += [("transfer", 2)] if crisis_stays else []
            kind = rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
            if kind == "confirm":
                hold = ledger.open_holds.pop(rng.randrange(len(ledger.open_holds)))
                return self._confirm(hold)
            if kind == "depart":
                stay = ledger.active.pop(rng.randrange(len(ledger.active)))
                return self._depart(stay)
            if kind == "transfer":
                stay = rng.choice(crisis_stays)
                ledger.active.remove(stay)
                return self._transfer(stay, rng.choice(ledger.homes))
        if kind == "hold":
            facility_id = rng.choice(ledger.crisis + ledger.homes)
            return self._hold(facility_id, self.counsellors[worker % len(self.counsellors)])
        # a report must leave room for the families staying there; 80 free of 200 leaves room
        # for many more stays than the load can make
        return self._capacity(rng.choice(ledger.crisis + ledger.homes), rng.randint(40, 80))

    def _hold(self, facility_id: int, counsellor: dict[str, str]) -> Call:
        def done(body: dict[str, Any]) -> None:
            hold = OpenHold(body["hold_id"], facility_id, None)
            self.ledger.holds[hold.hold_id] = hold
            self.ledger.open_holds.append(hold)

        body = {**FAMILY, "facility_id": facility_id}
        return Call("hold", "POST", "/api/v1/holds", counsellor, body, done)

    def _confirm(self, hold: OpenHold) -> Call:
        def done(body: dict[str, Any]) -> None:
            placement_id = body["placement_id"]
            self.ledger.confirmed[hold.hold_id] = placement_id
            self.ledger.active.append(Stay(placement_id, hold.facility_id))
            if hold.transfer_from is not None:
                self.ledger.transferred[hold.transfer_from] = placement_id

        path = f"/api/v1/holds/{hold.hold_id}/confirm"
        return Call("confirm", "POST", path, self.staff[hold.facility_id], {}, done)

    def _depart(self, stay: Stay) -> Call:
        def done(_body: dict[str, Any]) -> None:
            self.ledger.departed.add(stay.placement_id)

        path = f"/api/v1/placements/{stay.placement_id}/depart"
        headers = self.staff[stay.facility_id]
        return Call("depart", "POST", path, headers, {"reason": "other"}, done)

    def _transfer(self, stay: Stay, target: int) -> Call:
        def done(body: dict[str, Any]) -> None:
            hold = OpenHold(body["hold_id"], target, stay.placement_id)
            self.ledger.holds[hold.hold_id] = hold
            self.ledger.open_holds.append(hold)

        path = f"/api/v1/placements/{stay.placement_id}/transfer"
        headers = self.staff[stay.facility_id]
        return Call("transfer", "POST", path, headers, {"facility_id": target}, done)

    def _capacity(self, facility_id: int, units: int) -> Call:
        def done(body: dict[str, Any]) -> None:
            reported_at = datetime.fromisoformat(body["reported_at"])
            self.ledger.reports.add((facility_id, units, 3 * units, reported_at))

        path = f"/api/v1/facilities/{facility_id}/capacity"
        body = {"free_units": units, "free_beds": 3 * units}
        return Call("capacity", "PUT", path, self.staff[facility_id], body, done)

    def work(self, worker: int) -> None:
        rng = random.Random(worker)
        with httpx.Client(base_url=self.server.base, timeout=REQUEST_TIMEOUT) as http:
            for _ in range(MAX_REQUESTS_PER_WORKER):
                if self.stop.is_set():
                    return
                call = self._next_call(rng, worker)
                sent = time.monotonic()
                try:
                    response = http.request(
                        call.method, call.path, headers=call.headers, json=call.body
                    )
                except httpx.TransportError as exc:
                    killed_at = self.killed_at
                    if killed_at is not None and sent < killed_at:
                        with self.ledger.lock:
                            self.ledger.in_flight_at_kill[call.kind] += 1
                    if killed_at is None:
                        self.failures.append(
                            f"{call.kind} {call.path}: no answer before the kill: {exc!r}"
                        )
                    return
                with self.ledger.lock:
                    self.ledger.answered[call.kind, response.status_code] += 1
                    if response.is_success:
                        call.on_success(response.json())
                    elif response.status_code >= 500:
                        self.failures.append(
                            f"{call.kind} {call.path}: {response.status_code} {response.text}"
                        )

    def run_then_kill(self) -> None:
        workers = [
            threading.Thread(target=self.work, args=(n,), daemon=True) for n in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        time.sleep(KILL_AFTER_SECONDS)
        self.killed_at = time.monotonic()
        self.server.kill()
        self.stop.set()
        for worker in workers:
            worker.join(timeout=REQUEST_TIMEOUT + 5)
        assert not any(worker.is_alive() for worker in workers), "a worker did not finish"


def _assert_acknowledged_writes_kept(database_url: str, ledger: Ledger) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session:
            holds = {h.id: h for h in session.exec(select(Hold)).all()}
            placements = {p.id: p for p in session.exec(select(Placement)).all()}
            reports = {
                (r.facility_id, r.free_units, r.free_beds, r.reported_at)
                for r in session.exec(select(CapacityReport)).all()
            }
    finally:
        engine.dispose()

    lost_holds = [
        hold_id
        for hold_id, ack in ledger.holds.items()
        if hold_id not in holds
        or holds[hold_id].facility_id != ack.facility_id
        or holds[hold_id].transfer_from_placement_id != ack.transfer_from
    ]
    assert not lost_holds, f"acknowledged holds missing or changed: {lost_holds}"

    lost_confirms = [
        hold_id
        for hold_id, placement_id in ledger.confirmed.items()
        if holds[hold_id].state != "confirmed"
        or placement_id not in placements
        or placements[placement_id].hold_id != hold_id
    ]
    assert not lost_confirms, f"acknowledged confirmations missing: {lost_confirms}"

    lost_departures = [p for p in ledger.departed if placements[p].state != "departed"]
    assert not lost_departures, f"acknowledged departures not recorded: {lost_departures}"

    lost_transfers = [
        source
        for source, arrival in ledger.transferred.items()
        if placements[source].state != "transferred"
        or placements[arrival].previous_placement_id != source
    ]
    assert not lost_transfers, f"acknowledged transfers not recorded: {lost_transfers}"

    lost_reports = ledger.reports - reports
    assert not lost_reports, f"acknowledged capacity reports missing: {sorted(lost_reports)}"


def test_sigkill_under_load_keeps_every_acknowledged_write(
    database_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    create_accounts(database_url, [("admin", "admin", [])])
    server = BrokerServer(database_url, tmp_path / "server.log").start()
    try:
        admin = sign_in(server.base, "admin")
        # crisis centre -> temporary home for mothers goes up a tier: allowed for any operator
        crisis = [
            create_facility(server.base, admin, name=f"Crisis {n}", kind="crisis_centre")
            for n in range(2)
        ]
        homes = [
            create_facility(
                server.base,
                admin,
                name=f"Home {n}",
                kind="temporary_home_mothers",
                operator="Other Operator",
            )
            for n in range(2)
        ]
        create_accounts(
            database_url,
            [("counsellor-1", "counsellor", []), ("counsellor-2", "counsellor", [])]
            + [(f"staff-{fid}", "shelter_staff", [fid]) for fid in crisis + homes],
        )
        counsellors = [sign_in(server.base, f"counsellor-{n}") for n in (1, 2)]
        staff = {fid: sign_in(server.base, f"staff-{fid}") for fid in crisis + homes}
        for fid in crisis + homes:
            report_capacity(server.base, staff[fid], fid, 100)

        ledger = Ledger(crisis=crisis, homes=homes)
        load = KillLoad(server, ledger, counsellors, staff)
        load.run_then_kill()
    finally:
        server.kill()

    assert not load.failures, "\n".join(load.failures + server_errors(server))
    written = {
        "hold": len([h for h in ledger.holds.values() if h.transfer_from is None]),
        "confirm": len(ledger.confirmed),
        "transfer": len([h for h in ledger.holds.values() if h.transfer_from is not None]),
        "transfer confirmed": len(ledger.transferred),
        "depart": len(ledger.departed),
        "capacity": len(ledger.reports),
    }
    print(
        f"\n[kill/{database_url.split(':')[0]}] answered {sum(ledger.answered.values())}: "
        f"{dict(ledger.answered)}; acknowledged writes {written}; "
        f"in flight at the kill {dict(ledger.in_flight_at_kill)}"
    )
    # the load must really have done each kind of write, and the kill must have hit some
    assert all(written.values()), f"a kind of write never succeeded: {written}"
    assert sum(ledger.in_flight_at_kill.values()) >= 1, "no request was in flight at the kill"

    check = db_check(database_url)
    assert check.returncode == 0, f"broker db check: {check.stdout}{check.stderr}"

    _assert_acknowledged_writes_kept(database_url, ledger)

    with BrokerServer(database_url, tmp_path / "server-after.log") as again:
        assert httpx.get(f"{again.base}/health", timeout=REQUEST_TIMEOUT).status_code == 200
        # the tokens issued before the kill are still valid: sessions live in the database
        hold = httpx.post(
            f"{again.base}/api/v1/holds",
            json={**FAMILY, "facility_id": crisis[0]},
            headers=counsellors[0],
            timeout=REQUEST_TIMEOUT,
        )
        assert hold.status_code == 201, hold.text
        confirm = httpx.post(
            f"{again.base}/api/v1/holds/{hold.json()['hold_id']}/confirm",
            headers=staff[crisis[0]],
            timeout=REQUEST_TIMEOUT,
        )
        assert confirm.status_code == 200, confirm.text
        assert not server_errors(again), again.log()
    print(f"[kill/{database_url.split(':')[0]}] {time.monotonic() - started:.1f} s in all")


# --- B. PostgreSQL restarted under load -----------------------------------------------------

WARM_SECONDS = 2.0
DOWN_SECONDS = 4.0
RECOVERY_BOUND_SECONDS = 15.0
QUIET_SECONDS = 1.5
LOAD_WORKERS = 4
MAX_REQUESTS_PER_LOAD_WORKER = 3_000
PACE_SECONDS = 0.02
STEADY_KINDS = ("match", "hold", "list", "capacity")


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    route: str
    sent: float
    done: float
    status: int | None  # None: no answer at all (dropped connection or timeout)
    body: Any
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        answer = self.error if self.status is None else f"{self.status} {self.body}"
        return f"{self.kind} {self.route}: {answer}"


class SteadyLoad:
    """Workers repeating match, hold (then release), facility list and capacity report."""

    def __init__(
        self,
        base: str,
        counsellor: dict[str, str],
        staff: dict[int, dict[str, str]],
    ) -> None:
        self.base, self.counsellor, self.staff = base, counsellor, staff
        self.facilities = sorted(staff)
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(LOAD_WORKERS)
        ]

    def _send(
        self,
        http: httpx.Client,
        kind: str,
        method: str,
        path: str,
        route: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> Outcome:
        sent = time.monotonic()
        try:
            response = http.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            outcome = Outcome(kind, route, sent, time.monotonic(), None, None, repr(exc))
        else:
            answer: Any = None
            if response.is_success:
                answer = response.json() if kind == "hold" else None
            elif response.headers.get("content-type", "").startswith("application/json"):
                answer = response.json()
            else:
                answer = response.text[:200]
            outcome = Outcome(
                kind, route, sent, time.monotonic(), response.status_code, answer, None
            )
        with self.lock:
            self.outcomes.append(outcome)
        return outcome

    def _request(
        self, kind: str, rng: random.Random
    ) -> tuple[str, str, str, dict[str, str], dict[str, Any] | None]:
        """Method, path, route (the path without ids), headers and body for one request."""
        facility_id = rng.choice(self.facilities)
        if kind == "match":
            return "POST", "/api/v1/matches", "POST /api/v1/matches", self.counsellor, FAMILY
        if kind == "list":
            return "GET", "/api/v1/facilities", "GET /api/v1/facilities", self.counsellor, None
        if kind == "capacity":
            units = rng.randint(40, 80)
            return (
                "PUT",
                f"/api/v1/facilities/{facility_id}/capacity",
                "PUT /api/v1/facilities/{id}/capacity",
                self.staff[facility_id],
                {"free_units": units, "free_beds": 3 * units},
            )
        body = {**FAMILY, "facility_id": facility_id}
        return "POST", "/api/v1/holds", "POST /api/v1/holds", self.counsellor, body

    def _work(self, worker: int) -> None:
        rng = random.Random(100 + worker)
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT) as http:
            for n in range(MAX_REQUESTS_PER_LOAD_WORKER):
                if self.stop.is_set():
                    return
                kind = STEADY_KINDS[(n + worker) % len(STEADY_KINDS)]
                outcome = self._send(http, kind, *self._request(kind, rng))
                # a hold is released again, so that the load never runs out of places
                if kind == "hold" and outcome.ok:
                    path = f"/api/v1/holds/{outcome.body['hold_id']}"
                    route = "DELETE /api/v1/holds/{id}"
                    self._send(http, "release", "DELETE", path, route, self.counsellor)
                time.sleep(PACE_SECONDS)

    def snapshot(self) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a worker hung"


def recovered_at(outcomes: list[Outcome], up_at: float) -> float:
    """From when on every request was answered 2xx, once the database was back."""
    return max([up_at] + [o.done for o in outcomes if not o.ok and o.done >= up_at])


def served_every_kind_since(outcomes: list[Outcome], since: float) -> bool:
    return all(
        any(o.ok and o.kind == k and o.sent >= since for o in outcomes) for k in STEADY_KINDS
    )


def is_database_busy(body: Any) -> bool:
    """The JSON error shape every API error has, with the code for a database outage."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return False
    error = body["error"]
    return (
        set(error) == {"status", "code", "message", "details"}
        and error["status"] == 503
        and error["code"] == "database_busy"
        and isinstance(error["message"], str)
        and error["details"] == []
    )


@pytest.fixture
def private_postgres() -> Iterator[tuple[PrivateCluster, str]]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"a private PostgreSQL cluster cannot be started here: {reason}")
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        url = cluster.create_database("broker")
        upgrade(url)
        yield cluster, url
    finally:
        cluster.destroy()


@pytest.mark.postgres
# fast: the server ends every session with an error first; immediate: it crashes outright
@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
def test_postgres_restart_under_load_answers_503_then_recovers_by_itself(
    private_postgres: tuple[PrivateCluster, str], tmp_path: Path, stop_mode: str
) -> None:
    started = time.monotonic()
    cluster, url = private_postgres
    create_accounts(url, [("admin", "admin", []), ("counsellor", "counsellor", [])])
    server = BrokerServer(url, tmp_path / "server.log").start()
    assert server.process is not None
    pid = server.process.pid
    try:
        admin = sign_in(server.base, "admin")
        facilities = [
            create_facility(server.base, admin, name=f"Crisis {n}", kind="crisis_centre")
            for n in range(3)
        ]
        create_accounts(url, [(f"staff-{fid}", "shelter_staff", [fid]) for fid in facilities])
        counsellor = sign_in(server.base, "counsellor")
        staff = {fid: sign_in(server.base, f"staff-{fid}") for fid in facilities}
        for fid in facilities:
            report_capacity(server.base, staff[fid], fid, 100)

        load = SteadyLoad(server.base, counsellor, staff)
        load.start()
        try:
            time.sleep(WARM_SECONDS)
            stopping_at = time.monotonic()
            cluster.stop(stop_mode)
            down_at = time.monotonic()
            time.sleep(DOWN_SECONDS)
            starting_at = time.monotonic()
            cluster.start()
            up_at = time.monotonic()
            # run on until every kind has been served after a quiet stretch without failures
            deadline = up_at + RECOVERY_BOUND_SECONDS + QUIET_SECONDS
            while time.monotonic() < deadline:
                seen = load.snapshot()
                since = recovered_at(seen, up_at)
                if time.monotonic() - since >= QUIET_SECONDS and served_every_kind_since(
                    seen, since
                ):
                    break
                time.sleep(0.1)
        finally:
            load.finish()
        # the same process, never restarted, serves its health check again
        assert server.process.poll() is None and server.process.pid == pid
        health = httpx.get(f"{server.base}/health", timeout=REQUEST_TIMEOUT)
    finally:
        server.stop()

    outcomes = load.snapshot()
    statuses = Counter((o.kind, o.status) for o in outcomes)
    answered_503 = [o for o in outcomes if o.status == 503]
    while_down = [o for o in answered_503 if o.sent >= down_at and o.done <= starting_at]
    recovery = recovered_at(outcomes, up_at) - up_at
    first_served = min((o.done for o in outcomes if o.ok and o.sent >= up_at), default=up_at)
    print(
        f"\n[pg restart, {stop_mode}] {len(outcomes)} requests: "
        f"{dict(sorted(statuses.items(), key=str))}; 2xx {sum(o.ok for o in outcomes)}, "
        f"503 {len(answered_503)} ({len(while_down)} while down); stop took "
        f"{down_at - stopping_at:.1f} s, down {starting_at - down_at:.1f} s, start took "
        f"{up_at - starting_at:.1f} s; once back: first 2xx after {first_served - up_at:.2f} s, "
        f"every request 2xx after {recovery:.2f} s; {time.monotonic() - started:.1f} s in all"
    )

    # a 500, any other 5xx, a refusal or a dropped connection: none may happen, down or up
    wrong = [o for o in outcomes if not (o.ok or o.status == 503)]
    assert not wrong, "\n".join(
        [f"{len(wrong)} requests answered wrongly, e.g.:"]
        + [o.describe() for o in wrong[:10]]
        + ["server log:"]
        + server_errors(server)[:10]
    )
    assert while_down, "no request was answered 503 while the database was down"
    misshapen = [o for o in answered_503 if not is_database_busy(o.body)]
    assert not misshapen, [o.describe() for o in misshapen[:5]]

    assert recovery <= RECOVERY_BOUND_SECONDS, f"still failing {recovery:.1f} s after the restart"
    assert served_every_kind_since(outcomes, up_at + recovery), statuses
    assert health.status_code == 200, health.text

    check = db_check(url)
    assert check.returncode == 0, f"broker db check: {check.stdout}{check.stderr}"
