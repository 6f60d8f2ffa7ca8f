"""Recipients, releases and canaries.

Written by hand with portable types (it must not import the models: a migration is frozen
history, the models move on). Releases and canaries are evidence, so the database itself
refuses UPDATE and DELETE on them (a trigger per backend); recipients stay editable.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_RECIPIENT_KINDS = "kind IN ('branch', 'vendor', 'hospital', 'ministry', 'researcher', 'other')"
_RELEASE_KINDS = "kind IN ('marked', 'registered')"
_PROTECTED = ("releases", "canaries")


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("contact", sa.String(500), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
        sa.UniqueConstraint("name", name="uq_recipients_name"),
        sa.CheckConstraint(_RECIPIENT_KINDS, name="ck_recipients_kind"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("registry_version", sa.String(200), nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("filter", sa.Text, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("canaries", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("file_name", sa.String(500), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("file_format", sa.String(20), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.UniqueConstraint("release_id", name="uq_releases_release_id"),
        sa.ForeignKeyConstraint(["recipient"], ["recipients.name"], name="fk_releases_recipient"),
        sa.CheckConstraint(_RELEASE_KINDS, name="ck_releases_kind"),
    )
    op.create_index("ix_releases_recipient", "releases", ["recipient"])
    op.create_index("ix_releases_dataset", "releases", ["dataset"])
    op.create_table(
        "canaries",
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
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
        sa.UniqueConstraint("release_id", "canary_key", name="uq_canaries_release_id_canary_key"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.release_id"], name="fk_canaries_release_id"),
    )
    op.create_index("ix_canaries_nik", "canaries", ["nik"])
    op.create_index("ix_canaries_noka", "canaries", ["noka"])
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("canaries")
    op.drop_table("releases")
    op.drop_table("recipients")


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _PROTECTED:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the jejak ledger is append-only: {table} "
                    f"cannot be changed or deleted'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION jejak_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the jejak ledger is append-only: % cannot be changed or deleted', "
            "TG_TABLE_NAME; END $$"
        )
        for table in _PROTECTED:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION jejak_append_only()"
            )
            # Row triggers do not see TRUNCATE.
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION jejak_append_only()"
            )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _PROTECTED:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    elif dialect == "postgresql":
        for table in _PROTECTED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS jejak_append_only()")
