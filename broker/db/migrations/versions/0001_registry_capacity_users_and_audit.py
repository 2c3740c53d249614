"""registry, capacity, users and audit

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op



revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('flexible_transfers', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('subject_type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_user_id'), ['user_id'], unique=False)

    op.create_table('facilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('total_units', sa.Integer(), nullable=False),
    sa.Column('total_beds', sa.Integer(), nullable=False),
    sa.Column('boys_max_age', sa.Integer(), nullable=True),
    sa.Column('admits_adult_men', sa.Boolean(), nullable=False),
    sa.Column('wheelchair_units', sa.Integer(), nullable=False),
    sa.Column('accepts_pets', sa.Boolean(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('night_admission', sa.Boolean(), nullable=False),
    sa.Column('accepts_reentry', sa.Boolean(), nullable=False),
    sa.Column('meeting_point', sa.String(length=1000), nullable=False),
    sa.Column('address_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('reported_free_units', sa.Integer(), nullable=False),
    sa.Column('reported_free_beds', sa.Integer(), nullable=False),
    sa.Column('capacity_reported_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('reported_free_beds >= 0 AND reported_free_beds <= total_beds', name='ck_free_beds'),
    sa.CheckConstraint('reported_free_units >= 0 AND reported_free_units <= total_units', name='ck_free_units'),
    sa.CheckConstraint('total_units >= 1 AND total_beds >= total_units', name='ck_totals'),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('facilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facilities_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_facilities_operator_id'), ['operator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_facilities_region'), ['region'], unique=False)

    op.create_table('capacity_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('free_units', sa.Integer(), nullable=False),
    sa.Column('free_beds', sa.Integer(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=False),
    sa.Column('reported_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ),
    sa.ForeignKeyConstraint(['reported_by_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('capacity_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capacity_reports_facility_id'), ['facility_id'], unique=False)

    op.create_table('user_facilities',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'facility_id')
    )
    with op.batch_alter_table('user_facilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_facilities_facility_id'), ['facility_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('user_facilities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_facilities_facility_id'))

    op.drop_table('user_facilities')
    with op.batch_alter_table('capacity_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capacity_reports_facility_id'))

    op.drop_table('capacity_reports')
    with op.batch_alter_table('facilities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facilities_region'))
        batch_op.drop_index(batch_op.f('ix_facilities_operator_id'))
        batch_op.drop_index(batch_op.f('ix_facilities_kind'))

    op.drop_table('facilities')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_user_id'))

    op.drop_table('credentials')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    op.drop_table('users')
    op.drop_table('operators')
