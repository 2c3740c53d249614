"""How many holds per second does ``POST /api/v1/holds`` take, and how long does each wait,
when 8 or 32 counsellors press "hold" at the same time?

Three set-ups are measured side by side in one run, each on a fresh database:

1. SQLite (the embedded default, a WAL file), one ``broker serve`` process;
2. PostgreSQL, one ``broker serve`` process;
3. PostgreSQL, two ``broker serve`` processes on two ports, the clients split evenly
   between them (client i talks to server i mod 2).

Each database is migrated with ``broker.db.migrate.upgrade``; an admin, 32 counsellors and
one shelter-staff account, each with an API key, are made through
``broker.services.accounts``, as the tests do. The servers run with ``BROKER_SCHEDULER=off``
so that no job competes for the database, and are all started together before the first
row. Facilities are made through the admin API and reported free by their staff through
the capacity API: for every row of the table a pool of its own of crisis centres with 1,000
units and 5,000 beds each.

A row is one set-up with 8 or 32 client threads, each with its own keep-alive
``httpx.Client`` and counsellor account, sending holds back to back for a random family (one woman, 0-3 children)
at a random facility of the row's pool. Holds are left open, never released: the pool has
room for far more holds than any row makes (the report prints the highest count seen on
one facility), so every request should get 201, and the row measures only the hold
itself. After a warm-up that is not measured, the row counts the 201 answers that arrived
in the measured window (holds/s), and takes p50 and p95 (linear interpolation) of their
latencies, from send until the whole response is read. "errors" are answers other than
201 and 409 plus requests that got no answer, over the whole row (warm-up included); a 409
would mean the capacity ran out, which the design rules out, so it has a column of its
own. After each row the open holds in the database must equal the 201 answers the clients
received (warm-up included).

The table goes to stdout and to ``benchmarks/results/hold_throughput.txt`` (not for
``--quick`` runs); progress goes to stderr. The PostgreSQL databases are created on the
server given by ``--postgres`` and dropped at the end, whatever happened. The exit status
is 1 when any row had errors or failed its check.

    .venv/bin/python -m benchmarks.hold_throughput [--quick] [--seconds S] [--postgres URL]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

from benchmarks._support import (
    PROJECT_ROOT,
    BenchmarkAborted,
    broker_environment,
    log,
    machine_description,
    publish,
    running_server,
)
from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import upgrade
from broker.domain.rules import load_rules
from broker.services.accounts import api_key_create, user_create
from broker.settings import Settings

RESULTS_FILE = PROJECT_ROOT / "benchmarks" / "results" / "hold_throughput.txt"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLIENT_COUNTS = (8, 32)
UNITS_PER_FACILITY = 1_000
BEDS_PER_FACILITY = 5_000
# a family is at most 4 people, so 5,000 beds never run out before 1,000 units do
MAX_PERSONS = 4
BODIES_PER_CLIENT = 257
REQUEST_TIMEOUT_SECONDS = 60.0
SQLITE_ONE = "SQLite, 1 process"
POSTGRES_ONE = "PostgreSQL, 1 process"
POSTGRES_TWO = "PostgreSQL, 2 processes"


@dataclass(frozen=True, slots=True)
class Config:
    seconds: float
    warmup: float
    facilities: int
    postgres: str
    seed: int
    quick: bool


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hold_throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds")
    parser.add_argument("--seconds", type=float, help="measured seconds per row (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per row (default 2)")
    parser.add_argument("--facilities", type=int, help="facilities in each row's pool (default 40)")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help=f"PostgreSQL server to create the databases on (default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--seed", type=int, default=1, help="family and facility choice seed")
    args = parser.parse_args(argv)
    seconds, warmup, facilities = (1.0, 0.25, 4) if args.quick else (10.0, 2.0, 40)
    config = Config(
        seconds=seconds if args.seconds is None else args.seconds,
        warmup=warmup if args.warmup is None else args.warmup,
        facilities=facilities if args.facilities is None else args.facilities,
        postgres=args.postgres,
        seed=args.seed,
        quick=args.quick,
    )
    if config.seconds <= 0 or config.warmup < 0 or config.facilities < 1:
        parser.error("--seconds must be positive, --warmup not negative, --facilities >= 1")
    # the benchmark talks to this machine only
    if sa.engine.make_url(config.postgres).host != "127.0.0.1":
        parser.error("--postgres must be a server on this machine (127.0.0.1)")
    return config


# --- databases and accounts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetUp:
    name: str
    database_url: str
    servers: int


@contextmanager
def postgres_databases(server_url: str, labels: Sequence[str]) -> Iterator[dict[str, str]]:
    """One fresh database per label on ``server_url``; all dropped on the way out."""
    server = make_engine(server_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    run_id = uuid.uuid4().hex[:8]
    created: list[str] = []
    try:
        urls: dict[str, str] = {}
        for label in labels:
            name = f"broker_bench_holds_{run_id}_{label}"
            try:
                with server.connect() as connection:
                    connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            except sa.exc.OperationalError as exc:
                raise BenchmarkAborted(f"PostgreSQL at {server_url} refused: {exc}") from exc
            created.append(name)
            urls[label] = (
                sa.engine.make_url(server_url)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        yield urls
    finally:
        with server.connect() as connection:
            for name in created:
                # FORCE: a server that failed to stop must not keep the database alive
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.engine.dispose()
        if created:
            log(f"dropped PostgreSQL databases {', '.join(created)}")


def postgres_version(server_url: str) -> str:
    engine = make_engine(server_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
    finally:
        engine.dispose()


def create_accounts(
    database_url: str, passwords: Passwords, accounts: Sequence[tuple[str, str, Sequence[int]]]
) -> list[dict[str, str]]:
    """Accounts (username, role, facilities) with an API key each; their bearer headers.

    In-process through the accounts service, as the tests do: the broker has no API to
    create accounts, and the service keeps the audit chain whole. The accounts have no
    password and use API keys, which the server checks exactly as it checks a login token
    (one lookup by digest), so no time goes to Argon2 hashes and logins. ``Settings()``
    carries the demo keys, the same ones the servers get from ``broker_environment``.
    """
    settings = Settings()
    engine = make_engine(database_url, pool_size=1)
    headers: list[dict[str, str]] = []
    try:
        with unit_of_work(engine, audit_key=settings.audit_key_bytes) as session:
            for username, role, facility_ids in accounts:
                now = datetime.now(UTC)
                user_create(
                    session=session,
                    passwords=passwords,
                    username=username,
                    role=role,
                    password=None,
                    facility_ids=facility_ids,
                    now=now,
                )
                key = api_key_create(
                    session=session,
                    token_secret=settings.token_secret_bytes,
                    username=username,
                    label="hold throughput benchmark",
                    now=now,
                )
                headers.append({"Authorization": f"Bearer {key}"})
    finally:
        engine.dispose()
    return headers


@dataclass(frozen=True, slots=True)
class Accounts:
    admin: dict[str, str]
    counsellors: list[dict[str, str]]


def prepare_database(setup: SetUp, passwords: Passwords) -> Accounts:
    """Migrate, then the admin and one counsellor per client of the largest row."""
    log(f"{setup.name}: migrating, creating accounts")
    upgrade(setup.database_url)
    counsellors = max(CLIENT_COUNTS)
    admin, *counsellor_keys = create_accounts(
        setup.database_url,
        passwords,
        [("bench-admin", "admin", [])]
        + [(f"bench-counsellor-{i}", "counsellor", []) for i in range(counsellors)],
    )
    return Accounts(admin, counsellor_keys)


def facility_pools(
    base_url: str,
    database_url: str,
    passwords: Passwords,
    admin: dict[str, str],
    regions: list[str],
    rows: int,
    size: int,
) -> list[list[int]]:
    """``rows`` pools of ``size`` crisis centres, each reported completely free by its staff.

    A pool of its own per row, so that no row starts with holds left by the one before and
    the open-hold sums the hold path reads stay alike across rows.
    """
    pools: list[list[int]] = []
    with httpx.Client(base_url=base_url, headers=admin, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        for row in range(rows):
            pool: list[int] = []
            for index in range(size):
                response = http.post(
                    "/api/v1/facilities",
                    json={
                        "name": f"Benchmark crisis centre {row + 1}-{index + 1}",
                        "kind": "crisis_centre",
                        "operator": "Benchmark operator",
                        "region": regions[(row * size + index) % len(regions)],
                        "total_units": UNITS_PER_FACILITY,
                        "total_beds": BEDS_PER_FACILITY,
                        "meeting_point": "Main railway station, by the ticket office.",
                        "boys_max_age": 12,
                        "languages": ["hu"],
                        "night_admission": True,
                    },
                )
                if response.status_code != 201:
                    raise BenchmarkAborted(
                        f"creating a facility failed: {response.status_code} {response.text}"
                    )
                pool.append(int(response.json()["id"]))
            pools.append(pool)
    every = [fid for pool in pools for fid in pool]
    [staff] = create_accounts(database_url, passwords, [("bench-staff", "shelter_staff", every)])
    with httpx.Client(base_url=base_url, headers=staff, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        for fid in every:
            response = http.put(
                f"/api/v1/facilities/{fid}/capacity",
                json={"free_units": UNITS_PER_FACILITY, "free_beds": BEDS_PER_FACILITY},
            )
            if response.status_code != 200:
                raise BenchmarkAborted(
                    f"reporting capacity failed: {response.status_code} {response.text}"
                )
    return pools


def open_holds(database_url: str, facility_ids: list[int]) -> tuple[int, int]:
    """(open holds on these facilities, the most on any one of them)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            counts = [
                int(count)
                for (count,) in connection.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM holds WHERE state = 'open' "
                        "AND facility_id IN :ids GROUP BY facility_id"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": facility_ids},
                )
            ]
    finally:
        engine.dispose()
    return sum(counts), max(counts, default=0)


