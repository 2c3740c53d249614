"""When a family has few places: the ones she could have with one exception, and the ones
whose capacity report is too old to trust.

A **near miss** is a facility that breaks exactly one hard rule, a rule it may be asked to
bend for this family (``HardRule.bendable``, :mod:`solver.rules`), and that has a free unit
with a bed for everyone. The counsellor phones it and asks for an exception; the rule's
``what_it_takes`` says what she would ask for ("a son is 15; this house takes boys up to
14", as a :class:`solver.texts.Text`). The exclusion zone, the risk level of a high-risk
family and capacity are never bent, so they never make a near miss.

A **stale fit** is a facility whose capacity report is stale and that fits the family by
every rule but capacity: its place may well be free by now, so the counsellor calls it.

Both are found from the same per-rule tests over all facilities at once
(:class:`solver.facility_arrays.FacilityArrays`) that the ranking applies, then ordered by
the ranking's own score (ties: the lower id) and cut to :data:`MOST`. Only the facilities
kept are put into words.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from solver.facility_arrays import FacilityArrays
from solver.feasibility import RequestView
from solver.instance import FacilityState, Network
from solver.texts import Text

# Near misses and stale fits are looked for when a ranking has fewer feasible places.
WHEN_FEWER_THAN = 3
# At most this many of each, best first.
MOST = 5

# The ranking's score of one facility for the family.
Score = Callable[[FacilityState], float]


@dataclass(frozen=True, slots=True)
class StaleFit:
    """A facility that fits the family by every rule but capacity, with a stale report."""

    facility_id: int
    name: str
    kind: str
    region: str
    score: float
    stale: bool


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A facility with room that breaks exactly one rule it may be asked to bend."""

    facility_id: int
    name: str
    kind: str
    region: str
    score: float
    stale: bool
    rule: str
    # what it would take, in English as data (solver.texts): the broker says it in the
    # reader's language
    message: Text


@dataclass(frozen=True, slots=True)
class Alternatives:
    near_misses: tuple[NearMiss, ...] = ()
    stale_fits: tuple[StaleFit, ...] = ()


def _best(indices: list[int], facilities: FacilityArrays, score: Score) -> list[tuple[float, int]]:
    """The :data:`MOST` best of the given facilities by score, ties to the lower id."""
    states = facilities.facilities
    scored = [(score(states[index]), index) for index in indices]
    return heapq.nsmallest(MOST, scored, key=lambda item: (-item[0], states[item[1]].id))


def alternatives(
    view: RequestView, facilities: FacilityArrays, network: Network, score: Score, now: datetime
) -> Alternatives:
    """The near misses and stale fits among ``facilities`` for the prepared request."""
    rules = network.hard_rules
    size = len(facilities)
    unsuited = np.zeros(size, dtype=np.int64)  # rules broken about the place itself
    full = np.zeros(size, dtype=bool)  # a rule about what is free is broken
    last = np.full(size, len(rules), dtype=np.int64)  # the last such rule broken
    for index, rule in enumerate(rules):
        admits = rule.admits(view, facilities)
        if admits is None:
            continue
        if rule.about_free_places:
            full |= ~admits
        else:
            unsuited += ~admits
            last[~admits] = index
    one_away = (unsuited == 1) & ~full
    bendable = np.zeros(size, dtype=bool)
    for index in np.unique(last[one_away]).tolist():
        bendable |= (last == index) & rules[index].bendable_at(view, facilities)
    states = facilities.facilities

    def stale(state: FacilityState) -> bool:
        return network.is_stale(network.report_age_hours(state, now))

    near = [
        NearMiss(
            facility_id=states[index].id,
            name=states[index].name,
            kind=states[index].kind,
            region=states[index].region,
            score=value,
            stale=stale(states[index]),
            rule=rules[int(last[index])].code,
            message=_what_it_takes(view, states[index], network, int(last[index])),
        )
        for value, index in _best(np.flatnonzero(one_away & bendable).tolist(), facilities, score)
    ]
    waiting = [
        index for index in np.flatnonzero((unsuited == 0) & full).tolist() if stale(states[index])
    ]
    stale_fits = [
        StaleFit(
            facility_id=states[index].id,
            name=states[index].name,
            kind=states[index].kind,
            region=states[index].region,
            score=value,
            stale=True,
        )
        for value, index in _best(waiting, facilities, score)
    ]
    return Alternatives(near_misses=tuple(near), stale_fits=tuple(stale_fits))


def _what_it_takes(
    view: RequestView, facility: FacilityState, network: Network, rule_index: int
) -> Text:
    rule = network.hard_rules[rule_index]
    if rule.what_it_takes is None:  # HardRule refuses a bendable rule without words
        raise ValueError(f"rule {rule.code} is bendable but says not what it takes")
    return rule.what_it_takes(view, facility, network)
