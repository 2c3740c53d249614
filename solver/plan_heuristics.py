"""Heuristic plans: good feasible plans found fast, the incumbent every bound is compared
with and the hint CP-SAT starts from.

Greedy by value, and a min-cost flow (the problem without its bed limits, solved exactly)
repaired where beds overflow. Each returns the chosen pair indices into
:class:`solver.plan_pairs.Pairs`.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.plan_pairs import Pairs


def fill_greedily(
    pairs: Pairs,
    ordered: np.ndarray,
    units: np.ndarray,
    beds: np.ndarray,
    placed: np.ndarray | None = None,
) -> np.ndarray:
    """Pairs taken in the given order while their family is unplaced and they still fit
    into ``units`` and ``beds``; families ``placed`` already are skipped."""
    units, beds = units.copy(), beds.copy()
    placed = np.zeros(len(pairs.keys), dtype=bool) if placed is None else placed.copy()
    chosen = []
    for index in ordered.tolist():
        family, facility = pairs.family[index], pairs.facility[index]
        if placed[family] or units[facility] < 1 or beds[facility] < pairs.persons[index]:
            continue
        units[facility] -= 1
        beds[facility] -= pairs.persons[index]
        placed[family] = True
        chosen.append(index)
    return np.asarray(chosen, dtype=np.int64)


def greedy(pairs: Pairs) -> np.ndarray:
    """A good feasible plan: the most valuable pairs first. Returns the chosen pair indices."""
    return fill_greedily(pairs, np.argsort(-pairs.value, kind="stable"), pairs.units, pairs.beds)


def flow_plan(pairs: Pairs) -> tuple[np.ndarray, float]:
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
        -pairs.value,
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        facility_node,
        np.full(places, sink),
        pairs.units.astype(np.int64),
        np.zeros(places, dtype=np.int64),
    )
    flow.set_nodes_supplies(np.asarray([source, sink]), np.asarray([families, -families]))
    if flow.solve() != flow.OPTIMAL:
        return greedy(pairs), float("inf")
    bound = float(-flow.optimal_cost())
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
    extra = fill_greedily(pairs, by_value, units, beds, placed)
    return np.concatenate([chosen, extra]), bound
