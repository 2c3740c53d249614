"""The waiting list: families for whom nothing fits now, matched again until a place does.

A counsellor puts a family on the list with the same request a search takes and how long
it may wait (1 to 168 hours). No name is stored: the entry's short ``code`` is what she
writes on the callback note. The list is the hotline's: every counsellor sees every entry
and may take any off it, as with holds.

The matching job (``waitlist_match``, run every few seconds by ``broker.jobs``) serves the
open entries **highest risk first, then longest waiting** (then by id), each against the
facilities as they stand (reported free places minus open holds), ranked as a search
ranks them. The first place that fits is recorded on the entry (it becomes ``found``) and
the hotline is told once (inbox and webhook; ids and the code only, deduplicated by
entry). A place found for one entry counts as taken, one unit and its family's beds, for
every entry served after it in the same run, and for ``CALLBACK_WINDOW`` after it was
found in the runs that follow, so that a lower-priority entry is not sent to the place a
counsellor is calling back about. Finding a place reserves nothing: the counsellor holds
it as usual (``POST /api/v1/holds``), and that hold decides.

An entry ends at ``expires_at`` (expired at once by every read, job or no job), or when a
counsellor removes it (cancelled). Until a place is found it counts as an unmet case (the
key a search on the same day would count it under, so a search and an entry for one family
count once); a place found marks the case met, on whatever day that happens.

Locks (``broker.services.locks``): the job locks every open entry, by id, before it reads
what is free; removing an entry locks that entry. Entries come first in the lock order.
Reads of the list are in ``broker.services.waitlist_reads``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from broker.db.models import WaitlistEntry
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import AuditAction
from broker.domain.capacity import Places, available
from broker.domain.requests import check_regions, request_from_json, request_to_json
from broker.domain.rules import Rules
from broker.domain.states import Audience, Event, WaitlistState
from broker.domain.statistics import unmet_case_key
from broker.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from broker.i18n import N_, gettext
from broker.services.audit import audit_record
from broker.services.context import ServiceContext
from broker.services.holds import CASE_CODE_ALPHABET
from broker.services.locks import lock_open_waitlist_entries, lock_waitlist_entry
from broker.services.notifications import notify
from broker.services.statistics import (
    UNMET_SETTLE_DAYS,
    unmet_case_record,
    unmet_cases_met_by_key,
)
from solver.instance import RISK_LEVELS, FacilityState, Network, PlacementRequest
from solver.ranking import Option, rank

DEFAULT_HOURS = 48
MAX_WAIT_HOURS = UNMET_SETTLE_DAYS * 24  # 168: the unmet figures are settled after this
# how long a place found for one entry is kept back from the others while she calls back
CALLBACK_WINDOW = timedelta(minutes=15)
OPEN_STATES = (WaitlistState.WAITING, WaitlistState.FOUND)
ENTRY_ID = re.compile(r"[0-9a-f]{32}")


# the entry states a reader may see in a message, for the catalogue
_STATE_WORDS = (N_("waiting"), N_("found"), N_("held"), N_("cancelled"), N_("expired"))


def entry_state(entry: WaitlistEntry, now: datetime) -> str:
    """An open entry past its end is expired at once, job or no job."""
    if entry.state in OPEN_STATES and entry.expires_at <= now:
        return WaitlistState.EXPIRED
    return entry.state


def priority_key(risk: str, created_at: datetime, entry_id: str) -> tuple[int, datetime, str]:
    level = RISK_LEVELS.index(risk) if risk in RISK_LEVELS else 0
    return (-level, created_at, entry_id)


def priority(entry: WaitlistEntry) -> tuple[int, datetime, str]:
    """The order entries are served in: highest risk, then longest waiting, then id."""
    return priority_key(entry.risk, entry.created_at, entry.id)


# --- writes -------------------------------------------------------------------------------


def _new_code(session: Session) -> str:
    while True:
        raw = "".join(secrets.choice(CASE_CODE_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        if session.exec(select(WaitlistEntry.id).where(WaitlistEntry.code == code)).first() is None:
            return code


def waitlist_add(
    *,
    session: Session,
    context: ServiceContext,
    request: PlacementRequest,
    hours: int,
    actor: Principal,
    now: datetime,
) -> WaitlistEntry:
    """Put a family on the list for ``hours``; it counts as an unmet case from now on
    (once with a search for the same family today) until a place is found."""
    if actor.role is not Role.COUNSELLOR:
        raise PermissionDenied(gettext("only counsellors put families on the waiting list"))
    if not 1 <= hours <= MAX_WAIT_HOURS:
        raise InvalidInput(
            gettext("hours must be between 1 and {most}").format(most=MAX_WAIT_HOURS),
            details=[{"field": "hours", "message": f"1-{MAX_WAIT_HOURS}"}],
        )
    check_regions(request, context.rules)
    stored = request_to_json(request)
    entry = WaitlistEntry(
        id=uuid.uuid4().hex,
        code=_new_code(session),
        counsellor_user_id=actor.user_id,
        state=WaitlistState.WAITING,
        risk=request.risk,
        persons=request.family.persons,
        request=stored,
        case_key=unmet_case_key(
            context.case_key,
            counsellor_user_id=actor.user_id,
            day=now.astimezone(UTC).date(),
            request=stored,
        ),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(entry)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.WAITLIST_ADD,
        subject_type="waitlist",
        subject_id=entry.id,
        detail={"hours": hours, "risk": request.risk, "persons": request.family.persons},
    )
    unmet_case_record(
        session=session,
        key=context.case_key,
        counsellor_user_id=actor.user_id,
        request=stored,
        now=now,
    )
    return entry


def waitlist_remove(
    *,
    session: Session,
    entry_id: str,
    actor: Principal,
    now: datetime,
    hold_id: str | None = None,
) -> WaitlistEntry:
    """Take an entry off the list (waiting, or with a place found): any counsellor may.
    With ``hold_id``, the place was held for her from the list: the entry ends as held."""
    if actor.role is not Role.COUNSELLOR:
        raise PermissionDenied(gettext("only counsellors take families off the waiting list"))
    if not ENTRY_ID.fullmatch(entry_id):
        raise NotFound(gettext("no waiting-list entry with id {id}").format(id=entry_id))
    entry = lock_waitlist_entry(session, entry_id)
    state = entry_state(entry, now)
    if state not in OPEN_STATES:
        raise Conflict(
            gettext(
                "this entry has ended ({state}); only an open entry can be taken off the list"
            ).format(state=gettext(state))
        )
    ending = WaitlistState.CANCELLED if hold_id is None else WaitlistState.HELD
    entry.state, entry.closed_at = ending, now
    session.add(entry)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.WAITLIST_REMOVE,
        subject_type="waitlist",
        subject_id=entry.id,
        detail={"was": state} if hold_id is None else {"was": state, "hold_id": hold_id},
    )
    return entry


# --- matching -----------------------------------------------------------------------------


def _take(free: dict[int, FacilityState], facility_id: int, beds: int) -> None:
    """One unit and ``beds`` beds of the facility count as taken from now on."""
    state = free.get(facility_id)
    if state is not None:
        left = available(Places(state.free_units, state.free_beds), Places(1, beds))
        free[facility_id] = replace(state, free_units=left.units, free_beds=left.beds)


def _request(entry: WaitlistEntry, rules: Rules) -> PlacementRequest | None:
    """The entry's stored request, or None if it no longer holds (a region renamed)."""
    try:
        request = request_from_json(entry.request)
        check_regions(request, rules)
    except (InvalidInput, KeyError):
        return None
    return request


