"""How long does ``POST /api/v1/matches`` take on a national-scale network, and where does
the time go?

Setup (all in a temporary directory, removed at the end): a fresh SQLite database migrated
with ``broker db upgrade``, ``broker seed-synthetic --facilities 5000``, a counsellor made
with ``broker users create``, then 10,000 active placements (each with its confirmed hold)
in occupied units and a few hundred open holds on free ones, inserted in bulk.

Measured on the same seeded families (1-2 adults, 0-4 children, risk levels, needs,
avoided and preferred regions, limit 10), each path after a warm-up:

1. HTTP end-to-end: a real ``broker serve`` process, one keep-alive ``httpx.Client``,
   requests sent one at a time; wall-clock time from send to the whole response read.
   Every response must be 200.
2. In-process service: ``broker.services.matching.match`` inside a read-only unit of work
   without a snapshot: every facility row and the open holds read, then the ranking.
3. The same with one long-lived ``broker.services.availability.FacilitySnapshot``: per
   request only the registry revision and the open holds are read; the facility rows only
   when the revision moved, which it never does here, as nothing writes to facilities
   during the run (a real capacity report would move it), so this is the warm-cache case.
4. In-process rank only: ``solver.ranking.rank`` on facility states loaded once.
5. NumPy lower bound: the same facility states encoded once as arrays
   (``solver.facility_arrays.FacilityArrays``, kept for the whole run); per request the
   network's hard rules (``solver.rules``, applied by ``solver.feasibility.admitting``, the
   masks the ranking itself uses), the score of ``solver.ranking`` as array arithmetic, and
   a sort by (score, id). Its feasible set is
   checked against ``rank(..., limit=10**9)`` on every request, so it does the same work and
   is a fair floor for what ranking in Python can cost; it skips only building the
   explanations (reasons, exclusion counts per rule).

The paths take turns in rounds of 50 requests (see :func:`measure_in_rounds`), and the
feasible count of every request must agree across all of them. Latencies are reported as
p50/p95/p99 (linear interpolation), max and mean in milliseconds, with each p95 relative to
the NumPy p95. The table goes to stdout and to ``benchmarks/results/match_latency.txt``
(not for ``--quick`` runs); progress goes to stderr.

    .venv/bin/python -m benchmarks.match_latency [--quick] [--requests N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks._support import (
    PROJECT_ROOT,
    BenchmarkAborted,
    Occupancy,
    add_occupancy,
    broker_environment,
    log,
    machine_description,
    publish,
    random_family_body,
    run_cli,
    running_server,
)
from broker.db.engine import make_engine, unit_of_work
from broker.domain.requests import request_from_json
from broker.domain.rules import Rules
from broker.services.availability import FacilitySnapshot, facility_states
from broker.services.context import ServiceContext
from broker.services.matching import match
from broker.settings import Settings
from solver.facility_arrays import FacilityArrays
from solver.feasibility import admitting, prepare
from solver.instance import FacilityState, Network, PlacementRequest
from solver.ranking import SECRET_SHELTER, Ranking, rank

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results" / "match_latency.txt"
TARGET_P95_MS = 50.0
LIMIT = 10
USERNAME = "bench"
HTTP = "HTTP end-to-end"
SERVICE = "in-process service (DB read + rank)"
SERVICE_SNAPSHOT = "in-process service, FacilitySnapshot"
RANK = "in-process rank only"
NUMPY = "NumPy filter lower bound"
ROUND = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Config:
    facilities: int
    placements: int
    open_holds: int
    requests: int
    warmup: int
    seed: int
    quick: bool


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.match_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small network, few requests")
    parser.add_argument("--requests", type=int, help="measured requests (default 500)")
    parser.add_argument("--warmup", type=int, help="warm-up requests per path (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="network and family seed")
    parser.add_argument("--facilities", type=int, help="synthetic facilities (default 5000)")
    parser.add_argument("--placements", type=int, help="active placements (default 10000)")
    parser.add_argument("--open-holds", type=int, help="open holds (default 300)")
    args = parser.parse_args(argv)
    defaults = (
        {"facilities": 500, "placements": 1000, "open_holds": 30, "requests": 40, "warmup": 5}
        if args.quick
        else {
            "facilities": 5000,
            "placements": 10000,
            "open_holds": 300,
            "requests": 500,
            "warmup": 30,
        }
    )
    values = {
        key: getattr(args, key) if getattr(args, key) is not None else default
        for key, default in defaults.items()
    }
    if values["requests"] < 1 or values["warmup"] < 0:
        parser.error("--requests must be at least 1 and --warmup not negative")
    return Config(**values, seed=args.seed, quick=args.quick)


# --- the database and the families -----------------------------------------------------------


def prepare_database(
    config: Config, workdir: Path, rules: Rules
) -> tuple[dict[str, str], str, Occupancy]:
    """Fresh database through the broker's CLI, plus bulk occupancy; returns the server's
    environment, the counsellor's password and what was loaded."""
    env = broker_environment(f"sqlite:///{workdir / 'broker.db'}")
    run_cli(env, "db", "upgrade")
    log(f"seeding {config.facilities} synthetic facilities (broker seed-synthetic)")
    run_cli(
        env, "seed-synthetic", "--facilities", str(config.facilities), "--seed", str(config.seed)
    )
    password = secrets.token_urlsafe(18)
    run_cli(
        env,
        "users",
        "create",
        "--username",
        USERNAME,
        "--role",
        "counsellor",
        "--password-stdin",
        stdin=password + "\n",
    )
    log(f"inserting {config.placements} placements and {config.open_holds} open holds")
    engine = make_engine(env["BROKER_DATABASE_URL"])
    try:
        occupancy = add_occupancy(
            engine,
            rules,
            username=USERNAME,
            placements=config.placements,
            open_holds=config.open_holds,
            seed=config.seed,
        )
    finally:
        engine.dispose()
    return env, password, occupancy


