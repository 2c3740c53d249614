"""police inquiries: identity hashes, inquiries, notices to facilities

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resident_identities",
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"]),
        sa.PrimaryKeyConstraint("placement_id"),
    )
    op.create_index("ix_resident_identities_digest", "resident_identities", ["digest"])
    op.create_table(
        "police_inquiries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("officer_user_id", sa.Integer(), nullable=False),
        sa.Column("case_reference", sa.String(length=80), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("placed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["officer_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_police_inquiries_officer_at", "police_inquiries", ["officer_user_id", "asked_at"]
    )
    op.create_table(
        "inquiry_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inquiry_id", sa.String(length=32), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("case_reference", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["inquiry_id"], ["police_inquiries.id"]),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.id"]),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_inquiry_notices_facility", "inquiry_notices", ["facility_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("inquiry_notices")
    op.drop_table("police_inquiries")
    op.drop_table("resident_identities")
