"""``jejak eval``: how many leaked rows attribution needs under each attack, and how often it accuses
an innocent recipient.

A scratch workspace gets a synthetic registry, a few real marked releases (the leakers) and many
cheap *decoy* releases: ledger entries made exactly like a release's (id, as-of, columns, filter,
channel policy) but without writing a file. A release's marks are a function of (registry, ledger
entry, master secret) alone, so a decoy is scored exactly as a release with a file would be, and
it is innocent of every leak by construction.

* rows needed: for each attack, a binary search on the leak size for the smallest leak from
  which attribution names exactly the leaker(s), each with bound <= 1e-9 (or a canary);
* outcomes: for each attack, ``leaks`` leaks of random size and what each verdict amounted to
  (``OUTCOMES``: the leaker named, candidates listed, inconclusive, unreleased, an innocent named);
  the unmarked registry copies must come out ``unreleased``, and every leak is dated;
* innocent accusations: every decoy scored against any of those leaks is one innocent trial,
  and an accusation is a decoy with bound <= 1e-6.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
from jejak.where import compile_filter
from jejak.workspace import Workspace

Say = Callable[[str], None]


@dataclass(frozen=True)
class Scenario:
    """One attack of the threat model (docs/attribution.md "Threat model"), as the harness plays it."""

    name: str
    attacks: tuple[str, ...]
    colluders: int = 1
    fmt: str = "csv"
    source: str = "release"  # "release": leaker(s)' files; "registry": an unmarked copy of the registry


SCENARIOS: list[Scenario] = [
    Scenario("unmodified extract", ()),
    Scenario("shuffled, columns renamed and reordered, parquet", ("shuffle", "rename", "reorder"), fmt="parquet"),
    Scenario("every field re-typed (cell by cell), jsonl", ("reformat", "shuffle"), fmt="jsonl"),
    Scenario("fully normalised", ("normalise", "shuffle")),
    Scenario("normalised, columns dropped, padded 25%, xlsx", ("normalise", "drop-columns", "pad", "rename"),
             fmt="xlsx"),
    Scenario("noise in 5% of cells", ("noise",)),
    Scenario("normalised, timestamps cut to minutes", ("normalise", "truncate-minutes")),
    Scenario("lower-cased headers (a PostgreSQL export)", ("lower-headers", "shuffle")),
    Scenario("normalised, re-jittered +-1..3 s, amounts +-1..9 Rp", ("normalise", "rejitter-3", "amounts-jitter")),
    Scenario("re-jittered +-1..5 s", ("rejitter-5", "shuffle")),
    Scenario("seconds and last two amount digits randomised", ("seconds-random", "amounts-random2")),
    Scenario("rounded to minutes, amounts rounded to thousands", ("round-minutes", "amounts-round")),
    Scenario("minutes of noise (+-1..5 min)", ("rejitter-minutes", "normalise")),
    Scenario("2 colluders, rows interleaved", ("merge-rows", "shuffle"), 2),
    Scenario("2 colluders, cells merged", ("merge-cells", "normalise"), 2),
    Scenario("2 colluders, only rows common to both (no canary)", ("intersect", "normalise"), 2),
    Scenario("3 colluders, rows interleaved", ("merge-rows", "normalise"), 3),
    Scenario("3 colluders, only rows common to all (no canary)", ("intersect",), 3),
    Scenario("3 colluders, majority of each cell", ("majority", "lower-headers"), 3),
    Scenario("framing: a leaker cuts his copy to another's rows and re-marks it", ("frame", "normalise")),
    Scenario("unmarked registry copy, lower-cased headers", ("lower-headers", "shuffle"), source="registry"),
    Scenario("unmarked registry copy, normalised, jsonl", ("normalise", "rename"), fmt="jsonl", source="registry"),
]

#: Outcomes of one leak, as ``outcome`` classes them.
OUTCOMES = ("named", "partly named", "candidates", "unreleased", "inconclusive", "not-ours", "other",
            "innocent named")


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
    rows_needed: int | None  # None: not reached within the largest size tried (or not a naming scenario)
    seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)  # OUTCOMES -> leaks
    leaks: int = 0
    dated: int = 0  # leaks whose extraction window contains the extraction date

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "rows": self.rows_needed, "seconds": round(self.seconds, 1),
                "leaks": self.leaks, "outcomes": {k: v for k, v in self.outcomes.items() if v},
                "dated": self.dated}


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
                "rows_needed": [r.to_json() for r in self.rows],
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


def run_leak(setup: Setup, scenario: Scenario, rows: int, seed: int, work: Path, threshold: float = 1e-6,
             dating: list[bool] | None = None) -> tuple[Attribution, list[str]]:
    """Make one attacked leak, link it, attribute it; returns the attribution and the true source(s):
    the leaked releases' ids, or ``["unreleased"]`` for a copy of the registry.

    With ``dating``, the leak is dated too, and whether the extraction window contains the date
    the data was extracted (the releases' ``as_of``, or the registry's newest snapshot) is appended.
    """
    rng = np.random.default_rng(seed)
    leak, truth, dates = _make_leak(setup, scenario, rows, rng)
    path = work / f"leak.{scenario.fmt}"
    path.unlink(missing_ok=True)
    attack.write(leak.table, path, scenario.fmt)
    ledger = setup.workspace.ledger()
    with Registry(setup.workspace.registry_path, read_only=True) as reg:
        info = reg.dataset("peserta")
        table = read_table(reg.con, path, name="_jj_leak", strict=False)
        link_by_key(reg.con, table.name, {c: leak.origin.get(c, "") for c in table.columns}, info, ledger,
                    index_key=canary_index_key(setup.workspace.master_secret()))
        if dating is not None:
            w = extraction_window(reg.con, linked="_jj_linked", dataset=info, versions_table=table_name(info.name))
            dating.append(all((w.from_ is None or w.from_ <= d) and (w.to is None or d <= w.to) for d in dates))
        result = attribute(reg.con, registry=reg, ledger=ledger, master=setup.workspace.master_secret(),
                           dataset=info, threshold=threshold)
    ledger.close()
    return result, truth


def _make_leak(setup: Setup, scenario: Scenario, rows: int,
               rng: np.random.Generator) -> tuple[attack.Leak, list[str], list[date]]:
    if scenario.source == "registry":
        table = _registry_copy(setup)
        leak = attack.apply([attack.start(table, _roles(setup, table))], list(scenario.attacks), rows, rng,
                            key="NOKA", exclude_nik=setup.exclude_nik, exclude_noka=setup.exclude_noka)
        with Registry(setup.workspace.registry_path, read_only=True) as reg:
            newest = reg.dataset("peserta").snapshots[-1]
        return leak, ["unreleased"], [newest]
    chosen = [setup.leakers[i] for i in rng.choice(len(setup.leakers), scenario.colluders, replace=False)]
    tables = [attack.read_release(p) for _, p in chosen]
    roles = _roles(setup, tables[0])
    victim = _victim_rows(setup, rng) if "frame" in scenario.attacks else None
    leak = attack.apply([attack.start(t, roles) for t in tables], list(scenario.attacks), rows, rng, key="NOKA",
                        exclude_nik=setup.exclude_nik, exclude_noka=setup.exclude_noka, victim_rows=victim)
    return leak, [r.release_id for r, _ in chosen], [r.as_of for r, _ in chosen]


def _registry_copy(setup: Setup) -> Any:
    """The registry's current rows in the release layout: what the data centre itself would dump."""
    with Registry(setup.workspace.registry_path, read_only=True) as reg:
        cols = ", ".join(f'"{c}"' for c in setup.leakers[0][0].columns)
        return reg.con.sql(f"SELECT {cols} FROM ({reg.as_of_sql('peserta')}) ORDER BY 1").to_arrow_table()


