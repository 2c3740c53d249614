"""Every error the app returns, mapped in one place.

JSON callers get ``{"error": {"status", "code", "message", "details"}}`` whatever went
wrong; HTML pages get the error page (in the pages' layout, with the signed-in user's
navigation and sign-out button), or the login page when a sign-in is needed.

    PageRefusal                            the refusing page itself (the form again, with the
                                           reason), at the refusal's status
    broker.errors.BrokerError subclasses   their own status (422, 401, 403, 404, 409, 429;
                                           a 429 that knows when to come back: Retry-After)
    litestar ValidationException           422 the body does not fit the schema
    litestar ClientException               400 malformed JSON or parameters, JSON nested
                                           too deep (api.strict_body)
    litestar HTTPException (others)        its status (404 no route, 405, 413 too large ...)
    sqlalchemy IntegrityError              409 the database refused an impossible state (a
                                           second stay for one case, a hold confirmed twice):
                                           a concurrent change won; nothing was written
    sqlalchemy DataError                   422 the database refused a value (out of range, a
                                           NUL in text); the input checks refuse these
                                           first, this is the net behind them
    sqlalchemy OperationalError,           503 the database is busy, unreachable or restarting;
      InterfaceError, or a lost connection     nothing was changed, try again
    anything else                          500 with a fixed message; only the exception's
                                           type and stack are logged, never its text, so no
                                           stored value can reach the log through an error
"""

from __future__ import annotations

import functools
import logging
import traceback
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError

from api.i18n import request_language
from broker.domain.access import Principal
from broker.errors import BrokerError, RateLimited
from broker.i18n import N_, Catalogues, Locale, check_time_zone, current, gettext, using

