"""integrity constraints: one current stay per case, one successor per stay, one
confirmation per hold, one open transfer per stay

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

A database that already holds one of these impossible states (left by a race before this
revision) cannot take the unique indexes: ``broker db check`` names the rows to mend first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPEN_TRANSFER = "state = 'open' AND transfer_from_placement_id IS NOT NULL"


def _backfill_case_ids() -> None:
    """Every placement gets the id of the first placement of its transfer chain."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, previous_placement_id FROM placements")).all()
    previous = {row_id: prev for row_id, prev in rows}
    for row_id in previous:
        root, seen = row_id, {row_id}
        while previous.get(root) is not None and previous[root] not in seen:
            root = previous[root]
            seen.add(root)
        connection.execute(
            sa.text("UPDATE placements SET case_id = :root WHERE id = :id"),
            {"root": root, "id": row_id},
        )


def upgrade() -> None:
    op.add_column("placements", sa.Column("case_id", sa.String(length=32), nullable=True))
    _backfill_case_ids()
    op.create_index("uq_placements_hold", "placements", ["hold_id"], unique=True)
    op.create_index(
        "uq_placements_previous", "placements", ["previous_placement_id"], unique=True
    )
    op.create_index(
        "uq_placements_active_case",
        "placements",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "uq_holds_open_transfer",
        "holds",
        ["transfer_from_placement_id"],
        unique=True,
        sqlite_where=sa.text(_OPEN_TRANSFER),
        postgresql_where=sa.text(_OPEN_TRANSFER),
    )


def downgrade() -> None:
    op.drop_index("uq_holds_open_transfer", table_name="holds")
    op.drop_index("uq_placements_active_case", table_name="placements")
    op.drop_index("uq_placements_previous", table_name="placements")
    op.drop_index("uq_placements_hold", table_name="placements")
    with op.batch_alter_table("placements") as batch:
        batch.drop_column("case_id")
