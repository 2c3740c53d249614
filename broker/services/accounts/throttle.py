"""Login throttling: the failed sign-in streaks of an account and of a client address.

A sign-in is throttled per account and per client address (the rule is in
:mod:`broker.domain.login_throttle`). Both streak rows are locked (account first, then
address: one order for every sign-in, so two never wait for each other in a circle) before
the password is checked, and stay locked until the sign-in commits, so parallel guesses for
one account or from one address are counted one after the other and none slips past the
limit. An unknown username has a streak of its own and costs one argon2 verification like
a known one, so the answers and their timing do not tell whether an account exists.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from broker.crypto import derive_key
from broker.db.models import LoginThrottle, User
from broker.domain.audit_chain import AuditAction
from broker.domain.login_throttle import (
    ThrottlePolicy,
    ThrottleState,
    record_failure,
    retry_after_seconds,
)
from broker.errors import RateLimited
from broker.i18n import gettext, ngettext
from broker.services.accounts._common import _user_named
from broker.services.accounts.policy import SignInPolicy
from broker.services.audit import audit_record


def client_key(client: str | None) -> str:
    """The address a client is throttled by: an IPv6 client by its /64, the network one
    household or host is given, so that it cannot step through addresses."""
    text = (client or "").strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _subject(token_secret: bytes, scope: str, value: str) -> str:
    key = derive_key(token_secret, "broker/login-throttle/v1")
    return hmac.new(key, f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(slots=True)
class _Streak:
    row: LoginThrottle
    policy: ThrottlePolicy

    @property
    def state(self) -> ThrottleState:
        return ThrottleState(
            failures=self.row.failures,
            blocked_until=self.row.blocked_until,
            expires_at=self.row.expires_at,
        )

    def set(self, state: ThrottleState, now: datetime) -> None:
        self.row.failures = state.failures
        self.row.blocked_until = state.blocked_until
        self.row.expires_at = state.expires_at or now


def _prune(session: Session, now: datetime) -> None:
    """Forget a few ended streaks; rows another sign-in holds are skipped, not waited for."""
    stale = session.exec(
        select(LoginThrottle.subject)
        .where(LoginThrottle.expires_at <= now)
        .limit(50)
        .with_for_update(skip_locked=True)
    ).all()
    if stale:
        session.execute(sa.delete(LoginThrottle).where(col(LoginThrottle.subject).in_(stale)))


def _locked_streak(
    session: Session, subject: str, scope: str, policy: ThrottlePolicy, now: datetime
) -> _Streak:
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(LoginThrottle)
        .values(subject=subject, scope=scope, failures=0, blocked_until=None, expires_at=now)
        .on_conflict_do_nothing(index_elements=["subject"])
    )
    row = session.exec(
        select(LoginThrottle)
        .where(LoginThrottle.subject == subject)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return _Streak(row=row, policy=policy)


def _lock_streaks(
    session: Session,
    *,
    token_secret: bytes,
    policy: SignInPolicy,
    username: str,
    client: str,
    now: datetime,
) -> list[_Streak]:
    _prune(session, now)
    return [
        _locked_streak(
            session, _subject(token_secret, "account", username), "account", policy.account, now
        ),
        _locked_streak(
            session, _subject(token_secret, "address", client), "address", policy.address, now
        ),
    ]


def _count_failure(
    session: Session,
    streaks: list[_Streak],
    *,
    now: datetime,
    user: User | None,
    client: str,
) -> None:
    for streak in streaks:
        after = record_failure(streak.policy, streak.state, now)
        streak.set(after.state, now)
        session.add(streak.row)
        if after.locked_now:
            # an account's lock names the user (nothing for an unknown name), an address's
            # lock names the address
            if streak.row.scope == "account":
                subject_type, subject_id = "user", (user.id or "") if user else ""
            else:
                subject_type, subject_id = "client", client
            audit_record(
                session=session,
                now=now,
                actor=None,
                action=AuditAction.AUTH_LOCKED,
                subject_type=subject_type,
                subject_id=subject_id,
                detail={
                    "scope": streak.row.scope,
                    "failures": after.state.failures,
                    "until": after.state.blocked_until.isoformat()
                    if after.state.blocked_until
                    else None,
                },
            )


def wait_text(seconds: int) -> str:
    """A wait in words: seconds below two minutes, else whole minutes (rounded up)."""
    if seconds < 120:
        return ngettext("{count} second", "{count} seconds", seconds).format(count=seconds)
    minutes = (seconds + 59) // 60
    return ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes)


def _refuse_if_blocked(
    session: Session,
    streaks: list[_Streak],
    *,
    now: datetime,
    user: User | None,
    client: str,
) -> None:
    """A try while blocked is not heard, counts as one more failure, and is audited."""
    blocked = [streak for streak in streaks if streak.state.wait(now) is not None]
    if not blocked:
        return
    _count_failure(session, blocked, now=now, user=user, client=client)
    waits = [streak.state.wait(now) for streak in blocked]
    seconds = max(retry_after_seconds(wait) for wait in waits if wait is not None)
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_LOGIN_THROTTLED,
        subject_type="user",
        subject_id=(user.id or "") if user else "",
        detail={"client": client, "scopes": [s.row.scope for s in blocked], "wait": seconds},
    )
    raise RateLimited(
        gettext("too many failed sign-ins: try again in {wait}").format(wait=wait_text(seconds)),
        retry_after_seconds=seconds,
    )


def _fail(
    session: Session,
    streaks: list[_Streak],
    *,
    now: datetime,
    user: User | None,
    client: str,
    reason: str,
) -> None:
    _count_failure(session, streaks, now=now, user=user, client=client)
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_LOGIN_FAILED,
        subject_type="user",
        subject_id=(user.id or "") if user else "",
        detail={"reason": reason, "client": client, "failures": streaks[0].row.failures},
    )


def unlock(*, session: Session, token_secret: bytes, username: str, now: datetime) -> bool:
    """End an account's failed sign-in streak (and its lock); True if it had one."""
    user = _user_named(session, username)
    row = session.get(LoginThrottle, _subject(token_secret, "account", user.username))
    had = row is not None and row.failures > 0 and row.expires_at > now
    if row is not None:
        session.delete(row)
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_UNLOCK,
        subject_type="user",
        subject_id=user.id or "",
        detail={"had_streak": had},
    )
    return had
