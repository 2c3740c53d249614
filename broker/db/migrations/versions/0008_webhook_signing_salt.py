"""webhook signing salt: each facility's webhook is signed under a secret of its own

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN needs no table rebuild on SQLite either. A webhook set before this revision
    # keeps an empty salt and is signed under its facility's secret from now on; setting it
    # again shows that secret (with a fresh salt) to the facility's staff.
    op.add_column(
        "facility_webhooks",
        sa.Column("secret_salt", sa.String(length=64), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("facility_webhooks", "secret_salt")
