"""The solve loop: from an instance to the best plan found in time, with its proven bound.

It strings the other steps together (candidates, heuristics, bounds and pruning, then the
exact CP-SAT model, or for instances too large for it the LP relaxation and its rounding)
and decides which route to take. Each step lives in its own module; see
:mod:`solver.plans`.
"""

from __future__ import annotations

import time

import numpy as np

from solver.plan_bounds import (
    Relaxation,
    knapsack_bound,
    lagrangian_bound,
    lp_relaxation,
    prune,
)
from solver.plan_candidates import candidates
from solver.plan_data import Plan, PlanInstance
from solver.plan_explanations import explain_unplaced, explained_assignments, unplaced_codes
from solver.plan_heuristics import fill_greedily, flow_plan, greedy
from solver.plan_model import solve_pairs
from solver.plan_pairs import Pairs, pair_arrays, top_per_family

# Above this many pairs CP-SAT rarely improves on the greedy plan within seconds.
MAX_MODEL_PAIRS = 12_000
# Time kept back after the rounding for writing each placement's reasons.
ROUNDING_MARGIN_SECONDS = 0.3


def lp_rounding(
    pairs: Pairs, relaxation: Relaxation, deadline: float, workers: int, options: int = 30
) -> np.ndarray:
    """A plan from the LP relaxation, in two steps. First the pairs the LP takes whole are
    kept and CP-SAT places the other families into what is left, each among its best pairs
    at the LP's prices. Then, while time is left, CP-SAT improves that plan with every family
    free again among its best-priced pairs and every pair the LP used. Returns the chosen
    pair indices."""
    kept = relaxation.columns[relaxation.x > 0.999]
    units, beds = pairs.units.copy(), pairs.beds.copy()
    np.subtract.at(units, pairs.facility[kept], 1)
    np.subtract.at(beds, pairs.facility[kept], pairs.persons[kept])
    placed = np.zeros(len(pairs.keys), dtype=bool)
    placed[pairs.family[kept]] = True
    open_ = np.flatnonzero(
        ~placed[pairs.family]
        & (units[pairs.facility] >= 1)
        & (beds[pairs.facility] >= pairs.persons)
    )
    rest = top_per_family(pairs, open_, relaxation.reduced, options)
    # what the LP takes most of first, then by value net of the capacity prices
    share = np.zeros(len(pairs.value))
    share[relaxation.columns] = relaxation.x
    filled = fill_greedily(
        pairs, rest[np.lexsort((-relaxation.reduced[rest], -share[rest]))], units, beds
    )
    left = deadline - time.perf_counter()
    solved = solve_pairs(pairs, rest, units, beds, left, workers, filled)
    taken = None if solved is None else solved.chosen
    better_taken = taken is not None and pairs.value[taken].sum() > pairs.value[filled].sum()
    plan = np.concatenate([kept, taken if better_taken else filled])
    left = deadline - time.perf_counter()
    if left < 0.2:
        return plan
    support = relaxation.columns[relaxation.x > 1e-6]
    every = np.arange(len(pairs.value))
    wider = np.unique(
        np.concatenate([top_per_family(pairs, every, relaxation.reduced, 8), support, plan])
    )
    improved = solve_pairs(pairs, wider, pairs.units, pairs.beds, left, workers, plan)
    better = None if improved is None else improved.chosen
    if better is not None and pairs.value[better].sum() > pairs.value[plan].sum():
        return better
    return plan


