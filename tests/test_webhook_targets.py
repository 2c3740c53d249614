"""Webhook targets cannot reach inside: every inside address and every spelling of one is
refused when the webhook is set (422) and again at delivery, names are resolved once and
the connection goes to the address that was checked, redirects are not followed, an
allowed-hosts list narrows targets, production takes https only and no loopback, and a
failed delivery says only "refused", "timeout", "TLS" or the receiver's status.

No name is looked up for real: the app and the job runner get a resolver the test
controls. Requests go to ``httpx.MockTransport`` or to listeners on 127.0.0.1, nowhere else.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.testing import TestClient

import broker.jobs as jobs
from broker.db.engine import make_engine
from broker.domain.webhooks import REFUSAL_TEXT
from broker.errors import ConfigurationError, InvalidInput
from broker.services.notifications import check_target
from broker.settings import Settings, load_settings
from tests.conftest import Accounts, TestClock
from tests.job_support import PUBLIC_ADDRESS, runner_at
from tests.placement_support import Desk

HOOK = "hooks.shelter.example"
OTHER_PUBLIC = "93.184.215.15"


class Names:
    """A resolver the test controls: a table of names, and a record of what was asked."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = {name: list(found) for name, found in table.items()}
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


@pytest.fixture
def names() -> Names:
    return Names(
        {
            HOOK: [PUBLIC_ADDRESS],
            "other.example": [OTHER_PUBLIC],
            "v6.example": ["2606:4700::1111"],
            "internal.shelter.example": ["10.1.2.3"],
            "mixed.example": [PUBLIC_ADDRESS, "127.0.0.1"],
            "metadata.example": ["169.254.169.254"],
            "localhost": ["127.0.0.1", "::1"],
            "ula.example": ["fd12:3456::1"],
            "mapped.example": ["::ffff:10.0.0.1"],
            "cgnat.example": ["100.64.1.1"],
        }
    )


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str], names: Names) -> Desk:
    client.app.state.webhook_resolver = names
    return Desk(client, accounts, admin)


@contextmanager
def app_settings(client: TestClient[Any], **changes: Any) -> Iterator[Settings]:
    """The running app's settings changed for a while (loopback, allowed hosts)."""
    state = client.app.state.broker
    before = state.services
    state.services = dataclasses.replace(
        before, settings=dataclasses.replace(before.settings, **changes)
    )
    try:
        yield state.settings
    finally:
        state.services = before


def put_hook(desk: Desk, fid: int, url: str | None) -> httpx.Response:
    return desk.client.put(
        f"/api/v1/facilities/{fid}/webhook", json={"url": url}, headers=desk.staff[fid]
    )


def outbox(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT facility_id, audience, state, attempts, last_error FROM outbox ORDER BY id"
            )
        ).mappings()
        found = [dict(row) for row in rows]
    engine.dispose()
    return found


def errors_by_facility(settings: Settings) -> dict[int, str | None]:
    return {row["facility_id"]: row["last_error"] for row in outbox(settings)}


