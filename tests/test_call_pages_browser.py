"""Placement during a call, in headless Chromium: the counsellor's call screen, the shelter's
incoming holds and its residents.

Each test gets a fresh server with the demo network (the tests change capacity, so they
must not share one). The counsellor and the shelter's staff use separate browser contexts,
as two people on two machines would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from solver.feasibility import REASONS
from tests.browser_support import ShiftedClock, demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DEMO_FACILITIES = 59
CRISIS_CENTRE = "Napfény Ház Krízisközpont"  # house-staff's, Bács-Kiskun, 2 units / 5 beds free
MOTHERS_HOME = "Napfény Ház Anyaotthon"  # house-staff's, 1 unit / 3 beds free, 548-day stays
STALE_CENTRE = "Gerecse Krízisközpont"  # Komárom-Esztergom, speaks sk, report 60 h old, 1 unit
CASE_CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def server(tmp_path: Any, clock: ShiftedClock) -> Iterator[str]:
    with demo_server(tmp_path, clock) as base:
        yield base


@pytest.fixture
def counsellor(browser: Any, server: str) -> Iterator[Any]:
    with new_page(browser) as page:
        login(page, server, "counsellor")
        page.wait_for_url(f"{server}/call")
        yield page


@pytest.fixture
def staff(browser: Any, server: str) -> Iterator[Any]:
    with new_page(browser) as page:
        login(page, server, "house-staff")
        page.wait_for_url(f"{server}/staff/capacity")
        yield page


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.id"))


def _await_focus(page: Any, expected: str) -> None:
    """Autofocus lands when the browser next renders, which may be after the load event."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id", arg=expected
    )
    assert _focused(page) == expected


def _tab(page: Any, expected: str) -> None:
    page.keyboard.press("Tab")
    assert _focused(page) == expected


def _selected(page: Any, selector: str) -> list[str]:
    return list(page.eval_on_selector(selector, "s => [...s.selectedOptions].map(o => o.value)"))