def serve_in_order(
    entries: Sequence[WaitlistEntry],
    states: Iterable[FacilityState],
    *,
    reserved: Iterable[tuple[int, int]],
    rules: Rules,
    network: Network,
    now: datetime,
) -> list[tuple[WaitlistEntry, Option]]:
    """The best place for each waiting entry, served by :func:`priority`; a place given to
    one entry (and each ``reserved`` facility id and beds) is taken for those after it."""
    free = {state.id: state for state in states}
    for facility_id, beds in reserved:
        _take(free, facility_id, beds)
    found: list[tuple[WaitlistEntry, Option]] = []
    for entry in sorted(entries, key=priority):
        # no facility has a unit with this many free beds: nothing to rank
        if not any(s.free_units and s.free_beds >= entry.persons for s in free.values()):
            continue
        request = _request(entry, rules)
        if request is None:
            continue
        ranking = rank(request, free.values(), network, now=now, limit=1)
        if ranking.options:
            option = ranking.options[0]
            found.append((entry, option))
            _take(free, option.facility_id, entry.persons)
    return found


@dataclass(frozen=True, slots=True)
class _Run:
    expired: list[WaitlistEntry]
    waiting: list[WaitlistEntry]
    found: list[tuple[WaitlistEntry, Option]]

    @property
    def summary(self) -> dict[str, int]:
        return {
            "waiting": len(self.waiting),
            "found": len(self.found),
            "expired": len(self.expired),
        }


