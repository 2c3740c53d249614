"""Scheduled jobs: what runs when, and how several schedulers run each tick exactly once.

Every job has an explicit id and a schedule (an interval, or a time of day in UTC). A tick
of a job is named by its *slot*: the interval's start, or the day. Before running, a
scheduler inserts a ``job_runs`` row for (job id, slot) in its own short transaction; the
unique constraint on that pair lets exactly one insert succeed, so when several processes
share one database, the one whose insert succeeded runs the tick and the others skip it.
The database is the lock; no process needs to know the others.

Jobs take the time from one injectable clock (``JobContext.now``), so tests and
``broker jobs run JOB_ID --at ...`` run them at chosen times without sleeping. Each job
body opens its own units of work; nothing here is called from a web request.

    hold_expiry                  every minute   close expired holds for good; tell both sides
    notification_delivery        every 30 s     send due outbox messages to their webhooks
    waitlist_matching            every 15 s     match waiting-list entries; tell the hotline
    stale_capacity_reminders     every 15 min   remind stale facilities; escalate to the hotline
    stay_limit_alerts            daily 06:00    stays near their limit, to facility and hotline
    nightly_transfer_proposals   daily 02:00    the optimiser's transfer plan, as a proposal
    retention_purge              daily 03:00    identity hashes, closed stays and holds
    daily_statistics             daily 00:10    yesterday's figures for the dashboard
    simulation_runs              every 15 s     run the oldest queued policy simulation
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from broker.db.engine import unit_of_work
from broker.db.models import JobRun
from broker.domain.states import Audience, Event
from broker.domain.webhooks import RetryPolicy
from broker.services import (
    holds,
    notifications,
    planning,
    simulations,
    statistics,
    upkeep,
    waitlist,
)
from broker.services.context import ServiceContext
from broker.settings import Settings

log = logging.getLogger("broker.jobs")
Clock = Callable[[], datetime]
RAN, SKIPPED, FAILED = "ran", "skipped", "failed"
# Capacity that appears is offered to the waiting list within this interval plus one run
# (the inbox), and by webhook within notification_delivery's 30 s more: under 60 s. The
# other interval jobs' intervals are multiples of it, so their slots line up.
WAITLIST_MATCHING_SECONDS = 15


@dataclass(frozen=True, slots=True)
class JobContext:
    engine: Engine
    services: ServiceContext
    now: datetime
    client_factory: Callable[[], httpx.AsyncClient]
    resolver: notifications.Resolver = notifications.system_resolver

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def audit_key(self) -> bytes:
        return self.settings.audit_key_bytes


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    description: str
    body: Callable[[JobContext], dict[str, Any]]
    every_seconds: int | None = None
    daily_at: tuple[int, int] | None = None  # hour, minute (UTC)

    def slot(self, now: datetime) -> str:
        if self.every_seconds is not None:
            start = int(now.timestamp()) // self.every_seconds * self.every_seconds
            return datetime.fromtimestamp(start, UTC).isoformat()
        return now.astimezone(UTC).date().isoformat()

    def trigger(self) -> IntervalTrigger | CronTrigger:
        if self.every_seconds is not None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=UTC)
        assert self.daily_at is not None
        hour, minute = self.daily_at
        return CronTrigger(hour=hour, minute=minute, timezone=UTC)

    @property
    def schedule(self) -> str:
        if self.every_seconds is not None:
            return f"every {self.every_seconds} s"
        assert self.daily_at is not None
        return f"daily {self.daily_at[0]:02d}:{self.daily_at[1]:02d} UTC"


# --- job bodies ------------------------------------------------------------------------------


def _hold_expiry(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return {"expired": len(holds.holds_expire(session=session, now=ctx.now))}


def _notification_delivery(ctx: JobContext) -> dict[str, Any]:
    s = ctx.settings
    return notifications.deliver_due(
        engine=ctx.engine,
        client_factory=ctx.client_factory,
        secret=s.webhook_secret_bytes,
        hotline_url=s.hotline_webhook_url,
        retry=RetryPolicy(
            base=timedelta(seconds=s.webhook_backoff_seconds),
            max_attempts=s.webhook_max_attempts,
        ),
        timeout=float(s.webhook_timeout_seconds),
        now=ctx.now,
        policy=s.webhook_policy,
        resolver=ctx.resolver,
    )


def _waitlist_matching(ctx: JobContext) -> dict[str, Any]:
    # a read first: a run that would change nothing takes no lock (SQLite: no write lock)
    with unit_of_work(ctx.engine, write=False) as session:
        preview = waitlist.waitlist_preview(session=session, context=ctx.services, now=ctx.now)
    if not preview["found"] and not preview["expired"]:
        return preview
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return waitlist.waitlist_match(session=session, context=ctx.services, now=ctx.now)


def _stale_capacity_reminders(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return upkeep.stale_capacity_remind(
            session=session,
            now=ctx.now,
            stale_after=ctx.settings.stale_after,
            escalate_after=timedelta(minutes=ctx.settings.stale_escalate_after_minutes),
        )


def _stay_limit_alerts(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return upkeep.stay_limit_alert(
            session=session, now=ctx.now, days=ctx.settings.stay_alert_days
        )


def _nightly_transfer_proposals(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        proposal = planning.plan_transfers(
            session=session,
            context=ctx.services,
            horizon_days=ctx.settings.stay_alert_days,
            now=ctx.now,
            actor=None,
        )
        notifications.notify(
            session=session,
            event=Event.PLAN_TRANSFER_PROPOSAL,
            audience=Audience.HOTLINE,
            payload={
                "plan_id": proposal.plan_id,
                "moves": len(proposal.items),
                "status": proposal.status,
            },
            now=ctx.now,
        )
        return {
            "plan_id": proposal.plan_id,
            "moves": len(proposal.items),
            "status": proposal.status,
        }


def _retention_purge(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return upkeep.retention_purge(
            session=session,
            now=ctx.now,
            identity_retention=ctx.settings.identity_retention,
            closed_retention=timedelta(days=ctx.settings.placement_retention_days),
        )


def _daily_statistics(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.engine, audit_key=ctx.audit_key) as session:
        return statistics.statistics_snapshot(
            session=session,
            day=ctx.now.astimezone(UTC).date() - timedelta(days=1),
            min_count=ctx.settings.stats_min_count,
        )


def _simulation_runs(ctx: JobContext) -> dict[str, Any]:
    # opens its own short units of work: none stays open while the simulator works
    return simulations.simulation_run_next(
        engine=ctx.engine, now=ctx.now, data_dir=ctx.settings.data_dir
    )


JOBS: dict[str, JobSpec] = {
    spec.id: spec
    for spec in (
        JobSpec(
            "hold_expiry",
            "close expired holds; tell the facility and the hotline",
            _hold_expiry,
            every_seconds=60,
        ),
        JobSpec(
            "notification_delivery",
            "deliver due notifications to webhooks (signed, retried, dead-lettered)",
            _notification_delivery,
            every_seconds=30,
        ),
        JobSpec(
            "waitlist_matching",
            "match the waiting list against what is free; tell the hotline of places found",
            _waitlist_matching,
            every_seconds=WAITLIST_MATCHING_SECONDS,
        ),
        JobSpec(
            "stale_capacity_reminders",
            "remind facilities with stale capacity; escalate to the hotline",
            _stale_capacity_reminders,
            every_seconds=15 * 60,
        ),
        JobSpec(
            "stay_limit_alerts",
            "stays reaching their limit soon, to the facility and the hotline",
            _stay_limit_alerts,
            daily_at=(6, 0),
        ),
        JobSpec(
            "nightly_transfer_proposals",
            "the optimiser's transfer plan, stored as a proposal for the hotline",
            _nightly_transfer_proposals,
            daily_at=(2, 0),
        ),
        JobSpec(
            "retention_purge",
            "delete identity hashes, closed stays and holds past retention",
            _retention_purge,
            daily_at=(3, 0),
        ),
        JobSpec(
            "daily_statistics",
            "yesterday's occupancy, placements and unmet cases (small counts suppressed)",
            _daily_statistics,
            daily_at=(0, 10),
        ),
        JobSpec(
            "simulation_runs",
            "run the oldest queued policy simulation (one at a time per scheduler)",
            _simulation_runs,
            every_seconds=15,
        ),
    )
}


# --- running ---------------------------------------------------------------------------------


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: str
    slot: str
    status: str  # ran, skipped, failed
    summary: dict[str, Any] = field(default_factory=dict)


def _claim(engine: Engine, job_id: str, slot: str, runner: str, now: datetime) -> int | None:
    try:
        with unit_of_work(engine) as session:
            run = JobRun(job_id=job_id, slot=slot, runner=runner, started_at=now, outcome="running")
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        return None  # another runner has this tick


def _finish(
    engine: Engine, run_id: int, outcome: str, summary: dict[str, Any], at: datetime
) -> None:
    with unit_of_work(engine) as session:
        run = session.get(JobRun, run_id)
        if run is not None:
            run.outcome, run.summary, run.finished_at = outcome, summary, at
            session.add(run)


def run_job(spec: JobSpec, ctx: JobContext, *, slot: str, runner: str) -> JobOutcome:
    """Run one tick of a job unless another runner has claimed it."""
    run_id = _claim(ctx.engine, spec.id, slot, runner, ctx.now)
    if run_id is None:
        return JobOutcome(spec.id, slot, SKIPPED)
    try:
        summary = spec.body(ctx)
    except Exception as exc:
        # the type only: a message could quote stored values
        log.exception("job %s failed in slot %s", spec.id, slot)
        _finish(ctx.engine, run_id, "failed", {"error": type(exc).__name__}, ctx.now)
        return JobOutcome(spec.id, slot, FAILED, {"error": type(exc).__name__})
    _finish(ctx.engine, run_id, "ok", summary, ctx.now)
    return JobOutcome(spec.id, slot, RAN, summary)


def manual_slot(now: datetime) -> str:
    """A slot of its own for a run asked for by hand: it never collides with a tick."""
    return f"manual:{now.isoformat()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class Runner:
    """What a scheduler needs to run ticks: the database, the services' context (settings,
    rules, keys), the clock, HTTP."""

    engine: Engine
    services: ServiceContext
    clock: Clock
    client_factory: Callable[[], httpx.AsyncClient]
    name: str = field(default_factory=runner_name)
    # how webhook host names are resolved at delivery; tests put their own here
    resolver: notifications.Resolver = notifications.system_resolver

    def context(self) -> JobContext:
        return JobContext(
            self.engine,
            self.services,
            self.clock(),
            self.client_factory,
            self.resolver,
        )

    def tick(self, job_id: str) -> JobOutcome:
        """The scheduled run: the tick's slot, shared with every other runner."""
        return self._run(job_id, manual=False)

    def run_now(self, job_id: str) -> JobOutcome:
        """A run asked for by hand, in a slot of its own."""
        return self._run(job_id, manual=True)

    def _run(self, job_id: str, *, manual: bool) -> JobOutcome:
        spec, ctx = JOBS[job_id], self.context()
        slot = manual_slot(ctx.now) if manual else spec.slot(ctx.now)
        return run_job(spec, ctx, slot=slot, runner=self.name)