class Receiver:
    """What a MockTransport endpoint was sent; answers with ``answer``."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda _request: httpx.Response(204))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def deliver(
    settings: Settings,
    at: Any,
    *,
    resolver: Callable[[str], list[str]],
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    client_factory: Callable[[], httpx.AsyncClient] | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"resolver": resolver}
    if handler is not None:
        options["handler"] = handler
    runner = runner_at(settings, at, client_factory=client_factory, **options)
    try:
        outcome = runner.run_now("notification_delivery")
    finally:
        runner.engine.dispose()
    assert outcome.status == jobs.RAN, outcome
    return outcome.summary


# --- refused when set ---------------------------------------------------------------------------

REFUSED_FORMS: list[tuple[str, str]] = [
    # loopback, in every spelling a resolver accepts
    ("http://127.0.0.1/", "loopback"),
    ("http://127.0.0.2:8080/x", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "loopback"),
    # private and shared
    ("http://10.0.0.5/", "private"),
    ("http://172.16.3.4/", "private"),
    ("http://192.168.1.1:8080/admin", "private"),
    ("http://100.64.0.1/", "private"),
    ("http://0xa.1/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://[fec0::1]/", "private"),
    # link-local, cloud metadata among them
    ("http://169.254.169.254/latest/meta-data/", "link_local"),
    ("http://2852039166/latest/meta-data/", "link_local"),
    ("http://[fe80::1]/", "link_local"),
    # multicast
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250:1900/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    # unspecified
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # reserved
    ("http://0.1.2.3/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
    ("http://198.18.0.1/", "reserved"),
    ("http://[2001:db8::1]/", "reserved"),
    ("http://[::127.0.0.1]/", "reserved"),  # IPv4-compatible, deprecated
    ("http://[100::1]/", "reserved"),
    # IPv4 inside IPv6
    ("http://[::ffff:127.0.0.1]/", "mapped"),
    ("http://[::ffff:7f00:1]/", "mapped"),
    ("http://[::ffff:a9fe:a9fe]/", "mapped"),
    ("http://[::ffff:8.8.8.8]/", "mapped"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ("http://[2002:a9fe:a9fe::1]/", "link_local"),  # 6to4 of 169.254.169.254
    ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
    # user-info
    ("http://user:pass@127.0.0.1:22/", "userinfo"),
    (f"https://user:pass@{HOOK}/", "userinfo"),
    (f"https://user@{HOOK}/", "userinfo"),
    (f"https://:secret@{HOOK}/", "userinfo"),
    # names resolving inside (or not at all: the same answer)
    ("https://internal.shelter.example/hook", "not_public"),
    ("https://mixed.example/hook", "not_public"),
    ("https://metadata.example/", "not_public"),
    ("http://localhost:8000/", "not_public"),
    ("https://ula.example/", "not_public"),
    ("https://mapped.example/", "not_public"),
    ("https://cgnat.example/", "not_public"),
    ("https://nowhere.example/", "not_public"),
    # not a usable URL
    ("ftp://files.example/", "malformed"),
    ("http:///no-host", "malformed"),
    ("http://1.2.3.4.5/", "malformed"),
    ("http://999.1/", "malformed"),
    ("http://08.0.0.1/", "malformed"),
    ("http://[fe80::1%25eth0]/", "malformed"),
    (f"http://{HOOK}:0/", "malformed"),
    (f"http://{HOOK}:99999/", "malformed"),
    ("http://evil.example\\@127.0.0.1/", "malformed"),
    (f"https://{HOOK}/a b", "malformed"),
]


def test_every_inside_form_is_refused_when_set_with_the_error_shape(
    desk: Desk, names: Names
) -> None:
    fid = desk.facility()
    wrong: dict[str, Any] = {}
    for url, reason in REFUSED_FORMS:
        response = put_hook(desk, fid, url)
        expected = {
            "error": {
                "status": 422,
                "code": "invalid_input",
                "message": REFUSAL_TEXT[reason],
                "details": [{"field": "url", "message": reason}],
            }
        }
        if response.status_code != 422 or response.json() != expected:
            wrong[url] = (response.status_code, response.text)
    assert wrong == {}
    # nothing was stored, and the names were really looked up (through the test's resolver)
    shown = desk.client.get(f"/api/v1/facilities/{fid}/webhook", headers=desk.staff[fid])
    assert shown.json() == {"url": None, "updated_at": None}
    assert {"internal.shelter.example", "mixed.example", "localhost"} <= set(names.asked)
    # address forms are judged as written, never handed to a resolver
    assert not any(asked[0].isdigit() or ":" in asked for asked in names.asked)


TAKEN_FORMS = [
    f"https://{HOOK}/broker",
    f"https://{HOOK.upper()}./broker?x=1",
    f"http://{HOOK}:8443/broker",  # demo mode takes http
    "https://v6.example/in",
    f"https://{PUBLIC_ADDRESS}/in",
    "https://[2606:4700::1111]/in",
    "https://[2a00:1450:4001::1]:8443/in",
]


def test_public_targets_are_taken(desk: Desk) -> None:
    fid = desk.facility()
    for url in TAKEN_FORMS:
        response = put_hook(desk, fid, url)
        assert response.status_code == 200, (url, response.text)
        assert response.json()["url"] == url


def test_an_unknown_facility_is_404_not_500(desk: Desk) -> None:
    response = desk.client.put(
        "/api/v1/facilities/777777/webhook", json={"url": f"https://{HOOK}/"}, headers=desk.admin
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- checked again at delivery ------------------------------------------------------------------


def test_a_name_turned_private_after_being_set_is_refused_at_delivery(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()
    assert put_hook(desk, fid, f"https://{HOOK}/broker").status_code == 200
    assert desk.hold(fid).status_code == 201
    receiver = Receiver()
    start = clock()

    names.table[HOOK] = ["10.0.0.7"]
    assert deliver(settings, start, resolver=names, handler=receiver)["failed"] == 1
    assert receiver.requests == []
    ((row),) = outbox(settings)
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, "refused")

    # one inside address among public ones is enough to refuse
    names.table[HOOK] = [PUBLIC_ADDRESS, "169.254.169.254"]
    assert deliver(settings, start + timedelta(minutes=2), resolver=names, handler=receiver)
    assert receiver.requests == []
    assert outbox(settings)[0]["last_error"] == "refused"

    # the name not resolving at all reads the same
    del names.table[HOOK]
    deliver(settings, start + timedelta(minutes=5), resolver=names, handler=receiver)
    assert receiver.requests == []
    assert outbox(settings)[0]["last_error"] == "refused"

    names.table[HOOK] = [PUBLIC_ADDRESS]
    summary = deliver(settings, start + timedelta(minutes=10), resolver=names, handler=receiver)
    assert summary["delivered"] == 1
    (sent,) = receiver.requests
    assert sent.url.host == PUBLIC_ADDRESS and sent.headers["host"] == HOOK


class Rebinding:
    """Answers a public address the first time a name is asked, an inside one after."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, _host: str) -> list[str]:
        self.asked += 1
        return [PUBLIC_ADDRESS] if self.asked == 1 else ["127.0.0.1"]


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()
    assert put_hook(desk, fid, f"https://{HOOK}:8443/broker?k=v").status_code == 200
    desk.hold(fid)
    rebinding, receiver = Rebinding(), Receiver()
    assert deliver(settings, clock(), resolver=rebinding, handler=receiver)["delivered"] == 1
    assert rebinding.asked == 1
    (sent,) = receiver.requests
    assert str(sent.url) == f"https://{PUBLIC_ADDRESS}:8443/broker?k=v"
    assert sent.headers["host"] == f"{HOOK}:8443"
    assert sent.extensions["sni_hostname"] == HOOK  # the certificate is checked for the name


