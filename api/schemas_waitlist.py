"""Request and response bodies of the waiting list (``/api/v1/waitlist``), beside
:mod:`api.schemas` (whose family request they extend) so that neither module grows past
the length limit. The same rules hold: unknown fields are refused, every value is bounded,
and no response has an address field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from api.schemas import FamilyRequest
from broker.services.waitlist import DEFAULT_HOURS, MAX_WAIT_HOURS


class WaitlistIn(FamilyRequest):
    """A family for the waiting list: the search's body, and how long it may wait."""

    hours: Annotated[int, Meta(ge=1, le=MAX_WAIT_HOURS)] = DEFAULT_HOURS


class WaitlistCreatedOut(msgspec.Struct):
    waitlist_id: str
    code: str  # what the counsellor writes on the callback note
    expires_at: datetime


class WaitlistPlaceOut(msgspec.Struct):
    """The first place the matching job found for the entry (never an address)."""

    facility_id: int
    name: str
    kind: str
    region: str
    found_at: datetime


class WaitlistEntryOut(msgspec.Struct):
    waitlist_id: str
    code: str
    state: str  # waiting, found, cancelled, expired
    risk: str
    persons: int
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    counsellor: str | None
    place: WaitlistPlaceOut | None
    # the family's request as stored: with "facility_id" added, the body of the hold
    request: dict[str, Any]
