"""The shelter staff's capacity page in headless Chromium, used with the keyboard as well as
the mouse: Enter saves exactly the numbers typed, a refused report keeps them in the inputs,
and the confirmation or the refusal is on screen, in the card that was sent, after every save.

The stored numbers are read back through the JSON API, not only from the page's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser_support import demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CRISIS_CENTRE = "Napfény Ház Krízisközpont"  # house-staff's first facility: 5 units, 15 beds
SMALL_SCREEN = {"width": 390, "height": 640}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("staff-pages")) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as opened:
        yield opened


def _stored(base: str, facility_id: int) -> tuple[int, int]:
    """The numbers the broker holds for the facility, read by an admin through the API."""
    with httpx.Client(base_url=base) as api:
        token = api.post(
            "/api/v1/auth/token", json={"username": "admin", "password": "admin-demo-2026"}
        ).json()["access_token"]
        body = api.get(
            f"/api/v1/facilities/{facility_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    return int(body["reported_free_units"]), int(body["reported_free_beds"])


def _card(page: Any, name: str) -> Any:
    return page.locator("section.capacity").filter(has=page.locator("h2", has_text=name))


def _numbers(card: Any) -> tuple[int, int]:
    return (
        int(card.locator("input[name=free_units]").input_value()),
        int(card.locator("input[name=free_beds]").input_value()),
    )


def _in_view(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None
    return bool(box["y"] >= 0 and box["y"] + box["height"] <= size["height"])


def test_enter_saves_exactly_the_numbers_typed(page: Any, server: str) -> None:
    login(page, server, "house-staff")
    page.wait_for_url(f"{server}/staff/capacity")
    card = _card(page, CRISIS_CENTRE)
    facility_id = int(card.get_attribute("data-facility-id"))

    # Enter in the units field: both typed numbers, unchanged
    card.locator("input[name=free_units]").fill("4")
    card.locator("input[name=free_beds]").fill("9")
    card.locator("input[name=free_units]").press("Enter")
    page.wait_for_url(f"**/staff/capacity?saved={facility_id}*")
    card = _card(page, CRISIS_CENTRE)
    assert card.get_by_role("status").inner_text() == "Report saved."
    assert _numbers(card) == (4, 9)
    assert _stored(server, facility_id) == (4, 9)

    # Enter in the beds field as well
    card.locator("input[name=free_units]").fill("3")
    card.locator("input[name=free_beds]").fill("7")
    card.locator("input[name=free_beds]").press("Enter")
    page.wait_for_url(f"**/staff/capacity?saved={facility_id}*")
    card = _card(page, CRISIS_CENTRE)
    assert _numbers(card) == (3, 7)
    assert _stored(server, facility_id) == (3, 7)

    # the plus and minus buttons still report one more or one fewer on click
    card.locator("button[value='units+']").click()
    page.wait_for_url(f"**/staff/capacity?saved={facility_id}*")
    card = _card(page, CRISIS_CENTRE)
    assert _numbers(card) == (4, 7)
    card.locator("button[value='beds-']").click()
    page.wait_for_url(f"**/staff/capacity?saved={facility_id}*")
    card = _card(page, CRISIS_CENTRE)
    assert _numbers(card) == (4, 6)
    assert _stored(server, facility_id) == (4, 6)
    shot(page, "staff-capacity-enter")


def test_a_refused_report_keeps_what_was_typed(page: Any, server: str) -> None:
    login(page, server, "house-staff")
    page.wait_for_url(f"{server}/staff/capacity")
    card = _card(page, CRISIS_CENTRE)
    facility_id = int(card.get_attribute("data-facility-id"))
    before = _stored(server, facility_id)

    card.locator("input[name=free_units]").fill("5")
    card.locator("input[name=free_beds]").fill("2")
    card.locator("button[value=report]").click()
    card = _card(page, CRISIS_CENTRE)
    alert = card.get_by_role("alert")
    assert "each free unit needs at least one free bed" in alert.inner_text()
    assert _numbers(card) == (5, 2)  # what she typed, to correct rather than type again
    assert _stored(server, facility_id) == before  # nothing was written
    # the other cards show the stored numbers, not the refused ones
    others = page.locator("section.capacity").filter(
        has_not=page.locator("h2", has_text=CRISIS_CENTRE)
    )
    for i in range(others.count()):
        other_id = int(others.nth(i).get_attribute("data-facility-id"))
        assert _numbers(others.nth(i)) == _stored(server, other_id)
    shot(page, "staff-capacity-refused")


def test_the_answer_is_on_screen_beside_the_card_sent(browser: Any, server: str) -> None:
    context = browser.new_context(viewport=SMALL_SCREEN)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        login(page, server, "house-staff")
        page.wait_for_url(f"{server}/staff/capacity")
        cards = page.locator("section.capacity")
        assert cards.count() == 3
        for index in range(3):
            card = page.locator("section.capacity").nth(index)
            facility_id = card.get_attribute("data-facility-id")
            card.locator("button[value=report]").click()
            page.wait_for_url(f"**/staff/capacity?saved={facility_id}*")
            card = page.locator("section.capacity").nth(index)
            status = card.get_by_role("status")
            assert status.inner_text() == "Report saved."
            assert _in_view(page, status), f"card {index + 1}: the confirmation is off-screen"
            # only the card that was sent says so
            assert page.get_by_role("status").count() == 1
        shot(page, "staff-capacity-saved-last-card")

        # a refusal of the last card is on screen too
        card = cards.last
        card.locator("input[name=free_units]").fill("0")
        card.locator("input[name=free_beds]").fill("1")
        card.locator("button[value=report]").click()
        alert = page.locator("section.capacity").last.get_by_role("alert")
        assert "free beds without a free unit" in alert.inner_text()
        assert _in_view(page, alert), "the refusal of the last card is off-screen"
        # the field to correct has the focus, and still holds what was typed
        focused = page.evaluate("[document.activeElement.id, document.activeElement.value]")
        assert focused == [f"beds-{card.get_attribute('data-facility-id')}", "1"]
    finally:
        context.close()
