"""What the solver says to people, as data: a template and its arguments, not a sentence.

The ranking's reasons, the near misses' words and the hard rules' messages are written here
in English, but a reason or a near miss is a :class:`Text` rather than a finished string, so
that the broker can say it in the reader's language (``broker.reason_texts.say``): it
translates the template, says each argument that is itself a Text, then fills them in.
``str(text)`` is the English, and what the solver stores (a plan's reasons).

Templates are marked where they are written, so that Babel finds them in ``solver/``:
:func:`N_` (one form), :func:`Nn_` (singular and plural, chosen by the ``count`` argument)
and :func:`NC_` (a word with a context, e.g. a risk level). Their Hungarian is in
``data/locale/hu/LC_MESSAGES/reasons.po``.

Arguments keep their type: a number stays a number and its template formats it
(``{km:.0f}``, so a page may write a decimal comma), a name (a region, a language code, a
facility) stays as written, and a kind's label or a risk level is itself a Text.

This module imports nothing: the solver stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    """A template (its English, the catalogue's msgid) and its named arguments."""

    template: str
    args: tuple[tuple[str, object], ...] = ()
    # the plural template, when the ``count`` argument chooses between the two
    plural: str = ""
    # the catalogue's context (msgctxt), for a word that means several things
    context: str = ""

    @property
    def arguments(self) -> dict[str, object]:
        return dict(self.args)

    def english_template(self) -> str:
        if self.plural and self.arguments.get("count") != 1:
            return self.plural
        return self.template

    def __str__(self) -> str:
        return self.english_template().format(**self.arguments)


def text(template: str, **args: object) -> Text:
    """A Text of ``template`` (marked with :func:`N_`) and its arguments."""
    return Text(template, tuple(args.items()))


def counted(forms: tuple[str, str], count: int, **args: object) -> Text:
    """A Text whose template depends on ``count`` (forms marked with :func:`Nn_`)."""
    return Text(forms[0], (("count", count), *args.items()), plural=forms[1])


def N_(template: str) -> str:
    """Marks ``template`` for the catalogue; it is translated where it is said."""
    return template


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a template's two forms for the catalogue (see :func:`counted`)."""
    return singular, plural


def NC_(context: str, word: str) -> Text:
    """A word marked for the catalogue under ``context``: the same English may be said
    otherwise elsewhere (a risk level in a select box)."""
    return Text(word, context=context)


AND = N_("{first} and {second}")


def joined(items: Iterable[object]) -> Text | str:
    """``a and b and c``: the items, each said as it is (a Text translated)."""
    result: object | None = None
    for item in items:
        result = item if result is None else text(AND, first=result, second=item)
    if result is None:
        return ""
    return result if isinstance(result, Text) else str(result)


RISK_CONTEXT = "risk level"
RISK_LEVELS = {
    "standard": NC_("risk level", "standard"),
    "medium": NC_("risk level", "medium"),
    "high": NC_("risk level", "high"),
}


def risk_level(level: str) -> Text:
    """A family's or a kind's risk level, as a word to say."""
    return RISK_LEVELS.get(level) or Text(level, context=RISK_CONTEXT)
