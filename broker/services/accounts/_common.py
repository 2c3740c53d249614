"""What the modules of this package share: the credential kinds, issuing a credential,
and finding a user and the principal it acts as.

It exists so that these few helpers are written once; a name with a leading underscore
here is private to the package.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from broker.crypto import new_token, token_digest
from broker.db.models import Credential, User, UserFacility
from broker.domain.access import Principal, Role
from broker.errors import NotFound
from broker.i18n import gettext


class CredentialKind(StrEnum):
    """What a credential is; the value is what the ``credentials.kind`` column holds."""

    API_TOKEN = "session"  # from POST /api/v1/auth/token (the name predates page sessions)
    PAGE_SESSION = "page"
    SECOND_FACTOR_PENDING = "mfa_pending"
    API_KEY = "api_key"


def _principal(user: User, facility_ids: Iterable[int]) -> Principal:
    assert user.id is not None
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        facility_ids=frozenset(facility_ids),
    )


def _facility_ids(session: Session, user_id: int) -> list[int]:
    return list(
        session.exec(select(UserFacility.facility_id).where(UserFacility.user_id == user_id)).all()
    )


def _user_named(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None or user.id is None:
        raise NotFound(gettext("no user '{username}'").format(username=username))
    return user


def _issue(
    *,
    session: Session,
    token_secret: bytes,
    user_id: int,
    kind: CredentialKind,
    label: str,
    now: datetime,
    expires_at: datetime | None,
) -> str:
    token = new_token()
    session.add(
        Credential(
            user_id=user_id,
            kind=kind,
            label=label,
            token_hash=token_digest(token_secret, token),
            created_at=now,
            expires_at=expires_at,
            last_used_at=now if kind == CredentialKind.PAGE_SESSION else None,
        )
    )
    return token
