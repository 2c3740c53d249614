"""A job runner for tests: a fixed time, and webhooks answered in memory unless told.

Webhook host names resolve to one public address, :data:`PUBLIC_ADDRESS`, unless a test
gives its own resolver: no name is looked up for real, and since deliveries go to
``httpx.MockTransport`` unless a test asks otherwise, nothing is sent to that address.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

import broker.jobs as jobs
from broker.db.engine import make_engine
from broker.services.context import ServiceContext
from broker.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]
PUBLIC_ADDRESS = "93.184.215.14"


def public_resolver(_host: str) -> list[str]:
    return [PUBLIC_ADDRESS]


def _accept(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(204)


def runner_at(
    settings: Settings,
    at: datetime,
    *,
    handler: Handler = _accept,
    client_factory: Callable[[], httpx.AsyncClient] | None = None,
    name: str = "test",
    resolver: Callable[[str], list[str]] = public_resolver,
) -> jobs.Runner:
    """A runner whose clock stands at ``at``; webhooks go to ``handler`` through
    ``httpx.MockTransport`` unless a real ``client_factory`` is given. Dispose of its
    engine when done (``runner.engine.dispose()``)."""
    return jobs.Runner(
        engine=make_engine(settings.database_url, pool_size=4),
        services=ServiceContext.from_settings(settings),
        clock=lambda: at,
        client_factory=client_factory
        or (lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))),
        name=name,
        resolver=resolver,
    )
