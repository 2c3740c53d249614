"""Recording who did what in the hash-chained audit log, checking the chain, reading it back.

Details carry ids and counts, never an address or a name.

:func:`audit_record` only queues an entry on the session: the queued entries are numbered,
chained and inserted just before the transaction commits, under the chain lock (PostgreSQL:
an advisory lock and the head row ``FOR UPDATE``; SQLite: the writer's lock that every
write transaction holds). Taking that lock last of all means that a transaction holding it
waits for nothing else, so it cannot close a deadlock with one that holds a facility or a
hold and waits for the chain; and it is held for no longer than the commit. Two
transactions therefore never take the same sequence number or fork the chain; the unique
index on ``sequence`` would refuse it if they tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from broker.db.engine import AUDIT_KEY_INFO
from broker.db.models import AuditChainHead, AuditEvent
from broker.domain.access import Principal
from broker.domain.audit_chain import (
    GENESIS_HASH,
    AuditAction,
    ChainBreak,
    ChainEntry,
    ChainHead,
    ChainSummary,
    EntryFields,
    canonical_detail,
    entry_mac,
    first_break,
    head_mac,
)
from broker.errors import ConfigurationError, InvalidInput
from broker.i18n import gettext

_PENDING_INFO = "broker.audit_pending"
# The one PostgreSQL advisory lock of the audit chain (any fixed number no one else uses).
CHAIN_LOCK_ID = 0x61756469745F6368
PAGE_DEFAULT, PAGE_MAX = 50, 500
_VERIFY_BATCH = 1000


def audit_record(
    *,
    session: Session,
    now: datetime,
    actor: Principal | None,
    action: AuditAction,
    subject_type: str = "",
    subject_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Queue one entry; it is chained and written when the session commits."""
    if not session.info.get(AUDIT_KEY_INFO):
        raise ConfigurationError(
            "this unit of work has no audit key; open it with the key from the settings"
        )
    event = AuditEvent(
        at=now,
        actor_user_id=actor.user_id if actor else None,
        actor_role=actor.role.value if actor else "",
        action=AuditAction(action).value,
        subject_type=subject_type,
        subject_id=str(subject_id),
        detail=canonical_detail(detail),
        # numbered and hashed when the session commits (_append)
        sequence=0,
        previous_hash="",
        entry_hash="",
    )
    session.info.setdefault(_PENDING_INFO, []).append(event)
    return event


def _fields(event: AuditEvent | sa.Row[Any]) -> EntryFields:
    """What the MAC covers, from an entry being written or a row read back."""
    return EntryFields(
        sequence=event.sequence,
        at=event.at,
        actor_user_id=event.actor_user_id,
        actor_role=event.actor_role,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        detail=event.detail,
        previous_hash=event.previous_hash,
    )


def _locked_head(session: OrmSession) -> AuditChainHead | None:
    if session.get_bind().dialect.name == "postgresql":
        # The head row may not exist yet (an empty chain): the advisory lock covers that.
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_ID)))
    statement = (
        sa.select(AuditChainHead)
        .where(col(AuditChainHead.id) == 1)
        .with_for_update()
        # a session that committed before still holds the head it saw then
        .execution_options(populate_existing=True)
    )
    head: AuditChainHead | None = session.scalars(statement).first()
    return head


def _append(session: OrmSession, events: list[AuditEvent], key: bytes) -> None:
    head = _locked_head(session)
    sequence, previous_hash = (head.sequence, head.entry_hash) if head else (0, GENESIS_HASH)
    for event in events:
        sequence += 1
        event.sequence, event.previous_hash = sequence, previous_hash
        event.entry_hash = entry_mac(key, _fields(event))
        previous_hash = event.entry_hash
    session.add_all(events)
    if head is None:
        head = AuditChainHead(id=1, sequence=0, entry_hash=GENESIS_HASH, mac="")
    head.sequence, head.entry_hash = sequence, previous_hash
    head.mac = head_mac(key, sequence=sequence, entry_hash=previous_hash)
    session.add(head)
    session.flush()


@sa.event.listens_for(OrmSession, "before_commit")
def _chain_pending_entries(session: OrmSession) -> None:
    pending: list[AuditEvent] | None = session.info.pop(_PENDING_INFO, None)
    if pending:
        _append(session, pending, session.info[AUDIT_KEY_INFO])


@sa.event.listens_for(OrmSession, "after_soft_rollback")
def _drop_pending_entries(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_PENDING_INFO, None)


# --- checking the chain -------------------------------------------------------------------


