"""The hard rules are written once (``solver.rules``) and every user reads the network's:
the ranking, the planner's candidates, the plan validator and the explanations."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver.facility_arrays import FacilityArrays
from solver.feasibility import REASONS, RequestView, first_broken_rules, prepare, rule_reason
from solver.instance import FacilityState, Family, Needs, Network, Person, PlacementRequest
from solver.plans import Assignment, Demand, Plan, PlanInstance, candidates, solve
from solver.ranking import rank
from solver.rules import STANDARD_RULES, HardRule
from solver.validate import plan_problems
from tests.solver_support import plain_facility, reference_candidates, standard_rules_one_by_one

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
NETWORK = load_rules(PROJECT_ROOT / "data").network(stale_after_hours=24)
REGIONS = sorted(NETWORK.geography.points)
MOTHER = Person(age=31, male=False)
WITH_PETS = PlacementRequest(
    family=Family(adults=(MOTHER,), children=(Person(6, False),)), needs=Needs(pets=True)
)
WITHOUT_PETS = replace(WITH_PETS, needs=Needs())


def _facility(fid: int, **changes: Any) -> FacilityState:
    base = plain_facility(
        id=fid,
        name=f"F{fid}",
        kind="crisis_centre",
        region="Zala",
        free_units=2,
        free_beds=6,
        accepts_pets=True,
        reported_at=NOW - timedelta(hours=1),
    )
    return replace(base, **changes)


# --- the standard rules ------------------------------------------------------------------------


def test_the_standard_rules_keep_their_codes_texts_and_order() -> None:
    assert REASONS == {
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
        "unit_too_small": "no unit has a bed for every member of the family",
        "no_free_unit": "no free unit with enough free beds for the whole family",
    }
    assert list(REASONS) == [rule.code for rule in STANDARD_RULES]  # dicts keep order
    assert [rule.code for rule in STANDARD_RULES if rule.about_free_places] == ["no_free_unit"]
    assert STANDARD_RULES[-1].code == "no_free_unit"
    assert NETWORK.hard_rules == STANDARD_RULES


facility_strategy = st.builds(
    plain_facility,
    id=st.integers(1, 10_000),
    name=st.just("F"),
    kind=st.sampled_from([*sorted(NETWORK.kinds), "unknown_kind"]),
    region=st.sampled_from(REGIONS),
    free_units=st.integers(0, 3),
    free_beds=st.integers(0, 8),
    boys_max_age=st.one_of(st.none(), st.integers(0, 17)),
    admits_adult_men=st.booleans(),
    wheelchair_units=st.integers(0, 2),
    accepts_pets=st.booleans(),
    languages=st.sets(st.sampled_from(["hu", "en", "uk", "ro"]), max_size=3).map(frozenset),
    night_admission=st.booleans(),
    accepts_reentry=st.booleans(),
    largest_unit_beds=st.one_of(st.none(), st.integers(1, 6)),
)
request_strategy = st.builds(
    PlacementRequest,
    family=st.builds(
        Family,
        adults=st.lists(
            st.builds(Person, age=st.integers(18, 70), male=st.booleans()), min_size=1, max_size=2
        ).map(tuple),
        children=st.lists(
            st.builds(Person, age=st.integers(0, 17), male=st.booleans()), max_size=4
        ).map(tuple),
    ),
    needs=st.builds(
        Needs,
        wheelchair=st.booleans(),
        pets=st.booleans(),
        languages=st.sets(st.sampled_from(["hu", "en", "uk", "xx"]), max_size=2).map(frozenset),
        night_arrival=st.booleans(),
    ),
    risk=st.sampled_from(["standard", "medium", "high"]),
    avoid_regions=st.sets(st.sampled_from(REGIONS), max_size=2).map(frozenset),
    reentry=st.booleans(),
    trafficking_victim=st.booleans(),
    avoid_within_km=st.one_of(st.none(), st.floats(0, 120)),
)


@settings(max_examples=300, deadline=None)
@given(request=request_strategy, facilities=st.lists(facility_strategy, max_size=25))
def test_the_registry_reports_what_the_rules_one_by_one_report(
    request: PlacementRequest, facilities: list[FacilityState]
) -> None:
    """All facilities at once give, per facility, the first rule of the chain written out
    one rule after the other; the ranking counts exactly those; rule_reason is the same
    but for capacity."""
    view = prepare(request, NETWORK)
    expected = [standard_rules_one_by_one(view, f, NETWORK) for f in facilities]
    broken = first_broken_rules(view, FacilityArrays(facilities, NETWORK), STANDARD_RULES)
    codes = [*(rule.code for rule in STANDARD_RULES), None]
    assert [codes[i] for i in broken.tolist()] == expected
    ranking = rank(request, facilities, NETWORK, now=NOW, limit=1000)
    assert ranking.excluded == dict(sorted(Counter(c for c in expected if c).items()))
    assert ranking.feasible == expected.count(None)
    for facility, code in zip(facilities, expected, strict=True):
        assert rule_reason(view, facility, NETWORK) == (None if code == "no_free_unit" else code)


# --- the arrays the rules read ---------------------------------------------------------------


def test_every_facility_field_is_a_column() -> None:
    facilities = [
        _facility(1, boys_max_age=12, languages=frozenset({"hu", "en"})),
        _facility(2, kind="unknown_kind", reported_at=None),
    ]
    arrays = FacilityArrays(facilities, NETWORK)
    for field in fields(FacilityState):
        column = arrays[field.name]
        assert len(column) == 2
        assert [_plain(v) for v in column.tolist()] == [
            _plain(getattr(f, field.name)) for f in facilities
        ], field.name
    assert arrays["free_units"].dtype == np.int64
    assert arrays["accepts_pets"].dtype == bool
    assert arrays["boys_max_age"].dtype == np.float64  # int | None: NaN for None
    assert math.isnan(arrays["boys_max_age"][1])
    assert arrays["languages"][0] == frozenset({"hu", "en"})
    # a kind's policy, per facility; a kind the network does not know allows nothing
    assert arrays.of_kind("adult_men_possible").tolist() == [
        NETWORK.kinds["crisis_centre"].adult_men_possible,
        False,
    ]
    assert arrays.of_kind("tier")[0] == NETWORK.kinds["crisis_centre"].tier
    assert math.isnan(arrays.of_kind("tier")[1])
    with pytest.raises(KeyError):
        arrays["no_such_field"]


def _plain(value: object) -> object:
    """None for a missing number, so that NaN and None compare equal."""
    return None if isinstance(value, float) and math.isnan(value) else value


# --- a made-up rule, in the network of these tests only --------------------------------------


def _odd_ids_take_no_pets(view: RequestView, facilities: FacilityArrays) -> np.ndarray | None:
    return facilities["id"] % 2 == 0 if view.request.needs.pets else None


ODD_NO_PETS = HardRule(
    "odd_no_pets", "an odd-numbered facility takes no pets (test rule)", _odd_ids_take_no_pets
)


@pytest.fixture
def network_with_made_up_rule() -> Network:
    """The standard rules with one more, before capacity (as a real new rule would go)."""
    return replace(NETWORK, hard_rules=(*STANDARD_RULES[:-1], ODD_NO_PETS, STANDARD_RULES[-1]))


def test_the_ranking_applies_and_counts_the_networks_rule(
    network_with_made_up_rule: Network,
) -> None:
    network = network_with_made_up_rule
    facilities = [_facility(fid) for fid in range(1, 7)]
    facilities.append(_facility(7, free_units=0, free_beds=0))  # odd and full: the rule first
    facilities.append(_facility(8, free_units=0, free_beds=0))
    ranking = rank(WITH_PETS, facilities, network, now=NOW, limit=100)
    assert sorted(o.facility_id for o in ranking.options) == [2, 4, 6]
    assert ranking.excluded == {"no_free_unit": 1, "odd_no_pets": 4}
    assert ranking.feasible == 3
    # a family without pets is not concerned; the standard network knows no such rule
    assert rank(WITHOUT_PETS, facilities, network, now=NOW).feasible == 6
    assert rank(WITH_PETS, facilities, NETWORK, now=NOW).feasible == 6
    view = prepare(WITH_PETS, network)
    assert rule_reason(view, facilities[0], network) == "odd_no_pets"
    assert rule_reason(view, facilities[1], network) is None


def _instance(network: Network, facilities: list[FacilityState]) -> PlanInstance:
    return PlanInstance(
        demands=(
            Demand("pets-1", WITH_PETS),
            Demand("pets-2", replace(WITH_PETS, risk="medium")),
            Demand("plain", WITHOUT_PETS),
        ),
        facilities=tuple(facilities),
        network=network,
        now=NOW,
    )


def test_the_planner_never_places_a_family_where_the_networks_rule_forbids(
    network_with_made_up_rule: Network,
) -> None:
    # the odd-numbered facilities would be the better places: fresher reports
    facilities = [
        _facility(fid, free_units=1, reported_at=NOW - timedelta(hours=1 if fid % 2 else 20))
        for fid in range(1, 7)
    ]
    instance = _instance(network_with_made_up_rule, facilities)
    found = candidates(instance)
    assert found == reference_candidates(instance)
    assert all(c.facility_id % 2 == 0 for key in ("pets-1", "pets-2") for c in found[key])
    assert {c.facility_id for c in found["plain"]} == set(range(1, 7))
    plan = solve(instance, time_limit=2)
    assert plan_problems(instance, plan) == []
    placed = {a.key: a.facility_id for a in plan.assignments}
    assert placed["pets-1"] % 2 == 0 and placed["pets-2"] % 2 == 0
    # only odd places left: the families with pets stay out, and the rule is why
    odd_only = _instance(network_with_made_up_rule, facilities[::2])
    plan = solve(odd_only, time_limit=2)
    assert {a.key for a in plan.assignments} == {"plain"}
    for key in ("pets-1", "pets-2"):
        assert f"3 facilities: {ODD_NO_PETS.message}" in plan.unplaced[key]


def test_the_validator_reports_a_plan_that_breaks_the_networks_rule(
    network_with_made_up_rule: Network,
) -> None:
    instance = _instance(network_with_made_up_rule, [_facility(1), _facility(2)])
    plan = Plan(
        status="feasible",
        objective=0,
        bound=0,
        solve_seconds=0,
        assignments=(Assignment("pets-1", 1, 0, ()), Assignment("plain", 1, 0, ())),
        unplaced={"pets-2": "left out"},
    )
    assert plan_problems(instance, plan) == [f"family pets-1 at facility 1: {ODD_NO_PETS.message}"]
    standard = replace(instance, network=NETWORK)
    assert plan_problems(standard, plan) == []
