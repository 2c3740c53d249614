"""Sign-in throttling per account and per client address, on the API and the sign-in page;
locks and their audit; how many guesses one account allows per hour."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.domain.login_throttle import ThrottlePolicy, ThrottleState, record_failure
from broker.errors import RateLimited, SignInFailed
from broker.services import accounts as service
from broker.settings import Settings
from tests.conftest import PASSWORD, Accounts, TestClock

WRONG = "not-the-password-at-all"
TOKEN = "/api/v1/auth/token"


def _try(client: TestClient[Any], username: str, password: str = WRONG) -> Any:
    return client.post(TOKEN, json={"username": username, "password": password})


def _actions(settings: Settings) -> list[str]:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT action FROM audit_events ORDER BY sequence"))
        actions = [row[0] for row in rows]
    engine.dispose()
    return actions


def _locks(settings: Settings) -> list[str]:
    """The subject type of every lock entry: "user" for an account, "client" for an address."""
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT subject_type FROM audit_events WHERE action = 'auth.locked'")
        )
        kinds = [row[0] for row in rows]
    engine.dispose()
    return kinds


# --- the rule -------------------------------------------------------------------------


def test_five_failures_are_free_then_the_wait_doubles_and_twenty_lock() -> None:
    policy, now = ThrottlePolicy(), datetime(2026, 1, 1, tzinfo=UTC)
    state, waits, locks = ThrottleState(), [], []
    for _ in range(22):
        after = record_failure(policy, state, now)
        state = after.state
        wait = state.wait(now)
        waits.append(int(wait.total_seconds()) if wait else 0)
        locks.append(after.locked_now)
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:11] == [60, 120, 240, 480, 960, 1920, 3600]  # capped by the lock's hour
    assert waits[19] == 3600 and locks.index(True) == 19 and locks.count(True) == 1
    # tries during the lock are counted but do not stretch it
    later = record_failure(policy, state, now + timedelta(minutes=30)).state
    assert later.blocked_until == state.blocked_until and later.failures == 23
    # a streak ends a window after its last wait; then the account starts afresh
    assert state.blocked_until is not None
    end = state.blocked_until + policy.window
    assert state.current(end - timedelta(seconds=1)).failures == 22
    assert state.current(end) == ThrottleState()


def _heard_guesses(policy: ThrottlePolicy, extra: int, horizon: timedelta) -> list[datetime]:
    """A patient guesser: every guess as soon as it is allowed, and after ``extra`` guesses
    past the free ones it waits for the streak to end rather than for a longer wait."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    at, state = start, ThrottleState()
    heard: list[datetime] = []
    while True:
        wait = state.wait(at)
        if wait is not None:
            at += wait
        if at >= start + horizon:
            return heard
        current = state.current(at)
        if current.failures >= policy.free_failures + extra:
            assert current.expires_at is not None
            at = current.expires_at
            continue
        heard.append(at)
        state = record_failure(policy, state, at).state


def test_guesses_per_hour_for_one_account() -> None:
    """The most guesses any strategy that obeys the waits gets (one that ignores them gets
    fewer): 24 in the first hour, 20 an hour kept up over a day."""
    policy = ThrottlePolicy()
    first_hour = {k: len(_heard_guesses(policy, k, timedelta(hours=1))) for k in range(16)}
    one_day = {k: len(_heard_guesses(policy, k, timedelta(hours=24))) for k in range(16)}
    assert max(first_hour.values()) == 24 and first_hour[0] == 20
    assert max(one_day.values()) == 480  # 20 an hour


