"""Input that once made the broker answer 500, replayed on both databases: each is now the
4xx it should be, in the error shape, and changes nothing.

Out-of-range integers (404 as an id in the path, 422 in a query or a body), JSON nested too
deep (400 before any parser recurses), values of the wrong JSON type (422), control
characters in names and free text (422), and facilities that do not exist (404 whatever
the route). A family's ages are bounded as on the call page (422 for an adult under 14 or a
child over 17).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pytest
from litestar.testing import TestClient

from api.strict_body import MAX_DEPTH, too_deep
from tests.conftest import Accounts, create_facility, facility_body

ERROR_KEYS = {"status", "code", "message", "details"}
FAMILY = {"family": {"adults": [{"age": 30, "sex": "female"}]}}
DEEP = b"[" * 50_000 + b"]" * 50_000


def refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == ERROR_KEYS
    assert error["status"] == status
    return error


class Scene:
    """One facility with a free unit and an open hold; accounts are made when first used
    (each costs a password hash)."""

    def __init__(self, client: TestClient[Any], accounts: Accounts, admin: dict[str, str]):
        self.client, self.accounts, self.admin = client, accounts, admin
        self.facility = create_facility(client, admin)
        self.fid = self.facility["id"]
        client.put(
            f"/api/v1/facilities/{self.fid}/capacity",
            json={"free_units": 2, "free_beds": 6},
            headers=self.staff,
        )
        hold = client.post(
            "/api/v1/holds", json={**FAMILY, "facility_id": self.fid}, headers=self.desk
        )
        assert hold.status_code == 201, hold.text
        self.hold_id = hold.json()["hold_id"]

    @cached_property
    def desk(self) -> dict[str, str]:
        return self.accounts.headers("desk", "counsellor")

    @cached_property
    def staff(self) -> dict[str, str]:
        return self.accounts.headers("staff", "shelter_staff", [self.fid])

    @cached_property
    def auditor(self) -> dict[str, str]:
        return self.accounts.headers("auditor", "auditor")

    @cached_property
    def police(self) -> dict[str, str]:
        return self.accounts.headers("officer", "police")

    def hold_state(self) -> str:
        response = self.client.get(f"/api/v1/holds/{self.hold_id}", headers=self.desk)
        state: str = response.json()["state"]
        return state


@pytest.fixture
def scene(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Scene:
    return Scene(client, accounts, admin)


# --- integers --------------------------------------------------------------------------------


def test_a_facility_id_out_of_range_in_the_path_is_404(
    client: TestClient[Any], scene: Scene
) -> None:
    for facility_id in ("313181007921303087218688", "2147483648", "9223372036854775808", "0"):
        base = f"/api/v1/facilities/{facility_id}"
        assert refused(client.get(base, headers=scene.admin), 404)["code"] == "not_found"
        for path in ("capacity", "address", "webhook"):
            refused(client.get(f"{base}/{path}", headers=scene.admin), 404)
        capacity = {"free_units": 1, "free_beds": 1}
        refused(client.put(f"{base}/capacity", json=capacity, headers=scene.staff), 404)
        webhook = {"url": "https://example.org/h"}
        refused(client.put(f"{base}/webhook", json=webhook, headers=scene.admin), 404)


def test_other_ids_out_of_range_in_the_path_are_404(client: TestClient[Any], scene: Scene) -> None:
    huge = "99999999999"
    refused(client.post(f"/api/v1/notices/{huge}/seen", headers=scene.staff), 404)
    policy = {"flexible_transfers": True}
    refused(client.patch(f"/api/v1/operators/{huge}", json=policy, headers=scene.admin), 404)


def test_a_facility_id_out_of_range_in_a_body_is_422(client: TestClient[Any], scene: Scene) -> None:
    for facility_id in (9223372036854775808, 2147483648, 0, -1):
        hold = {**FAMILY, "facility_id": facility_id}
        response = client.post("/api/v1/holds", json=hold, headers=scene.desk)
        assert refused(response, 422)["details"][0]["field"] == "facility_id"
        evacuation = {"facility_id": facility_id}
        response = client.post("/api/v1/plans/evacuation", json=evacuation, headers=scene.desk)
        assert refused(response, 422)["details"][0]["field"] == "facility_id"
    assert scene.hold_state() == "open"


def test_an_integer_out_of_range_in_the_audit_query_is_422(
    client: TestClient[Any], scene: Scene
) -> None:
    for name, value in (
        ("offset", "12296194303083751145472"),
        ("offset", "2147483648"),
        ("after", "9223372036854775808"),
        ("actor_user_id", "2147483648"),
        ("limit", "12296194303083751145472"),
    ):
        response = client.get("/api/v1/audit", params={name: value}, headers=scene.auditor)
        error = refused(response, 422)
        assert error["code"] == "invalid_input"
        assert name in error["message"]


def test_the_largest_ids_are_still_looked_up(client: TestClient[Any], scene: Scene) -> None:
    page = client.get(
        "/api/v1/audit?after=2147483647&actor_user_id=2147483647", headers=scene.auditor
    )
    assert page.json() == {"entries": [], "next": None}
    refused(client.get("/api/v1/facilities/2147483647", headers=scene.admin), 404)


# --- facilities that do not exist ---------------------------------------------------------------


def test_a_facility_that_does_not_exist_is_404_on_every_route(
    client: TestClient[Any], scene: Scene
) -> None:
    missing = 777_777
    admin, staff, desk = scene.admin, scene.staff, scene.desk
    base = f"/api/v1/facilities/{missing}"
    webhook = {"url": "https://example.org/h"}
    answers = {
        "PUT webhook": client.put(f"{base}/webhook", json=webhook, headers=admin),
        "GET webhook": client.get(f"{base}/webhook", headers=admin),
        "GET": client.get(base, headers=admin),
        "PATCH": client.patch(base, json={"name": "Renamed"}, headers=admin),
        "GET capacity": client.get(f"{base}/capacity", headers=admin),
        "GET address": client.get(f"{base}/address", headers=admin),
        "PUT address": client.put(f"{base}/address", json={"address": "x"}, headers=admin),
        "POST hold": client.post(
            "/api/v1/holds", json={**FAMILY, "facility_id": missing}, headers=desk
        ),
        "POST evacuation": client.post(
            "/api/v1/plans/evacuation", json={"facility_id": missing}, headers=desk
        ),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == dict.fromkeys(answers, 404)
    for response in answers.values():
        refused(response, 404)
    # for staff too a facility that does not exist is 404; one that is not theirs is 403
    other = create_facility(client, admin, name="Another Home")["id"]
    for path in ("holds", "residents", "webhook", "capacity"):
        refused(client.get(f"{base}/{path}", headers=staff), 404)
        refused(client.get(f"/api/v1/facilities/{other}/{path}", headers=staff), 403)
    capacity = {"free_units": 1, "free_beds": 1}
    refused(client.put(f"{base}/capacity", json=capacity, headers=staff), 404)
    refused(client.put(f"/api/v1/facilities/{other}/capacity", json=capacity, headers=staff), 403)
    # the existing facility still answers on the same routes
    assert client.get(f"/api/v1/facilities/{scene.fid}/webhook", headers=admin).status_code == 200
    assert client.get(f"/api/v1/facilities/{scene.fid}/capacity", headers=admin).status_code == 200


def test_a_facility_in_the_path_is_looked_up_only_after_the_credentials(
    client: TestClient[Any], scene: Scene
) -> None:
    refused(client.get("/api/v1/facilities/777777/webhook"), 401)
    refused(client.get("/api/v1/facilities/777777/capacity", headers=scene.police), 403)


# --- nesting -------------------------------------------------------------------------------


def test_a_body_nested_50000_deep_is_400_before_any_parser(
    client: TestClient[Any], scene: Scene
) -> None:
    json_type = {"content-type": "application/json"}
    objects = b'{"a":' * 100 + b"1" + b"}" * 100
    for path, headers in (
        (f"/api/v1/holds/{scene.hold_id}/confirm", scene.staff),
        ("/api/v1/plans/transfers", scene.desk),
        ("/api/v1/facilities", scene.admin),
        ("/api/v1/auth/token", {}),
    ):
        response = client.post(path, content=DEEP, headers={**headers, **json_type})
        assert "nested deeper" in refused(response, 400)["message"]
        # objects nest as arrays do
        refused(client.post(path, content=objects, headers={**headers, **json_type}), 400)
    assert scene.hold_state() == "open"


def test_nesting_is_measured_outside_strings() -> None:
    assert not too_deep(b'{"note": "' + b"[" * 500 + b'"}')
    assert not too_deep(b'{"note": "\\"' + b"[" * 500 + b'"}')
    assert too_deep(b'{"note": "\\\\"' + b"[" * 500 + b'"}')  # the string ended before
    assert too_deep(b"[" * (MAX_DEPTH + 1))  # unclosed still counts
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert not too_deep(b"[" + b"[]," * 10_000 + b"[]]")  # wide is fine
    assert not too_deep(b'"unterminated \\' + b"[" * 100)  # all of it is in the string


def test_nesting_within_the_limit_is_judged_by_the_schema(
    client: TestClient[Any], scene: Scene
) -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    response = client.post(
        "/api/v1/plans/transfers",
        content=body,
        headers={**scene.desk, "content-type": "application/json"},
    )
    refused(response, 422)


# --- exact JSON types ---------------------------------------------------------------------------


def test_a_consent_sent_as_a_string_is_422_and_confirms_nothing(
    client: TestClient[Any], scene: Scene
) -> None:
    identity = {
        "full_name": "Próba Piroska",
        "birth_date": "1990-01-01",
        "police_confirmation_consent": "false",
    }
    response = client.post(
        f"/api/v1/holds/{scene.hold_id}/confirm", json={"identity": identity}, headers=scene.staff
    )
    error = refused(response, 422)
    assert error["details"][0]["field"] == "identity.police_confirmation_consent"
    assert scene.hold_state() == "open"


def test_a_horizon_of_the_wrong_type_is_422(client: TestClient[Any], scene: Scene) -> None:
    for horizon in ("14", 14.0, True, None):
        body = {"horizon_days": horizon}
        response = client.post("/api/v1/plans/transfers", json=body, headers=scene.desk)
        assert refused(response, 422)["details"][0]["field"] == "horizon_days"


def test_optional_bodies_still_work_when_absent_or_well_typed(
    client: TestClient[Any], scene: Scene
) -> None:
    assert client.post("/api/v1/plans/transfers", headers=scene.desk).status_code == 200
    body = {"horizon_days": 14}
    assert client.post("/api/v1/plans/transfers", json=body, headers=scene.desk).status_code == 200
    confirmed = client.post(f"/api/v1/holds/{scene.hold_id}/confirm", headers=scene.staff)
    assert confirmed.status_code == 200, confirmed.text


# --- control characters ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb\x7f\x85", "trailing\n"])
def test_control_characters_in_names_and_free_text_are_422(
    client: TestClient[Any], scene: Scene, bad: str
) -> None:
    fid, admin, staff = scene.fid, scene.admin, scene.staff
    before = client.get(f"/api/v1/facilities/{fid}", headers=admin).json()
    identity = {"full_name": bad, "birth_date": "1990-01-01", "police_confirmation_consent": True}
    inquiry = {"full_name": "Próba Piroska", "birth_date": "1990-01-01", "case_reference": bad}
    attempts = {
        "name": client.post("/api/v1/facilities", json=facility_body(name=bad), headers=admin),
        "operator": client.patch(
            f"/api/v1/facilities/{fid}", json={"operator": bad}, headers=admin
        ),
        "meeting_point": client.patch(
            f"/api/v1/facilities/{fid}", json={"meeting_point": "x\x00y"}, headers=admin
        ),
        "address": client.put(
            f"/api/v1/facilities/{fid}/address", json={"address": "x\x00y"}, headers=staff
        ),
        "username": client.post("/api/v1/auth/token", json={"username": bad, "password": "x"}),
        "case_reference": client.post(
            "/api/v1/police/inquiries", json=inquiry, headers=scene.police
        ),
        "identity.full_name": client.post(
            f"/api/v1/holds/{scene.hold_id}/confirm", json={"identity": identity}, headers=staff
        ),
        "note": client.post(
            f"/api/v1/holds/{scene.hold_id}/decline",
            json={"reason": "other", "note": "x\x00y"},
            headers=staff,
        ),
        "avoid_regions": client.post(
            "/api/v1/matches", json={**FAMILY, "avoid_regions": [bad]}, headers=scene.desk
        ),
        "url": client.put(
            f"/api/v1/facilities/{fid}/webhook",
            json={"url": f"https://example.org/{bad}"},
            headers=admin,
        ),
    }
    for field, response in attempts.items():
        error = refused(response, 422)
        assert error["details"][0]["field"].startswith(field), error
        assert "control characters" in error["details"][0]["message"]
    assert client.get(f"/api/v1/facilities/{fid}", headers=admin).json() == before
    assert scene.hold_state() == "open"


def test_free_text_keeps_its_line_breaks(client: TestClient[Any], scene: Scene) -> None:
    meeting_point = "Main station,\n\tby the ticket office."
    response = client.patch(
        f"/api/v1/facilities/{scene.fid}",
        json={"meeting_point": meeting_point},
        headers=scene.admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["meeting_point"] == meeting_point


def test_control_characters_in_a_query_are_422(client: TestClient[Any], scene: Scene) -> None:
    for path, headers in (
        ("/api/v1/facilities?kind=a%00b", scene.admin),
        ("/api/v1/facilities?region=Baranya%01", scene.admin),
        ("/api/v1/audit?subject_id=a%00b", scene.auditor),
        ("/api/v1/audit?action=a%00b", scene.auditor),
    ):
        error = refused(client.get(path, headers=headers), 422)
        assert "control characters" in error["message"]


def test_control_characters_in_an_id_in_the_path_are_404(
    client: TestClient[Any], scene: Scene
) -> None:
    refused(client.get("/api/v1/holds/a%00b", headers=scene.desk), 404)
    refused(client.get("/api/v1/plans/a%00b", headers=scene.desk), 404)
    refused(client.post("/api/v1/plans/a%00b/apply", headers=scene.desk), 404)
    refused(client.get("/api/v1/placements/a%00b", headers=scene.staff), 404)
    refused(client.post("/api/v1/holds/a%00b/confirm", headers=scene.staff), 404)


def test_a_lone_surrogate_is_refused(client: TestClient[Any], scene: Scene) -> None:
    response = client.patch(
        f"/api/v1/facilities/{scene.fid}",
        content=b'{"name": "\\ud800"}',
        headers={**scene.admin, "content-type": "application/json"},
    )
    assert response.status_code in (400, 422)
    refused(response, response.status_code)


# --- a family's ages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "age", "bound"),
    [
        ("adults", 0, ">= 14"),
        ("adults", 13, ">= 14"),
        ("adults", 121, "<= 120"),
        ("children", 30, "<= 17"),
        ("children", 18, "<= 17"),
        ("children", -1, ">= 0"),
    ],
)
def test_a_familys_ages_are_bounded_as_on_the_call_page(
    client: TestClient[Any], scene: Scene, group: str, age: int, bound: str
) -> None:
    """Adults are 14 to 120 and children 0 to 17 (``api.schemas.ADULT_AGES``, ``CHILD_AGES``),
    so that a typo such as 3 for 34 is refused; the call page checks with the same schema."""
    family = {"adults": [{"age": 30, "sex": "female"}], group: [{"age": age, "sex": "male"}]}
    for path, body in (
        ("/api/v1/matches", {"family": family}),
        ("/api/v1/holds", {"family": family, "facility_id": scene.fid}),
    ):
        error = refused(client.post(path, json=body, headers=scene.desk), 422)
        assert error["details"][0]["field"] == f"family.{group}[0].age", error
        assert bound in error["details"][0]["message"]
        assert f"family.{group}[0].age" in error["message"]


def test_a_familys_ages_at_the_bounds_are_taken(client: TestClient[Any], scene: Scene) -> None:
    family = {
        "adults": [{"age": 14, "sex": "female"}, {"age": 120, "sex": "female"}],
        "children": [{"age": 0, "sex": "male"}, {"age": 17, "sex": "female"}],
    }
    response = client.post("/api/v1/matches", json={"family": family}, headers=scene.desk)
    assert response.status_code == 200, response.text
