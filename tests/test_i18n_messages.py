"""The broker's messages are in the catalogue: every text marked for it has its Hungarian,
with the same placeholders; no refusal is written as a bare literal; and the API says the
same refusal in the caller's language under the same code."""

from __future__ import annotations

import ast
import gettext as gettext_module
from collections.abc import Iterator
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.extract import extract_from_dir
from litestar.testing import TestClient

from broker.domain.rules import load_rules
from broker.i18n import Catalogues
from solver.feasibility import REASONS
from tests.conftest import Accounts, create_facility
from tests.placement_support import Desk, family

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("broker", "api")
KEYWORDS: dict[str, Any] = {"gettext": None, "ngettext": (1, 2), "N_": None}
HUNGARIAN = {"Accept-Language": "hu"}

# Files of other areas whose refusals are not in the catalogue yet: their literal
# messages are let through until the file is converted, then it must leave this list.
PENDING: set[str] = set()
# Read on the operator's console (command-line tools, the demo loader) or never shown at
# all (a decryption failure is logged and answered as an internal error): English, like
# log lines.
CONSOLE_ONLY = {"broker/cli.py", "broker/crypto.py", "broker/network.py"}
# Raised before serving and read by the operator on the console, where no reader's
# language exists: these stay English, like log lines.
NOT_FOR_READERS = {"ConfigurationError"}

Msgid = str | tuple[str, str]


class _Missing(gettext_module.NullTranslations):
    """The fallback of the Hungarian catalogue here: marks a text it does not have."""

    MARK = "\x00missing"

    def gettext(self, message: str) -> str:
        return self.MARK

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.MARK


def _hungarian() -> gettext_module.NullTranslations:
    translations = Catalogues(ROOT / "data" / "locale").translations("hu")
    translations.add_fallback(_Missing())
    return translations


def _extracted() -> dict[Msgid, list[str]]:
    """Every msgid marked in the code, with where it is marked."""
    found: dict[Msgid, list[str]] = {}
    for folder in SOURCES:
        for filename, line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.setdefault(message, []).append(f"{folder}/{filename}:{line}")
    return found


