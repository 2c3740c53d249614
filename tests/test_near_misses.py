"""Near misses and stale fits, in the pure solver: exactly one rule broken, a rule that may
be bent, a free unit with beds for everyone, best first by the ranking's score, at most 5;
never the exclusion zone, a high-risk family's risk level, a kind's legal limits or
capacity. And the kinds' labels in the ranking's reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver.facility_arrays import FacilityArrays
from solver.feasibility import broken_rule, prepare
from solver.instance import FacilityState, Family, Needs, Person, PlacementRequest
from solver.near_misses import MOST, WHEN_FEWER_THAN, alternatives
from solver.ranking import Ranking, rank, score_parts
from solver.rules import STANDARD_RULES, HardRule
from tests.solver_support import plain_facility
from tests.test_solver_rules import REGIONS, facility_strategy, request_strategy

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
NETWORK = load_rules(PROJECT_ROOT / "data").network(stale_after_hours=24)
MOTHER = Person(age=30, male=False)
BOY_15 = Person(age=15, male=True)
GIRL_8 = Person(age=8, male=False)
# the issue's family: a mother of 30 with a boy of 15 and a girl of 8, high risk
ISSUE = PlacementRequest(
    family=Family(adults=(MOTHER,), children=(BOY_15, GIRL_8)),
    risk="high",
    avoid_regions=frozenset({"Budapest"}),
)
STANDARD = PlacementRequest(family=Family(adults=(MOTHER,), children=(GIRL_8,)))


def _facility(fid: int, **changes: Any) -> FacilityState:
    base = plain_facility(
        id=fid,
        name=f"F{fid}",
        kind="secret_shelter",
        region="Zala",
        free_units=1,
        free_beds=4,
        boys_max_age=14,
        reported_at=NOW - timedelta(hours=1),
    )
    return replace(base, **changes)


def _ranked(request: PlacementRequest, facilities: list[FacilityState]) -> Ranking:
    return rank(request, facilities, NETWORK, now=NOW)


def _near(request: PlacementRequest, facilities: list[FacilityState]) -> list[tuple[int, str]]:
    return [(n.facility_id, n.rule) for n in _ranked(request, facilities).near_misses]


# --- which facilities are near misses ----------------------------------------------------------


def test_the_issues_family_is_one_exception_from_a_secret_shelter_with_a_boys_limit() -> None:
    ranking = _ranked(ISSUE, [_facility(1)])
    assert ranking.options == () and ranking.feasible == 0
    (near,) = ranking.near_misses
    assert (near.facility_id, near.name, near.kind, near.region) == (
        1,
        "F1",
        "secret_shelter",
        "Zala",
    )
    assert near.rule == "boys_age"
    assert str(near.message) == "a son is 15; this house takes boys up to 14"
    assert near.stale is False


def test_exactly_one_broken_rule_makes_a_near_miss() -> None:
    two = _facility(2, wheelchair_units=0)  # the boys' limit and no wheelchair unit
    one = _facility(3, boys_max_age=None, wheelchair_units=0)
    request = replace(ISSUE, needs=Needs(wheelchair=True))
    assert _near(request, [_facility(1, wheelchair_units=1), two, one]) == [
        (1, "boys_age"),
        (3, "wheelchair"),
    ]


def test_the_exclusion_zone_is_never_bent() -> None:
    # Pest is within the exclusion distance of Budapest, the region she avoids
    for region in ("Budapest", "Pest"):
        assert _near(ISSUE, [_facility(1, region=region, boys_max_age=None)]) == []


def test_the_risk_level_of_a_high_risk_family_is_never_bent() -> None:
    crisis = _facility(1, kind="crisis_centre", boys_max_age=None)
    assert _near(ISSUE, [crisis]) == []
    # a medium-risk family may ask a house for standard-risk families only
    medium = replace(ISSUE, risk="medium", family=STANDARD.family)
    halfway = _facility(2, kind="halfway_house", boys_max_age=None)
    (near,) = _ranked(medium, [halfway]).near_misses
    assert near.rule == "kind_not_for_risk"
    assert str(near.message) == (
        "the family is at medium risk; this house (Halfway house) takes standard-risk families only"
    )


def test_a_kinds_legal_limits_are_never_bent_but_a_houses_own_choices_are() -> None:
    father = Person(age=38, male=True)
    with_father = replace(STANDARD, family=Family(adults=(MOTHER, father), children=(GIRL_8,)))
    by_law = _facility(1, kind="crisis_centre")  # excludes men by law, whatever its flag
    by_choice = _facility(2, kind="temporary_home_families", admits_adult_men=False)
    assert _near(with_father, [by_law, by_choice]) == [(2, "adult_men")]
    assert str(_ranked(with_father, [by_choice]).near_misses[0].message) == (
        "the family includes a man of 38; this house admits no adult men"
    )
    # a trafficking home is for victims of trafficking only; a mothers' home for mothers
    # with children may be asked
    alone = replace(STANDARD, family=Family(adults=(MOTHER,), children=()))
    trafficking = _facility(3, kind="trafficking_home", boys_max_age=None)
    mothers = _facility(4, kind="temporary_home_mothers", boys_max_age=None)
    assert _near(alone, [trafficking, mothers]) == [(4, "kind_not_for_family")]


@pytest.mark.parametrize(
    ("free_units", "free_beds"),
    [(0, 0), (1, 2)],  # no free unit; a free unit without a bed for all three of them
)
def test_a_near_miss_has_a_free_unit_with_a_bed_for_everyone(
    free_units: int, free_beds: int
) -> None:
    facility = _facility(1, free_units=free_units, free_beds=free_beds)
    assert _near(ISSUE, [facility]) == []


def test_capacity_alone_is_not_a_near_miss() -> None:
    full = _facility(1, boys_max_age=None, free_units=0, free_beds=0)
    ranking = _ranked(ISSUE, [full])
    assert ranking.excluded == {"no_free_unit": 1}
    assert ranking.near_misses == ()


def test_best_first_by_the_rankings_score_at_most_five() -> None:
    facilities = [_facility(fid, region="Zala") for fid in range(1, 9)]
    facilities[6] = replace(facilities[6], region="Vas")  # id 7, in her preferred region
    facilities[3] = replace(facilities[3], reported_at=NOW - timedelta(hours=30))  # id 4, stale
    request = replace(ISSUE, preferred_regions=frozenset({"Vas"}))
    near = _ranked(request, facilities).near_misses
    assert len(near) == MOST == 5
    assert [n.facility_id for n in near] == [7, 1, 2, 3, 5]  # ties: the lower id; stale last
    view = prepare(request, NETWORK)
    for n in near:
        facility = facilities[n.facility_id - 1]
        parts = score_parts(view, facility, NETWORK, 8, 1.0, False)
        assert n.score == round(sum(value for value, _, _ in parts), 2)


def test_only_when_fewer_than_three_places_are_feasible() -> None:
    fitting = [_facility(fid, boys_max_age=None) for fid in range(1, WHEN_FEWER_THAN + 1)]
    bending = _facility(99)
    assert _near(ISSUE, [*fitting[:-1], bending]) == [(99, "boys_age")]
    ranking = _ranked(ISSUE, [*fitting, bending])
    assert ranking.feasible == WHEN_FEWER_THAN
    assert ranking.near_misses == () and ranking.stale_fits == ()


# --- what it would take, in words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_change", "facility_change", "rule", "message"),
    [
        ({}, {"boys_max_age": 10}, "boys_age", "a son is 15; this house takes boys up to 10"),
        (
            {"needs": Needs(wheelchair=True)},
            {"wheelchair_units": 0, "boys_max_age": None},
            "wheelchair",
            "the family needs a wheelchair-accessible unit; this house has none",
        ),
        (
            {"needs": Needs(pets=True)},
            {"accepts_pets": False, "boys_max_age": None},
            "pets",
            "the family comes with pets; this house accepts none",
        ),
        (
            {"needs": Needs(languages=frozenset({"uk", "hu"}))},
            {"languages": frozenset({"hu", "en"}), "boys_max_age": None},
            "language",
            "the family needs uk; this house speaks en, hu",
        ),
        (
            {"needs": Needs(night_arrival=True)},
            {"night_admission": False, "boys_max_age": None},
            "night_admission",
            "the family arrives at night; this house does not admit at night",
        ),
        (
            {"reentry": True},
            {"accepts_reentry": False, "boys_max_age": None},
            "reentry",
            "she returned to the perpetrator before; this house does not take back a woman who did",
        ),
        (
            {},
            {"largest_unit_beds": 2, "boys_max_age": None},
            "unit_too_small",
            "the largest unit has 2 beds; the family is 3",
        ),
    ],
)
def test_each_bendable_rule_says_what_it_would_take(
    request_change: dict[str, Any], facility_change: dict[str, Any], rule: str, message: str
) -> None:
    (near,) = _ranked(
        replace(ISSUE, **request_change), [_facility(1, **facility_change)]
    ).near_misses
    assert (near.rule, str(near.message)) == (rule, message)


def test_the_rules_say_which_may_be_bent() -> None:
    never = {rule.code for rule in STANDARD_RULES if rule.bendable is False}
    assert never == {"danger_zone", "no_free_unit"}
    assert all(rule.what_it_takes is not None for rule in STANDARD_RULES if rule.code not in never)
    with pytest.raises(ValueError, match="says what it takes"):
        HardRule("x", "x", lambda view, facilities: None, bendable=True)
    with pytest.raises(ValueError, match="says what it takes"):
        HardRule(
            "x",
            "x",
            lambda view, facilities: None,
            about_free_places=True,
            bendable=True,
            what_it_takes=lambda view, facility, network: "",
        )


# --- stale fits ----------------------------------------------------------------------------------


def test_stale_places_that_fit_every_rule_but_capacity_are_listed() -> None:
    old = NOW - timedelta(hours=30)
    fits = [
        _facility(1, boys_max_age=None, free_units=0, free_beds=0, reported_at=old),
        _facility(2, boys_max_age=None, free_units=1, free_beds=2, reported_at=None),
    ]
    fresh_full = _facility(3, boys_max_age=None, free_units=0, free_beds=0)
    stale_unfit = _facility(4, free_units=0, free_beds=0, reported_at=old)  # boys' limit too
    stale_free = _facility(5, boys_max_age=None, reported_at=old)  # an option already
    ranking = _ranked(ISSUE, [*fits, fresh_full, stale_unfit, stale_free])
    assert [o.facility_id for o in ranking.options] == [5]
    assert [(s.facility_id, s.stale) for s in ranking.stale_fits] == [(1, True), (2, True)]
    assert ranking.near_misses == ()  # 4 breaks its boys' limit and has no room


def test_stale_fits_are_best_first_and_at_most_five() -> None:
    old = NOW - timedelta(hours=30)
    full = [
        _facility(fid, boys_max_age=None, free_units=0, free_beds=0, reported_at=old)
        for fid in range(1, 8)
    ]
    full[5] = replace(full[5], region="Vas")  # id 6
    request = replace(ISSUE, preferred_regions=frozenset({"Vas"}))
    assert [s.facility_id for s in _ranked(request, full).stale_fits] == [6, 1, 2, 3, 4]


# --- against the rules applied one at a time -----------------------------------------------------


def _broken_rules(request: PlacementRequest, facility: FacilityState) -> list[str]:
    """Every rule the facility breaks: the first one, then the first of the rest, ..."""
    view, rules, found = prepare(request, NETWORK), STANDARD_RULES, []
    while (rule := broken_rule(view, facility, replace(NETWORK, hard_rules=rules))) is not None:
        found.append(rule.code)
        rules = tuple(r for r in rules if r is not rule)
    return found


def _may_bend(code: str, request: PlacementRequest, facility: FacilityState) -> bool:
    """The policy, written out: what may be asked of a house."""
    policy = NETWORK.kinds.get(facility.kind)
    if code == "kind_not_for_risk":
        return request.risk != "high"
    if code == "kind_not_for_family":
        return policy is None or not policy.trafficking_only or request.trafficking_victim
    if code == "adult_men":
        return policy is not None and policy.adult_men_possible
    return code not in ("danger_zone", "no_free_unit")


# mostly true: most facilities then break few rules, so that many are one rule away
_mostly = st.sampled_from([True, True, True, False])
_lenient_facility = st.builds(
    plain_facility,
    id=st.integers(1, 10_000),
    name=st.just("F"),
    kind=st.sampled_from(sorted(NETWORK.kinds)),
    region=st.sampled_from(REGIONS),
    free_units=st.integers(0, 2),
    free_beds=st.integers(0, 6),
    boys_max_age=st.one_of(st.none(), st.integers(10, 17)),
    admits_adult_men=_mostly,
    wheelchair_units=st.integers(0, 1),
    accepts_pets=_mostly,
    languages=st.sampled_from([frozenset({"hu"}), frozenset({"hu", "en"}), frozenset({"en"})]),
    night_admission=_mostly,
    accepts_reentry=_mostly,
    largest_unit_beds=st.one_of(st.none(), st.integers(2, 6)),
)
_rarely = st.sampled_from([False, False, False, True])
_plain_request = st.builds(
    PlacementRequest,
    family=st.builds(
        Family,
        adults=st.lists(
            st.builds(Person, age=st.integers(18, 70), male=_rarely), min_size=1, max_size=2
        ).map(tuple),
        children=st.lists(
            st.builds(Person, age=st.integers(0, 17), male=st.booleans()), max_size=3
        ).map(tuple),
    ),
    needs=st.builds(
        Needs,
        wheelchair=_rarely,
        pets=_rarely,
        languages=st.sampled_from([frozenset(), frozenset({"hu"}), frozenset({"en"})]),
        night_arrival=_rarely,
    ),
    risk=st.sampled_from(["standard", "medium", "high"]),
    avoid_regions=st.sets(st.sampled_from(REGIONS), max_size=1).map(frozenset),
    reentry=_rarely,
    trafficking_victim=_rarely,
)


@settings(max_examples=300, deadline=None)
@given(
    request=st.one_of(_plain_request, request_strategy),
    facilities=st.lists(
        st.one_of(_lenient_facility, facility_strategy),
        min_size=5,
        max_size=25,
        unique_by=lambda f: f.id,
    ),
    hours=st.lists(st.one_of(st.none(), st.floats(0, 48)), min_size=25, max_size=25),
)
def test_near_misses_and_stale_fits_are_the_rules_one_at_a_time(
    request: PlacementRequest, facilities: list[FacilityState], hours: list[float | None]
) -> None:
    facilities = [
        replace(f, reported_at=None if h is None else NOW - timedelta(hours=h))
        for f, h in zip(facilities, hours, strict=False)
    ]
    view = prepare(request, NETWORK)
    secret_free = sum(f.free_units for f in facilities if f.kind == "secret_shelter")

    def score(facility: FacilityState) -> float:
        age = NETWORK.report_age_hours(facility, NOW)
        parts = score_parts(view, facility, NETWORK, secret_free, age, NETWORK.is_stale(age))
        return round(sum(value for value, _, _ in parts), 2)

    def best(chosen: list[FacilityState]) -> list[int]:
        return [f.id for f in sorted(chosen, key=lambda f: (-score(f), f.id))[:MOST]]

    broken = {f.id: _broken_rules(request, f) for f in facilities}
    near = [
        f for f in facilities if len(broken[f.id]) == 1 and _may_bend(broken[f.id][0], request, f)
    ]
    stale = [
        f
        for f in facilities
        if broken[f.id] == ["no_free_unit"] and NETWORK.is_stale(NETWORK.report_age_hours(f, NOW))
    ]
    found = alternatives(view, FacilityArrays(facilities, NETWORK), NETWORK, score, NOW)
    assert [n.facility_id for n in found.near_misses] == best(near)
    assert [n.rule for n in found.near_misses] == [broken[i][0] for i in best(near)]
    assert [s.facility_id for s in found.stale_fits] == best(stale)


# --- kind labels ---------------------------------------------------------------------------------


def test_reasons_name_the_kind_by_its_label() -> None:
    mothers = _facility(1, kind="temporary_home_mothers", boys_max_age=None)
    medium = replace(STANDARD, risk="medium")
    (option,) = _ranked(medium, [mothers]).options
    assert str(option.reasons[0]) == "Temporary home for mothers, for a medium-risk family (+10)"
    assert {policy.label for policy in NETWORK.kinds.values()} >= {
        "Crisis centre",
        "Secret shelter",
        "Temporary home for mothers",
    }
