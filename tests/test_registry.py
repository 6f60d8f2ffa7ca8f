"""The registry keeps every version of every row, and an import is all or nothing."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import pytest

from jejak.errors import InputError, RegistryError
from jejak.registry import Registry
from jejak.roles import Role

HEADER = ["NOKA", "NIK", "NAMA", "NOHP", "KDSTATUSPST", "TSUPDATE"]
BASE = [
    ["0000000000001", "3171014501900001", "SITI AMINAH", "081234567890", "AKTIF", "2024-01-02 10:11:12"],
    ["0000000000002", "3171010202850002", "BUDI SANTOSO", "081298765432", "AKTIF", "2024-01-03 09:08:07"],
    ["0000000000003", "3273016308770003", "DEWI LESTARI", "", "NONAKTIF", "2024-01-04 08:07:06"],
]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def registry_state(reg: Registry, dataset: str = "peserta") -> list[tuple[object, ...]]:
    return reg.con.execute(f"SELECT * FROM rows_{dataset} ORDER BY _key, _valid_from").fetchall()


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    r = Registry(tmp_path / "registry.duckdb")
    yield r
    r.close()


def test_first_import_stores_one_open_version_per_row(reg: Registry, tmp_path: Path) -> None:
    res = reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    assert (res.rows, res.added, res.changed, res.closed) == (3, 3, 0, 0)
    info = reg.dataset("peserta")
    assert (info.rows, info.versions, info.snapshots) == (3, 3, [date(2025, 1, 1)])


def test_values_are_kept_exactly_including_leading_zeros(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    row = reg.history("peserta", "0000000000001")[0]
    assert row["NOKA"] == "0000000000001" and row["NOHP"] == "081234567890"


def test_second_snapshot_versions_changed_closes_missing_and_adds_new(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    moved = [list(r) for r in BASE[:2]]
    moved[0][3] = "085700001111"  # new phone
    new = ["0000000000004", "3171015010000004", "ANDI WIJAYA", "", "AKTIF", "2025-03-01 10:00:01"]
    res = reg.import_snapshot(write_csv(tmp_path / "b.csv", [*moved, new]), "peserta", "NOKA", date(2025, 7, 1))
    assert (res.added, res.changed, res.closed, res.unchanged) == (1, 1, 1, 1)
    hist = reg.history("peserta", "0000000000001")
    assert [(h["_valid_from"], h["_valid_to"], h["NOHP"]) for h in hist] == [
        (date(2025, 1, 1), date(2025, 7, 1), "081234567890"),
        (date(2025, 7, 1), None, "085700001111"),
    ]
    closed = reg.history("peserta", "0000000000003")
    assert closed[-1]["_valid_to"] == date(2025, 7, 1)
    info = reg.dataset("peserta")
    assert (info.rows, info.versions) == (3, 5)


def test_as_of_returns_the_dataset_as_it_was(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    changed = [list(r) for r in BASE]
    changed[1][4] = "MENINGGAL"
    reg.import_snapshot(write_csv(tmp_path / "b.csv", changed[1:]), "peserta", "NOKA", date(2025, 7, 1))

    def at(d: date) -> dict[str, str]:
        rows = reg.con.execute(f"SELECT _key, KDSTATUSPST FROM ({reg.as_of_sql('peserta', d)})").fetchall()
        return dict(rows)

    assert at(date(2024, 12, 31)) == {}
    assert at(date(2025, 6, 30)) == {"0000000000001": "AKTIF", "0000000000002": "AKTIF", "0000000000003": "NONAKTIF"}
    assert at(date(2025, 7, 1)) == {"0000000000002": "MENINGGAL", "0000000000003": "NONAKTIF"}


def test_reimporting_the_same_snapshot_changes_nothing(reg: Registry, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "a.csv", BASE)
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    before = registry_state(reg)
    res = reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert res.already_imported and (res.added, res.changed, res.closed) == (0, 0, 0)
    assert registry_state(reg) == before
    assert reg.dataset("peserta").snapshots == [date(2025, 1, 1)]


def test_unchanged_later_snapshot_adds_a_snapshot_but_no_versions(reg: Registry, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "a.csv", BASE)
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    before = registry_state(reg)
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 2, 1))
    assert registry_state(reg) == before
    assert reg.dataset("peserta").snapshots == [date(2025, 1, 1), date(2025, 2, 1)]


def test_older_snapshot_is_refused(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 7, 1))
    with pytest.raises(RegistryError, match="older than the newest snapshot"):
        reg.import_snapshot(write_csv(tmp_path / "b.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))


def test_same_date_with_different_content_is_refused_and_nothing_changes(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    before = registry_state(reg)
    with pytest.raises(RegistryError, match="already imported with different content"):
        reg.import_snapshot(write_csv(tmp_path / "b.csv", BASE[:2]), "peserta", "NOKA", date(2025, 1, 1))
    assert registry_state(reg) == before


@pytest.mark.parametrize(
    ("rows", "header", "error", "line"),
    [
        ([*BASE, BASE[0]], HEADER, "1 key value\\(s\\) occur more than once \\(2 rows\\)", 2),
        (BASE, ["NOKAX", *HEADER[1:]], "key column 'NOKA' not found", None),
        ([BASE[0], ["", *BASE[1][1:]]], HEADER, "1 row\\(s\\) have an empty key", 3),
    ],
    ids=["duplicate-keys", "missing-key-column", "empty-key"],
)
def test_bad_snapshots_are_refused_with_location_and_leave_the_registry_as_it_was(
    reg: Registry, tmp_path: Path, rows: list[list[str]], header: list[str], error: str, line: int | None
) -> None:
    reg.import_snapshot(write_csv(tmp_path / "good.csv", BASE[:1]), "peserta", "NOKA", date(2025, 1, 1))
    before = registry_state(reg)
    bad = write_csv(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(InputError, match=error) as info:
        reg.import_snapshot(bad, "peserta", "NOKA", date(2025, 2, 1))
    assert info.value.path == str(bad)
    assert info.value.line == line
    assert registry_state(reg) == before
    assert reg.dataset("peserta").snapshots == [date(2025, 1, 1)]


def test_error_messages_never_quote_personal_data(reg: Registry, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", [*BASE, BASE[1]])
    with pytest.raises(InputError) as info:
        reg.import_snapshot(bad, "peserta", "NOKA", date(2025, 1, 1))
    for value in BASE[1]:
        if value:
            assert value not in str(info.value)


def test_ragged_row_is_refused_naming_the_line(reg: Registry, tmp_path: Path) -> None:
    f = tmp_path / "ragged.csv"
    f.write_text(",".join(HEADER) + "\n" + ",".join(BASE[0]) + "\n" + ",".join(BASE[1][:3]) + "\n")
    with pytest.raises(InputError) as info:
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert info.value.line == 3
    assert not reg.has_dataset("peserta")


def test_empty_file_is_refused(reg: Registry, tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("")
    with pytest.raises(InputError):
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert not reg.has_dataset("peserta")


def test_columns_must_match_earlier_snapshots(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    fewer = write_csv(tmp_path / "b.csv", [r[:5] for r in BASE], header=HEADER[:5])
    with pytest.raises(InputError, match="missing: TSUPDATE"):
        reg.import_snapshot(fewer, "peserta", "NOKA", date(2025, 2, 1))


def test_column_order_may_change_between_snapshots(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    order = list(reversed(range(len(HEADER))))
    f = write_csv(tmp_path / "b.csv", [[r[i] for i in order] for r in BASE], header=[HEADER[i] for i in order])
    res = reg.import_snapshot(f, "peserta", "NOKA", date(2025, 2, 1))
    assert (res.added, res.changed, res.closed) == (0, 0, 0)


def test_roles_are_inferred_stored_and_overridable(reg: Registry, tmp_path: Path) -> None:
    res = reg.import_snapshot(
        write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1),
        roles={"KDSTATUSPST": Role.CATEGORY},
    )
    assert res.roles["NIK"] == Role.NIK
    assert res.roles["KDSTATUSPST"] == Role.CATEGORY
    assert reg.dataset("peserta").roles == res.roles


def test_snapshot_records_the_source_hash(reg: Registry, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "a.csv", BASE)
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    (sha,) = reg.con.execute("SELECT sha256 FROM jj_snapshots").fetchone()
    assert sha == hashlib.sha256(f.read_bytes()).hexdigest()


def test_bad_dataset_name_is_refused(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="lower-case"):
        reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "Peserta; drop", "NOKA", date(2025, 1, 1))


def test_unknown_dataset_names_the_known_ones(reg: Registry, tmp_path: Path) -> None:
    reg.import_snapshot(write_csv(tmp_path / "a.csv", BASE), "peserta", "NOKA", date(2025, 1, 1))
    with pytest.raises(RegistryError, match="known: peserta"):
        reg.dataset("pasien")