def _placeholders(text: str) -> set[str] | None:
    """The ``{names}`` of a text; None when its braces do not parse."""
    try:
        return {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def _translations(translations: gettext_module.NullTranslations, msgid: Msgid) -> list[str]:
    if isinstance(msgid, tuple):  # Hungarian has two forms, like English: one, and more
        return [translations.ngettext(*msgid, n) for n in (1, 2)]
    return [translations.gettext(msgid)]


def test_every_marked_text_has_its_hungarian_with_the_same_placeholders() -> None:
    translations = _hungarian()
    extracted = _extracted()
    assert len(extracted) > 100  # the extraction itself works
    untranslated, mismatched = [], []
    for msgid, places in extracted.items():
        english = msgid[-1] if isinstance(msgid, tuple) else msgid
        for text in _translations(translations, msgid):
            if text in (_Missing.MARK, ""):
                untranslated.append(f"{places[0]}: {msgid!r}")
            elif _placeholders(text) != _placeholders(english):
                mismatched.append(f"{places[0]}: {msgid!r} -> {text!r}")
    assert untranslated == [], "no Hungarian for:\n" + "\n".join(sorted(set(untranslated)))
    assert mismatched == [], "placeholders differ:\n" + "\n".join(sorted(set(mismatched)))


def test_the_rules_texts_that_messages_show_have_their_hungarian() -> None:
    """Kind labels (data/rules.toml) and the hard rules' texts (solver) are data, not marked
    in the code, yet the refusals show them translated."""
    translations = _hungarian()
    labels = [rule.label for rule in load_rules(ROOT / "data").kinds.values()]
    missing = [
        text
        for text in [*labels, *REASONS.values()]
        if translations.gettext(text) in (_Missing.MARK, "")
    ]
    assert missing == []


# --- no refusal escapes the catalogue ---------------------------------------------------------


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                relative = str(path.relative_to(ROOT))
                yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def _reader_errors() -> set[str]:
    """The names of ``BrokerError`` and every class derived from it in broker/ and api/."""
    bases: dict[str, set[str]] = {}
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    errors = {"BrokerError"}
    while grown := {name for name, of in bases.items() if of & errors} - errors:
        errors |= grown
    return errors - NOT_FOR_READERS


def _is_literal(node: ast.expr) -> bool:
    """A text written out: a string, an f-string, or one formatted or joined."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) or _is_literal(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _is_literal(node.func.value)
    return False


def _literal_messages() -> dict[str, list[str]]:
    """Per file, every ``Error(<literal>...)`` of a reader's error, raised or built."""
    errors = _reader_errors()
    found: dict[str, list[str]] = {}
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in errors:
                continue
            message = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg == "message":
                    message = keyword.value
            if message is not None and _is_literal(message):
                found.setdefault(relative, []).append(
                    f"{relative}:{node.lineno} {node.func.id}({ast.unparse(message)[:60]})"
                )
    return found


def test_no_refusal_is_written_as_a_bare_literal() -> None:
    """A message is ``gettext("...")`` (or ``.format`` on it), never a literal or f-string."""
    found = _literal_messages()
    offenders = [
        line
        for path, lines in sorted(found.items())
        if path not in PENDING | CONSOLE_ONLY
        for line in lines
    ]
    assert offenders == [], "write these as gettext(...):\n" + "\n".join(offenders)


def test_pending_files_still_have_literal_messages() -> None:
    """A file converted to the catalogue leaves PENDING, so that it stays converted."""
    found = _literal_messages()
    converted = sorted(path for path in PENDING if path not in found)
    assert converted == [], f"remove from PENDING: {converted}"


def test_the_check_sees_a_literal_refusal() -> None:
    tree = ast.parse(
        'raise InvalidInput(f"no {x}")\nraise Conflict(gettext("a {b}").format(b=1))\n'
        'raise NotFound("a" + x)\nraise NotFound(gettext("a"))\n'
    )
    raised = [node.exc for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    assert [_is_literal(call.args[0]) for call in raised if isinstance(call, ast.Call)] == [
        True,
        False,
        True,
        False,
    ]
    assert {"InvalidInput", "Conflict", "SignInFailed", "OtpInvalid"} <= _reader_errors()
    assert "ConfigurationError" not in _reader_errors()


# --- the API says it in the caller's language ---------------------------------------------------


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_refused_capacity_report_in_english_and_in_hungarian(
    client: TestClient[Any], admin: dict[str, str], accounts: Accounts
) -> None:
    facility = create_facility(client, admin, total_units=4, total_beds=12)
    staff = accounts.headers("anna", "shelter_staff", [facility["id"]])
    url = f"/api/v1/facilities/{facility['id']}/capacity"
    body = {"free_units": 5, "free_beds": 5}
    english = _error(client.put(url, json=body, headers=staff), 422)
    hungarian = _error(client.put(url, json=body, headers={**staff, **HUNGARIAN}), 422)
    assert english["message"] == (
        "invalid capacity report: free_units: must be between 0 and 4 (total)"
    )
    assert hungarian["message"] == (
        "hibás kapacitásjelentés: free_units: 0 és 4 (az összes) között kell lennie"
    )
    assert english["code"] == hungarian["code"] == "invalid_input"
    # the field stays the same in every language; only the words change
    assert english["details"] == [
        {"field": "free_units", "message": "must be between 0 and 4 (total)"}
    ]
    assert hungarian["details"] == [
        {"field": "free_units", "message": "0 és 4 (az összes) között kell lennie"}
    ]


def test_a_hold_on_a_facility_that_does_not_fit_in_english_and_in_hungarian(
    client: TestClient[Any], accounts: Accounts, admin: dict[str, str]
) -> None:
    desk = Desk(client, accounts, admin)
    fid = desk.facility(1, 3, boys_max_age=10, name="Napfény")
    request = {**family(children=((14, "male"),)), "facility_id": fid}
    english = _error(client.post("/api/v1/holds", json=request, headers=desk.counsellor), 422)
    hungarian = _error(
        client.post("/api/v1/holds", json=request, headers={**desk.counsellor, **HUNGARIAN}), 422
    )
    assert english["message"] == (
        "Napfény does not fit this family: a son is older than the facility's age limit for boys"
    )
    assert hungarian["message"] == (
        "Napfény nem fogadhatja ezt a családot: "
        "az egyik fiú idősebb az intézmény fiúkra vonatkozó korhatáránál"
    )
    assert english["code"] == hungarian["code"] == "invalid_input"
    assert (
        english["details"]
        == hungarian["details"]
        == [{"field": "facility_id", "message": "boys_age"}]
    )
