"""What the app holds for its lifetime: settings, engine, rules, keys and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from broker.crypto import AddressCipher, Passwords
from broker.domain.identity import IdentityRetention
from broker.domain.rules import Rules
from broker.services.availability import FacilitySnapshot
from broker.services.holds import HoldLimits
from broker.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class BrokerState:
    settings: Settings
    engine: Engine
    rules: Rules
    cipher: AddressCipher
    passwords: Passwords
    clock: Clock
    snapshot: FacilitySnapshot = field(default_factory=FacilitySnapshot)

    @property
    def stale_after(self) -> timedelta:
        return self.settings.stale_after

    @property
    def hold_limits(self) -> HoldLimits:
        return HoldLimits(
            default_minutes=self.settings.hold_ttl_default_minutes,
            max_minutes=self.settings.hold_ttl_max_minutes,
        )

    @property
    def identity_retention(self) -> IdentityRetention:
        return self.settings.identity_retention

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.token_ttl_minutes)
