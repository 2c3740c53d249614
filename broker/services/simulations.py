"""Policy simulations asked for on the ``/simulations`` page and run by a scheduled job.

A request stores a queued row and nothing more; the ``simulation_runs`` job takes the
oldest queued row in the process that runs the scheduler, plays it with
``broker.simulation`` in one worker (a web server's machine has other work to do) and
keeps its three files with the row.

    simulation_request   store a queued simulation, or refuse it: a choice the page does
                         not offer, or MAX_ACTIVE simulations already queued or running
    simulation_list      the simulations, newest first, without their files
    simulation_get       one simulation, without its files
    simulation_file      one file of a finished simulation
    simulation_pick      the oldest queued simulation, taken by compare-and-set, after
                         marking failed the running ones left without a heartbeat
    simulation_progress  runs done so far, and a heartbeat
    simulation_finish    the three files: done
    simulation_fail      failed, with one sentence (never a stack trace)
    simulation_run_next  the job's body: pick, run, store, in short units of work of its own

Two processes never run one row: the pick is ``UPDATE ... WHERE status = 'queued'`` and
only the process whose update changed the row runs it. A process that dies leaves its row
``running``; the row's heartbeat (written every HEARTBEAT_SECONDS while it runs) then stops,
and the next pick, in any process, marks it failed once the heartbeat is older than
STALE_AFTER, so a crash never holds a place under the limit for ever.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, func, select

from broker.db.engine import is_sqlite, unit_of_work
from broker.db.models import User
from broker.db.models_simulation import SimulationRun, SimulationStatus
from broker.domain.access import Principal
from broker.errors import BrokerError, InvalidInput, NotFound, RateLimited
from broker.i18n import Catalogues, Locale, check_language, gettext, ngettext, using
from broker.simulation.outputs import simulation_files
from broker.simulation.policies import SIX_COMBINATIONS, Policy
from broker.simulation.runner import SimulationSpec, run_simulation

log = logging.getLogger("broker.simulations")

# The choices the page offers; anything else is refused.
NETWORKS = ("demo", "synthetic:200", "synthetic:500")
DAY_CHOICES = (30, 91, 182, 365)
MAX_SEEDS, DEFAULT_SEEDS = 20, 5
# transfers/matching -> the policy, with re-entry excluded, in the simulator's order
POLICY_CHOICES = {f"{p.transfers}/{p.matching}": p for p in SIX_COMBINATIONS}
ASSESSED = "assessed"
FILE_NAMES = ("summary.json", "runs.csv", "report.html")
_FILE_FIELDS = {
    "summary.json": "summary_json",
    "runs.csv": "runs_csv",
    "report.html": "report_html",
}
# At most this many simulations queued or running at once, whoever asked.
MAX_ACTIVE = 2
ACTIVE = (SimulationStatus.QUEUED, SimulationStatus.RUNNING)
HEARTBEAT_SECONDS = 60
STALE_AFTER = timedelta(minutes=10)
ERROR_LENGTH = 300
# The one PostgreSQL advisory lock of the limit (any fixed number no one else uses).
LIMIT_LOCK_ID = 0x73696D5F6C696D
PICK_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class SimulationView:
    id: int
    status: SimulationStatus
    network: str
    days: int
    seeds: int
    policies: tuple[str, ...]
    language: str
    done: int
    total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    requested_by: str

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def spec(self, data_dir: Path) -> SimulationSpec:
        """What the simulator runs: one worker, the page's settings."""
        return SimulationSpec(
            days=self.days,
            seeds=self.seeds,
            network=self.network,
            policies=tuple(Policy.parse(name) for name in self.policies),
            data_dir=data_dir,
            workers=1,
        )


def _view(row: SimulationRun, username: str) -> SimulationView:
    assert row.id is not None
    return SimulationView(
        id=row.id,
        status=SimulationStatus(row.status),
        network=row.network,
        days=row.days,
        seeds=row.seeds,
        policies=tuple(row.policies.split(",")),
        language=row.language,
        done=row.done,
        total=row.total,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        requested_by=username,
    )


