"""Requests generated from the OpenAPI document, for every role: never a 5xx, and every
refusal in the error shape.

Schemathesis turns each operation of ``/schema/openapi.json`` into a Hypothesis strategy of
requests, some fitting the schema and some breaking it on purpose; half of them name
objects that exist (a facility, a hold, a stay, a plan, a notice, an operator) so that the
handlers past the lookups run too. The app is called in-process with Litestar's test client.
Each operation gets a fixed number of examples, drawn from a fixed seed, so a run is the
same every time and fits CI.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from api.app import create_app
from broker.settings import Settings
from tests.conftest import Accounts, TestClock, _truncate_postgres, create_facility

ROLES = ("counsellor", "shelter_staff", "police", "admin", "auditor", "anonymous")
# examples per operation and role; PostgreSQL runs fewer, its share is the database's
# own refusals (integer ranges, NUL in text), which the SQLite run cannot show
EXAMPLES = {"sqlite": int(os.environ.get("BROKER_FUZZ_EXAMPLES", "12"))}
EXAMPLES["postgres"] = max(1, EXAMPLES["sqlite"] // 2)
# signing out would end the role's token for the rest of the run
SKIPPED = {("DELETE", "/api/v1/auth/token")}
ERROR_KEYS = {"status", "code", "message", "details"}
DEEP = b"[" * 50_000 + b"]" * 50_000
FAMILY = {
    "family": {"adults": [{"age": 31, "sex": "female"}], "children": [{"age": 4, "sex": "m"}]}
}


@dataclass
class World:
    """A running app over a database with one of everything, and a token per role."""

    client: TestClient[Any]
    headers: dict[str, dict[str, str]]
    known: dict[str, Any]
    operations: list[Any]
    database: str


def _populate(client: TestClient[Any], accounts: Accounts) -> tuple[dict[str, Any], dict[str, Any]]:
    admin = accounts.headers("fuzz-admin", "admin")
    facility = create_facility(client, admin)
    other = create_facility(client, admin, name="Second Home", region="Pest", kind="halfway_house")
    fid = facility["id"]
    headers = {
        "admin": admin,
        "counsellor": accounts.headers("fuzz-counsellor", "counsellor"),
        "shelter_staff": accounts.headers("fuzz-staff", "shelter_staff", [fid]),
        "police": accounts.headers("fuzz-police", "police"),
        "auditor": accounts.headers("fuzz-auditor", "auditor"),
        "anonymous": {},
    }
    staff, desk = headers["shelter_staff"], headers["counsellor"]
    client.put(
        f"/api/v1/facilities/{fid}/capacity", json={"free_units": 3, "free_beds": 9}, headers=staff
    )
    client.put(
        f"/api/v1/facilities/{fid}/address", json={"address": "1 Test street"}, headers=staff
    )
    placed = client.post("/api/v1/holds", json={**FAMILY, "facility_id": fid}, headers=desk).json()
    identity = {
        "full_name": "Próba Piroska",
        "birth_date": "1990-01-01",
        "police_confirmation_consent": True,
    }
    stay = client.post(
        f"/api/v1/holds/{placed['hold_id']}/confirm", json={"identity": identity}, headers=staff
    ).json()
    client.post(
        "/api/v1/police/inquiries",
        json={"full_name": "Próba Piroska", "birth_date": "1990-01-01", "case_reference": "F-1"},
        headers=headers["police"],
    )
    open_hold = client.post(
        "/api/v1/holds", json={**FAMILY, "facility_id": fid}, headers=desk
    ).json()
    plan = client.post("/api/v1/plans/transfers", json={"horizon_days": 180}, headers=desk).json()
    waiting = client.post("/api/v1/waitlist", json=FAMILY, headers=desk).json()
    notices = client.get("/api/v1/notices", headers=staff).json()
    operators = client.get("/api/v1/operators", headers=admin).json()
    known = {
        "facility_id": fid,
        "hold_id": open_hold["hold_id"],
        "placement_id": stay["placement_id"],
        "plan_id": plan["plan_id"],
        "notice_id": notices[0]["id"] if notices else 1,
        "operator_id": operators[0]["id"],
        "waitlist_id": waiting["waitlist_id"],
    }
    assert other["id"] != fid
    return headers, known


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("fuzz") / "broker.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
    config = Settings(
        database_url=url,
        stale_after_minutes=24 * 60,
        token_ttl_minutes=365 * 24 * 60,
        police_answer_ms=1,
        plan_seconds_batch=1,
        plan_seconds_transfers=1,
        plan_seconds_evacuation=1,
    )
    clock = TestClock()
    with TestClient(app=create_app(config, clock=clock), raise_server_exceptions=False) as client:
        headers, known = _populate(client, Accounts(config, client, clock))
        document = client.get("/schema/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # the document itself must be valid
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            if operation.path.startswith(("/api/", "/health")) and key not in SKIPPED:
                operations.append(operation)
        yield World(client, headers, known, operations, request.param)


def _send(client: TestClient[Any], case: Any, headers: dict[str, str]) -> Any:
    sent = case.as_transport_kwargs(base_url=str(client.base_url))
    body: dict[str, Any] = {}
    if "json" in sent:
        body["json"] = sent["json"]
    elif isinstance(sent.get("data"), bytes | str):
        body["content"] = sent["data"]
    elif sent.get("data") is not None:
        body["data"] = sent["data"]
    request_headers = {
        key: value
        for key, value in sent["headers"].items()
        if key.lower() in ("content-type", "accept")
    }
    return client.request(
        sent["method"],
        sent["url"],
        params=sent.get("params") or None,
        headers={**request_headers, **headers},
        **body,
    )


def _problem(response: Any) -> str | None:
    """What is wrong with ``response``, or None."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} not in the error shape: {response.text[:300]}"
    if not isinstance(error, dict) or set(error) != ERROR_KEYS:
        return f"{response.status_code} error keys {error!r}"
    if error["status"] != response.status_code or not isinstance(error["details"], list):
        return f"{response.status_code} error body {error!r}"
    return None


