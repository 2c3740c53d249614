"""Users, sign-ins, session tokens, API keys and the second factor.

Tokens are random secrets handed out once; the database keeps only their keyed hash.
An API login token expires after the configured time; a page session also ends after
``session_idle`` without use; an API key lives until revoked.

A sign-in is throttled per account and per client address (the rule is in
:mod:`broker.domain.login_throttle`). Both streak rows are locked (account first, then
address: one order for every sign-in, so two never wait for each other in a circle) before
the password is checked, and stay locked until the sign-in commits, so parallel guesses for
one account or from one address are counted one after the other and none slips past the
limit. An unknown username has a streak of its own and costs one argon2 verification like
a known one, so the answers and their timing do not tell whether an account exists.

Every refused sign-in raises an error that keeps its trace (``keeps_trace``): the request's
unit of work commits the counted failure and its audit entry before answering.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from broker.crypto import (
    Passwords,
    SecondFactorKeys,
    derive_key,
    new_token,
    token_digest,
)
from broker.db.models import Credential, Facility, LoginThrottle, RecoveryCode, User, UserFacility
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import AuditAction
from broker.domain.login_throttle import (
    ThrottlePolicy,
    ThrottleState,
    record_failure,
    retry_after_seconds,
)
from broker.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    OtpInvalid,
    OtpRequired,
    RateLimited,
    SecondFactorNotEnrolled,
    SignInFailed,
)
from broker.services.audit import audit_record
from broker.settings import PROJECT_ROOT, Settings

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS_FILE = "common_passwords.txt"

# a control character in a typed username (no account name has one)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# credential kinds
API_TOKEN = "session"  # from POST /api/v1/auth/token (the name predates page sessions)
PAGE_SESSION = "page"
SECOND_FACTOR_PENDING = "mfa_pending"
API_KEY = "api_key"

# a page sign-in whose password was right waits this long for its code
PENDING_TTL = timedelta(minutes=5)
# a page session's last use is written no more often than this (a session may therefore
# end up to this much before its idle limit)
TOUCH_EVERY = timedelta(minutes=1)

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
# codes of the neighbouring time steps are accepted too: phone clocks drift
TOTP_SKEW_STEPS = 1
TOTP_ISSUER = "Shelter broker"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 10  # about 49 bits each

WRONG_CREDENTIALS = "wrong username or password"


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    account: ThrottlePolicy
    address: ThrottlePolicy
    token_ttl: timedelta
    session_idle: timedelta
    require_second_factor: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        def throttle(free: int) -> ThrottlePolicy:
            return ThrottlePolicy(
                free_failures=free,
                window=timedelta(minutes=settings.login_window_minutes),
                first_delay=timedelta(seconds=settings.login_delay_seconds),
                lock_after=settings.login_lock_after,
                lock_for=timedelta(minutes=settings.login_lock_minutes),
            )

        return cls(
            account=throttle(settings.login_free_failures),
            address=throttle(settings.login_address_free_failures),
            token_ttl=timedelta(minutes=settings.token_ttl_minutes),
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            require_second_factor=settings.is_production,
        )


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


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What ``broker users mfa enable`` prints once; nothing here is stored in the clear."""

    uri: str
    recovery_codes: list[str]


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
        raise NotFound(f"no user '{username}'")
    return user


# --- passwords --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _read_common_passwords(path: Path) -> frozenset[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"the list of common passwords is missing: {path}") from exc
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )


def common_passwords(data_dir: Path | None = None) -> frozenset[str]:
    """The refused passwords: ``data_dir``'s list if it has one, else the shipped one."""
    if data_dir is not None and (data_dir / COMMON_PASSWORDS_FILE).exists():
        return _read_common_passwords(data_dir / COMMON_PASSWORDS_FILE)
    return _read_common_passwords(PROJECT_ROOT / "data" / COMMON_PASSWORDS_FILE)


def password_problem(password: str, *, common: frozenset[str]) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must have at most {MAX_PASSWORD_LENGTH} characters"
    if password.casefold() in common or password.strip().casefold() in common:
        return "password is on the list of common passwords; choose a less guessable one"
    return None


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
    refused_passwords: frozenset[str] | None = None,
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
    if password is not None:
        problem = password_problem(
            password,
            common=common_passwords() if refused_passwords is None else refused_passwords,
        )
        if problem is not None:
            raise InvalidInput(problem)
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
            last_used_at=now if kind == PAGE_SESSION else None,
        )
    )
    return token


# --- throttling -------------------------------------------------------------------------


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
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


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
        f"too many failed sign-ins: try again in {wait_text(seconds)}",
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


