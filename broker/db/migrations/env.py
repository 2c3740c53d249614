"""Alembic environment: runs migrations on the engine the broker itself would use."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import broker.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from broker.db import models_planning, models_simulation  # noqa: F401  (and theirs)
from broker.db.engine import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("alembic needs sqlalchemy.url; use 'broker db upgrade'")

engine = make_engine(url, pool_size=1)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
