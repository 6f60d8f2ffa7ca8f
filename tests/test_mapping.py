"""Column mapping from values: headers that lie, swapped look-alike columns, no identifiers at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv

from jejak.intake import read_table
from jejak.mapping import map_columns
from jejak.registry import Registry


def _leak(investigation_registry: Any, tmp_path: Path, select: str, rows: int = 600) -> Path:
    con = duckdb.connect()
    con.register("s3", investigation_registry.snapshots[2].participants)
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql(f"SELECT {select} FROM s3 ORDER BY hash(NOKA) LIMIT {rows}").to_arrow_table(), path)
    return path


def _map(investigation_registry: Any, path: Path) -> dict[str, Any]:
    with Registry(investigation_registry.home / "registry.duckdb", read_only=True) as reg:
        leak = read_table(reg.con, path, name="_jj_leak", strict=False)
        return map_columns(reg.con, leak, reg.dataset("peserta"), "rows_peserta").to_json()


def test_swapped_headers_of_look_alike_columns_are_mapped_by_their_values(investigation_registry: Any,
                                                                          tmp_path: Path) -> None:
    path = _leak(investigation_registry, tmp_path,
                 'NIK, TSINPUT AS "TSUPDATE", TSUPDATE AS "TSINPUT", TMT AS "TGLLHR", TGLLHR AS "TMT", NAMA')
    m = _map(investigation_registry, path)
    assert {k: v["column"] for k, v in m.items()} == {
        "NIK": "NIK", "TSUPDATE": "TSINPUT", "TSINPUT": "TSUPDATE", "TGLLHR": "TMT", "TMT": "TGLLHR", "NAMA": "NAMA",
    }
    assert all(v["method"] == "rows" for v in m.values())


def test_without_any_identifier_names_dates_and_addresses_map_by_value_overlap(investigation_registry: Any,
                                                                              tmp_path: Path) -> None:
    path = _leak(investigation_registry, tmp_path, "NAMA AS a, TGLLHR AS b, JENKEL AS c, ALAMAT AS d")
    m = _map(investigation_registry, path)
    assert {k: v["column"] for k, v in m.items()} == {"a": "NAMA", "b": "TGLLHR", "c": "JENKEL", "d": "ALAMAT"}
    assert all(v["method"] == "values" for v in m.values())


def test_a_column_of_noise_is_left_unmapped(investigation_registry: Any, tmp_path: Path) -> None:
    path = _leak(investigation_registry, tmp_path, "NIK, md5(NOKA) AS token, 'x' || (hash(NIK) % 5) AS flag")
    m = _map(investigation_registry, path)
    assert m["NIK"]["column"] == "NIK"
    assert m["token"]["column"] is None and m["flag"]["column"] is None
