"""The solver's texts said in the reader's language: an option's reasons, a near miss's
words, why facilities were left out.

The solver writes them in English as data (:class:`solver.texts.Text`: a template and its
arguments), so that it imports nothing from the broker. :func:`say` is the one place they
become words: it translates the template in the language of the work at hand
(:mod:`broker.i18n`), says each argument that is itself a Text (a kind's label, a risk
level), then fills them in, with a decimal comma where the language writes one. The pages
use it as the ``say`` filter, the JSON API for its ``reasons``, ``message`` and
``excluded_reasons``. In English it gives exactly ``str(text)``.

The Hungarian of the templates is in ``data/locale/hu/LC_MESSAGES/reasons.po``; the kinds'
labels and the hard rules' messages are catalogue entries of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from string import Formatter

from babel.numbers import get_decimal_symbol

from broker.i18n import current
from solver.texts import Text


class _LocalNumbers(Formatter):
    """``str.format`` that writes a number's decimal point as the language does."""

    def __init__(self, decimal: str) -> None:
        self.decimal = decimal

    def format_field(self, value: object, format_spec: str) -> str:
        said = format(value, format_spec)
        return said.replace(".", self.decimal) if isinstance(value, float) else said


@cache
def _formatter(language: str) -> Callable[..., str]:
    """How ``template.format`` is done in ``language``: ``str.format`` where the decimal
    point is a point."""
    decimal = get_decimal_symbol(language)
    return str.format if decimal == "." else _LocalNumbers(decimal).format


def say(value: Text | str) -> str:
    """``value`` in the reader's language. A plain string is a catalogue entry (e.g. a hard
    rule's message), or said as it is when the catalogue has none."""
    locale = current()
    translations = locale.translations
    if isinstance(value, str):
        return translations.gettext(value)
    arguments = value.arguments
    count = arguments.get("count")
    if value.plural and isinstance(count, int):
        template = translations.ngettext(value.template, value.plural, count)
    elif value.context:
        template = translations.pgettext(value.context, value.template)
    else:
        template = translations.gettext(value.template)
    said = {name: say(arg) if isinstance(arg, Text) else arg for name, arg in arguments.items()}
    return _formatter(locale.language)(template, **said)
