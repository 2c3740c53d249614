"""The solver's reasons, near misses and exclusions in the reader's language: every template
written in ``solver/`` has its Hungarian with the same placeholders; a ranking is said in
Hungarian without English words left (but names and numbers) and in English exactly as
``str``; the API answers ``Accept-Language: hu`` in Hungarian beside the same codes, and
English without it; and the call screen in a Hungarian browser shows Hungarian reasons."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po
from litestar.testing import TestClient

from broker.domain.rules import load_rules
from broker.i18n import Catalogues, Locale, using
from broker.reason_texts import say
from broker.services.matching import EXCLUSION_REASONS
from broker.settings import PROJECT_ROOT
from solver.feasibility import prepare
from solver.instance import FacilityState, Family, Needs, Person, PlacementRequest
from solver.ranking import rank
from solver.rules import STANDARD_RULES
from solver.texts import Text
from tests.browser_support import demo_server, shot
from tests.conftest import Accounts
from tests.placement_support import Desk, family
from tests.solver_support import plain_facility

LOCALE = PROJECT_ROOT / "data" / "locale" / "hu" / "LC_MESSAGES"
REASONS_PO = LOCALE / "reasons.po"
# the solver's markers (solver.texts), and the broker's own for its exclusion texts
KEYWORDS: dict[str, Any] = {"N_": None, "Nn_": (1, 2), "NC_": ((1, "c"), 2)}
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RULES = load_rules(PROJECT_ROOT / "data")
NETWORK = RULES.network(stale_after_hours=24)
HUNGARIAN = Locale(
    "hu", translations=Catalogues(PROJECT_ROOT / "data" / "locale").translations("hu")
)
ENGLISH = Locale()
REGIONS = set(RULES.regions)
# English words that are also Hungarian, or a unit
NOT_ENGLISH_ONLY = {"km"}

Key = tuple[str | None, str]  # (context, msgid)


def _templates() -> dict[Key, tuple[str | tuple[str, ...], str]]:
    """Every template marked in the solver (and the broker's exclusion text), with where."""
    found: dict[Key, tuple[str | tuple[str, ...], str]] = {}
    marked = [
        (f"solver/{name}", line, message, context)
        for name, line, message, _, context in extract_from_dir(
            PROJECT_ROOT / "solver", method_map=[("**.py", "python")], keywords=KEYWORDS
        )
    ]
    matching = PROJECT_ROOT / "broker" / "services" / "matching.py"
    marked += [
        ("broker/services/matching.py", line, message, context)
        for line, message, _, context in extract_from_file("python", matching, keywords=KEYWORDS)
    ]
    for where, line, message, context in marked:
        singular = message[0] if isinstance(message, tuple) else message
        found[(context, singular)] = (message, f"{where}:{line}")
    return found


def _catalogue(path: Path) -> dict[Key, Any]:
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale="hu")
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalogue if m.id}


def _forms(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """A text's forms: one, or the singular and the plural."""
    return text if isinstance(text, tuple) else (text,)


def _fields(template: str) -> set[tuple[str, str]]:
    """The ``{name:spec}`` fields of a template: the names and how numbers are written."""
    return {(name, spec or "") for _, name, spec, _ in Formatter().parse(template) if name}


def test_every_solver_template_has_its_hungarian_with_the_same_placeholders() -> None:
    templates = _templates()
    assert len(templates) > 30  # the extraction itself works
    ours = _catalogue(REASONS_PO)
    # the hard rules' messages are also shown by the services' refusals: messages.po has them
    everywhere = {**_catalogue(LOCALE / "messages.po"), **ours}
    missing, mismatched = [], []
    for key, (message, where) in templates.items():
        entry = everywhere.get(key)
        hungarian = _forms(entry.string) if entry is not None else ("",)
        if not all(hungarian):
            missing.append(f"{where}: {message!r}")
            continue
        fields = {frozenset(_fields(text)) for text in (*_forms(message), *hungarian)}
        if len(fields) != 1:
            mismatched.append(f"{where}: {message!r} -> {hungarian!r}")
    assert missing == [], "no Hungarian for:\n" + "\n".join(missing)
    assert mismatched == [], "placeholders differ:\n" + "\n".join(mismatched)
    stray = sorted(str(key) for key in ours if key not in templates)
    assert stray == [], "reasons.po has entries no code marks"


def test_the_kinds_labels_the_reasons_name_have_their_hungarian() -> None:
    with using(HUNGARIAN):
        untranslated = [
            policy.label for policy in NETWORK.kinds.values() if say(policy.label) == policy.label
        ]
    assert untranslated == []


# --- a ranking said in both languages -------------------------------------------------------


def _facility(fid: int, **changes: Any) -> FacilityState:
    return plain_facility(
        **{
            "id": fid,
            "name": f"Napfény Ház {fid}",
            "kind": "crisis_centre",
            "region": "Zala",
            "free_units": 1,
            "free_beds": 4,
            "reported_at": NOW - timedelta(hours=2),
            **changes,
        }
    )


FACILITIES = [
    _facility(1),  # in her preferred region, reported 2 h ago
    _facility(
        2, region="Vas", kind="temporary_home_mothers", reported_at=NOW - timedelta(hours=30)
    ),
    _facility(
        3, region="Somogy", kind="secret_shelter", reported_at=None, free_units=2, free_beds=7
    ),
    _facility(4, region="Baranya", free_units=0, free_beds=0),  # full
    _facility(5, kind="secret_shelter", boys_max_age=14),  # a boy of 15 is too old
]
MOTHER_AND_SON = PlacementRequest(
    family=Family(adults=(Person(30, False),), children=(Person(15, True),)),
    risk="medium",
    preferred_regions=frozenset({"Zala"}),
    avoid_regions=frozenset({"Budapest"}),
)


def _words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"[^\W\d_]{2,}", text)}


