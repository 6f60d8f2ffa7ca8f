"""The ledger of recipients and releases (SQLite or PostgreSQL); see docs/ledger.md."""

from jejak.ledger.models import CANARY_FIELDS, RECIPIENT_KINDS, RELEASE_KINDS, TAG_FIELDS
from jejak.ledger.store import Ledger, LedgerError, Recipient, Recording, ReleaseEntry, ReleaseRecord

__all__ = [
    "CANARY_FIELDS",
    "RECIPIENT_KINDS",
    "RELEASE_KINDS",
    "TAG_FIELDS",
    "Ledger",
    "LedgerError",
    "Recipient",
    "Recording",
    "ReleaseEntry",
    "ReleaseRecord",
]
