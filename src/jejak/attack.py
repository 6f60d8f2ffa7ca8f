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
``intersect``         only the rows common to all copies, each whole from a random copy: every canary,
                      which one release alone holds, is gone
``majority``          copies aligned by key, each cell the value a strict majority holds (else a random copy's)
``frame``             a recipient dressing his own copy up as someone else's: cut to the victim's rows,
                      timestamps moved ±1..1800 s within the day, amounts ±1..9, phones and e-mails restyled
``rejitter-3``        timestamps moved by a random non-zero ±1..3 s (``rejitter-5``: ±1..5 s,
                      ``rejitter-minutes``: whole minutes ±1..5), each in the format it was read in
``seconds-random``    the seconds of every timestamp drawn afresh (0..59), the minute kept
``round-minutes``     timestamps rounded to the nearest minute, written with ``:00`` seconds
``amounts-jitter``    amounts moved by a random non-zero ±1..9 (``amounts-round``: to the nearest 1,000;
                      ``amounts-random2``: last two digits drawn afresh), written as plain digits
``lower-headers``     every column name lower-cased, as a PostgreSQL export writes them

:func:`simulate_leak` is the one-call entry used by the demo: read release files, apply attacks,
write the leak.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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
           "truncate-minutes", "truncate-dates", "merge-rows", "merge-cells",
           "intersect", "majority", "frame", "rejitter-3", "rejitter-5", "rejitter-minutes", "seconds-random",
           "round-minutes", "amounts-jitter", "amounts-round", "amounts-random2", "lower-headers")
FORMATS = ("csv", "jsonl", "parquet", "xlsx", "sql")
ID_ROLES = frozenset({Role.NIK, Role.CARD})
# Timestamp renderings the value attacks read; each cell is written back in the one it was read in.
TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M:%S")

# SQL for one cell: (the cell as VARCHAR, its role, the name of its random column) -> expression.
CellFn = Callable[[str, Role | None, str], str]
# Random numbers for one column: (its role, rows) -> one value per row.
Draw = Callable[[Role | None, int], np.ndarray]


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


def intersect(leaks: Sequence[Leak], rows: int, rng: np.random.Generator, key: str) -> Leak:
    """Only the rows every copy holds, each taken whole from one copy chosen at random.

    A canary is given to one release alone, so no intersection of two releases keeps it.
    """
    k = len(leaks)
    con, cols, n = _aligned(leaks, rows, rng, key)
    con.register("_src", pa.table({"_o": pa.array(np.arange(n)), "_s": pa.array(rng.integers(0, k, n))}))
    sel = ", ".join(f"t.{q(c)}" for c in cols)
    parts = " UNION ALL ".join(f"SELECT {sel}, _o FROM _keys JOIN _src USING (_o) JOIN t{i} t ON t.{q(key)} = _k "
                               f"WHERE _s = {i}" for i in range(k))
    out = con.sql(f"SELECT {', '.join(q(c) for c in cols)} FROM ({parts}) ORDER BY _o").to_arrow_table()
    return Leak(out, {c: leaks[0].origin[c] for c in cols}, dict(leaks[0].roles),
                [*leaks[0].steps, f"intersect of {k} copies ({n} common rows)"])


def majority(leaks: Sequence[Leak], rows: int, rng: np.random.Generator, key: str) -> Leak:
    """Copies aligned by key over their common rows, each cell the value a strict majority of copies
    holds, else (no majority) the value of a copy chosen at random for that cell."""
    k = len(leaks)
    con, cols, n = _aligned(leaks, rows, rng, key)
    choice = rng.integers(0, k, (n, len(cols)))
    con.register("_choice", pa.table({"_o": pa.array(np.arange(n)),
                                      **{f"_c{j}": pa.array(choice[:, j]) for j in range(len(cols))}}))
    joins = " ".join(f"JOIN t{i} ON t{i}.{q(key)} = _keys._k" for i in range(k))
    sel = ", ".join(f"{_vote([f't{i}.{q(c)}' for i in range(k)], f'_c{j}')} AS {q(c)}" for j, c in enumerate(cols))
    out = con.sql(f"SELECT {sel} FROM _keys JOIN _choice USING (_o) {joins} ORDER BY _keys._o").to_arrow_table()
    return Leak(out, {c: leaks[0].origin[c] for c in cols}, dict(leaks[0].roles),
                [*leaks[0].steps, f"majority of {k} copies"])


