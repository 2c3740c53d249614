"""Statistics: unmet cases counted once per case, the daily snapshot against placements made
through the API, small-count suppression, the dashboard's series and page, and the SVG
charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broker.db.engine import make_engine, open_session, unit_of_work
from broker.db.models import (
    DailyStatistic,
    DailyUnmet,
    Facility,
    Hold,
    Operator,
    Placement,
    UnmetCase,
    User,
)
from broker.domain.charts import bar_chart, line_chart
from broker.domain.statistics import (
    DayCounts,
    OccupancyCell,
    complete_occupancy,
    occupancy_share,
    suppressed,
    unmet_case_key,
    with_aggregates,
)
from broker.services.statistics import (
    dashboard_series,
    dashboard_until,
    statistics_snapshot,
    unmet_case_record,
)
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.placement_support import Desk, family
from tests.session_support import use_page_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DAY = date(2026, 11, 21)  # the test clock's first day
THREE_GIRLS = ((6, "female"), (8, "female"), (10, "female"))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings.database_url, pool_size=2)
    yield made
    made.dispose()


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def _cases(engine: Engine) -> dict[str, tuple[date, bool]]:
    """Each unmet case's day and whether it was met, by case key."""
    with unit_of_work(engine, write=False) as session:
        return {row.case_key: (row.day, row.met) for row in session.exec(select(UnmetCase))}


def _user_id(engine: Engine, username: str) -> int:
    with unit_of_work(engine, write=False) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        assert user.id is not None
        return user.id


def _snapshot(engine: Engine, settings: Settings, day: date, min_count: int = 5) -> dict[str, int]:
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        return statistics_snapshot(
            session=session,
            day=day,
            min_count=min_count,
        )


def _statistics(engine: Engine, day: date) -> dict[tuple[str, str], tuple[Any, Any, Any]]:
    with unit_of_work(engine, write=False) as session:
        rows = session.exec(select(DailyStatistic).where(col(DailyStatistic.day) == day)).all()
        return {
            (row.region, row.kind): (row.units_total, row.units_occupied, row.placements_started)
            for row in rows
        }


def _unmet(engine: Engine, day: date) -> int | None:
    with unit_of_work(engine, write=False) as session:
        row = session.get(DailyUnmet, day)
        return None if row is None else row.cases


# --- unmet cases --------------------------------------------------------------------------


def test_unmet_requests_are_counted_once_per_case(
    desk: Desk, engine: Engine, settings: Settings, clock: TestClock, accounts: Accounts
) -> None:
    fid = desk.facility(free_units=1, free_beds=3)  # room for three people at most
    big = family(children=THREE_GIRLS)
    for needs in ({}, {"needs": {"pets": True}}, {"preferred_regions": ["Baranya"]}):
        answer = desk.match({**big, **needs})
        assert answer["options"] == [] and answer["feasible"] == 0
    assert len(_cases(engine)) == 1, "three searches for one family are one case"

    # the same people typed in another order are the same family
    desk.match(family(children=tuple(reversed(THREE_GIRLS))))
    assert len(_cases(engine)) == 1

    other = family(adults=2, children=((3, "male"), (5, "female")))
    assert desk.match(other)["options"] == []
    assert len(_cases(engine)) == 2, "another family is another case"

    assert desk.match(family())["options"], "a family that fits is no case at all"
    assert len(_cases(engine)) == 2

    colleague = accounts.headers("colleague", "counsellor")
    response = desk.client.post("/api/v1/matches", json=big, headers=colleague)
    assert response.status_code == 200 and response.json()["options"] == []
    assert len(_cases(engine)) == 3, "a colleague's search is her own case"

    # A place frees up and the counsellor holds it for the big family: that case is met.
    desk.report(fid, 2, 8)
    held = desk.hold(fid, big)
    assert held.status_code == 201, held.text
    cases = _cases(engine)
    met = unmet_case_key(
        settings.token_secret_bytes,
        counsellor_user_id=_user_id(engine, "desk-counsellor"),
        day=DAY,
        request=big,
    )
    assert cases.pop(met) == (DAY, True)
    assert sorted(cases.values()) == [(DAY, False), (DAY, False)]

    assert _snapshot(engine, settings, DAY)["unmet_cases"] == 2
    assert _unmet(engine, DAY) == 2

    # The next day the same family searching in vain is a new case of that day.
    clock.advance(days=1)
    desk.report(fid, 0, 0)
    assert desk.match(big)["options"] == []
    assert len(_cases(engine)) == 4
    assert _snapshot(engine, settings, DAY + timedelta(days=1))["unmet_cases"] == 1