def _victim_rows(setup: Setup, rng: np.random.Generator) -> Any:
    """The keys of an innocent branch-office extract, which a framing leaker cuts his copy to."""
    filtered = [d for d in setup.decoys if d.filter]
    victim = filtered[int(rng.integers(len(filtered)))] if filtered else setup.decoys[0]
    with Registry(setup.workspace.registry_path, read_only=True) as reg:
        where = f"WHERE {compile_filter(victim.filter, reg.dataset('peserta').columns)}" if victim.filter else ""
        return reg.con.sql(f"SELECT _key AS NOKA FROM ({reg.as_of_sql('peserta', victim.as_of)}) {where}"
                           ).to_arrow_table()


_ROLES: dict[int, Any] = {}


def _roles(setup: Setup, table: Any) -> Any:
    if id(setup) not in _ROLES:
        _ROLES[id(setup)] = attack.roles_of(table)
    return _ROLES[id(setup)]


def named(result: Attribution, bound: float = 1e-9) -> set[str]:
    """Releases named with bound <= ``bound`` (or by a canary)."""
    return {s.release_id for s in result.releases
            if s.suspect and ("canary" in s.named_by or (s.log10_bound is not None
                                                        and s.log10_bound <= math.log10(bound)))}


def correct(result: Attribution, truth: list[str], bound: float = 1e-9) -> bool:
    if truth == ["unreleased"]:
        return result.verdict == "unreleased"
    return result.verdict == "release" and named(result, bound) == set(truth) and set(result.suspects) == set(truth)


