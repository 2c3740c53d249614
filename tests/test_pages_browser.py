"""The HTML pages in headless Chromium (Debian's package) driven by Playwright.

The broker runs as a real server on a free local port with the demo network loaded;
screenshots are kept under ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.browser_support import demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("pages")) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as opened:
        yield opened


def test_wrong_password_shows_a_message(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.fill("#username", "counsellor")
    page.fill("#password", "not-the-password")
    page.click("#password-form button[type=submit]")
    assert page.locator(".error").inner_text() == "Wrong username or password."
    assert page.url.endswith("/login")


def test_shelter_staff_updates_capacity_in_one_click(page: Any, server: str) -> None:
    login(page, server, "house-staff")
    page.wait_for_url(f"{server}/staff/capacity")
    cards = page.locator("section.capacity")
    assert cards.count() == 3  # the three kinds of the one house, and nothing else
    card = cards.first
    units_before = int(card.locator("input[name=free_units]").input_value())
    beds_before = int(card.locator("input[name=free_beds]").input_value())

    # one click on "+" for beds records a report at once
    card.locator("button[value='beds+']").click()
    page.wait_for_url("**/staff/capacity?saved=*")
    card = page.locator("section.capacity").first
    assert card.locator(".ok").inner_text() == "Report saved."
    assert int(card.locator("input[name=free_beds]").input_value()) == beds_before + 1
    assert int(card.locator("input[name=free_units]").input_value()) == units_before
    reported = card.locator("time").get_attribute("datetime")
    assert reported is not None
    age = datetime.now(UTC) - datetime.fromisoformat(reported)
    assert age.total_seconds() < 60
    assert card.locator(".badge").count() == 0
    shot(page, "staff-capacity")

    # an impossible report is refused with its reason, and the numbers stay
    card.locator("input[name=free_units]").fill("0")
    card.locator("button[value=report]").click()
    card = page.locator("section.capacity").first
    assert "free beds without a free unit" in card.locator(".error").inner_text()
    page.goto(f"{server}/staff/capacity")
    assert (
        int(page.locator("section.capacity").first.locator("input[name=free_units]").input_value())
        == units_before
    )


def test_counsellor_overview_filters_and_marks_stale(page: Any, server: str) -> None:
    login(page, server, "counsellor")
    page.wait_for_url(f"{server}/call")
    page.click("nav a[href='/facilities']")
    page.wait_for_url(f"{server}/facilities")
    rows = page.locator("table.facilities tbody tr")
    assert rows.count() == 59
    assert page.locator("tr.stale").count() >= 1
    page.select_option("#kind", "secret_shelter")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/facilities?kind=secret_shelter*")
    assert rows.count() == 8
    assert all("Secret shelter" in rows.nth(i).inner_text() for i in range(rows.count()))
    page.select_option("#region", "Bács-Kiskun")
    page.click("form.filters button[type=submit]")
    assert rows.count() == 1
    shot(page, "counsellor-overview")
    assert "utca" not in page.content()  # no street address on the counsellor's page


def test_forms_without_csrf_token_are_refused(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        response = client.post(
            "/login", data={"username": "counsellor", "password": "counsellor-demo-2026"}
        )
        assert response.status_code == 403
        assert "broker_session" not in response.cookies


def test_pages_need_a_session_and_the_right_role(page: Any, server: str) -> None:
    page.goto(f"{server}/staff/capacity")
    assert page.url.endswith("/login")
    login(page, server, "counsellor")
    page.wait_for_url(f"{server}/call")
    response = page.goto(f"{server}/staff/capacity")
    assert response.status == 403
    assert "may not use this route" in page.content()
