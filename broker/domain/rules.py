"""Facility kinds, stay limits, admission rules and regions, loaded from ``data/``.

The files are plain TOML so that an operator can read and change them. Loading validates
every key and names the file, the table and the key (or the line, for a syntax error) of
the first problem, because a broken rules file must stop the broker at start rather than
mis-place a family later.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from broker.errors import ConfigurationError
from solver.instance import Geography, KindPolicy, Network, Weights


class FacilityKind(StrEnum):
    CRISIS_CENTRE = "crisis_centre"
    SECRET_SHELTER = "secret_shelter"
    TEMPORARY_HOME_MOTHERS = "temporary_home_mothers"
    TEMPORARY_HOME_FAMILIES = "temporary_home_families"
    HALFWAY_HOUSE = "halfway_house"
    TRAFFICKING_HOME = "trafficking_home"


class RiskLevel(StrEnum):
    STANDARD = "standard"
    MEDIUM = "medium"
    HIGH = "high"


ADULT_MEN_POLICIES = ("excluded", "per_facility")


@dataclass(frozen=True, slots=True)
class KindRule:
    kind: FacilityKind
    label: str
    description: str
    max_stay_days: int
    tier: int
    adult_men: str
    requires_children: bool
    risk_levels: frozenset[RiskLevel]
    stay_clock: str
    trafficking_only: bool

    @property
    def may_admit_adult_men(self) -> bool:
        return self.adult_men == "per_facility"


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Rules:
    kinds: dict[FacilityKind, KindRule]
    regions: dict[str, Region]
    weights: Weights = field(default_factory=Weights)
    allow_same_tier: bool = True

    def network(self, *, stale_after_hours: float) -> Network:
        """The rules as the pure solver sees them."""
        return Network(
            kinds={
                rule.kind.value: KindPolicy(
                    kind=rule.kind.value,
                    label=rule.label,
                    tier=rule.tier,
                    max_stay_days=rule.max_stay_days,
                    risk_levels=frozenset(level.value for level in rule.risk_levels),
                    requires_children=rule.requires_children,
                    adult_men_possible=rule.may_admit_adult_men,
                    trafficking_only=rule.trafficking_only,
                    stay_clock=rule.stay_clock,
                )
                for rule in self.kinds.values()
            },
            geography=Geography({name: (r.lat, r.lon) for name, r in self.regions.items()}),
            weights=self.weights,
            stale_after_hours=stale_after_hours,
        )

    @property
    def kind_labels(self) -> dict[str, str]:
        """Each kind's label for people, in the rules' order (tier by tier)."""
        return {rule.kind.value: rule.label for rule in self.kinds.values()}

    def kind(self, kind: FacilityKind | str) -> KindRule:
        return self.kinds[FacilityKind(kind)]

    def has_region(self, name: str) -> bool:
        return name in self.regions

    def region_distance_km(self, a: str, b: str) -> float:
        """Great-circle distance between two regions' reference points."""
        ra, rb = self.regions[a], self.regions[b]
        lat1, lat2 = math.radians(ra.lat), math.radians(rb.lat)
        dlat, dlon = lat2 - lat1, math.radians(rb.lon - ra.lon)
        h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(h))


