"""Which facilities each family may take in a plan, and what each place scores.

The hard rules are the network's (``Network.hard_rules``, applied by
:mod:`solver.feasibility` exactly as the one-family ranking applies them) and the score is the
ranking's (:func:`solver.ranking.score_parts`), plus what only a plan adds: facilities being
emptied, regions forbidden to the whole plan, the places a demand is limited to, and a bonus
per facility. :func:`pair_refusal` is the one definition of a feasible pair for the plan
validator; :func:`candidates` finds every feasible pair at once, with the same rules.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from solver.facility_arrays import FacilityArrays
from solver.feasibility import (
    REASONS,
    RequestView,
    admitting,
    broken_rule,
    first_broken_rules,
    prepare,
)
from solver.instance import FacilityState
from solver.plan_data import Candidate, Demand, PlanInstance
from solver.ranking import SECRET_SHELTER, Part, score_parts

BEING_EMPTIED = "the facility is being emptied"
NOT_A_NEXT_STEP = "not a next step for this stay (tier or operator policy)"


def _plan_refusal(instance: PlanInstance, demand: Demand, facility: FacilityState) -> str | None:
    """Why the plan itself keeps the family out of this facility, whatever the rules say."""
    if facility.id in instance.excluded_facility_ids:
        return BEING_EMPTIED
    if facility.region in instance.forbidden_regions:
        return REASONS["danger_zone"]
    if demand.allowed_facility_ids is not None and facility.id not in demand.allowed_facility_ids:
        return NOT_A_NEXT_STEP
    return None


def pair_refusal(
    instance: PlanInstance,
    demand: Demand,
    facility: FacilityState,
    view: RequestView | None = None,
) -> str | None:
    """Why this family may not take a unit here (capacity of the facility alone included),
    or None. The one definition of "feasible pair" for the model and the validator.
    ``view`` is the request prepared once, when many facilities are checked for it."""
    refusal = _plan_refusal(instance, demand, facility)
    if refusal is not None:
        return refusal
    view = view or prepare(demand.request, instance.network)
    rule = broken_rule(view, facility, instance.network)
    return None if rule is None else rule.message


def facility_refusals(
    instance: PlanInstance, demand: Demand, view: RequestView, facilities: FacilityArrays
) -> list[str | None]:
    """:func:`pair_refusal` for every facility of the instance at once (``facilities`` are
    the instance's, in its order)."""
    rules = instance.network.hard_rules
    messages: list[str | None] = [rule.message for rule in rules]
    messages.append(None)  # index len(rules): no rule broken
    broken = first_broken_rules(view, facilities, rules).tolist()
    return [
        _plan_refusal(instance, demand, facility) or messages[rule]
        for facility, rule in zip(instance.facilities, broken, strict=True)
    ]


def placement_parts(
    instance: PlanInstance,
    demand: Demand,
    view: RequestView,
    facility: FacilityState,
    secret_free: int,
) -> list[Part]:
    """The ranking's score parts for this place, and the demand's bonus for it if any."""
    network = instance.network
    age = network.report_age_hours(facility, instance.now)
    stale = age is None or age > network.stale_after_hours
    parts = list(score_parts(view, facility, network, secret_free, age, stale))
    extra = demand.bonus.get(facility.id)
    if extra:
        parts.append((extra, "bonus", demand.bonus_reason))
    return parts


def secret_free_units(instance: PlanInstance) -> int:
    """Free units in secret shelters, nationally: the score keeps them for high-risk families."""
    return sum(f.free_units for f in instance.facilities if f.kind == SECRET_SHELTER)


class _PlanFacilities:
    """The instance's facilities as arrays: those the hard rules read, and the score's
    parts that do not depend on the family, so that each family's candidates are a few
    vectorised operations instead of one Python call per facility."""

    def __init__(self, instance: PlanInstance) -> None:
        network = instance.network
        self.arrays = arrays = FacilityArrays(instance.facilities, network)
        self.ids = arrays["id"]
        self.kind, self.kinds = arrays.codes("kind")
        self.region, self.regions = arrays.codes("region")
        self.secret = arrays.isin("kind", {SECRET_SHELTER})
        self.usable = ~np.isin(self.ids, list(instance.excluded_facility_ids)) & ~arrays.isin(
            "region", instance.forbidden_regions
        )
        weights, limit = network.weights, network.stale_after_hours
        fresh = []
        for facility in instance.facilities:
            age = network.report_age_hours(facility, instance.now)
            if age is None or age > limit:
                fresh.append(weights.stale_report)
            else:
                fresh.append(weights.fresh_report * max(0.0, 1.0 - age / limit))
        self.fresh = np.asarray(fresh)
        self.position = {fid: i for i, fid in enumerate(self.ids.tolist())}

    def allowed(self, facility_ids: frozenset[int]) -> np.ndarray:
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[[self.position[f] for f in facility_ids if f in self.position]] = True
        return mask


@dataclass(frozen=True, slots=True)
class Places:
    """One family's feasible places, best first: positions in the instance's facilities,
    and the score of each."""

    positions: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


def candidate_arrays(
    instance: PlanInstance, deadline: float = math.inf
) -> tuple[dict[str, Places], tuple[str, ...]]:
    """Feasible places per family, best first (vectorised; the tests hold it equal to a
    pair-by-pair check with the ranking's own functions). Families not reached when the
    ``deadline`` (a ``time.perf_counter`` reading) passes are returned apart, unexamined:
    a solve with a short limit on a very large instance still ends in time."""
    network, weights = instance.network, instance.network.weights
    places = _PlanFacilities(instance)
    secret_free = secret_free_units(instance)
    penalty = (
        weights.secret_buffer_penalty
        if secret_free <= weights.secret_buffer_units
        else weights.secret_place_penalty
    )
    result: dict[str, Places] = {}
    unexamined: list[str] = []
    empty = Places(np.zeros(0, dtype=np.int64), np.zeros(0))
    for demand in instance.demands:
        if unexamined or time.perf_counter() > deadline:
            unexamined.append(demand.key)
            continue
        request, view = demand.request, prepare(demand.request, network)
        mask = places.usable & admitting(view, places.arrays, network.hard_rules)
        if demand.allowed_facility_ids is not None:
            mask &= places.allowed(demand.allowed_facility_ids)
        index = np.flatnonzero(mask)
        if not len(index):
            result[demand.key] = empty
            continue
        fit = weights.kind_fit.get(request.risk, {})
        score = np.asarray([fit.get(k, 0.0) for k in places.kinds])[places.kind[index]]
        if view.to_preferred:
            near = np.asarray(
                [
                    weights.preferred_region
                    if r in request.preferred_regions
                    else weights.near_preferred_max
                    * max(0.0, 1.0 - view.to_preferred[r] / weights.near_preferred_km)
                    for r in places.regions
                ]
            )
            score = score + near[places.region[index]]
        if view.to_avoided:
            far = np.asarray(
                [
                    weights.far_from_danger_max
                    * min(1.0, view.to_avoided[r] / weights.far_from_danger_km)
                    for r in places.regions
                ]
            )
            score = score + far[places.region[index]]
        score = score + places.fresh[index]
        if request.risk != "high":
            score = score + np.where(places.secret[index], penalty, 0.0)
        if demand.bonus:
            score = score + np.asarray([demand.bonus.get(int(f), 0.0) for f in places.ids[index]])
        score = np.round(score, 2)
        order = np.lexsort((places.ids[index], -score))
        result[demand.key] = Places(index[order], score[order])
    return result, tuple(unexamined)


def candidates(instance: PlanInstance) -> dict[str, list[Candidate]]:
    """Feasible places per family, best first, with their scores, as candidates."""
    found, _ = candidate_arrays(instance)
    ids = [f.id for f in instance.facilities]
    return {
        key: [
            Candidate(ids[position], score)
            for position, score in zip(
                places.positions.tolist(), places.scores.tolist(), strict=True
            )
        ]
        for key, places in found.items()
    }
