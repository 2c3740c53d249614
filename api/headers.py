"""Protective headers on every response: pages, JSON, the OpenAPI document and errors alike.

They are added where the app hands each response to the server (a ``before_send`` hook),
not per route, so that a 404 for a path no route knows, a refused CSRF token or a 500 from
an error handler carries them too.

Pages load nothing but their own stylesheet (no script at all, charts are inline SVG), so
the policy allows only the broker's own origin and no inline code. Case codes and police
notices must not outlive a session in the browser cache of a shared office computer, so
nothing but the static assets may be stored.
"""

from __future__ import annotations

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


def security_headers_hook(settings: Settings) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook setting the protective headers, replacing any a handler set."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in response_headers(settings, scope.get("path", "")).items():
            headers[name] = value

    return add_headers
