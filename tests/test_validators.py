"""NIK, phone, e-mail, NPWP and card validators; Python and DuckDB macros agree."""

from __future__ import annotations

import functools
from datetime import date

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jejak.validators import contact, nik, sql

JAKARTA_PUSAT_GAMBIR = "317101"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("3171014501900001", True),  # woman born 5 Jan 1990
        ("3171010501900001", True),  # man born 5 Jan 1990
        ("3171018101900001", False),  # day 81 is impossible even for women
        ("3171013201900001", False),  # day 32
        ("3171010513900001", False),  # month 13
        ("3171010501900000", False),  # serial 0000
        ("9999990501900001", False),  # unknown district
        ("317101050190001", False),  # 15 digits
        ("3171010502010001", True),  # 5 Feb 2001
        ("3171012902010001", False),  # 29 Feb 2001 does not exist
    ],
)
def test_nik_validity(value: str, valid: bool) -> None:
    assert nik.is_valid(value, date(2025, 1, 1)) is valid


def test_nik_decodes_region_sex_and_birth_date_with_inferred_century() -> None:
    info = nik.parse("3171014501900001", date(2025, 1, 1))
    assert info is not None
    assert (info.province_code, info.sex, info.birth_date) == ("31", "F", date(1990, 1, 5))
    assert "Jakarta" in info.province
    young = nik.parse("3171010501200001", date(2025, 1, 1))
    assert young is not None and young.birth_date == date(2020, 1, 5)


@given(st.dates(date(1930, 1, 1), date(2024, 12, 31)), st.sampled_from("MF"), st.integers(1, 9999))
def test_made_niks_parse_back(born: date, sex: str, serial: int) -> None:
    value = nik.make(JAKARTA_PUSAT_GAMBIR, born, sex, serial)
    info = nik.parse(value, date(2025, 1, 1))
    assert info is not None
    assert (info.sex, info.birth_date.month, info.birth_date.day) == (sex, born.month, born.day)
    if born.year > 1925:  # a 1920s birth would be read as the 2020s only if after the reference
        assert info.birth_date == born


@pytest.mark.parametrize("raw", ["081234567890", "6281234567890", "+62 812-3456-7890", "0812 3456 7890"])
def test_phone_writings_normalise_to_one_number(raw: str) -> None:
    assert contact.phone_normalise(raw) == "+6281234567890"


def test_invalid_phone_is_none() -> None:
    assert contact.phone_normalise("12") is None


def test_email_npwp_card() -> None:
    assert contact.email_normalise(" Budi.Santoso@GMAIL.com ") == "budi.santoso@gmail.com"
    assert contact.email_normalise("not an email") is None
    assert contact.npwp_is_valid("01.234.567.8-901.000") and contact.npwp_is_valid("012345678901000")
    assert not contact.npwp_is_valid("12345")
    assert contact.card_is_valid("0001234567890") and not contact.card_is_valid("1234567890")


def test_sql_macros_agree_with_python() -> None:
    values = [
        "3171014501900001", "3171018101900001", "3171010513900001", "3171010501900000", "9999990501900001",
        "317101050190001", "3171010501900001", "abc", "",
    ]
    con = duckdb.connect()
    sql.install(con)
    for v in values:
        got = con.execute("SELECT jj_nik_valid(?)", [v]).fetchall()[0][0]
        assert got == nik.is_valid(v)
    for raw in ["081234567890", "6281234567890", "+62 812-3456-7890", "0812 3456 7890"]:
        assert con.execute("SELECT jj_phone_norm(?)", [raw]).fetchall()[0][0] == contact.phone_normalise(raw)



@functools.cache
def _normalising_connection() -> duckdb.DuckDBPyConnection:
    from jejak.normalise import install

    con = duckdb.connect()
    install(con)
    return con


#: The full rule of jj_norm_code, before its shortcut for codes already in normal form.
FULL_CODE_RULE = "nullif(upper(replace(replace(replace(ltrim(trim($1), ''''), ' ', ''), '-', ''), '.', '')), '')"


@given(st.text(alphabet="0123456789ABCabc -.'\t", max_size=20))
def test_the_code_normaliser_shortcut_equals_the_full_rule(code: str) -> None:
    con = _normalising_connection()
    assert con.execute(f"SELECT jj_norm_code($1) IS NOT DISTINCT FROM {FULL_CODE_RULE}", [code]).fetchall()[0][0]