def test_case_key_is_keyed_and_leaves_out_needs_and_order(settings: Settings) -> None:
    key = settings.token_secret_bytes
    request = family(children=THREE_GIRLS, risk="high")
    same = {
        **family(children=tuple(reversed(THREE_GIRLS)), risk="high"),
        "needs": {"pets": True},
    }
    base = unmet_case_key(key, counsellor_user_id=7, day=DAY, request=request)
    assert base == unmet_case_key(key, counsellor_user_id=7, day=DAY, request=same)
    assert len(base) == 64 and int(base, 16) >= 0
    for changed in (
        unmet_case_key(key, counsellor_user_id=8, day=DAY, request=request),
        unmet_case_key(key, counsellor_user_id=7, day=DAY + timedelta(days=1), request=request),
        unmet_case_key(key, counsellor_user_id=7, day=DAY, request={**request, "risk": "medium"}),
        unmet_case_key(b"another key" * 3, counsellor_user_id=7, day=DAY, request=request),
    ):
        assert changed != base


def test_call_page_search_counts_as_the_same_case(
    desk: Desk, engine: Engine, client: TestClient[Any]
) -> None:
    desk.facility(free_units=1, free_beds=3)
    big = family(children=THREE_GIRLS)
    assert desk.match(big)["options"] == []

    use_page_session(client, desk.counsellor["Authorization"])
    client.get("/call")
    csrf = client.cookies.get("csrftoken") or ""
    form = {"women": "30", "girls": "10, 6, 8", "risk": "standard", "_csrf_token": csrf}
    page = client.post("/call/match", data=form, headers={"x-csrftoken": csrf})
    assert page.status_code == 200, page.text
    assert len(_cases(engine)) == 1, "the page and the API count the same family once"

    page = client.post(
        "/call/match", data={**form, "girls": "10, 6, 8, 1"}, headers={"x-csrftoken": csrf}
    )
    assert page.status_code == 200
    assert len(_cases(engine)) == 2


def test_a_lost_unmet_write_never_fails_the_search(engine: Engine, settings: Settings) -> None:
    """The match runs in a read transaction. When its snapshot can no longer become a write
    (SQLite, after another writer committed), the case is lost and the session goes on."""
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    reader = open_session(engine, write=False)
    try:
        reader.exec(select(UnmetCase)).all()  # the read snapshot starts here
        with unit_of_work(engine) as writer:
            writer.add(UnmetCase(case_key="f" * 64, day=DAY, first_at=now))
        recorded = unmet_case_record(
            session=reader,
            key=settings.token_secret_bytes,
            counsellor_user_id=1,
            request=family(),
            now=now,
        )
        # the session is still usable and commits what it has
        reader.exec(select(UnmetCase)).all()
        reader.commit()
    finally:
        reader.close()
    if engine.dialect.name == "sqlite":
        assert recorded is False
    else:
        assert recorded is True
    assert len(_cases(engine)) == (1 if recorded is False else 2)


def test_recording_twice_in_one_session_is_one_case(engine: Engine, settings: Settings) -> None:
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    with unit_of_work(engine, write=False) as session:
        session.exec(select(UnmetCase)).all()
        first = unmet_case_record(
            session=session,
            key=settings.token_secret_bytes,
            counsellor_user_id=1,
            request=family(),
            now=now,
        )
        again = unmet_case_record(
            session=session,
            key=settings.token_secret_bytes,
            counsellor_user_id=1,
            request=family(),
            now=now + timedelta(minutes=3),
        )
        session.commit()
    assert (first, again) == (True, False)
    assert len(_cases(engine)) == 1


# --- the daily snapshot -------------------------------------------------------------------


def _place(desk: Desk, fid: int, body: dict[str, Any] | None = None) -> str:
    held = desk.hold(fid, body or family())
    assert held.status_code == 201, held.text
    confirmed = desk.confirm(held.json()["hold_id"], fid)
    assert confirmed.status_code == 200, confirmed.text
    placement_id: str = confirmed.json()["placement_id"]
    return placement_id


