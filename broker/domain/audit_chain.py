"""The audit log's hash chain: what each entry's MAC covers, and where a chain breaks (pure).

Entry ``n`` carries ``previous_hash`` (entry ``n-1``'s ``entry_hash``; 64 zeros for the
first) and ``entry_hash`` = HMAC-SHA256(audit key, canonical bytes of the entry). The key
lives outside the database, so whoever can write to the database still cannot make a
changed entry, or one put in another place, verify again.

A chain alone cannot show that its newest entries were removed: what is left is still a
valid chain. The chain head (the sequence and hash of the newest entry, with a MAC of its
own) is written in the same transaction as every entry, and :func:`first_break` compares
the end of the chain with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
# Tells a head MAC from an entry MAC: the two canonical forms can never be the same bytes.
_HEAD_LABEL = "audit-chain-head"


class AuditAction(StrEnum):
    """Everything the log records. Audit entries and the auditor's filter accept only these."""

    ADDRESS_READ = "address.read"
    ADDRESS_WRITE = "address.write"
    AUTH_API_KEY_CREATE = "auth.api_key_create"
    AUTH_LOCKED = "auth.locked"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGIN_REFUSED = "auth.login_refused"
    AUTH_LOGIN_THROTTLED = "auth.login_throttled"
    AUTH_MFA_DISABLE = "auth.mfa_disable"
    AUTH_MFA_ENABLE = "auth.mfa_enable"
    AUTH_RECOVERY_CODE_USED = "auth.recovery_code_used"
    AUTH_REVOKE_ALL = "auth.revoke_all"
    AUTH_UNLOCK = "auth.unlock"
    CAPACITY_REPORT = "capacity.report"
    FACILITY_CREATE = "facility.create"
    FACILITY_UPDATE = "facility.update"
    HOLD_CONFIRM = "hold.confirm"
    HOLD_CREATE = "hold.create"
    HOLD_DECLINE = "hold.decline"
    HOLD_RELEASE = "hold.release"
    OPERATOR_POLICY = "operator.policy"
    PLACEMENT_DEPART = "placement.depart"
    PLAN_APPLY = "plan.apply"
    PLAN_CREATE = "plan.create"
    POLICE_INQUIRY = "police.inquiry"
    POLICE_INQUIRY_REFUSED = "police.inquiry_refused"
    USER_CREATE = "user.create"
    WAITLIST_ADD = "waitlist.add"
    WAITLIST_REMOVE = "waitlist.remove"
    WEBHOOK_SET = "webhook.set"


