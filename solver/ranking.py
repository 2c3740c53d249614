"""The fast path: rank the feasible places for one family, best first, with reasons.

The score is a sum of named parts (weights in ``data/rules.toml`` under ``[matching]``):

    kind fit        how well the facility's kind suits the family's risk level
    preferred       +preferred_region inside a preferred region, otherwise up to
                    +near_preferred_max, falling linearly to 0 at near_preferred_km
    far from danger up to +far_from_danger_max, reached at far_from_danger_km from the
                    nearest avoided region
    freshness       +fresh_report for a report just made, falling linearly to 0 at the
                    staleness limit; stale_report (negative) once stale or never reported
    secret buffer   a family that is not high-risk placed in a secret shelter costs
                    secret_place_penalty, or secret_buffer_penalty while the national free
                    secret-shelter units are at or below secret_buffer_units

Ties are broken by facility id, so the same state always gives the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from solver.facility_arrays import FacilityArrays
from solver.feasibility import RequestView, first_broken_rules, prepare
from solver.instance import FacilityState, Network, PlacementRequest

SECRET_SHELTER = "secret_shelter"


@dataclass(frozen=True, slots=True)
class Option:
    facility_id: int
    name: str
    kind: str
    region: str
    score: float
    reasons: tuple[str, ...]
    stale: bool
    free_units: int
    free_beds: int


@dataclass(frozen=True, slots=True)
class Ranking:
    options: tuple[Option, ...]
    excluded: dict[str, int]
    feasible: int


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _signed(value: float) -> str:
    rounded = round(value, 1)
    text = f"{rounded:g}"
    return f"+{text}" if rounded >= 0 else text


# A part of a score: its value, and how to say it (a template and its argument), so that
# the sentences are written only for the options actually returned.
Part = tuple[float, str, object]


def score_parts(
    view: RequestView,
    facility: FacilityState,
    network: Network,
    secret_free_units: int,
    age: float | None,
    stale: bool,
) -> list[Part]:
    request, weights = view.request, network.weights
    parts: list[Part] = [
        (weights.kind_fit.get(request.risk, {}).get(facility.kind, 0.0), "kind", facility.kind)
    ]
    if view.to_preferred:
        if facility.region in request.preferred_regions:
            parts.append((weights.preferred_region, "preferred", facility.region))
        else:
            nearest = view.to_preferred[facility.region]
            closeness = max(0.0, 1.0 - nearest / weights.near_preferred_km)
            parts.append((weights.near_preferred_max * closeness, "near_preferred", nearest))
    if view.to_avoided:
        distance = view.to_avoided[facility.region]
        share = min(1.0, distance / weights.far_from_danger_km)
        parts.append((weights.far_from_danger_max * share, "far_from_danger", distance))
    if age is None:
        parts.append((weights.stale_report, "never_reported", None))
    elif stale:
        parts.append((weights.stale_report, "stale", age))
    else:
        freshness = max(0.0, 1.0 - age / network.stale_after_hours)
        parts.append((weights.fresh_report * freshness, "fresh", age))
    if facility.kind == SECRET_SHELTER and request.risk != "high":
        if secret_free_units <= weights.secret_buffer_units:
            parts.append((weights.secret_buffer_penalty, "secret_short", None))
        else:
            parts.append((weights.secret_place_penalty, "secret_kept", None))
    return parts


def _sentence(key: str, argument: object, risk: str) -> str:
    if key == "kind":
        return f"{str(argument).replace('_', ' ')} for a {risk}-risk family"
    if key == "preferred":
        return f"in a preferred region ({argument})"
    if key == "near_preferred":
        return f"{argument:.0f} km from a preferred region"
    if key == "far_from_danger":
        return f"{argument:.0f} km from the avoided regions"
    if key == "never_reported":
        return "capacity never reported"
    if key == "stale":
        return f"capacity report is stale ({argument:.0f} h old)"
    if key == "fresh":
        return f"capacity reported {argument:.1f} h ago"
    if key == "secret_short":
        return "secret-shelter places are short; kept for high-risk families"
    if key == "secret_kept":
        return "secret-shelter place kept for high-risk families"
    return str(argument)  # a part named by its caller, e.g. a planner's bonus


def explain_parts(parts: list[Part], facility: FacilityState, risk: str) -> tuple[str, ...]:
    reasons = tuple(f"{_sentence(key, arg, risk)} ({_signed(value)})" for value, key, arg in parts)
    capacity = (
        f"{_count(facility.free_units, 'free unit')}, {_count(facility.free_beds, 'free bed')}"
    )
    return (*reasons, capacity)


def rank(
    request: PlacementRequest,
    facilities: Iterable[FacilityState],
    network: Network,
    *,
    now: datetime,
    limit: int = 10,
) -> Ranking:
    """Feasible facilities for ``request``, best ``limit`` first, and why the rest are out.
    ``now`` judges how fresh each capacity report is."""
    view = prepare(request, network)
    candidates = list(facilities)
    arrays = FacilityArrays(candidates, network)
    secret = np.flatnonzero(arrays.isin("kind", {SECRET_SHELTER})).tolist()
    secret_free_units = sum(candidates[index].free_units for index in secret)
    rules = network.hard_rules
    broken = first_broken_rules(view, arrays, rules)
    counts = np.bincount(broken, minlength=len(rules) + 1)[: len(rules)]
    excluded = {rule.code: int(count) for rule, count in zip(rules, counts, strict=True) if count}
    scored: list[tuple[float, int, FacilityState, list[Part], bool]] = []
    for index in np.flatnonzero(broken == len(rules)).tolist():
        facility = candidates[index]
        age = network.report_age_hours(facility, now)
        stale = age is None or age > network.stale_after_hours
        parts = score_parts(view, facility, network, secret_free_units, age, stale)
        score = round(sum(value for value, _, _ in parts), 2)
        scored.append((score, facility.id, facility, parts, stale))
    best = heapq.nsmallest(limit, scored, key=lambda item: (-item[0], item[1]))
    options = tuple(
        Option(
            facility_id=facility.id,
            name=facility.name,
            kind=facility.kind,
            region=facility.region,
            score=score,
            reasons=explain_parts(parts, facility, request.risk),
            stale=stale,
            free_units=facility.free_units,
            free_beds=facility.free_beds,
        )
        for score, _, facility, parts, stale in best
    )
    return Ranking(options=options, excluded=dict(sorted(excluded.items())), feasible=len(scored))
