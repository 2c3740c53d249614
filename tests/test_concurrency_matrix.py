"""Every pair of concurrent changes to one hold, stay or facility has exactly one winner.

For each pair below, two threads released together by a barrier send the two requests to a
real ``broker serve`` process (the hold-expiry job instead runs here, through the job runner,
as of a moment just past the hold's expiry, while the server still sees the hold open). Each
pair is raced 20 times on SQLite and 20 times on PostgreSQL, every round on facilities,
holds and stays of its own. A round passes only if it ends in one of the pair's allowed
outcomes (one side wins, the other is refused with 409; never a 5xx), the stored state is
the one that outcome implies, and the invariant check finds nothing wrong. The server log
must stay free of errors. The outcome counts of every pair and database are written to
``test-artifacts/concurrency_matrix.json``.

    pair                      left                         right
    hold-x-hold               hold on the last unit        hold on the same unit
    confirm-x-release         confirm (facility staff)     release (a counsellor)
    confirm-x-decline         confirm                      decline
    confirm-x-expiry          confirm                      the hold_expiry job
    transfer-x-transfer       transfer to one target       transfer to another target
    transfer-confirm-x-depart confirm the transfer hold    depart from the source
    depart-x-depart           depart                       depart
    capacity-x-hold           report 0 free                hold
    plan-apply-x-hold         apply a batch plan           hold on the plan's unit
    evacuation-x-confirm      apply an evacuation plan     confirm the pending transfer
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.jobs import RAN, Runner, default_client_factory
from broker.services.accounts import user_create
from broker.services.context import ServiceContext
from broker.settings import Settings
from tests.conftest import ARTIFACTS, PASSWORD, facility_body
from tests.integrity_support import assert_consistent
from tests.placement_support import family
from tests.server_support import BrokerServer

ROUNDS = 20
# Every other round releases both sides at the same moment; the rest give one side, in turn,
# a head start of a few milliseconds (> 0: the left side), so that both orders and the
# overlaps between them are raced, not only the order the faster operation tends to win.
HEAD_STARTS_MS = (0, 1, 0, -1, 0, 3, 0, -3, 0, 6, 0, -6, 0, 12, 0, -12, 0, 25, 0, -25)
REFUSED = "409"
Headers = dict[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one side of a race got: an HTTP status, or what the job did."""

    code: str
    detail: str = ""


Side = Callable[[], Outcome]
Check = Callable[[Outcome, Outcome], list[str]]


@dataclass(frozen=True, slots=True)
class Round:
    left: Side
    right: Side
    allowed: frozenset[tuple[str, str]]
    # what the stored state must be after the outcome the round ended in
    check: Check


def one_wins(left_wins: str, right_wins: str) -> frozenset[tuple[str, str]]:
    return frozenset({(left_wins, REFUSED), (REFUSED, right_wins)})


