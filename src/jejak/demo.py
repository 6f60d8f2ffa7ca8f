"""The demonstration story behind ``make demo``, end to end on synthetic data.

1. A new workspace and a synthetic registry: BPJS-like participants and Kemenkes-like patient
   visits as three dated snapshots over a year, imported with their history.
2. About forty recipients — branch offices, vendors, hospitals, the ministry, a university —
   and releases to them at different registry dates: marked extracts (with canaries) for the
   recipients that get files from jejak, registered ones for extracts made the old way.
3. A leak: one vendor's extract, cut to a subset, re-formatted and normalised, columns renamed and
   reordered, padded with fabricated rows and converted to another format (``jejak.attack``).
4. The investigation of that file, the report (Indonesian and English, PDF when Chromium is
   installed) and the UU PDP notification pack.

The story's truth (which release leaked) is returned next to the verdict so the demo shows that
the investigation found it without being told. Every random choice comes from ``seed``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from jejak.errors import JejakError, WorkspaceError
from jejak.registry import DatasetInfo, Registry
from jejak.release import ReleaseRequest, create_release, register_release
from jejak.synth import generate
from jejak.workspace import MARKER, Workspace

KEYS = {"peserta": "NOKA", "pasien": "ID_KUNJUNGAN"}
SUSPECT = "PT Vendor Data Nusantara"
VENDORS = (SUSPECT, "PT Solusi Cetak Kartu", "PT Integrasi Klaim Prima", "CV Arsip Digital Mandiri",
           "PT Mitra Layanan Callcenter", "PT Analitika Sehat", "PT Migrasi Sistem Informasi",
           "PT Kurir Dokumen Cepat", "PT Verifikasi Data Terpadu", "PT Cloud Nusantara", "PT Survei Kepuasan",
           "PT Penagihan Iuran")
VENDOR_COLUMNS = ["NOKA", "NIK", "NAMA", "TGLLHR", "JENKEL", "NOHP", "EMAIL", "ALAMAT", "KDKANTOR", "KDSTATUSPST",
                  "GAJI", "TSINPUT", "TSUPDATE"]
LEAK_ATTACKS = ["subset", "reformat", "normalise", "pad", "rename", "reorder", "shuffle"]
Say = Callable[[str], None]
Progress = Callable[[str, int, int], None]


@dataclass
class DemoResult:
    workspace: Workspace
    datasets: list[DatasetInfo]
    recipients: int = 0
    marked: int = 0
    registered: int = 0
    leak: Path | None = None
    truth: dict[str, Any] = field(default_factory=dict)  # the release the leak was made from
    verdict: dict[str, Any] | None = None
    case_dir: Path | None = None
    reports: list[Path] = field(default_factory=list)
    notify_dir: Path | None = None
    missing: list[str] = field(default_factory=list)  # optional steps skipped, and why (no Chromium)


@dataclass(frozen=True)
class Planned:
    recipient: str
    dataset: str
    as_of: date
    where: str | None
    columns: list[str] | None
    marked: bool
    purpose: str


def run_demo(
    home: Path,
    *,
    rows: int = 200_000,
    seed: int = 0,
    fresh: bool = False,
    say: Say = lambda _m: None,
    progress: Progress | None = None,
    lang: str = "id",
) -> DemoResult:
    """Run the whole story in a new workspace at ``home``.

    An existing workspace is never mixed with a new story: it is refused, or with ``fresh``
    removed first (only if it really is a jejak workspace, so a typo cannot delete other data).
    """
    step = progress or (lambda _w, _d, _t: None)
    ws = _new_workspace(home, fresh)
    rng = np.random.default_rng(seed)
    datasets = _registry(ws, rows, seed, say, progress)
    result = DemoResult(ws, datasets)
    plan = _plan(ws, datasets, rng)
    result.recipients = len({p.recipient for p in plan})
    release_dir = ws.home / "releases"
    release_dir.mkdir()
    suspect_file, suspect_id = _releases(ws, plan, release_dir, step, result)
    result.truth = {"release_id": suspect_id, "recipient": SUSPECT, "file": str(suspect_file)}
    leak_dir = ws.home / "found"
    leak_dir.mkdir()
    say("simulating the leak: the vendor's extract, cut, re-formatted, padded and converted")
    result.leak = _leak(suspect_file, leak_dir / "dijual_bpjs_sample.jsonl", seed)
    _investigate(ws, result, step, lang, say)
    return result


def _new_workspace(home: Path, fresh: bool) -> Workspace:
    home = home.expanduser().resolve()
    if home.exists() and any(home.iterdir()):
        if not fresh:
            raise WorkspaceError(f"{home} is not empty; pass --fresh to start the demo there from scratch")
        if not (home / MARKER).exists():
            raise WorkspaceError(f"{home} is not a jejak workspace; refusing to delete it")
        shutil.rmtree(home)
    return Workspace.init(home)


def _registry(ws: Workspace, rows: int, seed: int, say: Say, progress: Progress | None) -> list[DatasetInfo]:
    # Synthetic, but shaped like the real thing: made in the workspace like any of its files.
    with ws.tmpdir("demo-") as tmp:
        say(f"generating {rows:,} synthetic participants")
        files = generate(tmp, participants=rows, snapshots=3, seed=seed, fmt="parquet", progress=progress)
        with Registry(ws.registry_path) as reg:
            for i, f in enumerate(files):
                if progress:
                    progress(f"importing {f.dataset} as of {f.as_of}", i, len(files))
                reg.import_snapshot(f.path, f.dataset, KEYS[f.dataset], f.as_of)
            return reg.datasets()


def _plan(ws: Workspace, datasets: list[DatasetInfo], rng: np.random.Generator) -> list[Planned]:
    """About forty recipients and who gets what, when: the ledger of a year of data sharing."""
    info = {d.name: d for d in datasets}
    snaps = info["peserta"].snapshots
    with Registry(ws.registry_path, read_only=True) as reg:
        branches = [r[0] for r in reg.con.execute(
            f"SELECT KDKANTOR, count(*) n FROM ({reg.as_of_sql('peserta', snaps[0])}) "
            "WHERE KDKANTOR IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 LIMIT 16").fetchall()]
        provinces = [r[0] for r in reg.con.execute(
            f"SELECT substr(NIK, 1, 2) p, count(*) n FROM ({reg.as_of_sql('peserta', snaps[0])}) "
            "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 12").fetchall()]
        hospitals = [r[0] for r in reg.con.execute(
            "SELECT RUMAH_SAKIT, count(*) n FROM rows_pasien GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10").fetchall()] \
            if "pasien" in info else []
    plan: list[Planned] = []
    for i, code in enumerate(branches):
        # the branch offices work on their own members; six get their files from jejak already
        plan.append(Planned(f"Kantor Cabang {code}", "peserta", snaps[i % len(snaps)], f"KDKANTOR = '{code}'",
                            None, marked=i < 6, purpose="pelayanan peserta di kantor cabang"))
    vendor_provinces = list(provinces)
    rng.shuffle(vendor_provinces)
    for i, name in enumerate(VENDORS):
        # the suspect and a second vendor share the biggest province: an innocent overlap
        provs = provinces[:2] if i == 0 else provinces[:1] if i == 1 else vendor_provinces[i % len(provinces):][:2]
        where = "substr(NIK, 1, 2) IN (" + ", ".join(f"'{p}'" for p in provs) + ")"
        plan.append(Planned(name, "peserta", snaps[1] if i < 2 else snaps[i % len(snaps)], where,
                            VENDOR_COLUMNS, marked=i < 3, purpose="pemutakhiran dan verifikasi data peserta"))
    for i, name in enumerate(hospitals):
        where = "RUMAH_SAKIT = '" + name.replace("'", "''") + "'"
        plan.append(Planned(name, "pasien", snaps[i % len(snaps)], where, None, marked=False,
                            purpose="rujukan dan klaim pasien"))
    if "pasien" in info:
        plan.append(Planned("Kementerian Kesehatan (Pusdatin)", "pasien", snaps[-1], None, None, marked=False,
                            purpose="surveilans COVID-19"))
    plan.append(Planned("Universitas Indonesia FKM", "peserta", snaps[2 % len(snaps)],
                        f"substr(NIK, 1, 2) = '{provinces[-1]}'", ["NOKA", "JENKEL", "TGLLHR", "KDKANTOR",
                                                                    "KDSTATUSPST", "GAJI"], marked=True,
                        purpose="penelitian kepesertaan"))
    return plan


_KINDS = {"Kantor": "branch", "PT": "vendor", "CV": "vendor", "Kementerian": "ministry", "Universitas": "researcher"}


def _kind(name: str) -> str:
    return _KINDS.get(name.split()[0], "hospital")


def _releases(ws: Workspace, plan: list[Planned], out: Path, step: Progress,
              result: DemoResult) -> tuple[Path, str]:
    with ws.ledger() as ledger:
        for name in dict.fromkeys(p.recipient for p in plan):
            ledger.add_recipient(name, _kind(name), contact="dpo@" + name.lower().replace(" ", "-")[:30] + ".example"
                                 if _kind(name) == "vendor" else None)
    suspect: tuple[Path, str] | None = None
    for i, p in enumerate(plan):
        step(f"release {i + 1}/{len(plan)}: {p.recipient}", i, len(plan))
        if p.marked:
            path = out / f"{i + 1:02d}_{_slug(p.recipient)}.csv"
            rec = create_release(ws, ReleaseRequest(dataset=p.dataset, recipient=p.recipient, out=path,
                                                    columns=p.columns, where=p.where, as_of=p.as_of,
                                                    purpose=p.purpose))
            result.marked += 1
            if p.recipient == SUSPECT:
                suspect = (path, rec.release_id)
        else:
            register_release(ws, dataset=p.dataset, recipient=p.recipient, as_of=p.as_of, columns=p.columns,
                             where=p.where, purpose=p.purpose)
            result.registered += 1
    step("releases recorded", len(plan), len(plan))
    if suspect is None:
        raise JejakError("the demo plan has no release for the suspect vendor")
    return suspect


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _leak(source: Path, out: Path, seed: int) -> Path:
    """The file that turns up for sale: about 60% of the vendor's rows, then attacked and padded."""
    import duckdb

    from jejak.attack import simulate_leak
    from jejak.intake import read_table

    con = duckdb.connect()
    try:
        n = read_table(con, source, name="_src", strict=False).rows
    finally:
        con.close()
    return simulate_leak([source], LEAK_ATTACKS, max(50, int(n * 0.6)), seed, out, "jsonl")