log = logging.getLogger("broker.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}
# What the error page says a status means, under its number (translated when shown).
_STATUS_TEXTS = {
    400: N_("The request could not be read."),
    403: N_("You may not open this page."),
    404: N_("There is no page at this address."),
    405: N_("This address does not take this kind of request."),
    409: N_("Someone changed this at the same moment."),
    413: N_("What was sent is too large."),
    415: N_("What was sent is not in a form this page takes."),
    422: N_("What was sent cannot be used."),
    429: N_("Too many requests: wait a little, then try again."),
    500: N_("Something went wrong in the broker."),
    503: N_("The broker cannot reach its database just now."),
}


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/") or request.url.path.startswith("/schema"):
        return False
    policy = getattr(request.scope.get("route_handler"), "opt", {}).get("policy")
    if policy is not None:
        return getattr(policy, "via", "") == "cookie"
    return "text/html" in request.headers.get("accept", "")


def _signed_in(request: Request[Any, Any, Any]) -> Principal | None:
    """Who the guard found signed in, if it got that far: the error page then keeps her
    role's navigation and the sign-out button, as every other page does."""
    principal = request.scope.get("user")
    return principal if isinstance(principal, Principal) else None


@functools.cache
def _catalogues(directory: Path) -> Catalogues:
    return Catalogues(directory)


def _page_locale(request: Request[Any, Any, Any]) -> Locale:
    """The error page's language and zone, found as ``api.i18n.locale_middleware`` finds
    them: an address that no route takes is answered before any middleware runs."""
    state = getattr(request.app.state, "broker", None)
    if state is None:
        return current()
    settings = state.settings
    language = request_language(request.scope, settings.language)
    return Locale(
        language,
        check_time_zone(settings.time_zone),
        _catalogues(settings.data_dir / "locale").translations(language),
    )


class _ErrorPage(Template):
    """The error page, written in the reader's language and zone."""

    def __init__(self, locale: Locale, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.locale = locale

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        with using(self.locale):
            return super().to_asgi_response(*args, **kwargs)


def _render(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
) -> Response[Any]:
    if _wants_html(request):
        if status == 401:
            return Redirect(path="/login", status_code=303)
        locale = _page_locale(request)
        with using(locale):
            summary = gettext(_STATUS_TEXTS[status]) if status in _STATUS_TEXTS else ""
        # the framework's bare reason phrase ("Not Found") says no more than the summary
        if summary and message == _reason_phrase(status):
            message = ""
        return _ErrorPage(  # type: ignore[return-value]
            locale,
            template_name="error.html",
            context={
                "status": status,
                "summary": summary,
                "message": message,
                "actor": _signed_in(request),
            },
            status_code=status,
        )
    return Response(
        content={
            "error": {"status": status, "code": code, "message": message, "details": details or []}
        },
        status_code=status,
        media_type=MediaType.JSON,
    )


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_response(request: Request[Any, Any, Any], exc: BrokerError) -> Response[Any]:
    """The response for ``exc`` without raising it: used where the transaction must still
    commit (a failed login is recorded before it is refused)."""
    return broker_error_handler(request, exc)


def broker_error_handler(request: Request[Any, Any, Any], exc: BrokerError) -> Response[Any]:
    if exc.status_code >= 500:
        return unexpected_error_handler(request, exc)
    response = _render(
        request, status=exc.status_code, code=exc.code, message=exc.message, details=exc.details
    )
    if isinstance(exc, RateLimited) and exc.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _validation_details(extra: Any) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            details.append(
                {"field": str(item.get("key", "")), "message": str(item.get("message", ""))}
            )
    return details


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return unexpected_error_handler(request, exc)
    if isinstance(exc, ValidationException):
        details = _validation_details(exc.extra)
        summary = "; ".join(
            f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
        )
        return _render(
            request,
            status=422,
            code="invalid_input",
            message=gettext("the request does not fit the schema: {problems}").format(
                problems=summary or exc.detail
            ),
            details=details,
        )
    if isinstance(exc, ClientException) and status == 400:
        return _render(
            request,
            status=400,
            code="bad_request",
            message=gettext("malformed request: {problem}").format(problem=exc.detail),
        )
    return _render(
        request, status=status, code=_HTTP_CODES.get(status, "error"), message=str(exc.detail)
    )


# Driver errors the caller caused: status, code, what the log calls it, what the caller reads.
# Only the exception's type is logged, never its text: it may hold the caller's values.
_REFUSALS: tuple[tuple[type[DBAPIError], int, str, str, str], ...] = (
    (
        IntegrityError,
        409,
        "conflict",
        "integrity refusal",
        N_(
            "this changed at the same moment by another request; nothing was changed, "
            "reload and try again"
        ),
    ),
    (
        DataError,
        422,
        "invalid_input",
        "database refused a value",
        N_("a value in the request is out of range or cannot be stored; nothing was changed"),
    ),
)


def database_error_handler(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """Errors raised by the database driver: a constraint (409), a value the database cannot
    hold (422), the database gone or busy (503), anything else unexpected (500)."""
    for kind, status, code, logged, message in _REFUSALS:
        if isinstance(exc, kind):
            log.warning(
                "%s on %s %s: %s",
                logged,
                request.method,
                request.url.path,
                type(exc.orig).__name__,
            )
            return _render(request, status=status, code=code, message=gettext(message))
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return database_busy_handler(request, exc)
    return unexpected_error_handler(request, exc)


def database_busy_handler(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        type(exc.orig).__name__,
    )
    return _render(
        request,
        status=503,
        code="database_busy",
        message=gettext(
            "the database is busy or unreachable; nothing was changed, please try again"
        ),
    )


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "unexpected %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path, stack
    )
    return _render(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        code="internal_error",
        message=gettext("the broker could not complete this request; nothing was changed"),
    )


class PageRefusal(BrokerError):
    """A refusal answered with a page (the form again, with the reason), raised rather than
    returned so that the request's unit of work (``api.deps.provide_session``) rolls back
    whatever the service wrote before it refused, for every page alike; a refusal that keeps
    its trace (a rate limit, a counted failed sign-in) keeps only that. ``page`` is sent with
    the refusal's status."""

    def __init__(self, problem: BrokerError, page: Template) -> None:
        super().__init__(problem.message, details=problem.details)
        self.page = page
        self.status_code = problem.status_code
        self.code = problem.code
        self.keeps_trace = problem.keeps_trace


def page_refusal_handler(_: Request[Any, Any, Any], refusal: PageRefusal) -> Template:
    return refusal.page


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    PageRefusal: page_refusal_handler,
    BrokerError: broker_error_handler,
    HTTPException: http_error_handler,
    DBAPIError: database_error_handler,
    Exception: unexpected_error_handler,
}
