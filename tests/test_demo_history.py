"""The demo's simulated past (``broker demo --history DAYS``): what it writes agrees with the
run it comes from and with every invariant ``broker db check`` knows, the dashboard has its
figures, the same day gives the same rows, and the command line writes it."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.cli import main
from broker.db.engine import make_engine, unit_of_work
from broker.db.models import (
    CapacityReport,
    DailyStatistic,
    DailyUnmet,
    Facility,
    Hold,
    Placement,
    UnmetCase,
)
from broker.domain.states import HoldState, StayState
from broker.domain.statistics import ALL
from broker.errors import Conflict, InvalidInput
from broker.network import load_demo
from broker.services.context import ServiceContext
from broker.services.statistics import dashboard_series
from broker.settings import Settings
from broker.simulation.history import (
    HistorySummary,
    SimulatedPast,
    demo_history_write,
    simulate_past,
)
from tests.integrity_support import assert_consistent

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
DAYS = 30


def _write(settings: Settings, days: int = DAYS, now: datetime = NOW) -> HistorySummary:
    """The demo and its past in one unit of work, as ``broker demo --history`` does."""
    context = ServiceContext.from_settings(settings)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            load_demo(
                session=session,
                context=context,
                path=settings.data_dir / "demo_network.toml",
                now=now,
            )
            return demo_history_write(session=session, context=context, days=days, now=now)
    finally:
        engine.dispose()


@contextmanager
def _read(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _day(past: SimulatedPast, hour: float) -> date:
    return past.at(hour).date()


def _expected_stays(past: SimulatedPast) -> list[Any]:
    """The stays that lasted into the counted days, and those they were transferred
    from, worked out here from the run's history alone."""
    first_hour, _ = past.window
    stays = past.history.stays
    moved_out = {
        (s.family, s.ended): i for i, s in enumerate(stays) if s.how_it_ended == "transfer"
    }
    chosen = {i for i, s in enumerate(stays) if s.ended is None or s.ended > first_hour}
    todo = list(chosen)
    while todo:
        stay = stays[todo.pop()]
        before = moved_out.get((stay.family, stay.started))
        if before is not None and before not in chosen:
            chosen.add(before)
            todo.append(before)
    return [stays[i] for i in sorted(chosen)]


