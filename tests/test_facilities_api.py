"""The facility registry through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import Accounts, create_facility, facility_body

CONTRACT_FIELDS = {
    "id",
    "name",
    "kind",
    "operator",
    "region",
    "total_units",
    "total_beds",
    "boys_max_age",
    "admits_adult_men",
    "wheelchair_units",
    "accepts_pets",
    "languages",
    "night_admission",
    "accepts_reentry",
    "largest_unit_beds",
    "meeting_point",
    "free_units",
    "free_beds",
    "capacity_reported_at",
    "stale",
    "reported_free_units",
    "reported_free_beds",
    "held_units",
    "held_beds",
}


def test_admin_creates_and_counsellor_reads(
    client: TestClient[Any], admin: dict[str, str], counsellor: dict[str, str]
) -> None:
    created = create_facility(client, admin, name="Hársfa Krízisközpont", boys_max_age=None)
    assert set(created) == CONTRACT_FIELDS
    assert created["boys_max_age"] is None
    # a new facility has not reported yet: nothing free, and flagged as stale
    assert (created["free_units"], created["free_beds"], created["stale"]) == (0, 0, True)
    assert created["capacity_reported_at"] is None

    listed = client.get("/api/v1/facilities", headers=counsellor)
    assert listed.status_code == 200
    assert [f["name"] for f in listed.json()] == ["Hársfa Krízisközpont"]
    one = client.get(f"/api/v1/facilities/{created['id']}", headers=counsellor)
    assert one.json() == created


def test_list_filters_by_kind_region_and_free_units(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    a = create_facility(client, admin, name="A", region="Baranya")
    create_facility(
        client,
        admin,
        name="B",
        region="Zala",
        kind="halfway_house",
        total_units=1,
        total_beds=3,
        wheelchair_units=0,
    )
    staff = accounts.headers("staff-a", "shelter_staff", [a["id"]])
    client.put(
        f"/api/v1/facilities/{a['id']}/capacity",
        json={"free_units": 1, "free_beds": 3},
        headers=staff,
    )

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v1/facilities{query}", headers=admin)
        assert response.status_code == 200, response.text
        return [f["name"] for f in response.json()]

    assert names("?kind=halfway_house") == ["B"]
    assert names("?region=Baranya") == ["A"]
    assert names("?with_free_units=true") == ["A"]
    assert sorted(names("")) == ["A", "B"]


def test_admin_patches_and_the_whole_entry_is_revalidated(
    client: TestClient[Any], admin: dict[str, str]
) -> None:
    created = create_facility(client, admin)
    response = client.patch(
        f"/api/v1/facilities/{created['id']}",
        json={"languages": ["hu", "uk"], "boys_max_age": None, "operator": "New Operator"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["languages"], body["boys_max_age"], body["operator"]) == (
        ["hu", "uk"],
        None,
        "New Operator",
    )
    assert body["name"] == created["name"]

    # a crisis centre can never admit adult men, whatever the patch says
    refused = client.patch(
        f"/api/v1/facilities/{created['id']}", json={"admits_adult_men": True}, headers=admin
    )
    assert refused.status_code == 422
    assert "never admits adult men" in refused.json()["error"]["message"]
    assert (
        client.get(f"/api/v1/facilities/{created['id']}", headers=admin).json()["admits_adult_men"]
        is False
    )


def test_totals_cannot_drop_below_reported_free_places(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    created = create_facility(client, admin, total_units=4, total_beds=12)
    staff = accounts.headers("staff", "shelter_staff", [created["id"]])
    assert (
        client.put(
            f"/api/v1/facilities/{created['id']}/capacity",
            json={"free_units": 3, "free_beds": 9},
            headers=staff,
        ).status_code
        == 200
    )
    refused = client.patch(
        f"/api/v1/facilities/{created['id']}",
        json={"total_units": 2, "total_beds": 6},
        headers=admin,
    )
    assert refused.status_code == 422
    assert "free places" in refused.json()["error"]["message"]
    after = client.get(f"/api/v1/facilities/{created['id']}", headers=admin).json()
    assert (after["total_units"], after["total_beds"], after["free_units"]) == (4, 12, 3)


@pytest.mark.parametrize(
    ("overrides", "field", "status"),
    [
        ({"kind": "hotel"}, "kind", 422),
        ({"total_units": -1}, "total_units", 422),
        ({"total_units": 0}, "total_units", 422),
        ({"total_units": 5, "total_beds": 3}, "total_beds", 422),
        ({"total_beds": 10_000_000}, "total_beds", 422),
        ({"region": "Atlantis"}, "region", 422),
        ({"boys_max_age": 40}, "boys_max_age", 422),
        ({"wheelchair_units": 9}, "wheelchair_units", 422),
        ({"languages": ["HU"]}, "languages", 422),
        ({"languages": ["hu", "hu"]}, "languages", 422),
        ({"name": ""}, "name", 422),
        ({"meeting_point": "   "}, "meeting_point", 422),
        ({"total_units": "four"}, "total_units", 422),
        ({"accepts_pets": "yes"}, "accepts_pets", 422),
        ({"total_units": True}, "total_units", 422),
        ({"colour": "green"}, "colour", 422),
        ({"admits_adult_men": True}, "admits_adult_men", 422),
    ],
)
def test_bad_facility_input_is_a_clear_422_and_stores_nothing(
    client: TestClient[Any],
    admin: dict[str, str],
    overrides: dict[str, Any],
    field: str,
    status: int,
) -> None:
    response = client.post("/api/v1/facilities", json=facility_body(**overrides), headers=admin)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["message"]
    assert client.get("/api/v1/facilities", headers=admin).json() == []


def test_malformed_and_oversized_bodies_are_4xx(
    client: TestClient[Any], admin: dict[str, str]
) -> None:
    headers = {**admin, "content-type": "application/json"}
    truncated = client.post("/api/v1/facilities", content=b'{"name": "x', headers=headers)
    assert truncated.status_code == 400
    assert truncated.json()["error"]["message"].startswith("malformed request")
    not_object = client.post("/api/v1/facilities", content=b"[1, 2]", headers=headers)
    assert not_object.status_code == 422
    huge = client.post(
        "/api/v1/facilities",
        content=b'{"name": "' + b"x" * 2_000_000 + b'"}',
        headers=headers,
    )
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    assert client.get("/api/v1/facilities", headers=admin).json() == []


def test_unknown_facility_is_404_and_unknown_route_is_json(
    client: TestClient[Any], admin: dict[str, str]
) -> None:
    missing = client.get("/api/v1/facilities/999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    no_route = client.get("/api/v1/nothing-here", headers=admin)
    assert no_route.status_code == 404
    assert no_route.json()["error"]["status"] == 404


def test_only_admins_write_the_registry(
    client: TestClient[Any], admin: dict[str, str], counsellor: dict[str, str], accounts: Accounts
) -> None:
    created = create_facility(client, admin)
    staff = accounts.headers("staff", "shelter_staff", [created["id"]])
    police = accounts.headers("police", "police")
    for headers in (counsellor, staff, police):
        assert (
            client.post(
                "/api/v1/facilities", json=facility_body(name="Z"), headers=headers
            ).status_code
            == 403
        )
        assert (
            client.patch(
                f"/api/v1/facilities/{created['id']}", json={"name": "Renamed"}, headers=headers
            ).status_code
            == 403
        )
    assert client.post("/api/v1/facilities", json=facility_body(name="Z")).status_code == 401
    names = [f["name"] for f in client.get("/api/v1/facilities", headers=admin).json()]
    assert names == [created["name"]]
