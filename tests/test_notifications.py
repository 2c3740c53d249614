"""Notifications: the outbox is written with its event, delivered signed to webhooks (with
httpx.MockTransport and once to a real local HTTP server), retried with backoff,
dead-lettered, shown in each role's inbox, and never carries an address or a name.

Webhook names resolve to a public address through the tests' resolver; the real receiver
listens on 127.0.0.1, so this module allows loopback targets explicitly."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

import broker.jobs as jobs
from broker.db.engine import make_engine
from broker.domain.webhooks import SIGNATURE_HEADER, RetryPolicy, signature_valid
from broker.settings import Settings
from tests.conftest import Accounts, TestClock
from tests.job_support import PUBLIC_ADDRESS, public_resolver, runner_at
from tests.placement_support import Desk

CANARY_NAME = "Cinegefészek Canaryhome"
CANARY_ADDRESS = "Kanárimadár köz 99., 7777 Canarytown"
RESIDENT = {"full_name": "Rezidens Rozália", "birth_date": "1984-05-06"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_allow_loopback=True)


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    client.app.state.webhook_resolver = public_resolver
    return Desk(client, accounts, admin)


class Receiver:
    """Records what a webhook endpoint was sent; answers with the queued status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = statuses or []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 204)


def _deliver(settings: Settings, at: datetime, receiver: Receiver) -> dict[str, Any]:
    runner = runner_at(settings, at, handler=receiver)
    try:
        outcome = runner.run_now("notification_delivery")
    finally:
        runner.engine.dispose()
    assert outcome.status == jobs.RAN, outcome
    return outcome.summary


def _outbox(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT event, audience, state, attempts, next_attempt_at, payload "
                "FROM outbox ORDER BY id"
            )
        ).mappings()
        found = [dict(row) for row in rows]
    engine.dispose()
    for row in found:
        if isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
    return found


