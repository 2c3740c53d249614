"""Reads of what is free now: reported places minus open, unexpired holds."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from broker.db.models import Facility, Hold
from broker.domain.capacity import Places, available
from solver.instance import FacilityState

OPEN = "open"


def held_places(
    *, session: Session, now: datetime, facility_ids: Collection[int] | None = None
) -> dict[int, Places]:
    """Units and beds under open holds that have not yet expired, per facility."""
    statement = (
        sa.select(col(Hold.facility_id), sa.func.sum(Hold.units), sa.func.sum(Hold.beds))
        .where(col(Hold.state) == OPEN, col(Hold.expires_at) > now)
        .group_by(col(Hold.facility_id))
    )
    if facility_ids is not None:
        statement = statement.where(Hold.facility_id.in_(list(facility_ids)))  # type: ignore[attr-defined]
    return {
        facility_id: Places(int(units or 0), int(beds or 0))
        for facility_id, units, beds in session.execute(statement)
    }


_STATE_COLUMNS = [
    col(column)
    for column in (
        Facility.id,
        Facility.name,
        Facility.kind,
        Facility.region,
        Facility.operator_id,
        Facility.reported_free_units,
        Facility.reported_free_beds,
        Facility.boys_max_age,
        Facility.admits_adult_men,
        Facility.wheelchair_units,
        Facility.accepts_pets,
        Facility.languages,
        Facility.night_admission,
        Facility.accepts_reentry,
        Facility.capacity_reported_at,
    )
]


def facility_states(
    *, session: Session, now: datetime, stale_after: timedelta
) -> list[FacilityState]:
    """Every facility as matching sees it, with what is available after holds."""
    held = held_places(session=session, now=now)
    nothing = Places(0, 0)
    limit_hours = stale_after.total_seconds() / 3600
    states: list[FacilityState] = []
    for row in session.execute(sa.select(*_STATE_COLUMNS)):
        free = available(
            Places(row.reported_free_units, row.reported_free_beds), held.get(row.id, nothing)
        )
        age = (
            None
            if row.capacity_reported_at is None
            else (now - row.capacity_reported_at).total_seconds() / 3600
        )
        states.append(
            FacilityState(
                id=row.id,
                name=row.name,
                kind=row.kind,
                region=row.region,
                operator_id=row.operator_id,
                free_units=free.units,
                free_beds=free.beds,
                boys_max_age=row.boys_max_age,
                admits_adult_men=row.admits_adult_men,
                wheelchair_units=row.wheelchair_units,
                accepts_pets=row.accepts_pets,
                languages=frozenset(row.languages),
                night_admission=row.night_admission,
                accepts_reentry=row.accepts_reentry,
                report_age_hours=age,
                stale=age is None or age > limit_hours,
            )
        )
    return states
