"""Canary addresses: planted through the API, then searched for everywhere a counsellor,
a police officer, an auditor or an anonymous caller can look, in the logs, and in the
stored bytes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from api.guards import Policy
from broker.db.engine import make_engine
from broker.settings import Settings
from tests.conftest import Accounts, LogCapture, create_facility
from tests.job_support import runner_at
from tests.session_support import use_page_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CANARIES = ["Kanárimadár köz 71., 7777 Canarytown", "Titkos Rigó utca 13/B., 9999 Secretville"]


def _contains_canary(blob: str | bytes) -> list[str]:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    found = []
    for canary in CANARIES:
        street = canary.split(",")[0]
        if canary in text or street in text or street.lower() in text.lower():
            found.append(canary)
    return found


@pytest.fixture
def planted(
    captured_logs: LogCapture, client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> dict[str, Any]:
    secret = create_facility(client, admin, name="Canary Secret Shelter", kind="secret_shelter")
    crisis = create_facility(client, admin, name="Canary Crisis Centre")
    staff = accounts.headers("canary-staff", "shelter_staff", [secret["id"]])
    for facility, canary in zip((secret, crisis), CANARIES, strict=True):
        response = client.put(
            f"/api/v1/facilities/{facility['id']}/address", json={"address": canary}, headers=admin
        )
        assert response.status_code == 204, response.text
    client.put(
        f"/api/v1/facilities/{secret['id']}/capacity",
        json={"free_units": 2, "free_beds": 6},
        headers=staff,
    )
    # a hold and a stay at the secret shelter, so routes about them have something to show
    counsellor = accounts.headers("canary-desk", "counsellor")
    family = {"family": {"adults": [{"age": 30, "sex": "female"}], "children": []}, "risk": "high"}
    # a waiting-list entry for which the matching job finds the secret shelter
    waiting = client.post("/api/v1/waitlist", json=family, headers=counsellor)
    assert waiting.status_code == 201, waiting.text
    runner = runner_at(accounts.settings, accounts.clock())
    assert runner.tick("waitlist_matching").summary["found"] == 1
    runner.engine.dispose()
    placed = client.post(
        "/api/v1/holds", json={**family, "facility_id": secret["id"]}, headers=counsellor
    )
    assert placed.status_code == 201, placed.text
    confirmed = client.post(f"/api/v1/holds/{placed.json()['hold_id']}/confirm", headers=staff)
    held = client.post(
        "/api/v1/holds", json={**family, "facility_id": secret["id"]}, headers=counsellor
    )
    assert held.status_code == 201, held.text
    assert not _contains_canary(placed.content + held.content + confirmed.content)
    plan = client.post(
        "/api/v1/plans/evacuation", json={"facility_id": secret["id"]}, headers=counsellor
    )
    assert plan.status_code == 200, plan.text
    assert not _contains_canary(plan.content)
    return {
        "ids": [secret["id"], crisis["id"]],
        "staff": staff,
        "plan_id": plan.json()["plan_id"],
        "hold_id": held.json()["hold_id"],
        "placement_id": confirmed.json()["placement_id"],
        "waitlist_id": waiting.json()["waitlist_id"],
    }


def _fill(path: str, facility_id: int, planted: dict[str, Any]) -> list[str]:
    path = path.replace("{file_path:path}", "broker.css").replace("{path:str}", "openapi.json")
    path = path.replace("{hold_id:str}", planted["hold_id"]).replace("{operator_id:int}", "1")
    path = path.replace("{placement_id:str}", planted["placement_id"])
    path = path.replace("{plan_id:str}", planted["plan_id"])
    path = path.replace("{waitlist_id:str}", planted["waitlist_id"])
    if path == "/api/v1/audit":
        # the whole log, not only its first page
        return [path, f"{path}?limit=500"]
    return [path.replace("{facility_id:int}", str(facility_id))]


def test_own_staff_and_admin_read_the_address_and_each_read_is_audited(
    client: TestClient[Any], admin: dict[str, str], planted: dict[str, Any], settings: Settings
) -> None:
    secret_id, crisis_id = planted["ids"]
    own = client.get(f"/api/v1/facilities/{secret_id}/address", headers=planted["staff"])
    assert own.status_code == 200
    assert own.json() == {"address": CANARIES[0]}
    assert "no-store" in own.headers.get("cache-control", "")
    other = client.get(f"/api/v1/facilities/{crisis_id}/address", headers=planted["staff"])
    assert other.status_code == 403
    assert not _contains_canary(other.text)
    assert client.get(f"/api/v1/facilities/{crisis_id}/address", headers=admin).json() == {
        "address": CANARIES[1]
    }
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        reads = connection.execute(
            sa.text(
                "SELECT subject_id, actor_role FROM audit_events "
                "WHERE action = 'address.read' ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in reads] == [
        (str(secret_id), "shelter_staff"),
        (str(crisis_id), "admin"),
    ]


def test_no_canary_reaches_counsellor_police_or_anonymous(
    client: TestClient[Any],
    planted: dict[str, Any],
    accounts: Accounts,
    captured_logs: LogCapture,
) -> None:
    callers: dict[str, str | None] = {"anonymous": None}
    for role in ("counsellor", "police", "auditor"):
        callers[role] = accounts.headers(f"canary-{role}", role)["Authorization"].split()[1]

    seen: list[tuple[str, str, int]] = []
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        methods = {m for h in route.route_handlers for m in h.http_methods}
        if "GET" not in methods:
            continue
        handler = next(h for h in route.route_handlers if "GET" in h.http_methods)
        policy = handler.opt.get("policy")
        via = policy.via if isinstance(policy, Policy) else "bearer"
        for facility_id in [*planted["ids"], 424242]:
            for url in _fill(route.path, facility_id, planted):
                for who, token in callers.items():
                    client.cookies.clear()
                    headers = {"accept": "text/html,application/json"}
                    if token and via == "cookie":
                        use_page_session(client, token)
                    elif token:
                        headers["Authorization"] = f"Bearer {token}"
                    response = client.get(url, headers=headers, follow_redirects=True)
                    assert response.status_code < 500, (url, who, response.status_code)
                    assert not _contains_canary(response.content), (url, who)
                    assert not _contains_canary(str(dict(response.headers))), (url, who)
                    seen.append((url, who, response.status_code))

    # error pages and error bodies: wrong ids, wrong methods, bad bodies, oversized bodies
    token = callers["counsellor"]
    bearer = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    wrong_requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/api/v1/facilities/{planted['ids'][0]}/address", {"headers": bearer}),
        (
            "PUT",
            f"/api/v1/facilities/{planted['ids'][0]}/address",
            {"headers": bearer, "json": {"address": "x"}},
        ),
        ("DELETE", f"/api/v1/facilities/{planted['ids'][0]}", {"headers": bearer}),
        (
            "PATCH",
            f"/api/v1/facilities/{planted['ids'][0]}",
            {"headers": bearer, "json": {"name": 5}},
        ),
        ("GET", "/no/such/page", {"headers": {"accept": "text/html"}}),
        ("GET", "/api/v1/facilities/notanumber", {"headers": bearer}),
        (
            "POST",
            "/api/v1/matches",
            {
                "headers": bearer,
                "json": {"family": {"adults": [{"age": 30, "sex": "female"}]}, "risk": "high"},
            },
        ),
        ("POST", f"/api/v1/holds/{planted['hold_id']}/rematch", {"headers": bearer}),
        (
            "POST",
            "/api/v1/holds",
            {
                "headers": bearer,
                "json": {
                    "family": {"adults": [{"age": 30, "sex": "female"}]},
                    "facility_id": planted["ids"][0],
                },
            },
        ),
    ]
    for method, url, kwargs in wrong_requests:
        response = client.request(method, url, **kwargs)
        assert response.status_code < 500
        assert not _contains_canary(response.content), (method, url)

    openapi = client.get("/schema/openapi.json")
    assert openapi.status_code == 200
    assert not _contains_canary(openapi.content)

    log_text = "\n".join(captured_logs.lines)
    assert captured_logs.lines, "the log capture saw nothing: the check would be empty"
    assert not _contains_canary(log_text)
    statuses = {status for _, who, status in seen if who == "counsellor"}
    assert 200 in statuses and len(seen) > 50
    assert ("/api/v1/audit?limit=500", "auditor", 200) in seen


def test_stored_bytes_do_not_contain_the_address(
    client: TestClient[Any], planted: dict[str, Any], settings: Settings
) -> None:
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        engine = make_engine(settings.database_url, pool_size=1)
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT address_ciphertext FROM facilities")).all()
        engine.dispose()
        assert all(row[0] for row in stored)
        blobs = [p.read_bytes() for p in database.parent.glob(database.name + "*")]
        assert blobs and any(b"Canary Secret Shelter" in blob for blob in blobs), (
            "wrong file searched"
        )
        for blob in blobs:
            assert not _contains_canary(blob)
    else:
        pg_dump = shutil.which("pg_dump")
        assert pg_dump, "pg_dump is needed to check the PostgreSQL dump"
        dump = subprocess.run(
            [
                pg_dump,
                "--data-only",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                str(url.database),
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert b"Canary Secret Shelter" in dump, "the dump does not hold the data it should"
        assert not _contains_canary(dump)
