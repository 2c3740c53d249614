"""Request and response bodies of API v1 (msgspec structs; unknown fields are refused).

No response struct here has an address field except :class:`AddressBody`, which only the
address endpoint returns.

Every value a request may carry is bounded here, so that nothing out of range reaches the
database (PostgreSQL's ``integer`` ends at 2**31 - 1 and its text cannot hold NUL): ids
are :data:`DbId`, counts are capped, and no string may hold a control character (free
text may hold line breaks and tabs). The bounds are part of the OpenAPI document.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from broker.domain.rules import FacilityKind
from broker.services.holds import MAX_DECLINE_NOTE

# The largest id a row can have: ids are PostgreSQL ``integer`` columns.
MAX_ID = 2**31 - 1
# No C0 or C1 control character and no DEL: a screen, a terminal or a log would show them
# as nothing, or act on them, and PostgreSQL refuses NUL outright. Python's ``$`` also
# matches before a final newline; ``(?!\n)`` closes that gap and means nothing to the
# ECMA-262 regexes of the OpenAPI document, where ``$`` is already the very end.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$(?!\n)"
# The same, but free text written by a person may keep its tabs and line breaks.
NO_CONTROL_BUT_LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

DbId = Annotated[int, Meta(ge=1, le=MAX_ID)]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_CONTROL)]
Text = Annotated[str, Meta(min_length=1, max_length=1000, pattern=NO_CONTROL_BUT_LINES)]
Count = Annotated[int, Meta(ge=0, le=1_000_000)]
Language = Annotated[str, Meta(min_length=2, max_length=3, pattern=NO_CONTROL)]


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are an error, not silently dropped."""


class Credentials(Strict):
    username: Annotated[str, Meta(min_length=1, max_length=80, pattern=NO_CONTROL)]
    # never stored or looked up, only hashed: any character the account was given counts
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
    # beds in the facility's largest unit; null: no limit on a family's size
    largest_unit_beds: Annotated[int, Meta(ge=1, le=5_000)] | None = None


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
    largest_unit_beds: Annotated[int, Meta(ge=1, le=5_000)] | UnsetType | None = UNSET


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
    largest_unit_beds: int | None
    meeting_point: str
    free_units: int
    free_beds: int
    capacity_reported_at: datetime | None
    stale: bool
    reported_free_units: int
    reported_free_beds: int
    held_units: int
    held_beds: int


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
    address: Annotated[str, Meta(min_length=1, max_length=500, pattern=NO_CONTROL_BUT_LINES)]


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


# --- matching, holds, placements ---------------------------------------------------------

# A family's limits, for the JSON API and the call screen alike (``api.pages.family_form``
# checks the typed form against these very types). The ages are narrow on purpose, so that
# a typo such as "3" for "34" is caught: a teenage mother is entered as an adult, so adults
# start at 14, and a child is under 18.
ADULT_AGES = (14, 120)
CHILD_AGES = (0, 17)
MAX_ADULTS, MAX_CHILDREN, MAX_LANGUAGES, MAX_REGIONS = 6, 15, 10, 30

Sex = Literal["female", "male", "f", "m"]
RegionName = Annotated[str, Meta(min_length=1, max_length=80, pattern=NO_CONTROL)]
Risk = Literal["standard", "medium", "high"]


class AdultIn(Strict):
    age: Annotated[int, Meta(ge=ADULT_AGES[0], le=ADULT_AGES[1])]
    sex: Sex


class ChildIn(Strict):
    age: Annotated[int, Meta(ge=CHILD_AGES[0], le=CHILD_AGES[1])]
    sex: Sex


Adults = Annotated[list[AdultIn], Meta(min_length=1, max_length=MAX_ADULTS)]
Children = Annotated[list[ChildIn], Meta(max_length=MAX_CHILDREN)]
Languages = Annotated[list[Language], Meta(max_length=MAX_LANGUAGES)]
Regions = Annotated[list[RegionName], Meta(max_length=MAX_REGIONS)]


class FamilyIn(Strict):
    adults: Adults
    children: Children = msgspec.field(default_factory=list)


class NeedsIn(Strict):
    wheelchair: bool = False
    pets: bool = False
    languages: Languages = msgspec.field(default_factory=list)
    night_arrival: bool = False


class FamilyRequest(Strict):
    family: FamilyIn
    needs: NeedsIn = msgspec.field(default_factory=NeedsIn)
    risk: Risk = "standard"
    avoid_regions: Regions = msgspec.field(default_factory=list)
    preferred_regions: Regions = msgspec.field(default_factory=list)
    reentry: bool = False
    trafficking_victim: bool = False
    avoid_within_km: Annotated[float, Meta(ge=0, le=500)] | None = None


