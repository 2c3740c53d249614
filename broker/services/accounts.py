"""Users, logins, session tokens and API keys.

Tokens are random secrets handed out once; the database keeps only their keyed hash.
A login token expires after the configured time; an API key lives until revoked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, select

from broker.crypto import Passwords, new_token, token_digest
from broker.db.models import Credential, Facility, User, UserFacility
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import AuditAction
from broker.errors import Conflict, InvalidInput, NotFound
from broker.services.audit import audit_record

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD_LENGTH = 10


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


# --- writes -----------------------------------------------------------------------------


def user_create(
    *,
    session: Session,
    passwords: Passwords,
    username: str,
    role: str,
    password: str | None,
    facility_ids: Iterable[int] = (),
    now: datetime,
    actor: Principal | None = None,
) -> Principal:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise InvalidInput("username: 2-80 characters of a-z, 0-9, '.', '_' or '-'")
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role must be one of: {', '.join(r.value for r in Role)}") from exc
    facility_ids = sorted(set(facility_ids))
    if role_value is Role.SHELTER_STAFF and not facility_ids:
        raise InvalidInput("a shelter_staff account must be bound to at least one facility")
    if role_value is not Role.SHELTER_STAFF and facility_ids:
        raise InvalidInput("only shelter_staff accounts are bound to facilities")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"username '{username}' is taken")
    for facility_id in facility_ids:
        if session.get(Facility, facility_id) is None:
            raise NotFound(f"no facility with id {facility_id}")
    user = User(
        username=username,
        role=role_value.value,
        password_hash=passwords.hash(password) if password is not None else None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    for facility_id in facility_ids:
        session.add(UserFacility(user_id=user.id, facility_id=facility_id))
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.USER_CREATE,
        subject_type="user",
        subject_id=user.id,
        detail={"role": role_value.value, "facility_ids": facility_ids},
    )
    session.flush()
    return _principal(user, facility_ids)


def _issue(
    *,
    session: Session,
    token_secret: bytes,
    user_id: int,
    kind: str,
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
        )
    )
    return token


def login(
    *,
    session: Session,
    passwords: Passwords,
    token_secret: bytes,
    username: str,
    password: str,
    now: datetime,
    ttl: timedelta,
) -> tuple[str, Principal] | None:
    """Check a password and issue a session token, or return None. A failure is audited
    (so the caller must commit, not roll back) and says nothing about which half was wrong."""
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        audit_record(
            session=session,
            now=now,
            actor=None,
            action=AuditAction.AUTH_LOGIN_FAILED,
            subject_type="user",
            subject_id=user.id if user and user.id else "",
        )
        return None
    assert user.id is not None
    token = _issue(
        session=session,
        token_secret=token_secret,
        user_id=user.id,
        kind="session",
        label="login",
        now=now,
        expires_at=now + ttl,
    )
    principal = _principal(user, _facility_ids(session, user.id))
    audit_record(
        session=session,
        now=now,
        actor=principal,
        action=AuditAction.AUTH_LOGIN,
        subject_type="user",
        subject_id=user.id,
    )
    return token, principal


def api_key_create(
    *, session: Session, token_secret: bytes, username: str, label: str, now: datetime
) -> str:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None or user.id is None:
        raise NotFound(f"no user '{username}'")
    token = _issue(
        session=session,
        token_secret=token_secret,
        user_id=user.id,
        kind="api_key",
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


def principal_for_token(
    *, session: Session, token_secret: bytes, token: str, now: datetime
) -> Principal | None:
    """The active principal a bearer token stands for, or None."""
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
    if credential.expires_at is not None and credential.expires_at <= now:
        return None
    return _principal(user, _facility_ids(session, user.id))
