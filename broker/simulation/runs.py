"""Playing one run to its end: the first residents, the calls, the rounds and the days, then
the run's metrics (``broker.simulation.results.METRICS``)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np

from broker.simulation.config import SimulationConfig
from broker.simulation.engine import Happening, Run, RunSpec, Tally
from broker.simulation.networks import SimNetwork
from broker.simulation.policies import Policy
from broker.simulation.population import Caller
from broker.simulation.results import OCCUPANCY_PREFIX, RunResult, StayRecord
from broker.simulation.rounds import planning_round

# Families drawn to fill the network at the start, per place to fill: a family that fits no
# facility still wanting residents is passed over.
RESIDENT_POOL = 2


Residents = list[tuple[Caller, int, float]]  # (family, facility index, hour moved in)


def seed_residents(run: Run) -> Residents:
    """Fill the network to the configured occupancy with families part-way through their
    stays, so that the warm-up starts near a steady state instead of from empty. Families
    are drawn in turn, each going to the first facility that still wants residents and
    takes her; one that fits none is passed over. Returns who went where, for the seed's
    other runs to start the same way."""
    share = run.config.start.occupancy
    wanting = np.array([round(share * units) for units in run.sim.total_units])
    placed: Residents = []
    if not wanting.sum():
        return placed
    for caller in run.population.residents(int(wanting.sum()) * RESIDENT_POOL):
        persons = caller.request.family.persons
        open_places = (wanting > 0) & (run.free_beds >= persons) & run.free
        if not open_places.any():
            if not (wanting > 0).any():
                break
            continue
        candidates = np.flatnonzero(open_places & run.admissible(caller.request))
        if not len(candidates):
            continue
        index = int(candidates[0])
        days, _, _ = run.stay_length(caller, run.kind_of[index], 0)
        hour = -caller.return_draws[3] * days * 24
        run.check_fits(caller, index)
        run.start_stay(caller, index, hour, 0)
        wanting[index] -= 1
        placed.append((caller, index, hour))
    return placed


def _mean(total: float, count: int) -> float:
    return total / count if count else 0.0


def run_metrics(tally: Tally, units_by_kind: dict[str, int]) -> dict[str, float]:
    occupied_daily = [
        sum(tally.daily_occupancy[kind][day] * units for kind, units in units_by_kind.items())
        / max(1, sum(units_by_kind.values()))
        for day in range(len(tally.daily_turned_away))
    ]
    metrics = {
        "families_arrived": float(tally.arrived),
        "people_arrived": float(tally.people),
        "families_turned_away": float(tally.turned_away),
        "people_turned_away": float(tally.people_turned_away),
        "share_turned_away": _mean(tally.turned_away, tally.arrived),
        "families_placed": float(tally.placed),
        "mean_days_waited": _mean(tally.days_waited, tally.placed),
        "families_waited": float(tally.waited),
        "mean_waiting_list_days": _mean(tally.list_days, tally.list_entries),
        "share_outside_preferred": _mean(tally.outside_preferred, tally.with_preference),
        "mean_km_from_preferred": _mean(tally.km_outside, tally.outside_preferred),
        "transfers_within_house": float(tally.transfers_within_house),
        "transfers_next_tier": float(tally.transfers_next_tier),
        "limit_reached_no_next_place": float(tally.limit_no_next),
        "high_risk_secret_full": float(tally.high_risk_secret_full),
        "reentry_calls": float(tally.reentry_calls),
        "reentry_taken_back": float(tally.reentry_taken_back),
        "occupancy": _mean(sum(occupied_daily), len(occupied_daily)),
    }
    for kind, series in tally.daily_occupancy.items():
        metrics[OCCUPANCY_PREFIX + kind] = _mean(sum(series), len(series))
    return metrics


def run_seed(
    *,
    seed: int,
    policies: list[Policy],
    days: int,
    start: datetime,
    config: SimulationConfig,
    sim: SimNetwork,
    plan_time_limit: float = 2.0,
    keep_history: bool = False,
) -> list[RunResult]:
    """One seed under every policy: the calls and the first residents are drawn once and
    played against each policy in turn (common random numbers)."""
    callers: list[Caller] | None = None
    residents: Residents | None = None
    drawn: dict[str, float] = {}
    results: list[RunResult] = []
    for policy in policies:
        spec = RunSpec(seed, policy, days, start, plan_time_limit, keep_history)
        started = time.perf_counter()
        run = Run(spec, config, sim)
        if callers is None or residents is None:
            callers = run.population.arrivals(
                days=config.start.warm_up_days + days, beds=sim.beds, first_weekday=start.weekday()
            )
            drawn["arrivals"] = time.perf_counter() - started
            moment = time.perf_counter()
            residents = seed_residents(run)
            drawn["first residents"] = time.perf_counter() - moment
        else:
            for caller, index, hour in residents:
                run.start_stay(caller, index, hour, 0)
        results.append(_play(run, callers, started, drawn if not results else {}))
    return results


def run_once(spec: RunSpec, config: SimulationConfig, sim: SimNetwork) -> RunResult:
    """One seed under one policy, played to its end."""
    (result,) = run_seed(
        seed=spec.seed,
        policies=[spec.policy],
        days=spec.days,
        start=spec.start,
        config=config,
        sim=sim,
        plan_time_limit=spec.plan_time_limit,
        keep_history=spec.keep_history,
    )
    return result


def play_calls(
    spec: RunSpec,
    config: SimulationConfig,
    sim: SimNetwork,
    callers: list[Caller],
    residents: Residents | None = None,
) -> RunResult:
    """One run on calls given as they are (tests build them by hand), from an empty
    network plus ``residents``."""
    started = time.perf_counter()
    run = Run(spec, config, sim)
    for caller, index, hour in residents or []:
        run.start_stay(caller, index, hour, 0)
    return _play(run, sorted(callers, key=lambda caller: caller.hour), started, {})


def _play(run: Run, callers: list[Caller], started: float, drawn: dict[str, float]) -> RunResult:
    config, spec = run.config, run.spec
    total_days = config.start.warm_up_days + spec.days
    run.next_index = len(callers)
    for caller in callers:
        run.at(caller.hour, Happening.ARRIVE, caller)
    for day in range(total_days):
        run.at(day * 24 + 24, Happening.DAY_END)
        if spec.policy.matching == "optimised":
            for round_hour in config.waiting.planning_hours:
                run.at(day * 24 + round_hour, Happening.ROUND)
    handlers: dict[int, Callable[..., None]] = {
        Happening.DEPART: run.depart,
        Happening.LIMIT: run.limit,
        Happening.FLEX_TRY: run.flex_try,
        Happening.ARRIVE: run.arrive,
        Happening.WAIT_ENDS: run.wait_ends,
    }
    while run.events:
        hour, happening, _, what = heapq.heappop(run.events)
        if happening == Happening.ROUND:
            planning_round(run, hour)
        elif happening == Happening.DAY_END:
            run.day_end(hour)
        else:
            handlers[happening](what, hour)
    if run.history is not None:
        run.history.stays += [
            StayRecord(
                family=stay.caller.index,
                facility=stay.facility,
                persons=stay.caller.request.family.persons,
                started=stay.started,
                ended=None,
                how_it_ended="",
            )
            for stay in run.stays.values()
            if stay.active
        ]
    # the seed's draws are timed in its first run, which made them
    parts = dict(drawn)
    parts.update(run.clock)
    seconds = time.perf_counter() - started
    parts["events"] = max(0.0, seconds - sum(parts.values()))
    return RunResult(
        seed=spec.seed,
        policy=spec.policy,
        metrics=run_metrics(run.tally, run.units_by_kind),
        daily_occupancy=run.tally.daily_occupancy,
        daily_turned_away=run.tally.daily_turned_away,
        seconds=seconds,
        seconds_by_part=parts,
        history=run.history,
        daily_balance=run.tally.daily_balance,
    )
