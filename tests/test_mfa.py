"""The second factor: enrolment, codes on the API, recovery codes, no code twice, and
production's rule that every human sign-in has one."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from api.app import create_app
from broker.crypto import DecryptionFailed, SecondFactorKeys
from broker.db.engine import make_engine, unit_of_work
from broker.services import accounts as service
from broker.settings import Settings
from tests.conftest import PASSWORD, Accounts, TestClock, with_settings
from tests.test_cli import run

TOKEN = "/api/v1/auth/token"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # These tests send many refused codes from the one test client: its address's streak
    # (which a success does not end) is not what they are about.
    return Settings(
        database_url=database_url,
        token_ttl_minutes=365 * 24 * 60,
        login_address_free_failures=15,
    )


def _enrol(settings: Settings, clock: TestClock, username: str) -> service.Enrolment:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            return service.mfa_enable(
                session=session,
                token_secret=settings.token_secret_bytes,
                username=username,
                now=clock(),
            )
    finally:
        engine.dispose()


def _code(enrolment: service.Enrolment, clock: TestClock, steps: int = 0) -> str:
    totp = pyotp.parse_uri(enrolment.uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp.at(clock() + timedelta(seconds=30 * steps))


def _sign_in(client: TestClient[Any], username: str, otp: str | None = None) -> Any:
    body: dict[str, Any] = {"username": username, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return client.post(TOKEN, json=body)


def _code_of(response: Any) -> str:
    return str(response.json()["error"]["code"])


def _row(settings: Settings, sql: str) -> Any:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        row = connection.execute(sa.text(sql)).first()
    engine.dispose()
    return row


def test_enrolment_prints_once_and_stores_only_ciphertext_and_hashes(
    accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    enrolment = _enrol(settings, clock, "vera")
    assert enrolment.uri.startswith("otpauth://totp/Shelter%20broker:vera?secret=")
    assert "issuer=Shelter%20broker" in enrolment.uri
    assert len(enrolment.recovery_codes) == len(set(enrolment.recovery_codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in enrolment.recovery_codes)
    secret = pyotp.parse_uri(enrolment.uri).secret
    user_id, ciphertext = _row(
        settings, "SELECT id, totp_secret_ciphertext FROM users WHERE username = 'vera'"
    )
    stored = bytes(ciphertext)
    assert secret.encode() not in stored and base64.b32decode(secret) not in stored
    keys = SecondFactorKeys(settings.token_secret_bytes)
    assert keys.open_secret(user_id, stored) == secret
    # bound to its row: copied onto another account, it does not open
    with pytest.raises(DecryptionFailed):
        keys.open_secret(user_id + 1, stored)
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        hashes = [
            row[0] for row in connection.execute(sa.text("SELECT code_hash FROM recovery_codes"))
        ]
    engine.dispose()
    assert len(hashes) == 10
    for code in enrolment.recovery_codes:
        assert code not in hashes and code.replace("-", "") not in "".join(hashes)
    # a second enrolment must say so
    with pytest.raises(Exception, match="--replace"):
        _enrol(settings, clock, "vera")


def test_api_needs_the_code_of_an_enrolled_account(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    enrolment = _enrol(settings, clock, "vera")
    missing = _sign_in(client, "vera")
    assert missing.status_code == 401 and _code_of(missing) == "otp_required"
    wrong = _sign_in(client, "vera", "000000" if _code(enrolment, clock) != "000000" else "111111")
    assert wrong.status_code == 401 and _code_of(wrong) == "otp_invalid"
    assert set(wrong.json()["error"]) == {"status", "code", "message", "details"}
    # a wrong password with any code is the plain answer: the code is not even looked at
    bad = client.post(
        TOKEN, json={"username": "vera", "password": "wrong-password-x", "otp": "123456"}
    )
    assert bad.status_code == 401 and _code_of(bad) == "unauthenticated"

    code = _code(enrolment, clock)
    signed_in = _sign_in(client, "vera", code)
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    assert client.get("/api/v1/regions", headers={"Authorization": f"Bearer {token}"}).is_success

    # the same code again (a replay, or a second sign-in in the same half minute) is refused
    replay = _sign_in(client, "vera", code)
    assert replay.status_code == 401 and _code_of(replay) == "otp_invalid"
    # the code of the previous step is older than the one used: refused too
    assert _code_of(_sign_in(client, "vera", _code(enrolment, clock, steps=-1))) == "otp_invalid"
    clock.advance(seconds=30)
    assert _sign_in(client, "vera", _code(enrolment, clock)).status_code == 200
    # a code from a clock one step ahead is still accepted (phone clocks drift)
    clock.advance(seconds=30)
    assert _sign_in(client, "vera", _code(enrolment, clock, steps=1)).status_code == 200


def test_wrong_codes_count_as_failures(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    enrolment = _enrol(settings, clock, "vera")
    answers = [_code_of(_sign_in(client, "vera", "999999")) for _ in range(3)]
    answers += [_code_of(_sign_in(client, "vera")) for _ in range(2)]
    assert answers == ["otp_invalid"] * 3 + ["otp_required"] * 2
    refused = _sign_in(client, "vera", _code(enrolment, clock))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "120"


def test_a_recovery_code_works_once_in_place_of_the_code(
    client: TestClient[Any], accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")
    enrolment = _enrol(settings, clock, "vera")
    first, second = enrolment.recovery_codes[:2]
    assert _sign_in(client, "vera", first).status_code == 200
    again = _sign_in(client, "vera", first)
    assert again.status_code == 401 and _code_of(again) == "otp_invalid"
    # typed with capitals and without the dash, it is the same code
    assert _sign_in(client, "vera", second.replace("-", " ").upper()).status_code == 200
    (left,) = _row(settings, "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL")
    assert left == 8


@pytest.fixture
def production(settings: Settings) -> Settings:
    def key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    return with_settings(
        settings,
        mode="production",
        address_key=key(),
        identity_key=key(),
        token_secret=key(),
        audit_key=key(),
        webhook_secret=key(),
        hotline_contact="Duty desk: +36 1 555 0100",
    ).validate()


@pytest.fixture
def production_client(production: Settings, clock: TestClock) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(production, clock=clock), raise_server_exceptions=False) as c:
        yield c


def test_production_requires_a_second_factor_of_every_human_sign_in(
    production_client: TestClient[Any], production: Settings, clock: TestClock
) -> None:
    client = production_client
    desk = Accounts(production, client, clock)
    desk.create("vera", "counsellor")
    refused = _sign_in(client, "vera")
    assert refused.status_code == 403
    assert _code_of(refused) == "mfa_enrolment_required"
    assert "second factor" in refused.json()["error"]["message"]
    # wrong passwords still get the plain answer
    assert _code_of(client.post(TOKEN, json={"username": "vera", "password": "x" * 12})) == (
        "unauthenticated"
    )
    enrolment = _enrol(production, clock, "vera")
    assert _sign_in(client, "vera", _code(enrolment, clock)).status_code == 200
    # a machine client's API key is not a sign-in: it works as before
    engine = make_engine(production.database_url, pool_size=1)
    desk.create("dispatch", "counsellor")
    with unit_of_work(engine, audit_key=production.audit_key_bytes) as session:
        key = service.api_key_create(
            session=session,
            token_secret=production.token_secret_bytes,
            username="dispatch",
            label="dispatch system",
            now=clock(),
        )
    engine.dispose()
    assert client.get("/api/v1/regions", headers={"Authorization": f"Bearer {key}"}).is_success


def test_cli_enables_and_disables_the_second_factor(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], url).returncode == 0
    created = run(
        ["users", "create", "--username", "eva", "--role", "counsellor", "--password-stdin"],
        url,
        stdin="a-long-enough-secret\n",
    )
    assert created.returncode == 0, created.stderr
    enabled = run(["users", "mfa", "enable", "--username", "eva"], url)
    assert enabled.returncode == 0, enabled.stderr
    uris = re.findall(r"otpauth://totp/\S+", enabled.stdout)
    codes = re.findall(r"^\s+([a-z2-9]{5}-[a-z2-9]{5})$", enabled.stdout, re.MULTILINE)
    assert len(uris) == 1 and len(codes) == 10
    again = run(["users", "mfa", "enable", "--username", "eva"], url)
    assert again.returncode == 2 and "--replace" in again.stderr
    replaced = run(["users", "mfa", "enable", "--username", "eva", "--replace"], url)
    assert replaced.returncode == 0 and uris[0] not in replaced.stdout
    assert run(["users", "mfa", "disable", "--username", "eva"], url).returncode == 0
    assert run(["users", "mfa", "enable", "--username", "nobody"], url).returncode == 2


def test_one_code_sent_twice_at_once_signs_in_once(
    accounts: Accounts, settings: Settings, clock: TestClock
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from broker.crypto import Passwords
    from broker.errors import OtpInvalid

    accounts.create("vera", "counsellor")
    enrolment = _enrol(settings, clock, "vera")
    code = _code(enrolment, clock)
    engine = make_engine(settings.database_url, pool_size=2)
    passwords = Passwords()

    def attempt(client: str) -> str:
        try:
            with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
                service.sign_in(
                    session=session,
                    passwords=passwords,
                    token_secret=settings.token_secret_bytes,
                    policy=service.SignInPolicy.from_settings(settings),
                    username="vera",
                    password=PASSWORD,
                    otp=code,
                    client=client,
                    now=clock(),
                )
        except OtpInvalid:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(attempt, ["198.51.100.1", "198.51.100.2"]))
    engine.dispose()
    assert outcomes == ["refused", "signed in"]
