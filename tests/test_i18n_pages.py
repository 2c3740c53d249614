"""Every page exists in Hungarian and in English.

The templates are read with Jinja's own parser: a text a reader sees (an element's text, or a
``title``, ``aria-label``, ``placeholder`` or ``alt``) written outside ``{% trans %}`` or
``_()`` fails, named by template and line. Every text marked in the templates, in the page
handlers and on the error page has a Hungarian entry in the merged catalogues with the same
placeholders. Then a few pages are read in each language through the test client: the
language of the page, the switch in its header, times, and the birth dates a form takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes
from litestar.testing import TestClient

from api.i18n import LANGUAGE_COOKIE
from api.pages.common import birth_date
from broker.domain.rules import load_rules
from broker.errors import InvalidInput
from broker.i18n import Catalogues, Locale, using
from broker.services.holds import DECLINE_REASONS
from broker.services.placements import DEPARTURE_REASONS
from tests.conftest import Accounts
from tests.session_support import use_page_session

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "data" / "locale"
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
TRANSLATING = {"_", "gettext", "ngettext"}
# The attributes a reader hears or sees (a tooltip, a screen reader's name, a hint).
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}
# Texts a page may show as they are, in both languages. None are needed today: the
# language names come from ``language_names`` (each in its own language), region and
# facility names and codes from data, and symbols (plus, minus, dots, dashes, per cent)
# have no letters. A proper name or a unit written into a template ("km") would be
# listed here, with why.
UNTRANSLATED: dict[str, str] = {}
LETTER = re.compile(r"[^\W\d_]")
# a translated text is %-formatted by the templates' gettext: only %(name)s and %%
PERCENT_NAMES = re.compile(r"%\((\w+)\)[sd]")
BRACE_NAMES = re.compile(r"\{(\w+)\}")


Msgid = str | tuple[str, str]


# --- (a) no text outside the catalogue ------------------------------------------------------


def _environment() -> Environment:
    return Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


def _shown_constants(expression: nodes.Node) -> Iterator[nodes.Const]:
    """The string constants an output expression prints as they are (``{{ "s" if n }}``):
    not those in a call to ``_``/``gettext``/``ngettext``, nor a filter's arguments."""
    if isinstance(expression, nodes.Const):
        if isinstance(expression.value, str):
            yield expression
    elif isinstance(expression, nodes.CondExpr):
        yield from _shown_constants(expression.expr1)
        if expression.expr2 is not None:
            yield from _shown_constants(expression.expr2)
    elif isinstance(expression, nodes.Concat):
        for part in expression.nodes:
            yield from _shown_constants(part)


def _is_translation(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name in TRANSLATING
    )


def _worded_constants(node: nodes.Node) -> Iterator[nodes.Const]:
    """Every string constant with words in it ("Girls' ages") outside a translation, where
    it may be kept to be shown later (a list of labels, an ``append``)."""
    if _is_translation(node):
        return
    if (
        isinstance(node, nodes.Const)
        and isinstance(node.value, str)
        and LETTER.search(node.value)
        and re.search(r"\s", node.value.strip())
    ):
        yield node
    for child in node.iter_child_nodes():
        yield from _worded_constants(child)