def _option(page: Any, name: str) -> Any:
    return page.locator("ol.options > li.option").filter(
        has=page.locator(".name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def _option_names(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("ol.options .name").all_inner_texts()]


def _excluded(page: Any) -> dict[str, tuple[int, str]]:
    found = {}
    for item in page.locator("ul.excluded li[data-reason]").all():
        code = item.get_attribute("data-reason")
        found[code] = (int(item.locator(".count").inner_text()), item.locator(".text").inner_text())
    return found


def _own_hold(page: Any, facility: str) -> Any:
    return page.locator("ol.hold-list > li.hold").filter(
        has=page.locator(".facility", has_text=facility)
    )


def _incoming(page: Any, facility: str) -> Any:
    return page.locator("section.facility-holds").filter(has=page.locator("h2", has_text=facility))


def _find_places(page: Any, *, women: str, boys: str = "", girls: str = "", **more: Any) -> None:
    """Fill the family form with fill/select (the keyboard path has a test of its own)."""
    page.goto(page.url.split("/call")[0] + "/call")
    page.fill("#women", women)
    page.fill("#girls", girls)
    page.fill("#boys", boys)
    page.fill("#languages", more.get("languages", ""))
    page.select_option("#risk", more.get("risk", "standard"))
    page.select_option("#avoid_regions", more.get("avoid", []))
    page.select_option("#preferred_regions", more.get("preferred", []))
    page.click("#find")
    page.wait_for_url("**/call/match")


def test_call_hold_decline_confirm_match_again_and_depart(
    counsellor: Any, staff: Any, server: str, clock: ShiftedClock
) -> None:
    page = counsellor
    # --- the counsellor types the family in with the keyboard only -----------------------
    _await_focus(page, "women")  # autofocus on the first field
    page.keyboard.type("34")
    _tab(page, "men")
    _tab(page, "girls")
    page.keyboard.type("5")
    _tab(page, "boys")
    page.keyboard.type("9")
    for name in ("wheelchair", "pets", "night_arrival", "reentry"):
        _tab(page, name)
    page.keyboard.press("Space")  # she went back to him once before
    _tab(page, "trafficking_victim")
    _tab(page, "languages")
    page.keyboard.type("hu")
    _tab(page, "risk")
    _tab(page, "avoid_regions")
    page.keyboard.type("Bud")
    _tab(page, "preferred_regions")
    page.keyboard.type("Bar")
    page.keyboard.press("ArrowDown")  # from Baranya to the next region, Bács-Kiskun
    _tab(page, "travel_minutes")
    _tab(page, "find")
    assert page.is_checked("#reentry") and not page.is_checked("#pets")
    assert _selected(page, "#avoid_regions") == ["Budapest"]
    assert _selected(page, "#preferred_regions") == ["Bács-Kiskun"]
    assert page.input_value("#risk") == "standard"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/call/match")

    # --- ranked options with reasons, and what was left out and why ----------------------
    _await_focus(page, "results-title")
    names = _option_names(page)
    assert len(names) == 10
    assert names[0] == CRISIS_CENTRE and MOTHERS_HOME in names
    first = _option(page, CRISIS_CENTRE)
    assert first.locator(".kind").inner_text() == "Crisis centre"
    assert first.locator(".region").inner_text() == "Bács-Kiskun"
    scores = [float(s) for s in page.locator("ol.options .score strong").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    reasons = first.locator(".reasons li").all_inner_texts()
    assert "in a preferred region (Bács-Kiskun) (+30)" in reasons
    assert any(reason.startswith("Crisis centre, for a standard-risk family") for reason in reasons)
    excluded = _excluded(page)
    assert excluded["danger_zone"][0] > 0  # Budapest and its neighbourhood
    assert all(text == REASONS[code] for code, (_, text) in excluded.items())
    feasible = int(page.locator(".summary").get_attribute("data-feasible"))
    assert feasible + sum(count for count, _ in excluded.values()) == DEMO_FACILITIES
    assert "utca" not in page.content()  # never a street address
    shot(page, "call-results")

    # --- one click holds the best place; the meeting point is there to read out ----------
    page.keyboard.press("Tab")  # from the results heading straight to the first "Hold"
    assert page.evaluate("document.activeElement.textContent.trim()") == "Hold"
    first.get_by_role("button", name="Hold").click()
    page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
    meeting = page.locator("#meeting-point")
    assert meeting.locator(".meeting-text").inner_text().startswith("Kecskemét railway station")
    assert CRISIS_CENTRE in meeting.locator(".expiry").inner_text()
    # the clock time it is held until, and the minutes left
    expiry = meeting.locator(".expiry").inner_text()
    assert re.search(r"held until \d{1,2}:\d{2} \((89|90) min left\)", expiry), expiry
    _await_focus(page, "meeting-title")
    held_a = _own_hold(page, CRISIS_CENTRE)
    assert held_a.get_attribute("data-state") == "open"
    assert held_a.locator(".state").text_content() == "open"
    assert held_a.get_by_role("button", name=re.compile("^Release")).count() == 1
    shot(page, "call-held")

    # a second family, held at the temporary home for mothers
    _find_places(page, women="28", boys="3", risk="medium", preferred=["Bács-Kiskun"])
    _option(page, MOTHERS_HOME).get_by_role("button", name="Hold").click()
    page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
    assert page.locator("ol.hold-list > li.hold[data-state=open]").count() == 2

    # --- the shelter sees both families on their way -------------------------------------
    staff.reload()
    capacity = staff.locator("section.capacity").filter(
        has=staff.locator("h2", has_text=CRISIS_CENTRE)
    )
    assert capacity.locator(".held-units").inner_text() == "1"
    assert capacity.locator(".held-beds").inner_text() == "3"
    assert capacity.locator("input[name=free_units]").input_value() == "2"  # her own report
    assert capacity.locator(".offered-units").inner_text() == "1"
    staff.click("nav a[href='/staff/holds']")
    staff.wait_for_url(f"{server}/staff/holds")
    centre = _incoming(staff, CRISIS_CENTRE)
    assert centre.locator(".open-count").inner_text() == "1"
    hold_a = centre.locator("article.hold[data-state=open]")
    assert hold_a.locator(".persons").inner_text() == "3"
    assert (
        hold_a.locator(".family").inner_text() == "1 adult (woman 34), 2 children (girl 5, boy 9)"
    )
    needs = hold_a.locator(".needs").inner_text()
    assert "languages: hu" in needs and "re-entry" in needs and "pets" not in needs
    assert hold_a.locator(".risk").inner_text() == "standard"
    expiry = hold_a.locator(".expiry").inner_text()
    assert re.search(r"until \d{1,2}:\d{2} \((8[5-9]|90) min left\)", expiry), expiry
    mothers = _incoming(staff, MOTHERS_HOME)
    hold_b = mothers.locator("article.hold[data-state=open]")
    assert hold_b.locator(".family").inner_text() == "1 adult (woman 28), 1 child (boy 3)"
    assert hold_b.locator(".risk").inner_text() == "medium"
    # nothing about who is coming but ages and sexes; not even the counsellor's login
    assert "counsellor" not in " ".join(staff.locator("dl.hold-facts").all_inner_texts())
    shot(staff, "staff-incoming-holds")

    # a decline without a reason is refused with a message (the browser's own check removed)
    hold_a.locator("select[name=reason]").evaluate("s => s.removeAttribute('required')")
    with staff.expect_response(re.compile(r".*/decline$")) as answer:
        hold_a.get_by_role("button", name="Decline").click()
    assert answer.value.status == 422
    assert "reason must be one of" in staff.locator(".error").inner_text()
    assert _incoming(staff, CRISIS_CENTRE).locator("article.hold[data-state=open]").count() == 1

    hold_a = _incoming(staff, CRISIS_CENTRE).locator("article.hold[data-state=open]")
    hold_a.locator("select[name=reason]").select_option("no_place")
    hold_a.locator("input[name=note]").fill("water damage in two rooms")
    hold_a.get_by_role("button", name="Decline").click()
    staff.wait_for_url(re.compile(r".*/staff/holds\?declined=\w+$"))
    assert staff.locator("p.ok").inner_text().startswith("Hold declined")
    declined = _incoming(staff, CRISIS_CENTRE).locator("article.hold")
    assert declined.get_attribute("data-state") == "declined"
    assert declined.locator(".decline-reason").inner_text().startswith("no place after all")

    _incoming(staff, MOTHERS_HOME).get_by_role("button", name="Confirm arrival").click()
    staff.wait_for_url(re.compile(r".*/staff/holds\?confirmed=\w+$"))
    case_code = staff.locator(".arrived .case-code").inner_text()
    assert CASE_CODE.match(case_code)
    confirmed = _incoming(staff, MOTHERS_HOME).locator("article.hold")
    assert confirmed.get_attribute("data-state") == "confirmed"
    assert confirmed.locator(".case-code").inner_text() == case_code

    # --- the counsellor sees the answers and matches the declined family again -----------
    page.goto(f"{server}/call")
    mine_a = _own_hold(page, CRISIS_CENTRE)
    assert mine_a.get_attribute("data-state") == "declined"
    assert mine_a.locator(".decline-reason").inner_text() == "no place after all"
    assert mine_a.locator(".decline-note").inner_text().strip('“”"') == "water damage in two rooms"
    mine_b = _own_hold(page, MOTHERS_HOME)
    assert mine_b.get_attribute("data-state") == "confirmed"
    assert mine_b.locator(".case-code").inner_text() == case_code
    assert mine_b.get_by_role("button").count() == 0  # nothing left to do about it
    centre_id = mine_a.get_attribute("data-facility-id")

    mine_a.get_by_role("button", name=re.compile("^Match this family again")).click()
    page.wait_for_url(re.compile(r".*/call/holds/\w+/match-again\??$"))
    assert page.locator(".rematch").count() == 1
    assert page.locator(f"ol.options > li[data-facility-id='{centre_id}']").count() == 0
    assert CRISIS_CENTRE not in _option_names(page) and len(_option_names(page)) > 0
    assert _excluded(page)["declined_this_family"] == (1, "already declined this family")
    # the form shows the same family, ready to change
    assert (page.input_value("#women"), page.input_value("#girls")) == ("34", "5")
    assert page.input_value("#boys") == "9" and page.is_checked("#reentry")
    assert _selected(page, "#avoid_regions") == ["Budapest"]
    # and the new options hold with one click like the first ones
    best = _option_names(page)[0]
    _option(page, best).get_by_role("button", name="Hold").click()
    page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
    assert best in page.locator("#meeting-point .expiry").inner_text()

    # --- the family that arrived is a resident, known by its case code only --------------
    staff.click("nav a[href='/staff/residents']")
    staff.wait_for_url(f"{server}/staff/residents")
    home = staff.locator("section.facility-residents").filter(
        has=staff.locator("h2", has_text=MOTHERS_HOME)
    )
    row = home.locator(f"tr[data-case-code='{case_code}']")
    assert row.locator(".case-code").inner_text() == case_code
    assert row.locator(".days-left").inner_text() == "548"
    assert "soon" not in (row.get_attribute("class") or "")
    assert home.locator(".resident-count").inner_text() == "1"

    clock.advance(days=540)  # eight days before the stay limit
    staff.reload()
    row = home.locator(f"tr[data-case-code='{case_code}']")
    assert row.locator(".days-left").inner_text() == "8"
    assert "soon" in (row.get_attribute("class") or "")
    assert row.locator(".badge").inner_text() == "ends soon"
    shot(staff, "staff-residents")

    row.locator("select[name=reason]").select_option("independent_housing")
    row.get_by_role("button", name="Record departure").click()
    staff.wait_for_url(re.compile(r".*/staff/residents\?departed=.+$"))
    assert case_code in staff.locator(".ok").inner_text()
    assert home.locator("tr[data-case-code]").count() == 0
    assert home.locator(".resident-count").inner_text() == "0"
    staff.click("nav a[href='/staff/capacity']")
    mothers_capacity = staff.locator("section.capacity").filter(
        has=staff.locator("h2", has_text=MOTHERS_HOME)
    )
    assert mothers_capacity.locator("input[name=free_units]").input_value() == "1"  # free again


def test_bad_family_values_show_the_form_again(counsellor: Any) -> None:
    page = counsellor
    page.fill("#women", "34, abc")
    page.fill("#boys", "9")
    page.fill("#languages", "english")
    page.select_option("#avoid_regions", ["Pest"])
    page.select_option("#preferred_regions", ["Pest"])
    with page.expect_response(re.compile(r".*/call/match$")) as answer:
        page.click("#find")
    assert answer.value.status == 422
    message = page.locator("#form-error").inner_text()
    assert "'abc' is not an age from 14 to 120" in message
    assert "'english' is not a 2- or 3-letter code" in message
    assert "both avoided and preferred: Pest" in message
    assert page.locator("#women-error").inner_text() == "'abc' is not an age from 14 to 120"
    assert page.get_attribute("#women", "aria-invalid") == "true"
    _await_focus(page, "women")  # the first field to correct
    # what she typed is still there, nothing was matched
    assert page.input_value("#women") == "34, abc" and page.input_value("#boys") == "9"
    assert page.locator("ol.options").count() == 0

    page.fill("#women", "")
    page.fill("#languages", "")
    page.select_option("#preferred_regions", [])
    with page.expect_response(re.compile(r".*/call/match$")) as answer:
        page.click("#find")
    assert answer.value.status == 422
    assert page.locator("#women-error").inner_text() == "give the age of at least one adult"


def test_tampering_taken_places_stale_marker_and_release(
    counsellor: Any, browser: Any, server: str
) -> None:
    page = counsellor
    _find_places(page, women="41", languages="sk", preferred=["Komárom-Esztergom"])
    stale = _option(page, STALE_CENTRE)
    assert stale.locator(".stale-marker").is_visible()
    assert "stale" in (stale.get_attribute("class") or "")
    fresh = page.locator("ol.options > li.option:not(.stale)").first
    assert fresh.locator(".stale-marker").count() == 0

    # a changed hidden request is refused and holds nothing
    stale.locator("input[name=request]").evaluate(
        "i => { i.value = i.value.replace('\"age\": 41', '\"age\": 42'); }"
    )
    with page.expect_response(re.compile(r".*/call/hold$")) as answer:
        stale.get_by_role("button", name="Hold").click()
    assert answer.value.status == 422
    assert "changed after matching" in page.locator("#form-error").inner_text()
    assert page.locator("ol.hold-list > li.hold").count() == 0

    # the last unit goes to another call between matching and "Hold": 409, options again
    _find_places(page, women="41", languages="sk", preferred=["Komárom-Esztergom"])
    assert STALE_CENTRE in _option_names(page)
    with new_page(browser) as colleague:
        login(colleague, server, "counsellor2")
        colleague.wait_for_url(f"{server}/call")
        _find_places(colleague, women="29", languages="sk", preferred=["Komárom-Esztergom"])
        _option(colleague, STALE_CENTRE).get_by_role("button", name="Hold").click()
        colleague.wait_for_url(re.compile(r".*/call\?held=\w+$"))
    with page.expect_response(re.compile(r".*/call/hold$")) as answer:
        _option(page, STALE_CENTRE).get_by_role("button", name="Hold").click()
    assert answer.value.status == 409
    assert page.locator("#form-error").inner_text().startswith("the place is gone")
    assert STALE_CENTRE not in _option_names(page) and len(_option_names(page)) > 0
    assert page.input_value("#women") == "41"  # the same family, ready for the next option
    assert page.locator("ol.hold-list > li.hold").count() == 0

    # hold the next best place, then release it: it is offered again at once
    best = _option_names(page)[0]
    _option(page, best).get_by_role("button", name="Hold").click()
    page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
    mine = _own_hold(page, best)
    mine.get_by_role("button", name=re.compile("^Release")).click()
    page.wait_for_url(re.compile(r".*/call\?released=\w+$"))
    assert page.locator("p.ok").inner_text().startswith("Hold released")
    mine = _own_hold(page, best)
    assert mine.get_attribute("data-state") == "released"
    assert mine.get_by_role("button", name=re.compile("^Match this family again")).count() == 1
    _find_places(page, women="41", languages="sk", preferred=["Komárom-Esztergom"])
    assert _option_names(page)[0] == best
