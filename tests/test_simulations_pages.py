"""The policy simulator's pages and their service, on SQLite and PostgreSQL.

The service: a request stores a queued simulation or is refused (each bad choice, and the
limit of simulations waiting or running, even for requests made at the same moment); the
job takes the oldest queued one by compare-and-set, so two processes picking at once never
run one simulation twice; it runs it for real (a small demo simulation) and keeps its
three files, or marks it failed with one sentence; a simulation left running by a process
that died is marked failed once its heartbeat is older than the bound.

The pages: counsellors and admins only; the form, refusals with the reason in Hungarian,
the limit, the run's page while it waits and once done, the report under its own policy,
and the downloads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import Session, select

from api.headers import CONTENT_SECURITY_POLICY, document_policy
from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.models_simulation import SimulationRun, SimulationStatus
from broker.domain.access import Principal
from broker.errors import InvalidInput, NotFound, RateLimited
from broker.services import simulations
from broker.services.accounts import user_create
from broker.settings import Settings
from tests.conftest import Accounts, TestClock, create_facility
from tests.job_support import runner_at
from tests.session_support import use_page_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMALL = {"network": "demo", "days": 30, "seeds": 1, "policies": ["strict/ranked"]}
HUNGARIAN = {"Accept-Language": "hu"}


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    made = make_engine(settings.database_url, pool_size=4)
    yield made
    made.dispose()


@pytest.fixture
def asker(engine: sa.Engine, settings: Settings, clock: TestClock) -> Principal:
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        return user_create(
            session=session,
            passwords=Passwords(),
            username="planner",
            role="counsellor",
            password=None,
            now=clock(),
        )


def _request(
    engine: sa.Engine, asker: Principal, now: datetime, **choices: Any
) -> simulations.SimulationView:
    asked = {"reentry": False, **SMALL, **choices}
    with unit_of_work(engine) as session:
        return simulations.simulation_request(
            session=session, actor=asker, language="en", now=now, **asked
        )


def _rows(engine: sa.Engine) -> list[SimulationRun]:
    with unit_of_work(engine, write=False) as session:
        rows = list(session.exec(select(SimulationRun).order_by(SimulationRun.id)).all())
        session.expunge_all()  # as read: the read-only unit of work ends in a rollback
        return rows


def _finish(engine: sa.Engine, run_id: int, status: SimulationStatus) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            sa.update(SimulationRun).where(SimulationRun.id == run_id).values(status=status)
        )


def _run_next(engine: sa.Engine, now: datetime, data_dir: Path | None = None) -> dict[str, Any]:
    return simulations.simulation_run_next(
        engine=engine, now=now, data_dir=data_dir or Settings().data_dir
    )


# --- asking ---------------------------------------------------------------------------------


def test_a_request_is_stored_queued_with_its_settings(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    view = _request(
        engine,
        asker,
        clock(),
        seeds=3,
        # sent in another order: kept in the page's order, the first compared with
        policies=["flexible/optimised", "strict/first_fit"],
        reentry=True,
    )
    assert view.status is SimulationStatus.QUEUED and view.active
    assert view.policies == (
        "strict/first_fit/excluded",
        "flexible/optimised/excluded",
        "strict/first_fit/assessed",
        "flexible/optimised/assessed",
    )
    (row,) = _rows(engine)
    assert (row.status, row.done, row.total) == ("queued", 0, 3 * 4)
    assert (row.network, row.days, row.seeds, row.language) == ("demo", 30, 3, "en")
    assert row.requested_by_user_id == asker.user_id
    assert row.created_at == clock() and row.started_at is None
    assert row.summary_json is None and row.report_html is None


@pytest.mark.parametrize(
    ("choices", "field"),
    [
        ({"network": "synthetic:20000"}, "network"),
        ({"network": "demo.toml"}, "network"),
        ({"days": 10}, "days"),
        ({"days": 3650}, "days"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": 21}, "seeds"),
        ({"policies": []}, "policies"),
        ({"policies": ["strict/ranked/assessed"]}, "policies"),
        ({"policies": ["strict/ranked", "all"]}, "policies"),
    ],
)
def test_each_choice_the_page_does_not_offer_is_refused(
    engine: sa.Engine, asker: Principal, clock: TestClock, choices: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _request(engine, asker, clock(), **choices)
    assert refused.value.details[0]["field"] == field
    assert _rows(engine) == []


def test_the_limit_counts_waiting_and_running_simulations(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    first = _request(engine, asker, clock())
    second = _request(engine, asker, clock())
    with pytest.raises(RateLimited) as refused:
        _request(engine, asker, clock())
    assert "2 simulations are already waiting or running" in refused.value.message
    _finish(engine, first.id, SimulationStatus.RUNNING)
    with pytest.raises(RateLimited):
        _request(engine, asker, clock())
    _finish(engine, first.id, SimulationStatus.DONE)
    _finish(engine, second.id, SimulationStatus.FAILED)
    _request(engine, asker, clock())
    _request(engine, asker, clock())
    assert [row.status for row in _rows(engine)] == ["done", "failed", "queued", "queued"]


def test_the_limit_holds_for_requests_made_at_the_same_moment(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    """Eight requests at once, none waiting before: two are stored, six refused."""
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def ask() -> None:
        start.wait()
        try:
            _request(engine, asker, clock())
            outcomes.append("stored")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 6 + ["stored"] * 2
    assert len(_rows(engine)) == 2


# --- picking and running --------------------------------------------------------------------


def test_two_processes_picking_at_once_never_take_one_simulation(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    """The first pick is not committed yet when the second one tries the same row: the
    second waits for it (PostgreSQL: the row lock; SQLite: the write lock) and then finds
    nothing left to take."""
    only = _request(engine, asker, clock())
    data_dir = Settings().data_dir
    second: list[Any] = []

    def pick_too() -> None:
        with unit_of_work(engine) as session:
            second.append(
                simulations.simulation_pick(session=session, now=clock(), data_dir=data_dir)
            )

    with unit_of_work(engine) as session:
        first, _ = simulations.simulation_pick(session=session, now=clock(), data_dir=data_dir)
        other = threading.Thread(target=pick_too)
        other.start()
        time.sleep(0.5)  # the other process is at its pick now, waiting
        assert other.is_alive()
    other.join(timeout=30)
    assert first is not None and first.id == only.id
    assert second == [(None, 0)]
    (row,) = _rows(engine)
    assert row.status == "running" and row.started_at == clock()


def test_many_pickers_at_once_take_each_simulation_once(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    queued = {_request(engine, asker, clock()).id, _request(engine, asker, clock()).id}
    start = threading.Barrier(6)
    taken: list[int] = []

    def pick() -> None:
        start.wait()
        with unit_of_work(engine) as session:
            view, _ = simulations.simulation_pick(
                session=session, now=clock(), data_dir=Settings().data_dir
            )
        if view is not None:
            taken.append(view.id)

    threads = [threading.Thread(target=pick) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == sorted(queued)


def test_the_job_runs_the_oldest_simulation_and_keeps_its_files(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    older = _request(engine, asker, clock(), seeds=2)
    clock.advance(minutes=1)
    newer = _request(engine, asker, clock())
    outcome = _run_next(engine, clock())
    assert outcome == {"ran": 1, "abandoned": 0, "simulation": older.id, "status": "done"}
    rows = {row.id: row for row in _rows(engine)}
    done = rows[older.id]
    assert (done.status, done.done, done.total, done.error) == ("done", 2, 2, None)
    assert done.started_at == clock() and done.finished_at is not None
    assert done.finished_at >= done.started_at
    assert json.loads(done.summary_json or "")["settings"]["days"] == 30
    assert (done.runs_csv or "").count("\n") >= 3  # a header and a line per run
    assert "<svg" in (done.report_html or "") and "<table" in (done.report_html or "")
    assert "<script" not in (done.report_html or "")
    assert rows[newer.id].status == "queued"
    # one at a time: the next tick takes the next one
    assert _run_next(engine, clock())["simulation"] == newer.id
    assert _run_next(engine, clock()) == {"ran": 0}


def test_the_job_writes_the_runs_done_after_each_seed(
    engine: sa.Engine, asker: Principal, clock: TestClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each seed plays every policy: the page hears after each seed, in a unit of work of
    its own (committed, so another request sees it while the simulation goes on)."""
    view = _request(engine, asker, clock(), seeds=3, policies=["strict/first_fit", "strict/ranked"])
    seen: list[tuple[int | None, int]] = []
    record = simulations.simulation_progress

    def progress_and_look(**arguments: Any) -> bool:
        written = record(**arguments)
        if arguments.get("done") is not None:
            arguments["session"].commit()
            seen.append((arguments["done"], _rows(engine)[0].done))
        return written

    monkeypatch.setattr(simulations, "simulation_progress", progress_and_look)
    assert _run_next(engine, clock())["status"] == "done"
    assert seen == [(2, 2), (4, 4), (6, 6)]
    assert _rows(engine)[0].done == view.total == 6


