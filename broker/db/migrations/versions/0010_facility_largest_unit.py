"""facilities: beds in the largest unit (null: no limit on a family's size)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases: existing facilities keep no limit
    op.add_column("facilities", sa.Column("largest_unit_beds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("facilities") as batch:
        batch.drop_column("largest_unit_beds")
