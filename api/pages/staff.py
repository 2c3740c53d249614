"""The shelter staff's pages: capacity reports, incoming holds (confirm or decline), residents
(record a departure) and police notices.

Each page shows the staff member's own facilities only. A change that succeeds answers with
a redirect (post/redirect/get); a refused one shows the page again with the reason, and
writes nothing (see ``api.pages.common``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.pages.common import (
    HOLD_STATES,
    Form,
    HoldIdQuery,
    PageRefusal,
    birth_date,
    field_errors,
    refused_page,
)
from broker.domain.access import Role
from broker.domain.identity import Identity
from broker.domain.states import HoldState
from broker.errors import BrokerError, Conflict, InvalidInput
from broker.i18n import gettext
from broker.services import capacity, facilities, hold_reads, holds, placements, police

STAFF = allow(Role.SHELTER_STAFF, via="cookie")
CASE_CODE = r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"
CAPACITY_STEPS = {"units+": (1, 0), "units-": (-1, 0), "beds+": (0, 1), "beds-": (0, -1)}
CAPACITY_FIELDS = ("free_units", "free_beds")
# a typed number shown again in a refused form; anything longer is not a count of places
TYPED_MAX = 12


def _own_facilities(
    db: DbSession, broker: Broker, actor: Actor, now: Now
) -> list[facilities.FacilityView]:
    return facilities.facility_list(
        session=db,
        now=now,
        context=broker.services,
        filters=facilities.FacilityFilter(ids=actor.facility_ids),
    )


# --- capacity ------------------------------------------------------------------------------


def _capacity_page(
    db: DbSession, broker: Broker, actor: Actor, now: Now, **extra: Any
) -> dict[str, Any]:
    return {
        "actor": actor,
        "facilities": _own_facilities(db, broker, actor, now),
        "kinds": broker.rules.kind_labels,
        "saved": None,
        "error": None,
        "error_facility": None,
        "error_fields": {},
        "typed": {},
        **extra,
    }


@get("/staff/capacity", opt=STAFF, sync_to_thread=True)
def capacity_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    saved: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> Template:
    return Template("capacity.html", context=_capacity_page(db, broker, actor, now, saved=saved))


def _capacity_refused(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    problem: InvalidInput,
    facility_id: int,
    data: dict[str, str],
) -> PageRefusal:
    """The capacity page again, with the reason the report for ``facility_id`` was refused
    beside its card, and the numbers typed there kept in its inputs."""
    return refused_page(
        db,
        problem,
        "capacity.html",
        lambda: _capacity_page(
            db,
            broker,
            actor,
            now,
            error=problem.message,
            error_facility=facility_id,
            error_fields=field_errors(problem),
            typed={name: data.get(name, "")[:TYPED_MAX] for name in CAPACITY_FIELDS},
        ),
    )


def _requested_numbers(data: dict[str, str]) -> tuple[int, int]:
    """The numbers typed, moved by one if a plus or minus button sent the form (Enter in a
    field sends the form's hidden first button, which names no step: the numbers as typed)."""
    try:
        units, beds = int(data.get("free_units", "")), int(data.get("free_beds", ""))
    except ValueError as exc:
        raise InvalidInput(gettext("Free units and free beds must be whole numbers.")) from exc
    more_units, more_beds = CAPACITY_STEPS.get(data.get("action", ""), (0, 0))
    return units + more_units, beds + more_beds


@post(
    "/staff/capacity/{facility_id:int}",
    opt=STAFF,
    sync_to_thread=True,
)
def capacity_submit(
    facility_id: FromPath[int], data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        free_units, free_beds = _requested_numbers(data)
        capacity.capacity_report(
            session=db,
            facility_id=facility_id,
            free_units=free_units,
            free_beds=free_beds,
            actor=actor,
            now=now,
        )
    except InvalidInput as problem:
        raise _capacity_refused(db, broker, actor, now, problem, facility_id, data) from problem
    # back to the card that was sent, where the confirmation is shown
    return Redirect(f"/staff/capacity?saved={facility_id}#facility-{facility_id}", status_code=303)


# --- incoming holds ------------------------------------------------------------------------


def _incoming_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    *,
    confirmed: str = "",
    declined: str = "",
    **extra: Any,
) -> dict[str, Any]:
    sections = [
        (
            facility,
            hold_reads.holds_for_facility(
                session=db, facility_id=facility.id, actor=actor, now=now
            ),
        )
        for facility in _own_facilities(db, broker, actor, now)
    ]
    shown = [view for _, views in sections for view in views]
    arrived = next((view for view in shown if view.hold_id == confirmed and view.case_code), None)
    return {
        "actor": actor,
        "now": now,
        "sections": sections,
        "kinds": broker.rules.kind_labels,
        "states": HOLD_STATES,
        "decline_reasons": holds.DECLINE_REASONS,
        "max_note": holds.MAX_DECLINE_NOTE,
        "arrived": arrived,
        "declined": any(
            view.hold_id == declined and view.state == HoldState.DECLINED for view in shown
        ),
        "error": None,
        "error_hold": None,
        **extra,
    }


def _incoming_refused(
    db: DbSession, broker: Broker, actor: Actor, now: Now, problem: BrokerError, hold_id: str
) -> PageRefusal:
    """The incoming holds again, with the reason the change to ``hold_id`` was refused."""
    return refused_page(
        db,
        problem,
        "incoming.html",
        lambda: _incoming_page(db, broker, actor, now, error=problem.message, error_hold=hold_id),
    )


@get("/staff/holds", opt=STAFF, sync_to_thread=True)
def incoming_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    confirmed: HoldIdQuery = "",
    declined: HoldIdQuery = "",
) -> Template:
    context = _incoming_page(db, broker, actor, now, confirmed=confirmed, declined=declined)
    return Template("incoming.html", context=context)