def test_an_unexpected_error_is_named_by_its_kind_only() -> None:
    said = simulations._failure(RuntimeError("a text that could say anything"))
    assert said == (
        "The simulation stopped with an internal error (RuntimeError); "
        "the server's log has the details."
    )


def test_a_simulation_that_cannot_run_fails_with_one_sentence(
    engine: sa.Engine, asker: Principal, clock: TestClock, tmp_path: Path
) -> None:
    """Without the simulator's figures (an empty data folder) it stops at once."""
    view = _request(engine, asker, clock())
    outcome = _run_next(engine, clock(), data_dir=tmp_path)
    assert outcome["status"] == "failed"
    (row,) = _rows(engine)
    assert row.status == "failed" and row.finished_at is not None
    assert row.error and row.error.startswith("The simulator refused to run it: ")
    assert "Traceback" not in row.error and len(row.error) <= simulations.ERROR_LENGTH
    assert row.report_html is None
    with unit_of_work(engine, write=False) as session, pytest.raises(NotFound):
        simulations.simulation_file(session=session, run_id=view.id, name="report.html")


def test_a_simulation_left_running_by_a_dead_process_is_failed_at_the_next_pick(
    engine: sa.Engine, asker: Principal, clock: TestClock
) -> None:
    """Its heartbeat stopped more than STALE_AFTER ago: failed, and the place it held under
    the limit is free again. A running one with a recent heartbeat is left alone."""
    dead = _request(engine, asker, clock())
    alive = _request(engine, asker, clock())
    for view in (dead, alive):
        with unit_of_work(engine) as session:
            picked, _ = simulations.simulation_pick(
                session=session, now=clock(), data_dir=Settings().data_dir
            )
            assert picked is not None and picked.id == view.id
    clock.advance(minutes=9)
    with unit_of_work(engine) as session:
        assert simulations.simulation_progress(session=session, run_id=alive.id, now=clock())
    assert _run_next(engine, clock()) == {"ran": 0}  # nine minutes: not yet
    clock.advance(minutes=2)
    assert _run_next(engine, clock()) == {"ran": 0, "abandoned": 1}
    rows = {row.id: row for row in _rows(engine)}
    assert rows[dead.id].status == "failed" and rows[dead.id].finished_at == clock()
    assert "stopped before finishing it" in (rows[dead.id].error or "")
    assert rows[alive.id].status == "running"
    # the dead process comes back: its row is no longer its own to write
    with unit_of_work(engine) as session:
        assert not simulations.simulation_progress(
            session=session, run_id=dead.id, now=clock(), done=1
        )
        assert not simulations.simulation_finish(
            session=session,
            run_id=dead.id,
            files=dict.fromkeys(simulations.FILE_NAMES, "x"),
            now=clock(),
        )
    assert _rows(engine)[0].status == "failed"
    _request(engine, asker, clock())  # under the limit again


