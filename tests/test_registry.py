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


# -- the fast path (DuckDB reads the CSV straight into the diff) and its located fallback ----------


def big_csv(path: Path, rows: int, *, changed_every: int = 0, drop_every: int = 0, start: int = 0) -> Path:
    """A CSV of ``rows`` participants written by DuckDB; more than one row group of 122,880 rows
    when ``rows`` is large, so parallel writers and the diff's join see real volumes."""
    import duckdb

    phone = "'0812' || lpad(i::VARCHAR, 8, '0')"
    if changed_every:
        phone = f"CASE WHEN i % {changed_every} = 0 THEN '0857' || lpad(i::VARCHAR, 8, '0') ELSE {phone} END"
    keep = f"WHERE i % {drop_every} <> 1" if drop_every else ""
    duckdb.connect().execute(
        f"""COPY (SELECT lpad(i::VARCHAR, 13, '0') AS NOKA, '3171014501' || lpad((i % 1000000)::VARCHAR, 6, '0') AS NIK,
                   'NAMA ' || (i % 997)::VARCHAR AS NAMA, {phone} AS NOHP,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE 'AKTIF' END AS KDSTATUSPST,
                   '2024-01-02 10:11:' || lpad((i % 60)::VARCHAR, 2, '0') AS TSUPDATE
                 FROM range({start}, {start + rows}) t(i) {keep}) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    return path


def fingerprint(reg: Registry, rows_sql: str) -> tuple[int, int]:
    """Row count and the sum of row hashes: equal for equal multisets of rows, and for nothing else
    short of a 64-bit hash collision; cheaper than comparing 100,000 rows in Python."""
    cols = ", ".join(HEADER)
    return reg.con.execute(f"SELECT count(*), sum(hash({cols})) FROM ({rows_sql})").fetchone()


def of_file(path: Path) -> str:
    return f"SELECT * FROM read_csv('{path}', all_varchar = true)"


def test_large_snapshots_are_stored_and_diffed_exactly(reg: Registry, tmp_path: Path) -> None:
    n = 130_000
    first = big_csv(tmp_path / "a.csv", n)
    res = reg.import_snapshot(first, "peserta", "NOKA", date(2025, 1, 1))
    assert (res.rows, res.added) == (n, n)
    # 1 in 50 rows get a new phone, 1 in 97 rows vanish, 1,000 newcomers arrive.
    second = big_csv(tmp_path / "b.csv", n + 1_000, changed_every=50, drop_every=97)
    res = reg.import_snapshot(second, "peserta", "NOKA", date(2025, 7, 1))
    vanished = len(range(1, n, 97))
    newcomers = sum(1 for i in range(n, n + 1_000) if i % 97 != 1)
    changed = sum(1 for i in range(0, n, 50) if i % 97 != 1)
    assert (res.added, res.changed, res.closed) == (newcomers, changed, vanished)
    assert res.unchanged == n - vanished - changed
    assert fingerprint(reg, of_file(first)) == fingerprint(reg, reg.as_of_sql("peserta", date(2025, 1, 1)))
    assert fingerprint(reg, of_file(second)) == fingerprint(reg, reg.as_of_sql("peserta", date(2025, 7, 1)))
    assert fingerprint(reg, of_file(first)) != fingerprint(reg, reg.as_of_sql("peserta", date(2025, 7, 1)))
    assert reg.dataset("peserta").versions == n + newcomers + changed


def test_the_fast_and_the_located_path_store_the_same_rows_and_roles(tmp_path: Path) -> None:
    f = big_csv(tmp_path / "a.csv", 5_000)
    results, states = [], []
    for i, encoding in enumerate((None, "utf-8")):  # a forced encoding takes the located path
        with Registry(tmp_path / f"r{i}.duckdb") as r:
            results.append(r.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1), encoding=encoding))
            states.append(registry_state(r))
    assert results[0].roles == results[1].roles and results[0].roles["NIK"] == Role.NIK
    assert states[0] == states[1]


def test_a_snapshot_in_another_format_with_the_same_rows_changes_nothing(reg: Registry, tmp_path: Path) -> None:
    import duckdb

    f = big_csv(tmp_path / "a.csv", 5_000)
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    parquet = tmp_path / "a.parquet"
    duckdb.connect().execute(f"COPY (SELECT * FROM read_csv('{f}', all_varchar = true)) TO '{parquet}'")
    res = reg.import_snapshot(parquet, "peserta", "NOKA", date(2025, 2, 1))
    assert (res.added, res.changed, res.closed, res.unchanged) == (0, 0, 0, 5_000)


def test_utf8_bom_is_not_part_of_the_first_column_name(reg: Registry, tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes(write_csv(tmp_path / "plain.csv", BASE).read_bytes().decode().encode("utf-8-sig"))
    res = reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert res.rows == 3 and reg.dataset("peserta").columns == HEADER


def test_quoted_line_breaks_are_kept_in_values(reg: Registry, tmp_path: Path) -> None:
    rows = [list(r) for r in BASE]
    rows[1][2] = "BUDI\nSANTOSO"
    reg.import_snapshot(write_csv(tmp_path / "a.csv", rows), "peserta", "NOKA", date(2025, 1, 1))
    assert reg.history("peserta", "0000000000002")[0]["NAMA"] == "BUDI\nSANTOSO"


def padded(tmp_path: Path, name: str, tail: bytes) -> Path:
    """BASE as CSV, then 3,000 plain ASCII rows (past the 64 KiB the fast path looks at), then ``tail``."""
    head = "".join(",".join(r) + "\n" for r in [HEADER, *BASE]).encode()
    filler = b"".join(b"%013d,3171014501900001,NAMA,0812,AKTIF,2024-01-02 10:11:12\n" % (10 + i) for i in range(3000))
    f = tmp_path / name
    f.write_bytes(head + filler + tail)
    return f


def test_a_legacy_encoding_found_late_in_the_file_is_still_read(reg: Registry, tmp_path: Path) -> None:
    f = padded(tmp_path, "cp1252.csv", b"0000000099999,3171014501900001,SE\xd1OR D\xdcRR,0812,AKTIF,2024-01-02\n")
    reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert reg.history("peserta", "0000000099999")[0]["NAMA"] == "SEÑOR DÜRR"


def test_mixed_encoding_found_late_in_the_file_names_line_and_column(reg: Registry, tmp_path: Path) -> None:
    f = padded(tmp_path, "mixed.csv", "0000000099998,3171014501900001,DÜRR,0812,AKTIF,x\n".encode()
               + b"0000000099999,3171014501900001,D\xdcRR,0812,AKTIF,x\n")
    with pytest.raises(InputError, match="mixes UTF-8") as info:
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert (info.value.line, info.value.column) == (3006, 33)
    assert not reg.has_dataset("peserta")


def test_ragged_row_found_late_in_the_file_names_its_line(reg: Registry, tmp_path: Path) -> None:
    f = padded(tmp_path, "ragged.csv", b"0000000099999,SECRETVALUE\n")
    with pytest.raises(InputError) as info:
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert info.value.line == 3005 and "SECRETVALUE" not in str(info.value)
    assert not reg.has_dataset("peserta")


@pytest.mark.parametrize(
    ("rows", "error", "line"),
    [
        ([*BASE, BASE[0]], "1 key value\\(s\\) occur more than once \\(2 rows\\); first lines involved: 2, 5", 2),
        ([BASE[0], ["", *BASE[1][1:]], ["  ", *BASE[2][1:]]], "2 row\\(s\\) have an empty key", 3),
    ],
    ids=["duplicate-keys", "empty-keys"],
)
def test_bad_first_snapshot_is_refused_with_lines_and_creates_nothing(
    reg: Registry, tmp_path: Path, rows: list[list[str]], error: str, line: int
) -> None:
    with pytest.raises(InputError, match=error) as info:
        reg.import_snapshot(write_csv(tmp_path / "bad.csv", rows), "peserta", "NOKA", date(2025, 1, 1))
    assert info.value.line == line
    assert not reg.has_dataset("peserta")
    assert reg.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rows_peserta'").fetchone() == (0,)


def test_header_only_file_is_refused_without_creating_the_dataset(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no data rows"):
        reg.import_snapshot(write_csv(tmp_path / "h.csv", []), "peserta", "NOKA", date(2025, 1, 1))
    assert not reg.has_dataset("peserta")


def test_file_without_header_is_refused_without_quoting_its_first_row(reg: Registry, tmp_path: Path) -> None:
    f = tmp_path / "nohead.csv"
    f.write_text("".join(",".join(r) + "\n" for r in BASE))
    with pytest.raises(InputError, match="key column 'NOKA' not found; columns are: column1") as info:
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    assert BASE[0][0] not in str(info.value) and BASE[0][2] not in str(info.value)
    assert not reg.has_dataset("peserta")


def test_a_first_line_of_values_is_never_listed_as_column_names(reg: Registry, tmp_path: Path) -> None:
    # The fast path takes the first line as the header as it is; if that line is a person, the
    # "columns are" hint would quote them.
    f = tmp_path / "nohead.csv"
    f.write_text("0001000000840,3512121106800001,PANGERAN IHSAN WAHYUDIN,1980-06-11\n"
                 "0001000000841,3512121106800002,SITI AMINAH,1981-02-01\n")
    with pytest.raises(InputError, match="key column .NOKA. not found") as info:
        reg.import_snapshot(f, "peserta", "NOKA", date(2025, 1, 1))
    for value in ("0001000000840", "3512121106800001", "PANGERAN", "1980-06-11"):
        assert value not in str(info.value)


# Distinct keys whose DuckDB hashes collide (found among 50M benchmark NIKs: DuckDB's string hash
# is fast, not collision-free). An import that proved keys unique by their hashes would see these
# as one person; they must stay two, and a real repeat among them one.
COLLIDING = [("1696361206039945", "1696361506039940"), ("1576662207986357", "1576662507986352")]


def _keyed(keys: list[str]) -> list[list[str]]:
    return [[k, k, f"ORANG {i}", "", "AKTIF", "2024-01-02 10:11:12"] for i, k in enumerate(keys)]


def test_keys_whose_hashes_collide_are_distinct_people_on_the_fast_path(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jejak.registry as registry_module

    assert reg.con.execute(f"SELECT hash('{COLLIDING[0][0]}') = hash('{COLLIDING[0][1]}')").fetchall()[0][0]

    def no_located_read(*_a: object, **_k: object) -> None:
        raise AssertionError("the fast path declined")

    monkeypatch.setattr(registry_module, "read_table", no_located_read)
    first = _keyed([*COLLIDING[0], "0000000000009"])
    res = reg.import_snapshot(write_csv(tmp_path / "a.csv", first), "peserta", "NOKA", date(2025, 1, 1))
    assert (res.rows, res.added) == (3, 3)
    later = first + _keyed(list(COLLIDING[1]))
    res = reg.import_snapshot(write_csv(tmp_path / "b.csv", later), "peserta", "NOKA", date(2025, 7, 1))
    assert (res.rows, res.added, res.changed, res.closed) == (5, 2, 0, 0)


@pytest.mark.parametrize("snapshot", [0, 1], ids=["first-import", "re-import"])
def test_a_repeated_key_among_colliding_hashes_is_still_refused(reg: Registry, tmp_path: Path, snapshot: int) -> None:
    if snapshot:
        reg.import_snapshot(write_csv(tmp_path / "a.csv", _keyed(["0000000000009"])), "peserta", "NOKA",
                            date(2025, 1, 1))
    rows = _keyed([*COLLIDING[0], COLLIDING[0][1]])
    with pytest.raises(InputError, match="occur more than once"):
        reg.import_snapshot(write_csv(tmp_path / "b.csv", rows), "peserta", "NOKA", date(2025, 7, 1))


# -- the residue priors counted at import (jejak.unreleased) ------------------------------------------


def _paid(n: int, seed: int) -> list[list[str]]:
    """People with an update time and a salary, whose low-order units (seconds, last digit) vary."""
    import random

    rnd = random.Random(seed)
    return [[f"{i:013d}", f"31710145019{i:05d}", "SITI AMINAH", "081234567890", "AKTIF",
             f"2024-01-02 10:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}", str(rnd.randrange(1_000_000, 9_999_999))]
            for i in range(1, n + 1)]


def _priors(reg: Registry) -> tuple[dict[tuple[str, str], object], dict[tuple[str, str], object]]:
    """The priors as the registry answers them, and as a scan counts them now."""
    from jejak.unreleased import prior_specs

    info = reg.dataset("peserta")
    specs = prior_specs(info.roles, info.columns)
    assert {(s.channel, s.column) for s in specs} == {("ts_jitter", "TSUPDATE"), ("amount_digits", "GAJI")}
    return reg.priors("peserta", specs), {(s.channel, s.column): p for s, p in reg._count_priors("peserta", specs)}


def test_the_residue_priors_are_stored_by_the_import_that_changed_the_rows(reg: Registry, tmp_path: Path) -> None:
    header = [*HEADER, "GAJI"]
    roles = {"GAJI": Role.AMOUNT}
    reg.import_snapshot(write_csv(tmp_path / "a.csv", _paid(300, 1), header), "peserta", "NOKA", date(2025, 1, 1),
                        roles=roles)
    stored, counted = _priors(reg)
    assert stored == counted and len(reg.con.execute("SELECT * FROM jj_priors").fetchall()) == 2
    first = counted
    # A later snapshot moves the seconds and salaries: its import counts them again, in its transaction.
    reg.import_snapshot(write_csv(tmp_path / "b.csv", _paid(300, 2), header), "peserta", "NOKA", date(2025, 6, 1),
                        roles=roles)
    stored, counted = _priors(reg)
    assert stored == counted != first
    # A refused import leaves them as they were, with the rows.
    before = reg.con.execute("SELECT * FROM jj_priors ORDER BY ALL").fetchall()
    with pytest.raises(InputError):
        reg.import_snapshot(write_csv(tmp_path / "c.csv", [*_paid(3, 3), ["x"]], header), "peserta", "NOKA",
                            date(2025, 9, 1))
    assert reg.con.execute("SELECT * FROM jj_priors ORDER BY ALL").fetchall() == before


def test_priors_stored_by_other_sql_or_by_an_older_jejak_are_counted_again(tmp_path: Path) -> None:
    path = tmp_path / "registry.duckdb"
    with Registry(path) as reg:
        reg.import_snapshot(write_csv(tmp_path / "a.csv", _paid(200, 4), [*HEADER, "GAJI"]), "peserta", "NOKA",
                            date(2025, 1, 1), roles={"GAJI": Role.AMOUNT})
        # Counts made by another channel SQL (the digest differs) are not this SQL's counts.
        reg.con.execute("UPDATE jj_priors SET digest = 'other', counts = '[0,0,0,0,0,0,0,0,0,1]'")
        stored, counted = _priors(reg)
        assert stored == counted and all(sum(p.counts) > 1 for p in stored.values())
        reg.con.execute("DROP TABLE jj_priors")  # a registry imported before the priors were stored
    with Registry(path, read_only=True) as ro:
        stored, counted = _priors(ro)
        assert stored == counted


# -- the open versions reduced to numbers at import (verify.open_numbers_sql) -----------------------------


def _open_numbers(reg: Registry) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The stored numbers (empty when not stored for this SQL) and the numbers computed now."""
    from jejak.normalise import install_carrier_macros
    from jejak.registry import stored_open_numbers
    from jejak.verify import every_column_plan, open_numbers_digest, open_numbers_sql, status_column

    info = reg.dataset("peserta")
    plan = every_column_plan(info)
    assert plan is not None
    install_carrier_macros(reg.con)
    status = status_column(reg.con, info, "rows_peserta")  # as an investigation chooses it
    assert status == "KDSTATUSPST"
    table = stored_open_numbers(reg.con, "peserta", open_numbers_digest(plan, status))
    stored = reg.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() if table else []
    return stored, reg.con.execute(f"{open_numbers_sql(plan, 'rows_peserta', status)} ORDER BY ALL").fetchall()


def test_the_open_versions_numbers_follow_every_import(reg: Registry, tmp_path: Path) -> None:
    header = [*HEADER, "GAJI"]
    roles = {"GAJI": Role.AMOUNT}
    first = _paid(300, 1)
    reg.import_snapshot(write_csv(tmp_path / "a.csv", first, header), "peserta", "NOKA", date(2025, 1, 1),
                        roles=roles)
    stored, computed = _open_numbers(reg)
    assert stored == computed and len(stored) == 300
    # A later snapshot changes most carriers, removes 20 people and adds 30: only those keys are replaced.
    later = _paid(330, 2)[20:]
    later[5][2] = "SITI AMINAH BINTI ALI"  # a change outside the carriers too
    reg.import_snapshot(write_csv(tmp_path / "b.csv", later, header), "peserta", "NOKA", date(2025, 6, 1),
                        roles=roles)
    stored, computed = _open_numbers(reg)
    assert stored == computed and len(stored) == 310 and stored != _open_numbers_of(first)
    # A refused import leaves them as they were, with the rows.
    with pytest.raises(InputError):
        reg.import_snapshot(write_csv(tmp_path / "c.csv", [*later[:3], ["x"]], header), "peserta", "NOKA",
                            date(2025, 9, 1))
    assert _open_numbers(reg) == (stored, computed)
    # Another role changes which cells are carriers: the numbers are made again, for the new SQL.
    reg.import_snapshot(write_csv(tmp_path / "d.csv", later, header), "peserta", "NOKA", date(2025, 10, 1),
                        roles={"GAJI": Role.TEXT})
    again, computed = _open_numbers(reg)
    assert again == computed and len(again) == 310 and len(again[0]) < len(stored[0])


def _open_numbers_of(rows: list[list[str]]) -> list[tuple[object, ...]]:
    """Numbers of a registry holding just ``rows``, for comparison with a later state."""
    import tempfile

    with tempfile.TemporaryDirectory() as d, Registry(Path(d) / "r.duckdb") as other:
        other.import_snapshot(write_csv(Path(d) / "a.csv", rows, [*HEADER, "GAJI"]), "peserta", "NOKA",
                              date(2025, 1, 1), roles={"GAJI": Role.AMOUNT})
        return _open_numbers(other)[0]
