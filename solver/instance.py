"""Input dataclasses shared by the ranking fast path and the optimisation models.

Everything here is plain data: the broker builds these from its database, tests build them
by hand, and nothing in this package knows where they came from. The network also names the
hard rules in force (``Network.hard_rules``, written in ``solver.rules``), so that every
ranking and plan made with it applies the same ones.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime

from solver.rules import STANDARD_RULES, HardRule

RISK_LEVELS = ("standard", "medium", "high")


@dataclass(frozen=True, slots=True)
class Person:
    age: int
    male: bool


@dataclass(frozen=True, slots=True)
class Family:
    adults: tuple[Person, ...]
    children: tuple[Person, ...]

    @property
    def persons(self) -> int:
        return len(self.adults) + len(self.children)

    @property
    def has_adult_man(self) -> bool:
        return any(person.male for person in self.adults)

    @property
    def has_children(self) -> bool:
        return bool(self.children)

    @property
    def oldest_boy(self) -> int | None:
        ages = [child.age for child in self.children if child.male]
        return max(ages) if ages else None


@dataclass(frozen=True, slots=True)
class Needs:
    wheelchair: bool = False
    pets: bool = False
    languages: frozenset[str] = frozenset()
    night_arrival: bool = False


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One family looking for a place, with everything the hard rules and the score need."""

    family: Family
    needs: Needs = Needs()
    risk: str = "standard"
    avoid_regions: frozenset[str] = frozenset()
    preferred_regions: frozenset[str] = frozenset()
    reentry: bool = False
    trafficking_victim: bool = False
    avoid_within_km: float | None = None  # None: the network's default exclusion distance


@dataclass(frozen=True, slots=True)
class KindPolicy:
    kind: str
    label: str  # the kind's name for people ("Temporary home for mothers"), for reasons
    tier: int
    max_stay_days: int
    risk_levels: frozenset[str]
    requires_children: bool
    adult_men_possible: bool
    trafficking_only: bool
    stay_clock: str = ""  # kinds sharing a clock add their days up across transfers


@dataclass(frozen=True, slots=True)
class FacilityState:
    """A facility as matching sees it: attributes plus what is free now (after holds).

    The report time, not its age, is kept so the same object stays valid as time passes;
    rankings take ``now`` and judge freshness themselves.

    No field has a default: whoever builds a state says every attribute, so a field that
    one layer forgets to fill fails at once instead of silently meaning "no restriction".
    A registry field here has the name it has in the broker's ``FacilitySpec``."""

    id: int
    name: str
    kind: str
    region: str
    operator_id: int
    free_units: int
    free_beds: int
    reported_at: datetime | None  # when its staff last reported; None: never
    boys_max_age: int | None  # None: no limit
    admits_adult_men: bool
    wheelchair_units: int
    accepts_pets: bool
    languages: frozenset[str]
    night_admission: bool
    accepts_reentry: bool
    largest_unit_beds: int | None  # beds in its largest unit; None: no limit


@dataclass(frozen=True, slots=True)
class Weights:
    exclusion_km: float = 40.0
    preferred_region: float = 30.0
    near_preferred_max: float = 15.0
    near_preferred_km: float = 250.0
    far_from_danger_max: float = 10.0
    far_from_danger_km: float = 200.0
    fresh_report: float = 20.0
    stale_report: float = -25.0
    secret_buffer_units: int = 3
    secret_buffer_penalty: float = -30.0
    secret_place_penalty: float = -10.0
    kind_fit: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Geography:
    """Reference points of regions; distances are between those points, never facilities."""

    points: dict[str, tuple[float, float]]

    def distance_km(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        return _great_circle_km(self.points[a], self.points[b])


# A country has a few dozen regions, so every distance asked for is one of a few hundred.
@functools.lru_cache(maxsize=4096)
def _great_circle_km(one: tuple[float, float], other: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = one, other
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class Network:
    """The rules every plan and ranking obeys."""

    kinds: dict[str, KindPolicy]
    geography: Geography
    weights: Weights = field(default_factory=Weights)
    stale_after_hours: float = 24.0
    # the hard rules of matching in force, in the order they are reported (solver.rules)
    hard_rules: tuple[HardRule, ...] = STANDARD_RULES

    def report_age_hours(self, facility: FacilityState, now: datetime) -> float | None:
        if facility.reported_at is None:
            return None
        return (now - facility.reported_at).total_seconds() / 3600

    def kind_label(self, kind: str) -> str:
        """The kind's name for people; the code itself for a kind the rules do not know."""
        policy = self.kinds.get(kind)
        return policy.label if policy is not None else kind

    def is_stale(self, age_hours: float | None) -> bool:
        """Is a report this many hours old (None: never reported) stale?"""
        return age_hours is None or age_hours > self.stale_after_hours
