"""Rules a facility's registry entry and its capacity reports must obey (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from broker.domain.rules import FacilityKind, Rules
from broker.errors import InvalidInput
from broker.i18n import gettext
from solver.instance import FacilityState

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
MAX_UNITS = 1_000
MAX_BEDS = 5_000
OLDEST_CHILD_AGE = 17


@dataclass(frozen=True, slots=True)
class FacilitySpec:
    """Everything an admin sets about a facility (capacity reports are separate).

    This is the one declaration of a facility's registry fields. The table, the stored
    row's reading and writing, matching's facility state and the demo loader derive their
    field lists from it; the API structs and the table model declare theirs and
    ``tests/test_facility_fields.py`` checks them against it, naming the layer that lacks
    a field. "Adding a facility rule" in the README lists the steps."""

    name: str
    kind: str
    operator: str
    region: str
    total_units: int
    total_beds: int
    boys_max_age: int | None
    admits_adult_men: bool
    wheelchair_units: int
    accepts_pets: bool
    languages: tuple[str, ...]
    night_admission: bool
    accepts_reentry: bool
    largest_unit_beds: int | None
    meeting_point: str

    def merged(self, changes: dict[str, Any]) -> FacilitySpec:
        known = {f.name for f in fields(self)}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({key: value for key, value in changes.items() if key in known})
        if "languages" in changes:
            values["languages"] = tuple(changes["languages"])
        return FacilitySpec(**values)


# Stored in a column of the same name; the operator is stored as a reference instead.
STORED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FacilitySpec) if f.name != "operator")
# What matching reads from the registry: the stored fields its facility state declares.
MATCHING_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(FacilityState) if f.name in STORED_FIELDS
)


def stored_value(name: str, value: Any) -> Any:
    """A spec value as the row stores it (languages as a JSON list, texts trimmed)."""
    if name == "languages":
        return list(value)
    if name in ("name", "meeting_point"):
        return value.strip()
    return value


def matching_value(name: str, value: Any) -> Any:
    """A stored value as matching's facility state holds it (languages as a set)."""
    return frozenset(value) if name == "languages" else value


def _problem(field: str, message: str) -> dict[str, str]:
    """One broken rule: ``message`` is said in the reader's language, ``field`` never is."""
    return {"field": field, "message": message}


def _between(low: int, high: int) -> str:
    return gettext("must be between {low} and {high}").format(low=low, high=high)


def _up_to_total(total: int) -> str:
    return gettext("must be between 0 and {total} (total)").format(total=total)


def facility_problems(spec: FacilitySpec, rules: Rules) -> list[dict[str, str]]:
    """Every rule the spec breaks, as ``{"field", "message"}`` entries (empty when valid)."""
    problems: list[dict[str, str]] = []
    for field_name in ("name", "operator", "meeting_point"):
        if not getattr(spec, field_name).strip():
            problems.append(_problem(field_name, gettext("must not be empty")))
    kind_values = [kind.value for kind in FacilityKind]
    if spec.kind not in kind_values:
        problems.append(
            _problem(
                "kind",
                gettext("unknown kind; use one of: {kinds}").format(kinds=", ".join(kind_values)),
            )
        )
    if not rules.has_region(spec.region):
        problems.append(
            _problem("region", gettext("unknown region; GET /api/v1/regions lists them"))
        )
    if not 1 <= spec.total_units <= MAX_UNITS:
        problems.append(_problem("total_units", _between(1, MAX_UNITS)))
    if not 1 <= spec.total_beds <= MAX_BEDS:
        problems.append(_problem("total_beds", _between(1, MAX_BEDS)))
    elif spec.total_beds < spec.total_units:
        problems.append(
            _problem("total_beds", gettext("must be at least total_units (a unit has a bed)"))
        )
    if spec.boys_max_age is not None and not 0 <= spec.boys_max_age <= OLDEST_CHILD_AGE:
        problems.append(
            _problem(
                "boys_max_age", gettext("must be null or 0-{max}").format(max=OLDEST_CHILD_AGE)
            )
        )
    if spec.largest_unit_beds is not None and not (
        1 <= spec.largest_unit_beds <= max(spec.total_beds, 1)
    ):
        problems.append(_problem("largest_unit_beds", gettext("must be null or 1 to total_beds")))
    if not 0 <= spec.wheelchair_units <= max(spec.total_units, 0):
        problems.append(_problem("wheelchair_units", gettext("must be between 0 and total_units")))
    if spec.kind in kind_values and spec.admits_adult_men:
        rule = rules.kind(spec.kind)
        if not rule.may_admit_adult_men:
            problems.append(
                _problem(
                    "admits_adult_men",
                    gettext("a {kind} never admits adult men").format(
                        kind=gettext(rule.label).lower()
                    ),
                )
            )
    bad_codes = [code for code in spec.languages if not LANGUAGE_CODE.match(code)]
    if bad_codes:
        problems.append(
            _problem("languages", gettext("use lowercase ISO 639 codes such as 'hu' or 'rom'"))
        )
    if len(set(spec.languages)) != len(spec.languages):
        problems.append(_problem("languages", gettext("must not repeat a language")))
    return problems


def check_facility(spec: FacilitySpec, rules: Rules) -> None:
    problems = facility_problems(spec, rules)
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(
            gettext("invalid facility: {problems}").format(problems=summary), details=problems
        )


def check_capacity_report(
    *, free_units: int, free_beds: int, total_units: int, total_beds: int
) -> None:
    """A report must fit the facility: 0 <= free <= total, and no free beds without a unit."""
    problems: list[dict[str, str]] = []
    if not 0 <= free_units <= total_units:
        problems.append(_problem("free_units", _up_to_total(total_units)))
    if not 0 <= free_beds <= total_beds:
        problems.append(_problem("free_beds", _up_to_total(total_beds)))
    if not problems and free_units > 0 and free_beds < free_units:
        problems.append(
            _problem("free_beds", gettext("each free unit needs at least one free bed"))
        )
    if not problems and free_units == 0 and free_beds > 0:
        problems.append(
            _problem("free_beds", gettext("free beds without a free unit cannot be used"))
        )
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(
            gettext("invalid capacity report: {problems}").format(problems=summary),
            details=problems,
        )


def is_stale(reported_at: datetime | None, *, now: datetime, limit: timedelta) -> bool:
    """A facility that never reported, or reported longer ago than the limit, is stale."""
    return reported_at is None or now - reported_at > limit
