"""The attack simulator: what leakers do to a file before it turns up for sale.

Pure functions from pyarrow tables to pyarrow tables (DuckDB does the column work), each seeded,
plus writers for every leak format. Attacks:

``subset``            a random share of the rows
``shuffle``           rows in random order
``reformat``          every field re-typed in an equivalent way, cell by cell at random: letter case,
                      whitespace, phones as ``+62 812…``/``0812-…``/``62812…``, address abbreviations,
                      date and timestamp formats, thousand separators
``normalise``         every field put in one canonical form: phones E.164, e-mails lower case, names
                      upper case, ``JALAN``/``GANG``/``RT 007 RW 008``, ISO dates, ``T`` timestamps
``drop-columns``      a third of the non-identifier columns removed
``rename``            columns renamed (``col_1``, ``nik``, ...), ``reorder``: columns shuffled
``noise``             5% of the non-identifier cells altered (a digit or letter changed)
``pad``               a quarter more rows of fabricated people (valid NIKs we never had, jejak.synth)
``truncate-minutes``  timestamps cut to ``YYYY-MM-DD HH:MM``; ``truncate-dates``: to the date
``merge-rows``        2-3 recipients' copies interleaved row by row (each row from one copy)
``merge-cells``       2-3 copies merged cell by cell (each cell from a random copy)

:func:`simulate_leak` is the one-call entry used by the demo: read release files, apply attacks,
write the leak.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from jejak.channel.base import q
from jejak.roles import Role, infer_roles
from jejak.validators import sql as vsql

ATTACKS = ("subset", "shuffle", "reformat", "normalise", "drop-columns", "rename", "reorder", "noise", "pad",
           "truncate-minutes", "truncate-dates", "merge-rows", "merge-cells")
FORMATS = ("csv", "jsonl", "parquet", "xlsx", "sql")
ID_ROLES = frozenset({Role.NIK, Role.CARD})


@dataclass
class Leak:
    """A leaked table and what was done to it."""

    table: pa.Table
    origin: dict[str, str]  # leaked column -> the release's column it came from
    roles: dict[str, Role]  # by the release's column names
    steps: list[str] = field(default_factory=list)


def _con(*tables: tuple[str, pa.Table], macros: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if macros:
        vsql.install(con)
    for name, t in tables:
        con.register(name, t)
    return con


def roles_of(table: pa.Table) -> dict[str, Role]:
    """Column roles inferred from the values (the attacker's view has no registry)."""
    con = _con(("_t", table), macros=True)
    cols = [c for c in table.column_names if not c.startswith("_")]
    con.execute("CREATE TEMP TABLE t AS SELECT " + ", ".join(f"{q(c)}::VARCHAR AS {q(c)}" for c in cols) + " FROM _t")
    return {c: g.role for c, g in infer_roles(con, "t", cols).items()}


def start(table: pa.Table, roles: dict[str, Role] | None = None) -> Leak:
    roles = roles or roles_of(table)
    return Leak(table, {c: c for c in table.column_names}, roles)


# -- row attacks -------------------------------------------------------------------------------------


def subset(leak: Leak, rows: int, rng: np.random.Generator) -> Leak:
    n = leak.table.num_rows
    pick = np.sort(rng.choice(n, size=min(rows, n), replace=False))
    return _step(leak, leak.table.take(pa.array(pick)), f"subset {len(pick)} of {n}")


def shuffle(leak: Leak, rng: np.random.Generator) -> Leak:
    return _step(leak, leak.table.take(pa.array(rng.permutation(leak.table.num_rows))), "shuffle")


def pad(leak: Leak, share: float, rng: np.random.Generator, *, as_of: date = date(2025, 1, 1),
        exclude_nik: Sequence[str] | None = None, exclude_noka: Sequence[str] | None = None) -> Leak:
    """Add fabricated people (``share`` of the rows) drawn by jejak.synth; needs the participant layout."""
    from jejak.synth import make_people

    n = max(1, round(leak.table.num_rows * share))
    people = make_people(n, rng, as_of=as_of, exclude_nik=exclude_nik, exclude_noka=exclude_noka)
    cols = {}
    for c in leak.table.column_names:
        src = leak.origin.get(c, c)
        cols[c] = people.column(src).cast(pa.string()) if src in people.column_names else pa.nulls(n, pa.string())
    extra = pa.table(cols).cast(leak.table.schema)
    out = pa.concat_tables([leak.table, extra])
    return _step(leak, out.take(pa.array(rng.permutation(out.num_rows))), f"pad {n} fabricated rows")


def merge_rows(leaks: Sequence[Leak], rows: int, rng: np.random.Generator, key: str) -> Leak:
    """Rows interleaved from several copies: each key from one copy, sources in random order."""
    k = len(leaks)
    tables = [_common(lk.table, leaks[0].table.column_names) for lk in leaks]
    keys = np.asarray(tables[0].column(key).to_numpy(zero_copy_only=False))
    pick = rng.choice(len(keys), size=min(rows, len(keys)), replace=False)
    src = rng.integers(0, k, len(pick))
    parts = []
    for i, t in enumerate(tables):
        wanted = pa.array(keys[pick[src == i]])
        parts.append(t.filter(pa.compute.is_in(t.column(key), value_set=wanted)))
    out = pa.concat_tables(parts)
    out = out.take(pa.array(rng.permutation(out.num_rows)))
    return Leak(out, dict(leaks[0].origin), dict(leaks[0].roles), [f"merge-rows of {k} copies"])


def merge_cells(leaks: Sequence[Leak], rows: int, rng: np.random.Generator, key: str) -> Leak:
    """Copies aligned by key, every cell taken from a random copy."""
    k = len(leaks)
    cols = leaks[0].table.column_names
    tables = [_common(lk.table, cols) for lk in leaks]
    con = _con(*((f"t{i}", t) for i, t in enumerate(tables)))
    keys = con.sql(" INTERSECT ".join(f"SELECT {q(key)} FROM t{i}" for i in range(k))).to_arrow_table()
    keys = keys.column(0).to_numpy(zero_copy_only=False)
    keys = np.sort(keys)[rng.permutation(len(keys))[: min(rows, len(keys))]]
    con.register("_keys", pa.table({"_k": pa.array(keys, pa.string()), "_o": pa.array(np.arange(len(keys)))}))
    choice = rng.integers(0, k, (len(keys), len(cols)))
    con.register("_choice", pa.table({"_o": pa.array(np.arange(len(keys))),
                                      **{f"_c{j}": pa.array(choice[:, j]) for j in range(len(cols))}}))
    joins = " ".join(f"JOIN t{i} ON t{i}.{q(key)} = _keys._k" for i in range(k))
    sel = ", ".join(
        "CASE " + " ".join(f"WHEN _c{j} = {i} THEN t{i}.{q(c)}" for i in range(k)) + f" END AS {q(c)}"
        for j, c in enumerate(cols))
    out = con.sql(f"SELECT {sel} FROM _keys JOIN _choice USING (_o) {joins} ORDER BY _keys._o").to_arrow_table()
    return Leak(out, dict(leaks[0].origin), dict(leaks[0].roles), [f"merge-cells of {k} copies"])


# -- column attacks ------------------------------------------------------------------------------------


def drop_columns(leak: Leak, rng: np.random.Generator, share: float = 1 / 3) -> Leak:
    cols = leak.table.column_names
    optional = [c for c in cols if leak.roles.get(leak.origin[c]) not in ID_ROLES]
    drop = set(rng.choice(optional, size=int(len(optional) * share), replace=False)) if optional else set()
    keep = [c for c in cols if c not in drop]
    out = _step(leak, leak.table.select(keep), f"drop {len(drop)} columns")
    out.origin = {c: leak.origin[c] for c in keep}
    return out


def rename(leak: Leak, rng: np.random.Generator) -> Leak:
    cols = leak.table.column_names
    style = int(rng.integers(0, 3))
    new = [f"col_{i + 1}" if style == 0 else (c.lower() if style == 1 else f"field{i:02d}") for i, c in enumerate(cols)]
    out = _step(leak, leak.table.rename_columns(new), "rename columns")
    out.origin = {n: leak.origin[c] for n, c in zip(new, cols, strict=True)}
    return out


def reorder(leak: Leak, rng: np.random.Generator) -> Leak:
    cols = leak.table.column_names
    order = [cols[i] for i in rng.permutation(len(cols))]
    return _step(leak, leak.table.select(order), "reorder columns")


# -- cell attacks ------------------------------------------------------------------------------------


def normalise(leak: Leak) -> Leak:
    """Every field in one canonical form: the strongest re-formatting a leaker can do."""
    return _cells(leak, lambda c, role, _r: _canonical(c, role), "normalise every field")


def reformat(leak: Leak, rng: np.random.Generator) -> Leak:
    """Every cell re-typed in an equivalent way chosen at random per cell."""
    return _cells(leak, _variant, "reformat every field", rng)


def truncate(leak: Leak, unit: str) -> Leak:
    """Timestamps cut to minutes (``unit='minutes'``) or to the date (``'dates'``)."""
    width = 16 if unit == "minutes" else 10

    def f(c: str, role: Role | None, _r: str) -> str:
        return f"substr({c}, 1, {width})" if role == Role.TIMESTAMP else c

    return _cells(leak, f, f"truncate timestamps to {unit}")


def noise(leak: Leak, rng: np.random.Generator, share: float = 0.05) -> Leak:
    """A share of the non-identifier cells altered: one character changed."""
    def f(c: str, role: Role | None, r: str) -> str:
        if role in ID_ROLES:
            return c
        pos = f"(1 + ({r} // 7) % greatest(length({c}), 1))"
        new = f"CASE WHEN regexp_matches(substr({c}, {pos}::BIGINT, 1), '[0-9]') " \
              f"THEN ((substr({c}, {pos}::BIGINT, 1)::INTEGER + 1 + {r} % 8) % 10)::VARCHAR ELSE 'x' END"
        changed = f"substr({c}, 1, {pos}::BIGINT - 1) || {new} || substr({c}, {pos}::BIGINT + 1)"
        return f"CASE WHEN ({r} % 10000) < {int(share * 10000)} AND length({c}) > 0 THEN {changed} ELSE {c} END"

    return _cells(leak, f, f"noise in {share:.0%} of cells", rng)


# -- the one-call entry ----------------------------------------------------------------------------------


def apply(leaks: list[Leak], attacks: Sequence[str], rows: int, rng: np.random.Generator, *,
          key: str | None = None, exclude_nik: Sequence[str] | None = None,
          exclude_noka: Sequence[str] | None = None) -> Leak:
    """Apply ``attacks`` in a sensible order (merge/subset first, renames last)."""
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {', '.join(unknown)}; choose from {', '.join(ATTACKS)}")
    key = key or next((c for c, r in leaks[0].roles.items() if r == Role.CARD), leaks[0].table.column_names[0])
    if "merge-cells" in attacks and len(leaks) > 1:
        leak = merge_cells(leaks, rows, rng, key)
    elif len(leaks) > 1:
        leak = merge_rows(leaks, rows, rng, key)
    else:
        leak = subset(leaks[0], rows, rng)
    steps: dict[str, object] = {
        "truncate-minutes": lambda lk: truncate(lk, "minutes"),
        "truncate-dates": lambda lk: truncate(lk, "dates"),
        "reformat": lambda lk: reformat(lk, rng),
        "normalise": normalise,
        "noise": lambda lk: noise(lk, rng),
        "pad": lambda lk: pad(lk, 0.25, rng, exclude_nik=exclude_nik, exclude_noka=exclude_noka),
        "drop-columns": lambda lk: drop_columns(lk, rng),
        "shuffle": lambda lk: shuffle(lk, rng),
        "reorder": lambda lk: reorder(lk, rng),
        "rename": lambda lk: rename(lk, rng),
    }
    for name, fn in steps.items():
        if name in attacks:
            leak = fn(leak)  # type: ignore[operator]
    return leak


def read_release(path: Path) -> pa.Table:
    """A release (or any) file as a table of strings, columns as in the file."""
    from jejak.intake import read_table

    con = _con()
    t = read_table(con, path, name="_src", strict=False)
    return con.sql("SELECT " + ", ".join(q(c) for c in t.columns) + " FROM _src ORDER BY _line").to_arrow_table()


def simulate_leak(sources: list[Path], attacks: list[str], rows: int, seed: int, out: Path, fmt: str) -> Path:
    """Read release files, apply ``attacks`` to ``rows`` rows, write ``out`` as ``fmt``; returns ``out``.

    Several sources are merged (row by row, or cell by cell with ``merge-cells``).
    """
    rng = np.random.default_rng(seed)
    tables = [read_release(p) for p in sources]
    roles = roles_of(tables[0])
    leak = apply([start(t, roles) for t in tables], attacks, rows, rng)
    write(leak.table, out, fmt)
    return out


# -- writers -----------------------------------------------------------------------------------------


def write(table: pa.Table, path: Path, fmt: str) -> None:
    """Write a leak as csv, jsonl, parquet, xlsx or sql (INSERT statements)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    con = _con(("_t", table))
    target = str(path).replace("'", "''")
    cols = ", ".join(q(c) for c in table.column_names)
    if fmt in ("csv", "jsonl", "parquet"):
        opts = {"csv": "FORMAT csv, HEADER true", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}[fmt]
        con.execute(f"COPY (SELECT {cols} FROM _t) TO '{target}' ({opts})")
    elif fmt == "sql":
        vals = " || ', ' || ".join(f"coalesce('''' || replace({q(c)}, '''', '''''') || '''', 'NULL')"
                                   for c in table.column_names)
        names = ", ".join(f"`{c}`" for c in table.column_names)
        lines = con.sql(f"SELECT 'INSERT INTO `peserta` ({names}) VALUES (' || {vals} || ');' FROM _t")
        body = lines.to_arrow_table().column(0).to_pylist()
        path.write_text("-- dump\n" + "\n".join(body) + "\n", encoding="utf-8")
    else:
        import xlsxwriter

        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                             "strings_to_formulas": False, "strings_to_urls": False})
        ws = wb.add_worksheet("data")
        for j, c in enumerate(table.column_names):
            ws.write_string(0, j, c)
        # constant_memory streams row by row, so cells must be written in row order.
        for i, row in enumerate(zip(*(col.to_pylist() for col in table.columns), strict=True)):
            for j, v in enumerate(row):
                if v is not None:
                    ws.write_string(i + 1, j, str(v))
        wb.close()


# -- internals -----------------------------------------------------------------------------------------


def _step(leak: Leak, table: pa.Table, what: str) -> Leak:
    return Leak(table, dict(leak.origin), dict(leak.roles), [*leak.steps, what])


def _common(t: pa.Table, cols: list[str]) -> pa.Table:
    return t.select([c for c in cols if c in t.column_names])


def _cells(leak: Leak, fn: object, what: str, rng: np.random.Generator | None = None) -> Leak:
    t = leak.table
    r = rng if rng is not None else np.random.default_rng(0)
    rand = pa.table({f"_r{j}": pa.array(r.integers(0, 1 << 30, t.num_rows)) for j in range(t.num_columns)})
    con = _con(("_t", pa.Table.from_arrays([*t.columns, *rand.columns], [*t.column_names, *rand.column_names])),
               macros=True)
    sel = []
    for j, c in enumerate(t.column_names):
        role = leak.roles.get(leak.origin.get(c, c))
        expr = fn(f"{q(c)}::VARCHAR", role, f"_r{j}")  # type: ignore[operator]
        sel.append(f"{expr} AS {q(c)}")
    out = con.sql(f"SELECT {', '.join(sel)} FROM _t").to_arrow_table()
    return _step(leak, out, what)


_ADDRESS_LONG = [(r"\bJLN?\.?\s*", "JALAN "), (r"\bGG\.?\s*", "GANG "), (r"\bKEL\.\s*", "KELURAHAN "),
                 (r"\bKEC\.\s*", "KECAMATAN "), (r"\bKAB\.\s*", "KABUPATEN ")]


def _canonical(c: str, role: Role | None) -> str:
    if role == Role.PHONE:
        return f"coalesce(jj_phone_norm({c}), {c})"
    if role == Role.EMAIL:
        return f"lower(trim({c}))"
    if role in (Role.NAME, Role.TEXT, Role.CATEGORY, Role.IDENTIFIER):
        return f"upper(regexp_replace(trim({c}), '\\s+', ' ', 'g'))"
    if role == Role.ADDRESS:
        x = f"upper(regexp_replace(trim({c}), '\\s+', ' ', 'g'))"
        for pat, rep in _ADDRESS_LONG:
            x = f"regexp_replace({x}, '{pat}', '{rep}', 'g')"
        return f"regexp_replace({x}, 'RT\\.?\\s*0*([0-9]+)\\s*/?\\s*RW\\.?\\s*0*([0-9]+)', 'RT \\1 RW \\2', 'g')"
    if role == Role.DATE:
        return f"coalesce(strftime(try_strptime(trim({c}), ['%Y-%m-%d', '%d/%m/%Y', '%d-%m-%Y']), '%Y-%m-%d'), {c})"
    if role == Role.TIMESTAMP:
        return f"coalesce(strftime(try_strptime(trim({c}), '%Y-%m-%d %H:%M:%S'), '%Y-%m-%dT%H:%M:%S'), {c})"
    if role == Role.AMOUNT:
        return f"regexp_replace({c}, '[^0-9-]', '', 'g')"
    return c


def _variant(c: str, role: Role | None, r: str) -> str:
    pick = f"({r} % 3)"
    if role == Role.PHONE:
        rest = f"substr(jj_phone_norm({c}), 4)"
        dashed = f"'0' || substr({rest}, 1, 3) || '-' || substr({rest}, 4, 4) || '-' || substr({rest}, 8)"
        return (f"CASE WHEN jj_phone_norm({c}) IS NULL THEN {c} WHEN {pick} = 0 THEN jj_phone_norm({c}) "
                f"WHEN {pick} = 1 THEN {dashed} ELSE '62' || {rest} END")
    if role == Role.EMAIL:
        return f"CASE WHEN {pick} = 0 THEN lower({c}) WHEN {pick} = 1 THEN upper({c}) ELSE ' ' || {c} END"
    if role == Role.NAME:
        return (f"CASE WHEN {pick} = 0 THEN lower({c}) WHEN {pick} = 1 THEN regexp_replace({c}, ' ', '  ', 'g') "
                f"ELSE {c} || ' ' END")
    if role in (Role.CATEGORY, Role.TEXT):
        return f"CASE WHEN {pick} = 0 THEN lower({c}) ELSE {c} END"
    if role == Role.ADDRESS:
        return _canonical(c, role) + f" || CASE WHEN {pick} = 0 THEN ' ' ELSE '' END"
    if role == Role.DATE:
        return f"coalesce(strftime(try_strptime(trim({c}), '%Y-%m-%d'), '%d/%m/%Y'), {c})"
    if role == Role.TIMESTAMP:
        ts = f"try_strptime(trim({c}), '%Y-%m-%d %H:%M:%S')"
        return (f"coalesce(CASE WHEN {pick} = 0 THEN strftime({ts}, '%d/%m/%Y %H:%M:%S') "
                f"WHEN {pick} = 1 THEN strftime({ts}, '%Y-%m-%dT%H:%M:%S') ELSE strftime({ts}, '%Y-%m-%d %H:%M:%S') "
                f"END, {c})")
    if role == Role.AMOUNT:
        num = f"TRY_CAST({c} AS BIGINT)"
        return (f"coalesce(CASE WHEN {pick} = 0 THEN 'Rp ' || replace(format('{{:,}}', {num}), ',', '.') "
                f"WHEN {pick} = 1 THEN replace(format('{{:,}}', {num}), ',', '.') ELSE {num}::VARCHAR END, {c})")
    return c


def origin_json(leak: Leak) -> str:
    return json.dumps(leak.origin)
