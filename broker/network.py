"""Loading whole networks: the fictional demo network from ``data/`` and large synthetic
networks for benchmarks (deterministic for a given size and seed)."""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from broker.db.models import Facility
from broker.domain.facility import FacilitySpec
from broker.domain.rules import FacilityKind, Rules
from broker.errors import ConfigurationError, Conflict, InvalidInput
from broker.services.accounts import user_create
from broker.services.capacity import capacity_import
from broker.services.context import ServiceContext
from broker.services.facilities import facility_create, operator_get_or_create


@dataclass(frozen=True, slots=True)
class NetworkEntry:
    spec: FacilitySpec
    address: str
    free_units: int
    free_beds: int
    reported_hours_ago: float


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    role: str
    facilities: tuple[str, ...] = ()


@dataclass(slots=True)
class LoadSummary:
    facilities: int = 0
    beds: int = 0
    logins: list[DemoLogin] = field(default_factory=list)


_SPEC_DEFAULTS: dict[str, Any] = {
    "boys_max_age": None,
    "admits_adult_men": False,
    "wheelchair_units": 0,
    "accepts_pets": False,
    "languages": ("hu",),
    "night_admission": False,
    "accepts_reentry": True,
    "largest_unit_beds": None,
}
_SPEC_KEYS = {f.name for f in fields(FacilitySpec)}
_ENTRY_KEYS = _SPEC_KEYS | {"address", "free_units", "free_beds", "reported_hours_ago"}


def _entry(index: int, raw: dict[str, Any]) -> NetworkEntry:
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise ConfigurationError(f"[[facilities]] #{index}: unknown key '{unknown[0]}'")
    try:
        values = {key: raw[key] if key in raw else _SPEC_DEFAULTS[key] for key in _SPEC_KEYS}
        spec = FacilitySpec(**{**values, "languages": tuple(values["languages"])})
        return NetworkEntry(
            spec=spec,
            address=str(raw["address"]),
            free_units=int(raw["free_units"]),
            free_beds=int(raw["free_beds"]),
            reported_hours_ago=float(raw["reported_hours_ago"]),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"[[facilities]] #{index} ({raw.get('name')}): {exc}") from exc


@dataclass(frozen=True, slots=True)
class DemoNetwork:
    operators: dict[str, bool]
    entries: list[NetworkEntry]
    accounts: list[tuple[str, str, tuple[str, ...]]]