def test_the_best_guessing_schedule_replayed_over_http(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    """The schedule the rule allows is what the API allows: each of its 24 guesses in the
    hour is heard (401), and one guess more at any of those moments is refused (429)."""
    accounts.create("target", "counsellor")
    start = clock.now
    schedule = _heard_guesses(ThrottlePolicy(), 1, timedelta(hours=1))
    assert len(schedule) == 24 and schedule[-1] - schedule[0] < timedelta(hours=1)
    for index, at in enumerate(schedule):
        clock.now = start + (at - schedule[0])
        assert _try(client, "target").status_code == 401, index
    # one guess more, at once, is not heard
    assert _try(client, "target").status_code == 429
    clock.advance(hours=2)
    assert _try(client, "target", PASSWORD).status_code == 200


def test_a_client_ignoring_retry_after_gets_five_guesses_an_hour(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    accounts.create("target", "counsellor")
    statuses = []
    for _ in range(120):  # every 30 seconds for an hour
        statuses.append(_try(client, "target").status_code)
        clock.advance(seconds=30)
    assert statuses.count(401) == 5 and statuses.count(429) == 115


# --- over HTTP ----------------------------------------------------------------------


def test_sixth_try_is_429_with_a_doubling_retry_after(
    client: TestClient[Any], accounts: Accounts, clock: TestClock, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    assert [_try(client, "vera").status_code for _ in range(5)] == [401] * 5
    waits = []
    for _ in range(3):
        refused = _try(client, "vera", PASSWORD)  # even the right password is not heard
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        waits.append(int(refused.headers["retry-after"]))
    assert waits == [120, 240, 480]
    clock.advance(seconds=479)
    assert _try(client, "vera", PASSWORD).status_code == 429
    clock.advance(seconds=960 + 1)
    # the wait is over: the right password is heard, and the account's streak ends
    assert _try(client, "vera", PASSWORD).status_code == 200
    assert _try(client, "vera").status_code == 401
    actions = _actions(settings)
    assert actions.count("auth.login_failed") == 6
    assert actions.count("auth.login_throttled") == 4


def test_unknown_username_gets_the_same_answers_as_a_wrong_password(
    client: TestClient[Any], accounts: Accounts, clock: TestClock
) -> None:
    accounts.create("vera", "counsellor")

    def answers(username: str) -> list[tuple[int, str | None, Any]]:
        seen = []
        for _ in range(7):
            response = _try(client, username)
            seen.append(
                (response.status_code, response.headers.get("retry-after"), response.json())
            )
        clock.advance(hours=3)
        return seen

    known, unknown = answers("vera"), answers("nobody-here")
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 5 + [429] * 2


def test_twenty_failures_lock_the_account_until_an_hour_or_unlock(
    client: TestClient[Any], accounts: Accounts, clock: TestClock, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    for _ in range(20):
        _try(client, "vera")
    locked = _try(client, "vera", PASSWORD)
    assert locked.status_code == 429 and 3500 <= int(locked.headers["retry-after"]) <= 3600
    # the account is locked, and so is the address that did all the guessing
    assert sorted(_locks(settings)) == ["client", "user"]
    clock.advance(minutes=59)
    assert _try(client, "vera", PASSWORD).status_code == 429
    assert len(_locks(settings)) == 2  # hammering on a lock does not lock again

    engine = make_engine(settings.database_url, pool_size=1)
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        assert accounts_unlock(session, settings, clock)
    engine.dispose()
    # the address's streak is the client's own, but other addresses are not blocked: this
    # client's address is blocked too, so sign in from another one through the service
    with unit_of_work(
        make_engine(settings.database_url, pool_size=1), audit_key=settings.audit_key_bytes
    ) as session:
        signed_in = service.sign_in(
            session=session,
            passwords=Passwords(),
            token_secret=settings.token_secret_bytes,
            policy=service.SignInPolicy.from_settings(settings),
            username="vera",
            password=PASSWORD,
            otp=None,
            client="198.51.100.7",
            now=clock(),
        )
    assert isinstance(signed_in, service.SignedIn)
    assert "auth.unlock" in _actions(settings)


def accounts_unlock(session: Any, settings: Settings, clock: TestClock) -> bool:
    return service.unlock(
        session=session, token_secret=settings.token_secret_bytes, username="vera", now=clock()
    )


def test_the_sign_in_page_is_throttled_alike(
    client: TestClient[Any], accounts: Accounts, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    client.get("/login")
    csrf = client.cookies.get("csrftoken") or ""

    def submit(password: str) -> Any:
        return client.post(
            "/login",
            data={"username": "vera", "password": password, "_csrf_token": csrf},
            headers={"x-csrftoken": csrf},
            follow_redirects=False,
        )

    assert [submit(WRONG).status_code for _ in range(5)] == [401] * 5
    refused = submit(PASSWORD)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "120"
    assert "Too many failed sign-ins. Try again in 2 minutes." in refused.text
    # the page and the API share the account's streak
    assert _try(client, "vera", PASSWORD).status_code == 429
    assert _actions(settings).count("auth.login_failed") == 5


def test_a_control_character_in_the_name_is_refused_on_the_api_and_counted_on_the_page(
    client: TestClient[Any], accounts: Accounts, settings: Settings
) -> None:
    accounts.create("vera", "counsellor")
    # the API's schema refuses it; PostgreSQL would refuse a NUL in a query
    api = _try(client, "ve\x00ra")
    assert api.status_code == 422, api.text
    assert api.json()["error"]["details"][0]["field"] == "username"
    client.get("/login")
    csrf = client.cookies.get("csrftoken") or ""
    page = client.post(
        "/login",
        data={"username": "vera\x00", "password": WRONG, "_csrf_token": csrf},
        headers={"x-csrftoken": csrf},
        follow_redirects=False,
    )
    # the page has no schema: the name reaches no query, and the try counts as a wrong name
    assert page.status_code == 401, page.text
    assert "Wrong username or password" in page.text
    assert _actions(settings).count("auth.login_failed") == 1


# --- the service: accounts and addresses ---------------------------------------------


class Desk:
    """Signs in through the service, naming the client address."""

    def __init__(self, settings: Settings, clock: TestClock) -> None:
        self.settings, self.clock = settings, clock
        self.engine = make_engine(settings.database_url, pool_size=1)
        self.passwords = Passwords()

    def sign_in(self, username: str, password: str, client: str) -> str:
        try:
            with unit_of_work(self.engine, audit_key=self.settings.audit_key_bytes) as session:
                try:
                    service.sign_in(
                        session=session,
                        passwords=self.passwords,
                        token_secret=self.settings.token_secret_bytes,
                        policy=service.SignInPolicy.from_settings(self.settings),
                        username=username,
                        password=password,
                        otp=None,
                        client=client,
                        now=self.clock(),
                    )
                except (SignInFailed, RateLimited) as problem:
                    # the request's unit of work commits a refusal that keeps its trace
                    session.commit()
                    raise problem
        except SignInFailed:
            return "failed"
        except RateLimited:
            return "throttled"
        return "ok"


@pytest.fixture
def desk(settings: Settings, clock: TestClock) -> Any:
    made = Desk(settings, clock)
    yield made
    made.engine.dispose()


def test_one_address_guessing_many_accounts_is_throttled(desk: Desk, accounts: Accounts) -> None:
    accounts.create("vera", "counsellor")
    outcomes = [desk.sign_in(f"user-{i}", WRONG, "203.0.113.9") for i in range(5)]
    assert outcomes == ["failed"] * 5
    # that address is refused even for a right password; another address is heard
    assert desk.sign_in("vera", PASSWORD, "203.0.113.9") == "throttled"
    assert desk.sign_in("vera", PASSWORD, "203.0.113.10") == "ok"


def test_one_account_guessed_from_many_addresses_is_throttled(
    desk: Desk, accounts: Accounts
) -> None:
    accounts.create("vera", "counsellor")
    outcomes = [desk.sign_in("vera", WRONG, f"203.0.113.{i}") for i in range(5)]
    assert outcomes == ["failed"] * 5
    assert desk.sign_in("vera", PASSWORD, "198.51.100.1") == "throttled"


def test_an_ipv6_client_is_throttled_by_its_64_network(desk: Desk, accounts: Accounts) -> None:
    for i in range(5):
        assert desk.sign_in(f"user-{i}", WRONG, f"2001:db8:1:2::{i + 1}") == "failed"
    assert desk.sign_in("user-x", WRONG, "2001:db8:1:2:ffff::9") == "throttled"
    assert desk.sign_in("user-x", WRONG, "2001:db8:1:3::1") == "failed"
    assert service.client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_a_success_ends_the_account_streak_but_not_the_address_one(
    desk: Desk, accounts: Accounts
) -> None:
    accounts.create("vera", "counsellor")
    accounts.create("ida", "counsellor")
    for _ in range(4):
        assert desk.sign_in("vera", WRONG, "203.0.113.5") == "failed"
    assert desk.sign_in("vera", PASSWORD, "203.0.113.5") == "ok"
    # vera's own count starts again from nothing (four more are free from elsewhere) ...
    for i in range(4):
        assert desk.sign_in("vera", WRONG, f"198.51.100.{i}") == "failed"
    # ... but the address keeps its four, and its fifth failure blocks it
    assert desk.sign_in("ida", WRONG, "203.0.113.5") == "failed"
    assert desk.sign_in("ida", PASSWORD, "203.0.113.5") == "throttled"


def test_unknown_and_known_usernames_cost_the_same_time(desk: Desk, accounts: Accounts) -> None:
    accounts.create("vera", "counsellor")
    timings: dict[str, list[float]] = {"wrong_password": [], "unknown_user": []}
    for round_ in range(6):
        for kind, username in (("wrong_password", "vera"), ("unknown_user", f"ghost-{round_}")):
            started = time.perf_counter()
            # a new address each time: the throttle is not what is measured here
            assert desk.sign_in(username, WRONG, f"192.0.2.{round_ * 2 + len(kind) % 2}") in {
                "failed"
            }
            timings[kind].append(time.perf_counter() - started)
        desk.clock.advance(hours=1)
    wrong = statistics.median(timings["wrong_password"])
    unknown = statistics.median(timings["unknown_user"])
    print(
        f"median sign-in: wrong password {wrong * 1000:.0f} ms, unknown user {unknown * 1000:.0f} ms"
    )
    # both are one argon2 verification; a missing hash would make one ten times faster
    assert 0.5 < unknown / wrong < 2.0


def test_parallel_guesses_for_one_account_do_not_slip_past_the_limit(
    desk: Desk, accounts: Accounts
) -> None:
    """Twelve wrong passwords at once from twelve addresses: the account's streak row is
    locked by each sign-in in turn, so exactly five are heard."""
    from concurrent.futures import ThreadPoolExecutor

    accounts.create("vera", "counsellor")
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(
            pool.map(lambda i: desk.sign_in("vera", WRONG, f"203.0.113.{i}"), range(12))
        )
    assert sorted(outcomes) == ["failed"] * 5 + ["throttled"] * 7