class Stage:
    """One server and its accounts; facilities, holds and stays made through its API."""

    def __init__(self, database_url: str, server: BrokerServer, passwords: Passwords) -> None:
        self.database_url, self.server, self.passwords = database_url, server, passwords
        self.settings = Settings(database_url=database_url)
        self.engine = make_engine(database_url, pool_size=2)
        self.http = httpx.Client(base_url=server.base, timeout=60)
        # one client per racing thread, kept alive across rounds, so that no race starts
        # with one side still opening its connection
        self.racers = (
            httpx.Client(base_url=server.base, timeout=60),
            httpx.Client(base_url=server.base, timeout=60),
        )
        for racer in self.racers:
            assert racer.get("/health").status_code == 200
        self.admin = self.account("admin", "admin")
        self.counsellors = (
            self.account("counsellor-a", "counsellor"),
            self.account("counsellor-b", "counsellor"),
        )

    def close(self) -> None:
        for client in (self.http, *self.racers):
            client.close()
        self.engine.dispose()

    # --- setup, one request at a time ---------------------------------------------------

    def account(self, username: str, role: str, facilities: list[int] | None = None) -> Headers:
        # through the service, as the server has no route for making accounts
        with unit_of_work(self.engine, audit_key=self.settings.audit_key_bytes) as session:
            user_create(
                session=session,
                passwords=self.passwords,
                username=username,
                role=role,
                password=PASSWORD,
                facility_ids=facilities or [],
                now=datetime.now(UTC),
            )
        response = self.http.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, headers: Headers, expect: int, **body: Any) -> Any:
        response = self.http.request(method, path, headers=headers, json=body or None)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def facilities(self, count: int, **fields: Any) -> list[int]:
        fields.setdefault("total_units", 3)
        fields.setdefault("total_beds", 9)
        body = facility_body(**fields)
        return [
            int(self.call("POST", "/api/v1/facilities", self.admin, 201, **body)["id"])
            for _ in range(count)
        ]

    def report(self, facility_id: int, staff: Headers, units: int = 1, beds: int = 2) -> None:
        self.call(
            "PUT",
            f"/api/v1/facilities/{facility_id}/capacity",
            staff,
            200,
            free_units=units,
            free_beds=beds,
        )

    def hold(self, facility_id: int, **extra: Any) -> dict[str, Any]:
        body = {**family(), "facility_id": facility_id, **extra}
        created: dict[str, Any] = self.call(
            "POST", "/api/v1/holds", self.counsellors[0], 201, **body
        )
        return created

    def stay(self, facility_id: int, staff: Headers) -> str:
        """A family staying at the facility: a hold, confirmed."""
        hold_id = self.hold(facility_id)["hold_id"]
        confirmed = self.call("POST", f"/api/v1/holds/{hold_id}/confirm", staff, 200)
        return str(confirmed["placement_id"])

    def transfer(self, placement_id: str, target: int) -> str:
        created = self.call(
            "POST",
            f"/api/v1/placements/{placement_id}/transfer",
            self.counsellors[0],
            201,
            facility_id=target,
        )
        return str(created["hold_id"])

    # --- the racing requests ------------------------------------------------------------

    def send(
        self, side: int, method: str, path: str, headers: Headers, body: Any = None
    ) -> Outcome:
        response = self.racers[side].request(method, path, headers=headers, json=body)
        return Outcome(str(response.status_code), response.text[:400])

    # --- reading the stored state back --------------------------------------------------

    def value(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar_one()

    def hold_state(self, hold_id: str) -> str:
        return str(self.value("SELECT state FROM holds WHERE id = :id", id=hold_id))

    def stay_state(self, placement_id: str) -> str:
        return str(self.value("SELECT state FROM placements WHERE id = :id", id=placement_id))

    def open_holds_at(self, facility_id: int) -> int:
        return int(
            self.value(
                "SELECT COUNT(*) FROM holds WHERE facility_id = :f AND state = 'open'",
                f=facility_id,
            )
        )

    def open_transfers_of(self, placement_id: str) -> int:
        return int(
            self.value(
                "SELECT COUNT(*) FROM holds WHERE transfer_from_placement_id = :p AND state = 'open'",
                p=placement_id,
            )
        )

    def reported(self, facility_id: int) -> tuple[int, int]:
        with self.engine.connect() as connection:
            units, beds = connection.execute(
                sa.text(
                    "SELECT reported_free_units, reported_free_beds FROM facilities WHERE id = :f"
                ),
                {"f": facility_id},
            ).one()
        return int(units), int(beds)


def expect(condition: bool, problem: str) -> list[str]:
    return [] if condition else [problem]


# --- the pairs -----------------------------------------------------------------------------
# Each pair is a generator: it makes what all its rounds need up front (facilities, then the
# staff accounts bound to them), then prepares one round at a time. A family is one woman
# and one girl: one unit and two beds.


def hold_x_hold(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Last unit")
    staff = stage.account("staff", "shelter_staff", fids)
    for fid in fids:
        stage.report(fid, staff)
        body = {**family(), "facility_id": fid}
        yield Round(
            left=partial(stage.send, 0, "POST", "/api/v1/holds", stage.counsellors[0], body),
            right=partial(stage.send, 1, "POST", "/api/v1/holds", stage.counsellors[1], body),
            allowed=one_wins("201", "201"),
            check=partial(_one_open_hold_at, stage, fid),
        )


def _one_open_hold_at(stage: Stage, fid: int, _left: Outcome, _right: Outcome) -> list[str]:
    held = stage.open_holds_at(fid)
    return expect(held == 1, f"{held} open holds on facility {fid}'s one unit")


def _hold_closed_as(
    stage: Stage, hold_id: str, left_won: str, right_won: str, left: Outcome, _right: Outcome
) -> list[str]:
    """The hold is in the state the winning side put it in."""
    state = stage.hold_state(hold_id)
    wanted = left_won if left.code.startswith("2") else right_won
    return expect(state == wanted, f"hold {hold_id} is {state}, its winner made it {wanted}")


def confirm_x_release(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Confirm or release")
    staff = stage.account("staff", "shelter_staff", fids)
    for fid in fids:
        stage.report(fid, staff)
        hold_id = stage.hold(fid)["hold_id"]
        yield Round(
            left=partial(stage.send, 0, "POST", f"/api/v1/holds/{hold_id}/confirm", staff),
            # a colleague of the counsellor who made the hold: holds are the hotline's
            right=partial(
                stage.send, 1, "DELETE", f"/api/v1/holds/{hold_id}", stage.counsellors[1]
            ),
            allowed=one_wins("200", "204"),
            check=partial(_hold_closed_as, stage, hold_id, "confirmed", "released"),
        )


def confirm_x_decline(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Confirm or decline")
    staff = stage.account("staff", "shelter_staff", fids)
    colleague = stage.account("staff-colleague", "shelter_staff", fids)
    for fid in fids:
        stage.report(fid, staff)
        hold_id = stage.hold(fid)["hold_id"]
        decline = {"reason": "no_place"}
        yield Round(
            left=partial(stage.send, 0, "POST", f"/api/v1/holds/{hold_id}/confirm", staff),
            right=partial(
                stage.send, 1, "POST", f"/api/v1/holds/{hold_id}/decline", colleague, decline
            ),
            allowed=one_wins("200", "200"),
            check=partial(_hold_closed_as, stage, hold_id, "confirmed", "declined"),
        )


class JobClock:
    """The job runner's clock, set before each round to just past that round's expiry."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


def _run_expiry(runner: Runner) -> Outcome:
    outcome = runner.run_now("hold_expiry")
    if outcome.status != RAN:
        return Outcome(f"job {outcome.status}", json.dumps(outcome.summary))
    return Outcome(f"expired {outcome.summary['expired']}")


def confirm_x_expiry(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Confirm or expire")
    staff = stage.account("staff", "shelter_staff", fids)
    clock = JobClock()
    # built like the command line's runner, with its own engine, but on the test's clock
    runner = Runner(
        engine=make_engine(stage.database_url),
        services=ServiceContext.from_settings(stage.settings),
        clock=clock,
        client_factory=default_client_factory(stage.settings),
    )
    try:
        assert _run_expiry(runner).code == "expired 0"  # opens the runner's connections
        for fid in fids:
            stage.report(fid, staff)
            # one minute: the server, on the real clock, sees it open throughout the race
            hold = stage.hold(fid, ttl_minutes=1)
            clock.at = datetime.fromisoformat(hold["expires_at"]) + timedelta(seconds=1)
            yield Round(
                left=partial(
                    stage.send, 0, "POST", f"/api/v1/holds/{hold['hold_id']}/confirm", staff
                ),
                right=partial(_run_expiry, runner),
                allowed=frozenset({("200", "expired 0"), (REFUSED, "expired 1")}),
                check=partial(_hold_closed_as, stage, hold["hold_id"], "confirmed", "expired"),
            )
    finally:
        runner.engine.dispose()


def transfer_x_transfer(stage: Stage) -> Iterator[Round]:
    sources = stage.facilities(ROUNDS, name="Source crisis centre")
    # a crisis centre (tier 1) may send a family on to a temporary home (tier 2)
    targets = stage.facilities(
        2 * ROUNDS, name="Target home", kind="temporary_home_mothers", region="Vas"
    )
    staff = stage.account("source-staff", "shelter_staff", sources)
    target_staff = stage.account("target-staff", "shelter_staff", targets)
    for source, first, second in zip(sources, targets[::2], targets[1::2], strict=True):
        stage.report(source, staff)
        stage.report(first, target_staff)
        stage.report(second, target_staff)
        placement_id = stage.stay(source, staff)
        path = f"/api/v1/placements/{placement_id}/transfer"
        yield Round(
            left=partial(stage.send, 0, "POST", path, stage.counsellors[0], {"facility_id": first}),
            # the source's staff may start a transfer too
            right=partial(stage.send, 1, "POST", path, staff, {"facility_id": second}),
            allowed=one_wins("201", "201"),
            check=partial(_one_transfer_on_its_way, stage, placement_id, first, second),
        )


def _one_transfer_on_its_way(
    stage: Stage, placement_id: str, first: int, second: int, left: Outcome, _right: Outcome
) -> list[str]:
    winner, loser = (first, second) if left.code == "201" else (second, first)
    return [
        *expect(
            stage.open_transfers_of(placement_id) == 1,
            f"stay {placement_id} has {stage.open_transfers_of(placement_id)} open transfers",
        ),
        *expect(stage.open_holds_at(winner) == 1, f"no hold at the winning target {winner}"),
        *expect(stage.open_holds_at(loser) == 0, f"a hold at the refused target {loser}"),
    ]


def transfer_confirm_x_depart(stage: Stage) -> Iterator[Round]:
    sources = stage.facilities(ROUNDS, name="Source crisis centre")
    targets = stage.facilities(
        ROUNDS, name="Target home", kind="temporary_home_mothers", region="Vas"
    )
    source_staff = stage.account("source-staff", "shelter_staff", sources)
    target_staff = stage.account("target-staff", "shelter_staff", targets)
    for source, target in zip(sources, targets, strict=True):
        stage.report(source, source_staff)
        stage.report(target, target_staff)
        placement_id = stage.stay(source, source_staff)
        hold_id = stage.transfer(placement_id, target)
        yield Round(
            left=partial(stage.send, 0, "POST", f"/api/v1/holds/{hold_id}/confirm", target_staff),
            right=partial(
                stage.send,
                1,
                "POST",
                f"/api/v1/placements/{placement_id}/depart",
                source_staff,
                {"reason": "other"},
            ),
            allowed=one_wins("200", "200"),
            check=partial(_stay_ended_once, stage, placement_id, hold_id, source),
        )


def _stay_ended_once(
    stage: Stage, placement_id: str, hold_id: str, source: int, left: Outcome, _right: Outcome
) -> list[str]:
    stay, hold = stage.stay_state(placement_id), stage.hold_state(hold_id)
    if left.code == "200":
        ended = expect((stay, hold) == ("transferred", "confirmed"), f"stay {stay}, hold {hold}")
    else:
        # a departure takes the pending transfer with it, or the transfer would keep a unit
        # at the target until it expired
        ended = [
            *expect(stay == "departed", f"stay {placement_id} is {stay} after its departure"),
            *expect(hold not in ("open", "confirmed"), f"transfer hold {hold} after departure"),
        ]
    return [
        *ended,
        # the source's place came back once: the confirmed arrival took it, one ending gave it back
        *expect(
            stage.reported(source) == (1, 2),
            f"source {source} reports {stage.reported(source)} free, not (1, 2)",
        ),
    ]


def depart_x_depart(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Departure")
    staff = stage.account("staff", "shelter_staff", fids)
    colleague = stage.account("staff-colleague", "shelter_staff", fids)
    for fid in fids:
        stage.report(fid, staff)
        placement_id = stage.stay(fid, staff)
        path, body = f"/api/v1/placements/{placement_id}/depart", {"reason": "other"}
        yield Round(
            left=partial(stage.send, 0, "POST", path, staff, body),
            right=partial(stage.send, 1, "POST", path, colleague, body),
            allowed=one_wins("200", "200"),
            check=partial(_departed_once, stage, placement_id, fid),
        )


def _departed_once(
    stage: Stage, placement_id: str, fid: int, _left: Outcome, _right: Outcome
) -> list[str]:
    return [
        *expect(stage.stay_state(placement_id) == "departed", f"stay {placement_id} not departed"),
        *expect(
            stage.reported(fid) == (1, 2),
            f"facility {fid} reports {stage.reported(fid)} free after one departure, not (1, 2)",
        ),
    ]


def capacity_x_hold(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Report or hold")
    staff = stage.account("staff", "shelter_staff", fids)
    for fid in fids:
        stage.report(fid, staff)
        yield Round(
            left=partial(
                stage.send,
                0,
                "PUT",
                f"/api/v1/facilities/{fid}/capacity",
                staff,
                {"free_units": 0, "free_beds": 0},
            ),
            right=partial(
                stage.send,
                1,
                "POST",
                "/api/v1/holds",
                stage.counsellors[1],
                {**family(), "facility_id": fid},
            ),
            # a report never refuses; the hold is refused only once the report has landed
            allowed=frozenset({("200", "201"), ("200", REFUSED)}),
            check=partial(_report_and_hold, stage, fid),
        )


def _report_and_hold(stage: Stage, fid: int, _left: Outcome, right: Outcome) -> list[str]:
    held = stage.open_holds_at(fid)
    return [
        *expect(
            held == (right.code == "201"), f"{held} open holds at {fid} after hold {right.code}"
        ),
        *expect(stage.reported(fid) == (0, 0), f"report at {fid} is {stage.reported(fid)}, not 0"),
    ]


def plan_apply_x_hold(stage: Stage) -> Iterator[Round]:
    fids = stage.facilities(ROUNDS, name="Planned unit")
    staff = stage.account("staff", "shelter_staff", fids)
    for fid in fids:
        # reported only now: every earlier round's unit is taken, so the plan has one choice
        stage.report(fid, staff)
        plan = stage.call(
            "POST", "/api/v1/plans/batch", stage.counsellors[0], 200, requests=[family()]
        )
        assert [a["facility_id"] for a in plan["assignments"]] == [fid], plan
        yield Round(
            left=partial(
                stage.send,
                0,
                "POST",
                f"/api/v1/plans/{plan['plan_id']}/apply",
                stage.counsellors[0],
            ),
            right=partial(
                stage.send,
                1,
                "POST",
                "/api/v1/holds",
                stage.counsellors[1],
                {**family(), "facility_id": fid},
            ),
            allowed=one_wins("200", "201"),
            check=partial(_plan_or_hold, stage, plan["plan_id"], fid),
        )


def _plan_or_hold(stage: Stage, plan_id: str, fid: int, left: Outcome, right: Outcome) -> list[str]:
    state = str(stage.value("SELECT state FROM plans WHERE id = :id", id=plan_id))
    wanted = "applied" if left.code == "200" else "proposed"
    return [
        *expect(state == wanted, f"plan {plan_id} is {state}, not {wanted}"),
        *_one_open_hold_at(stage, fid, left, right),
    ]


def evacuation_x_confirm(stage: Stage) -> Iterator[Round]:
    compromised = stage.facilities(ROUNDS, name="Compromised centre", region="Baranya")
    targets = stage.facilities(
        ROUNDS, name="Transfer target", kind="temporary_home_mothers", region="Vas"
    )
    # far from Baranya: outside the danger zone of every compromised centre
    refuges = stage.facilities(ROUNDS, name="Refuge", region="Szabolcs-Szatmár-Bereg")
    staff = stage.account("staff", "shelter_staff", compromised)
    target_staff = stage.account("target-staff", "shelter_staff", targets)
    refuge_staff = stage.account("refuge-staff", "shelter_staff", refuges)
    for fid, target, refuge in zip(compromised, targets, refuges, strict=True):
        stage.report(fid, staff)
        stage.report(target, target_staff)
        stage.report(refuge, refuge_staff)
        placement_id = stage.stay(fid, staff)
        hold_id = stage.transfer(placement_id, target)
        plan = stage.call(
            "POST", "/api/v1/plans/evacuation", stage.counsellors[0], 200, facility_id=fid
        )
        assert [m["placement_id"] for m in plan["moves"]] == [placement_id], plan
        yield Round(
            left=partial(
                stage.send,
                0,
                "POST",
                f"/api/v1/plans/{plan['plan_id']}/apply",
                stage.counsellors[0],
            ),
            right=partial(stage.send, 1, "POST", f"/api/v1/holds/{hold_id}/confirm", target_staff),
            allowed=one_wins("200", "200"),
            check=partial(_evacuated_or_transferred, stage, plan["plan_id"], placement_id, hold_id),
        )


def _evacuated_or_transferred(
    stage: Stage, plan_id: str, placement_id: str, hold_id: str, left: Outcome, _right: Outcome
) -> list[str]:
    plan = str(stage.value("SELECT state FROM plans WHERE id = :id", id=plan_id))
    stay, hold = stage.stay_state(placement_id), stage.hold_state(hold_id)
    if left.code == "200":
        # the evacuation took over: the ordinary transfer is closed, its own hold is open
        return [
            *expect(plan == "applied", f"plan {plan_id} is {plan}"),
            *expect(stay == "active", f"stay {placement_id} is {stay}; she has not left yet"),
            *expect(hold not in ("open", "confirmed"), f"superseded transfer hold is {hold}"),
            *expect(
                stage.open_transfers_of(placement_id) == 1,
                f"stay {placement_id} has {stage.open_transfers_of(placement_id)} open transfers",
            ),
        ]
    return [
        *expect(plan == "proposed", f"plan {plan_id} is {plan} after the transfer arrived"),
        *expect((stay, hold) == ("transferred", "confirmed"), f"stay {stay}, hold {hold}"),
        *expect(stage.open_transfers_of(placement_id) == 0, "an evacuation hold for a moved stay"),
    ]


@dataclass(frozen=True, slots=True)
class Pair:
    id: str
    left: str
    right: str
    rounds: Callable[[Stage], Iterator[Round]]


PAIRS = [
    Pair("hold-x-hold", "hold", "hold", hold_x_hold),
    Pair("confirm-x-release", "confirm", "release", confirm_x_release),
    Pair("confirm-x-decline", "confirm", "decline", confirm_x_decline),
    Pair("confirm-x-expiry", "confirm", "expiry job", confirm_x_expiry),
    Pair("transfer-x-transfer", "transfer", "transfer", transfer_x_transfer),
    Pair("transfer-confirm-x-depart", "confirm transfer", "depart", transfer_confirm_x_depart),
    Pair("depart-x-depart", "depart", "depart", depart_x_depart),
    Pair("capacity-x-hold", "capacity report", "hold", capacity_x_hold),
    Pair("plan-apply-x-hold", "apply plan", "hold", plan_apply_x_hold),
    Pair("evacuation-x-confirm", "apply evacuation", "confirm transfer", evacuation_x_confirm),
]


# --- running and recording -----------------------------------------------------------------


def race(left: Side, right: Side, head_start_ms: int) -> tuple[Outcome, Outcome]:
    barrier = threading.Barrier(2, timeout=30)
    results: dict[int, Outcome] = {}
    delays = (max(0, -head_start_ms) / 1000, max(0, head_start_ms) / 1000)

    def run(index: int, side: Side) -> None:
        try:
            barrier.wait()
            if delays[index]:
                time.sleep(delays[index])
            results[index] = side()
        except Exception as exc:  # a dropped connection is an outcome too
            results[index] = Outcome(f"error {type(exc).__name__}", str(exc)[:400])

    threads = [threading.Thread(target=run, args=args) for args in enumerate((left, right))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results.get(0, Outcome("no answer")), results.get(1, Outcome("no answer"))


def record(
    pair: str, database: str, rounds: int, outcomes: Counter[str], problems: list[str]
) -> None:
    """Add this pair's counts to the matrix file (the workers of a run share it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "concurrency_matrix.json"
    with (ARTIFACTS / ".concurrency_matrix.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        matrix = json.loads(path.read_text()) if path.exists() else {}
        matrix.setdefault(pair, {})[database] = {
            "rounds": rounds,
            "outcomes": dict(sorted(outcomes.items())),
            "failed_rounds": len({p.split(":", 1)[0] for p in problems}),
            "first_problem": problems[0] if problems else None,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        path.write_text(json.dumps(matrix, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


class OnceHashed(Passwords):
    """Every account here has the same password: hashing it once (argon2 is slow on
    purpose) keeps a test's accounts from costing seconds. Logins still verify it."""

    def __init__(self) -> None:
        super().__init__()
        self._hashed = super().hash(PASSWORD)

    def hash(self, password: str) -> str:
        assert password == PASSWORD
        return self._hashed


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return OnceHashed()


@pytest.fixture(params=PAIRS, ids=[pair.id for pair in PAIRS])
def pair(request: pytest.FixtureRequest) -> Pair:
    # a fixture rather than a mark, so that the id names the pair before the database
    chosen: Pair = request.param
    return chosen


def test_race(pair: Pair, database_url: str, tmp_path: Path, passwords: Passwords) -> None:
    database = "sqlite" if database_url.startswith("sqlite") else "postgres"
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    rounds = 0
    started = time.monotonic()
    with BrokerServer(database_url, tmp_path / "server.log") as server:
        stage = Stage(database_url, server, passwords)
        try:
            for rounds, step in enumerate(pair.rounds(stage), 1):
                left, right = race(step.left, step.right, HEAD_STARTS_MS[rounds - 1])
                outcomes[f"{pair.left} {left.code} / {pair.right} {right.code}"] += 1
                found: list[str] = []
                if left.code.startswith("5") or right.code.startswith("5"):
                    found.append(f"server error: {left.detail} | {right.detail}")
                elif (left.code, right.code) not in step.allowed:
                    found.append(
                        f"{pair.left} {left.code}, {pair.right} {right.code} is not one of "
                        f"{sorted(step.allowed)}: {left.detail} | {right.detail}"
                    )
                else:
                    found += step.check(left, right)
                try:
                    assert_consistent(database_url)
                except AssertionError as violation:
                    found.append(f"invariants: {violation}")
                problems += [f"round {rounds}: {problem}" for problem in found]
        finally:
            stage.close()
            record(pair.id, database, rounds, outcomes, problems)
            print(
                f"\n{pair.id} on {database}: {rounds} rounds in {time.monotonic() - started:.1f} s,"
                f" {dict(sorted(outcomes.items()))}"
            )
    errors = [line for line in server.problems() if "ERROR" in line or "Traceback" in line]
    assert rounds == ROUNDS == len(HEAD_STARTS_MS)
    shown = problems[:10] + ([f"... {len(problems)} problems in all"] if problems[10:] else [])
    assert not problems, "\n".join(shown)
    assert not errors, "\n".join(errors[:40])
