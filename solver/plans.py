"""One placement model, three uses: batch placement, transfer planning and evacuation.

Every use is the same problem: families (``Demand``) to put into free units of facilities,
each family whole into one unit with a bed per person, never breaking a hard rule of
matching, maximising risk-weighted placements first and the ranking score second. The uses
differ only in who the families are and which places they may take:

    batch        requests from the hotline onto free capacity
    transfers    residents whose stay limit is near, to a later tier (or, for an operator
                 with flexible transfers, to its houses on another stay clock; see
                 ``solver.transfers``)
    evacuation   the residents of a compromised facility, anywhere outside the danger
                 regions (the rules still send high-risk families to secret shelters only)

The CP-SAT model is built from small named constraint builders, with variables only for
feasible pairs. Before it is built, bounds (a min-cost flow without the bed limits, and
prices on capacity) remove every pair that cannot be part of a plan better than the
incumbent. When what is left is still too large for CP-SAT to finish within seconds, the
LP relaxation is solved instead, by column generation, and rounded: its prices give a bound
valid for the whole instance, and CP-SAT completes and then improves the rounded plan.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from solver.feasibility import REASONS, RequestView, exclusion_reason, prepare
from solver.instance import FacilityState, Network, PlacementRequest
from solver.ranking import SECRET_SHELTER, Part, explain_parts, score_parts

RISK_WEIGHT = {"standard": 1, "medium": 2, "high": 3}
# A placement outweighs any difference in score (scores are about -100..+100, times 10).
PLACEMENT_WEIGHT = 10_000
SCORE_SCALE = 10


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


@dataclass(frozen=True, slots=True)
class Plan:
    status: str  # optimal, feasible, infeasible
    objective: float
    bound: float
    solve_seconds: float
    assignments: tuple[Assignment, ...]
    unplaced: dict[str, str]

    @property
    def gap(self) -> float:
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.objective) / self.bound)


# --- candidates ---------------------------------------------------------------------------


def placement_value(demand: Demand, score: float) -> int:
    weight = RISK_WEIGHT.get(demand.request.risk, 1) + demand.urgency
    return weight * PLACEMENT_WEIGHT + round(score * SCORE_SCALE)


def pair_refusal(
    instance: PlanInstance,
    demand: Demand,
    facility: FacilityState,
    view: RequestView | None = None,
) -> str | None:
    """Why this family may not take a unit here (capacity of the facility alone included),
    or None. The one definition of "feasible pair" for the model and the validator.
    ``view`` is the request prepared once, when many facilities are checked for it."""
    if facility.id in instance.excluded_facility_ids:
        return "the facility is being emptied"
    if facility.region in instance.forbidden_regions:
        return REASONS["danger_zone"]
    if demand.allowed_facility_ids is not None and facility.id not in demand.allowed_facility_ids:
        return "not a next step for this stay (tier or operator policy)"
    view = view or prepare(demand.request, instance.network)
    reason = exclusion_reason(view, facility, instance.network)
    return None if reason is None else REASONS[reason]


def _parts_of(
    instance: PlanInstance,
    demand: Demand,
    view: RequestView,
    facility: FacilityState,
    secret_free: int,
) -> list[Part]:
    network = instance.network
    age = network.report_age_hours(facility, instance.now)
    stale = age is None or age > network.stale_after_hours
    parts = list(score_parts(view, facility, network, secret_free, age, stale))
    extra = demand.bonus.get(facility.id)
    if extra:
        parts.append((extra, "bonus", demand.bonus_reason))
    return parts


def reference_candidates(instance: PlanInstance) -> dict[str, list[Candidate]]:
    """Feasible places per family, best first, one pair at a time with the ranking's own
    functions: slow, and the yardstick :func:`candidates` is tested against."""
    network = instance.network
    secret_free = sum(f.free_units for f in instance.facilities if f.kind == SECRET_SHELTER)
    usable = [
        f
        for f in instance.facilities
        if f.id not in instance.excluded_facility_ids and f.region not in instance.forbidden_regions
    ]
    result: dict[str, list[Candidate]] = {}
    for demand in instance.demands:
        view = prepare(demand.request, network)
        found: list[Candidate] = []
        for facility in usable:
            if (
                demand.allowed_facility_ids is not None
                and facility.id not in demand.allowed_facility_ids
            ):
                continue
            if exclusion_reason(view, facility, network) is not None:
                continue
            parts = _parts_of(instance, demand, view, facility, secret_free)
            score = round(sum(value for value, _, _ in parts), 2)
            found.append(Candidate(facility.id, score))
        found.sort(key=lambda c: (-c.score, c.facility_id))
        result[demand.key] = found
    return result


class _FacilityArrays:
    """The facilities as arrays, so that each family's hard rules and score are a few
    vectorised operations instead of one Python call per facility."""

    def __init__(self, instance: PlanInstance) -> None:
        network, facilities = instance.network, instance.facilities
        self.kinds = sorted(network.kinds)
        self.regions = sorted(network.geography.points)
        kind_at = {k: i for i, k in enumerate(self.kinds)}
        region_at = {r: i for i, r in enumerate(self.regions)}
        self.ids = np.asarray([f.id for f in facilities], dtype=np.int64)
        self.kind = np.asarray([kind_at[f.kind] for f in facilities], dtype=np.int64)
        self.region = np.asarray([region_at[f.region] for f in facilities], dtype=np.int64)
        self.units = np.asarray([f.free_units for f in facilities])
        self.beds = np.asarray([f.free_beds for f in facilities])
        self.boys_max = np.asarray(
            [99 if f.boys_max_age is None else f.boys_max_age for f in facilities]
        )
        self.men_ok = np.asarray(
            [f.admits_adult_men and network.kinds[f.kind].adult_men_possible for f in facilities]
        )
        self.wheelchair = np.asarray([f.wheelchair_units >= 1 for f in facilities])
        self.pets = np.asarray([f.accepts_pets for f in facilities])
        self.night = np.asarray([f.night_admission for f in facilities])
        self.reentry = np.asarray([f.accepts_reentry for f in facilities])
        self.languages = [f.languages for f in facilities]
        self.secret = self.kind == kind_at.get(SECRET_SHELTER, -1)
        self.usable = np.asarray(
            [
                f.id not in instance.excluded_facility_ids
                and f.region not in instance.forbidden_regions
                for f in facilities
            ]
        )
        weights, limit = network.weights, network.stale_after_hours
        fresh = []
        for facility in facilities:
            age = network.report_age_hours(facility, instance.now)
            if age is None or age > limit:
                fresh.append(weights.stale_report)
            else:
                fresh.append(weights.fresh_report * max(0.0, 1.0 - age / limit))
        self.fresh = np.asarray(fresh)
        self.position = {fid: i for i, fid in enumerate(self.ids.tolist())}

    def speaks(self, needed: frozenset[str]) -> np.ndarray:
        return np.asarray([needed <= spoken for spoken in self.languages])


def candidates(instance: PlanInstance) -> dict[str, list[Candidate]]:
    """Feasible places per family, best first, with their scores (vectorised; equal to
    :func:`reference_candidates`)."""
    network, weights = instance.network, instance.network.weights
    arrays = _FacilityArrays(instance)
    secret_free = int(arrays.units[arrays.secret].sum())
    speaking: dict[frozenset[str], np.ndarray] = {}
    result: dict[str, list[Candidate]] = {}
    for demand in instance.demands:
        request, view = demand.request, prepare(demand.request, network)
        kind_ok = np.asarray(
            [k in view.allowed_kinds and k in view.family_kinds for k in arrays.kinds]
        )
        region_ok = np.asarray([r not in view.excluded_regions for r in arrays.regions])
        mask = arrays.usable & kind_ok[arrays.kind] & region_ok[arrays.region]
        mask &= (arrays.units >= 1) & (arrays.beds >= view.persons)
        if view.has_adult_man:
            mask &= arrays.men_ok
        if view.oldest_boy is not None:
            mask &= arrays.boys_max >= view.oldest_boy
        needs = request.needs
        if needs.wheelchair:
            mask &= arrays.wheelchair
        if needs.pets:
            mask &= arrays.pets
        if needs.night_arrival:
            mask &= arrays.night
        if request.reentry:
            mask &= arrays.reentry
        if needs.languages:
            if needs.languages not in speaking:
                speaking[needs.languages] = arrays.speaks(needs.languages)
            mask &= speaking[needs.languages]
        if demand.allowed_facility_ids is not None:
            allowed = np.zeros(len(arrays.ids), dtype=bool)
            allowed[
                [arrays.position[f] for f in demand.allowed_facility_ids if f in arrays.position]
            ] = True
            mask &= allowed
        index = np.flatnonzero(mask)
        if not len(index):
            result[demand.key] = []
            continue
        fit = weights.kind_fit.get(request.risk, {})
        score = np.asarray([fit.get(k, 0.0) for k in arrays.kinds])[arrays.kind[index]]
        if view.to_preferred:
            near = np.asarray(
                [
                    weights.preferred_region
                    if r in request.preferred_regions
                    else weights.near_preferred_max
                    * max(0.0, 1.0 - view.to_preferred[r] / weights.near_preferred_km)
                    for r in arrays.regions
                ]
            )
            score = score + near[arrays.region[index]]
        if view.to_avoided:
            far = np.asarray(
                [
                    weights.far_from_danger_max
                    * min(1.0, view.to_avoided[r] / weights.far_from_danger_km)
                    for r in arrays.regions
                ]
            )
            score = score + far[arrays.region[index]]
        score = score + arrays.fresh[index]
        if request.risk != "high":
            penalty = (
                weights.secret_buffer_penalty
                if secret_free <= weights.secret_buffer_units
                else weights.secret_place_penalty
            )
            score = score + np.where(arrays.secret[index], penalty, 0.0)
        if demand.bonus:
            score = score + np.asarray([demand.bonus.get(int(f), 0.0) for f in arrays.ids[index]])
        score = np.round(score, 2)
        order = np.lexsort((arrays.ids[index], -score))
        result[demand.key] = [Candidate(int(arrays.ids[index[i]]), float(score[i])) for i in order]
    return result


# --- bounds and pruning ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pairs:
    """Every feasible (family, facility) pair as arrays, grouped by family."""

    keys: list[str]
    facility_ids: list[int]
    family: np.ndarray  # index into keys, sorted ascending
    facility: np.ndarray  # index into facility_ids
    value: np.ndarray
    persons: np.ndarray
    units: np.ndarray  # free units per facility index
    beds: np.ndarray  # free beds per facility index


def pair_arrays(instance: PlanInstance, found: dict[str, list[Candidate]]) -> Pairs:
    demands = {d.key: d for d in instance.demands}
    keys = [d.key for d in instance.demands]
    facility_ids = [f.id for f in instance.facilities]
    position = {fid: i for i, fid in enumerate(facility_ids)}
    family, facility, value, persons = [], [], [], []
    for index, key in enumerate(keys):
        size = demands[key].request.family.persons
        for option in found.get(key, []):
            family.append(index)
            facility.append(position[option.facility_id])
            value.append(placement_value(demands[key], option.score))
            persons.append(size)
    return Pairs(
        keys=keys,
        facility_ids=facility_ids,
        family=np.asarray(family, dtype=np.int64),
        facility=np.asarray(facility, dtype=np.int64),
        value=np.asarray(value, dtype=np.int64),  # whole numbers: sums stay exact
        persons=np.asarray(persons, dtype=np.float64),
        units=np.asarray([f.free_units for f in instance.facilities], dtype=np.float64),
        beds=np.asarray([f.free_beds for f in instance.facilities], dtype=np.float64),
    )


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


def _net_of_capacity(pairs: Pairs, unit_price: np.ndarray, bed_price: np.ndarray) -> np.ndarray:
    """Each pair's value less what its unit and beds cost at the given prices."""
    return pairs.value - unit_price[pairs.facility] - bed_price[pairs.facility] * pairs.persons


