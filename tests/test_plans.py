"""The planner on small random instances: every plan is valid, and optimal against brute force."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver import plan_solve
from solver.instance import FacilityState, Family, Needs, Person, PlacementRequest
from solver.plan_candidates import candidate_arrays
from solver.plan_pairs import Pairs
from solver.plans import (
    RISK_WEIGHT,
    Assignment,
    Demand,
    Plan,
    PlanInstance,
    candidates,
    placement_value,
    solve,
)
from solver.ranking import rank
from solver.validate import plan_problems
from tests.solver_support import plain_facility, reference_candidates

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


_FACILITY_FIELDS: dict[str, Any] = {
    "id": st.just(0),
    "name": st.just("F"),
    "kind": st.sampled_from(
        ["crisis_centre", "secret_shelter", "temporary_home_mothers", "halfway_house"]
    ),
    "region": st.sampled_from(REGIONS[:6]),
    "free_units": st.integers(0, 2),
    "free_beds": st.integers(0, 6),
    "boys_max_age": st.one_of(st.none(), st.integers(8, 17)),
    "wheelchair_units": st.integers(0, 1),
    "accepts_pets": st.booleans(),
    "reported_at": st.floats(0, 40).map(lambda h: NOW - timedelta(hours=h)),
}
facility = st.builds(plain_facility, **_FACILITY_FIELDS)
# every attribute a hard rule or the score reads, for comparing the two candidate finders
any_facility = st.builds(
    plain_facility,
    **{
        **_FACILITY_FIELDS,
        "kind": st.sampled_from(sorted(NETWORK.kinds)),
        "admits_adult_men": st.booleans(),
        "night_admission": st.booleans(),
        "accepts_reentry": st.booleans(),
        "reported_at": st.one_of(st.none(), _FACILITY_FIELDS["reported_at"]),
    },
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
any_request = st.builds(
    PlacementRequest,
    family=st.builds(
        Family,
        adults=st.sampled_from([(Person(32, False),), (Person(32, False), Person(40, True))]),
        children=family.map(lambda f: f.children),
    ),
    needs=st.builds(
        Needs, wheelchair=st.booleans(), pets=st.booleans(), night_arrival=st.booleans()
    ),
    risk=st.sampled_from(["standard", "medium", "high"]),
    preferred_regions=st.sets(st.sampled_from(REGIONS[:6]), max_size=1).map(frozenset),
    trafficking_victim=st.booleans(),
)


def best_weighted_placements(instance: PlanInstance) -> int:
    """The most risk-weighted placements any plan makes, by trying every plan."""
    found = candidates(instance)
    demands = list(instance.demands)
    facilities = {f.id: f for f in instance.facilities}
    best = 0
    for combo in itertools.product(*[[None, *found[d.key]] for d in demands]):
        units: dict[int, int] = {}
        beds: dict[int, int] = {}
        for demand, option in zip(demands, combo, strict=True):
            if option is not None:
                units[option.facility_id] = units.get(option.facility_id, 0) + 1
                beds[option.facility_id] = (
                    beds.get(option.facility_id, 0) + demand.request.family.persons
                )
        if all(
            units[f] <= facilities[f].free_units and beds[f] <= facilities[f].free_beds
            for f in units
        ):
            weight = sum(
                RISK_WEIGHT[d.request.risk]
                for d, option in zip(demands, combo, strict=True)
                if option is not None
            )
            best = max(best, weight)
    return best


ROUTES = {
    # (MAX_MODEL_PAIRS, LP_ROUTE_PAIRS): which way solve goes on these small instances
    "exact": (plan_solve.MAX_MODEL_PAIRS, plan_solve.LP_ROUTE_PAIRS),
    "relaxed": (0, plan_solve.LP_ROUTE_PAIRS),
    "first_order": (0, 0),
}


@pytest.mark.parametrize("route", list(ROUTES))
@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
)
def test_plans_are_valid_and_optimal(
    route: str, requests: list[PlacementRequest], facilities: list[FacilityState]
) -> None:
    """Through ``solve`` on each of its routes: the exact CP-SAT model, and (when no model
    is small enough) the LP relaxation by column generation or by first-order steps, which
    may not prove what they find. With no gap tolerated, optimal means the best plan there
    is; with the default tolerance, within 1e-4 of it. The risk-weighted placements are
    counted right and their bound holds."""
    instance = PlanInstance(
        demands=tuple(Demand(key=str(i), request=r) for i, r in enumerate(requests)),
        facilities=tuple(replace(f, id=i + 1) for i, f in enumerate(facilities)),
        network=NETWORK,
        now=NOW,
    )
    kept = plan_solve.MAX_MODEL_PAIRS, plan_solve.LP_ROUTE_PAIRS
    plan_solve.MAX_MODEL_PAIRS, plan_solve.LP_ROUTE_PAIRS = ROUTES[route]
    try:
        exact = solve(instance, time_limit=5, gap_tolerance=0.0)
        tolerant = solve(instance, time_limit=5)
    finally:
        plan_solve.MAX_MODEL_PAIRS, plan_solve.LP_ROUTE_PAIRS = kept
    optimum, most_weight = brute_force(instance), best_weighted_placements(instance)
    for plan in (exact, tolerant):
        assert plan_problems(instance, plan) == []
        assert plan.objective <= optimum <= plan.bound
        weights = {d.key: RISK_WEIGHT[d.request.risk] for d in instance.demands}
        assert plan.placements == sum(weights[a.key] for a in plan.assignments)
        assert plan.placements <= most_weight <= plan.placements_bound
        assert plan.placements_proven == (plan.placements >= plan.placements_bound)
        if plan.status == "optimal":
            assert plan.bound - plan.objective <= max(0.9999, 1e-4 * plan.bound)
    assert exact.status == "optimal" or route != "exact"
    if exact.status == "optimal":
        assert exact.objective == optimum
    if route != "first_order":  # the rounding steps see every pair of these small instances
        assert exact.objective == optimum


def test_validator_catches_broken_plans() -> None:
    shelter = plain_facility(
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
            plain_facility(
                id=1,
                name="Near",
                kind="secret_shelter",
                region="Baranya",
                free_units=2,
                free_beds=8,
            ),
            plain_facility(
                id=2, name="Small", kind="secret_shelter", region="Zala", free_units=1, free_beds=3
            ),
            plain_facility(
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
    assert plan.unplaced_codes == {"high": "no_place_fits"}


def test_a_family_whose_places_went_to_others_is_told_so_with_its_code() -> None:
    mother = Person(30, False)
    instance = PlanInstance(
        demands=(
            Demand("standard", PlacementRequest(family=Family((mother,), (Person(5, False),)))),
            Demand(
                "high",
                PlacementRequest(family=Family((mother,), (Person(6, False),)), risk="medium"),
            ),
        ),
        facilities=(
            plain_facility(
                id=1, name="Only", kind="crisis_centre", region="Vas", free_units=1, free_beds=3
            ),
        ),
        network=NETWORK,
        now=NOW,
    )
    plan = solve(instance, time_limit=2)
    assert [(a.key, a.facility_id) for a in plan.assignments] == [("high", 1)]
    assert plan.unplaced_codes == {"standard": "places_taken"}
    assert "taken by families weighted higher" in plan.unplaced["standard"]
    (placed,) = plan.assignments
    assert len(placed.reason_codes) == len(placed.reasons) and placed.reason_codes[-1] == "capacity"


def _instance(requests: list[PlacementRequest], facilities: list[FacilityState]) -> PlanInstance:
    return PlanInstance(
        demands=tuple(Demand(key=str(i), request=r) for i, r in enumerate(requests)),
        facilities=tuple(replace(f, id=i + 1) for i, f in enumerate(facilities)),
        network=NETWORK,
        now=NOW,
    )


def assert_fits(pairs: Pairs, chosen: np.ndarray) -> None:
    """Chosen pair indices place each family at most once and keep every facility's free
    units and beds."""
    families = pairs.family[chosen]
    assert len(set(families.tolist())) == len(families)
    units = np.bincount(pairs.facility[chosen], minlength=len(pairs.units))
    beds = np.bincount(pairs.facility[chosen], pairs.persons[chosen], minlength=len(pairs.beds))
    assert (units <= pairs.units).all() and (beds <= pairs.beds).all()


SHORT_OF_TIME = {
    # too little time for first-order steps at all, or for rounding what they give
    "no_first_order_steps": "PDLP_MIN_SECONDS",
    "no_rounding": "ROUNDING_SECONDS_PER_PAIR",
}


@pytest.mark.parametrize("short", list(SHORT_OF_TIME))
@settings(max_examples=40, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
)
def test_the_first_order_route_short_of_time_still_improves_the_plan(
    short: str, requests: list[PlacementRequest], facilities: list[FacilityState]
) -> None:
    """When the time left is too short for PDLP, or for rounding its solution, the route
    for very large instances improves the incumbent region by region instead of returning
    it as it is. With every facility in one region that search is exact, so from an empty
    plan it reaches the optimum; the plan stays valid and the bound holds."""
    import math
    import time

    from solver.plan_pairs import pair_arrays
    from solver.plan_solve import solve_by_relaxation

    instance = _instance(requests, [replace(f, region=REGIONS[0]) for f in facilities])
    pairs = pair_arrays(instance, candidate_arrays(instance)[0])
    optimum = brute_force(instance)
    names = ("LP_ROUTE_PAIRS", SHORT_OF_TIME[short])
    kept = {name: getattr(plan_solve, name) for name in names}
    plan_solve.LP_ROUTE_PAIRS = -1  # every instance takes the first-order route
    setattr(plan_solve, SHORT_OF_TIME[short], math.inf)
    try:
        found = solve_by_relaxation(
            pairs, np.zeros(0, dtype=np.int64), math.inf, time.perf_counter() + 2.0, workers=1
        )
    finally:
        for name, value in kept.items():
            setattr(plan_solve, name, value)
    chosen = found.chosen
    assert_fits(pairs, chosen)
    assert int(pairs.value[chosen].sum()) == optimum <= found.bound + 1e-6


@settings(max_examples=40, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
)
def test_the_weighted_bound_without_time_counts_every_family_with_a_place(
    requests: list[PlacementRequest], facilities: list[FacilityState]
) -> None:
    """With its deadline already past, the bound on risk-weighted placements takes no
    priced step: it is the weight of every family with at least one feasible place, and
    still no plan places more."""
    import time

    from solver.plan_bounds import placements_bound
    from solver.plan_pairs import pair_arrays
    from solver.plan_solve import no_prices

    instance = _instance(requests, facilities)
    found = candidate_arrays(instance)[0]
    pairs = pair_arrays(instance, found)
    past = time.perf_counter() - 1.0
    with_a_place = {key for key, places in found.items() if len(places.scores)}
    weights = {d.key: RISK_WEIGHT[d.request.risk] for d in instance.demands}
    expected = sum(weights[key] for key in with_a_place)
    assert placements_bound(pairs, no_prices(pairs), 0, deadline=past) == expected
    assert expected >= best_weighted_placements(instance)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
    one_region=st.booleans(),
)
def test_improving_by_regions_keeps_the_plan_valid_and_never_worse(
    requests: list[PlacementRequest], facilities: list[FacilityState], one_region: bool
) -> None:
    """From the worst start (nothing placed), each region's step keeps every capacity and
    family whole and never loses value; with every facility in one region, the one
    neighbourhood is the whole instance and the result is the optimum."""
    import time

    from solver.plan_neighbourhoods import improve_by_regions
    from solver.plan_pairs import pair_arrays

    if one_region:
        facilities = [replace(f, region=REGIONS[0]) for f in facilities]
    instance = _instance(requests, facilities)
    pairs = pair_arrays(instance, candidate_arrays(instance)[0])
    start = np.zeros(0, dtype=np.int64)
    chosen = improve_by_regions(pairs, start, time.perf_counter() + 0.4, workers=1)
    assert_fits(pairs, chosen)
    value = int(pairs.value[chosen].sum())
    assert 0 <= value <= brute_force(instance)
    if one_region:
        assert value == brute_force(instance)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
)
def test_the_relaxation_path_gives_valid_plans_and_true_bounds(
    requests: list[PlacementRequest], facilities: list[FacilityState]
) -> None:
    """What instances too large for the exact model go through: the LP relaxation and its
    rounding. The rounded plan keeps every capacity and never beats the optimum; the bound
    never falls below it."""
    import time

    from solver.plan_pairs import pair_arrays
    from solver.plan_solve import solve_by_relaxation

    instance = _instance(requests, facilities)
    pairs = pair_arrays(instance, candidate_arrays(instance)[0])
    optimum = brute_force(instance)
    found = solve_by_relaxation(
        pairs,
        np.zeros(0, dtype=np.int64),
        float("inf"),
        time.perf_counter() + 1.5,
        workers=1,
        gap_tolerance=0.0,
    )
    chosen, bound = found.chosen, found.bound
    assert_fits(pairs, chosen)
    assert int(pairs.value[chosen].sum()) <= optimum <= bound + 1e-6
    # with at most four facilities the second rounding step sees every pair: it is exact
    assert int(pairs.value[chosen].sum()) == optimum


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=4),
    facilities=st.lists(facility, min_size=1, max_size=4),
    prices=st.lists(st.floats(0, 40_000), min_size=8, max_size=8),
)
def test_any_capacity_prices_bound_the_optimum(
    requests: list[PlacementRequest], facilities: list[FacilityState], prices: list[float]
) -> None:
    import time

    from solver.plan_bounds import knapsack_bound, lp_relaxation, priced_bound
    from solver.plan_pairs import pair_arrays

    instance = _instance(requests, facilities)
    pairs = pair_arrays(instance, candidate_arrays(instance)[0])
    places = len(pairs.units)
    optimum = brute_force(instance)
    unit_price = np.asarray(prices[:places])
    bed_price = np.asarray(prices[4 : 4 + places])
    assert priced_bound(pairs, unit_price, bed_price) >= optimum - 1e-6
    relaxation = lp_relaxation(pairs, np.arange(min(1, len(pairs.value))), deadline=1e18)
    assert relaxation.bound >= optimum - 1e-6
    # prices on families alone, each facility then a knapsack: never below the optimum,
    # and at the LP's own prices never above the LP bound
    family_price = np.asarray((prices * 2)[: len(pairs.keys)])
    knapsack = knapsack_bound(pairs, family_price, deadline=time.perf_counter() + 60)
    assert knapsack is not None and knapsack >= optimum - 1e-6
    at_lp = knapsack_bound(pairs, relaxation.family_price, deadline=time.perf_counter() + 60)
    slack = 1e-6 * abs(relaxation.bound) + 0.01  # GLOP works to a tolerance
    assert at_lp is not None and optimum - 1e-6 <= at_lp <= relaxation.bound + slack


@settings(max_examples=100, deadline=None)
@given(
    requests=st.lists(any_request, min_size=1, max_size=5),
    facilities=st.lists(any_facility, min_size=1, max_size=8),
    avoid=st.sets(st.sampled_from(REGIONS[:6]), max_size=2),
    languages=st.sets(st.sampled_from(["hu", "en", "uk"]), max_size=2),
)
def test_vectorised_candidates_equal_the_reference(
    requests: list[PlacementRequest],
    facilities: list[FacilityState],
    avoid: set[str],
    languages: set[str],
) -> None:
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
    # and the one-family ranking, over the same facilities, offers the same places in the
    # same order to a family the plan neither limits nor gives a bonus
    usable = {f.id for f in instance.facilities} - instance.excluded_facility_ids
    for demand in demands:
        if demand.allowed_facility_ids is not None or demand.bonus:
            continue
        ranking = rank(demand.request, instance.facilities, NETWORK, now=NOW, limit=10**9)
        ranked = [o for o in ranking.options if o.facility_id in usable]
        assert [c.facility_id for c in fast[demand.key]] == [o.facility_id for o in ranked]
        assert [c.score for c in fast[demand.key]] == pytest.approx(
            [o.score for o in ranked], abs=0.011
        )
