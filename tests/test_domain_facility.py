"""Pure facility and capacity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.domain.facility import FacilitySpec, check_capacity_report, facility_problems, is_stale
from broker.domain.rules import load_rules
from broker.errors import InvalidInput
from broker.settings import PROJECT_ROOT

RULES = load_rules(PROJECT_ROOT / "data")
SPEC = FacilitySpec(
    name="Test",
    kind="temporary_home_families",
    operator="Op",
    region="Pest",
    total_units=3,
    total_beds=9,
    boys_max_age=None,
    admits_adult_men=True,
    wheelchair_units=1,
    accepts_pets=True,
    languages=("hu",),
    night_admission=False,
    accepts_reentry=True,
    largest_unit_beds=None,
    meeting_point="Station",
)


def test_valid_spec_has_no_problems() -> None:
    assert facility_problems(SPEC, RULES) == []


@pytest.mark.parametrize(
    ("largest", "valid"), [(None, True), (1, True), (9, True), (0, False), (10, False)]
)
def test_largest_unit_is_unknown_or_within_the_beds(largest: int | None, valid: bool) -> None:
    problems = facility_problems(SPEC.merged({"largest_unit_beds": largest}), RULES)
    assert [p["field"] for p in problems] == ([] if valid else ["largest_unit_beds"])


def test_adult_men_follow_the_kind_rule() -> None:
    fields = [p["field"] for p in facility_problems(SPEC.merged({"kind": "secret_shelter"}), RULES)]
    assert fields == ["admits_adult_men"]


@given(
    total_units=st.integers(1, 20),
    total_beds_extra=st.integers(0, 40),
    free_units=st.integers(-3, 25),
    free_beds=st.integers(-3, 70),
)
def test_capacity_report_accepted_exactly_when_consistent(
    total_units: int, total_beds_extra: int, free_units: int, free_beds: int
) -> None:
    total_beds = total_units + total_beds_extra
    consistent = (
        0 <= free_units <= total_units
        and 0 <= free_beds <= total_beds
        and (free_units == 0) == (free_beds == 0)
        and free_beds >= free_units
    )
    try:
        check_capacity_report(
            free_units=free_units,
            free_beds=free_beds,
            total_units=total_units,
            total_beds=total_beds,
        )
        accepted = True
    except InvalidInput:
        accepted = False
    assert accepted == consistent


def test_staleness_boundary() -> None:
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    limit = timedelta(hours=24)
    assert is_stale(None, now=now, limit=limit)
    assert not is_stale(now - limit, now=now, limit=limit)
    assert is_stale(now - limit - timedelta(seconds=1), now=now, limit=limit)


def test_merged_keeps_other_fields() -> None:
    merged = SPEC.merged({"languages": ["hu", "ro"], "unknown": 1})
    assert merged.languages == ("hu", "ro") and merged.name == SPEC.name


@pytest.mark.parametrize("code", ["HU", "h", "hung", "h1"])
def test_language_codes_are_lowercase_iso(code: str) -> None:
    problems = facility_problems(SPEC.merged({"languages": [code]}), RULES)
    assert [p["field"] for p in problems] == ["languages"]
