"""The simulator's figures, read from ``data/simulation.toml``.

Each section of the file is one dataclass here; every key is required and checked for its
type, so a figure cannot silently fall back to something nobody chose. Tests and the
benchmark build these dataclasses directly (``dataclasses.replace``) to try other figures.
"""

from __future__ import annotations

import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from broker.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Arrivals:
    cases_per_year: float
    reference_beds: int
    hour_weights: tuple[float, ...]
    weekday_weights: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class FamilyMix:
    people_per_case: float
    second_adult_share: float
    adult_man_share: float
    largest_family: int
    boy_share: float
    child_age_max: int
    oldest_child_weight: float
    mother_age_min: int
    mother_age_max: int


@dataclass(frozen=True, slots=True)
class RiskMix:
    standard: float
    medium: float
    high: float


@dataclass(frozen=True, slots=True)
class NeedsMix:
    wheelchair: float
    pets: float
    trafficking_victim: float
    other_language: float
    languages: tuple[str, ...]
    night_hours: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RegionMix:
    home_preferred_share: float
    population: dict[str, float]


@dataclass(frozen=True, slots=True)
class Waiting:
    may_wait_share: float
    wait_days: float
    can_wait_hours_share: float
    planning_hours: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Reentry:
    returned_to_perpetrator_share: float
    calls_again_share: float
    calls_again_days: tuple[int, ...]
    assessment_pass_share: float


@dataclass(frozen=True, slots=True)
class TransferFigures:
    flexible_lead_days: int


@dataclass(frozen=True, slots=True)
class Start:
    occupancy: float
    warm_up_days: int


@dataclass(frozen=True, slots=True)
class StayFigures:
    min_days: int
    early_exit_share: float
    needs_next_share: float
    # how an early exit's day is drawn between min_days and the limit: u ** skew of an even
    # draw u, so 1 spreads them evenly and 2 makes early days more common
    early_exit_skew: float = 1.0


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    arrivals: Arrivals
    family: FamilyMix
    risk: RiskMix
    needs: NeedsMix
    regions: RegionMix
    waiting: Waiting
    reentry: Reentry
    transfers: TransferFigures
    start: Start
    stays: dict[str, StayFigures]


def _value(where: str, declared: Any, raw: Any) -> Any:
    origin = typing.get_origin(declared)
    if origin is tuple:
        if not isinstance(raw, list):
            raise ConfigurationError(f"{where}: expected a list")
        (item, _) = typing.get_args(declared)
        return tuple(_value(where, item, element) for element in raw)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{where}: expected a table")
        _, item = typing.get_args(declared)
        return {str(key): _value(f"{where}.{key}", item, v) for key, v in raw.items()}
    if declared is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigurationError(f"{where}: expected a number")
        return float(raw)
    if declared is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigurationError(f"{where}: expected a whole number")
        return raw
    if declared is str:
        if not isinstance(raw, str):
            raise ConfigurationError(f"{where}: expected a text")
        return raw
    raise ConfigurationError(f"{where}: unsupported type {declared}")  # pragma: no cover


def _section(where: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigurationError(f"{where}: unknown key '{unknown[0]}'")
    missing = [name for name in names if name not in raw]
    if missing:
        raise ConfigurationError(f"{where}: missing key '{missing[0]}'")
    return cls(**{name: _value(f"{where}.{name}", hints[name], raw[name]) for name in names})


def _check(config: SimulationConfig, where: str) -> None:
    shares = {
        "family.second_adult_share": config.family.second_adult_share,
        "family.adult_man_share": config.family.adult_man_share,
        "family.boy_share": config.family.boy_share,
        "family.oldest_child_weight": config.family.oldest_child_weight,
        "needs.wheelchair": config.needs.wheelchair,
        "needs.pets": config.needs.pets,
        "needs.trafficking_victim": config.needs.trafficking_victim,
        "needs.other_language": config.needs.other_language,
        "regions.home_preferred_share": config.regions.home_preferred_share,
        "waiting.may_wait_share": config.waiting.may_wait_share,
        "waiting.can_wait_hours_share": config.waiting.can_wait_hours_share,
        "reentry.returned_to_perpetrator_share": config.reentry.returned_to_perpetrator_share,
        "reentry.calls_again_share": config.reentry.calls_again_share,
        "reentry.assessment_pass_share": config.reentry.assessment_pass_share,
        "start.occupancy": config.start.occupancy,
    }
    for kind, stay in config.stays.items():
        shares[f"stays.{kind}.early_exit_share"] = stay.early_exit_share
        shares[f"stays.{kind}.needs_next_share"] = stay.needs_next_share
    if any(stay.early_exit_skew <= 0 for stay in config.stays.values()):
        raise ConfigurationError(f"{where}: early_exit_skew must be positive")
    for name, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise ConfigurationError(f"{where}: {name} must be between 0 and 1")
    if len(config.arrivals.hour_weights) != 24 or len(config.arrivals.weekday_weights) != 7:
        raise ConfigurationError(f"{where}: 24 hour weights and 7 weekday weights are needed")
    if min(config.arrivals.hour_weights + config.arrivals.weekday_weights) < 0:
        raise ConfigurationError(f"{where}: weights cannot be negative")
    if config.arrivals.cases_per_year < 0 or config.arrivals.reference_beds < 1:
        raise ConfigurationError(f"{where}: arrivals need a rate >= 0 and reference beds >= 1")
    if abs(config.risk.standard + config.risk.medium + config.risk.high - 1.0) > 1e-6:
        raise ConfigurationError(f"{where}: the risk shares must add up to 1")
    if config.family.people_per_case < 1 or config.family.largest_family < 1:
        raise ConfigurationError(f"{where}: a family has at least one person")
    if len(config.reentry.calls_again_days) != 2 or config.reentry.calls_again_days[0] < 1:
        raise ConfigurationError(f"{where}: reentry.calls_again_days is [at least 1, most]")
    if not all(0 <= hour <= 23 for hour in config.waiting.planning_hours):
        raise ConfigurationError(f"{where}: planning hours are 0 to 23")
    if not config.waiting.planning_hours:
        raise ConfigurationError(f"{where}: at least one planning hour")


def load_simulation_config(data_dir: Path) -> SimulationConfig:
    """The figures in ``data_dir/simulation.toml``; ConfigurationError names a bad key."""
    path = data_dir / "simulation.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    hints = typing.get_type_hints(SimulationConfig)
    sections: dict[str, Any] = {}
    for part in fields(SimulationConfig):
        if part.name not in document:
            raise ConfigurationError(f"{path}: missing table [{part.name}]")
        if part.name == "stays":
            raw = document["stays"]
            if not isinstance(raw, dict):
                raise ConfigurationError(f"{path}: [stays] must hold one table per kind")
            sections["stays"] = {
                kind: _section(f"{path}: [stays.{kind}]", StayFigures, table)
                for kind, table in raw.items()
            }
        else:
            cls = hints[part.name]
            sections[part.name] = _section(f"{path}: [{part.name}]", cls, document[part.name])
    config = SimulationConfig(**sections)
    _check(config, str(path))
    return config
