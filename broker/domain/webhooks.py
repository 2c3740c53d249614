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

Where a delivery may go (:func:`parse_target`, :func:`checked_address`): public addresses
only. Loopback, private, link-local, multicast, unspecified and reserved addresses are
refused, in IPv4 and IPv6 and in every spelling of them (numeric and shortened IPv4 hosts,
IPv4-mapped IPv6, 6to4 and NAT64 forms carrying an inside address), and so are names that
resolve to any of them, URLs with a user name or password, hosts off an optional allowed
list, and in production anything but https. These functions are pure: the caller resolves
names and passes the addresses in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from broker.i18n import N_

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


# --- where a delivery may go -----------------------------------------------------------------
#
# A webhook URL is typed by a facility's staff, so it is untrusted: the broker must not be
# turned into a probe of the network it runs in. A target is refused when its URL carries
# credentials, when its host is written as an address that is not public (in any of the
# spellings resolvers accept: ``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.1``,
# ``[::ffff:127.0.0.1]``), and when its name resolves to any address that is not public. The
# same rules run when the URL is set and again at every delivery, because a name may
# resolve differently by then; the delivery then connects to the address that was checked.
# Resolving is I/O and is done by the caller; these functions only judge what it found.

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Checked in order; the first match names the reason. Written out rather than taken from
# ``ipaddress.is_private``/``is_global``, whose lists differ between Python versions.
_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "reserved"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "private"),  # carrier-grade NAT
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), "reserved"),  # documentation
    (_V4("198.51.100.0/24"), "reserved"),
    (_V4("203.0.113.0/24"), "reserved"),
    (_V4("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast
    (_V4("198.18.0.0/15"), "reserved"),  # benchmarking
    (_V4("240.0.0.0/4"), "reserved"),  # includes the broadcast address
)
_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::ffff:0:0/96"), "mapped"),
    (_V6("fe80::/10"), "link_local"),
    (_V6("fec0::/10"), "private"),  # site-local, deprecated
    (_V6("fc00::/7"), "private"),  # unique local
    (_V6("ff00::/8"), "multicast"),
    (_V6("64:ff9b:1::/48"), "private"),  # local-use NAT64
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments, Teredo among them
    (_V6("2001:db8::/32"), "reserved"),  # documentation
    (_V6("3fff::/20"), "reserved"),  # documentation
    (_V6("5f00::/16"), "reserved"),  # segment routing
)
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_GLOBAL_UNICAST_V6 = _V6("2000::/3")

# English here (a refusal's ``message``); shown translated where a webhook is set
REFUSAL_TEXT = {
    "malformed": N_("the webhook must be an http(s) URL with a host"),
    "scheme": N_("the webhook must use https"),
    "userinfo": N_("the webhook URL must not carry a user name or password"),
    "not_allowed": N_("the webhook's host is not on the broker's list of allowed hosts"),
    "unspecified": N_("the webhook's address is the unspecified address"),
    "loopback": N_("the webhook's address is a loopback address"),
    "private": N_("the webhook's address is a private address"),
    "link_local": N_("the webhook's address is a link-local address"),
    "multicast": N_("the webhook's address is a multicast address"),
    "reserved": N_("the webhook's address is a reserved address"),
    "mapped": N_("the webhook's address is an IPv4-mapped IPv6 address"),
    # one answer whether the name does not resolve or resolves inside: the difference
    # would tell an outsider which internal names exist
    "not_public": N_("the webhook's host does not resolve to public addresses only"),
}