def test_the_heartbeat_beats_while_the_block_runs() -> None:
    beats: list[float] = []
    with simulations._heartbeat(lambda: beats.append(time.monotonic()), 0.02):
        time.sleep(0.3)
    count = len(beats)
    time.sleep(0.1)
    assert count >= 3 and len(beats) == count  # and stops with the block


# --- the pages ------------------------------------------------------------------------------


def _signed_in(client: TestClient[Any], accounts: Accounts, username: str, role: str) -> None:
    use_page_session(client, accounts.headers(username, role)["Authorization"])


def _post(client: TestClient[Any], form: dict[str, Any], **headers: str) -> Any:
    client.get("/simulations")  # the CSRF cookie
    csrf = client.cookies.get("csrftoken") or ""
    return client.post(
        "/simulations",
        data={**form, "_csrf_token": csrf},
        headers=headers,
        follow_redirects=False,
    )


FORM = {"network": "demo", "days": "30", "seeds": "1", "policies": ["strict/ranked"]}


def test_only_counsellors_and_admins_open_the_simulations(
    client: TestClient[Any], accounts: Accounts, admin: dict[str, str]
) -> None:
    facility = create_facility(client, admin)["id"]
    anonymous = client.get("/simulations", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    for role, allowed in (
        ("counsellor", True),
        ("admin", True),
        ("shelter_staff", False),
        ("police", False),
        ("auditor", False),
    ):
        client.cookies.clear()
        facilities = [facility] if role == "shelter_staff" else None
        token = accounts.headers(f"sim-{role}".replace("_", "-"), role, facilities)
        use_page_session(client, token["Authorization"])
        for path in ("/simulations", "/simulations/1", "/simulations/1/report"):
            status = client.get(path).status_code
            assert status == 403 if not allowed else status in (200, 404), (role, path)
        refused = _post(client, FORM)
        assert refused.status_code == (303 if allowed else 403), role


def test_the_form_offers_the_choices_with_its_csrf_token(
    client: TestClient[Any], accounts: Accounts
) -> None:
    _signed_in(client, accounts, "sim-form", "counsellor")
    page = client.get("/simulations", headers=HUNGARIAN).text
    assert "<h1>Eljárásrend-szimulációk</h1>" in page
    form = re.search(r'<form method="post" action="/simulations".*?</form>', page, re.S)
    assert form is not None
    assert 'name="_csrf_token"' in form.group(0)
    assert re.findall(r'<option value="([^"]+)"', form.group(0)) == [
        "demo",
        "synthetic:200",
        "synthetic:500",
        "30",
        "91",
        "182",
        "365",
    ]
    checked = re.findall(r'name="policies" value="([^"]+)" checked', form.group(0))
    assert checked == list(simulations.POLICY_CHOICES)
    assert 'name="seeds" type="number" min="1" max="20" value="5"' in form.group(0)
    assert 'id="reentry" name="reentry" value="1">' in form.group(0)
    assert '<a href="/simulations">Szimulációk</a>' in page  # in the menu
    assert "Még nincs szimuláció." in page


def test_starting_a_simulation_queues_it_and_shows_its_page(
    client: TestClient[Any], accounts: Accounts
) -> None:
    _signed_in(client, accounts, "sim-start", "admin")
    started = _post(client, FORM)
    assert started.status_code == 303
    location = started.headers["location"]
    assert re.fullmatch(r"/simulations/[0-9]+", location)
    page = client.get(location, headers=HUNGARIAN).text
    assert '<meta http-equiv="refresh" content="5">' in page
    assert 'data-status="queued"' in page and "indulásra vár" in page
    assert '<span class="progress">0 / 1</span>' in page
    assert "/report" not in page
    listed = client.get("/simulations", headers=HUNGARIAN).text
    assert 'class="simulation status-queued"' in listed and "0 / 1" in listed
    assert client.get(location + "/report").status_code == 404
    assert client.get(location + "/runs.csv").status_code == 404


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"network": "synthetic:9999"}, "Az oldalon felkínált hálózatok egyikét válassza."),
        ({"days": "7"}, "Válassza ki, hány napot szimuláljon: 30, 91, 182, 365."),
        ({"days": "harminc"}, "Válassza ki, hány napot szimuláljon: 30, 91, 182, 365."),
        ({"seeds": "0"}, "Az ismétlések száma 1 és 20 között lehet."),
        ({"seeds": "21"}, "Az ismétlések száma 1 és 20 között lehet."),
        ({"seeds": "-1"}, "Az ismétlések száma 1 és 20 között lehet."),
        ({"seeds": ""}, "Az ismétlések száma 1 és 20 között lehet."),
        ({"policies": []}, "Jelöljön be legalább egy eljárásrendet."),
        ({"policies": ["strict/nonsense"]}, "Az eljárásrendeket az oldalon felkínált listából"),
    ],
)
def test_a_bad_choice_is_refused_in_hungarian_and_stores_nothing(
    client: TestClient[Any],
    accounts: Accounts,
    settings: Settings,
    change: dict[str, Any],
    says: str,
) -> None:
    _signed_in(client, accounts, "sim-bad", "counsellor")
    refused = _post(client, {**FORM, **change}, **HUNGARIAN)
    assert refused.status_code == 422
    assert '<p class="error" role="alert" id="simulation-error">' in refused.text
    assert says in refused.text
    # the form comes back as it was sent
    if "policies" not in change:
        assert 'value="strict/ranked" checked' in refused.text
        assert refused.text.count('name="policies" value=') == 6
        assert refused.text.count(" checked") == 1
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        assert _rows(engine) == []
    finally:
        engine.dispose()


