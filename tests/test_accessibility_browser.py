"""Accessibility in headless Chromium on the demo network: axe-core finds no serious or
critical WCAG 2 A/AA violation on any page, in Hungarian and in English, for every role;
and a counsellor can take a whole call with the keyboard alone, seeing where the focus is.

axe-core is installed, pinned, by ``scripts/test.sh`` into ``.cache/axe`` (git-ignored). It
is injected into each page as a script; the pages' Content-Security-Policy allows no script
but the broker's own (``script-src 'self'``), so this test's browser contexts, and only
they, are made with Playwright's ``bypass_csp=True``. The policy itself is tested in
``test_csp_browser.py`` and ``test_security_headers.py``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser_support import demo_server, hold_through_api, plan_through_api
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

AXE = Path(__file__).resolve().parent.parent / ".cache/axe/node_modules/axe-core/axe.min.js"
# WCAG 2.0, 2.1 and 2.2 A/AA, and axe's best practices (landmarks, heading order, ...).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
IMPACTS = ["critical", "serious", "moderate", "minor", "review"]
LANGUAGES = {"hu": "hu-HU", "en": "en-US"}
# No rule is excluded: every violation found was fixed in the templates or the stylesheet.
EXCLUDED_RULES: dict[str, str] = {}

# (page, language, role) -> violations found, each as (impact, rule id, how many nodes);
# "review" is what axe could not decide (its "incomplete"), listed but not failed: the minus
# of the capacity steppers (a symbol axe will not judge) and the dashboard's SVG text
# (#5b6478 and #1d2433 on white, 5.9:1 and 15:1).
RESULTS: dict[tuple[str, str, str], list[tuple[str, str, int]]] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/test.sh installs axe-core")
    with demo_server(tmp_path_factory.mktemp("a11y")) as base:
        yield base


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    """The table of every page checked, printed and written once all tests have run."""
    yield
    if not RESULTS:
        return
    rows = [f"{'page':<34} {'lang':<4} {'role':<14} " + " ".join(f"{i:>8}" for i in IMPACTS)]
    for (name, language, role), found in RESULTS.items():
        counts = {impact: sum(n for i, _, n in found if i == impact) for impact in IMPACTS}
        rules = ", ".join(sorted({f"{rule}({i})" for i, rule, _ in found}))
        rows.append(
            f"{name:<34} {language:<4} {role:<14} "
            + " ".join(f"{counts[i]:>8}" for i in IMPACTS)
            + (f"  {rules}" if rules else "")
        )
    text = "\n".join(rows) + "\n"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.txt").write_text(text, encoding="utf-8")
    print("\n" + text)


@contextmanager
def _browsing(browser: Any, language: str) -> Iterator[Any]:
    context = browser.new_context(
        locale=LANGUAGES[language], viewport={"width": 1200, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo-2026")
    page.click("#password-form button[type=submit]")
    page.wait_for_load_state()


def _axe(page: Any, name: str, language: str, role: str) -> None:
    """Run axe-core on the page as it is and record what it found."""
    assert page.locator("html").get_attribute("lang") == language, name
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async ([tags, excluded]) => {
            const rules = Object.fromEntries(excluded.map((id) => [id, {enabled: false}]));
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, rules});
            const review = result.incomplete.map((v) => ({
                id: "review:" + v.id, impact: "review", nodes: v.nodes.map((n) => n.target.join(" ")),
                help: v.help,
            }));
            return review.concat(result.violations.map((v) => ({
                id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")),
                help: v.help,
            })));
        }""",
        [WCAG_TAGS, list(EXCLUDED_RULES)],
    )
    RESULTS[(name, language, role)] = [(v["impact"], v["id"], len(v["nodes"])) for v in violations]
    for v in violations:
        print(f"{name} [{language}, {role}] {v['impact']} {v['id']}: {v['help']} {v['nodes'][:5]}")


