"""Police inquiry in headless Chromium: staff record an identity with consent at arrival, an
officer asks on the police page and sees the answer and nothing else, and the shelter's
staff see that an inquiry was made; and the inbox of notifications, per role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser_support import (
    CRISIS_CENTRE,
    demo_server,
    hold_through_api,
    login,
    new_page,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def server(tmp_path: Any) -> Iterator[str]:
    with demo_server(tmp_path) as base:
        yield base


def _hold_state(base: str, hold_id: str) -> str:
    with httpx.Client(base_url=base) as api:
        token = api.post(
            "/api/v1/auth/token",
            json={"username": "counsellor", "password": "counsellor-demo-2026"},
        ).json()["access_token"]
        held = api.get(f"/api/v1/holds/{hold_id}", headers={"Authorization": f"Bearer {token}"})
        state: str = held.json()["state"]
        return state


def _ask(page: Any, name: str, born: str, reference: str) -> Any:
    page.fill("#full_name", name)
    page.fill("#birth_date", born)
    page.fill("#case_reference", reference)
    page.click("button[type=submit]:has-text('Ask')")
    page.wait_for_selector("section.answer")
    return page.locator("section.answer")


def test_consent_at_arrival_then_inquiry_then_notice(browser: Any, server: str) -> None:
    hold_id = hold_through_api(server)
    with new_page(browser) as staff:
        login(staff, server, "house-staff")
        staff.goto(f"{server}/staff/holds")
        form = staff.locator(f"form[action='/staff/holds/{hold_id}/confirm']")
        # an identity that cannot be used is refused, and the arrival is not half recorded
        form.locator("input[name=full_name]").fill("Tóth Réka")
        form.locator("input[name=birth_date]").fill("2999-01-01")
        form.get_by_role("button", name="Confirm arrival").click()
        staff.wait_for_selector(".error")
        assert "cannot be used" in staff.locator(".error").first.inner_text()
        assert _hold_state(server, hold_id) == "open"
        form = staff.locator(f"form[action='/staff/holds/{hold_id}/confirm']")
        form.locator("input[name=full_name]").fill("Tóth Réka")
        form.locator("input[name=birth_date]").fill("1989-03-14")
        form.locator("input[name=consent]").check()
        shot(staff, "confirm-with-identity")
        form.get_by_role("button", name="Confirm arrival").click()
        staff.wait_for_url("**/staff/holds?confirmed=*")

        with new_page(browser) as police:
            login(police, server, "police")
            police.wait_for_url(f"{server}/police")
            answer = _ask(police, "toth reka", "1989-03-14", "ORFK-2026-001")
            assert answer.get_attribute("data-placed") == "yes"
            assert answer.locator("h2").inner_text() == "Placed"
            assert "duty" in answer.locator(".contact").inner_text().lower()
            shot(police, "police-placed")
            content = police.content()
            for leak in (CRISIS_CENTRE, "Napfény", "Bács-Kiskun", "Kecskemét", "Krízis"):
                assert leak not in content
            # nothing else reachable from the page: one link in the bar, no facility pages
            links = police.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
            assert set(links) == {"/police"}

            answer = _ask(police, "Tóth Réka", "1989-03-15", "ORFK-2026-002")
            assert answer.get_attribute("data-placed") == "no"
            assert answer.locator("h2").inner_text() == "No confirmable record"

            police.fill("#full_name", "Tóth Réka")
            police.fill("#birth_date", "1989-03-14")
            police.fill("#case_reference", "   ")
            police.click("button[type=submit]:has-text('Ask')")
            assert "case_reference is required" in police.locator(".error").inner_text()

        staff.goto(f"{server}/staff/residents")
        notices = staff.locator("section.notices li.notice")
        assert notices.count() == 1  # the inquiry with the wrong birth date did not match her
        assert notices.first.locator(".case-reference").inner_text() == "ORFK-2026-001"
        shot(staff, "residents-with-notice")
        notices.first.get_by_role("button", name="Mark as told").click()
        staff.wait_for_url("**/staff/residents*")
        assert staff.locator("section.notices li.notice.unseen").count() == 0
        assert staff.locator("section.notices li.notice").count() == 1


def test_inbox_shows_each_role_its_own_notifications(browser: Any, server: str) -> None:
    hold_id = hold_through_api(server)
    with new_page(browser) as staff:
        login(staff, server, "house-staff")
        staff.goto(f"{server}/inbox")
        rows = staff.locator("table.inbox tr.message")
        assert rows.count() == 1
        assert rows.first.get_attribute("data-event") == "hold.incoming"
        assert "a family is on its way" in rows.first.inner_text()
        assert rows.first.locator(f".about [title='{hold_id}']").inner_text() == hold_id[:8]
        assert rows.first.locator(".delivery").inner_text() == "waiting to be sent"
        shot(staff, "inbox-staff")
    with new_page(browser) as counsellor:
        login(counsellor, server, "counsellor")
        counsellor.goto(f"{server}/inbox")
        # the hotline has nothing yet: an incoming hold is the facility's news
        assert counsellor.locator("table.inbox tr.message").count() == 0
        assert "No notifications yet." in counsellor.locator("main").inner_text()
    with new_page(browser) as police:
        login(police, server, "police")
        police.wait_for_url(f"{server}/police")
        response = police.goto(f"{server}/inbox")
        assert response is not None and response.status == 403
