"""Pages more than one role opens: the root redirect, the home page, the facilities overview
(counsellors and admins) and the inbox of notifications.

The statistics dashboard, shared by the same roles, has a module of its own
(``api.pages.dashboard``) for its charts.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow, public
from api.pages.common import home_for
from broker.domain.access import ALL_ROLES, Principal, Role
from broker.domain.rules import FacilityKind
from broker.domain.states import DeliveryState, Event
from broker.services import facilities, notifications

EVENT_TEXTS = {
    Event.HOLD_INCOMING: "a family is on its way under a hold",
    Event.HOLD_EXPIRED: "a hold expired",
    Event.CAPACITY_STALE: "capacity report is stale: please report",
    Event.CAPACITY_STALE_ESCALATED: "a facility's capacity report is long overdue",
    Event.STAY_LIMIT_NEAR: "a stay is reaching its limit",
    Event.PLAN_TRANSFER_PROPOSAL: "a transfer plan was proposed",
    Event.POLICE_INQUIRY: "the police asked about a resident",
}
DELIVERY_TEXTS = {
    DeliveryState.PENDING: "waiting to be sent",
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.DEAD: "dead: every attempt failed",
    DeliveryState.INBOX_ONLY: "inbox only (no webhook)",
}


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
    items = notifications.inbox(session=db, actor=actor, limit=200)
    return Template(
        "inbox.html",
        context={
            "actor": actor,
            "items": items,
            "texts": EVENT_TEXTS,
            "delivery_texts": DELIVERY_TEXTS,
        },
    )
