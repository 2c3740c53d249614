"""plans: the risk-weighted placements a plan makes, and the proven bound on them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plans stored before carry neither: null, shown as unknown
    op.add_column("plans", sa.Column("placements", sa.Integer(), nullable=True))
    op.add_column("plans", sa.Column("placements_bound", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("placements_bound")
        batch.drop_column("placements")
