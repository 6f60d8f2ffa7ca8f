"""Column roles: what kind of personal data a column holds.

Roles are inferred from the values (never from header names, which leakers rename), shown to the
user, overridable, and stored with the dataset. Channels and the investigation depend on them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    NIK = "nik"  # 16-digit national identity number
    CARD = "card"  # BPJS card number (noka), 13 digits with leading zeros
    NPWP = "npwp"  # tax number
    IDENTIFIER = "identifier"  # other codes that identify a record (facility code, user id, ...)
    NAME = "name"  # a person's name
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    DATE = "date"
    TIMESTAMP = "timestamp"
    AMOUNT = "amount"
    CATEGORY = "category"  # a small set of codes/labels (sex, status, branch office, religion)
    MEDICAL = "medical"  # health data: diagnoses, test results, findings (specific data under UU PDP)
    TEXT = "text"  # free text


#: Roles whose values jejak never changes in a release (the brief's "identity values").
IDENTITY_ROLES = frozenset({Role.NIK, Role.CARD, Role.NPWP, Role.NAME, Role.DATE, Role.MEDICAL})
