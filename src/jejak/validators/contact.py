"""Phones, e-mail addresses, NPWP and BPJS card numbers."""

from __future__ import annotations

import re

import phonenumbers

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NPWP = re.compile(r"\d{2}\.?\d{3}\.?\d{3}\.?\d-?\d{3}\.?\d{3}")
_CARD = re.compile(r"\d{13}")


def phone_normalise(text: str) -> str | None:
    """E.164 (``+6281234567890``) for a valid Indonesian number in any common writing, else None."""
    try:
        number = phonenumbers.parse(text, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_normalise(text: str) -> str | None:
    t = text.strip().lower()
    return t if _EMAIL.fullmatch(t) else None


def npwp_is_valid(text: str) -> bool:
    """15-digit NPWP, plain or formatted (01.234.567.8-901.000); 16 digits = the new NIK-based NPWP."""
    digits = re.sub(r"[.\-\s]", "", text)
    return bool(_NPWP.fullmatch(text.strip()) or (len(digits) == 16 and digits.isdigit()))


def card_is_valid(text: str) -> bool:
    """BPJS card number (noka): exactly 13 digits, leading zeros kept."""
    return bool(_CARD.fullmatch(text))
