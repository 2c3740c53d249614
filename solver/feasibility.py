"""Hard rules: may this family go to this facility at all?

Every rule has a stable reason code. Rankings count exclusions by code; plan validators
use the same function, so a plan and a ranking can never disagree about what is allowed.
The first failing rule in :data:`REASONS` order is the one reported, with capacity last
so that "full" is said only of places that would otherwise suit the family.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.instance import FacilityState, Geography, Network, PlacementRequest

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
    """What a request implies, worked out once before facilities are checked one by one."""

    request: PlacementRequest
    allowed_kinds: frozenset[str]
    family_kinds: frozenset[str]
    excluded_regions: frozenset[str]
    persons: int
    has_adult_man: bool
    oldest_boy: int | None
    # per region: km to the nearest preferred / avoided region (absent when none is given)
    to_preferred: dict[str, float]
    to_avoided: dict[str, float]


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
    known_avoided = [r for r in request.avoid_regions if r in geography.points]
    known_preferred = [r for r in request.preferred_regions if r in geography.points]
    to_avoided = _nearest(geography, known_avoided)
    to_preferred = _nearest(geography, known_preferred)
    excluded = set(request.avoid_regions) | {r for r, km in to_avoided.items() if km <= reach}
    return RequestView(
        request=request,
        allowed_kinds=allowed_kinds,
        family_kinds=family_kinds,
        excluded_regions=frozenset(excluded),
        persons=family.persons,
        has_adult_man=family.has_adult_man,
        oldest_boy=family.oldest_boy,
        to_preferred=to_preferred,
        to_avoided=to_avoided,
    )


def _nearest(geography: Geography, targets: list[str]) -> dict[str, float]:
    """For every region, the distance to the nearest of ``targets`` (empty when none)."""
    if not targets:
        return {}
    return {
        region: min(geography.distance_km(region, target) for target in targets)
        for region in geography.points
    }


def exclusion_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """The code of the first hard rule the facility breaks for this request, or None."""
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
    if facility.free_units < 1 or facility.free_beds < view.persons:
        return "no_free_unit"
    return None


def rule_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """Like :func:`exclusion_reason` but ignoring capacity: may the family go there at all?"""
    reason = exclusion_reason(view, facility, network)
    return None if reason == "no_free_unit" else reason
