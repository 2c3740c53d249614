"""The call screen's family form is checked by the JSON API's schema: the same limits, the
same request, and a refusal in words a counsellor understands, naming every wrong field.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from api.controllers.placement import family_request
from api.pages.family_form import FamilyInput, family_input, input_of, parse_family
from api.schemas import (
    ADULT_AGES,
    CHILD_AGES,
    MAX_ADULTS,
    MAX_CHILDREN,
    MAX_LANGUAGES,
    FamilyRequest,
)
from api.state import BrokerState
from broker.domain.requests import request_from_json
from broker.errors import InvalidInput
from tests.conftest import Accounts
from tests.session_support import use_page_session

FAMILY = FamilyInput(women="34", girls="5", boys="9", travel_minutes="60")


@pytest.fixture
def broker(client: TestClient[Any]) -> BrokerState:
    state: BrokerState = client.app.state.broker
    return state


def _problems(form: FamilyInput, broker: BrokerState) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        parse_family(form, broker)
    return {detail["field"]: detail["message"] for detail in refused.value.details}


def test_the_form_is_the_request_the_api_takes(broker: BrokerState) -> None:
    form = family_input(
        {
            "women": "34, 15",
            "men": "61",
            "girls": "5",
            "boys": "9; 0",
            "languages": "HU, en",
            "risk": "medium",
            "avoid_regions": "Budapest",
            "preferred_regions": ["Baranya", "Pest"],
            "reentry": "1",
            "travel_minutes": "45",
        }
    )
    request, minutes = parse_family(form, broker)
    body = {
        "family": {
            "adults": [
                {"age": 34, "sex": "female"},
                {"age": 15, "sex": "female"},
                {"age": 61, "sex": "male"},
            ],
            "children": [
                {"age": 5, "sex": "female"},
                {"age": 9, "sex": "male"},
                {"age": 0, "sex": "male"},
            ],
        },
        "needs": {"languages": ["en", "hu"]},
        "risk": "medium",
        "avoid_regions": ["Budapest"],
        "preferred_regions": ["Baranya", "Pest"],
        "reentry": True,
    }
    assert request == request_from_json(family_request(msgspec.convert(body, FamilyRequest)))
    assert minutes == 45
    # and the form is filled in again from the request, for matching the family again
    assert input_of(request, minutes) == replace(form, boys="9, 0", languages="en, hu")


@pytest.mark.parametrize(
    ("field", "typed", "bounds"),
    [
        ("women", "3", ADULT_AGES),
        ("women", "34, abc", ADULT_AGES),
        ("men", "121", ADULT_AGES),
        ("men", "+40", ADULT_AGES),
        ("girls", "18", CHILD_AGES),
        ("boys", "-1", CHILD_AGES),
        ("boys", "4.5", CHILD_AGES),
    ],
)
def test_an_age_outside_the_schemas_bounds_is_named_in_words(
    broker: BrokerState, field: str, typed: str, bounds: tuple[int, int]
) -> None:
    wrong = typed.split(", ")[-1]
    problems = _problems(replace(FAMILY, **{field: typed}), broker)
    assert problems == {field: f"'{wrong}' is not an age from {bounds[0]} to {bounds[1]}"}


def test_the_ages_at_the_schemas_bounds_are_taken(broker: BrokerState) -> None:
    form = replace(
        FAMILY,
        women=str(ADULT_AGES[0]),
        men=str(ADULT_AGES[1]),
        girls=str(CHILD_AGES[0]),
        boys=str(CHILD_AGES[1]),
    )
    request, _ = parse_family(form, broker)
    assert sorted(person.age for person in request.family.adults) == list(ADULT_AGES)
    assert sorted(person.age for person in request.family.children) == list(CHILD_AGES)


def test_the_counts_are_the_schemas(broker: BrokerState) -> None:
    def ages(count: int, age: int) -> str:
        return ", ".join([str(age)] * count)

    too_many = replace(
        FAMILY,
        women=ages(MAX_ADULTS + 1, 30),
        girls=ages(MAX_CHILDREN + 1, 4),
        languages=", ".join(f"l{letter}" for letter in "abcdefghijklmnop"[: MAX_LANGUAGES + 1]),
    )
    assert _problems(too_many, broker) == {
        "women": f"at most {MAX_ADULTS} adults",
        "girls": f"at most {MAX_CHILDREN} children",
        "languages": f"at most {MAX_LANGUAGES} languages",
    }
    assert _problems(replace(FAMILY, women=""), broker) == {
        "women": "give the age of at least one adult"
    }


def test_every_wrong_field_is_named_at_once(broker: BrokerState) -> None:
    form = replace(
        FAMILY,
        women="abc",
        languages="english",
        risk="extreme",
        avoid_regions=("Pest",),
        preferred_regions=("Pest", "Atlantis"),
        travel_minutes="0",
    )
    with pytest.raises(InvalidInput) as refused:
        parse_family(form, broker)
    assert [(d["field"], d["message"]) for d in refused.value.details] == [
        ("women", "'abc' is not an age from 14 to 120"),
        ("languages", "'english' is not a 2- or 3-letter code"),
        ("risk", "choose standard, medium or high"),
        ("preferred_regions", "unknown region 'Atlantis'"),
        ("preferred_regions", "both avoided and preferred: Pest"),
        ("travel_minutes", f"1 to {broker.settings.hold_ttl_max_minutes} minutes"),
    ]
    assert refused.value.message.startswith("Please correct the form: 'abc' is not an age")


def test_the_call_page_shows_a_wrong_age_at_its_field_and_keeps_what_was_typed(
    client: TestClient[Any], counsellor: dict[str, str], accounts: Accounts
) -> None:
    use_page_session(client, counsellor["Authorization"])
    assert client.get("/call").status_code == 200
    csrf = client.cookies.get("csrftoken") or ""
    response = client.post(
        "/call/match",
        data={"women": "3", "boys": "9", "languages": "hu", "_csrf_token": csrf},
        headers={"x-csrftoken": csrf},
    )
    assert response.status_code == 422
    assert '<p class="field-error" id="women-error">&#39;3&#39; is not an age from 14 to 120' in (
        response.text
    )
    assert 'name="women" value="3"' in response.text
    assert 'name="boys" value="9"' in response.text