def _plan_run(
    session: Session, context: ServiceContext, entries: list[WaitlistEntry], now: datetime
) -> _Run:
    live = [entry for entry in entries if entry.expires_at > now]
    reserved = [
        (entry.found_facility_id, entry.persons)
        for entry in live
        if entry.state == WaitlistState.FOUND
        and entry.found_facility_id is not None
        and entry.found_at is not None
        and entry.found_at > now - CALLBACK_WINDOW
    ]
    waiting = [entry for entry in live if entry.state == WaitlistState.WAITING]
    found = (
        serve_in_order(
            waiting,
            context.snapshot.states(session=session, now=now),
            reserved=reserved,
            rules=context.rules,
            network=context.network(),
            now=now,
        )
        if waiting
        else []
    )
    expired = [entry for entry in entries if entry.expires_at <= now]
    return _Run(expired=expired, waiting=waiting, found=found)


def waitlist_preview(*, session: Session, context: ServiceContext, now: datetime) -> dict[str, int]:
    """What a matching run would do now, read without locks or writes: the job runs
    :func:`waitlist_match` (and so takes its locks) only when this finds something to do."""
    entries = list(
        session.exec(select(WaitlistEntry).where(col(WaitlistEntry.state).in_(OPEN_STATES))).all()
    )
    return _plan_run(session, context, entries, now).summary


def waitlist_match(*, session: Session, context: ServiceContext, now: datetime) -> dict[str, int]:
    """One run of the matching job: close the entries past their end, then give each
    waiting entry, in priority order, the first place that fits it, and tell the hotline.
    Locks every open entry first, so two runs at once are served one after the other."""
    run = _plan_run(session, context, lock_open_waitlist_entries(session), now)
    for entry in run.expired:
        entry.state, entry.closed_at = WaitlistState.EXPIRED, entry.expires_at
        session.add(entry)
    for entry, option in run.found:
        entry.state = WaitlistState.FOUND
        entry.found_facility_id, entry.found_at = option.facility_id, now
        session.add(entry)
        notify(
            session=session,
            event=Event.WAITLIST_PLACE_FOUND,
            audience=Audience.HOTLINE,
            payload={
                "waitlist_id": entry.id,
                "code": entry.code,
                "facility_id": option.facility_id,
            },
            now=now,
            dedupe_key=f"{Event.WAITLIST_PLACE_FOUND}:{entry.id}",
        )
    unmet_cases_met_by_key(
        session=session,
        case_keys=[entry.case_key for entry, _ in run.found if entry.case_key is not None],
    )
    return run.summary
