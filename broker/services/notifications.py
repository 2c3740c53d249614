"""Notifications: an outbox written with the event, delivered by webhook, read in an inbox.

Writes:
    notify               queue a message in the caller's transaction (so it exists exactly
                         when the event does); a ``dedupe_key`` keeps a reminder from being
                         queued twice
    webhook_set          where a facility wants its messages delivered; a new signing
                         secret each time, returned once
    deliver_due          the delivery job: every due message POSTed, signed, to its
                         audience's URL; retried with backoff; dead-lettered after the limit
Reads:
    inbox                the messages of the caller's audience, newest first
    inbox_view           the same, with the names of the facilities they are about (for
                         the inbox page; never an address)
    webhook_get

Audiences: ``facility`` (that facility's staff; its webhook) and ``hotline`` (counsellors and
admins; the hotline's webhook from settings). A message whose audience has no webhook is
``inbox_only``: shown, never sent. Payloads carry ids, kinds and times only.

Webhook targets are checked when set and again at every delivery (the rules are in
``broker.domain.webhooks``). A delivery resolves the name once, checks every address it
got, and connects to a checked address itself: the request's URL names that address, and
the name travels in the ``Host`` header and, for https, as the TLS server name, against
which the certificate is verified. So a name that resolves differently between the check
and the connection (DNS rebinding) cannot steer the connection inside. Redirects are never
followed. A failure is recorded as "refused", "timeout", "TLS" or the receiver's HTTP
status only, so the outbox does not tell an open port from a closed or a filtered one.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broker.db.engine import unit_of_work
from broker.db.models import Facility, FacilityWebhook, OutboxMessage
from broker.domain.access import Principal, Role, ensure_own_facility_or_admin
from broker.domain.audit_chain import AuditAction
from broker.domain.states import Audience, DeliveryState
from broker.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    REFUSAL_TEXT,
    SIGNATURE_HEADER,
    RetryPolicy,
    TargetPolicy,
    TargetRefused,
    WebhookTarget,
    checked_address,
    facility_signing_secret,
    parse_target,
    payload_bytes,
    signature,
)
from broker.errors import InvalidInput, NotFound
from broker.i18n import gettext
from broker.services.audit import audit_record

DELIVERY_BATCH = 100
MAX_URL = 500
# What a failed delivery records: nothing finer, so that the outbox cannot serve as a port
# scanner (a closed port, a filtered one and a refused target all read "refused").
REFUSED, TIMEOUT, TLS = "refused", "timeout", "TLS"

Resolver = Callable[[str], Sequence[str]]
"""A host name to the addresses it resolves to (text); raises OSError when it does not."""


def system_resolver(host: str) -> list[str]:
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


# Values a payload may carry: ids, kinds, counts, times. Anything else is refused at once,
# so a careless caller cannot put a name or an address into a webhook.
_PAYLOAD_TYPES = (int, str, bool, type(None))
_PAYLOAD_TEXT_LIMIT = 64


def _check_payload(payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if not isinstance(value, _PAYLOAD_TYPES):
            raise ValueError(f"payload field {key!r} must be an id, kind, count or time")
        if isinstance(value, str) and len(value) > _PAYLOAD_TEXT_LIMIT:
            raise ValueError(f"payload field {key!r} is too long for an id, kind or time")


def notify(
    *,
    session: Session,
    event: str,
    audience: str,
    now: datetime,
    payload: dict[str, Any],
    facility_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Queue a message; None when one with the same ``dedupe_key`` exists already."""
    if audience not in (Audience.FACILITY, Audience.HOTLINE) or (audience == Audience.FACILITY) != (
        facility_id is not None
    ):
        raise ValueError("a facility message names its facility; a hotline message does not")
    _check_payload(payload)
    if dedupe_key is not None:
        known = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
        ).first()
        if known is not None:
            return None
    message = OutboxMessage(
        event=event,
        audience=audience,
        facility_id=facility_id,
        payload={"event": event, "at": now.isoformat(), **payload},
        dedupe_key=dedupe_key,
        created_at=now,
        state=DeliveryState.PENDING,
        next_attempt_at=now,
    )
    session.add(message)
    return message


def queued_keys(*, session: Session, keys: list[str]) -> set[str]:
    """Which of these dedupe keys have a message already: one query for a whole job's worth,
    so a job re-run every few minutes does not ask once per facility or stay."""
    if not keys:
        return set()
    found = session.exec(
        select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(keys))
    ).all()
    return {key for key in found if key is not None}


def check_target(url: str, *, policy: TargetPolicy, resolver: Resolver) -> WebhookTarget:
    """A webhook URL checked as a delivery would check it, its name resolved now; raises
    ``InvalidInput`` (422) with the reason's code in ``details``."""
    try:
        if len(url) > MAX_URL:
            raise TargetRefused("malformed")
        target = parse_target(url, policy)
        if target.address is None:
            checked_address(target, _lookup(resolver, target.host), policy)
    except TargetRefused as exc:
        raise InvalidInput(
            gettext(REFUSAL_TEXT[exc.reason]), details=[{"field": "url", "message": exc.reason}]
        ) from exc
    return target


