"""Page sessions for tests that drive pages through the test client.

A page accepts only a page session, never the API token a test signed in with. Rather
than going through the sign-in form for every account, these helpers issue the page
session the sign-in page would have issued to the same user.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlmodel import select

from api.guards import SESSION_COOKIE
from broker.crypto import new_token, token_digest
from broker.db.engine import unit_of_work
from broker.db.models import Credential
from broker.services.accounts import CredentialKind


def page_session_for(client: TestClient[Any], token: str) -> str:
    """A new page session token for the user that the API ``token`` belongs to."""
    state = client.app.state.broker
    secret: bytes = state.settings.token_secret_bytes
    now = state.clock()
    with unit_of_work(state.engine) as session:
        api = session.exec(
            select(Credential).where(
                Credential.token_hash == token_digest(secret, token.removeprefix("Bearer "))
            )
        ).one()
        page = new_token()
        session.add(
            Credential(
                user_id=api.user_id,
                kind=CredentialKind.PAGE_SESSION,
                label="page",
                token_hash=token_digest(secret, page),
                created_at=now,
                expires_at=now + timedelta(minutes=state.settings.token_ttl_minutes),
                last_used_at=now,
            )
        )
    return page


def use_page_session(client: TestClient[Any], token: str) -> None:
    """Make the client's later page requests run in a page session of ``token``'s user."""
    client.cookies.set(SESSION_COOKIE, page_session_for(client, token))