def _webhook(desk: Desk, fid: int, url: str | None) -> bytes:
    """Sets the webhook; returns the signing key its receiver is told to use."""
    response = desk.client.put(
        f"/api/v1/facilities/{fid}/webhook", json={"url": url}, headers=desk.staff[fid]
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["url"] == url
    if url is None:
        assert body["signing_secret"] is None
        return b""
    assert re.fullmatch(r"[0-9a-f]{64}", body["signing_secret"])
    return str(body["signing_secret"]).encode()


def test_delivery_is_signed_and_carries_ids_kinds_and_times_only(
    desk: Desk, admin: dict[str, str], settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility(free_units=2, free_beds=6, name=CANARY_NAME)
    desk.client.put(
        f"/api/v1/facilities/{fid}/address", json={"address": CANARY_ADDRESS}, headers=admin
    )
    key = _webhook(desk, fid, "https://shelter.example/hooks/broker")
    hold = desk.hold(fid)
    assert hold.status_code == 201
    receiver = Receiver()
    assert _deliver(settings, clock(), receiver) == {"delivered": 1, "failed": 0, "dead": 0}
    (sent,) = receiver.requests
    # sent to the address the name was checked at, under the name
    assert str(sent.url) == f"https://{PUBLIC_ADDRESS}/hooks/broker"
    assert sent.headers["host"] == "shelter.example"
    assert sent.extensions["sni_hostname"] == "shelter.example"
    assert sent.headers["X-Broker-Event"] == "hold.incoming"
    assert signature_valid(
        key,
        sent.content,
        sent.headers[SIGNATURE_HEADER],
        now=clock(),
        tolerance=timedelta(minutes=5),
    )
    # neither another facility's key nor the broker's own secret signs this facility's mail
    other = desk.facility()
    for wrong in (
        b"x" * 32,
        settings.webhook_secret_bytes,
        _webhook(desk, other, "https://o.example"),
    ):
        assert not signature_valid(
            wrong,
            sent.content,
            sent.headers[SIGNATURE_HEADER],
            now=clock(),
            tolerance=timedelta(minutes=5),
        )
    assert not signature_valid(
        key,
        sent.content,
        sent.headers[SIGNATURE_HEADER],
        now=clock() + timedelta(hours=1),
        tolerance=timedelta(minutes=5),
    )
    body = json.loads(sent.content)
    assert body["hold_id"] == hold.json()["hold_id"] and body["facility_id"] == fid
    assert set(body) == {"event", "at", "hold_id", "facility_id", "beds", "expires_at"}
    assert [row["state"] for row in _outbox(settings)] == ["delivered"]
    # nothing is sent twice
    assert _deliver(settings, clock() + timedelta(minutes=5), receiver)["delivered"] == 0

    # setting the webhook again draws a new secret, and the old one signs nothing more
    renewed = _webhook(desk, fid, "https://shelter.example/hooks/broker")
    assert renewed != key
    assert desk.hold(fid).status_code == 201
    later = clock() + timedelta(minutes=6)
    assert _deliver(settings, later, receiver)["delivered"] == 1
    latest = receiver.requests[-1]
    header = latest.headers[SIGNATURE_HEADER]
    window = timedelta(minutes=5)
    assert signature_valid(renewed, latest.content, header, now=later, tolerance=window)
    assert not signature_valid(key, latest.content, header, now=later, tolerance=window)
    assert renewed.decode() not in json.dumps(_outbox(settings))  # the secret is not stored


def test_failures_back_off_then_dead_letter(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()
    _webhook(desk, fid, "https://down.example/hook")
    desk.hold(fid)
    limited = dataclasses.replace(settings, webhook_max_attempts=3, webhook_backoff_seconds=60)
    receiver = Receiver([500, 503, 502])
    start = clock()
    assert _deliver(limited, start, receiver)["failed"] == 1
    (row,) = _outbox(limited)
    assert row["attempts"] == 1 and row["state"] == "pending"
    # not due again before the backoff has passed
    assert _deliver(limited, start + timedelta(seconds=59), receiver)["failed"] == 0
    assert len(receiver.requests) == 1
    assert _deliver(limited, start + timedelta(seconds=61), receiver)["failed"] == 1
    # the second wait is twice as long
    assert _deliver(limited, start + timedelta(seconds=61 + 119), receiver)["failed"] == 0
    summary = _deliver(limited, start + timedelta(seconds=61 + 121), receiver)
    assert summary == {"delivered": 0, "failed": 0, "dead": 1}
    (row,) = _outbox(limited)
    assert row["state"] == "dead" and row["attempts"] == 3
    assert _deliver(limited, start + timedelta(days=1), receiver)["dead"] == 0
    assert len(receiver.requests) == 3


def test_messages_without_a_webhook_stay_in_the_inbox(
    desk: Desk, settings: Settings, clock: TestClock, accounts: Accounts
) -> None:
    fid, other = desk.facility(), desk.facility()
    hold = desk.hold(fid, ttl_minutes=10)
    desk.hold(other)
    receiver = Receiver()
    later = clock() + timedelta(minutes=11)
    runner = runner_at(settings, later, handler=receiver)
    assert runner.run_now("hold_expiry").summary == {"expired": 1}
    assert runner.run_now("notification_delivery").summary["delivered"] == 0
    runner.engine.dispose()
    assert receiver.requests == []
    assert {row["state"] for row in _outbox(settings)} == {"inbox_only"}

    staff_inbox = desk.client.get("/api/v1/inbox", headers=desk.staff[fid]).json()
    assert sorted(m["event"] for m in staff_inbox) == ["hold.expired", "hold.incoming"]
    assert all(m["facility_id"] == fid for m in staff_inbox)
    hotline = desk.client.get("/api/v1/inbox", headers=desk.counsellor).json()
    assert [m["event"] for m in hotline] == ["hold.expired"]
    assert hotline[0]["payload"]["hold_id"] == hold.json()["hold_id"]
    police = accounts.headers("inbox-police", "police")
    assert desk.client.get("/api/v1/inbox", headers=police).status_code == 403
    page = desk.client.get("/inbox", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code in (401, 303)  # pages need the session cookie


def test_webhook_addresses_are_checked_and_kept_to_own_facility(desk: Desk) -> None:
    fid, other = desk.facility(), desk.facility()
    bad = desk.client.put(
        f"/api/v1/facilities/{fid}/webhook", json={"url": "ftp://x"}, headers=desk.staff[fid]
    )
    assert bad.status_code == 422 and "http(s)" in bad.text
    foreign = desk.client.put(
        f"/api/v1/facilities/{other}/webhook",
        json={"url": "https://x.example"},
        headers=desk.staff[fid],
    )
    assert foreign.status_code == 403
    key = _webhook(desk, fid, "https://ok.example/h")
    shown = desk.client.get(f"/api/v1/facilities/{fid}/webhook", headers=desk.staff[fid])
    assert shown.json()["url"] == "https://ok.example/h" and shown.json()["updated_at"]
    assert key.decode() not in shown.text  # the secret is shown only when it is set
    _webhook(desk, fid, None)
    shown = desk.client.get(f"/api/v1/facilities/{fid}/webhook", headers=desk.staff[fid])
    assert shown.json() == {"url": None, "updated_at": None}
    auditor = desk.accounts.headers("hook-auditor", "auditor")
    trail = desk.client.get("/api/v1/audit?action=webhook.set", headers=auditor).json()["entries"]
    assert [(e["subject_id"], e["detail"]) for e in trail] == [
        (str(fid), {"removed": False}),
        (str(fid), {"removed": True}),
    ]
    assert "ok.example" not in json.dumps(trail)


def test_no_payload_carries_a_canary_or_a_name(
    desk: Desk, admin: dict[str, str], settings: Settings, clock: TestClock, accounts: Accounts
) -> None:
    fid = desk.facility(name=CANARY_NAME, kind="crisis_centre", free_units=2, free_beds=6)
    desk.client.put(
        f"/api/v1/facilities/{fid}/address", json={"address": CANARY_ADDRESS}, headers=admin
    )
    _webhook(desk, fid, "https://shelter.example/h")
    confirmed = desk.client.post(
        "/api/v1/holds/" + desk.hold(fid).json()["hold_id"] + "/confirm",
        json={"identity": {**RESIDENT, "police_confirmation_consent": True}},
        headers=desk.staff[fid],
    ).json()
    desk.hold(fid, ttl_minutes=5)
    officer = accounts.headers("payload-officer", "police")
    asked = desk.client.post(
        "/api/v1/police/inquiries", json={**RESIDENT, "case_reference": "X-1"}, headers=officer
    )
    assert asked.json()["placed"] is True
    limit_at = datetime.fromisoformat(confirmed["limit_at"])
    receiver = Receiver()
    for at, job_id in [
        (clock() + timedelta(minutes=6), "hold_expiry"),
        (clock() + timedelta(days=2), "stale_capacity_reminders"),
        (limit_at - timedelta(days=1), "stay_limit_alerts"),
        (limit_at - timedelta(days=1), "notification_delivery"),
    ]:
        runner = runner_at(settings, at, handler=receiver)
        assert runner.run_now(job_id).status == jobs.RAN
        runner.engine.dispose()
    events = {row["event"] for row in _outbox(settings)}
    assert {"hold.incoming", "hold.expired", "capacity.stale", "stay.limit_near"} <= events
    assert "police.inquiry" in events
    everything = json.dumps([row["payload"] for row in _outbox(settings)], ensure_ascii=False)
    everything += "".join(r.content.decode() for r in receiver.requests)
    assert receiver.requests
    for canary in (CANARY_NAME, "Cinegefészek", CANARY_ADDRESS, "Kanárimadár", "Rezidens"):
        assert canary.lower() not in everything.lower()


# --- a real HTTP receiver ----------------------------------------------------------------------


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            received.append((dict(self.headers), self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/broker-events", received
    server.shutdown()
    server.server_close()


def test_a_real_local_receiver_gets_signed_deliveries(
    desk: Desk,
    settings: Settings,
    clock: TestClock,
    http_receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = http_receiver
    fid = desk.facility()
    key = _webhook(desk, fid, url)
    desk.hold(fid, ttl_minutes=5)
    hotline = dataclasses.replace(settings, hotline_webhook_url=url)
    later = clock() + timedelta(minutes=6)
    runner = runner_at(hotline, later, client_factory=jobs.default_client_factory(hotline))
    runner.run_now("hold_expiry")
    outcome = runner.run_now("notification_delivery")
    runner.engine.dispose()
    assert outcome.summary == {"delivered": 3, "failed": 0, "dead": 0}
    assert sorted(json.loads(body)["event"] for _, body in received) == [
        "hold.expired",
        "hold.expired",
        "hold.incoming",
    ]
    # the facility's two under its own secret, the hotline's one under the broker's secret
    signed_by: list[str] = []
    for headers, body in received:
        header = next(v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower())
        for name, candidate in (("facility", key), ("hotline", settings.webhook_secret_bytes)):
            if signature_valid(candidate, body, header, now=later, tolerance=timedelta(minutes=1)):
                signed_by.append(name)
    assert sorted(signed_by) == ["facility", "facility", "hotline"]


def test_retry_waits_double_up_to_the_cap_then_dead_letter() -> None:
    policy = RetryPolicy(base=timedelta(minutes=1), cap=timedelta(hours=6), max_attempts=12)
    now = datetime(2026, 11, 21, tzinfo=UTC)
    waits = [
        policy.next_attempt(failed_attempts=n, now=now) - now  # type: ignore[operator]
        for n in range(1, 12)
    ]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert max(waits) == timedelta(hours=6) and waits[-1] == timedelta(hours=6)
    assert policy.next_attempt(failed_attempts=12, now=now) is None
