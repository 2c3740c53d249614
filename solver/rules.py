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

This module imports nothing from the rest of the package at run time:
``solver.instance.Network`` holds :data:`STANDARD_RULES`, so the types named in the
annotations below are imported for type checking only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from solver.facility_arrays import FacilityArrays
    from solver.feasibility import RequestView

# Per facility: does the rule let this family in? None when the rule does not concern the
# family at all (nobody in it is a man, it needs no wheelchair...): then it admits everyone.
Admits = Callable[["RequestView", "FacilityArrays"], "np.ndarray | None"]


@dataclass(frozen=True, slots=True)
class HardRule:
    """One hard rule. ``code`` is stable: rankings count exclusions by it and the web pages
    look its text up by it. ``message`` says why a facility is out, to a counsellor."""

    code: str
    message: str
    admits: Admits
    # about what is free right now rather than whether the place suits the family at all;
    # solver.feasibility.rule_reason leaves such rules out
    about_free_places: bool = False


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


STANDARD_RULES: tuple[HardRule, ...] = (
    HardRule(
        "kind_not_for_risk",
        "this kind of facility does not receive families at this risk level",
        _kind_takes_the_risk,
    ),
    HardRule(
        "kind_not_for_family",
        "this kind of facility is for another group (children required, or trafficking "
        "victims only)",
        _kind_takes_the_family,
    ),
    HardRule("danger_zone", "in or near a region the family must avoid", _outside_the_danger_zone),
    HardRule("adult_men", "does not admit adult men", _admits_adult_men),
    HardRule(
        "boys_age", "a son is older than the facility's age limit for boys", _admits_the_oldest_boy
    ),
    HardRule("wheelchair", "no wheelchair-accessible unit", _has_a_wheelchair_unit),
    HardRule("pets", "does not accept pets", _accepts_pets),
    HardRule("language", "does not speak a language the family needs", _speaks_the_languages),
    HardRule("night_admission", "does not admit at night", _admits_at_night),
    HardRule(
        "reentry",
        "does not take back a woman who returned to the perpetrator",
        _takes_back_a_returning_woman,
    ),
    HardRule(
        "unit_too_small",
        "no unit has a bed for every member of the family",
        _has_a_unit_for_the_whole_family,
    ),
    HardRule(
        "no_free_unit",
        "no free unit with enough free beds for the whole family",
        _has_room_for_the_family,
        about_free_places=True,
    ),
)
