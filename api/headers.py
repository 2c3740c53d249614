"""Protective headers on every response: pages, JSON, the OpenAPI document and errors alike.

They are added where the app hands each response to the server (a ``before_send`` hook),
not per route, so that a 404 for a path no route knows, a refused CSRF token or a 500 from
an error handler carries them too.

Pages load nothing but their own stylesheet (no script at all, charts are inline SVG), so
the policy allows only the broker's own origin and no inline code. Case codes and police
notices must not outlive a session in the browser cache of a shared office computer, so
nothing but the static assets may be stored.

A standalone document served as it is (a simulation's report: inline style, inline SVG, no
script) gets a policy of its own, tighter still: nothing at all but its own ``<style>``
elements, each allowed by its hash (:func:`document_policy`). Its route says so in its
``opt`` (``OWN_POLICY``) and sends that policy itself; the hook keeps it only there, and only
a policy that starts from nothing (``default-src 'none'``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from broker.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
OWN_POLICY = "own_content_security_policy"
DOCUMENT_BASE = "default-src 'none'"
_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.S)
COMMON_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # for browsers that predate frame-ancestors
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
NO_STORE = "no-store"
# The stylesheet holds nothing private; revalidating keeps it fresh after an upgrade.
STATIC_CACHE = "no-cache"
STATIC_PREFIX = "/static/"
# Two years, the preload lists' minimum; sent only in production, which runs behind TLS.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def response_headers(settings: Settings, path: str) -> dict[str, str]:
    """The protective headers of a response to ``path``."""
    headers = dict(COMMON_HEADERS)
    headers["Cache-Control"] = STATIC_CACHE if path.startswith(STATIC_PREFIX) else NO_STORE
    if settings.is_production:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers


def document_policy(html: str) -> str:
    """The policy of a standalone document: its inline ``<style>`` elements by their
    SHA-256, and nothing else (no script, image, font, frame, form or base)."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _STYLE_ELEMENT.findall(html)
    ]
    return "; ".join(
        [
            DOCUMENT_BASE,
            "style-src " + (" ".join(hashes) or "'none'"),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _own_policy(scope: Scope, headers: MutableScopeHeaders) -> str | None:
    """The handler's own policy, where its route may send one and it starts from nothing."""
    handler: Any = scope.get("route_handler")
    policy = headers.get("Content-Security-Policy")
    if handler is None or not handler.opt.get(OWN_POLICY) or policy is None:
        return None
    return policy if policy.startswith(DOCUMENT_BASE + ";") else None


def security_headers_hook(settings: Settings) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook setting the protective headers, replacing any a handler set
    (but a standalone document's own policy, see ``OWN_POLICY``)."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        own = _own_policy(scope, headers)
        for name, value in response_headers(settings, scope.get("path", "")).items():
            headers[name] = value
        if own is not None:
            headers["Content-Security-Policy"] = own

    return add_headers