# --- second factor ----------------------------------------------------------------------


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = _totp(secret)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in range(current - TOTP_SKEW_STEPS, current + TOTP_SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(session: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as used unless it, or a later one, was used already. The condition
    is in the UPDATE, so of two sign-ins racing with one code only one changes the row."""
    result: Any = session.execute(
        sa.update(User)
        .where(
            col(User.id) == user_id,
            sa.or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def _normalised_recovery_code(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _use_recovery_code(
    session: Session, keys: SecondFactorKeys, user_id: int, code: str, now: datetime
) -> bool:
    result: Any = session.execute(
        sa.update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == keys.recovery_digest(user_id, code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def _second_factor_holds(
    session: Session, keys: SecondFactorKeys, user: User, otp: str, now: datetime
) -> str | None:
    """Which second factor was accepted ("totp", "recovery_code"), or None."""
    assert user.id is not None and user.totp_secret_ciphertext is not None
    code = "".join(otp.split())
    if len(code) == TOTP_DIGITS and code.isdigit():
        secret = keys.open_secret(user.id, user.totp_secret_ciphertext)
        step = _matching_step(secret, code, now)
        if step is not None and _claim_step(session, user.id, step):
            return "totp"
        return None
    recovery = _normalised_recovery_code(code)
    if len(recovery) == _RECOVERY_LENGTH and _use_recovery_code(
        session, keys, user.id, recovery, now
    ):
        left = session.exec(
            select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
        ).one()
        audit_record(
            session=session,
            now=now,
            actor=None,
            action=AuditAction.AUTH_RECOVERY_CODE_USED,
            subject_type="user",
            subject_id=user.id,
            detail={"left": int(left)},
        )
        return "recovery_code"
    return None


def mfa_enable(
    *,
    session: Session,
    token_secret: bytes,
    username: str,
    now: datetime,
    replace: bool = False,
) -> Enrolment:
    """Enrol a second factor: a new TOTP secret (stored encrypted) and ten recovery codes
    (stored as keyed hashes). The URI and the codes exist only in the returned value."""
    user = _user_named(session, username)
    assert user.id is not None
    if user.totp_secret_ciphertext is not None and not replace:
        raise Conflict(
            f"'{user.username}' has a second factor already; enable it with --replace to "
            "issue a new one (the old authenticator and recovery codes stop working)"
        )
    keys = SecondFactorKeys(token_secret)
    secret = pyotp.random_base32()
    user.totp_secret_ciphertext = keys.seal_secret(user.id, secret)
    user.mfa_enabled_at = now
    user.totp_last_step = None
    session.add(user)
    session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    for code in codes:
        session.add(
            RecoveryCode(
                user_id=user.id, code_hash=keys.recovery_digest(user.id, code), created_at=now
            )
        )
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_MFA_ENABLE,
        subject_type="user",
        subject_id=user.id,
        detail={"replaced": replace, "recovery_codes": len(codes)},
    )
    return Enrolment(
        uri=_totp(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER),
        recovery_codes=[f"{code[:5]}-{code[5:]}" for code in codes],
    )


def mfa_disable(*, session: Session, username: str, now: datetime) -> None:
    user = _user_named(session, username)
    if user.totp_secret_ciphertext is None:
        raise Conflict(f"'{user.username}' has no second factor")
    user.totp_secret_ciphertext = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    session.add(user)
    session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    audit_record(
        session=session,
        now=now,
        actor=None,
        action=AuditAction.AUTH_MFA_DISABLE,
        subject_type="user",
        subject_id=user.id or "",
    )


# --- signing in -------------------------------------------------------------------------


def _complete(
    *,
    session: Session,
    token_secret: bytes,
    policy: SignInPolicy,
    streaks: list[_Streak],
    user: User,
    kind: str,
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
        label="page" if kind == PAGE_SESSION else "login",
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
        raise SignInFailed(WRONG_CREDENTIALS)
    second_factor: str | None = None
    if user.totp_secret_ciphertext is not None:
        if not (otp or "").strip():
            if page:
                expires_at = now + PENDING_TTL
                token = _issue(
                    session=session,
                    token_secret=token_secret,
                    user_id=user.id,
                    kind=SECOND_FACTOR_PENDING,
                    label="second factor pending",
                    now=now,
                    expires_at=expires_at,
                )
                return SecondFactorPending(token=token, expires_at=expires_at)
            _fail(session, streaks, now=now, user=user, client=address, reason="otp_missing")
            raise OtpRequired(
                'this account has a second factor: send the code from its authenticator app as "otp"'
            )
        second_factor = _second_factor_holds(
            session, SecondFactorKeys(token_secret), user, otp or "", now
        )
        if second_factor is None:
            _fail(session, streaks, now=now, user=user, client=address, reason="otp_invalid")
            raise OtpInvalid("the code is wrong, has expired or was used already")
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
            "this account has no second factor, which this broker requires: ask an "
            "administrator to enrol one ('broker users mfa enable'), then sign in with its code"
        )
    return _complete(
        session=session,
        token_secret=token_secret,
        policy=policy,
        streaks=streaks,
        user=user,
        kind=PAGE_SESSION if page else API_TOKEN,
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
    expired = SignInFailed("the sign-in has expired: enter your username and password again")
    if not pending_token or len(pending_token) > 200:
        raise expired
    found = session.exec(
        select(Credential, User)
        .join(User, User.id == Credential.user_id)  # type: ignore[arg-type]
        .where(
            Credential.token_hash == token_digest(token_secret, pending_token),
            Credential.kind == SECOND_FACTOR_PENDING,
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
        raise OtpInvalid("the code is wrong, has expired or was used already")
    pending.revoked_at = now
    session.add(pending)
    return _complete(
        session=session,
        token_secret=token_secret,
        policy=policy,
        streaks=streaks,
        user=user,
        kind=PAGE_SESSION,
        second_factor=second_factor,
        client=address,
        now=now,
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
        kind=API_KEY,
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
    if credential.kind == SECOND_FACTOR_PENDING or credential.id is None:
        return None
    if credential.expires_at is not None and credential.expires_at <= now:
        return None
    touch_due = False
    if credential.kind == PAGE_SESSION:
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
