"""Slow, obvious yardsticks for the solver's vectorised code: one pair at a time.

``reference_candidates`` finds each family's places facility by facility with the ranking's
own functions, for comparing with ``solver.plan_candidates.candidates``.
``standard_rules_one_by_one`` is the chain of hard rules as it was written before the rules
became one registry (``solver.rules``): the standard rules must keep giving its answers.
"""

from __future__ import annotations

from typing import Any

from solver.feasibility import RequestView, exclusion_reason, prepare
from solver.instance import FacilityState, Network
from solver.plan_candidates import placement_parts, secret_free_units
from solver.plan_data import Candidate, PlanInstance


def reference_candidates(instance: PlanInstance) -> dict[str, list[Candidate]]:
    """Feasible places per family, best first, one pair at a time with the ranking's own
    functions."""
    network = instance.network
    secret_free = secret_free_units(instance)
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
            parts = placement_parts(instance, demand, view, facility, secret_free)
            score = round(sum(value for value, _, _ in parts), 2)
            found.append(Candidate(facility.id, score))
        found.sort(key=lambda c: (-c.score, c.facility_id))
        result[demand.key] = found
    return result


def standard_rules_one_by_one(
    view: RequestView, facility: FacilityState, network: Network
) -> str | None:
    """The code of the first standard hard rule the facility breaks, or None: the rules
    written out one after the other for a single facility."""
    request = view.request
    needs = request.needs
    if facility.kind not in view.allowed_kinds:
        return "kind_not_for_risk"
    if facility.kind not in view.family_kinds:
        return "kind_not_for_family"
    if facility.region in view.excluded_regions:
        return "danger_zone"
    if view.has_adult_man and not (
        facility.admits_adult_men and network.kinds[facility.kind].adult_men_possible
    ):
        return "adult_men"
    oldest_boy = view.oldest_boy
    if (
        oldest_boy is not None
        and facility.boys_max_age is not None
        and oldest_boy > facility.boys_max_age
    ):
        return "boys_age"
    if needs.wheelchair and facility.wheelchair_units < 1:
        return "wheelchair"
    if needs.pets and not facility.accepts_pets:
        return "pets"
    if needs.languages and not needs.languages <= facility.languages:
        return "language"
    if needs.night_arrival and not facility.night_admission:
        return "night_admission"
    if request.reentry and not facility.accepts_reentry:
        return "reentry"
    if facility.largest_unit_beds is not None and view.persons > facility.largest_unit_beds:
        return "unit_too_small"
    if facility.free_units < 1 or facility.free_beds < view.persons:
        return "no_free_unit"
    return None


# A facility that restricts nothing beyond its kind and region: the tests' starting point.
UNRESTRICTED: dict[str, Any] = {
    "operator_id": 0,
    "reported_at": None,
    "boys_max_age": None,
    "admits_adult_men": False,
    "wheelchair_units": 0,
    "accepts_pets": False,
    "languages": frozenset({"hu"}),
    "night_admission": True,
    "accepts_reentry": True,
    "largest_unit_beds": None,
}


def plain_facility(**fields: Any) -> FacilityState:
    """A facility state with every attribute not given taken from :data:`UNRESTRICTED`."""
    return FacilityState(**{**UNRESTRICTED, **fields})
