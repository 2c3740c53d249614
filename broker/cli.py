"""The ``broker`` command line. Each command opens its own unit of work.

    broker db upgrade
    broker db check                           (exit 1 naming each broken invariant)
    broker demo [--if-empty] [--history DAYS]   (DAYS of simulated past: stays, unmet cases,
                                              daily statistics)
    broker simulate [--days N] [--seeds K] [--network demo|synthetic:N] [--policies P,...]
                    [--out DIR]                (the policy simulator; see broker.simulation)
    broker seed-synthetic --facilities N --seed S
    broker users create --username U --role R [--facility ID ...] --password-stdin
    broker users mfa enable --username U [--replace]   (prints the otpauth:// URI and the
                                                       recovery codes, once)
    broker users mfa disable --username U
    broker users unlock --username U          (ends a sign-in lock or throttle)
    broker users revoke --username U          (ends every session, token and API key)
    broker keys create --username U [--label L]
    broker audit verify
    broker jobs list
    broker jobs run JOB_ID [--at ISO-TIME]
    broker scheduler
    broker serve [--host H] [--port P]       (runs the scheduler too unless BROKER_SCHEDULER=off)

The database is taken from BROKER_DATABASE_URL (default: an SQLite file under var/).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from broker.crypto import Passwords
from broker.db.engine import make_engine, snapshot, unit_of_work
from broker.db.migrate import pending_revisions, upgrade
from broker.domain.access import Role
from broker.errors import BrokerError, ConfigurationError, InvalidInput
from broker.network import DemoLogin
from broker.services.context import ServiceContext
from broker.settings import Settings, load_settings


def _now() -> datetime:
    return datetime.now(UTC)


def _require_schema(settings: Settings) -> None:
    if pending_revisions(settings.database_url):
        raise ConfigurationError("the database schema is not current; run 'broker db upgrade'")


@contextmanager
def _command_session(settings: Settings, *, write: bool = True) -> Iterator[Session]:
    """A command's own unit of work, on a current schema; a read sees one snapshot."""
    _require_schema(settings)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with unit_of_work(
            engine if write else snapshot(engine), write=write, audit_key=settings.audit_key_bytes
        ) as session:
            yield session
    finally:
        engine.dispose()


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    upgrade(settings.database_url, audit_key=settings.audit_key_bytes)
    print("database schema is current")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from broker.network import demo_loaded, demo_logins, load_demo

    if settings.is_production:
        raise ConfigurationError("the demo network has published passwords; production refuses it")
    with _command_session(settings) as session:
        if args.if_empty and demo_loaded(session=session):
            print("the database already holds a network; demo not loaded again")
            _print_logins(demo_logins(settings.data_dir / "demo_network.toml"))
            return 0
        context = ServiceContext.from_settings(settings)
        now = _now()
        summary = load_demo(
            session=session,
            context=context,
            path=settings.data_dir / "demo_network.toml",
            now=now,
        )
        history = None
        if args.history:
            from broker.simulation.history import demo_history_write

            history = demo_history_write(
                session=session, context=context, days=args.history, now=now
            )
    print(f"demo network loaded: {summary.facilities} facilities, {summary.beds} beds")
    if history is not None:
        print(f"simulated past written: {history}")
    _print_logins(summary.logins)
    return 0


def _print_logins(logins: list[DemoLogin]) -> None:
    print("demo logins (username / password / role):")
    for login in logins:
        where = f"  [{', '.join(login.facilities)}]" if login.facilities else ""
        print(f"  {login.username:<14} {login.password:<26} {login.role}{where}")


def cmd_seed_synthetic(settings: Settings, args: argparse.Namespace) -> int:
    from broker.network import load_synthetic

    with _command_session(settings) as session:
        summary = load_synthetic(
            session=session,
            context=ServiceContext.from_settings(settings),
            count=args.facilities,
            seed=args.seed,
            now=_now(),
        )
    print(f"synthetic network loaded: {summary.facilities} facilities, {summary.beds} beds")
    return 0


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import common_passwords, user_create

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    with _command_session(settings) as session:
        principal = user_create(
            session=session,
            passwords=Passwords(),
            username=args.username,
            role=args.role,
            password=password,
            facility_ids=args.facility or [],
            now=_now(),
            refused_passwords=common_passwords(settings.data_dir),
        )
    print(f"created user {principal.username} ({principal.role.value}) with id {principal.user_id}")
    return 0


