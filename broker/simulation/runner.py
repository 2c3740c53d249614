"""Many runs: every seed under every policy, spread over processes, with progress.

A task is one seed under all the policies (so its calls are drawn once); tasks go to a
pool of ``workers`` processes, each of which reads the rules, the figures and the network
once. Processes are started fresh (``spawn``), because a web server that asks for a run
has threads of its own that a forked child must not inherit. With one worker the runs are
made in this process, which is what tests use.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from broker.domain.rules import load_rules
from broker.errors import InvalidInput
from broker.i18n import gettext
from broker.simulation.config import SimulationConfig, load_simulation_config
from broker.simulation.networks import SimNetwork, load_sim_network
from broker.simulation.policies import SIX_COMBINATIONS, Policy
from broker.simulation.results import RunResult
from broker.simulation.runs import run_seed

# A Monday, so that weekday patterns start at the week's start in every run.
DEFAULT_START = datetime(2025, 1, 6, tzinfo=UTC)
MAX_DAYS, MAX_SEEDS = 3_650, 1_000

Progress = Callable[[int, int], None]  # (runs done, runs in all)


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    days: int = 365
    seeds: int = 20
    network: str = "demo"
    policies: tuple[Policy, ...] = SIX_COMBINATIONS
    data_dir: Path = Path("data")
    first_seed: int = 1
    start: datetime = DEFAULT_START
    plan_time_limit: float = 2.0
    workers: int = 2
    keep_history: bool = False
    config: SimulationConfig | None = field(default=None, compare=False)  # None: data_dir's

    def check(self) -> None:
        if not 1 <= self.days <= MAX_DAYS:
            raise InvalidInput(gettext("days must be between 1 and {most}").format(most=MAX_DAYS))
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise InvalidInput(gettext("seeds must be between 1 and {most}").format(most=MAX_SEEDS))
        if not self.policies:
            raise InvalidInput(gettext("name at least one policy"))
        if self.workers < 1:
            raise InvalidInput(gettext("at least one worker"))


# One network and one set of figures per worker process, read by _prepare.
_WORKER: dict[str, object] = {}


def _prepare(spec: SimulationSpec) -> tuple[SimulationConfig, SimNetwork]:
    rules = load_rules(spec.data_dir)
    config = spec.config or load_simulation_config(spec.data_dir)
    sim = load_sim_network(spec.network, rules=rules, data_dir=spec.data_dir, start=spec.start)
    return config, sim


def _worker_start(spec: SimulationSpec) -> None:
    _WORKER["spec"] = spec
    _WORKER["config"], _WORKER["sim"] = _prepare(spec)


def _seed_task(seed: int) -> list[RunResult]:
    spec = _WORKER["spec"]
    assert isinstance(spec, SimulationSpec)
    return _run_seed(spec, seed, _WORKER["config"], _WORKER["sim"])  # type: ignore[arg-type]


def _run_seed(
    spec: SimulationSpec, seed: int, config: SimulationConfig, sim: SimNetwork
) -> list[RunResult]:
    return run_seed(
        seed=seed,
        policies=list(spec.policies),
        days=spec.days,
        start=spec.start,
        config=config,
        sim=sim,
        plan_time_limit=spec.plan_time_limit,
        keep_history=spec.keep_history,
    )


@dataclass(frozen=True, slots=True)
class SimulationOutcome:
    spec: SimulationSpec
    results: list[RunResult]  # by seed, then in the order of spec.policies
    seconds: float
    kinds: dict[str, str]  # kind -> its label, for the network's kinds
    network_units: dict[str, int]  # kind -> units


def run_simulation(spec: SimulationSpec, *, progress: Progress | None = None) -> SimulationOutcome:
    """Every seed under every policy; ``progress`` hears after each seed."""
    spec.check()
    started = time.perf_counter()
    config, sim = _prepare(spec)
    seeds = list(range(spec.first_seed, spec.first_seed + spec.seeds))
    total = len(seeds) * len(spec.policies)
    by_seed: dict[int, list[RunResult]] = {}

    def done(seed: int, results: list[RunResult]) -> None:
        by_seed[seed] = results
        if progress is not None:
            progress(len(by_seed) * len(spec.policies), total)

    workers = min(spec.workers, len(seeds))
    if workers == 1:
        for seed in seeds:
            done(seed, _run_seed(spec, seed, config, sim))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_worker_start, initargs=(spec,)
        ) as pool:
            futures = {pool.submit(_seed_task, seed): seed for seed in seeds}
            for future in as_completed(futures):
                done(futures[future], future.result())
    kinds = {kind: sim.network.kind_label(kind) for kind in sim.units_by_kind()}
    return SimulationOutcome(
        spec=spec,
        results=[result for seed in seeds for result in by_seed[seed]],
        seconds=time.perf_counter() - started,
        kinds=kinds,
        network_units=sim.units_by_kind(),
    )
