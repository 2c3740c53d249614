"""The migrated schema is exactly what the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import broker.db.models  # noqa: F401
from broker.db import models_planning, models_simulation  # noqa: F401
from broker.db.engine import make_engine
from broker.db.migrate import pending_revisions


def test_migrations_match_the_models(database_url: str) -> None:
    assert not pending_revisions(database_url)
    engine = make_engine(database_url, pool_size=1)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_database_refuses_capacity_outside_totals(database_url: str) -> None:
    import pytest
    import sqlalchemy as sa

    engine = make_engine(database_url, pool_size=1)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO operators (name, flexible_transfers, created_at) VALUES ('o', false, CURRENT_TIMESTAMP)"
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO facilities (name, kind, operator_id, region, total_units, total_beds,"
            " admits_adult_men, wheelchair_units, accepts_pets, languages, night_admission,"
            " accepts_reentry, meeting_point, reported_free_units, reported_free_beds,"
            " created_at, updated_at) VALUES ('f', 'crisis_centre', 1, 'Pest', 2, 4, false, 0,"
            " false, '[]', true, true, 'm', 3, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    engine.dispose()
