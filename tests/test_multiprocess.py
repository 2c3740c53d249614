"""Several ``broker serve`` processes on one PostgreSQL behave as one broker.

- The last free unit, asked for by 40 requests released at once and split between two
  processes, is held exactly once: every other request gets 409, none a 5xx.
- A capacity report or a hold written through one process is seen at once by the other:
  its in-memory facility cache, warm from an earlier match, follows the registry revision
  in the database, and holds are read fresh.
- With the scheduler on in both processes, each job tick runs once: the (job, slot) row in
  ``job_runs`` elects one runner, and PostgreSQL's count of attempted inserts into that
  table shows that both processes tried every tick.

Every test ends with the stored invariants checked (``assert_consistent``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import broker.jobs as jobs
from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.services.accounts import user_create
from broker.settings import Settings, load_settings
from tests.conftest import PASSWORD, POSTGRES_SERVER_URL, _truncate_postgres, facility_body
from tests.integrity_support import assert_consistent
from tests.placement_support import family
from tests.server_support import BrokerServer
from tests.test_jobs import _rows

pytestmark = pytest.mark.postgres

Headers = dict[str, str]
RecordProperty = Callable[[str, object], None]

RACERS = 40
COUNSELLORS = 2
REQUEST_TIMEOUT = 60.0


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def database(postgres_database: str) -> str:
    _truncate_postgres(postgres_database)
    return postgres_database


@pytest.fixture
def own_database() -> Iterator[str]:
    """A database no other test has touched: PostgreSQL's per-table insert counters then
    count this test's schedulers alone (a connection of an earlier test may report its
    counts seconds after that test ended)."""
    server = make_engine(POSTGRES_SERVER_URL, pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    name = f"broker_sched_{uuid.uuid4().hex[:10]}"
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = (
        sa.engine.make_url(POSTGRES_SERVER_URL)
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.engine.dispose()


def start_together(servers: Sequence[BrokerServer]) -> None:
    """Start the processes side by side: their start-up times overlap, and schedulers
    started together claim their first ticks at the same moment."""
    with ThreadPoolExecutor(len(servers)) as pool:
        for started in [pool.submit(server.start) for server in servers]:
            started.result()


@pytest.fixture
def pair(database: str, tmp_path: Path) -> Iterator[tuple[BrokerServer, BrokerServer]]:
    """Two API processes without the scheduler, as behind a load balancer."""
    servers = (
        BrokerServer(database, tmp_path / "a.log"),
        BrokerServer(database, tmp_path / "b.log"),
    )
    try:
        start_together(servers)
        yield servers
    finally:
        for server in servers:
            server.stop()


def problems(*servers: BrokerServer) -> list[str]:
    """Log lines other than routine information, from every server."""
    return [line for server in servers for line in server.problems()]


class Office:
    """Accounts made the way ``broker users create`` makes them (there is no HTTP endpoint
    for it), signed in and then working over HTTP through one of the processes."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        # what the process itself reads, so accounts are made with its keys
        self.settings = load_settings(server.env)
        self._passwords = Passwords()

    def account(self, username: str, role: str, facilities: Sequence[int] = ()) -> Headers:
        engine = make_engine(self.settings.database_url, pool_size=1)
        try:
            with unit_of_work(engine, audit_key=self.settings.audit_key_bytes) as session:
                user_create(
                    session=session,
                    passwords=self._passwords,
                    username=username,
                    role=role,
                    password=PASSWORD,
                    facility_ids=list(facilities),
                    now=datetime.now(UTC),
                )
        finally:
            engine.dispose()
        response = httpx.post(
            f"{self.server.base}/api/v1/auth/token",
            json={"username": username, "password": PASSWORD},
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def facility(self, admin: Headers, **fields: Any) -> int:
        response = httpx.post(
            f"{self.server.base}/api/v1/facilities",
            json=facility_body(**fields),
            headers=admin,
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def report(http: httpx.Client, staff: Headers, fid: int, units: int, beds: int) -> None:
    response = http.put(
        f"/api/v1/facilities/{fid}/capacity",
        json={"free_units": units, "free_beds": beds},
        headers=staff,
    )
    assert response.status_code == 200, response.text


def matched(http: httpx.Client, counsellor: Headers, fid: int) -> tuple[bool, dict[str, int]]:
    """Whether the facility is among the options, and the exclusion counts."""
    response = http.post("/api/v1/matches", json=family(), headers=counsellor)
    assert response.status_code == 200, response.text
    body = response.json()
    listed = any(option["facility_id"] == fid for option in body["options"])
    return listed, body["excluded"]


def free(http: httpx.Client, reader: Headers, fid: int) -> tuple[int, int, int]:
    """Free units, free beds and held units as the registry shows them."""
    response = http.get(f"/api/v1/facilities/{fid}", headers=reader)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["free_units"], body["free_beds"], body["held_units"]


# --- the last unit --------------------------------------------------------------------------


def test_last_unit_raced_through_two_processes_is_held_once(
    pair: tuple[BrokerServer, BrokerServer], database: str, record_property: RecordProperty
) -> None:
    a, b = pair
    office = Office(a)
    admin = office.account("admin", "admin")
    fid = office.facility(admin, total_units=3, total_beds=9)
    staff = office.account(f"staff-{fid}", "shelter_staff", [fid])
    with httpx.Client(base_url=a.base, timeout=REQUEST_TIMEOUT) as via_a:
        report(via_a, staff, fid, 1, 4)
    counsellors = [office.account(f"racer-{i}", "counsellor") for i in range(COUNSELLORS)]

    barrier = threading.Barrier(RACERS, timeout=60)
    outcomes: list[tuple[int, str, str]] = []  # status, server, body
    lock = threading.Lock()

    def attempt(index: int) -> None:
        # each counsellor sends through both processes
        server = pair[index % 2]
        counsellor = counsellors[index // 2 % COUNSELLORS]
        with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT) as http:
            barrier.wait()
            try:
                response = http.post(
                    "/api/v1/holds", json={**family(), "facility_id": fid}, headers=counsellor
                )
                outcome = (response.status_code, server.base, response.text)
            except httpx.HTTPError as exc:
                outcome = (0, server.base, repr(exc))  # 0: no answer at all
        with lock:
            outcomes.append(outcome)

    began = time.monotonic()
    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    deadline = began + 120
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - began
    assert not any(thread.is_alive() for thread in threads), "a request never came back"

    counts = Counter(status for status, _, _ in outcomes)
    failures = [(status, body) for status, _, body in outcomes if status not in (201, 409)]
    problems_seen = problems(a, b)
    assert counts == {201: 1, 409: RACERS - 1}, (counts, failures[:3], problems_seen[:40])
    # both processes took part in the race, not one process queueing for the other
    assert {server for _, server, _ in outcomes} == {a.base, b.base}
    winner = next(server for status, server, _ in outcomes if status == 201)
    record_property("statuses", dict(counts))
    record_property("winner", "A" if winner == a.base else "B")
    record_property("race_seconds", round(elapsed, 2))

    # both processes agree the unit is gone, and say so with the one hold
    for server in pair:
        with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT) as http:
            assert free(http, admin, fid) == (0, 0, 1)
    open_holds = _rows(
        Settings(database_url=database),
        "SELECT COUNT(*) FROM holds WHERE facility_id = :fid AND state = 'open'",
        fid=fid,
    )
    assert open_holds == [(1,)]
    assert not problems_seen, problems_seen[:40]
    assert_consistent(database)


# --- the per-process facility cache ---------------------------------------------------------


def test_a_change_through_one_process_is_seen_at_once_through_the_other(
    pair: tuple[BrokerServer, BrokerServer], database: str
) -> None:
    a, b = pair
    office = Office(a)
    admin = office.account("admin", "admin")
    fid = office.facility(admin, total_units=3, total_beds=9)
    staff = office.account(f"staff-{fid}", "shelter_staff", [fid])
    counsellor = office.account("counsellor", "counsellor")
    full = {"no_free_unit": 1}  # the only facility, and it is full

    with (
        httpx.Client(base_url=a.base, timeout=REQUEST_TIMEOUT) as via_a,
        httpx.Client(base_url=b.base, timeout=REQUEST_TIMEOUT) as via_b,
    ):
        # Capacity reports through A, read through B. Before each change B answers a match,
        # so its cache holds the previous numbers and must notice the change by itself.
        shown: tuple[int, int] = (0, 0)  # nothing reported yet
        for units, beds in [(2, 6), (0, 0), (1, 3), (0, 0), (3, 9), (0, 0), (2, 4)]:
            listed, excluded = matched(via_b, counsellor, fid)
            assert listed == (shown[0] > 0), (shown, excluded)
            report(via_a, staff, fid, units, beds)
            listed, excluded = matched(via_b, counsellor, fid)
            assert listed == (units > 0), ("B's match missed the report", units, excluded)
            assert excluded == ({} if units else full), (units, excluded)
            assert free(via_b, counsellor, fid) == (units, beds, 0)
            shown = (units, beds)

        # Holds through A on the one free unit, read through B: gone at once, back at once.
        report(via_a, staff, fid, 1, 3)
        for _ in range(3):
            assert matched(via_b, counsellor, fid) == (True, {})
            made = via_a.post(
                "/api/v1/holds", json={**family(), "facility_id": fid}, headers=counsellor
            )
            assert made.status_code == 201, made.text
            assert free(via_b, counsellor, fid) == (0, 0, 1)
            assert matched(via_b, counsellor, fid) == (False, full)
            released = via_a.delete(f"/api/v1/holds/{made.json()['hold_id']}", headers=counsellor)
            assert released.status_code == 204, released.text
            assert free(via_b, counsellor, fid) == (1, 3, 0)
            assert matched(via_b, counsellor, fid) == (True, {})

    problems_seen = problems(a, b)
    assert not problems_seen, problems_seen[:40]
    assert_consistent(database)


# --- the scheduler in both processes --------------------------------------------------------


def ticks_between(spec: jobs.JobSpec, since: float, until: float) -> int:
    """At most how many ticks of the job one scheduler fires in [since, until] (epoch
    seconds): an interval job at its start and every interval after it, a daily job at
    each of its times that falls inside."""
    if spec.every_seconds is not None:
        return 1 + int((until - since) // spec.every_seconds)
    assert spec.daily_at is not None
    hour, minute = spec.daily_at
    day = datetime.fromtimestamp(since, UTC).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    count = 0
    for offset in range(int((until - since) // 86400) + 2):
        at = (day + timedelta(days=offset)).timestamp()
        count += since <= at <= until
    return count


def slots_between(spec: jobs.JobSpec, since: float, until: float) -> int:
    """How many slots of an interval job [since, until] touches: the most runs it may have."""
    assert spec.every_seconds is not None
    return int(until // spec.every_seconds) - int(since // spec.every_seconds) + 1


def wait_until(condition: Callable[[], bool], *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def attempted_claims(settings: Settings) -> int:
    """Inserts into job_runs ever attempted, those refused by the unique (job, slot)
    constraint included: PostgreSQL counts an insert whether or not its transaction commits.
    A backend reports its counts when it exits at the latest."""
    rows = _rows(settings, "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'job_runs'")
    return int(rows[0][0])


def test_two_serve_processes_with_schedulers_run_each_tick_once(
    own_database: str, tmp_path: Path, record_property: RecordProperty
) -> None:
    database = own_database
    settings = Settings(database_url=database)
    intervals = {
        job: spec.every_seconds for job, spec in jobs.JOBS.items() if spec.every_seconds is not None
    }
    interval_jobs = set(intervals)
    shortest = min(intervals.values())
    # Interval jobs tick at each scheduler's start, so two processes started together
    # contend for the same first slots within seconds, no need to wait a whole interval.
    # Starting clear of a slot boundary normally keeps that window in one slot of every
    # interval job (their intervals are multiples of the shortest): each may run only once.
    margin = 8.0
    to_boundary = shortest - time.time() % shortest
    if to_boundary < margin:
        time.sleep(to_boundary + 0.2)

    fewest = 2 * len(interval_jobs)  # each process tries each interval job at its start
    claims_before = attempted_claims(settings)
    servers = [
        BrokerServer(database, tmp_path / f"scheduler-{i}.log", scheduler=True) for i in range(2)
    ]
    started = time.time()
    try:
        start_together(servers)

        def first_runs_finished() -> bool:
            finished = _rows(settings, "SELECT job_id FROM job_runs WHERE outcome <> 'running'")
            return {job for (job,) in finished} >= interval_jobs

        assert wait_until(first_runs_finished, seconds=15), [s.log() for s in servers]
        # each scheduler starts, its first ticks due at once, before its server answers;
        # this second is for the slower one's claims to be made (and refused)
        time.sleep(1)
        for server in servers:
            assert server.process is not None and server.process.poll() is None, server.log()
            assert httpx.get(f"{server.base}/health", timeout=5).status_code == 200
    finally:
        for server in servers:
            server.stop()
    ended = time.time()

    runs = _rows(settings, "SELECT job_id, slot, runner, outcome FROM job_runs")
    per_job = Counter(job for job, *_ in runs)
    per_slot = Counter((job, slot) for job, slot, *_ in runs)
    assert max(per_slot.values(), default=0) == 1, runs
    assert set(per_job) >= interval_jobs, (runs, [s.log() for s in servers])
    assert {outcome for *_, outcome in runs} == {"ok"}, runs
    # the runner is "host:pid"; the pid of each server is the Popen's (python -m broker.cli)
    pids = {str(server.process.pid) for server in servers if server.process is not None}
    assert {runner.rsplit(":", 1)[1] for *_, runner, _ in runs} <= pids, (runs, pids)
    for job, spec in jobs.JOBS.items():
        if spec.every_seconds is not None:
            # two processes claiming a slot each would leave twice as many
            assert per_job[job] <= slots_between(spec, started, ended), (job, runs)
        else:
            assert per_job[job] <= ticks_between(spec, started, ended), (job, runs)

    # Each process tried every tick it fired: one insert per tick and process, the losers'
    # refused by the constraint. A backend reports its counts when it ends, at the latest:
    # the processes have gone, so their connections are ending now.
    most = 2 * sum(ticks_between(spec, started, ended) for spec in jobs.JOBS.values())
    wait_until(lambda: attempted_claims(settings) - claims_before >= fewest, seconds=10)
    claims = attempted_claims(settings) - claims_before
    assert fewest <= claims <= most, (claims, fewest, most, runs)

    problems_seen = problems(*servers)
    assert not problems_seen, problems_seen[:40]
    record_property("job_runs", dict(per_job))
    record_property("claims_attempted", claims)
    record_property("runners", dict(Counter(runner for *_, runner, _ in runs)))
    record_property("window_seconds", round(ended - started, 1))
    assert_consistent(database)
