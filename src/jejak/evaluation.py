"""``jejak eval``: how many leaked rows attribution needs under each attack, and how often it accuses
an innocent recipient.

A scratch workspace gets a synthetic registry, a few real marked releases (the leakers) and many
cheap *decoy* releases: ledger entries made exactly like a release's (id, as-of, columns, filter,
channel policy) but without writing a file. A release's marks are a function of (registry, ledger
entry, master secret) alone, so a decoy is scored exactly as a release with a file would be, and
it is innocent of every leak by construction.

* rows needed: for each attack, a binary search on the leak size for the smallest leak from
  which attribution names exactly the leaker(s), each with bound <= 1e-9 (or a canary);
* innocent accusations: leaks under random attacks scored against all decoys; every decoy scored
  is one innocent trial, and an accusation is a decoy with bound <= 1e-6.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from jejak import attack
from jejak.attribution import Attribution, attribute
from jejak.dating import extraction_window
from jejak.intake import read_table
from jejak.keys import canary_index_key
from jejak.ledger import Ledger, ReleaseEntry, ReleaseRecord
from jejak.linkbykey import link_by_key
from jejak.registry import Registry, table_name
from jejak.release import ReleaseRequest, create_release
from jejak.workspace import Workspace

Say = Callable[[str], None]

#: (name, attacks, number of colluders, leak format)
SCENARIOS: list[tuple[str, list[str], int, str]] = [
    ("unmodified extract", [], 1, "csv"),
    ("shuffled, columns renamed and reordered, parquet", ["shuffle", "rename", "reorder"], 1, "parquet"),
    ("every field re-typed (cell by cell), jsonl", ["reformat", "shuffle"], 1, "jsonl"),
    ("fully normalised", ["normalise", "shuffle"], 1, "csv"),
    ("normalised, columns dropped, padded 25%, xlsx", ["normalise", "drop-columns", "pad", "rename"], 1, "xlsx"),
    ("noise in 5% of cells", ["noise"], 1, "csv"),
    ("normalised, timestamps cut to minutes", ["normalise", "truncate-minutes"], 1, "csv"),
    ("2 colluders, rows interleaved", ["merge-rows", "shuffle"], 2, "csv"),
    ("2 colluders, cells merged", ["merge-cells", "normalise"], 2, "csv"),
    ("3 colluders, rows interleaved", ["merge-rows", "normalise"], 3, "csv"),
]


LEAKERS = ("KC Leaker A", "PT Leaker B", "RS Leaker C")
DECOYS = "Decoy recipients"


@dataclass
class Setup:
    workspace: Workspace
    leakers: list[tuple[ReleaseRecord, Path]]
    decoys: list[ReleaseRecord]
    exclude_nik: list[str]
    exclude_noka: list[str]


@dataclass
class Row:
    scenario: str
    rows_needed: int | None  # None: not reached within the largest size tried
    seconds: float


@dataclass
class Report:
    participants: int
    releases: int
    rows: list[Row] = field(default_factory=list)
    innocent_trials: int = 0
    innocent_accused: int = 0
    innocent_min_log10_bound: float = 0.0
    calibration: dict[str, float] = field(default_factory=dict)  # P[raw tail <= a] per a
    dating_trials: int = 0  # leaks dated (every leak of every trial above)
    dating_contained: int = 0  # of those, windows containing the leaked releases' extraction date
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"participants": self.participants, "releases": self.releases,
                "rows_needed": [{"scenario": r.scenario, "rows": r.rows_needed, "seconds": round(r.seconds, 1)}
                                for r in self.rows],
                "innocent": {"trials": self.innocent_trials, "accused_at_1e-6": self.innocent_accused,
                             "min_log10_bound": round(self.innocent_min_log10_bound, 3),
                             "p_value_calibration": self.calibration},
                "dating": {"trials": self.dating_trials, "window_contains_extraction": self.dating_contained},
                "seconds": round(self.seconds, 1)}


def build(home: Path, *, participants: int = 20_000, releases: int = 1_000, seed: int = 1,
          say: Say = lambda _m: None) -> Setup:
    """A scratch workspace: registry, 3 marked releases with files, and decoys up to ``releases``."""
    from jejak.synth import generate

    ws = Workspace.init(home / "ws")
    say(f"generating {participants:,} synthetic participants")
    for f in generate(home / "data", participants=participants, snapshots=2, seed=seed, patients=False):
        with Registry(ws.registry_path) as reg:
            reg.import_snapshot(f.path, "peserta", "NOKA", f.as_of)
    ledger = ws.ledger()
    leakers = []
    for i, name in enumerate(LEAKERS):
        ledger.add_recipient(name, "vendor")
        path = home / f"release_{i}.csv"
        leakers.append((create_release(ws, ReleaseRequest("peserta", name, path)), path))
    say(f"recording {releases - len(leakers):,} decoy releases")
    decoys = record_decoys(ws, ledger, leakers[0][0], releases - len(leakers), seed=seed)
    with Registry(ws.registry_path, read_only=True) as reg:
        nik = [r[0] for r in reg.con.execute("SELECT DISTINCT NIK FROM rows_peserta").fetchall()]
        noka = [r[0] for r in reg.con.execute("SELECT DISTINCT _key FROM rows_peserta").fetchall()]
    recs = {r.release_id: r for r in ledger.releases(dataset="peserta")}
    return Setup(ws, leakers, [recs[d.release_id] for d in decoys], nik, noka)


def record_decoys(ws: Workspace, ledger: Ledger, template: ReleaseRecord, count: int, *,
                  seed: int = 1) -> list[ReleaseEntry]:
    """Record ``count`` innocent releases shaped like ``template`` (no files are written).

    Most hold every row (the hardest case: all are tested against every leak); some are
    branch-office extracts, as real ones would be. Each has its own id and so its own secrets.
    """
    ledger.add_recipient(DECOYS, "other")
    with Registry(ws.registry_path, read_only=True) as reg:
        offices = [r[0] for r in reg.con.execute(
            f"SELECT DISTINCT KDKANTOR FROM ({reg.as_of_sql(template.dataset)}) ORDER BY 1").fetchall()]
    rng = np.random.default_rng(seed)
    decoys = []
    for i in range(count):
        where = None if rng.random() < 0.8 else f"KDKANTOR = '{offices[int(rng.integers(len(offices)))]}'"
        entry = ReleaseEntry(
            release_id=f"R-EVAL-{i:05d}-{secrets.token_hex(4).upper()}", recipient=DECOYS,
            dataset=template.dataset, as_of=template.as_of, registry_version=template.registry_version,
            columns=list(template.columns), filter=where, rows=template.rows, channels=dict(template.channels),
            policy={**template.policy, "channels": [c for c in template.policy["channels"] if c != "canary"]},
            canaries=0, created_at=datetime.now(UTC).replace(microsecond=0), operator="eval",
            purpose="evaluation decoy", file_name=f"decoy-{i}.csv", file_sha256=hashlib.sha256(b"").hexdigest(),
            file_format="csv", kind="marked", extra={"eval": "decoy: recorded without writing its file"})
        with ledger.recording(entry):
            pass
        decoys.append(entry)
    return decoys


def load(home: Path) -> Setup:
    """The scratch workspace ``build`` made earlier in ``home`` (to run more trials on it)."""
    ws = Workspace.open(home / "ws")
    with ws.ledger() as ledger:
        recs = ledger.releases(dataset="peserta")
    leakers = [r for r in recs if r.recipient in LEAKERS]
    leakers.sort(key=lambda r: LEAKERS.index(r.recipient))
    with Registry(ws.registry_path, read_only=True) as reg:
        nik = [r[0] for r in reg.con.execute("SELECT DISTINCT NIK FROM rows_peserta").fetchall()]
        noka = [r[0] for r in reg.con.execute("SELECT DISTINCT _key FROM rows_peserta").fetchall()]
    return Setup(ws, [(r, home / f"release_{i}.csv") for i, r in enumerate(leakers)],
                 [r for r in recs if r.recipient == DECOYS], nik, noka)


def _sizes(setup: Setup) -> tuple[int, int]:
    with Registry(setup.workspace.registry_path, read_only=True) as reg:
        people = reg.dataset("peserta").rows
    return people, len(setup.leakers) + len(setup.decoys)


def run_leak(setup: Setup, scenario: list[str], colluders: int, fmt: str, rows: int, seed: int,
             work: Path, threshold: float = 1e-6, dating: list[bool] | None = None) -> tuple[Attribution, list[str]]:
    """Make one attacked leak, link it, attribute it; returns the attribution and the true leakers.

    With ``dating``, the leak is dated too, and whether the extraction window contains the date
    the leaked releases were extracted (their ``as_of``) is appended to it.
    """
    rng = np.random.default_rng(seed)
    chosen = [setup.leakers[i] for i in rng.choice(len(setup.leakers), colluders, replace=False)]
    tables = [attack.read_release(p) for _, p in chosen]
    roles = _roles(setup, tables[0])
    leak = attack.apply([attack.start(t, roles) for t in tables], scenario, rows, rng,
                        key="NOKA", exclude_nik=setup.exclude_nik, exclude_noka=setup.exclude_noka)
    path = work / f"leak.{fmt}"
    path.unlink(missing_ok=True)
    attack.write(leak.table, path, fmt)
    ledger = setup.workspace.ledger()
    with Registry(setup.workspace.registry_path, read_only=True) as reg:
        info = reg.dataset("peserta")
        table = read_table(reg.con, path, name="_jj_leak", strict=False)
        link_by_key(reg.con, table.name, {c: leak.origin.get(c, "") for c in table.columns}, info, ledger,
                    index_key=canary_index_key(setup.workspace.master_secret()))
        if dating is not None:
            w = extraction_window(reg.con, linked="_jj_linked", dataset=info, versions_table=table_name(info.name))
            dating.append(all((w.from_ is None or w.from_ <= r.as_of) and (w.to is None or r.as_of <= w.to)
                              for r, _ in chosen))
        result = attribute(reg.con, registry=reg, ledger=ledger, master=setup.workspace.master_secret(),
                           dataset=info, threshold=threshold)
    ledger.close()
    return result, [r.release_id for r, _ in chosen]


_ROLES: dict[int, Any] = {}


def _roles(setup: Setup, table: Any) -> Any:
    if id(setup) not in _ROLES:
        _ROLES[id(setup)] = attack.roles_of(table)
    return _ROLES[id(setup)]


def correct(result: Attribution, truth: list[str], bound: float = 1e-9) -> bool:
    named = {s.release_id for s in result.releases
             if s.suspect and ("canary" in s.named_by or (s.log10_bound is not None
                                                         and s.log10_bound <= math.log10(bound)))}
    return result.verdict == "release" and named == set(truth) and set(result.suspects) == set(truth)


def rows_needed(setup: Setup, scenario: list[str], colluders: int, fmt: str, work: Path, *, seeds: int = 2,
                largest: int = 8192, dating: list[bool] | None = None) -> int | None:
    """Smallest leak size on a x1.5 grid (binary search) at which all ``seeds`` leaks are attributed correctly."""
    grid = sorted({round(2 * 1.5**i) for i in range(40) if 2 * 1.5**i <= largest})

    def ok(n: int) -> bool:
        return all(correct(*run_leak(setup, scenario, colluders, fmt, n, 1000 * n + s, work, dating=dating))
                   for s in range(seeds))

    lo, hi = -1, len(grid) - 1  # invariant: grid[hi] works; grid[lo] fails (or lo = -1)
    if not ok(grid[hi]):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(grid[mid]):
            hi = mid
        else:
            lo = mid
    return grid[hi]


def innocents(setup: Setup, leaks: int, work: Path, seed: int = 7,
              dating: list[bool] | None = None) -> tuple[int, int, float, dict[str, float]]:
    """Score ``leaks`` attacked leaks against every decoy: (trials, accused at 1e-6, min log10 bound, calibration)."""
    rng = np.random.default_rng(seed)
    decoy_ids = {d.release_id for d in setup.decoys}
    trials = accused = 0
    lowest = 0.0
    raw: list[float] = []
    for i in range(leaks):
        name, scenario, colluders, fmt = SCENARIOS[int(rng.integers(len(SCENARIOS)))]
        del name
        result, _ = run_leak(setup, scenario, colluders, fmt, int(rng.integers(50, 3000)), 90_000 + seed * 1000 + i,
                             work, dating=dating)
        for s in result.releases:
            if s.release_id in decoy_ids and s.log10_bound is not None:
                trials += 1
                accused += int(s.suspect)
                lowest = min(lowest, s.log10_bound)
                raw.append(s.log10_p if s.log10_p is not None else 0.0)
    arr = np.array(raw) if raw else np.zeros(1)
    calibration = {f"{a:g}": float(np.mean(arr <= math.log10(a))) for a in (0.5, 0.1, 0.01, 0.001)}
    return trials, accused, lowest, calibration


def evaluate(work: Path, *, participants: int = 20_000, releases: int = 1_000, innocent_leaks: int = 12,
             seeds: int = 2, scenarios: list[str] | None = None, say: Say = lambda _m: None) -> Report:
    """Build the scratch workspace in ``work`` and run the whole evaluation."""
    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    if (work / "ws").exists():
        say(f"reusing the scratch workspace in {work}")
        setup = load(work)
        participants, releases = _sizes(setup)
    else:
        setup = build(work, participants=participants, releases=releases, say=say)
    report = Report(participants=participants, releases=releases)
    dated: list[bool] = []
    for name, scenario, colluders, fmt in SCENARIOS:
        if scenarios and name not in scenarios:
            continue
        t = time.perf_counter()
        say(f"rows needed: {name}")
        n = rows_needed(setup, scenario, colluders, fmt, work, seeds=seeds, dating=dated)
        report.rows.append(Row(name, n, time.perf_counter() - t))
    say(f"innocent trials: {innocent_leaks} leaks x {len(setup.decoys):,} decoys")
    trials, accused, lowest, cal = innocents(setup, innocent_leaks, work, dating=dated)
    report.dating_trials, report.dating_contained = len(dated), sum(dated)
    report.innocent_trials, report.innocent_accused = trials, accused
    report.innocent_min_log10_bound, report.calibration = lowest, cal
    report.seconds = time.perf_counter() - t0
    return report
