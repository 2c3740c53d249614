"""The waiting list: families for whom nothing fits yet, matched again by a job until a
place does (``broker.services.waitlist``). The list is the hotline's: every counsellor
sees and may remove every entry."""

from __future__ import annotations

import dataclasses

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from api.controllers.placement import family_request
from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas_waitlist import (
    WaitlistCreatedOut,
    WaitlistEntryOut,
    WaitlistIn,
    WaitlistPlaceOut,
)
from broker.domain.access import Role
from broker.domain.requests import request_from_json
from broker.services import waitlist, waitlist_reads


def _entry_out(view: waitlist_reads.WaitlistView) -> WaitlistEntryOut:
    values = dataclasses.asdict(view)
    place = values.pop("place")
    return WaitlistEntryOut(**values, place=None if place is None else WaitlistPlaceOut(**place))


class WaitlistController(Controller):
    path = "/api/v1/waitlist"
    tags = ["placement"]

    @post("/", opt=allow(Role.COUNSELLOR), status_code=HTTP_201_CREATED, sync_to_thread=True)
    def add(
        self, data: JSONBody[WaitlistIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> WaitlistCreatedOut:
        body = family_request(data)
        body.pop("hours", None)
        entry = waitlist.waitlist_add(
            session=db,
            context=broker.services,
            request=request_from_json(body),
            hours=data.hours,
            actor=actor,
            now=now,
        )
        return WaitlistCreatedOut(
            waitlist_id=entry.id, code=entry.code, expires_at=entry.expires_at
        )

    @get("/", opt=allow(Role.COUNSELLOR), sync_to_thread=True)
    def open_entries(self, db: DbSession, now: Now) -> list[WaitlistEntryOut]:
        """The hotline's open entries, in the order they are served (highest risk, then
        longest waiting), each with the place found for it, if any."""
        return [_entry_out(view) for view in waitlist_reads.waitlist_list(session=db, now=now)]

    @get("/{waitlist_id:str}", opt=allow(Role.COUNSELLOR), sync_to_thread=True)
    def read(self, waitlist_id: FromPath[str], db: DbSession, now: Now) -> WaitlistEntryOut:
        return _entry_out(waitlist_reads.waitlist_get(session=db, entry_id=waitlist_id, now=now))

    @delete("/{waitlist_id:str}", opt=allow(Role.COUNSELLOR), sync_to_thread=True)
    def remove(self, waitlist_id: FromPath[str], db: DbSession, actor: Actor, now: Now) -> None:
        waitlist.waitlist_remove(session=db, entry_id=waitlist_id, actor=actor, now=now)
