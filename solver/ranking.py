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

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from solver.feasibility import RequestView, exclusion_reason, prepare
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


def _score(
    view: RequestView, facility: FacilityState, network: Network, secret_free_units: int
) -> tuple[float, tuple[str, ...]]:
    request, weights, geography = view.request, network.weights, network.geography
    parts: list[tuple[float, str]] = []

    fit = weights.kind_fit.get(request.risk, {}).get(facility.kind, 0.0)
    label = facility.kind.replace("_", " ")
    parts.append((fit, f"{label} for a {request.risk}-risk family"))

    if request.preferred_regions:
        if facility.region in request.preferred_regions:
            parts.append((weights.preferred_region, f"in a preferred region ({facility.region})"))
        else:
            nearest = (
                min(
                    geography.distance_km(facility.region, region)
                    for region in request.preferred_regions
                    if region in geography.points
                )
                if any(r in geography.points for r in request.preferred_regions)
                else None
            )
            if nearest is not None:
                closeness = max(0.0, 1.0 - nearest / weights.near_preferred_km)
                parts.append(
                    (
                        weights.near_preferred_max * closeness,
                        f"{nearest:.0f} km from a preferred region",
                    )
                )

    if request.avoid_regions:
        known = [r for r in request.avoid_regions if r in geography.points]
        if known:
            distance = min(geography.distance_km(facility.region, region) for region in known)
            share = min(1.0, distance / weights.far_from_danger_km)
            parts.append(
                (weights.far_from_danger_max * share, f"{distance:.0f} km from the avoided regions")
            )

    age = facility.report_age_hours
    if facility.stale or age is None:
        text = (
            "capacity never reported"
            if age is None
            else f"capacity report is stale ({age:.0f} h old)"
        )
        parts.append((weights.stale_report, text))
    else:
        freshness = max(0.0, 1.0 - age / network.stale_after_hours)
        parts.append((weights.fresh_report * freshness, f"capacity reported {age:.1f} h ago"))

    if facility.kind == SECRET_SHELTER and request.risk != "high":
        if secret_free_units <= weights.secret_buffer_units:
            parts.append(
                (
                    weights.secret_buffer_penalty,
                    "secret-shelter places are short; kept for high-risk families",
                )
            )
        else:
            parts.append(
                (weights.secret_place_penalty, "secret-shelter place kept for high-risk families")
            )

    total = round(sum(value for value, _ in parts), 2)
    reasons = tuple(f"{text} ({_signed(value)})" for value, text in parts)
    reasons += (
        f"{_count(facility.free_units, 'free unit')}, {_count(facility.free_beds, 'free bed')}",
    )
    return total, reasons


def rank(
    request: PlacementRequest,
    facilities: Iterable[FacilityState],
    network: Network,
    *,
    limit: int = 10,
) -> Ranking:
    """Feasible facilities for ``request``, best ``limit`` first, and why the rest are out."""
    view = prepare(request, network)
    candidates = list(facilities)
    secret_free_units = sum(f.free_units for f in candidates if f.kind == SECRET_SHELTER)
    excluded: Counter[str] = Counter()
    scored: list[tuple[float, int, FacilityState, tuple[str, ...]]] = []
    for facility in candidates:
        reason = exclusion_reason(view, facility, network)
        if reason is not None:
            excluded[reason] += 1
            continue
        score, reasons = _score(view, facility, network, secret_free_units)
        scored.append((score, facility.id, facility, reasons))
    scored.sort(key=lambda item: (-item[0], item[1]))
    options = tuple(
        Option(
            facility_id=facility.id,
            name=facility.name,
            kind=facility.kind,
            region=facility.region,
            score=score,
            reasons=reasons,
            stale=facility.stale,
            free_units=facility.free_units,
            free_beds=facility.free_beds,
        )
        for score, _, facility, reasons in scored[:limit]
    )
    return Ranking(options=options, excluded=dict(sorted(excluded.items())), feasible=len(scored))
