"""The inbox in headless Chromium: facility names rather than ids, short hold references with
the full id in a title, readable times, a styled table with state colours, and never an
address. A facility's staff and the hotline each read their own messages.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.db.engine import make_engine, unit_of_work
from broker.services import holds
from broker.settings import Settings
from tests.browser_support import (
    CRISIS_CENTRE,
    ShiftedClock,
    demo_server,
    hold_through_api,
    login,
    new_page,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The demo server after a hold at the crisis centre expired: the centre has the news
    of the hold and of its expiry, the hotline of the expiry. Yields (base URL, hold id)."""
    directory = tmp_path_factory.mktemp("inbox")
    clock = ShiftedClock()
    with demo_server(directory, clock) as base:
        hold_id = hold_through_api(base)
        clock.advance(hours=6)
        engine = make_engine(f"sqlite:///{directory / 'broker.db'}", pool_size=1)
        try:
            with unit_of_work(engine, audit_key=Settings().audit_key_bytes) as session:
                assert holds.holds_expire(session=session, now=clock()) == [hold_id]
        finally:
            engine.dispose()
        yield base, hold_id


def _address(name: str) -> str:
    network = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "data" / "demo_network.toml").read_text()
    )
    return str(next(f["address"] for f in network["facilities"] if f["name"] == name))


def _check_readable(page: Any, hold_id: str) -> None:
    main = page.locator("main").inner_text()
    assert "facility id" not in main
    assert CRISIS_CENTRE in main
    assert hold_id not in main  # 32 characters nobody reads out on the phone
    ref = page.locator(f"table.inbox [title='{hold_id}']").first
    assert ref.inner_text() == hold_id[:8]
    assert not ISO_TIME.search(main), ISO_TIME.search(main)
    times = page.locator("table.inbox time")
    assert times.count() >= 2
    for i in range(times.count()):
        assert ISO_TIME.match(times.nth(i).get_attribute("datetime") or "")
    content = page.content()
    address = _address(CRISIS_CENTRE)
    for part in (address, address.split(",")[0], "utca", "köz "):
        assert part not in content


def _style(locator: Any, prop: str) -> str:
    return str(locator.evaluate(f"e => getComputedStyle(e).{prop}"))


def _check_styled(page: Any) -> None:
    table = page.locator("table.inbox")
    header = table.locator("thead th").first
    cell = table.locator("tbody td").first
    assert _style(cell, "paddingLeft") != "0px"
    assert _style(header, "paddingLeft") != "0px"
    assert _style(table, "borderCollapse") == "collapse"
    assert _style(header, "backgroundColor") != _style(cell, "backgroundColor")
    badge = table.locator("tbody .delivery-state").first
    ink = _style(page.locator("body"), "color")
    assert _style(badge, "color") != ink  # the delivery state has a colour of its own


def test_staff_inbox_is_readable(browser: Any, network: tuple[str, str]) -> None:
    base, hold_id = network
    with new_page(browser) as page:
        login(page, base, "house-staff")
        page.goto(f"{base}/inbox")
        rows = page.locator("table.inbox tr.message")
        assert rows.count() == 2  # the hold on its way, then its expiry
        events = {rows.nth(i).get_attribute("data-event") for i in range(2)}
        assert events == {"hold.incoming", "hold.expired"}
        _check_readable(page, hold_id)
        _check_styled(page)
        shot(page, "inbox-staff-readable")


def test_hotline_inbox_is_readable(browser: Any, network: tuple[str, str]) -> None:
    base, hold_id = network
    with new_page(browser) as page:
        login(page, base, "counsellor")
        page.goto(f"{base}/inbox")
        rows = page.locator("table.inbox tr.message")
        assert rows.count() == 1
        assert rows.first.get_attribute("data-event") == "hold.expired"
        _check_readable(page, hold_id)
        _check_styled(page)
        shot(page, "inbox-hotline-readable")