def test_snapshot_counts_placements_made_through_the_api(
    desk: Desk, engine: Engine, settings: Settings, clock: TestClock
) -> None:
    big = desk.facility(free_units=6, free_beds=18, total_units=6, total_beds=18)
    small = desk.facility(free_units=4, free_beds=12, total_units=4, total_beds=12)
    secret = desk.facility(
        free_units=3,
        free_beds=9,
        kind="secret_shelter",
        region="Pest",
        total_units=3,
        total_beds=9,
    )
    placed = [_place(desk, fid) for fid in (big, big, big, small, small)]
    _place(desk, secret)

    summary = _snapshot(engine, settings, DAY)
    # two cells, two regions, two kinds and the country
    assert summary == {"statistics_rows": 7, "unmet_cases": 0}
    day_one = _statistics(engine, DAY)
    # 10 units in Baranya's crisis centres, 5 occupied, 5 arrivals: all shown
    assert day_one[("Baranya", "crisis_centre")] == (10, 5, 5)
    # 3 units, 1 occupied, 1 arrival: every count from 1 to 4 is suppressed
    assert day_one[("Pest", "secret_shelter")] == (None, None, None)
    # the aggregates, each from all its units and suppressed on its own counts
    assert day_one[("Baranya", "")] == day_one[("", "crisis_centre")] == (10, 5, 5)
    assert day_one[("Pest", "")] == day_one[("", "secret_shelter")] == (None, None, None)
    assert day_one[("", "")] == (13, 6, 6)

    # Day two: one family leaves, nobody arrives.
    clock.advance(days=1)
    departed = desk.client.post(
        f"/api/v1/placements/{placed[0]}/depart",
        json={"reason": "independent_housing"},
        headers=desk.staff[big],
    )
    assert departed.status_code == 200, departed.text
    _snapshot(engine, settings, DAY + timedelta(days=1))
    day_two = _statistics(engine, DAY + timedelta(days=1))
    assert day_two[("Baranya", "crisis_centre")] == (
        10,
        None,  # 4 occupied: suppressed
        0,  # zero is shown
    )
    # the country's 5 occupied units are its own count, shown
    assert day_two[("", "")] == (13, 5, 0)

    # Re-running an earlier day later gives that day's figures, not today's, and replaces
    # its rows rather than adding to them.
    _snapshot(engine, settings, DAY)
    _snapshot(engine, settings, DAY)
    assert _statistics(engine, DAY) == day_one
    with unit_of_work(engine, write=False) as session:
        rows = session.exec(select(DailyStatistic).where(col(DailyStatistic.day) == DAY)).all()
        assert len(rows) == 7
        unmet_rows = session.exec(select(DailyUnmet)).all()
        assert len(unmet_rows) == 2

    # The same placements with a threshold of 1 show every count.
    _snapshot(engine, settings, DAY, min_count=1)
    assert _statistics(engine, DAY)[("Pest", "secret_shelter")] == (3, 1, 1)


def test_snapshot_leaves_out_facilities_registered_after_the_day(
    desk: Desk, engine: Engine, settings: Settings
) -> None:
    desk.facility(total_units=5, total_beds=15)
    _snapshot(engine, settings, DAY - timedelta(days=1))
    assert _statistics(engine, DAY - timedelta(days=1)) == {}
    _snapshot(engine, settings, DAY)
    assert _statistics(engine, DAY) == {
        (region, kind): (5, 0, 0)
        for region, kind in (
            ("Baranya", "crisis_centre"),
            ("Baranya", ""),
            ("", "crisis_centre"),
            ("", ""),
        )
    }


def test_suppression_keeps_zero_and_large_counts() -> None:
    assert [suppressed(count, 5) for count in (0, 1, 4, 5, 17)] == [0, None, None, 5, 17]


# --- the dashboard ------------------------------------------------------------------------


def _add(session: Session, *rows: Any) -> None:
    for row in rows:
        session.add(row)


