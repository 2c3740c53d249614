"""Stays: the clock per kind, residents by case code, departures, transfers along the tiers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _place(desk: Desk, fid: int) -> dict[str, Any]:
    hold = desk.hold(fid)
    assert hold.status_code == 201, hold.text
    confirmed = desk.confirm(hold.json()["hold_id"], fid)
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, Any] = confirmed.json()
    return body


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400


def test_confirmation_starts_the_clock_of_the_kind(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    crisis = desk.facility(2, 6)
    placement = _place(desk, crisis)
    assert len(placement["case_code"]) == 9 and placement["days_left"] == 56
    assert _days(placement["started_at"], placement["limit_at"]) == 56
    clock.advance(days=50, hours=1)
    residents = client.get(
        f"/api/v1/facilities/{crisis}/residents", headers=desk.staff[crisis]
    ).json()
    assert [(r["case_code"], r["days_left"], r["persons"]) for r in residents] == [
        (placement["case_code"], 6, 2)
    ]
    other = desk.facility(1, 3, name="Other")
    assert (
        client.get(f"/api/v1/facilities/{crisis}/residents", headers=desk.staff[other]).status_code
        == 403
    )


def test_transfer_to_the_next_tier_starts_a_new_clock_and_frees_the_first_place(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    crisis = desk.facility(2, 6, total_units=2, total_beds=6)
    secret = desk.facility(1, 4, kind="secret_shelter", name="Secret", region="Zala")
    first = _place(desk, crisis)
    assert desk.reported(crisis) == (1, 4)
    clock.advance(days=30)
    moved = client.post(
        f"/api/v1/placements/{first['placement_id']}/transfer",
        json={"facility_id": secret},
        headers=desk.staff[crisis],
    )
    assert moved.status_code == 201, moved.text
    duplicate = client.post(
        f"/api/v1/placements/{first['placement_id']}/transfer",
        json={"facility_id": secret},
        headers=desk.counsellor,
    )
    assert duplicate.status_code == 409
    arrived = desk.confirm(moved.json()["hold_id"], secret).json()
    assert arrived["days_left"] == 182  # a secret shelter has its own clock
    old = client.get(
        f"/api/v1/placements/{first['placement_id']}", headers=desk.staff[crisis]
    ).json()
    assert old["state"] == "transferred"
    assert desk.reported(crisis) == (2, 6)
    assert (
        client.get(f"/api/v1/facilities/{crisis}/residents", headers=desk.staff[crisis]).json()
        == []
    )
    new = client.get(f"/api/v1/facilities/{secret}/residents", headers=desk.staff[secret]).json()
    assert new[0]["transferred_from"] == first["placement_id"]


def test_time_in_crisis_centres_adds_up(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    first_centre = desk.facility(1, 3, name="Centre A")
    second_centre = desk.facility(1, 3, name="Centre B", region="Somogy")
    first = _place(desk, first_centre)
    clock.advance(days=20)
    hold = client.post(
        f"/api/v1/placements/{first['placement_id']}/transfer",
        json={"facility_id": second_centre},
        headers=desk.counsellor,
    ).json()
    second = desk.confirm(hold["hold_id"], second_centre).json()
    assert second["days_left"] == 36
    assert (
        client.get(f"/api/v1/placements/{second['placement_id']}", headers=desk.counsellor).json()[
            "prior_days"
        ]
        == 20
    )


def test_strict_operators_never_move_a_family_back_a_tier_flexible_ones_may(
    desk: Desk, client: TestClient[Any]
) -> None:
    secret = desk.facility(1, 3, kind="secret_shelter", operator="House Op", name="House secret")
    crisis = desk.facility(1, 3, operator="House Op", name="House crisis")
    elsewhere = desk.facility(1, 3, operator="Someone Else", name="Other crisis")
    placement = _place(desk, secret)
    back = client.post(
        f"/api/v1/placements/{placement['placement_id']}/transfer",
        json={"facility_id": crisis},
        headers=desk.counsellor,
    )
    assert back.status_code == 422 and "back a tier" in back.json()["error"]["message"]

    operators = client.get("/api/v1/operators", headers=desk.admin).json()
    house = next(op for op in operators if op["name"] == "House Op")
    assert house["flexible_transfers"] is False and house["facilities"] == 2
    assert (
        client.patch(
            f"/api/v1/operators/{house['id']}",
            json={"flexible_transfers": True},
            headers=desk.counsellor,
        ).status_code
        == 403
    )
    switched = client.patch(
        f"/api/v1/operators/{house['id']}", json={"flexible_transfers": True}, headers=desk.admin
    )
    assert switched.json()["flexible_transfers"] is True

    inside = client.post(
        f"/api/v1/placements/{placement['placement_id']}/transfer",
        json={"facility_id": crisis},
        headers=desk.counsellor,
    )
    assert inside.status_code == 201, inside.text
    client.delete(f"/api/v1/holds/{inside.json()['hold_id']}", headers=desk.counsellor)
    outside = client.post(
        f"/api/v1/placements/{placement['placement_id']}/transfer",
        json={"facility_id": elsewhere},
        headers=desk.counsellor,
    )
    assert outside.status_code == 422  # flexibility stops at the operator's own houses


def test_only_own_staff_record_departures_and_transfers(
    desk: Desk, client: TestClient[Any]
) -> None:
    home = desk.facility(1, 3)
    other = desk.facility(1, 3, name="Other", region="Vas")
    placement = _place(desk, home)
    url = f"/api/v1/placements/{placement['placement_id']}"
    assert (
        client.post(
            f"{url}/depart", json={"reason": "other"}, headers=desk.staff[other]
        ).status_code
        == 403
    )
    assert (
        client.post(f"{url}/depart", json={"reason": "other"}, headers=desk.counsellor).status_code
        == 403
    )
    assert (
        client.post(
            f"{url}/transfer", json={"facility_id": other}, headers=desk.staff[other]
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"{url}/depart", json={"reason": "gone fishing"}, headers=desk.staff[home]
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{url}/depart", json={"reason": "returned_to_partner"}, headers=desk.staff[home]
        ).status_code
        == 200
    )
