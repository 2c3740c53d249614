"""Holds: a unit reserved while a family travels, then confirmed, declined or released.

Every write here locks what it decides on before deciding (``broker.services.locks``, in
the one order that module states): a hold is created only after its facility's row is
locked, so two counsellors asking for the same last unit are served one after the other
and the second sees the first's hold; a confirmation locks the stay it transfers from, the
hold and both facilities; a transfer locks the stay, so a second transfer of the same stay
sees the first one's hold. The database's unique indexes (migration 0008) refuse whatever
might still slip through.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, select

from broker.db.models import Facility, Hold, Operator, Placement
from broker.domain.access import Principal, Role, ensure_own_facility
from broker.domain.audit_chain import AuditAction
from broker.domain.capacity import Places, after_arrival, after_departure, available
from broker.domain.identity import Identity
from broker.domain.requests import check_regions, request_from_json, request_to_json
from broker.domain.rules import Rules
from broker.domain.states import Audience, Event, HoldState, StayState
from broker.domain.stay import PastStay, ended, prior_days_on_clock, stay_limit, transfer_refusal
from broker.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from broker.i18n import N_, gettext
from broker.services.audit import audit_record
from broker.services.availability import facility_state, held_places, staying_places
from broker.services.context import HoldLimits, ServiceContext
from broker.services.locks import (
    lock_expired_holds,
    lock_facilities,
    lock_facility,
    lock_hold,
    lock_open_transfer_holds,
    lock_placement,
)
from broker.services.notifications import notify
from broker.services.police import identity_carry, identity_check, identity_record
from broker.services.statistics import unmet_case_met
from solver.feasibility import REASONS, prepare, rule_reason
from solver.instance import PlacementRequest

MAX_DECLINE_NOTE = 300
# shown translated where a hold is declined and where a declined hold is read
DECLINE_REASONS = {
    "no_place": N_("no place after all"),
    "risk_too_high": N_("the risk is too high for this house"),
    "family_composition": N_("the family's composition does not fit"),
    "other": N_("another reason"),
}
CASE_CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY34679"


def effective_state(hold: Hold, now: datetime) -> str:
    """An open hold past its expiry is expired at once, job or no job."""
    if hold.state == HoldState.OPEN and hold.expires_at <= now:
        return HoldState.EXPIRED
    return hold.state


def _ttl(minutes: int | None, limits: HoldLimits) -> timedelta:
    default, maximum = limits.default_minutes, limits.max_minutes
    value = default if minutes is None else minutes
    if not 1 <= value <= maximum:
        raise InvalidInput(
            gettext("ttl_minutes must be between 1 and {maximum}").format(maximum=maximum),
            details=[{"field": "ttl_minutes", "message": f"1-{maximum}"}],
        )
    return timedelta(minutes=value)


# --- writes -----------------------------------------------------------------------------


def hold_create(
    *,
    session: Session,
    context: ServiceContext,
    request: PlacementRequest,
    facility_id: int,
    ttl_minutes: int | None,
    actor: Principal,
    now: datetime,
    transfer_from_placement_id: str | None = None,
    from_call: bool = True,
) -> tuple[Hold, Facility]:
    """Reserve one unit and the family's beds, or refuse: 422 when the facility does not
    fit the family at all, 409 when it would but the place is gone. A hold made during a
    call (not from a plan) meets a case this counsellor counted as unmet today."""
    ttl = _ttl(ttl_minutes, context.hold_limits)
    check_regions(request, context.rules)
    facility = lock_facility(session, facility_id)
    need = Places(1, request.family.persons)
    held = held_places(session=session, now=now, facility_ids=[facility_id]).get(
        facility_id, Places(0, 0)
    )
    free = available(Places(facility.reported_free_units, facility.reported_free_beds), held)
    network = context.network()
    reason = rule_reason(prepare(request, network), facility_state(facility, free), network)
    if reason is not None:
        raise InvalidInput(
            gettext("{name} does not fit this family: {reason}").format(
                name=facility.name, reason=gettext(REASONS[reason])
            ),
            details=[{"field": "facility_id", "message": reason}],
        )
    if not free.covers(need):
        raise Conflict(
            gettext(
                "the place is gone: {name} has {free_units} free units and {free_beds} free "
                "beds now, the family needs 1 unit and {beds} beds; match again"
            ).format(
                name=facility.name, free_units=free.units, free_beds=free.beds, beds=need.beds
            ),
            details=[{"field": "facility_id", "message": "no_free_unit"}],
        )
    hold = Hold(
        id=uuid.uuid4().hex,
        facility_id=facility_id,
        counsellor_user_id=actor.user_id,
        state=HoldState.OPEN,
        units=need.units,
        beds=need.beds,
        request=request_to_json(request),
        created_at=now,
        expires_at=now + ttl,
        transfer_from_placement_id=transfer_from_placement_id,
    )
    session.add(hold)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.HOLD_CREATE,
        subject_type="hold",
        subject_id=hold.id,
        detail={"facility_id": facility_id, "beds": need.beds},
    )
    if from_call and transfer_from_placement_id is None:
        unmet_case_met(
            session=session,
            key=context.case_key,
            counsellor_user_id=actor.user_id,
            request=hold.request,
            now=now,
        )
    notify(
        session=session,
        event=Event.HOLD_INCOMING,
        audience=Audience.FACILITY,
        facility_id=facility_id,
        payload={
            "hold_id": hold.id,
            "facility_id": facility_id,
            "beds": need.beds,
            "expires_at": hold.expires_at.isoformat(),
        },
        now=now,
    )
    return hold, facility


def _new_case_code(session: Session) -> str:
    while True:
        raw = "".join(secrets.choice(CASE_CODE_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        if session.exec(select(Placement.id).where(Placement.case_code == code)).first() is None:
            return code


def _stay_history(
    session: Session, placement_id: str | None, rules: Rules, now: datetime
) -> list[PastStay]:
    history: list[PastStay] = []
    seen: set[str] = set()
    while placement_id is not None and placement_id not in seen:
        seen.add(placement_id)
        row = session.get(Placement, placement_id)
        if row is None:
            break
        facility = session.get(Facility, row.facility_id)
        assert facility is not None
        history.append(
            PastStay(
                kind_clock=rules.kind(facility.kind).stay_clock,
                started_at=row.started_at,
                ended_at=row.ended_at or now,
            )
        )
        placement_id = row.previous_placement_id
    return history


def end_stay(
    session: Session, placement: Placement, *, state: str, reason: str, now: datetime
) -> None:
    """End a stay that the caller has locked, with its facility: the places come back."""
    facility = lock_facility(session, placement.facility_id)
    freed = after_departure(
        Places(facility.reported_free_units, facility.reported_free_beds),
        Places(placement.units, placement.beds),
        Places(facility.total_units, facility.total_beds),
    )
    facility.reported_free_units, facility.reported_free_beds = freed.units, freed.beds
    placement.state, placement.ended_at, placement.end_reason = state, now, reason
    session.add(facility)
    session.add(placement)


def close_pending_transfers(
    session: Session,
    placement: Placement,
    *,
    actor: Principal,
    now: datetime,
    why: str,
    locked: list[Hold] | None = None,
) -> None:
    """Release the stay's open transfer hold (the stay ended, or an evacuation takes over),
    so that it stops holding a unit at the target; one already past its expiry is closed
    as expired. The stay must be locked already; ``locked`` are its open transfer holds
    when the caller has locked them."""
    for hold in lock_open_transfer_holds(session, placement.id) if locked is None else locked:
        if hold.expires_at <= now:
            hold.state, hold.closed_at = HoldState.EXPIRED, now
            session.add(hold)
        else:
            _release(session, hold, actor=actor, now=now, why=why)


def _release(session: Session, hold: Hold, *, actor: Principal, now: datetime, why: str) -> None:
    hold.state, hold.closed_at = HoldState.RELEASED, now
    session.add(hold)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.HOLD_RELEASE,
        subject_type="hold",
        subject_id=hold.id,
        detail={"facility_id": hold.facility_id, "why": why},
    )


def hold_confirm(
    *,
    session: Session,
    context: ServiceContext,
    hold_id: str,
    actor: Principal,
    now: datetime,
    identity: Identity | None = None,
) -> Placement:
    """The family has arrived: the receiving facility's staff turn the hold into a stay.

    Staff may record the resident's identity (kept only as a keyed hash, with her consent
    choice, for police inquiries); a transferred resident keeps the one already recorded."""
    if identity is not None:  # refused before anything is written
        identity_check(full_name=identity.full_name, birth_date=identity.birth_date, now=now)
    # The hold's facility and transfer source never change, so they may be read before the
    # locks; the lock order (stay, hold, facilities) is then the same as every other write's.
    peek = session.get(Hold, hold_id)
    if peek is None:
        raise NotFound(gettext("no hold with id {id}").format(id=hold_id))
    ensure_own_facility(actor, peek.facility_id)
    previous = (
        lock_placement(session, peek.transfer_from_placement_id)
        if peek.transfer_from_placement_id is not None
        else None
    )
    hold = lock_hold(session, hold_id)
    state = effective_state(hold, now)
    if state != HoldState.OPEN:
        raise ended(state, gettext("this hold is {state}; only an open hold can be confirmed"))
    if previous is not None and previous.state != StayState.ACTIVE:
        raise Conflict(
            gettext("the resident to be transferred is no longer staying at the first facility")
        )
    locked = lock_facilities(
        session, [hold.facility_id] + ([previous.facility_id] if previous else [])
    )
    facility = locked[hold.facility_id]
    staying = staying_places(session=session, facility_id=hold.facility_id)
    if staying.units + hold.units > facility.total_units:
        raise Conflict(
            gettext(
                "{name} has all its {units} units taken by families staying there; "
                "record a departure first"
            ).format(name=facility.name, units=facility.total_units)
        )
    rule = context.rules.kind(facility.kind)
    history = _stay_history(session, hold.transfer_from_placement_id, context.rules, now)
    prior = prior_days_on_clock(rule.stay_clock, history)
    placement_id = uuid.uuid4().hex
    placement = Placement(
        id=placement_id,
        case_code=_new_case_code(session),
        case_id=(previous.case_id or previous.id) if previous else placement_id,
        facility_id=hold.facility_id,
        hold_id=hold.id,
        request=hold.request,
        units=hold.units,
        beds=hold.beds,
        state=StayState.ACTIVE,
        started_at=now,
        prior_days=prior,
        limit_at=stay_limit(rule, now, prior),
        previous_placement_id=previous.id if previous else None,
    )
    arrived = after_arrival(
        Places(facility.reported_free_units, facility.reported_free_beds),
        Places(hold.units, hold.beds),
    )
    facility.reported_free_units, facility.reported_free_beds = arrived.units, arrived.beds
    hold.state, hold.closed_at = HoldState.CONFIRMED, now
    if previous is not None:
        # ended before the new stay is written: a case has one active stay at every flush
        end_stay(session, previous, state=StayState.TRANSFERRED, reason="transferred", now=now)
    session.add_all([facility, hold, placement])
    session.flush()
    if identity is not None:
        identity_record(
            session=session,
            key=context.identity_key,
            placement=placement,
            identity=identity,
            now=now,
        )
    elif previous is not None:
        identity_carry(session=session, from_placement_id=previous.id, to_placement_id=placement.id)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.HOLD_CONFIRM,
        subject_type="hold",
        subject_id=hold.id,
        detail={
            "facility_id": hold.facility_id,
            "placement_id": placement.id,
            "identity_recorded": identity is not None,
        },
    )
    return placement


def hold_decline(
    *,
    session: Session,
    hold_id: str,
    reason: str,
    note: str | None,
    actor: Principal,
    now: datetime,
) -> Hold:
    if reason not in DECLINE_REASONS:
        raise InvalidInput(
            gettext("reason must be one of: {reasons}").format(reasons=", ".join(DECLINE_REASONS)),
            details=[{"field": "reason", "message": "not in the catalogue"}],
        )
    note = (note or "").strip()
    if len(note) > MAX_DECLINE_NOTE:
        limit = gettext("at most {max} characters").format(max=MAX_DECLINE_NOTE)
        raise InvalidInput(
            gettext("The note can be at most {max} characters long.").format(max=MAX_DECLINE_NOTE),
            details=[{"field": "note", "message": limit}],
        )
    hold = lock_hold(session, hold_id)
    ensure_own_facility(actor, hold.facility_id)
    state = effective_state(hold, now)
    if state != HoldState.OPEN:
        raise ended(state, gettext("this hold is {state}; only an open hold can be declined"))
    hold.state, hold.closed_at = HoldState.DECLINED, now
    hold.decline_reason, hold.decline_note = reason, note or None
    session.add(hold)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.HOLD_DECLINE,
        subject_type="hold",
        subject_id=hold.id,
        detail={"facility_id": hold.facility_id, "reason": reason},
    )
    return hold


def hold_release(*, session: Session, hold_id: str, actor: Principal, now: datetime) -> Hold:
    if actor.role is not Role.COUNSELLOR:
        raise PermissionDenied(gettext("only counsellors release holds"))
    hold = lock_hold(session, hold_id)
    state = effective_state(hold, now)
    if state != HoldState.OPEN:
        raise ended(state, gettext("this hold is {state}; only an open hold can be released"))
    _release(session, hold, actor=actor, now=now, why="counsellor")
    return hold


def holds_expire(*, session: Session, now: datetime) -> list[str]:
    """Close every open hold past its expiry for good (reads already treat them as expired),
    and tell the facility and the hotline (the counsellor who made it)."""
    expired = lock_expired_holds(session, now)
    for hold in expired:
        hold.state, hold.closed_at = HoldState.EXPIRED, now
        session.add(hold)
        payload = {
            "hold_id": hold.id,
            "facility_id": hold.facility_id,
            "counsellor_user_id": hold.counsellor_user_id,
            "expired_at": hold.expires_at.isoformat(),
        }
        notify(
            session=session,
            event=Event.HOLD_EXPIRED,
            audience=Audience.FACILITY,
            facility_id=hold.facility_id,
            payload=payload,
            now=now,
            dedupe_key=f"{Event.HOLD_EXPIRED}:{hold.id}:facility",
        )
        notify(
            session=session,
            event=Event.HOLD_EXPIRED,
            audience=Audience.HOTLINE,
            payload=payload,
            now=now,
            dedupe_key=f"{Event.HOLD_EXPIRED}:{hold.id}:hotline",
        )
    return [hold.id for hold in expired]


def transfer_hold_create(
    *,
    session: Session,
    context: ServiceContext,
    placement_id: str,
    target_facility_id: int,
    ttl_minutes: int | None,
    actor: Principal,
    now: datetime,
    emergency: bool = False,
) -> tuple[Hold, Facility]:
    """Start a transfer: a hold at the target, for the resident's family and needs.
    An ``emergency`` move (evacuation) may go to any tier, and takes over from a transfer
    already on its way; the hard rules still apply."""
    placement = lock_placement(session, placement_id)
    if actor.role is Role.SHELTER_STAFF:
        ensure_own_facility(actor, placement.facility_id)
    if placement.state != StayState.ACTIVE:
        raise ended(
            placement.state,
            gettext("this placement is {state}; only a current stay can be transferred"),
        )
    if target_facility_id == placement.facility_id:
        raise InvalidInput(gettext("the target is the facility the family is already in"))
    open_transfers = lock_open_transfer_holds(session, placement_id)
    if not emergency and any(hold.expires_at > now for hold in open_transfers):
        raise Conflict(gettext("a transfer of this resident is already on hold; release it first"))
    # an expired one still marked open, or one an evacuation takes over from
    close_pending_transfers(
        session, placement, actor=actor, now=now, why="evacuation", locked=open_transfers
    )
    source = session.get(Facility, placement.facility_id)
    target = session.get(Facility, target_facility_id)
    if target is None:
        raise NotFound(gettext("no facility with id {id}").format(id=target_facility_id))
    assert source is not None
    operator = session.get(Operator, source.operator_id)
    refusal = (
        None
        if emergency
        else transfer_refusal(
            source=context.rules.kind(source.kind),
            target=context.rules.kind(target.kind),
            same_operator=source.operator_id == target.operator_id,
            operator_flexible=bool(operator and operator.flexible_transfers),
            allow_same_tier=context.rules.allow_same_tier,
        )
    )
    if refusal is not None:
        raise InvalidInput(refusal, details=[{"field": "facility_id", "message": "tier"}])
    return hold_create(
        session=session,
        context=context,
        request=request_from_json(placement.request),
        facility_id=target_facility_id,
        ttl_minutes=ttl_minutes,
        actor=actor,
        now=now,
        transfer_from_placement_id=placement_id,
    )
