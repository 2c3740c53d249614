"""The call screen's family form: what the counsellor typed, and the request it describes.

The form is checked by the JSON API's own schema: its fields become the same
:class:`api.schemas.FamilyRequest` that ``POST /api/v1/matches`` takes, so how many adults,
children, languages and regions a family may have, and the ages of each, are defined once,
in ``api.schemas``. msgspec stops at the first error, and a counsellor should see every
wrong field at once, so each field is first checked on its own against the schema's type
for it; a refusal is then put in words a counsellor understands. What she typed is kept,
to be shown back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from api.controllers.placement import family_request
from api.deps import Broker
from api.schemas import (
    ADULT_AGES,
    CHILD_AGES,
    MAX_ADULTS,
    MAX_CHILDREN,
    MAX_LANGUAGES,
    MAX_REGIONS,
    AdultIn,
    Adults,
    ChildIn,
    Children,
    FamilyRequest,
    Language,
    Languages,
    Regions,
    Risk,
)
from broker.domain.requests import request_from_json
from broker.domain.rules import RiskLevel
from broker.errors import InvalidInput
from broker.i18n import gettext
from solver.instance import Person, PlacementRequest

SEPARATORS = re.compile(r"[,;\s]+")
# Stricter than the schema's 2 or 3 characters: a code typed by hand is letters only.
LANGUAGE_LETTERS = re.compile(r"[a-z]+")
CHECKBOXES = ("wheelchair", "pets", "night_arrival", "reentry", "trafficking_victim")
# field, sex, the schema's struct for one such person, and its age bounds (for the words)
AGE_FIELDS: tuple[tuple[str, str, type[msgspec.Struct], tuple[int, int]], ...] = (
    ("women", "female", AdultIn, ADULT_AGES),
    ("men", "male", AdultIn, ADULT_AGES),
    ("girls", "female", ChildIn, CHILD_AGES),
    ("boys", "male", ChildIn, CHILD_AGES),
)


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


def family_input(data: dict[str, str | list[str]]) -> FamilyInput:
    def one(key: str) -> str:
        value = data.get(key, "")
        # a repeated single field can only come from a hand-made request: keep the first
        return (value[0] if isinstance(value, list) else value).strip()[:200]

    def many(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        # one more than allowed is enough to be refused; the rest is not worth reading
        chosen = [value] if isinstance(value, str) else value[: MAX_REGIONS + 1]
        return tuple(item[:80] for item in chosen)

    return FamilyInput(
        women=one("women"),
        men=one("men"),
        girls=one("girls"),
        boys=one("boys"),
        languages=one("languages"),
        risk=one("risk") or RiskLevel.STANDARD.value,
        avoid_regions=many("avoid_regions"),
        preferred_regions=many("preferred_regions"),
        travel_minutes=one("travel_minutes"),
        **{key: one(key) == "1" for key in CHECKBOXES},
    )


def input_of(request: PlacementRequest, travel_minutes: int) -> FamilyInput:
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


def _fits(value: object, schema_type: Any) -> bool:
    """Whether the API's schema takes ``value`` as ``schema_type``."""
    try:
        msgspec.convert(value, schema_type, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def _people(
    text: str, field: str, sex: str, person: type[msgspec.Struct], ages: tuple[int, int]
) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """The people typed into one age field, or the problem with the first wrong age."""
    people: list[dict[str, Any]] = []
    for part in SEPARATORS.split(text):
        if not part:
            continue
        # only plain digits are an age: int() would also take "+3", "٣" or "1_0"
        age = int(part) if part.isascii() and part.isdigit() else part
        if not _fits({"age": age, "sex": sex}, person):
            low, high = ages
            return [], {
                "field": field,
                "message": gettext("'%(typed)s' is not an age from %(low)s to %(high)s")
                % {"typed": part[:10], "low": low, "high": high},
            }
        people.append({"age": age, "sex": sex})
    return people, None


def travel_minutes(text: str, broker: Broker) -> int:
    """The minutes a hold waits for the family; the broker's settings bound them."""
    maximum = broker.settings.hold_ttl_max_minutes
    if not text:
        return broker.settings.hold_ttl_default_minutes
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= maximum):
        raise InvalidInput(
            gettext("the time to reach the meeting point must be 1 to %(max)s minutes")
            % {"max": maximum},
            details=[
                {
                    "field": "travel_minutes",
                    "message": gettext("1 to %(max)s minutes") % {"max": maximum},
                }
            ],
        )
    return int(text)


