"""audit chain: sequence and hashes on audit entries, the chain head, append-only triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Entries already stored are chained in id order with the audit key: the one given to
``broker db upgrade`` (``config.attributes["audit_key"]``), else the one the environment's
settings name.

SQLite rebuilds a table for most ``batch_alter_table`` changes and drops its triggers with
it: a later migration that alters ``audit_events`` or ``audit_chain_head`` that way must
create the triggers below again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from broker.domain.audit_chain import (
    GENESIS_HASH,
    EntryFields,
    canonical_detail,
    entry_mac,
    head_mac,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: no update'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: no delete'); END""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
    WHEN NEW.id <> OLD.id OR NEW.sequence <= OLD.sequence
    BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END""",
]
SQLITE_TRIGGER_NAMES = [
    "audit_events_no_update",
    "audit_events_no_delete",
    "audit_chain_head_forward_only",
    "audit_chain_head_no_delete",
]

# TRUNCATE fires no row trigger on PostgreSQL, hence the statement triggers.
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit entries are append-only: no % on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.sequence <= OLD.sequence THEN
            RAISE EXCEPTION 'the audit chain head only moves forward'
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
POSTGRES_DROPS = [
    "DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_no_delete ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_chain_head_forward_only()",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
]


def _audit_key() -> bytes:
    key = context.config.attributes.get("audit_key")
    if isinstance(key, bytes) and key:
        return key
    from broker.settings import load_settings

    return load_settings().audit_key_bytes


def _chain_existing_entries(connection: sa.Connection) -> None:
    events = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime),
        sa.column("detail", sa.JSON),
        *(
            sa.column(name)
            for name in (
                "id",
                "actor_user_id",
                "actor_role",
                "action",
                "subject_type",
                "subject_id",
                "sequence",
                "previous_hash",
                "entry_hash",
            )
        ),
    )
    rows = connection.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    if not rows:
        return
    key, previous_hash = _audit_key(), GENESIS_HASH
    for sequence, row in enumerate(rows, start=1):
        detail = canonical_detail(row["detail"])
        fields = EntryFields(
            sequence=sequence,
            at=row["at"],  # naive UTC as stored; hashed as UTC
            actor_user_id=row["actor_user_id"],
            actor_role=row["actor_role"],
            action=row["action"],
            subject_type=row["subject_type"],
            subject_id=row["subject_id"],
            detail=detail,
            previous_hash=previous_hash,
        )
        entry_hash = entry_mac(key, fields)
        connection.execute(
            events.update()
            .where(events.c.id == row["id"])
            .values(
                sequence=sequence,
                previous_hash=previous_hash,
                entry_hash=entry_hash,
                detail=detail,
            )
        )
        previous_hash = entry_hash
    connection.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, sequence, entry_hash, mac) "
            "VALUES (1, :sequence, :entry_hash, :mac)"
        ),
        {
            "sequence": len(rows),
            "entry_hash": previous_hash,
            "mac": head_mac(key, sequence=len(rows), entry_hash=previous_hash),
        },
    )


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    _chain_existing_entries(op.get_bind())
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("sequence", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("previous_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_audit_events_sequence"), ["sequence"], unique=True)
    statements = SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else POSTGRES_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for statement in POSTGRES_DROPS:
            op.execute(statement)
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_sequence"))
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("previous_hash")
        batch_op.drop_column("sequence")
