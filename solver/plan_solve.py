"""The solve loop: from an instance to the best plan found in time, with its proven bound.

It strings the other steps together (candidates, heuristics, bounds and pruning, then the
exact CP-SAT model, or for instances too large for it the LP relaxation and its rounding)
and decides which route to take. Each step lives in its own module; see
:mod:`solver.plans`.

Two promises hold whatever the instance:

- **Optimal means proven within the gap tolerance.** A plan is ``optimal`` when its value
  is within ``gap_tolerance`` (relative, 1e-4 by default) of a proven upper bound, and the
  search stops as soon as that holds.
- **The time limit is kept.** Every step watches one deadline, including the candidates,
  the bounds and the LP; the time to write each placement's reasons is set aside first.
  Families the candidates could not reach in time are left unplaced, as not examined, and
  the bound counts them as if each could be placed at its best.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from solver.plan_bounds import (
    FirstOrderLp,
    PricedBound,
    Relaxation,
    knapsack_bound,
    lagrangian_bound,
    lp_relaxation,
    placements_bound,
    prune,
)
from solver.plan_candidates import candidate_arrays
from solver.plan_data import (
    DEFAULT_GAP_TOLERANCE,
    PLACEMENT_WEIGHT,
    Candidate,
    Plan,
    PlanInstance,
    placement_weight,
)
from solver.plan_explanations import explain_unplaced, explained_assignments, unplaced_codes
from solver.plan_heuristics import fill_greedily, flow_plan, greedy
from solver.plan_model import solve_pairs
from solver.plan_neighbourhoods import improve_by_regions
from solver.plan_pairs import Pairs, pair_arrays, top_per_family

# Above this many pairs left after pruning, CP-SAT rarely improves on the greedy plan
# within seconds: the LP relaxation and its rounding take over.
MAX_MODEL_PAIRS = 12_000
# Above this many pairs in all, pruning by Lagrangian prices keeps too many to matter: the
# LP route is taken at once and its time goes to the LP.
LP_ROUTE_PAIRS = 200_000
# Time set aside for writing the reasons of each placement, per placement, and once
# (generous: about 0.1 ms per placement measured).
EXPLAIN_SECONDS_PER_FAMILY = 1.5e-4
EXPLAIN_SECONDS = 0.02
# A generous cost of the min-cost-flow plan and its repair, per pair (1.1 microseconds
# measured on an idle machine, 1.7 when another process shares the cores).
FLOW_SECONDS_PER_PAIR = 2.5e-6
# The share of the time left that first-order steps on the LP get on very large instances:
# their prices make the bound and guide the rounding and the regions' search, which get
# the rest. (Splitting it, to go on from where it stopped at the end, gave looser bounds.)
PDLP_SHARE = 0.5
# Below this much time the first-order steps give neither a bound nor prices worth having
# (measured on 444,613 pairs: 150 % above the LP optimum after 0.3 s, 2.7 % after 1 s);
# the incumbent is then improved region by region instead.
PDLP_MIN_SECONDS = 0.8
# PDLP rescales the problem before its first step without watching the clock: it ended
# 0.06-0.17 s past its own time limit on 444,613 pairs. Its limit is set this much early.
PDLP_OVERRUN_SECONDS = 0.2
# A generous cost of the LP rounding's sorts and greedy fill before the region search, per
# pair (about 1 microsecond measured on an idle machine); with less time left the search
# starts from the incumbent.
ROUNDING_SECONDS_PER_PAIR = 2.5e-6
# How many of its best pairs at the LP's prices an unplaced family is offered when a
# region's share of a very large plan is solved again.
PROMISING_PER_FAMILY = 10
# The share of the working time the candidates may take at most (they need far less
# unless the instance is huge).
CANDIDATES_SHARE = 0.7
# The shares of the time left that the Lagrangian prices, and the bound on risk-weighted
# placements, may take.
LAGRANGIAN_SHARE = 0.15
PLACEMENTS_BOUND_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Search:
    """What the search found: the chosen pairs, an upper bound on any plan's value over
    the pairs, and the capacity prices behind the tightest bound it computed."""

    chosen: np.ndarray
    bound: float
    prices: tuple[np.ndarray, np.ndarray]


def no_prices(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Zero prices on every facility's units and beds: what a search that computed none
    passes on (any non-negative prices start the weighted bound)."""
    return np.zeros(len(pairs.units)), np.zeros(len(pairs.units))


