"""Logins, tokens, API keys; failed logins are recorded."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine, unit_of_work
from broker.services.accounts import api_key_create
from broker.settings import Settings
from tests.conftest import PASSWORD, Accounts, TestClock


def _audit_actions(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        actions = [
            row[0]
            for row in connection.execute(sa.text("SELECT action FROM audit_events ORDER BY id"))
        ]
    engine.dispose()
    return actions


def test_login_returns_token_and_role(client: TestClient[Any], accounts: Accounts) -> None:
    accounts.create("vera", "counsellor")
    response = client.post("/api/v1/auth/token", json={"username": "Vera", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "counsellor" and len(body["access_token"]) >= 40
    me = client.get("/api/v1/regions", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


def test_failed_logins_are_401_alike_and_recorded(
    client: TestClient[Any], accounts: Accounts, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    wrong_password = client.post(
        "/api/v1/auth/token", json={"username": "vera", "password": "nope-nope-nope"}
    )
    no_user = client.post(
        "/api/v1/auth/token", json={"username": "nobody", "password": "nope-nope-nope"}
    )
    assert wrong_password.status_code == no_user.status_code == 401
    assert wrong_password.json() == no_user.json()
    assert _audit_actions(settings).count("auth.login_failed") == 2


def test_bad_tokens_are_401(client: TestClient[Any]) -> None:
    for header in ("Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "", "Bearer " + "x" * 5000):
        response = client.get(
            "/api/v1/facilities", headers={"Authorization": header} if header else {}
        )
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "unauthenticated"


def test_token_expires_and_can_be_revoked(
    client: TestClient[Any], accounts: Accounts, clock: TestClock, settings: Settings
) -> None:
    headers = accounts.headers("vera", "counsellor")
    assert client.get("/api/v1/regions", headers=headers).status_code == 200
    clock.advance(minutes=settings.token_ttl_minutes + 1)
    assert client.get("/api/v1/regions", headers=headers).status_code == 401

    fresh = accounts.headers("vera")
    assert client.delete("/api/v1/auth/token", headers=fresh).status_code == 204
    assert client.get("/api/v1/regions", headers=fresh).status_code == 401


def test_api_key_authenticates_a_machine_client(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    accounts.create("dispatch", "counsellor")
    engine = make_engine(settings.database_url, pool_size=1)
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        key = api_key_create(
            session=session,
            token_secret=settings.token_secret_bytes,
            username="dispatch",
            label="dispatch system",
            now=clock(),
        )
    engine.dispose()
    clock.advance(days=400)  # API keys do not expire with the login lifetime
    assert (
        client.get("/api/v1/regions", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
