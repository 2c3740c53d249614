"""Every page of every role in headless Chromium under the Content-Security-Policy.

Each page is loaded as its users load it, its main form is submitted, and the browser must
report no policy violation: neither a ``securitypolicyviolation`` event nor a console
message. A control first shows that the watch sees a violation when there is one, and that
the browser enforces the policy (an injected inline script does not run).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.guards import SESSION_COOKIE
from api.headers import CONTENT_SECURITY_POLICY
from tests.browser_support import demo_server, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CRISIS_CENTRE = "Napfény Ház Krízisközpont"  # house-staff's, 2 units / 5 beds free
WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


class CspWatch:
    """Collects policy violations and console messages of one browser page, across loads."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.violations: list[str] = []
        self.console: list[str] = []
        self.loaded: list[tuple[str, str | None]] = []
        # bindings and init scripts are the browser's own, not page script: the policy
        # does not apply to them, so the watch works on every page it watches
        page.expose_binding("reportViolation", lambda _source, text: self.violations.append(text))
        page.add_init_script(WATCH)
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("response", self._check_policy)

    def _check_policy(self, response: Any) -> None:
        if response.request.resource_type == "document":
            self.loaded.append((response.url, response.headers.get("content-security-policy")))

    def policy_messages(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def assert_clean(self, where: str) -> None:
        # violation events are delivered asynchronously; give them a moment to arrive
        self.page.wait_for_timeout(150)
        assert self.violations == [], (where, self.violations)
        assert self.policy_messages() == [], (where, self.console)
        unprotected = [url for url, policy in self.loaded if policy != CONTENT_SECURITY_POLICY]
        assert unprotected == [], where


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("csp")) as base:
        yield base


@pytest.fixture
def watched(browser: Any) -> Iterator[tuple[Any, CspWatch]]:
    with new_page(browser) as page:
        yield page, CspWatch(page)


def _styled(page: Any) -> None:
    """The stylesheet was allowed to load and applies."""
    assert page.eval_on_selector("header.bar", "e => getComputedStyle(e).display") == "flex"


@contextmanager
def _signed_in(browser: Any, server: str, username: str) -> Iterator[tuple[Any, CspWatch]]:
    with new_page(browser) as page:
        watch = CspWatch(page)
        login(page, server, username)
        page.wait_for_load_state()
        yield page, watch


def test_the_watch_sees_a_violation_and_the_browser_enforces_the_policy(
    watched: tuple[Any, CspWatch], server: str
) -> None:
    page, watch = watched
    page.goto(f"{server}/login")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
          const div = document.createElement("div");
          div.setAttribute("style", "color: red");
          document.body.append(div);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.injected === undefined")
    assert any(v.startswith("script-src") for v in watch.violations), watch.violations
    assert any(v.startswith("style-src") for v in watch.violations), watch.violations
    assert watch.policy_messages()


