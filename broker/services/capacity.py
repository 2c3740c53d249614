"""Live capacity: a facility's own staff report free units and beds; every report is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from broker.db.models import CapacityReport, Facility, User
from broker.domain.access import Principal, ensure_own_facility, ensure_own_facility_or_admin
from broker.domain.audit_chain import AuditAction
from broker.domain.capacity import Places, check_room_for_stays
from broker.domain.facility import check_capacity_report
from broker.services.audit import audit_record
from broker.services.availability import staying_places
from broker.services.locks import lock_facility


@dataclass(frozen=True, slots=True)
class ReportView:
    facility_id: int
    free_units: int
    free_beds: int
    reported_at: datetime
    reported_by: str | None


def capacity_report(
    *,
    session: Session,
    facility_id: int,
    free_units: int,
    free_beds: int,
    actor: Principal,
    now: datetime,
) -> CapacityReport:
    """Record a report from the facility's own staff; checked before anything is written."""
    ensure_own_facility(actor, facility_id)
    row = lock_facility(session, facility_id)
    check_capacity_report(
        free_units=free_units,
        free_beds=free_beds,
        total_units=row.total_units,
        total_beds=row.total_beds,
    )
    # read after the lock: arrivals and departures here lock the same row first
    staying = staying_places(session=session, facility_id=facility_id)
    check_room_for_stays(
        free=Places(free_units, free_beds),
        staying=staying,
        totals=Places(row.total_units, row.total_beds),
    )
    row.reported_free_units = free_units
    row.reported_free_beds = free_beds
    row.capacity_reported_at = now
    report = CapacityReport(
        facility_id=facility_id,
        free_units=free_units,
        free_beds=free_beds,
        reported_at=now,
        reported_by_user_id=actor.user_id,
    )
    session.add(row)
    session.add(report)
    session.flush()
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.CAPACITY_REPORT,
        subject_type="facility",
        subject_id=facility_id,
        detail={"free_units": free_units, "free_beds": free_beds},
    )
    return report


def capacity_history(
    *, session: Session, facility_id: int, actor: Principal, limit: int = 20
) -> list[ReportView]:
    """The facility's latest reports, newest first (own staff and admins)."""
    ensure_own_facility_or_admin(actor, facility_id)
    rows = session.exec(
        select(CapacityReport, User.username)
        .join(User, User.id == CapacityReport.reported_by_user_id, isouter=True)  # type: ignore[arg-type]
        .where(CapacityReport.facility_id == facility_id)
        .order_by(col(CapacityReport.reported_at).desc(), col(CapacityReport.id).desc())
        .limit(limit)
    ).all()
    return [
        ReportView(
            facility_id=report.facility_id,
            free_units=report.free_units,
            free_beds=report.free_beds,
            reported_at=report.reported_at,
            reported_by=username,
        )
        for report, username in rows
    ]


def capacity_import(
    *, session: Session, facility: Facility, free_units: int, free_beds: int, reported_at: datetime
) -> None:
    """Load a report that came from outside the API (demo or synthetic network): the same
    checks as a live report, with no author."""
    assert facility.id is not None
    check_capacity_report(
        free_units=free_units,
        free_beds=free_beds,
        total_units=facility.total_units,
        total_beds=facility.total_beds,
    )
    facility.reported_free_units = free_units
    facility.reported_free_beds = free_beds
    facility.capacity_reported_at = reported_at
    session.add(facility)
    session.add(
        CapacityReport(
            facility_id=facility.id,
            free_units=free_units,
            free_beds=free_beds,
            reported_at=reported_at,
            reported_by_user_id=None,
        )
    )
