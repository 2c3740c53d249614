"""Notifications: the inbox of the caller's audience, and facilities' webhook addresses."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.deps import Actor, DbSession, Now
from api.guards import allow
from api.schemas import InboxItemOut, WebhookIn, WebhookOut
from broker.domain.access import Role
from broker.services import notifications


class InboxController(Controller):
    path = "/api/v1/inbox"

    @get("/", opt=allow(Role.SHELTER_STAFF, Role.COUNSELLOR, Role.ADMIN), sync_to_thread=True)
    def own(
        self,
        db: DbSession,
        actor: Actor,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[InboxItemOut]:
        """Staff: their facilities' messages. Counsellors and admins: the hotline's."""
        return [
            InboxItemOut(**dataclasses.asdict(item))
            for item in notifications.inbox(session=db, actor=actor, limit=limit)
        ]


class WebhookController(Controller):
    path = "/api/v1/facilities/{facility_id:int}/webhook"

    @get("/", opt=allow(Role.SHELTER_STAFF, Role.ADMIN), sync_to_thread=True)
    def read(self, facility_id: FromPath[int], db: DbSession, actor: Actor) -> WebhookOut:
        return WebhookOut(
            url=notifications.webhook_get(session=db, facility_id=facility_id, actor=actor)
        )

    @put(
        "/",
        opt=allow(Role.SHELTER_STAFF, Role.ADMIN),
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def write(
        self,
        facility_id: FromPath[int],
        data: JSONBody[WebhookIn],
        db: DbSession,
        actor: Actor,
        now: Now,
    ) -> None:
        """Where the facility's notifications are POSTed (null: inbox only)."""
        notifications.webhook_set(
            session=db, facility_id=facility_id, url=data.url, actor=actor, now=now
        )
