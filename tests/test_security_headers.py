"""Protective headers on every response, and one credential per surface.

Every registered route is called for every role and anonymously, on the JSON API and on
the pages, and every answer (successes, redirects, refusals and errors alike) must carry
the Content-Security-Policy, ``nosniff``, ``no-referrer`` and ``Cache-Control: no-store``.
The JSON API must refuse the page session cookie and pages must ignore bearer tokens and
API keys; every page form must carry the CSRF token and the server must refuse one without.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy.exc import OperationalError

import api.guards
from api.app import create_app
from api.guards import SESSION_COOKIE, Policy, allow, surface_fits
from broker.db.engine import make_engine, unit_of_work
from broker.domain.access import ALL_ROLES, Role
from broker.services.accounts import api_key_create
from broker.settings import PROJECT_ROOT, Settings
from tests.conftest import PASSWORD, Accounts, TestClock, create_facility, with_settings
from tests.session_support import page_session_for, use_page_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# (a page sign-out is harmless: each page request below gets a page session of its own)
SIGN_OUT_API = ("DELETE", "/api/v1/auth/token")
PATH_VALUES = {
    "file_path": "broker.css",
    "path": "openapi.json",
    "hold_id": "0" * 32,
    "waitlist_id": "0" * 32,
    "placement_id": "0" * 32,
    "operator_id": "1",
    "plan_id": "0" * 32,
    "notice_id": "1",
    "run_id": "1",
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def assert_protected(response: Any, label: str, *, production: bool = False) -> None:
    headers = response.headers
    assert headers.get("content-security-policy") == EXPECTED_CSP, label
    assert headers.get("x-content-type-options") == "nosniff", label
    assert headers.get("referrer-policy") == "no-referrer", label
    assert headers.get("x-frame-options") == "DENY", label
    static = response.request.url.path.startswith("/static/")
    assert headers.get("cache-control") == ("no-cache" if static else "no-store"), label
    assert len(headers.get_list("content-security-policy")) == 1, label
    hsts = headers.get("strict-transport-security")
    if production:
        assert hsts == "max-age=63072000; includeSubDomains", label
    else:
        assert hsts is None, label


def _routes(client: TestClient[Any]) -> list[tuple[str, str, Any]]:
    return [
        (route.path, method, handler)
        for route in client.app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in sorted(handler.http_methods)
    ]


def _concrete(path: str, facility_id: int) -> str:
    values = {"facility_id": str(facility_id), **PATH_VALUES}
    for name, value in values.items():
        for suffix in (":int", ":str", ":path", ""):
            path = path.replace("{" + name + suffix + "}", value)
    assert "{" not in path, f"test does not know how to fill {path}"
    return path


def _via(handler: Any) -> str:
    policy = handler.opt.get("policy")
    return policy.via if isinstance(policy, Policy) else "bearer"


def _csrf(client: TestClient[Any]) -> str:
    client.cookies.clear()
    token = client.get("/login").cookies.get("csrftoken")
    assert token
    return token


def sign_in_page(client: TestClient[Any], username: str) -> str:
    """Sign in through the sign-in form; the session cookie's value."""
    csrf = _csrf(client)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies.get(SESSION_COOKIE)
    assert cookie
    return cookie


# --- every route, every role ------------------------------------------------------------------