def canonical_time(at: datetime) -> str:
    """ISO 8601 in UTC to the microsecond; a naive time is taken to be UTC already."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def canonical_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """The detail as it reads back from a JSON column: string keys, lists for tuples.

    Stored and hashed in this form, so that what is read back hashes as it did when written.
    """
    normalised: dict[str, Any] = json.loads(json.dumps(dict(detail or {}), allow_nan=False))
    return normalised


@dataclass(frozen=True, slots=True)
class EntryFields:
    """What an entry's MAC covers: everything but the row id and the MAC itself."""

    sequence: int
    at: datetime
    actor_user_id: int | None
    actor_role: str
    action: str
    subject_type: str
    subject_id: str
    detail: Mapping[str, Any]
    previous_hash: str

    def canonical(self) -> bytes:
        # A JSON array: every field in a fixed place, strings quoted, no separator to forge.
        return json.dumps(
            [
                self.sequence,
                canonical_time(self.at),
                self.actor_user_id,
                self.actor_role,
                self.action,
                self.subject_type,
                self.subject_id,
                dict(self.detail),
                self.previous_hash,
            ],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")


def entry_mac(key: bytes, fields: EntryFields) -> str:
    return hmac.new(key, fields.canonical(), hashlib.sha256).hexdigest()


def head_mac(key: bytes, *, sequence: int, entry_hash: str) -> str:
    message = json.dumps([_HEAD_LABEL, sequence, entry_hash], separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One stored entry as read back: its row id, the covered fields and its MAC."""

    id: int
    fields: EntryFields
    entry_hash: str

    @property
    def sequence(self) -> int:
        return self.fields.sequence


@dataclass(frozen=True, slots=True)
class ChainHead:
    sequence: int
    entry_hash: str
    mac: str


class Problem(StrEnum):
    CHANGED = "changed"  # the entry's MAC does not match its content
    MISSING = "missing"  # sequence numbers skip: entries were deleted
    OUT_OF_ORDER = "out_of_order"  # the entry was chained after another entry than this one
    BAD_LINK = "bad_link"  # a genuine entry whose predecessor is not the one it names
    HEAD_MISMATCH = "head_mismatch"  # the chain head is missing, altered, or names another end


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain is broken.

    ``sequence`` is where the chain stops being intact (for missing entries: the first
    missing sequence number); ``entry_id`` is the row found there, if any.
    """

    sequence: int
    entry_id: int | None
    problem: Problem
    message: str


@dataclass(frozen=True, slots=True)
class ChainSummary:
    """An intact chain: how many entries, and the newest entry's hash."""

    count: int
    last_hash: str


HashLocator = Callable[[str], int | None]


def _entry_problem(
    entry: ChainEntry, *, key: bytes, previous_hash: str, locate: HashLocator | None
) -> ChainBreak | None:
    sequence = entry.sequence
    if not hmac.compare_digest(entry_mac(key, entry.fields), entry.entry_hash):
        # Content moved from elsewhere in the chain still names its own predecessor.
        linked_to = locate(entry.fields.previous_hash) if locate else None
        if linked_to is not None and entry.fields.previous_hash != previous_hash:
            return ChainBreak(
                sequence,
                entry.id,
                Problem.OUT_OF_ORDER,
                f"entry {sequence} (id {entry.id}) was chained after the entry now at "
                f"sequence {linked_to}, not after entry {sequence - 1}",
            )
        return ChainBreak(
            sequence,
            entry.id,
            Problem.CHANGED,
            f"entry {sequence} (id {entry.id}) was changed: its MAC does not match its content",
        )
    if entry.fields.previous_hash != previous_hash:
        return ChainBreak(
            sequence,
            entry.id,
            Problem.BAD_LINK,
            f"entry {sequence} (id {entry.id}) does not name entry {sequence - 1} "
            "as its predecessor",
        )
    return None


def _head_problem(
    head: ChainHead | None, *, key: bytes, count: int, last_hash: str, last_id: int | None
) -> ChainBreak | None:
    # Every entry up to ``count`` is sound here; what is wrong lies after it.
    after = count + 1
    if head is None:
        if count == 0:
            return None
        return ChainBreak(after, None, Problem.HEAD_MISMATCH, "the chain head is missing")
    if not hmac.compare_digest(
        head_mac(key, sequence=head.sequence, entry_hash=head.entry_hash), head.mac
    ):
        return ChainBreak(
            after,
            None,
            Problem.HEAD_MISMATCH,
            f"the chain head was changed (its MAC does not match); the chain is sound "
            f"up to entry {count}",
        )
    if head.sequence > count:
        missing = (
            f"entry {after} is missing"
            if head.sequence == after
            else f"entries {after} to {head.sequence} are missing"
        )
        return ChainBreak(
            after,
            None,
            Problem.MISSING,
            f"{missing} (deleted from the end): the chain head names entry {head.sequence}, "
            f"the chain ends at entry {count}",
        )
    if head.sequence < count:
        return ChainBreak(
            head.sequence + 1,
            None,
            Problem.HEAD_MISMATCH,
            f"the chain runs on to entry {count}, past its head at entry {head.sequence}",
        )
    if head.entry_hash != last_hash:
        return ChainBreak(
            count,
            last_id,
            Problem.HEAD_MISMATCH,
            f"the chain head names another entry {count} than the one stored (id {last_id})",
        )
    return None


def first_break(
    entries: Iterable[ChainEntry],
    *,
    key: bytes,
    head: ChainHead | None,
    locate: HashLocator | None = None,
) -> ChainBreak | ChainSummary:
    """Walk ``entries`` in sequence order and return the first break, or a summary.

    ``locate`` (entry hash -> sequence of the entry carrying it) is asked only about the
    first entry whose MAC fails, to tell an entry moved within the chain from one changed.
    """
    previous_hash, expected, last_id = GENESIS_HASH, 1, None
    for entry in entries:
        if entry.sequence > expected:
            missing = (
                f"entry {expected} is missing"
                if entry.sequence == expected + 1
                else f"entries {expected} to {entry.sequence - 1} are missing"
            )
            before = (
                f"entry {expected - 1} is followed by" if expected > 1 else "the chain starts at"
            )
            return ChainBreak(
                expected,
                entry.id,
                Problem.MISSING,
                f"{missing} (deleted): {before} entry {entry.sequence} (id {entry.id})",
            )
        if entry.sequence < expected:
            return ChainBreak(
                entry.sequence,
                entry.id,
                Problem.OUT_OF_ORDER,
                f"entry {entry.sequence} (id {entry.id}) appears again after entry {expected - 1}",
            )
        problem = _entry_problem(entry, key=key, previous_hash=previous_hash, locate=locate)
        if problem is not None:
            return problem
        previous_hash, expected, last_id = entry.entry_hash, expected + 1, entry.id
    count = expected - 1
    head_problem = _head_problem(
        head, key=key, count=count, last_hash=previous_hash, last_id=last_id
    )
    if head_problem is not None:
        return head_problem
    return ChainSummary(count=count, last_hash=previous_hash)