class MatchIn(FamilyRequest):
    limit: Annotated[int, Meta(ge=1, le=100)] = 10


class HoldIn(FamilyRequest, kw_only=True):
    facility_id: DbId
    ttl_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] | None = None


class OptionOut(msgspec.Struct):
    facility_id: int
    name: str
    kind: str
    region: str
    score: float
    reasons: list[str]
    reason_codes: list[str]  # parallel to reasons: kind, preferred, fresh... capacity last
    stale: bool
    free_units: int
    free_beds: int


class StaleFitOut(msgspec.Struct):  # fits every rule but capacity; its report is stale
    facility_id: int
    name: str
    kind: str
    region: str
    stale: bool


class NearMissOut(StaleFitOut):  # has room, breaks one bendable rule: its code, what it takes
    rule: str
    message: str


class MatchOut(msgspec.Struct):
    options: list[OptionOut]
    excluded: dict[str, int]
    excluded_reasons: dict[str, str]
    feasible: int
    # both empty unless fewer than 3 places are feasible; at most 5 each, best first
    near_misses: list[NearMissOut]
    stale_fits: list[StaleFitOut]


class HoldCreatedOut(msgspec.Struct):
    hold_id: str
    expires_at: datetime
    meeting_point: str
    facility_id: int
    facility_name: str
    state: str


class HoldOut(msgspec.Struct):
    hold_id: str
    facility_id: int
    facility_name: str
    kind: str
    region: str
    state: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    meeting_point: str
    persons: int
    family: dict[str, Any]
    needs: dict[str, Any]
    risk: str
    decline_reason: str | None
    decline_note: str | None
    counsellor: str | None
    placement_id: str | None
    case_code: str | None
    transfer_from_placement_id: str | None


class IdentityIn(Strict):
    """Kept only as a keyed hash; the name itself is never stored or logged."""

    full_name: Name
    birth_date: date
    police_confirmation_consent: bool


class ConfirmIn(Strict):
    identity: IdentityIn | None = None


class ConfirmOut(msgspec.Struct):
    placement_id: str
    case_code: str
    started_at: datetime
    limit_at: datetime
    days_left: int


class DeclineIn(Strict):
    reason: Literal["no_place", "risk_too_high", "family_composition", "other"]
    note: Annotated[str, Meta(max_length=MAX_DECLINE_NOTE, pattern=NO_CONTROL_BUT_LINES)] | None = (
        None
    )


class ResidentOut(msgspec.Struct):
    placement_id: str
    case_code: str
    facility_id: int
    kind: str
    persons: int
    adults: int
    children: int
    started_at: datetime
    limit_at: datetime
    prior_days: int
    days_left: int
    state: str
    transferred_from: str | None


class DepartIn(Strict):
    reason: Literal[
        "independent_housing",
        "family_or_friends",
        "returned_to_partner",
        "other_service",
        "stay_limit",
        "house_rules",
        "other",
    ]


class TransferIn(Strict):
    facility_id: DbId
    ttl_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] | None = None


class OperatorOut(msgspec.Struct):
    id: int
    name: str
    flexible_transfers: bool
    facilities: int


class OperatorPatch(Strict):
    flexible_transfers: bool


class InquiryIn(Strict):
    full_name: Name
    birth_date: date
    case_reference: Annotated[str, Meta(min_length=1, max_length=80, pattern=NO_CONTROL)]


class InquiryOut(msgspec.Struct):
    """The same fields whatever the answer; ``placed`` is true only with consent."""

    inquiry_id: str
    placed: bool
    contact: str
    answer: str


class NoticeOut(msgspec.Struct):
    id: int
    facility_id: int
    placement_id: str
    case_code: str
    case_reference: str
    created_at: datetime
    seen: bool


class AuditEntryOut(msgspec.Struct):
    sequence: int
    at: datetime
    actor_user_id: int | None
    actor_role: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]
    previous_hash: str
    entry_hash: str


class AuditPageOut(msgspec.Struct):
    """``next`` is the ``after`` cursor of the following page; null on the last page."""

    entries: list[AuditEntryOut]
    next: int | None


class WebhookIn(Strict):
    url: Annotated[str, Meta(max_length=500, pattern=NO_CONTROL)] | None


class WebhookOut(msgspec.Struct):
    url: str | None
    updated_at: datetime | None


class WebhookSetOut(msgspec.Struct):
    url: str | None
    # HMAC key of X-Broker-Signature for this facility (its UTF-8 bytes); shown only here
    signing_secret: str | None


class InboxItemOut(msgspec.Struct):
    id: int
    event: str
    audience: str
    facility_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    last_error: str | None
