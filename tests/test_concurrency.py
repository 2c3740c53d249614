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
from pathlib import Path
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
server_log: list[str] = []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "BROKER_DATABASE_URL": settings.database_url}
    log_path = tmp_path / "server.log"
    # a file, not a pipe: an unread pipe fills up and blocks the server
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
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
                pytest.fail("the server did not start: " + log_path.read_text(errors="replace"))
            server_log.clear()
            server_log.append(str(log_path))
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_fifty_holds_on_the_last_unit_one_wins(
    server: str,
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
        with httpx.Client(base_url=server, timeout=120) as http:
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
    log_lines = Path(server_log[0]).read_text(errors="replace").splitlines()
    problems = [line for line in log_lines if not line.startswith("INFO")]
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
    shown = httpx.get(f"{server}/api/v1/facilities/{fid}", headers=admin).json()
    assert (shown["free_units"], shown["free_beds"], shown["held_units"]) == (0, 0, 1)
