"""Server-rendered pages: login, the shelter's capacity page, the counsellor's overview.

Pages authenticate with the session cookie only and every form carries Litestar's CSRF
token. Like the JSON controllers, each handler parses, calls one service and renders.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Actor, Broker, DbSession, Now
from api.guards import SESSION_COOKIE, allow, credential_of, public
from broker.domain.access import ALL_ROLES, Principal, Role
from broker.domain.rules import FacilityKind
from broker.errors import InvalidInput
from broker.services import accounts, capacity, facilities

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

HOME_BY_ROLE = {
    Role.SHELTER_STAFF: "/staff/capacity",
    Role.COUNSELLOR: "/facilities",
    Role.ADMIN: "/facilities",
}


def home_for(principal: Principal) -> str:
    return HOME_BY_ROLE.get(principal.role, "/home")


def _session_cookie(broker: Broker, value: str, *, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=broker.settings.secure_cookies,
        samesite="strict",
        path="/",
    )


@get("/", opt=public(via="cookie"))
async def root(request: Request[Any, Any, Any]) -> Redirect:
    principal = request.scope.get("user")
    return Redirect(home_for(principal) if isinstance(principal, Principal) else "/login")


@get("/login", opt=public(via="cookie"))
async def login_page() -> Template:
    return Template("login.html", context={"error": None, "username": ""})


@post("/login", opt=public(via="cookie"), sync_to_thread=True)
def login_submit(data: Form, db: DbSession, broker: Broker, now: Now) -> Template | Redirect:
    username = data.get("username", "")[:80]
    issued = accounts.login(
        session=db,
        passwords=broker.passwords,
        token_secret=broker.settings.token_secret_bytes,
        username=username,
        password=data.get("password", "")[:200],
        now=now,
        ttl=broker.token_ttl,
    )
    if issued is None:
        return Template(
            "login.html",
            context={"error": "Wrong username or password.", "username": username},
            status_code=401,
        )
    token, principal = issued
    return Redirect(
        home_for(principal),
        status_code=303,
        cookies=[_session_cookie(broker, token, max_age=int(broker.token_ttl.total_seconds()))],
    )


@post("/logout", opt=allow(*ALL_ROLES, via="cookie"), sync_to_thread=True)
def logout_submit(
    request: Request[Any, Any, Any], db: DbSession, broker: Broker, now: Now
) -> Redirect:
    accounts.logout(
        session=db,
        token_secret=broker.settings.token_secret_bytes,
        token=credential_of(request, "cookie") or "",
        now=now,
    )
    return Redirect("/login", status_code=303, cookies=[_session_cookie(broker, "", max_age=0)])


@get("/home", opt=allow(*ALL_ROLES, via="cookie"))
async def home(actor: Actor) -> Template:
    return Template("home.html", context={"actor": actor})


def _capacity_page(
    db: DbSession, broker: Broker, actor: Actor, now: Now, **extra: Any
) -> dict[str, Any]:
    views = facilities.facility_list(
        session=db,
        now=now,
        stale_after=broker.stale_after,
        filters=facilities.FacilityFilter(ids=actor.facility_ids),
    )
    return {
        "actor": actor,
        "facilities": views,
        "kinds": {rule.kind.value: rule.label for rule in broker.rules.kinds.values()},
        "saved": None,
        "error": None,
        "error_facility": None,
        **extra,
    }


@get("/staff/capacity", opt=allow(Role.SHELTER_STAFF, via="cookie"), sync_to_thread=True)
def capacity_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    saved: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> Template:
    return Template("capacity.html", context=_capacity_page(db, broker, actor, now, saved=saved))


def _requested_numbers(data: dict[str, str]) -> tuple[int, int]:
    try:
        units, beds = int(data.get("free_units", "")), int(data.get("free_beds", ""))
    except ValueError as exc:
        raise InvalidInput("free units and free beds must be whole numbers") from exc
    step = {"units+": (1, 0), "units-": (-1, 0), "beds+": (0, 1), "beds-": (0, -1)}
    du, db_ = step.get(data.get("action", ""), (0, 0))
    return units + du, beds + db_


@post(
    "/staff/capacity/{facility_id:int}",
    opt=allow(Role.SHELTER_STAFF, via="cookie"),
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
        # Nothing was written (the report is checked first); show the page with the reason.
        context = _capacity_page(
            db, broker, actor, now, error=problem.message, error_facility=facility_id
        )
        return Template("capacity.html", context=context, status_code=422)
    return Redirect(f"/staff/capacity?saved={facility_id}", status_code=303)


@get("/facilities", opt=allow(Role.COUNSELLOR, Role.ADMIN, via="cookie"), sync_to_thread=True)
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
        stale_after=broker.stale_after,
        filters=facilities.FacilityFilter(
            kind=kind or None, region=region or None, with_free_units=free == "1"
        ),
    )
    return Template(
        "overview.html",
        context={
            "actor": actor,
            "facilities": views,
            "kinds": {rule.kind.value: rule.label for rule in broker.rules.kinds.values()},
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


PAGE_HANDLERS = [
    root,
    login_page,
    login_submit,
    logout_submit,
    home,
    capacity_page,
    capacity_submit,
    overview_page,
]
