"""Access control: every route denies by default and opts in per role.

A handler declares its :class:`Policy` in ``opt["policy"]``. The one app-wide guard
refuses any route without a policy, authenticates the caller and checks the role.

One credential per surface. The JSON API (``/api/...``) reads only the ``Authorization:
Bearer`` header and accepts only the credential kinds made for it: a login token from
``POST /api/v1/auth/token`` or an API key. Pages read only the session cookie and accept
only a page session from the sign-in page; every page form carries a CSRF token. So a page
session copied into a bearer header opens no API route, and a bearer token or API key put
in the cookie opens no page: the cookie can be forged across sites only where CSRF
protection stands. A route under ``/api/`` that declares the cookie, or a page needing a
sign-in that declares a bearer token, is refused outright rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import anyio
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.state import BrokerState
from broker.db.engine import unit_of_work
from broker.db.models import Credential
from broker.domain.access import Principal, Role
from broker.errors import PermissionDenied, Unauthenticated
from broker.i18n import gettext
from broker.services.accounts import CredentialKind, authenticate, touch_session

SESSION_COOKIE = "broker_session"
API_PREFIX = "/api/"
Via = Literal["bearer", "cookie"]

# The credential kinds each surface accepts; any other kind is refused there.
SURFACE_KINDS: dict[str, frozenset[str]] = {
    "bearer": frozenset({CredentialKind.API_TOKEN, CredentialKind.API_KEY}),
    "cookie": frozenset({CredentialKind.PAGE_SESSION}),
}


@dataclass(frozen=True, slots=True)
class Policy:
    roles: frozenset[Role]
    public: bool = False
    via: Via = "bearer"  # "bearer" for the JSON API, "cookie" for HTML pages


def allow(*roles: Role, via: Via = "bearer") -> dict[str, Any]:
    """Handler ``opt`` granting access to the given roles only."""
    if not roles:
        raise ValueError("a policy must name at least one role; use public() for open routes")
    return {"policy": Policy(roles=frozenset(roles), via=via)}


def public(via: Via = "bearer") -> dict[str, Any]:
    return {"policy": Policy(roles=frozenset(), public=True, via=via)}


def surface_fits(path: str, policy: Policy) -> bool:
    """Whether a route at ``path`` may read the credential its policy names: the API only
    a bearer token, a page that needs a sign-in only the cookie. Public routes outside the
    API (health, the OpenAPI document, the sign-in page) may read either."""
    if path.startswith(API_PREFIX):
        return policy.via == "bearer"
    return policy.public or policy.via == "cookie"


def credential_of(connection: ASGIConnection[Any, Any, Any, Any], via: Via) -> str | None:
    """The token the caller presents on the surface ``via``; the other carrier is ignored."""
    if via == "cookie":
        return connection.cookies.get(SESSION_COOKIE) or None
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _lookup(state: BrokerState, token: str, via: Via) -> Principal | None:
    now = state.clock()
    with unit_of_work(state.engine, write=False) as session:
        found = authenticate(
            session=session,
            token_secret=state.settings.token_secret_bytes,
            token=token,
            now=now,
            session_idle=timedelta(minutes=state.settings.session_idle_minutes),
        )
        if found is None:
            return None
        credential = session.get(Credential, found.credential_id)
        if credential is None or credential.kind not in SURFACE_KINDS[via]:
            return None
    if found.touch_due:
        # the idle clock of a page session restarts with each use
        with unit_of_work(state.engine) as session:
            touch_session(session=session, credential_id=found.credential_id, now=now)
    return found.principal


async def resolve_principal(
    connection: ASGIConnection[Any, Any, Any, Any], via: Via
) -> Principal | None:
    token = credential_of(connection, via)
    if token is None:
        return None
    state: BrokerState = connection.app.state.broker
    return await anyio.to_thread.run_sync(_lookup, state, token, via)


def _unauthenticated(connection: ASGIConnection[Any, Any, Any, Any], via: Via) -> Unauthenticated:
    if via == "cookie":
        return Unauthenticated(gettext("sign in first: a signed-in session is required"))
    if SESSION_COOKIE in connection.cookies and "authorization" not in connection.headers:
        return Unauthenticated(
            gettext(
                "sign in first: the JSON API takes a bearer token or an API key, "
                "never the page session cookie"
            )
        )
    return Unauthenticated(gettext("sign in first: a valid bearer token is required"))


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    policy = handler.opt.get("policy")
    if not isinstance(policy, Policy):
        raise PermissionDenied(gettext("this route has no access policy"))
    if not surface_fits(connection.scope["path"], policy):
        raise PermissionDenied(
            gettext("this route's policy names the wrong credential for its surface")
        )
    principal = await resolve_principal(connection, policy.via)
    if principal is not None:
        connection.scope["user"] = principal
    if policy.public:
        return
    if principal is None:
        raise _unauthenticated(connection, policy.via)
    if principal.role not in policy.roles:
        raise PermissionDenied(
            gettext("the {role} role may not use this route").format(role=principal.role.value)
        )
