"""Schema migrations, driven through Alembic's API so the CLI needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from broker.db.engine import make_engine, normalise_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser would treat '%' in a password as interpolation
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head", *, audit_key: bytes | None = None) -> None:
    """Migrate to ``revision``. ``audit_key`` chains audit entries stored before the chain
    existed (migration 0005); without it the environment's settings give the key."""
    config = alembic_config(database_url)
    if audit_key:
        config.attributes["audit_key"] = audit_key
    command.upgrade(config, revision)


def pending_revisions(database_url: str) -> bool:
    """True when the database is not at the newest migration."""
    config = alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return current != head
