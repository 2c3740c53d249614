"""The rules a sign-in is checked against, read once from the settings.

Its own module because both the throttle and the sign-in read it and neither owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from broker.domain.login_throttle import ThrottlePolicy
from broker.settings import Settings


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    account: ThrottlePolicy
    address: ThrottlePolicy
    token_ttl: timedelta
    session_idle: timedelta
    require_second_factor: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        def throttle(free: int) -> ThrottlePolicy:
            return ThrottlePolicy(
                free_failures=free,
                window=timedelta(minutes=settings.login_window_minutes),
                first_delay=timedelta(seconds=settings.login_delay_seconds),
                lock_after=settings.login_lock_after,
                lock_for=timedelta(minutes=settings.login_lock_minutes),
            )

        return cls(
            account=throttle(settings.login_free_failures),
            address=throttle(settings.login_address_free_failures),
            token_ttl=timedelta(minutes=settings.token_ttl_minutes),
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            require_second_factor=settings.is_production,
        )
