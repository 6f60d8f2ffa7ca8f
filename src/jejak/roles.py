"""Column roles: what kind of personal data a column holds.

Roles are inferred from the values (never from header names, which leakers rename), shown to the
user, overridable, and stored with the dataset. Channels and the investigation depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import duckdb


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


@dataclass(frozen=True)
class RoleGuess:
    role: Role
    confidence: float  # share of sampled values supporting the role
    reason: str


_MEDICAL_WORDS = (
    "POSITIF|NEGATIF|COVID|SARS|PNEUMONIA|INFILTRAT|EFUSI|SUSPEK|DIAGNOS|LEUKOSIT|HEMOGLOBIN|TROMBOSIT"
    "|RONTGEN|THORAX|PARU|DEMAM|TUBERKULOSIS|DIABETES|HIPERTENSI|KARDIOMEGALI|CT SCAN|PCR|ANTIGEN"
)
_PATTERNS = {
    "nik": "jj_nik_valid(v)",
    "phone": "jj_phone_norm(v) IS NOT NULL",
    "card": "jj_card_valid(v)",
    "email": "jj_email_norm(v) IS NOT NULL",
    "npwp": r"regexp_full_match(v, '[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}\.?[0-9]-?[0-9]{3}\.?[0-9]{3}|[0-9]{16}')",
    "timestamp": r"regexp_full_match(v, '([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}/[0-9]{2}/[0-9]{4})"
    r"[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?')",
    "date": r"regexp_full_match(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}[-/][0-9]{2}[-/][0-9]{4}')",
    "icd10": r"regexp_full_match(upper(v), '[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?')",
    "medical_words": f"regexp_matches(upper(v), '{_MEDICAL_WORDS}')",
    "address": r"regexp_matches(upper(v), "
    r"'\b(JL|JLN|JALAN|GG|GANG|RT|RW|KEL|KELURAHAN|KEC|DESA|DUSUN|PERUM|BLOK|KOMP)\b')",
    "number": r"regexp_full_match(v, '[0-9]+([.,][0-9]+)?')",
    "leading_zero": "regexp_full_match(v, '0[0-9]+')",
    "code": r"regexp_full_match(v, '[A-Za-z0-9_./-]*[0-9][A-Za-z0-9_./-]*')",
    "name": r"regexp_full_match(v, '[A-Za-z][A-Za-z.'' -]{1,60}') AND len(string_split(trim(v), ' ')) <= 6",
}


def infer_roles(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], sample: int = 5_000
) -> dict[str, RoleGuess]:
    """Guess each column's role from a sample of its values; header names are never used."""
    from jejak.validators import sql

    sql.install(con)
    # One small sample table: every column's statistics then scan a few thousand rows, not the file.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_role_sample AS SELECT * FROM {table} LIMIT {sample}")
    try:
        stats = _column_stats(con, "_jj_role_sample", columns)
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_role_sample")
    out = {}
    for c in columns:
        if c not in stats:
            out[c] = RoleGuess(Role.TEXT, 0.0, "no values")
            continue
        n, distinct, fixed_width, shares = stats[c]
        out[c] = _decide(dict(zip(_PATTERNS, shares, strict=True)), n, distinct, fixed_width)
    return out


def _column_stats(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str]
) -> dict[str, tuple[int, int, bool, list[float]]]:
    """Per column with any non-blank value: count, distinct count, fixed width, pattern shares.

    One UNPIVOTed query for all columns: DuckDB spreads it over its threads, where a query per
    column ran one after the other.
    """
    if not columns:
        return {}
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    as_text = ", ".join(f"CAST({q} AS VARCHAR) AS {q}" for q in ('"' + c.replace('"', '""') + '"' for c in columns))
    shares = ", ".join(f"avg(CASE WHEN {expr} THEN 1.0 ELSE 0.0 END)" for expr in _PATTERNS.values())
    rows = con.execute(
        f"""SELECT c, count(*), count(DISTINCT v), min(length(v)) = max(length(v)), {shares}
            FROM (UNPIVOT (SELECT {as_text} FROM {table}) ON {quoted} INTO NAME c VALUE v)
            WHERE v IS NOT NULL AND trim(v) <> ''
            GROUP BY c"""
    ).fetchall()
    return {r[0]: (r[1], r[2], bool(r[3]), [float(x or 0) for x in r[4:]]) for r in rows}


def _decide(s: dict[str, float], n: int, distinct: int, fixed_width: bool) -> RoleGuess:
    few = distinct <= max(12, min(1000, n // 20))  # a small vocabulary relative to the sample
    rules: list[tuple[bool, Role, str]] = [
        (s["nik"] >= 0.9, Role.NIK, "valid NIKs (known district, birth date, serial)"),
        (s["phone"] >= 0.8 and not s["card"] >= 0.9 or s["phone"] >= 0.95, Role.PHONE, "Indonesian phone numbers"),
        (s["card"] >= 0.9, Role.CARD, "13-digit card numbers"),
        (s["email"] >= 0.8, Role.EMAIL, "e-mail addresses"),
        (s["npwp"] >= 0.9, Role.NPWP, "NPWP tax numbers"),
        (s["timestamp"] >= 0.9, Role.TIMESTAMP, "date and time values"),
        (s["date"] >= 0.9, Role.DATE, "dates"),
        (s["icd10"] >= 0.8 and not few or s["icd10"] >= 0.95, Role.MEDICAL, "ICD-10 diagnosis codes"),
        (s["medical_words"] >= 0.3, Role.MEDICAL, "medical findings or test results"),
        (s["address"] >= 0.5, Role.ADDRESS, "street, RT/RW or village words"),
        (s["number"] >= 0.95 and fixed_width and (s["leading_zero"] > 0 or not few), Role.IDENTIFIER if not few
         else Role.CATEGORY, "fixed-width codes"),
        (s["number"] >= 0.95 and not few, Role.AMOUNT, "numbers with many distinct values"),
        (few, Role.CATEGORY, f"{distinct} distinct values"),
        (s["code"] >= 0.95, Role.IDENTIFIER, "codes of letters and digits"),
        (s["name"] >= 0.9, Role.NAME, "alphabetic names of one to six words"),
        (fixed_width and distinct >= 0.9 * n, Role.IDENTIFIER, "distinct fixed-width codes"),
    ]
    keys = ["nik", "phone", "card", "email", "npwp", "timestamp", "date", "icd10", "medical_words", "address",
            "number", "number", None, "code", "name", None]
    for (hit, role, why), key in zip(rules, keys, strict=True):
        if hit:
            conf = s[key] if key else 1.0
            return RoleGuess(role, round(conf, 3), why)
    return RoleGuess(Role.TEXT, 1.0, "free text")


def parse_role_overrides(items: list[str]) -> dict[str, Role]:
    """``["COL=ROLE", ...]`` from ``--role``; unknown roles are refused with the valid ones listed."""
    from jejak.errors import JejakError

    out: dict[str, Role] = {}
    for item in items:
        col, sep, role = item.rpartition("=")
        if not sep or not col:
            raise JejakError(f"--role must look like COLUMN=ROLE, not {item!r}")
        try:
            out[col] = Role(role.strip().lower())
        except ValueError:
            raise JejakError(
                f"unknown role {role!r}; roles are: {', '.join(r.value for r in Role)}"
            ) from None
    return out
