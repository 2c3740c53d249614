"""SQLModel tables. Rows only: behaviour lives in ``broker.domain`` and ``broker.services``.

Times are stored as naive UTC and handed back timezone-aware, so SQLite and PostgreSQL
behave alike. A facility's street address exists here only as AES-GCM ciphertext. The
plans' table is in ``broker.db.models_planning``, the simulations' in
``broker.db.models_simulation``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from broker.domain.states import HoldState, StayState, sql_value


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Operator(SQLModel, table=True):
    __tablename__ = "operators"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    # An operator running several kinds in one house may move families between them.
    flexible_transfers: bool = False
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Facility(SQLModel, table=True):
    __tablename__ = "facilities"
    # The last line of defence: no code path may store a capacity outside its totals.
    __table_args__ = (
        sa.CheckConstraint("total_units >= 1 AND total_beds >= total_units", name="ck_totals"),
        sa.CheckConstraint(
            "reported_free_units >= 0 AND reported_free_units <= total_units", name="ck_free_units"
        ),
        sa.CheckConstraint(
            "reported_free_beds >= 0 AND reported_free_beds <= total_beds", name="ck_free_beds"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=40, index=True)
    operator_id: int = Field(foreign_key="operators.id", index=True)
    region: str = Field(max_length=80, index=True)
    total_units: int
    total_beds: int
    boys_max_age: int | None = None
    admits_adult_men: bool = False
    wheelchair_units: int = 0
    accepts_pets: bool = False
    languages: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    night_admission: bool = False
    accepts_reentry: bool = True
    largest_unit_beds: int | None = None
    meeting_point: str = Field(max_length=1000)
    address_ciphertext: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True)
    )
    reported_free_units: int = 0
    reported_free_beds: int = 0
    capacity_reported_at: datetime | None = _time(nullable=True)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # the registry revision of this row's last change (see broker.db.revision)
    row_version: int = Field(
        default=0,
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0", index=True),
    )


class CapacityReport(SQLModel, table=True):
    """Every report a shelter makes, kept with its time and author."""

    __tablename__ = "capacity_reports"

    id: int | None = Field(default=None, primary_key=True)
    facility_id: int = Field(foreign_key="facilities.id", index=True)
    free_units: int
    free_beds: int
    reported_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    reported_by_user_id: int | None = Field(default=None, foreign_key="users.id")


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, sa_column_kwargs={"unique": True})
    role: str = Field(max_length=20)
    password_hash: str | None = Field(default=None, max_length=200)
    active: bool = True
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # the second factor: the TOTP secret as AES-GCM ciphertext (see broker.crypto), when it
    # was enrolled, and the last 30-second time step a code was accepted for (no code is
    # accepted twice, nor one older than it)
    totp_secret_ciphertext: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True)
    )
    mfa_enabled_at: datetime | None = _time(nullable=True)
    totp_last_step: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, nullable=True)
    )


class UserFacility(SQLModel, table=True):
    """Which facilities a shelter_staff account works for."""

    __tablename__ = "user_facilities"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    facility_id: int = Field(foreign_key="facilities.id", primary_key=True, index=True)


class Credential(SQLModel, table=True):
    """A login session token or an API key; only a keyed hash of the secret is stored."""

    __tablename__ = "credentials"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    # "session" (an API login token), "page" (a page session), "mfa_pending" (a page
    # sign-in waiting for its second factor) or "api_key"
    kind: str = Field(max_length=20)
    label: str = Field(default="", max_length=200)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)
    # a page session's last use, written at most once a minute (it ends when idle too long)
    last_used_at: datetime | None = _time(nullable=True)


class RecoveryCode(SQLModel, table=True):
    """One-time codes that stand in for the authenticator; only keyed hashes are kept."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    code_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = _time(nullable=True)


class LoginThrottle(SQLModel, table=True):
    """The failed sign-in streak of one account or one client address.

    ``subject`` is a keyed hash of the username or the address, so the table names neither.
    """

    __tablename__ = "login_throttles"

    subject: str = Field(max_length=64, primary_key=True)
    scope: str = Field(max_length=10)  # "account" or "address"
    failures: int = 0
    blocked_until: datetime | None = _time(nullable=True)
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))


