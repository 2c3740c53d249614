"""Operators and their transfer policy switch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broker.db.models import Facility, Operator
from broker.domain.access import Principal
from broker.domain.audit_chain import AuditAction
from broker.errors import NotFound
from broker.i18n import gettext
from broker.services.audit import audit_record


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: int
    name: str
    flexible_transfers: bool
    facilities: int


def operator_list(*, session: Session) -> list[OperatorView]:
    counts = dict(
        session.execute(
            sa.select(col(Facility.operator_id), sa.func.count()).group_by(
                col(Facility.operator_id)
            )
        ).all()
    )
    return [
        OperatorView(
            id=op.id or 0,
            name=op.name,
            flexible_transfers=op.flexible_transfers,
            facilities=int(counts.get(op.id, 0)),
        )
        for op in session.exec(select(Operator).order_by(col(Operator.name))).all()
    ]


def operator_set_policy(
    *, session: Session, operator_id: int, flexible_transfers: bool, actor: Principal, now: datetime
) -> OperatorView:
    operator = session.get(Operator, operator_id)
    if operator is None:
        raise NotFound(gettext("no operator with id {id}").format(id=operator_id))
    operator.flexible_transfers = flexible_transfers
    session.add(operator)
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.OPERATOR_POLICY,
        subject_type="operator",
        subject_id=operator_id,
        detail={"flexible_transfers": flexible_transfers},
    )
    count = session.execute(
        sa.select(sa.func.count()).where(col(Facility.operator_id) == operator_id)
    ).scalar_one()
    return OperatorView(
        id=operator_id,
        name=operator.name,
        flexible_transfers=flexible_transfers,
        facilities=int(count),
    )
