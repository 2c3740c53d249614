"""Scheduled jobs at chosen times against a database prepared through the API, on SQLite and
PostgreSQL: hold expiry, stale-capacity reminders, stay-limit alerts, transfer proposals,
retention, and one runner per tick when several schedulers share the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

import broker.jobs as jobs
from broker.db.engine import make_engine
from broker.services.context import ServiceContext
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.job_support import runner_at
from tests.placement_support import Desk


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _rows(settings: Settings, query: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.text(query), params)]
    engine.dispose()
    return rows


def _messages(settings: Settings, event: str) -> list[tuple[Any, ...]]:
    return _rows(
        settings,
        "SELECT audience, facility_id, payload FROM outbox WHERE event = :event ORDER BY id",
        event=event,
    )


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKER_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_jobs_list_names_every_job(settings: Settings) -> None:
    result = _cli(settings, "jobs", "list")
    assert result.returncode == 0, result.stderr
    for job_id in jobs.JOBS:
        assert job_id in result.stdout
    assert "never" in result.stdout
    unknown = _cli(settings, "jobs", "run", "no_such_job")
    assert unknown.returncode == 2 and "broker jobs list" in unknown.stderr
    bad_time = _cli(settings, "jobs", "run", "hold_expiry", "--at", "tomorrow")
    assert bad_time.returncode == 2 and "--at" in bad_time.stderr


def test_hold_expiry_through_the_cli_at_a_chosen_time(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()
    hold = desk.hold(fid, ttl_minutes=30)
    assert hold.status_code == 201, hold.text
    hold_id = hold.json()["hold_id"]

    early = (clock() + timedelta(minutes=29)).isoformat()
    result = _cli(settings, "jobs", "run", "hold_expiry", "--at", early)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["expired"] == 0
    assert _rows(settings, "SELECT state FROM holds") == [("open",)]

    late = (clock() + timedelta(minutes=31)).isoformat()
    result = _cli(settings, "jobs", "run", "hold_expiry", "--at", late)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"job": "hold_expiry", "status": "ran", "expired": 1}
    assert _rows(settings, "SELECT state FROM holds") == [("expired",)]
    told = _messages(settings, "hold.expired")
    assert sorted((audience, facility) for audience, facility, _ in told) == [
        ("facility", fid),
        ("hotline", None),
    ]
    # a second run finds nothing more to do and tells no one twice
    again = _cli(settings, "jobs", "run", "hold_expiry", "--at", late)
    assert json.loads(again.stdout)["expired"] == 0
    assert len(_messages(settings, "hold.expired")) == 2
    listed = _cli(settings, "jobs", "list")
    line = next(row for row in listed.stdout.splitlines() if row.startswith("hold_expiry"))
    assert " ok " in line
    assert hold_id in json.dumps([json.loads(p) if isinstance(p, str) else p for *_, p in told])


def test_stale_capacity_is_reminded_then_escalated_once(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()  # reports its capacity now
    stale_after = timedelta(minutes=settings.stale_after_minutes)
    escalate_after = timedelta(minutes=settings.stale_escalate_after_minutes)

    def run(at: datetime) -> dict[str, Any]:
        return runner_at(settings, at).run_now("stale_capacity_reminders").summary

    assert run(clock() + stale_after - timedelta(minutes=1)) == {"reminded": 0, "escalated": 0}
    assert run(clock() + stale_after + timedelta(minutes=1)) == {"reminded": 1, "escalated": 0}
    assert run(clock() + stale_after + timedelta(hours=2)) == {"reminded": 0, "escalated": 0}
    assert run(clock() + escalate_after + timedelta(minutes=1)) == {"reminded": 0, "escalated": 1}
    assert [(a, f) for a, f, _ in _messages(settings, "capacity.stale")] == [("facility", fid)]
    assert [a for a, _, _ in _messages(settings, "capacity.stale_escalated")] == ["hotline"]
    # a fresh report starts a new episode
    clock.advance(days=3)
    desk.report(fid, 1, 3)
    assert run(clock() + stale_after + timedelta(minutes=1))["reminded"] == 1


def test_stay_limit_alerts_reach_facility_and_hotline_once(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(kind="crisis_centre")
    hold = desk.hold(fid)
    confirmed = desk.confirm(hold.json()["hold_id"], fid)
    assert confirmed.status_code == 200, confirmed.text
    limit_at = datetime.fromisoformat(confirmed.json()["limit_at"])
    before = limit_at - timedelta(days=settings.stay_alert_days + 1)
    within = limit_at - timedelta(days=settings.stay_alert_days - 1)
    assert runner_at(settings, before).run_now("stay_limit_alerts").summary["alerts"] == 0
    assert runner_at(settings, within).run_now("stay_limit_alerts").summary["alerts"] == 2
    assert runner_at(settings, within).run_now("stay_limit_alerts").summary["alerts"] == 0
    told = _messages(settings, "stay.limit_near")
    assert sorted(a for a, _, _ in told) == ["facility", "hotline"]


def test_nightly_transfer_proposal_is_stored_for_the_hotline(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    crisis = desk.facility(kind="crisis_centre")
    desk.facility(kind="halfway_house", free_units=2, free_beds=6)
    confirmed = desk.confirm(desk.hold(crisis).json()["hold_id"], crisis)
    limit_at = datetime.fromisoformat(confirmed.json()["limit_at"])
    outcome = runner_at(settings, limit_at - timedelta(days=3)).run_now(
        "nightly_transfer_proposals"
    )
    assert outcome.status == jobs.RAN, outcome
    assert outcome.summary["moves"] == 1
    assert _rows(settings, "SELECT kind, state FROM plans") == [("transfers", "proposed")]
    assert [a for a, _, _ in _messages(settings, "plan.transfer_proposal")] == ["hotline"]


def test_retention_purge_keeps_active_stays_and_recent_history(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=2, free_beds=6)
    staying = desk.confirm(desk.hold(fid).json()["hold_id"], fid).json()
    leaving = desk.client.post(
        "/api/v1/holds/" + desk.hold(fid).json()["hold_id"] + "/confirm",
        json={
            "identity": {
                "full_name": "Purge Petra",
                "birth_date": "1980-02-02",
                "police_confirmation_consent": True,
            }
        },
        headers=desk.staff[fid],
    ).json()
    departed = desk.client.post(
        f"/api/v1/placements/{leaving['placement_id']}/depart",
        json={"reason": "independent_housing"},
        headers=desk.staff[fid],
    )
    assert departed.status_code == 200, departed.text
    declined = desk.hold(fid)
    desk.client.post(
        f"/api/v1/holds/{declined.json()['hold_id']}/decline",
        json={"reason": "other"},
        headers=desk.staff[fid],
    )
    soon = runner_at(settings, clock() + timedelta(days=30)).run_now("retention_purge")
    assert soon.summary == {"identities": 0, "stays": 0, "holds": 0, "job_runs": 0}
    identity_days = settings.identity_retention_days + 1
    later = runner_at(settings, clock() + timedelta(days=identity_days)).run_now("retention_purge")
    # the earlier run of this job is older than two weeks, and no longer its latest
    assert later.summary == {"identities": 1, "stays": 0, "holds": 0, "job_runs": 1}
    years = settings.placement_retention_days + 1
    purged = runner_at(settings, clock() + timedelta(days=years)).run_now("retention_purge")
    assert purged.summary == {"identities": 0, "stays": 1, "holds": 2, "job_runs": 1}
    assert _rows(settings, "SELECT job_id FROM job_runs") == [("retention_purge",)]
    assert _rows(settings, "SELECT id, state FROM placements") == [
        (staying["placement_id"], "active")
    ]
    assert len(_rows(settings, "SELECT id FROM holds")) == 1  # the active stay's own hold


def test_two_runners_on_one_database_run_each_tick_once(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=3, free_beds=9)
    for _ in range(3):
        assert desk.hold(fid, ttl_minutes=10).status_code == 201
    at = clock() + timedelta(hours=1)
    runners = [runner_at(settings, at, name=f"runner-{i}") for i in range(2)]
    outcomes: list[jobs.JobOutcome] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def tick(runner: jobs.Runner, job_id: str) -> None:
        start.wait()
        outcome = runner.tick(job_id)
        with lock:
            outcomes.append(outcome)

    threads = [
        threading.Thread(target=tick, args=(runners[i % 2], job_id))
        for i in range(4)
        for job_id in ("hold_expiry", "stale_capacity_reminders")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran = Counter(o.job_id for o in outcomes if o.status == jobs.RAN)
    assert ran == {"hold_expiry": 1, "stale_capacity_reminders": 1}, outcomes
    assert sum(o.summary.get("expired", 0) for o in outcomes) == 3
    runs = _rows(settings, "SELECT job_id, slot, outcome FROM job_runs ORDER BY job_id")
    assert [(job, outcome) for job, _, outcome in runs] == [
        ("hold_expiry", "ok"),
        ("stale_capacity_reminders", "ok"),
    ]
    for runner in runners:
        runner.engine.dispose()


def test_two_real_schedulers_share_the_ticks(
    settings: Settings, client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two APScheduler instances with a one-second job against one database: every slot
    (second) ran once, by whichever scheduler claimed it."""
    bodies: list[str] = []
    guard = threading.Lock()

    def body(ctx: jobs.JobContext) -> dict[str, Any]:
        with guard:
            bodies.append(ctx.now.isoformat())
        return {}

    monkeypatch.setattr(
        jobs, "JOBS", {"heartbeat": jobs.JobSpec("heartbeat", "test", body, every_seconds=1)}
    )
    runners = []
    schedulers = []
    for i in range(2):
        runner = jobs.Runner(
            engine=make_engine(settings.database_url, pool_size=2),
            services=ServiceContext.from_settings(settings),
            clock=lambda: datetime.now().astimezone(),
            client_factory=httpx.AsyncClient,
            name=f"scheduler-{i}",
        )
        runners.append(runner)
        schedulers.append(jobs.build_scheduler(runner))
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(4.5)
    for scheduler in schedulers:
        scheduler.shutdown(wait=True)
    runs = _rows(settings, "SELECT slot, runner FROM job_runs WHERE job_id = 'heartbeat'")
    # one run per second of the 4.5 s at most (two each, had the runners not shared a slot),
    # and the body ran exactly as often as a slot was claimed
    assert 3 <= len(runs) <= 6, runs
    assert len(bodies) == len(runs)
    for runner in runners:
        runner.engine.dispose()


