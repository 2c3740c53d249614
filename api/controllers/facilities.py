"""Facility registry, live capacity and the one address endpoint."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post, put
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.deps import Actor, Broker, DbSession, Now
from api.guards import allow
from api.schemas import (
    AddressBody,
    CapacityIn,
    CapacityReportOut,
    FacilityIn,
    FacilityOut,
    FacilityPatch,
)
from broker.domain.access import Role
from broker.domain.facility import FacilitySpec
from broker.services import addresses, capacity, facilities


def _out(view: facilities.FacilityView) -> FacilityOut:
    return FacilityOut(**facilities.view_as_dict(view))


def _read_back(db: DbSession, broker: Broker, facility_id: FromPath[int], now: Now) -> FacilityOut:
    return _out(
        facilities.facility_get(
            session=db, facility_id=facility_id, now=now, context=broker.services
        )
    )


class FacilityController(Controller):
    path = "/api/v1/facilities"
    tags = ["facilities"]

    @post("/", opt=allow(Role.ADMIN), sync_to_thread=True)
    def create(
        self, data: JSONBody[FacilityIn], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> FacilityOut:
        spec = FacilitySpec(**{**msgspec.structs.asdict(data), "languages": tuple(data.languages)})
        row = facilities.facility_create(
            session=db, context=broker.services, spec=spec, actor=actor, now=now
        )
        assert row.id is not None
        return _read_back(db, broker, row.id, now)

    @get("/", opt=allow(Role.COUNSELLOR, Role.ADMIN), sync_to_thread=True)
    def list_(
        self,
        db: DbSession,
        broker: Broker,
        now: Now,
        kind: Annotated[str | None, QueryParameter(max_length=40)] = None,
        region: Annotated[str | None, QueryParameter(max_length=80)] = None,
        with_free_units: FromQuery[bool] = False,
    ) -> list[FacilityOut]:
        views = facilities.facility_list(
            session=db,
            now=now,
            context=broker.services,
            filters=facilities.FacilityFilter(
                kind=kind, region=region, with_free_units=with_free_units
            ),
        )
        return [_out(view) for view in views]

    @get("/{facility_id:int}", opt=allow(Role.COUNSELLOR, Role.ADMIN), sync_to_thread=True)
    def read(
        self, facility_id: FromPath[int], db: DbSession, broker: Broker, now: Now
    ) -> FacilityOut:
        return _read_back(db, broker, facility_id, now)

    @patch("/{facility_id:int}", opt=allow(Role.ADMIN), sync_to_thread=True)
    def update(
        self,
        facility_id: FromPath[int],
        data: JSONBody[FacilityPatch],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
    ) -> FacilityOut:
        changes = {
            key: value
            for key, value in msgspec.structs.asdict(data).items()
            if value is not msgspec.UNSET
        }
        facilities.facility_update(
            session=db,
            context=broker.services,
            facility_id=facility_id,
            changes=changes,
            actor=actor,
            now=now,
        )
        return _read_back(db, broker, facility_id, now)

    @put("/{facility_id:int}/capacity", opt=allow(Role.SHELTER_STAFF), sync_to_thread=True)
    def report_capacity(
        self,
        facility_id: FromPath[int],
        data: JSONBody[CapacityIn],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
    ) -> CapacityReportOut:
        report = capacity.capacity_report(
            session=db,
            facility_id=facility_id,
            free_units=data.free_units,
            free_beds=data.free_beds,
            actor=actor,
            now=now,
        )
        return CapacityReportOut(
            facility_id=report.facility_id,
            free_units=report.free_units,
            free_beds=report.free_beds,
            reported_at=report.reported_at,
            reported_by=actor.username,
        )

    @get(
        "/{facility_id:int}/capacity",
        opt=allow(Role.SHELTER_STAFF, Role.ADMIN),
        sync_to_thread=True,
    )
    def capacity_reports(
        self, facility_id: FromPath[int], db: DbSession, actor: Actor
    ) -> list[CapacityReportOut]:
        return [
            CapacityReportOut(**dataclasses.asdict(view))
            for view in capacity.capacity_history(session=db, facility_id=facility_id, actor=actor)
        ]

    @put(
        "/{facility_id:int}/address",
        opt=allow(Role.SHELTER_STAFF, Role.ADMIN),
        status_code=204,
        sync_to_thread=True,
    )
    def set_address(
        self,
        facility_id: FromPath[int],
        data: JSONBody[AddressBody],
        db: DbSession,
        broker: Broker,
        actor: Actor,
        now: Now,
    ) -> None:
        addresses.address_set(
            session=db,
            context=broker.services,
            facility_id=facility_id,
            address=data.address,
            actor=actor,
            now=now,
        )

    @get(
        "/{facility_id:int}/address",
        opt={**allow(Role.SHELTER_STAFF, Role.ADMIN), "writes": True},
        sync_to_thread=True,
        cache_control=CacheControlHeader(no_store=True),
    )
    def read_address(
        self, facility_id: FromPath[int], db: DbSession, broker: Broker, actor: Actor, now: Now
    ) -> AddressBody:
        return AddressBody(
            address=addresses.address_read(
                session=db, context=broker.services, facility_id=facility_id, actor=actor, now=now
            )
        )
