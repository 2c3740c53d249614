"""Signing in: the password, then the second factor, then a token or page session.

Every refused sign-in raises an error that keeps its trace (``keeps_trace``): the request's
unit of work commits the counted failure and its audit entry before answering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from broker.crypto import Passwords, SecondFactorKeys, token_digest
from broker.db.models import Credential, User
from broker.domain.access import Principal
from broker.domain.audit_chain import AuditAction
from broker.errors import OtpInvalid, OtpRequired, SecondFactorNotEnrolled, SignInFailed
from broker.i18n import N_, gettext
from broker.services.accounts._common import (
    CredentialKind,
    _facility_ids,
    _issue,
    _principal,
)
from broker.services.accounts.passwords import MAX_PASSWORD_LENGTH
from broker.services.accounts.policy import SignInPolicy
from broker.services.accounts.second_factor import _second_factor_holds
from broker.services.accounts.throttle import (
    _fail,
    _lock_streaks,
    _refuse_if_blocked,
    _Streak,
    client_key,
)
from broker.services.audit import audit_record

# a control character in a typed username (no account name has one)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# a page sign-in whose password was right waits this long for its code
PENDING_TTL = timedelta(minutes=5)

WRONG_CREDENTIALS = N_("wrong username or password")


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    principal: Principal
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SecondFactorPending:
    """A page sign-in whose password was right; the code is asked for next."""

    token: str
    expires_at: datetime


def _complete(
    *,
    session: Session,
    token_secret: bytes,
    policy: SignInPolicy,
    streaks: list[_Streak],
    user: User,
    kind: CredentialKind,
    second_factor: str | None,
    client: str,
    now: datetime,
) -> SignedIn:
    assert user.id is not None
    # the account's streak ends; the address's does not, or one valid account would let
    # its holder guess at every other from the same address
    session.delete(streaks[0].row)
    expires_at = now + policy.token_ttl
    token = _issue(
        session=session,
        token_secret=token_secret,
        user_id=user.id,
        kind=kind,
        label="page" if kind == CredentialKind.PAGE_SESSION else "login",
        now=now,
        expires_at=expires_at,
    )
    principal = _principal(user, _facility_ids(session, user.id))
    audit_record(
        session=session,
        now=now,
        actor=principal,
        action=AuditAction.AUTH_LOGIN,
        subject_type="user",
        subject_id=user.id,
        detail={"kind": kind, "second_factor": second_factor or "none", "client": client},
    )
    return SignedIn(token=token, principal=principal, expires_at=expires_at)


def sign_in(
    *,
    session: Session,
    passwords: Passwords,
    token_secret: bytes,
    policy: SignInPolicy,
    username: str,
    password: str,
    otp: str | None,
    client: str | None,
    now: datetime,
    page: bool = False,
) -> SignedIn | SecondFactorPending:
    """Check a sign-in and issue a token (an API token, or with ``page`` a page session).

    Raises :class:`RateLimited` while the account or the address is throttled,
    :class:`SignInFailed` for a wrong username or password (alike), :class:`OtpRequired` /
    :class:`OtpInvalid` for an enrolled account without the right code, and
    :class:`SecondFactorNotEnrolled` where the second factor is required and missing. On
    a page, an enrolled account with the right password and no code yet gets a
    :class:`SecondFactorPending` instead: asking for the code is no failure there.
    """
    name = username.strip().lower()[:80]
    address = client_key(client)
    streaks = _lock_streaks(
        session, token_secret=token_secret, policy=policy, username=name, client=address, now=now
    )
    # no account has a control character in its name; PostgreSQL would refuse a NUL in the
    # query, and the try must still be counted like any wrong name
    user = (
        None
        if _CONTROL.search(name)
        else session.exec(select(User).where(User.username == name)).first()
    )
    _refuse_if_blocked(session, streaks, now=now, user=user, client=address)
    ok = passwords.verify(user.password_hash if user else None, password[:MAX_PASSWORD_LENGTH])
    if user is None or user.id is None or not ok or not user.active:
        _fail(session, streaks, now=now, user=user, client=address, reason="password")
        raise SignInFailed(gettext(WRONG_CREDENTIALS))
    second_factor: str | None = None
    if user.totp_secret_ciphertext is not None:
        if not (otp or "").strip():
            if page:
                expires_at = now + PENDING_TTL
                token = _issue(
                    session=session,
                    token_secret=token_secret,
                    user_id=user.id,
                    kind=CredentialKind.SECOND_FACTOR_PENDING,
                    label="second factor pending",
                    now=now,
                    expires_at=expires_at,
                )
                return SecondFactorPending(token=token, expires_at=expires_at)
            _fail(session, streaks, now=now, user=user, client=address, reason="otp_missing")
            raise OtpRequired(
                gettext(
                    "this account has a second factor: "
                    'send the code from its authenticator app as "otp"'
                )
            )
        second_factor = _second_factor_holds(
            session, SecondFactorKeys(token_secret), user, otp or "", now
        )
        if second_factor is None:
            _fail(session, streaks, now=now, user=user, client=address, reason="otp_invalid")
            raise OtpInvalid(gettext("the code is wrong, has expired or was used already"))
    elif policy.require_second_factor:
        audit_record(
            session=session,
            now=now,
            actor=None,
            action=AuditAction.AUTH_LOGIN_REFUSED,
            subject_type="user",
            subject_id=user.id,
            detail={"reason": "no_second_factor", "client": address},
        )
        raise SecondFactorNotEnrolled(
            gettext(
                "this account has no second factor, which this broker requires: ask an "
                "administrator to enrol one ('broker users mfa enable'), then sign in with "
                "its code"
            )
        )
    return _complete(
        session=session,
        token_secret=token_secret,
        policy=policy,
        streaks=streaks,
        user=user,
        kind=CredentialKind.PAGE_SESSION if page else CredentialKind.API_TOKEN,
        second_factor=second_factor,
        client=address,
        now=now,
    )


def sign_in_second_step(
    *,
    session: Session,
    token_secret: bytes,
    policy: SignInPolicy,
    pending_token: str,
    otp: str,
    client: str | None,
    now: datetime,
) -> SignedIn:
    """The page sign-in's second step: the code for a sign-in whose password was right."""
    expired = SignInFailed(
        gettext("the sign-in has expired: enter your username and password again")
    )
    if not pending_token or len(pending_token) > 200:
        raise expired
    found = session.exec(
        select(Credential, User)
        .join(User, User.id == Credential.user_id)  # type: ignore[arg-type]
        .where(
            Credential.token_hash == token_digest(token_secret, pending_token),
            Credential.kind == CredentialKind.SECOND_FACTOR_PENDING,
        )
    ).first()
    if found is None:
        raise expired
    pending, user = found
    if (
        pending.revoked_at is not None
        or (pending.expires_at is not None and pending.expires_at <= now)
        or not user.active
        or user.totp_secret_ciphertext is None
    ):
        raise expired
    address = client_key(client)
    streaks = _lock_streaks(
        session,
        token_secret=token_secret,
        policy=policy,
        username=user.username,
        client=address,
        now=now,
    )
    _refuse_if_blocked(session, streaks, now=now, user=user, client=address)
    second_factor = _second_factor_holds(session, SecondFactorKeys(token_secret), user, otp, now)
    if second_factor is None:
        _fail(session, streaks, now=now, user=user, client=address, reason="otp_invalid")
        raise OtpInvalid(gettext("the code is wrong, has expired or was used already"))
    pending.revoked_at = now
    session.add(pending)
    return _complete(
        session=session,
        token_secret=token_secret,
        policy=policy,
        streaks=streaks,
        user=user,
        kind=CredentialKind.PAGE_SESSION,
        second_factor=second_factor,
        client=address,
        now=now,
    )
