"""Page sessions end after 30 idle minutes and after 12 hours in any case; `broker users
revoke` ends every credential of an account; new passwords are long and uncommon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.errors import InvalidInput
from broker.network import demo_logins
from broker.services import accounts as service
from broker.settings import PROJECT_ROOT, Settings
from tests.conftest import PASSWORD, Accounts, TestClock
from tests.test_cli import run


@pytest.fixture
def settings(database_url: str) -> Settings:
    # the production lifetimes: 12 hours in all, 30 minutes idle
    return Settings(database_url=database_url, token_ttl_minutes=12 * 60, session_idle_minutes=30)


def _page_sign_in(client: TestClient[Any], username: str) -> None:
    client.get("/login")
    csrf = client.cookies.get("csrftoken") or ""
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": csrf},
        headers={"x-csrftoken": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _signed_in(client: TestClient[Any]) -> bool:
    response = client.get("/call", follow_redirects=False)
    assert response.status_code in {200, 303}, response.status_code
    return response.status_code == 200


def _last_used(settings: Settings) -> Any:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        value = connection.execute(
            sa.text("SELECT last_used_at FROM credentials WHERE kind = 'page'")
        ).scalar_one()
    engine.dispose()
    return value


def test_a_page_session_ends_after_thirty_idle_minutes(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    _page_sign_in(client, "vera")
    assert _signed_in(client)
    for _ in range(4):  # used every 29 minutes, it lives on
        clock.advance(minutes=29)
        assert _signed_in(client)
    clock.advance(minutes=30)
    assert not _signed_in(client)
    assert client.get("/call").url.path == "/login"


def test_a_page_session_ends_after_twelve_hours_however_busy(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    _page_sign_in(client, "vera")
    for _ in range(11 * 3 + 2):  # every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert _signed_in(client)
    clock.advance(minutes=20)
    assert not _signed_in(client)


def test_last_use_is_written_at_most_once_a_minute(
    client: TestClient[Any], accounts: Accounts, clock: TestClock, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    _page_sign_in(client, "vera")
    signed_in_at = _last_used(settings)
    for _ in range(5):
        clock.advance(seconds=10)
        assert _signed_in(client)
    assert _last_used(settings) == signed_in_at
    clock.advance(seconds=15)
    assert _signed_in(client)
    assert _last_used(settings) != signed_in_at


def test_revoking_an_account_ends_its_sessions_tokens_and_keys(
    client: TestClient[Any], accounts: Accounts, clock: TestClock, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    accounts.create("ida", "counsellor")
    _page_sign_in(client, "vera")
    bearer = accounts.headers("vera")
    other = accounts.headers("ida")
    engine = make_engine(settings.database_url, pool_size=1)
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        key = service.api_key_create(
            session=session,
            token_secret=settings.token_secret_bytes,
            username="vera",
            label="desk",
            now=clock(),
        )
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        assert service.revoke_all(session=session, username="vera", now=clock()) == 3
    engine.dispose()
    assert not _signed_in(client)
    for headers in (bearer, {"Authorization": f"Bearer {key}"}):
        assert client.get("/api/v1/regions", headers=headers).status_code == 401
    assert client.get("/api/v1/regions", headers=other).status_code == 200
    # she may sign in again
    assert accounts.headers("vera")


def test_cli_revokes_and_unlocks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], url).returncode == 0
    run(
        ["users", "create", "--username", "eva", "--role", "police", "--password-stdin"],
        url,
        stdin="a-long-enough-secret\n",
    )
    key = run(["keys", "create", "--username", "eva"], url).stdout.strip()
    revoked = run(["users", "revoke", "--username", "eva"], url)
    assert revoked.returncode == 0 and "1 sessions, tokens and API keys revoked" in revoked.stdout
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        live = connection.execute(
            sa.text("SELECT COUNT(*) FROM credentials WHERE revoked_at IS NULL")
        ).scalar_one()
    engine.dispose()
    assert key and live == 0
    unlocked = run(["users", "unlock", "--username", "eva"], url)
    assert unlocked.returncode == 0 and "no failed sign-ins" in unlocked.stdout
    assert run(["users", "unlock", "--username", "nobody"], url).returncode == 2


# --- passwords --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-pass1", "at least 12 characters"),
        ("Password1234", "common passwords"),
        ("QWERTYUIOP123", "common passwords"),
        ("szeretlek123456", "common passwords"),
        ("123456789012", "common passwords"),
    ],
)
def test_weak_passwords_are_refused(password: str, problem: str) -> None:
    found = service.password_problem(password, common=service.common_passwords())
    assert found is not None and problem in found


def test_the_list_is_shipped_and_the_demo_passwords_pass() -> None:
    common = service.common_passwords()
    assert 2000 <= len(common) <= 20000
    assert all(entry == entry.casefold() for entry in common)
    logins = demo_logins(PROJECT_ROOT / "data" / "demo_network.toml")
    assert logins
    for login in logins:
        assert service.password_problem(login.password, common=common) is None, login.username
    assert service.password_problem(PASSWORD, common=common) is None


def test_user_create_refuses_a_common_password(settings: Settings, clock: TestClock) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    with (
        pytest.raises(InvalidInput, match="common passwords"),
        unit_of_work(engine, audit_key=settings.audit_key_bytes) as session,
    ):
        service.user_create(
            session=session,
            passwords=Passwords(),
            username="vera",
            role="counsellor",
            password="iloveyou1234",
            now=clock(),
        )
    engine.dispose()
