"""The audit log: hash-chained entries and their signed checkpoints.

Written by hand with portable types, like the earlier revisions. Both tables are evidence of
what was done with the data, so the database refuses UPDATE and DELETE on them (and TRUNCATE on
PostgreSQL) with the triggers of revision 0001; the hash chain and the signatures catch whoever
gets past the triggers (see docs/audit.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("audit_log", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.CheckConstraint("length(hash) = 64", name="ck_audit_log_hash"),
        sa.CheckConstraint("length(prev_hash) = 64", name="ck_audit_log_prev_hash"),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
        sa.CheckConstraint("length(hash) = 64", name="ck_audit_checkpoints_hash"),
    )
    for table in _TABLES:
        _create_triggers(table)


def downgrade() -> None:
    for table in _TABLES:
        _drop_triggers(table)
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_table("audit_log")


def _create_triggers(table: str) -> None:
    """The append-only triggers of revision 0001 (its PostgreSQL function exists)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the jejak ledger is append-only: {table} "
                f"cannot be changed or deleted'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION jejak_append_only()"
        )
        op.execute(  # row triggers do not see TRUNCATE
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION jejak_append_only()"
        )


def _drop_triggers(table: str) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
