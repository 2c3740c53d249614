"""The one error hierarchy of the broker.

Services raise these; ``api.errors`` maps them to HTTP in one place, and the CLI prints
their message and exits non-zero. Messages are written for the person who sent the input,
and never carry an address, a name or any other protected value.

    BrokerError                     (500 when it escapes unmapped)
    ├── InvalidInput                422  the request is well-formed but breaks a rule
    ├── Unauthenticated             401  no valid credentials
    │   └── SignInFailed            401  a counted, audited sign-in failure
    │       ├── OtpRequired         401  the account has a second factor; no code was sent
    │       └── OtpInvalid          401  the code was wrong, used before, or out of time
    ├── PermissionDenied            403  authenticated, but this role or facility may not
    │   └── SecondFactorNotEnrolled 403  production: enrol a second factor first
    ├── NotFound                    404  no such object (or not visible to the caller)
    ├── Conflict                    409  the state changed under the caller (last unit gone)
    ├── RateLimited                 429  too many requests of one kind from one account
                                         (or too many failed sign-ins for an account or
                                         from an address)
    └── ConfigurationError          --   refused at start-up: bad settings or rules file
"""

from __future__ import annotations

from typing import Any


class BrokerError(Exception):
    """Base of every error the broker raises on purpose."""

    status_code = 500
    code = "broker_error"
    # A refusal that must leave a trace (an audit entry written before it was raised) asks
    # the request's unit of work to commit what it wrote so far instead of rolling back.
    keeps_trace = False

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(BrokerError):
    status_code = 422
    code = "invalid_input"


class Unauthenticated(BrokerError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(BrokerError):
    status_code = 403
    code = "forbidden"


class NotFound(BrokerError):
    status_code = 404
    code = "not_found"


class Conflict(BrokerError):
    status_code = 409
    code = "conflict"


class RateLimited(BrokerError):
    status_code = 429
    code = "rate_limited"
    keeps_trace = True

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message, details=details)
        # sent as the Retry-After header where the caller can be told when to come back
        self.retry_after_seconds = retry_after_seconds


class SignInFailed(Unauthenticated):
    """A sign-in refused after it was counted against the throttle and audited."""

    keeps_trace = True


class OtpRequired(SignInFailed):
    code = "otp_required"


class OtpInvalid(SignInFailed):
    code = "otp_invalid"


class SecondFactorNotEnrolled(PermissionDenied):
    """Production refuses a human sign-in without a second factor (the refusal is audited)."""

    code = "mfa_enrolment_required"
    keeps_trace = True


class ConfigurationError(BrokerError):
    """Raised before serving: the broker refuses to start rather than run unsafely."""

    code = "configuration_error"
