"""The waiting list on the call screen (``broker.services.waitlist``): put the family a
search found nothing for on the list, hold the place the matching job found for an entry,
and take an entry off the list.

The family put on the list is the request the empty result was shown for, carried and
signed as the "Hold" buttons' is (``api.pages.call``). The hotline's open entries are shown
on ``/call`` itself (``call._call_page``), with their short code and, once found, the place
(name, kind, region; never an address). Holding a found place is the hold an option's
"Hold" button makes, with the entry's stored request; the entry then leaves the list in
the same unit of work, so either both happen or neither. A refusal shows the call screen
again with the reason, and nothing it wrote commits (``api.pages.common.refused``).
"""

from __future__ import annotations

from litestar import post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.deps import Actor, Broker, DbSession, Now
from api.pages.call import COUNSELLOR, WAIT_HOURS, _call_refused, _signed_request
from api.pages.common import Form
from api.pages.family_form import travel_minutes
from broker.domain.requests import request_from_json
from broker.errors import Conflict, InvalidInput, NotFound
from broker.i18n import gettext
from broker.services import holds, waitlist, waitlist_reads


def _hours(text: str) -> int:
    if not text:
        return waitlist.DEFAULT_HOURS
    if not (text.isascii() and text.isdigit() and int(text) in WAIT_HOURS):
        raise InvalidInput(
            gettext("Choose how long she may wait: 24, 48, 72 or 168 hours."),
            details=[{"field": "hours", "message": "24/48/72/168"}],
        )
    return int(text)


@post("/call/waitlist", opt=COUNSELLOR, sync_to_thread=True)
def call_waitlist_add(
    data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        try:
            request = _signed_request(
                broker, actor, data.get("request", ""), data.get("request_mac", "")
            )
        except InvalidInput as problem:
            raise InvalidInput(
                gettext(
                    "The family's details on this form were changed after matching, so she "
                    "was not put on the waiting list. Fill in the form and match again."
                )
            ) from problem
        entry = waitlist.waitlist_add(
            session=db,
            context=broker.services,
            request=request,
            hours=_hours(data.get("hours", "")),
            actor=actor,
            now=now,
        )
    except InvalidInput as problem:
        raise _call_refused(db, broker, actor, now, problem) from problem
    return Redirect(f"/call?listed={entry.id}", status_code=303)


@post("/call/waitlist/{waitlist_id:str}/hold", opt=COUNSELLOR, sync_to_thread=True)
def call_waitlist_hold(
    waitlist_id: FromPath[str], data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        view = waitlist_reads.waitlist_get(session=db, entry_id=waitlist_id, now=now)
        if view.state not in waitlist.OPEN_STATES or view.place is None:
            raise Conflict(
                gettext("No place is found for this entry (any more); nothing was held.")
            )
        minutes = travel_minutes(data.get("travel_minutes", ""), broker)
        hold, _ = holds.hold_create(
            session=db,
            context=broker.services,
            request=request_from_json(view.request),
            facility_id=view.place.facility_id,
            ttl_minutes=minutes,
            actor=actor,
            now=now,
        )
        # the family has her place: the entry leaves the list with the hold, or neither
        waitlist.waitlist_remove(
            session=db, entry_id=view.waitlist_id, actor=actor, now=now, hold_id=hold.id
        )
    except (Conflict, InvalidInput, NotFound) as problem:
        raise _call_refused(db, broker, actor, now, problem, error_entry=waitlist_id) from problem
    return Redirect(f"/call?held={hold.id}", status_code=303)


@post("/call/waitlist/{waitlist_id:str}/remove", opt=COUNSELLOR, sync_to_thread=True)
def call_waitlist_remove(
    waitlist_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        waitlist.waitlist_remove(session=db, entry_id=waitlist_id, actor=actor, now=now)
    except (Conflict, NotFound) as problem:
        raise _call_refused(db, broker, actor, now, problem, error_entry=waitlist_id) from problem
    return Redirect(f"/call?unlisted={waitlist_id}", status_code=303)