# Values a generator reaches rarely by chance and that once made the broker answer 500:
# integers past the database's ranges, control characters, instants with no UTC form.
HOSTILE_INTEGERS = [2**31 - 1, 2**31, 2**63, 10**24, -1, 0]
HOSTILE_STRINGS = [
    "a\x00b",
    "\x1b[2J",
    "\ud7ff\ufffe",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "x" * 5000,
]


def _hostile_values(parameter: Any) -> st.SearchStrategy[Any]:
    if "integer" in json.dumps(parameter.definition.get("schema", {})):
        return st.sampled_from(HOSTILE_INTEGERS)
    return st.sampled_from(HOSTILE_STRINGS)


def _hostile(operation: Any) -> st.SearchStrategy[Any] | None:
    """Cases whose path and query parameters are hostile values, if it has any."""
    path = {p.name: _hostile_values(p) for p in operation.path_parameters}
    query = {p.name: _hostile_values(p) for p in operation.query}
    if not path and not query:
        return None
    return st.tuples(
        st.fixed_dictionaries(path), st.fixed_dictionaries({}, optional=query)
    ).flatmap(
        lambda chosen: operation.as_strategy(
            path_parameters=chosen[0] or None, query=chosen[1] or None
        )
    )


def _cases(operation: Any, known: dict[str, Any]) -> st.SearchStrategy[Any]:
    names = {parameter.name for parameter in operation.path_parameters if parameter.name in known}
    existing = {name: known[name] for name in names}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if existing:
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=existing) for mode in modes
        ]
    hostile = _hostile(operation)
    if hostile is not None:
        strategies.append(hostile)
    return st.one_of(strategies)


def _fuzz(world: World, operation: Any, role: str, failures: list[str]) -> Counter[str]:
    """Sends the operation's examples as ``role``; counts the answers by status class."""
    label = f"{operation.method.upper()} {operation.path} as {role}"
    headers = world.headers[role]
    sent: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES[world.database],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, world.known))
    def run(case: Any) -> None:
        response = _send(world.client, case, headers)
        sent[f"{response.status_code // 100}xx"] += 1
        problem = _problem(response)
        if problem is not None:
            failures.append(
                f"{label}: path {case.path_parameters} query {case.query} "
                f"body {str(case.body)[:200]} -> {problem}"
            )

    run()
    if list(operation.body):
        # a body nested far deeper than any generator goes, at the operation's real objects
        values = {p.name: world.known.get(p.name, 1) for p in operation.path_parameters}
        response = world.client.request(
            operation.method.upper(),
            operation.path.format(**values),
            content=DEEP,
            headers={**headers, "content-type": "application/json"},
        )
        sent[f"{response.status_code // 100}xx"] += 1
        problem = _problem(response)
        if problem is not None:
            failures.append(f"{label}: 50000-deep body -> {problem}")
    return sent


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_5xx_or_outside_the_error_shape(world: World, role: str) -> None:
    started = time.monotonic()
    failures: list[str] = []
    sent: Counter[str] = Counter()
    for operation in world.operations:
        sent += _fuzz(world, operation, role, failures)
    elapsed = time.monotonic() - started
    print(
        f"\n{role} on {world.database}: {len(world.operations)} operations, "
        f"{sum(sent.values())} requests {dict(sorted(sent.items()))}, {elapsed:.1f}s"
    )
    assert sum(sent.values()) >= len(world.operations)
    assert sent["2xx"] > 0  # some requests got past the checks into the handlers
    assert failures == [], "\n".join(failures[:20])
