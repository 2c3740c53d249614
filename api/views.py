"""Server-rendered pages: sign-in, the shelter's capacity, incoming holds and residents, and
the counsellor's call screen and facility overview.

Pages authenticate with the session cookie only and every form carries Litestar's CSRF
token. Like the JSON controllers, each handler parses, calls the service it is about and
renders; the ``_*_page`` helpers gather what else the page shows. A change that succeeds
answers with a redirect (post/redirect/get), so reloading the page never holds a second
place or records a departure twice.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from api.controllers.police import answer_no_sooner_than_the_floor
from api.dashboard import dashboard_page
from api.deps import Actor, Broker, DbSession, Now
from api.guards import SESSION_COOKIE, allow, credential_of, public
from api.schemas import FamilyRequest
from broker.crypto import token_digest
from broker.domain.access import ALL_ROLES, Principal, Role
from broker.domain.identity import Identity
from broker.domain.requests import request_from_json, request_to_json
from broker.domain.rules import FacilityKind, RiskLevel
from broker.domain.states import Event, HoldState
from broker.errors import (
    BrokerError,
    Conflict,
    InvalidInput,
    OtpInvalid,
    RateLimited,
    SecondFactorNotEnrolled,
    SignInFailed,
)
from broker.services import (
    accounts,
    capacity,
    facilities,
    holds,
    matching,
    notifications,
    placements,
    police,
)
from solver.instance import Family, Needs, Person, PlacementRequest
from solver.ranking import Ranking

if TYPE_CHECKING:
    from sqlmodel import Session

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A multi-select sends its name once per chosen option; the plain Form would refuse that.
MultiForm = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]

HOME_BY_ROLE = {
    Role.SHELTER_STAFF: "/staff/capacity",
    Role.COUNSELLOR: "/call",
    Role.ADMIN: "/facilities",
    Role.POLICE: "/police",
}

HOLD_STATES = {
    HoldState.OPEN: "open",
    HoldState.CONFIRMED: "confirmed: the family has arrived",
    HoldState.DECLINED: "declined",
    HoldState.RELEASED: "released",
    HoldState.EXPIRED: "expired",
}
# Stricter than the JSON API (any age 0-120) so that a typo such as "3" for "34" is caught;
# a teenage mother is entered as an adult, so adults start at 14, and a child is under 18.
ADULT_AGES, CHILD_AGES = (14, 120), (0, 17)
MAX_ADULTS, MAX_CHILDREN, MAX_LANGUAGES, MAX_REGIONS = 6, 15, 10, 30
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
CASE_CODE = r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"
HoldIdQuery = Annotated[str, QueryParameter(max_length=32)]
# Binds the hidden request of a "Hold" form to the counsellor it was shown to; the prefix
# keeps these digests apart from the token digests made with the same secret.
REQUEST_MAC_CONTEXT = "call-request-v1"


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


PENDING_COOKIE = "broker_signin"
WRONG_PASSWORD = "Wrong username or password."
WRONG_CODE = "That code is wrong, has expired or was used already."
SIGN_IN_EXPIRED = "The sign-in has expired. Enter your username and password again."
NOT_ENROLLED = (
    "This account has no second factor, which this broker requires. "
    "Ask an administrator to enrol one, then sign in with its code."
)


def _pending_cookie(broker: Broker, value: str, *, max_age: int) -> Cookie:
    """Carries a sign-in whose password was right to the form that asks for its code. It
    opens nothing by itself, and lives only on the sign-in page."""
    return Cookie(
        key=PENDING_COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=broker.settings.secure_cookies,
        samesite="strict",
        path="/login",
    )


def _login_form(
    *,
    step: str = "password",
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Template:
    return Template(
        "login.html",
        context={"error": error, "username": username, "step": step},
        status_code=status_code,
        headers=headers,
        cookies=cookies,
    )


def _signed_in(broker: Broker, signed_in: accounts.SignedIn) -> Redirect:
    return Redirect(
        home_for(signed_in.principal),
        status_code=303,
        cookies=[
            _session_cookie(broker, signed_in.token, max_age=int(broker.token_ttl.total_seconds())),
            _pending_cookie(broker, "", max_age=0),
        ],
    )


@get("/login", opt=public(via="cookie"))
async def login_page() -> Template:
    return _login_form()


@post("/login", opt=public(via="cookie"), sync_to_thread=True)
def login_submit(
    request: Request[Any, Any, Any], data: Form, db: DbSession, broker: Broker, now: Now
) -> Template | Redirect:
    """Step one takes the username and password; an account with a second factor is then
    asked for its code (step two, ``step=code``). Refusals are counted and audited, so they
    are answered, not raised, and the request's unit of work commits them."""
    policy = accounts.SignInPolicy.from_settings(broker.settings)
    client = request.client.host if request.client else None
    username = data.get("username", "")[:80]
    try:
        if data.get("step") == "code":
            signed_in = accounts.sign_in_second_step(
                session=db,
                token_secret=broker.settings.token_secret_bytes,
                policy=policy,
                pending_token=request.cookies.get(PENDING_COOKIE, ""),
                otp=data.get("code", "")[:40],
                client=client,
                now=now,
            )
            return _signed_in(broker, signed_in)
        outcome = accounts.sign_in(
            session=db,
            passwords=broker.passwords,
            token_secret=broker.settings.token_secret_bytes,
            policy=policy,
            username=username,
            password=data.get("password", "")[:200],
            otp=None,
            client=client,
            now=now,
            page=True,
        )
    except RateLimited as problem:
        seconds = problem.retry_after_seconds or 1
        return _login_form(
            error=f"Too many failed sign-ins. Try again in {accounts.wait_text(seconds)}.",
            username=username,
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    except OtpInvalid:
        return _login_form(step="code", error=WRONG_CODE, status_code=401)
    except SecondFactorNotEnrolled:
        return _login_form(error=NOT_ENROLLED, username=username, status_code=403)
    except SignInFailed:
        if data.get("step") == "code":
            return _login_form(
                error=SIGN_IN_EXPIRED,
                status_code=401,
                cookies=[_pending_cookie(broker, "", max_age=0)],
            )
        return _login_form(error=WRONG_PASSWORD, username=username, status_code=401)
    if isinstance(outcome, accounts.SecondFactorPending):
        return _login_form(
            step="code",
            cookies=[
                _pending_cookie(
                    broker, outcome.token, max_age=int(accounts.PENDING_TTL.total_seconds())
                )
            ],
        )
    return _signed_in(broker, outcome)


def _undo(db: Session, problem: BrokerError) -> None:
    """A page that shows a refusal answers normally, so the request's unit of work would
    commit: drop whatever the service wrote before it refused (a refusal that keeps its
    trace, as a rate limit does, keeps only that)."""
    if not problem.keeps_trace:
        db.rollback()


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


# --- shelter staff: capacity ------------------------------------------------------------


def _own_facilities(
    db: DbSession, broker: Broker, actor: Actor, now: Now
) -> list[facilities.FacilityView]:
    return facilities.facility_list(
        session=db,
        now=now,
        context=broker.services,
        filters=facilities.FacilityFilter(ids=actor.facility_ids),
    )


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
        _undo(db, problem)
        # Nothing was written (the report is checked first); show the page with the reason.
        context = _capacity_page(
            db, broker, actor, now, error=problem.message, error_facility=facility_id
        )
        return Template("capacity.html", context=context, status_code=422)
    return Redirect(f"/staff/capacity?saved={facility_id}", status_code=303)


# --- counsellor: facility overview ------------------------------------------------------


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


# --- counsellor: the call screen --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FamilyInput:
    """The call form as typed; shown back unchanged when something in it is wrong."""

    women: str = ""
    men: str = ""
    girls: str = ""
    boys: str = ""
    wheelchair: bool = False
    pets: bool = False
    night_arrival: bool = False
    reentry: bool = False
    trafficking_victim: bool = False
    languages: str = ""
    risk: str = RiskLevel.STANDARD.value
    avoid_regions: tuple[str, ...] = ()
    preferred_regions: tuple[str, ...] = ()
    travel_minutes: str = ""


CHECKBOXES = ("wheelchair", "pets", "night_arrival", "reentry", "trafficking_victim")


def _family_input(data: dict[str, str | list[str]]) -> FamilyInput:
    def one(key: str) -> str:
        value = data.get(key, "")
        # a repeated single field can only come from a hand-made request: keep the first
        return (value[0] if isinstance(value, list) else value).strip()[:200]

    def many(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        return tuple(item[:80] for item in ([value] if isinstance(value, str) else value))

    return FamilyInput(
        women=one("women"),
        men=one("men"),
        girls=one("girls"),
        boys=one("boys"),
        languages=one("languages"),
        risk=one("risk") or RiskLevel.STANDARD.value,
        avoid_regions=many("avoid_regions")[: MAX_REGIONS + 1],
        preferred_regions=many("preferred_regions")[: MAX_REGIONS + 1],
        travel_minutes=one("travel_minutes"),
        **{key: one(key) == "1" for key in CHECKBOXES},
    )


def _input_of(request: PlacementRequest, travel_minutes: int) -> FamilyInput:
    """The form filled in from a stored request, for matching a family again."""

    def ages(group: tuple[Person, ...], male: bool) -> str:
        return ", ".join(str(person.age) for person in group if person.male is male)

    return FamilyInput(
        women=ages(request.family.adults, False),
        men=ages(request.family.adults, True),
        girls=ages(request.family.children, False),
        boys=ages(request.family.children, True),
        wheelchair=request.needs.wheelchair,
        pets=request.needs.pets,
        night_arrival=request.needs.night_arrival,
        reentry=request.reentry,
        trafficking_victim=request.trafficking_victim,
        languages=", ".join(sorted(request.needs.languages)),
        risk=request.risk,
        avoid_regions=tuple(sorted(request.avoid_regions)),
        preferred_regions=tuple(sorted(request.preferred_regions)),
        travel_minutes=str(travel_minutes),
    )


def _ages(
    text: str, field: str, limits: tuple[int, int], problems: list[dict[str, str]]
) -> list[int]:
    low, high = limits
    ages: list[int] = []
    for part in re.split(r"[,;\s]+", text):
        if not part:
            continue
        if not (part.isascii() and part.isdigit() and low <= int(part) <= high):
            problems.append(
                {"field": field, "message": f"'{part[:10]}' is not an age from {low} to {high}"}
            )
            return []
        ages.append(int(part))
    return ages


def _travel_minutes(text: str, broker: Broker) -> int:
    maximum = broker.settings.hold_ttl_max_minutes
    if not text:
        return broker.settings.hold_ttl_default_minutes
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= maximum):
        raise InvalidInput(
            f"the time to reach the meeting point must be 1 to {maximum} minutes",
            details=[{"field": "travel_minutes", "message": f"1 to {maximum} minutes"}],
        )
    return int(text)


def _parse_family(form: FamilyInput, broker: Broker) -> tuple[PlacementRequest, int]:
    """The request the form describes, or InvalidInput naming every field that is wrong."""
    problems: list[dict[str, str]] = []
    women = _ages(form.women, "women", ADULT_AGES, problems)
    men = _ages(form.men, "men", ADULT_AGES, problems)
    girls = _ages(form.girls, "girls", CHILD_AGES, problems)
    boys = _ages(form.boys, "boys", CHILD_AGES, problems)
    if not problems and not women + men:
        problems.append({"field": "women", "message": "give the age of at least one adult"})
    if len(women) + len(men) > MAX_ADULTS:
        problems.append({"field": "women", "message": f"at most {MAX_ADULTS} adults"})
    if len(girls) + len(boys) > MAX_CHILDREN:
        problems.append({"field": "girls", "message": f"at most {MAX_CHILDREN} children"})
    languages = sorted({code.lower() for code in re.split(r"[,;\s]+", form.languages) if code})
    wrong = [code for code in languages if not LANGUAGE_CODE.fullmatch(code)]
    if wrong:
        problems.append(
            {"field": "languages", "message": f"'{wrong[0][:10]}' is not a 2- or 3-letter code"}
        )
    elif len(languages) > MAX_LANGUAGES:
        problems.append({"field": "languages", "message": f"at most {MAX_LANGUAGES} languages"})
    if form.risk not in {level.value for level in RiskLevel}:
        problems.append({"field": "risk", "message": "choose standard, medium or high"})
    for field in ("avoid_regions", "preferred_regions"):
        chosen = getattr(form, field)
        unknown = [name for name in chosen if not broker.rules.has_region(name)]
        if unknown:
            problems.append({"field": field, "message": f"unknown region '{unknown[0]}'"})
        elif len(chosen) > MAX_REGIONS:
            problems.append({"field": field, "message": f"at most {MAX_REGIONS} regions"})
    both = set(form.avoid_regions) & set(form.preferred_regions)
    if both:
        problems.append(
            {
                "field": "preferred_regions",
                "message": f"both avoided and preferred: {', '.join(sorted(both))}",
            }
        )
    try:
        minutes = _travel_minutes(form.travel_minutes, broker)
    except InvalidInput as problem:
        problems.extend(problem.details)
        minutes = 0
    if problems:
        summary = "; ".join(problem["message"] for problem in problems)
        raise InvalidInput(f"Please correct the form: {summary}.", details=problems)
    request = PlacementRequest(
        family=Family(
            adults=tuple(Person(age, False) for age in women)
            + tuple(Person(age, True) for age in men),
            children=tuple(Person(age, False) for age in girls)
            + tuple(Person(age, True) for age in boys),
        ),
        needs=Needs(
            wheelchair=form.wheelchair,
            pets=form.pets,
            languages=frozenset(languages),
            night_arrival=form.night_arrival,
        ),
        risk=form.risk,
        avoid_regions=frozenset(form.avoid_regions),
        preferred_regions=frozenset(form.preferred_regions),
        reentry=form.reentry,
        trafficking_victim=form.trafficking_victim,
    )
    return request, minutes


def _request_mac(broker: Broker, actor: Actor, payload: str) -> str:
    message = f"{REQUEST_MAC_CONTEXT}\x00{actor.user_id}\x00{payload}"
    return token_digest(broker.settings.token_secret_bytes, message)


def _signed_request(broker: Broker, actor: Actor, payload: str, mac: str) -> PlacementRequest:
    """The family request carried by a "Hold" form, refused if it was changed in any way."""
    tampered = InvalidInput(
        "The family's details on this form were changed after matching, so nothing was "
        "held. Fill in the form and match again."
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
    **extra: Any,
) -> dict[str, Any]:
    own = holds.holds_of_counsellor(session=db, actor=actor, now=now)
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
        "error": None,
        "field_errors": {},
        "error_hold": None,
        "rematch_of": None,
        **extra,
    }