# --- asking ---------------------------------------------------------------------------------


def chosen_policies(names: Sequence[str], *, reentry: bool) -> tuple[Policy, ...]:
    """The policies ticked on the page, in the page's order (the first is the one the
    others are compared with); with ``reentry`` each again with re-entry after an
    assessment, after them."""
    if any(name not in POLICY_CHOICES for name in names):
        _refuse("policies", gettext("Choose the policies from the list on the page."))
    chosen = [policy for key, policy in POLICY_CHOICES.items() if key in names]
    if not chosen:
        _refuse("policies", gettext("Tick at least one policy."))
    assessed = [Policy(p.transfers, p.matching, ASSESSED) for p in chosen] if reentry else []
    return (*chosen, *assessed)


def _refuse(field: str, message: str) -> NoReturn:
    raise InvalidInput(message, details=[{"field": field, "message": message}])


def _check_choices(network: str, days: int, seeds: int) -> None:
    if network not in NETWORKS:
        _refuse("network", gettext("Choose one of the networks on the page."))
    if days not in DAY_CHOICES:
        _refuse(
            "days",
            gettext("Choose how many days to simulate: {choices}.").format(
                choices=", ".join(str(d) for d in DAY_CHOICES)
            ),
        )
    if not 1 <= seeds <= MAX_SEEDS:
        _refuse(
            "seeds",
            gettext("The number of seeds must be between 1 and {most}.").format(most=MAX_SEEDS),
        )


def _hold_the_limit(session: Session) -> None:
    """Requests are counted one after the other: on PostgreSQL under an advisory lock held
    to the end of the transaction; on SQLite a writing unit of work holds the one write
    lock already."""
    if not is_sqlite(session.get_bind()):  # type: ignore[arg-type]
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LIMIT_LOCK_ID)))


