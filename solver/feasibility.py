"""Hard rules: may this family go to this facility at all?

Every rule has a stable reason code. Rankings count exclusions by code; plan validators
use the same function, so a plan and a ranking can never disagree about what is allowed.
The first failing rule in :data:`REASONS` order is the one reported, with capacity last
so that "full" is said only of places that would otherwise suit the family.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.instance import FacilityState, Network, PlacementRequest

REASONS: dict[str, str] = {
    "kind_not_for_risk": "this kind of facility does not receive families at this risk level",
    "kind_not_for_family": "this kind of facility is for another group (children required, or trafficking victims only)",
    "danger_zone": "in or near a region the family must avoid",
    "adult_men": "does not admit adult men",
    "boys_age": "a son is older than the facility's age limit for boys",
    "wheelchair": "no wheelchair-accessible unit",
    "pets": "does not accept pets",
    "language": "does not speak a language the family needs",
    "night_admission": "does not admit at night",
    "reentry": "does not take back a woman who returned to the perpetrator",
    "no_free_unit": "no free unit with enough free beds for the whole family",
}


@dataclass(frozen=True, slots=True)
class RequestView:
    """What a request implies once, before facilities are checked one by one."""

    request: PlacementRequest
    allowed_kinds: frozenset[str]
    family_kinds: frozenset[str]
    excluded_regions: frozenset[str]


def prepare(request: PlacementRequest, network: Network) -> RequestView:
    family = request.family
    allowed_kinds = frozenset(
        kind for kind, policy in network.kinds.items() if request.risk in policy.risk_levels
    )
    family_kinds = frozenset(
        kind
        for kind, policy in network.kinds.items()
        if (family.has_children or not policy.requires_children)
        and (request.trafficking_victim or not policy.trafficking_only)
    )
    reach = (
        network.weights.exclusion_km if request.avoid_within_km is None else request.avoid_within_km
    )
    geography = network.geography
    excluded = set(request.avoid_regions)
    for region in geography.points:
        if any(
            avoid in geography.points and geography.distance_km(region, avoid) <= reach
            for avoid in request.avoid_regions
        ):
            excluded.add(region)
    return RequestView(request, allowed_kinds, family_kinds, frozenset(excluded))


def exclusion_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """The code of the first hard rule the facility breaks for this request, or None."""
    request = view.request
    family = request.family
    needs = request.needs
    if facility.kind not in view.allowed_kinds:
        return "kind_not_for_risk"
    if facility.kind not in view.family_kinds:
        return "kind_not_for_family"
    if facility.region in view.excluded_regions:
        return "danger_zone"
    if family.has_adult_man and not (
        facility.admits_adult_men and network.kinds[facility.kind].adult_men_possible
    ):
        return "adult_men"
    oldest_boy = family.oldest_boy
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
    if facility.free_units < 1 or facility.free_beds < family.persons:
        return "no_free_unit"
    return None


def rule_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """Like :func:`exclusion_reason` but ignoring capacity: may the family go there at all?"""
    reason = exclusion_reason(view, facility, network)
    return None if reason == "no_free_unit" else reason