def close_enough(value: float, bound: float, tolerance: float) -> bool:
    """Is a plan worth ``value`` proven within ``tolerance`` of the ``bound``?"""
    return bound - value < 1 or bound - value <= tolerance * bound


def lp_rounding(
    pairs: Pairs,
    relaxation: Relaxation,
    incumbent: np.ndarray,
    deadline: float,
    workers: int,
    options: int = 3,
) -> np.ndarray:
    """A plan from an approximate LP solution (first-order steps): the best of the
    ``incumbent``, a greedy rounding (pairs in the order of how much of them the LP takes,
    then of their value net of the capacity prices) and the min-cost flow at the LP's bed
    prices, repaired; then improved region by region until the ``deadline`` (CP-SAT on the
    whole of so large an instance improves little in seconds). Returns the chosen pair
    indices."""
    share = np.zeros(len(pairs.value))
    share[relaxation.columns] = relaxation.x
    every = np.arange(len(pairs.value))
    best_priced = top_per_family(pairs, every, relaxation.reduced, options)
    ordered = np.unique(np.concatenate([np.flatnonzero(share > 1e-3), best_priced]))
    plans = [
        incumbent,
        fill_greedily(
            pairs,
            ordered[np.lexsort((-relaxation.reduced[ordered], -share[ordered]))],
            pairs.units,
            pairs.beds,
            deadline=deadline,
        ),
    ]
    if time.perf_counter() + FLOW_SECONDS_PER_PAIR * len(pairs.value) < deadline:
        plans.append(flow_plan(pairs, relaxation.bed_price, deadline)[0])
    plan = max(plans, key=lambda chosen: int(pairs.value[chosen].sum()))
    promising = np.zeros(len(pairs.value), dtype=bool)
    promising[top_per_family(pairs, every, relaxation.reduced, PROMISING_PER_FAMILY)] = True
    return improve_by_regions(pairs, plan, deadline, workers, promising=promising)


def vertex_rounding(
    pairs: Pairs,
    relaxation: Relaxation,
    deadline: float,
    workers: int,
    target: float,
    options: int = 30,
) -> np.ndarray:
    """A plan from an LP solution at a vertex (column generation), in two steps. First the
    pairs the LP takes whole are kept and CP-SAT places the other families into what is
    left, each among its best pairs at the LP's prices. Then, while time is left, CP-SAT
    improves that plan with every family free again among its best-priced pairs and every
    pair the LP used, stopping at ``target``. Returns the chosen pair indices."""
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
    # the first step gets at most half the time left, the improvement the rest
    halfway = time.perf_counter() + 0.5 * (deadline - time.perf_counter())
    solved = solve_pairs(pairs, rest, units, beds, halfway, workers, filled)
    taken = None if solved is None else solved.chosen
    better_taken = taken is not None and pairs.value[taken].sum() > pairs.value[filled].sum()
    plan = np.concatenate([kept, taken if better_taken else filled])
    if deadline - time.perf_counter() < 0.2:
        return plan
    support = relaxation.columns[relaxation.x > 1e-6]
    every = np.arange(len(pairs.value))
    wider = np.unique(
        np.concatenate([top_per_family(pairs, every, relaxation.reduced, 8), support, plan])
    )
    improved = solve_pairs(
        pairs, wider, pairs.units, pairs.beds, deadline, workers, plan, target=target
    )
    better = None if improved is None else improved.chosen
    if better is not None and pairs.value[better].sum() > pairs.value[plan].sum():
        return better
    return plan


