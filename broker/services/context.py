"""What services need from the running broker, as one typed object.

The web app, the job runner and each CLI command build one :class:`ServiceContext` from the
settings and hand it to every service call, instead of unpacking settings into keyword
arguments at each call site. What varies per call (the session, the actor, the moment the
request is judged at) stays a parameter of the service; what is fixed for the process
(the rules, the keys, the limits, the facility snapshot) lives here, derived in one place.

The matching network is built here only, so every ranking, hold check and plan judges
freshness by the same configured staleness limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from broker.crypto import AddressCipher, Passwords
from broker.domain.identity import IdentityRetention
from broker.domain.rules import Rules, load_rules
from broker.services.availability import FacilitySnapshot
from broker.settings import Settings
from solver.instance import Network


@dataclass(frozen=True, slots=True)
class HoldLimits:
    """How long a hold lasts when the counsellor does not say, and at most (settings)."""

    default_minutes: int
    max_minutes: int


@dataclass(frozen=True, slots=True)
class ServiceContext:
    settings: Settings
    rules: Rules
    cipher: AddressCipher
    passwords: Passwords
    # facility states kept between requests; one per process, shared by its requests
    snapshot: FacilitySnapshot = field(default_factory=FacilitySnapshot)

    @classmethod
    def from_settings(cls, settings: Settings, *, rules: Rules | None = None) -> ServiceContext:
        return cls(
            settings=settings,
            rules=rules if rules is not None else load_rules(settings.data_dir),
            cipher=AddressCipher(settings.address_key_bytes),
            passwords=Passwords(),
        )

    @property
    def stale_after(self) -> timedelta:
        return self.settings.stale_after

    def network(self) -> Network:
        """The rules as the pure solver sees them, with the configured staleness limit."""
        return self.rules.network(stale_after_hours=self.stale_after.total_seconds() / 3600)

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
    def identity_key(self) -> bytes:
        """Keys the hashes of residents' identities (police inquiries)."""
        return self.settings.identity_key_bytes

    @property
    def case_key(self) -> bytes:
        """Keys the hashes that recognise one family's unmet case across searches."""
        return self.settings.token_secret_bytes
