"""The users' language and time: message catalogues, the language of the work at hand, and
times shown in the broker's time zone.

Texts are written in English in the code and the templates. The Hungarian catalogues are
``data/locale/hu/LC_MESSAGES/*.po`` (one file per area, all merged), read with Babel when
the app starts, so there is no compile step to forget. English needs no catalogue.

The language of the work at hand is a context variable: the web layer sets it for each
request (the user's choice, else the browser's, else ``BROKER_LANGUAGE``); a job or a
command that writes no page keeps the default, English. :func:`gettext` reads it, so a
message written as ``gettext("...")`` anywhere is said in the reader's language, while its
error ``code`` stays the same in every language. :func:`N_` marks a text for the catalogue
where it is defined (a table of texts) and it is translated where it is shown.
"""

from __future__ import annotations

import gettext as gettext_module
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LANGUAGES = ("hu", "en")
SOURCE_LANGUAGE = "en"
# The pages' date and time: "2026. 11. 29. 14:05" in Hungarian, "29/11/2026, 14:05" in English.
_BABEL_LOCALE = {"hu": "hu_HU", "en": "en_GB"}
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    return language


def check_time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}, e.g. Europe/Budapest") from exc


class Catalogues:
    """Every language's translations, read once from ``directory/<lang>/LC_MESSAGES``."""

    def __init__(self, directory: Path) -> None:
        self._by_language: dict[str, gettext_module.NullTranslations] = {
            SOURCE_LANGUAGE: gettext_module.NullTranslations()
        }
        for language in LANGUAGES:
            if language == SOURCE_LANGUAGE:
                continue
            merged = Translations()
            for path in sorted((directory / language / "LC_MESSAGES").glob("*.po")):
                with path.open("rb") as handle:
                    catalogue = read_po(handle, locale=language)
                compiled = io.BytesIO()
                write_mo(compiled, catalogue)
                compiled.seek(0)
                merged.merge(Translations(compiled))
            self._by_language[language] = merged

    def translations(self, language: str) -> gettext_module.NullTranslations:
        return self._by_language[check_language(language)]


@dataclass(frozen=True, slots=True)
class Locale:
    """A reader's language and the zone their times are shown in."""

    language: str = SOURCE_LANGUAGE
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    translations: gettext_module.NullTranslations = field(
        default_factory=gettext_module.NullTranslations
    )


# English in UTC: what a job or a command works in, having no reader
_DEFAULT = Locale()
_current: ContextVar[Locale | None] = ContextVar("broker_locale", default=None)


def current() -> Locale:
    return _current.get() or _DEFAULT


@contextmanager
def using(locale: Locale) -> Iterator[Locale]:
    """Work in ``locale`` for the duration of the block."""
    token = _current.set(locale)
    try:
        yield locale
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return current().translations.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return current().translations.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue; it is translated where it is shown."""
    return message


def local_datetime(value: datetime) -> str:
    """A moment as the reader reads it: in the broker's zone, in their language's form."""
    locale = current()
    return format_datetime(
        value, "short", tzinfo=locale.zone, locale=_BABEL_LOCALE[locale.language]
    )


def local_time(value: datetime) -> str:
    """The clock time of a moment (e.g. a hold's expiry), in the broker's zone."""
    locale = current()
    return format_time(value, "short", tzinfo=locale.zone, locale=_BABEL_LOCALE[locale.language])


def local_number(value: int) -> str:
    """A count as the reader writes it: "2 430" in Hungarian, "2,430" in English."""
    return format_decimal(value, "#,##0", locale=_BABEL_LOCALE[current().language])


def local_share(value: float) -> str:
    """A share as a per cent, with up to four decimals: "0,01%" / "0.01%"."""
    return format_percent(value, "#,##0.####%", locale=_BABEL_LOCALE[current().language])


def preferred_language(accept_language: str, default: str) -> str:
    """The first of our languages in an ``Accept-Language`` header, by weight; ``default``
    when it names none of them (or is malformed)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or not _LANGUAGE_TAG.match(tag):
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else default
