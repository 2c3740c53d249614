"""Police inquiries, and the notices they leave for the receiving facility's staff."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import date, datetime

import anyio.to_thread
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas import InquiryIn, InquiryOut, NoticeOut
from api.state import BrokerState
from broker.domain.access import Principal, Role
from broker.services import police


async def answer_no_sooner_than_the_floor(
    *,
    db: DbSession,
    broker: BrokerState,
    officer: Principal,
    full_name: str,
    birth_date: date,
    case_reference: str,
    now: datetime,
) -> police.InquiryAnswer:
    """The inquiry's answer, or its refusal, never before ``police_answer_ms`` have passed,
    so that no answer comes back measurably sooner than another (used by the page too)."""
    started = time.monotonic()
    try:
        return await anyio.to_thread.run_sync(
            lambda: police.inquiry_answer(
                session=db,
                context=broker.services,
                officer=officer,
                full_name=full_name,
                birth_date=birth_date,
                case_reference=case_reference,
                now=now,
            )
        )
    finally:
        floor = broker.settings.police_answer_ms / 1000
        await asyncio.sleep(max(0.0, floor - (time.monotonic() - started)))


class PoliceController(Controller):
    path = "/api/v1/police"

    @post("/inquiries", opt=allow(Role.POLICE), status_code=HTTP_201_CREATED)
    async def inquire(
        self, data: JSONBody[InquiryIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> InquiryOut:
        """Was this person placed? Yes only if she consented; the same answer shape always."""
        answer = await answer_no_sooner_than_the_floor(
            db=db,
            broker=broker,
            officer=actor,
            full_name=data.full_name,
            birth_date=data.birth_date,
            case_reference=data.case_reference,
            now=now,
        )
        return InquiryOut(**dataclasses.asdict(answer))


class NoticeController(Controller):
    path = "/api/v1/notices"

    @get("/", opt=allow(Role.SHELTER_STAFF), sync_to_thread=True)
    def own(self, db: DbSession, actor: Actor) -> list[NoticeOut]:
        """Police inquiries about residents of the caller's facilities, newest first."""
        return [
            NoticeOut(**dataclasses.asdict(notice))
            for notice in police.notices_for_staff(session=db, actor=actor)
        ]

    @post(
        "/{notice_id:int}/seen",
        opt=allow(Role.SHELTER_STAFF),
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def seen(self, notice_id: FromPath[int], db: DbSession, actor: Actor, now: Now) -> None:
        police.notice_seen(session=db, notice_id=notice_id, actor=actor, now=now)
