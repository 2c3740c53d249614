"""The pieces of a run's state: its events, its stays, its running tally and its spec.

Plain data, kept apart from the engine (:mod:`broker.simulation.engine`) that acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from broker.simulation.policies import Policy
from broker.simulation.population import Caller


class SimulationError(RuntimeError):
    """A run broke one of its own invariants: a bug, never a result."""


class Happening(IntEnum):
    # Order of events at the same moment: places are freed before they are looked for.
    DEPART = 0
    LIMIT = 1
    FLEX_TRY = 2
    ARRIVE = 3
    WAIT_ENDS = 4
    ROUND = 5
    DAY_END = 6


@dataclass(slots=True)
class Stay:
    id: int
    caller: Caller
    facility: int  # index
    number: int  # the family's how-many-th stay (0 first)
    started: float
    ends: float
    at_limit: bool  # ends at the kind's limit, not before
    needs_next: bool
    active: bool = True


@dataclass(slots=True)
class Tally:
    """The counted figures (after the warm-up) as they accumulate."""

    arrived: int = 0
    people: int = 0
    placed: int = 0
    turned_away: int = 0
    people_turned_away: int = 0
    waited: int = 0
    days_waited: float = 0.0
    list_entries: int = 0
    list_days: float = 0.0
    with_preference: int = 0
    outside_preferred: int = 0
    km_outside: float = 0.0
    transfers_within_house: int = 0
    transfers_next_tier: int = 0
    limit_no_next: int = 0
    high_risk_secret_full: int = 0
    reentry_calls: int = 0
    reentry_taken_back: int = 0
    daily_occupancy: dict[str, list[float]] = field(default_factory=dict)
    daily_turned_away: list[int] = field(default_factory=list)
    # per counted day: (arrived, placed, waiting, turned away) at the day's end
    daily_balance: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunSpec:
    seed: int
    policy: Policy
    days: int
    start: datetime  # the moment hour 0 stands for (the warm-up's start)
    plan_time_limit: float = 2.0
    keep_history: bool = False
