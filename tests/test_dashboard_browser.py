"""The dashboard in headless Chromium: eight weeks of stays and unmet cases on the demo
network, the nightly snapshot run for each day, and the page's charts drawn without a
single request to another host."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from broker.db.engine import make_engine, unit_of_work
from broker.db.models import Facility, Hold, Placement, UnmetCase
from broker.services.statistics import statistics_snapshot
from broker.settings import Settings
from tests.browser_support import demo_server, login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

WEEKS = 8
STAY = {"family": {"adults": [{"age": 33, "sex": "female"}], "children": []}}


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _history(url: str, today: date) -> None:
    """Stays that keep most units busy (as the houses are), a few unmet cases a day, and the
    snapshot for every past day, written as the nightly job writes it."""
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=1)
    rng = random.Random(2026)
    first = today - timedelta(days=WEEKS * 7)
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            facilities = session.exec(select(Facility).order_by(col(Facility.id))).all()
            stays: list[tuple[Hold, Placement]] = []
            for facility in facilities:
                assert facility.id is not None
                # the demo network was loaded today; here it has been running for months
                facility.created_at = _at(first - timedelta(days=90))
                session.add(facility)
                for _ in range(facility.total_units):
                    day = first - timedelta(days=rng.randint(0, 20))
                    while day < today:
                        end = day + timedelta(days=rng.randint(6, 40))
                        hold = Hold(
                            id=uuid.uuid4().hex,
                            facility_id=facility.id,
                            state="confirmed",
                            beds=1,
                            request=STAY,
                            created_at=_at(day, 9),
                            expires_at=_at(day, 11),
                            closed_at=_at(day, 10),
                        )
                        ended = end < today
                        placement_id = uuid.uuid4().hex
                        placement = Placement(
                            id=placement_id,
                            case_id=placement_id,
                            case_code=f"T{len(stays):04d}-HIST",
                            facility_id=facility.id,
                            hold_id=hold.id,
                            request=STAY,
                            beds=1,
                            state="departed" if ended else "active",
                            started_at=_at(day, 10),
                            limit_at=_at(day + timedelta(days=56), 10),
                            ended_at=_at(end, 15) if ended else None,
                            end_reason="independent_housing" if ended else None,
                        )
                        stays.append((hold, placement))
                        day = end + timedelta(days=rng.randint(0, 4))
            session.add_all([hold for hold, _ in stays])
            session.flush()
            session.add_all([placement for _, placement in stays])
            for offset in range(WEEKS * 7):
                day = first + timedelta(days=offset)
                for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
                    session.add(
                        UnmetCase(
                            case_key=uuid.uuid4().hex + uuid.uuid4().hex,
                            day=day,
                            first_at=_at(day, 14),
                            met=rng.random() < 0.2,
                        )
                    )
        for offset in range(WEEKS * 7):
            day = first + timedelta(days=offset)
            with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
                statistics_snapshot(
                    session=session,
                    day=day,
                    min_count=settings.stats_min_count,
                )
    finally:
        engine.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with demo_server(tmp_path) as base:
        _history(f"sqlite:///{tmp_path / 'broker.db'}", datetime.now(UTC).date())
        yield base


def test_dashboard_draws_its_charts_from_the_server_alone(browser: Any, server: str) -> None:
    with new_page(browser) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        login(page, server, "counsellor")
        page.wait_for_url(f"{server}/call")
        page.get_by_role("link", name="Dashboard").click()
        page.wait_for_url(f"{server}/dashboard")

        charts = page.locator("svg.chart[role=img]")
        assert charts.count() >= 3
        for section in ("#occupancy-by-kind", "#occupancy-by-region", "#unmet"):
            chart = page.locator(f"{section} svg.chart").first
            assert chart.is_visible(), section
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100, section
        assert page.locator("#occupancy-by-kind svg path.series").count() >= 2
        # the demo's regions are small: most have no region and kind with five units
        drawn = page.locator("#occupancy-by-region svg.chart").count()
        assert drawn >= 1
        assert page.locator("#occupancy-by-region table tbody tr").count() == 20
        if drawn < 20:
            assert page.locator("#regions-without-figures").is_visible()
        assert page.locator("#unmet svg rect.bar, #unmet svg rect.suppressed").count() >= WEEKS
        assert page.locator("#unmet table tbody tr").count() >= WEEKS
        assert page.locator("#no-figures").count() == 0
        shot(page, "dashboard")

        page.select_option("#days", "28")
        page.click("button[type=submit]:has-text('Show')")
        page.wait_for_url(f"{server}/dashboard?days=28")
        assert page.locator("#unmet table tbody tr").count() in (4, 5)

        page.locator("#occupancy-by-kind details summary").click()
        assert page.locator("#occupancy-by-kind details table tbody tr").count() == 28

        foreign = [url for url in requested if not url.startswith(server)]
        assert foreign == [], foreign
