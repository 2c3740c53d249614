"""Stays: residents by case code with their stay clock, and departures.

A departure locks the stay, then its open transfer hold, then its facility (the order of
``broker.services.locks``), so it cannot race a transfer's confirmation into two endings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from broker.db.models import Facility, Placement
from broker.domain.access import Principal, ensure_own_facility
from broker.domain.audit_chain import AuditAction
from broker.domain.states import StayState
from broker.domain.stay import days_left, ended
from broker.errors import InvalidInput, NotFound
from broker.i18n import N_, gettext
from broker.services.audit import audit_record
from broker.services.holds import close_pending_transfers, end_stay
from broker.services.locks import lock_placement

# shown translated where a departure is recorded
DEPARTURE_REASONS = {
    "independent_housing": N_("moved to housing of her own"),
    "family_or_friends": N_("moved to family or friends"),
    "returned_to_partner": N_("returned to the partner"),
    "other_service": N_("moved to another service outside the broker"),
    "stay_limit": N_("the stay limit was reached"),
    "house_rules": N_("left after a breach of house rules"),
    "other": N_("another reason"),
}


@dataclass(frozen=True, slots=True)
class ResidentView:
    placement_id: str
    case_code: str
    facility_id: int
    kind: str
    persons: int
    adults: int
    children: int
    started_at: datetime
    limit_at: datetime
    prior_days: int
    days_left: int
    state: str
    transferred_from: str | None


def _resident(placement: Placement, facility: Facility, now: datetime) -> ResidentView:
    family = placement.request["family"]
    return ResidentView(
        placement_id=placement.id,
        case_code=placement.case_code,
        facility_id=placement.facility_id,
        kind=facility.kind,
        persons=placement.beds,
        adults=len(family["adults"]),
        children=len(family["children"]),
        started_at=placement.started_at,
        limit_at=placement.limit_at,
        prior_days=placement.prior_days,
        days_left=days_left(placement.limit_at, now),
        state=placement.state,
        transferred_from=placement.previous_placement_id,
    )


def placement_depart(
    *, session: Session, placement_id: str, reason: str, actor: Principal, now: datetime
) -> ResidentView:
    """Record that a family has left; its unit and beds become free again."""
    if reason not in DEPARTURE_REASONS:
        raise InvalidInput(
            gettext("reason must be one of: {reasons}").format(
                reasons=", ".join(DEPARTURE_REASONS)
            ),
            details=[{"field": "reason", "message": "not in the catalogue"}],
        )
    placement = lock_placement(session, placement_id)
    ensure_own_facility(actor, placement.facility_id)
    if placement.state != StayState.ACTIVE:
        raise ended(placement.state, gettext("this stay has already ended ({state})"))
    # a transfer on its way would otherwise keep a unit at the target until it expired
    close_pending_transfers(session, placement, actor=actor, now=now, why="departed")
    end_stay(session, placement, state=StayState.DEPARTED, reason=reason, now=now)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.PLACEMENT_DEPART,
        subject_type="placement",
        subject_id=placement.id,
        detail={"facility_id": placement.facility_id, "reason": reason},
    )
    facility = session.get(Facility, placement.facility_id)
    assert facility is not None
    return _resident(placement, facility, now)


def residents(
    *, session: Session, facility_id: int, actor: Principal, now: datetime
) -> list[ResidentView]:
    """Current residents of one facility, the nearest stay limit first."""
    ensure_own_facility(actor, facility_id)
    rows = session.exec(
        select(Placement, Facility)
        .join(Facility, Facility.id == Placement.facility_id)  # type: ignore[arg-type]
        .where(Placement.facility_id == facility_id, Placement.state == StayState.ACTIVE)
        .order_by(col(Placement.limit_at), col(Placement.case_code))
    ).all()
    return [_resident(placement, facility, now) for placement, facility in rows]


def placement_get(
    *, session: Session, placement_id: str, actor: Principal, now: datetime
) -> ResidentView:
    placement = session.get(Placement, placement_id)
    if placement is None:
        raise NotFound(gettext("no placement with id {id}").format(id=placement_id))
    if actor.role.value == "shelter_staff":
        ensure_own_facility(actor, placement.facility_id)
    facility = session.get(Facility, placement.facility_id)
    assert facility is not None
    return _resident(placement, facility, now)
