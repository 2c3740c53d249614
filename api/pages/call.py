"""The counsellor's call screen: describe the family, see the ranked options, hold one with a
click, release a hold, and match a family again after a shelter declined it.

The family form is parsed by ``api.pages.family_form`` against the JSON API's schema. The
request that was matched travels to the "Hold" buttons as JSON bound by a MAC to the
counsellor it was shown to, so a hold is made for exactly the family that was matched.
A refused hold or release shows the screen again with the reason, and writes nothing
(see ``api.pages.common``).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import msgspec
from litestar import get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.pages.common import (
    HOLD_STATES,
    Form,
    HoldIdQuery,
    MultiForm,
    PageRefusal,
    field_errors,
    refused,
)
from api.pages.family_form import FamilyInput, family_input, input_of, parse_family, travel_minutes
from api.schemas import FamilyRequest
from broker.crypto import token_digest
from broker.domain.access import Role
from broker.domain.requests import request_from_json, request_to_json
from broker.domain.rules import RiskLevel
from broker.domain.states import HoldState, WaitlistState
from broker.errors import BrokerError, Conflict, InvalidInput, NotFound
from broker.i18n import gettext
from broker.services import hold_reads, holds, matching, waitlist, waitlist_reads
from solver.instance import PlacementRequest
from solver.ranking import Ranking

COUNSELLOR = allow(Role.COUNSELLOR, via="cookie")
# Binds the hidden request of a "Hold" form to the counsellor it was shown to; the prefix
# keeps these digests apart from the token digests made with the same secret.
REQUEST_MAC_CONTEXT = "call-request-v1"
# how long a family put on the waiting list may wait, in hours (the select's choices)
WAIT_HOURS = (24, 48, 72, 168)


def _request_mac(broker: Broker, actor: Actor, payload: str) -> str:
    message = f"{REQUEST_MAC_CONTEXT}\x00{actor.user_id}\x00{payload}"
    return token_digest(broker.settings.token_secret_bytes, message)


def _signed_request(broker: Broker, actor: Actor, payload: str, mac: str) -> PlacementRequest:
    """The family request carried by a "Hold" form, refused if it was changed in any way."""
    tampered = InvalidInput(
        gettext(
            "The family's details on this form were changed after matching, so nothing was "
            "held. Fill in the form and match again."
        )
    )
    if not payload or len(payload) > 10_000 or len(mac) != 64:
        raise tampered
    expected = _request_mac(broker, actor, payload)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise tampered
    try:
        stored = json.loads(payload)
        # the same schema the JSON API applies: unknown keys and wrong types are refused
        msgspec.convert(stored, FamilyRequest, strict=True)
        request = request_from_json(stored)
    except (ValueError, TypeError, KeyError, msgspec.ValidationError) as exc:
        raise tampered from exc
    if request_to_json(request) != stored:
        raise tampered
    return request


def _match(
    db: DbSession,
    broker: Broker,
    now: Now,
    request: PlacementRequest,
    counsellor: Actor | None = None,
) -> Ranking:
    """``counsellor`` is given for her own search, whose empty result counts as unmet."""
    return matching.match(
        session=db,
        context=broker.services,
        request=request,
        now=now,
        actor=counsellor,
    )


def _exclusions(ranking: Ranking) -> list[tuple[str, int, str]]:
    return [
        (code, count, matching.EXCLUSION_REASONS[code])
        for code, count in sorted(ranking.excluded.items(), key=lambda item: (-item[1], item[0]))
    ]


def _ended_entry(db: DbSession, now: Now, entry_id: str) -> waitlist_reads.WaitlistView | None:
    """The entry just taken off the list, for the message that says so."""
    if not entry_id:
        return None
    try:
        view = waitlist_reads.waitlist_get(session=db, entry_id=entry_id, now=now)
    except NotFound:
        return None
    return view if view.state == WaitlistState.CANCELLED else None


def _call_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    *,
    form: FamilyInput | None = None,
    ranking: Ranking | None = None,
    request: PlacementRequest | None = None,
    travel_minutes: int | None = None,
    held: str = "",
    released: str = "",
    listed: str = "",
    unlisted: str = "",
    **extra: Any,
) -> dict[str, Any]:
    own = hold_reads.holds_of_counsellor(session=db, actor=actor, now=now)
    entries = waitlist_reads.waitlist_list(session=db, now=now)
    default_minutes = broker.settings.hold_ttl_default_minutes
    payload = json.dumps(request_to_json(request), sort_keys=True) if request else ""
    return {
        "actor": actor,
        "now": now,
        "form": form or FamilyInput(travel_minutes=str(default_minutes)),
        "regions": list(broker.rules.regions),
        "risk_levels": [level.value for level in RiskLevel],
        "ttl_max": broker.settings.hold_ttl_max_minutes,
        "kinds": broker.rules.kind_labels,
        "ranking": ranking,
        "excluded": _exclusions(ranking) if ranking else [],
        "request_json": payload,
        "request_mac": _request_mac(broker, actor, payload) if payload else "",
        "travel_minutes": travel_minutes or default_minutes,
        "holds": own,
        "held": next((view for view in own if view.hold_id == held), None),
        "released": next(
            (view for view in own if view.hold_id == released and view.state == HoldState.RELEASED),
            None,
        ),
        "states": HOLD_STATES,
        "decline_reasons": holds.DECLINE_REASONS,
        # the waiting list: the hotline's open entries, the one just added or taken off
        "waitlist": entries,
        "listed": next((view for view in entries if view.waitlist_id == listed), None),
        "unlisted": _ended_entry(db, now, unlisted),
        "wait_hours": WAIT_HOURS,
        "wait_default": waitlist.DEFAULT_HOURS,
        "error_entry": None,
        "error": None,
        "field_errors": {},
        "error_hold": None,
        "rematch_of": None,
        **extra,
    }


def _call_refused(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    problem: BrokerError,
    *,
    options_for: tuple[PlacementRequest, int] | None = None,
    **context: Any,
) -> PageRefusal:
    """The call screen again, with the reason. With ``options_for`` (a family's request and
    its travel minutes) it shows that family's form and its options as they stand once what
    the refused change wrote is dropped, so the next option is one click away."""

    def page() -> Template:
        if options_for is not None:
            request, minutes = options_for
            context.update(
                form=input_of(request, minutes),
                ranking=_match(db, broker, now, request),
                request=request,
                travel_minutes=minutes,
            )
        values = _call_page(db, broker, actor, now, error=problem.message, **context)
        return Template("call.html", context=values, status_code=problem.status_code)

    return refused(db, problem, page)


@get("/call", opt=COUNSELLOR, sync_to_thread=True)
def call_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    held: HoldIdQuery = "",
    released: HoldIdQuery = "",
    listed: HoldIdQuery = "",
    unlisted: HoldIdQuery = "",
) -> Template:
    context = _call_page(
        db, broker, actor, now, held=held, released=released, listed=listed, unlisted=unlisted
    )
    return Template("call.html", context=context)


# A path of its own rather than POST /call: Litestar 2.25 wraps a sync_to_thread handler a
# second time when a later handler is registered on the same path, and the GET then fails.
@post(
    "/call/match",
    opt={**COUNSELLOR, "writes": False},
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def call_match(data: MultiForm, db: DbSession, broker: Broker, actor: Actor, now: Now) -> Template:
    form = family_input(data)
    try:
        request, minutes = parse_family(form, broker)
        ranking = _match(db, broker, now, request, counsellor=actor)
    except InvalidInput as problem:
        # the form as she typed it, with a message at each wrong field
        errors = field_errors(problem)
        raise _call_refused(
            db, broker, actor, now, problem, form=form, field_errors=errors
        ) from problem
    context = _call_page(
        db, broker, actor, now, form=form, ranking=ranking, request=request, travel_minutes=minutes
    )
    return Template("call.html", context=context)


@post(
    "/call/hold",
    opt=COUNSELLOR,
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def call_hold(
    data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        request = _signed_request(
            broker, actor, data.get("request", ""), data.get("request_mac", "")
        )
        facility_text = data.get("facility_id", "")
        if not (facility_text.isascii() and facility_text.isdigit() and len(facility_text) < 10):
            raise InvalidInput(gettext("The form named no facility to hold; match again."))
        minutes = travel_minutes(data.get("travel_minutes", ""), broker)
    except InvalidInput as problem:
        # without a trustworthy request there are no options to show again
        raise _call_refused(db, broker, actor, now, problem) from problem
    try:
        hold, _ = holds.hold_create(
            session=db,
            context=broker.services,
            request=request,
            facility_id=int(facility_text),
            ttl_minutes=minutes,
            actor=actor,
            now=now,
        )
    except (Conflict, InvalidInput) as problem:
        # nothing was held: the same family's options as they stand now
        raise _call_refused(
            db, broker, actor, now, problem, options_for=(request, minutes)
        ) from problem
    return Redirect(f"/call?held={hold.id}", status_code=303)


@post(
    "/call/holds/{hold_id:str}/release",
    opt=COUNSELLOR,
    sync_to_thread=True,
)
def call_release(
    hold_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        holds.hold_release(session=db, hold_id=hold_id, actor=actor, now=now)
    except Conflict as problem:
        raise _call_refused(db, broker, actor, now, problem, error_hold=hold_id) from problem
    return Redirect(f"/call?released={hold_id}", status_code=303)


@get(
    "/call/holds/{hold_id:str}/match-again",
    opt=COUNSELLOR,
    sync_to_thread=True,
)
def call_match_again(
    hold_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template:
    try:
        view, ranking = hold_reads.hold_rematch(
            session=db,
            context=broker.services,
            hold_id=hold_id,
            actor=actor,
            now=now,
        )
    except InvalidInput as problem:  # the family's regions are no longer in the rules
        raise _call_refused(db, broker, actor, now, problem) from problem
    request = request_from_json(view.request)
    minutes = broker.settings.hold_ttl_default_minutes
    context = _call_page(
        db,
        broker,
        actor,
        now,
        form=input_of(request, minutes),
        ranking=ranking,
        request=request,
        travel_minutes=minutes,
        rematch_of=view,
    )
    return Template("call.html", context=context)