_KIND_FIELDS: dict[str, type | tuple[type, ...]] = {
    "label": str,
    "description": str,
    "max_stay_days": int,
    "tier": int,
    "adult_men": str,
    "requires_children": bool,
    "risk_levels": list,
    "stay_clock": str,
    "trafficking_only": bool,
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc


def _kind_rule(path: Path, name: str, table: Any) -> KindRule:
    where = f"{path}: [kinds.{name}]"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    for key in table:
        if key not in _KIND_FIELDS:
            raise ConfigurationError(f"{where} has unknown key '{key}'")
    for key, expected in _KIND_FIELDS.items():
        if key not in table:
            raise ConfigurationError(f"{where} is missing key '{key}'")
        value = table[key]
        # bool is an int in Python; an int field must not accept true/false
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigurationError(f"{where} key '{key}' must be {expected.__name__}")  # type: ignore[union-attr]
    if table["max_stay_days"] <= 0:
        raise ConfigurationError(f"{where} key 'max_stay_days' must be positive")
    if table["tier"] not in (1, 2, 3):
        raise ConfigurationError(f"{where} key 'tier' must be 1, 2 or 3")
    if table["adult_men"] not in ADULT_MEN_POLICIES:
        raise ConfigurationError(
            f"{where} key 'adult_men' must be one of {', '.join(ADULT_MEN_POLICIES)}"
        )
    levels = table["risk_levels"]
    if not levels or any(level not in RiskLevel.__members__.values() for level in levels):
        raise ConfigurationError(
            f"{where} key 'risk_levels' must list some of: standard, medium, high"
        )
    return KindRule(
        kind=FacilityKind(name),
        label=table["label"],
        description=table["description"],
        max_stay_days=table["max_stay_days"],
        tier=table["tier"],
        adult_men=table["adult_men"],
        requires_children=table["requires_children"],
        risk_levels=frozenset(RiskLevel(level) for level in levels),
        stay_clock=table["stay_clock"],
        trafficking_only=table["trafficking_only"],
    )


def _load_kinds(path: Path, document: dict[str, Any]) -> dict[FacilityKind, KindRule]:
    kinds = document.get("kinds")
    if not isinstance(kinds, dict):
        raise ConfigurationError(f"{path}: missing the [kinds.*] tables")
    known = {kind.value for kind in FacilityKind}
    for name in kinds:
        if name not in known:
            raise ConfigurationError(f"{path}: [kinds.{name}] is not a known facility kind")
    missing = sorted(known - kinds.keys())
    if missing:
        raise ConfigurationError(f"{path}: missing [kinds.{missing[0]}]")
    return {FacilityKind(name): _kind_rule(path, name, table) for name, table in kinds.items()}


def _load_regions(path: Path) -> dict[str, Region]:
    document = _read_toml(path)
    entries = document.get("regions")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: needs at least one [[regions]] entry")
    regions: dict[str, Region] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: [[regions]] #{index}"
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{where} needs a non-empty 'name'")
        if name in regions:
            raise ConfigurationError(f"{where} repeats region '{name}'")
        lat, lon = entry.get("lat"), entry.get("lon")
        if not isinstance(lat, int | float) or not -90 <= lat <= 90:
            raise ConfigurationError(f"{where} ('{name}') key 'lat' must be a latitude")
        if not isinstance(lon, int | float) or not -180 <= lon <= 180:
            raise ConfigurationError(f"{where} ('{name}') key 'lon' must be a longitude")
        regions[name] = Region(name=name, lat=float(lat), lon=float(lon))
    return regions


_WEIGHT_KEYS = {f.name for f in fields(Weights)} - {"kind_fit"}


def _load_weights(path: Path, document: dict[str, Any]) -> Weights:
    table = document.get("matching", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [matching] must be a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "kind_fit":
            continue
        if key not in _WEIGHT_KEYS:
            raise ConfigurationError(f"{path}: [matching] has unknown key '{key}'")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigurationError(f"{path}: [matching] key '{key}' must be a number")
        values[key] = int(value) if key == "secret_buffer_units" else float(value)
    for key in ("exclusion_km", "near_preferred_km", "far_from_danger_km"):
        if key in values and values[key] <= 0 and key != "exclusion_km":
            raise ConfigurationError(f"{path}: [matching] key '{key}' must be positive")
    kind_fit: dict[str, dict[str, float]] = {}
    for risk, fits in table.get("kind_fit", {}).items():
        if risk not in RiskLevel.__members__.values():
            raise ConfigurationError(f"{path}: [matching.kind_fit.{risk}] is not a risk level")
        if not isinstance(fits, dict):
            raise ConfigurationError(f"{path}: [matching.kind_fit.{risk}] must be a table")
        for kind, value in fits.items():
            if kind not in FacilityKind.__members__.values():
                raise ConfigurationError(
                    f"{path}: [matching.kind_fit.{risk}] unknown kind '{kind}'"
                )
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigurationError(
                    f"{path}: [matching.kind_fit.{risk}] key '{kind}' must be a number"
                )
        kind_fit[risk] = {kind: float(value) for kind, value in fits.items()}
    return Weights(**values, kind_fit=kind_fit)


def _load_transfers(path: Path, document: dict[str, Any]) -> bool:
    table = document.get("transfers", {})
    unknown = sorted(set(table) - {"allow_same_tier"})
    if unknown:
        raise ConfigurationError(f"{path}: [transfers] has unknown key '{unknown[0]}'")
    value = table.get("allow_same_tier", True)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{path}: [transfers] key 'allow_same_tier' must be bool")
    return value


def load_rules(data_dir: Path) -> Rules:
    """Load and validate ``rules.toml`` and ``regions.toml`` from ``data_dir``."""
    rules_path = data_dir / "rules.toml"
    document = _read_toml(rules_path)
    return Rules(
        kinds=_load_kinds(rules_path, document),
        regions=_load_regions(data_dir / "regions.toml"),
        weights=_load_weights(rules_path, document),
        allow_same_tier=_load_transfers(rules_path, document),
    )
