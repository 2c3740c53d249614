"""The broker keeping itself true: reminders, alerts and purges the scheduled jobs run.

Each function works inside the caller's unit of work and returns a small summary of counts.
Notifications go through the outbox, with dedupe keys, so running a job twice for the same
state of the world tells no one twice.

    stale_capacity_remind   a facility whose report is older than the staleness limit is
                            reminded; past the escalation limit the hotline is told too
    stay_limit_alert        stays reaching their limit within N days, to the facility and
                            the hotline, once per stay
    retention_purge         identity hashes past their retention; closed stays and holds
                            past theirs, waiting-list entries ended as long ago, and old
                            unmet-case keys (the daily statistics are aggregates and stay)
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from broker.db.models import (
    Facility,
    Hold,
    InquiryNotice,
    JobRun,
    Placement,
    ResidentIdentity,
    UnmetCase,
    WaitlistEntry,
)
from broker.domain.identity import IdentityRetention
from broker.domain.states import Audience, Event, StayState
from broker.services.notifications import notify, queued_keys
from broker.services.police import identity_purge

JOB_RUN_RETENTION = timedelta(days=14)


def stale_capacity_remind(
    *, session: Session, now: datetime, stale_after: timedelta, escalate_after: timedelta
) -> dict[str, int]:
    stale = session.exec(
        select(Facility)
        .where(
            sa.or_(
                col(Facility.capacity_reported_at).is_(None),
                col(Facility.capacity_reported_at) < now - stale_after,
            )
        )
        .order_by(col(Facility.id))
    ).all()
    # (event, audience, facility id, payload, dedupe key) of every message this run may send
    wanted: list[tuple[str, str, int | None, dict[str, Any], str]] = []
    for facility in stale:
        assert facility.id is not None
        reported = facility.capacity_reported_at
        since = "never" if reported is None else reported.isoformat()
        payload = {"facility_id": facility.id, "capacity_reported_at": since}
        key = f"{facility.id}:{since}"
        wanted.append(
            (
                Event.CAPACITY_STALE,
                Audience.FACILITY,
                facility.id,
                payload,
                f"{Event.CAPACITY_STALE}:{key}",
            )
        )
        if reported is None or now - reported > escalate_after:
            wanted.append(
                (
                    Event.CAPACITY_STALE_ESCALATED,
                    Audience.HOTLINE,
                    None,
                    payload,
                    f"{Event.CAPACITY_STALE_ESCALATED}:{key}",
                )
            )
    sent = _send_new(session, now, wanted)
    return {
        "reminded": sent[Event.CAPACITY_STALE],
        "escalated": sent[Event.CAPACITY_STALE_ESCALATED],
    }


def stay_limit_alert(*, session: Session, now: datetime, days: int) -> dict[str, int]:
    due = session.exec(
        select(Placement)
        .where(
            Placement.state == StayState.ACTIVE,
            col(Placement.limit_at) <= now + timedelta(days=days),
        )
        .order_by(col(Placement.limit_at))
    ).all()
    wanted: list[tuple[str, str, int | None, dict[str, Any], str]] = []
    for placement in due:
        payload = {
            "placement_id": placement.id,
            "case_code": placement.case_code,
            "facility_id": placement.facility_id,
            "limit_at": placement.limit_at.isoformat(),
        }
        for audience, facility_id in (
            (Audience.FACILITY, placement.facility_id),
            (Audience.HOTLINE, None),
        ):
            key = f"{Event.STAY_LIMIT_NEAR}:{placement.id}:{audience}"
            wanted.append((Event.STAY_LIMIT_NEAR, audience, facility_id, payload, key))
    sent = _send_new(session, now, wanted)
    return {"stays": len(due), "alerts": sent[Event.STAY_LIMIT_NEAR]}


def _send_new(
    session: Session, now: datetime, wanted: list[tuple[str, str, int | None, dict[str, Any], str]]
) -> Counter[str]:
    """Queue the messages whose dedupe key is new; counts of those queued, per event."""
    known = queued_keys(session=session, keys=[key for *_, key in wanted])
    sent: Counter[str] = Counter()
    for event, audience, facility_id, payload, key in wanted:
        if key in known:
            continue
        notify(
            session=session,
            event=event,
            audience=audience,
            facility_id=facility_id,
            payload=payload,
            now=now,
            dedupe_key=key,
        )
        sent[event] += 1
    return sent


def retention_purge(
    *,
    session: Session,
    now: datetime,
    identity_retention: IdentityRetention,
    closed_retention: timedelta,
) -> dict[str, int]:
    identities = identity_purge(session=session, retention=identity_retention, now=now)
    cutoff = now - closed_retention
    old_stays = list(
        session.exec(
            select(Placement.id).where(
                col(Placement.ended_at).is_not(None), col(Placement.ended_at) < cutoff
            )
        ).all()
    )
    old_holds = list(
        session.exec(
            select(Hold.id).where(
                col(Hold.closed_at).is_not(None),
                col(Hold.closed_at) < cutoff,
                col(Hold.id).not_in(
                    select(Placement.hold_id).where(col(Placement.id).not_in(old_stays))
                ),
            )
        ).all()
    )
    if old_stays:
        session.execute(
            sa.update(Placement)
            .where(col(Placement.previous_placement_id).in_(old_stays))
            .values(previous_placement_id=None)
        )
        session.execute(
            sa.update(Hold)
            .where(col(Hold.transfer_from_placement_id).in_(old_stays))
            .values(transfer_from_placement_id=None)
        )
        session.execute(
            sa.delete(InquiryNotice).where(col(InquiryNotice.placement_id).in_(old_stays))
        )
        session.execute(
            sa.delete(ResidentIdentity).where(col(ResidentIdentity.placement_id).in_(old_stays))
        )
        session.execute(sa.delete(Placement).where(col(Placement.id).in_(old_stays)))
    if old_holds:
        session.execute(sa.delete(Hold).where(col(Hold.id).in_(old_holds)))
    # an entry has ended by its expiry at the latest (taken off the list earlier: closed_at)
    session.execute(
        sa.delete(WaitlistEntry).where(
            sa.or_(col(WaitlistEntry.closed_at) < cutoff, col(WaitlistEntry.expires_at) < cutoff)
        )
    )
    # the day's national count is in daily_unmet already; the per-case keys need not stay
    session.execute(sa.delete(UnmetCase).where(col(UnmetCase.day) < cutoff.date()))
    # every tick leaves a row (thousands a day); the latest of each job is what `broker jobs
    # list` shows, so it stays however old
    latest = sa.select(sa.func.max(JobRun.id)).group_by(col(JobRun.job_id))
    runs = cast(
        CursorResult[Any],
        session.execute(
            sa.delete(JobRun).where(
                col(JobRun.started_at) < now - JOB_RUN_RETENTION, col(JobRun.id).not_in(latest)
            )
        ),
    )
    return {
        "identities": identities,
        "stays": len(old_stays),
        "holds": len(old_holds),
        "job_runs": runs.rowcount or 0,
    }
