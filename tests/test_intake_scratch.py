"""Intake's temporary copies (transcoded text, unpacked members, SQL rows) stay in the folder it is given.

Those copies hold personal data; a run inside a workspace must not leave them, even for a moment,
in the machine's shared temporary folder. Python's default folder is pointed at a path that does not
exist, so any temporary file made without ``scratch_dir`` fails the read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest
from tests import hostile

from jejak.intake import read_table

COLS = hostile.COLUMNS


def _files(folder: Path) -> dict[str, bytes]:
    rows = hostile.people(40)
    csv = hostile.delimited(COLS, rows)
    return {
        "utf16.csv": hostile.delimited(COLS, rows, codec="utf-16-le"),
        "cp1252.csv": hostile.delimited(COLS, hostile.people(40, accents=True), codec="cp1252"),
        "leak.zip": hostile.zipped({"a.csv": csv}),
        "leak.csv.gz": hostile.gzipped(csv),
        "dump.sql": hostile.mysql_dump(COLS, rows),
        "copy.sql": hostile.pg_copy(COLS, rows),
        "leak.xlsx": hostile.xlsx(COLS, rows),
    }


@pytest.mark.parametrize("name", sorted(_files(Path("."))))
def test_temporary_copies_stay_in_the_scratch_folder(name: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / name
    path.write_bytes(_files(tmp_path)[name])
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    con = duckdb.connect()
    table = read_table(con, path, name="t", strict=False, scratch_dir=scratch)
    assert table.rows == 40
    assert list(scratch.iterdir()) == []  # and every copy is gone once the table is read