def family_bodies(rules: Rules, count: int, seed: int, purpose: str) -> list[dict[str, Any]]:
    rng = random.Random(f"match-latency:{seed}:{purpose}")
    regions = sorted(rules.regions)
    return [random_family_body(rng, regions) | {"limit": LIMIT} for _ in range(count)]


def as_request(body: dict[str, Any]) -> PlacementRequest:
    """The body as the server sees it (the controller drops ``limit`` the same way)."""
    return request_from_json({key: value for key, value in body.items() if key != "limit"})


@dataclass(frozen=True, slots=True)
class Workload:
    """The same families for every path. Index i >= 0 is measured request i; -1 - i is
    warm-up request i."""

    encoded: list[bytes]
    encoded_warmups: list[bytes]
    requests: list[PlacementRequest]
    warmups: list[PlacementRequest]

    @classmethod
    def build(cls, rules: Rules, config: Config) -> Workload:
        bodies = family_bodies(rules, config.requests, config.seed, "measured")
        warmups = family_bodies(rules, config.warmup, config.seed, "warm-up")
        # Bodies are encoded up front so that the client's JSON encoding is not timed.
        return cls(
            encoded=[json.dumps(body).encode() for body in bodies],
            encoded_warmups=[json.dumps(body).encode() for body in warmups],
            requests=[as_request(body) for body in bodies],
            warmups=[as_request(body) for body in warmups],
        )

    def body(self, index: int) -> bytes:
        return self.encoded[index] if index >= 0 else self.encoded_warmups[-1 - index]

    def request(self, index: int) -> PlacementRequest:
        return self.requests[index] if index >= 0 else self.warmups[-1 - index]


# --- the paths --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasuredPath:
    """``call(i)`` serves request i; ``feasible_of`` reads its feasible count afterwards,
    outside the timed part."""

    name: str
    call: Callable[[int], Any]
    feasible_of: Callable[[Any], int]


