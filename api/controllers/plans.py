"""Plans: batch placement, transfer planning and evacuation proposals, and applying them."""

from __future__ import annotations

import dataclasses

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from api.controllers.placement import family_request
from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas_plans import (
    AppliedHoldOut,
    BatchPlanIn,
    EvacuationPlanIn,
    PlanAppliedOut,
    PlanItemOut,
    PlanOut,
    TransferPlanIn,
    UnplacedOut,
)
from broker.domain.access import Role
from broker.domain.requests import request_from_json
from broker.services import planning

PLANNERS = (Role.COUNSELLOR, Role.ADMIN)


def _out(view: planning.PlanView) -> PlanOut:
    items = [
        PlanItemOut(
            **{
                **dataclasses.asdict(item),
                "reasons": list(item.reasons),
                "reason_codes": list(item.reason_codes),
            }
        )
        for item in view.items
    ]
    batch = view.kind == "batch"
    return PlanOut(
        plan_id=view.plan_id,
        kind=view.kind,
        status=view.status,
        state=view.state,
        objective=view.objective,
        bound=view.bound,
        gap=view.gap,
        solve_seconds=view.solve_seconds,
        assignments=items if batch else [],
        moves=[] if batch else items,
        unplaced=[
            UnplacedOut(key=key, code=view.unplaced_codes.get(key, "unplaced"), reason=reason)
            for key, reason in view.unplaced.items()
        ],
        placements=view.placements,
        placements_bound=view.placements_bound,
        placements_proven=view.placements_proven,
    )


class PlanController(Controller):
    path = "/api/v1/plans"
    tags = ["plans"]

    @post("/batch", opt=allow(*PLANNERS), status_code=HTTP_200_OK, sync_to_thread=True)
    def batch(
        self, data: JSONBody[BatchPlanIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> PlanOut:
        """Place many families at once; ``key`` in the answer is the request's index."""
        return _out(
            planning.plan_batch(
                session=db,
                context=broker.services,
                requests=[request_from_json(family_request(r)) for r in data.requests],
                now=now,
                actor=actor,
            )
        )

    @post("/transfers", opt=allow(*PLANNERS), status_code=HTTP_200_OK, sync_to_thread=True)
    def transfers(
        self,
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
        data: JSONBody[TransferPlanIn | None] = None,
    ) -> PlanOut:
        """Move residents whose stay limit falls within the horizon one tier on."""
        return _out(
            planning.plan_transfers(
                session=db,
                context=broker.services,
                horizon_days=(data or TransferPlanIn()).horizon_days,
                now=now,
                actor=actor,
            )
        )

    @post("/evacuation", opt=allow(*PLANNERS), status_code=HTTP_200_OK, sync_to_thread=True)
    def evacuation(
        self,
        data: JSONBody[EvacuationPlanIn],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
    ) -> PlanOut:
        """Empty a compromised facility into places outside its danger zone."""
        return _out(
            planning.plan_evacuation(
                session=db,
                context=broker.services,
                facility_id=data.facility_id,
                now=now,
                actor=actor,
            )
        )

    @get("/{plan_id:str}", opt=allow(*PLANNERS), sync_to_thread=True)
    def read(self, plan_id: FromPath[str], db: DbSession) -> PlanOut:
        return _out(planning.plan_get(session=db, plan_id=plan_id))

    @post(
        "/{plan_id:str}/apply",
        opt=allow(Role.COUNSELLOR),
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def apply(
        self, plan_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> PlanAppliedOut:
        """Create all the plan's holds, or none (409 with what changed)."""
        holds = planning.plan_apply(
            session=db,
            context=broker.services,
            plan_id=plan_id,
            actor=actor,
            now=now,
        )
        return PlanAppliedOut(
            plan_id=plan_id, holds=[AppliedHoldOut(**dataclasses.asdict(h)) for h in holds]
        )