def build_scheduler(runner: Runner, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler with every job, by id; nothing runs until it is started."""
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    )
    started = datetime.now(UTC)
    for spec in JOBS.values():
        # interval jobs also run once at start, so a restart catches up at once
        first = {"next_run_time": started} if spec.every_seconds is not None else {}
        scheduler.add_job(
            partial(runner.tick, spec.id),
            trigger=spec.trigger(),
            id=spec.id,
            name=spec.description,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=60,
            **first,
        )
    return scheduler


@dataclass(frozen=True, slots=True)
class LastRun:
    started_at: datetime
    outcome: str
    runner: str


def last_runs(engine: Engine) -> dict[str, LastRun]:
    """Each job's latest run."""
    latest = select(func.max(JobRun.id)).group_by(col(JobRun.job_id))
    with unit_of_work(engine, write=False) as session:
        runs = session.exec(select(JobRun).where(col(JobRun.id).in_(latest))).all()
        return {run.job_id: LastRun(run.started_at, run.outcome, run.runner) for run in runs}


def default_client_factory(settings: Settings) -> Callable[[], httpx.AsyncClient]:
    """Clients for webhook deliveries, which name the checked address in each request's URL
    (see ``broker.services.notifications``). No proxy from the environment, which would do
    its own resolving; no redirects; and no kept-alive connections, since a connection
    verified for one receiver's name must not carry a request for another name that
    happens to share its address."""
    return partial(
        httpx.AsyncClient,
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
