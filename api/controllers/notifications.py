"""Notifications: the inbox of the caller's audience, and facilities' webhook addresses.

A webhook's host name is resolved when it is set, by ``app.state.webhook_resolver`` when
the app holds one (tests do, so that no real name is looked up), else by the system's
resolver.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas import InboxItemOut, WebhookIn, WebhookOut, WebhookSetOut
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


def provide_resolver(request: Request[Any, Any, Any]) -> notifications.Resolver:
    resolver: notifications.Resolver = request.app.state.get(
        "webhook_resolver", notifications.system_resolver
    )
    return resolver


class WebhookController(Controller):
    path = "/api/v1/facilities/{facility_id:int}/webhook"
    dependencies = {"resolver": Provide(provide_resolver, sync_to_thread=False)}

    @get("/", opt=allow(Role.SHELTER_STAFF, Role.ADMIN), sync_to_thread=True)
    def read(self, facility_id: FromPath[int], db: DbSession, actor: Actor) -> WebhookOut:
        view = notifications.webhook_get(session=db, facility_id=facility_id, actor=actor)
        return WebhookOut(url=view.url, updated_at=view.updated_at)

    @put(
        "/",
        opt=allow(Role.SHELTER_STAFF, Role.ADMIN),
        status_code=200,
        sync_to_thread=True,
        cache_control=CacheControlHeader(no_store=True),
    )
    def write(
        self,
        facility_id: FromPath[int],
        data: JSONBody[WebhookIn],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
        resolver: NamedDependency[notifications.Resolver],
    ) -> WebhookSetOut:
        """Where the facility's notifications are POSTed (null: inbox only), with the new
        signing secret its receiver checks them with. Refused (422) unless it is a public
        address, or a name resolving to public addresses only; in production, https only."""
        secret = notifications.webhook_set(
            session=db,
            master_secret=broker.settings.webhook_secret_bytes,
            facility_id=facility_id,
            url=data.url,
            actor=actor,
            now=now,
            policy=broker.settings.webhook_policy,
            resolver=resolver,
        )
        return WebhookSetOut(url=data.url or None, signing_secret=secret)
