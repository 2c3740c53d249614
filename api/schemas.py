"""Request and response bodies of API v1 (msgspec structs; unknown fields are refused).

No response struct here has an address field except :class:`AddressBody`, which only the
address endpoint returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from broker.domain.rules import FacilityKind

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(min_length=1, max_length=1000)]
Count = Annotated[int, Meta(ge=0, le=1_000_000)]
Language = Annotated[str, Meta(min_length=2, max_length=3)]


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are an error, not silently dropped."""


class Credentials(Strict):
    username: Annotated[str, Meta(min_length=1, max_length=80)]
    password: Annotated[str, Meta(min_length=1, max_length=200)]


class TokenOut(msgspec.Struct):
    access_token: str
    role: str
    token_type: str = "bearer"
    expires_at: datetime | None = None


class FacilityIn(Strict):
    name: Name
    kind: FacilityKind
    operator: Name
    region: Name
    total_units: Count
    total_beds: Count
    meeting_point: Text
    boys_max_age: Annotated[int, Meta(ge=0, le=17)] | None = None
    admits_adult_men: bool = False
    wheelchair_units: Count = 0
    accepts_pets: bool = False
    languages: Annotated[list[Language], Meta(max_length=20)] = msgspec.field(
        default_factory=lambda: ["hu"]
    )
    night_admission: bool = False
    accepts_reentry: bool = True


class FacilityPatch(Strict):
    name: Name | UnsetType = UNSET
    kind: FacilityKind | UnsetType = UNSET
    operator: Name | UnsetType = UNSET
    region: Name | UnsetType = UNSET
    total_units: Count | UnsetType = UNSET
    total_beds: Count | UnsetType = UNSET
    meeting_point: Text | UnsetType = UNSET
    boys_max_age: Annotated[int, Meta(ge=0, le=17)] | UnsetType | None = UNSET
    admits_adult_men: bool | UnsetType = UNSET
    wheelchair_units: Count | UnsetType = UNSET
    accepts_pets: bool | UnsetType = UNSET
    languages: Annotated[list[Language], Meta(max_length=20)] | UnsetType = UNSET
    night_admission: bool | UnsetType = UNSET
    accepts_reentry: bool | UnsetType = UNSET


class FacilityOut(msgspec.Struct):
    id: int
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
    languages: list[str]
    night_admission: bool
    accepts_reentry: bool
    meeting_point: str
    free_units: int
    free_beds: int
    capacity_reported_at: datetime | None
    stale: bool


class CapacityIn(Strict):
    free_units: Count
    free_beds: Count


class CapacityReportOut(msgspec.Struct):
    facility_id: int
    free_units: int
    free_beds: int
    reported_at: datetime
    reported_by: str | None


class AddressBody(Strict):
    address: Annotated[str, Meta(min_length=1, max_length=500)]


class RegionOut(msgspec.Struct):
    name: str


class KindOut(msgspec.Struct):
    kind: str
    label: str
    description: str
    max_stay_days: int
    tier: int
    adult_men: str
    requires_children: bool
    risk_levels: list[str]


class HealthOut(msgspec.Struct):
    status: str
    database: str
