"""Alembic environment for the ledger.

jejak runs migrations itself (``Ledger.upgrade``) and passes its open connection in
``config.attributes["connection"]``; no alembic.ini is needed. A developer writing a new
migration sets ``sqlalchemy.url`` on an in-code ``Config`` instead (recipe in docs/ledger.md).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from jejak.ledger.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode lets future migrations run on both backends.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url on the alembic Config")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


main()