def frame(own: Leak, victim_rows: pa.Table | None, rng: np.random.Generator, key: str) -> Leak:
    """A recipient trying to pass his own copy off as another's, without the master secret.

    He cuts his copy to the victim's rows (when he knows them: ``victim_rows`` holds their ``key``),
    then overwrites whatever may carry his marks with fresh random values: timestamps moved ±1..1800 s
    (kept within their day, so the date still reads right), amounts ±1..9, phones and e-mails re-rendered
    in random styles. Identifiers, names and dates are left alone: changing them spoils the data.
    """
    leak = own
    if victim_rows is not None:
        wanted = victim_rows.column(key).cast(own.table.column(key).type)
        kept = own.table.filter(pa.compute.is_in(own.table.column(key), value_set=wanted))
        leak = _step(own, kept, f"cut to the victim's rows ({kept.num_rows} of {own.table.num_rows})")
    draw = _draws({Role.TIMESTAMP: lambda n: _signed(rng, 1800, n), Role.AMOUNT: lambda n: _signed(rng, 9, n),
                   Role.PHONE: lambda n: rng.integers(0, 3, n), Role.EMAIL: lambda n: rng.integers(0, 3, n)})

    def f(c: str, role: Role | None, r: str) -> str:
        if role == Role.TIMESTAMP:
            return _retime(c, lambda ts: _within_day(ts, r))
        if role == Role.AMOUNT:
            return _amount(c, lambda v: _keep_sign(v, r))
        return _variant(c, role, r) if role in (Role.PHONE, Role.EMAIL) else c

    return _cells(leak, f, "frame: timestamps, amounts, phones and e-mails redrawn", draw=draw)


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


def lower_headers(leak: Leak) -> Leak:
    """Every column name lower-cased, as PostgreSQL writes unquoted names.

    Two names that differ only in case keep theirs: a table cannot hold one name twice.
    """
    cols = leak.table.column_names
    lowered = [c.lower() for c in cols]
    new = [lo if lowered.count(lo) == 1 else c for c, lo in zip(cols, lowered, strict=True)]
    out = _step(leak, leak.table.rename_columns(new), "lower-case column names")
    out.origin = {n: leak.origin[c] for n, c in zip(new, cols, strict=True)}
    return out


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


def rejitter(leak: Leak, rng: np.random.Generator, k: int = 5, *, unit: int = 1) -> Leak:
    """Every timestamp moved by a random non-zero ``unit * u`` seconds, ``u`` uniform in ±1..``k``.

    Noise small enough to keep the data worth selling, large enough to overwrite any mark in the seconds
    (``unit=60``: in the minutes).
    """
    draw = _draws({Role.TIMESTAMP: lambda n: _signed(rng, k, n) * unit})

    def f(c: str, role: Role | None, r: str) -> str:
        return _retime(c, lambda ts: f"{ts} + to_seconds({r})") if role == Role.TIMESTAMP else c

    return _cells(leak, f, f"rejitter timestamps by ±1..{k} x {unit} s", draw=draw)


def seconds_random(leak: Leak, rng: np.random.Generator) -> Leak:
    """The seconds of every timestamp drawn afresh, uniform in 0..59; the minute is kept."""
    draw = _draws({Role.TIMESTAMP: lambda n: rng.integers(0, 60, n)})

    def f(c: str, role: Role | None, r: str) -> str:
        return _retime(c, lambda ts: f"date_trunc('minute', {ts}) + to_seconds({r})") if role == Role.TIMESTAMP else c

    return _cells(leak, f, "random seconds in timestamps", draw=draw)


def round_minutes(leak: Leak) -> Leak:
    """Timestamps rounded to the nearest minute (half a minute up), seconds written as ``00``.

    Unlike :func:`truncate` the seconds field stays, so the column still reads as full timestamps.
    """
    def f(c: str, role: Role | None, _r: str) -> str:
        nearest = "date_trunc('minute', {} + INTERVAL 30 SECOND)"
        return _retime(c, nearest.format) if role == Role.TIMESTAMP else c

    return _cells(leak, f, "round timestamps to minutes")


def amounts_jitter(leak: Leak, rng: np.random.Generator, k: int = 9) -> Leak:
    """Every amount moved by a random non-zero integer in ±1..``k`` (never across zero)."""
    draw = _draws({Role.AMOUNT: lambda n: _signed(rng, k, n)})

    def f(c: str, role: Role | None, r: str) -> str:
        return _amount(c, lambda v: _keep_sign(v, r)) if role == Role.AMOUNT else c

    return _cells(leak, f, f"amounts moved by ±1..{k}", draw=draw)


def amounts_round(leak: Leak, unit: int = 1000) -> Leak:
    """Every amount rounded to the nearest ``unit`` (a power of ten; halves away from zero)."""
    digits = len(str(unit)) - 1

    def f(c: str, role: Role | None, _r: str) -> str:
        return _amount(c, lambda v: f"round({v}, -{digits})") if role == Role.AMOUNT else c

    return _cells(leak, f, f"amounts rounded to {unit:,}")