def test_snapshots_written_before_the_aggregates_show_only_complete_figures(
    engine: Engine, settings: Settings
) -> None:
    """Days written as cells alone (before the aggregate rows): a region, kind or the
    country gets a figure only where all its cells were shown, never a share of the cells
    that happened to be large."""
    monday = date(2026, 11, 2)
    with unit_of_work(engine) as session:
        _add(
            session,
            DailyStatistic(
                day=monday, region="Baranya", kind="crisis_centre", units_total=10, units_occupied=5
            ),
            DailyStatistic(
                day=monday,
                region="Baranya",
                kind="secret_shelter",
                units_total=None,
                units_occupied=0,
            ),
            DailyStatistic(
                day=monday, region="Pest", kind="crisis_centre", units_total=10, units_occupied=None
            ),
            DailyStatistic(
                day=monday, region="Pest", kind="secret_shelter", units_total=20, units_occupied=15
            ),
            DailyStatistic(
                day=monday + timedelta(days=1),
                region="Pest",
                kind="crisis_centre",
                units_total=10,
                units_occupied=None,
            ),
            # a day on which every cell was shown
            DailyStatistic(
                day=monday + timedelta(days=2),
                region="Baranya",
                kind="crisis_centre",
                units_total=10,
                units_occupied=5,
            ),
            DailyStatistic(
                day=monday + timedelta(days=2),
                region="Pest",
                kind="secret_shelter",
                units_total=20,
                units_occupied=15,
            ),
            # week of 2 Nov: 2 + 1 = 3 cases (suppressed); week of 9 Nov: 7; week of 16 Nov: 0
            DailyUnmet(day=monday, cases=2),
            DailyUnmet(day=monday + timedelta(days=3), cases=1),
            DailyUnmet(day=monday + timedelta(days=7), cases=4),
            DailyUnmet(day=monday + timedelta(days=8), cases=3),
            DailyUnmet(day=monday + timedelta(days=14), cases=0),
        )
    with unit_of_work(engine, write=False) as session:
        data = dashboard_series(
            session=session, since=monday, until=monday + timedelta(days=15), min_count=5
        )
    assert len(data.days) == 16
    # Monday: each aggregate has a suppressed cell (the old pooling read 50 %, 75 %, 67 %)
    for points in (*data.by_region.values(), *data.by_kind.values(), data.national):
        assert points[0] == (monday, None)
        assert points[1] == (monday + timedelta(days=1), None)
    third = monday + timedelta(days=2)
    assert data.by_region["Baranya"][2] == (third, 0.5)
    assert data.by_region["Pest"][2] == (third, 0.75)
    assert data.by_kind["crisis_centre"][2] == (third, 0.5)
    assert data.by_kind["secret_shelter"][2] == (third, 0.75)
    assert data.national[2] == (third, 20 / 30)
    assert data.national[3] == (monday + timedelta(days=3), None)
    assert data.counted_regions == {"Baranya", "Pest"}
    assert data.unmet_weeks == [
        (monday, None),
        (monday + timedelta(days=7), 7),
        (monday + timedelta(days=14), 0),
    ]
    assert data.has_figures


# The demo as the issue found it: many small region-and-kind cells (4 units each, below the
# minimum of 5) and one of 5 units, all 5 occupied; 10 of 124 units occupied in the country.
# Nógrád has 3 units in all; Heves, a region of the rules, has no facility.
SMALL_REGIONS = (
    "Budapest",
    "Baranya",
    "Bács-Kiskun",
    "Pest",
    "Vas",
    "Zala",
    "Fejér",
    "Somogy",
    "Tolna",
    "Veszprém",
)
KINDS = ("crisis_centre", "halfway_house", "secret_shelter")
OCCUPIED = {
    ("Bács-Kiskun", "crisis_centre"): 5,
    ("Baranya", "crisis_centre"): 1,
    ("Baranya", "halfway_house"): 1,
    ("Pest", "secret_shelter"): 1,
    ("Vas", "halfway_house"): 1,
    ("Zala", "secret_shelter"): 1,
}


def _units(region: str, kind: str) -> int:
    if region == "Nógrád":
        return 3
    return 5 if (region, kind) == ("Bács-Kiskun", "crisis_centre") else 4


