"""Large-neighbourhood search by region: a plan improved one region at a time.

On instances too large for CP-SAT as a whole (hundreds of thousands of pairs), CP-SAT still
solves a region's share well within a fraction of a second: every family placed in the
region is free again, together with every family left unplaced, among the region's
facilities only; families placed elsewhere stay where they are. The current plan is
feasible for that small model, so the region's new plan is never worse, and the whole plan
stays valid after each step. Regions are visited in a seeded random order, each with a
short time of its own, until the deadline or until a whole pass proves that no region's
plan can improve on its own.
"""

from __future__ import annotations

import time

import numpy as np

from solver.plan_model import solve_pairs
from solver.plan_pairs import Pairs

# Time per region: long enough for CP-SAT (presolve off) to improve on its hint, short
# enough to visit many regions within a few seconds (0.1-0.3 s measured alike).
SECONDS_PER_REGION = 0.2


def improve_by_regions(
    pairs: Pairs,
    plan: np.ndarray,
    deadline: float,
    workers: int,
    seed: int = 0,
    promising: np.ndarray | None = None,
) -> np.ndarray:
    """The plan (chosen pair indices), improved region by region until the deadline. With
    ``promising`` (a mask over pairs), families left unplaced are offered only those of
    their pairs: smaller neighbourhoods, more of them in the time."""
    region = pairs.region[pairs.facility]
    offered = np.ones(len(pairs.value), dtype=bool) if promising is None else promising
    order = np.random.default_rng(seed)
    regions = np.unique(region)
    settled = False  # a whole pass proved every region's plan best for its neighbourhood
    while len(regions) and not settled and deadline - time.perf_counter() > 0.05:
        settled = True
        for place in order.permutation(regions).tolist():
            left = deadline - time.perf_counter()
            if left <= 0.05:
                settled = False
                break
            placed = np.zeros(len(pairs.keys), dtype=bool)
            placed[pairs.family[plan]] = True
            inside = plan[region[plan] == place]
            free = ~placed
            free[pairs.family[inside]] = True
            among = np.flatnonzero(
                (region == place)
                & free[pairs.family]
                & (offered | np.isin(pairs.family, pairs.family[inside]))
            )
            solved = solve_pairs(
                pairs,
                among,
                pairs.units,
                pairs.beds,
                time.perf_counter() + min(SECONDS_PER_REGION, left),
                workers,
                inside,
                presolve=False,
            )
            if solved is None:
                settled = False
                continue
            if pairs.value[solved.chosen].sum() > pairs.value[inside].sum():
                plan = np.concatenate([plan[region[plan] != place], solved.chosen])
                settled = False
            elif not solved.optimal:
                settled = False
    return plan