def _english_left(english: str, hungarian: str, names: set[str]) -> set[str]:
    """The words of the English that the Hungarian still has, but names and units."""
    allowed = set().union(*(_words(name) for name in names)) | NOT_ENGLISH_ONLY
    return (_words(english) & _words(hungarian)) - allowed


def _said(texts: Sequence[Text | str], locale: Locale) -> list[str]:
    with using(locale):
        return [say(text) for text in texts]


def test_a_ranking_is_said_in_hungarian_and_in_english() -> None:
    ranking = rank(MOTHER_AND_SON, FACILITIES, NETWORK, now=NOW)
    codes = {code for option in ranking.options for code in option.reason_codes}
    assert codes == {
        "kind",
        "preferred",
        "near_preferred",
        "far_from_danger",
        "fresh",
        "stale",
        "never_reported",
        "secret_short",
        "capacity",
    }
    names = REGIONS | {f.name for f in FACILITIES}
    for option in ranking.options:
        english = _said(option.reasons, ENGLISH)
        hungarian = _said(option.reasons, HUNGARIAN)
        assert english == [str(reason) for reason in option.reasons]
        assert len(hungarian) == len(option.reason_codes)
        for en, hu in zip(english, hungarian, strict=True):
            assert hu != en
            assert _english_left(en, hu, names) == set(), (en, hu)
    first = _said(ranking.options[0].reasons, HUNGARIAN)
    assert first == [
        "Krízisközpont, közepes kockázatú családnak (+15)",
        "a kért régióban (Zala) (+30)",
        "181 km-re az elkerülendő régióktól (+9,1)",  # a decimal comma
        "a kapacitásjelentés 2,0 órája érkezett (+18,3)",
        "1 szabad lakóegység, 4 szabad férőhely",
    ]
    assert _said(ranking.options[0].reasons, ENGLISH)[3] == "capacity reported 2.0 h ago (+18.3)"


def test_what_each_bendable_rule_takes_is_said_in_hungarian() -> None:
    men = Family(
        adults=(Person(30, False), Person(40, True), Person(34, True)), children=(Person(15, True),)
    )
    request = PlacementRequest(
        family=men,
        needs=Needs(wheelchair=True, pets=True, languages=frozenset({"sk"}), night_arrival=True),
        risk="medium",
        reentry=True,
    )
    house = _facility(
        9, kind="halfway_house", boys_max_age=12, largest_unit_beds=2, languages=frozenset()
    )
    view = prepare(request, NETWORK)
    one_man = prepare(replace(request, family=replace(men, adults=men.adults[:2])), NETWORK)
    said = [
        rule.what_it_takes(each, house, NETWORK)
        for rule in STANDARD_RULES
        if rule.what_it_takes is not None
        for each in ((view, one_man) if rule.code == "adult_men" else (view,))
    ]
    english, hungarian = _said(said, ENGLISH), _said(said, HUNGARIAN)
    assert "the family includes men of 34 and 40; this house admits no adult men" in english
    assert "the family needs sk; this house speaks no language listed" in english
    assert hungarian[:4] == [
        "a család közepes kockázatú; ez az intézmény (Félutas ház) csak átlagos kockázatú "
        "családot fogad",
        "a családban nincs gyermek; ez az intézmény (Félutas ház) csak gyermekes szülőket fogad",
        "a családban 34 és 40 éves férfiak vannak; ez az intézmény nem fogad felnőtt férfit",
        "a családban van egy 40 éves férfi; ez az intézmény nem fogad felnőtt férfit",
    ]
    for en, hu in zip(english, hungarian, strict=True):
        assert hu != en and _english_left(en, hu, {"sk"}) == set(), (en, hu)


def test_why_facilities_were_left_out_is_said_in_hungarian() -> None:
    for code, text in EXCLUSION_REASONS.items():
        english, hungarian = _said([text], ENGLISH)[0], _said([text], HUNGARIAN)[0]
        assert english == text
        assert hungarian != english and _english_left(english, hungarian, set()) == set(), code


# --- the JSON API ---------------------------------------------------------------------------


