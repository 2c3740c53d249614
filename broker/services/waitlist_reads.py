"""Reads of the waiting list: the hotline's open entries and one entry, each with the
place found for it (facility id, name, kind and region; never an address). Writes and the
matching job live in ``broker.services.waitlist``; nothing here locks or changes a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from broker.db.models import Facility, User, WaitlistEntry
from broker.errors import NotFound
from broker.i18n import gettext
from broker.services.waitlist import ENTRY_ID, OPEN_STATES, entry_state, priority_key


@dataclass(frozen=True, slots=True)
class FoundPlace:
    facility_id: int
    name: str
    kind: str
    region: str
    found_at: datetime


@dataclass(frozen=True, slots=True)
class WaitlistView:
    waitlist_id: str
    code: str
    state: str
    risk: str
    persons: int
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    counsellor: str | None
    place: FoundPlace | None
    # the family's request as stored: the body of the hold made on the callback
    request: dict[str, Any]


def _views(session: Session, statement: Any, now: datetime) -> list[WaitlistView]:
    rows = session.exec(statement).all()
    ids = {entry.found_facility_id for entry, _ in rows if entry.found_facility_id is not None}
    facilities = (
        {f.id: f for f in session.exec(select(Facility).where(col(Facility.id).in_(ids))).all()}
        if ids
        else {}
    )
    views = []
    for entry, username in rows:
        state = entry_state(entry, now)
        facility = facilities.get(entry.found_facility_id)
        place = (
            FoundPlace(
                facility_id=facility.id or 0,
                name=facility.name,
                kind=facility.kind,
                region=facility.region,
                found_at=entry.found_at,
            )
            if facility is not None and entry.found_at is not None
            else None
        )
        views.append(
            WaitlistView(
                waitlist_id=entry.id,
                code=entry.code,
                state=state,
                risk=entry.risk,
                persons=entry.persons,
                created_at=entry.created_at,
                expires_at=entry.expires_at,
                # an entry the clock expired before the job closed it ended at its expiry
                closed_at=entry.expires_at if state != entry.state else entry.closed_at,
                counsellor=username,
                place=place,
                request=dict(entry.request),
            )
        )
    return views


def _with_counsellor() -> Any:
    return select(WaitlistEntry, User.username).outerjoin(
        User, col(User.id) == col(WaitlistEntry.counsellor_user_id)
    )


def waitlist_list(*, session: Session, now: datetime) -> list[WaitlistView]:
    """The hotline's open entries, in the order the job serves them, with any place found."""
    views = _views(
        session,
        _with_counsellor().where(
            col(WaitlistEntry.state).in_(OPEN_STATES), col(WaitlistEntry.expires_at) > now
        ),
        now,
    )
    return sorted(views, key=lambda v: priority_key(v.risk, v.created_at, v.waitlist_id))


def waitlist_get(*, session: Session, entry_id: str, now: datetime) -> WaitlistView:
    if ENTRY_ID.fullmatch(entry_id):
        views = _views(session, _with_counsellor().where(WaitlistEntry.id == entry_id), now)
        if views:
            return views[0]
    raise NotFound(gettext("no waiting-list entry with id {id}").format(id=entry_id))