# --- the clients -----------------------------------------------------------------------------


def hold_bodies(rng: random.Random, facility_ids: list[int]) -> list[bytes]:
    """Families every crisis centre of the pool takes: a woman, 0-3 children (boys at most
    12, the pools' limit), standard or medium risk, no needs the pool lacks."""
    bodies: list[bytes] = []
    for _ in range(BODIES_PER_CLIENT):
        children = [
            {"age": rng.randint(0, 12), "sex": rng.choice(["female", "male"])}
            for _ in range(rng.randint(0, MAX_PERSONS - 1))
        ]
        body = {
            "family": {
                "adults": [{"age": rng.randint(18, 60), "sex": "female"}],
                "children": children,
            },
            "needs": {"wheelchair": False, "pets": False, "languages": [], "night_arrival": False},
            "risk": rng.choice(["standard", "medium"]),
            "avoid_regions": [],
            "preferred_regions": [],
            "reentry": False,
            "facility_id": rng.choice(facility_ids),
        }
        bodies.append(json.dumps(body).encode())
    return bodies


@dataclass(slots=True)
class ClientLog:
    """What one client saw: per answer its arrival time, latency and status (0: no answer)."""

    finished: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


def client_loop(
    base_url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    ready: threading.Barrier,
    go: threading.Event,
    stop: threading.Event,
    record: ClientLog,
) -> None:
    with httpx.Client(
        base_url=base_url,
        headers={**headers, "Content-Type": "application/json"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    ) as http:
        try:
            # the connection is opened before the clock starts, as a browser's would be
            http.get("/health").raise_for_status()
            ready.wait()
        except BaseException:
            # the others and the main thread must not wait for this client
            ready.abort()
            raise
        go.wait()
        for body in itertools.cycle(bodies):
            if stop.is_set():
                return
            sent = time.perf_counter()
            try:
                status = http.post("/api/v1/holds", content=body).status_code
            except httpx.HTTPError as exc:
                status = 0
                record.failures[type(exc).__name__] += 1
            finished = time.perf_counter()
            record.finished.append(finished)
            record.latency_ms.append((finished - sent) * 1000)
            record.status.append(status)


@dataclass(frozen=True, slots=True)
class Row:
    setup: str
    clients: int
    holds_per_second: float
    p50_ms: float
    p95_ms: float
    conflicts: int
    errors: int
    # every answer of the row, warm-up included (0: no answer)
    statuses: dict[int, int]
    failures: dict[str, int]
    created_total: int
    open_in_database: int
    most_on_one_facility: int

    @property
    def consistent(self) -> bool:
        return self.created_total == self.open_in_database


def measure_row(
    setup: str,
    base_urls: list[str],
    counsellors: list[dict[str, str]],
    database_url: str,
    pool: list[int],
    clients: int,
    config: Config,
) -> Row:
    rng = random.Random(f"hold-throughput:{config.seed}:{setup}:{clients}")
    records = [ClientLog() for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    go, stop = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=client_loop,
            args=(
                base_urls[index % len(base_urls)],
                counsellors[index % len(counsellors)],
                hold_bodies(rng, pool),
                ready,
                go,
                stop,
                records[index],
            ),
            daemon=True,
        )
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=REQUEST_TIMEOUT_SECONDS)
    except threading.BrokenBarrierError as exc:
        raise BenchmarkAborted(f"{setup}, {clients} clients: a client could not connect") from exc
    started = time.perf_counter()
    window = (started + config.warmup, started + config.warmup + config.seconds)
    go.set()
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_SECONDS + config.warmup + config.seconds + 10)
    if any(thread.is_alive() for thread in threads):
        raise BenchmarkAborted(f"{setup}, {clients} clients: a client did not finish")

    held_ms: list[float] = []
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    for record in records:
        failures += record.failures
        statuses.update(record.status)
        held_ms += [
            latency
            for finished, latency, status in zip(
                record.finished, record.latency_ms, record.status, strict=True
            )
            if status == 201 and window[0] <= finished <= window[1]
        ]
    opened, most = open_holds(database_url, pool)
    p50, p95 = np.percentile(held_ms, [50, 95]) if held_ms else (float("nan"),) * 2
    return Row(
        setup=setup,
        clients=clients,
        holds_per_second=len(held_ms) / config.seconds,
        p50_ms=float(p50),
        p95_ms=float(p95),
        conflicts=statuses[409],
        errors=sum(n for status, n in statuses.items() if status not in (201, 409)),
        statuses=dict(sorted(statuses.items())),
        failures=dict(failures),
        created_total=statuses[201],
        open_in_database=opened,
        most_on_one_facility=most,
    )


