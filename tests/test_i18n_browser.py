"""The pages in Hungarian and in English, in headless Chromium on the demo network.

A browser set to Hungarian (``hu-HU``) gets the pages in Hungarian, with times in the
Hungarian form and in Budapest's zone, whoever signs in; the switch in the header turns a
page into English, and the next page stays English. A browser set to English gets English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser_support import (
    CRISIS_CENTRE,
    demo_server,
    hold_through_api,
    plan_through_api,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BUDAPEST = ZoneInfo("Europe/Budapest")
HUNGARIAN_MOMENT = re.compile(r"^\d{4}\. \d{2}\. \d{2}\. \d{1,2}:\d{2}$")  # 2026. 11. 29. 14:05
ENGLISH_MOMENT = re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}$")  # 29/11/2026, 14:05


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("i18n")) as base:
        yield base


@contextmanager
def _browsing(browser: Any, locale: str) -> Iterator[Any]:
    """A page of a browser whose language is ``locale`` (its ``Accept-Language``)."""
    context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo-2026")
    page.click("#password-form button[type=submit]")


def _local(time: Any) -> datetime:
    """The moment of a ``<time>`` element, in Budapest."""
    return datetime.fromisoformat(time.get_attribute("datetime")).astimezone(BUDAPEST)


def _language(page: Any) -> str:
    return str(page.locator("html").get_attribute("lang"))


def _chosen(page: Any) -> str:
    return str(page.locator(".language-switch button[aria-current=true]").inner_text())


def _check_hungarian_moment(time: Any) -> None:
    local, shown = _local(time), time.inner_text()
    assert HUNGARIAN_MOMENT.match(shown), shown
    assert shown == f"{local:%Y. %m. %d.} {local.hour}:{local:%M}"


def _check_english_moment(time: Any) -> None:
    local, shown = _local(time), time.inner_text()
    assert ENGLISH_MOMENT.match(shown), shown
    assert shown == f"{local:%d/%m/%Y, %H:%M}"


def test_a_counsellor_reads_hungarian_then_switches_to_english(browser: Any, server: str) -> None:
    with _browsing(browser, "hu-HU") as page:
        page.goto(f"{server}/login")
        assert _language(page) == "hu"
        assert page.locator("main h1").inner_text() == "Bejelentkezés"
        assert page.title() == "Bejelentkezés · Férőhely-közvetítő"
        assert _chosen(page) == "Magyar"

        _sign_in(page, server, "counsellor")
        page.wait_for_url(f"{server}/call")
        assert _language(page) == "hu"
        assert page.locator("main h1").inner_text() == "Férőhely keresése a hívás közben"
        assert page.locator("header nav a[href='/facilities']").inner_text() == "Intézmények"
        assert page.locator("#find").inner_text() == "Helyek keresése"

        # a hold: its clock time in Budapest, and the minutes left
        page.fill("#women", "34")
        page.select_option("#preferred_regions", ["Bács-Kiskun"])
        page.click("#find")
        page.wait_for_url(f"{server}/call/match")
        title = page.locator("#results-title").inner_text()
        assert re.match(r"^\d+ felajánlható férőhely$", title), title
        first = page.locator("li.option").first
        hold = first.get_by_role("button", name="Foglalás")
        assert hold.get_attribute("aria-label").startswith("Férőhely lefoglalása itt: ")
        hold.click()
        page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
        expiry = page.locator("#meeting-point .expiry")
        text = expiry.inner_text()
        found = re.search(r"(\d{1,2}:\d{2})-ig \(még (\d+) perc\)", text)
        assert found, text
        until = _local(expiry.locator("time"))
        assert found.group(1) == f"{until.hour}:{until:%M}"
        assert 1 <= int(found.group(2)) <= 240
        assert "Ha addig nem ér oda" in text
        shot(page, "i18n-call-hungarian")

        # the dashboard's charts speak Hungarian too (the demo has no daily figures yet)
        page.click("header nav a[href='/dashboard']")
        page.wait_for_url(f"{server}/dashboard")
        assert page.locator("main h1").inner_text() == "Statisztika"
        chart = page.locator("#occupancy-by-kind svg.chart")
        assert chart.get_attribute("aria-label") == (
            "Foglalt lakóegységek aránya intézménytípusonként"
        )
        assert "Ezekre a napokra nincs adat" in chart.locator("text").all_text_contents()

        # a plan: the risk-weighted placements it makes and their bound, and what optimal means
        plan = plan_through_api(server, risks=("high", "medium", "standard"))
        page.goto(f"{server}/plans/{plan['plan_id']}")
        assert page.locator("main h1").inner_text() == "Csoportos elhelyezés"
        assert plan["placements"] == 3 + 2 + 1, plan  # the demo network has room for all three
        assert page.locator("#plan-placements").inner_text() == (
            f"Súlyozott elhelyezések: {plan['placements']} "
            f"(felső korlát: {plan['placements_bound']})"
        )
        assert "legfeljebb 0,01%-kal marad el" in page.locator("#plan-optimal").inner_text()
        shot(page, "i18n-plan-hungarian")

        # a date and time: "2026. 11. 29. 14:05", in Budapest
        page.click("header nav a[href='/facilities']")
        page.wait_for_url(f"{server}/facilities")
        assert page.locator("main h1").inner_text() == "Intézmények"
        _check_hungarian_moment(page.locator("table.facilities tbody time").first)

        # the switch: this page in English, and the next one too
        page.locator(".language-switch").get_by_role("button", name="English").click()
        page.wait_for_url(f"{server}/facilities")
        assert _language(page) == "en"
        assert page.locator("main h1").inner_text() == "Facilities"
        assert _chosen(page) == "English"
        _check_english_moment(page.locator("table.facilities tbody time").first)
        page.click("header nav a[href='/call']")
        page.wait_for_url(f"{server}/call")
        assert _language(page) == "en"
        assert page.locator("main h1").inner_text() == "Find a place during the call"
        assert re.search(
            r"until \d{2}:\d{2} \(\d+ min left\)", page.locator(".own-holds .expiry").inner_text()
        )
        shot(page, "i18n-call-switched-to-english")


def test_shelter_staff_read_hungarian_and_type_a_hungarian_date(browser: Any, server: str) -> None:
    hold_through_api(server, children=(7,))
    with _browsing(browser, "hu-HU") as page:
        _sign_in(page, server, "house-staff")
        page.wait_for_url(f"{server}/staff/capacity")
        assert _language(page) == "hu"
        assert page.locator("main h1").inner_text() == "Szabad helyek"
        _check_hungarian_moment(page.locator("section.capacity .reported time").first)

        page.click("header nav a[href='/staff/holds']")
        page.wait_for_url(f"{server}/staff/holds")
        assert page.locator("main h1").inner_text() == "Érkező foglalások"
        centre = page.locator("section.facility-holds").filter(
            has=page.locator("h2", has_text=CRISIS_CENTRE)
        )
        # the counsellor's test may have held a place here too
        hold = centre.locator("article.hold[data-state=open]").filter(has_text="36 éves nő")
        assert (
            hold.locator(".family").inner_text()
            == "1 felnőtt (36 éves nő), 1 gyermek (7 éves lány)"
        )
        assert hold.locator(".risk").inner_text() == "átlagos"
        assert hold.locator(".state").text_content() == "nyitott"  # shown in capitals
        expiry = hold.locator(".expiry")
        found = re.search(r"^(\d{1,2}:\d{2})-ig \(még \d+ perc\)$", expiry.inner_text())
        assert found, expiry.inner_text()
        until = _local(expiry.locator("time"))
        assert found.group(1) == f"{until.hour}:{until:%M}"
        born = hold.locator("input[name=birth_date]")
        assert born.get_attribute("placeholder") == "ÉÉÉÉ-HH-NN"
        shot(page, "i18n-incoming-hungarian")

        # the birth date as Hungarians write it
        hold.locator("input[name=full_name]").fill("Minta Anna")
        born.fill("1990. 04. 02.")
        hold.get_by_role("button", name="Érkezés megerősítése").click()
        page.wait_for_url(re.compile(r".*/staff/holds\?confirmed=\w+$"))
        assert page.locator("section.arrived h2").inner_text() == "Érkezés megerősítve"
        code = page.locator("section.arrived .case-code").inner_text()

        page.click("header nav a[href='/staff/residents']")
        page.wait_for_url(f"{server}/staff/residents")
        assert page.locator("main h1").inner_text() == "Lakók"
        row = page.locator(f"tr[data-case-code='{code}']")
        _check_hungarian_moment(row.locator("time").first)
        assert row.locator("select[name=reason] option").first.inner_text() == (
            "miért távozott a család?"
        )

        page.locator(".language-switch").get_by_role("button", name="English").click()
        page.wait_for_url(f"{server}/staff/residents")
        assert page.locator("main h1").inner_text() == "Residents"
        _check_english_moment(page.locator(f"tr[data-case-code='{code}'] time").first)
        page.click("header nav a[href='/staff/capacity']")
        page.wait_for_url(f"{server}/staff/capacity")
        assert _language(page) == "en"
        assert page.locator("main h1").inner_text() == "Free places"
        shot(page, "i18n-capacity-switched-to-english")


def test_an_english_browser_gets_english(browser: Any, server: str) -> None:
    with _browsing(browser, "en-US") as page:
        page.goto(f"{server}/login")
        assert _language(page) == "en"
        assert page.locator("main h1").inner_text() == "Sign in"
        assert _chosen(page) == "English"
        _sign_in(page, server, "counsellor")
        page.wait_for_url(f"{server}/call")
        assert _language(page) == "en"
        assert page.locator("main h1").inner_text() == "Find a place during the call"
        page.goto(f"{server}/facilities")
        assert page.locator("main h1").inner_text() == "Facilities"
        _check_english_moment(page.locator("table.facilities tbody time").first)
        page.goto(f"{server}/dashboard")
        assert page.locator("main h1").inner_text() == "Dashboard"
        assert page.locator("#occupancy-by-kind svg title").first.text_content() == (
            "Occupied share of units by kind"
        )