def _best_per_family(pairs: Pairs, reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each family's best reduced value (at least 0: staying unplaced) and the pair giving it."""
    count = len(pairs.keys)
    best = np.zeros(count)
    np.maximum.at(best, pairs.family, reduced)
    is_best = (reduced >= best[pairs.family]) & (reduced > 0)
    candidates = np.flatnonzero(is_best)
    _, first = np.unique(pairs.family[candidates], return_index=True)
    return best, candidates[first]


def lagrangian_bound(
    pairs: Pairs, incumbent: float, iterations: int = 300
) -> tuple[float, np.ndarray]:
    """An upper bound on every plan's value, by relaxing the capacity constraints with prices
    on units and beds (subgradient steps); returns the bound and each pair's reduced value
    at the best prices found."""
    u = np.zeros(len(pairs.units))
    v = np.zeros(len(pairs.beds))
    best_bound, best_reduced = np.inf, pairs.value
    theta, stall = 2.0, 0
    for _ in range(iterations):
        reduced = _net_of_capacity(pairs, u, v)
        best, chosen = _best_per_family(pairs, reduced)
        bound = float(u @ pairs.units + v @ pairs.beds + best.sum())
        if bound < best_bound - 1e-9:
            best_bound, best_reduced, stall = bound, reduced, 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        if best_bound - incumbent < 1 or theta < 1e-4:
            break
        load_units = np.bincount(pairs.facility[chosen], minlength=len(pairs.units))
        load_beds = np.bincount(
            pairs.facility[chosen], weights=pairs.persons[chosen], minlength=len(pairs.beds)
        )
        g_u, g_v = pairs.units - load_units, pairs.beds - load_beds
        norm = float(g_u @ g_u + g_v @ g_v)
        if norm == 0:
            break
        step = theta * (bound - incumbent) / norm
        u = np.maximum(0.0, u - step * g_u)
        v = np.maximum(0.0, v - step * g_v)
    return best_bound, best_reduced


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


def _top_per_family(pairs: Pairs, among: np.ndarray, rating: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` pairs of each family in ``among`` rated highest."""
    if not len(among):
        return among
    order = among[np.lexsort((-rating[among], pairs.family[among]))]
    family = pairs.family[order]
    starts = np.r_[0, np.flatnonzero(np.diff(family)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[rank < count]


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The LP relaxation over the pairs it needed: its solution on those pairs, each pair's
    reduced value at its prices, and the bound those prices prove."""

    columns: np.ndarray
    x: np.ndarray
    reduced: np.ndarray
    bound: float
    family_price: np.ndarray


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
        add(_top_per_family(pairs, pricing_in, reduced, added_per_round))
    columns = np.fromiter(variables, dtype=np.int64)
    x = np.asarray([variables[int(i)].solution_value() for i in columns])
    return Relaxation(
        columns,
        x,
        _net_of_capacity(pairs, unit_price, bed_price),
        priced_bound(pairs, unit_price, bed_price),
        np.maximum(0.0, family_price),
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


# --- the CP-SAT model, from named constraint builders ----------------------------------------


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


def _solve_pairs(
    pairs: Pairs,
    among: np.ndarray,
    units: np.ndarray,
    beds: np.ndarray,
    time_limit: float,
    workers: int,
    hint: np.ndarray,
) -> PairSolution | None:
    model, x = pair_model(pairs, among, units, beds)
    hinted = set(hint.tolist())
    for index, var in zip(among.tolist(), x, strict=True):
        model.add_hint(var, 1 if index in hinted else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit)
    solver.parameters.num_workers = workers
    result = solver.solve(model)
    if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    chosen = [i for i, var in zip(among.tolist(), x, strict=True) if solver.value(var)]
    return PairSolution(
        np.asarray(chosen, dtype=np.int64), result == cp_model.OPTIMAL, solver.best_objective_bound
    )


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
    rest = _top_per_family(pairs, open_, relaxation.reduced, options)
    # what the LP takes most of first, then by value net of the capacity prices
    share = np.zeros(len(pairs.value))
    share[relaxation.columns] = relaxation.x
    filled = fill_greedily(
        pairs, rest[np.lexsort((-relaxation.reduced[rest], -share[rest]))], units, beds
    )
    left = deadline - time.perf_counter()
    solved = _solve_pairs(pairs, rest, units, beds, left, workers, filled)
    taken = None if solved is None else solved.chosen
    better_taken = taken is not None and pairs.value[taken].sum() > pairs.value[filled].sum()
    plan = np.concatenate([kept, taken if better_taken else filled])
    left = deadline - time.perf_counter()
    if left < 0.2:
        return plan
    support = relaxation.columns[relaxation.x > 1e-6]
    every = np.arange(len(pairs.value))
    wider = np.unique(
        np.concatenate([_top_per_family(pairs, every, relaxation.reduced, 8), support, plan])
    )
    improved = _solve_pairs(pairs, wider, pairs.units, pairs.beds, left, workers, plan)
    better = None if improved is None else improved.chosen
    if better is not None and pairs.value[better].sum() > pairs.value[plan].sum():
        return better
    return plan


# --- solving -------------------------------------------------------------------------------

# Above this many pairs CP-SAT rarely improves on the greedy plan within seconds.
MAX_MODEL_PAIRS = 12_000
# Time kept back after the rounding for writing each placement's reasons.
ROUNDING_MARGIN_SECONDS = 0.3
# A generous estimate of one dynamic-programming cell's cost in the knapsack bound (measured
# at 0.03 to 0.09 microseconds on the development machine).
KNAPSACK_SECONDS_PER_CELL = 1.5e-7


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
            _top_per_family(pairs, every, reduced.astype(np.float64), 10),
            _top_per_family(pairs, every, pairs.value.astype(np.float64), 3),
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
    facilities = {f.id: f for f in instance.facilities}
    demands = {d.key: d for d in instance.demands}
    found = candidates(instance)
    secret_free = sum(f.free_units for f in instance.facilities if f.kind == SECRET_SHELTER)
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
            exact = _solve_pairs(
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
    order = {d.key: i for i, d in enumerate(instance.demands)}
    assignments = tuple(
        Assignment(
            key=key,
            facility_id=candidate.facility_id,
            score=candidate.score,
            reasons=explain_parts(
                _parts_of(
                    instance,
                    demands[key],
                    prepare(demands[key].request, instance.network),
                    facilities[candidate.facility_id],
                    secret_free,
                ),
                facilities[candidate.facility_id],
                demands[key].request.risk,
            ),
        )
        for key, candidate in sorted(picked.items(), key=lambda item: order[item[0]])
    )
    return Plan(
        status=status,
        objective=objective,
        bound=bound,
        solve_seconds=round(time.perf_counter() - started, 4),
        assignments=assignments,
        unplaced=explain_unplaced(instance, found, picked),
    )


def explain_unplaced(
    instance: PlanInstance, found: dict[str, list[Candidate]], chosen: dict[str, Candidate]
) -> dict[str, str]:
    """For each family left without a place, the reason that binds."""
    reasons: dict[str, str] = {}
    for demand in instance.demands:
        if demand.key in chosen:
            continue
        options = found.get(demand.key, [])
        persons = demand.request.family.persons
        if options:
            reasons[demand.key] = (
                f"the {len(options)} places that fit this family of {persons} are taken by "
                "families weighted higher in this plan"
            )
            continue
        counts: dict[str, int] = defaultdict(int)
        view = prepare(demand.request, instance.network)
        for facility in instance.facilities:
            refusal = pair_refusal(instance, demand, facility, view)
            if refusal is not None:
                counts[refusal] += 1
        top = sorted(counts.items(), key=lambda item: -item[1])[:3]
        what = "secret-shelter unit" if demand.request.risk == "high" else "unit"
        where = " outside the danger regions" if instance.forbidden_regions else ""
        detail = "; ".join(f"{n} facilities: {text}" for text, n in top)
        reasons[demand.key] = f"no {what}{where} fits a family of {persons} ({detail})"
    return reasons