@pytest.fixture
def desk(client: TestClient[Any], accounts: Accounts, admin: dict[str, str]) -> Desk:
    return Desk(client, accounts, admin)


def test_the_api_says_reasons_in_the_callers_language_beside_the_same_codes(desk: Desk) -> None:
    desk.facility(1, 4, name="Centre", region="Zala", boys_max_age=None)
    desk.facility(1, 4, name="Boys to 14", kind="secret_shelter", region="Vas", boys_max_age=14)
    desk.facility(0, 0, name="Full", region="Vas", boys_max_age=None)
    body = family(children=((15, "male"),), preferred_regions=["Zala"])
    english = desk.match(body)
    response = desk.client.post(
        "/api/v1/matches", json=body, headers={**desk.counsellor, "Accept-Language": "hu"}
    )
    assert response.status_code == 200, response.text
    hungarian = response.json()
    (en,), (hu,) = english["options"], hungarian["options"]
    assert en["reason_codes"] == hu["reason_codes"] == ["kind", "preferred", "fresh", "capacity"]
    assert len(en["reasons"]) == len(hu["reasons"]) == len(en["reason_codes"])
    # English, as it always was, for a caller that names no language
    assert en["reasons"][0] == "Crisis centre, for a standard-risk family (+20)"
    assert en["reasons"][1] == "in a preferred region (Zala) (+30)"
    assert hu["reasons"][0] == "Krízisközpont, átlagos kockázatú családnak (+20)"
    assert hu["reasons"][1] == "a kért régióban (Zala) (+30)"
    assert all(h != e for h, e in zip(hu["reasons"], en["reasons"], strict=True))
    # the near miss: the same rule, its words in Hungarian
    (en_near,), (hu_near,) = english["near_misses"], hungarian["near_misses"]
    assert en_near["rule"] == hu_near["rule"] == "boys_age"
    assert en_near["message"] == "a son is 15; this house takes boys up to 14"
    assert (
        hu_near["message"] == "az egyik fiú 15 éves; ez az intézmény csak 14 éves korig fogad fiút"
    )
    # exclusions: the same codes and counts, the texts in Hungarian
    assert english["excluded"] == hungarian["excluded"] == {"boys_age": 1, "no_free_unit": 1}
    assert english["excluded_reasons"]["no_free_unit"] == EXCLUSION_REASONS["no_free_unit"]
    assert hungarian["excluded_reasons"]["no_free_unit"].startswith(
        "nincs olyan szabad lakóegysége"
    )


# --- the call screen in a Hungarian browser -------------------------------------------------


@pytest.fixture(scope="module")
def hungarian_page(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    with demo_server(tmp_path_factory.mktemp("reasons-hu")) as server:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="hu-HU")
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            page.goto(f"{server}/login")
            page.fill("#username", "counsellor")
            page.fill("#password", "counsellor-demo-2026")
            page.press("#password", "Enter")  # the page's first button switches the language
            page.wait_for_url(f"{server}/call")
            yield page, server
        finally:
            context.close()


def _find_places(page: Any, server: str, **form: Any) -> None:
    page.goto(f"{server}/call")
    page.fill("#women", form.get("women", "30"))
    page.fill("#girls", form.get("girls", ""))
    page.fill("#boys", form.get("boys", ""))
    page.select_option("#risk", form.get("risk", "standard"))
    page.select_option("#avoid_regions", form.get("avoid", []))
    page.select_option("#preferred_regions", form.get("preferred", []))
    page.click("#find")
    page.wait_for_url(f"{server}/call/match")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_call_screen_in_hungarian_gives_hungarian_reasons(
    hungarian_page: tuple[Any, str],
) -> None:
    page, server = hungarian_page
    _find_places(page, server, women="28", boys="3", risk="medium", preferred=["Bács-Kiskun"])
    assert page.locator("html").get_attribute("lang") == "hu"
    reasons = page.locator("ol.options .reasons li").all_inner_texts()
    assert "Anyaotthon, közepes kockázatú családnak (+10)" in reasons
    assert any(reason.startswith("a kért régióban (Bács-Kiskun)") for reason in reasons)
    english = {"family", "region", "capacity", "free", "reported", "unit", "beds"}
    assert english.isdisjoint(_words(" ".join(reasons))), reasons
    left_out = page.locator("ul.excluded .text").all_inner_texts()
    assert left_out and english.isdisjoint(_words(" ".join(left_out))), left_out
    shot(page, "call-reasons-hu")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_near_misses_words_are_hungarian(hungarian_page: tuple[Any, str]) -> None:
    page, server = hungarian_page
    _find_places(page, server, boys="15", girls="8", risk="high", avoid=["Budapest"])
    words = page.locator("ul.near-misses > li .what").all_inner_texts()
    assert words, "the issue's family has near misses on the demo network"
    limit = re.compile(r"^az egyik fiú 15 éves; ez az intézmény csak 1[0-4] éves korig fogad fiút$")
    assert all(limit.match(text) for text in words), words
    shot(page, "call-near-misses-hu")