def _demo_like_network(session: Session, day: date) -> None:
    """Facilities, each a region and kind of its own, and stays begun on ``day``, written
    as rows (the API would take far longer for a hundred units)."""
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    operator = Operator(name="Test operator", created_at=at - timedelta(days=30))
    session.add(operator)
    session.flush()
    cells = [(region, kind) for region in SMALL_REGIONS for kind in KINDS]
    for number, (region, kind) in enumerate([*cells, ("Nógrád", "crisis_centre")]):
        units = _units(region, kind)
        facility = Facility(
            name=f"{region} {kind}",
            kind=kind,
            operator_id=operator.id or 0,
            region=region,
            total_units=units,
            total_beds=units * 3,
            meeting_point="At the station.",
            created_at=at - timedelta(days=30),
            updated_at=at - timedelta(days=30),
        )
        session.add(facility)
        session.flush()
        for stay in range(OCCUPIED.get((region, kind), 0)):
            key = f"{number:02d}{stay:02d}" + "0" * 28
            session.add(
                Hold(
                    id=key,
                    facility_id=facility.id or 0,
                    state="confirmed",
                    beds=1,
                    request=family(),
                    created_at=at,
                    expires_at=at + timedelta(hours=1),
                    closed_at=at,
                )
            )
            session.flush()
            session.add(
                Placement(
                    id=key,
                    case_id=key,
                    case_code=f"T{number:02d}{stay:02d}",
                    facility_id=facility.id or 0,
                    hold_id=key,
                    request=family(),
                    beds=1,
                    state="active",
                    started_at=at,
                    limit_at=at + timedelta(days=56),
                )
            )


def test_aggregates_count_every_unit_not_the_cells_that_survived(
    engine: Engine, settings: Settings
) -> None:
    with unit_of_work(engine) as session:
        _demo_like_network(session, DAY)
    # 31 cells, 11 regions, 3 kinds and the country
    assert _snapshot(engine, settings, DAY)["statistics_rows"] == 31 + 11 + 3 + 1
    rows = _statistics(engine, DAY)
    # the one cell that survives suppression: 5 of 5
    assert rows[("Bács-Kiskun", "crisis_centre")] == (5, 5, 5)
    assert rows[("Baranya", "crisis_centre")] == (None, None, None)
    assert rows[("", "")] == (124, 10, 10)
    assert rows[("", "crisis_centre")] == (44, 6, 6)
    assert rows[("", "halfway_house")] == (40, None, None)  # 2 occupied
    assert rows[("Bács-Kiskun", "")] == (13, 5, 5)
    assert rows[("Budapest", "")] == (12, 0, 0)
    assert rows[("Nógrád", "")] == (None, 0, 0)  # 3 units
    assert not any(region == "Heves" for region, _ in rows)

    with unit_of_work(engine, write=False) as session:
        data = dashboard_series(session=session, since=DAY, until=DAY, min_count=5)
    assert data.national == [(DAY, 10 / 124)]  # the old pooling read 5 / 5
    assert data.by_kind == {
        "crisis_centre": [(DAY, 6 / 44)],
        "halfway_house": [(DAY, None)],
        "secret_shelter": [(DAY, None)],
    }
    assert data.by_region["Bács-Kiskun"] == [(DAY, 5 / 13)]
    assert data.by_region["Budapest"] == [(DAY, 0.0)]
    for region in ("Baranya", "Pest", "Vas", "Zala", "Nógrád"):
        assert data.by_region[region] == [(DAY, None)], region
    assert data.counted_regions == {*SMALL_REGIONS, "Nógrád"}


def test_dashboard_ends_at_the_latest_day_with_figures(engine: Engine) -> None:
    def until(*days: date) -> date:
        with unit_of_work(engine) as session:
            session.execute(sa.delete(DailyStatistic))
            session.execute(sa.delete(DailyUnmet))
            for day in days:
                session.add(DailyUnmet(day=day, cases=0))
        with unit_of_work(engine, write=False) as session:
            return dashboard_until(session=session, today=DAY)

    yesterday = DAY - timedelta(days=1)
    assert until() == yesterday
    assert until(DAY - timedelta(days=3)) == yesterday, "a missing night shows as a gap"
    assert until(yesterday, DAY) == DAY, "taken today by hand: today is shown"
    assert until(DAY + timedelta(days=2)) == yesterday, "never a day still to come"
    with unit_of_work(engine) as session:
        session.add(
            DailyStatistic(day=DAY, region="Pest", kind="", units_total=None, units_occupied=0)
        )
    with unit_of_work(engine, write=False) as session:
        assert dashboard_until(session=session, today=DAY) == DAY


