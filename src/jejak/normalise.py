"""How a leaked value is compared with a registry value: normalised by role, in SQL.

Leakers re-format: they lower-case, collapse whitespace, rewrite phones and dates, and a marked
release shifts timestamps by seconds and amounts by rupiah on purpose. Two values *agree* when
they are the same after normalising both sides the same way, and for the two robust carriers
when they are within the carrier's perturbation (timestamps within 40 minutes on the same day —
a release moves them by up to 30, and a leaker may add minutes of noise — whole amounts of at
least 1,000 within 9 rupiah): a leaked release is genuine data. All of it is DuckDB
SQL; the cheap raw comparison comes first so that normalisation only runs on cells that differ.
"""

from __future__ import annotations

import duckdb

from jejak.roles import Role

# Timestamps as leaks write them: ISO, Indonesian day-first (with dotted clocks too), Oracle's default
# (21-DEC-13 01.22.46.000000 AM), US. Those read to the second first, then those that keep the minute.
TS_SECOND_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ",
    "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d/%m/%Y %H.%M.%S", "%d-%m-%Y %H.%M.%S",
    "%d-%b-%y %I.%M.%S.%f %p", "%d-%b-%y %I.%M.%S %p", "%d-%b-%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p",
)
TS_MINUTE_FORMATS = (
    "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%d-%m-%Y %H:%M", "%Y/%m/%d %H:%M", "%d/%m/%Y %H.%M",
    "%d-%b-%y %I.%M %p",
)
TS_FORMATS = TS_SECOND_FORMATS + TS_MINUTE_FORMATS
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d") + TS_FORMATS

# try_strptime is slow on values that are not dates at all; a shape test first keeps it to dates.
_DATE_SHAPE = r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}([ T][0-9:.]{4,15})?|[0-9]{8}"
_TS_SHAPE = (r"[0-9]{1,4}[-/.]([0-9]{1,2}|[A-Za-z]{3})[-/.][0-9]{1,4}[ T][0-9]{1,2}[:.][0-9]{2}"
             r"([:.][0-9]{2}(\.[0-9]+)?)?Z?( ?[AaPp][Mm])?")

#: Seconds within which a leaked timestamp agrees with the registry's: the largest release shift
#: (30 minutes, policy 3) plus ten minutes of a leaker's noise.
TS_NEAR = 2_400

#: Roles that identify a person; they link rows and are not counted in `_agree`.
IDENTIFIER_ROLES = frozenset({Role.NIK, Role.CARD})


def _formats(fmts: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in fmts) + "]"


_MACROS = rf"""
CREATE OR REPLACE TEMP MACRO jj_blank(x) AS x IS NULL OR trim(x) = '';
CREATE OR REPLACE TEMP MACRO jj_norm_code(x) AS
    -- a code already in normal form (most of them) is returned as it is, at half the cost
    CASE WHEN regexp_full_match(x, '[0-9A-Z]+') THEN x
         ELSE nullif(upper(replace(replace(replace(ltrim(trim(x), ''''), ' ', ''), '-', ''), '.', '')), '') END;
CREATE OR REPLACE TEMP MACRO jj_norm_text(x) AS nullif(upper(regexp_replace(trim(x), '\s+', ' ', 'g')), '');
CREATE OR REPLACE TEMP MACRO jj_ts(x) AS
    CASE WHEN regexp_full_match(trim(x), '{_TS_SHAPE}') THEN try_strptime(trim(x), {_formats(TS_FORMATS)}) END;
CREATE OR REPLACE TEMP MACRO jj_date(x) AS
    CASE WHEN regexp_full_match(trim(x), '{_DATE_SHAPE}') THEN try_strptime(trim(x), {_formats(DATE_FORMATS)}) END;
CREATE OR REPLACE TEMP MACRO jj_norm_ts(x) AS coalesce(strftime(jj_ts(x), '%Y-%m-%d %H:%M:%S'), jj_norm_text(x));
CREATE OR REPLACE TEMP MACRO jj_norm_date(x) AS
    coalesce(strftime(jj_date(x), '%Y-%m-%d'), jj_norm_text(x));
CREATE OR REPLACE TEMP MACRO jj_amount_text(x) AS
    -- zero decimals (5.619.584,00 or 5619584.00) are dropped before the thousand separators
    regexp_replace(regexp_replace(trim(x), '^(Rp\.?|IDR)\s*', '', 'i'), '[.,]0{{1,2}}$', '');
CREATE OR REPLACE TEMP MACRO jj_amount(x) AS
    -- one or two digits after a separator are cents: not a whole amount (thousand groups have three)
    CASE WHEN NOT regexp_matches(jj_amount_text(x), '[.,][0-9]{{1,2}}$')
         THEN TRY_CAST(regexp_replace(jj_amount_text(x), '[.,\s]', '', 'g') AS BIGINT) END;
CREATE OR REPLACE TEMP MACRO jj_ts_near(a, b) AS
    CAST(jj_ts(a) AS DATE) = CAST(jj_ts(b) AS DATE) AND abs(epoch(jj_ts(a)) - epoch(jj_ts(b))) <= {TS_NEAR};
CREATE OR REPLACE TEMP MACRO jj_amount_near(a, b) AS
    least(jj_amount(a), jj_amount(b)) >= 991 AND abs(jj_amount(a) - jj_amount(b)) <= 9;
"""


