"""Plumbing shared by the benchmarks: a throw-away broker database, its occupancy, realistic
family requests and a real ``broker serve`` process.

Everything the broker itself does (schema, synthetic network, accounts, serving) goes through
its command line in a subprocess, exactly as an operator would run it, so a benchmark measures
the shipped code paths rather than a test double.
"""

from __future__ import annotations

import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from broker.db.engine import unit_of_work
from broker.db.models import Facility, Hold, Placement, User
from broker.domain.requests import request_from_json, request_to_json
from broker.domain.rules import Rules
from broker.services.holds import CASE_CODE_ALPHABET

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXTRA_LANGUAGES = ("en", "ro", "uk", "de", "sk", "rom", "sr", "hr")
SERVER_START_TIMEOUT_SECONDS = 60.0


class BenchmarkAborted(Exception):
    """A benchmark cannot produce a trustworthy number; the message says why."""


_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the result table."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# --- the machine --------------------------------------------------------------------------


def publish(report: str, *, started: float, results_file: Path, quick: bool) -> None:
    """Print the report with the total run time; keep it in ``results_file`` unless quick."""
    report += f"\ntotal run time: {time.perf_counter() - started:.0f} s"
    print(report)
    shown = results_file.relative_to(PROJECT_ROOT)
    if quick:
        log(f"--quick: {shown} left unchanged")
        return
    results_file.parent.mkdir(exist_ok=True)
    results_file.write_text(report + "\n", encoding="utf-8")
    log(f"written to {shown}")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description() -> str:
    return f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"


# --- the broker's command line --------------------------------------------------------------


def broker_environment(database_url: str) -> dict[str, str]:
    """The caller's environment without any BROKER_* setting, pointed at ``database_url``.

    Inherited keys or a production mode would make the run depend on whoever starts it; the
    benchmark is meant to be reproducible in demo mode anywhere.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("BROKER_")}
    env["BROKER_MODE"] = "demo"
    env["BROKER_DATABASE_URL"] = database_url
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``broker ARGS`` with the interpreter running this benchmark; abort on failure."""
    completed = subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip()
        raise BenchmarkAborted(
            f"`broker {' '.join(args)}` failed ({completed.returncode}): {output}"
        )
    return completed.stdout.strip()


# --- families --------------------------------------------------------------------------------


def _person(rng: random.Random, *, adult: bool, male: bool) -> dict[str, Any]:
    age = rng.randint(18, 62) if adult else rng.randint(0, 17)
    return {"age": age, "sex": "male" if male else "female"}


def random_family_body(rng: random.Random, regions: list[str]) -> dict[str, Any]:
    """A family as a counsellor would enter it, in the API's JSON form (without ``limit``).

    The proportions follow what a hotline sees: mostly a woman alone or with children, now
    and then a second adult (sometimes a man, for family homes), few special needs.
    """
    adults = [_person(rng, adult=True, male=rng.random() < 0.03)]
    if rng.random() < 0.2:
        adults.append(_person(rng, adult=True, male=rng.random() < 0.5))
    children_count = rng.choices([0, 1, 2, 3, 4], weights=[25, 30, 25, 12, 8])[0]
    children = [_person(rng, adult=False, male=rng.random() < 0.5) for _ in range(children_count)]
    languages: list[str] = []
    if rng.random() < 0.15:
        languages = rng.sample(EXTRA_LANGUAGES, 2 if rng.random() < 0.2 else 1)
    avoid = rng.sample(regions, rng.choices([0, 1, 2], weights=[35, 45, 20])[0])
    # a region cannot be both avoided and preferred (the API refuses it)
    others = [region for region in regions if region not in avoid]
    preferred = rng.sample(others, rng.choices([0, 1, 2], weights=[40, 40, 20])[0])
    return {
        "family": {"adults": adults, "children": children},
        "needs": {
            "wheelchair": rng.random() < 0.04,
            "pets": rng.random() < 0.08,
            "languages": languages,
            "night_arrival": rng.random() < 0.3,
        },
        "risk": rng.choices(["standard", "medium", "high"], weights=[70, 20, 10])[0],
        "avoid_regions": avoid,
        "preferred_regions": preferred,
        "reentry": rng.random() < 0.15,
        "trafficking_victim": rng.random() < 0.02,
    }


