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

Each option says why, part by part, with the part's points, then its free capacity: as
:class:`solver.texts.Text` (English as data, said in the reader's language by the broker),
each with a stable code beside it (the part's key, ``capacity`` last). Only the options
returned are put into words.

Ties are broken by facility id, so the same state always gives the same order. With fewer
than ``solver.near_misses.WHEN_FEWER_THAN`` feasible places, the ranking also names the
near misses (one bendable rule away) and the stale fits (:mod:`solver.near_misses`).
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
from solver.near_misses import WHEN_FEWER_THAN, Alternatives, NearMiss, StaleFit, alternatives
from solver.texts import N_, Nn_, Text, counted, risk_level, text

SECRET_SHELTER = "secret_shelter"


@dataclass(frozen=True, slots=True)
class Option:
    facility_id: int
    name: str
    kind: str
    region: str
    score: float
    # English as data (solver.texts), said in the reader's language by the broker; each with
    # its stable code in reason_codes (a score part's key, or "capacity")
    reasons: tuple[Text, ...]
    reason_codes: tuple[str, ...]
    stale: bool
    free_units: int
    free_beds: int


@dataclass(frozen=True, slots=True)
class Ranking:
    options: tuple[Option, ...]
    excluded: dict[str, int]
    feasible: int
    # only when fewer than WHEN_FEWER_THAN places are feasible (solver.near_misses)
    near_misses: tuple[NearMiss, ...] = ()
    stale_fits: tuple[StaleFit, ...] = ()


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
    fit = weights.kind_fit.get(request.risk, {}).get(facility.kind, 0.0)
    parts: list[Part] = [(fit, "kind", network.kind_label(facility.kind))]
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


# How each part of a score is said (solver.texts: the broker says it in the reader's
# language). Its key is the reason's stable code in the API (``reason_codes``).
_SAID = {
    "preferred": (N_("in a preferred region ({region})"), "region"),
    "near_preferred": (N_("{km:.0f} km from a preferred region"), "km"),
    "far_from_danger": (N_("{km:.0f} km from the avoided regions"), "km"),
    "never_reported": (N_("capacity never reported"), ""),
    "stale": (N_("capacity report is stale ({hours:.0f} h old)"), "hours"),
    "fresh": (N_("capacity reported {hours:.1f} h ago"), "hours"),
    "secret_short": (N_("secret-shelter places are short; kept for high-risk families"), ""),
    "secret_kept": (N_("secret-shelter place kept for high-risk families"), ""),
}
WITH_POINTS = N_("{reason} ({points:+g})")
CAPACITY = N_("{units}, {beds}")
FREE_UNITS = Nn_("{count} free unit", "{count} free units")
FREE_BEDS = Nn_("{count} free bed", "{count} free beds")
# The code of the last reason, the facility's free capacity.
CAPACITY_CODE = "capacity"


def _sentence(key: str, argument: object, risk: str) -> Text:
    if key == "kind":
        label = Text(str(argument))  # a kind's label (data/rules.toml) is a catalogue entry
        return text(N_("{kind}, for a {risk}-risk family"), kind=label, risk=risk_level(risk))
    if key in _SAID:
        template, name = _SAID[key]
        return text(template, **{name: argument}) if name else text(template)
    # a part named by its caller, e.g. a planner's bonus: said as it is
    return argument if isinstance(argument, Text) else text("{bonus}", bonus=argument)


def _points(value: float) -> float:
    """A part's value as shown: one decimal, and never a negative zero."""
    return round(value, 1) + 0.0


def explain_parts(
    parts: list[Part], facility: FacilityState, risk: str
) -> tuple[tuple[Text, ...], tuple[str, ...]]:
    """The reasons of a place (each part with its points, then the free capacity) and their
    codes, in the same order. Called only for the places returned."""
    reasons = [
        text(WITH_POINTS, reason=_sentence(key, arg, risk), points=_points(value))
        for value, key, arg in parts
    ]
    capacity = text(
        CAPACITY,
        units=counted(FREE_UNITS, facility.free_units),
        beds=counted(FREE_BEDS, facility.free_beds),
    )
    codes = (*(key for _, key, _ in parts), CAPACITY_CODE)
    return (*reasons, capacity), codes


def _option(
    facility: FacilityState, score: float, parts: list[Part], stale: bool, risk: str
) -> Option:
    reasons, codes = explain_parts(parts, facility, risk)
    return Option(
        facility_id=facility.id,
        name=facility.name,
        kind=facility.kind,
        region=facility.region,
        score=score,
        reasons=reasons,
        reason_codes=codes,
        stale=stale,
        free_units=facility.free_units,
        free_beds=facility.free_beds,
    )


def rank(
    request: PlacementRequest,
    facilities: Iterable[FacilityState],
    network: Network,
    *,
    now: datetime,
    limit: int = 10,
    near_misses: bool = True,
) -> Ranking:
    """Feasible facilities for ``request``, best ``limit`` first, and why the rest are out.
    ``now`` judges how fresh each capacity report is. ``near_misses=False`` leaves the
    near misses and stale fits out (a caller that only places, like the simulator)."""
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

    def judged(facility: FacilityState) -> tuple[float, list[Part], bool]:
        age = network.report_age_hours(facility, now)
        stale = network.is_stale(age)
        parts = score_parts(view, facility, network, secret_free_units, age, stale)
        return round(sum(value for value, _, _ in parts), 2), parts, stale

    for index in np.flatnonzero(broken == len(rules)).tolist():
        facility = candidates[index]
        score, parts, stale = judged(facility)
        scored.append((score, facility.id, facility, parts, stale))
    best = heapq.nsmallest(limit, scored, key=lambda item: (-item[0], item[1]))
    options = tuple(
        _option(facility, score, parts, stale, request.risk)
        for score, _, facility, parts, stale in best
    )
    found = (
        alternatives(view, arrays, network, lambda facility: judged(facility)[0], now)
        if near_misses and len(scored) < WHEN_FEWER_THAN
        else Alternatives()
    )
    return Ranking(
        options=options,
        excluded=dict(sorted(excluded.items())),
        feasible=len(scored),
        near_misses=found.near_misses,
        stale_fits=found.stale_fits,
    )