def _identity_of(data: dict[str, str]) -> Identity | None:
    """The optional identity on the arrival form: both name and birth date, or neither."""
    name, born = data.get("full_name", "").strip(), data.get("birth_date", "").strip()
    if not name and not born:
        return None
    if not name or not born:
        raise InvalidInput(
            gettext("To record her identity, give both the full name and the birth date.")
        )
    return Identity(
        full_name=name,
        birth_date=birth_date(born),
        police_confirmation_consent=data.get("consent") == "yes",
    )


@post(
    "/staff/holds/{hold_id:str}/confirm",
    opt=STAFF,
    sync_to_thread=True,
)
def incoming_confirm(
    hold_id: FromPath[str], data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        holds.hold_confirm(
            session=db,
            context=broker.services,
            hold_id=hold_id,
            actor=actor,
            now=now,
            identity=_identity_of(data),
        )
    except (Conflict, InvalidInput) as problem:
        raise _incoming_refused(db, broker, actor, now, problem, hold_id) from problem
    return Redirect(f"/staff/holds?confirmed={hold_id}", status_code=303)


@post(
    "/staff/holds/{hold_id:str}/decline",
    opt=STAFF,
    sync_to_thread=True,
)
def incoming_decline(
    hold_id: FromPath[str], data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        holds.hold_decline(
            session=db,
            hold_id=hold_id,
            reason=data.get("reason", ""),
            note=data.get("note") or None,
            actor=actor,
            now=now,
        )
    except (Conflict, InvalidInput) as problem:
        raise _incoming_refused(db, broker, actor, now, problem, hold_id) from problem
    return Redirect(f"/staff/holds?declined={hold_id}", status_code=303)


# --- residents and police notices ----------------------------------------------------------


def _residents_page(
    db: DbSession, broker: Broker, actor: Actor, now: Now, **extra: Any
) -> dict[str, Any]:
    sections = [
        (
            facility,
            placements.residents(session=db, facility_id=facility.id, actor=actor, now=now),
        )
        for facility in _own_facilities(db, broker, actor, now)
    ]
    return {
        "actor": actor,
        "sections": sections,
        "notices": police.notices_for_staff(session=db, actor=actor),
        "kinds": broker.rules.kind_labels,
        "departure_reasons": placements.DEPARTURE_REASONS,
        # the same days as the stay-limit alert: the badge and the alert agree
        "soon_days": broker.settings.stay_alert_days,
        "departed": None,
        "error": None,
        "error_placement": None,
        **extra,
    }


@get("/staff/residents", opt=STAFF, sync_to_thread=True)
def residents_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    departed: Annotated[str | None, QueryParameter(pattern=CASE_CODE)] = None,
) -> Template:
    context = _residents_page(db, broker, actor, now, departed=departed)
    return Template("residents.html", context=context)


def _residents_refused(
    db: DbSession, broker: Broker, actor: Actor, now: Now, problem: BrokerError, placement_id: str
) -> PageRefusal:
    """The residents again, with the reason the departure from ``placement_id`` was refused."""
    return refused_page(
        db,
        problem,
        "residents.html",
        lambda: _residents_page(
            db, broker, actor, now, error=problem.message, error_placement=placement_id
        ),
    )


@post(
    "/staff/residents/{placement_id:str}/depart",
    opt=STAFF,
    sync_to_thread=True,
)
def residents_depart(
    placement_id: FromPath[str], data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        view = placements.placement_depart(
            session=db,
            placement_id=placement_id,
            reason=data.get("reason", ""),
            actor=actor,
            now=now,
        )
    except (Conflict, InvalidInput) as problem:
        raise _residents_refused(db, broker, actor, now, problem, placement_id) from problem
    return Redirect(f"/staff/residents?departed={view.case_code}", status_code=303)


@post(
    "/staff/notices/{notice_id:int}/seen",
    opt=STAFF,
    sync_to_thread=True,
)
def notice_seen_submit(notice_id: FromPath[int], db: DbSession, actor: Actor, now: Now) -> Redirect:
    police.notice_seen(session=db, notice_id=notice_id, actor=actor, now=now)
    return Redirect("/staff/residents#notices", status_code=303)
