"""Wide files: seconds to investigate a 2-row leak and to import a small snapshot, by column count.

Below the column limit (2,000) the cost must grow linearly with the columns (issue 14: 1,000
columns in at most 5 s). The extra columns are copies of the registry's own columns under new
names, the worst case: every one of them looks like a NIK, a card, a name or a date, so each is a
candidate for the link column and for every compatible registry column.

    python benchmarks/wide.py                          # 250, 500, 1000 and 2000 columns
    python benchmarks/wide.py --columns 1000 --only investigate
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from jejak.investigate import investigate
from jejak.registry import Registry
from jejak.synth import generate_tables
from jejak.workspace import Workspace

AS_OF = date(2025, 1, 1)
NEXT = date(2025, 7, 1)


def widen(table: pa.Table, columns: int, rows: int) -> pa.Table:
    """The first ``rows`` rows of ``table``, its columns repeated under new names up to ``columns``."""
    table = table.slice(0, rows)
    names = list(table.column_names)
    arrays = [table.column(c) for c in names]
    for i in range(columns - len(names)):
        names.append(f"x{i:04d}")
        arrays.append(table.column(i % table.num_columns))
    return pa.table(arrays, names=names)


def workspace(root: Path, base: pa.Table) -> Workspace:
    """A workspace whose registry holds ``base`` (a small ``peserta`` snapshot)."""
    ws = Workspace.init(root / "ws")
    pacsv.write_csv(base, root / "base.csv")
    with Registry(ws.registry_path) as reg:
        reg.import_snapshot(root / "base.csv", "peserta", "NOKA", AS_OF)
    return ws


def time_investigate(ws: Workspace, base: pa.Table, columns: int, root: Path) -> tuple[float, str]:
    leak = root / f"leak_{columns}.csv"
    pacsv.write_csv(widen(base, columns, 2), leak)
    start = time.perf_counter()
    verdict = investigate(ws, leak).to_json()
    seconds = time.perf_counter() - start
    ver = verdict["verification"]
    return seconds, f"{ver['matched']}/{ver['rows']} {verdict['attribution']['verdict']}"


def time_import(base: pa.Table, columns: int, root: Path) -> tuple[float, float]:
    """Seconds of a first import of 50 rows, then of the next snapshot (one row gone, one new)."""
    first, second = root / f"snap_{columns}.csv", root / f"snap_{columns}_next.csv"
    pacsv.write_csv(widen(base, columns, 50), first)
    pacsv.write_csv(widen(base.slice(1), columns, 50), second)
    seconds = []
    with Registry(root / f"reg_{columns}.duckdb") as reg:
        for path, as_of in ((first, AS_OF), (second, NEXT)):
            start = time.perf_counter()
            reg.import_snapshot(path, "wide", "NOKA", as_of)
            seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--columns", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--only", choices=["investigate", "import"])
    args = ap.parse_args()
    base = generate_tables(participants=200, snapshots=1, seed=3, patients=False)[0].participants
    with tempfile.TemporaryDirectory(prefix="jejak-wide-") as tmp:
        root = Path(tmp)
        ws = workspace(root, base)
        time_investigate(ws, base, 50, root)  # warm-up: module imports and the ledger's migrations
        print(f"{'columns':>8} {'investigate s':>14} {'verdict':>16} {'import s':>9} {'next import s':>14}",
              flush=True)
        for n in args.columns:
            inv, status = measure(lambda n=n: time_investigate(ws, base, n, root), args.only != "import")
            first, later = measure(lambda n=n: time_import(base, n, root), args.only != "investigate")
            print(f"{n:>8} {inv:>14.2f} {status:>16} {first:>9.2f} {later:>14.2f}", flush=True)


def measure(run: Callable[[], tuple[Any, Any]], wanted: bool) -> tuple[Any, Any]:
    """``run()``; NaN when not wanted or when DuckDB fails (the out-of-memory of issue 14 is shown)."""
    nan = float("nan")
    if not wanted:
        return nan, nan
    try:
        return run()
    except duckdb.Error as e:
        print(f"  ({type(e).__name__})", flush=True)
        return nan, nan

if __name__ == "__main__":
    main()