def read_demo_network(path: Path) -> DemoNetwork:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    try:
        return DemoNetwork(
            operators={
                str(op["name"]): bool(op.get("flexible_transfers", False))
                for op in document.get("operators", [])
            },
            entries=[
                _entry(i, raw) for i, raw in enumerate(document.get("facilities", []), start=1)
            ],
            accounts=[
                (str(acc["username"]), str(acc["role"]), tuple(acc.get("facilities", ())))
                for acc in document.get("accounts", [])
            ],
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc


def _load_entries(
    *,
    session: Session,
    context: ServiceContext,
    entries: list[NetworkEntry],
    flexible: dict[str, bool],
    now: datetime,
) -> list[Facility]:
    for name, is_flexible in flexible.items():
        operator = operator_get_or_create(session=session, name=name, now=now)
        operator.flexible_transfers = is_flexible
        session.add(operator)
    rows: list[Facility] = []
    for entry in entries:
        try:
            row = facility_create(
                session=session, context=context, spec=entry.spec, actor=None, now=now
            )
        except InvalidInput as problem:
            raise ConfigurationError(
                f"facility '{entry.spec.name}': {problem.message}"
            ) from problem
        assert row.id is not None
        row.address_ciphertext = context.cipher.encrypt(row.id, entry.address)
        capacity_import(
            session=session,
            facility=row,
            free_units=entry.free_units,
            free_beds=entry.free_beds,
            reported_at=now - timedelta(hours=entry.reported_hours_ago),
        )
        rows.append(row)
    session.flush()
    return rows


DEMO_PASSWORD_SUFFIX = "-demo-2026"


def load_demo(
    *,
    session: Session,
    context: ServiceContext,
    path: Path,
    now: datetime,
) -> LoadSummary:
    """Load the demo network and its demo accounts into an empty database."""
    if demo_loaded(session=session):
        raise Conflict(
            "the database already holds facilities; the demo loads only into an empty one"
        )
    network = read_demo_network(path)
    rows = _load_entries(
        session=session,
        context=context,
        entries=network.entries,
        flexible=network.operators,
        now=now,
    )
    summary = LoadSummary(facilities=len(rows), beds=sum(row.total_beds for row in rows))
    ids_by_name = {row.name: row.id for row in rows}
    for username, role, facility_names in network.accounts:
        missing = [name for name in facility_names if name not in ids_by_name]
        if missing:
            raise ConfigurationError(f"demo account '{username}': no facility named '{missing[0]}'")
        login = DemoLogin(
            username=username,
            password=username + DEMO_PASSWORD_SUFFIX,
            role=role,
            facilities=facility_names,
        )
        user_create(
            session=session,
            passwords=context.passwords,
            username=username,
            role=role,
            password=login.password,
            facility_ids=[ids_by_name[name] for name in facility_names],  # type: ignore[misc]
            now=now,
        )
        summary.logins.append(login)
    return summary


def demo_logins(path: Path) -> list[DemoLogin]:
    """The demo accounts a demo database holds (their passwords follow from the names)."""
    return [
        DemoLogin(username=u, password=u + DEMO_PASSWORD_SUFFIX, role=r, facilities=f)
        for u, r, f in read_demo_network(path).accounts
    ]


def demo_loaded(*, session: Session) -> bool:
    return session.exec(select(Facility.id).limit(1)).first() is not None


# --- synthetic networks -----------------------------------------------------------------

_KIND_WEIGHTS = {
    FacilityKind.CRISIS_CENTRE: 30,
    FacilityKind.SECRET_SHELTER: 12,
    FacilityKind.TEMPORARY_HOME_MOTHERS: 15,
    FacilityKind.TEMPORARY_HOME_FAMILIES: 13,
    FacilityKind.HALFWAY_HOUSE: 27,
    FacilityKind.TRAFFICKING_HOME: 3,
}
_EXTRA_LANGUAGES = ["en", "ro", "uk", "de", "sk", "rom", "sr", "hr"]
_STREETS = [
    "Kikerics",
    "Fűzfa",
    "Gólyahír",
    "Csendes",
    "Szélmalom",
    "Pitypang",
    "Rozmaring",
    "Vadrózsa",
]


def _largest_unit(seed: int, index: int, units: int, beds: int) -> int | None:
    """Beds in the largest unit of a synthetic facility: unknown (no limit) for most; else
    at least an even share of its beds. A generator of its own, so that the other fields
    stay what they were for the same seed."""
    rng = random.Random(seed * 1_000_003 + index)
    if rng.random() < 0.7:
        return None
    share = -(-beds // units)  # the largest unit has at least the average
    return min(beds, share + rng.randint(0, 2))


def synthetic_entries(*, rules: Rules, count: int, seed: int) -> list[NetworkEntry]:
    """``count`` plausible, valid facilities; the same list for the same seed."""
    rng = random.Random(seed)
    regions = sorted(rules.regions)
    kinds = list(_KIND_WEIGHTS)
    weights = [_KIND_WEIGHTS[k] for k in kinds]
    entries: list[NetworkEntry] = []
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        rule = rules.kind(kind)
        units = rng.randint(1, 2) if kind is FacilityKind.HALFWAY_HOUSE else rng.randint(2, 12)
        beds = units * rng.randint(2, 4)
        free_units = rng.choice([0, 0, rng.randint(0, units)])
        free_beds = 0 if free_units == 0 else rng.randint(free_units, min(beds, free_units * 4))
        region = regions[index % len(regions)] if index < len(regions) else rng.choice(regions)
        languages = ["hu", *rng.sample(_EXTRA_LANGUAGES, rng.choice([0, 0, 0, 1, 2]))]
        spec = FacilitySpec(
            name=f"Synthetic {rule.label.lower()} {index + 1:05d}",
            kind=kind.value,
            operator=f"Synthetic operator {rng.randint(1, max(1, count // 6)):04d}",
            region=region,
            total_units=units,
            total_beds=beds,
            boys_max_age=rng.choice([None, 10, 12, 14, 16]),
            admits_adult_men=rule.may_admit_adult_men and rng.random() < 0.6,
            wheelchair_units=rng.choice([0, 0, 0, 1]) if units > 1 else 0,
            accepts_pets=rng.random() < 0.15,
            languages=tuple(languages),
            night_admission=rng.random() < (0.9 if rule.tier == 1 else 0.4),
            accepts_reentry=rng.random() < 0.7,
            largest_unit_beds=_largest_unit(seed, index, units, beds),
            meeting_point=f"Meeting point {index + 1:05d}: the duty worker waits by the main station clock.",
        )
        entries.append(
            NetworkEntry(
                spec=spec,
                address=f"{rng.choice(_STREETS)} utca {rng.randint(1, 120)}., synthetic {index + 1:05d}",
                free_units=free_units,
                free_beds=free_beds,
                reported_hours_ago=rng.choice([0.5, 2, 6, 12, 20, 40]),
            )
        )
    return entries


def load_synthetic(
    *, session: Session, context: ServiceContext, count: int, seed: int, now: datetime
) -> LoadSummary:
    if not 1 <= count <= 20_000:
        raise InvalidInput("--facilities must be between 1 and 20000")
    entries = synthetic_entries(rules=context.rules, count=count, seed=seed)
    rows = _load_entries(session=session, context=context, entries=entries, flexible={}, now=now)
    return LoadSummary(facilities=len(rows), beds=sum(row.total_beds for row in rows))
