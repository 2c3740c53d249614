"""Reads of what is free now: reported places minus open, unexpired holds."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broker.db.models import Facility, Hold, Placement
from broker.db.revision import current_revision
from broker.domain.capacity import Places, available, usable
from broker.domain.facility import MATCHING_FIELDS, matching_value
from broker.domain.states import HoldState, StayState
from solver.instance import FacilityState


def held_places(
    *, session: Session, now: datetime, facility_ids: Collection[int] | None = None
) -> dict[int, Places]:
    """Units and beds under open holds that have not yet expired, per facility."""
    statement = (
        sa.select(col(Hold.facility_id), sa.func.sum(Hold.units), sa.func.sum(Hold.beds))
        .where(col(Hold.state) == HoldState.OPEN, col(Hold.expires_at) > now)
        .group_by(col(Hold.facility_id))
    )
    if facility_ids is not None:
        statement = statement.where(col(Hold.facility_id).in_(list(facility_ids)))
    return {
        facility_id: Places(int(units or 0), int(beds or 0))
        for facility_id, units, beds in session.execute(statement)
    }


def staying_places(*, session: Session, facility_id: int) -> Places:
    """Units and beds taken by the families staying at the facility now (arrived through
    the broker). With the free places reported, they can never exceed the totals."""
    units, beds = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Placement.units), 0),
            sa.func.coalesce(sa.func.sum(Placement.beds), 0),
        ).where(col(Placement.facility_id) == facility_id, col(Placement.state) == StayState.ACTIVE)
    ).one()
    return Places(int(units), int(beds))


# The live columns, then every registry field matching reads (derived from the spec).
_STATE_COLUMNS = [
    col(column)
    for column in (
        Facility.id,
        Facility.operator_id,
        Facility.reported_free_units,
        Facility.reported_free_beds,
        Facility.capacity_reported_at,
        *(getattr(Facility, name) for name in MATCHING_FIELDS),
    )
]


def facility_state(row: Any, free: Places) -> FacilityState:
    """A facility (ORM object or selected row with the same names) as matching sees it."""
    return FacilityState(
        id=row.id,
        operator_id=row.operator_id,
        free_units=free.units,
        free_beds=free.beds,
        reported_at=row.capacity_reported_at,
        **{name: matching_value(name, getattr(row, name)) for name in MATCHING_FIELDS},
    )


def _reported_states(
    session: Session, *, changed_after: int | None = None
) -> tuple[list[FacilityState], dict[int, Places]]:
    """Facilities with their reported free places (no holds subtracted yet): all of them,
    or those changed after a registry revision."""
    states: list[FacilityState] = []
    reported: dict[int, Places] = {}
    statement = sa.select(*_STATE_COLUMNS)
    if changed_after is not None:
        statement = statement.where(col(Facility.row_version) > changed_after)
    for row in session.execute(statement):
        reported[row.id] = Places(row.reported_free_units, row.reported_free_beds)
        states.append(facility_state(row, usable(row.reported_free_units, row.reported_free_beds)))
    return states, reported


def _subtract_holds(
    states: list[FacilityState], reported: dict[int, Places], held: dict[int, Places]
) -> list[FacilityState]:
    if not held:
        return states
    result = list(states)
    for index, state in enumerate(states):
        places = held.get(state.id)
        if places is not None:
            free = available(reported[state.id], places)
            result[index] = replace(state, free_units=free.units, free_beds=free.beds)
    return result


def facility_states(*, session: Session, now: datetime) -> list[FacilityState]:
    """Every facility as matching sees it, with what is available after holds (uncached)."""
    states, reported = _reported_states(session)
    return _subtract_holds(states, reported, held_places(session=session, now=now))


class FacilitySnapshot:
    """Facility states kept in memory between requests. Each request reads the registry
    revision; when it moved (a facility changed, in any process), only the rows stamped
    since are read again. Holds are read fresh every time: they come and go and expire by
    the clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._by_id: dict[int, FacilityState] = {}
        self._reported: dict[int, Places] = {}
        self._states: list[FacilityState] = []

    def states(self, *, session: Session, now: datetime) -> list[FacilityState]:
        revision = current_revision(session)
        with self._lock:
            if self._revision is None or revision < self._revision:
                # first use, or a database that went back (restored): read everything
                states, self._reported = _reported_states(session)
                self._by_id = {state.id: state for state in states}
                self._states = states
            elif revision > self._revision:
                changed, reported = _reported_states(session, changed_after=self._revision)
                self._by_id.update((state.id, state) for state in changed)
                self._reported = {**self._reported, **reported}
                self._states = list(self._by_id.values())
            self._revision = revision
            states, reported = self._states, self._reported
        return _subtract_holds(states, reported, held_places(session=session, now=now))
