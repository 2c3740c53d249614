"""The two-step sign-in in headless Chromium: password, then the authenticator's code,
each sent with the Enter key, under the page's Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from broker.db.engine import make_engine, unit_of_work
from broker.services.accounts import mfa_enable
from broker.settings import Settings
from tests.browser_support import demo_server, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def enrolled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, pyotp.TOTP, list[str]]]:
    directory: Path = tmp_path_factory.mktemp("two-step")
    with demo_server(directory) as base:
        settings = Settings(database_url=f"sqlite:///{directory / 'broker.db'}")
        engine = make_engine(settings.database_url, pool_size=1)
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            enrolment = mfa_enable(
                session=session,
                token_secret=settings.token_secret_bytes,
                username="counsellor",
                now=datetime.now(UTC),
            )
        engine.dispose()
        totp = pyotp.parse_uri(enrolment.uri)
        assert isinstance(totp, pyotp.TOTP)
        yield base, totp, enrolment.recovery_codes


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as opened:
        problems: list[str] = []

        def console(message: Any) -> None:
            # a refused sign-in answers 401 and the browser's favicon request 404: the
            # browser logs those statuses, which are no fault of the page
            if message.type == "error" and not message.text.startswith(
                "Failed to load resource: the server responded with a status of 40"
            ):
                problems.append(f"{message.text} ({message.location.get('url')})")

        opened.on("console", console)
        opened.on("pageerror", lambda error: problems.append(str(error)))
        yield opened
        assert problems == []  # no script error and no refusal by the page's policy


def _password_step(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", "counsellor")
    page.fill("#password", "counsellor-demo-2026")
    page.press("#password", "Enter")
    page.wait_for_selector("#code")


def test_an_enrolled_account_signs_in_with_password_then_code(
    page: Any, enrolled: tuple[str, pyotp.TOTP, list[str]]
) -> None:
    base, totp, _ = enrolled
    _password_step(page, base)
    assert page.locator("#username").count() == 0  # the second form asks only for the code
    assert page.evaluate("document.activeElement.id") == "code"
    assert page.locator("script").count() == 0
    shot(page, "login-second-step")
    page.fill("#code", totp.now())
    page.press("#code", "Enter")
    page.wait_for_url(f"{base}/call")
    assert "counsellor" in page.locator(".who").inner_text()


def test_a_wrong_code_asks_again_and_a_recovery_code_then_works(
    page: Any, enrolled: tuple[str, pyotp.TOTP, list[str]]
) -> None:
    base, totp, recovery_codes = enrolled
    _password_step(page, base)
    wrong = "000000" if totp.now() != "000000" else "111111"
    page.fill("#code", wrong)
    page.click("#code-form button[type=submit]")
    assert page.locator(".error").inner_text() == (
        "That code is wrong, has expired or was used already."
    )
    assert page.locator("#code").is_visible()
    page.fill("#code", recovery_codes[0])
    page.press("#code", "Enter")
    page.wait_for_url(f"{base}/call")


def test_an_account_without_a_second_factor_signs_in_in_one_step(
    page: Any, enrolled: tuple[str, pyotp.TOTP, list[str]]
) -> None:
    base, _, _ = enrolled
    page.goto(f"{base}/login")
    page.fill("#username", "police")
    page.fill("#password", "police-demo-2026")
    page.press("#password", "Enter")
    page.wait_for_url(f"{base}/police")
