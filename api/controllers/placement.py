"""Placement during a call: matching, holds, confirmation, stays, transfers, operators."""

from __future__ import annotations

import dataclasses

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas import (
    ConfirmIn,
    ConfirmOut,
    DeclineIn,
    DepartIn,
    FamilyRequest,
    HoldCreatedOut,
    HoldIn,
    HoldOut,
    MatchIn,
    MatchOut,
    NearMissOut,
    OperatorOut,
    OperatorPatch,
    OptionOut,
    ResidentOut,
    StaleFitOut,
    TransferIn,
)
from broker.db.models import Facility, Hold
from broker.domain.access import Role
from broker.domain.identity import Identity
from broker.domain.requests import request_from_json
from broker.domain.stay import days_left
from broker.reason_texts import say
from broker.services import hold_reads, holds, matching, operators, placements
from solver.ranking import Option, Ranking


def family_request(data: FamilyRequest) -> dict[str, object]:
    """The API body in the broker's stored request form (sexes spelled out)."""
    as_dict = msgspec.to_builtins(data)
    for group in ("adults", "children"):
        for person in as_dict["family"][group]:
            person["sex"] = "male" if person["sex"] in ("male", "m") else "female"
    for key in ("limit", "facility_id", "ttl_minutes"):
        as_dict.pop(key, None)
    return as_dict


def _option_out(o: Option) -> OptionOut:
    return OptionOut(
        facility_id=o.facility_id,
        name=o.name,
        kind=o.kind,
        region=o.region,
        score=o.score,
        reasons=[say(reason) for reason in o.reasons],
        reason_codes=list(o.reason_codes),
        stale=o.stale,
        free_units=o.free_units,
        free_beds=o.free_beds,
    )


def _match_out(ranking: Ranking) -> MatchOut:
    """The ranking with its texts said in the caller's language (``Accept-Language``,
    English by default), each beside its stable code."""
    return MatchOut(
        options=[_option_out(o) for o in ranking.options],
        excluded=ranking.excluded,
        excluded_reasons={code: say(matching.EXCLUSION_REASONS[code]) for code in ranking.excluded},
        feasible=ranking.feasible,
        near_misses=[
            NearMissOut(
                facility_id=n.facility_id,
                name=n.name,
                kind=n.kind,
                region=n.region,
                stale=n.stale,
                rule=n.rule,
                message=say(n.message),
            )
            for n in ranking.near_misses
        ],
        stale_fits=[
            StaleFitOut(
                facility_id=s.facility_id, name=s.name, kind=s.kind, region=s.region, stale=s.stale
            )
            for s in ranking.stale_fits
        ],
    )


def _created(hold: Hold, facility: Facility) -> HoldCreatedOut:
    return HoldCreatedOut(
        hold_id=hold.id,
        expires_at=hold.expires_at,
        meeting_point=facility.meeting_point,
        facility_id=facility.id or 0,
        facility_name=facility.name,
        state=hold.state,
    )


def _hold_out(view: hold_reads.HoldView) -> HoldOut:
    values = dataclasses.asdict(view)
    values.pop("request")
    return HoldOut(**values)