def test_aggregates_are_summed_before_suppression() -> None:
    cells = {
        ("Pest", "crisis_centre"): DayCounts(4, 1, 0),
        ("Pest", "secret_shelter"): DayCounts(3, 3, 1),
        ("Vas", "crisis_centre"): DayCounts(5, 5, 2),
    }
    figures = with_aggregates(cells)
    assert figures[("Pest", "")] == DayCounts(7, 4, 1)
    assert figures[("", "crisis_centre")] == DayCounts(9, 6, 2)
    assert figures[("", "")] == DayCounts(12, 9, 3)
    assert len(figures) == 3 + 2 + 2 + 1
    assert with_aggregates({}) == {}

    def cell(total: int | None, occupied: int | None) -> OccupancyCell:
        return OccupancyCell(
            day=DAY, region="Pest", kind="", units_total=total, units_occupied=occupied
        )

    assert occupancy_share(cell(10, 5)) == 0.5
    assert occupancy_share(cell(10, None)) is None
    assert occupancy_share(cell(None, 0)) is None
    assert occupancy_share(cell(0, 0)) is None
    assert complete_occupancy([cell(10, 5), cell(10, 0)]) == 0.25
    assert complete_occupancy([cell(10, 5), cell(None, 0)]) is None
    assert complete_occupancy([]) is None


def test_dashboard_page_for_counsellor_and_admin(
    client: TestClient[Any], accounts: Accounts, engine: Engine, clock: TestClock
) -> None:
    yesterday = DAY - timedelta(days=1)
    with unit_of_work(engine) as session:
        _add(
            session,
            DailyStatistic(
                day=yesterday,
                region="Baranya",
                kind="crisis_centre",
                units_total=10,
                units_occupied=6,
            ),
            DailyUnmet(day=yesterday, cases=6),
        )
    for username, role in (("dash-counsellor", "counsellor"), ("dash-admin", "admin")):
        token = accounts.headers(username, role)["Authorization"].removeprefix("Bearer ")
        client.cookies.clear()
        use_page_session(client, token)
        page = client.get("/dashboard")
        assert page.status_code == 200, page.text
        assert page.text.count("<svg") >= 3
        assert 'href="/dashboard"' in page.text
        assert "60%" in page.text  # 6 of 10 units, in the tables under the charts
        assert "http://" not in page.text and "https://" not in page.text
        for days, status in (("7", 200), ("366", 200), ("0", 422), ("367", 422), ("x", 422)):
            assert client.get(f"/dashboard?days={days}").status_code == status, days
    token = accounts.headers("dash-police", "police")["Authorization"]
    client.cookies.clear()
    use_page_session(client, token)
    assert client.get("/dashboard").status_code == 403


def test_dashboard_page_shows_the_countrys_share_and_names_only_counted_regions(
    client: TestClient[Any], accounts: Accounts, engine: Engine, settings: Settings
) -> None:
    with unit_of_work(engine) as session:
        _demo_like_network(session, DAY)
    _snapshot(engine, settings, DAY)  # taken by hand during the test clock's day
    token = accounts.headers("dash-counsellor", "counsellor")["Authorization"]
    use_page_session(client, token.removeprefix("Bearer "))
    page = client.get("/dashboard?days=7")
    assert page.status_code == 200, page.text
    # the range ends today, the day the figures were taken, and says they are not final
    assert page.text.count(f'<time datetime="{DAY.isoformat()}">') >= 2
    assert 'id="partial-day"' in page.text
    # the kind table's row for today: all kinds 10 of 124 units, crisis centres 6 of 44,
    # the other two kinds suppressed
    row = re.search(
        rf'<tr><th scope="row"><time datetime="{DAY.isoformat()}">[^<]*</time></th>(.*?)</tr>',
        page.text,
    )
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == ["8%", "14%", "-", "-"]
    hint = re.search(r'<p class="hint" id="regions-without-figures">([^<]*)</p>', page.text)
    assert hint is not None
    for region in ("Baranya", "Pest", "Vas", "Zala", "Nógrád"):
        assert region in hint.group(1), region
    for region in ("Heves", "Budapest", "Bács-Kiskun"):
        assert region not in hint.group(1), region
    # a region without any facility is left out of the table as well
    regions = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">', page.text)
    assert sorted(regions) == sorted([*SMALL_REGIONS, "Nógrád"])


# --- charts -------------------------------------------------------------------------------


