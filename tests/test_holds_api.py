"""Holds through the API on both databases: create, 409 and 422, expiry, confirm, decline,
release, re-match, and the capacity sequences of README "Capacity while holds are open"."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from broker.db.engine import make_engine, unit_of_work
from broker.domain.access import Principal, Role
from broker.errors import InvalidInput
from broker.services import holds
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk, family


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def test_hold_returns_meeting_point_and_never_the_address(
    desk: Desk, client: TestClient[Any]
) -> None:
    fid = desk.facility(
        2, 6, meeting_point="Pécs bus station, platform 3, a woman with a red umbrella."
    )
    client.put(
        f"/api/v1/facilities/{fid}/address", json={"address": "Rejtek utca 9."}, headers=desk.admin
    )
    response = desk.hold(fid, ttl_minutes=45)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"hold_id", "expires_at", "meeting_point"}
    assert body["meeting_point"].startswith("Pécs bus station")
    assert "Rejtek" not in response.text
    assert body["expires_at"].startswith("2026-11-21T09:45")
    assert desk.free(fid) == (1, 4)
    listed = client.get("/api/v1/holds", headers=desk.counsellor).json()
    assert [(h["hold_id"], h["state"]) for h in listed] == [(body["hold_id"], "open")]
    assert "Rejtek" not in str(listed)


def test_ttl_default_and_limits(desk: Desk) -> None:
    fid = desk.facility(3, 9)
    assert desk.hold(fid).json()["expires_at"].startswith("2026-11-21T10:30")  # default 90 min
    too_long = desk.hold(fid, ttl_minutes=241)
    assert too_long.status_code == 422 and "ttl_minutes" in too_long.json()["error"]["message"]
    assert desk.hold(fid, ttl_minutes=0).status_code == 422


def test_gone_place_is_409_and_unfit_facility_is_422(desk: Desk) -> None:
    fid = desk.facility(1, 3, boys_max_age=10)
    assert desk.hold(fid).status_code == 201
    gone = desk.hold(fid)
    assert gone.status_code == 409
    assert "gone" in gone.json()["error"]["message"]
    unfit = desk.hold(fid, family(children=((14, "male"),)))
    assert unfit.status_code == 422
    assert "age limit for boys" in unfit.json()["error"]["message"]
    too_big = desk.hold(desk.facility(1, 2), family(children=((3, "female"), (5, "female"))))
    assert too_big.status_code == 409
    missing = desk.hold(9999)
    assert missing.status_code == 404


def test_expiry_is_effective_at_once_for_every_read(
    desk: Desk, clock: TestClock, client: TestClient[Any]
) -> None:
    fid = desk.facility(1, 3)
    hold = desk.hold(fid, ttl_minutes=30).json()
    assert desk.free(fid) == (0, 0)
    clock.advance(minutes=30)
    assert desk.free(fid) == (1, 3)
    assert (
        client.get(f"/api/v1/holds/{hold['hold_id']}", headers=desk.counsellor).json()["state"]
        == "expired"
    )
    late = desk.confirm(hold["hold_id"], fid)
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]
    assert desk.hold(fid).status_code == 201  # the place can be held again at once


def test_only_the_receiving_staff_confirm_or_decline_and_only_counsellors_release(
    desk: Desk, client: TestClient[Any], accounts: Accounts
) -> None:
    fid, other = desk.facility(2, 6), desk.facility(1, 3)
    hold_id = desk.hold(fid).json()["hold_id"]
    for headers in (desk.staff[other], desk.counsellor, desk.admin):
        assert client.post(f"/api/v1/holds/{hold_id}/confirm", headers=headers).status_code == 403
        assert (
            client.post(
                f"/api/v1/holds/{hold_id}/decline", json={"reason": "other"}, headers=headers
            ).status_code
            == 403
        )
    for headers in (desk.staff[fid], desk.admin):
        assert client.delete(f"/api/v1/holds/{hold_id}", headers=headers).status_code == 403
    other_counsellor = accounts.headers("pair", "counsellor")
    assert client.delete(f"/api/v1/holds/{hold_id}", headers=other_counsellor).status_code == 204
    assert (
        client.get(f"/api/v1/holds/{hold_id}", headers=desk.counsellor).json()["state"]
        == "released"
    )
    assert client.delete(f"/api/v1/holds/{hold_id}", headers=desk.counsellor).status_code == 409


def test_decline_with_reason_is_seen_and_rematch_leaves_the_facility_out(
    desk: Desk, client: TestClient[Any]
) -> None:
    first = desk.facility(1, 3, name="First", region="Zala")
    second = desk.facility(1, 3, name="Second", region="Vas")
    body = family(preferred_regions=["Zala"])
    assert [o["facility_id"] for o in desk.match(body)["options"]] == [first, second]
    hold_id = desk.hold(first, body).json()["hold_id"]
    bad = client.post(
        f"/api/v1/holds/{hold_id}/decline", json={"reason": "bored"}, headers=desk.staff[first]
    )
    assert bad.status_code == 422
    declined = client.post(
        f"/api/v1/holds/{hold_id}/decline",
        json={"reason": "risk_too_high", "note": "perpetrator's relative works nearby"},
        headers=desk.staff[first],
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    mine = client.get("/api/v1/holds", headers=desk.counsellor).json()
    assert (mine[0]["state"], mine[0]["decline_reason"]) == ("declined", "risk_too_high")
    again = client.post(f"/api/v1/holds/{hold_id}/rematch", headers=desk.counsellor).json()
    assert [o["facility_id"] for o in again["options"]] == [second]
    assert again["excluded"]["declined_this_family"] == 1
    assert desk.free(first) == (1, 3)


def test_report_hold_report_arrive(desk: Desk, client: TestClient[Any]) -> None:
    fid = desk.facility(2, 6, total_units=4, total_beds=12)
    hold_id = desk.hold(fid, family(children=((4, "female"), (8, "male")))).json()["hold_id"]
    assert desk.free(fid) == (1, 3)
    # the shelter reports again before she arrives: the same empty rooms; the hold stays subtracted once
    desk.report(fid, 2, 6)
    assert desk.free(fid) == (1, 3)
    confirmed = desk.confirm(hold_id, fid)
    assert confirmed.status_code == 200, confirmed.text
    assert desk.reported(fid) == (1, 3) and desk.free(fid) == (1, 3)
    # the next report counts her as occupying; nothing moves
    desk.report(fid, 1, 3)
    assert desk.free(fid) == (1, 3)
    assert (
        client.get(f"/api/v1/holds/{hold_id}", headers=desk.counsellor).json()["state"]
        == "confirmed"
    )


@pytest.mark.parametrize("ending", ["decline", "release", "expire"])
def test_hold_that_ends_without_arrival_gives_the_place_back(
    desk: Desk, client: TestClient[Any], clock: TestClock, ending: str
) -> None:
    fid = desk.facility(1, 3)
    hold_id = desk.hold(fid, ttl_minutes=20).json()["hold_id"]
    assert desk.free(fid) == (0, 0)
    if ending == "decline":
        client.post(
            f"/api/v1/holds/{hold_id}/decline", json={"reason": "no_place"}, headers=desk.staff[fid]
        )
    elif ending == "release":
        client.delete(f"/api/v1/holds/{hold_id}", headers=desk.counsellor)
    else:
        clock.advance(minutes=21)
    assert desk.free(fid) == (1, 3) and desk.reported(fid) == (1, 3)
    assert desk.confirm(hold_id, fid).status_code == 409


def test_report_below_open_holds_never_goes_negative(desk: Desk) -> None:
    fid = desk.facility(1, 3)
    hold_id = desk.hold(fid).json()["hold_id"]
    desk.report(fid, 0, 0)  # a walk-in took the room
    assert desk.free(fid) == (0, 0)
    assert desk.confirm(hold_id, fid).status_code == 200
    assert desk.reported(fid) == (0, 0)


def test_a_report_cannot_free_what_a_resident_occupies_and_departure_frees_it(
    desk: Desk, client: TestClient[Any]
) -> None:
    fid = desk.facility(1, 3, total_units=2, total_beds=6)
    placement = desk.confirm(desk.hold(fid).json()["hold_id"], fid).json()
    assert desk.reported(fid) == (0, 1) and desk.free(fid) == (0, 0)  # a lone bed is not offered
    # everything free although she is still there: refused, and the report is unchanged
    refused = client.put(
        f"/api/v1/facilities/{fid}/capacity",
        json={"free_units": 2, "free_beds": 6},
        headers=desk.staff[fid],
    )
    assert refused.status_code == 409, refused.text
    body = refused.json()["error"]
    assert "1 units and 2 beds" in body["message"]
    assert {d["field"] for d in body["details"]} == {"free_units", "free_beds"}
    assert desk.reported(fid) == (0, 1)
    desk.report(fid, 1, 4)  # what is really free besides her
    left = client.post(
        f"/api/v1/placements/{placement['placement_id']}/depart",
        json={"reason": "independent_housing"},
        headers=desk.staff[fid],
    )
    assert left.status_code == 200 and left.json()["state"] == "departed"
    assert desk.reported(fid) == (2, 6)
    again = client.post(
        f"/api/v1/placements/{placement['placement_id']}/depart",
        json={"reason": "other"},
        headers=desk.staff[fid],
    )
    assert again.status_code == 409


def test_a_decline_note_over_the_limit_is_refused_not_cut(
    desk: Desk, client: TestClient[Any], settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(1, 3)
    hold_id = desk.hold(fid).json()["hold_id"]
    too_long = "x" * (holds.MAX_DECLINE_NOTE + 1)
    over_api = client.post(
        f"/api/v1/holds/{hold_id}/decline",
        json={"reason": "other", "note": too_long},
        headers=desk.staff[fid],
    )
    assert over_api.status_code == 422
    staff = Principal(
        user_id=0, username="s", role=Role.SHELTER_STAFF, facility_ids=frozenset({fid})
    )
    engine = make_engine(settings.database_url, pool_size=1)
    with (
        pytest.raises(InvalidInput, match="at most 300 characters"),
        unit_of_work(engine, audit_key=settings.audit_key_bytes) as session,
    ):
        holds.hold_decline(
            session=session,
            hold_id=hold_id,
            reason="other",
            note=too_long,
            actor=staff,
            now=clock(),
        )
    engine.dispose()
    shown = client.get(f"/api/v1/holds/{hold_id}", headers=desk.counsellor).json()
    assert shown["state"] == "open"
