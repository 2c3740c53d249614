"""Reads of holds: one hold, a counsellor's recent holds, a facility's incoming ones, and a
hold's family matched again. Writes live in ``broker.services.holds``; nothing here locks
or changes a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from broker.db.models import Facility, Hold, Placement, User
from broker.domain.access import Principal, Role, ensure_own_facility
from broker.domain.requests import request_from_json
from broker.domain.states import HoldState
from broker.errors import NotFound
from broker.i18n import gettext
from broker.services.context import ServiceContext
from broker.services.holds import effective_state
from broker.services.matching import match
from solver.ranking import Ranking


@dataclass(frozen=True, slots=True)
class HoldView:
    hold_id: str
    facility_id: int
    facility_name: str
    kind: str
    region: str
    state: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    meeting_point: str
    persons: int
    family: dict[str, Any]
    needs: dict[str, Any]
    risk: str
    decline_reason: str | None
    decline_note: str | None
    counsellor: str | None
    placement_id: str | None
    case_code: str | None
    transfer_from_placement_id: str | None
    request: dict[str, Any]


def _views(session: Session, statement: Any, now: datetime) -> list[HoldView]:
    rows = session.exec(statement).all()
    placements = (
        {
            p.hold_id: p
            for p in session.exec(
                select(Placement).where(col(Placement.hold_id).in_([h.id for h, _, _ in rows]))
            ).all()
        }
        if rows
        else {}
    )
    views = []
    for hold, facility, username in rows:
        placement = placements.get(hold.id)
        views.append(
            HoldView(
                hold_id=hold.id,
                facility_id=hold.facility_id,
                facility_name=facility.name,
                kind=facility.kind,
                region=facility.region,
                state=effective_state(hold, now),
                created_at=hold.created_at,
                expires_at=hold.expires_at,
                closed_at=hold.closed_at,
                meeting_point=facility.meeting_point,
                persons=hold.beds,
                family=hold.request["family"],
                needs=hold.request["needs"],
                risk=hold.request["risk"],
                decline_reason=hold.decline_reason,
                decline_note=hold.decline_note,
                counsellor=username,
                placement_id=placement.id if placement else None,
                case_code=placement.case_code if placement else None,
                transfer_from_placement_id=hold.transfer_from_placement_id,
                request=hold.request,
            )
        )
    return views


def _hold_query() -> Any:
    return (
        select(Hold, Facility, User.username)
        .join(Facility, Facility.id == Hold.facility_id)  # type: ignore[arg-type]
        .join(User, User.id == Hold.counsellor_user_id, isouter=True)  # type: ignore[arg-type]
    )


def hold_get(*, session: Session, hold_id: str, actor: Principal, now: datetime) -> HoldView:
    views = _views(session, _hold_query().where(Hold.id == hold_id), now)
    if not views:
        raise NotFound(gettext("no hold with id {id}").format(id=hold_id))
    view = views[0]
    if actor.role is Role.SHELTER_STAFF:
        ensure_own_facility(actor, view.facility_id)
    return view


def holds_of_counsellor(
    *, session: Session, actor: Principal, now: datetime, since: timedelta = timedelta(hours=24)
) -> list[HoldView]:
    """The counsellor's own holds of the last day, newest first, with their state."""
    statement = (
        _hold_query()
        .where(Hold.counsellor_user_id == actor.user_id, Hold.created_at >= now - since)
        .order_by(col(Hold.created_at).desc())
    )
    return _views(session, statement, now)


def holds_for_facility(
    *,
    session: Session,
    facility_id: int,
    actor: Principal,
    now: datetime,
    since: timedelta = timedelta(hours=24),
) -> list[HoldView]:
    """A facility's incoming holds: every open one, and the rest of the last day."""
    ensure_own_facility(actor, facility_id)
    statement = (
        _hold_query()
        .where(
            Hold.facility_id == facility_id,
            (Hold.state == HoldState.OPEN) | (Hold.created_at >= now - since),
        )
        .order_by(col(Hold.expires_at))
    )
    return _views(session, statement, now)


def hold_rematch(
    *,
    session: Session,
    context: ServiceContext,
    hold_id: str,
    actor: Principal,
    now: datetime,
) -> tuple[HoldView, Ranking]:
    """The hold's family matched again, leaving out every facility that declined it."""
    view = hold_get(session=session, hold_id=hold_id, actor=actor, now=now)
    ranking = match(
        session=session,
        context=context,
        request=request_from_json(view.request),
        now=now,
        exclude_facility_ids=declined_facilities(session=session, hold_id=hold_id),
    )
    return view, ranking


def declined_facilities(*, session: Session, hold_id: str) -> set[int]:
    """Facilities that declined the same family (the same stored request) as this hold."""
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise NotFound(gettext("no hold with id {id}").format(id=hold_id))
    rows = session.exec(
        select(Hold.facility_id, Hold.request).where(
            Hold.counsellor_user_id == hold.counsellor_user_id, Hold.state == HoldState.DECLINED
        )
    ).all()
    return {facility_id for facility_id, request in rows if request == hold.request}
