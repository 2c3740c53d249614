"""Facility street addresses: the one place in the broker where one may be read.

Only the facility's own staff and admins get here, and every read and write is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from broker.db.models import Facility
from broker.domain.access import Principal, ensure_own_facility_or_admin
from broker.domain.audit_chain import AuditAction
from broker.errors import InvalidInput, NotFound
from broker.i18n import gettext
from broker.services.audit import audit_record
from broker.services.context import ServiceContext

MAX_ADDRESS_LENGTH = 500


def _facility(session: Session, facility_id: int, *, for_update: bool) -> Facility:
    statement = select(Facility).where(Facility.id == facility_id)
    if for_update:
        statement = statement.with_for_update()
    row = session.exec(statement).first()
    if row is None:
        raise NotFound(gettext("no facility with id {id}").format(id=facility_id))
    return row


def address_set(
    *,
    session: Session,
    context: ServiceContext,
    facility_id: int,
    address: str,
    actor: Principal,
    now: datetime,
) -> None:
    ensure_own_facility_or_admin(actor, facility_id)
    address = address.strip()
    if not address:
        raise InvalidInput(
            gettext("address must not be empty"), details=[{"field": "address", "message": "empty"}]
        )
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidInput(
            gettext("address is longer than {max} characters").format(max=MAX_ADDRESS_LENGTH),
            details=[{"field": "address", "message": "too long"}],
        )
    row = _facility(session, facility_id, for_update=True)
    row.address_ciphertext = context.cipher.encrypt(facility_id, address)
    row.updated_at = now
    session.add(row)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.ADDRESS_WRITE,
        subject_type="facility",
        subject_id=facility_id,
    )


def address_read(
    *, session: Session, context: ServiceContext, facility_id: int, actor: Principal, now: datetime
) -> str:
    """Decrypt the address for its own staff or an admin; the read itself is recorded."""
    ensure_own_facility_or_admin(actor, facility_id)
    row = _facility(session, facility_id, for_update=False)
    if row.address_ciphertext is None:
        raise NotFound(gettext("facility {id} has no address on record").format(id=facility_id))
    address = context.cipher.decrypt(facility_id, row.address_ciphertext)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.ADDRESS_READ,
        subject_type="facility",
        subject_id=facility_id,
    )
    return address