def _serious(language: str) -> list[str]:
    return [
        f"{name} [{role}]: {rule} ({impact}, {nodes} nodes)"
        for (name, lang, role), found in RESULTS.items()
        if lang == language
        for impact, rule, nodes in found
        if impact in ("serious", "critical")
    ]


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_no_serious_or_critical_violation_on_any_page(
    browser: Any, server: str, language: str
) -> None:
    hold_through_api(server, counsellor="counsellor2")

    with _browsing(browser, language) as page:
        page.goto(f"{server}/login")
        _axe(page, "/login", language, "anonymous")

    with _browsing(browser, language) as page:
        _sign_in(page, server, "counsellor")
        page.wait_for_url(f"{server}/call")
        _axe(page, "/call (empty)", language, "counsellor")
        page.fill("#women", "34")
        page.select_option("#preferred_regions", ["Bács-Kiskun"])
        page.click("#find")
        page.wait_for_url(f"{server}/call/match")
        assert page.locator("ol.options > li.option").count() > 0
        _axe(page, "/call/match (options)", language, "counsellor")
        page.goto(f"{server}/call")
        # a mother with a boy of 15, high risk, avoiding Budapest: no place fits her
        page.fill("#women", "30")
        page.fill("#boys", "15")
        page.fill("#girls", "8")
        page.select_option("#risk", "high")
        page.select_option("#avoid_regions", ["Budapest"])
        page.click("#find")
        page.wait_for_url(f"{server}/call/match")
        assert page.locator("ol.options > li.option").count() == 0
        _axe(page, "/call/match (no option)", language, "counsellor")
        for path in ["/facilities", "/inbox", "/dashboard"]:
            page.goto(f"{server}{path}")
            _axe(page, path, language, "counsellor")
        plan = plan_through_api(server, risks=("medium",), counsellor="counsellor2")
        page.goto(f"{server}/plans/{plan['plan_id']}")
        _axe(page, "/plans/{id}", language, "counsellor")
        # a page a counsellor may not see
        response = page.goto(f"{server}/staff/capacity")
        assert response.status == 403
        _axe(page, "403 (/staff/capacity)", language, "counsellor")

    with _browsing(browser, language) as page:
        _sign_in(page, server, "house-staff")
        page.wait_for_url(f"{server}/staff/capacity")
        _axe(page, "/staff/capacity", language, "shelter_staff")
        page.goto(f"{server}/staff/holds")
        assert page.locator("article.hold[data-state=open]").count() > 0
        _axe(page, "/staff/holds (incoming hold)", language, "shelter_staff")
        for path in ["/staff/residents", "/inbox"]:
            page.goto(f"{server}{path}")
            _axe(page, path, language, "shelter_staff")

    with _browsing(browser, language) as page:
        _sign_in(page, server, "police")
        page.wait_for_url(re.compile(r".*/police$"))
        _axe(page, "/police", language, "police")
        page.fill("#full_name", "Minta Anna")
        page.fill("#birth_date", "1990-04-02")
        page.fill("#case_reference", "BRFK-2026-0001")
        page.click("form.inquiry button[type=submit]")
        page.wait_for_selector("section.answer")
        _axe(page, "/police (answer)", language, "police")

    with _browsing(browser, language) as page:
        _sign_in(page, server, "admin")
        for path in ["/facilities", "/dashboard"]:
            page.goto(f"{server}{path}")
            _axe(page, path, language, "admin")

    assert _serious(language) == []


def _focus_is_visible(page: Any) -> str:
    """The focused element's selector-ish name, after checking it shows an outline or ring."""
    # a new page's autofocus is applied after its load event: give it a moment to land
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "() => document.activeElement && document.activeElement !== document.body",
            timeout=5_000,
        )
    shown = page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
            const ring = style.boxShadow && style.boxShadow !== "none";
            return {
                visible: Boolean(outline || ring),
                name: el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""),
            };
        }"""
    )
    assert shown["visible"], f"no visible focus on {shown['name']}"
    return str(shown["name"])


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element ``selector`` has the focus, checking the focus is seen."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            _focus_is_visible(page)
            return
        page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached {selector}")


def test_a_whole_call_with_the_keyboard_alone(browser: Any, server: str) -> None:
    with _browsing(browser, "en") as page:
        # sign in: Tab to the name, type, Tab to the password, type, Enter
        page.goto(f"{server}/login")
        _tab_to(page, "#username")
        page.keyboard.type("counsellor")
        _tab_to(page, "#password")
        page.keyboard.type("counsellor-demo-2026")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/call")

        # the family: the first field has the focus; ages typed, a need ticked with Space
        assert _focus_is_visible(page) == "input#women"
        page.keyboard.type("29")
        _tab_to(page, "#girls")
        page.keyboard.type("6")
        _tab_to(page, "#night_arrival")
        page.keyboard.press("Space")
        assert page.locator("#night_arrival").is_checked()
        _tab_to(page, "#travel_minutes")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/call/match")

        # the results' title has the focus; Tab on to the first option's "Hold", Enter
        _tab_to(page, "ol.options > li.option form.hold button")
        held_at = page.evaluate("() => document.activeElement.closest('li.option').dataset")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/call\?held=\w+$"))
        assert held_at["facilityId"]

        # the text to read out has the focus; the hold's meeting point opens with Enter
        assert _focus_is_visible(page) == "h2#meeting-title"
        hold = page.locator(".own-holds li.hold[data-state=open]").first
        summary = ".own-holds li.hold[data-state=open] details summary"
        _tab_to(page, summary)
        assert hold.locator("details").get_attribute("open") is None
        page.keyboard.press("Enter")
        assert hold.locator("details").get_attribute("open") is not None
        meeting = hold.locator("details p").inner_text()
        assert meeting and meeting in page.locator("#meeting-point .meeting-text").inner_text()
        # Space closes it again, and the focus stays visible on it
        page.keyboard.press("Space")
        assert hold.locator("details").get_attribute("open") is None
        _focus_is_visible(page)
