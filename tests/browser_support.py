"""What the browser tests share: a real broker server with the demo network loaded, and
Debian's Chromium driven by Playwright.

The server runs in a thread of the test process on a free local port, with its own SQLite
file. Its clock is the real time plus an offset the test may move forward, so a test can
look at a stay weeks later without waiting for it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.network import load_demo
from broker.services.context import ServiceContext
from broker.settings import Settings
from tests.conftest import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


class ShiftedClock:
    """Real time, moved forward by hand; read from the server's threads, moved by the test."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def demo_server(directory: Path, clock: ShiftedClock | None = None) -> Iterator[str]:
    """Serve a fresh database holding the demo network; yields the base URL."""
    clock = clock or ShiftedClock()
    url = f"sqlite:///{directory / 'broker.db'}"
    upgrade(url)
    # Sessions outlive the months a test may move the clock by, busy or idle.
    settings = Settings(
        database_url=url,
        token_ttl_minutes=1000 * 24 * 60,
        session_idle_minutes=1000 * 24 * 60,
    )
    engine = make_engine(url, pool_size=1)
    with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
        load_demo(
            session=session,
            context=ServiceContext.from_settings(settings),
            path=settings.data_dir / "demo_network.toml",
            now=clock(),
        )
    engine.dispose()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    # a missing element fails the test in seconds rather than the default half-minute
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo-2026")
    # the form's own button: the header's language switch has buttons too
    page.click("#password-form button[type=submit]")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# the house-staff account's first facility in the demo network
CRISIS_CENTRE = "Napfény Ház Krízisközpont"


def _signed_in(api: httpx.Client, username: str) -> dict[str, str]:
    token = api.post(
        "/api/v1/auth/token", json={"username": username, "password": username + "-demo-2026"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def hold_through_api(
    base: str,
    *,
    facility: str = CRISIS_CENTRE,
    counsellor: str = "counsellor",
    children: tuple[int, ...] = (),
) -> str:
    """A hotline hold made through the API (a mother of 36, girls of ``children`` ages), so
    that a page has an incoming hold to show; returns its id."""
    with httpx.Client(base_url=base) as api:
        headers = _signed_in(api, counsellor)
        listed = api.get("/api/v1/facilities", headers=headers).json()
        found = next(f for f in listed if f["name"] == facility)
        body = {
            "family": {
                "adults": [{"age": 36, "sex": "female"}],
                "children": [{"age": age, "sex": "female"} for age in children],
            },
            "facility_id": found["id"],
        }
        held = api.post("/api/v1/holds", json=body, headers=headers)
        assert held.status_code == 201, held.text
        hold_id: str = held.json()["hold_id"]
        return hold_id


def plan_through_api(base: str, risks: tuple[str, ...], counsellor: str = "counsellor") -> Any:
    """A batch plan made through the API, one mother of 30 with a girl of 6 per risk level
    in ``risks``, so that the plan page has a plan to show; returns the API's answer."""
    with httpx.Client(base_url=base) as api:
        family = {
            "adults": [{"age": 30, "sex": "female"}],
            "children": [{"age": 6, "sex": "female"}],
        }
        planned = api.post(
            "/api/v1/plans/batch",
            json={"requests": [{"family": family, "risk": risk} for risk in risks]},
            headers=_signed_in(api, counsellor),
        )
        assert planned.status_code == 200, planned.text
        return planned.json()