def test_a_real_client_connects_to_the_checked_address_under_the_name(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    """The name does not resolve on this machine; the delivery arrives all the same, at the
    address the test's resolver gave, with the name in the Host header."""
    with listener(status=204) as (port, seen):
        names.table["receiver.shelter.example"] = ["127.0.0.1"]
        fid = desk.facility()
        with app_settings(desk.client, webhook_allow_loopback=True):
            url = f"http://receiver.shelter.example:{port}/in"
            assert put_hook(desk, fid, url).status_code == 200
        desk.hold(fid)
        local = dataclasses.replace(settings, webhook_allow_loopback=True)
        summary = deliver(
            local, clock(), resolver=names, client_factory=jobs.default_client_factory(local)
        )
        assert summary["delivered"] == 1
        ((path, headers),) = seen
        assert path == "/in" and headers["host"] == f"receiver.shelter.example:{port}"


def test_the_hotline_webhook_is_checked_at_delivery_too(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    fid = desk.facility()
    desk.hold(fid, ttl_minutes=5)
    hotline = dataclasses.replace(settings, hotline_webhook_url="https://hotline.example/in")
    later = clock() + timedelta(minutes=6)
    runner = runner_at(hotline, later, resolver=names)
    assert runner.run_now("hold_expiry").summary == {"expired": 1}
    runner.engine.dispose()
    names.table["hotline.example"] = ["192.168.10.10"]
    receiver = Receiver()
    assert deliver(hotline, later, resolver=names, handler=receiver)["failed"] == 1
    assert receiver.requests == []
    (row,) = [r for r in outbox(hotline) if r["audience"] == "hotline"]
    assert row["last_error"] == "refused"


# --- redirects ----------------------------------------------------------------------------------


def test_redirects_are_not_followed(desk: Desk, settings: Settings, clock: TestClock) -> None:
    fid = desk.facility()
    put_hook(desk, fid, f"https://{HOOK}/broker")
    desk.hold(fid)
    receiver = Receiver(
        lambda _r: httpx.Response(302, headers={"location": "http://127.0.0.1:9/inside"})
    )
    # even a client that would follow redirects by default does not follow this one
    summary = deliver(
        settings,
        clock(),
        resolver=lambda _h: [PUBLIC_ADDRESS],
        client_factory=lambda: httpx.AsyncClient(
            transport=httpx.MockTransport(receiver), follow_redirects=True
        ),
    )
    assert summary["failed"] == 1
    assert len(receiver.requests) == 1
    assert outbox(settings)[0]["last_error"] == "HTTP 302"


def test_a_real_redirect_to_a_second_local_listener_is_not_followed(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    with listener(status=204) as (inside_port, inside_seen):
        location = f"http://127.0.0.1:{inside_port}/inside"
        with listener(status=307, location=location) as (port, seen):
            fid = desk.facility()
            with app_settings(desk.client, webhook_allow_loopback=True):
                assert put_hook(desk, fid, f"http://127.0.0.1:{port}/in").status_code == 200
            desk.hold(fid)
            local = dataclasses.replace(settings, webhook_allow_loopback=True)
            deliver(
                local,
                clock(),
                resolver=lambda _h: [],
                client_factory=jobs.default_client_factory(local),
            )
            assert len(seen) == 1
    assert inside_seen == []
    assert outbox(settings)[0]["last_error"] == "HTTP 307"


# --- allowed hosts ------------------------------------------------------------------------------


def test_allowed_hosts_narrow_targets_when_set_and_at_delivery(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    fid, other = desk.facility(), desk.facility()
    assert put_hook(desk, other, "https://other.example/in").status_code == 200
    with app_settings(desk.client, webhook_allowed_hosts=f" {HOOK.upper()}. , v6.example"):
        assert put_hook(desk, fid, f"https://{HOOK}/broker").status_code == 200
        assert put_hook(desk, fid, "https://v6.example/in").status_code == 200
        refused = put_hook(desk, fid, "https://other.example/in")
        assert refused.status_code == 422
        assert refused.json()["error"]["details"] == [{"field": "url", "message": "not_allowed"}]
        # the list narrows; it does not open: a listed name resolving inside is refused
        names.table["v6.example"] = ["fd00::5"]
        assert put_hook(desk, fid, "https://v6.example/in").status_code == 422
    desk.hold(other)
    narrowed = dataclasses.replace(settings, webhook_allowed_hosts=HOOK)
    receiver = Receiver()
    assert deliver(narrowed, clock(), resolver=names, handler=receiver)["failed"] == 1
    assert receiver.requests == []
    assert errors_by_facility(settings)[other] == "refused"


def test_allowed_hosts_are_read_from_the_environment() -> None:
    loaded = load_settings({"BROKER_WEBHOOK_ALLOWED_HOSTS": "a.example, B.Example."})
    assert loaded.webhook_policy.allowed_hosts == frozenset({"a.example", "b.example"})
    assert load_settings({}).webhook_policy.allowed_hosts == frozenset()
    with pytest.raises(ConfigurationError, match="BROKER_WEBHOOK_ALLOWED_HOSTS"):
        load_settings({"BROKER_WEBHOOK_ALLOWED_HOSTS": "a.example, not a host"})


# --- production ---------------------------------------------------------------------------------


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _production_env(**overrides: str) -> dict[str, str]:
    env = {
        "BROKER_MODE": "production",
        "BROKER_DATABASE_URL": "sqlite:////tmp/never-opened.db",
        "BROKER_ADDRESS_KEY": _key(),
        "BROKER_IDENTITY_KEY": _key(),
        "BROKER_TOKEN_SECRET": _key(),
        "BROKER_AUDIT_KEY": _key(),
        "BROKER_WEBHOOK_SECRET": _key(),
        "BROKER_HOTLINE_CONTACT": "OKIT duty desk, +36 80 000 000",
    }
    env.update(overrides)
    return env


def test_production_refuses_the_loopback_setting_and_an_inside_or_http_hotline() -> None:
    assert load_settings({"BROKER_WEBHOOK_ALLOW_LOOPBACK": "on"}).webhook_allow_loopback
    assert load_settings(_production_env()).webhook_policy.https_only
    for change, message in [
        ({"BROKER_WEBHOOK_ALLOW_LOOPBACK": "on"}, "BROKER_WEBHOOK_ALLOW_LOOPBACK"),
        ({"BROKER_HOTLINE_WEBHOOK_URL": "http://hotline.example/in"}, "must use https"),
        ({"BROKER_HOTLINE_WEBHOOK_URL": "https://10.0.0.1/in"}, "private address"),
        ({"BROKER_HOTLINE_WEBHOOK_URL": "https://u:p@hotline.example/"}, "user name"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_settings(_production_env(**change))
    # demo mode takes an http hotline, but no inside one either
    assert load_settings({"BROKER_HOTLINE_WEBHOOK_URL": "http://hotline.example/in"})
    with pytest.raises(ConfigurationError, match="loopback"):
        load_settings({"BROKER_HOTLINE_WEBHOOK_URL": "http://127.0.0.1:9000/in"})


def test_production_takes_https_only_when_set_and_at_delivery(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    production = dataclasses.replace(settings, mode="production")
    policy = production.webhook_policy
    with pytest.raises(InvalidInput) as refused:
        check_target(f"http://{HOOK}/broker", policy=policy, resolver=names)
    assert refused.value.details == [{"field": "url", "message": "scheme"}]
    assert check_target(f"https://{HOOK}/broker", policy=policy, resolver=names).host == HOOK

    # a webhook set over http in demo mode is not sent to once the broker runs in production
    plain, secure = desk.facility(), desk.facility()
    assert put_hook(desk, plain, f"http://{HOOK}/broker").status_code == 200
    assert put_hook(desk, secure, f"https://{HOOK}/broker").status_code == 200
    desk.hold(plain)
    desk.hold(secure)
    receiver = Receiver()
    summary = deliver(production, clock(), resolver=names, handler=receiver)
    assert (summary["delivered"], summary["failed"]) == (1, 1)
    assert [r.url.scheme for r in receiver.requests] == ["https"]
    assert errors_by_facility(settings) == {plain: "refused", secure: None}


# --- what a failure says ------------------------------------------------------------------------


@contextmanager
def listener(
    *,
    status: int,
    location: str | None = None,
    delay: float = 0.0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[int, list[tuple[str, dict[str, str]]]]]:
    """An HTTP(S) server on 127.0.0.1 answering every POST with ``status``."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            time.sleep(delay)
            self.send_response(status)
            if location:
                self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def banner_listener() -> Iterator[int]:
    """An open port that does not speak HTTP: says a banner and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_a_closed_port_an_open_one_and_a_refused_target_read_alike(
    desk: Desk, settings: Settings, clock: TestClock
) -> None:
    local = dataclasses.replace(settings, webhook_allow_loopback=True, webhook_timeout_seconds=1)
    with (
        listener(status=500) as (open_port, seen),
        listener(status=204, delay=2.5) as (slow_port, _),
        banner_listener() as banner_port,
    ):
        targets = {
            "closed": f"http://127.0.0.1:{closed_port()}/in",
            "not_http": f"http://127.0.0.1:{banner_port}/in",
            "not_tls": f"https://127.0.0.1:{open_port}/in",
            "http_500": f"http://127.0.0.1:{open_port}/in",
            "slow": f"http://127.0.0.1:{slow_port}/in",
        }
        fids = {name: desk.facility() for name in targets}
        with app_settings(desk.client, webhook_allow_loopback=True):
            for name, url in targets.items():
                assert put_hook(desk, fids[name], url).status_code == 200, name
        for fid in fids.values():
            desk.hold(fid)
        deliver(
            local,
            clock(),
            resolver=lambda _h: [],
            client_factory=jobs.default_client_factory(local),
        )
        errors = errors_by_facility(settings)
        assert {name: errors[fid] for name, fid in fids.items()} == {
            "closed": "refused",
            "not_http": "refused",
            "not_tls": "refused",
            "http_500": "HTTP 500",
            "slow": "timeout",
        }
        assert len(seen) == 1

        # without the loopback setting the same open port is refused, and nothing reaches it
        strict = dataclasses.replace(local, webhook_allow_loopback=False)
        deliver(
            strict,
            clock() + timedelta(days=1),
            resolver=lambda _h: [],
            client_factory=jobs.default_client_factory(strict),
        )
        errors = errors_by_facility(settings)
        assert errors[fids["http_500"]] == errors[fids["closed"]] == "refused"
        assert len(seen) == 1


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_request: httpx.Request) -> httpx.Response:
        raise exc

    return answer


def _wrapped(outer: httpx.HTTPError, inner: BaseException) -> httpx.HTTPError:
    outer.__cause__ = inner
    return outer


FAILURES: dict[str, tuple[httpx.HTTPError, str]] = {
    "refused": (httpx.ConnectError("[Errno 111] Connection refused"), "refused"),
    "filtered": (httpx.ConnectTimeout("timed out"), "refused"),  # reads as a closed port
    "read-timeout": (httpx.ReadTimeout("timed out"), "timeout"),
    "write-timeout": (httpx.WriteTimeout("timed out"), "timeout"),
    "tls": (
        _wrapped(
            httpx.ConnectError("certificate verify failed"),
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
        ),
        "TLS",
    ),
    "not-tls": (
        _wrapped(httpx.ConnectError("wrong version"), ssl.SSLError(1, "wrong version number")),
        "refused",
    ),
    "protocol": (httpx.RemoteProtocolError("illegal status line"), "refused"),
    "reset": (httpx.ReadError("connection reset"), "refused"),
}


def test_last_error_names_only_the_kind_of_failure(
    desk: Desk, names: Names, settings: Settings, clock: TestClock
) -> None:
    fids = {}
    for kind in FAILURES:
        names.table[f"{kind}.example"] = [PUBLIC_ADDRESS]
        fids[kind] = desk.facility()
        assert put_hook(desk, fids[kind], f"https://{kind}.example/in").status_code == 200
        desk.hold(fids[kind])

    def answer(request: httpx.Request) -> httpx.Response:
        raise FAILURES[request.headers["host"].removesuffix(".example")][0]

    assert deliver(settings, clock(), resolver=names, handler=answer)["failed"] == len(FAILURES)
    errors = errors_by_facility(settings)
    assert {kind: errors[fid] for kind, fid in fids.items()} == {
        kind: recorded for kind, (_, recorded) in FAILURES.items()
    }


# --- TLS: the connection goes to the address, the certificate is checked for the name ----------


@dataclasses.dataclass(frozen=True)
class Authority:
    """A certificate authority of the test's own, for a local TLS receiver."""

    pem: bytes
    key: Any
    cert: Any

    def server_context(self, name: str, directory: Path) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


def make_ca() -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Webhook test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert.public_bytes(serialization.Encoding.PEM), key, cert)


def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    desk: Desk, names: Names, settings: Settings, clock: TestClock, tmp_path: Path
) -> None:
    """A local TLS receiver whose certificate names ``receiver.shelter.example`` only (not
    127.0.0.1): delivered to when the webhook names it, refused as "TLS" when the webhook
    names another name resolving to the same address."""
    ca = make_ca()
    names.table["receiver.shelter.example"] = ["127.0.0.1"]
    names.table["impostor.shelter.example"] = ["127.0.0.1"]
    server_tls = ca.server_context("receiver.shelter.example", tmp_path)
    local = dataclasses.replace(settings, webhook_allow_loopback=True)

    def trusting_client() -> httpx.AsyncClient:
        # as the default client, but trusting the test's authority
        return httpx.AsyncClient(
            verify=ssl.create_default_context(cadata=ca.pem.decode()),
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    with listener(status=204, tls=server_tls) as (port, seen):
        right, wrong = desk.facility(), desk.facility()
        with app_settings(desk.client, webhook_allow_loopback=True):
            for fid, name in ((right, "receiver"), (wrong, "impostor")):
                url = f"https://{name}.shelter.example:{port}/in"
                assert put_hook(desk, fid, url).status_code == 200
        desk.hold(right)
        desk.hold(wrong)
        summary = deliver(local, clock(), resolver=names, client_factory=trusting_client)
    assert (summary["delivered"], summary["failed"]) == (1, 1)
    assert errors_by_facility(settings) == {right: None, wrong: "TLS"}
    ((_, headers),) = seen
    assert headers["host"] == f"receiver.shelter.example:{port}"
