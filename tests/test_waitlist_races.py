"""The waiting list under concurrency: a counsellor taking an entry off the list while the
matching job runs, and two runs of the job at once (two schedulers, or a run by hand during
a tick). Each pair is raced 20 times against a real ``broker serve`` process (the job runs
here, through the job runner, on its own connections), on SQLite and on PostgreSQL, and
the invariants (``broker db check``) are checked after every round.

    pair           left                          right
    delete-x-job   DELETE /api/v1/waitlist/{id}  the waitlist_matching job
    job-x-job      the job                       the job again, from a second runner
    match-x-match  the job's locked body         the same, skipping the job's read-only
                                                 preview, so both runs reach the row locks

Allowed outcomes: the DELETE always succeeds (a found entry may be taken off too) and the
job finds the entry only if it ran first, in which case the hotline has exactly one message
about it; of two runs exactly one finds the entry, and there is exactly one message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from broker.crypto import Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.jobs import RAN, Runner, default_client_factory
from broker.services import waitlist
from broker.services.accounts import user_create
from broker.services.context import ServiceContext
from broker.settings import Settings
from tests.conftest import PASSWORD, facility_body
from tests.integrity_support import assert_consistent
from tests.placement_support import family
from tests.server_support import BrokerServer
from tests.test_concurrency_matrix import HEAD_STARTS_MS, Outcome, race

ROUNDS = 20
JOB = "waitlist_matching"
Headers = dict[str, str]


class Stage:
    def __init__(self, database_url: str, server: BrokerServer) -> None:
        self.database_url = database_url
        self.settings = Settings(database_url=database_url)
        self.engine = make_engine(database_url, pool_size=2)
        self.passwords = Passwords()
        self.http = httpx.Client(base_url=server.base, timeout=60)
        self.racer = httpx.Client(base_url=server.base, timeout=60)
        assert self.racer.get("/health").status_code == 200
        self.admin = self.account("admin", "admin")
        self.counsellor = self.account("counsellor", "counsellor")
        # two schedulers: each with its own engine and services, on the real clock
        self.runners = tuple(
            Runner(
                engine=make_engine(database_url),
                services=ServiceContext.from_settings(self.settings),
                clock=lambda: datetime.now(UTC),
                client_factory=default_client_factory(self.settings),
                name=name,
            )
            for name in ("runner-a", "runner-b")
        )
        # one crisis centre with far more room than the rounds need: every entry fits
        body = facility_body(total_units=40, total_beds=120)
        fid = self.call("POST", "/api/v1/facilities", self.admin, 201, **body)["id"]
        staff = self.account("staff", "shelter_staff", [fid])
        self.call(
            "PUT", f"/api/v1/facilities/{fid}/capacity", staff, 200, free_units=40, free_beds=120
        )
        for runner in self.runners:  # opens the runners' connections before any race
            assert self.run_job(runner).code == "found 0"

    def close(self) -> None:
        self.http.close()
        self.racer.close()
        self.engine.dispose()
        for runner in self.runners:
            runner.engine.dispose()

    def account(self, username: str, role: str, facilities: list[int] | None = None) -> Headers:
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

    def entry(self) -> str:
        created = self.call("POST", "/api/v1/waitlist", self.counsellor, 201, **family())
        return str(created["waitlist_id"])

    def delete(self, entry_id: str) -> Outcome:
        response = self.racer.delete(f"/api/v1/waitlist/{entry_id}", headers=self.counsellor)
        return Outcome(str(response.status_code), response.text[:400])

    def run_job(self, runner: Runner) -> Outcome:
        outcome = runner.run_now(JOB)
        if outcome.status != RAN:
            return Outcome(f"job {outcome.status}", str(outcome.summary))
        return Outcome(f"found {outcome.summary['found']}")

    def match_locked(self, runner: Runner) -> Outcome:
        """The job's body past its read-only preview: straight to the locks."""
        with unit_of_work(runner.engine, audit_key=self.settings.audit_key_bytes) as session:
            summary = waitlist.waitlist_match(
                session=session, context=runner.services, now=datetime.now(UTC)
            )
        return Outcome(f"found {summary['found']}")

    def stored(self, entry_id: str) -> tuple[str, bool, int]:
        """The entry's state, whether a place was found, and the hotline's messages on it."""
        with self.engine.connect() as connection:
            state, found_at = connection.execute(
                sa.text("SELECT state, found_at FROM waitlist_entries WHERE id = :id"),
                {"id": entry_id},
            ).one()
            messages = connection.execute(
                sa.text(
                    "SELECT COUNT(*) FROM outbox WHERE event = 'waitlist.place_found' "
                    "AND payload LIKE :like"
                    if self.database_url.startswith("sqlite")
                    else "SELECT COUNT(*) FROM outbox WHERE event = 'waitlist.place_found' "
                    "AND payload->>'waitlist_id' = :id"
                ),
                {"id": entry_id, "like": f'%"{entry_id}"%'},
            ).scalar_one()
        return str(state), found_at is not None, int(messages)


