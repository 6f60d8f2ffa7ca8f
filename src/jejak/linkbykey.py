"""A minimal linker for known columns: builds the linked table ``_jj_linked`` by key or NIK.

The investigation's own linker (``jejak.verify``) maps columns from their values and also links
probabilistically. Attribution only needs the documented columns of ``_jj_linked`` (see
docs/investigation.md), so the evaluation harness and the tests build them here when the
leaked columns' registry names are known (the attack simulator knows what it renamed).
"""

from __future__ import annotations

import duckdb

from jejak.channel import canary
from jejak.channel.base import q
from jejak.ledger import Ledger
from jejak.registry import DatasetInfo, table_name
from jejak.roles import Role
from jejak.validators import sql as vsql


def _norm(x: str, role: Role | None) -> str:
    if role == Role.PHONE:
        return f"jj_phone_norm({x})"
    if role == Role.EMAIL:
        return f"jj_email_norm({x})"
    return f"upper(regexp_replace(trim({x}), '\\s+', ' ', 'g'))"


def link_by_key(con: duckdb.DuckDBPyConnection, source: str, columns: dict[str, str], dataset: DatasetInfo,
                ledger: Ledger | None = None, name: str = "_jj_linked", index_key: bytes | None = None) -> str:
    """Create TEMP ``name`` from TEMP table ``source`` (with ``_line``); ``columns``: leaked -> registry name.

    With a ``ledger``, rows that hit one of its canaries (read with ``index_key``, the canary index
    key) are classed ``canary`` with the canary's key tag as ``_key``.
    """
    if not con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'jj_nik_valid'").fetchall()[0][0]:
        vsql.install(con)
    mapped = {leak: reg for leak, reg in columns.items() if reg in dataset.columns}
    sel = ", ".join(f"{q(leak)} AS {q(reg)}" for leak, reg in mapped.items())
    regs = list(mapped.values())
    key = dataset.key if dataset.key in regs else None
    nik = next((c for c in regs if dataset.roles.get(c) == Role.NIK), None)
    t = table_name(dataset.name)
    rows = ledger.canaries(dataset=dataset.name) if ledger is not None else []
    if rows and index_key is None:
        raise ValueError("canaries are kept as tags: link_by_key needs the canary index key to read them")
    ident = f"trim(l.{q(key)})" if key else (f"trim(l.{q(nik)})" if nik else "NULL")
    by = "key" if key else ("nik" if nik else None)
    if key:
        find = f"(SELECT DISTINCT _key FROM {t}) k ON k._key = trim(l.{q(key)})"
    elif nik:
        find = f"(SELECT {q(nik)} AS _nik, max(_key) AS _key FROM {t} GROUP BY 1) k ON k._nik = trim(l.{q(nik)})"
    else:
        find = "(SELECT NULL::VARCHAR AS _key WHERE false) k ON false"
    others = [c for c in regs if c not in (key, nik)]
    agree = " + ".join(
        f"coalesce(({_norm('l.' + q(c), dataset.roles.get(c))} = {_norm('v.' + q(c), dataset.roles.get(c))})"
        f"::INTEGER, 0)" for c in others) or "0"
    cmp = " + ".join(f"(l.{q(c)} IS NOT NULL)::INTEGER" for c in others) or "0"
    nik_valid = f"jj_nik_valid(trim(l.{q(nik)}))" if nik else "true"
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_lk_leak AS SELECT _line, {sel} FROM {source}")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _jj_lk_reg AS SELECT l._line, k._key AS _k FROM _jj_lk_leak l JOIN {find}")
        # Canaries: only rows that are nobody of the registry's are looked at (they never were in it).
        con.execute("""CREATE OR REPLACE TEMP VIEW _jj_lk_rest AS SELECT l.*, NULL::VARCHAR AS _class
                       FROM _jj_lk_leak l WHERE _line NOT IN (SELECT _line FROM _jj_lk_reg)""")
        roles: dict[Role, list[str]] = {}
        for c in regs:
            roles.setdefault(dataset.roles.get(c, Role.TEXT), []).append(c)
        canary.hits(con, canaries=rows, relation="_jj_lk_rest", columns=roles, index_key=index_key or b"",
                    key=key, table="_jj_lk_hits")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS
            WITH l AS (SELECT * FROM _jj_lk_leak),
            linked AS (SELECT l.*, k._k, c._ck FROM l LEFT JOIN _jj_lk_reg k USING (_line)
                       LEFT JOIN (SELECT _line, min(canary) AS _ck FROM _jj_lk_hits GROUP BY _line) c USING (_line)),
            best AS (SELECT l._line, v._valid_from, v._valid_to, {agree} AS _agree, {cmp} AS _compared,
                            row_number() OVER (PARTITION BY l._line ORDER BY {agree} DESC, v._valid_from DESC) AS _r
                     FROM linked l JOIN {t} v ON v._key = l._k),
            one AS (SELECT * FROM best WHERE _r = 1),
            open AS (SELECT DISTINCT _key FROM {t} WHERE _valid_to IS NULL)
            SELECT l._line,
                   coalesce(l._k, l._ck) AS _key,
                   CASE WHEN l._k IS NOT NULL THEN '{by}' WHEN l._ck IS NOT NULL THEN 'canary' END AS _via,
                   CASE WHEN l._k IS NOT NULL OR l._ck IS NOT NULL THEN 1.0 ELSE 0.0 END AS _match_p,
                   CASE WHEN l._ck IS NOT NULL THEN 'canary'
                        WHEN l._k IS NOT NULL AND o._valid_to IS NULL AND l._k IN (SELECT _key FROM open) THEN 'current'
                        WHEN l._k IS NOT NULL THEN 'outdated'
                        WHEN {ident} IS NULL THEN 'unlinked'
                        WHEN {nik_valid} THEN 'fabricated' ELSE 'invalid' END AS _class,
                   row_number() OVER (PARTITION BY coalesce(l._k, l._ck, {ident}) ORDER BY l._line) > 1
                       AND coalesce(l._k, l._ck, {ident}) IS NOT NULL AS _dup,
                   o._valid_from AS _from, o._valid_to AS _to,
                   coalesce(o._agree, 0)::INTEGER AS _agree, coalesce(o._compared, 0)::INTEGER AS _compared,
                   {', '.join('l.' + q(c) for c in regs)}
            FROM linked l LEFT JOIN one o ON o._line = l._line"""
        )
    finally:
        con.execute("DROP VIEW IF EXISTS _jj_lk_rest; DROP TABLE IF EXISTS _jj_lk_hits; "
                    "DROP TABLE IF EXISTS _jj_lk_reg; DROP TABLE IF EXISTS _jj_lk_leak")
    return name