def _lookup(resolver: Resolver, host: str) -> Sequence[str]:
    try:
        return resolver(host)
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefused("not_public") from exc


def webhook_set(
    *,
    session: Session,
    master_secret: bytes,
    facility_id: int,
    url: str | None,
    actor: Principal,
    now: datetime,
    policy: TargetPolicy,
    resolver: Resolver,
) -> str | None:
    """Set (or with no URL remove) the facility's webhook; returns its new signing secret.

    Every setting draws a new secret, so a receiver whose secret may have leaked is retired
    by setting the webhook again. The secret is returned here once and never stored."""
    ensure_own_facility_or_admin(actor, facility_id)
    if session.get(Facility, facility_id) is None:
        raise NotFound(gettext("no such facility"))
    current = session.get(FacilityWebhook, facility_id)
    if not url:
        if current is not None:
            session.delete(current)
            _audit_webhook(session, actor, facility_id, now, removed=True)
        return None
    check_target(url, policy=policy, resolver=resolver)
    salt = secrets.token_hex(16)
    if current is None:
        current = FacilityWebhook(facility_id=facility_id, url=url, updated_at=now)
    current.url, current.secret_salt, current.updated_at = url, salt, now
    session.add(current)
    _audit_webhook(session, actor, facility_id, now, removed=False)
    return facility_signing_secret(master_secret, facility_id, salt)


def _audit_webhook(
    session: Session, actor: Principal, facility_id: int, now: datetime, *, removed: bool
) -> None:
    # where a shelter's notifications go is worth a trace: the URL itself is not kept
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.WEBHOOK_SET,
        subject_type="facility",
        subject_id=facility_id,
        detail={"removed": removed},
    )


@dataclass(frozen=True, slots=True)
class WebhookView:
    url: str | None
    updated_at: datetime | None


def webhook_get(*, session: Session, facility_id: int, actor: Principal) -> WebhookView:
    """The webhook's URL and when it was set; its secret is shown only when it is set."""
    ensure_own_facility_or_admin(actor, facility_id)
    current = session.get(FacilityWebhook, facility_id)
    if current is None:
        return WebhookView(None, None)
    return WebhookView(current.url, current.updated_at)


# --- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: int
    url: str
    event: str
    body: bytes
    key: bytes = field(repr=False)  # the audience's signing key


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    message_id: int
    ok: bool
    error: str | None


def _due(session: Session, now: datetime, hotline_url: str, master: bytes) -> list[Delivery]:
    """Due messages, claimed for this run: on PostgreSQL rows another runner holds are
    skipped; SQLite has no row locks (SQLAlchemy leaves the clause out) and its writer lock
    already lets one runner in at a time."""
    messages = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.state == DeliveryState.PENDING, col(OutboxMessage.next_attempt_at) <= now
        )
        .order_by(col(OutboxMessage.id))
        .limit(DELIVERY_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    hooks = {
        hook.facility_id: hook
        for hook in session.exec(
            select(FacilityWebhook).where(
                col(FacilityWebhook.facility_id).in_(
                    {m.facility_id for m in messages if m.facility_id is not None}
                )
            )
        ).all()
    }
    due = []
    for message in messages:
        hook = hooks.get(message.facility_id or 0)
        if message.audience == Audience.HOTLINE and hotline_url:
            url, key = hotline_url, master
        elif message.audience == Audience.FACILITY and hook is not None:
            url = hook.url
            key = facility_signing_secret(master, hook.facility_id, hook.secret_salt).encode()
        else:
            message.state, message.next_attempt_at = DeliveryState.INBOX_ONLY, None
            session.add(message)
            continue
        assert message.id is not None
        due.append(
            Delivery(
                message.id,
                url,
                message.event,
                payload_bytes(message.payload),
                key,
            )
        )
    return due


async def _resolve(resolver: Resolver, host: str, timeout: float) -> Sequence[str]:
    try:
        return await asyncio.wait_for(asyncio.to_thread(_lookup, resolver, host), timeout)
    except TimeoutError as exc:
        raise TargetRefused("not_public") from exc


def _failure(exc: httpx.HTTPError) -> str:
    """What the outbox may say about a failure that is not an HTTP status."""
    if isinstance(exc, httpx.ConnectTimeout):
        return REFUSED  # a filtered port must read as a closed one
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT  # connected, then the receiver was too slow
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        # only a certificate that does not verify: any other TLS failure (a port that does
        # not speak TLS at all) says no more than a closed port would
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TLS
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return REFUSED


async def _post(
    client: httpx.AsyncClient,
    delivery: Delivery,
    now: datetime,
    timeout: float,
    policy: TargetPolicy,
    resolver: Resolver,
) -> DeliveryOutcome:
    try:
        target = parse_target(delivery.url, policy)
        resolved = await _resolve(resolver, target.host, timeout) if target.address is None else []
        address = checked_address(target, resolved, policy)
    except TargetRefused:
        return DeliveryOutcome(delivery.message_id, False, REFUSED)
    headers = {
        "host": target.host_header,
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(delivery.key, delivery.body, now),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.message_id),
    }
    # the connection goes to the address; the certificate is checked against the name
    by_name = target.scheme == "https" and target.address is None
    try:
        response = await client.post(
            target.url_for(address),
            content=delivery.body,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            extensions={"sni_hostname": target.host} if by_name else {},
        )
    except httpx.HTTPError as exc:
        return DeliveryOutcome(delivery.message_id, False, _failure(exc))
    if 200 <= response.status_code < 300:
        return DeliveryOutcome(delivery.message_id, True, None)
    return DeliveryOutcome(delivery.message_id, False, f"HTTP {response.status_code}")


