"""Access control: every route denies by default and opts in per role.

A handler declares its :class:`Policy` in ``opt["policy"]``. The one app-wide guard
refuses any route without a policy, authenticates the caller (a bearer token for the JSON
API, the session cookie for HTML pages, never the other way round, so that CSRF can only
matter where forms are protected against it) and checks the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.state import BrokerState
from broker.db.engine import unit_of_work
from broker.domain.access import Principal, Role
from broker.errors import PermissionDenied, Unauthenticated
from broker.services.accounts import principal_for_token

SESSION_COOKIE = "broker_session"


@dataclass(frozen=True, slots=True)
class Policy:
    roles: frozenset[Role]
    public: bool = False
    via: str = "bearer"  # "bearer" for the JSON API, "cookie" for HTML pages


def allow(*roles: Role, via: str = "bearer") -> dict[str, Any]:
    """Handler ``opt`` granting access to the given roles only."""
    if not roles:
        raise ValueError("a policy must name at least one role; use public() for open routes")
    return {"policy": Policy(roles=frozenset(roles), via=via)}


def public(via: str = "bearer") -> dict[str, Any]:
    return {"policy": Policy(roles=frozenset(), public=True, via=via)}


def credential_of(connection: ASGIConnection[Any, Any, Any, Any], via: str) -> str | None:
    if via == "cookie":
        return connection.cookies.get(SESSION_COOKIE)
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _lookup(state: BrokerState, token: str) -> Principal | None:
    with unit_of_work(state.engine, write=False) as session:
        return principal_for_token(
            session=session,
            token_secret=state.settings.token_secret_bytes,
            token=token,
            now=state.clock(),
        )


async def resolve_principal(
    connection: ASGIConnection[Any, Any, Any, Any], via: str
) -> Principal | None:
    token = credential_of(connection, via)
    if token is None:
        return None
    state: BrokerState = connection.app.state.broker
    return await anyio.to_thread.run_sync(_lookup, state, token)


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    policy = handler.opt.get("policy")
    if not isinstance(policy, Policy):
        raise PermissionDenied("this route has no access policy")
    principal = await resolve_principal(connection, policy.via)
    if principal is not None:
        connection.scope["user"] = principal
    if policy.public:
        return
    if principal is None:
        needed = "a valid bearer token" if policy.via == "bearer" else "a signed-in session"
        raise Unauthenticated(f"sign in first: {needed} is required")
    if principal.role not in policy.roles:
        raise PermissionDenied(f"the {principal.role.value} role may not use this route")