def _field_errors(problem: InvalidInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    for detail in problem.details:
        errors.setdefault(str(detail.get("field", "")), str(detail.get("message", "")))
    return errors


@get("/call", opt=allow(Role.COUNSELLOR, via="cookie"), sync_to_thread=True)
def call_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    held: HoldIdQuery = "",
    released: HoldIdQuery = "",
) -> Template:
    context = _call_page(db, broker, actor, now, held=held, released=released)
    return Template("call.html", context=context)


# A path of its own rather than POST /call: Litestar 2.25 wraps a sync_to_thread handler a
# second time when a later handler is registered on the same path, and the GET then fails.
@post(
    "/call/match",
    opt={**allow(Role.COUNSELLOR, via="cookie"), "writes": False},
    status_code=HTTP_200_OK,
    sync_to_thread=True,
)
def call_match(data: MultiForm, db: DbSession, broker: Broker, actor: Actor, now: Now) -> Template:
    form = _family_input(data)
    try:
        request, minutes = _parse_family(form, broker)
        ranking = _match(db, broker, now, request, counsellor=actor)
    except InvalidInput as problem:
        context = _call_page(
            db,
            broker,
            actor,
            now,
            form=form,
            error=problem.message,
            field_errors=_field_errors(problem),
        )
        return Template("call.html", context=context, status_code=422)
    context = _call_page(
        db, broker, actor, now, form=form, ranking=ranking, request=request, travel_minutes=minutes
    )
    return Template("call.html", context=context)


