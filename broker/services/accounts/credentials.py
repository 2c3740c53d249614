"""The credentials a signed-in user holds: API keys, login tokens and page sessions; which
principal a token stands for, ending one (logout) or all of them.

Tokens are random secrets handed out once; the database keeps only their keyed hash.
An API login token expires after the configured time; a page session also ends after
``session_idle`` without use; an API key lives until revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.crypto import token_digest
from broker.db.models import Credential, User
from broker.domain.access import Principal
from broker.domain.audit_chain import AuditAction
from broker.services.accounts._common import (
    CredentialKind,
    _facility_ids,
    _issue,
    _principal,
    _user_named,
)
from broker.services.audit import audit_record

# a page session's last use is written no more often than this (a session may therefore
# end up to this much before its idle limit)
TOUCH_EVERY = timedelta(minutes=1)


def revoke_all(*, session: Session, username: str, now: datetime) -> int:
    """End every session, token and API key of an account; returns how many were live."""
    user = _user_named(session, username)
    result: Any = session.execute(
        sa.update(Credential)
        .where(col(Credential.user_id) == user.id, col(Credential.revoked_at).is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_REVOKE_ALL,
        subject_type="user",
        subject_id=user.id or "",
        detail={"revoked": count},
    )
    return count


def api_key_create(
    *, session: Session, token_secret: bytes, username: str, label: str, now: datetime
) -> str:
    user = _user_named(session, username)
    assert user.id is not None
    token = _issue(
        session=session,
        token_secret=token_secret,
        user_id=user.id,
        kind=CredentialKind.API_KEY,
        label=label,
        now=now,
        expires_at=None,
    )
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_API_KEY_CREATE,
        subject_type="user",
        subject_id=user.id,
        detail={"label": label},
    )
    return token


def logout(*, session: Session, token_secret: bytes, token: str, now: datetime) -> None:
    credential = session.exec(
        select(Credential).where(Credential.token_hash == token_digest(token_secret, token))
    ).first()
    if credential is not None and credential.revoked_at is None:
        credential.revoked_at = now
        session.add(credential)


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    credential_id: int
    # a page session whose last use should be written now (see TOUCH_EVERY)
    touch_due: bool


def authenticate(
    *,
    session: Session,
    token_secret: bytes,
    token: str,
    now: datetime,
    session_idle: timedelta,
) -> Authenticated | None:
    """The active principal a token stands for, or None (unknown, revoked, expired, idle
    too long, or a sign-in still waiting for its second factor)."""
    if not token or len(token) > 200:
        return None
    found = session.exec(
        select(Credential, User)
        .join(User, User.id == Credential.user_id)  # type: ignore[arg-type]
        .where(Credential.token_hash == token_digest(token_secret, token))
    ).first()
    if found is None:
        return None
    credential, user = found
    if credential.revoked_at is not None or not user.active or user.id is None:
        return None
    if credential.kind == CredentialKind.SECOND_FACTOR_PENDING or credential.id is None:
        return None
    if credential.expires_at is not None and credential.expires_at <= now:
        return None
    touch_due = False
    if credential.kind == CredentialKind.PAGE_SESSION:
        last_used = credential.last_used_at or credential.created_at
        if last_used + session_idle <= now:
            return None
        touch_due = now - last_used >= TOUCH_EVERY
    return Authenticated(
        principal=_principal(user, _facility_ids(session, user.id)),
        credential_id=credential.id,
        touch_due=touch_due,
    )


def touch_session(*, session: Session, credential_id: int, now: datetime) -> bool:
    """Write a page session's last use, unless another request did within the minute."""
    result: Any = session.execute(
        sa.update(Credential)
        .where(
            col(Credential.id) == credential_id,
            col(Credential.revoked_at).is_(None),
            sa.or_(
                col(Credential.last_used_at).is_(None),
                col(Credential.last_used_at) <= now - TOUCH_EVERY,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def principal_for_token(
    *,
    session: Session,
    token_secret: bytes,
    token: str,
    now: datetime,
    session_idle: timedelta = timedelta(minutes=30),
) -> Principal | None:
    """The active principal a bearer token stands for, or None."""
    found = authenticate(
        session=session, token_secret=token_secret, token=token, now=now, session_idle=session_idle
    )
    return found.principal if found is not None else None
