"""--where filters are parsed and checked, never pasted into SQL."""

from __future__ import annotations

import duckdb
import pytest

from jejak.where import FilterError, compile_filter

COLS = ["NIK", "KDKANTOR", "GAJI", "NAMA"]


@pytest.mark.parametrize(
    ("text", "expected_keys"),
    [
        ("KDKANTOR = '0901'", {"a"}),
        ("substr(NIK, 1, 2) IN ('31', '32')", {"a", "b"}),
        ("kdkantor <> '0901' AND NAMA LIKE 'B%'", {"b"}),
        ("CAST(GAJI AS BIGINT) BETWEEN 1000000 AND 5000000", {"a"}),
        ("NOT (NIK IS NULL)", {"a", "b", "c"}),
    ],
)
def test_allowed_filters_select_the_expected_rows(text: str, expected_keys: set[str]) -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('a', '3171010101900001', '0901', '4500000', 'ANI'),"
        " ('b', '3271010101900002', '1001', '9000000', 'BUDI'), ('c', '1171010101900003', '0101', '100', 'CICI'))"
        " v(k, NIK, KDKANTOR, GAJI, NAMA)"
    )
    sql = compile_filter(text, COLS)
    assert {r[0] for r in con.execute(f"SELECT k FROM t WHERE {sql}").fetchall()} == expected_keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NIK IN (SELECT NIK FROM other)", "may not use"),
        ("read_csv('/etc/passwd') IS NOT NULL", "may not use"),
        ("UNKNOWN_COL = 1", "does not have"),
        ("t.NIK = '1'", "plain names"),
        ("NIK = ", "not a valid expression"),
        ("NIK", "must be a condition"),
        ("1; DROP TABLE rows_peserta", "condition"),
    ],
)
def test_disallowed_filters_are_refused(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(text, COLS)


def test_an_unclosed_quote_is_refused_without_quoting_the_filter() -> None:
    # sqlglot's tokenizer error quotes the whole filter, and a filter may quote a person's NIK.
    with pytest.raises(FilterError, match="not closed") as refused:
        compile_filter("NIK = '3171010101900001", COLS)
    assert "3171010101900001" not in str(refused.value)
