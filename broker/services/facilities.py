"""The facility registry: admins write entries, counsellors and admins read them.

A :class:`FacilityView` is what leaves this module, and it has no address field at all:
the one way to an address is ``broker.services.addresses``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from broker.db.models import Facility, Operator
from broker.domain.access import Principal
from broker.domain.audit_chain import AuditAction
from broker.domain.capacity import NOTHING, Places, available, check_room_for_stays
from broker.domain.facility import (
    STORED_FIELDS,
    FacilitySpec,
    check_facility,
    is_stale,
    stored_value,
)
from broker.errors import InvalidInput, NotFound
from broker.i18n import gettext
from broker.services.audit import audit_record
from broker.services.availability import held_places, staying_places
from broker.services.context import ServiceContext
from broker.services.locks import lock_facility


@dataclass(frozen=True, slots=True)
class FacilityView:
    id: int
    name: str
    kind: str
    operator: str
    region: str
    total_units: int
    total_beds: int
    boys_max_age: int | None
    admits_adult_men: bool
    wheelchair_units: int
    accepts_pets: bool
    languages: list[str]
    night_admission: bool
    accepts_reentry: bool
    largest_unit_beds: int | None
    meeting_point: str
    free_units: int
    free_beds: int
    capacity_reported_at: datetime | None
    stale: bool
    reported_free_units: int
    reported_free_beds: int
    held_units: int
    held_beds: int


@dataclass(frozen=True, slots=True)
class FacilityFilter:
    kind: str | None = None
    region: str | None = None
    with_free_units: bool = False
    ids: frozenset[int] | None = None


def _view(
    row: Facility, operator_name: str, held: Places, *, now: datetime, stale_after: timedelta
) -> FacilityView:
    assert row.id is not None
    free = available(Places(row.reported_free_units, row.reported_free_beds), held)
    return FacilityView(
        id=row.id,
        operator=operator_name,
        **{name: getattr(row, name) for name in STORED_FIELDS},
        free_units=free.units,
        free_beds=free.beds,
        capacity_reported_at=row.capacity_reported_at,
        stale=is_stale(row.capacity_reported_at, now=now, limit=stale_after),
        reported_free_units=row.reported_free_units,
        reported_free_beds=row.reported_free_beds,
        held_units=held.units,
        held_beds=held.beds,
    )


def _spec_of(row: Facility, operator_name: str) -> FacilitySpec:
    values = {name: getattr(row, name) for name in STORED_FIELDS}
    values["languages"] = tuple(values["languages"])
    return FacilitySpec(operator=operator_name, **values)


def operator_get_or_create(*, session: Session, name: str, now: datetime) -> Operator:
    name = name.strip()
    operator = session.exec(select(Operator).where(Operator.name == name)).first()
    if operator is None:
        operator = Operator(name=name, created_at=now)
        session.add(operator)
        session.flush()
    return operator


def _apply_spec(row: Facility, spec: FacilitySpec, operator_id: int) -> None:
    row.operator_id = operator_id
    for name in STORED_FIELDS:
        setattr(row, name, stored_value(name, getattr(spec, name)))


# --- writes -----------------------------------------------------------------------------


def facility_create(
    *,
    session: Session,
    context: ServiceContext,
    spec: FacilitySpec,
    actor: Principal | None,
    now: datetime,
) -> Facility:
    """Register a facility. It starts with no free places and no report (so: stale)."""
    check_facility(spec, context.rules)
    operator = operator_get_or_create(session=session, name=spec.operator, now=now)
    assert operator.id is not None
    row = Facility(
        name="",
        kind="",
        operator_id=operator.id,
        region="",
        total_units=1,
        total_beds=1,
        meeting_point="",
        created_at=now,
        updated_at=now,
    )
    _apply_spec(row, spec, operator.id)
    session.add(row)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.FACILITY_CREATE,
        subject_type="facility",
        subject_id=row.id or "",
    )
    return row


def facility_update(
    *,
    session: Session,
    context: ServiceContext,
    facility_id: int,
    changes: dict[str, Any],
    actor: Principal | None,
    now: datetime,
) -> Facility:
    """Change registry fields; the merged entry is validated whole, and must still hold
    the facility's current free places."""
    row = lock_facility(session, facility_id)
    operator = session.get(Operator, row.operator_id)
    assert operator is not None
    spec = _spec_of(row, operator.name).merged(changes)
    check_facility(spec, context.rules)
    if row.reported_free_units > spec.total_units or row.reported_free_beds > spec.total_beds:
        raise InvalidInput(
            gettext(
                "the new totals are below the facility's reported free places; "
                "the facility must report its capacity again first"
            ),
            details=[{"field": "total_units", "message": "below reported free places"}],
        )
    check_room_for_stays(
        free=Places(row.reported_free_units, row.reported_free_beds),
        staying=staying_places(session=session, facility_id=facility_id),
        totals=Places(spec.total_units, spec.total_beds),
    )
    new_operator = operator
    if spec.operator.strip() != operator.name:
        new_operator = operator_get_or_create(session=session, name=spec.operator, now=now)
    assert new_operator.id is not None
    _apply_spec(row, spec, new_operator.id)
    row.updated_at = now
    session.add(row)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.FACILITY_UPDATE,
        subject_type="facility",
        subject_id=facility_id,
        detail={"fields": sorted(changes)},
    )
    return row


# --- reads ------------------------------------------------------------------------------


def facility_get(
    *, session: Session, context: ServiceContext, facility_id: int, now: datetime
) -> FacilityView:
    statement = (
        select(Facility, Operator.name)
        .join(Operator, Operator.id == Facility.operator_id)  # type: ignore[arg-type]
        .where(Facility.id == facility_id)
    )
    found = session.exec(statement).first()
    if found is None:
        raise NotFound(gettext("no facility with id {id}").format(id=facility_id))
    row, operator_name = found
    held = held_places(session=session, now=now, facility_ids=[facility_id])
    return _view(
        row,
        operator_name,
        held.get(facility_id, NOTHING),
        now=now,
        stale_after=context.stale_after,
    )


def facility_list(
    *,
    session: Session,
    context: ServiceContext,
    now: datetime,
    filters: FacilityFilter = FacilityFilter(),
) -> list[FacilityView]:
    statement = select(Facility, Operator.name).join(
        Operator,
        Operator.id == Facility.operator_id,  # type: ignore[arg-type]
    )
    if filters.kind:
        statement = statement.where(Facility.kind == filters.kind)
    if filters.region:
        statement = statement.where(Facility.region == filters.region)
    if filters.ids is not None:
        statement = statement.where(Facility.id.in_(filters.ids))  # type: ignore[union-attr]
    statement = statement.order_by(col(Facility.region), col(Facility.name), col(Facility.id))
    rows = session.exec(statement).all()
    held = held_places(
        session=session, now=now, facility_ids=None if filters.ids is None else filters.ids
    )
    views = [
        _view(
            row,
            operator_name,
            held.get(row.id or 0, NOTHING),
            now=now,
            stale_after=context.stale_after,
        )
        for row, operator_name in rows
    ]
    if filters.with_free_units:
        views = [view for view in views if view.free_units > 0]
    return views


def view_as_dict(view: FacilityView) -> dict[str, Any]:
    return asdict(view)
