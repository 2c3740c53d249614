"""Applying the hard rules: may this family go to these facilities at all, and if not, why?

The rules themselves are written in :mod:`solver.rules`; the network names those in force
(``Network.hard_rules``). Here they are applied in the two ways their callers need:
:func:`admitting` (every rule, for the planner and the benchmarks) and
:func:`first_broken_rules` (the first rule each facility breaks, for the ranking's counts and
the explanations). Both run the same tests, so a plan and a ranking can never disagree about
what is allowed. The first failing rule in declared order is the one reported, capacity last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.facility_arrays import FacilityArrays
from solver.instance import FacilityState, Geography, Network, PlacementRequest
from solver.rules import STANDARD_RULES, HardRule

# Every standard rule's code with its message (the web pages show these texts).
REASONS: dict[str, str] = {rule.code: rule.message for rule in STANDARD_RULES}


@dataclass(frozen=True, slots=True)
class RequestView:
    """What a request implies, worked out once before facilities are checked."""

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


def admitting(
    view: RequestView, facilities: FacilityArrays, rules: tuple[HardRule, ...]
) -> np.ndarray:
    """Per facility: does every rule let the family in?"""
    admitted = np.ones(len(facilities), dtype=bool)
    for rule in rules:
        if not admitted.any():
            break
        admits = rule.admits(view, facilities)
        if admits is not None:
            admitted &= admits
    return admitted


def first_broken_rules(
    view: RequestView, facilities: FacilityArrays, rules: tuple[HardRule, ...]
) -> np.ndarray:
    """Per facility, the index in ``rules`` of the first rule it breaks, or ``len(rules)``
    when it breaks none."""
    first = np.full(len(facilities), len(rules), dtype=np.int64)
    for index, rule in enumerate(rules):
        undecided = first == len(rules)
        if not undecided.any():
            break
        admits = rule.admits(view, facilities)
        if admits is not None:
            first[undecided & ~admits] = index
    return first


def broken_rule(view: RequestView, facility: FacilityState, network: Network) -> HardRule | None:
    """The first of the network's rules this one facility breaks for the request, or None."""
    rules = network.hard_rules
    index = int(first_broken_rules(view, FacilityArrays([facility], network), rules)[0])
    return rules[index] if index < len(rules) else None


def exclusion_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """The code of the first hard rule the facility breaks for this request, or None."""
    rule = broken_rule(view, facility, network)
    return None if rule is None else rule.code


def rule_reason(view: RequestView, facility: FacilityState, network: Network) -> str | None:
    """Like :func:`exclusion_reason` but ignoring what is free: may the family go there at
    all?"""
    rules = tuple(rule for rule in network.hard_rules if not rule.about_free_places)
    index = int(first_broken_rules(view, FacilityArrays([facility], network), rules)[0])
    return rules[index].code if index < len(rules) else None
