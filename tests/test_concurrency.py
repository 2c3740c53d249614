"""Many counsellors, one last unit: exactly one hold wins, on SQLite and on PostgreSQL.

The broker runs as a real server process; 50 clients are released at once by a barrier.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine
from broker.settings import Settings
from tests.conftest import Accounts
from tests.integrity_support import assert_consistent
from tests.placement_support import Desk, family
from tests.server_support import BrokerServer

CLIENTS = 50


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[BrokerServer]:
    with BrokerServer(settings.database_url, tmp_path / "server.log") as running:
        yield running


def test_fifty_holds_on_the_last_unit_one_wins(
    server: BrokerServer,
    client: TestClient[Any],
    accounts: Accounts,
    admin: dict[str, str],
    settings: Settings,
) -> None:
    desk = Desk(client, accounts, admin)
    fid = desk.facility(1, 4, total_units=3, total_beds=9)
    tokens = [accounts.headers(f"racer-{i}", "counsellor") for i in range(5)]
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    bodies: list[str] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        with httpx.Client(base_url=server.base, timeout=120) as http:
            barrier.wait()
            response = http.post(
                "/api/v1/holds",
                json={**family(), "facility_id": fid},
                headers=tokens[index % len(tokens)],
            )
        with lock:
            statuses.append(response.status_code)
            bodies.append(response.text)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    counts = Counter(statuses)
    errors = [body for status, body in zip(statuses, bodies, strict=True) if status >= 500]
    problems = server.problems()
    assert counts == {201: 1, 409: CLIENTS - 1}, (counts, errors[:2], problems[:40])
    assert not any("locked" in body.lower() for body in bodies)
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        open_holds = connection.execute(
            sa.text("SELECT COUNT(*) FROM holds WHERE facility_id = :f AND state = 'open'"),
            {"f": fid},
        ).scalar_one()
    engine.dispose()
    assert open_holds == 1
    # read back through the server, whose clock is the real one
    shown = httpx.get(f"{server.base}/api/v1/facilities/{fid}", headers=admin).json()
    assert (shown["free_units"], shown["free_beds"], shown["held_units"]) == (0, 0, 1)
    assert_consistent(settings.database_url)
