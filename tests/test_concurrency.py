"""Many counsellors, one last unit: exactly one hold wins, on SQLite and on PostgreSQL.

The broker runs as a real server process; 50 clients are released at once by a barrier.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from broker.db.engine import make_engine
from broker.settings import Settings
from tests.conftest import Accounts
from tests.placement_support import Desk, family

CLIENTS = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "BROKER_DATABASE_URL": settings.database_url, "BROKER_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            pytest.fail("the server did not start: " + (process.stderr.read().decode() if process.stderr else ""))
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_fifty_holds_on_the_last_unit_one_wins(
    server: str, client: TestClient[Any], accounts: Accounts, admin: dict[str, str], settings: Settings
) -> None:
    desk = Desk(client, accounts, admin)
    fid = desk.facility(1, 4, total_units=3, total_beds=9)
    tokens = [accounts.headers(f"racer-{i}", "counsellor") for i in range(5)]
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    bodies: list[str] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        with httpx.Client(base_url=server, timeout=120) as http:
            barrier.wait()
            response = http.post(
                "/api/v1/holds", json={**family(), "facility_id": fid}, headers=tokens[index % len(tokens)]
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
    assert counts == {201: 1, 409: CLIENTS - 1}, (counts, [b for b in bodies if "locked" in b][:3])
    assert not any("locked" in body.lower() for body in bodies)
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        open_holds = connection.execute(
            sa.text("SELECT COUNT(*) FROM holds WHERE facility_id = :f AND state = 'open'"), {"f": fid}
        ).scalar_one()
    engine.dispose()
    assert open_holds == 1
    # read back through the server, whose clock is the real one
    shown = httpx.get(f"{server}/api/v1/facilities/{fid}", headers=admin).json()
    assert (shown["free_units"], shown["free_beds"], shown["held_units"]) == (0, 0, 1)
