"""The waiting list on the call screen, in headless Chromium on the demo network: a family
that fits nowhere is put on the list from the empty result (by keyboard), its code is shown
to write down; once the matching job finds a place, the entry shows it (never an address),
one click holds it and the entry leaves the list; another entry is taken off the list. A
changed signed request is refused and writes nothing. Both languages are checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from broker.db.engine import make_engine, unit_of_work
from broker.db.models import Facility, WaitlistEntry
from broker.services.context import ServiceContext
from broker.services.waitlist import waitlist_match
from broker.settings import Settings
from tests.browser_support import ShiftedClock, demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")
AVOID = ["Budapest", "Pest"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ShiftedClock]]:
    directory = tmp_path_factory.mktemp("waitlist-pages")
    clock = ShiftedClock()
    with demo_server(directory, clock) as base:
        yield base, f"sqlite:///{directory / 'broker.db'}", clock


def _search_nowhere(page: Any, base: str) -> None:
    """High risk, a boy of 17 and a wheelchair, avoiding Budapest and Pest: nothing fits."""
    page.goto(f"{base}/call")
    page.fill("#women", "34")
    page.fill("#boys", "17")
    page.check("#wheelchair")
    page.select_option("#risk", "high")
    page.select_option("#avoid_regions", AVOID)
    page.click("#find")
    page.wait_for_url(f"{base}/call/match")
    assert page.locator("ol.options > li.option").count() == 0
    assert page.locator("ol.options > li.none").count() == 1


def _put_on_list(page: Any, base: str, hours: str | None = None) -> str:
    if hours is not None:
        page.select_option("#wait-hours", hours)
    page.focus("#waitlist-add")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/call\?listed=[0-9a-f]{32}$"))
    code = page.locator("#waitlisted .waitlist-code").inner_text().strip()
    assert CODE.match(code), code
    return code


def _entry(page: Any, code: str) -> Any:
    return page.locator("ol.waitlist-entries > li.waitlist-entry").filter(
        has=page.locator(".waitlist-code", has_text=code)
    )


def _make_a_place_fit(url: str, now: Any) -> Facility:
    """A secret shelter outside the avoided regions now takes older boys and wheelchairs,
    and reports room, as after its manager's update and capacity report."""
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=Settings(database_url=url).audit_key_bytes) as db:
            facility = db.exec(
                select(Facility)
                .where(Facility.kind == "secret_shelter")
                .where(col(Facility.region).not_in(AVOID))
                .where(Facility.total_units >= 2, Facility.total_beds >= 4)
                .order_by(col(Facility.id))
            ).first()
            assert facility is not None
            facility.boys_max_age = None
            facility.wheelchair_units = max(1, facility.wheelchair_units)
            facility.reported_free_units = facility.total_units
            facility.reported_free_beds = facility.total_beds
            facility.capacity_reported_at = now
            facility.updated_at = now
            db.add(facility)
            db.flush()
            db.expunge(facility)
            return facility
    finally:
        engine.dispose()


def _run_matching_job(url: str, now: Any) -> dict[str, int]:
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as db:
            return waitlist_match(
                session=db, context=ServiceContext.from_settings(settings), now=now
            )
    finally:
        engine.dispose()


def _states(url: str) -> dict[str, str]:
    """Each entry's stored state, by code."""
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(engine, write=False) as db:
            return {
                code: state
                for code, state in db.exec(select(WaitlistEntry.code, WaitlistEntry.state)).all()
            }
    finally:
        engine.dispose()


def _entry_count(url: str) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(engine, write=False) as db:
            return len(db.exec(select(WaitlistEntry.id)).all())
    finally:
        engine.dispose()