# --- the set-ups -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetUpResult:
    rows: list[Row]
    # what the servers logged besides the access log (INFO) and the start-up line
    server_problems: list[str]


def server_problems(log_paths: list[Path]) -> list[str]:
    return [
        line
        for path in log_paths
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip() and not line.startswith(("INFO", "broker serving at"))
    ]


def start_servers(stack: ExitStack, started: list[tuple[dict[str, str], Path]]) -> list[str]:
    """``broker serve`` for every (environment, log) at once; each stops when ``stack``
    closes. Start-up (imports, rules, templates) takes seconds of CPU per process, so
    starting them together rather than one after the other saves most of a quick run."""
    servers = [running_server(env, log_path) for env, log_path in started]
    with ThreadPoolExecutor(len(servers)) as pool:
        entered = [pool.submit(server.__enter__) for server in servers]
    base_urls: list[str] = []
    problem: BaseException | None = None
    for server, future in zip(servers, entered, strict=True):
        try:
            base_urls.append(future.result())
            stack.push(server)
        except BaseException as exc:
            problem = problem or exc
    if problem is not None:
        raise problem
    return base_urls


def run_setup(
    setup: SetUp,
    base_urls: list[str],
    accounts: Accounts,
    passwords: Passwords,
    config: Config,
    regions: list[str],
) -> list[Row]:
    pools = facility_pools(
        base_urls[0],
        setup.database_url,
        passwords,
        accounts.admin,
        regions,
        len(CLIENT_COUNTS),
        config.facilities,
    )
    rows: list[Row] = []
    for clients, pool in zip(CLIENT_COUNTS, pools, strict=True):
        log(
            f"{setup.name}: {clients} clients, {config.warmup:g} s warm-up + "
            f"{config.seconds:g} s measured"
        )
        row = measure_row(
            setup.name, base_urls, accounts.counsellors, setup.database_url, pool, clients, config
        )
        log(
            f"{setup.name}: {clients} clients: {row.holds_per_second:.1f} holds/s, "
            f"statuses {row.statuses}"
        )
        rows.append(row)
    return rows