class MatchController(Controller):
    path = "/api/v1/matches"
    tags = ["placement"]

    @post(
        "/",
        opt={**allow(Role.COUNSELLOR), "writes": False},
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def match(
        self, data: JSONBody[MatchIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> MatchOut:
        ranking = matching.match(
            session=db,
            context=broker.services,
            request=request_from_json(family_request(data)),
            now=now,
            limit=data.limit,
            actor=actor,
        )
        return _match_out(ranking)


class HoldController(Controller):
    path = "/api/v1/holds"
    tags = ["placement"]

    @post("/", opt=allow(Role.COUNSELLOR), status_code=HTTP_201_CREATED, sync_to_thread=True)
    def create(
        self, data: JSONBody[HoldIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> HoldCreatedOut:
        hold, facility = holds.hold_create(
            session=db,
            context=broker.services,
            request=request_from_json(family_request(data)),
            facility_id=data.facility_id,
            ttl_minutes=data.ttl_minutes,
            actor=actor,
            now=now,
        )
        return _created(hold, facility)

    @get("/", opt=allow(Role.COUNSELLOR), sync_to_thread=True)
    def own(self, db: DbSession, actor: Actor, now: Now) -> list[HoldOut]:
        """The caller's holds of the last 24 hours, newest first, with their current state."""
        return [
            _hold_out(view)
            for view in hold_reads.holds_of_counsellor(session=db, actor=actor, now=now)
        ]

    @get("/{hold_id:str}", opt=allow(Role.COUNSELLOR, Role.SHELTER_STAFF), sync_to_thread=True)
    def read(self, hold_id: FromPath[str], db: DbSession, actor: Actor, now: Now) -> HoldOut:
        return _hold_out(hold_reads.hold_get(session=db, hold_id=hold_id, actor=actor, now=now))

    @post(
        "/{hold_id:str}/confirm",
        opt=allow(Role.SHELTER_STAFF),
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def confirm(
        self,
        hold_id: FromPath[str],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
        data: JSONBody[ConfirmIn | None] = None,
    ) -> ConfirmOut:
        given = data.identity if data is not None else None
        placement = holds.hold_confirm(
            session=db,
            context=broker.services,
            hold_id=hold_id,
            actor=actor,
            now=now,
            identity=None if given is None else Identity(**msgspec.structs.asdict(given)),
        )
        return ConfirmOut(
            placement_id=placement.id,
            case_code=placement.case_code,
            started_at=placement.started_at,
            limit_at=placement.limit_at,
            days_left=days_left(placement.limit_at, now),
        )

    @post(
        "/{hold_id:str}/decline",
        opt=allow(Role.SHELTER_STAFF),
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def decline(
        self,
        hold_id: FromPath[str],
        data: JSONBody[DeclineIn],
        db: DbSession,
        actor: Actor,
        now: Now,
    ) -> HoldOut:
        holds.hold_decline(
            session=db, hold_id=hold_id, reason=data.reason, note=data.note, actor=actor, now=now
        )
        return _hold_out(hold_reads.hold_get(session=db, hold_id=hold_id, actor=actor, now=now))

    @delete("/{hold_id:str}", opt=allow(Role.COUNSELLOR), sync_to_thread=True)
    def release(self, hold_id: FromPath[str], db: DbSession, actor: Actor, now: Now) -> None:
        holds.hold_release(session=db, hold_id=hold_id, actor=actor, now=now)

    @post(
        "/{hold_id:str}/rematch",
        opt={**allow(Role.COUNSELLOR), "writes": False},
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def rematch(
        self, hold_id: FromPath[str], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> MatchOut:
        """Match the hold's family again, leaving out every facility that declined it."""
        _, ranking = hold_reads.hold_rematch(
            session=db,
            context=broker.services,
            hold_id=hold_id,
            actor=actor,
            now=now,
        )
        return _match_out(ranking)


class StayController(Controller):
    path = "/api/v1"
    tags = ["placement"]

    @get("/facilities/{facility_id:int}/holds", opt=allow(Role.SHELTER_STAFF), sync_to_thread=True)
    def incoming(
        self, facility_id: FromPath[int], db: DbSession, actor: Actor, now: Now
    ) -> list[HoldOut]:
        """Open holds for the facility, and the rest of the last 24 hours."""
        return [
            _hold_out(view)
            for view in hold_reads.holds_for_facility(
                session=db, facility_id=facility_id, actor=actor, now=now
            )
        ]

    @get(
        "/facilities/{facility_id:int}/residents",
        opt=allow(Role.SHELTER_STAFF),
        sync_to_thread=True,
    )
    def residents(
        self, facility_id: FromPath[int], db: DbSession, actor: Actor, now: Now
    ) -> list[ResidentOut]:
        return [
            ResidentOut(**dataclasses.asdict(view))
            for view in placements.residents(
                session=db, facility_id=facility_id, actor=actor, now=now
            )
        ]

    @get(
        "/placements/{placement_id:str}",
        opt=allow(Role.SHELTER_STAFF, Role.COUNSELLOR),
        sync_to_thread=True,
    )
    def placement(
        self, placement_id: FromPath[str], db: DbSession, actor: Actor, now: Now
    ) -> ResidentOut:
        view = placements.placement_get(session=db, placement_id=placement_id, actor=actor, now=now)
        return ResidentOut(**dataclasses.asdict(view))

    @post(
        "/placements/{placement_id:str}/depart",
        opt=allow(Role.SHELTER_STAFF),
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def depart(
        self,
        placement_id: FromPath[str],
        data: JSONBody[DepartIn],
        db: DbSession,
        actor: Actor,
        now: Now,
    ) -> ResidentOut:
        view = placements.placement_depart(
            session=db, placement_id=placement_id, reason=data.reason, actor=actor, now=now
        )
        return ResidentOut(**dataclasses.asdict(view))

    @post(
        "/placements/{placement_id:str}/transfer",
        opt=allow(Role.COUNSELLOR, Role.SHELTER_STAFF),
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
    )
    def transfer(
        self,
        placement_id: FromPath[str],
        data: JSONBody[TransferIn],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
    ) -> HoldCreatedOut:
        """Start a transfer: a hold at the target, confirmed by the target's staff on arrival."""
        hold, facility = holds.transfer_hold_create(
            session=db,
            context=broker.services,
            placement_id=placement_id,
            target_facility_id=data.facility_id,
            ttl_minutes=data.ttl_minutes,
            actor=actor,
            now=now,
        )
        return _created(hold, facility)


class OperatorController(Controller):
    path = "/api/v1/operators"
    tags = ["facilities"]

    @get("/", opt=allow(Role.ADMIN, Role.COUNSELLOR), sync_to_thread=True)
    def list_(self, db: DbSession) -> list[OperatorOut]:
        return [
            OperatorOut(**dataclasses.asdict(view)) for view in operators.operator_list(session=db)
        ]

    @patch("/{operator_id:int}", opt=allow(Role.ADMIN), sync_to_thread=True)
    def set_policy(
        self,
        operator_id: FromPath[int],
        data: JSONBody[OperatorPatch],
        db: DbSession,
        actor: Actor,
        now: Now,
    ) -> OperatorOut:
        view = operators.operator_set_policy(
            session=db,
            operator_id=operator_id,
            flexible_transfers=data.flexible_transfers,
            actor=actor,
            now=now,
        )
        return OperatorOut(**dataclasses.asdict(view))
