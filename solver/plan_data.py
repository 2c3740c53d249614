"""The planner's data: what goes in (families to place, facilities, network), what comes
out (a plan of assignments and the families left unplaced), and what a placement is worth.

Plain data and one formula, shared by every step of planning (:mod:`solver.plans` lists
them) and by the broker, which builds instances and reads plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from solver.instance import FacilityState, Network, PlacementRequest

RISK_WEIGHT = {"standard": 1, "medium": 2, "high": 3}
# A placement outweighs any difference in score (scores are about -100..+100, times 10).
PLACEMENT_WEIGHT = 10_000
SCORE_SCALE = 10
# A plan is optimal when proven within this share of its bound: the default of the
# mainstream MIP solvers, and what their users mean by the word.
DEFAULT_GAP_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class Demand:
    """One family to place. ``key`` names it in the plan (request index or placement id)."""

    key: str
    request: PlacementRequest
    urgency: int = 0  # extra placement weight, e.g. days past a stay limit
    allowed_facility_ids: frozenset[int] | None = None  # None: any facility
    bonus: dict[int, float] = field(default_factory=dict)  # score added per facility id
    bonus_reason: str = ""


@dataclass(frozen=True, slots=True)
class PlanInstance:
    demands: tuple[Demand, ...]
    facilities: tuple[FacilityState, ...]
    network: Network
    now: datetime
    forbidden_regions: frozenset[str] = frozenset()
    excluded_facility_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    facility_id: int
    score: float


@dataclass(frozen=True, slots=True)
class Assignment:
    key: str
    facility_id: int
    score: float
    reasons: tuple[str, ...]
    reason_codes: tuple[str, ...] = ()  # parallel to reasons: kind, preferred... capacity


@dataclass(frozen=True, slots=True)
class Plan:
    status: str  # optimal, feasible, infeasible
    objective: float
    bound: float
    solve_seconds: float
    assignments: tuple[Assignment, ...]
    unplaced: dict[str, str]
    # per unplaced family: places_taken (its places went to families weighted higher) or
    # no_place_fits (no facility fits it at all)
    unplaced_codes: dict[str, str] = field(default_factory=dict)
    # the risk-weighted placements the plan makes (high risk counts 3, medium 2, standard 1,
    # plus a demand's urgency), and a proven upper bound on what any plan could make
    placements: int = 0
    placements_bound: int = 0

    @property
    def gap(self) -> float:
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.objective) / self.bound)

    @property
    def placements_proven(self) -> bool:
        """True when no plan can place more risk-weighted families than this one."""
        return self.placements >= self.placements_bound


def placement_weight(demand: Demand) -> int:
    """What placing this family counts for: its risk weight plus its urgency."""
    return RISK_WEIGHT.get(demand.request.risk, 1) + demand.urgency


def placement_value(demand: Demand, score: float) -> int:
    return placement_weight(demand) * PLACEMENT_WEIGHT + round(score * SCORE_SCALE)