def test_anonymous_pages(watched: tuple[Any, CspWatch], server: str) -> None:
    page, watch = watched
    page.goto(f"{server}/login")
    _styled(page)
    assert page.locator("form[action='/login'] input[name=_csrf_token]").count() == 1
    page.fill("#username", "counsellor")
    page.fill("#password", "not-the-password")
    page.click("#password-form button[type=submit]")
    assert page.locator(".error").is_visible()
    response = page.goto(f"{server}/no-such-page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "404"
    _styled(page)
    response = page.goto(f"{server}/staff/residents")
    assert page.url == f"{server}/login"
    watch.assert_clean("anonymous pages")
    assert len(watch.loaded) >= 4


def test_every_page_of_every_role_works_under_the_policy(browser: Any, server: str) -> None:
    pages = 0
    # --- counsellor: a search submitted with Enter, a hold, the overview, dashboard, inbox
    with _signed_in(browser, server, "counsellor") as (page, watch):
        page.wait_for_url(f"{server}/call")
        _styled(page)
        session = {c["name"]: c for c in page.context.cookies()}[SESSION_COOKIE]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # no cookie is readable by script
        page.fill("#women", "34")
        page.fill("#girls", "5")
        page.focus("#girls")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/call/match")
        options = page.locator("ol.options > li.option")
        assert options.count() > 0
        option = options.filter(
            has=page.locator(".name", has_text=re.compile(f"^{re.escape(CRISIS_CENTRE)}$"))
        )
        option.get_by_role("button", name="Hold").click()
        page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
        assert page.locator("#meeting-point").is_visible()
        watch.assert_clean("call")

        page.goto(f"{server}/facilities")
        _styled(page)
        page.select_option("#kind", "secret_shelter")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/facilities?kind=secret_shelter*")
        assert page.locator("table.facilities tbody tr").count() > 0
        watch.assert_clean("facilities")

        page.goto(f"{server}/dashboard")
        _styled(page)
        chart = page.locator("svg.chart").first
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        page.select_option("#days", "28")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/dashboard?days=28")
        watch.assert_clean("dashboard")

        page.goto(f"{server}/inbox")
        _styled(page)
        assert page.locator("table.inbox, p.none").count() == 1
        watch.assert_clean("counsellor inbox")

        response = page.goto(f"{server}/staff/capacity")
        assert response.status == 403
        assert page.locator("h1").inner_text() == "403"
        _styled(page)
        watch.assert_clean("error page")
        pages += len(watch.loaded)

    # --- shelter staff: capacity, the hold arriving, residents, inbox ---------------------
    with _signed_in(browser, server, "house-staff") as (page, watch):
        page.wait_for_url(f"{server}/staff/capacity")
        _styled(page)
        card = page.locator("section.capacity").first
        card.locator("button[value='beds+']").click()
        assert page.locator("section.capacity .ok").first.inner_text() == "Report saved."
        watch.assert_clean("capacity")

        page.goto(f"{server}/staff/holds")
        _styled(page)
        confirm = page.locator("article.hold[data-state=open] form.confirm").first
        confirm.get_by_role("button", name="Confirm arrival").click()
        page.wait_for_load_state()
        assert page.locator("section.arrived .case-code").is_visible()
        case_code = page.locator("section.arrived .case-code").inner_text()
        watch.assert_clean("incoming holds")

        page.goto(f"{server}/staff/residents")
        _styled(page)
        row = page.locator(f"table.residents tr[data-case-code='{case_code}']")
        assert row.count() == 1
        row.locator("select[name=reason]").select_option(index=1)
        row.get_by_role("button", name="Record departure").click()
        page.wait_for_load_state()
        assert case_code in page.locator("p.ok").inner_text()
        watch.assert_clean("residents")

        page.goto(f"{server}/inbox")
        _styled(page)
        assert page.locator("table.inbox tbody tr").count() > 0  # the hold was announced
        watch.assert_clean("staff inbox")
        pages += len(watch.loaded)

    # --- police: an inquiry answered in the fixed shape -----------------------------------
    with _signed_in(browser, server, "police") as (page, watch):
        page.wait_for_url(f"{server}/police")
        _styled(page)
        page.fill("#full_name", "Nagy Anna")
        page.fill("#birth_date", "1990-01-01")
        page.fill("#case_reference", "CSP-1")
        page.click("button[type=submit]:has-text('Ask')")
        assert page.locator("section.answer h2").inner_text() == "No confirmable record"
        watch.assert_clean("police")
        pages += len(watch.loaded)

    # --- admin: the overview, the dashboard and the inbox; the auditor: the start page -----
    with _signed_in(browser, server, "admin") as (page, watch):
        page.wait_for_url(f"{server}/facilities")
        _styled(page)
        assert page.locator("table.facilities tbody tr").count() > 0
        for path in ("/dashboard", "/inbox"):
            page.goto(f"{server}{path}")
            _styled(page)
        watch.assert_clean("admin pages")
        pages += len(watch.loaded)
    with _signed_in(browser, server, "auditor") as (page, watch):
        page.wait_for_url(f"{server}/home")
        _styled(page)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{server}/login")
        watch.assert_clean("auditor")
        pages += len(watch.loaded)
    assert pages >= 25
