"""Address normalisation: equivalent writings meet, and Python and the DuckDB macro agree."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jejak.validators import sql
from jejak.validators.address import normalise


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    sql.install(c)
    return c


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jl. Merdeka No. 5", "JALAN MERDEKA NO 5"),
        ("Jln. Merdeka No.5", "jalan merdeka nomor 5"),
        ("Gg. Damai, RT 007/RW 008", "Gang Damai RT.07 RW.08"),
        ("RT 7 RW 8", "RT/RW 007/008"),
        ("Rt 12 Rw 06", "RT012 RW006"),
        ("Kel. Sukapura, Kec. Kiaracondong", "Kelurahan Sukapura Kecamatan Kiaracondong"),
        ("Kab. Bangkalan", "KABUPATEN BANGKALAN"),
        ("Ds. Kameme", "Desa Kameme"),
    ],
)
def test_equivalent_writings_of_an_address_normalise_to_one_form(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Jl. Merdeka No. 5", "Jl. Merdeka No. 6"), ("RT 7 RW 8", "RT 8 RW 7"), ("Kel. Sukapura", "Kec. Sukapura")],
)
def test_different_addresses_stay_different(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_a_typical_address_has_the_documented_normal_form() -> None:
    assert normalise("Jl. Merdeka No. 5, RT 007/RW 008, Kel. Sukapura") == "JL MERDEKA NO 5 RT 7 RW 8 KEL SUKAPURA"


_WORDS = ["Jl.", "Jln", "JALAN", "Gg.", "gang", "RT", "RW", "Rt.", "RT/RW", "Kel.", "kelurahan", "Kec", "KECAMATAN",
          "Kab.", "Kabupaten", "Desa", "Ds.", "Dusun", "No.", "NOMOR", "007", "12", "0", "/", ",", ".", " ", "  ",
          "\t", "Merdeka", "ß", "é", "\u00a0", "-", "_"]
ADDRESSES = st.one_of(
    st.lists(st.sampled_from(_WORDS), max_size=14).map("".join),
    st.lists(st.sampled_from(_WORDS), max_size=10).map(" ".join),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(ADDRESSES)
def test_python_and_duckdb_normalise_addresses_identically(con: duckdb.DuckDBPyConnection, s: str) -> None:
    assert con.execute("SELECT jj_addr_norm(?)", [s]).fetchall()[0][0] == normalise(s)


@settings(max_examples=300, deadline=None)
@given(ADDRESSES)
@example("RT/RW007/007")  # the joint form with no space before the first number (found by hypothesis)
def test_address_normalisation_is_idempotent(s: str) -> None:
    assert normalise(normalise(s)) == normalise(s)


def test_null_address_stays_null(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT jj_addr_norm(NULL)").fetchall()[0][0] is None
