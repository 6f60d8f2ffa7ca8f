"""Alembic migrations of the ledger, shipped inside the package (see ``jejak.ledger.store``)."""