@post(
    "/call/hold",
    opt=allow(Role.COUNSELLOR, via="cookie"),
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
            raise InvalidInput("The form named no facility to hold; match again.")
        minutes = _travel_minutes(data.get("travel_minutes", ""), broker)
    except InvalidInput as problem:
        # Without a trustworthy request there are no options to show again.
        context = _call_page(db, broker, actor, now, error=problem.message)
        return Template("call.html", context=context, status_code=422)
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
        _undo(db, problem)
        # Nothing was held; the options as they stand now, so the next one is one click away.
        ranking = _match(db, broker, now, request)
        context = _call_page(
            db,
            broker,
            actor,
            now,
            form=_input_of(request, minutes),
            ranking=ranking,
            request=request,
            travel_minutes=minutes,
            error=problem.message,
        )
        return Template("call.html", context=context, status_code=problem.status_code)
    return Redirect(f"/call?held={hold.id}", status_code=303)


@post(
    "/call/holds/{hold_id:str}/release",
    opt=allow(Role.COUNSELLOR, via="cookie"),
    sync_to_thread=True,
)
def call_release(
    hold_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template | Redirect:
    try:
        holds.hold_release(session=db, hold_id=hold_id, actor=actor, now=now)
    except Conflict as problem:
        _undo(db, problem)
        context = _call_page(db, broker, actor, now, error=problem.message, error_hold=hold_id)
        return Template("call.html", context=context, status_code=problem.status_code)
    return Redirect(f"/call?released={hold_id}", status_code=303)


@get(
    "/call/holds/{hold_id:str}/match-again",
    opt=allow(Role.COUNSELLOR, via="cookie"),
    sync_to_thread=True,
)
def call_match_again(
    hold_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template:
    try:
        view, ranking = holds.hold_rematch(
            session=db,
            context=broker.services,
            hold_id=hold_id,
            actor=actor,
            now=now,
        )
    except InvalidInput as problem:  # the family's regions are no longer in the rules
        context = _call_page(db, broker, actor, now, error=problem.message)
        return Template("call.html", context=context, status_code=422)
    request = request_from_json(view.request)
    minutes = broker.settings.hold_ttl_default_minutes
    context = _call_page(
        db,
        broker,
        actor,
        now,
        form=_input_of(request, minutes),
        ranking=ranking,
        request=request,
        travel_minutes=minutes,
        rematch_of=view,
    )
    return Template("call.html", context=context)


# --- shelter staff: incoming holds ------------------------------------------------------


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
            holds.holds_for_facility(session=db, facility_id=facility.id, actor=actor, now=now),
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


@get("/staff/holds", opt=allow(Role.SHELTER_STAFF, via="cookie"), sync_to_thread=True)
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


def _birth_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput("The birth date must be a date such as 1990-04-02.") from exc


def _identity_of(data: dict[str, str]) -> Identity | None:
    """The optional identity on the arrival form: both name and birth date, or neither."""
    name, born = data.get("full_name", "").strip(), data.get("birth_date", "").strip()
    if not name and not born:
        return None
    if not name or not born:
        raise InvalidInput("To record her identity, give both the full name and the birth date.")
    return Identity(
        full_name=name,
        birth_date=_birth_date(born),
        police_confirmation_consent=data.get("consent") == "yes",
    )


@post(
    "/staff/holds/{hold_id:str}/confirm",
    opt=allow(Role.SHELTER_STAFF, via="cookie"),
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
        _undo(db, problem)
        context = _incoming_page(db, broker, actor, now, error=problem.message, error_hold=hold_id)
        return Template("incoming.html", context=context, status_code=problem.status_code)
    return Redirect(f"/staff/holds?confirmed={hold_id}", status_code=303)


@post(
    "/staff/holds/{hold_id:str}/decline",
    opt=allow(Role.SHELTER_STAFF, via="cookie"),
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
        _undo(db, problem)
        context = _incoming_page(db, broker, actor, now, error=problem.message, error_hold=hold_id)
        return Template("incoming.html", context=context, status_code=problem.status_code)
    return Redirect(f"/staff/holds?declined={hold_id}", status_code=303)


# --- shelter staff: residents -----------------------------------------------------------


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


@get("/staff/residents", opt=allow(Role.SHELTER_STAFF, via="cookie"), sync_to_thread=True)
def residents_page(
    db: DbSession,
    broker: Broker,
    actor: Actor,
    now: Now,
    departed: Annotated[str | None, QueryParameter(pattern=CASE_CODE)] = None,
) -> Template:
    context = _residents_page(db, broker, actor, now, departed=departed)
    return Template("residents.html", context=context)


@post(
    "/staff/residents/{placement_id:str}/depart",
    opt=allow(Role.SHELTER_STAFF, via="cookie"),
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
        _undo(db, problem)
        context = _residents_page(
            db, broker, actor, now, error=problem.message, error_placement=placement_id
        )
        return Template("residents.html", context=context, status_code=problem.status_code)
    return Redirect(f"/staff/residents?departed={view.case_code}", status_code=303)


@post(
    "/staff/notices/{notice_id:int}/seen",
    opt=allow(Role.SHELTER_STAFF, via="cookie"),
    sync_to_thread=True,
)
def notice_seen_submit(notice_id: FromPath[int], db: DbSession, actor: Actor, now: Now) -> Redirect:
    police.notice_seen(session=db, notice_id=notice_id, actor=actor, now=now)
    return Redirect("/staff/residents#notices", status_code=303)


# --- police: inquiry ----------------------------------------------------------------------


@get("/police", opt=allow(Role.POLICE, via="cookie"))
async def police_page(actor: Actor) -> Template:
    return Template("police.html", context={"actor": actor, "answer": None, "error": None})


@post("/police", opt=allow(Role.POLICE, via="cookie"), status_code=HTTP_200_OK)
async def police_submit(
    data: Form, db: DbSession, broker: Broker, actor: Actor, now: Now
) -> Template:
    """The same form, with the answer under it; nothing else is shown."""
    try:
        answer = await answer_no_sooner_than_the_floor(
            db=db,
            broker=broker,
            officer=actor,
            full_name=data.get("full_name", ""),
            birth_date=_birth_date(data.get("birth_date", "")),
            case_reference=data.get("case_reference", ""),
            now=now,
        )
    except (InvalidInput, RateLimited) as problem:
        _undo(db, problem)
        context = {"actor": actor, "answer": None, "error": problem.message}
        return Template("police.html", context=context, status_code=problem.status_code)
    return Template("police.html", context={"actor": actor, "answer": answer, "error": None})


# --- inbox: notifications for the caller's audience -----------------------------------------

EVENT_TEXTS = {
    Event.HOLD_INCOMING: "a family is on its way under a hold",
    Event.HOLD_EXPIRED: "a hold expired",
    Event.CAPACITY_STALE: "capacity report is stale: please report",
    Event.CAPACITY_STALE_ESCALATED: "a facility's capacity report is long overdue",
    Event.STAY_LIMIT_NEAR: "a stay is reaching its limit",
    Event.PLAN_TRANSFER_PROPOSAL: "a transfer plan was proposed",
    Event.POLICE_INQUIRY: "the police asked about a resident",
}


@get(
    "/inbox",
    opt=allow(Role.SHELTER_STAFF, Role.COUNSELLOR, Role.ADMIN, via="cookie"),
    sync_to_thread=True,
)
def inbox_page(db: DbSession, actor: Actor) -> Template:
    items = notifications.inbox(session=db, actor=actor, limit=200)
    return Template("inbox.html", context={"actor": actor, "items": items, "texts": EVENT_TEXTS})


PAGE_HANDLERS = [
    root,
    login_page,
    login_submit,
    logout_submit,
    home,
    capacity_page,
    capacity_submit,
    overview_page,
    dashboard_page,
    call_page,
    call_match,
    call_hold,
    call_release,
    call_match_again,
    incoming_page,
    incoming_confirm,
    incoming_decline,
    residents_page,
    residents_depart,
    notice_seen_submit,
    police_page,
    police_submit,
    inbox_page,
]
