"""The largest-unit rule from the registry to the placement: a family shares one unit, so a
house whose free beds are spread over small units is not offered to a family larger than
its largest unit, however many beds it has free in all."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import Accounts
from tests.placement_support import Desk, family
from tests.session_support import use_page_session

MOTHER_AND_FIVE = family(
    children=((2, "female"), (4, "female"), (6, "female"), (8, "female"), (9, "female"))
)
MOTHER_AND_TWO = family(children=((4, "female"), (6, "female")))
TOO_SMALL = "no unit has a bed for every member of the family"


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def test_the_registry_keeps_and_checks_the_largest_unit(
    desk: Desk, client: TestClient[Any]
) -> None:
    fid = desk.facility(2, 6, name="Two small flats", total_units=2, total_beds=6)
    path = f"/api/v1/facilities/{fid}"
    assert client.get(path, headers=desk.admin).json()["largest_unit_beds"] is None

    changed = client.patch(path, json={"largest_unit_beds": 3}, headers=desk.admin)
    assert changed.status_code == 200, changed.text
    assert client.get(path, headers=desk.admin).json()["largest_unit_beds"] == 3

    for wrong in (0, 7, "three"):
        refused = client.patch(path, json={"largest_unit_beds": wrong}, headers=desk.admin)
        assert refused.status_code == 422, refused.text
        assert "largest_unit_beds" in refused.text
    assert client.get(path, headers=desk.admin).json()["largest_unit_beds"] == 3

    cleared = client.patch(path, json={"largest_unit_beds": None}, headers=desk.admin)
    assert cleared.status_code == 200
    assert client.get(path, headers=desk.admin).json()["largest_unit_beds"] is None


def test_a_family_larger_than_every_unit_is_not_offered_the_house(desk: Desk) -> None:
    small_units = desk.facility(
        2, 6, name="Two flats of three", total_units=2, total_beds=6, largest_unit_beds=3
    )
    roomy = desk.facility(1, 6, name="One flat of six", total_units=1, total_beds=6)

    big = desk.match(MOTHER_AND_FIVE)
    assert [o["facility_id"] for o in big["options"]] == [roomy]
    assert big["excluded"] == {"unit_too_small": 1}
    assert big["excluded_reasons"]["unit_too_small"] == TOO_SMALL

    # a family that fits one unit is offered both
    offered = {o["facility_id"] for o in desk.match(MOTHER_AND_TWO)["options"]}
    assert offered == {small_units, roomy}

    refused = desk.hold(small_units, MOTHER_AND_FIVE)
    assert refused.status_code == 422, refused.text
    assert TOO_SMALL in refused.json()["error"]["message"]
    assert desk.free(small_units) == (2, 6)  # nothing held
    assert desk.hold(small_units, MOTHER_AND_TWO).status_code == 201


def test_a_batch_plan_never_puts_a_family_into_a_unit_too_small(
    desk: Desk, client: TestClient[Any]
) -> None:
    small_units = desk.facility(
        3, 9, name="Three flats of three", total_units=3, total_beds=9, largest_unit_beds=3
    )
    response = client.post(
        "/api/v1/plans/batch",
        json={"requests": [MOTHER_AND_FIVE, MOTHER_AND_TWO]},
        headers=desk.counsellor,
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert [(a["key"], a["facility_id"]) for a in plan["assignments"]] == [("1", small_units)]
    assert [u["key"] for u in plan["unplaced"]] == ["0"]
    assert TOO_SMALL in plan["unplaced"][0]["reason"]
    assert plan["unplaced"][0]["code"] == "no_place_fits"


def test_the_admin_page_shows_the_largest_unit(
    desk: Desk, client: TestClient[Any], admin: dict[str, str]
) -> None:
    desk.facility(1, 3, name="Flats of three", total_units=2, total_beds=6, largest_unit_beds=3)
    desk.facility(1, 3, name="No limit house")
    use_page_session(client, admin["Authorization"])
    page = client.get("/facilities")
    assert page.status_code == 200
    rows = {
        row.split("<td>", 2)[1].split("</td>")[0]: row
        for row in page.text.split('<tr data-facility-id="')[1:]
    }
    assert '<td class="num largest-unit">3 beds</td>' in rows["Flats of three"]
    assert '<td class="num largest-unit">\u2013</td>' in rows["No limit house"]  # a dash
