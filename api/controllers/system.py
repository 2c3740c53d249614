"""Health, reference data (regions, kinds) and authentication."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from msgspec import Meta

from api.deps import Actor, Broker, DbSession, Now
from api.errors import error_response
from api.guards import allow, credential_of, public
from api.schemas import NO_CONTROL, Credentials, HealthOut, KindOut, RegionOut, TokenOut
from broker.domain.access import ALL_ROLES, Role
from broker.errors import RateLimited
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


class SignIn(Credentials):
    # the authenticator's six digits, or one recovery code in their place
    otp: Annotated[str, Meta(max_length=40, pattern=NO_CONTROL)] | None = None


def client_address(request: Request[Any, Any, Any]) -> str | None:
    """The address sign-ins are throttled by (behind a proxy, the one uvicorn was told to
    trust for X-Forwarded-For)."""
    return request.client.host if request.client else None


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/token", opt=public(), status_code=HTTP_200_OK, sync_to_thread=True)
    def token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignIn],
        db: DbSession,
        broker: Broker,
        now: Now,
    ) -> Response[Any]:
        """Sign in for an API token. Throttled per account and per client address: 429 with
        ``Retry-After`` while either waits. An account with a second factor also sends
        ``otp`` (401 ``otp_required`` / ``otp_invalid`` otherwise)."""
        try:
            signed_in = accounts.sign_in(
                session=db,
                passwords=broker.passwords,
                token_secret=broker.settings.token_secret_bytes,
                policy=accounts.SignInPolicy.from_settings(broker.settings),
                username=data.username,
                password=data.password,
                otp=data.otp,
                client=client_address(request),
                now=now,
            )
        except RateLimited as problem:
            # answered here, not raised: the counted refusal commits with this response
            return error_response(request, problem)
        assert isinstance(signed_in, accounts.SignedIn)  # only a page is asked for a step 2
        return Response(
            TokenOut(
                access_token=signed_in.token,
                role=signed_in.principal.role.value,
                expires_at=signed_in.expires_at,
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