Round = tuple[Callable[[], Outcome], Callable[[], Outcome], Callable[[Outcome, Outcome], list[str]]]


def delete_x_job(stage: Stage, entry_id: str) -> Round:
    def check(left: Outcome, right: Outcome) -> list[str]:
        state, found, messages = stage.stored(entry_id)
        problems = []
        if left.code != "204" or right.code not in ("found 0", "found 1"):
            problems.append(f"outcome DELETE {left.code} / job {right.code}: {left.detail}")
        if state != "cancelled":
            problems.append(f"entry is {state} after its DELETE")
        if found != (right.code == "found 1"):
            problems.append(f"job said {right.code}, stored place found: {found}")
        if messages != int(found):
            problems.append(f"{messages} messages for an entry with place found: {found}")
        return problems

    return partial(stage.delete, entry_id), partial(stage.run_job, stage.runners[0]), check


def job_x_job(stage: Stage, entry_id: str) -> Round:
    def check(left: Outcome, right: Outcome) -> list[str]:
        state, found, messages = stage.stored(entry_id)
        problems = []
        if sorted((left.code, right.code)) != ["found 0", "found 1"]:
            problems.append(f"outcome {left.code} / {right.code}: {left.detail} {right.detail}")
        if (state, found, messages) != ("found", True, 1):
            problems.append(f"entry {state}, place found {found}, {messages} messages")
        # taken off the list, so the next round's entry is the only one waiting
        stage.call("DELETE", f"/api/v1/waitlist/{entry_id}", stage.counsellor, 204)
        return problems

    return (
        partial(stage.run_job, stage.runners[0]),
        partial(stage.run_job, stage.runners[1]),
        check,
    )


def match_x_match(stage: Stage, entry_id: str) -> Round:
    _, _, check = job_x_job(stage, entry_id)
    return (
        partial(stage.match_locked, stage.runners[0]),
        partial(stage.match_locked, stage.runners[1]),
        check,
    )


PAIRS = {"delete-x-job": delete_x_job, "job-x-job": job_x_job, "match-x-match": match_x_match}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_race(pair: str, database_url: str, tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    with BrokerServer(database_url, tmp_path / "server.log") as server:
        stage = Stage(database_url, server)
        try:
            for index in range(ROUNDS):
                left, right, check = PAIRS[pair](stage, stage.entry())
                first, second = race(left, right, HEAD_STARTS_MS[index])
                outcomes[f"{first.code} / {second.code}"] += 1
                found = check(first, second)
                try:
                    assert_consistent(database_url)
                except AssertionError as violation:
                    found.append(f"invariants: {violation}")
                problems += [f"round {index + 1}: {problem}" for problem in found]
        finally:
            stage.close()
    database = "sqlite" if database_url.startswith("sqlite") else "postgres"
    print(f"\n{pair} on {database}: {dict(sorted(outcomes.items()))}")
    errors = [line for line in server.problems() if "ERROR" in line or "Traceback" in line]
    assert not problems, "\n".join(problems[:10])
    assert not errors, "\n".join(errors[:40])
    assert sum(outcomes.values()) == ROUNDS