def _series(days: int, *values: float | None) -> list[tuple[date, float | None]]:
    return [(DAY + timedelta(days=i), values[i % len(values)]) for i in range(days)]


def test_line_chart_is_xml_with_one_path_per_series_and_escaped_text() -> None:
    series = {
        "crisis centre": _series(55, 0.2, 0.4, None, 0.5),
        'Region <&> "quoted"': _series(56, 0.9),
        "only one day": [
            (DAY, None),
            (DAY + timedelta(days=1), 0.3),
            (DAY + timedelta(days=2), None),
        ],
        "nothing shown": _series(56, None),
    }
    svg = line_chart(series, title="Occupancy <by> & kind", y_label="share <%>")
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Occupancy <by> & kind"
    assert root.find("title") is not None and root.findtext("title") == "Occupancy <by> & kind"
    paths = root.findall(".//path")
    assert [path.get("data-series") for path in paths] == list(series)
    assert "http" not in svg
    texts = [element.text for element in root.iter("text")]
    assert 'Region <&> "quoted"' in texts and "share <%>" in texts
    # a None breaks the line: one move per segment
    assert paths[0].get("d", "").count("M") == 14
    # a day alone between gaps is drawn as a dot
    assert len(root.findall("circle")) == 1
    assert "100%" in texts and "0%" in texts


def test_line_chart_without_days_says_so() -> None:
    root = ET.fromstring(line_chart({}, title="Empty", y_label="share"))
    assert root.findall(".//path") == []
    assert "No figures for these days" in [element.text for element in root.iter("text")]


def test_bar_chart_marks_suppressed_bars_without_a_number() -> None:
    bars: list[tuple[str, int | None]] = [("2 Nov", 7), ("9 Nov <&>", None), ("16 Nov", 0)]
    svg = bar_chart(bars, title="Unmet <weekly>", y_label="cases", min_count=5)
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.findtext("title") == "Unmet <weekly>"
    assert len(root.findall(".//rect[@class='bar']")) == 2
    suppressed_bars = root.findall(".//rect[@class='suppressed']")
    assert len(suppressed_bars) == 1
    assert "fewer than 5" in (suppressed_bars[0].findtext("title") or "")
    texts = [element.text for element in root.iter("text")]
    assert "<5" in texts and "7" in texts and "9 Nov <&>" in texts
    assert "http" not in svg
    # many weeks: labels thin out rather than overlap
    many = bar_chart([(f"w{i}", i) for i in range(53)], title="A year", y_label="cases")
    assert len([t for t in ET.fromstring(many).iter("text") if (t.text or "").startswith("w")]) < 53


def test_no_small_cell_can_be_worked_out_from_a_shown_total() -> None:
    """Region A's secret shelter has 3 units (suppressed); without more suppression, A's
    total of 13 minus its crisis centre's 10 would give it away. The cells hidden besides it
    leave every region and kind line with none or at least two hidden cells, and the totals
    themselves are all shown (none is small)."""
    from broker.domain.statistics import ALL, shown_counts, with_aggregates

    cells = {
        ("A", "crisis_centre"): 10,
        ("A", "secret_shelter"): 3,
        ("B", "crisis_centre"): 8,
        ("B", "secret_shelter"): 6,
        ("C", "crisis_centre"): 12,
    }
    counts = {
        key: value.units_total
        for key, value in with_aggregates(
            {key: DayCounts(units, 0, 0) for key, units in cells.items()}
        ).items()
    }
    shown = shown_counts(counts, 5)
    assert shown[("A", "secret_shelter")] is None
    assert all(shown[key] == counts[key] for key in counts if ALL in key)
    for total in {(r, ALL) for r, _ in cells} | {(ALL, k) for _, k in cells}:
        members = [key for key in cells if total[0] in (key[0], ALL) and total[1] in (key[1], ALL)]
        hidden = [key for key in members if shown[key] is None]
        assert len(hidden) != 1, (total, hidden)
    # C's crisis centre is the only cell of its region: hiding it would not help, since
    # C's total shows it anyway; it stays shown
    assert shown[("C", "crisis_centre")] == 12
    # and a count that needs no protection is never hidden
    assert shown_counts({("A", "crisis_centre"): 10, ("A", ALL): 10}, 5) == {
        ("A", "crisis_centre"): 10,
        ("A", ALL): 10,
    }
