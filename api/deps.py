"""Dependency providers: one database transaction per request, the actor, the clock.

The session is opened lazily by SQLAlchemy; it is committed after the handler has built
its response and rolled back if anything raised, so a failed request writes nothing.
Handlers of write requests get a SQLite ``BEGIN IMMEDIATE`` transaction.

The provider is an async generator on purpose: its commit runs on the event loop, not in
the worker-thread pool. Handlers run in that pool and may be waiting there for a lock
(a row lock, SQLite's write lock); if the commit that releases the lock also needed a pool
thread, a burst of requests for one last unit would fill the pool with waiters and the
commit would never run.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlmodel import Session

from api.state import BrokerState
from broker.db.engine import open_session
from broker.domain.access import Principal
from broker.errors import BrokerError, Unauthenticated
from broker.i18n import gettext

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def broker_state(request: Request[Any, Any, Any]) -> BrokerState:
    state: BrokerState = request.app.state.broker
    return state


def provide_broker(request: Request[Any, Any, Any]) -> BrokerState:
    return broker_state(request)


async def provide_session(request: Request[Any, Any, Any]) -> AsyncGenerator[Session, None]:
    # A handler may say whether it writes (a POST that only reads, a GET that audits);
    # otherwise the method decides. Only writers take SQLite's write lock up front.
    declared = request.route_handler.opt.get("writes")
    writes = request.method not in READ_METHODS if declared is None else bool(declared)
    state = broker_state(request)
    session = open_session(state.engine, write=writes, audit_key=state.settings.audit_key_bytes)
    try:
        yield session
        session.commit()
    except BrokerError as exc:
        # only a refusal raised before anything but its own trace was written keeps it
        if exc.keeps_trace:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def provide_actor(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthenticated(gettext("sign in first"))
    return principal


def provide_now(request: Request[Any, Any, Any]) -> datetime:
    return broker_state(request).clock()


DEPENDENCIES = {
    "broker": Provide(provide_broker, sync_to_thread=False),
    "db": Provide(provide_session),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "now": Provide(provide_now, sync_to_thread=False),
}

# Handler parameter types naming the dependencies above explicitly.
Broker = NamedDependency[BrokerState]
DbSession = NamedDependency[Session]
Actor = NamedDependency[Principal]
Now = NamedDependency[datetime]