def deliver_due(
    *,
    engine: Engine,
    client_factory: Callable[[], httpx.AsyncClient],
    secret: bytes,
    hotline_url: str,
    retry: RetryPolicy,
    timeout: float,
    now: datetime,
    policy: TargetPolicy,
    resolver: Resolver,
) -> dict[str, int]:
    """Send what is due. Runs its own units of work: the claim and the outcome are written
    in short transactions, and no transaction stays open while waiting for a receiver.
    Every target is checked again under ``policy``, its name resolved afresh."""
    with unit_of_work(engine) as session:
        due = _due(session, now, hotline_url, secret)
        claimed = [d.message_id for d in due]
        if claimed:
            # push the claimed rows out of reach of a parallel runner while they are sent
            session.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(claimed))
                .values(next_attempt_at=now + retry.cap)
            )
    if not due:
        return {"delivered": 0, "failed": 0, "dead": 0}

    async def send_all() -> list[DeliveryOutcome]:
        async with client_factory() as client:
            return await asyncio.gather(
                *(_post(client, d, now, timeout, policy, resolver) for d in due)
            )

    outcomes = asyncio.run(send_all())
    counts = {"delivered": 0, "failed": 0, "dead": 0}
    with unit_of_work(engine) as session:
        for outcome in outcomes:
            message = session.get(OutboxMessage, outcome.message_id)
            if message is None:
                continue
            message.attempts += 1
            if outcome.ok:
                message.state, message.delivered_at = DeliveryState.DELIVERED, now
                message.next_attempt_at, message.last_error = None, None
                counts["delivered"] += 1
            else:
                message.last_error = outcome.error
                retry_at = retry.next_attempt(failed_attempts=message.attempts, now=now)
                if retry_at is None:
                    message.state, message.next_attempt_at = DeliveryState.DEAD, None
                    counts["dead"] += 1
                else:
                    message.next_attempt_at = retry_at
                    counts["failed"] += 1
            session.add(message)
    return counts


# --- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    event: str
    audience: str
    facility_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    last_error: str | None


def inbox(*, session: Session, actor: Principal, limit: int = 100) -> list[InboxItem]:
    """Shelter staff see their facilities' messages; counsellors and admins the hotline's."""
    query = select(OutboxMessage)
    if actor.role is Role.SHELTER_STAFF:
        query = query.where(
            OutboxMessage.audience == Audience.FACILITY,
            col(OutboxMessage.facility_id).in_(sorted(actor.facility_ids)),
        )
    elif actor.role in (Role.COUNSELLOR, Role.ADMIN):
        query = query.where(OutboxMessage.audience == Audience.HOTLINE)
    else:
        raise NotFound(gettext("no inbox for this role"))
    rows = session.exec(
        query.order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc()).limit(
            max(1, min(limit, 500))
        )
    ).all()
    return [
        InboxItem(
            id=m.id or 0,
            event=m.event,
            audience=m.audience,
            facility_id=m.facility_id,
            payload=dict(m.payload),
            created_at=m.created_at,
            state=m.state,
            attempts=m.attempts,
            last_error=m.last_error,
        )
        for m in rows
    ]


@dataclass(frozen=True, slots=True)
class InboxView:
    items: list[InboxItem]
    facility_names: dict[int, str]


def inbox_view(*, session: Session, actor: Principal, limit: int = 100) -> InboxView:
    """:func:`inbox` with the name of each facility a message names, by message or payload."""
    items = inbox(session=session, actor=actor, limit=limit)
    ids = {item.facility_id for item in items if item.facility_id is not None}
    ids |= {
        value
        for item in items
        if isinstance(value := item.payload.get("facility_id"), int) and not isinstance(value, bool)
    }
    rows = session.exec(select(Facility.id, Facility.name).where(col(Facility.id).in_(sorted(ids))))
    return InboxView(
        items=items, facility_names={fid: name for fid, name in rows if fid is not None}
    )
