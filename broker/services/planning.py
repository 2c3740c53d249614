"""Plans: batch placement, transfer planning and evacuation, proposed and then applied.

Building a plan reads the database into a :class:`solver.plans.PlanInstance`, solves it,
checks the answer with the independent validator (a plan that fails it is never returned)
and stores it as a proposal. Applying creates every hold of the plan in one transaction,
or none: if any place was taken meanwhile, the whole apply fails with the list of what
changed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from broker.db.models import Facility, Operator, Placement
from broker.db.models_planning import PlanRecord
from broker.domain.access import Principal
from broker.domain.audit_chain import AuditAction
from broker.domain.requests import check_regions, request_from_json, request_to_json
from broker.domain.states import PlanState, StayState
from broker.errors import BrokerError, Conflict, InvalidInput, NotFound
from broker.i18n import N_, gettext
from broker.services.audit import audit_record
from broker.services.availability import facility_states
from broker.services.context import ServiceContext
from broker.services.holds import hold_create, transfer_hold_create
from broker.services.locks import lock_facilities, lock_placements
from broker.settings import Settings
from solver.instance import PlacementRequest
from solver.plans import Demand, Plan, PlanInstance, solve
from solver.transfers import SAME_HOUSE_REASON, TransferTargets
from solver.validate import plan_problems


@dataclass(frozen=True, slots=True)
class PlanItemView:
    key: str
    facility_id: int
    facility_name: str
    kind: str
    region: str
    score: float
    reasons: tuple[str, ...]
    reason_codes: tuple[str, ...]  # parallel to reasons (none in plans stored before codes)
    placement_id: str | None
    case_code: str | None
    from_facility_id: int | None


@dataclass(frozen=True, slots=True)
class PlanView:
    plan_id: str
    kind: str
    status: str
    state: str
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    items: tuple[PlanItemView, ...]
    unplaced: dict[str, str]
    unplaced_codes: dict[str, str]
    # risk-weighted placements, the proven bound on any plan's, and whether this plan
    # reaches it; None in plans stored before they were kept
    placements: int | None
    placements_bound: int | None
    placements_proven: bool | None


# A plan's state as a message names it; the stored value stays the code.
_PLAN_STATE_WORDS: dict[str, str] = {
    PlanState.PROPOSED: N_("proposed"),
    PlanState.APPLIED: N_("applied"),
}


def _plan_state_word(state: str) -> str:
    word = _PLAN_STATE_WORDS.get(state)
    return gettext(word) if word is not None else state


def _solve_checked(instance: PlanInstance, time_limit: float, settings: Settings) -> Plan:
    plan = solve(instance, time_limit=time_limit, gap_tolerance=settings.plan_gap_tolerance)
    problems = plan_problems(instance, plan)
    if problems:  # never hand out a plan that breaks a rule
        raise BrokerError(
            gettext("the planner produced an invalid plan ({problem})").format(problem=problems[0])
        )
    return plan


def _store(
    *,
    session: Session,
    kind: str,
    plan: Plan,
    items: list[dict[str, Any]],
    actor: Principal | None,
    now: datetime,
    facility_id: int | None = None,
) -> PlanView:
    record = PlanRecord(
        id=uuid.uuid4().hex,
        kind=kind,
        status=plan.status,
        state=PlanState.PROPOSED,
        objective=plan.objective,
        bound=plan.bound,
        gap=plan.gap,
        solve_seconds=plan.solve_seconds,
        placements=plan.placements,
        placements_bound=plan.placements_bound,
        facility_id=facility_id,
        items=items,
        unplaced=dict(plan.unplaced),
        unplaced_codes=dict(plan.unplaced_codes),
        created_at=now,
        created_by_user_id=actor.user_id if actor else None,
    )
    session.add(record)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.PLAN_CREATE,
        subject_type="plan",
        subject_id=record.id,
        detail={"kind": kind, "status": plan.status, "items": len(items)},
    )
    return plan_get(session=session, plan_id=record.id)


def _item(assignment: Any, **extra: Any) -> dict[str, Any]:
    return {
        "key": assignment.key,
        "facility_id": assignment.facility_id,
        "score": assignment.score,
        "reasons": list(assignment.reasons),
        "reason_codes": list(assignment.reason_codes),
        **extra,
    }


# --- writes -----------------------------------------------------------------------------


def plan_batch(
    *,
    session: Session,
    context: ServiceContext,
    requests: list[PlacementRequest],
    now: datetime,
    actor: Principal,
) -> PlanView:
    """Many families at once (a busy night, a police operation) onto free capacity."""
    for request in requests:
        check_regions(request, context.rules)
    instance = PlanInstance(
        demands=tuple(Demand(key=str(i), request=r) for i, r in enumerate(requests)),
        facilities=tuple(facility_states(session=session, now=now)),
        network=context.network(),
        now=now,
    )
    plan = _solve_checked(instance, float(context.settings.plan_seconds_batch), context.settings)
    items = [_item(a, request=request_to_json(requests[int(a.key)])) for a in plan.assignments]
    return _store(session=session, kind="batch", plan=plan, items=items, actor=actor, now=now)


def _active_placements(session: Session, *where: Any) -> list[tuple[Placement, Facility]]:
    return list(
        session.exec(
            select(Placement, Facility)
            .join(Facility, Facility.id == Placement.facility_id)  # type: ignore[arg-type]
            .where(Placement.state == StayState.ACTIVE, *where)
            .order_by(col(Placement.limit_at), col(Placement.id))
        ).all()
    )


def plan_transfers(
    *,
    session: Session,
    context: ServiceContext,
    horizon_days: int,
    now: datetime,
    actor: Principal | None,
) -> PlanView:
    """Residents whose stay limit falls within the horizon, moved one tier on; an operator
    with flexible transfers may move them between kinds of its own houses instead, which
    counts as a formal change rather than a move. ``actor`` is None for the nightly job."""
    if not 1 <= horizon_days <= 180:
        raise InvalidInput(gettext("horizon_days must be between 1 and 180"))
    due = _active_placements(session, col(Placement.limit_at) <= now + timedelta(days=horizon_days))
    facilities = tuple(facility_states(session=session, now=now))
    network = context.network()
    flexible = frozenset(
        op.id
        for op in session.exec(select(Operator).where(Operator.flexible_transfers)).all()
        if op.id is not None
    )
    targets = TransferTargets(facilities, network, flexible)
    demands = []
    for placement, source in due:
        assert source.id is not None
        where = targets.for_resident_of(source.id)
        demands.append(
            Demand(
                key=placement.id,
                request=request_from_json(placement.request),
                urgency=1 if placement.limit_at <= now else 0,
                allowed_facility_ids=where.allowed,
                bonus=where.bonus,
                bonus_reason=SAME_HOUSE_REASON if where.bonus else "",
            )
        )
    instance = PlanInstance(demands=tuple(demands), facilities=facilities, network=network, now=now)
    plan = _solve_checked(
        instance, float(context.settings.plan_seconds_transfers), context.settings
    )
    source_of = {placement.id: source.id for placement, source in due}
    items = [
        _item(a, placement_id=a.key, from_facility_id=source_of[a.key]) for a in plan.assignments
    ]
    return _store(session=session, kind="transfers", plan=plan, items=items, actor=actor, now=now)


def plan_evacuation(
    *,
    session: Session,
    context: ServiceContext,
    facility_id: int,
    now: datetime,
    actor: Principal,
) -> PlanView:
    """Everyone out of a compromised facility at once, to places outside its danger zone."""
    compromised = session.get(Facility, facility_id)
    if compromised is None:
        raise NotFound(gettext("no facility with id {id}").format(id=facility_id))
    rules, network = context.rules, context.network()
    reach = network.weights.exclusion_km
    danger = frozenset(
        region
        for region in rules.regions
        if rules.region_distance_km(region, compromised.region) <= reach
    )
    residents = _active_placements(session, col(Placement.facility_id) == facility_id)
    instance = PlanInstance(
        demands=tuple(
            Demand(key=placement.id, request=request_from_json(placement.request))
            for placement, _ in residents
        ),
        facilities=tuple(facility_states(session=session, now=now)),
        network=network,
        now=now,
        forbidden_regions=danger,
        excluded_facility_ids=frozenset({facility_id}),
    )
    plan = _solve_checked(
        instance, float(context.settings.plan_seconds_evacuation), context.settings
    )
    if plan.unplaced:  # everyone must be moved: a partial plan is an infeasible one
        # only the status changes: the numbers still say what this plan and any plan place
        plan = replace(plan, status="infeasible")
    items = [_item(a, placement_id=a.key, from_facility_id=facility_id) for a in plan.assignments]
    return _store(
        session=session,
        kind="evacuation",
        plan=plan,
        items=items,
        actor=actor,
        now=now,
        facility_id=facility_id,
    )


@dataclass(frozen=True, slots=True)
class AppliedHold:
    key: str
    hold_id: str
    facility_id: int
    expires_at: datetime


def plan_apply(
    *,
    session: Session,
    context: ServiceContext,
    plan_id: str,
    actor: Principal,
    now: datetime,
) -> list[AppliedHold]:
    """Create every hold of the plan, or none (409 listing what changed)."""
    record = session.exec(
        select(PlanRecord).where(PlanRecord.id == plan_id).with_for_update()
    ).first()
    if record is None:
        raise NotFound(gettext("no plan with id {id}").format(id=plan_id))
    if record.state != PlanState.PROPOSED:
        raise Conflict(
            gettext("this plan is already {state}").format(state=_plan_state_word(record.state))
        )
    # every stay and facility of the plan locked up front, in the one order of
    # broker.services.locks, so that a plan never waits on a row while holding another
    # that a single hold, confirmation or departure could be waiting on in reverse
    lock_placements(
        session, [item["placement_id"] for item in record.items if "placement_id" in item]
    )
    lock_facilities(session, [item["facility_id"] for item in record.items])
    holds: list[AppliedHold] = []
    changed: list[dict[str, Any]] = []
    for item in record.items:
        try:
            if record.kind == "batch":
                hold, _ = hold_create(
                    session=session,
                    context=context,
                    request=request_from_json(item["request"]),
                    facility_id=item["facility_id"],
                    ttl_minutes=None,
                    actor=actor,
                    now=now,
                    from_call=False,
                )
            else:
                hold, _ = transfer_hold_create(
                    session=session,
                    context=context,
                    placement_id=item["placement_id"],
                    target_facility_id=item["facility_id"],
                    ttl_minutes=None,
                    actor=actor,
                    now=now,
                    emergency=record.kind == "evacuation",
                )
        except (Conflict, InvalidInput, NotFound) as problem:
            changed.append({"field": item["key"], "message": problem.message})
            continue
        holds.append(AppliedHold(item["key"], hold.id, hold.facility_id, hold.expires_at))
    if changed:
        raise Conflict(
            gettext(
                "{changed} of {total} places changed since the plan was made; "
                "nothing was held, make a new plan"
            ).format(changed=len(changed), total=len(record.items)),
            details=changed,
        )
    record.state, record.applied_at, record.applied_by_user_id = (
        PlanState.APPLIED,
        now,
        actor.user_id,
    )
    session.add(record)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.PLAN_APPLY,
        subject_type="plan",
        subject_id=record.id,
        detail={"kind": record.kind, "holds": len(holds)},
    )
    return holds


# --- reads ------------------------------------------------------------------------------


def plan_get(*, session: Session, plan_id: str) -> PlanView:
    record = session.get(PlanRecord, plan_id)
    if record is None:
        raise NotFound(gettext("no plan with id {id}").format(id=plan_id))
    ids = {item["facility_id"] for item in record.items}
    facilities = (
        {f.id: f for f in session.exec(select(Facility).where(col(Facility.id).in_(ids))).all()}
        if ids
        else {}
    )
    placement_ids = [item["placement_id"] for item in record.items if item.get("placement_id")]
    codes = (
        dict(
            session.exec(
                select(Placement.id, Placement.case_code).where(
                    col(Placement.id).in_(placement_ids)
                )
            ).all()
        )
        if placement_ids
        else {}
    )
    items = tuple(
        PlanItemView(
            key=item["key"],
            facility_id=item["facility_id"],
            facility_name=facilities[item["facility_id"]].name,
            kind=facilities[item["facility_id"]].kind,
            region=facilities[item["facility_id"]].region,
            score=item["score"],
            reasons=tuple(item["reasons"]),
            reason_codes=tuple(item.get("reason_codes", ())),
            placement_id=item.get("placement_id"),
            case_code=codes.get(item.get("placement_id", "")),
            from_facility_id=item.get("from_facility_id"),
        )
        for item in record.items
    )
    return PlanView(
        plan_id=record.id,
        kind=record.kind,
        status=record.status,
        state=record.state,
        objective=record.objective,
        bound=record.bound,
        gap=record.gap,
        solve_seconds=record.solve_seconds,
        items=items,
        unplaced=dict(record.unplaced),
        unplaced_codes=dict(record.unplaced_codes or {}),
        placements=record.placements,
        placements_bound=record.placements_bound,
        placements_proven=(
            None
            if record.placements is None or record.placements_bound is None
            else record.placements >= record.placements_bound
        ),
    )