def solve_by_relaxation(
    pairs: Pairs,
    incumbent_pairs: np.ndarray,
    bound: float,
    deadline: float,
    workers: int,
    gap_tolerance: float = DEFAULT_GAP_TOLERANCE,
    reduced: np.ndarray | None = None,
) -> Search:
    """The LP relaxation, its bound and its rounding, improved until the ``deadline``. Up to
    :data:`LP_ROUTE_PAIRS` pairs, column generation with a simplex method (GLOP), started
    from each family's best pairs at the Lagrangian prices (``reduced``) and by value and
    from the incumbent, then the knapsack bound at its family prices, and CP-SAT improving
    the rounded plan until proven within ``gap_tolerance``; above, where the simplex method
    is too slow, first-order steps over every pair (PDLP), and the rounded plan improved
    region by region. The LP gets about half the time left, the knapsack bound at most
    15 % of the rest, the rounding what remains. With too little time for PDLP, or for
    rounding its solution, the incumbent is improved region by region instead."""
    left = deadline - time.perf_counter()
    lp_deadline = time.perf_counter() + 0.5 * left
    if len(pairs.value) > LP_ROUTE_PAIRS:
        if PDLP_SHARE * left < PDLP_MIN_SECONDS:
            chosen = improve_by_regions(pairs, incumbent_pairs, deadline, workers)
            return Search(chosen, bound, no_prices(pairs))
        pdlp_deadline = time.perf_counter() + PDLP_SHARE * left - PDLP_OVERRUN_SECONDS
        relaxation = FirstOrderLp(pairs, workers).run(pdlp_deadline)
        best = min(bound, relaxation.bound)
        rounding_seconds = ROUNDING_SECONDS_PER_PAIR * len(pairs.value)
        if time.perf_counter() + rounding_seconds < deadline:
            chosen = lp_rounding(pairs, relaxation, incumbent_pairs, deadline, workers)
        else:
            chosen = improve_by_regions(pairs, incumbent_pairs, deadline, workers)
        prices = (relaxation.unit_price, relaxation.bed_price)
    else:
        every = np.arange(len(pairs.value))
        rating = pairs.value.astype(np.float64) if reduced is None else reduced
        start = np.concatenate(
            [
                top_per_family(pairs, every, rating, 10),
                top_per_family(pairs, every, pairs.value.astype(np.float64), 3),
                incumbent_pairs,
            ]
        )
        relaxation = lp_relaxation(pairs, start, deadline=lp_deadline)
        knapsack = knapsack_bound(
            pairs,
            relaxation.family_price,
            deadline=time.perf_counter() + 0.15 * (deadline - time.perf_counter()),
        )
        best = min([bound, relaxation.bound] + ([] if knapsack is None else [knapsack]))
        chosen = vertex_rounding(pairs, relaxation, deadline, workers, (1 - gap_tolerance) * best)
        prices = (relaxation.unit_price, relaxation.bed_price)
    if pairs.value[incumbent_pairs].sum() > pairs.value[chosen].sum():
        chosen = incumbent_pairs
    return Search(chosen, best, prices)


def search(pairs: Pairs, deadline: float, workers: int, gap_tolerance: float) -> Search:
    """The best plan over ``pairs`` found before the ``deadline``, and its bound.

    Steps, each only while time is left and the plan is not yet proven within the tolerance:
    a greedy plan; a repaired min-cost-flow plan, whose flow (the problem without its bed
    limits) bounds every plan; prices on capacity (Lagrangian relaxation), and every pair
    that cannot take part in a plan better than the incumbent dropped. A dropped pair
    cannot improve on the incumbent, so CP-SAT's optimum on what is left, or the incumbent
    if better, is optimal for the whole instance. If too much is left, the LP relaxation
    bounds the instance and its rounding gives the plan."""
    chosen = greedy(pairs, deadline)
    best_value = np.zeros(len(pairs.keys))
    np.maximum.at(best_value, pairs.family, pairs.value.astype(np.float64))
    bound = float(best_value.sum())  # every family at its best place

    def value(pairs_chosen: np.ndarray) -> float:
        return float(int(pairs.value[pairs_chosen].sum()))

    def done() -> bool:
        return close_enough(value(chosen), bound, gap_tolerance)

    if done() or time.perf_counter() + FLOW_SECONDS_PER_PAIR * len(pairs.value) > deadline:
        return Search(chosen, bound, no_prices(pairs))
    repaired, flow_bound = flow_plan(pairs, deadline=deadline)
    if value(repaired) > value(chosen):
        chosen = repaired
    bound = min(bound, flow_bound)
    if done():
        return Search(chosen, bound, no_prices(pairs))
    if len(pairs.value) > LP_ROUTE_PAIRS:
        return solve_by_relaxation(pairs, chosen, bound, deadline, workers, gap_tolerance)
    priced: PricedBound = lagrangian_bound(
        pairs,
        value(chosen),
        deadline=time.perf_counter() + LAGRANGIAN_SHARE * (deadline - time.perf_counter()),
    )
    prices = (priced.unit_price, priced.bed_price)
    # pruning needs the priced bound itself, even where the flow's is lower
    bound = min(bound, priced.bound)
    if done():
        return Search(chosen, bound, prices)
    kept = prune(pairs, priced.bound, priced.reduced, value(chosen), chosen)
    if len(kept) > MAX_MODEL_PAIRS:
        return solve_by_relaxation(
            pairs, chosen, bound, deadline, workers, gap_tolerance, priced.reduced
        )
    exact = solve_pairs(
        pairs, kept, pairs.units, pairs.beds, deadline, workers, chosen, gap_tolerance=gap_tolerance
    )
    if exact is None:
        return Search(chosen, bound, prices)
    if value(exact.chosen) >= value(chosen):
        chosen = exact.chosen
    # over the kept pairs CP-SAT's bound holds; any better plan uses only kept pairs
    return Search(chosen, min(bound, max(exact.bound, value(chosen))), prices)


