"""What a simulation run yields, and the names of its metrics.

A run (one seed under one policy) gives one number per metric (``RunResult.metrics``),
a few daily series for the report's charts, and, when asked for, its history: every stay,
every family turned away and every day's free places per facility, which ``broker demo
--history`` writes into the database as past days.

Metric keys are stable (the JSON and CSV use them); labels are English here, marked for the
catalogue, and said in the reader's language by the report. Occupancy has one metric per
kind, ``occupancy.<kind>``, added for the kinds of the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.i18n import N_
from broker.simulation.policies import Policy
from broker.simulation.population import Caller


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str  # English, marked for the catalogue
    unit: str  # count, share, days, km
    better: str  # lower, higher, or "" where neither is better


METRICS: tuple[Metric, ...] = (
    Metric("families_arrived", N_("Families who called"), "count", ""),
    Metric("people_arrived", N_("People in them"), "count", ""),
    Metric("families_turned_away", N_("Families turned away"), "count", "lower"),
    Metric("people_turned_away", N_("People turned away"), "count", "lower"),
    Metric("share_turned_away", N_("Share of families turned away"), "share", "lower"),
    Metric("families_placed", N_("Families placed"), "count", "higher"),
    Metric("mean_days_waited", N_("Days waited for a place (placed families)"), "days", "lower"),
    Metric("families_waited", N_("Families who waited for a place"), "count", ""),
    Metric("mean_waiting_list_days", N_("Days on the waiting list"), "days", "lower"),
    Metric(
        "share_outside_preferred",
        N_("Placed outside the preferred region (share of placements)"),
        "share",
        "lower",
    ),
    Metric(
        "mean_km_from_preferred",
        N_("Distance from the preferred region, when placed outside it"),
        "km",
        "lower",
    ),
    Metric("transfers_within_house", N_("Transfers inside a house"), "count", ""),
    Metric("transfers_next_tier", N_("Transfers to the next tier"), "count", ""),
    Metric(
        "limit_reached_no_next_place",
        N_("Stays that reached their limit with no next place"),
        "count",
        "lower",
    ),
    Metric(
        "high_risk_secret_full",
        N_("High-risk families who found the secret shelters full"),
        "count",
        "lower",
    ),
    Metric(
        "reentry_calls", N_("Calls from women who had returned to the perpetrator"), "count", ""
    ),
    Metric("reentry_taken_back", N_("Returning women taken back"), "count", "higher"),
    Metric("occupancy", N_("Occupancy, all kinds (share of units)"), "share", ""),
)
OCCUPANCY_PREFIX = "occupancy."


def occupancy_metric(kind: str, label: str) -> Metric:
    """The occupancy metric of one kind; ``label`` is the kind's name for people."""
    return Metric(OCCUPANCY_PREFIX + kind, label, "share", "")


@dataclass(frozen=True, slots=True)
class StayRecord:
    """One stay of a simulated family at one facility (index into the run's facilities).
    Times are hours since the start of the run; ``ended`` is None for a stay still open."""

    family: int
    facility: int
    persons: int
    started: float
    ended: float | None
    how_it_ended: str  # "", "departed", "limit", "transfer"


@dataclass(slots=True)
class History:
    """Everything that happened in a run, for writing past days into a database."""

    stays: list[StayRecord] = field(default_factory=list)
    turned_away: list[tuple[float, int]] = field(default_factory=list)  # (hour, family)
    # per day (0 = the first day), per facility index: (free units, free beds) at its end
    free_at_day_end: list[list[tuple[int, int]]] = field(default_factory=list)
    # every family that stayed, by its index: who she is and what she asked for
    callers: dict[int, Caller] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    seed: int
    policy: Policy
    metrics: dict[str, float]  # keys of METRICS and occupancy.<kind>
    # per day: share of units occupied at the day's end, per kind; and families turned away
    daily_occupancy: dict[str, list[float]]
    daily_turned_away: list[int]
    seconds: float
    # where the run's time went: "arrivals", "ranking", "planner", "transfers", ...
    seconds_by_part: dict[str, float] = field(default_factory=dict)
    history: History | None = None
    # per counted day: (arrived, placed, waiting, turned away) at its end; arrived is always
    # the sum of the other three (the run checks it)
    daily_balance: list[tuple[int, int, int, int]] = field(default_factory=list)
