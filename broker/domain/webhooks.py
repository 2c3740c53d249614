"""Signing webhook deliveries, and when to try again.

A receiver checks the ``X-Broker-Signature`` header: ``t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA256 of ``"<t>.<body bytes>"`` under its signing key. The timestamp is inside
the MAC, so a captured delivery cannot be replayed later than the receiver's tolerance.
Payloads carry ids, kinds and times only, never an address or a name.

Each facility's webhook has a signing secret of its own, so one shelter's receiver cannot
forge a message to another's. It is derived from the broker's webhook secret, the facility id
and a random salt stored with the webhook: the database holds the salt only, and setting the
webhook again draws a new salt, which retires the old secret. The hotline's deliveries are
signed under the broker's webhook secret itself, which the hotline's operators hold.

Retries back off exponentially (base, 2 x base, 4 x base, ... capped), and a message that
has failed ``max_attempts`` times is dead-lettered: kept, shown in the inbox, never retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "X-Broker-Signature"
EVENT_HEADER = "X-Broker-Event"
DELIVERY_HEADER = "X-Broker-Delivery"


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The body as sent: compact JSON with sorted keys, so a signature is reproducible."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def facility_signing_secret(master: bytes, facility_id: int, salt: str) -> str:
    """The secret a facility's receiver checks with; its UTF-8 bytes are the HMAC key."""
    label = f"facility-webhook:{facility_id}:{salt}".encode()
    return hmac.new(master, label, hashlib.sha256).hexdigest()


def signature(secret: bytes, body: bytes, at: datetime) -> str:
    timestamp = int(at.timestamp())
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(
    secret: bytes, body: bytes, header: str, *, now: datetime, tolerance: timedelta
) -> bool:
    """What a receiver does: the MAC matches and the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(now.timestamp() - timestamp) <= tolerance.total_seconds()
    return fresh and hmac.compare_digest(expected, given)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 8

    def next_attempt(self, *, failed_attempts: int, now: datetime) -> datetime | None:
        """When to try again after ``failed_attempts`` failures; None: dead-letter it."""
        if failed_attempts >= self.max_attempts:
            return None
        delay = min(self.cap, self.base * (2 ** max(0, failed_attempts - 1)))
        return now + delay