# --- the report ------------------------------------------------------------------------------


def format_report(
    config: Config,
    results: dict[str, SetUpResult],
    postgres: str,
    load: tuple[float, float],
) -> str:
    rows = [row for result in results.values() for row in result.rows]
    baseline = next(r for r in rows if r.setup == SQLITE_ONE and r.clients == CLIENT_COUNTS[0])
    width = max(len("configuration"), *(len(r.setup) for r in rows))
    ratio_header = f"vs SQLite {CLIENT_COUNTS[0]}"
    lines = [
        f"hold throughput: POST /api/v1/holds, {config.warmup:g} s warm-up then "
        f"{config.seconds:g} s measured per row, seed {config.seed}",
        f"machine: {machine_description()}; 1-min load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end (this run's servers, database and clients add several)",
        f"databases: SQLite file (WAL); PostgreSQL {postgres} on 127.0.0.1; a fresh database "
        f"per set-up, servers with BROKER_SCHEDULER=off",
        f"workload: holds left open, never released; each row has a pool of its own of "
        f"{config.facilities} crisis centres x {UNITS_PER_FACILITY:,} units / "
        f"{BEDS_PER_FACILITY:,} beds, so capacity never runs out; a random family (1 woman, "
        f"0-3 children) at a random facility of the pool; one counsellor account (API key) "
        f"per client; with 2 processes client i uses server i mod 2",
        "",
        f"{'configuration':<{width}}  {'clients':>7}  {'holds/s':>8}  {'p50 ms':>8}  "
        f"{'p95 ms':>8}  {'409':>5}  {'errors':>6}  {ratio_header:>11}",
    ]
    for row in rows:
        ratio = (
            row.holds_per_second / baseline.holds_per_second
            if baseline.holds_per_second
            else float("nan")
        )
        lines.append(
            f"{row.setup:<{width}}  {row.clients:>7}  {row.holds_per_second:8.1f}  "
            f"{row.p50_ms:8.1f}  {row.p95_ms:8.1f}  {row.conflicts:>5}  {row.errors:>6}  "
            f"{ratio:10.2f}x"
        )
    lines += [
        "",
        "holds/s: 201 answers that arrived in the measured window, per second; p50/p95: their "
        "latency, send to whole response read; 409 and errors (answers other than 201/409, "
        "requests without an answer): whole row, warm-up included; last column: holds/s "
        "over the SQLite 8-client row",
    ]
    checks = [
        f"{row.setup}, {row.clients} clients: {row.created_total} holds answered 201, "
        f"{row.open_in_database} open in the database"
        for row in rows
        if not row.consistent
    ]
    most = max(row.most_on_one_facility for row in rows)
    lines.append(
        f"check: open holds in the database == 201 answers (warm-up included) on every row; "
        f"at most {most} holds on one facility of {UNITS_PER_FACILITY:,} units"
        if not checks
        else "CHECK FAILED, open holds in the database differ from 201 answers: "
        + "; ".join(checks)
    )
    for row in rows:
        unexpected = {status: n for status, n in row.statuses.items() if status != 201}
        if unexpected or row.failures:
            shown = ", ".join(
                f"{'no answer' if status == 0 else status}: {n}" for status, n in unexpected.items()
            )
            failures = ", ".join(f"{name} x{n}" for name, n in row.failures.items())
            lines.append(
                f"answers other than 201 ({row.setup}, {row.clients} clients, warm-up "
                f"included): {shown}" + (f" ({failures})" if failures else "")
            )
    for name, result in results.items():
        if result.server_problems:
            lines.append(
                f"{name}: the servers logged {len(result.server_problems)} warning or error "
                f"lines, first: {result.server_problems[0][:200]}"
            )
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------


