"""One typed settings object, read from ``BROKER_*`` environment variables.

Demo mode (the default) runs with published demo keys so that a fresh checkout starts with
one command. Production mode refuses to start when a key is missing, malformed or one of
the demo keys, because an address encrypted under a published key is not protected.
Nothing here is read at import time: call :func:`load_settings` from the entry point.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from broker.domain.identity import IdentityRetention
from broker.domain.webhooks import TargetPolicy, TargetRefused, normalise_host, parse_target
from broker.errors import ConfigurationError
from broker.i18n import check_language, check_time_zone
from solver.plan_data import DEFAULT_GAP_TOLERANCE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _demo_key(label: str) -> str:
    return base64.urlsafe_b64encode(
        hashlib.sha256(f"broker-demo:{label}".encode()).digest()
    ).decode()


DEMO_ADDRESS_KEY = _demo_key("address")
DEMO_IDENTITY_KEY = _demo_key("identity")
DEMO_TOKEN_SECRET = _demo_key("token")
DEMO_AUDIT_KEY = _demo_key("audit")
DEMO_WEBHOOK_SECRET = _demo_key("webhook")
DEMO_HOTLINE_CONTACT = "Hotline duty desk (demo): +36 1 000 0000, duty@hotline.example"
_DEMO_KEYS = {
    DEMO_ADDRESS_KEY,
    DEMO_IDENTITY_KEY,
    DEMO_TOKEN_SECRET,
    DEMO_AUDIT_KEY,
    DEMO_WEBHOOK_SECRET,
}


def decode_key(value: str, *, name: str) -> bytes:
    """Decode a url-safe base64 key of exactly 32 bytes, or refuse with the variable's name."""
    try:
        raw = base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{name} is not url-safe base64") from exc
    if len(raw) != 32:
        raise ConfigurationError(f"{name} must decode to 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = "demo"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'broker.db'}"
    data_dir: Path = PROJECT_ROOT / "data"
    templates_dir: Path = PROJECT_ROOT / "templates"
    address_key: str = field(default=DEMO_ADDRESS_KEY, repr=False)
    identity_key: str = field(default=DEMO_IDENTITY_KEY, repr=False)
    token_secret: str = field(default=DEMO_TOKEN_SECRET, repr=False)
    audit_key: str = field(default=DEMO_AUDIT_KEY, repr=False)
    stale_after_minutes: int = 24 * 60
    token_ttl_minutes: int = 12 * 60  # a login token's and a page session's whole lifetime
    session_idle_minutes: int = 30  # a page session unused this long has ended
    # sign-in throttling (per account and per client address): this many failures are free,
    # then each try waits login_delay_seconds, doubled with every further failure; a streak
    # ends login_window_minutes after its last failure or wait; at login_lock_after
    # failures the account is locked for login_lock_minutes (or until `broker users unlock`)
    login_free_failures: int = 5
    login_address_free_failures: int = 5
    login_window_minutes: int = 15
    login_delay_seconds: int = 60
    login_lock_after: int = 20
    login_lock_minutes: int = 60
    max_body_bytes: int = 256 * 1024
    hold_ttl_default_minutes: int = 90
    hold_ttl_max_minutes: int = 240
    plan_seconds_batch: int = 10
    plan_seconds_transfers: int = 10
    plan_seconds_evacuation: int = 2
    # a plan is "optimal" when proven within this share of the best possible, and its
    # solve stops there: the default of the mainstream MIP solvers
    plan_gap_tolerance: float = DEFAULT_GAP_TOLERANCE
    # police inquiries: how long identity hashes outlive a stay, how recent a stay must be
    # to be confirmed, how many inquiries an officer may make per hour, and the shortest
    # time before any answer is sent (so that no answer comes back faster than another)
    identity_retention_days: int = 90
    inquiry_recent_days: int = 30
    police_inquiries_per_hour: int = 20
    police_answer_ms: int = 300
    hotline_contact: str = DEMO_HOTLINE_CONTACT
    # scheduled jobs and notifications
    scheduler: bool = True  # `broker serve` runs the scheduler too
    stay_alert_days: int = 14
    stale_escalate_after_minutes: int = 48 * 60
    placement_retention_days: int = 365
    stats_min_count: int = 5
    webhook_secret: str = field(default=DEMO_WEBHOOK_SECRET, repr=False)
    hotline_webhook_url: str = ""
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: int = 60
    webhook_timeout_seconds: int = 10
    # comma-separated host names; when set, webhooks may name only these hosts
    webhook_allowed_hosts: str = ""
    # lets webhooks reach 127.0.0.0/8 and ::1, for the demo's and the tests' local
    # receivers; production refuses to start with it
    webhook_allow_loopback: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    language: str = "hu"  # the pages' language when neither the user nor the browser says
    time_zone: str = "Europe/Budapest"  # every time on a page is shown in this zone
    secure_cookies: bool = False

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def stale_after(self) -> timedelta:
        return timedelta(minutes=self.stale_after_minutes)

    @property
    def identity_retention(self) -> IdentityRetention:
        return IdentityRetention(
            keep_days_after_stay=self.identity_retention_days,
            recent_days=self.inquiry_recent_days,
        )

    @property
    def address_key_bytes(self) -> bytes:
        return decode_key(self.address_key, name="BROKER_ADDRESS_KEY")

    @property
    def identity_key_bytes(self) -> bytes:
        return decode_key(self.identity_key, name="BROKER_IDENTITY_KEY")

    @property
    def token_secret_bytes(self) -> bytes:
        return decode_key(self.token_secret, name="BROKER_TOKEN_SECRET")

    @property
    def audit_key_bytes(self) -> bytes:
        return decode_key(self.audit_key, name="BROKER_AUDIT_KEY")

    @property
    def webhook_secret_bytes(self) -> bytes:
        return decode_key(self.webhook_secret, name="BROKER_WEBHOOK_SECRET")

    @property
    def webhook_policy(self) -> TargetPolicy:
        """Where webhooks may point: https only in production; loopback only if allowed."""
        hosts = (h.strip() for h in self.webhook_allowed_hosts.split(","))
        return TargetPolicy(
            https_only=self.is_production,
            allow_loopback=self.webhook_allow_loopback,
            allowed_hosts=frozenset(normalise_host(h)[0] for h in hosts if h),
        )

    def validate(self) -> Settings:
        """Refuse unsafe or impossible settings; return self so calls can chain."""
        if self.mode not in {"demo", "production"}:
            raise ConfigurationError("BROKER_MODE must be 'demo' or 'production'")
        keys = {
            "BROKER_ADDRESS_KEY": self.address_key,
            "BROKER_IDENTITY_KEY": self.identity_key,
            "BROKER_TOKEN_SECRET": self.token_secret,
            "BROKER_AUDIT_KEY": self.audit_key,
            "BROKER_WEBHOOK_SECRET": self.webhook_secret,
        }
        for name, value in keys.items():
            if not value:
                raise ConfigurationError(f"{name} is not set")
            decode_key(value, name=name)
            if self.is_production and value in _DEMO_KEYS:
                raise ConfigurationError(f"{name} is a published demo key; production refuses it")
        if len(set(keys.values())) != len(keys):
            raise ConfigurationError("each BROKER_*_KEY/SECRET must be a different key")
        for attr, name in _INT_FIELDS.items():
            if getattr(self, attr) <= 0:
                raise ConfigurationError(f"{name} must be a positive integer")
        if self.login_lock_after <= max(self.login_free_failures, self.login_address_free_failures):
            raise ConfigurationError(
                "BROKER_LOGIN_LOCK_AFTER must exceed BROKER_LOGIN_FREE_FAILURES and "
                "BROKER_LOGIN_ADDRESS_FREE_FAILURES"
            )
        if not 0 <= self.plan_gap_tolerance < 1:  # also refuses nan
            raise ConfigurationError(
                "BROKER_PLAN_GAP_TOLERANCE must be at least 0 and below 1 (a share of the "
                f"bound, e.g. 0.0001 for 0.01 %), got {self.plan_gap_tolerance!r}"
            )
        if self.hold_ttl_default_minutes > self.hold_ttl_max_minutes:
            raise ConfigurationError(
                "BROKER_HOLD_TTL_DEFAULT_MINUTES must not exceed BROKER_HOLD_TTL_MAX_MINUTES"
            )
        if self.inquiry_recent_days > self.identity_retention_days:
            raise ConfigurationError(
                "BROKER_INQUIRY_RECENT_DAYS must not exceed BROKER_IDENTITY_RETENTION_DAYS"
            )
        if self.is_production and self.webhook_allow_loopback:
            raise ConfigurationError(
                "BROKER_WEBHOOK_ALLOW_LOOPBACK is for the demo and tests; production refuses it"
            )
        try:
            policy = self.webhook_policy
        except TargetRefused as exc:
            raise ConfigurationError(
                "BROKER_WEBHOOK_ALLOWED_HOSTS must list host names, separated by commas"
            ) from exc
        if self.hotline_webhook_url:
            # its name is resolved and checked at each delivery, as a facility's is
            try:
                parse_target(self.hotline_webhook_url, policy)
            except TargetRefused as exc:
                raise ConfigurationError(
                    f"BROKER_HOTLINE_WEBHOOK_URL is refused: {exc.message}"
                ) from exc
        if self.stale_escalate_after_minutes < self.stale_after_minutes:
            raise ConfigurationError(
                "BROKER_STALE_ESCALATE_AFTER_MINUTES must not be less than BROKER_STALE_AFTER_MINUTES"
            )
        try:
            check_language(self.language)
            check_time_zone(self.time_zone)
        except ValueError as exc:
            raise ConfigurationError(f"BROKER_LANGUAGE / BROKER_TIME_ZONE: {exc}") from exc
        if not self.hotline_contact.strip():
            raise ConfigurationError("BROKER_HOTLINE_CONTACT must not be empty")
        if self.is_production and self.hotline_contact == DEMO_HOTLINE_CONTACT:
            raise ConfigurationError(
                "BROKER_HOTLINE_CONTACT is the demo contact; production needs the real duty line"
            )
        if self.is_production and not self.secure_cookies:
            return replace(self, secure_cookies=True)
        return self


_INT_FIELDS = {
    "stale_after_minutes": "BROKER_STALE_AFTER_MINUTES",
    "token_ttl_minutes": "BROKER_TOKEN_TTL_MINUTES",
    "session_idle_minutes": "BROKER_SESSION_IDLE_MINUTES",
    "login_free_failures": "BROKER_LOGIN_FREE_FAILURES",
    "login_address_free_failures": "BROKER_LOGIN_ADDRESS_FREE_FAILURES",
    "login_window_minutes": "BROKER_LOGIN_WINDOW_MINUTES",
    "login_delay_seconds": "BROKER_LOGIN_DELAY_SECONDS",
    "login_lock_after": "BROKER_LOGIN_LOCK_AFTER",
    "login_lock_minutes": "BROKER_LOGIN_LOCK_MINUTES",
    "max_body_bytes": "BROKER_MAX_BODY_BYTES",
    "hold_ttl_default_minutes": "BROKER_HOLD_TTL_DEFAULT_MINUTES",
    "hold_ttl_max_minutes": "BROKER_HOLD_TTL_MAX_MINUTES",
    "plan_seconds_batch": "BROKER_PLAN_SECONDS_BATCH",
    "plan_seconds_transfers": "BROKER_PLAN_SECONDS_TRANSFERS",
    "plan_seconds_evacuation": "BROKER_PLAN_SECONDS_EVACUATION",
    "identity_retention_days": "BROKER_IDENTITY_RETENTION_DAYS",
    "inquiry_recent_days": "BROKER_INQUIRY_RECENT_DAYS",
    "police_inquiries_per_hour": "BROKER_POLICE_INQUIRIES_PER_HOUR",
    "police_answer_ms": "BROKER_POLICE_ANSWER_MS",
    "stay_alert_days": "BROKER_STAY_ALERT_DAYS",
    "stale_escalate_after_minutes": "BROKER_STALE_ESCALATE_AFTER_MINUTES",
    "placement_retention_days": "BROKER_PLACEMENT_RETENTION_DAYS",
    "stats_min_count": "BROKER_STATS_MIN_COUNT",
    "webhook_max_attempts": "BROKER_WEBHOOK_MAX_ATTEMPTS",
    "webhook_backoff_seconds": "BROKER_WEBHOOK_BACKOFF_SECONDS",
    "webhook_timeout_seconds": "BROKER_WEBHOOK_TIMEOUT_SECONDS",
    "port": "BROKER_PORT",
}
_FLOAT_FIELDS = {"plan_gap_tolerance": "BROKER_PLAN_GAP_TOLERANCE"}
_FLAG_FIELDS = {
    "scheduler": "BROKER_SCHEDULER",
    "secure_cookies": "BROKER_SECURE_COOKIES",
    "webhook_allow_loopback": "BROKER_WEBHOOK_ALLOW_LOOPBACK",
}
_STR_FIELDS = {
    "mode": "BROKER_MODE",
    "database_url": "BROKER_DATABASE_URL",
    "host": "BROKER_HOST",
    "log_level": "BROKER_LOG_LEVEL",
    "language": "BROKER_LANGUAGE",
    "time_zone": "BROKER_TIME_ZONE",
    "hotline_contact": "BROKER_HOTLINE_CONTACT",
    "hotline_webhook_url": "BROKER_HOTLINE_WEBHOOK_URL",
    "webhook_allowed_hosts": "BROKER_WEBHOOK_ALLOWED_HOSTS",
}
_SECRET_FIELDS = {
    "address_key": "BROKER_ADDRESS_KEY",
    "identity_key": "BROKER_IDENTITY_KEY",
    "token_secret": "BROKER_TOKEN_SECRET",
    "audit_key": "BROKER_AUDIT_KEY",
    "webhook_secret": "BROKER_WEBHOOK_SECRET",
}
_PATH_FIELDS = {"data_dir": "BROKER_DATA_DIR", "templates_dir": "BROKER_TEMPLATES_DIR"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated settings from the environment (``os.environ`` unless given)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for attr, var in _STR_FIELDS.items():
        if env.get(var):
            values[attr] = env[var].strip()
    mode = str(values.get("mode", "demo"))
    for attr, var in _SECRET_FIELDS.items():
        if var in env:
            values[attr] = env[var].strip()
        elif mode == "production":
            values[attr] = ""  # no silent fall-back to a demo key
    for attr, var in _PATH_FIELDS.items():
        if env.get(var):
            values[attr] = Path(env[var])
    for attr, var in _INT_FIELDS.items():
        if env.get(var):
            try:
                values[attr] = int(env[var])
            except ValueError as exc:
                raise ConfigurationError(f"{var} must be an integer, got {env[var]!r}") from exc
    for attr, var in _FLOAT_FIELDS.items():
        if env.get(var):
            try:
                values[attr] = float(env[var])
            except ValueError as exc:
                raise ConfigurationError(f"{var} must be a number, got {env[var]!r}") from exc
    for attr, var in _FLAG_FIELDS.items():
        if env.get(var):
            values[attr] = env[var].strip().lower() in {"1", "true", "yes", "on"}
    return Settings(**values).validate()  # type: ignore[arg-type]
