"""Each request's language and time zone, and the pages' switch between languages.

The language of a page is, in this order: the reader's saved choice (the
``broker_language`` cookie, set by the switch in every page's header), the first of our
languages in the browser's ``Accept-Language``, else ``BROKER_LANGUAGE``. Times on pages are
shown in ``BROKER_TIME_ZONE``. The JSON API's field names and error codes never change with
the language; its messages follow ``Accept-Language``, beside their stable codes, and are
English when the caller names no language of ours (a program, not a person, reads them
first).
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Annotated

from jinja2 import Environment
from litestar import post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from litestar.types import ASGIApp, Receive, Scope, Send

from api.deps import Broker
from api.guards import public
from broker.i18n import (
    LANGUAGES,
    SOURCE_LANGUAGE,
    Catalogues,
    Locale,
    check_time_zone,
    current,
    gettext,
    local_datetime,
    local_number,
    local_share,
    local_time,
    ngettext,
    preferred_language,
    using,
)
from broker.reason_texts import say
from broker.settings import Settings

LANGUAGE_COOKIE = "broker_language"
LANGUAGE_NAMES = {"hu": "Magyar", "en": "English"}
ONE_YEAR = 365 * 24 * 3600


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def request_language(scope: Scope, default: str) -> str:
    if str(scope.get("path", "")).startswith("/api/"):
        return preferred_language(_header(scope, b"accept-language"), SOURCE_LANGUAGE)
    try:
        cookies = SimpleCookie(_header(scope, b"cookie"))
    except CookieError:
        cookies = SimpleCookie()
    chosen = cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen.value in LANGUAGES:
        return chosen.value
    return preferred_language(_header(scope, b"accept-language"), default)


def locale_middleware(settings: Settings, catalogues: Catalogues) -> Callable[[ASGIApp], ASGIApp]:
    """Sets the request's :class:`broker.i18n.Locale` for everything the request runs."""
    zone = check_time_zone(settings.time_zone)

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            language = request_language(scope, settings.language)
            with using(Locale(language, zone, catalogues.translations(language))):
                await app(scope, receive, send)

        return middleware

    return factory


def install(environment: Environment) -> None:
    """Templates translate with ``{% trans %}`` and ``_()``, in the request's language, and
    show times with the ``when`` (date and time) and ``clock`` (time) filters, counts with
    ``number`` and shares as per cents with ``share``, as the language writes them."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True
    )
    environment.filters["when"] = local_datetime
    environment.filters["clock"] = local_time
    environment.filters["number"] = local_number
    environment.filters["share"] = local_share
    environment.filters["say"] = say  # the solver's texts (broker.reason_texts)
    environment.globals["page_language"] = lambda: current().language
    environment.globals["language_names"] = LANGUAGE_NAMES


LanguageForm = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _back_to(path: str) -> str:
    """Only a path on this site: never another origin, whatever the form says."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@post("/language", opt=public(via="cookie"), status_code=303)
async def language_switch(data: LanguageForm, broker: Broker) -> Redirect:
    """Save the reader's language and go back to the page they were on."""
    language = data.get("language", "")
    response = Redirect(_back_to(data.get("next", "/")), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(
            Cookie(
                key=LANGUAGE_COOKIE,
                value=language,
                max_age=ONE_YEAR,
                httponly=True,
                secure=broker.settings.secure_cookies,
                samesite="strict",
                path="/",
            )
        )
    return response
