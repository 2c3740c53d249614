"""Police inquiries: was a missing person placed? Yes only with her consent, and nothing more.

Writes:
    identity_record   at confirmation, keep the keyed hash of her name and birth date
    identity_carry    a transfer moves the hash to the new placement
    inquiry_answer    one officer's inquiry: rate limit, match, answer, notices, audit
    identity_purge    delete hashes of stays that ended before the retention period
    notice_seen       staff mark a notice as read
Reads:
    notices_for_staff the inquiry notices of the caller's facilities

The answer is the same in shape whatever is found: ``placed`` is true only for a current or
recent stay whose resident consented; every other case, including no match at all, is the
same "no confirmable record". Every matching current or recent stay, consented or not,
leaves a notice for its facility's staff. The work hardly depends on the answer (the same query runs, and an
inquiry and an audit entry are written either way; only the notices differ), and the
controller holds every answer back to the same minimum time, so timing tells nothing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.db.models import InquiryNotice, Placement, PoliceInquiry, ResidentIdentity, User
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import AuditAction
from broker.domain.identity import (
    Identity,
    IdentityRetention,
    check_identity,
    identity_digest,
)
from broker.domain.states import Audience, Event
from broker.errors import InvalidInput, NotFound, PermissionDenied, RateLimited
from broker.i18n import N_, gettext, local_time, ngettext
from broker.services.audit import audit_record
from broker.services.context import ServiceContext
from broker.services.notifications import notify

RATE_WINDOW = timedelta(hours=1)
MAX_CASE_REFERENCE = 80
# the answers' texts; each is said in the officer's language when given
PLACED_ANSWER = N_(
    "Placed: this person is in the care of the shelter network and agreed to this being "
    "confirmed. Nothing more is disclosed; use the contact to reach the hotline."
)
NO_RECORD_ANSWER = N_(
    "No confirmable record. This does not say whether or not the person was placed. "
    "Use the contact to reach the hotline."
)


@dataclass(frozen=True, slots=True)
class InquiryAnswer:
    inquiry_id: str
    placed: bool
    contact: str
    answer: str


@dataclass(frozen=True, slots=True)
class NoticeView:
    id: int
    facility_id: int
    placement_id: str
    case_code: str
    case_reference: str
    created_at: datetime
    seen: bool


def identity_check(*, full_name: str, birth_date: date, now: datetime) -> None:
    """Refuse a name and birth date that cannot be hashed, before anything is written."""
    problems = check_identity(full_name=full_name, birth_date=birth_date, today=now.date())
    if problems:
        raise InvalidInput(gettext("the identity cannot be used as given"), details=problems)


# --- writes ---------------------------------------------------------------------------------


def identity_record(
    *, session: Session, key: bytes, placement: Placement, identity: Identity, now: datetime
) -> None:
    """Keep her identity as a keyed hash with her consent choice. The name goes no further."""
    identity_check(full_name=identity.full_name, birth_date=identity.birth_date, now=now)
    session.add(
        ResidentIdentity(
            placement_id=placement.id,
            digest=identity_digest(
                key, full_name=identity.full_name, birth_date=identity.birth_date
            ),
            consent=identity.police_confirmation_consent,
            recorded_at=now,
        )
    )


def identity_carry(*, session: Session, from_placement_id: str, to_placement_id: str) -> None:
    """A transferred resident keeps her recorded identity and consent at the new place."""
    kept = session.get(ResidentIdentity, from_placement_id)
    if kept is None or session.get(ResidentIdentity, to_placement_id) is not None:
        return
    session.add(
        ResidentIdentity(
            placement_id=to_placement_id,
            digest=kept.digest,
            consent=kept.consent,
            recorded_at=kept.recorded_at,
        )
    )
    session.delete(kept)


def _ensure_within_rate(
    session: Session, officer: Principal, case_reference: str, per_hour: int, now: datetime
) -> None:
    # The officer's row is locked so that parallel inquiries by one account are counted
    # one after the other, and cannot slip past the limit together.
    session.exec(select(User.id).where(User.id == officer.user_id).with_for_update()).first()
    recent = session.exec(
        select(PoliceInquiry.asked_at)
        .where(
            PoliceInquiry.officer_user_id == officer.user_id,
            PoliceInquiry.asked_at > now - RATE_WINDOW,
        )
        .order_by(col(PoliceInquiry.asked_at))
    ).all()
    if len(recent) >= per_hour:
        free_at = recent[len(recent) - per_hour] + RATE_WINDOW
        audit_record(  # kept although the request is refused: see RateLimited.keeps_trace
            session=session,
            now=now,
            actor=officer,
            action=AuditAction.POLICE_INQUIRY_REFUSED,
            subject_type="user",
            subject_id=officer.user_id,
            detail={"case_reference": case_reference, "reason": "rate_limited"},
        )
        raise RateLimited(
            ngettext(
                "at most {count} inquiry per hour per officer account; "
                "the next one is possible at {time}",
                "at most {count} inquiries per hour per officer account; "
                "the next one is possible at {time}",
                per_hour,
            ).format(count=per_hour, time=local_time(free_at)),
            retry_after_seconds=max(1, math.ceil((free_at - now).total_seconds())),
        )


def inquiry_answer(
    *,
    session: Session,
    context: ServiceContext,
    officer: Principal,
    full_name: str,
    birth_date: date,
    case_reference: str,
    now: datetime,
) -> InquiryAnswer:
    if officer.role is not Role.POLICE:
        raise PermissionDenied(gettext("only police accounts may make inquiries"))
    reference = case_reference.strip()
    if not reference or len(reference) > MAX_CASE_REFERENCE:
        length = gettext("1 to {max} characters").format(max=MAX_CASE_REFERENCE)
        raise InvalidInput(
            gettext("case_reference is required"),
            details=[{"field": "case_reference", "message": length}],
        )
    identity_check(full_name=full_name, birth_date=birth_date, now=now)
    settings, retention = context.settings, context.identity_retention
    _ensure_within_rate(session, officer, reference, settings.police_inquiries_per_hour, now)
    digest = identity_digest(context.identity_key, full_name=full_name, birth_date=birth_date)
    matches = session.exec(
        select(ResidentIdentity, Placement)
        .join(Placement, col(Placement.id) == col(ResidentIdentity.placement_id))
        .where(ResidentIdentity.digest == digest)
    ).all()
    confirmable = [
        (identity, placement)
        for identity, placement in matches
        if retention.confirmable(ended_at=placement.ended_at, now=now)
    ]
    placed = any(identity.consent for identity, _ in confirmable)
    inquiry = PoliceInquiry(
        id=uuid.uuid4().hex,
        officer_user_id=officer.user_id,
        case_reference=reference,
        asked_at=now,
        placed=placed,
    )
    session.add(inquiry)
    session.flush()
    for _, placement in confirmable:
        session.add(
            InquiryNotice(
                inquiry_id=inquiry.id,
                facility_id=placement.facility_id,
                placement_id=placement.id,
                case_reference=reference,
                created_at=now,
            )
        )
        notify(
            session=session,
            event=Event.POLICE_INQUIRY,
            audience=Audience.FACILITY,
            facility_id=placement.facility_id,
            payload={"placement_id": placement.id, "inquiry_id": inquiry.id},
            now=now,
        )
    audit_record(
        session=session,
        now=now,
        actor=officer,
        action=AuditAction.POLICE_INQUIRY,
        subject_type="police_inquiry",
        subject_id=inquiry.id,
        detail={"case_reference": reference, "placed": placed},
    )
    return InquiryAnswer(
        inquiry_id=inquiry.id,
        placed=placed,
        contact=settings.hotline_contact,
        answer=gettext(PLACED_ANSWER if placed else NO_RECORD_ANSWER),
    )


def identity_purge(*, session: Session, retention: IdentityRetention, now: datetime) -> int:
    """Delete the hashes of stays that ended before the retention period; returns how many."""
    ended = select(Placement.id).where(
        col(Placement.ended_at).is_not(None), col(Placement.ended_at) < retention.purge_before(now)
    )
    result = session.execute(
        sa.delete(ResidentIdentity).where(col(ResidentIdentity.placement_id).in_(ended))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def notice_seen(*, session: Session, notice_id: int, actor: Principal, now: datetime) -> None:
    notice = session.get(InquiryNotice, notice_id)
    if notice is None or not actor.works_at(notice.facility_id):
        # another facility's notice is answered as if it did not exist
        raise NotFound(gettext("no such notice for your facilities"))
    if notice.seen_at is None:
        notice.seen_at = now
        session.add(notice)


# --- reads ----------------------------------------------------------------------------------


def notices_for_staff(*, session: Session, actor: Principal) -> list[NoticeView]:
    """Inquiry notices for the caller's facilities, newest first."""
    if actor.role is not Role.SHELTER_STAFF or not actor.facility_ids:
        return []
    rows = session.exec(
        select(InquiryNotice, Placement.case_code)
        .join(Placement, col(Placement.id) == col(InquiryNotice.placement_id))
        .where(col(InquiryNotice.facility_id).in_(sorted(actor.facility_ids)))
        .order_by(col(InquiryNotice.created_at).desc(), col(InquiryNotice.id).desc())
    ).all()
    return [
        NoticeView(
            id=notice.id or 0,
            facility_id=notice.facility_id,
            placement_id=notice.placement_id,
            case_code=case_code,
            case_reference=notice.case_reference,
            created_at=notice.created_at,
            seen=notice.seen_at is not None,
        )
        for notice, case_code in rows
    ]