def cmd_users_mfa_enable(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import mfa_enable

    with _command_session(settings) as session:
        enrolment = mfa_enable(
            session=session,
            token_secret=settings.token_secret_bytes,
            username=args.username,
            now=_now(),
            replace=args.replace,
        )
    print("Add this to the authenticator app (shown once; the broker keeps it encrypted):")
    print(f"  {enrolment.uri}")
    print("Recovery codes, each valid once in place of a code (shown once; keep them apart")
    print("from the phone):")
    for code in enrolment.recovery_codes:
        print(f"  {code}")
    return 0


def cmd_users_mfa_disable(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import mfa_disable

    with _command_session(settings) as session:
        mfa_disable(session=session, username=args.username, now=_now())
    print(f"second factor of {args.username} removed")
    return 0


def cmd_users_unlock(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import unlock

    with _command_session(settings) as session:
        had = unlock(
            session=session,
            token_secret=settings.token_secret_bytes,
            username=args.username,
            now=_now(),
        )
    state = "its failed sign-ins are forgotten" if had else "it had no failed sign-ins"
    print(f"{args.username} unlocked: {state}")
    return 0


def cmd_users_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import revoke_all

    with _command_session(settings) as session:
        count = revoke_all(session=session, username=args.username, now=_now())
    print(f"{args.username}: {count} sessions, tokens and API keys revoked")
    return 0


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import api_key_create

    with _command_session(settings) as session:
        key = api_key_create(
            session=session,
            token_secret=settings.token_secret_bytes,
            username=args.username,
            label=args.label,
            now=_now(),
        )
    print(key)
    return 0


def cmd_db_check(settings: Settings, _args: argparse.Namespace) -> int:
    from broker.services.integrity import CHECK_CODES, integrity_check

    with _command_session(settings, write=False) as session:
        violations = integrity_check(
            session=session, audit_key=settings.audit_key_bytes, now=_now()
        )
    if not violations:
        print(f"database consistent: {len(CHECK_CODES)} invariants hold")
        return 0
    for violation in violations:
        print(f"VIOLATION {violation}", file=sys.stderr)
    print(f"{len(violations)} violations", file=sys.stderr)
    return 1


def cmd_audit_verify(settings: Settings, _args: argparse.Namespace) -> int:
    from broker.domain.audit_chain import ChainSummary
    from broker.services.audit import audit_chain_verify

    # one snapshot for the whole walk: entries appended meanwhile would lack their head
    with _command_session(settings, write=False) as session:
        result = audit_chain_verify(session=session, key=settings.audit_key_bytes)
    if isinstance(result, ChainSummary):
        print(f"audit chain intact: {result.count} entries, last hash {result.last_hash}")
        return 0
    print(
        f"audit chain broken at sequence {result.sequence} [{result.problem.value}]: "
        f"{result.message}",
        file=sys.stderr,
    )
    return 1


def _job_runner(settings: Settings, at: datetime | None = None) -> Any:
    from broker.jobs import Runner, default_client_factory

    return Runner(
        engine=make_engine(settings.database_url),
        services=ServiceContext.from_settings(settings),
        clock=(lambda: at) if at is not None else _now,
        client_factory=default_client_factory(settings),
    )


def cmd_jobs_list(settings: Settings, _args: argparse.Namespace) -> int:
    from broker.jobs import JOBS, last_runs

    _require_schema(settings)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        latest = last_runs(engine)
    finally:
        engine.dispose()
    print(f"{'job id':<28} {'schedule':<18} {'last run':<34} description")
    for spec in JOBS.values():
        run = latest.get(spec.id)
        last = "never" if run is None else f"{run.started_at:%Y-%m-%d %H:%M:%S} {run.outcome}"
        print(f"{spec.id:<28} {spec.schedule:<18} {last:<34} {spec.description}")
    return 0


def _parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--at must be an ISO date and time, got {text!r}") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    from broker.jobs import FAILED, JOBS

    if args.job_id not in JOBS:
        raise InvalidInput(f"no job {args.job_id!r}; 'broker jobs list' shows the job ids")
    _require_schema(settings)
    runner = _job_runner(settings, _parse_at(args.at))
    try:
        outcome = runner.run_now(args.job_id)
    finally:
        runner.engine.dispose()
    print(json.dumps({"job": outcome.job_id, "status": outcome.status, **outcome.summary}))
    return 1 if outcome.status == FAILED else 0


def cmd_scheduler(settings: Settings, _args: argparse.Namespace) -> int:
    from broker.jobs import build_scheduler

    _require_schema(settings)
    runner = _job_runner(settings)
    print(f"broker scheduler running as {runner.name}", flush=True)
    build_scheduler(runner, blocking=True).start()
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    _require_schema(settings)
    host, port = args.host or settings.host, args.port or settings.port
    scheduler = None
    jobs = "off (BROKER_SCHEDULER=off)"
    if settings.scheduler:
        from broker.jobs import build_scheduler

        runner = _job_runner(settings)
        scheduler = build_scheduler(runner)
        scheduler.start()
        jobs = f"on, as {runner.name}"
    print(
        f"broker serving at http://{host}:{port}  (mode: {settings.mode}; scheduled jobs: {jobs})",
        flush=True,
    )
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="broker", description="Shelter placement broker")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="migrate the schema to the newest version").set_defaults(
        run=cmd_db_upgrade
    )
    db.add_parser(
        "check", help="recompute the invariants from the rows; exit 1 naming each violation"
    ).set_defaults(run=cmd_db_check)

    demo = commands.add_parser("demo", help="load the fictional demo network and demo accounts")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if facilities exist")
    demo.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="DAYS",
        help="also write DAYS simulated past days (stays, unmet cases, daily statistics)",
    )
    demo.set_defaults(run=cmd_demo)

    synthetic = commands.add_parser("seed-synthetic", help="load a large synthetic network")
    synthetic.add_argument("--facilities", type=int, required=True)
    synthetic.add_argument("--seed", type=int, default=1)
    synthetic.set_defaults(run=cmd_seed_synthetic)

    users = commands.add_parser("users", help="accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--facility", type=int, action="append", help="facility id (shelter_staff)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(run=cmd_users_create)
    mfa = users.add_parser("mfa", help="the second factor (TOTP)").add_subparsers(
        dest="mfa_command", required=True
    )
    mfa_enable = mfa.add_parser(
        "enable", help="enrol: print the otpauth:// URI and ten recovery codes, once"
    )
    mfa_enable.add_argument("--username", required=True)
    mfa_enable.add_argument(
        "--replace", action="store_true", help="replace an existing second factor"
    )
    mfa_enable.set_defaults(run=cmd_users_mfa_enable)
    mfa_disable = mfa.add_parser("disable", help="remove the second factor and recovery codes")
    mfa_disable.add_argument("--username", required=True)
    mfa_disable.set_defaults(run=cmd_users_mfa_disable)
    unlock = users.add_parser("unlock", help="end the account's sign-in lock or throttle")
    unlock.add_argument("--username", required=True)
    unlock.set_defaults(run=cmd_users_unlock)
    revoke = users.add_parser("revoke", help="end every session, token and API key")
    revoke.add_argument("--username", required=True)
    revoke.set_defaults(run=cmd_users_revoke)

    keys = commands.add_parser("keys", help="API keys for machine clients").add_subparsers(
        dest="keys_command", required=True
    )
    key_create = keys.add_parser("create", help="issue an API key (printed once)")
    key_create.add_argument("--username", required=True)
    key_create.add_argument("--label", default="api key")
    key_create.set_defaults(run=cmd_keys_create)

    audit = commands.add_parser("audit", help="the hash-chained audit log").add_subparsers(
        dest="audit_command", required=True
    )
    audit.add_parser(
        "verify", help="check every entry's MAC and link; exit 0 only if the chain is intact"
    ).set_defaults(run=cmd_audit_verify)

    jobs = commands.add_parser("jobs", help="scheduled jobs").add_subparsers(
        dest="jobs_command", required=True
    )
    jobs.add_parser("list", help="the jobs, their schedules and last runs").set_defaults(
        run=cmd_jobs_list
    )
    job_run = jobs.add_parser("run", help="run one job once, now (or at --at)")
    job_run.add_argument("job_id")
    job_run.add_argument("--at", help="the time the job sees, e.g. 2026-11-22T03:00:00+00:00")
    job_run.set_defaults(run=cmd_jobs_run)
    commands.add_parser("scheduler", help="run the scheduled jobs alone").set_defaults(
        run=cmd_scheduler
    )

    from broker.simulation.command import add_simulate_command

    add_simulate_command(commands)

    serve = commands.add_parser("serve", help="serve the API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.run(settings, args))
    except BrokerError as problem:
        print(f"broker: {problem.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
