"""Recording who did what. Details carry ids and counts, never an address or a name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from broker.db.models import AuditEvent
from broker.domain.access import Principal


def audit_record(
    *,
    session: Session,
    now: datetime,
    actor: Principal | None,
    action: str,
    subject_type: str = "",
    subject_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=now,
        actor_user_id=actor.user_id if actor else None,
        actor_role=actor.role.value if actor else "",
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        detail=detail or {},
    )
    session.add(event)
    return event