def explanation_seconds(instance: PlanInstance) -> float:
    """The time set aside for writing the plan's reasons: for as many placements as there
    can be (no more than families, nor than free units)."""
    free_units = sum(max(0, f.free_units) for f in instance.facilities)
    placements = min(len(instance.demands), free_units)
    return EXPLAIN_SECONDS + EXPLAIN_SECONDS_PER_FAMILY * placements


def solve(
    instance: PlanInstance,
    *,
    time_limit: float = 10.0,
    workers: int = 2,
    gap_tolerance: float = DEFAULT_GAP_TOLERANCE,
) -> Plan:
    """The best plan found within ``time_limit`` seconds, with its proven bound: ``optimal``
    once proven within ``gap_tolerance`` of it (the search then stops), else ``feasible``.
    Beside the value, the plan counts its risk-weighted placements and bounds them."""
    started = time.perf_counter()
    deadline = started + time_limit
    work_until = deadline - explanation_seconds(instance)
    # the candidates leave time for the pair arrays and at least a greedy plan over them
    found, not_reached = candidate_arrays(
        instance, deadline=started + CANDIDATES_SHARE * (work_until - started)
    )
    unexamined = frozenset(not_reached)
    pairs = pair_arrays(instance, found)
    reserve = PLACEMENTS_BOUND_SHARE * max(0.0, work_until - time.perf_counter())
    result = search(pairs, work_until - reserve, workers, gap_tolerance)
    chosen = result.chosen
    objective = float(int(pairs.value[chosen].sum()))
    placements = int(pairs.weight[pairs.family[chosen]].sum())
    weights = {d.key: placement_weight(d) for d in instance.demands}
    left_out = sum(weights[key] for key in unexamined)
    # a family not examined could at best be placed, worth less than one weight more
    bound = result.bound + sum((weights[key] + 1) * PLACEMENT_WEIGHT for key in unexamined)
    # a true bound is never below a plan found: any shortfall is floating-point rounding
    bound = max(bound, objective)
    status = "optimal" if close_enough(objective, bound, gap_tolerance) else "feasible"
    weighted_bound = left_out + placements_bound(
        pairs, result.prices, placements, deadline=work_until
    )
    # a pair's place in its family's candidates: families' pairs are consecutive
    offset = chosen - np.searchsorted(pairs.family, pairs.family[chosen])
    picked = {
        pairs.keys[family]: Candidate(
            pairs.facility_ids[place], float(found[pairs.keys[family]].scores[at])
        )
        for family, place, at in zip(
            pairs.family[chosen].tolist(),
            pairs.facility[chosen].tolist(),
            offset.tolist(),
            strict=True,
        )
    }
    return Plan(
        status=status,
        objective=objective,
        bound=bound,
        solve_seconds=round(time.perf_counter() - started, 4),
        assignments=explained_assignments(instance, picked),
        unplaced=explain_unplaced(instance, found, picked, unexamined),
        unplaced_codes=unplaced_codes(instance, found, picked, unexamined),
        placements=placements,
        placements_bound=weighted_bound,
    )
