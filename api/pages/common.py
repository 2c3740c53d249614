"""What the page modules share: the form types, the session cookie, the home of each role,
the texts of hold states, field errors, and how a page answers a refusal.

A page that refuses a change answers with itself (the form again, with the reason), a 4xx
that is not an error page. It does so by raising :class:`PageRefusal`, never by returning
the page: the request's unit of work (``api.deps.provide_session``) then sees an exception
and rolls back whatever the service wrote before it refused, for every page alike, and the
one error map (``api.errors``) sends the page. A refusal that must keep its
trace (a rate limit, a counted failed sign-in) keeps it, and only it, as on the JSON API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Template

from api.deps import Broker, DbSession
from api.errors import PageRefusal
from api.guards import SESSION_COOKIE
from broker.domain.access import Principal, Role
from broker.domain.states import HoldState
from broker.errors import BrokerError, InvalidInput
from broker.i18n import N_, gettext

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A multi-select sends its name once per chosen option; the plain Form would refuse that.
MultiForm = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]
HoldIdQuery = Annotated[str, QueryParameter(max_length=32)]

HOME_BY_ROLE = {
    Role.SHELTER_STAFF: "/staff/capacity",
    Role.COUNSELLOR: "/call",
    Role.ADMIN: "/facilities",
    Role.POLICE: "/police",
}

# translated where they are shown
HOLD_STATES = {
    HoldState.OPEN: N_("open"),
    HoldState.CONFIRMED: N_("confirmed: the family has arrived"),
    HoldState.DECLINED: N_("declined"),
    HoldState.RELEASED: N_("released"),
    HoldState.EXPIRED: N_("expired"),
}
# A birth date as typed on a page: year, month and day, in this order, as ISO 8601 writes
# it (1990-04-02) or as Hungarians do (1990. 04. 02., 1990.4.2); the API takes ISO 8601 only.
TYPED_DATE = re.compile(r"([0-9]{4})\s*[-./]\s*([0-9]{1,2})\s*[-./]\s*([0-9]{1,2})\s*\.?")


def home_for(principal: Principal) -> str:
    return HOME_BY_ROLE.get(principal.role, "/home")


def session_cookie(broker: Broker, value: str, *, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=broker.settings.secure_cookies,
        samesite="strict",
        path="/",
    )


def field_errors(problem: InvalidInput) -> dict[str, str]:
    """The first message for each form field the refusal names."""
    errors: dict[str, str] = {}
    for detail in problem.details:
        errors.setdefault(str(detail.get("field", "")), str(detail.get("message", "")))
    return errors


def birth_date(text: str) -> date:
    """The date typed into a page's birth date field (see ``TYPED_DATE``)."""
    typed = TYPED_DATE.fullmatch(text.strip())
    try:
        if typed is None:
            raise ValueError(text)
        year, month, day = (int(part) for part in typed.groups())
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidInput(
            gettext("The birth date must be a date written as YYYY-MM-DD, such as 1990-04-02.")
        ) from exc


def refused(
    db: DbSession, problem: BrokerError, page: Template | Callable[[], Template]
) -> PageRefusal:
    """The exception to raise to answer ``problem`` with ``page``.

    What the service wrote before it refused is dropped at once, so a page given as a
    function, as every page that reads the database is, is built from what stays. Raising
    then rolls back the rest of the request as well.
    """
    if not problem.keeps_trace:
        db.rollback()
    return PageRefusal(problem, page if isinstance(page, Template) else page())


def refused_page(
    db: DbSession,
    problem: BrokerError,
    template: str,
    context: Callable[[], dict[str, Any]],
) -> PageRefusal:
    """:func:`refused` for a page read from the database: ``template`` with the
    ``context`` built after the rollback, at the refusal's status."""
    return refused(
        db,
        problem,
        lambda: Template(template, context=context(), status_code=problem.status_code),
    )
