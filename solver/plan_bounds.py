"""Upper bounds on every plan's value, and the pruning they allow.

A bound proves how far a plan can be from the optimum, and lets the solve loop drop every
pair that cannot be part of a plan better than the incumbent. Bounds here: prices on
capacity (Lagrangian relaxation by subgradient steps, or any given prices), the LP
relaxation by column generation (GLOP), and prices on families with one exact knapsack per
facility. All are valid for any non-negative prices, so a loop stopped early still proves
its bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from ortools.linear_solver import pywraplp
from ortools.pdlp import solvers_pb2
from ortools.pdlp.python import pdlp

from solver.plan_data import PLACEMENT_WEIGHT
from solver.plan_pairs import Pairs, top_per_family

# A generous estimate of one dynamic-programming cell's cost in the knapsack bound (measured
# at 0.03 to 0.09 microseconds on the development machine).
KNAPSACK_SECONDS_PER_CELL = 1.5e-7
# A generous cost of the weighted bound's set-up and first priced step, per pair (0.19 s
# for 1.3 million pairs measured while another process kept one of two cores busy).
PRICED_STEP_SECONDS_PER_PAIR = 2e-7


def _net_of_capacity(
    pairs: Pairs, unit_price: np.ndarray, bed_price: np.ndarray, values: np.ndarray | None = None
) -> np.ndarray:
    """Each pair's value (or ``values``) less what its unit and beds cost at the given prices."""
    worth = pairs.value if values is None else values
    return worth - unit_price[pairs.facility] - bed_price[pairs.facility] * pairs.persons


