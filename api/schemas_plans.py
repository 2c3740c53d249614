"""Request and response bodies of the plans (``/api/v1/plans``), beside :mod:`api.schemas`
(whose family request a batch takes) so that neither module grows past the length limit.
The same rules hold: unknown fields are refused, every value is bounded, and no response
has an address field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from api.schemas import DbId, FamilyRequest, Strict


class BatchPlanIn(Strict):
    requests: Annotated[list[FamilyRequest], Meta(min_length=1, max_length=2000)]


class TransferPlanIn(Strict):
    horizon_days: Annotated[int, Meta(ge=1, le=180)] = 14


class EvacuationPlanIn(Strict):
    facility_id: DbId


class PlanItemOut(msgspec.Struct):
    key: str
    facility_id: int
    facility_name: str
    kind: str
    region: str
    score: float
    reasons: list[str]
    reason_codes: list[str]
    placement_id: str | None
    case_code: str | None
    from_facility_id: int | None


class UnplacedOut(msgspec.Struct):
    key: str
    # places_taken, no_place_fits, not_examined ("unplaced" in plans stored before codes)
    code: str
    reason: str


# The descriptions are the fields' documentation in the OpenAPI document.
Status = Annotated[
    str,
    Meta(
        description=(
            "optimal: the objective is proven within a relative gap of the broker's "
            "BROKER_PLAN_GAP_TOLERANCE (default 1e-4) of the bound; feasible: a valid plan "
            "not proven so; infeasible: no plan meets the request (an evacuation that "
            "cannot move everyone)"
        )
    ),
]
Placements = Annotated[
    int | None,
    Meta(
        description=(
            "Risk-weighted placements the plan makes: a high-risk family counts 3, a "
            "medium-risk one 2, a standard one 1, and an overdue stay 1 more. "
            "Null in plans stored before it was kept."
        )
    ),
]
PlacementsBound = Annotated[
    int | None,
    Meta(
        description=(
            "A proven upper bound on the risk-weighted placements of any plan for the same "
            "families and places. Null in plans stored before it was kept."
        )
    ),
]
PlacementsProven = Annotated[
    bool | None,
    Meta(
        description=(
            "True when placements reaches placements_bound: no plan could place more "
            "risk-weighted families. Null in plans stored before it was kept."
        )
    ),
]


class PlanOut(msgspec.Struct):
    plan_id: str
    kind: str
    status: Status
    state: str
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    assignments: list[PlanItemOut]
    moves: list[PlanItemOut]
    unplaced: list[UnplacedOut]
    placements: Placements
    placements_bound: PlacementsBound
    placements_proven: PlacementsProven


class AppliedHoldOut(msgspec.Struct):
    key: str
    hold_id: str
    facility_id: int
    expires_at: datetime


class PlanAppliedOut(msgspec.Struct):
    plan_id: str
    holds: list[AppliedHoldOut]
