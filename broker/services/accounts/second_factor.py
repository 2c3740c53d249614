"""The second factor: enrolling and removing a TOTP authenticator with its recovery
codes, and checking a code at sign-in (each TOTP step and recovery code counts once).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.crypto import SecondFactorKeys
from broker.db.models import RecoveryCode, User
from broker.domain.audit_chain import AuditAction
from broker.errors import Conflict
from broker.i18n import gettext
from broker.services.accounts._common import _user_named
from broker.services.audit import audit_record

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
# codes of the neighbouring time steps are accepted too: phone clocks drift
TOTP_SKEW_STEPS = 1
TOTP_ISSUER = "Shelter broker"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 10  # about 49 bits each


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What ``broker users mfa enable`` prints once; nothing here is stored in the clear."""

    uri: str
    recovery_codes: list[str]


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
            gettext(
                "'{username}' has a second factor already; enable it with --replace to issue "
                "a new one (the old authenticator and recovery codes stop working)"
            ).format(username=user.username)
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
        raise Conflict(gettext("'{username}' has no second factor").format(username=user.username))
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
