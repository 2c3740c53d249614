"""The application factory. Nothing connects, schedules or reads a secret until it is called."""

from __future__ import annotations

import logging
import time

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.controllers.audit import AuditController
from api.controllers.facilities import FacilityController
from api.controllers.notifications import InboxController, WebhookController
from api.controllers.placement import (
    HoldController,
    MatchController,
    OperatorController,
    StayController,
)
from api.controllers.plans import PlanController
from api.controllers.police import NoticeController, PoliceController
from api.controllers.system import AuthController, ReferenceController, health
from api.controllers.waitlist import WaitlistController
from api.deps import DEPENDENCIES
from api.errors import EXCEPTION_HANDLERS
from api.guards import authorize, public
from api.headers import security_headers_hook
from api.i18n import install as install_i18n
from api.i18n import language_switch, locale_middleware
from api.pages import PAGE_HANDLERS
from api.state import BrokerState, Clock, system_clock
from api.strict_body import check_strict_json_body
from broker.db.engine import make_engine
from broker.domain.states import HoldState
from broker.i18n import Catalogues
from broker.services.context import ServiceContext
from broker.settings import Settings

request_log = logging.getLogger("broker.requests")


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    """One line per request: method, path (never the query or body), status, duration."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            request_log.info(
                "%s %s %s %.1fms",
                scope.get("method", ""),
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )

    return middleware


def _register_filters(engine: JinjaTemplateEngine) -> None:
    install_i18n(engine.engine)
    # pages compare states by member, never by a literal of their own
    engine.engine.globals["HoldState"] = HoldState


def create_app(settings: Settings, *, clock: Clock = system_clock) -> Litestar:
    """Build the app for ``settings``. The database engine is created here but connects
    only on first use; the caller disposes of it through the app's shutdown hook."""
    settings = settings.validate()
    engine = make_engine(settings.database_url)
    state = BrokerState(services=ServiceContext.from_settings(settings), engine=engine, clock=clock)

    def dispose_engine() -> None:
        engine.dispose()

    static_router = create_static_files_router(
        path="/static",
        directories=[settings.templates_dir / "static"],
        opt=public(via="cookie"),
        include_in_schema=False,
    )
    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            ReferenceController,
            FacilityController,
            MatchController,
            HoldController,
            StayController,
            WaitlistController,
            OperatorController,
            PlanController,
            PoliceController,
            NoticeController,
            InboxController,
            WebhookController,
            AuditController,
            *PAGE_HANDLERS,
            language_switch,
            static_router,
        ],
        guards=[authorize],
        before_send=[security_headers_hook(settings)],
        before_request=check_strict_json_body,
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            access_log_middleware,
            locale_middleware(settings, Catalogues(settings.data_dir / "locale")),
        ],
        template_config=TemplateConfig(
            directory=settings.templates_dir,
            engine=JinjaTemplateEngine,
            engine_callback=_register_filters,
        ),
        csrf_config=CSRFConfig(
            secret=settings.token_secret,
            # validate() has forced secure cookies in production
            cookie_secure=settings.secure_cookies,
            cookie_samesite="strict",
            # forms carry the token in a hidden field; no script needs to read the cookie
            cookie_httponly=True,
            # The JSON API authenticates with bearer headers only, which a browser never
            # sends on its own, so cross-site forgery cannot reach it.
            exclude=["/api/", "/health", "/schema"],
        ),
        openapi_config=OpenAPIConfig(
            title="Shelter placement and capacity broker",
            version="1.0.0",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            openapi_router=Router(path="/schema", route_handlers=[], opt=public()),
        ),
        logging_config=LoggingConfig(
            log_exceptions="never",
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
        ),
        request_max_body_size=settings.max_body_bytes,
        on_shutdown=[dispose_engine],
        debug=False,
    )
    app.state.broker = state
    return app
