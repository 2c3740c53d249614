"""What a plan says to the people who read it: why each family goes where it goes, and why
each family left out was left out.

A placement's reasons are the ranking's own texts for its score parts (plus the demand's
bonus), said in English: a plan is stored, and what is stored stays in one language whoever
reads it later. An unplaced family is told either that its places went to families weighted
higher, or which rules, counted over every facility, left no place at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sized

from solver.facility_arrays import FacilityArrays
from solver.feasibility import prepare
from solver.plan_candidates import facility_refusals, placement_parts, secret_free_units
from solver.plan_data import Assignment, Candidate, PlanInstance
from solver.ranking import explain_parts


def explained_assignments(
    instance: PlanInstance, chosen: dict[str, Candidate]
) -> tuple[Assignment, ...]:
    """The chosen places as assignments with their reasons, in the instance's family order."""
    facilities = {f.id: f for f in instance.facilities}
    demands = {d.key: d for d in instance.demands}
    secret_free = secret_free_units(instance)
    order = {d.key: i for i, d in enumerate(instance.demands)}

    def assignment(key: str, candidate: Candidate) -> Assignment:
        demand, facility = demands[key], facilities[candidate.facility_id]
        view = prepare(demand.request, instance.network)
        parts = placement_parts(instance, demand, view, facility, secret_free)
        texts, codes = explain_parts(parts, facility, demand.request.risk)
        return Assignment(
            key=key,
            facility_id=candidate.facility_id,
            score=candidate.score,
            reasons=tuple(str(text) for text in texts),  # English, as stored
            reason_codes=tuple(codes),
        )

    return tuple(
        assignment(key, candidate)
        for key, candidate in sorted(chosen.items(), key=lambda item: order[item[0]])
    )


PLACES_TAKEN = "places_taken"
NO_PLACE_FITS = "no_place_fits"
NOT_EXAMINED = "not_examined"
NOT_EXAMINED_REASON = (
    "the time limit ran out before this family's places were checked; ask for the plan "
    "again with a longer limit"
)


def unplaced_codes(
    instance: PlanInstance,
    found: Mapping[str, Sized],
    chosen: Mapping[str, Candidate],
    unexamined: Collection[str] = (),
) -> dict[str, str]:
    """For each family left without a place, the stable code of its reason."""
    return {
        demand.key: NOT_EXAMINED
        if demand.key in unexamined
        else PLACES_TAKEN
        if len(found.get(demand.key, ()))
        else NO_PLACE_FITS
        for demand in instance.demands
        if demand.key not in chosen
    }


def explain_unplaced(
    instance: PlanInstance,
    found: Mapping[str, Sized],
    chosen: Mapping[str, Candidate],
    unexamined: Collection[str] = (),
) -> dict[str, str]:
    """For each family left without a place, the reason that binds."""
    reasons: dict[str, str] = {}
    arrays: FacilityArrays | None = None  # built for the first family with no place at all
    for demand in instance.demands:
        if demand.key in chosen:
            continue
        if demand.key in unexamined:
            reasons[demand.key] = NOT_EXAMINED_REASON
            continue
        options = found.get(demand.key, ())
        persons = demand.request.family.persons
        if len(options):
            reasons[demand.key] = (
                f"the {len(options)} places that fit this family of {persons} are taken by "
                "families weighted higher in this plan"
            )
            continue
        if arrays is None:
            arrays = FacilityArrays(instance.facilities, instance.network)
        counts: dict[str, int] = defaultdict(int)
        view = prepare(demand.request, instance.network)
        for refusal in facility_refusals(instance, demand, view, arrays):
            if refusal is not None:
                counts[refusal] += 1
        top = sorted(counts.items(), key=lambda item: -item[1])[:3]
        what = "secret-shelter unit" if demand.request.risk == "high" else "unit"
        where = " outside the danger regions" if instance.forbidden_regions else ""
        detail = "; ".join(f"{n} facilities: {text}" for text, n in top)
        reasons[demand.key] = f"no {what}{where} fits a family of {persons} ({detail})"
    return reasons