def test_every_route_and_role_carries_the_headers(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin)
    usernames = {role: f"hdr-{role.value.replace('_', '-')}" for role in Role}
    tokens: dict[Role | None, str | None] = {None: None}
    # signing out revokes the credential: the sign-out route gets one of its own, made
    # now, before the walk's empty sign-ins have the client's address throttled
    spare: dict[Role, str] = {}
    for role in Role:
        facilities = [facility["id"]] if role is Role.SHELTER_STAFF else None
        header = accounts.headers(usernames[role], role.value, facilities)
        tokens[role] = header["Authorization"].removeprefix("Bearer ")
        spare[role] = accounts.headers(usernames[role])["Authorization"].removeprefix("Bearer ")
    csrf = _csrf(client)

    checked: set[tuple[str, str]] = set()
    responses = 0
    for path, method, handler in _routes(client):
        url = _concrete(path, facility["id"])
        for who, token in tokens.items():
            if who is not None and (method, path) == SIGN_OUT_API:
                token = spare[who]
            client.cookies.clear()
            client.cookies.set("csrftoken", csrf)
            headers = {"x-csrftoken": csrf, "accept": "text/html,application/json"}
            if token and _via(handler) == "cookie":
                use_page_session(client, token)
            elif token:
                headers["Authorization"] = f"Bearer {token}"
            kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
            if method in {"POST", "PUT", "PATCH"}:
                if _via(handler) == "cookie":
                    kwargs["data"] = {"_csrf_token": csrf}
                else:
                    kwargs["json"] = {}
            response = client.request(method, url, **kwargs)
            label = f"{method} {url} as {who.value if who else 'anonymous'}: {response.status_code}"
            assert response.status_code < 500, label
            assert_protected(response, label)
            checked.add((method, path))
            responses += 1
    paths = {path for _, path in checked}
    assert {"/call", "/police", "/staff/residents", "/staff/holds", "/facilities"} <= paths
    assert {"/dashboard", "/inbox", "/login", "/health"} <= paths
    assert any(path.startswith("/schema") for path in paths)
    assert len(checked) > 80
    assert responses == len(checked) * (len(Role) + 1)


def test_error_responses_and_documents_carry_the_headers(
    client: TestClient[Any], accounts: Accounts
) -> None:
    counsellor = accounts.headers("hdr-counsellor", "counsellor")
    police = accounts.headers("hdr-police", "police")
    html = {"accept": "text/html"}
    cases: list[tuple[str, Any, int]] = [
        ("OpenAPI document", client.get("/schema/openapi.json"), 200),
        ("health", client.get("/health"), 200),
        ("stylesheet", client.get("/static/broker.css"), 200),
        ("sign-in page", client.get("/login"), 200),
        ("unknown API path", client.get("/api/v1/no-such-thing"), 404),
        ("unknown page", client.get("/no-such-page", headers=html), 404),
        ("API without token", client.get("/api/v1/facilities"), 401),
        ("page without session", client.get("/call", follow_redirects=False), 303),
        ("API wrong role", client.get("/api/v1/facilities", headers=police), 403),
        ("wrong method", client.put("/health"), 405),
        ("bad body", client.post("/api/v1/matches", json={"x": 1}, headers=counsellor), 422),
        ("malformed body", client.post("/api/v1/matches", content=b"{", headers=counsellor), 400),
        ("form without CSRF token", client.post("/login", data={"username": "x"}), 403),
    ]
    use_page_session(client, counsellor["Authorization"])
    wrong_role = client.get("/staff/capacity")
    assert "<h1>403</h1>" in wrong_role.text
    cases.append(("page wrong role", wrong_role, 403))
    cases.append(("page 404", client.get("/call/holds/" + "0" * 32 + "/match-again"), 404))
    for label, response, status in cases:
        assert response.status_code == status, (label, response.status_code, response.text[:200])
        assert_protected(response, label)


@pytest.mark.parametrize(
    ("failure", "status"),
    [(RuntimeError("boom"), 500), (OperationalError("SELECT 1", {}, Exception("gone")), 503)],
)
def test_server_errors_carry_the_headers(
    client: TestClient[Any],
    accounts: Accounts,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    status: int,
) -> None:
    token = accounts.headers("hdr-failing", "counsellor")["Authorization"]

    def failing_lookup(*_: Any) -> None:
        raise failure

    monkeypatch.setattr(api.guards, "_lookup", failing_lookup)
    as_json = client.get("/api/v1/facilities", headers={"Authorization": token})
    assert as_json.status_code == status
    assert as_json.json()["error"]["status"] == status
    assert_protected(as_json, f"JSON {status}")
    use_page_session(client, token)
    page = client.get("/call")
    assert page.status_code == status
    assert f"<h1>{status}</h1>" in page.text
    assert_protected(page, f"page {status}")


# --- production ---------------------------------------------------------------------------------


def _production(settings: Settings) -> Settings:
    # distinct keys that are none of the published demo keys
    keys = {
        name: base64.urlsafe_b64encode(bytes([index + 1]) * 32).decode()
        for index, name in enumerate(
            ("address_key", "identity_key", "token_secret", "audit_key", "webhook_secret")
        )
    }
    return with_settings(
        settings,
        mode="production",
        secure_cookies=False,
        hotline_contact="Duty desk: +36 1 555 0100",
        **keys,
    )