@dataclass(frozen=True, slots=True)
class FacilityRow:
    id: int
    kind: str
    region: str
    total_units: int
    free_units: int
    free_beds: int
    boys_max_age: int | None
    admits_adult_men: bool


def _fitted_request(
    body: dict[str, Any], facility: FacilityRow, rules: Rules, rng: random.Random, max_persons: int
) -> dict[str, Any]:
    """``body`` changed so that the family could really be staying at ``facility``; in the
    stored form of :func:`request_to_json`."""
    rule = rules.kind(facility.kind)
    family = body["family"]
    if not (facility.admits_adult_men and rule.may_admit_adult_men):
        family["adults"] = [{**adult, "sex": "female"} for adult in family["adults"]]
    if rule.requires_children and not family["children"]:
        family["children"] = [_person(rng, adult=False, male=False)]
    if facility.boys_max_age is not None:
        for child in family["children"]:
            if child["sex"] == "male":
                child["age"] = min(child["age"], facility.boys_max_age)
    room = max(0, max_persons - len(family["adults"]))
    family["children"] = family["children"][: max(room, 1 if rule.requires_children else 0)]
    levels = sorted(level.value for level in rule.risk_levels)
    if body["risk"] not in levels:
        body["risk"] = rng.choice(levels)
    body["trafficking_victim"] = rule.trafficking_only
    body["avoid_regions"] = [r for r in body["avoid_regions"] if r != facility.region]
    return request_to_json(request_from_json(body))


# --- occupancy: placements and open holds ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Occupancy:
    facilities: int
    active_placements: int
    open_holds: int


def _facility_rows(engine: Engine) -> list[FacilityRow]:
    columns = [
        col(column)
        for column in (
            Facility.id,
            Facility.kind,
            Facility.region,
            Facility.total_units,
            Facility.reported_free_units,
            Facility.reported_free_beds,
            Facility.boys_max_age,
            Facility.admits_adult_men,
        )
    ]
    with unit_of_work(engine, write=False) as session:
        return [
            FacilityRow(*row) for row in session.execute(sa.select(*columns).order_by(columns[0]))
        ]


def _user_id(engine: Engine, username: str) -> int:
    with unit_of_work(engine, write=False) as session:
        user_id = session.execute(
            sa.select(col(User.id)).where(col(User.username) == username)
        ).scalar()
    if user_id is None:
        raise BenchmarkAborted(f"the account '{username}' was not created")
    return int(user_id)