def test_the_limit_is_said_on_the_page_and_holds(
    client: TestClient[Any], accounts: Accounts, settings: Settings
) -> None:
    _signed_in(client, accounts, "sim-limit", "counsellor")
    assert _post(client, FORM).status_code == 303
    assert _post(client, FORM).status_code == 303
    third = _post(client, FORM, **HUNGARIAN)
    assert third.status_code == 429
    assert "Már 2 szimuláció várakozik vagy fut" in third.text
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        assert [row.status for row in _rows(engine)] == ["queued", "queued"]
    finally:
        engine.dispose()


def test_a_finished_simulation_shows_its_report_under_its_own_policy(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    _signed_in(client, accounts, "sim-done", "counsellor")
    location = _post(client, {**FORM, "seeds": "2"}, **HUNGARIAN).headers["location"]
    runner = runner_at(settings, clock())
    try:
        outcome = runner.run_now("simulation_runs")
    finally:
        runner.engine.dispose()
    assert outcome.status == "ran" and outcome.summary["status"] == "done"

    page = client.get(location, headers=HUNGARIAN).text
    assert 'http-equiv="refresh"' not in page
    assert 'data-status="done"' in page and '<span class="progress">2 / 2</span>' in page
    assert f'<a href="{location}/report" id="open-report">' in page
    for name in ("summary.json", "runs.csv"):
        assert f'href="{location}/{name}" download' in page

    report = client.get(location + "/report")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    policy = report.headers["content-security-policy"]
    assert len(report.headers.get_list("content-security-policy")) == 1
    assert policy == document_policy(report.text) != CONTENT_SECURITY_POLICY
    (style,) = re.findall(r"<style>(.*?)</style>", report.text, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy == (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    assert report.headers["cache-control"] == "no-store"
    assert '<html lang="hu">' in report.text  # the language it was asked for in
    assert "<svg" in report.text and "<table" in report.text

    summary = client.get(location + "/summary.json")
    assert summary.headers["content-disposition"].startswith("attachment;")
    assert json.loads(summary.text)["settings"]["seeds"] == 2
    assert summary.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    csv = client.get(location + "/runs.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("\n") == 3
    listed = client.get("/simulations").text
    assert f'<a href="{location}/report">' in listed


def test_an_error_on_the_report_route_has_the_pages_policy(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    _signed_in(client, accounts, "sim-404", "counsellor")
    missing = client.get("/simulations/999/report")
    assert missing.status_code == 404
    assert missing.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_the_failed_reason_is_shown(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    _signed_in(client, accounts, "sim-fail", "counsellor")
    location = _post(client, FORM).headers["location"]
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine) as session:
            picked, _ = simulations.simulation_pick(
                session=session, now=clock(), data_dir=settings.data_dir
            )
            assert picked is not None
            _fail(session, picked.id, clock())
    finally:
        engine.dispose()
    page = client.get(location).text
    assert 'data-status="failed"' in page and 'http-equiv="refresh"' not in page
    assert '<p class="error" role="alert" id="simulation-failure">out of figures</p>' in page


def _fail(session: Session, run_id: int, now: datetime) -> None:
    assert simulations.simulation_fail(
        session=session, run_id=run_id, message="out of figures", now=now + timedelta(seconds=1)
    )
