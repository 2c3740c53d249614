"""A job runner for tests: a fixed time, and webhooks answered in memory unless told."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

import broker.jobs as jobs
from broker.db.engine import make_engine
from broker.domain.rules import load_rules
from broker.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]


def _accept(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(204)


def runner_at(
    settings: Settings,
    at: datetime,
    *,
    handler: Handler = _accept,
    client_factory: Callable[[], httpx.AsyncClient] | None = None,
    name: str = "test",
) -> jobs.Runner:
    """A runner whose clock stands at ``at``; webhooks go to ``handler`` through
    ``httpx.MockTransport`` unless a real ``client_factory`` is given. Dispose of its
    engine when done (``runner.engine.dispose()``)."""
    return jobs.Runner(
        engine=make_engine(settings.database_url, pool_size=4),
        settings=settings,
        rules=load_rules(settings.data_dir),
        clock=lambda: at,
        client_factory=client_factory
        or (lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))),
        name=name,
    )
