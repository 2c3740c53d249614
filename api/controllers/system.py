"""Health, reference data (regions, kinds) and authentication."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from api.deps import Actor, Broker, DbSession, Now
from api.errors import error_response
from api.guards import allow, credential_of, public
from api.schemas import Credentials, HealthOut, KindOut, RegionOut, TokenOut
from broker.domain.access import ALL_ROLES, Role
from broker.errors import Unauthenticated
from broker.services import accounts
from broker.services.health import database_answers

READERS = (Role.COUNSELLOR, Role.ADMIN, Role.SHELTER_STAFF)


@get("/health", opt=public(), sync_to_thread=True)
def health(db: DbSession) -> Response[HealthOut]:
    ok = database_answers(session=db)
    return Response(
        HealthOut(status="ok" if ok else "unavailable", database="ok" if ok else "unreachable"),
        status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
    )


class ReferenceController(Controller):
    path = "/api/v1"
    tags = ["reference"]

    @get("/regions", opt=allow(*READERS), sync_to_thread=False)
    def regions(self, broker: Broker) -> list[RegionOut]:
        return [RegionOut(name=name) for name in broker.rules.regions]

    @get("/kinds", opt=allow(*READERS), sync_to_thread=False)
    def kinds(self, broker: Broker) -> list[KindOut]:
        return [
            KindOut(
                kind=rule.kind.value,
                label=rule.label,
                description=rule.description,
                max_stay_days=rule.max_stay_days,
                tier=rule.tier,
                adult_men=rule.adult_men,
                requires_children=rule.requires_children,
                risk_levels=sorted(level.value for level in rule.risk_levels),
            )
            for rule in broker.rules.kinds.values()
        ]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/token", opt=public(), status_code=HTTP_200_OK, sync_to_thread=True)
    def token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[Credentials],
        db: DbSession,
        broker: Broker,
        now: Now,
    ) -> Response[Any]:
        issued = accounts.login(
            session=db,
            passwords=broker.passwords,
            token_secret=broker.settings.token_secret_bytes,
            username=data.username,
            password=data.password,
            now=now,
            ttl=broker.token_ttl,
        )
        if issued is None:
            return error_response(request, Unauthenticated("wrong username or password"))
        token, principal = issued
        return Response(
            TokenOut(
                access_token=token, role=principal.role.value, expires_at=now + broker.token_ttl
            )
        )

    @delete("/token", opt=allow(*ALL_ROLES), sync_to_thread=True)
    def revoke(
        self,
        request: Request[Any, Any, Any],
        actor: Actor,
        db: DbSession,
        broker: Broker,
        now: Now,
    ) -> None:
        """Sign out: the bearer token of this request stops working."""
        accounts.logout(
            session=db,
            token_secret=broker.settings.token_secret_bytes,
            token=credential_of(request, "bearer") or "",
            now=now,
        )
