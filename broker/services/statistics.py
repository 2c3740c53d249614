"""Statistics: unmet cases as they happen, the daily snapshot, and the dashboard's series.

Only aggregates leave this module: a day's figures per region and kind, per region, per
kind and for the country, each with small counts suppressed (``broker.domain.statistics``),
and a national count of cases that found no place. An unmet case is stored under a keyed
hash of counsellor, day, family composition and risk, never with anything that names a
person.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from broker.db.models import DailyStatistic, DailyUnmet, Facility, Placement, UnmetCase
from broker.domain.statistics import (
    ALL,
    DayCounts,
    OccupancyCell,
    complete_occupancy,
    occupancy_share,
    shown_counts,
    suppressed,
    unmet_case_key,
    week_start,
    weekly_totals,
    with_aggregates,
)

SeriesPoints = list[tuple[date, float | None]]


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# --- unmet cases --------------------------------------------------------------------------


def unmet_case_record(
    *,
    session: Session,
    key: bytes,
    counsellor_user_id: int,
    request: dict[str, Any],
    now: datetime,
) -> bool:
    """Count the family as a case that found no place, once per counsellor, family and day.

    Runs inside the caller's read transaction (a match writes nothing else), so the insert
    is kept in a savepoint: a concurrent search for the same case (IntegrityError) or a
    SQLite read snapshot that can no longer be turned into a write (OperationalError) loses
    the figure and nothing else. True when this call recorded a new case.
    """
    day = _utc_day(now)
    case_key = unmet_case_key(key, counsellor_user_id=counsellor_user_id, day=day, request=request)
    try:
        with session.begin_nested():
            if session.get(UnmetCase, case_key) is not None:
                return False
            session.add(UnmetCase(case_key=case_key, day=day, first_at=now, met=False))
            session.flush()
    except (IntegrityError, OperationalError):
        return False
    return True


def unmet_case_met(
    *,
    session: Session,
    key: bytes,
    counsellor_user_id: int,
    request: dict[str, Any],
    now: datetime,
) -> bool:
    """The counsellor found a place for the family after all (a hold made the same day):
    the case no longer counts as unmet. True when there was such a case."""
    case_key = unmet_case_key(
        key, counsellor_user_id=counsellor_user_id, day=_utc_day(now), request=request
    )
    result = session.execute(
        sa.update(UnmetCase)
        .where(col(UnmetCase.case_key) == case_key, col(UnmetCase.met).is_(False))
        .values(met=True)
    )
    return bool(getattr(result, "rowcount", 0))


def unmet_cases_met_by_key(*, session: Session, case_keys: list[str]) -> int:
    """Cases known by their stored keys (waiting-list entries keep theirs) found a place
    after all, on whatever day: they no longer count as unmet. The number marked met."""
    if not case_keys:
        return 0
    result = session.execute(
        sa.update(UnmetCase)
        .where(col(UnmetCase.case_key).in_(sorted(set(case_keys))), col(UnmetCase.met).is_(False))
        .values(met=True)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the daily snapshot -------------------------------------------------------------------

# A waiting-list entry waits at most this long (168 hours) and may be met until its end, so
# each snapshot also recounts the unmet figures of this many days before its own.
UNMET_SETTLE_DAYS = 7


def statistics_snapshot(*, session: Session, day: date, min_count: int) -> dict[str, int]:
    """Write ``day``'s figures, replacing any written before for that day.

    Per region and kind of the registry: units in total, units occupied at the end of the
    day (placements started before midnight and not ended by then) and placements started
    during the day (arrivals, transfers included). The same counts per region over all
    kinds (kind ``ALL``), per kind over all regions (region ``ALL``) and for the country
    (both ``ALL``), summed from every cell. Each count is suppressed below ``min_count``
    on its own row.
    Nationally: the unmet cases of the day that were not met by the time of the snapshot.
    A case on the waiting list may still be met (a place found) for up to
    ``UNMET_SETTLE_DAYS``, so the unmet figures of that many earlier days, where written,
    are recounted too. Facilities registered after the day ended are left out.
    """
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    totals = session.execute(
        sa.select(col(Facility.region), col(Facility.kind), sa.func.sum(Facility.total_units))
        .where(col(Facility.created_at) < end)
        .group_by(col(Facility.region), col(Facility.kind))
    ).all()
    occupied = _units_by_cell(
        session,
        (col(Placement.started_at) < end)
        & (col(Placement.ended_at).is_(None) | (col(Placement.ended_at) >= end)),
        sa.func.sum(Placement.units),
    )
    started = _units_by_cell(
        session,
        (col(Placement.started_at) >= start) & (col(Placement.started_at) < end),
        sa.func.count(),
    )
    unmet = _unmet_count(session, day)

    session.execute(sa.delete(DailyStatistic).where(col(DailyStatistic.day) == day))
    session.execute(sa.delete(DailyUnmet).where(col(DailyUnmet.day) == day))
    session.flush()
    figures = with_aggregates(
        {
            (region, kind): DayCounts(
                units_total=int(units_total or 0),
                units_occupied=occupied.get((region, kind), 0),
                placements_started=started.get((region, kind), 0),
            )
            for region, kind, units_total in totals
        }
    )
    totals_shown = shown_counts({k: c.units_total for k, c in figures.items()}, min_count)
    occupied_shown = shown_counts({k: c.units_occupied for k, c in figures.items()}, min_count)
    started_shown = shown_counts({k: c.placements_started for k, c in figures.items()}, min_count)
    for region, kind in figures:
        session.add(
            DailyStatistic(
                day=day,
                region=region,
                kind=kind,
                units_total=totals_shown[(region, kind)],
                units_occupied=occupied_shown[(region, kind)],
                placements_started=started_shown[(region, kind)],
            )
        )
    session.add(DailyUnmet(day=day, cases=int(unmet)))
    session.flush()
    _unmet_recount(session, since=day - timedelta(days=UNMET_SETTLE_DAYS), until=day)
    return {"statistics_rows": len(figures), "unmet_cases": int(unmet)}


def _unmet_count(session: Session, day: date) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(UnmetCase)
            .where(col(UnmetCase.day) == day, col(UnmetCase.met).is_(False))
        ).scalar_one()
    )


def _unmet_recount(session: Session, *, since: date, until: date) -> int:
    """Rewrite the unmet figures already written for the days ``since`` (included) to
    ``until`` (excluded) from their cases as they stand now; the number that changed. A
    day whose case keys were purged already keeps its figure."""
    changed = 0
    rows = session.exec(
        select(DailyUnmet).where(col(DailyUnmet.day) >= since, col(DailyUnmet.day) < until)
    ).all()
    for row in rows:
        kept = session.execute(
            sa.select(sa.func.count()).select_from(UnmetCase).where(col(UnmetCase.day) == row.day)
        ).scalar_one()
        cases = _unmet_count(session, row.day)
        if kept and cases != row.cases:
            row.cases = cases
            session.add(row)
            changed += 1
    return changed


def _units_by_cell(session: Session, condition: Any, measure: Any) -> dict[tuple[str, str], int]:
    rows = session.execute(
        sa.select(col(Facility.region), col(Facility.kind), measure)
        .select_from(Placement)
        .join(Facility, col(Facility.id) == col(Placement.facility_id))
        .where(condition)
        .group_by(col(Facility.region), col(Facility.kind))
    ).all()
    return {(region, kind): int(value or 0) for region, kind, value in rows}


# --- the dashboard ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DashboardData:
    """What the dashboard shows for the days ``since`` to ``until`` (both included).

    Occupancy is a share of units (0 to 1) per day, None where no figure may be shown (no
    snapshot, or the figure's own count suppressed). ``counted_regions`` are the regions that
    had units on some day of the range, shown or not. Unmet cases are per ISO week (its
    Monday), None where the week's count is suppressed; weeks without any snapshot are left
    out.
    """

    since: date
    until: date
    days: list[date]
    by_kind: dict[str, SeriesPoints]
    by_region: dict[str, SeriesPoints]
    national: SeriesPoints
    counted_regions: frozenset[str]
    unmet_weeks: list[tuple[date, int | None]]
    min_count: int

    @property
    def has_figures(self) -> bool:
        return any(value is not None for _, value in self.national) or bool(self.unmet_weeks)


def dashboard_until(*, session: Session, today: date) -> date:
    """The last day the dashboard shows: yesterday (the nightly run's day), or a later day
    up to today when figures were written for it (the job run by hand during the day)."""
    latest = [
        session.execute(sa.select(sa.func.max(col(table.day))).where(col(table.day) <= today))
        .scalars()
        .one()
        for table in (DailyStatistic, DailyUnmet)
    ]
    return max([today - timedelta(days=1), *(day for day in latest if day is not None)])


def dashboard_series(
    *, session: Session, since: date, until: date, min_count: int
) -> DashboardData:
    days = [since + timedelta(days=offset) for offset in range((until - since).days + 1)]
    rows = session.exec(
        select(DailyStatistic).where(
            col(DailyStatistic.day) >= since, col(DailyStatistic.day) <= until
        )
    ).all()
    figures = _occupancy_figures(
        [
            OccupancyCell(
                day=row.day,
                region=row.region,
                kind=row.kind,
                units_total=row.units_total,
                units_occupied=row.units_occupied,
            )
            for row in rows
        ]
    )
    # Whole weeks: the first week of the range is counted from its Monday.
    unmet_rows = session.exec(
        select(DailyUnmet).where(
            col(DailyUnmet.day) >= week_start(since), col(DailyUnmet.day) <= until
        )
    ).all()
    weeks = weekly_totals({row.day: row.cases for row in unmet_rows})

    def series(region: str, kind: str) -> SeriesPoints:
        return [(day, figures.get((day, region, kind))) for day in days]

    kinds = sorted({kind for _, region, kind in figures if region == ALL and kind != ALL})
    regions = sorted({region for _, region, kind in figures if kind == ALL and region != ALL})
    return DashboardData(
        since=since,
        until=until,
        days=days,
        by_kind={kind: series(ALL, kind) for kind in kinds},
        by_region={region: series(region, ALL) for region in regions},
        national=series(ALL, ALL),
        # a suppressed total is 1 to min_count - 1 units: there were units
        counted_regions=frozenset(
            row.region for row in rows if row.region != ALL and row.units_total != 0
        ),
        unmet_weeks=[(week, suppressed(count, min_count)) for week, count in weeks.items()],
        min_count=min_count,
    )


def _occupancy_figures(
    cells: list[OccupancyCell],
) -> dict[tuple[date, str, str], float | None]:
    """Occupied share per (day, region, kind) for each region (kind ``ALL``), each kind
    (region ``ALL``) and the country (both ``ALL``).

    A day written with its aggregate rows reads them as they are. A day written before
    those rows existed (cells only) gets an aggregate only where every cell of it was shown,
    so that the cells add up to the true figure; otherwise none.
    """
    complete_days = {cell.day for cell in cells if cell.region == ALL and cell.kind == ALL}
    figures: dict[tuple[date, str, str], float | None] = {}
    older: dict[tuple[date, str, str], list[OccupancyCell]] = defaultdict(list)
    for cell in cells:
        if cell.day in complete_days:
            if ALL in (cell.region, cell.kind):
                figures[(cell.day, cell.region, cell.kind)] = occupancy_share(cell)
        else:
            for region, kind in ((cell.region, ALL), (ALL, cell.kind), (ALL, ALL)):
                older[(cell.day, region, kind)].append(cell)
    figures.update({key: complete_occupancy(group) for key, group in older.items()})
    return figures
