"""The HTML pages in headless Chromium (Debian's package) driven by Playwright.

The broker runs as a real server on a free local port with the demo network loaded;
screenshots are kept under ``test-artifacts/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from broker.crypto import AddressCipher, Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.domain.rules import load_rules
from broker.network import load_demo
from broker.settings import Settings
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'broker.db'}"
    upgrade(url)
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=1)
    with unit_of_work(engine) as session:
        load_demo(
            session=session,
            rules=load_rules(settings.data_dir),
            cipher=AddressCipher(settings.address_key_bytes),
            passwords=Passwords(),
            path=settings.data_dir / "demo_network.toml",
            now=datetime.now(UTC),
        )
    engine.dispose()
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo-2026")
    page.click("button[type=submit]")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_wrong_password_shows_a_message(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.fill("#username", "counsellor")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "Wrong username or password."
    assert page.url.endswith("/login")


def test_shelter_staff_updates_capacity_in_one_click(page: Any, server: str) -> None:
    _login(page, server, "house-staff")
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
    _shot(page, "staff-capacity")

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
    _login(page, server, "counsellor")
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
    _shot(page, "counsellor-overview")
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
    _login(page, server, "counsellor")
    page.wait_for_url(f"{server}/facilities")
    response = page.goto(f"{server}/staff/capacity")
    assert response.status == 403
    assert "may not use this route" in page.content()
