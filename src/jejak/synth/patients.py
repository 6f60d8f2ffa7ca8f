"""Hospital visits in the style of the 2022 health-ministry leak, linked to participants by NIK.

Each visit is one row: the patient's NIK and name (as the hospital typed it, upper case), the
hospital of the patient's regency (now and then another one in the province), the examination
(PCR, antigen, chest X-ray, CT, blood and urine tests, D-dimer) with its COVID-19 result, lab
text or radiology finding, an ICD-10 diagnosis consistent with them, and often the insurer's
referral number. The first snapshot holds visits since March 2020 for about 6% of participants
(older people more often; the deceased only before their death); each later interval adds
new visits, and old visits never change.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jejak.synth.participants import YEAR, Roster
from jejak.synth.people import DAY, MENINGGAL, day_of, digits, draw, join, render_date, take, text, where, ymd
from jejak.synth.regions import geography

PATIENT_COLUMNS = (
    "ID_KUNJUNGAN",
    "NIK",
    "NAMA",
    "RUMAH_SAKIT",
    "KODE_FASKES",
    "TGL_KUNJUNGAN",
    "JENIS_PEMERIKSAAN",
    "HASIL_COVID",
    "HASIL_LAB",
    "HASIL_RADIOLOGI",
    "DIAGNOSA_ICD10",
    "NO_RUJUKAN",
)
PANDEMIC = day_of(date(2020, 3, 1))
WAVES = ((day_of(date(2021, 7, 15)), 40), (day_of(date(2022, 2, 15)), 30))  # Delta and Omicron peaks

EXAMS = (
    "PCR",
    "Antigen",
    "Rontgen Thorax",
    "CT Scan Thorax",
    "Darah Lengkap",
    "Kimia Darah",
    "Urinalisis",
    "D-Dimer",
)
PCR, ANTIGEN, XRAY, CT, BLOOD, CHEMISTRY, URINE, DDIMER = range(8)
EXAM_P = (0.28, 0.22, 0.14, 0.05, 0.16, 0.07, 0.05, 0.03)
FINDINGS = (  # radiology finding -> diagnosis
    ("Cor dan pulmo dalam batas normal", "Z01.6"),
    ("Tidak tampak kelainan radiologis", "Z01.6"),
    ("Infiltrat di paru kanan", "J18.9"),
    ("Infiltrat di paru kiri", "J18.9"),
    ("Ground glass opacity bilateral perifer, sugestif pneumonia COVID-19", "U07.1"),
    ("Bronkopneumonia", "J18.0"),
    ("Pneumonia lobaris lobus bawah kanan", "J18.1"),
    ("Konsolidasi di lobus bawah paru kanan", "J18.9"),
    ("Kardiomegali (CTR 58%)", "I51.7"),
    ("Efusi pleura kiri minimal", "J90"),
    ("Corakan bronkovaskular meningkat, sesuai bronkitis", "J20.9"),
    ("Kesan TB paru aktif", "A15.0"),
)
FINDING_P = (0.3, 0.12, 0.08, 0.05, 0.12, 0.08, 0.04, 0.05, 0.06, 0.03, 0.05, 0.02)
LAB_DIAGNOSES = (
    "A09",
    "A91",
    "E11.9",
    "I10",
    "J06.9",
    "K30",
    "R50.9",
    "N39.0",
    "D64.9",
    "B34.9",
    "K29.7",
    "E78.5",
)
LAB_DIAGNOSIS_P = (0.12, 0.1, 0.14, 0.14, 0.1, 0.06, 0.08, 0.06, 0.06, 0.05, 0.05, 0.04)


def _decimal(tenths: np.ndarray) -> pa.Array:
    """Tenths as Indonesian decimals: 132 -> '13,2'."""
    return join(text(tenths // 10), ",", text(tenths % 10))


def _thousands(x: np.ndarray) -> pa.Array:
    """8450 -> '8.450' (Indonesian thousands separator)."""
    return pc.if_else(pa.array(x >= 1000), join(text(x // 1000), ".", digits(x % 1000, 3)), text(x))


def _lab_text(exam: np.ndarray, covid: np.ndarray, rng: np.random.Generator) -> pa.Array:
    n = len(exam)
    ct = rng.integers(150, 350, n)
    pcr = pc.if_else(
        pa.array(covid == 1),
        join("Terdeteksi SARS-CoV-2 (CT value ", _decimal(ct), ")"),
        pa.array(["Tidak terdeteksi SARS-CoV-2"] * n, pa.string()),
    )
    antigen = pc.if_else(pa.array(covid == 1), pa.scalar("Reaktif"), pa.scalar("Non reaktif"))
    blood = join(
        "Hb ",
        _decimal(rng.integers(95, 170, n)),
        " g/dL; Leukosit ",
        _thousands(rng.integers(3200, 19000, n)),
        " /uL; Trombosit ",
        _thousands(rng.integers(60, 450, n) * 1000),
        " /uL; Hematokrit ",
        text(rng.integers(30, 52, n)),
        "%",
    )
    chem = join(
        "GDS ",
        text(rng.integers(70, 350, n)),
        " mg/dL; Ureum ",
        text(rng.integers(12, 80, n)),
        " mg/dL; Kreatinin ",
        _decimal(rng.integers(5, 25, n)),
        " mg/dL; SGOT ",
        text(rng.integers(10, 90, n)),
        " U/L; SGPT ",
        text(rng.integers(8, 110, n)),
        " U/L",
    )
    urine = join(
        "Protein ",
        take(("negatif", "+1", "+2"), draw(rng, (0.7, 0.2, 0.1), n)),
        "; Glukosa ",
        take(("negatif", "+1"), draw(rng, (0.85, 0.15), n)),
        "; Leukosit ",
        take(("0-2", "3-5", "10-15", ">20"), draw(rng, (0.5, 0.25, 0.15, 0.1), n)),
        " /LPB; Eritrosit ",
        take(("0-1", "2-4", "5-10"), draw(rng, (0.6, 0.3, 0.1), n)),
        " /LPB",
    )
    dd = rng.integers(150, 3500, n)
    ddimer = join(
        "D-Dimer ", _thousands(dd), " ng/mL", where(dd > 500, pa.array([" (meningkat)"] * n, pa.string()))
    )
    nulls = pa.nulls(n, pa.string())
    out = pc.choose(pa.array(exam.astype(np.int8)), pcr, antigen, nulls, nulls, blood, chem, urine, ddimer)
    return where(~((exam == PCR) & (covid < 0)), out)


def make_visits(
    r: Roster,
    rng: np.random.Generator,
    *,
    first_day: int,
    last_day: int,
    share: float,
    per_person: float,
    seq_start: int,
    waves: bool,
) -> pa.Table:
    """Visits on days [first_day, last_day] for about ``share`` of the participants."""
    geo = geography()
    n = len(r)
    age = (last_day - r.birth) / YEAR
    dead = r.status == MENINGGAL
    until = np.where(dead, np.minimum(r.ts_up // DAY - 1, last_day), last_day)
    weight = (0.5 + age / 40.0) * (until >= first_day)
    p = np.minimum(share * n * weight / max(weight.sum(), 1e-9), 0.9)
    people = np.flatnonzero(rng.random(n) < p)
    people = np.repeat(people, 1 + rng.poisson(per_person, len(people)))
    k = len(people)
    lo = np.full(k, first_day)
    hi = until[people]
    day = lo + (rng.random(k) * (hi - lo + 1)).astype(np.int64)
    if waves:
        for peak, width in WAVES:
            near = np.clip(np.round(rng.normal(peak, width, k)).astype(np.int64), lo, hi)
            day = np.where(rng.random(k) < 0.2, near, day)
    order = np.lexsort((rng.random(k), day))
    people, day = people[order], day[order]

    exam = draw(rng, EXAM_P, k)
    covid_test = (exam == PCR) | (exam == ANTIGEN)
    positive = rng.random(k) < np.where(exam == PCR, 0.2, 0.12)
    covid = np.where(covid_test, np.where(positive, 1, 0), -1)
    covid = np.where((exam == PCR) & (rng.random(k) < 0.02), -1, covid)  # result still pending
    radiology = (exam == XRAY) | (exam == CT)
    finding = np.where(radiology, draw(rng, FINDING_P, k), -1)

    diagnosis = take(LAB_DIAGNOSES, draw(rng, LAB_DIAGNOSIS_P, k))
    diagnosis = pc.if_else(pa.array((exam == URINE) & (rng.random(k) < 0.5)), pa.scalar("N39.0"), diagnosis)
    screening = take(("Z11.5", "Z03.8", "J06.9"), draw(rng, (0.6, 0.2, 0.2), k))
    diagnosis = pc.if_else(pa.array(covid_test), screening, diagnosis)
    diagnosis = pc.if_else(pa.array(covid == 1), pa.scalar("U07.1"), diagnosis)
    diagnosis = pc.if_else(pa.array(radiology), take(tuple(d for _, d in FINDINGS), finding), diagnosis)
    diagnosis = where(rng.random(k) < 0.97, diagnosis)

    home = geo.regency[r.fam_district[r.fam[people]]]
    elsewhere = geo.regency[geo.districts_like(r.fam_district[r.fam[people]], rng, scope="province")]
    reg = np.where(rng.random(k) < 0.9, home, elsewhere)
    public = rng.random(k) < 0.45
    hospital = geo.hospital_start[reg] + np.where(
        public, 0, (rng.random(k) * geo.hospital_count[reg]).astype(np.int64)
    )

    year, month, dom = ymd(day)
    seq = seq_start + np.arange(k)
    inpatient = radiology & (finding >= 2) & (rng.random(k) < 0.5)
    visit_id = join(
        take(("RJ", "RI"), inpatient.astype(np.int64)),
        digits(year % 100, 2),
        digits(month, 2),
        digits(dom, 2),
        digits(seq, 7),
    )
    referred = rng.random(k) < np.where(covid_test, 0.15, 0.65)
    ref_year, ref_month, _ = ymd(day - rng.integers(0, 20, k))
    kantor = r.fam_kantor[r.fam[people]]
    referral = join(
        digits(kantor, 4),
        "P",
        digits(rng.integers(1, 40, k), 3),
        digits(ref_month, 2),
        digits(ref_year % 100, 2),
        "Y",
        digits(rng.integers(1, 999_999, k), 6),
    )
    name = r.cols["NAMA"].take(pa.array(people))
    return pa.table(
        {
            "ID_KUNJUNGAN": visit_id,
            "NIK": r.cols["NIK"].take(pa.array(people)),
            "NAMA": pc.if_else(pa.array(rng.random(k) < 0.85), pc.utf8_upper(name), name),
            "RUMAH_SAKIT": geo.hospital_name.take(pa.array(hospital)),
            "KODE_FASKES": geo.hospital_code.take(pa.array(hospital)),
            "TGL_KUNJUNGAN": render_date(day),
            "JENIS_PEMERIKSAAN": take(EXAMS, exam),
            "HASIL_COVID": take(("NEGATIF", "POSITIF"), covid),
            "HASIL_LAB": _lab_text(exam, covid, rng),
            "HASIL_RADIOLOGI": take(tuple(f for f, _ in FINDINGS), finding),
            "DIAGNOSA_ICD10": diagnosis,
            "NO_RUJUKAN": where(referred, referral),
        }
    )


def first_visits(r: Roster, rng: np.random.Generator, last_day: int) -> pa.Table:
    return make_visits(
        r, rng, first_day=PANDEMIC, last_day=last_day, share=0.06, per_person=0.8, seq_start=1, waves=True
    )


def later_visits(r: Roster, rng: np.random.Generator, lo: int, hi: int, seq_start: int) -> pa.Table:
    years = (hi - lo) / YEAR
    return make_visits(
        r,
        rng,
        first_day=lo,
        last_day=hi - 1,
        share=0.02 * years,
        per_person=0.3,
        seq_start=seq_start,
        waves=False,
    )