def run(config: Config) -> tuple[str, bool]:
    regions = sorted(load_rules(Settings().data_dir).regions)
    load_at_start = os.getloadavg()[0]
    postgres = postgres_version(config.postgres)
    results: dict[str, SetUpResult] = {}
    # the servers stop first, then the databases are dropped, then the directory goes
    with (
        tempfile.TemporaryDirectory(prefix="broker-hold-throughput-") as tmp,
        postgres_databases(config.postgres, ["one", "two"]) as databases,
    ):
        workdir = Path(tmp)
        setups = [
            SetUp(SQLITE_ONE, f"sqlite:///{workdir / 'broker.db'}", 1),
            SetUp(POSTGRES_ONE, databases["one"], 1),
            SetUp(POSTGRES_TWO, databases["two"], 2),
        ]
        # one hasher: each one hashes a decoy password when it is made
        passwords = Passwords()
        accounts = [prepare_database(setup, passwords) for setup in setups]
        logs: list[list[Path]] = []
        started: list[tuple[dict[str, str], Path]] = []
        for number, setup in enumerate(setups):
            env = broker_environment(setup.database_url)
            # the scheduled jobs would write to the database at moments of their own
            env["BROKER_SCHEDULER"] = "off"
            paths = [workdir / f"setup-{number}-server-{n}.log" for n in range(setup.servers)]
            logs.append(paths)
            started += [(env, path) for path in paths]
        with ExitStack() as stack:
            log(f"starting {len(started)} broker serve processes")
            base_urls = iter(start_servers(stack, started))
            # idle servers of the other set-ups take no CPU, so they may stay up
            rows = [
                run_setup(
                    setup,
                    [next(base_urls) for _ in range(setup.servers)],
                    setup_accounts,
                    passwords,
                    config,
                    regions,
                )
                for setup, setup_accounts in zip(setups, accounts, strict=True)
            ]
        for setup, setup_rows, paths in zip(setups, rows, logs, strict=True):
            results[setup.name] = SetUpResult(setup_rows, server_problems(paths))
    report = format_report(config, results, postgres, (load_at_start, os.getloadavg()[0]))
    every_row = [row for result in results.values() for row in result.rows]
    healthy = all(row.consistent and row.errors == 0 for row in every_row)
    return report, healthy


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    try:
        report, healthy = run(config)
    except BenchmarkAborted as problem:
        print(f"hold_throughput: aborted: {problem}", file=sys.stderr)
        return 1
    publish(report, started=started, results_file=RESULTS_FILE, quick=config.quick)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