def outcome(result: Attribution, truth: list[str]) -> str:
    """What one leak's verdict amounts to (``OUTCOMES``)."""
    suspects = set(result.suspects)
    if suspects - set(truth):
        return "innocent named"
    if suspects:
        return "named" if suspects == set(truth) else "partly named"
    if truth == ["unreleased"] and result.verdict == "unreleased":
        return "unreleased"
    if result.verdict == "altered" and set(truth) <= {c["release_id"] for c in result.candidates}:
        return "candidates"
    return result.verdict if result.verdict in OUTCOMES else "other"


def rows_needed(setup: Setup, scenario: Scenario, work: Path, *, seeds: int = 2, largest: int = 8192,
                dating: list[bool] | None = None) -> int | None:
    """Smallest leak size on a x1.5 grid (binary search) at which all ``seeds`` leaks are attributed correctly."""
    grid = sorted({round(2 * 1.5**i) for i in range(40) if 2 * 1.5**i <= largest})

    def ok(n: int) -> bool:
        return all(correct(*run_leak(setup, scenario, n, 1000 * n + s, work, dating=dating)) for s in range(seeds))

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


@dataclass
class _Innocents:
    """Every decoy scored against any leak is one innocent trial."""

    decoys: set[str]
    trials: int = 0
    accused: int = 0
    lowest: float = 0.0
    raw: list[float] = field(default_factory=list)

    def add(self, result: Attribution) -> None:
        for s in result.releases:
            if s.release_id in self.decoys and s.log10_bound is not None:
                self.trials += 1
                self.accused += int(s.suspect)
                self.lowest = min(self.lowest, s.log10_bound)
                self.raw.append(s.log10_p if s.log10_p is not None else 0.0)

    def calibration(self) -> dict[str, float]:
        arr = np.array(self.raw) if self.raw else np.zeros(1)
        return {f"{a:g}": float(np.mean(arr <= math.log10(a))) for a in (0.5, 0.1, 0.01, 0.001)}


def outcomes(setup: Setup, scenario: Scenario, leaks: int, work: Path, innocents: _Innocents, *, seed: int = 7,
             smallest: int = 100, largest: int = 3000) -> tuple[dict[str, int], int]:
    """``leaks`` leaks of random size (log-uniform in [smallest, largest]): outcome counts and how many
    were dated right. Every decoy scored is an innocent trial."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(OUTCOMES, 0)
    dated: list[bool] = []
    for i in range(leaks):
        rows = int(round(math.exp(rng.uniform(math.log(smallest), math.log(largest)))))
        result, truth = run_leak(setup, scenario, rows, 50_000 + seed * 10_000 + i, work, dating=dated)
        counts[outcome(result, truth)] += 1
        innocents.add(result)
    return counts, sum(dated)


def evaluate(work: Path, *, participants: int = 20_000, releases: int = 1_000, leaks: int = 200, seeds: int = 2,
             scenarios: list[str] | None = None, say: Say = lambda _m: None) -> Report:
    """Build the scratch workspace in ``work`` (or reuse it) and run the whole evaluation: per scenario,
    the rows needed and the outcomes of ``leaks`` leaks; every decoy scored is an innocent trial."""
    t0 = time.perf_counter()
    # Synthetic, but shaped like personal data and next to a real ledger's format: owner-only,
    # whoever calls this and whatever their umask.
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (work / "ws").exists():
        say(f"reusing the scratch workspace in {work}")
        setup = load(work)
        participants, releases = _sizes(setup)
    else:
        setup = build(work, participants=participants, releases=releases, say=say)
    report = Report(participants=participants, releases=releases)
    innocents = _Innocents({d.release_id for d in setup.decoys})
    dated: list[bool] = []
    for sc in SCENARIOS:
        if scenarios and sc.name not in scenarios:
            continue
        t = time.perf_counter()
        say(f"{sc.name}: rows needed")
        n = rows_needed(setup, sc, work, seeds=seeds, dating=dated) if sc.source == "release" and "frame" not in \
            sc.attacks else None
        say(f"{sc.name}: {leaks} leaks")
        counts, ok = outcomes(setup, sc, leaks, work, innocents)
        report.rows.append(Row(sc.name, n, time.perf_counter() - t, counts, leaks, ok))
        report.dating_trials += leaks
        report.dating_contained += ok
    report.dating_trials += len(dated)
    report.dating_contained += sum(dated)
    report.innocent_trials, report.innocent_accused = innocents.trials, innocents.accused
    report.innocent_min_log10_bound, report.calibration = innocents.lowest, innocents.calibration()
    report.seconds = time.perf_counter() - t0
    return report
