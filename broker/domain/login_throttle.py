"""How failed sign-ins slow down the next try: the rule alone, without storage.

A *streak* of failures is kept per account and per client address. The first
``free_failures`` of a streak cost nothing; from then on every failure blocks the next try
for ``first_delay``, doubled with each further failure. A try made while blocked is refused
unheard (the password is not even checked) and counts as a further failure, so a client
that ignores ``Retry-After`` only makes its wait longer. At ``lock_after`` failures the
subject is locked for ``lock_for``; tries during a lock are refused without lengthening it.
A streak ends ``window`` after its last failure or the end of its last wait, whichever is
later, and an account's streak ends with its next complete sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(seconds=60)
    lock_after: int = 20
    lock_for: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> timedelta | None:
        """How long the try after the ``failures``-th failure must wait (None: at once)."""
        if failures >= self.lock_after:
            return self.lock_for
        if failures < self.free_failures:
            return None
        # capped by the lock, and computed without building a huge number first
        doublings = failures - self.free_failures
        if doublings >= 32:
            return self.lock_for
        return min(self.first_delay * (2**doublings), self.lock_for)


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int = 0
    blocked_until: datetime | None = None
    # when the streak ends by itself (None: there is none)
    expires_at: datetime | None = None

    def current(self, now: datetime) -> ThrottleState:
        """The state as it stands at ``now``: an ended streak is forgotten."""
        if self.expires_at is None or self.expires_at <= now:
            return ThrottleState()
        return self

    def wait(self, now: datetime) -> timedelta | None:
        """How much longer a try must wait at ``now`` (None: it may go ahead)."""
        state = self.current(now)
        if state.blocked_until is None or state.blocked_until <= now:
            return None
        return state.blocked_until - now

    def locked(self, policy: ThrottlePolicy, now: datetime) -> bool:
        state = self.current(now)
        return state.failures >= policy.lock_after and self.wait(now) is not None


@dataclass(frozen=True, slots=True)
class AfterFailure:
    state: ThrottleState
    # this failure began a lock (audited once per lock, not for every refused try)
    locked_now: bool


def record_failure(policy: ThrottlePolicy, state: ThrottleState, now: datetime) -> AfterFailure:
    """The state after one more failure (a wrong answer or a try refused while blocked)."""
    before = state.current(now)
    failures = before.failures + 1
    if before.locked(policy, now):
        # a lock lasts its hour; hammering on it is counted but does not stretch it
        blocked_until = before.blocked_until
        locked_now = False
    else:
        delay = policy.delay(failures)
        blocked_until = now + delay if delay is not None else None
        locked_now = failures >= policy.lock_after
    quiet_from = max(now, blocked_until) if blocked_until is not None else now
    return AfterFailure(
        state=ThrottleState(
            failures=failures, blocked_until=blocked_until, expires_at=quiet_from + policy.window
        ),
        locked_now=locked_now,
    )


def retry_after_seconds(wait: timedelta) -> int:
    """``Retry-After`` in whole seconds, rounded up so that a client obeying it is heard."""
    whole = int(wait.total_seconds())
    return whole + 1 if wait.total_seconds() > whole else max(whole, 1)
