"""waiting list: families waiting for a place, matched again by a scheduled job

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("counsellor_user_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("risk", sa.String(length=20), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("case_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("found_facility_id", sa.Integer(), nullable=True),
        sa.Column("found_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["counsellor_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["found_facility_id"], ["facilities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "ix_waitlist_entries_state_expires", "waitlist_entries", ["state", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_entries_state_expires", table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