def amounts_random(leak: Leak, rng: np.random.Generator, digits: int = 2) -> Leak:
    """The last ``digits`` digits of every amount of at least ``10**digits`` drawn afresh, uniformly."""
    m = 10 ** digits
    draw = _draws({Role.AMOUNT: lambda n: rng.integers(0, m, n)})

    def f(c: str, role: Role | None, r: str) -> str:
        return _amount(c, lambda v: f"CASE WHEN {v} >= {m} THEN {v} // {m} * {m} + {r} ELSE {v} END") \
            if role == Role.AMOUNT else c

    return _cells(leak, f, f"last {digits} digits of amounts redrawn", draw=draw)


# -- the one-call entry ----------------------------------------------------------------------------------


def apply(leaks: list[Leak], attacks: Sequence[str], rows: int, rng: np.random.Generator, *,
          key: str | None = None, exclude_nik: Sequence[str] | None = None,
          exclude_noka: Sequence[str] | None = None, victim_rows: pa.Table | None = None) -> Leak:
    """Apply ``attacks`` in a sensible order.

    ``frame`` first (on every copy: cutting to the victim's rows must come before sampling them), then
    one way of combining copies (``intersect``, else ``majority``, else ``merge-cells``, else row by row)
    or a subset of one copy, then value noise from fine to coarse (so each coarser step still has
    something to act on), re-typing, noise, padding, and the column changes last.
    """
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {', '.join(unknown)}; choose from {', '.join(ATTACKS)}")
    if victim_rows is not None and "frame" not in attacks:
        raise ValueError("victim_rows is for the frame attack only")
    key = key or next((c for c, r in leaks[0].roles.items() if r == Role.CARD), leaks[0].table.column_names[0])
    if "frame" in attacks:
        leaks = [frame(lk, victim_rows, rng, key) for lk in leaks]
    if "intersect" in attacks and len(leaks) > 1:
        leak = intersect(leaks, rows, rng, key)
    elif "majority" in attacks and len(leaks) > 1:
        leak = majority(leaks, rows, rng, key)
    elif "merge-cells" in attacks and len(leaks) > 1:
        leak = merge_cells(leaks, rows, rng, key)
    elif len(leaks) > 1:
        leak = merge_rows(leaks, rows, rng, key)
    else:
        leak = subset(leaks[0], rows, rng)
    # Only the selected steps run, so a new attack draws from ``rng`` only when chosen and the draws of
    # every other combination stay as they were.
    steps: dict[str, Callable[[Leak], Leak]] = {
        "rejitter-3": lambda lk: rejitter(lk, rng, 3),
        "rejitter-5": lambda lk: rejitter(lk, rng, 5),
        "rejitter-minutes": lambda lk: rejitter(lk, rng, 5, unit=60),
        "seconds-random": lambda lk: seconds_random(lk, rng),
        "round-minutes": round_minutes,
        "truncate-minutes": lambda lk: truncate(lk, "minutes"),
        "truncate-dates": lambda lk: truncate(lk, "dates"),
        "amounts-jitter": lambda lk: amounts_jitter(lk, rng),
        "amounts-random2": lambda lk: amounts_random(lk, rng, 2),
        "amounts-round": amounts_round,
        "reformat": lambda lk: reformat(lk, rng),
        "normalise": normalise,
        "noise": lambda lk: noise(lk, rng),
        "pad": lambda lk: pad(lk, 0.25, rng, exclude_nik=exclude_nik, exclude_noka=exclude_noka),
        "drop-columns": lambda lk: drop_columns(lk, rng),
        "shuffle": lambda lk: shuffle(lk, rng),
        "reorder": lambda lk: reorder(lk, rng),
        "rename": lambda lk: rename(lk, rng),
        "lower-headers": lower_headers,
    }
    for name, fn in steps.items():
        if name in attacks:
            leak = fn(leak)
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


def _cells(leak: Leak, fn: CellFn, what: str, rng: np.random.Generator | None = None,
           draw: Draw | None = None) -> Leak:
    """``fn`` applied to every column in one DuckDB query; ``_r{j}`` is column j's random numbers.

    Without ``draw`` they are uniform 30-bit integers from ``rng`` (the draws the older attacks were
    tuned with); ``draw`` gives an attack exactly the distribution it needs instead of a modulo of those.
    """
    t = leak.table
    roles = [leak.roles.get(leak.origin.get(c, c)) for c in t.column_names]
    if draw is None:
        r = rng if rng is not None else np.random.default_rng(0)

        def draw(_role: Role | None, n: int) -> np.ndarray:
            return r.integers(0, 1 << 30, n)

    rand = pa.table({f"_r{j}": pa.array(draw(role, t.num_rows)) for j, role in enumerate(roles)})
    con = _con(("_t", pa.Table.from_arrays([*t.columns, *rand.columns], [*t.column_names, *rand.column_names])),
               macros=True)
    sel = []
    for j, c in enumerate(t.column_names):
        expr = fn(f"{q(c)}::VARCHAR", roles[j], f"_r{j}")
        sel.append(f"{expr} AS {q(c)}")
    out = con.sql(f"SELECT {', '.join(sel)} FROM _t").to_arrow_table()
    return _step(leak, out, what)