def solve_by_relaxation(
    pairs: Pairs,
    reduced: np.ndarray,
    incumbent_pairs: np.ndarray,
    bound: float,
    deadline: float,
    workers: int,
) -> tuple[np.ndarray, float]:
    """The LP relaxation, started from each family's best pairs at the Lagrangian prices
    and by value, and the incumbent's; the knapsack bound at its family prices; then its
    rounding. Returns the rounded plan's pairs and the best bound. The LP gets about half
    the time left, the knapsack bound at most 15 % of the rest, the rounding what remains."""
    left = deadline - time.perf_counter()
    every = np.arange(len(pairs.value))
    start = np.concatenate(
        [
            top_per_family(pairs, every, reduced.astype(np.float64), 10),
            top_per_family(pairs, every, pairs.value.astype(np.float64), 3),
            incumbent_pairs,
        ]
    )
    relaxation = lp_relaxation(pairs, start, deadline=time.perf_counter() + 0.5 * left)
    tighter = knapsack_bound(
        pairs,
        relaxation.family_price,
        deadline=time.perf_counter() + 0.15 * (deadline - time.perf_counter()),
    )
    chosen = lp_rounding(pairs, relaxation, deadline - ROUNDING_MARGIN_SECONDS, workers)
    bounds = [bound, relaxation.bound] + ([] if tighter is None else [tighter])
    return chosen, min(bounds)


def solve(instance: PlanInstance, *, time_limit: float = 10.0, workers: int = 2) -> Plan:
    """The best plan found within ``time_limit`` seconds, with its proven bound.

    Steps: the feasible pairs; the better of a greedy plan and a repaired min-cost-flow plan
    (the incumbent); upper bounds from the flow and from prices on capacity (Lagrangian
    relaxation); every pair that cannot take part in a plan better than the incumbent is
    dropped. A dropped pair cannot improve on the incumbent, so CP-SAT's optimum on what is
    left, or the incumbent if better, is optimal for the whole instance. If too much is
    left, the LP relaxation bounds the instance and its rounding gives the plan."""
    started = time.perf_counter()
    found = candidates(instance)
    options = {(key, o.facility_id): o for key, opts in found.items() for o in opts}
    pairs = pair_arrays(instance, found)

    def pair_of(index: int) -> tuple[str, int]:
        return pairs.keys[pairs.family[index]], pairs.facility_ids[pairs.facility[index]]

    repaired, flow_bound = flow_plan(pairs)
    incumbent_pairs = max(
        (greedy(pairs), repaired), key=lambda chosen: int(pairs.value[chosen].sum())
    )
    incumbent = float(int(pairs.value[incumbent_pairs].sum()))
    chosen = [pair_of(i) for i in incumbent_pairs]
    priced, reduced = lagrangian_bound(pairs, incumbent) if len(pairs.value) else (0.0, pairs.value)
    bound = min(priced, flow_bound)  # both are upper bounds; pruning needs the priced one
    status, objective = "feasible", incumbent
    if bound - incumbent < 1:
        status, bound = "optimal", incumbent
    else:
        kept = prune(pairs, priced, reduced, incumbent, incumbent_pairs)
        if len(kept) > MAX_MODEL_PAIRS:
            # Too large for CP-SAT to improve within seconds: the LP relaxation gives the
            # bound and, rounded, the plan.
            relaxed_pairs, bound = solve_by_relaxation(
                pairs, reduced, incumbent_pairs, bound, started + time_limit, workers
            )
            if int(pairs.value[relaxed_pairs].sum()) > incumbent:
                objective = float(int(pairs.value[relaxed_pairs].sum()))
                chosen = [pair_of(int(i)) for i in relaxed_pairs]
            if bound - objective < 1:
                status, bound = "optimal", objective
        else:
            remaining = time_limit - (time.perf_counter() - started)
            exact = solve_pairs(
                pairs, kept, pairs.units, pairs.beds, remaining, workers, incumbent_pairs
            )
            if exact is not None:
                value = float(int(pairs.value[exact.chosen].sum()))
                if value >= incumbent:
                    objective = value
                    chosen = [pair_of(int(i)) for i in exact.chosen]
                if exact.optimal:
                    status, bound = "optimal", objective
                else:
                    bound = min(bound, max(exact.bound, incumbent))

    picked = {key: options[(key, fid)] for key, fid in chosen}
    return Plan(
        status=status,
        objective=objective,
        bound=bound,
        solve_seconds=round(time.perf_counter() - started, 4),
        assignments=explained_assignments(instance, picked),
        unplaced=explain_unplaced(instance, found, picked),
        unplaced_codes=unplaced_codes(instance, found, picked),
    )
