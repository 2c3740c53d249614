"""The policy simulator's pages in headless Chromium, in Hungarian, on the demo network: a
counsellor opens ``/simulations`` from the menu, fills in the form and sends it with Enter,
sees the simulation queued on its page; the scheduled job runs it once in this process; the
page, reloaded, shows every run done, and the report opens as its own document, with its
charts and tables, its inline style applied under its own policy and no policy violation
anywhere on the way. Then axe-core finds no serious or critical WCAG violation on the
pages (the form, a refusal, a finished simulation), as ``test_accessibility_browser`` checks
the others."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from broker.settings import Settings
from tests.browser_support import ShiftedClock, demo_server, login, shot
from tests.conftest import ARTIFACTS
from tests.job_support import runner_at

AXE = ARTIFACTS.parent / ".cache/axe/node_modules/axe-core/axe.min.js"
pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ShiftedClock]]:
    directory = tmp_path_factory.mktemp("simulation-pages")
    clock = ShiftedClock()
    with demo_server(directory, clock) as base:
        yield base, f"sqlite:///{directory / 'broker.db'}", clock


def test_a_counsellor_runs_a_simulation_and_reads_its_report_in_hungarian(
    browser: Any, served: tuple[str, str, ShiftedClock]
) -> None:
    base, url, clock = served
    context = browser.new_context(locale="hu-HU", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    violations: list[str] = []
    console: list[str] = []
    policies: dict[str, str | None] = {}
    try:
        page = context.new_page()
        page.expose_binding("reportViolation", lambda _source, text: violations.append(text))
        page.add_init_script(WATCH)
        page.on("console", lambda message: console.append(message.text))
        page.on(
            "response",
            lambda response: (
                policies.__setitem__(response.url, response.headers.get("content-security-policy"))
                if response.request.resource_type == "document"
                else None
            ),
        )
        login(page, base, "counsellor")
        page.wait_for_url(f"{base}/call")
        page.get_by_role("link", name="Szimulációk").click()
        page.wait_for_url(f"{base}/simulations")
        assert page.locator("h1").inner_text() == "Eljárásrend-szimulációk"
        assert page.locator("#simulation-runs tbody").inner_text().strip() == (
            "Még nincs szimuláció."
        )

        # two policies, two seeds, thirty days: four runs of a second or so in all
        page.select_option("#network", "demo")
        page.select_option("#days", "30")
        assert page.locator("#days option:checked").inner_text() == "30 nap"
        for box in page.locator("input[name=policies]").all():
            box.uncheck()
        page.get_by_label("szigorú áthelyezés, helykeresés telefonos körbekérdezéssel").check()
        page.get_by_label(
            "szigorú áthelyezés, helykeresés a közvetítő rendszer rangsorával"
        ).check()
        page.fill("#seeds", "2")
        shot(page, "simulations-form-hu")
        page.focus("#seeds")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/simulations/[0-9]+$"))
        location = page.url
        status = page.locator("#simulation-status")
        assert status.get_attribute("data-status") == "queued"
        assert status.locator(".status").inner_text() == "indulásra vár"
        assert status.locator(".progress").inner_text() == "0 / 4"
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "5"
        assert page.locator("#simulation-settings ol li").count() == 2
        shot(page, "simulation-queued-hu")

        runner = runner_at(Settings(database_url=url), clock())
        try:
            outcome = runner.run_now("simulation_runs")
        finally:
            runner.engine.dispose()
        assert outcome.status == "ran" and outcome.summary["status"] == "done", outcome

        page.goto(location)
        status = page.locator("#simulation-status")
        assert status.get_attribute("data-status") == "done"
        assert status.locator(".status").inner_text() == "kész"
        assert status.locator(".progress").inner_text() == "4 / 4"
        assert page.locator("#simulation-progress").get_attribute("value") == "4"
        assert page.locator("meta[http-equiv=refresh]").count() == 0
        shot(page, "simulation-done-hu")

        page.locator("#open-report").click()
        page.wait_for_url(f"{location}/report")
        assert page.locator("html").get_attribute("lang") == "hu"
        assert page.locator("svg").count() >= 1
        assert page.locator("table").count() >= 1
        assert page.locator("table tbody tr").count() >= 2  # a row per policy at least
        # the inline style is applied: its hash is in the document's own policy
        width = page.evaluate("getComputedStyle(document.body).maxWidth")
        assert width == "1024px", width
        report_policy = policies[f"{location}/report"] or ""
        assert report_policy.startswith("default-src 'none'; style-src 'sha256-")
        shot(page, "simulation-report-hu")

        page.goto(f"{base}/simulations")
        row = page.locator("#simulation-runs tbody tr.simulation")
        assert row.count() == 1
        assert row.locator(".status").inner_text() == "kész"
        assert row.get_by_role("link", name="A jelentés megnyitása").count() == 1
        shot(page, "simulations-list-hu")
        page.wait_for_timeout(150)  # violation events arrive asynchronously
        assert violations == []
        assert [text for text in console if "Content Security Policy" in text] == []
    finally:
        context.close()


def test_the_simulation_pages_have_no_serious_accessibility_violation(
    browser: Any, served: tuple[str, str, ShiftedClock]
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/test.sh installs axe-core")
    base, _, _ = served
    # axe is a script the pages' policy would refuse: only this context bypasses it
    context = browser.new_context(
        locale="hu-HU", viewport={"width": 1200, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    found: dict[str, list[str]] = {}

    def axe(name: str) -> None:
        page.add_script_tag(path=str(AXE))
        found[name] = page.evaluate(
            """async () => {
                const result = await axe.run(document, {runOnly: {type: "tag", values:
                    ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}});
                return result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
            }"""
        )

    try:
        page = context.new_page()
        login(page, base, "admin")
        page.wait_for_load_state()
        page.goto(f"{base}/simulations")
        axe("/simulations")
        for box in page.locator("input[name=policies]").all():
            box.uncheck()
        page.click("#start")
        page.wait_for_selector("#simulation-error")
        assert page.locator("#simulation-error").inner_text() == (
            "Jelöljön be legalább egy eljárásrendet."
        )
        axe("/simulations (refused)")
        runs = page.locator("#simulation-runs tbody th a")
        if runs.count():
            runs.first.click()
            page.wait_for_url(re.compile(r"/simulations/[0-9]+$"))
            axe("/simulations/{id}")
    finally:
        context.close()
    assert found and all(violations == [] for violations in found.values()), found
