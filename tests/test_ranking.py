"""The pure ranking: every hard rule excludes, the score orders, the same state gives the
same answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.domain.rules import load_rules
from broker.settings import PROJECT_ROOT
from solver.feasibility import REASONS, exclusion_reason, prepare
from solver.instance import FacilityState, Family, Needs, Person, PlacementRequest
from solver.ranking import rank
from tests.solver_support import plain_facility

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
NETWORK = load_rules(PROJECT_ROOT / "data").network(stale_after_hours=24)
MOTHER = Person(age=31, male=False)
GIRL = Person(age=6, male=False)
BASE = plain_facility(
    id=1,
    name="Base",
    kind="crisis_centre",
    region="Baranya",
    free_units=2,
    free_beds=6,
    boys_max_age=12,
    admits_adult_men=False,
    wheelchair_units=1,
    accepts_pets=True,
    languages=frozenset({"hu", "en"}),
    night_admission=True,
    accepts_reentry=True,
    reported_at=NOW - timedelta(hours=2),
)
REQUEST = PlacementRequest(family=Family(adults=(MOTHER,), children=(GIRL,)))


def reason(request: PlacementRequest, facility: FacilityState) -> str | None:
    return exclusion_reason(prepare(request, NETWORK), facility, NETWORK)


@pytest.mark.parametrize(
    ("request_change", "facility_change", "expected"),
    [
        ({"risk": "high"}, {}, "kind_not_for_risk"),
        ({}, {"kind": "trafficking_home"}, "kind_not_for_family"),
        (
            {"family": Family(adults=(MOTHER,), children=())},
            {"kind": "temporary_home_mothers"},
            "kind_not_for_family",
        ),
        ({"avoid_regions": frozenset({"Baranya"})}, {}, "danger_zone"),
        ({"avoid_regions": frozenset({"Tolna"})}, {}, None),  # Pécs-Szekszárd 46 km > 40 km
        ({"avoid_regions": frozenset({"Tolna"}), "avoid_within_km": 50}, {}, "danger_zone"),
        ({"family": Family(adults=(MOTHER, Person(35, True)), children=(GIRL,))}, {}, "adult_men"),
        (
            {"family": Family(adults=(MOTHER, Person(35, True)), children=(GIRL,))},
            {"kind": "temporary_home_families", "admits_adult_men": True},
            None,
        ),
        # the facility's own flag cannot override a kind that excludes men by law
        (
            {"family": Family(adults=(MOTHER, Person(35, True)), children=(GIRL,))},
            {"admits_adult_men": True},
            "adult_men",
        ),
        ({"family": Family(adults=(MOTHER,), children=(Person(13, True),))}, {}, "boys_age"),
        ({"family": Family(adults=(MOTHER,), children=(Person(12, True),))}, {}, None),
        ({"needs": Needs(wheelchair=True)}, {"wheelchair_units": 0}, "wheelchair"),
        ({"needs": Needs(pets=True)}, {"accepts_pets": False}, "pets"),
        ({"needs": Needs(languages=frozenset({"uk"}))}, {}, "language"),
        ({"needs": Needs(languages=frozenset({"en"}))}, {}, None),
        ({"needs": Needs(night_arrival=True)}, {"night_admission": False}, "night_admission"),
        ({"reentry": True}, {"accepts_reentry": False}, "reentry"),
        ({}, {"free_units": 0, "free_beds": 0}, "no_free_unit"),
        (
            {"family": Family(adults=(MOTHER,), children=(GIRL, GIRL, GIRL))},
            {"free_beds": 3},
            "no_free_unit",
        ),
        ({"risk": "high"}, {"kind": "secret_shelter"}, None),
        ({"trafficking_victim": True}, {"kind": "trafficking_home"}, None),
    ],
)
def test_each_hard_rule(request_change: dict, facility_change: dict, expected: str | None) -> None:
    assert reason(replace(REQUEST, **request_change), replace(BASE, **facility_change)) == expected


def test_default_exclusion_distance_reaches_neighbouring_regions() -> None:
    around_budapest = replace(REQUEST, avoid_regions=frozenset({"Budapest"}))
    assert reason(around_budapest, replace(BASE, region="Pest")) == "danger_zone"
    assert reason(replace(around_budapest, avoid_within_km=0), replace(BASE, region="Pest")) is None


def test_high_risk_goes_only_to_secret_shelters() -> None:
    kinds = {kind: replace(BASE, id=i, kind=kind) for i, kind in enumerate(NETWORK.kinds, start=1)}
    ranking = rank(replace(REQUEST, risk="high"), kinds.values(), NETWORK, now=NOW)
    assert [o.kind for o in ranking.options] == ["secret_shelter"]
    assert ranking.excluded["kind_not_for_risk"] == 5


def test_order_reasons_and_exclusions() -> None:
    preferred = replace(BASE, id=10, region="Zala", name="Preferred")
    plain = replace(BASE, id=11, region="Vas", name="Plain")
    stale = replace(BASE, id=12, region="Zala", name="Stale", reported_at=NOW - timedelta(hours=40))
    secret = replace(BASE, id=13, region="Zala", kind="secret_shelter", name="Secret")
    full = replace(BASE, id=14, free_units=0, free_beds=0)
    boys = replace(BASE, id=15, boys_max_age=3)
    request = replace(
        REQUEST,
        preferred_regions=frozenset({"Zala"}),
        family=Family(adults=(MOTHER,), children=(Person(5, True),)),
    )
    ranking = rank(request, [full, secret, stale, plain, preferred, boys], NETWORK, now=NOW)
    names = [o.name for o in ranking.options]
    assert names[0] == "Preferred"
    assert names.index("Stale") > names.index("Preferred")
    assert names.index("Secret") > names.index("Preferred")
    assert ranking.excluded == {"boys_age": 1, "no_free_unit": 1}
    assert ranking.feasible == 4
    top = ranking.options[0]
    assert any("preferred region (Zala)" in str(text) for text in top.reasons)
    assert top.reason_codes[1] == "preferred"
    stale_option = next(o for o in ranking.options if o.name == "Stale")
    assert stale_option.stale and any("stale" in str(text) for text in stale_option.reasons)
    assert "stale" in stale_option.reason_codes
    secret_option = next(o for o in ranking.options if o.name == "Secret")
    assert any("high-risk" in str(text) for text in secret_option.reasons)
    assert {"secret_short", "secret_kept"} & set(secret_option.reason_codes)
    for option in ranking.options:  # a code beside every reason, the capacity last
        assert len(option.reason_codes) == len(option.reasons)
        assert option.reason_codes[0] == "kind" and option.reason_codes[-1] == "capacity"


def test_secret_buffer_penalty_grows_when_places_are_short() -> None:
    secret = replace(BASE, id=1, kind="secret_shelter", free_units=1, free_beds=4)
    short = rank(REQUEST, [secret], NETWORK, now=NOW).options[0]
    plenty = rank(
        REQUEST, [secret, replace(secret, id=2, free_units=5, free_beds=15)], NETWORK, now=NOW
    ).options
    assert short.score < next(o for o in plenty if o.facility_id == 1).score


facility_strategy = st.builds(
    plain_facility,
    id=st.integers(1, 10_000),
    name=st.just("F"),
    kind=st.sampled_from(sorted(NETWORK.kinds)),
    region=st.sampled_from(sorted(NETWORK.geography.points)),
    free_units=st.integers(0, 4),
    free_beds=st.integers(0, 12),
    boys_max_age=st.one_of(st.none(), st.integers(0, 17)),
    admits_adult_men=st.booleans(),
    wheelchair_units=st.integers(0, 2),
    accepts_pets=st.booleans(),
    languages=st.sets(st.sampled_from(["hu", "en", "uk", "ro"]), min_size=1).map(frozenset),
    night_admission=st.booleans(),
    accepts_reentry=st.booleans(),
    reported_at=st.one_of(st.none(), st.floats(0, 100).map(lambda h: NOW - timedelta(hours=h))),
)
person = st.builds(Person, age=st.integers(0, 17), male=st.booleans())
request_strategy = st.builds(
    PlacementRequest,
    family=st.builds(
        Family,
        adults=st.lists(
            st.builds(Person, age=st.integers(18, 70), male=st.booleans()), min_size=1, max_size=2
        ).map(tuple),
        children=st.lists(person, max_size=4).map(tuple),
    ),
    needs=st.builds(
        Needs,
        wheelchair=st.booleans(),
        pets=st.booleans(),
        languages=st.sets(st.sampled_from(["hu", "en", "uk"]), max_size=2).map(frozenset),
        night_arrival=st.booleans(),
    ),
    risk=st.sampled_from(["standard", "medium", "high"]),
    avoid_regions=st.sets(st.sampled_from(sorted(NETWORK.geography.points)), max_size=2).map(
        frozenset
    ),
    preferred_regions=st.sets(st.sampled_from(sorted(NETWORK.geography.points)), max_size=2).map(
        frozenset
    ),
    reentry=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    request=request_strategy,
    facilities=st.lists(facility_strategy, max_size=30, unique_by=lambda f: f.id),
)
def test_ranking_properties(request: PlacementRequest, facilities: list[FacilityState]) -> None:
    ranking = rank(request, facilities, NETWORK, now=NOW, limit=1000)
    assert ranking.feasible + sum(ranking.excluded.values()) == len(facilities)
    assert set(ranking.excluded) <= set(REASONS)
    by_id = {f.id: f for f in facilities}
    for option in ranking.options:
        facility = by_id[option.facility_id]
        assert reason(request, facility) is None
        assert facility.free_units >= 1 and facility.free_beds >= request.family.persons
        assert facility.region not in request.avoid_regions
        if request.risk == "high":
            assert facility.kind == "secret_shelter"
    scores = [(-o.score, o.facility_id) for o in ranking.options]
    assert scores == sorted(scores)
    assert rank(request, list(reversed(facilities)), NETWORK, now=NOW, limit=1000) == ranking