def _best_per_family(pairs: Pairs, reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each family's best reduced value (at least 0: staying unplaced) and the pair giving it."""
    count = len(pairs.keys)
    best = np.zeros(count)
    np.maximum.at(best, pairs.family, reduced)
    is_best = (reduced >= best[pairs.family]) & (reduced > 0)
    candidates = np.flatnonzero(is_best)
    _, first = np.unique(pairs.family[candidates], return_index=True)
    return best, candidates[first]


@dataclass(frozen=True, slots=True)
class PricedBound:
    """A bound proven by prices on free units and beds, the prices, and each pair's value
    net of them (its reduced value)."""

    bound: float
    reduced: np.ndarray
    unit_price: np.ndarray
    bed_price: np.ndarray


def lagrangian_bound(
    pairs: Pairs,
    incumbent: float,
    *,
    iterations: int = 300,
    deadline: float = math.inf,
    values: np.ndarray | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> PricedBound:
    """An upper bound on every plan's value (pair values, or ``values``), by relaxing the
    capacity constraints with prices on units and beds (subgradient steps from ``start``,
    or from zero) until the bound is within 1 of ``incumbent``, the steps stall, or the
    ``deadline`` passes; every step's bound is valid, so the best one is returned."""
    worth = pairs.value.astype(np.float64) if values is None else values
    u = np.zeros(len(pairs.units)) if start is None else start[0].copy()
    v = np.zeros(len(pairs.beds)) if start is None else start[1].copy()
    best = PricedBound(math.inf, worth, u, v)
    theta, stall = 2.0, 0
    for _ in range(iterations):
        reduced = _net_of_capacity(pairs, u, v, worth)
        family_best, chosen = _best_per_family(pairs, reduced)
        bound = float(u @ pairs.units + v @ pairs.beds + family_best.sum())
        if bound < best.bound - 1e-9:
            best, stall = PricedBound(bound, reduced, u, v), 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        if best.bound - incumbent < 1 or theta < 1e-4 or time.perf_counter() > deadline:
            break
        load_units = np.bincount(pairs.facility[chosen], minlength=len(pairs.units))
        load_beds = np.bincount(
            pairs.facility[chosen], weights=pairs.persons[chosen], minlength=len(pairs.beds)
        )
        g_u, g_v = pairs.units - load_units, pairs.beds - load_beds
        norm = float(g_u @ g_u + g_v @ g_v)
        if norm == 0:
            break
        step = theta * max(bound - incumbent, 1.0) / norm
        u = np.maximum(0.0, u - step * g_u)
        v = np.maximum(0.0, v - step * g_v)
    return best


def placements_bound(
    pairs: Pairs, prices: tuple[np.ndarray, np.ndarray], placed: int, deadline: float
) -> int:
    """An upper bound on the risk-weighted placements of any plan: the Lagrangian bound
    with each pair worth its family's weight, started from the value problem's prices
    scaled to one placement, and never above every family with a place being placed."""
    if not len(pairs.value):
        return 0
    with_a_place = np.zeros(len(pairs.keys), dtype=bool)
    with_a_place[pairs.family] = True
    everyone = int(pairs.weight[with_a_place].sum())
    if time.perf_counter() + PRICED_STEP_SECONDS_PER_PAIR * len(pairs.value) > deadline:
        return everyone  # no time for one priced step: every family with a place counts
    weights = pairs.weight[pairs.family].astype(np.float64)
    start = (prices[0] / PLACEMENT_WEIGHT, prices[1] / PLACEMENT_WEIGHT)
    priced = lagrangian_bound(
        pairs, float(placed), iterations=200, deadline=deadline, values=weights, start=start
    )
    return min(everyone, math.floor(priced.bound + 1e-6))


def prune(
    pairs: Pairs, bound: float, reduced: np.ndarray, incumbent: float, keep: np.ndarray
) -> np.ndarray:
    """Pairs that could still be part of a plan better than the incumbent (plus ``keep``).

    Forcing pair (d, f) changes the relaxed bound by its reduced value minus family d's best;
    when what is left cannot beat the incumbent, no better plan uses the pair."""
    best, _ = _best_per_family(pairs, reduced)
    forced = bound - best[pairs.family] + reduced
    mask = forced > incumbent + 0.5
    mask[keep] = True
    return np.flatnonzero(mask)


def priced_bound(pairs: Pairs, unit_price: np.ndarray, bed_price: np.ndarray) -> float:
    """An upper bound on every plan's value from any non-negative prices on free units and
    beds: what the capacity is worth at those prices, plus each family's best value net of
    them (or nothing). Valid for any prices; equal to the LP optimum at its duals."""
    reduced = _net_of_capacity(pairs, unit_price, bed_price)
    best = np.zeros(len(pairs.keys))
    np.maximum.at(best, pairs.family, reduced)
    return float(unit_price @ pairs.units + bed_price @ pairs.beds + best.sum())


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The LP relaxation over the pairs it needed: its solution on those pairs, each pair's
    reduced value at its prices, and the bound those prices prove."""

    columns: np.ndarray
    x: np.ndarray
    reduced: np.ndarray
    bound: float
    family_price: np.ndarray
    unit_price: np.ndarray
    bed_price: np.ndarray


def lp_relaxation(
    pairs: Pairs, start: np.ndarray, deadline: float, added_per_round: int = 5
) -> Relaxation:
    """The LP relaxation by column generation: solve it over ``start`` (GLOP), price every
    other pair at the duals, add each family's best-priced pairs, repeat until no pair
    prices in or the deadline passes. The bound is :func:`priced_bound` at the last duals,
    so it is valid even when the loop stops early."""
    lp = pywraplp.Solver.CreateSolver("GLOP")
    families, places = len(pairs.keys), len(pairs.units)
    one_place = [lp.Constraint(-lp.infinity(), 1.0) for _ in range(families)]
    unit_rows = [lp.Constraint(-lp.infinity(), float(u)) for u in pairs.units]
    bed_rows = [lp.Constraint(-lp.infinity(), float(b)) for b in pairs.beds]
    objective = lp.Objective()
    objective.SetMaximization()
    variables: dict[int, pywraplp.Variable] = {}

    def add(indices: np.ndarray) -> None:
        for index in indices.tolist():
            var = lp.NumVar(0.0, 1.0, "")
            place = int(pairs.facility[index])
            one_place[int(pairs.family[index])].SetCoefficient(var, 1.0)
            unit_rows[place].SetCoefficient(var, 1.0)
            bed_rows[place].SetCoefficient(var, float(pairs.persons[index]))
            objective.SetCoefficient(var, float(pairs.value[index]))
            variables[index] = var

    add(np.unique(start))
    unit_price, bed_price = np.zeros(places), np.zeros(places)
    family_price = np.zeros(families)
    while True:
        left = min(deadline - time.perf_counter(), 86_400.0)
        lp.SetTimeLimit(max(1, int(left * 1000)))  # a simplex call watches the deadline too
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            break
        unit_price = np.maximum(0.0, [row.dual_value() for row in unit_rows])
        bed_price = np.maximum(0.0, [row.dual_value() for row in bed_rows])
        family_price = np.asarray([row.dual_value() for row in one_place])
        reduced = _net_of_capacity(pairs, unit_price, bed_price) - family_price[pairs.family]
        outside = np.ones(len(pairs.value), dtype=bool)
        outside[list(variables)] = False
        pricing_in = np.flatnonzero(outside & (reduced > 0.5))
        if not len(pricing_in) or time.perf_counter() > deadline:
            break
        add(top_per_family(pairs, pricing_in, reduced, added_per_round))
    columns = np.fromiter(variables, dtype=np.int64)
    x = np.asarray([variables[int(i)].solution_value() for i in columns])
    return Relaxation(
        columns,
        x,
        _net_of_capacity(pairs, unit_price, bed_price),
        priced_bound(pairs, unit_price, bed_price),
        np.maximum(0.0, family_price),
        unit_price,
        bed_price,
    )


class FirstOrderLp:
    """The LP relaxation over every pair at once, by first-order steps (PDLP), built once
    and run until a deadline. The solution is approximate, but the bound is
    :func:`priced_bound` at its duals, so it is valid whenever it stops; on large instances
    it reaches a tight bound in a fraction of the time column generation with a simplex
    method needs."""

    def __init__(self, pairs: Pairs, threads: int) -> None:
        self.pairs, self.threads = pairs, max(1, threads)
        families, places, count = len(pairs.keys), len(pairs.units), len(pairs.value)
        column = np.arange(count)
        matrix = scipy.sparse.csc_matrix(
            (
                np.concatenate([np.ones(2 * count), pairs.persons]),
                (
                    np.concatenate(
                        [
                            pairs.family,
                            families + pairs.facility,
                            families + places + pairs.facility,
                        ]
                    ),
                    np.concatenate([column, column, column]),
                ),
            ),
            shape=(families + 2 * places, count),
        )
        program = pdlp.QuadraticProgram()
        # minimise; values scaled so that one placement is worth about one
        program.objective_vector = -pairs.value.astype(np.float64) / PLACEMENT_WEIGHT
        program.constraint_lower_bounds = np.full(families + 2 * places, -np.inf)
        program.constraint_upper_bounds = np.concatenate(
            [np.ones(families), pairs.units, pairs.beds]
        )
        program.variable_lower_bounds = np.zeros(count)
        program.variable_upper_bounds = np.ones(count)
        program.constraint_matrix = matrix
        self.program = program

    def run(self, deadline: float) -> Relaxation:
        pairs = self.pairs
        families, places, count = len(pairs.keys), len(pairs.units), len(pairs.value)
        params = solvers_pb2.PrimalDualHybridGradientParams()
        params.termination_criteria.time_sec_limit = max(0.01, deadline - time.perf_counter())
        params.termination_criteria.simple_optimality_criteria.eps_optimal_relative = 1e-7
        params.num_threads = self.threads
        result = pdlp.primal_dual_hybrid_gradient(self.program, params)
        primal = np.asarray(result.primal_solution, dtype=np.float64)
        dual = np.asarray(result.dual_solution, dtype=np.float64)
        usable = (
            len(primal) == count
            and len(dual) == families + 2 * places
            and bool(np.isfinite(primal).all() and np.isfinite(dual).all())
        )
        if not usable:  # zero prices still prove a bound
            primal, dual = np.zeros(count), np.zeros(families + 2 * places)
        price = -dual * PLACEMENT_WEIGHT
        family_price = np.maximum(0.0, price[:families])
        unit_price = np.maximum(0.0, price[families : families + places])
        bed_price = np.maximum(0.0, price[families + places :])
        return Relaxation(
            np.arange(count),
            np.clip(primal, 0.0, 1.0),
            _net_of_capacity(pairs, unit_price, bed_price),
            priced_bound(pairs, unit_price, bed_price),
            family_price,
            unit_price,
            bed_price,
        )


def _best_fill(values: np.ndarray, sizes: np.ndarray, units: int, beds: int) -> float:
    """The most valuable set of items with at most ``units`` items and ``beds`` in size
    (exact: dynamic programming over units and beds used)."""
    if len(values) <= units and sizes.sum() <= beds:
        return float(values.sum())
    best = np.full((units + 1, beds + 1), -np.inf)
    best[0, 0] = 0.0
    for value, size in zip(values.tolist(), sizes.astype(np.int64).tolist(), strict=True):
        if size > beds:
            continue
        taken = best[:-1, : beds + 1 - size] + value
        np.maximum(best[1:, size:], taken, out=best[1:, size:])
    return float(best.max())


def knapsack_bound(pairs: Pairs, family_price: np.ndarray, deadline: float) -> float | None:
    """An upper bound from prices on families alone: each facility then takes, on its own,
    the best set of families that fits its free units and beds, a small knapsack solved
    exactly. Valid for any non-negative prices; at the LP's prices it is never above the LP
    bound, and tighter where the LP fills beds with a fraction of a family. None when the
    deadline passes first (a bound needs every facility)."""
    net = pairs.value - family_price[pairs.family]
    positive = np.flatnonzero(net > 1e-9)
    tables = (pairs.units[pairs.facility[positive]] + 1) * (
        pairs.beds[pairs.facility[positive]] + 1
    )
    if float(tables.sum()) * KNAPSACK_SECONDS_PER_CELL > deadline - time.perf_counter():
        return None  # would not finish: do not take the time from the plan
    order = positive[np.argsort(pairs.facility[positive], kind="stable")]
    places = pairs.facility[order]
    starts = np.r_[0, np.flatnonzero(np.diff(places)) + 1, len(order)]
    total = float(family_price.sum())
    for first, end in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        if first == end:
            continue
        if time.perf_counter() > deadline:
            return None
        items = order[first:end]
        place = int(places[first])
        total += _best_fill(
            net[items], pairs.persons[items], int(pairs.units[place]), int(pairs.beds[place])
        )
    return total