class _Page(HTMLParser):
    """Reads a template's markup as it would be written out, each ``{{ ... }}`` replaced by
    a mark of its own, and notes the texts with letters a reader would see."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.text = text
        self.line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.seen: list[tuple[int, str]] = []  # offset in text, what is seen
        self.skipping = 0

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.seen.append((self._offset(), value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            start = self._offset()
            first = next((i for i, c in enumerate(data) if not c.isspace()), 0)
            self.seen.append((start + first, data))


def _untranslated(path: Path) -> list[str]:
    """``template:line text`` for each text of ``path`` a reader would see untranslated."""
    name = path.name
    source = path.read_text(encoding="utf-8")
    tree = _environment().parse(source, name=name)
    text: list[str] = []
    lines: list[int] = []
    expressions: dict[str, nodes.Expr] = {}

    def write(piece: str, lineno: int) -> None:
        for character in piece:
            text.append(character)
            lines.append(lineno)
            lineno += character == "\n"

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    write(child.data, child.lineno)
                else:
                    mark = chr(0xE000 + len(expressions))  # private use: not a letter
                    expressions[mark] = child
                    write(mark, child.lineno)
            return
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    page = _Page("".join(text))
    page.feed(page.text)
    page.close()
    found = []
    for offset, seen in page.seen:
        line = lines[min(offset, len(lines) - 1)]
        written = "".join(c for c in seen if c not in expressions).strip()
        if LETTER.search(written) and written not in UNTRANSLATED:
            found.append(f"{name}:{line} {written!r}")
        for mark in (c for c in seen if c in expressions):
            for constant in _shown_constants(expressions[mark]):
                if LETTER.search(constant.value) and constant.value not in UNTRANSLATED:
                    found.append(f"{name}:{constant.lineno} {constant.value!r}")
    for constant in _worded_constants(tree):
        if constant.value not in UNTRANSLATED:
            found.append(f"{name}:{constant.lineno} {constant.value!r}")
    return sorted(set(found))


TEMPLATE_NAMES = sorted(path.name for path in TEMPLATES.glob("*.html"))


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_no_template_shows_a_text_outside_the_catalogue(name: str) -> None:
    found = _untranslated(TEMPLATES / name)
    assert found == [], "write these with {% trans %} or _():\n" + "\n".join(found)


def test_the_check_sees_what_a_reader_sees(tmp_path: Path) -> None:
    """The check itself: texts, read attributes and printed constants are found; marked
    texts, markup, data attributes and expressions are not."""
    (tmp_path / "probe.html").write_text(
        '<p class="meta" data-x="{{ a }}">{{ _("Fine") }} · {{ n }}</p>\n'
        "<p>{% trans %}Fine <b>too</b>{% endtrans %}</p>\n"
        "<p>Plain words</p>\n"
        '<button aria-label="Hold {{ name }}" title="{{ _(\'ok\') }}">+</button>\n'
        "<p data-placed=\"{{ 'yes' if x else 'no' }}\">{{ \"s\" if n != 1 }}</p>\n"
        '{% for k, label in [("a", "Two words")] %}{{ label }}{% endfor %}\n',
        encoding="utf-8",
    )
    assert _untranslated(tmp_path / "probe.html") == [
        "probe.html:3 'Plain words'",
        "probe.html:4 'Hold'",
        "probe.html:5 's'",
        "probe.html:6 'Two words'",
    ]


# --- (b) every marked text has its Hungarian -------------------------------------------------


def _marked() -> dict[Msgid, list[str]]:
    """Every msgid of the pages, with where it is marked."""
    found: dict[Msgid, list[str]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        TEMPLATES,
        method_map=[("*.html", "jinja2.ext.babel_extract")],
        keywords=KEYWORDS,
    ):
        found.setdefault(message, []).append(f"templates/{filename}:{line}")
    for filename, line, message, _comments, _context in extract_from_dir(
        ROOT / "api" / "pages", method_map=[("*.py", "python")], keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"api/pages/{filename}:{line}")
    for line, message, _comments, _context in extract_from_file(
        "python", ROOT / "api" / "errors.py", keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"api/errors.py:{line}")
    return found


def _catalogues() -> dict[str, Catalog]:
    read = {}
    for path in sorted((LOCALE / "hu" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            read[path.name] = read_po(handle, locale="hu")
    return read


def _lone_percent(text: str) -> bool:
    return "%" in PERCENT_NAMES.sub("", text.replace("%%", ""))


def _names(text: str) -> tuple[set[str], set[str]]:
    return set(PERCENT_NAMES.findall(text)), set(BRACE_NAMES.findall(text))


def _problems(msgid: Msgid, catalogues: dict[str, Catalog]) -> list[str]:
    key = msgid[0] if isinstance(msgid, tuple) else msgid
    entries = [c[key] for c in catalogues.values() if c.get(key) is not None]
    if not entries:
        return ["no Hungarian"]
    entry = entries[-1]  # the catalogue read last wins the merge
    forms = list(entry.string) if isinstance(entry.string, tuple) else [entry.string]
    if entry.fuzzy or not all(form.strip() for form in forms):
        return ["no Hungarian (empty or fuzzy)"]
    english = msgid if isinstance(msgid, tuple) else (msgid,)
    expected = (
        set().union(*(_names(text)[0] for text in english)),
        set().union(*(_names(text)[1] for text in english)),
    )
    problems = []
    for form in forms:
        if _names(form) != expected:
            problems.append(f"placeholders differ: {form!r}")
        if _lone_percent(form):
            problems.append(f"a lone % (write %%): {form!r}")
    return problems


def test_every_text_of_the_pages_has_its_hungarian() -> None:
    marked = _marked()
    assert len(marked) > 250  # the extraction itself works
    catalogues = _catalogues()
    failures = [
        f"{places[0]} {msgid!r}: {problem}"
        for msgid, places in marked.items()
        for problem in _problems(msgid, catalogues)
    ]
    assert failures == [], "\n".join(failures)


def test_a_template_text_has_no_lone_percent_sign() -> None:
    """The templates' gettext always %-formats, even without placeholders."""
    lone = [
        f"{places[0]} {msgid!r}"
        for msgid, places in _marked().items()
        if any(place.startswith("templates/") for place in places)
        for text in (msgid if isinstance(msgid, tuple) else (msgid,))
        if _lone_percent(text)
    ]
    assert lone == []


def test_the_data_the_pages_show_translated_has_its_hungarian() -> None:
    """Kind labels (data/rules.toml) and the decline and departure reasons are not marked
    in the pages' code, yet the pages show them with ``_()``."""
    catalogues = _catalogues()
    texts = [
        *(rule.label for rule in load_rules(ROOT / "data").kinds.values()),
        *DECLINE_REASONS.values(),
        *DEPARTURE_REASONS.values(),
    ]
    missing = [text for text in texts if _problems(text, catalogues)]
    assert missing == []
    labels = {rule.label for rule in load_rules(ROOT / "data").kinds.values()}
    assert all(catalogues["pages.po"].get(label) is not None for label in labels)


