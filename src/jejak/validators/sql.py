"""The validators as DuckDB macros, so whole columns are checked at millions of rows per second."""

from __future__ import annotations

import duckdb

from jejak.validators import address, nik

_NIK_MACROS = r"""
CREATE OR REPLACE TEMP MACRO jj_nik_shape(x) AS
    regexp_full_match(x, '[0-9]{16}') AND substr(x, 13, 4) <> '0000'
    AND (TRY_CAST(substr(x, 7, 2) AS INTEGER) BETWEEN 1 AND 31
         OR TRY_CAST(substr(x, 7, 2) AS INTEGER) BETWEEN 41 AND 71)
    AND TRY_CAST(substr(x, 9, 2) AS INTEGER) BETWEEN 1 AND 12;
CREATE OR REPLACE TEMP MACRO jj_nik_valid(x) AS
    coalesce(jj_nik_shape(x) AND substr(x, 1, 6) IN (SELECT prefix FROM jj_districts), false);
"""
_MACROS = r"""
CREATE OR REPLACE TEMP MACRO jj_card_valid(x) AS coalesce(regexp_full_match(x, '[0-9]{13}'), false);
CREATE OR REPLACE TEMP MACRO jj_email_norm(x) AS
    CASE WHEN regexp_full_match(lower(trim(x)), '[a-z0-9._%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}')
         THEN lower(trim(x)) END;
CREATE OR REPLACE TEMP MACRO jj_phone_digits(x) AS regexp_replace(x, '[^0-9]', '', 'g');
CREATE OR REPLACE TEMP MACRO jj_phone_ok(x) AS regexp_full_match(jj_phone_digits(x), '(0|62)8[1-9][0-9]{6,10}');
CREATE OR REPLACE TEMP MACRO jj_phone_norm(x) AS
    CASE WHEN jj_phone_ok(x)
         THEN '+62' || regexp_replace(jj_phone_digits(x), '^(0|62)', '') END;
"""


def macro_source() -> str:
    """The text of every macro :func:`install` creates (see ``normalise.macro_source``)."""
    return _MACROS + address.macro_sql() + _NIK_MACROS


def install(con: duckdb.DuckDBPyConnection, *, nik_macros: bool = True) -> None:
    """Create the district table and the ``jj_*`` macros in ``con`` (idempotent).

    ``nik_macros=False`` skips the district table and the NIK macros that need it: loading the
    7,000 districts costs more than half a second, and a release only needs the contact macros.
    """
    con.execute(_MACROS)
    con.execute(address.macro_sql())
    if not nik_macros:
        return
    rows = nik.region_table()
    # Lists as query parameters, not a pyarrow table: building one from Python strings makes
    # pyarrow import pandas, which alone costs over a second on every import and investigation.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE jj_districts AS "
        "SELECT unnest($prefix) AS prefix, unnest($province) AS province, unnest($regency) AS regency",
        {"prefix": [r[0] for r in rows], "province": [r[1] for r in rows], "regency": [r[3] for r in rows]},
    )
    con.execute(_NIK_MACROS)