# first: the test after it makes a secret shelter fit this family
def test_the_waiting_list_speaks_hungarian(
    browser: Any, served: tuple[str, str, ShiftedClock]
) -> None:
    base, url, _ = served
    context = browser.new_context(locale="hu-HU", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        login(page, base, "counsellor")
        page.wait_for_url(f"{base}/call")
        assert page.locator("#waitlist-title").inner_text() == "A segélyvonal várólistája"
        _search_nowhere(page, base)
        assert page.locator("#waitlist-add").inner_text() == "Szóljon, ha lesz megfelelő hely"
        assert page.locator("#wait-hours option:checked").inner_text() == "48 óra"
        page.focus("#waitlist-add")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/call\?listed="))
        assert page.locator("#waitlisted h2").inner_text() == (
            "Várólistán: írja fel ezt a kódot a visszahívási cédulára"
        )
        code = page.locator("#waitlisted .waitlist-code").inner_text().strip()
        entry = _entry(page, code)
        assert "2 fő" in entry.inner_text() and "kockázat: magas" in entry.inner_text()
        shot(page, "waitlist-hu")
        entry.get_by_role("button", name=f"A(z) {code} bejegyzés levétele a várólistáról").click()
        page.wait_for_url(re.compile(r"/call\?unlisted="))
        assert page.locator("p.ok[role=status]").inner_text() == (
            f"A(z) {code} bejegyzés lekerült a várólistáról."
        )
        assert _entry(page, code).count() == 0
        assert _entry_count(url) == 1  # kept as cancelled, not deleted
    finally:
        context.close()


def test_a_family_that_fits_nowhere_waits_is_found_a_place_and_held(
    browser: Any, served: tuple[str, str, ShiftedClock]
) -> None:
    base, url, clock = served
    with new_page(browser) as page:
        login(page, base, "counsellor")
        page.wait_for_url(f"{base}/call")
        assert page.locator("ol.waitlist-entries > li.none").inner_text() == (
            "Nobody is on the waiting list."
        )

        # a changed request is refused, and nothing is written
        before = _entry_count(url)
        _search_nowhere(page, base)
        page.eval_on_selector(
            "form.waitlist-add input[name=request_mac]", "e => e.value = '0'.repeat(64)"
        )
        page.click("#waitlist-add")
        page.wait_for_url(f"{base}/call/waitlist")
        assert "was not put on the waiting list" in page.locator("#form-error").inner_text()
        assert _entry_count(url) == before

        _search_nowhere(page, base)
        button = page.locator("#waitlist-add")
        assert button.inner_text() == "Tell me when a place fits"
        assert page.locator("#wait-hours").input_value() == "48"
        first = _put_on_list(page, base)
        card = page.locator("#waitlisted")
        assert card.locator("h2").inner_text() == (
            "On the waiting list: write this code on the callback note"
        )
        assert card.locator("h2").evaluate("e => e === document.activeElement")
        assert card.locator(".expiry time").count() == 1
        entry = _entry(page, first)
        assert entry.get_attribute("data-state") == "waiting"
        assert "2 people" in entry.inner_text() and "risk: high" in entry.inner_text()
        assert entry.locator(".hint").inner_text() == "No place fits yet."
        assert entry.get_by_role("button", name=re.compile("^Hold")).count() == 0
        shot(page, "waitlist-added")

        _search_nowhere(page, base)
        second = _put_on_list(page, base, hours="24")
        assert second != first

        facility = _make_a_place_fit(url, clock())
        summary = _run_matching_job(url, clock())
        assert summary["found"] >= 1, summary

        page.goto(f"{base}/call")
        entry = _entry(page, first)
        assert entry.get_attribute("data-state") == "found"
        place = entry.locator(".place-found")
        assert place.locator(".facility").inner_text() == facility.name
        assert "Secret shelter" in place.inner_text() and facility.region in place.inner_text()
        # never an address or a meeting point on the list
        assert facility.meeting_point not in page.locator("section.waitlist").inner_text()
        shot(page, "waitlist-found")

        entry.get_by_role(
            "button", name=f"Hold the place at {facility.name} for entry {first}"
        ).click()
        page.wait_for_url(re.compile(r"/call\?held="))
        assert facility.name in page.locator("#meeting-point").inner_text()
        assert _entry(page, first).count() == 0

        _entry(page, second).get_by_role(
            "button", name=f"Take entry {second} off the waiting list"
        ).click()
        page.wait_for_url(re.compile(r"/call\?unlisted="))
        assert page.locator("p.ok[role=status]").inner_text() == (
            f"Entry {second} was taken off the waiting list."
        )
        assert _entry(page, second).count() == 0
        assert page.locator("ol.waitlist-entries > li.none").count() == 1
        # held from the list, not merely taken off it
        states = _states(url)
        assert states[first] == "held" and states[second] == "cancelled"
