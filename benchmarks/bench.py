"""``make bench``: throughput (rows/s) and peak memory of jejak's heavy paths.

Each measurement runs in a child process so its peak resident memory is its own. Inputs are
generated once into ``bench-out/`` and reused. Sizes follow the issues: registry import at 1M and
10M rows (first import, and a re-import with 1% of rows changed), release at 1M rows (CSV and
Parquet, against an unmarked DuckDB copy of the same rows).

    python benchmarks/bench.py                 # everything
    python benchmarks/bench.py --only import --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"


def measure(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``python bench.py _child ...``; return (seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "_child", *args], stdout=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    return seconds, usage.ru_maxrss / 1024, output


# -- inputs ----------------------------------------------------------------------------------------


def base_snapshot(rows: int) -> Path:
    """A synthetic participants snapshot with ``rows`` rows (CSV)."""
    path = OUT / f"peserta_{rows}.csv"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    unit = min(rows, 1_000_000)
    src_dir = OUT / f"synth_{unit}"
    if not src_dir.exists():
        from jejak.synth import generate

        t = time.perf_counter()
        generate(src_dir, participants=unit, snapshots=1, seed=1, fmt="csv", patients=False)
        print(f"  (generated {unit:,} synthetic participants in {time.perf_counter() - t:.1f} s)")
    src = next(src_dir.glob("peserta_*.csv"))
    if unit == rows:
        shutil.copy(src, path)
        return path
    import duckdb

    # Larger sizes repeat the realistic unit with shifted card numbers: same widths and value shapes.
    con = duckdb.connect()
    con.execute(f"CREATE TABLE u AS SELECT * FROM read_csv('{src}', all_varchar=true)")
    cols = [r[0] for r in con.execute("DESCRIBE u").fetchall()]
    sel = ", ".join(
        "lpad((NOKA::BIGINT + i * 100000000000)::VARCHAR, 13, '0') AS NOKA" if c == "NOKA" else f'"{c}"' for c in cols
    )
    copies = -(-rows // unit)
    con.execute(
        f"COPY (SELECT {sel} FROM u, range({copies}) t(i) LIMIT {rows}) TO '{path}' (HEADER, DELIMITER ',')"
    )
    return path


def changed_snapshot(base: Path, share: float = 0.01) -> Path:
    """The same snapshot with ``share`` of rows given a new phone and update time."""
    path = base.with_name(base.stem + "_changed.csv")
    if path.exists():
        return path
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE s AS SELECT * FROM read_csv('{base}', all_varchar=true)")
    every = round(1 / share)
    con.execute(
        f"UPDATE s SET NOHP = '0813' || lpad((hash(NOKA) % 100000000)::VARCHAR, 8, '0'), "
        f"TSUPDATE = '2025-06-30 12:34:56' WHERE hash(NOKA) % {every} = 0"
    )
    con.execute(f"COPY s TO '{path}' (HEADER, DELIMITER ',')")
    return path


# -- children --------------------------------------------------------------------------------------


def child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "import":
        from jejak.registry import Registry

        registry, file, as_of = Path(argv[1]), Path(argv[2]), date.fromisoformat(argv[3])
        with Registry(registry) as reg:
            res = reg.import_snapshot(file, "peserta", "NOKA", as_of)
        print(json.dumps(res.to_json()))
    elif kind == "release-setup":
        from jejak.ledger import Ledger
        from jejak.registry import Registry
        from jejak.workspace import Workspace

        ws = Workspace.init(Path(argv[1]))
        with Registry(ws.registry_path) as reg:
            reg.import_snapshot(Path(argv[2]), "peserta", "NOKA", date(2025, 1, 1))
        with Ledger.open(ws.ledger_url) as ledger:
            ledger.add_recipient("PT Vendor", "vendor")
    elif kind == "release":
        from jejak.channel import Policy
        from jejak.release import ReleaseRequest, create_release
        from jejak.workspace import Workspace

        extra = tuple(argv[3].split(",")) if len(argv) > 3 else ()
        policy = Policy(channels=Policy().channels + extra)
        req = ReleaseRequest("peserta", "PT Vendor", Path(argv[2]), policy=policy)
        rec = create_release(Workspace.open(Path(argv[1])), req)
        print(json.dumps({"rows": rec.rows, "channels": rec.channels}))
    elif kind == "unmarked-copy":
        import duckdb

        con = duckdb.connect(str(Path(argv[1]) / "registry.duckdb"), read_only=True)
        fmt = "FORMAT csv, HEADER true" if argv[2].endswith(".csv") else "FORMAT parquet, COMPRESSION zstd"
        con.execute(
            f"COPY (SELECT * EXCLUDE (_key, _valid_from, _valid_to, _hash) FROM rows_peserta ORDER BY _key) "
            f"TO '{argv[2]}' ({fmt})"
        )
    elif kind == "duckdb-read":
        import duckdb

        con = duckdb.connect()
        n = con.execute(f"SELECT count(*) FROM read_csv('{argv[1]}', all_varchar=true)").fetchone()[0]  # type: ignore[index]
        print(json.dumps({"rows": n}))
    else:
        raise SystemExit(f"unknown child {kind}")


# -- the benchmark ---------------------------------------------------------------------------------


def report(name: str, n: int, secs: float, mem: float) -> tuple[str, int, float, float]:
    print(f"{name:<62} {secs:8.2f} {n / secs:12,.0f} {mem:9,.0f}", flush=True)
    return name, n, secs, mem


def bench_import(sizes: list[int]) -> list[tuple[str, int, float, float]]:
    results = []
    for n in sizes:
        base = base_snapshot(n)
        changed = changed_snapshot(base)
        secs, mem, _ = measure(["duckdb-read", str(base)])
        results.append(report(f"duckdb read_csv only (reference), {n:,} rows", n, secs, mem))
        reg = OUT / f"registry_{n}.duckdb"
        reg.unlink(missing_ok=True)
        secs, mem, _ = measure(["import", str(reg), str(base), "2025-01-01"])
        results.append(report(f"registry import, first snapshot, {n:,} rows", n, secs, mem))
        secs, mem, out = measure(["import", str(reg), str(changed), "2025-07-01"])
        changed_rows = json.loads(out)["changed"]
        results.append(report(f"registry re-import, {changed_rows:,} rows changed, {n:,} rows", n, secs, mem))
        reg.unlink(missing_ok=True)
    return results


def bench_release(n: int) -> list[tuple[str, int, float, float]]:
    """Release create against an unmarked DuckDB COPY of the same rows, in the same run.

    The machine is shared, so next to wall-clock seconds this prints each step's CPU seconds
    (user + system of the child), which a loaded machine inflates far less.
    """
    results = []
    base = base_snapshot(n)
    home = OUT / f"release_ws_{n}"
    shutil.rmtree(home, ignore_errors=True)
    measure(["release-setup", str(home), str(base)])
    cases = [("csv", ""), ("parquet", ""), ("csv", "address_format")]
    for fmt, extra in cases:
        for f in OUT.glob(f"release_{n}*.{fmt}"):
            f.unlink()
        secs, mem, _, cpu = _measure_cpu(["unmarked-copy", str(home), str(OUT / f"release_{n}_plain.{fmt}")])
        results.append(report(f"unmarked DuckDB COPY (reference), {fmt}, {n:,} rows", n, secs, mem))
        plain_cpu, plain = cpu, secs
        secs, mem, _, cpu = _measure_cpu(["release", str(home), str(OUT / f"release_{n}.{fmt}"),
                                          *([extra] if extra else [])])
        label = "default channels" + (f" + {extra}" if extra else "")
        results.append(report(f"release create, {label}, {fmt}, {n:,} rows", n, secs, mem))
        print(f"    cpu s: unmarked {plain_cpu:.2f}, release {cpu:.2f} ({cpu / plain_cpu:.2f}x); "
              f"wall ratio {secs / plain:.2f}x", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    return results


def _measure_cpu(args: list[str]) -> tuple[float, float, str, float]:
    """``measure`` plus the child's CPU seconds (user + system)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "_child", *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, output, usage.ru_utime + usage.ru_stime


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["import", "release"], action="append")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000_000, 10_000_000])
    a = p.parse_args()
    only = set(a.only or ["import", "release"])
    rows: list[tuple[str, int, float, float]] = []
    print(f"jejak benchmark on {os.cpu_count()} cores; inputs in {OUT}")
    print(f"{'case':<62} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9}")
    if "import" in only:
        rows += bench_import(a.sizes)
    if "release" in only:
        rows += bench_release(1_000_000)
    print(f"\nsummary\n{'case':<62} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9}")
    for name, n, secs, mem in rows:
        print(f"{name:<62} {secs:8.2f} {n / secs:12,.0f} {mem:9,.0f}")


if __name__ == "__main__":
    main()
