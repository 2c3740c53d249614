"""The states a hold, a stay, a plan and a message go through, and the events the broker
sends: each defined once, here.

They are string enumerations because the database stores their values and webhooks carry
them; a value never changes once stored (a new name may be added). Code compares with the
members, SQL text is built from their values, and pages look up the text they show by
member, so a state or event that a page does not know is a missing key, not a silent blank.
"""

from __future__ import annotations

from enum import StrEnum


class HoldState(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    RELEASED = "released"
    EXPIRED = "expired"


class StayState(StrEnum):
    ACTIVE = "active"
    DEPARTED = "departed"
    TRANSFERRED = "transferred"


class WaitlistState(StrEnum):
    """A waiting-list entry: waiting for a place, a place found (the hotline calls back),
    the place held for her from the list, taken off the list by a counsellor, or past its
    end (by the clock, job or no job)."""

    WAITING = "waiting"
    FOUND = "found"
    HELD = "held"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PlanState(StrEnum):
    PROPOSED = "proposed"
    APPLIED = "applied"


class Audience(StrEnum):
    """Who a message is for: the staff of one facility, or the hotline."""

    FACILITY = "facility"
    HOTLINE = "hotline"


class DeliveryState(StrEnum):
    """Where an outgoing message stands: waiting, delivered, given up, or inbox only (no
    webhook is configured for its audience)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    INBOX_ONLY = "inbox_only"


class Event(StrEnum):
    """What a notification is about (its ``event`` field, in the inbox and in webhooks)."""

    HOLD_INCOMING = "hold.incoming"
    HOLD_EXPIRED = "hold.expired"
    CAPACITY_STALE = "capacity.stale"
    CAPACITY_STALE_ESCALATED = "capacity.stale_escalated"
    STAY_LIMIT_NEAR = "stay.limit_near"
    PLAN_TRANSFER_PROPOSAL = "plan.transfer_proposal"
    POLICE_INQUIRY = "police.inquiry"
    WAITLIST_PLACE_FOUND = "waitlist.place_found"


def sql_value(member: StrEnum) -> str:
    """A member as a SQL string literal, e.g. ``'active'``, for checks and index conditions
    written in SQL text. The values are our own constants, never user input."""
    return f"'{member.value}'"


def sql_values(*members: StrEnum) -> str:
    """Members as a SQL list, e.g. ``('active', 'departed')``."""
    return "(" + ", ".join(sql_value(member) for member in members) + ")"
