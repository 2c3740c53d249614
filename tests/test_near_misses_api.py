"""``POST /api/v1/matches`` with few places: the near misses (one bendable rule away, with
room) and the stale fits (every rule but capacity, a stale report), always present and
empty when there are places enough; and the kinds named by their labels in the reasons."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk, family

ISSUE = family(children=((15, "male"), (8, "female")), risk="high", avoid_regions=["Budapest"])


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _secret(desk: Desk, name: str, free_units: int = 1, free_beds: int = 4, **fields: Any) -> int:
    return desk.facility(
        free_units, free_beds, name=name, **{"kind": "secret_shelter", "region": "Zala", **fields}
    )


def test_the_issues_family_gets_the_houses_that_could_bend_the_boys_limit(desk: Desk) -> None:
    fid = _secret(desk, "Boys to 14", boys_max_age=14)
    _secret(desk, "In the danger zone", boys_max_age=None, region="Pest")
    desk.facility(1, 4, name="Crisis centre", boys_max_age=None)  # not for high risk
    desk.report(_secret(desk, "Full", boys_max_age=None), 0, 0)  # full, by a fresh report
    _secret(desk, "Boys to 14, two beds", 1, 2, boys_max_age=14)  # no bed for all three
    result = desk.match(ISSUE)
    assert result["options"] == [] and result["feasible"] == 0
    assert result["near_misses"] == [
        {
            "facility_id": fid,
            "name": "Boys to 14",
            "kind": "secret_shelter",
            "region": "Zala",
            "stale": False,
            "rule": "boys_age",
            "message": "a son is 15; this house takes boys up to 14",
        }
    ]
    assert result["stale_fits"] == []


def test_stale_places_that_fit_but_for_capacity_are_named(desk: Desk, clock: TestClock) -> None:
    stale = _secret(desk, "Stale and full", 0, 0, boys_max_age=None)  # never reported
    reported = _secret(desk, "Reported full", 1, 4, boys_max_age=None)
    desk.report(reported, 0, 0)
    result = desk.match(ISSUE)
    assert result["stale_fits"] == [
        {
            "facility_id": stale,
            "name": "Stale and full",
            "kind": "secret_shelter",
            "region": "Zala",
            "stale": True,
        }
    ]
    clock.advance(hours=25)  # now the other report is stale too
    assert [s["facility_id"] for s in desk.match(ISSUE)["stale_fits"]] == [stale, reported]


def test_with_three_places_the_lists_are_there_and_empty(desk: Desk) -> None:
    for index in range(3):
        _secret(desk, f"Fits {index}", boys_max_age=None)
    _secret(desk, "Boys to 14", boys_max_age=14)
    result = desk.match(ISSUE)
    assert result["feasible"] == 3
    assert result["near_misses"] == [] and result["stale_fits"] == []


def test_a_medium_risk_family_may_ask_a_house_for_standard_risk_only(desk: Desk) -> None:
    fid = desk.facility(1, 4, name="Halfway", kind="halfway_house", boys_max_age=None)
    (near,) = desk.match(family(risk="medium"))["near_misses"]
    assert (near["facility_id"], near["rule"]) == (fid, "kind_not_for_risk")
    assert near["message"] == (
        "the family is at medium risk; this house (Halfway house) takes standard-risk families only"
    )


def test_reasons_name_the_kind_by_its_label(desk: Desk) -> None:
    desk.facility(1, 4, name="Centre")
    (option,) = desk.match(family())["options"]
    assert option["reasons"][0] == "Crisis centre, for a standard-risk family (+20)"
