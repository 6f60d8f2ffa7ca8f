"""Canaries as keyed tags: no canary value in plaintext.

Until now ``canaries`` held each canary's card number, NIK, name, phone, e-mail and birth date
as released, so anyone who could read the ledger could copy release B's canary into a leak and
make recipient B look guilty. From here ``canaries`` holds only tags (hex SHA-256 keyed by the
canary index key, which derives from the master secret and is never in the ledger) and the
family each canary was drawn in.

A migration has no master secret, so it cannot compute tags: the plaintext rows move, unchanged,
into ``canaries_unsealed``, and ``Ledger.seal_canaries`` (run by every command that holds the
secret when it opens the ledger) turns them into tags and deletes them, in one transaction.
``canaries_unsealed`` refuses UPDATE (plaintext is never edited, only sealed away); ``canaries``
keeps the append-only triggers. On SQLite, ``secure_delete`` makes the dropped table's pages
zeros rather than free pages that still hold the values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_PLAIN = ("canary_key", "nik", "noka", "phone", "email", "name", "birth_date")
_TAGS = ("key", "nik", "noka", "name", "phone", "email", "birth_date")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
    op.create_table(
        "canaries_unsealed",
        *_plain_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_canaries_unsealed"),
        sa.UniqueConstraint("release_id", "canary_key", name="uq_canaries_unsealed_release_id_canary_key"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.release_id"], name="fk_canaries_unsealed_release_id"),
    )
    cols = ", ".join(("id", "release_id", "dataset") + _PLAIN)
    op.execute(f"INSERT INTO canaries_unsealed ({cols}) SELECT {cols} FROM canaries ORDER BY id")
    _drop_triggers("canaries")
    op.drop_index("ix_canaries_nik", table_name="canaries")
    op.drop_index("ix_canaries_noka", table_name="canaries")
    op.drop_table("canaries")
    op.create_table(
        "canaries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("family", sa.Integer, nullable=True),
        *(sa.Column(f"{f}_tag", sa.String(64), nullable=f != "key") for f in _TAGS),
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
        sa.UniqueConstraint("release_id", "key_tag", name="uq_canaries_release_id_key_tag"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.release_id"], name="fk_canaries_release_id"),
        # A guard rail: a 13-digit card number or a name cannot be written where a tag belongs.
        *(sa.CheckConstraint(f"length({f}_tag) = 64", name=f"ck_canaries_{f}_tag") for f in _TAGS),
    )
    _create_triggers("canaries", ("UPDATE", "DELETE"))
    _create_triggers("canaries_unsealed", ("UPDATE",))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM canaries")).scalar():
        raise RuntimeError("the ledger holds sealed canaries (tags only); revision 0001 cannot hold them")
    _drop_triggers("canaries")
    _drop_triggers("canaries_unsealed")
    op.drop_table("canaries")
    op.create_table(
        "canaries",
        *_plain_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
        sa.UniqueConstraint("release_id", "canary_key", name="uq_canaries_release_id_canary_key"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.release_id"], name="fk_canaries_release_id"),
    )
    op.create_index("ix_canaries_nik", "canaries", ["nik"])
    op.create_index("ix_canaries_noka", "canaries", ["noka"])
    cols = ", ".join(("id", "release_id", "dataset") + _PLAIN)
    op.execute(f"INSERT INTO canaries ({cols}) SELECT {cols} FROM canaries_unsealed ORDER BY id")
    if bind.dialect.name == "postgresql":  # ids were copied: the sequence must continue after them
        op.execute("SELECT setval(pg_get_serial_sequence('canaries', 'id'), coalesce(max(id), 0) + 1, false) "
                   "FROM canaries")
    op.drop_table("canaries_unsealed")
    _create_triggers("canaries", ("UPDATE", "DELETE"))


def _plain_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("canary_key", sa.String(200), nullable=False),
        sa.Column("nik", sa.String(64), nullable=True),
        sa.Column("noka", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("birth_date", sa.String(32), nullable=True),
    ]


def _create_triggers(table: str, events: tuple[str, ...]) -> None:
    """The triggers of revision 0001, for ``table`` and ``events`` (its PostgreSQL function exists)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in events:
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the jejak ledger is append-only: {table} "
                f"cannot be changed or deleted'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE {' OR '.join(events)} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION jejak_append_only()"
        )
        if "DELETE" in events:  # row triggers do not see TRUNCATE
            op.execute(
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
