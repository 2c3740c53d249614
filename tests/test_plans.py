"""The planner on small random instances: every plan is valid, and optimal against brute force."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver.instance import FacilityState, Family, Needs, Person, PlacementRequest
from solver.plans import Assignment, Demand, Plan, PlanInstance, candidates, placement_value, solve
from solver.validate import plan_problems

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
NETWORK = load_rules(PROJECT_ROOT / "data").network(stale_after_hours=24)
REGIONS = sorted(NETWORK.geography.points)


def brute_force(instance: PlanInstance) -> float:
    found = candidates(instance)
    demands = list(instance.demands)
    facilities = {f.id: f for f in instance.facilities}
    choices = [[None, *found[d.key]] for d in demands]
    best = 0.0
    for combo in itertools.product(*choices):
        units: dict[int, int] = {}
        beds: dict[int, int] = {}
        value = 0.0
        for demand, option in zip(demands, combo, strict=True):
            if option is None:
                continue
            fid = option.facility_id
            units[fid] = units.get(fid, 0) + 1
            beds[fid] = beds.get(fid, 0) + demand.request.family.persons
            value += placement_value(demand, option.score)
        if all(
            units[f] <= facilities[f].free_units and beds[f] <= facilities[f].free_beds
            for f in units
        ):
            best = max(best, value)
    return best


facility = st.builds(
    FacilityState,
    id=st.just(0),
    name=st.just("F"),
    kind=st.sampled_from(
        ["crisis_centre", "secret_shelter", "temporary_home_mothers", "halfway_house"]
    ),
    region=st.sampled_from(REGIONS[:6]),
    free_units=st.integers(0, 2),
    free_beds=st.integers(0, 6),
    boys_max_age=st.one_of(st.none(), st.integers(8, 17)),
    wheelchair_units=st.integers(0, 1),
    accepts_pets=st.booleans(),
    reported_at=st.floats(0, 40).map(lambda h: NOW - timedelta(hours=h)),
)
family = st.builds(
    Family,
    adults=st.just((Person(32, False),)),
    children=st.lists(
        st.builds(Person, age=st.integers(0, 16), male=st.booleans()), max_size=3
    ).map(tuple),
)
request = st.builds(
    PlacementRequest,
    family=family,
    needs=st.builds(Needs, wheelchair=st.booleans(), pets=st.booleans()),
    risk=st.sampled_from(["standard", "medium", "high"]),
    preferred_regions=st.sets(st.sampled_from(REGIONS[:6]), max_size=1).map(frozenset),
)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
)
def test_plans_are_valid_and_optimal(
    requests: list[PlacementRequest], facilities: list[FacilityState]
) -> None:
    instance = PlanInstance(
        demands=tuple(Demand(key=str(i), request=r) for i, r in enumerate(requests)),
        facilities=tuple(replace(f, id=i + 1) for i, f in enumerate(facilities)),
        network=NETWORK,
        now=NOW,
    )
    plan = solve(instance, time_limit=5)
    assert plan_problems(instance, plan) == []
    assert plan.status == "optimal"
    assert plan.objective == brute_force(instance)
    assert plan.bound >= plan.objective


def test_validator_catches_broken_plans() -> None:
    shelter = FacilityState(
        id=1, name="S", kind="crisis_centre", region="Zala", free_units=1, free_beds=3
    )
    instance = PlanInstance(
        demands=(
            Demand("a", PlacementRequest(family=Family((Person(30, False),), (Person(14, True),)))),
            Demand("b", PlacementRequest(family=Family((Person(30, False),), ()))),
            Demand("c", PlacementRequest(family=Family((Person(30, False),), ()), risk="high")),
        ),
        facilities=(replace(shelter, boys_max_age=12),),
        network=NETWORK,
        now=NOW,
    )
    broken = Plan(
        status="optimal",
        objective=0,
        bound=0,
        solve_seconds=0,
        assignments=(
            Assignment("a", 1, 0, ()),
            Assignment("b", 1, 0, ()),
            Assignment("b", 1, 0, ()),
        ),
        unplaced={},
    )
    problems = plan_problems(instance, broken)
    assert any("family b is placed 2 times" in p for p in problems)
    assert any("family a at facility 1" in p and "age limit" in p for p in problems)
    assert any("3 families in 1 free units" in p for p in problems)
    assert any("family c is neither placed nor explained" in p for p in problems)


def test_unplaced_families_get_the_binding_reason() -> None:
    instance = PlanInstance(
        demands=(
            Demand(
                "high",
                PlacementRequest(
                    family=Family((Person(30, False),), tuple(Person(4, False) for _ in range(5))),
                    risk="high",
                ),
            ),
        ),
        facilities=(
            FacilityState(
                id=1,
                name="Near",
                kind="secret_shelter",
                region="Baranya",
                free_units=2,
                free_beds=8,
            ),
            FacilityState(
                id=2, name="Small", kind="secret_shelter", region="Zala", free_units=1, free_beds=3
            ),
            FacilityState(
                id=3, name="Crisis", kind="crisis_centre", region="Vas", free_units=3, free_beds=9
            ),
        ),
        network=NETWORK,
        now=NOW,
        forbidden_regions=frozenset({"Baranya"}),
    )
    plan = solve(instance, time_limit=2)
    assert plan.assignments == ()
    reason = plan.unplaced["high"]
    assert reason.startswith("no secret-shelter unit outside the danger regions fits a family of 6")


def test_large_instances_are_cut_down_and_never_claimed_optimal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    import solver.plans as plans

    monkeypatch.setattr(plans, "MAX_MODEL_PAIRS", 10)
    rng = random.Random(3)
    facilities = tuple(
        FacilityState(
            id=i,
            name=f"F{i}",
            kind="crisis_centre",
            region=rng.choice(REGIONS[:5]),
            free_units=rng.randint(1, 2),
            free_beds=rng.randint(2, 5),
            reported_at=NOW - timedelta(hours=rng.uniform(0, 30)),
        )
        for i in range(1, 13)
    )
    demands = tuple(
        Demand(
            str(i),
            PlacementRequest(
                family=Family(
                    (Person(30, False),),
                    tuple(Person(5, False) for _ in range(rng.randint(0, 3))),
                ),
                preferred_regions=frozenset({rng.choice(REGIONS[:5])}),
            ),
        )
        for i in range(20)
    )
    instance = PlanInstance(demands=demands, facilities=facilities, network=NETWORK, now=NOW)
    plan = plans.solve(instance, time_limit=3)
    assert plan_problems(instance, plan) == []
    assert plan.bound >= plan.objective
    if plan.status == "optimal":  # only when the bound closed without the cut-down model
        assert plan.bound - plan.objective < 1


@settings(max_examples=100, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=5),
    facilities=st.lists(facility, min_size=1, max_size=8),
    avoid=st.sets(st.sampled_from(REGIONS[:6]), max_size=2),
    languages=st.sets(st.sampled_from(["hu", "en", "uk"]), max_size=2),
)
def test_vectorised_candidates_equal_the_reference(
    requests: list[PlacementRequest],
    facilities: list[FacilityState],
    avoid: set[str],
    languages: set[str],
) -> None:
    from solver.plans import reference_candidates

    demands = tuple(
        Demand(
            key=str(i),
            request=replace(
                r,
                avoid_regions=frozenset(avoid) - r.preferred_regions,
                needs=replace(r.needs, languages=frozenset(languages) if i % 2 else frozenset()),
                reentry=i % 3 == 0,
            ),
            allowed_facility_ids=frozenset({1, 3, 5}) if i == 2 else None,
            bonus={1: 50.0} if i == 1 else {},
        )
        for i, r in enumerate(requests)
    )
    instance = PlanInstance(
        demands=demands,
        facilities=tuple(
            replace(f, id=i + 1, languages=frozenset({"hu", "en"}) if i % 2 else frozenset({"hu"}))
            for i, f in enumerate(facilities)
        ),
        network=NETWORK,
        now=NOW,
        excluded_facility_ids=frozenset({2}),
    )
    fast, slow = candidates(instance), reference_candidates(instance)
    assert fast.keys() == slow.keys()
    for key in slow:
        assert [c.facility_id for c in fast[key]] == [c.facility_id for c in slow[key]]
        assert [c.score for c in fast[key]] == pytest.approx(
            [c.score for c in slow[key]], abs=0.011
        )