def _feasible(ranking: Ranking) -> int:
    return ranking.feasible


def login(client: httpx.Client, password: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": USERNAME, "password": password})
    if response.status_code != 200:
        raise BenchmarkAborted(f"login failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["access_token"])


def http_path(client: httpx.Client, token: str, workload: Workload) -> MeasuredPath:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(index: int) -> httpx.Response:
        response = client.post("/api/v1/matches", content=workload.body(index), headers=headers)
        if response.status_code != 200:
            raise BenchmarkAborted(
                f"POST /api/v1/matches answered {response.status_code} to request {index}: "
                f"{response.text[:500]}"
            )
        return response

    return MeasuredPath(HTTP, call, lambda response: int(response.json()["feasible"]))


class UncachedSnapshot(FacilitySnapshot):
    """Every facility row read again on every call, as without a snapshot."""

    def states(self, *, session: Session, now: datetime) -> list[FacilityState]:
        return facility_states(session=session, now=now)


def service_path(engine: Engine, context: ServiceContext, workload: Workload) -> MeasuredPath:
    """``match`` with the context's facility snapshot: an :class:`UncachedSnapshot`, or a
    long-lived one as the app keeps it."""
    uncached = isinstance(context.snapshot, UncachedSnapshot)

    def call(index: int) -> Ranking:
        # the unit of work is timed too: the server opens one per request as well
        with unit_of_work(engine, write=False) as session:
            return match(
                session=session,
                context=context,
                request=workload.request(index),
                now=datetime.now(UTC),
                limit=LIMIT,
            )

    return MeasuredPath(SERVICE if uncached else SERVICE_SNAPSHOT, call, _feasible)


def rank_path(states: list[FacilityState], network: Network, workload: Workload) -> MeasuredPath:
    def call(index: int) -> Ranking:
        return rank(workload.request(index), states, network, now=datetime.now(UTC), limit=LIMIT)

    return MeasuredPath(RANK, call, _feasible)


def numpy_path(
    network: Network, tables: NetworkArrays, facilities: EncodedFacilities, workload: Workload
) -> MeasuredPath:
    def call(index: int) -> tuple[np.ndarray, np.ndarray]:
        return numpy_rank(
            workload.request(index), network, tables, facilities, now=datetime.now(UTC), limit=LIMIT
        )

    return MeasuredPath(NUMPY, call, lambda result: int(result[1].sum()))


@dataclass(frozen=True, slots=True)
class PathResult:
    latencies_ms: list[float]
    feasible: list[int]


def measure_in_rounds(paths: list[MeasuredPath], warmup: int, count: int) -> dict[str, PathResult]:
    """Every path serves the same requests, in rounds of :data:`ROUND` requests per path.

    Rounds spread whatever else the shared machine is doing over all paths alike, so the
    ratios stay fair; within a round a path runs alone, so its caches are warm as they would
    be in a server doing only this. Strict per-request alternation made the NumPy floor
    several times slower, because the service path between two NumPy calls evicts them.
    Each round starts with one untimed warm-up request per path for the same reason.
    """
    log(f"{warmup} warm-up requests on each path")
    for index in range(warmup):
        for path in paths:
            path.call(-1 - index)
    log(f"{count} measured requests on each path, in rounds of {ROUND}")
    latencies: dict[str, list[float]] = {path.name: [] for path in paths}
    feasible: dict[str, list[int]] = {path.name: [] for path in paths}
    for first in range(0, count, ROUND):
        for path in paths:
            if warmup:
                path.call(-1 - (first // ROUND) % warmup)
            for index in range(first, min(first + ROUND, count)):
                started = time.perf_counter()
                result = path.call(index)
                latencies[path.name].append((time.perf_counter() - started) * 1000)
                feasible[path.name].append(path.feasible_of(result))
        log(f"{min(first + ROUND, count)} of {count} done")
    return {name: PathResult(latencies[name], feasible[name]) for name in latencies}


# --- the NumPy lower bound -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkArrays:
    """The request-independent part of the score, indexed by kind and region number."""

    kind_index: dict[str, int]
    region_index: dict[str, int]
    kind_fit: dict[str, np.ndarray]
    distance: np.ndarray  # km, [facility region, other region]


@dataclass(frozen=True, slots=True)
class EncodedFacilities:
    """The facility states encoded once: the solver's own arrays for its hard rules, and
    what the score needs as numbers."""

    rules: FacilityArrays
    ids: np.ndarray
    kind: np.ndarray
    region: np.ndarray
    free_units: np.ndarray
    reported_us: np.ndarray  # last capacity report, microseconds since the epoch
    never_reported: np.ndarray
    secret: np.ndarray


def encode_network(network: Network, states: list[FacilityState]) -> NetworkArrays:
    kinds = sorted(network.kinds)
    regions = list(network.geography.points)
    unknown = sorted({state.region for state in states} - set(regions))
    if unknown:
        raise BenchmarkAborted(f"facilities in regions without a reference point: {unknown}")
    fits = network.weights.kind_fit
    return NetworkArrays(
        kind_index={kind: i for i, kind in enumerate(kinds)},
        region_index={region: i for i, region in enumerate(regions)},
        kind_fit={
            risk: np.array([fits.get(risk, {}).get(kind, 0.0) for kind in kinds])
            for risk in ("standard", "medium", "high")
        },
        # Geography.distance_km itself, so that every score term is the same float as rank's
        distance=np.array(
            [[network.geography.distance_km(a, b) for b in regions] for a in regions]
        ),
    )


def microseconds(moment: datetime | None) -> int:
    """Exact integer time, so that report ages come out as the same floats as
    ``timedelta.total_seconds()`` gives rank."""
    return 0 if moment is None else (moment - EPOCH) // timedelta(microseconds=1)


def encode_facilities(
    states: list[FacilityState], network: Network, tables: NetworkArrays
) -> EncodedFacilities:
    def column(values: list[Any], dtype: Any) -> np.ndarray:
        return np.array(values, dtype=dtype)

    return EncodedFacilities(
        rules=FacilityArrays(states, network),
        ids=column([s.id for s in states], np.int64),
        kind=column([tables.kind_index[s.kind] for s in states], np.intp),
        region=column([tables.region_index[s.region] for s in states], np.intp),
        free_units=column([s.free_units for s in states], np.int64),
        reported_us=column([microseconds(s.reported_at) for s in states], np.int64),
        never_reported=column([s.reported_at is None for s in states], bool),
        secret=column([s.kind == SECRET_SHELTER for s in states], bool),
    )


def feasible_mask(
    request: PlacementRequest, network: Network, facilities: EncodedFacilities
) -> np.ndarray:
    """The network's hard rules (``solver.rules``), all facilities at once, as the ranking
    applies them; the request prepared as the ranking prepares it."""
    return admitting(prepare(request, network), facilities.rules, network.hard_rules)


def _nearest(tables: NetworkArrays, names: frozenset[str]) -> np.ndarray | None:
    """Per region, the distance to the nearest of ``names`` (None: no known region)."""
    columns = [tables.region_index[n] for n in names if n in tables.region_index]
    return tables.distance[:, columns].min(axis=1) if columns else None


def scores(
    request: PlacementRequest,
    network: Network,
    tables: NetworkArrays,
    facilities: EncodedFacilities,
    rows: np.ndarray,
    now: datetime,
) -> np.ndarray:
    """The ranking score of the facilities ``rows``, term by term in rank's order."""
    weights = network.weights
    region = facilities.region[rows]
    total = tables.kind_fit.get(request.risk, np.zeros(len(tables.kind_index)))[
        facilities.kind[rows]
    ]
    if request.preferred_regions:
        inside = np.zeros(len(tables.region_index), dtype=bool)
        inside[
            [tables.region_index[n] for n in request.preferred_regions if n in tables.region_index]
        ] = True
        nearest = _nearest(tables, request.preferred_regions)
        near = (
            0.0
            if nearest is None
            else weights.near_preferred_max
            * np.maximum(0.0, 1.0 - nearest / weights.near_preferred_km)
        )
        total = total + np.where(inside, weights.preferred_region, near)[region]
    if request.avoid_regions:
        nearest = _nearest(tables, request.avoid_regions)
        if nearest is not None:
            far = weights.far_from_danger_max * np.minimum(
                1.0, nearest / weights.far_from_danger_km
            )
            total = total + far[region]
    age = (microseconds(now) - facilities.reported_us[rows]) / 1e6 / 3600
    stale = facilities.never_reported[rows] | (age > network.stale_after_hours)
    fresh = weights.fresh_report * np.maximum(0.0, 1.0 - age / network.stale_after_hours)
    total = total + np.where(stale, weights.stale_report, fresh)
    if request.risk != "high":
        secret_free = int(facilities.free_units[facilities.secret].sum())
        penalty = (
            weights.secret_buffer_penalty
            if secret_free <= weights.secret_buffer_units
            else weights.secret_place_penalty
        )
        total = total + np.where(facilities.secret[rows], penalty, 0.0)
    return np.round(total, 2)


def numpy_rank(
    request: PlacementRequest,
    network: Network,
    tables: NetworkArrays,
    facilities: EncodedFacilities,
    *,
    now: datetime,
    limit: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(facility ids best first, up to ``limit``; the feasible mask)."""
    mask = feasible_mask(request, network, facilities)
    rows = np.flatnonzero(mask)
    score = scores(request, network, tables, facilities, rows, now)
    ids = facilities.ids[rows]
    # best score first, ties by id, as rank does
    order = np.lexsort((ids, -score))
    return ids[order[:limit]], mask


@dataclass(frozen=True, slots=True)
class NumpyCheck:
    requests: int
    same_top: int


def check_numpy(
    states: list[FacilityState],
    network: Network,
    tables: NetworkArrays,
    facilities: EncodedFacilities,
    requests: list[PlacementRequest],
) -> NumpyCheck:
    """Abort unless the NumPy feasible set equals rank's on every request; count how often
    the top ``LIMIT`` order agrees too (rounding to cents may differ in the last bit)."""
    same_top = 0
    for index, request in enumerate(requests):
        now = datetime.now(UTC)
        full = rank(request, states, network, now=now, limit=10**9)
        expected = {option.facility_id for option in full.options}
        top, mask = numpy_rank(request, network, tables, facilities, now=now, limit=LIMIT)
        found = set(facilities.ids[mask].tolist())
        if found != expected:
            raise BenchmarkAborted(
                f"NumPy feasible set differs from rank() on request {index}: "
                f"{len(found - expected)} extra, {len(expected - found)} missing; "
                f"request: {request!r}"
            )
        same_top += top.tolist() == [option.facility_id for option in full.options[:LIMIT]]
    return NumpyCheck(len(requests), same_top)


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def summarise(latencies_ms: list[float]) -> Summary:
    values = np.asarray(latencies_ms)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return Summary(float(p50), float(p95), float(p99), float(values.max()), float(values.mean()))


def check_feasible_counts(results: dict[str, PathResult]) -> None:
    """Every path must have seen the same availability, or the comparison means nothing."""
    (first_name, first), *others = results.items()
    for name, result in others:
        for index, (a, b) in enumerate(zip(first.feasible, result.feasible, strict=True)):
            if a != b:
                raise BenchmarkAborted(
                    f"request {index}: {first_name} found {a} feasible places, {name} found {b}"
                )


def format_report(
    config: Config,
    occupancy: Occupancy,
    summaries: dict[str, Summary],
    check: NumpyCheck,
    feasible: list[int],
    load: tuple[float, float],
) -> str:
    floor = summaries[NUMPY].p95
    http = summaries[HTTP].p95
    width = max(len(name) for name in summaries)
    lines = [
        f"match latency: {config.requests} POST /api/v1/matches (limit {LIMIT}) after "
        f"{config.warmup} warm-up, seed {config.seed}",
        f"machine: {machine_description()}; 1-min load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end (this run adds about 1)",
        f"data: {occupancy.facilities} facilities, {occupancy.active_placements} active "
        f"placements, {occupancy.open_holds} open holds (SQLite, WAL)",
        "",
        f"{'path':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'p99 ms':>8}  {'max ms':>8}  "
        f"{'mean ms':>8}  {'p95 / NumPy p95':>15}",
    ]
    for name, s in summaries.items():
        lines.append(
            f"{name:<{width}}  {s.p50:8.2f}  {s.p95:8.2f}  {s.p99:8.2f}  {s.max:8.2f}  "
            f"{s.mean:8.2f}  {s.p95 / floor:14.1f}x"
        )
    verdict = "met" if http < TARGET_P95_MS else "NOT met"
    lines += [
        "",
        f"target HTTP p95 < {TARGET_P95_MS:.0f} ms: {verdict} (HTTP p95 {http:.1f} ms)",
        f"checks: feasible counts equal on all paths for every request; NumPy feasible set "
        f"== rank() options on {check.requests}/{check.requests}, same top-{LIMIT} order on "
        f"{check.same_top}/{check.requests}",
        f"feasible places per request: median {int(np.median(feasible))}, min {min(feasible)}, "
        f"max {max(feasible)}; none at all for {feasible.count(0)} of {len(feasible)}",
    ]
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------


def load_states(engine: Engine) -> list[FacilityState]:
    with unit_of_work(engine, write=False) as session:
        return facility_states(session=session, now=datetime.now(UTC))


def run(config: Config) -> str:
    # the server's own defaults, as the benchmark's environment sets no other
    context = ServiceContext.from_settings(Settings())
    rules = context.rules
    network = context.network()
    workload = Workload.build(rules, config)
    load_at_start = os.getloadavg()[0]

    # the stack closes first (server stopped, engine disposed), then the directory goes
    with tempfile.TemporaryDirectory(prefix="broker-match-latency-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        env, password, occupancy = prepare_database(config, workdir, rules)
        engine = make_engine(env["BROKER_DATABASE_URL"])
        stack.callback(engine.dispose)
        states = load_states(engine)
        tables = encode_network(network, states)
        facilities = encode_facilities(states, network, tables)
        # before the long part, so that an unfair floor stops the run early
        log("checking the NumPy filter against rank(limit=10**9) on every request")
        check = check_numpy(states, network, tables, facilities, workload.requests)

        log("starting broker serve")
        base_url = stack.enter_context(running_server(env, workdir / "server.log"))
        client = stack.enter_context(httpx.Client(base_url=base_url, timeout=60.0))
        paths = [
            http_path(client, login(client, password), workload),
            service_path(engine, replace(context, snapshot=UncachedSnapshot()), workload),
            service_path(engine, context, workload),
            rank_path(states, network, workload),
            numpy_path(network, tables, facilities, workload),
        ]
        results = measure_in_rounds(paths, config.warmup, config.requests)
        load_at_end = os.getloadavg()[0]

    check_feasible_counts(results)
    summaries = {name: summarise(result.latencies_ms) for name, result in results.items()}
    return format_report(
        config, occupancy, summaries, check, results[HTTP].feasible, (load_at_start, load_at_end)
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    try:
        report = run(config)
    except BenchmarkAborted as problem:
        print(f"match_latency: aborted: {problem}", file=sys.stderr)
        return 1
    publish(report, started=started, results_file=RESULTS_FILE, quick=config.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
