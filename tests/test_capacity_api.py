"""Live capacity reports: own staff only, every report kept, staleness by the clock."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import Accounts, TestClock, create_facility


def _facility(client: TestClient[Any], headers: dict[str, str], facility_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/facilities/{facility_id}", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_own_staff_report_is_shown_with_its_time_and_kept(
    client: TestClient[Any],
    admin: dict[str, str],
    counsellor: dict[str, str],
    accounts: Accounts,
    clock: TestClock,
) -> None:
    facility = create_facility(client, admin, total_units=4, total_beds=12)
    staff = accounts.headers("anna", "shelter_staff", [facility["id"]])

    first = client.put(
        f"/api/v1/facilities/{facility['id']}/capacity",
        json={"free_units": 2, "free_beds": 5},
        headers=staff,
    )
    assert first.status_code == 200, first.text
    assert first.json()["reported_by"] == "anna"
    shown = _facility(client, counsellor, facility["id"])
    assert (shown["free_units"], shown["free_beds"], shown["stale"]) == (2, 5, False)
    assert shown["capacity_reported_at"].startswith(clock().strftime("%Y-%m-%dT%H:%M"))

    clock.advance(hours=3)
    client.put(
        f"/api/v1/facilities/{facility['id']}/capacity",
        json={"free_units": 1, "free_beds": 2},
        headers=staff,
    )
    history = client.get(f"/api/v1/facilities/{facility['id']}/capacity", headers=staff).json()
    assert [(r["free_units"], r["free_beds"], r["reported_by"]) for r in history] == [
        (1, 2, "anna"),
        (2, 5, "anna"),
    ]
    assert history[0]["reported_at"] > history[1]["reported_at"]


def test_report_becomes_stale_after_the_limit(
    client: TestClient[Any],
    admin: dict[str, str],
    counsellor: dict[str, str],
    accounts: Accounts,
    clock: TestClock,
) -> None:
    facility = create_facility(client, admin)
    staff = accounts.headers("anna", "shelter_staff", [facility["id"]])
    client.put(
        f"/api/v1/facilities/{facility['id']}/capacity",
        json={"free_units": 1, "free_beds": 3},
        headers=staff,
    )
    clock.advance(hours=23, minutes=59)
    assert _facility(client, counsellor, facility["id"])["stale"] is False
    clock.advance(minutes=2)
    stale = _facility(client, counsellor, facility["id"])
    # stale is flagged, the numbers are still shown
    assert (stale["stale"], stale["free_units"]) == (True, 1)


def test_staff_of_another_facility_cannot_report_and_nothing_changes(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    mine = create_facility(client, admin, name="Mine")
    theirs = create_facility(client, admin, name="Theirs")
    staff_mine = accounts.headers("mine", "shelter_staff", [mine["id"]])
    staff_theirs = accounts.headers("theirs", "shelter_staff", [theirs["id"]])
    assert (
        client.put(
            f"/api/v1/facilities/{theirs['id']}/capacity",
            json={"free_units": 1, "free_beds": 1},
            headers=staff_theirs,
        ).status_code
        == 200
    )

    attempt = client.put(
        f"/api/v1/facilities/{theirs['id']}/capacity",
        json={"free_units": 4, "free_beds": 12},
        headers=staff_mine,
    )
    assert attempt.status_code == 403
    assert attempt.json()["error"]["code"] == "forbidden"
    assert (
        client.get(f"/api/v1/facilities/{theirs['id']}/capacity", headers=staff_mine).status_code
        == 403
    )
    after = _facility(client, admin, theirs["id"])
    assert (after["free_units"], after["free_beds"]) == (1, 1)
    history = client.get(f"/api/v1/facilities/{theirs['id']}/capacity", headers=admin).json()
    assert len(history) == 1


def test_admin_and_counsellor_cannot_report_capacity(
    client: TestClient[Any], admin: dict[str, str], counsellor: dict[str, str]
) -> None:
    facility = create_facility(client, admin)
    for headers in (admin, counsellor):
        response = client.put(
            f"/api/v1/facilities/{facility['id']}/capacity",
            json={"free_units": 1, "free_beds": 1},
            headers=headers,
        )
        assert response.status_code == 403
    assert _facility(client, admin, facility["id"])["capacity_reported_at"] is None


def test_impossible_reports_are_422_and_change_nothing(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin, total_units=4, total_beds=12)
    staff = accounts.headers("anna", "shelter_staff", [facility["id"]])
    url = f"/api/v1/facilities/{facility['id']}/capacity"
    assert client.put(url, json={"free_units": 2, "free_beds": 4}, headers=staff).status_code == 200
    for body, needle in [
        ({"free_units": 5, "free_beds": 5}, "free_units"),
        ({"free_units": 1, "free_beds": 13}, "free_beds"),
        ({"free_units": -1, "free_beds": 0}, "free_units"),
        ({"free_units": 3, "free_beds": 2}, "at least one free bed"),
        ({"free_units": 0, "free_beds": 2}, "without a free unit"),
        ({"free_units": "2", "free_beds": 4}, "free_units"),
        ({"free_units": 2}, "free_beds"),
        ({"free_units": 2, "free_beds": 4, "colour": "green"}, "colour"),
    ]:
        response = client.put(url, json=body, headers=staff)
        assert response.status_code == 422, (body, response.text)
        assert needle in response.json()["error"]["message"], response.text
    after = _facility(client, admin, facility["id"])
    assert (after["free_units"], after["free_beds"]) == (2, 4)
    assert len(client.get(url, headers=staff).json()) == 1


def test_unknown_facility_capacity_is_404_and_another_facility_is_403_for_staff(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin)
    other = create_facility(client, admin, name="Another House")
    staff = accounts.headers("anna", "shelter_staff", [facility["id"]])
    report = {"free_units": 0, "free_beds": 0}
    assert (
        client.put("/api/v1/facilities/9999/capacity", json=report, headers=staff).status_code
        == 404
    )
    assert (
        client.put(
            f"/api/v1/facilities/{other['id']}/capacity", json=report, headers=staff
        ).status_code
        == 403
    )
    assert client.get("/api/v1/facilities/9999/capacity", headers=admin).status_code == 404