def simulation_request(
    *,
    session: Session,
    actor: Principal,
    network: str,
    days: int,
    seeds: int,
    policies: Sequence[str],
    reentry: bool,
    language: str,
    now: datetime,
    limit: int = MAX_ACTIVE,
) -> SimulationView:
    """A queued simulation, which the ``simulation_runs`` job will run."""
    _check_choices(network, days, seeds)
    chosen = chosen_policies(policies, reentry=reentry)
    _hold_the_limit(session)
    active = session.exec(
        select(func.count()).select_from(SimulationRun).where(col(SimulationRun.status).in_(ACTIVE))
    ).one()
    if active >= limit:
        raise RateLimited(
            ngettext(
                "{count} simulation is already waiting or running; start this one when it "
                "has finished.",
                "{count} simulations are already waiting or running; start this one when "
                "one of them has finished.",
                active,
            ).format(count=active),
            retry_after_seconds=60,
        )
    row = SimulationRun(
        requested_by_user_id=actor.user_id,
        status=SimulationStatus.QUEUED,
        network=network,
        days=days,
        seeds=seeds,
        policies=",".join(policy.name for policy in chosen),
        language=check_language(language),
        total=seeds * len(chosen),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _view(row, actor.username)


# --- reading --------------------------------------------------------------------------------


def _file_column(name: str) -> Any:
    return getattr(SimulationRun, _FILE_FIELDS[name])


def _select() -> Any:
    """Rows with their requester's name; the files are left unread (deferred) until asked
    for one at a time, so a list of simulations does not read every report."""
    return (
        select(SimulationRun, User.username)
        .join(User, col(User.id) == col(SimulationRun.requested_by_user_id))
        .options(*(defer(_file_column(name)) for name in FILE_NAMES))
    )


def simulation_list(*, session: Session, limit: int = 50) -> list[SimulationView]:
    rows = session.exec(
        _select()
        .order_by(col(SimulationRun.created_at).desc(), col(SimulationRun.id).desc())
        .limit(limit)
    ).all()
    return [_view(row, username) for row, username in rows]


def simulation_get(*, session: Session, run_id: int) -> SimulationView:
    found = session.exec(_select().where(SimulationRun.id == run_id)).first()
    if found is None:
        raise NotFound(gettext("There is no simulation {id}.").format(id=run_id))
    return _view(*found)


def simulation_file(*, session: Session, run_id: int, name: str) -> str:
    """``summary.json``, ``runs.csv`` or ``report.html`` of a finished simulation."""
    if name not in _FILE_FIELDS:
        raise NotFound(gettext("A simulation has no file {name}.").format(name=name[:40]))
    found = session.exec(
        select(SimulationRun.status, _file_column(name)).where(SimulationRun.id == run_id)
    ).first()
    if found is None:
        raise NotFound(gettext("There is no simulation {id}.").format(id=run_id))
    status, text = found
    if status != SimulationStatus.DONE or text is None:
        raise NotFound(
            gettext("Simulation {id} has not finished: it has no files yet.").format(id=run_id)
        )
    return str(text)


# --- running --------------------------------------------------------------------------------


def _running(run_id: int) -> Any:
    return sa.update(SimulationRun).where(
        col(SimulationRun.id) == run_id, col(SimulationRun.status) == SimulationStatus.RUNNING
    )


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _stale(now: datetime) -> Any:
    return (col(SimulationRun.status) == SimulationStatus.RUNNING) & (
        col(SimulationRun.heartbeat_at) < now - STALE_AFTER
    )


def work_waiting(*, session: Session, now: datetime) -> bool:
    """Whether a pick would change anything: a queued row, or a running one left behind."""
    waiting = session.exec(
        select(SimulationRun.id)
        .where((col(SimulationRun.status) == SimulationStatus.QUEUED) | _stale(now))
        .limit(1)
    ).first()
    return waiting is not None


def _fail_abandoned(session: Session, now: datetime, data_dir: Path) -> int:
    """Mark failed the running rows whose process has stopped writing its heartbeat."""
    rows = session.exec(select(SimulationRun.id, SimulationRun.language).where(_stale(now))).all()
    for run_id, language in rows:
        with using(_locale(data_dir, language)):
            message = gettext(
                "The process running this simulation stopped before finishing it: nothing "
                "was heard from it for {minutes} minutes. Start it again."
            ).format(minutes=int(STALE_AFTER.total_seconds() // 60))
        session.execute(
            sa.update(SimulationRun)
            .where(col(SimulationRun.id) == run_id, _stale(now))
            .values(status=SimulationStatus.FAILED, error=message, finished_at=now)
        )
    return len(rows)


def simulation_pick(
    *, session: Session, now: datetime, data_dir: Path
) -> tuple[SimulationView | None, int]:
    """The oldest queued simulation, now running in the caller's process (None if there is
    none left to take), and how many abandoned ones were marked failed first."""
    abandoned = _fail_abandoned(session, now, data_dir)
    for _ in range(PICK_ATTEMPTS):
        candidate = session.exec(
            select(SimulationRun.id)
            .where(SimulationRun.status == SimulationStatus.QUEUED)
            .order_by(col(SimulationRun.created_at), col(SimulationRun.id))
            .limit(1)
        ).first()
        if candidate is None:
            return None, abandoned
        # compare-and-set: of two processes taking the same row, one changes it
        taken = session.execute(
            sa.update(SimulationRun)
            .where(
                col(SimulationRun.id) == candidate,
                col(SimulationRun.status) == SimulationStatus.QUEUED,
            )
            .values(status=SimulationStatus.RUNNING, started_at=now, heartbeat_at=now, done=0)
        )
        if _changed(taken) == 1:
            return simulation_get(session=session, run_id=candidate), abandoned
    return None, abandoned


def simulation_progress(
    *, session: Session, run_id: int, now: datetime, done: int | None = None
) -> bool:
    """A heartbeat, with the runs done so far when given; False when the row is no longer
    running here (marked failed as abandoned meanwhile)."""
    values: dict[str, Any] = {"heartbeat_at": now}
    if done is not None:
        values["done"] = done
    return _changed(session.execute(_running(run_id).values(**values))) == 1


def simulation_finish(
    *, session: Session, run_id: int, files: dict[str, str], now: datetime
) -> bool:
    return (
        _changed(
            session.execute(
                _running(run_id).values(
                    status=SimulationStatus.DONE,
                    done=SimulationRun.total,
                    finished_at=now,
                    heartbeat_at=now,
                    summary_json=files["summary.json"],
                    runs_csv=files["runs.csv"],
                    report_html=files["report.html"],
                )
            )
        )
        == 1
    )


def simulation_fail(*, session: Session, run_id: int, message: str, now: datetime) -> bool:
    result = session.execute(
        _running(run_id).values(
            status=SimulationStatus.FAILED, error=message[:ERROR_LENGTH], finished_at=now
        )
    )
    return _changed(result) == 1


@functools.cache
def _catalogues(directory: Path) -> Catalogues:
    return Catalogues(directory)


def _locale(data_dir: Path, language: str) -> Locale:
    """The requester's language, for what the run says (its refusals, its report)."""
    return Locale(language, translations=_catalogues(data_dir / "locale").translations(language))


def _failure(exc: BaseException) -> str:
    """One sentence for the page: a refusal's own words, else only the error's kind (its
    text could be anything; the log has the trace)."""
    if isinstance(exc, BrokerError):
        return gettext("The simulator refused to run it: {reason}").format(reason=exc.message)
    return gettext(
        "The simulation stopped with an internal error ({kind}); the server's log has the details."
    ).format(kind=type(exc).__name__)


class _Abandoned(Exception):
    """The row stopped being this process's to run."""


@contextmanager
def _heartbeat(beat: Callable[[], object], every: float) -> Iterator[None]:
    """Calls ``beat`` every ``every`` seconds in a thread of its own until the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception:  # a missed beat is retried at the next one
                log.warning("simulation heartbeat failed", exc_info=True)

    thread = threading.Thread(target=loop, name="simulation-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)


def simulation_run_next(
    *,
    engine: Engine,
    now: datetime,
    data_dir: Path,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> dict[str, Any]:
    """Run the oldest queued simulation, if any, to its end. Opens its own short units of
    work (the pick, each progress and heartbeat, the outcome); none stays open while the
    simulator works. Times written are ``now`` plus the time the run has taken so far."""
    with unit_of_work(engine, write=False) as session:
        # a read first: a tick with nothing to do takes no lock (SQLite: no write lock)
        if not work_waiting(session=session, now=now):
            return {"ran": 0}
    with unit_of_work(engine) as session:
        picked, abandoned = simulation_pick(session=session, now=now, data_dir=data_dir)
    if picked is None:
        return {"ran": 0, "abandoned": abandoned}
    started = time.monotonic()

    def at() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    def write(done: int | None) -> bool:
        with unit_of_work(engine) as session:
            return simulation_progress(session=session, run_id=picked.id, now=at(), done=done)

    def progress(done: int, _total: int) -> None:
        try:
            ours = write(done)
        except DBAPIError:  # the figure is for the page: the run goes on without it
            log.warning("simulation %s: progress not written", picked.id, exc_info=True)
            return
        if not ours:
            raise _Abandoned

    outcome: dict[str, Any] = {"ran": 1, "abandoned": abandoned, "simulation": picked.id}
    with using(_locale(data_dir, picked.language)):
        try:
            with _heartbeat(lambda: write(None), heartbeat_seconds):
                result = run_simulation(picked.spec(data_dir), progress=progress)
                files = simulation_files(result, language=picked.language)
        except _Abandoned:
            return {**outcome, "status": "abandoned"}
        except Exception as exc:
            log.exception("simulation %s failed", picked.id)
            with unit_of_work(engine) as session:
                simulation_fail(session=session, run_id=picked.id, message=_failure(exc), now=at())
            return {**outcome, "status": SimulationStatus.FAILED.value}
    with unit_of_work(engine) as session:
        finished = simulation_finish(session=session, run_id=picked.id, files=files, now=at())
    status = SimulationStatus.DONE if finished else "abandoned"
    return {**outcome, "status": str(status)}
