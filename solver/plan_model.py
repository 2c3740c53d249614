"""The CP-SAT placement model, built from small named constraint builders, and solving it.

Variables exist only for the pairs it is given (feasible, and not pruned), so the same
builders serve the exact model over every pair left and the smaller models of the LP
rounding.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from solver.plan_pairs import Pairs

# A generous cost of building the model and its hint, per pair (about 12 microseconds
# measured on an idle machine; twice that when another process shares the cores).
MODEL_SECONDS_PER_PAIR = 3e-5


def add_pair_variables(model: cp_model.CpModel, among: np.ndarray) -> list[cp_model.IntVar]:
    """One yes/no per (family, facility) pair in ``among``: is the family placed there?"""
    return [model.new_bool_var(f"x{i}") for i in among.tolist()]


def add_one_place_per_family(
    model: cp_model.CpModel, pairs: Pairs, among: np.ndarray, x: list[cp_model.IntVar]
) -> None:
    """A family goes to one facility at most, and whole (one unit for all its members)."""
    per_family: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for index, var in zip(among.tolist(), x, strict=True):
        per_family[int(pairs.family[index])].append(var)
    for variables in per_family.values():
        model.add_at_most_one(variables)


def add_unit_capacity(
    model: cp_model.CpModel,
    pairs: Pairs,
    among: np.ndarray,
    x: list[cp_model.IntVar],
    units: np.ndarray,
) -> None:
    """No more families than free units, where that can bind."""
    per_place: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for index, var in zip(among.tolist(), x, strict=True):
        per_place[int(pairs.facility[index])].append(var)
    for place, variables in per_place.items():
        if len(variables) > units[place]:
            model.add(cp_model.LinearExpr.sum(variables) <= int(units[place]))


def add_bed_capacity(
    model: cp_model.CpModel,
    pairs: Pairs,
    among: np.ndarray,
    x: list[cp_model.IntVar],
    beds: np.ndarray,
) -> None:
    """No more people than free beds, where that can bind."""
    per_place: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for index, var in zip(among.tolist(), x, strict=True):
        per_place[int(pairs.facility[index])].append((int(pairs.persons[index]), var))
    for place, terms in per_place.items():
        if sum(size for size, _ in terms) > beds[place]:
            expression = cp_model.LinearExpr.weighted_sum(
                [var for _, var in terms], [size for size, _ in terms]
            )
            model.add(expression <= int(beds[place]))


def set_objective(
    model: cp_model.CpModel, pairs: Pairs, among: np.ndarray, x: list[cp_model.IntVar]
) -> None:
    """The placement value of every chosen pair (whole numbers, so sums are exact)."""
    model.maximize(cp_model.LinearExpr.weighted_sum(x, [int(pairs.value[i]) for i in among]))


def pair_model(
    pairs: Pairs, among: np.ndarray, units: np.ndarray, beds: np.ndarray
) -> tuple[cp_model.CpModel, list[cp_model.IntVar]]:
    """The placement model over the pairs ``among`` only, with the given free capacity."""
    model = cp_model.CpModel()
    x = add_pair_variables(model, among)
    add_one_place_per_family(model, pairs, among, x)
    add_unit_capacity(model, pairs, among, x, units)
    add_bed_capacity(model, pairs, among, x, beds)
    set_objective(model, pairs, among, x)
    return model, x


@dataclass(frozen=True, slots=True)
class PairSolution:
    chosen: np.ndarray  # pair indices
    optimal: bool  # proven optimal over the pairs it was given
    bound: float  # CP-SAT's best bound over those pairs


class _StopWhenGoodEnough(cp_model.CpSolverSolutionCallback):
    """Stops the search once a solution reaches ``target``: proven good enough by a bound
    the model itself does not know (one over every pair, not only those it was given)."""

    def __init__(self, target: float) -> None:
        super().__init__()
        self.target = target

    def on_solution_callback(self) -> None:
        if self.objective_value >= self.target:
            self.stop_search()


def solve_pairs(
    pairs: Pairs,
    among: np.ndarray,
    units: np.ndarray,
    beds: np.ndarray,
    deadline: float,
    workers: int,
    hint: np.ndarray,
    *,
    gap_tolerance: float = 0.0,
    target: float = math.inf,
    presolve: bool = True,
) -> PairSolution | None:
    """CP-SAT over the pairs ``among`` until the ``deadline`` (a ``time.perf_counter``
    reading; building the model counts against it), a proof within ``gap_tolerance`` of its
    own bound, or a solution worth ``target``. None when no solution was found in time, or
    when building the model would not leave it any time. Without ``presolve`` a small model
    starts from its hint at once (for many short solves)."""
    if time.perf_counter() + MODEL_SECONDS_PER_PAIR * len(among) + 0.05 > deadline:
        return None
    model, x = pair_model(pairs, among, units, beds)
    hinted = set(hint.tolist())
    for index, var in zip(among.tolist(), x, strict=True):
        model.add_hint(var, 1 if index in hinted else 0)
    left = deadline - time.perf_counter()
    if left <= 0.01:
        return None
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = left
    solver.parameters.num_workers = workers
    solver.parameters.relative_gap_limit = gap_tolerance
    solver.parameters.cp_model_presolve = presolve
    callback = _StopWhenGoodEnough(target) if math.isfinite(target) else None
    result = solver.solve(model, callback)
    if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    chosen = [i for i, var in zip(among.tolist(), x, strict=True) if solver.value(var)]
    value = float(int(pairs.value[np.asarray(chosen, dtype=np.int64)].sum())) if chosen else 0.0
    # with a gap limit CP-SAT reports OPTIMAL when within it: only a closed gap is exact
    exact = result == cp_model.OPTIMAL and solver.best_objective_bound - value < 1
    return PairSolution(
        np.asarray(chosen, dtype=np.int64), exact, max(solver.best_objective_bound, value)
    )