def test_thirty_days_agree_with_the_run_and_the_invariants(settings: Settings) -> None:
    summary = _write(settings)
    assert_consistent(settings.database_url, now=NOW)
    past = simulate_past(context=ServiceContext.from_settings(settings), days=DAYS, now=NOW)
    assert past.first_day == date(2026, 10, 22)  # the last counted day is yesterday
    stays = _expected_stays(past)
    opened = [stay for stay in stays if stay.ended is None]
    first_hour, end_hour = past.window
    turned_away = Counter(
        _day(past, hour) for hour, _ in past.history.turned_away if first_hour <= hour < end_hour
    )
    assert summary == HistorySummary(DAYS, len(stays), len(opened), turned_away.total(), DAYS)

    with _read(settings) as session:
        placements = session.exec(select(Placement)).all()
        holds = session.exec(select(Hold)).all()
        assert len(placements) == len(holds) == len(stays) > 50
        assert {hold.state for hold in holds} == {HoldState.CONFIRMED}
        active = [p for p in placements if p.state == StayState.ACTIVE]
        assert len(active) == len(opened)
        # a stay reaching its limit after the run's end (today's midnight) is still open
        assert all(p.ended_at is None and p.limit_at > past.at(end_hour) for p in active)
        transfers = sum(1 for stay in stays if stay.how_it_ended == "transfer")
        assert sum(1 for p in placements if p.previous_placement_id) == transfers
        # a transfer continues its case; every other stay starts one
        assert len({p.case_id for p in placements}) == len(stays) - transfers

        # the free places of every facility are its totals less its open stays, which are
        # the run's at its end
        rows = {row.name: row for row in session.exec(select(Facility)).all()}
        last_day = past.history.free_at_day_end[-1]
        for index, state in enumerate(past.sim.facilities):
            row = rows[state.name]
            mine = [p for p in active if p.facility_id == row.id]
            assert row.total_units - row.reported_free_units == len(mine)
            assert row.total_beds - row.reported_free_beds == sum(p.beds for p in mine)
            assert (row.reported_free_units, row.reported_free_beds) == last_day[index]
        assert session.exec(select(CapacityReport)).first() is not None

        # one unmet case per family turned away, on its day
        cases = Counter(case.day for case in session.exec(select(UnmetCase)).all())
        assert cases == turned_away
        unmet = {row.day: row.cases for row in session.exec(select(DailyUnmet)).all()}
        days = [past.first_day + timedelta(days=k) for k in range(DAYS)]
        assert unmet == {day: turned_away.get(day, 0) for day in days}

        # a day's national figures: its units and those occupied at its end
        national = {
            row.day: row
            for row in session.exec(
                select(DailyStatistic).where(
                    col(DailyStatistic.region) == ALL, col(DailyStatistic.kind) == ALL
                )
            ).all()
        }
        assert sorted(national) == days
        for offset, day in enumerate(days):
            free = past.history.free_at_day_end[past.warm_up_days + offset]
            assert national[day].units_total == sum(past.sim.total_units)
            assert national[day].units_occupied == sum(past.sim.total_units) - sum(
                units for units, _ in free
            )
        series = dashboard_series(
            session=session,
            since=days[0],
            until=days[-1],
            min_count=settings.stats_min_count,
        )
        assert series.has_figures and all(value is not None for _, value in series.national)
        assert series.by_kind and series.unmet_weeks


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The written rows, with the random ids of holds and stays replaced by their places in
    time order (case codes and ids are drawn as the broker draws them, at random)."""
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            placements = session.exec(
                select(Placement).order_by(
                    col(Placement.started_at), col(Placement.facility_id), col(Placement.beds)
                )
            ).all()
            place = {p.id: index for index, p in enumerate(placements)}
            hold_of = {p.hold_id: place[p.id] for p in placements}
            found: dict[str, list[tuple[Any, ...]]] = {
                "placements": [
                    (
                        p.facility_id,
                        p.beds,
                        p.state,
                        p.started_at,
                        p.ended_at,
                        p.end_reason,
                        p.limit_at,
                        p.prior_days,
                        str(sorted(p.request.items())),
                        place[p.case_id or ""],
                        place.get(p.previous_placement_id or ""),
                    )
                    for p in placements
                ],
                "holds": sorted(
                    (
                        hold_of[h.id],
                        h.state,
                        h.facility_id,
                        h.created_at,
                        h.closed_at,
                        place.get(h.transfer_from_placement_id or ""),
                    )
                    for h in session.exec(select(Hold)).all()
                ),
            }
            for table in (CapacityReport, UnmetCase, DailyStatistic, DailyUnmet, Facility):
                # an address is encrypted with a fresh nonce each time
                skip = {"id", "address_ciphertext"}
                columns = [c for c in sa.inspect(table).columns if c.name not in skip]
                statement = sa.select(*columns).order_by(*columns)
                found[table.__name__] = [tuple(r) for r in session.execute(statement)]
            return found
    finally:
        engine.dispose()


def _fresh(template: Path, target: Path) -> Settings:
    shutil.copyfile(template, target)
    return Settings(database_url=f"sqlite:///{target}", stale_after_minutes=24 * 60, language="en")


def test_the_same_day_gives_the_same_past(sqlite_template: Path, tmp_path: Path) -> None:
    first = _fresh(sqlite_template, tmp_path / "first.db")
    second = _fresh(sqlite_template, tmp_path / "second.db")
    assert _write(first, days=10) == _write(second, days=10)
    assert _rows(first.database_url) == _rows(second.database_url)

    # written once only: a second past would contradict the first
    engine = make_engine(first.database_url, pool_size=1)
    try:
        with (
            pytest.raises(Conflict),
            unit_of_work(engine, audit_key=first.audit_key_bytes) as session,
        ):
            demo_history_write(
                session=session,
                context=ServiceContext.from_settings(first),
                days=10,
                now=NOW,
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("days", [0, -1, 367, 400])
def test_days_out_of_range_are_refused(sqlite_template: Path, tmp_path: Path, days: int) -> None:
    settings = _fresh(sqlite_template, tmp_path / "refused.db")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with (
            pytest.raises(InvalidInput, match="1 to 366 days"),
            unit_of_work(engine, audit_key=settings.audit_key_bytes) as session,
        ):
            demo_history_write(
                session=session,
                context=ServiceContext.from_settings(settings),
                days=days,
                now=NOW,
            )
    finally:
        engine.dispose()


def test_the_summary_reads_as_a_sentence() -> None:
    assert str(HistorySummary(90, 123, 14, 45, 90)) == (
        "90 days: 123 stays (14 open), 45 families turned away, 90 daily statistics"
    )
    assert str(HistorySummary(1, 1, 1, 1, 1)) == (
        "1 day: 1 stay (1 open), 1 family turned away, 1 daily statistic"
    )


def test_the_demo_command_writes_a_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("BROKER_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "--history", "14"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^simulated past written: 14 days: \d+ stays \(\d+ open\), \d+ famil(y|ies) turned "
        r"away, 14 daily statistics$",
        out,
        re.MULTILINE,
    ), out
    assert_consistent(url)
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            days = session.exec(select(col(DailyUnmet.day))).all()
    finally:
        engine.dispose()
    today = datetime.now(UTC).date()
    assert sorted(days) == [today - timedelta(days=k) for k in range(14, 0, -1)]
