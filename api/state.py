"""What the app holds for its lifetime: the services' context, the engine and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from broker.crypto import Passwords
from broker.domain.rules import Rules
from broker.services.context import ServiceContext
from broker.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class BrokerState:
    services: ServiceContext
    engine: Engine
    clock: Clock

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def rules(self) -> Rules:
        return self.services.rules

    @property
    def passwords(self) -> Passwords:
        return self.services.passwords

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.token_ttl_minutes)
