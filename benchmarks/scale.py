"""``make bench`` / ``make bench-scale``: ``jejak investigate`` against a hand-written DuckDB check.

Issue 15's yardstick, measured in the same run on the same files: a DuckDB query that reads the
leak CSV, left-joins the registry's current rows on NIK and compares every column. Next to it,
``jejak investigate`` end to end (the CLI, in a child process: evidence copy and hash, intake,
mapping, linkage, verification, dating, impact, attribution, the case folder).

The leak is realistic: the rows of every snapshot of a synthetic registry (3 snapshots, so some
rows are outdated versions), shuffled, ``N`` of them; the registry holds ``N`` people. Data are
generated once and cached outside the repository, in ``$JEJAK_BENCH_DATA`` (default
``~/.cache/jejak-bench``). Each figure is the median of ``--repeats`` runs (interleaved with its
yardstick); peak memory is the child's maximum resident set (``wait4``'s rusage).

    python benchmarks/scale.py                       # 1M rows (make bench)
    python benchmarks/scale.py --sizes 1000000,10000000
    python benchmarks/scale.py --sizes 50000000 --repeats 1   # make bench-scale
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DATA = Path(os.environ.get("JEJAK_BENCH_DATA", Path.home() / ".cache" / "jejak-bench"))
SNAPSHOTS = 3
UNIT = 1_000_000  # people generated at once; larger registries repeat the unit with shifted identifiers


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB, CPU seconds, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed ({status}): {' '.join(cmd)}")
    return secs, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out


def child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "setup":
        from jejak.registry import Registry
        from jejak.workspace import Workspace

        home, files = Path(argv[1]), [Path(p) for p in argv[2:]]
        ws = Workspace.init(home)
        with Registry(ws.registry_path) as reg:
            for f in files:
                reg.import_snapshot(f, "peserta", "NOKA", date.fromisoformat(f.stem.split("_")[-1]))
    elif kind == "prepare":  # in a child: the benchmark's own process stays small, and so do its forks
        n = int(argv[1])
        files = snapshots(n)
        workspace(n, files)
        leak(n, files)
    elif kind == "yardstick":
        import duckdb

        registry, leaked = argv[1], argv[2]
        con = duckdb.connect(registry, read_only=True)
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_csv('{leaked}', all_varchar=true)").fetchall()]
        same = " AND ".join(f'l."{c}" IS NOT DISTINCT FROM r."{c}"' for c in cols)
        row = con.execute(
            f"""SELECT count(*), count(r.NIK), count(*) FILTER (WHERE {same})
                FROM read_csv('{leaked}', all_varchar=true) l
                LEFT JOIN (SELECT * FROM rows_peserta WHERE _valid_to IS NULL) r ON l.NIK = r.NIK"""
        ).fetchone()
        assert row is not None
        print(json.dumps({"rows": row[0], "matched": row[1], "identical": row[2]}))
    else:
        raise SystemExit(f"unknown child {kind}")


def snapshots(n: int) -> list[Path]:
    """``SNAPSHOTS`` participant snapshots of ``n`` people each (CSV), cached."""
    out = DATA / f"registry_{n}"
    files = sorted(out.glob("peserta_*.csv"))
    if len(files) == SNAPSHOTS:
        return files
    unit_dir = DATA / f"synth_{min(n, UNIT)}"
    if len(sorted(unit_dir.glob("peserta_*.csv"))) != SNAPSHOTS:
        from jejak.synth import generate

        shutil.rmtree(unit_dir, ignore_errors=True)
        t = time.perf_counter()
        generate(unit_dir, participants=min(n, UNIT), snapshots=SNAPSHOTS, seed=1, fmt="csv", patients=False)
        print(f"  (generated {min(n, UNIT):,} participants x {SNAPSHOTS} snapshots in {time.perf_counter() - t:.0f} s)",
              flush=True)
    units = sorted(unit_dir.glob("peserta_*.csv"))
    if n <= UNIT:
        return units
    import duckdb

    # Larger registries repeat the unit with shifted card numbers and NIKs (same widths and shapes).
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    copies = -(-n // UNIT)
    for src in units:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_csv('{src}', all_varchar=true)").fetchall()]
        shift = {
            "NOKA": "lpad((NOKA::BIGINT + i * 100000000000)::VARCHAR, 13, '0')",
            "NIK": "left(NIK, 12) || lpad(((right(NIK, 4)::INT + i * 1237) % 10000)::VARCHAR, 4, '0')",
        }
        sel = ", ".join(f"{shift[c]} AS {c}" if c in shift else f'"{c}"' for c in cols)
        tmp = out / (src.name + ".part")
        con.execute(f"COPY (SELECT {sel} FROM read_csv('{src}', all_varchar=true), range({copies}) t(i) "
                    f"LIMIT {n}) TO '{tmp}' (HEADER, DELIMITER ',')")
        tmp.rename(out / src.name)
    return sorted(out.glob("peserta_*.csv"))


def leak(n: int, files: list[Path]) -> Path:
    """``n`` rows drawn from every snapshot, shuffled: what a dump taken over time looks like."""
    path = DATA / f"leak_{n}.csv"
    if path.exists():
        return path
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{DATA / 'duckdb-tmp'}'")
    union = " UNION ALL ".join(f"SELECT * FROM read_csv('{f}', all_varchar=true)" for f in files)
    tmp = path.with_suffix(".part")
    con.execute(f"COPY (SELECT * FROM ({union}) ORDER BY hash(NOKA || coalesce(TSUPDATE, '') || 'leak') LIMIT {n}) "
                f"TO '{tmp}' (HEADER, DELIMITER ',')")
    tmp.rename(path)
    return path


def workspace(n: int, files: list[Path]) -> Path:
    home = DATA / f"ws_{n}"
    if not (home / "registry.duckdb").exists():
        shutil.rmtree(home, ignore_errors=True)
        t = time.perf_counter()
        run([sys.executable, __file__, "_child", "setup", str(home), *map(str, files)])
        print(f"  (registry of {n:,} people, {len(files)} snapshots, imported in {time.perf_counter() - t:.0f} s)",
              flush=True)
    return home


def jejak_cmd() -> list[str]:
    return [sys.executable, "-c", "from jejak.cli import main; main()"]


def bench(n: int, repeats: int, baseline: Path | None) -> dict[str, float]:
    run([sys.executable, __file__, "_child", "prepare", str(n)])
    files = snapshots(n)
    home = workspace(n, files)
    lk = leak(n, files)
    yard: list[tuple[float, float, float]] = []
    jej: list[tuple[float, float, float]] = []
    base: list[tuple[float, float, float]] = []
    for _ in range(repeats):
        if baseline is not None:  # another source tree (e.g. main's src/), interleaved: before and after
            shutil.rmtree(home / "cases", ignore_errors=True)
            (home / "cases").mkdir()
            secs, mem, cpu, _ = run([*jejak_cmd(), "--home", str(home), "investigate", str(lk)],
                                    env={"PYTHONPATH": str(baseline)})
            base.append((secs, mem, cpu))
            print(f"    {n:,}: baseline jejak ({baseline}) {secs:.2f} s, {mem:,.0f} MiB", flush=True)
        secs, mem, cpu, out = run([sys.executable, __file__, "_child", "yardstick", str(home / "registry.duckdb"),
                                   str(lk)])
        check = json.loads(out)
        yard.append((secs, mem, cpu))
        shutil.rmtree(home / "cases", ignore_errors=True)
        (home / "cases").mkdir()
        verdict = DATA / f"verdict_{n}.json"
        secs, mem, cpu, _ = run([*jejak_cmd(), "--home", str(home), "investigate", str(lk), "--json", str(verdict)])
        jej.append((secs, mem, cpu))
        got = json.loads(verdict.read_text())["verification"]
        print(f"    {n:,}: yardstick {yard[-1][0]:.2f} s, {yard[-1][1]:,.0f} MiB ({check['matched']:,} matched on "
              f"NIK, {check['identical']:,} identical to the current row); jejak {secs:.2f} s, {mem:,.0f} MiB "
              f"({got['matched']:,} matched)", flush=True)
    shutil.rmtree(home / "cases", ignore_errors=True)
    y, j = (tuple(statistics.median(c) for c in zip(*runs, strict=True)) for runs in (yard, jej))
    out = {"rows": n, "yard_s": y[0], "yard_mib": y[1], "yard_cpu": y[2], "jejak_s": j[0], "jejak_mib": j[1],
           "jejak_cpu": j[2]}
    if base:
        b = tuple(statistics.median(c) for c in zip(*base, strict=True))
        out |= {"base_s": b[0], "base_mib": b[1], "base_cpu": b[2]}
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000_000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline", type=Path, help="also time jejak from this source tree (PYTHONPATH), interleaved")
    a = p.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"jejak investigate vs a hand-written DuckDB check; {os.cpu_count()} cores, load {load:.1f} at start; "
          f"data in {DATA}; medians of {a.repeats}", flush=True)
    results = [bench(n, a.repeats, a.baseline) for n in a.sizes]
    head = f"{'figure':<44} {'seconds':>8} {'yardstick':>9} {'ratio':>6} {'rows/s':>10} {'CPU s':>7} {'peak MiB':>9}"
    print("\n" + head)
    for r in results:
        n = int(r["rows"])
        print(f"{'DuckDB check (yardstick), ' + f'{n:,} rows':<44} {r['yard_s']:8.2f} {r['yard_s']:9.2f} "
              f"{1.0:6.2f} {n / r['yard_s']:10,.0f} {r['yard_cpu']:7.1f} {r['yard_mib']:9,.0f}")
        if "base_s" in r:
            print(f"{'baseline jejak investigate, ' + f'{n:,}-row leak':<44} {r['base_s']:8.2f} {r['yard_s']:9.2f} "
                  f"{r['base_s'] / r['yard_s']:6.2f} {n / r['base_s']:10,.0f} {r['base_cpu']:7.1f} "
                  f"{r['base_mib']:9,.0f}")
        print(f"{'jejak investigate, ' + f'{n:,}-row leak':<44} {r['jejak_s']:8.2f} {r['yard_s']:9.2f} "
              f"{r['jejak_s'] / r['yard_s']:6.2f} {n / r['jejak_s']:10,.0f} {r['jejak_cpu']:7.1f} "
              f"{r['jejak_mib']:9,.0f}")
    print(f"load at end {os.getloadavg()[0]:.1f} (other jobs share this machine: wall time depends on them)")


if __name__ == "__main__":
    main()