class TargetRefused(ValueError):
    """A webhook target the broker will not send to; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSAL_TEXT[reason])
        self.reason = reason
        self.message = REFUSAL_TEXT[reason]


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """What the deployment allows: https only (production), loopback receivers (demo and
    tests only), and an optional list of the only host names a webhook may name."""

    https_only: bool = False
    allow_loopback: bool = False
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A checked URL, taken apart: requests are built from these parts, never from the
    text as typed, so what was checked and what is sent cannot be read differently."""

    scheme: str
    host: str  # an ASCII lower-case name, or an address in its canonical spelling
    port: int
    path: str  # path and query, as sent
    address: IPAddress | None  # set when the URL names an address rather than a name

    def _authority(self, host: str) -> str:
        shown = f"[{host}]" if ":" in host else host
        default = 443 if self.scheme == "https" else 80
        return shown if self.port == default else f"{shown}:{self.port}"

    @property
    def host_header(self) -> str:
        return self._authority(self.host)

    def url_for(self, address: IPAddress) -> str:
        """The URL that connects to ``address``, a checked one, whatever a resolver says."""
        return f"{self.scheme}://{self._authority(str(address))}{self.path}"


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 host as resolvers read it: ``0x`` hex, leading-zero octal, or
    decimal (the WHATWG URL standard's reading, which ``inet_aton`` shares)."""
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def _looks_numeric(label: str) -> bool:
    if label.isascii() and label.isdigit():
        return True
    hex_digits = label[2:]
    return label[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in hex_digits)


def _ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """The address a host whose last label is a number stands for; None for a name.

    A host ending in a number is never looked up as a name: ``127.1`` and ``0x7f.1`` mean
    127.0.0.1 to every resolver, so they are judged as that address. One that cannot be
    read as an address (``1.2.3.4.5``, ``999.1``) is malformed."""
    labels = host.split(".")
    if labels and labels[-1] == "":
        labels = labels[:-1]
    if not labels or not _looks_numeric(labels[-1]):
        return None
    if len(labels) > 4:
        raise TargetRefused("malformed")
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        raise TargetRefused("malformed")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise TargetRefused("malformed")
    value = values[-1]
    for index, n in enumerate(values[:-1]):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


_NAME_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_BAD_URL_TEXT = re.compile(r"[\x00-\x20\x7f\\]")


def _name(host: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError as exc:
        raise TargetRefused("malformed") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise TargetRefused("malformed")
    return ascii_host


def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """A host as the broker compares it: an address in canonical form, or an ASCII name."""
    if not host or "%" in host:  # no IPv6 zone identifiers: they name local interfaces
        raise TargetRefused("malformed")
    if ":" in host:
        try:
            v6 = ipaddress.IPv6Address(host.strip("[]"))
        except ValueError as exc:
            raise TargetRefused("malformed") from exc
        return str(v6), v6
    v4 = _ipv4_host(host)
    if v4 is not None:
        return str(v4), v4
    return _name(host), None


def address_refusal(address: IPAddress, policy: TargetPolicy) -> str | None:
    """Why the broker will not connect to ``address``; None when it may."""
    if address.version == 4:
        assert isinstance(address, ipaddress.IPv4Address)
        for network, reason in _V4_BLOCKS:
            if address in network:
                return None if reason == "loopback" and policy.allow_loopback else reason
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    for network6, reason in _V6_BLOCKS:
        if address in network6:
            return None if reason == "loopback" and policy.allow_loopback else reason
    # forms that carry an IPv4 address inside are judged by that address; a loopback one is
    # refused even when loopback is allowed, since only the plain forms are meant by that
    if address in _NAT64 or address in _SIX_TO_FOUR:
        inner = (
            address.sixtofour
            if address in _SIX_TO_FOUR
            else ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        )
        assert inner is not None
        refusal = address_refusal(inner, TargetPolicy())
        return refusal
    if address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return None


def parse_target(url: str, policy: TargetPolicy) -> WebhookTarget:
    """Check a webhook URL's form, scheme, credentials, host list, and the address it
    names, if it names one; raise :class:`TargetRefused` with the reason."""
    if not url or _BAD_URL_TEXT.search(url):
        raise TargetRefused("malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise TargetRefused("malformed")
    if "@" in parts.netloc:
        raise TargetRefused("userinfo")
    if policy.https_only and scheme != "https":
        raise TargetRefused("scheme")
    raw_host = parts.netloc.lower()
    if raw_host.startswith("["):
        raw_host = raw_host[: raw_host.find("]") + 1]
        if len(raw_host) < 3:
            raise TargetRefused("malformed")
    else:
        raw_host = raw_host.split(":", 1)[0]
    host, address = normalise_host(raw_host)
    if port == 0:
        raise TargetRefused("malformed")
    if policy.allowed_hosts and host not in policy.allowed_hosts:
        raise TargetRefused("not_allowed")
    if address is not None:
        refusal = address_refusal(address, policy)
        if refusal is not None:
            raise TargetRefused(refusal)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return WebhookTarget(
        scheme=scheme,
        host=host,
        port=port if port is not None else (443 if scheme == "https" else 80),
        path=path,
        address=address,
    )


def checked_address(
    target: WebhookTarget, resolved: Sequence[str], policy: TargetPolicy
) -> IPAddress:
    """The address to connect to: the URL's own, or, for a name, one of what it resolved
    to, all of which must be public (a name with one inside address among public ones is
    refused, since a client could pick either). Raise :class:`TargetRefused` otherwise."""
    if target.address is not None:
        return target.address
    addresses: list[IPAddress] = []
    for text in resolved:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError as exc:
            raise TargetRefused("not_public") from exc
        if address_refusal(address, policy) is not None:
            raise TargetRefused("not_public")
        addresses.append(address)
    if not addresses:
        raise TargetRefused("not_public")
    # IPv4 first: a host with both is more often reachable over it
    return sorted(addresses, key=lambda a: a.version)[0]