def _request_body(form: FamilyInput, broker: Broker) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The API request body the form describes, and every problem with it, field by field."""
    problems: list[dict[str, str]] = []
    people: dict[str, list[dict[str, Any]]] = {}
    for field, sex, person, ages in AGE_FIELDS:
        people[field], problem = _people(getattr(form, field), field, sex, person, ages)
        if problem:
            problems.append(problem)
    adults = people["women"] + people["men"]
    children = people["girls"] + people["boys"]
    if not _fits(adults, Adults):
        if adults:
            message = gettext("at most %(max)s adults") % {"max": MAX_ADULTS}
            problems.append({"field": "women", "message": message})
        elif not problems:
            message = gettext("give the age of at least one adult")
            problems.append({"field": "women", "message": message})
    if not _fits(children, Children):
        message = gettext("at most %(max)s children") % {"max": MAX_CHILDREN}
        problems.append({"field": "girls", "message": message})
    languages = sorted({code.lower() for code in SEPARATORS.split(form.languages) if code})
    wrong = [
        code
        for code in languages
        if not (LANGUAGE_LETTERS.fullmatch(code) and _fits(code, Language))
    ]
    if wrong:
        message = gettext("'%(code)s' is not a 2- or 3-letter code") % {"code": wrong[0][:10]}
        problems.append({"field": "languages", "message": message})
    elif not _fits(languages, Languages):
        message = gettext("at most %(max)s languages") % {"max": MAX_LANGUAGES}
        problems.append({"field": "languages", "message": message})
    if not _fits(form.risk, Risk):
        problems.append({"field": "risk", "message": gettext("choose standard, medium or high")})
    for field in ("avoid_regions", "preferred_regions"):
        chosen = list(getattr(form, field))
        unknown = [name for name in chosen if not broker.rules.has_region(name)]
        if unknown:
            message = gettext("unknown region '%(name)s'") % {"name": unknown[0]}
            problems.append({"field": field, "message": message})
        elif not _fits(chosen, Regions):
            message = gettext("at most %(max)s regions") % {"max": MAX_REGIONS}
            problems.append({"field": field, "message": message})
    both = set(form.avoid_regions) & set(form.preferred_regions)
    if both:
        message = gettext("both avoided and preferred: %(names)s") % {
            "names": ", ".join(sorted(both))
        }
        problems.append({"field": "preferred_regions", "message": message})
    body = {
        "family": {"adults": adults, "children": children},
        "needs": {
            "wheelchair": form.wheelchair,
            "pets": form.pets,
            "languages": languages,
            "night_arrival": form.night_arrival,
        },
        "risk": form.risk,
        "avoid_regions": list(form.avoid_regions),
        "preferred_regions": list(form.preferred_regions),
        "reentry": form.reentry,
        "trafficking_victim": form.trafficking_victim,
    }
    return body, problems


def _correct_the_form(problems: list[dict[str, str]]) -> InvalidInput:
    summary = "; ".join(problem["message"] for problem in problems)
    return InvalidInput(
        gettext("Please correct the form: %(problems)s.") % {"problems": summary}, details=problems
    )


def parse_family(form: FamilyInput, broker: Broker) -> tuple[PlacementRequest, int]:
    """The request the form describes and the minutes its hold waits, or InvalidInput
    naming every field that is wrong."""
    body, problems = _request_body(form, broker)
    try:
        minutes = travel_minutes(form.travel_minutes, broker)
    except InvalidInput as problem:
        problems.extend(problem.details)
    if problems:
        raise _correct_the_form(problems)
    try:
        # the API's own request: a rule that the checks above do not word yet still holds
        checked = msgspec.convert(body, FamilyRequest, strict=True)
    except msgspec.ValidationError as exc:
        raise _correct_the_form([{"field": "", "message": str(exc)}]) from exc
    return request_from_json(family_request(checked)), minutes
