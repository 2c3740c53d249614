"""Plans over HTTP on both databases: batch, transfers, evacuation, and applying all or none."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine, unit_of_work
from broker.domain.states import Audience, Event
from broker.services import notifications
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk, family
from tests.session_support import use_page_session

# what placing a family counts for, by the risk its request names (standard if none)
RISK_WEIGHT = {"high": 3, "medium": 2, "standard": 1}


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _plan(client: TestClient[Any], desk: Desk, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/plans/{path}", json=body, headers=desk.counsellor)
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


def _check_placements(plan: dict[str, Any], expected: int) -> None:
    """The plan counts ``expected`` risk-weighted placements (worked out by the test from
    what it placed), within the proven bound, and says proven exactly when it reaches it."""
    assert plan["placements"] == expected, plan
    assert isinstance(plan["placements_bound"], int)
    assert plan["placements"] <= plan["placements_bound"]
    assert plan["placements_proven"] == (plan["placements"] >= plan["placements_bound"])


def _risk_weight(request: dict[str, Any]) -> int:
    return RISK_WEIGHT[request.get("risk", "standard")]


def _holds(client: TestClient[Any], desk: Desk) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.get("/api/v1/holds", headers=desk.counsellor).json()
    return result


def test_batch_plan_places_everyone_it_can_and_applies(desk: Desk, client: TestClient[Any]) -> None:
    zala = desk.facility(1, 3, name="Zala centre", region="Zala")
    vas = desk.facility(2, 6, name="Vas centre", region="Vas")
    secret = desk.facility(1, 4, name="Secret", kind="secret_shelter", region="Somogy")
    requests = [
        family(preferred_regions=["Zala"]),
        family(preferred_regions=["Zala"], risk="medium"),
        family(children=((3, "female"), (5, "female")), risk="high"),
        family(children=((15, "male"),)),  # boys' limit 12 everywhere
    ]
    plan = _plan(client, desk, "batch", {"requests": requests})
    assert plan["kind"] == "batch" and plan["status"] == "optimal" and plan["state"] == "proposed"
    placed = {item["key"]: item["facility_id"] for item in plan["assignments"]}
    assert placed["2"] == secret  # high risk: a secret shelter
    assert {placed["0"], placed["1"]} <= {zala, vas}  # one unit at Zala, two at Vas
    assert [u["key"] for u in plan["unplaced"]] == ["3"]
    assert "family of 2" in plan["unplaced"][0]["reason"]
    assert plan["unplaced"][0]["code"] == "no_place_fits"
    assert all(
        len(item["reason_codes"]) == len(item["reasons"]) and item["reason_codes"][0] == "kind"
        for item in plan["assignments"]
    )
    assert plan["bound"] >= plan["objective"] > 0
    assert all(item["reasons"] for item in plan["assignments"])
    _check_placements(plan, sum(_risk_weight(requests[int(k)]) for k in placed))  # 1 + 2 + 3
    # no family of the three placed could be left out for another: nothing could place more
    assert plan["placements_proven"] is True

    applied = client.post(f"/api/v1/plans/{plan['plan_id']}/apply", headers=desk.counsellor)
    assert applied.status_code == 200, applied.text
    assert len(applied.json()["holds"]) == 3
    assert len(_holds(client, desk)) == 3
    assert desk.free(secret) == (0, 0)
    again = client.post(f"/api/v1/plans/{plan['plan_id']}/apply", headers=desk.counsellor)
    assert again.status_code == 409 and "already applied" in again.json()["error"]["message"]
    shown = client.get(f"/api/v1/plans/{plan['plan_id']}", headers=desk.counsellor).json()
    assert shown["state"] == "applied"


def test_apply_is_all_or_none(desk: Desk, client: TestClient[Any], accounts: Accounts) -> None:
    first = desk.facility(1, 3, name="First", region="Zala")
    second = desk.facility(1, 3, name="Second", region="Vas")
    plan = _plan(client, desk, "batch", {"requests": [family(), family()]})
    assert {item["facility_id"] for item in plan["assignments"]} == {first, second}
    # meanwhile another counsellor takes the last unit at the first place
    other = accounts.headers("other-desk", "counsellor")
    taken = client.post("/api/v1/holds", json={**family(), "facility_id": first}, headers=other)
    assert taken.status_code == 201
    applied = client.post(f"/api/v1/plans/{plan['plan_id']}/apply", headers=desk.counsellor)
    assert applied.status_code == 409
    error = applied.json()["error"]
    assert "nothing was held" in error["message"] and len(error["details"]) == 1
    assert "gone" in error["details"][0]["message"]
    assert _holds(client, desk) == []  # the second place was not held either
    assert desk.free(second) == (1, 3)
    assert (
        client.get(f"/api/v1/plans/{plan['plan_id']}", headers=desk.counsellor).json()["state"]
        == "proposed"
    )


def test_transfer_plan_moves_residents_near_their_limit_one_tier_on(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    crisis = desk.facility(2, 6, name="Crisis")
    other_crisis = desk.facility(2, 6, name="Other crisis", region="Vas")
    home = desk.facility(1, 4, name="Mothers' home", kind="temporary_home_mothers", region="Zala")
    hold = desk.hold(crisis).json()
    placement = desk.confirm(hold["hold_id"], crisis).json()
    assert _plan(client, desk, "transfers", {})["moves"] == []  # 56 days left: not due
    clock.advance(days=45)
    plan = _plan(client, desk, "transfers", {"horizon_days": 14})
    assert [
        (m["placement_id"], m["facility_id"], m["from_facility_id"]) for m in plan["moves"]
    ] == [(placement["placement_id"], home, crisis)]
    assert plan["moves"][0]["case_code"] == placement["case_code"]
    assert other_crisis not in [m["facility_id"] for m in plan["moves"]]
    _check_placements(plan, RISK_WEIGHT["standard"])  # her stay is not overdue yet
    applied = client.post(f"/api/v1/plans/{plan['plan_id']}/apply", headers=desk.counsellor)
    assert applied.status_code == 200, applied.text
    hold_id = applied.json()["holds"][0]["hold_id"]
    assert (
        client.get(f"/api/v1/holds/{hold_id}", headers=desk.counsellor).json()[
            "transfer_from_placement_id"
        ]
        == placement["placement_id"]
    )


def test_transfer_plan_prefers_overdue_stays_and_a_formal_change_in_the_same_house(
    desk: Desk, client: TestClient[Any], clock: TestClock
) -> None:
    crisis = desk.facility(3, 9, name="House crisis", operator="House Op", region="Zala")
    # one place at the next tier, wanted by two residents
    home = desk.facility(1, 4, name="Far home", kind="temporary_home_mothers", region="Vas")
    first = desk.confirm(desk.hold(crisis).json()["hold_id"], crisis).json()
    clock.advance(days=10)
    # on the score alone the home suits the second family better: she prefers its region
    second_hold = desk.hold(crisis, preferred_regions=["Vas"]).json()
    second = desk.confirm(second_hold["hold_id"], crisis).json()
    clock.advance(days=47)  # the first is a day past her 56 days, the second has 9 left
    plan = _plan(client, desk, "transfers", {"horizon_days": 14})
    assert [(m["placement_id"], m["facility_id"]) for m in plan["moves"]] == [
        (first["placement_id"], home)
    ]
    # an overdue stay counts one more than its risk
    _check_placements(plan, RISK_WEIGHT["standard"] + 1)

    # the operator switches to flexible transfers and has a secret shelter in the same house
    same_house = desk.facility(
        1, 4, name="House secret", kind="secret_shelter", operator="House Op", region="Zala"
    )
    operators = client.get("/api/v1/operators", headers=desk.admin).json()
    house_op = next(op for op in operators if op["name"] == "House Op")
    switched = client.patch(
        f"/api/v1/operators/{house_op['id']}",
        json={"flexible_transfers": True},
        headers=desk.admin,
    )
    assert switched.status_code == 200
    plan = _plan(client, desk, "transfers", {"horizon_days": 14})
    moves = {m["placement_id"]: m for m in plan["moves"]}
    assert {m["facility_id"] for m in moves.values()} == {home, same_house}
    in_house = next(m for m in moves.values() if m["facility_id"] == same_house)
    assert "a formal change inside the same house" in " ".join(in_house["reasons"])
    assert set(moves) == {first["placement_id"], second["placement_id"]}
    _check_placements(plan, RISK_WEIGHT["standard"] + 1 + RISK_WEIGHT["standard"])


def test_evacuation_keeps_families_whole_and_out_of_the_danger_zone(
    desk: Desk, client: TestClient[Any]
) -> None:
    compromised = desk.facility(3, 9, name="Compromised", kind="secret_shelter", region="Baranya")
    near_secret = desk.facility(2, 8, name="Near secret", kind="secret_shelter", region="Baranya")
    far_secret = desk.facility(1, 4, name="Far secret", kind="secret_shelter", region="Zala")
    far_crisis = desk.facility(2, 6, name="Far crisis", region="Vas")
    residents, weights = [], {}
    for body in (family(risk="high"), family(children=((4, "female"), (6, "male")))):
        hold = desk.hold(compromised, body).json()
        residents.append(desk.confirm(hold["hold_id"], compromised).json()["placement_id"])
        weights[residents[-1]] = _risk_weight(body)
    plan = _plan(client, desk, "evacuation", {"facility_id": compromised})
    assert plan["kind"] == "evacuation" and plan["status"] == "optimal", plan
    moves = {m["placement_id"]: m["facility_id"] for m in plan["moves"]}
    assert moves[residents[0]] == far_secret  # high risk: secret shelters only, and not nearby
    assert moves[residents[1]] in {far_crisis, far_secret}
    assert near_secret not in moves.values()
    _check_placements(plan, sum(weights[placement_id] for placement_id in moves))  # 3 + 1
    assert plan["placements_proven"] is True
    applied = client.post(f"/api/v1/plans/{plan['plan_id']}/apply", headers=desk.counsellor)
    assert applied.status_code == 200, applied.text


def test_evacuation_without_room_is_infeasible_with_the_binding_reason(
    desk: Desk, client: TestClient[Any]
) -> None:
    compromised = desk.facility(2, 8, name="Compromised", kind="secret_shelter", region="Zala")
    desk.facility(2, 6, name="Crisis elsewhere", region="Pest")
    big = family(
        children=((2, "female"), (4, "female"), (6, "female"), (8, "female"), (9, "female")),
        risk="high",
    )
    hold = desk.hold(compromised, big).json()
    desk.confirm(hold["hold_id"], compromised)
    plan = _plan(client, desk, "evacuation", {"facility_id": compromised})
    assert plan["status"] == "infeasible" and plan["moves"] == []
    assert plan["unplaced"][0]["reason"].startswith(
        "no secret-shelter unit outside the danger regions fits a family of 6"
    )


def test_an_infeasible_evacuation_keeps_what_it_places_and_its_bound(
    desk: Desk, client: TestClient[Any]
) -> None:
    """A plan that cannot move everyone is infeasible, yet still says what it moves and
    that no plan could move more."""
    compromised = desk.facility(3, 12, name="Compromised", kind="secret_shelter", region="Zala")
    elsewhere = desk.facility(2, 6, name="Crisis elsewhere", region="Pest")
    big = family(
        children=((2, "female"), (4, "female"), (6, "female"), (8, "female"), (9, "female")),
        risk="high",
    )
    small = family(risk="medium")
    placed = {}
    for body in (big, small):
        hold = desk.hold(compromised, body).json()
        placed[desk.confirm(hold["hold_id"], compromised).json()["placement_id"]] = body
    plan = _plan(client, desk, "evacuation", {"facility_id": compromised})
    assert plan["status"] == "infeasible"
    assert [m["facility_id"] for m in plan["moves"]] == [elsewhere]
    moved = plan["moves"][0]["placement_id"]
    assert placed[moved] is small
    _check_placements(plan, _risk_weight(small))
    # the big family fits nowhere outside the danger zone: no plan moves more
    assert plan["placements_proven"] is True
    shown = client.get(f"/api/v1/plans/{plan['plan_id']}", headers=desk.counsellor).json()
    assert {key: shown[key] for key in ("placements", "placements_bound", "status")} == {
        key: plan[key] for key in ("placements", "placements_bound", "status")
    }


def _forget_placements(settings: Settings, plan_id: str) -> None:
    """Make the plan look stored before placements were kept, as migration 0014 leaves it."""
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE plans SET placements = NULL, placements_bound = NULL WHERE id = :id"),
            {"id": plan_id},
        )
    engine.dispose()


def test_a_plan_stored_before_placements_were_kept_reads_them_as_null(
    desk: Desk, client: TestClient[Any], settings: Settings
) -> None:
    desk.facility(1, 3)
    plan = _plan(client, desk, "batch", {"requests": [family()]})
    _forget_placements(settings, plan["plan_id"])
    shown = client.get(f"/api/v1/plans/{plan['plan_id']}", headers=desk.counsellor)
    assert shown.status_code == 200, shown.text
    old = shown.json()
    assert (old["placements"], old["placements_bound"], old["placements_proven"]) == (
        None,
        None,
        None,
    )
    assert old["assignments"] == plan["assignments"]


def test_the_plan_page_says_the_placements_in_hungarian_and_nothing_for_an_old_plan(
    desk: Desk, client: TestClient[Any], settings: Settings
) -> None:
    home = desk.facility(2, 6, name="Otthon", region="Vas")
    plan = _plan(client, desk, "batch", {"requests": [family(risk="medium"), family()]})
    assert plan["status"] == "optimal" and plan["placements"] == 3
    use_page_session(client, desk.counsellor["Authorization"])
    hungarian = {"Accept-Language": "hu"}
    page = client.get(f"/plans/{plan['plan_id']}", headers=hungarian)
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "<h1>Csoportos elhelyezés</h1>" in text
    assert (
        f"Súlyozott elhelyezések: {plan['placements']} "
        f"(felső korlát: {plan['placements_bound']})" in text
    )
    assert "a magas kockázatú család háromszor" in text
    assert "bizonyítottan legfeljebb 0,01%-kal marad el" in text  # the default tolerance
    assert text.count(f'data-facility-id="{home}"') == 2

    _forget_placements(settings, plan["plan_id"])
    old = html.unescape(client.get(f"/plans/{plan['plan_id']}", headers=hungarian).text)
    assert "Súlyozott elhelyezések" not in old and "felső korlát" not in old
    assert "Javasolt helyek" in old


def test_the_hotline_inbox_links_a_proposed_plan_to_its_page(
    desk: Desk, client: TestClient[Any], settings: Settings, clock: TestClock
) -> None:
    """A plan named in a hotline message (as the nightly transfer proposal names it) is a
    link to the plan page for those who may read plans; the link opens the plan."""
    desk.facility(1, 3)
    plan = _plan(client, desk, "batch", {"requests": [family(risk="medium")]})
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            notifications.notify(
                session=session,
                event=Event.PLAN_TRANSFER_PROPOSAL,
                audience=Audience.HOTLINE,
                payload={"plan_id": plan["plan_id"], "moves": 1, "status": plan["status"]},
                now=clock(),
            )
    finally:
        engine.dispose()
    use_page_session(client, desk.counsellor["Authorization"])
    inbox = client.get("/inbox", headers={"Accept-Language": "hu"})
    assert inbox.status_code == 200, inbox.text
    link = f'href="/plans/{plan["plan_id"]}"'
    assert inbox.text.count(link) == 1
    opened = client.get(f"/plans/{plan['plan_id']}", headers={"Accept-Language": "hu"})
    assert opened.status_code == 200
    assert "Súlyozott elhelyezések: 2" in html.unescape(opened.text)


def test_only_plan_readers_get_plan_links() -> None:
    from api.pages.shared import _about

    item = notifications.InboxItem(
        id=1,
        event=Event.PLAN_TRANSFER_PROPOSAL,
        audience=Audience.HOTLINE,
        facility_id=None,
        payload={"plan_id": "a" * 32},
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        state="inbox_only",
        attempts=0,
        last_error=None,
    )
    linked = _about(item, {}, plan_links=True)
    unlinked = _about(item, {}, plan_links=False)
    assert [fact.href for fact in linked] == [f"/plans/{'a' * 32}"]
    assert [fact.href for fact in unlinked] == [None]


def test_the_openapi_document_says_what_the_plans_numbers_mean(client: TestClient[Any]) -> None:
    fields = client.get("/schema/openapi.json").json()["components"]["schemas"]["PlanOut"]
    described = {name: field.get("description", "") for name, field in fields["properties"].items()}
    assert "BROKER_PLAN_GAP_TOLERANCE" in described["status"]
    assert "high-risk family counts 3" in described["placements"]
    assert "upper bound" in described["placements_bound"]
    assert "placements_bound" in described["placements_proven"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("batch", {"requests": []}, 422),
        ("batch", {"requests": [family(avoid_regions=["Atlantis"])]}, 422),
        ("transfers", {"horizon_days": 0}, 422),
        ("evacuation", {"facility_id": 999}, 404),
    ],
)
def test_bad_plan_requests(
    desk: Desk, client: TestClient[Any], path: str, body: dict[str, Any], status: int
) -> None:
    response = client.post(f"/api/v1/plans/{path}", json=body, headers=desk.counsellor)
    assert response.status_code == status, response.text
