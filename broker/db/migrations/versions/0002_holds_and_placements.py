"""holds and placements

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op



revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('holds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('counsellor_user_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('beds', sa.Integer(), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('decline_reason', sa.String(length=40), nullable=True),
    sa.Column('decline_note', sa.String(length=300), nullable=True),
    sa.Column('transfer_from_placement_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['counsellor_user_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_counsellor_user_id'), ['counsellor_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holds_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_holds_facility_state', ['facility_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_holds_transfer_from_placement_id'), ['transfer_from_placement_id'], unique=False)

    op.create_table('placements',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_code', sa.String(length=20), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('hold_id', sa.String(length=32), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('beds', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('prior_days', sa.Integer(), nullable=False),
    sa.Column('limit_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=40), nullable=True),
    sa.Column('previous_placement_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], ),
    sa.ForeignKeyConstraint(['previous_placement_id'], ['placements.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_code')
    )
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.create_index('ix_placements_facility_state', ['facility_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_placements_limit_at'), ['limit_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placements_limit_at'))
        batch_op.drop_index('ix_placements_facility_state')

    op.drop_table('placements')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_transfer_from_placement_id'))
        batch_op.drop_index('ix_holds_facility_state')
        batch_op.drop_index(batch_op.f('ix_holds_expires_at'))
        batch_op.drop_index(batch_op.f('ix_holds_counsellor_user_id'))

    op.drop_table('holds')