@pytest.fixture
def production_client(settings: Settings, clock: TestClock) -> Iterator[TestClient[Any]]:
    app = create_app(_production(settings), clock=clock)
    with TestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_production_adds_hsts_and_secure_cookies(production_client: TestClient[Any]) -> None:
    assert production_client.app.state.broker.settings.secure_cookies is True
    for url in ("/login", "/health", "/schema/openapi.json", "/api/v1/facilities", "/nowhere"):
        response = production_client.get(url, follow_redirects=False)
        assert_protected(response, url, production=True)
    cookies = production_client.get("/login").headers.get_list("set-cookie")
    csrf = [c for c in cookies if c.startswith("csrftoken=")]
    assert csrf and all("; secure" in c.lower() for c in csrf)
    assert all("httponly" in c.lower() for c in csrf)


def test_secure_cookie_setting_marks_the_session_cookie(
    settings: Settings, clock: TestClock, accounts: Accounts
) -> None:
    app = create_app(with_settings(settings, secure_cookies=True), clock=clock)
    # a secure cookie goes back over https only
    with TestClient(
        app=app, raise_server_exceptions=False, base_url="https://testserver.local"
    ) as secure_client:
        token = Accounts(settings, secure_client, clock).headers("hdr-secure", "counsellor")
        use_page_session(secure_client, token["Authorization"])
        csrf = secure_client.get("/call").cookies.get("csrftoken") or ""
        response = secure_client.post("/logout", data={"_csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text
    session = [
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
    ]
    assert len(session) == 1
    flags = session[0].lower()
    assert "; secure" in flags and "httponly" in flags and "samesite=strict" in flags


# --- one credential per surface -----------------------------------------------------------------


def test_a_page_session_opens_no_api(client: TestClient[Any], accounts: Accounts) -> None:
    token = accounts.headers("hdr-cookie", "counsellor")["Authorization"]
    page = page_session_for(client, token)
    client.cookies.clear()
    assert client.get("/call", cookies={SESSION_COOKIE: page}).status_code == 200

    as_cookie = client.get("/api/v1/facilities", cookies={SESSION_COOKIE: page})
    assert as_cookie.status_code == 401
    assert "never the page session cookie" in as_cookie.json()["error"]["message"]
    assert_protected(as_cookie, "cookie on the API")
    as_bearer = client.get("/api/v1/facilities", headers={"Authorization": f"Bearer {page}"})
    assert as_bearer.status_code == 401
    both = client.get(
        "/api/v1/regions",
        cookies={SESSION_COOKIE: page},
        headers={"Authorization": "Bearer nonsense"},
    )
    assert both.status_code == 401
    assert client.get("/api/v1/regions", headers={"Authorization": token}).status_code == 200


def test_the_sign_in_page_issues_a_page_session_only(
    client: TestClient[Any], accounts: Accounts
) -> None:
    accounts.create("hdr-form", "counsellor")
    cookie = sign_in_page(client, "hdr-form")
    client.cookies.clear()
    assert client.get("/call", cookies={SESSION_COOKIE: cookie}).status_code == 200
    client.cookies.clear()
    refused = client.get("/api/v1/regions", headers={"Authorization": f"Bearer {cookie}"})
    assert refused.status_code == 401


def test_bearer_tokens_and_api_keys_open_no_page(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    token = accounts.headers("hdr-bearer", "counsellor")["Authorization"].split()[1]
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            key = api_key_create(
                session=session,
                token_secret=settings.token_secret_bytes,
                username="hdr-bearer",
                label="machine",
                now=clock(),
            )
    finally:
        engine.dispose()
    assert client.get("/api/v1/regions", headers={"Authorization": f"Bearer {key}"}).is_success

    page = page_session_for(client, token)
    attempts: dict[str, dict[str, Any]] = {
        "bearer header": {"headers": {"Authorization": f"Bearer {token}"}},
        "API key header": {"headers": {"Authorization": f"Bearer {key}"}},
        "page session as bearer header": {"headers": {"Authorization": f"Bearer {page}"}},
        "token as cookie": {"cookies": {SESSION_COOKIE: token}},
        "API key as cookie": {"cookies": {SESSION_COOKIE: key}},
        "made-up cookie": {"cookies": {SESSION_COOKIE: page[:-4] + "abcd"}},
    }
    for label, kwargs in attempts.items():
        client.cookies.clear()
        response = client.get("/call", follow_redirects=False, **kwargs)
        assert response.status_code == 303, label
        assert response.headers["location"] == "/login", label
        assert_protected(response, label)
    client.cookies.clear()
    assert client.get("/call", cookies={SESSION_COOKIE: page}).status_code == 200


def test_each_page_request_restarts_the_idle_clock(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    token = accounts.headers("hdr-idle", "counsellor")["Authorization"]
    use_page_session(client, token)
    idle = client.app.state.broker.settings.session_idle_minutes
    for _ in range(3):  # in use for longer than the idle limit, never idle that long
        clock.advance(minutes=idle - 5)
        assert client.get("/call", follow_redirects=False).status_code == 200
    clock.advance(minutes=idle + 1)
    ended = client.get("/call", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/login"
    assert client.get("/api/v1/regions", headers={"Authorization": token}).status_code == 200


def test_every_route_reads_the_credential_of_its_surface(client: TestClient[Any]) -> None:
    for path, method, handler in _routes(client):
        policy = handler.opt.get("policy")
        if not isinstance(policy, Policy):
            continue
        assert surface_fits(path, policy), f"{method} {path} declares {policy.via}"
        if path.startswith("/api/"):
            assert policy.via == "bearer", f"{method} {path}"
        elif not policy.public:
            assert policy.via == "cookie", f"{method} {path}"


def test_a_route_declaring_the_wrong_surface_is_refused(
    client: TestClient[Any], accounts: Accounts
) -> None:
    @get("/api/v1/misdeclared", opt=allow(*ALL_ROLES, via="cookie"), sync_to_thread=False)
    def misdeclared_api() -> str:
        return "open"

    @get("/misdeclared-page", opt=allow(*ALL_ROLES), sync_to_thread=False)
    def misdeclared_page() -> str:
        return "open"

    client.app.register(misdeclared_api)
    client.app.register(misdeclared_page)
    token = accounts.headers("hdr-misdeclared", "admin")["Authorization"]
    for url in ("/api/v1/misdeclared", "/misdeclared-page"):
        client.cookies.clear()
        use_page_session(client, token)
        response = client.get(url, headers={"Authorization": token})
        assert response.status_code == 403, url
        assert "open" not in response.text
        assert_protected(response, url)


def test_every_post_form_carries_the_csrf_token() -> None:
    forms = 0
    for template in sorted((PROJECT_ROOT / "templates").glob("*.html")):
        text = template.read_text()
        for form in re.finditer(r"<form\b[^>]*>.*?</form>", text, flags=re.S | re.I):
            if 'method="post"' in form.group(0).split(">", 1)[0].lower():
                forms += 1
                assert "{{ csrf_input | safe }}" in form.group(0), (template.name, form.group(0))
    assert forms >= 10


def test_every_page_form_is_refused_without_the_csrf_token(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin)
    refused = 0
    for path, method, handler in _routes(client):
        if method not in UNSAFE or path.startswith("/api/"):
            continue
        policy = handler.opt.get("policy")
        assert isinstance(policy, Policy)
        role = next(iter(policy.roles), Role.COUNSELLOR)
        facilities = [facility["id"]] if role is Role.SHELTER_STAFF else None
        token = accounts.headers(f"csrf-{refused}", role.value, facilities)["Authorization"]
        client.cookies.clear()
        use_page_session(client, token)
        response = client.request(method, _concrete(path, facility["id"]), data={"x": "1"})
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert_protected(response, f"{method} {path}")
        refused += 1
    assert refused >= 10


# Standalone documents (a simulation's report.html, also written to a folder) carry their
# one <style> inline and are served under a policy that allows exactly its hash.
STANDALONE_DOCUMENTS = {"simulation_report.html"}


def test_templates_hold_no_inline_script_or_style() -> None:
    inline = re.compile(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    for template in sorted(Path(PROJECT_ROOT / "templates").rglob("*.html")):
        found = inline.findall(template.read_text())
        if template.name in STANDALONE_DOCUMENTS:
            assert [item.lower() for item in found] == ["<style"], (template.name, found)
            continue
        assert found == [], (template.name, found)