def _investigate(ws: Workspace, result: DemoResult, step: Progress, lang: str, say: Say) -> None:
    from jejak.browser import find_chromium
    from jejak.investigate import investigate
    from jejak.notify import WIB, prepare_pack
    from jejak.report import render_pdf, write_html

    assert result.leak is not None
    verdict = investigate(ws, result.leak, progress=step)
    case_dir = verdict.case_dir or ws.cases_dir / verdict.case_id
    result.case_dir = case_dir
    result.verdict = json.loads((case_dir / "verdict.json").read_text())
    say("writing the report")
    for code in dict.fromkeys([lang, "en" if lang == "id" else "id"]):
        result.reports.append(write_html(result.verdict, case_dir / f"report_{code}.html", code))
    if find_chromium() is not None:
        say("printing the report to PDF")
        result.reports.append(render_pdf(result.reports[0], case_dir / f"report_{lang}.pdf"))
    else:
        result.missing.append("Chromium is not installed: no PDF (apt-get install chromium)")
    say("preparing the UU PDP notification pack")
    discovered = datetime.now(WIB).replace(second=0, microsecond=0)
    pack = prepare_pack(ws, verdict.case_id, discovered, lang=lang, controller="BPJS Kesehatan (demo)",
                        say=say)
    result.notify_dir = pack.directory
