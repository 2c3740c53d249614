"""Pages more than one role opens: the root redirect, the home page, the facilities overview
(counsellors and admins), the inbox of notifications, and the favicon every page links.

The inbox names facilities by name, shortens long ids to references with the full id in a
title, and shows times with the ``when`` filter; it never reads an address.

The statistics dashboard, shared by the same roles, has a module of its own
(``api.pages.dashboard``) for its charts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import File, Redirect, Template

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow, public
from api.pages.common import home_for
from api.pages.plans import PLAN_READERS
from broker.domain.access import ALL_ROLES, Principal, Role
from broker.domain.rules import FacilityKind
from broker.domain.states import DeliveryState, Event
from broker.i18n import N_, gettext
from broker.services import facilities, notifications

# The texts of the tables below are translated where they are shown.
EVENT_TEXTS = {
    Event.HOLD_INCOMING: N_("a family is on its way under a hold"),
    Event.HOLD_EXPIRED: N_("a hold expired"),
    Event.CAPACITY_STALE: N_("capacity report is stale: please report"),
    Event.CAPACITY_STALE_ESCALATED: N_("a facility's capacity report is long overdue"),
    Event.STAY_LIMIT_NEAR: N_("a stay is reaching its limit"),
    Event.PLAN_TRANSFER_PROPOSAL: N_("a transfer plan was proposed"),
    Event.POLICE_INQUIRY: N_("the police asked about a resident"),
    Event.WAITLIST_PLACE_FOUND: N_("a place was found for a family on the waiting list"),
}
DELIVERY_TEXTS = {
    DeliveryState.PENDING: N_("waiting to be sent"),
    DeliveryState.DELIVERED: N_("delivered"),
    DeliveryState.DEAD: N_("dead: every attempt failed"),
    DeliveryState.INBOX_ONLY: N_("inbox only (no webhook)"),
}


# What an inbox message is about, from its payload, in this order: key, label, how shown
# ("ref" an id shortened to REF_LENGTH, "time" a moment, "text" as it is). The facility
# comes first, by name.
INBOX_FACTS = (
    ("case_code", N_("case code"), "text"),
    ("hold_id", N_("hold"), "ref"),
    ("placement_id", N_("stay"), "ref"),
    ("plan_id", N_("plan"), "ref"),
    ("moves", N_("moves"), "text"),
    ("beds", N_("beds"), "text"),
    ("expires_at", N_("expires"), "time"),
    ("expired_at", N_("expired at"), "time"),
    ("limit_at", N_("stay limit"), "time"),
    ("capacity_reported_at", N_("last report"), "time"),
)
REF_LENGTH = 8
UNLISTED_FACILITY = N_("a facility no longer listed")


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing an inbox message is about, as the page shows it: ``text``, with the full
    id in ``full`` when ``text`` is a short reference, or the moment ``at``."""

    kind: str
    label: str
    text: str = ""
    full: str | None = None
    at: datetime | None = None
    href: str | None = None  # a page about it, for readers who may open that page


def _fact(kind: str, label: str, value: Any) -> Fact:
    text = str(value)
    if kind == "ref" and len(text) > REF_LENGTH:
        return Fact(kind, label, text[:REF_LENGTH], full=text)
    if kind == "time":
        try:
            return Fact(kind, label, text, at=datetime.fromisoformat(text))
        except ValueError:
            pass
    return Fact(kind, label, text)


def _about(
    item: notifications.InboxItem, names: dict[int, str], *, plan_links: bool = False
) -> list[Fact]:
    facility_id = item.payload.get("facility_id", item.facility_id)
    facts: list[Fact] = []
    if isinstance(facility_id, int):
        facts.append(Fact("facility", "", names.get(facility_id) or gettext(UNLISTED_FACILITY)))
    for key, label, kind in INBOX_FACTS:
        if item.payload.get(key) is not None:
            fact = _fact(kind, label, item.payload[key])
            if key == "plan_id" and plan_links:
                fact = replace(fact, href=f"/plans/{item.payload[key]}")
            facts.append(fact)
    return facts


@get("/", opt=public(via="cookie"))
async def root(request: Request[Any, Any, Any]) -> Redirect:
    principal = request.scope.get("user")
    return Redirect(home_for(principal) if isinstance(principal, Principal) else "/login")


@get("/home", opt=allow(*ALL_ROLES, via="cookie"))
async def home(actor: Actor) -> Template:
    return Template("home.html", context={"actor": actor})


@get(
    "/facilities",
    opt=allow(Role.COUNSELLOR, Role.ADMIN, via="cookie"),
    sync_to_thread=True,
)
def overview_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    kind: Annotated[str, QueryParameter(max_length=40)] = "",
    region: Annotated[str, QueryParameter(max_length=80)] = "",
    free: Annotated[str, QueryParameter(max_length=3)] = "",
) -> Template:
    views = facilities.facility_list(
        session=db,
        now=now,
        context=broker.services,
        filters=facilities.FacilityFilter(
            kind=kind or None, region=region or None, with_free_units=free == "1"
        ),
    )
    return Template(
        "overview.html",
        context={
            "actor": actor,
            "facilities": views,
            "kinds": broker.rules.kind_labels,
            "kind_values": [kind.value for kind in FacilityKind],
            "regions": list(broker.rules.regions),
            "selected": {"kind": kind, "region": region, "free": free},
            "totals": {
                "units": sum(view.free_units for view in views),
                "beds": sum(view.free_beds for view in views),
                "stale": sum(1 for view in views if view.stale),
            },
        },
    )


@get(
    "/inbox",
    opt=allow(Role.SHELTER_STAFF, Role.COUNSELLOR, Role.ADMIN, via="cookie"),
    sync_to_thread=True,
)
def inbox_page(db: DbSession, actor: Actor) -> Template:
    view = notifications.inbox_view(session=db, actor=actor, limit=200)
    reads_plans = actor.role in PLAN_READERS
    return Template(
        "inbox.html",
        context={
            "actor": actor,
            "items": [
                (item, _about(item, view.facility_names, plan_links=reads_plans))
                for item in view.items
            ],
            "texts": EVENT_TEXTS,
            "delivery_texts": DELIVERY_TEXTS,
        },
    )


@get("/favicon.ico", opt=public(via="cookie"), include_in_schema=False)
async def favicon(broker: Broker) -> File:
    """The icon, where browsers ask for it unprompted; public, like ``/static``."""
    return File(
        path=broker.settings.templates_dir / "static" / "favicon.ico",
        filename="favicon.ico",
        media_type="image/x-icon",
        content_disposition_type="inline",
    )
