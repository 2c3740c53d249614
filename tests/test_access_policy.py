"""Every registered route against every role: deny by default, opt in per role.

A new route without a policy fails this test; so does a route that lets a role in that
its policy does not name, or keeps out one that it does.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from api.guards import Policy
from broker.domain.access import Role
from tests.conftest import Accounts, create_facility
from tests.session_support import use_page_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SIGN_OUT_ROUTES = {("DELETE", "/api/v1/auth/token"), ("POST", "/logout")}
PATH_VALUES = {
    "facility_id": None,
    "file_path": "broker.css",
    "path": "openapi.json",
    "hold_id": "0" * 32,
    "placement_id": "0" * 32,
    "operator_id": "1",
    "plan_id": "0" * 32,
    "notice_id": "1",
    "waitlist_id": "0" * 32,
    "run_id": "1",
}


def _concrete(path: str, facility_id: int) -> str:
    for name, value in PATH_VALUES.items():
        for suffix in (":int", ":str", ":path", ""):
            path = path.replace("{" + name + suffix + "}", str(value if value else facility_id))
    assert "{" not in path, f"test does not know how to fill {path}"
    return path


def _routes(client: TestClient[Any]) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                found.append((route.path, method, handler))
    return found


def test_every_route_declares_a_policy(client: TestClient[Any]) -> None:
    missing = [
        f"{method} {path}"
        for path, method, handler in _routes(client)
        if method != "OPTIONS" and not isinstance(handler.opt.get("policy"), Policy)
    ]
    assert missing == []


def test_every_route_against_every_role(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin)
    tokens: dict[Role | None, str | None] = {None: None}
    usernames = {role: f"walk-{role.value.replace('_', '-')}" for role in Role}
    role: Role | None
    # signing out revokes the credential: the sign-out routes get one of their own, made
    # before the walk's empty sign-ins have the client's address throttled
    spare: dict[Role, str] = {}
    for role in Role:
        facilities = [facility["id"]] if role is Role.SHELTER_STAFF else None
        header = accounts.headers(usernames[role], role.value, facilities)
        tokens[role] = header["Authorization"].removeprefix("Bearer ")
        spare[role] = accounts.headers(usernames[role])["Authorization"].removeprefix("Bearer ")
    csrf = client.get("/login").cookies.get("csrftoken") or client.cookies.get("csrftoken")
    assert csrf

    checked = 0
    for path, method, handler in _routes(client):
        url = _concrete(path, facility["id"])
        policy = handler.opt.get("policy")
        for role, token in tokens.items():
            if role is not None and (method, path) in SIGN_OUT_ROUTES:
                token = spare[role]
            headers: dict[str, str] = {"x-csrftoken": csrf}
            client.cookies.clear()
            client.cookies.set("csrftoken", csrf)
            if token and isinstance(policy, Policy) and policy.via == "cookie":
                use_page_session(client, token)
            elif token:
                headers["Authorization"] = f"Bearer {token}"
            kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
            if method in {"POST", "PUT", "PATCH"}:
                if isinstance(policy, Policy) and policy.via == "cookie":
                    kwargs["data"] = {"_csrf_token": csrf}
                else:
                    kwargs["json"] = {}
            status = client.request(method, url, **kwargs).status_code
            label = f"{method} {url} as {role.value if role else 'anonymous'}"
            assert status < 500, f"{label}: {status}"
            if not isinstance(policy, Policy):
                assert status in (401, 403), f"{label}: route without policy answered {status}"
            elif policy.public:
                # a public route may still refuse wrong credentials (401), never a role
                assert status != 403, f"{label}: public route refused with 403"
            elif role in policy.roles:
                assert status not in (401, 403), f"{label}: allowed by policy, got {status}"
            elif role is None:
                assert status in (401, 303), f"{label}: anonymous got {status}"
            else:
                assert status == 403, f"{label}: role outside the policy got {status}"
            checked += 1
    assert checked > 100