def _entries_in_order(session: Session) -> Iterator[ChainEntry]:
    """Every entry by sequence (then id, so that a duplicated sequence is not skipped), read
    in batches of plain rows so that a long chain is never held in memory at once."""
    events = AuditEvent.__table__  # type: ignore[attr-defined]
    last: tuple[int, int] | None = None
    while True:
        statement = sa.select(events).order_by(events.c.sequence, events.c.id)
        if last is not None:
            statement = statement.where(
                sa.or_(
                    events.c.sequence > last[0],
                    sa.and_(events.c.sequence == last[0], events.c.id > last[1]),
                )
            )
        batch = session.execute(statement.limit(_VERIFY_BATCH)).all()
        for row in batch:
            yield ChainEntry(id=row.id, fields=_fields(row), entry_hash=row.entry_hash)
        if len(batch) < _VERIFY_BATCH:
            return
        last = (batch[-1].sequence, batch[-1].id)


def _sequence_of_hash(session: Session, entry_hash: str) -> int | None:
    found: int | None = session.exec(
        select(AuditEvent.sequence).where(AuditEvent.entry_hash == entry_hash)
    ).first()
    return found


def audit_chain_verify(*, session: Session, key: bytes) -> ChainBreak | ChainSummary:
    """Recompute every MAC and link, and compare the chain's end with its head.

    The session should see one snapshot throughout (PostgreSQL: REPEATABLE READ; a SQLite
    transaction always does), or entries appended meanwhile are seen without their head.
    """
    stored = session.get(AuditChainHead, 1)
    head = ChainHead(stored.sequence, stored.entry_hash, stored.mac) if stored else None
    return first_break(
        _entries_in_order(session),
        key=key,
        head=head,
        locate=lambda entry_hash: _sequence_of_hash(session, entry_hash),
    )


# --- reading the log ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Entries match every given field; ``since`` is inclusive, ``until`` exclusive."""

    action: str | None = None
    actor_user_id: int | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntryView:
    sequence: int
    at: datetime
    actor_user_id: int | None
    actor_role: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]
    previous_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntryView]
    next: int | None  # pass as ``after`` for the next page; None on the last page


_KNOWN_ACTIONS = tuple(sorted(action.value for action in AuditAction))


def _utc(value: datetime | None) -> datetime | None:
    # a time without an offset is read as UTC, as every time the broker stores
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _invalid(field: str, message: str) -> InvalidInput:
    """A refused filter: ``message`` is said in the reader's language, ``field`` never is."""
    return InvalidInput(
        gettext("{field}: {message}").format(field=field, message=message),
        details=[{"field": field, "message": message}],
    )


def _conditions(filters: AuditFilter) -> list[Any]:
    since, until = _utc(filters.since), _utc(filters.until)
    if since is not None and until is not None and until <= since:
        raise _invalid("until", gettext("must be later than since"))
    if filters.action is not None and filters.action not in _KNOWN_ACTIONS:
        raise _invalid(
            "action",
            gettext("{action} is not an audit action; one of: {actions}").format(
                action=repr(filters.action), actions=", ".join(_KNOWN_ACTIONS)
            ),
        )
    conditions: list[Any] = []
    for column, value in (
        (AuditEvent.action, filters.action),
        (AuditEvent.actor_user_id, filters.actor_user_id),
        (AuditEvent.subject_type, filters.subject_type),
        (AuditEvent.subject_id, filters.subject_id),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if since is not None:
        conditions.append(col(AuditEvent.at) >= since)
    if until is not None:
        conditions.append(col(AuditEvent.at) < until)
    return conditions


def audit_entries(
    *,
    session: Session,
    filters: AuditFilter,
    limit: int = PAGE_DEFAULT,
    after: int | None = None,
    offset: int = 0,
) -> AuditPage:
    """One page of matching entries in chain order; ``after`` is a sequence cursor."""
    if not 1 <= limit <= PAGE_MAX:
        raise _invalid("limit", gettext("must be 1 to {max}").format(max=PAGE_MAX))
    if offset < 0:
        raise _invalid("offset", gettext("must not be negative"))
    if after is not None and after < 0:
        raise _invalid("after", gettext("must not be negative"))
    if after is not None and offset:
        raise _invalid("offset", gettext("give either after or offset, not both"))
    statement = select(AuditEvent).where(*_conditions(filters))
    if after is not None:
        statement = statement.where(col(AuditEvent.sequence) > after)
    rows = session.exec(
        statement.order_by(col(AuditEvent.sequence)).offset(offset).limit(limit + 1)
    ).all()
    entries = [
        AuditEntryView(
            sequence=row.sequence,
            at=row.at,
            actor_user_id=row.actor_user_id,
            actor_role=row.actor_role,
            action=row.action,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            detail=row.detail,
            previous_hash=row.previous_hash,
            entry_hash=row.entry_hash,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return AuditPage(entries=entries, next=entries[-1].sequence if more else None)
