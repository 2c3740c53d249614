"""The hard rules of matching, each written once: its code, its message and its test.

A rule's test looks at every facility at once (:class:`solver.facility_arrays.FacilityArrays`,
one array per ``FacilityState`` field) for one prepared request
(:class:`solver.feasibility.RequestView`) and returns which facilities the rule lets the
family into. The one-family ranking, the planner's candidates, the plan validator, the
explanations of who was left out and the benchmarks all apply these same tests, through
:mod:`solver.feasibility`.

Order matters: a facility excluded by several rules is reported under the first one in
:data:`STANDARD_RULES`. Capacity (``no_free_unit``) stays last, so that "full" is said only
of places that would otherwise suit the family. Which rules apply is a field of
:class:`solver.instance.Network` (``hard_rules``, :data:`STANDARD_RULES` unless a test sets
others), so the ranking and the planner always read the same ones.

Adding a rule: a field on ``FacilityState`` (it shows up in the arrays by itself, under its
own name) and one :class:`HardRule` in :data:`STANDARD_RULES`, before ``no_free_unit``.

A rule also says whether a facility may be asked to bend it (``bendable``) and what that
would take, in words (``what_it_takes``): a place that breaks exactly one such rule and has
room is a near miss (:mod:`solver.near_misses`), which the counsellor may phone and ask for
an exception. The exclusion zone, the risk level of a high-risk family, what a kind's own
definition forbids (adult men where the law excludes them, a trafficking home for anyone
else) and capacity are never bent.

Rules speak in English, as data the broker says in the reader's language
(:mod:`solver.texts`): a rule's ``message`` is a catalogue template without arguments,
``what_it_takes`` returns a :class:`solver.texts.Text`.

This module imports nothing from the rest of the package at run time but
:mod:`solver.texts`: ``solver.instance.Network`` holds :data:`STANDARD_RULES`, so the types
named in the annotations below are imported for type checking only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.texts import N_, NC_, Nn_, Text, counted, joined, risk_level, text

if TYPE_CHECKING:
    from solver.facility_arrays import FacilityArrays
    from solver.feasibility import RequestView
    from solver.instance import FacilityState, Network

# Per facility: does the rule let this family in? None when the rule does not concern the
# family at all (nobody in it is a man, it needs no wheelchair...): then it admits everyone.
Admits = Callable[["RequestView", "FacilityArrays"], "np.ndarray | None"]
# Of the facilities breaking a rule, which may be asked to bend it for this family: one
# answer for all of them (a bool) or one per facility.
Bendable = Callable[["RequestView", "FacilityArrays"], "np.ndarray | bool"]
# What letting the family into this one facility would take, said to a counsellor.
WhatItTakes = Callable[["RequestView", "FacilityState", "Network"], Text]


@dataclass(frozen=True, slots=True)
class HardRule:
    """One hard rule. ``code`` is stable: rankings count exclusions by it and the web pages
    look its text up by it. ``message`` says why a facility is out, to a counsellor (marked
    for the catalogue, translated where it is shown)."""

    code: str
    message: str
    admits: Admits
    # about what is free right now rather than whether the place suits the family at all;
    # solver.feasibility.rule_reason leaves such rules out
    about_free_places: bool = False
    # may a facility breaking it be asked for an exception (a near miss)? False: never;
    # True: always; or which facilities, for this family
    bendable: Bendable | bool = False
    what_it_takes: WhatItTakes | None = None

    def __post_init__(self) -> None:
        if self.bendable is not False and (self.what_it_takes is None or self.about_free_places):
            raise ValueError(f"rule {self.code}: a bendable rule says what it takes, not capacity")

    def bendable_at(self, view: RequestView, facilities: FacilityArrays) -> np.ndarray | bool:
        """Per facility (or for all at once): may it be asked to bend this rule?"""
        if isinstance(self.bendable, bool):
            return self.bendable
        return self.bendable(view, facilities)


def _kind_takes_the_risk(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    return facilities.isin("kind", view.allowed_kinds)


def _kind_takes_the_family(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    return facilities.isin("kind", view.family_kinds)


def _outside_the_danger_zone(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    return ~facilities.isin("region", view.excluded_regions)


def _admits_adult_men(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    if not view.has_adult_man:
        return None
    # the facility's own flag cannot override a kind that excludes men by law
    return facilities["admits_adult_men"] & facilities.of_kind("adult_men_possible")


def _admits_the_oldest_boy(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    if view.oldest_boy is None:
        return None
    # no age limit is NaN, and a comparison with NaN is False: no limit excludes nobody
    return ~(view.oldest_boy > facilities["boys_max_age"])


def _has_a_wheelchair_unit(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    return facilities["wheelchair_units"] >= 1 if view.request.needs.wheelchair else None


def _accepts_pets(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    return facilities["accepts_pets"] if view.request.needs.pets else None


def _speaks_the_languages(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    needed = view.request.needs.languages
    return facilities.includes_all("languages", needed) if needed else None


def _admits_at_night(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    return facilities["night_admission"] if view.request.needs.night_arrival else None


def _takes_back_a_returning_woman(
    view: RequestView, facilities: FacilityArrays
) -> np.ndarray | None:
    return facilities["accepts_reentry"] if view.request.reentry else None


def _has_a_unit_for_the_whole_family(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    # a family shares one unit, so free beds spread over several small units do not help;
    # no limit is NaN, which excludes nobody
    return ~(view.persons > facilities["largest_unit_beds"])


def _has_room_for_the_family(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    return (facilities["free_units"] >= 1) & (facilities["free_beds"] >= view.persons)


# --- which facilities may be asked to bend a rule, and what it would take -----------------


def _unless_high_risk(view: RequestView, facilities: FacilityArrays) -> bool:
    # the risk level of a high-risk family is never bent: secret shelters only
    return view.request.risk != "high"


def _unless_trafficking_only(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    # a house for another group only by its mandate (trafficking victims) is never asked
    return ~facilities.of_kind("trafficking_only") | view.request.trafficking_victim


def _where_the_house_decides(view: RequestView, facilities: FacilityArrays) -> np.ndarray:
    # a kind that excludes men by law is never asked; a house's own choice may be
    return facilities.of_kind("adult_men_possible")


def _risk_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    policy = network.kinds.get(facility.kind)
    levels = (
        joined(risk_level(level) for level in sorted(policy.risk_levels))
        if policy is not None
        else NC_("risk level", "other")
    )
    return text(
        N_("the family is at {risk} risk; this house ({kind}) takes {levels}-risk families only"),
        risk=risk_level(view.request.risk),
        kind=Text(network.kind_label(facility.kind)),
        levels=levels,
    )


def _family_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(
        N_("the family has no children; this house ({kind}) takes parents with their children"),
        kind=Text(network.kind_label(facility.kind)),
    )


def _men_take(view: RequestView, facility: FacilityState, network: Network) -> Text:
    ages = sorted(person.age for person in view.request.family.adults if person.male)
    forms = Nn_(
        "the family includes a man of {ages}; this house admits no adult men",
        "the family includes men of {ages}; this house admits no adult men",
    )
    return counted(forms, len(ages), ages=joined(ages))


def _boys_take(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(
        N_("a son is {age}; this house takes boys up to {limit}"),
        age=view.oldest_boy,
        limit=facility.boys_max_age,
    )


def _wheelchair_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(N_("the family needs a wheelchair-accessible unit; this house has none"))


def _pets_take(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(N_("the family comes with pets; this house accepts none"))


def _languages_take(view: RequestView, facility: FacilityState, network: Network) -> Text:
    # language codes are said as they are written, in every language
    missing = ", ".join(sorted(view.request.needs.languages - facility.languages))
    spoken = ", ".join(sorted(facility.languages)) or text(N_("no language listed"))
    return text(
        N_("the family needs {missing}; this house speaks {spoken}"),
        missing=missing,
        spoken=spoken,
    )


def _night_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(N_("the family arrives at night; this house does not admit at night"))


def _reentry_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(
        N_("she returned to the perpetrator before; this house does not take back a woman who did")
    )


def _unit_takes(view: RequestView, facility: FacilityState, network: Network) -> Text:
    return text(
        N_("the largest unit has {beds} beds; the family is {persons}"),
        beds=facility.largest_unit_beds,
        persons=view.persons,
    )


STANDARD_RULES: tuple[HardRule, ...] = (
    HardRule(
        "kind_not_for_risk",
        N_("this kind of facility does not receive families at this risk level"),
        _kind_takes_the_risk,
        bendable=_unless_high_risk,
        what_it_takes=_risk_takes,
    ),
    HardRule(
        "kind_not_for_family",
        N_(
            "this kind of facility is for another group (children required, or trafficking "
            "victims only)"
        ),
        _kind_takes_the_family,
        bendable=_unless_trafficking_only,
        what_it_takes=_family_takes,
    ),
    # never bent: the danger is there
    HardRule(
        "danger_zone", N_("in or near a region the family must avoid"), _outside_the_danger_zone
    ),
    HardRule(
        "adult_men",
        N_("does not admit adult men"),
        _admits_adult_men,
        bendable=_where_the_house_decides,
        what_it_takes=_men_take,
    ),
    HardRule(
        "boys_age",
        N_("a son is older than the facility's age limit for boys"),
        _admits_the_oldest_boy,
        bendable=True,
        what_it_takes=_boys_take,
    ),
    HardRule(
        "wheelchair",
        N_("no wheelchair-accessible unit"),
        _has_a_wheelchair_unit,
        bendable=True,
        what_it_takes=_wheelchair_takes,
    ),
    HardRule(
        "pets", N_("does not accept pets"), _accepts_pets, bendable=True, what_it_takes=_pets_take
    ),
    HardRule(
        "language",
        N_("does not speak a language the family needs"),
        _speaks_the_languages,
        bendable=True,
        what_it_takes=_languages_take,
    ),
    HardRule(
        "night_admission",
        N_("does not admit at night"),
        _admits_at_night,
        bendable=True,
        what_it_takes=_night_takes,
    ),
    HardRule(
        "reentry",
        N_("does not take back a woman who returned to the perpetrator"),
        _takes_back_a_returning_woman,
        bendable=True,
        what_it_takes=_reentry_takes,
    ),
    HardRule(
        "unit_too_small",
        N_("no unit has a bed for every member of the family"),
        _has_a_unit_for_the_whole_family,
        bendable=True,
        what_it_takes=_unit_takes,
    ),
    # never bent, and never a near miss: a place that is not free cannot be asked for
    HardRule(
        "no_free_unit",
        N_("no free unit with enough free beds for the whole family"),
        _has_room_for_the_family,
        about_free_places=True,
    ),
)
