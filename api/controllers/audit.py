"""The audit log, read by auditors: filtered, in chain order, one page at a time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api.deps import DbSession
from api.guards import allow
from api.schemas import MAX_ID, AuditEntryOut, AuditPageOut
from broker.domain.access import Role
from broker.errors import InvalidInput
from broker.i18n import gettext
from broker.services import audit


def _in_utc(value: datetime | None, field: str) -> datetime | None:
    """The instant in UTC, as the log stores it; an instant near year 1 or 9999 with an
    offset may have no UTC form, and is refused rather than reaching the database."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise InvalidInput(
            gettext("{field}: out of range").format(field=field),
            details=[{"field": field, "message": "out of range"}],
        ) from None


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", opt=allow(Role.AUDITOR), sync_to_thread=True)
    def entries(
        self,
        db: DbSession,
        action: Annotated[str | None, QueryParameter(max_length=60)] = None,
        actor_user_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        subject_type: Annotated[str | None, QueryParameter(max_length=40)] = None,
        subject_id: Annotated[str | None, QueryParameter(max_length=80)] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="ISO 8601, inclusive; UTC if no offset")
        ] = None,
        until: Annotated[
            datetime | None, QueryParameter(description="ISO 8601, exclusive; UTC if no offset")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=audit.PAGE_MAX)] = audit.PAGE_DEFAULT,
        after: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_ID, description="the previous page's next")
        ] = None,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
    ) -> AuditPageOut:
        """Audit entries in chain order with their hashes; reading them is not audited."""
        page = audit.audit_entries(
            session=db,
            filters=audit.AuditFilter(
                action=action,
                actor_user_id=actor_user_id,
                subject_type=subject_type,
                subject_id=subject_id,
                since=_in_utc(since, "since"),
                until=_in_utc(until, "until"),
            ),
            limit=limit,
            after=after,
            offset=offset,
        )
        return AuditPageOut(
            entries=[AuditEntryOut(**dataclasses.asdict(entry)) for entry in page.entries],
            next=page.next,
        )
