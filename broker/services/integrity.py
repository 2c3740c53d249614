"""The invariants of the stored state, recomputed from the rows (``broker db check``).

Operators run it after an incident; the tests run it after every concurrency round. Each
check is one query that returns the rows breaking one invariant, so a violation names the
rows to look at. The checks, by code:

    free_within_totals       reported free units and beds lie within 0 and the totals
    room_for_stays           reported free + units (beds) of active stays <= the totals
    one_active_stay_per_case a case (a family's chain of stays) has at most one active stay
    stay_has_case            every stay belongs to a case
    hold_state_known         a hold's state is open, confirmed, declined, released or expired
    hold_closed_time         an open hold has no closing time; a closed one has one
    closed_hold_without_stay a declined, released or expired hold has no stay
    confirmed_hold_has_stay  a confirmed hold has exactly one stay
    stay_from_confirmed_hold every stay comes from a confirmed hold at the same facility
    stay_state_known         a stay is active, departed or transferred
    one_successor_per_stay   a stay was transferred to at most one next stay (one head per
                             transfer chain), and its successor is of the same case
    transferred_has_successor a stay marked transferred has its next stay; a stay with a
                             next stay is marked transferred
    ended_stay_has_end       an ended stay has an end time; an active one has none
    one_open_transfer        a stay has at most one open transfer hold
    transfer_from_active     an open, unexpired transfer hold comes from an active stay
    identity_on_current      a resident's identity hash is not left on a stay she was
                             transferred out of
    waitlist_state_known     a waiting-list entry is waiting, found, held, cancelled or expired
    waitlist_closed_time     an open entry (waiting, found) has no closing time; an ended one
                             has one
    waitlist_found_place     a found entry has its place and time; a waiting one has neither
    waitlist_notified_once   an entry with a place found has exactly one hotline message
                             about it; one without a place has none
    audit_chain              the hash-chained audit log is intact (``broker audit verify``)

Read-only: run it in one snapshot (PostgreSQL: REPEATABLE READ), or rows changed between
two checks could look inconsistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from broker.domain.audit_chain import ChainBreak
from broker.domain.states import (
    Event,
    HoldState,
    StayState,
    WaitlistState,
    sql_value,
    sql_values,
)
from broker.services.audit import audit_chain_verify


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.check} {self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Check:
    code: str
    sql: str
    # formats one offending row (a mapping of the query's columns) as a sentence
    message: str
    subject: str


_HOLD_STATES = sql_values(*HoldState)
_OPEN = sql_value(HoldState.OPEN)
_ACTIVE = sql_value(StayState.ACTIVE)
_STAY_STATES = sql_values(*StayState)
_WAITLIST_STATES = sql_values(*WaitlistState)
_WAITLIST_OPEN = sql_values(WaitlistState.WAITING, WaitlistState.FOUND)
# the dedupe key of an entry's place-found message (broker.services.waitlist)
_FOUND_KEY = f"'{Event.WAITLIST_PLACE_FOUND.value}:' || w.id"

_CHECKS: tuple[_Check, ...] = (
    _Check(
        "free_within_totals",
        """SELECT id, reported_free_units AS units, reported_free_beds AS beds,
                  total_units, total_beds FROM facilities
           WHERE reported_free_units < 0 OR reported_free_units > total_units
              OR reported_free_beds < 0 OR reported_free_beds > total_beds""",
        "free {units} units / {beds} beds outside 0..{total_units} / 0..{total_beds}",
        "facility {id}",
    ),
    _Check(
        "room_for_stays",
        f"""SELECT f.id, f.reported_free_units AS units, f.reported_free_beds AS beds,
                  s.units AS staying_units, s.beds AS staying_beds, f.total_units, f.total_beds
           FROM facilities f JOIN (
               SELECT facility_id, SUM(units) AS units, SUM(beds) AS beds FROM placements
               WHERE state = {_ACTIVE} GROUP BY facility_id) s ON s.facility_id = f.id
           WHERE f.reported_free_units + s.units > f.total_units
              OR f.reported_free_beds + s.beds > f.total_beds""",
        "free {units} units / {beds} beds plus {staying_units} units / {staying_beds} beds "
        "of active stays exceed the totals {total_units} / {total_beds}",
        "facility {id}",
    ),
    _Check(
        "one_active_stay_per_case",
        f"""SELECT case_id, COUNT(*) AS stays FROM placements
           WHERE state = {_ACTIVE} AND case_id IS NOT NULL
           GROUP BY case_id HAVING COUNT(*) > 1""",
        "{stays} active stays",
        "case {case_id}",
    ),
    _Check(
        "stay_has_case",
        "SELECT id FROM placements WHERE case_id IS NULL",
        "the stay belongs to no case",
        "stay {id}",
    ),
    _Check(
        "hold_state_known",
        f"SELECT id, state FROM holds WHERE state NOT IN {_HOLD_STATES}",
        "unknown state {state!r}",
        "hold {id}",
    ),
    _Check(
        "hold_closed_time",
        f"""SELECT id, state FROM holds
           WHERE (state = {_OPEN} AND closed_at IS NOT NULL)
              OR (state <> {_OPEN} AND closed_at IS NULL)""",
        "state {state} does not agree with its closing time",
        "hold {id}",
    ),
    _Check(
        "closed_hold_without_stay",
        """SELECT h.id, h.state, p.id AS stay FROM holds h JOIN placements p ON p.hold_id = h.id
           WHERE h.state <> 'confirmed'""",
        "{state}, yet stay {stay} was made from it",
        "hold {id}",
    ),
    _Check(
        "confirmed_hold_has_stay",
        """SELECT h.id, COUNT(p.id) AS stays FROM holds h
           LEFT JOIN placements p ON p.hold_id = h.id
           WHERE h.state = 'confirmed' GROUP BY h.id HAVING COUNT(p.id) <> 1""",
        "confirmed with {stays} stays",
        "hold {id}",
    ),
    _Check(
        "stay_from_confirmed_hold",
        """SELECT p.id, h.state, h.facility_id AS hold_facility, p.facility_id
           FROM placements p LEFT JOIN holds h ON h.id = p.hold_id
           WHERE h.id IS NULL OR h.facility_id <> p.facility_id""",
        "its hold is missing or at facility {hold_facility}, not {facility_id}",
        "stay {id}",
    ),
    _Check(
        "stay_state_known",
        f"SELECT id, state FROM placements WHERE state NOT IN {_STAY_STATES}",
        "unknown state {state!r}",
        "stay {id}",
    ),
    _Check(
        "one_successor_per_stay",
        """SELECT previous_placement_id AS id, COUNT(*) AS successors,
                  COUNT(DISTINCT case_id) AS cases FROM placements
           WHERE previous_placement_id IS NOT NULL
           GROUP BY previous_placement_id HAVING COUNT(*) > 1""",
        "transferred to {successors} next stays",
        "stay {id}",
    ),
    _Check(
        "one_successor_per_stay",
        """SELECT n.id, n.case_id AS next_case, p.case_id FROM placements n
           JOIN placements p ON p.id = n.previous_placement_id
           WHERE n.case_id IS NULL OR p.case_id IS NULL OR n.case_id <> p.case_id""",
        "case {next_case} follows a stay of case {case_id}",
        "stay {id}",
    ),
    _Check(
        "transferred_has_successor",
        """SELECT p.id, p.state, COUNT(n.id) AS successors FROM placements p
           LEFT JOIN placements n ON n.previous_placement_id = p.id
           GROUP BY p.id, p.state
           HAVING (p.state = 'transferred' AND COUNT(n.id) = 0)
               OR (p.state <> 'transferred' AND COUNT(n.id) > 0)""",
        "{state} with {successors} next stays",
        "stay {id}",
    ),
    _Check(
        "ended_stay_has_end",
        f"""SELECT id, state FROM placements
           WHERE (state = {_ACTIVE} AND ended_at IS NOT NULL)
              OR (state <> {_ACTIVE} AND ended_at IS NULL)""",
        "state {state} does not agree with its end time",
        "stay {id}",
    ),
    _Check(
        "one_open_transfer",
        f"""SELECT transfer_from_placement_id AS id, COUNT(*) AS holds FROM holds
           WHERE state = {_OPEN} AND transfer_from_placement_id IS NOT NULL
           GROUP BY transfer_from_placement_id HAVING COUNT(*) > 1""",
        "{holds} open transfer holds",
        "stay {id}",
    ),
    _Check(
        "transfer_from_active",
        f"""SELECT h.id, p.id AS stay, p.state FROM holds h
           JOIN placements p ON p.id = h.transfer_from_placement_id
           WHERE h.state = {_OPEN} AND h.expires_at > :now AND p.state <> {_ACTIVE}""",
        "open transfer of stay {stay}, which is {state}",
        "hold {id}",
    ),
    _Check(
        "identity_on_current",
        """SELECT r.placement_id AS id FROM resident_identities r
           JOIN placements p ON p.id = r.placement_id WHERE p.state = 'transferred'""",
        "an identity hash stayed behind on a stay she was transferred out of",
        "stay {id}",
    ),
    _Check(
        "waitlist_state_known",
        f"SELECT id, state FROM waitlist_entries WHERE state NOT IN {_WAITLIST_STATES}",
        "unknown state {state!r}",
        "waiting-list entry {id}",
    ),
    _Check(
        "waitlist_closed_time",
        f"""SELECT id, state FROM waitlist_entries
           WHERE (state IN {_WAITLIST_OPEN} AND closed_at IS NOT NULL)
              OR (state NOT IN {_WAITLIST_OPEN} AND closed_at IS NULL)""",
        "state {state} does not agree with its closing time",
        "waiting-list entry {id}",
    ),
    _Check(
        "waitlist_found_place",
        f"""SELECT id, state, found_facility_id, found_at FROM waitlist_entries
           WHERE (found_at IS NULL) <> (found_facility_id IS NULL)
              OR (state = {sql_value(WaitlistState.FOUND)} AND found_at IS NULL)
              OR (state = {sql_value(WaitlistState.WAITING)} AND found_at IS NOT NULL)""",
        "{state} with place {found_facility_id} found at {found_at}",
        "waiting-list entry {id}",
    ),
    _Check(
        "waitlist_notified_once",
        f"""SELECT w.id, w.found_at, COUNT(o.id) AS messages FROM waitlist_entries w
           LEFT JOIN outbox o ON o.dedupe_key = {_FOUND_KEY}
           GROUP BY w.id, w.found_at
           HAVING (w.found_at IS NOT NULL AND COUNT(o.id) <> 1)
               OR (w.found_at IS NULL AND COUNT(o.id) > 0)""",
        "place found at {found_at}, {messages} hotline messages about it",
        "waiting-list entry {id}",
    ),
)

CHECK_CODES: tuple[str, ...] = (*dict.fromkeys(check.code for check in _CHECKS), "audit_chain")


def integrity_check(*, session: Session, audit_key: bytes, now: datetime) -> list[Violation]:
    """Every violation of the invariants above; an empty list when the state is sound."""
    found: list[Violation] = []
    # times are stored as naive UTC (broker.db.models.UTCDateTime)
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    for check in _CHECKS:
        for row in session.execute(sa.text(check.sql), {"now": naive_now}).mappings():
            values = dict(row)
            found.append(
                Violation(
                    check.code, check.subject.format(**values), check.message.format(**values)
                )
            )
    chain = audit_chain_verify(session=session, key=audit_key)
    if isinstance(chain, ChainBreak):
        found.append(
            Violation(
                "audit_chain",
                f"sequence {chain.sequence}",
                f"[{chain.problem.value}] {chain.message}",
            )
        )
    return found
