"""The ``broker`` command line. Each command opens its own unit of work.

    broker db upgrade
    broker demo
    broker seed-synthetic --facilities N --seed S
    broker users create --username U --role R [--facility ID ...] --password-stdin
    broker keys create --username U [--label L]
    broker serve [--host H] [--port P]

The database is taken from BROKER_DATABASE_URL (default: an SQLite file under var/).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from broker.crypto import AddressCipher, Passwords
from broker.db.engine import make_engine, unit_of_work
from broker.db.migrate import pending_revisions, upgrade
from broker.domain.access import Role
from broker.domain.rules import load_rules
from broker.errors import BrokerError, ConfigurationError
from broker.network import DemoLogin
from broker.settings import Settings, load_settings


def _now() -> datetime:
    return datetime.now(UTC)


def _require_schema(settings: Settings) -> None:
    if pending_revisions(settings.database_url):
        raise ConfigurationError("the database schema is not current; run 'broker db upgrade'")


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print("database schema is current")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from broker.network import demo_loaded, demo_logins, load_demo

    if settings.is_production:
        raise ConfigurationError("the demo network has published passwords; production refuses it")
    _require_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            if args.if_empty and demo_loaded(session=session):
                print("the database already holds a network; demo not loaded again")
                _print_logins(demo_logins(settings.data_dir / "demo_network.toml"))
                return 0
            summary = load_demo(
                session=session,
                rules=load_rules(settings.data_dir),
                cipher=AddressCipher(settings.address_key_bytes),
                passwords=Passwords(),
                path=settings.data_dir / "demo_network.toml",
                now=_now(),
            )
    finally:
        engine.dispose()
    print(f"demo network loaded: {summary.facilities} facilities, {summary.beds} beds")
    _print_logins(summary.logins)
    return 0


def _print_logins(logins: list[DemoLogin]) -> None:
    print("demo logins (username / password / role):")
    for login in logins:
        where = f"  [{', '.join(login.facilities)}]" if login.facilities else ""
        print(f"  {login.username:<14} {login.password:<26} {login.role}{where}")


def cmd_seed_synthetic(settings: Settings, args: argparse.Namespace) -> int:
    from broker.network import load_synthetic

    _require_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            summary = load_synthetic(
                session=session,
                rules=load_rules(settings.data_dir),
                cipher=AddressCipher(settings.address_key_bytes),
                count=args.facilities,
                seed=args.seed,
                now=_now(),
            )
    finally:
        engine.dispose()
    print(f"synthetic network loaded: {summary.facilities} facilities, {summary.beds} beds")
    return 0


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import user_create

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    _require_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            principal = user_create(
                session=session,
                passwords=Passwords(),
                username=args.username,
                role=args.role,
                password=password,
                facility_ids=args.facility or [],
                now=_now(),
            )
    finally:
        engine.dispose()
    print(f"created user {principal.username} ({principal.role.value}) with id {principal.user_id}")
    return 0


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from broker.services.accounts import api_key_create

    _require_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            key = api_key_create(
                session=session,
                token_secret=settings.token_secret_bytes,
                username=args.username,
                label=args.label,
                now=_now(),
            )
    finally:
        engine.dispose()
    print(key)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    _require_schema(settings)
    host, port = args.host or settings.host, args.port or settings.port
    print(f"broker serving at http://{host}:{port}  (mode: {settings.mode})", flush=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
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

    demo = commands.add_parser("demo", help="load the fictional demo network and demo accounts")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if facilities exist")
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

    keys = commands.add_parser("keys", help="API keys for machine clients").add_subparsers(
        dest="keys_command", required=True
    )
    key_create = keys.add_parser("create", help="issue an API key (printed once)")
    key_create.add_argument("--username", required=True)
    key_create.add_argument("--label", default="api key")
    key_create.set_defaults(run=cmd_keys_create)

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