def _random_hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _case_codes(rng: random.Random, count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        raw = "".join(rng.choice(CASE_CODE_ALPHABET) for _ in range(8))
        codes.add(f"{raw[:4]}-{raw[4:]}")
    return sorted(codes)


def _placement_rows(
    rng: random.Random,
    facilities: list[FacilityRow],
    count: int,
    rules: Rules,
    user_id: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` active placements (and their confirmed holds) in occupied units.

    A shelter's report already leaves out the families staying there, so a placement goes
    into a unit the report does not call free; the reported numbers stay as seeded.
    """
    slots = [f for f in facilities for _ in range(max(0, f.total_units - f.free_units))]
    chosen = rng.sample(slots, count) if count <= len(slots) else rng.choices(slots, k=count)
    regions = sorted(rules.regions)
    holds: list[dict[str, Any]] = []
    placements: list[dict[str, Any]] = []
    for facility, case_code in zip(chosen, _case_codes(rng, count), strict=True):
        rule = rules.kind(facility.kind)
        request = _fitted_request(random_family_body(rng, regions), facility, rules, rng, 6)
        persons = len(request["family"]["adults"]) + len(request["family"]["children"])
        started = now - timedelta(days=rng.uniform(0, min(rule.max_stay_days, 365)))
        created = started - timedelta(minutes=rng.randint(20, 85))
        hold_id = _random_hex(rng)
        holds.append(
            _hold_row(hold_id, facility.id, user_id, "confirmed", persons, request, created)
            | {"expires_at": created + timedelta(minutes=90), "closed_at": started}
        )
        placements.append(
            {
                "id": _random_hex(rng),
                "case_code": case_code,
                "facility_id": facility.id,
                "hold_id": hold_id,
                "request": request,
                "units": 1,
                "beds": persons,
                "state": "active",
                "started_at": started,
                "prior_days": 0,
                "limit_at": started + timedelta(days=rule.max_stay_days),
                "ended_at": None,
                "end_reason": None,
                "previous_placement_id": None,
            }
        )
    return holds, placements


def _hold_row(
    hold_id: str,
    facility_id: int,
    user_id: int,
    state: str,
    persons: int,
    request: dict[str, Any],
    created: datetime,
) -> dict[str, Any]:
    return {
        "id": hold_id,
        "facility_id": facility_id,
        "counsellor_user_id": user_id,
        "state": state,
        "units": 1,
        "beds": persons,
        "request": request,
        "created_at": created,
        "expires_at": None,
        "closed_at": None,
        "decline_reason": None,
        "decline_note": None,
        "transfer_from_placement_id": None,
    }


def _open_hold_rows(
    rng: random.Random,
    facilities: list[FacilityRow],
    count: int,
    rules: Rules,
    user_id: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Open holds on facilities with something free, each for a family that fits there.

    They are a few minutes old and run for the broker's usual 90 to 240 minutes, so none
    expires during a run and every path reads the same availability.
    """
    free = [f for f in facilities if f.free_units >= 1 and f.free_beds >= 1]
    regions = sorted(rules.regions)
    rows: list[dict[str, Any]] = []
    for facility in rng.sample(free, min(count, len(free))):
        request = _fitted_request(
            random_family_body(rng, regions), facility, rules, rng, facility.free_beds
        )
        persons = len(request["family"]["adults"]) + len(request["family"]["children"])
        created = now - timedelta(minutes=rng.uniform(0, 20))
        ttl = timedelta(minutes=rng.choice([90, 120, 240]))
        rows.append(
            _hold_row(_random_hex(rng), facility.id, user_id, "open", persons, request, created)
            | {"expires_at": created + ttl}
        )
    return rows


def add_occupancy(
    engine: Engine,
    rules: Rules,
    *,
    username: str,
    placements: int,
    open_holds: int,
    seed: int,
) -> Occupancy:
    """Insert active placements (with their confirmed holds) and open holds in bulk.

    Core ``executemany`` inserts rather than the hold and placement services: ten thousand
    confirmations through the services would take minutes and add audit rows the matching
    path never reads.
    """
    rng = random.Random(f"match-latency:{seed}:occupancy")
    now = datetime.now(UTC)
    facilities = _facility_rows(engine)
    user_id = _user_id(engine, username)
    confirmed, placement_rows = _placement_rows(rng, facilities, placements, rules, user_id, now)
    open_rows = _open_hold_rows(rng, facilities, open_holds, rules, user_id, now)
    with unit_of_work(engine) as session:
        # holds first: placements.hold_id is a foreign key
        session.execute(sa.insert(Hold.__table__), confirmed + open_rows)  # type: ignore[attr-defined]
        session.execute(sa.insert(Placement.__table__), placement_rows)  # type: ignore[attr-defined]
    return Occupancy(len(facilities), len(placement_rows), len(open_rows))


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _wait_for_health(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkAborted(
                f"`broker serve` exited with {process.returncode} before answering:\n"
                + _tail(log_path)
            )
        try:
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise BenchmarkAborted(
        f"`broker serve` did not answer GET /health within {SERVER_START_TIMEOUT_SECONDS:.0f} s:\n"
        + _tail(log_path)
    )


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``broker serve`` on a free local port; yields its base URL and stops it on the way out,
    whatever happened in between."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "broker.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_health(process, base_url, log_path)
            yield base_url
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
