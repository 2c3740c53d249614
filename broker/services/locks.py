"""Row locks for read-then-write services, taken in one order by every service.

Every service that decides on what it read locks those rows first, and always in this
order, so two requests can wait for each other only one way and never deadlock:

    waiting-list entries (by id)  ->  placements  ->  holds  ->  facilities (by ascending id)
        ->  registry revision  ->  audit chain

A waiting-list entry comes first: it is a family's request, the outermost thing a write
decides on (a hold made for an entry would lock the entry, then the facility it reserves).
The matching job locks every open entry, by id, before it reads what is free; removing an
entry locks that one entry. Neither locks anything further down the order.

The last two are taken by the flush of a changed facility and by the commit, so a service
locks every facility it will change before it changes the first one.

PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite ignores that clause, but a writing unit of work
there starts with ``BEGIN IMMEDIATE`` and so holds the database's one write lock already.
``populate_existing`` makes the locked read replace whatever this session loaded before the
lock was granted: a decision is never made on a row read before another writer committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from broker.db.models import Facility, Hold, Placement, WaitlistEntry
from broker.domain.states import HoldState, WaitlistState
from broker.errors import NotFound
from broker.i18n import gettext


def _locked(statement: Any) -> Any:
    return statement.with_for_update().execution_options(populate_existing=True)


def lock_placement(session: Session, placement_id: str) -> Placement:
    row = session.exec(_locked(select(Placement).where(Placement.id == placement_id))).first()
    if row is None:
        raise NotFound(gettext("no placement with id {id}").format(id=placement_id))
    return row  # type: ignore[no-any-return]


def lock_placements(session: Session, placement_ids: Iterable[str]) -> None:
    ids = sorted(set(placement_ids))
    if ids:
        session.exec(
            _locked(select(Placement).where(col(Placement.id).in_(ids)).order_by(col(Placement.id)))
        ).all()


def lock_hold(session: Session, hold_id: str) -> Hold:
    row = session.exec(_locked(select(Hold).where(Hold.id == hold_id))).first()
    if row is None:
        raise NotFound(gettext("no hold with id {id}").format(id=hold_id))
    return row  # type: ignore[no-any-return]


def lock_open_transfer_holds(session: Session, placement_id: str) -> list[Hold]:
    """The stay's transfer holds still marked open (some may have expired meanwhile)."""
    return list(
        session.exec(
            _locked(
                select(Hold)
                .where(
                    Hold.transfer_from_placement_id == placement_id, Hold.state == HoldState.OPEN
                )
                .order_by(col(Hold.id))
            )
        ).all()
    )


def lock_expired_holds(session: Session, now: datetime) -> list[Hold]:
    return list(
        session.exec(
            _locked(
                select(Hold)
                .where(Hold.state == HoldState.OPEN, Hold.expires_at <= now)
                .order_by(col(Hold.id))
            )
        ).all()
    )


def lock_facilities(session: Session, facility_ids: Iterable[int]) -> dict[int, Facility]:
    """Lock the facilities in ascending id order; every id must exist."""
    ids = sorted(set(facility_ids))
    if not ids:
        return {}
    rows = session.exec(
        _locked(select(Facility).where(col(Facility.id).in_(ids)).order_by(col(Facility.id)))
    ).all()
    found = {row.id: row for row in rows}
    missing = [facility_id for facility_id in ids if facility_id not in found]
    if missing:
        raise NotFound(gettext("no facility with id {id}").format(id=missing[0]))
    return found


def lock_facility(session: Session, facility_id: int) -> Facility:
    return lock_facilities(session, [facility_id])[facility_id]


def lock_waitlist_entry(session: Session, entry_id: str) -> WaitlistEntry:
    row = session.exec(_locked(select(WaitlistEntry).where(WaitlistEntry.id == entry_id))).first()
    if row is None:
        raise NotFound(gettext("no waiting-list entry with id {id}").format(id=entry_id))
    return row  # type: ignore[no-any-return]


def lock_open_waitlist_entries(session: Session) -> list[WaitlistEntry]:
    """Every entry still stored as waiting or found (some may be past their end), by id.
    On PostgreSQL a second job run waits here for the first one's commit, then sees only
    the entries that are still open."""
    return list(
        session.exec(
            _locked(
                select(WaitlistEntry)
                .where(col(WaitlistEntry.state).in_([WaitlistState.WAITING, WaitlistState.FOUND]))
                .order_by(col(WaitlistEntry.id))
            )
        ).all()
    )
