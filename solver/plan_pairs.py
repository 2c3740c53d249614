"""The feasible (family, facility) pairs as arrays: the form every step after the
candidates works on (heuristics, bounds, the CP-SAT model, the solve loop).

A pair's value is its :func:`solver.plan_data.placement_value`, a whole number, so sums of
values stay exact in floating point too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.plan_data import Candidate, PlanInstance, placement_value


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


def top_per_family(pairs: Pairs, among: np.ndarray, rating: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` pairs of each family in ``among`` rated highest."""
    if not len(among):
        return among
    order = among[np.lexsort((-rating[among], pairs.family[among]))]
    family = pairs.family[order]
    starts = np.r_[0, np.flatnonzero(np.diff(family)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[rank < count]
