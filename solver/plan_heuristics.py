"""Heuristic plans: good feasible plans found fast, the incumbent every bound is compared
with and the hint CP-SAT starts from.

Greedy by value, and a min-cost flow (the problem without its bed limits, solved exactly)
repaired where beds overflow. Each returns the chosen pair indices into
:class:`solver.plan_pairs.Pairs`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.plan_pairs import Pairs


def fill_greedily(
    pairs: Pairs,
    ordered: np.ndarray,
    units: np.ndarray,
    beds: np.ndarray,
    placed: np.ndarray | None = None,
    deadline: float = math.inf,
) -> np.ndarray:
    """Pairs taken in the given order while their family is unplaced and they still fit
    into ``units`` and ``beds``; families ``placed`` already are skipped. Stops at the
    ``deadline`` with what it has, a valid plan still."""
    units, beds = units.copy(), beds.copy()
    placed = np.zeros(len(pairs.keys), dtype=bool) if placed is None else placed.copy()
    chosen = []
    for step, index in enumerate(ordered.tolist()):
        if step % 4096 == 4095 and time.perf_counter() > deadline:
            break
        family, facility = pairs.family[index], pairs.facility[index]
        if placed[family] or units[facility] < 1 or beds[facility] < pairs.persons[index]:
            continue
        units[facility] -= 1
        beds[facility] -= pairs.persons[index]
        placed[family] = True
        chosen.append(index)
    return np.asarray(chosen, dtype=np.int64)


def greedy(pairs: Pairs, deadline: float = math.inf) -> np.ndarray:
    """A good feasible plan: the most valuable pairs first. Returns the chosen pair indices."""
    return fill_greedily(
        pairs,
        np.argsort(-pairs.value, kind="stable"),
        pairs.units,
        pairs.beds,
        deadline=deadline,
    )


def flow_plan(
    pairs: Pairs, bed_price: np.ndarray | None = None, deadline: float = math.inf
) -> tuple[np.ndarray, float]:
    """A plan from the problem without its bed limits, which is a min-cost flow (exact and
    fast), repaired where beds overflow: the least valuable families per bed leave those
    facilities and are placed again greedily. Returns the chosen pair indices, and the flow's
    value, an upper bound for the whole problem (it only dropped constraints)."""
    families, places = len(pairs.keys), len(pairs.units)
    if not len(pairs.value):
        return np.zeros(0, dtype=np.int64), 0.0
    source, sink = 0, 1 + families + places
    family_node = 1 + np.arange(families)
    facility_node = 1 + families + np.arange(places)
    # at prices on beds, the flow's plan leans towards families that fit the beds left
    cost = -pairs.value
    if bed_price is not None:
        cost = -np.round(pairs.value - bed_price[pairs.facility] * pairs.persons).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    ones = np.ones(families, dtype=np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(
        np.full(families, source), family_node, ones, np.zeros(families, dtype=np.int64)
    )
    flow.add_arcs_with_capacity_and_unit_cost(  # staying unplaced costs nothing
        family_node, np.full(families, sink), ones, np.zeros(families, dtype=np.int64)
    )
    pair_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        family_node[pairs.family],
        facility_node[pairs.facility],
        np.ones(len(pairs.value), dtype=np.int64),
        cost,
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        facility_node,
        np.full(places, sink),
        pairs.units.astype(np.int64),
        np.zeros(places, dtype=np.int64),
    )
    flow.set_nodes_supplies(np.asarray([source, sink]), np.asarray([families, -families]))
    if flow.solve() != flow.OPTIMAL:
        return greedy(pairs, deadline), float("inf")
    # without prices, the flow's value bounds every plan (it only dropped the bed limits)
    bound = float(-flow.optimal_cost()) if bed_price is None else float("inf")
    chosen = np.flatnonzero(flow.flows(pair_arcs) > 0)
    # repair the bed limits the flow did not see
    beds = pairs.beds.copy()
    np.subtract.at(beds, pairs.facility[chosen], pairs.persons[chosen])
    keep = np.ones(len(chosen), dtype=bool)
    for facility in np.flatnonzero(beds < 0):
        members = np.flatnonzero(pairs.facility[chosen] == facility)
        by_worth = members[
            np.argsort(pairs.value[chosen[members]] / pairs.persons[chosen[members]])
        ]
        for member in by_worth:
            if beds[facility] >= 0:
                break
            keep[member] = False
            beds[facility] += pairs.persons[chosen[member]]
    chosen = chosen[keep]
    units = pairs.units.copy()
    np.subtract.at(units, pairs.facility[chosen], 1)
    placed = np.zeros(families, dtype=bool)
    placed[pairs.family[chosen]] = True
    by_value = np.argsort(-pairs.value, kind="stable")
    extra = fill_greedily(pairs, by_value, units, beds, placed, deadline=deadline)
    return np.concatenate([chosen, extra]), bound