@pytest.mark.postgres
def test_two_scheduler_processes_on_one_postgresql(postgres_database: str) -> None:
    """`broker scheduler` twice, as two processes on one PostgreSQL: the interval jobs run at
    start, and each (job, slot) was run by exactly one of them."""
    from tests.conftest import _truncate_postgres

    _truncate_postgres(postgres_database)
    env = {**os.environ, "BROKER_DATABASE_URL": postgres_database}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "broker.cli", "scheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    settings = Settings(database_url=postgres_database)
    interval_jobs = {j for j, spec in jobs.JOBS.items() if spec.every_seconds is not None}
    started = time.time()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = {job for (job,) in _rows(settings, "SELECT job_id FROM job_runs")}
            if done >= interval_jobs:
                break
            time.sleep(0.5)
        time.sleep(2)  # let the slower process reach the same ticks
    finally:
        for process in processes:
            process.terminate()
        outputs = [process.communicate(timeout=30) for process in processes]
    ended = time.time()
    runs = _rows(settings, "SELECT job_id, slot, runner, outcome FROM job_runs")
    assert {job for job, *_ in runs} >= interval_jobs, (runs, outputs)
    # both processes run every interval job at start; sharing the slot, they leave one run
    # per interval that began while they ran (two, had each claimed a slot of its own)
    per_job = Counter(job for job, *_ in runs)
    for job in interval_jobs:
        every = jobs.JOBS[job].every_seconds
        assert every is not None
        intervals = int(ended // every) - int(started // every) + 1
        assert per_job[job] <= intervals, (job, runs)
    assert {outcome for *_, outcome in runs} == {"ok"}, runs
    assert all("running as" in out for out, _ in outputs), outputs