def install(con: duckdb.DuckDBPyConnection) -> None:
    """The validators' macros plus the comparison macros above (idempotent)."""
    from jejak.validators import sql

    sql.install(con)
    con.execute(_MACROS)
    # The address normaliser lives with the validators once it exists; until then text rules apply.
    has_addr = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'jj_addr_norm'"
    ).fetchall()[0][0]
    addr = "jj_addr_norm(x)" if has_addr else "jj_norm_text(x)"
    con.execute(f"CREATE OR REPLACE TEMP MACRO jj_norm_addr(x) AS {addr}")
    # A role-blind canonical form for mapping columns whose role is not known yet (small samples only).
    con.execute(
        "CREATE OR REPLACE TEMP MACRO jj_norm_any(x) AS coalesce("
        "CASE WHEN regexp_full_match(trim(x), '[0-9]{13,16}') THEN trim(x) END, jj_phone_norm(x),"
        " strftime(jj_ts(x), '%Y-%m-%d %H:%M:%S'),"
        " strftime(jj_date(x), '%Y-%m-%d'), jj_norm_text(x))"
    )


def install_carrier_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The macros :func:`carrier_key_sql` calls, without the district table the NIK macros need
    (half a second an import would pay for nothing)."""
    from jejak.validators import sql

    sql.install(con, nik_macros=False)
    con.execute(_MACROS)


def macro_source() -> str:
    """The text of every macro the SQL of this module may call: a value stored from that SQL was
    made by it too, so a digest of what made the value includes it."""
    from jejak.validators import sql

    return sql.macro_source() + _MACROS


def norm_sql(role: Role | None, expr: str) -> str:
    """SQL normalising ``expr`` for comparison under ``role`` (NULL for an empty value)."""
    match role:
        case Role.NIK | Role.CARD | Role.NPWP | Role.IDENTIFIER:
            return f"jj_norm_code({expr})"
        case Role.PHONE:
            return f"coalesce(jj_phone_norm({expr}), jj_norm_code({expr}))"
        case Role.EMAIL:
            return f"nullif(lower(trim({expr})), '')"
        case Role.TIMESTAMP:
            return f"jj_norm_ts({expr})"
        case Role.DATE:
            return f"jj_norm_date({expr})"
        case Role.ADDRESS:
            return f"jj_norm_addr({expr})"
        case Role.AMOUNT:
            return f"coalesce(CAST(jj_amount({expr}) AS VARCHAR), jj_norm_text({expr}))"
        case _:
            return f"jj_norm_text({expr})"


def agree_sql(role: Role | None, leaked: str, registry: str) -> str:
    """TRUE/FALSE whether two cells agree; NULL when neither holds a value (nothing to compare).

    The raw comparison runs first: in a leak most cells are byte-identical to the registry, and
    DuckDB evaluates the later branches only for the rows that reach them.
    """
    near = ""
    if role == Role.TIMESTAMP:
        near = f" OR coalesce(jj_ts_near({leaked}, {registry}), false)"
    elif role == Role.AMOUNT:
        near = f" OR coalesce(jj_amount_near({leaked}, {registry}), false)"
    general = f"coalesce({norm_sql(role, leaked)} = {norm_sql(role, registry)}, false){near}"
    fast = _canonical_agree(role, leaked, registry)
    return (
        f"CASE WHEN {leaked} = {registry} AND {leaked} <> '' THEN true "
        f"WHEN jj_blank({leaked}) AND jj_blank({registry}) THEN NULL "
        f"WHEN jj_blank({leaked}) OR jj_blank({registry}) THEN false "
        f"ELSE {f'coalesce({fast}, {general})' if fast else general} END"
    )


def _canonical_agree(role: Role | None, leaked: str, registry: str) -> str | None:
    """For timestamps and amounts written canonically on both sides (as registries and releases write
    them), what the general comparison decides, from their carrier numbers: NULL for any other pair.

    A marked release moves timestamps by seconds to minutes and amounts by a few rupiah, so in a
    marked leak most such cells reach this point; the general path (shape test, ``try_strptime``
    over many formats, normalise, then near) costs 20-40 times more. Each side's number is made
    once (the lambda). Phones and e-mail keep the general path: it is no dearer than their numbers.
    """
    if role not in (Role.TIMESTAMP, Role.AMOUNT):
        return None
    pair = f"[{carrier_key_sql(role, leaked)}, {carrier_key_sql(role, registry)}]"
    agree = carrier_agree_sql(role, "jj_pair[1]", "jj_pair[2]")
    return (f"list_transform([{pair}], lambda jj_pair: CASE WHEN jj_pair[1] IS NOT NULL AND jj_pair[2] IS NOT NULL "
            f"THEN {agree} END)[1]")


#: Roles whose cells a release moves (timestamps, amounts) or re-formats (phones, e-mail): in a
#: marked leak nearly every row differs from the registry in one of them.
CARRIER_ROLES = frozenset({Role.TIMESTAMP, Role.AMOUNT, Role.PHONE, Role.EMAIL})


def carrier_key_sql(role: Role, expr: str) -> str:
    """A number standing for the cell ``expr`` of a carrier role, NULL when the cell is not in the
    form that number covers; two such numbers decide agreement as :func:`agree_sql` does
    (:func:`carrier_agree_sql`), so a marked leak is compared without re-reading its text.

    Timestamps: epoch seconds of a canonical ``YYYY-MM-DD HH:MM:SS``; amounts: the value of plain
    digits; phones: a hash of the normalised number of a valid Indonesian phone; e-mail: a hash of
    the lower-cased address.
    """
    match role:
        case Role.TIMESTAMP:
            return (f"list_transform([TRY_CAST({expr} AS TIMESTAMP)], lambda jj_t: CASE WHEN length({expr}) = 19 "
                    f"AND jj_t::VARCHAR = {expr} THEN epoch(jj_t)::BIGINT END)[1]")
        case Role.AMOUNT:
            return (f"list_transform([TRY_CAST({expr} AS BIGINT)], lambda jj_a: "
                    f"CASE WHEN jj_a::VARCHAR = {expr} THEN jj_a END)[1]")
        case Role.PHONE:
            return f"CASE WHEN jj_phone_ok({expr}) THEN hash(jj_phone_norm({expr})) END"
        case Role.EMAIL:
            return f"CASE WHEN NOT jj_blank({expr}) THEN hash(lower(trim({expr}))) END"
    raise ValueError(f"{role} is not a carrier role")


def carrier_agree_sql(role: Role, a: str, b: str) -> str:
    """Whether two non-NULL :func:`carrier_key_sql` numbers agree, as :func:`agree_sql` would decide
    for the cells they stand for."""
    match role:
        case Role.TIMESTAMP:  # the same day and within TS_NEAR seconds
            return f"(floor({a} / 86400) = floor({b} / 86400) AND abs({a} - {b}) <= {TS_NEAR})"
        case Role.AMOUNT:
            return f"({a} = {b} OR (least({a}, {b}) >= 991 AND abs({a} - {b}) <= 9))"
        case _:
            return f"({a} = {b})"
