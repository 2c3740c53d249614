"""Matching through the API against facilities made by the admin: each hard rule excludes,
the exclusion is counted, the address never appears, stale data is flagged."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk, family


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


CASES = [
    ({"kind": "crisis_centre"}, family(risk="high"), "kind_not_for_risk"),
    ({"kind": "temporary_home_mothers"}, family(children=()), "kind_not_for_family"),
    ({"kind": "trafficking_home"}, family(), "kind_not_for_family"),
    ({"region": "Baranya"}, family(avoid_regions=["Baranya"]), "danger_zone"),
    ({"region": "Pest"}, family(avoid_regions=["Budapest"]), "danger_zone"),
    (
        {},
        {
            "family": {
                "adults": [{"age": 30, "sex": "female"}, {"age": 33, "sex": "male"}],
                "children": [],
            }
        },
        "adult_men",
    ),
    ({"boys_max_age": 10}, family(children=((11, "male"),)), "boys_age"),
    ({"wheelchair_units": 0}, family(needs={"wheelchair": True}), "wheelchair"),
    ({"accepts_pets": False}, family(needs={"pets": True}), "pets"),
    ({"languages": ["hu"]}, family(needs={"languages": ["uk"]}), "language"),
    ({"night_admission": False}, family(needs={"night_arrival": True}), "night_admission"),
    ({"accepts_reentry": False}, family(reentry=True), "reentry"),
]


@pytest.mark.parametrize(("facility", "request_body", "reason"), CASES)
def test_each_rule_excludes_and_is_counted(
    desk: Desk, facility: dict[str, Any], request_body: dict[str, Any], reason: str
) -> None:
    fid = desk.facility(2, 8, name="Only one", **facility)
    result = desk.match(request_body)
    assert result["options"] == []
    assert result["excluded"] == {reason: 1}
    assert result["excluded_reasons"][reason]
    # a mother with a daughter and no special needs is offered the place (a trafficking
    # home only if she is a victim of trafficking)
    plain = family(trafficking_victim=facility.get("kind") == "trafficking_home")
    assert [o["facility_id"] for o in desk.match(plain)["options"]] == [fid]


def test_full_place_is_counted_and_options_carry_reasons(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    full = desk.facility(0, 0, name="Full")
    fresh = desk.facility(1, 4, name="Fresh", region="Zala")
    desk.facility(1, 4, name="Stale", region="Zala")
    clock.advance(hours=25)
    desk.report(fresh, 1, 4)
    client.put(
        f"/api/v1/facilities/{fresh}/address", json={"address": "Titok köz 4."}, headers=desk.admin
    )
    response = client.post(
        "/api/v1/matches", json=family(preferred_regions=["Zala"]), headers=desk.counsellor
    )
    result = response.json()
    assert [o["name"] for o in result["options"]] == ["Fresh", "Stale"]
    assert [o["stale"] for o in result["options"]] == [False, True]
    assert result["excluded"] == {"no_free_unit": 1}
    assert all(o["reasons"] for o in result["options"])
    assert "Titok" not in response.text
    assert full not in [o["facility_id"] for o in result["options"]]


def test_same_state_same_answer_and_limit(desk: Desk) -> None:
    for index in range(6):
        desk.facility(1, 4, name=f"Place {index}", region=["Zala", "Vas", "Somogy"][index % 3])
    body = family(preferred_regions=["Vas"], limit=4)
    first = desk.match(body)
    assert len(first["options"]) == 4 and first["feasible"] == 6
    assert desk.match(body) == first


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (family(avoid_regions=["Narnia"]), "avoid_regions"),
        (family(preferred_regions=["Zala"], avoid_regions=["Zala"]), "preferred_regions"),
        (family(risk="extreme"), "risk"),
        ({"family": {"adults": [], "children": []}}, "adults"),
        ({"family": {"adults": [{"age": 30, "sex": "x"}], "children": []}}, "sex"),
        ({"family": {"adults": [{"age": "30", "sex": "female"}], "children": []}}, "age"),
        (family(limit=0), "limit"),
        (family(colour="red"), "colour"),
    ],
)
def test_bad_requests_are_422(
    desk: Desk, client: TestClient[Any], body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/matches", json=body, headers=desk.counsellor)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]


def test_the_cached_registry_follows_changes_made_by_another_process(
    desk: Desk, client: TestClient[Any], settings: Any, clock: TestClock
) -> None:
    from broker.db.engine import make_engine, unit_of_work
    from broker.domain.access import Principal, Role
    from broker.services.capacity import capacity_report

    fid = desk.facility(1, 4, name="Cached")
    body = family(children=((6, "female"), (8, "female")))
    assert [o["facility_id"] for o in desk.match(body)["options"]] == [fid]  # cache warm
    # another process (its own engine) reports the facility full
    other = make_engine(settings.database_url, pool_size=1)
    with other.connect() as connection:
        staff_id = connection.exec_driver_sql(
            f"SELECT id FROM users WHERE username = 'staff-{fid}'"
        ).scalar_one()
    staff = Principal(
        user_id=staff_id,
        username=f"staff-{fid}",
        role=Role.SHELTER_STAFF,
        facility_ids=frozenset({fid}),
    )
    with unit_of_work(other, audit_key=settings.audit_key_bytes) as session:
        capacity_report(
            session=session, facility_id=fid, free_units=1, free_beds=2, actor=staff, now=clock()
        )
    other.dispose()
    after = desk.match(body)
    assert after["options"] == [] and after["excluded"] == {"no_free_unit": 1}
    # a facility registered elsewhere appears too
    second = desk.facility(2, 8, name="New")
    assert [o["facility_id"] for o in desk.match(body)["options"]] == [second]
