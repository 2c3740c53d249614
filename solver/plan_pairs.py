"""The feasible (family, facility) pairs as arrays: the form every step after the
candidates works on (heuristics, bounds, the CP-SAT model, the solve loop).

A pair's value is its :func:`solver.plan_data.placement_value`, a whole number, so sums of
values stay exact in floating point too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.plan_candidates import Places
from solver.plan_data import PLACEMENT_WEIGHT, SCORE_SCALE, PlanInstance, placement_weight


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
    weight: np.ndarray  # per family index: its risk weight plus urgency (placement_weight)
    region: np.ndarray  # per facility index: a number for its region


def pair_arrays(instance: PlanInstance, found: dict[str, Places]) -> Pairs:
    """Every pair of ``found`` as arrays, families in the instance's order (those not in
    ``found`` have no pairs). Values are :func:`solver.plan_data.placement_value`'s,
    computed on arrays."""
    keys = [d.key for d in instance.demands]
    empty = np.zeros(0, dtype=np.int64)
    positions = [found[k].positions if k in found else empty for k in keys]
    scores = [found[k].scores if k in found else np.zeros(0) for k in keys]
    counts = np.asarray([len(p) for p in positions], dtype=np.int64)
    family = np.repeat(np.arange(len(keys), dtype=np.int64), counts)
    weight = np.asarray([placement_weight(d) for d in instance.demands], dtype=np.int64)
    size = np.asarray([d.request.family.persons for d in instance.demands], dtype=np.float64)
    score = np.concatenate(scores) if keys else np.zeros(0)
    # np.round rounds half to even, as round() does in placement_value
    value = weight[family] * PLACEMENT_WEIGHT + np.round(score * SCORE_SCALE).astype(np.int64)
    return Pairs(
        keys=keys,
        facility_ids=[f.id for f in instance.facilities],
        family=family,
        facility=np.concatenate(positions).astype(np.int64) if keys else empty,
        value=value.astype(np.int64),  # whole numbers: sums stay exact
        persons=size[family],
        units=np.asarray([f.free_units for f in instance.facilities], dtype=np.float64),
        beds=np.asarray([f.free_beds for f in instance.facilities], dtype=np.float64),
        weight=weight,
        region=np.unique([f.region for f in instance.facilities], return_inverse=True)[1]
        if instance.facilities
        else empty,
    )


def top_per_family(pairs: Pairs, among: np.ndarray, rating: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` pairs of each family in ``among`` rated highest."""
    if not len(among):
        return among
    order = among[np.lexsort((-rating[among], pairs.family[among]))]
    family = pairs.family[order]
    starts = np.r_[0, np.flatnonzero(np.diff(family)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[rank < count]