class AuditEvent(SQLModel, table=True):
    """Who did what to which object, and when. Details never hold an address or a name.

    Append-only and hash-chained (``broker.domain.audit_chain``): the database refuses
    updates and deletes (triggers of migration 0005).
    """

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    actor_role: str = Field(default="", max_length=20)
    action: str = Field(max_length=60, index=True)
    subject_type: str = Field(default="", max_length=40)
    subject_id: str = Field(default="", max_length=80)
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    sequence: int = Field(unique=True, index=True)
    previous_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The newest audit entry's sequence and hash, with a MAC of its own: removing entries
    from the end of the chain leaves it naming an entry that is gone. One row; it only moves
    forward (triggers of migration 0005)."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),)

    id: int = Field(default=1, primary_key=True)
    sequence: int
    entry_hash: str = Field(max_length=64)
    mac: str = Field(max_length=64)


# a stay has at most one open transfer hold (partial unique index, migration 0008)
_OPEN_TRANSFER = f"state = {sql_value(HoldState.OPEN)} AND transfer_from_placement_id IS NOT NULL"


class Hold(SQLModel, table=True):
    """A unit reserved for a family on its way. Counted against the facility's free places
    while open and unexpired; an open hold past ``expires_at`` counts as expired at once."""

    __tablename__ = "holds"
    __table_args__ = (
        sa.Index("ix_holds_facility_state", "facility_id", "state"),
        # a stay has at most one transfer on its way (migration 0008)
        sa.Index(
            "uq_holds_open_transfer",
            "transfer_from_placement_id",
            unique=True,
            sqlite_where=sa.text(_OPEN_TRANSFER),
            postgresql_where=sa.text(_OPEN_TRANSFER),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    facility_id: int = Field(foreign_key="facilities.id")
    counsellor_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    state: str = Field(max_length=20)  # open, confirmed, declined, released, expired
    units: int = 1
    beds: int
    request: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    closed_at: datetime | None = _time(nullable=True)
    decline_reason: str | None = Field(default=None, max_length=40)
    decline_note: str | None = Field(default=None, max_length=300)
    # set when the hold moves a resident from an existing placement (a transfer)
    transfer_from_placement_id: str | None = Field(default=None, max_length=32, index=True)


class WaitlistEntry(SQLModel, table=True):
    """A family waiting for a place that fits, known on the hotline's callback note by its
    short ``code``; never by name. The matching job records the first place found for it
    (``found_facility_id``, ``found_at``) and tells the hotline once."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (sa.Index("ix_waitlist_entries_state_expires", "state", "expires_at"),)

    id: str = Field(primary_key=True, max_length=32)
    code: str = Field(max_length=20, sa_column_kwargs={"unique": True})
    counsellor_user_id: int | None = Field(default=None, foreign_key="users.id")
    state: str = Field(max_length=20)  # waiting, found, cancelled, expired
    risk: str = Field(max_length=20)  # the request's, for serving the highest risk first
    persons: int  # beds the family needs (one unit)
    request: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # the unmet case it counts as until a place is found (broker.services.statistics)
    case_key: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = _time(nullable=True)
    found_facility_id: int | None = Field(default=None, foreign_key="facilities.id")
    found_at: datetime | None = _time(nullable=True)


class Placement(SQLModel, table=True):
    """A family staying at a facility, known by its case code; never by name."""

    __tablename__ = "placements"
    # Impossible states the database itself refuses (migration 0008): a hold confirmed
    # twice, a stay transferred twice (two heads of one chain), two current stays of a case.
    __table_args__ = (
        sa.Index("ix_placements_facility_state", "facility_id", "state"),
        sa.Index("uq_placements_hold", "hold_id", unique=True),
        sa.Index("uq_placements_previous", "previous_placement_id", unique=True),
        sa.Index(
            "uq_placements_active_case",
            "case_id",
            unique=True,
            sqlite_where=sa.text(f"state = {sql_value(StayState.ACTIVE)}"),
            postgresql_where=sa.text(f"state = {sql_value(StayState.ACTIVE)}"),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    case_code: str = Field(max_length=20, sa_column_kwargs={"unique": True})
    # the first placement of the family's chain of transfers: one case, one current stay
    case_id: str | None = Field(default=None, max_length=32)
    facility_id: int = Field(foreign_key="facilities.id")
    hold_id: str = Field(foreign_key="holds.id", max_length=32)
    request: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    units: int = 1
    beds: int
    state: str = Field(max_length=20)  # active, departed, transferred
    started_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # days already spent on the same stay clock before this placement (transfers)
    prior_days: int = 0
    limit_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    ended_at: datetime | None = _time(nullable=True)
    end_reason: str | None = Field(default=None, max_length=40)
    previous_placement_id: str | None = Field(
        default=None, foreign_key="placements.id", max_length=32
    )


class RegistryRevision(SQLModel, table=True):
    """One row whose value grows whenever any facility row changes (see ``broker.db.revision``),
    so a process can keep facilities in memory and know, with one read, when they are stale."""

    __tablename__ = "registry_revision"

    id: int = Field(default=1, primary_key=True)
    value: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))


class ResidentIdentity(SQLModel, table=True):
    """The keyed hash of a resident's name and birth date, for police inquiries only.

    Kept while the stay lasts and for the retention period after; a transfer moves it to
    the new placement. ``consent`` says whether the police may be told she was placed."""

    __tablename__ = "resident_identities"

    placement_id: str = Field(primary_key=True, foreign_key="placements.id", max_length=32)
    digest: str = Field(max_length=64, index=True)
    consent: bool
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class PoliceInquiry(SQLModel, table=True):
    """One inquiry by one officer: who asked, under which case reference, and the answer.
    The name and birth date asked about are not kept."""

    __tablename__ = "police_inquiries"
    __table_args__ = (sa.Index("ix_police_inquiries_officer_at", "officer_user_id", "asked_at"),)

    id: str = Field(primary_key=True, max_length=32)
    officer_user_id: int = Field(foreign_key="users.id")
    case_reference: str = Field(max_length=80)
    asked_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    placed: bool


class InquiryNotice(SQLModel, table=True):
    """Tells a facility's staff that the police asked about one of its residents, so that
    she can choose to contact the police herself."""

    __tablename__ = "inquiry_notices"
    __table_args__ = (sa.Index("ix_inquiry_notices_facility", "facility_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: str = Field(foreign_key="police_inquiries.id", max_length=32)
    facility_id: int = Field(foreign_key="facilities.id")
    placement_id: str = Field(foreign_key="placements.id", max_length=32)
    case_reference: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    seen_at: datetime | None = _time(nullable=True)


class JobRun(SQLModel, table=True):
    """One run of one scheduled job for one tick. The unique (job, slot) pair is how several
    schedulers sharing a database elect one runner: only one insert of a slot succeeds."""

    __tablename__ = "job_runs"
    __table_args__ = (sa.UniqueConstraint("job_id", "slot", name="uq_job_runs_job_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=40, index=True)
    slot: str = Field(max_length=60)
    runner: str = Field(max_length=120)
    started_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _time(nullable=True)
    outcome: str = Field(max_length=20)  # running, ok, failed
    summary: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class OutboxMessage(SQLModel, table=True):
    """A notification, written in the same transaction as the event it tells of, then
    delivered to the audience's webhook (if it has one) and shown in its inbox.
    Payloads hold ids, kinds and times only."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "state", "next_attempt_at"),
        sa.Index("ix_outbox_audience", "audience", "facility_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=60)
    audience: str = Field(max_length=20)  # facility, hotline
    facility_id: int | None = Field(default=None, foreign_key="facilities.id")
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    # the same reminder is not queued twice (e.g. one per facility per stale report)
    dedupe_key: str | None = Field(default=None, max_length=160, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    state: str = Field(max_length=20)  # pending, delivered, dead, inbox_only
    attempts: int = 0
    next_attempt_at: datetime | None = _time(nullable=True)
    delivered_at: datetime | None = _time(nullable=True)
    last_error: str | None = Field(default=None, max_length=200)


class FacilityWebhook(SQLModel, table=True):
    """Where a facility wants its notifications delivered."""

    __tablename__ = "facility_webhooks"

    facility_id: int = Field(primary_key=True, foreign_key="facilities.id")
    url: str = Field(max_length=500)
    # with the broker's webhook secret, derives this webhook's signing secret (never stored)
    secret_salt: str = Field(
        default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default="")
    )
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class UnmetCase(SQLModel, table=True):
    """A family for whom a counsellor's search found no place, counted once per case (one
    counsellor, one family, one day) however often she searched; ``met`` once a hold was
    made for it after all."""

    __tablename__ = "unmet_cases"

    case_key: str = Field(primary_key=True, max_length=64)
    day: date = Field(index=True)
    first_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    met: bool = False


class DailyStatistic(SQLModel, table=True):
    """One day's figures for a region and kind, "" for all regions (kinds); counts from 1 to
    the minimum are stored as NULL (suppressed), so no figure can point at one family."""

    __tablename__ = "daily_statistics"
    __table_args__ = (sa.UniqueConstraint("day", "region", "kind", name="uq_daily_statistics"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    region: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    units_total: int | None = None
    units_occupied: int | None = None
    placements_started: int | None = None


class DailyUnmet(SQLModel, table=True):
    """National count of cases that found no place, per day (kept after purges)."""

    __tablename__ = "daily_unmet"

    day: date = Field(primary_key=True)
    cases: int