def test_a_text_in_two_catalogues_says_the_same() -> None:
    """The catalogues are merged into one: a text in two of them must not depend on the
    order they are read in."""
    catalogues = _catalogues()
    said: dict[tuple[str, str | None], dict[str, Any]] = {}
    for name, catalogue in catalogues.items():
        for message in catalogue:
            if message.id:
                said.setdefault((str(message.id), message.context), {})[name] = message.string
    different = {text: by for text, by in said.items() if len(set(map(str, by.values()))) > 1}
    assert different == {}


# --- dates typed into a page ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["1990-04-02", " 1990-4-2 ", "1990. 04. 02.", "1990.04.02", "1990/04/02", "1990. 4. 2"],
)
def test_a_birth_date_is_taken_as_year_month_day(typed: str) -> None:
    assert birth_date(typed) == date(1990, 4, 2)


@pytest.mark.parametrize("typed", ["02/04/1990", "1990-13-01", "1990-02-30", "", "tegnap"])
def test_another_birth_date_is_refused_in_the_readers_language(typed: str) -> None:
    hungarian = Locale("hu", translations=Catalogues(LOCALE).translations("hu"))
    with using(hungarian), pytest.raises(InvalidInput) as refused:
        birth_date(typed)
    assert "ÉÉÉÉ-HH-NN" in refused.value.message


# --- pages in each language ---------------------------------------------------------------------


def _switch(page: str) -> str:
    found = re.search(r'<form method="post" action="/language".*?</form>', page, re.S)
    assert found, "no language switch"
    return found.group(0)


def test_the_login_page_in_hungarian_has_the_switch(client: TestClient[Any]) -> None:
    page = client.get("/login", headers={"Accept-Language": "hu-HU,hu;q=0.9"}).text
    assert '<html lang="hu">' in page
    assert "<title>Bejelentkezés · Férőhely-közvetítő</title>" in page
    assert "Felhasználónév" in page and "Jelszó" in page
    switch = _switch(page)
    assert 'name="_csrf_token"' in switch
    assert '<input type="hidden" name="next" value="/login">' in switch
    assert re.search(r'value="hu" lang="hu"[^>]*aria-current="true">Magyar<', switch)
    assert re.search(r'value="en" lang="en" class="link">English<', switch)


def test_the_switch_is_remembered_over_the_browsers_language(client: TestClient[Any]) -> None:
    hungarian = {"Accept-Language": "hu"}
    client.get("/login", headers=hungarian)
    token = client.cookies.get("csrftoken") or ""
    switched = client.post(
        "/language",
        data={"language": "en", "next": "/login", "_csrf_token": token},
        headers=hungarian,
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    assert client.cookies.get(LANGUAGE_COOKIE) == "en"
    page = client.get("/login", headers=hungarian).text
    assert '<html lang="en">' in page and "Username" in page
    assert re.search(r'value="en" lang="en"[^>]*aria-current="true">English<', _switch(page))


def test_a_page_answering_a_form_switches_back_to_the_forms_page(
    client: TestClient[Any],
) -> None:
    client.get("/login")
    token = client.cookies.get("csrftoken") or ""
    refused = client.post(
        "/login",
        data={"username": "nobody", "password": "wrong-password", "_csrf_token": token},
        headers={"Accept-Language": "hu"},
    )
    assert refused.status_code == 401
    assert "Hibás felhasználónév vagy jelszó." in refused.text
    assert '<input type="hidden" name="next" value="/login">' in _switch(refused.text)


def test_the_error_page_in_each_language(client: TestClient[Any]) -> None:
    for language, says in (("hu", "Ezen a címen nincs oldal."), ("en", "There is no page")):
        page = client.get(
            "/no-such-page", headers={"Accept": "text/html", "Accept-Language": language}
        )
        assert page.status_code == 404
        assert f'<html lang="{language}">' in page.text and says in page.text
        assert "Not Found" not in page.text


@pytest.fixture
def police_client(client: TestClient[Any], accounts: Accounts) -> TestClient[Any]:
    use_page_session(client, accounts.headers("officer", "police")["Authorization"])
    return client


def test_the_police_form_asks_for_the_date_in_the_pages_form(
    police_client: TestClient[Any],
) -> None:
    hungarian = police_client.get("/police", headers={"Accept-Language": "hu"}).text
    assert '<html lang="hu">' in hungarian and "Elhelyezték ezt a személyt?" in hungarian
    assert 'placeholder="ÉÉÉÉ-HH-NN"' in hungarian
    assert "rendőrség" in hungarian  # the role, in the header
    english = police_client.get("/police", headers={"Accept-Language": "en"}).text
    assert 'placeholder="YYYY-MM-DD"' in english and "Was this person placed?" in english