def _draws(makers: Mapping[Role, Callable[[int], np.ndarray]]) -> Draw:
    """A :data:`Draw` that draws from ``rng`` only for the roles an attack changes (zeros elsewhere)."""
    def draw(role: Role | None, n: int) -> np.ndarray:
        make = makers.get(role) if role is not None else None
        return make(n) if make is not None else np.zeros(n, np.int64)

    return draw


def _signed(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """``n`` shifts uniform over ±1..k: never zero, so every value really moves."""
    return rng.integers(1, k + 1, n) * (2 * rng.integers(0, 2, n) - 1)


def _retime(c: str, move: Callable[[str], str]) -> str:
    """A timestamp cell moved by ``move`` (SQL on a TIMESTAMP), written in the format it was read in.

    Keeping the format keeps the attack to one thing: what changes is the time, not its rendering.
    Cells in none of :data:`TS_FORMATS` (cut to minutes, empty) are left as they are.
    """
    whens = []
    for f in TS_FORMATS:
        ts = f"try_strptime(trim({c}), '{f}')"
        whens.append(f"WHEN {ts} IS NOT NULL THEN strftime({move(ts)}, '{f}')")
    return f"CASE {' '.join(whens)} ELSE {c} END"


def _within_day(ts: str, r: str) -> str:
    """``ts`` moved by ``r`` seconds, or by ``-r`` when that would leave its day.

    With ``|r|`` at most half a day one of the two stays inside; reflecting keeps ``|r|`` uniform.
    """
    fwd = f"{ts} + to_seconds({r})"
    return f"CASE WHEN ({fwd})::DATE = ({ts})::DATE THEN {fwd} ELSE {ts} - to_seconds({r}) END"


def _amount(c: str, change: Callable[[str], str]) -> str:
    """An amount cell read as digits (as :func:`_canonical` does), changed, written as plain digits;
    cells that read as no number are kept."""
    v = f"TRY_CAST({_canonical(c, Role.AMOUNT)} AS BIGINT)"
    return f"coalesce(({change(v)})::VARCHAR, {c})"


def _keep_sign(v: str, r: str) -> str:
    """``v`` plus ``r``, or minus ``r`` where adding would cross zero: a salary never turns negative."""
    return f"CASE WHEN ({v} + {r} < 0) <> ({v} < 0) THEN {v} - {r} ELSE {v} + {r} END"


def _vote(vals: list[str], pick: str) -> str:
    """The value a strict majority of ``vals`` holds (NULLs count as equal), else ``vals[pick]``."""
    def agree(v: str) -> str:
        return " + ".join(f"({v} IS NOT DISTINCT FROM {w})::INT" for w in vals)

    won = " ".join(f"WHEN ({agree(v)}) * 2 > {len(vals)} THEN {v}" for v in vals)
    fallback = " ".join(f"WHEN {pick} = {i} THEN {v}" for i, v in enumerate(vals))
    return f"CASE {won} {fallback} END"


def _aligned(leaks: Sequence[Leak], rows: int, rng: np.random.Generator,
             key: str) -> tuple[duckdb.DuckDBPyConnection, list[str], int]:
    """The copies as ``t0..`` (columns all of them hold) and ``_keys`` (``_k``, ``_o``): up to ``rows``
    keys every copy holds, in random order ``_o``. Returns the connection, the columns, the key count."""
    cols = [c for c in leaks[0].table.column_names if all(c in lk.table.column_names for lk in leaks)]
    con = _con(*((f"t{i}", lk.table.select(cols)) for i, lk in enumerate(leaks)))
    common = " INTERSECT ".join(f"SELECT {q(key)} AS _k FROM t{i} WHERE {q(key)} IS NOT NULL"
                                for i in range(len(leaks)))
    # Sorted first, so the random pick depends on the seed alone, not on the order DuckDB returns.
    keys = con.sql(f"SELECT _k FROM ({common}) ORDER BY _k").to_arrow_table().column(0)
    pick = rng.permutation(len(keys))[: min(rows, len(keys))]
    con.register("_keys", pa.table({"_k": keys.take(pa.array(pick)), "_o": pa.array(np.arange(len(pick)))}))
    return con, cols, len(pick)


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
