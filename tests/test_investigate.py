"""jejak investigate: verification counts add up, columns are mapped from values, evidence is kept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jejak.investigate import investigate
from jejak.workspace import Workspace


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def derived_verdict(investigation_registry: Any, derived_leak: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One investigation of the derived leak, shared by the tests that only read its verdict."""
    home = tmp_path_factory.mktemp("derived") / "ws"
    shutil.copytree(investigation_registry.home, home)
    return investigate(Workspace.open(home), derived_leak.path)


def test_a_reshaped_leak_is_counted_exactly_by_the_counting_rules(derived_verdict: Any, derived_leak: Any) -> None:
    v = derived_verdict.to_json()
    ver, truth = v["verification"], derived_leak.truth
    for k in ("rows", "matched", "current", "outdated", "fabricated", "invalid", "unlinked", "canary", "duplicates"):
        assert ver[k] == truth[k], k
    assert ver["status"] == truth["status"]
    assert ver["current"] + ver["outdated"] == ver["matched"]
    assert ver["matched"] + ver["fabricated"] + ver["invalid"] + ver["unlinked"] == ver["rows"]
    assert v["impact"]["people"] == truth["people"]
    assert truth["outdated"] > 20  # the fixture really exercises the outdated path


def test_dating_impact_and_attribution_are_wired_into_the_verdict(derived_verdict: Any,
                                                                   investigation_registry: Any) -> None:
    v = derived_verdict.to_json()
    taken = investigation_registry.snapshots[1].as_of.isoformat()  # the leak is the middle snapshot
    assert v["snapshot"]["from"] <= taken and (v["snapshot"]["to"] is None or taken <= v["snapshot"]["to"])
    assert v["impact"]["categories"]["identity"]["people"] == derived_verdict.verification.matched - 40
    # No release was ever made from this workspace: the data is ours but no release explains it.
    assert v["attribution"]["verdict"] == "unreleased"
    assert any("Taken between" in line for line in v["summary"])


def test_renamed_reordered_and_lower_cased_columns_map_back_by_their_values(derived_verdict: Any,
                                                                             derived_leak: Any) -> None:
    mapping = derived_verdict.to_json()["evidence"]["mapping"]
    assert mapping["junk"]["column"] is None
    wrong = {leaked: (m["column"], derived_leak.renamed[leaked]) for leaked, m in mapping.items()
             if leaked != "junk" and m["column"] is not None and m["column"] != derived_leak.renamed[leaked]}
    assert wrong == {}
    found = {m["column"] for m in mapping.values()}
    # Both timestamps and both dates are told apart although their values look alike.
    assert {"TSINPUT", "TSUPDATE", "TGLLHR", "TMT", "NAMA", "NMCETAK", "NIK", "NOKA", "NOHP", "EMAIL"} <= found


def test_lower_cased_names_e164_phones_and_upper_case_emails_still_agree(derived_verdict: Any) -> None:
    cols = derived_verdict.to_json()["verification"]["columns"]
    for c in ("NAMA", "EMAIL", "NIK", "TGLLHR", "TSINPUT"):
        assert cols[c]["rate"] == 1.0, c
    assert cols["NOHP"]["rate"] > 0.9  # outdated rows may carry an old phone that still agrees with their version


def test_the_evidence_is_hashed_copied_read_only_and_never_modified(investigation_ws: Workspace,
                                                                    derived_leak: Any) -> None:
    before = (_sha(derived_leak.path), derived_leak.path.stat().st_mtime_ns, os.stat(derived_leak.path).st_mode)
    verdict = investigate(investigation_ws, derived_leak.path)
    assert (_sha(derived_leak.path), derived_leak.path.stat().st_mtime_ns, os.stat(derived_leak.path).st_mode) == before
    assert verdict.case_dir is not None
    copy = verdict.case_dir / verdict.evidence.copy
    assert _sha(copy) == before[0] == verdict.evidence.sha256
    assert not os.access(copy, os.W_OK) or os.geteuid() == 0
    assert copy.stat().st_mode & 0o222 == 0
    stored = json.loads((verdict.case_dir / "verdict.json").read_text())
    assert stored["schema"] == "jejak.verdict/1" and stored["case_id"] == verdict.case_id
    assert stored["evidence"]["size"] == derived_leak.path.stat().st_size


def test_a_failing_investigation_leaves_no_case_folder(investigation_ws: Workspace, derived_leak: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import jejak.investigate as inv

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("stop")

    monkeypatch.setattr(inv, "verification", boom)
    with pytest.raises(RuntimeError):
        investigate(investigation_ws, derived_leak.path)
    assert list(investigation_ws.cases_dir.iterdir()) == []


def test_a_marked_release_is_genuine_and_its_canaries_are_recognised(investigation_ws: Workspace,
                                                                     tmp_path: Path) -> None:
    from jejak.ledger import Ledger
    from jejak.release import ReleaseRequest, create_release

    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor Data", "vendor")
    out = tmp_path / "vendor.csv"
    rec = create_release(investigation_ws, ReleaseRequest("peserta", "PT Vendor Data", out))
    assert rec.canaries >= 3
    v = investigate(investigation_ws, out).to_json()
    ver = v["verification"]
    lines = len(out.read_text().splitlines()) - 1
    assert ver["rows"] == lines
    assert ver["canary"] == rec.canaries
    assert ver["fabricated"] == rec.canaries  # canaries are fabricated to an outsider
    assert ver["matched"] == lines - rec.canaries
    assert ver["outdated"] == 0 and ver["invalid"] == 0 and ver["duplicates"] == 0
    # Jittered timestamps and re-rendered phones still map and agree.
    assert v["evidence"]["mapping"]["TSUPDATE"]["column"] == "TSUPDATE"
    assert ver["columns"]["TSUPDATE"]["rate"] == 1.0 and ver["columns"]["NOHP"]["rate"] == 1.0
    assert v["attribution"]["verdict"] == "release" and v["attribution"]["suspects"] == [rec.release_id]


def test_a_file_that_is_not_ours_matches_nothing(investigation_registry: Any, investigation_ws: Workspace,
                                                 tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from jejak.synth import make_people

    every = pa.concat_tables(s.participants.select(["NIK", "NOKA"]) for s in investigation_registry.snapshots)
    leak = tmp_path / "other.csv"
    people = make_people(300, np.random.default_rng(99), exclude_nik=every.column("NIK"),
                         exclude_noka=every.column("NOKA"))
    pacsv.write_csv(people, leak)
    v = investigate(investigation_ws, leak).to_json()
    assert v["verification"]["matched"] == 0
    assert v["verification"]["fabricated"] + v["verification"]["invalid"] == 300
    assert any(line.startswith("Not ours") for line in v["summary"])


def test_the_cli_prints_a_verdict_and_writes_the_json(investigation_ws: Workspace, derived_leak: Any,
                                                      tmp_path: Path) -> None:
    from jejak.cli import app

    out, report = tmp_path / "verdict.json", tmp_path / "report.html"
    res = CliRunner().invoke(app, ["--home", str(investigation_ws.home), "investigate", str(derived_leak.path),
                                   "--json", str(out), "--report", str(report), "--lang", "en"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["verification"]["rows"] == derived_leak.truth["rows"]
    assert data["attribution"]["verdict"] in ("release", "unreleased", "not-ours", "inconclusive")
    assert "Ours:" in res.output and data["case_id"] in res.output
    html = report.read_text()
    assert data["case_id"] in html and data["evidence"]["sha256"] in html
    import duckdb

    subjects = investigation_ws.cases_dir / data["case_id"] / "subjects.parquet"
    people = duckdb.sql(f"SELECT count(DISTINCT _key) FROM read_parquet('{subjects}')").fetchall()[0][0]
    assert people == data["impact"]["people"] > 0


def _small_leak(investigation_registry: Any, tmp_path: Path, select: str, rows: int = 400) -> Path:
    import duckdb
    import pyarrow.csv as pacsv

    con = duckdb.connect()
    con.register("s3", investigation_registry.snapshots[2].participants)
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql(f"SELECT {select} FROM s3 ORDER BY hash(NOKA) LIMIT {rows}").to_arrow_table(), path)
    return path


def test_rewritten_addresses_and_flattened_formats_still_agree(investigation_registry: Any,
                                                              investigation_ws: Workspace, tmp_path: Path) -> None:
    rewrite = (
        "upper(replace(replace(replace(ALAMAT, 'JL. ', 'JALAN '), 'Jl. ', 'Jalan '), 'KEC ', 'Kecamatan ')) AS addr, "
        "lower(EMAIL) AS mail, regexp_replace(NOHP, '[^0-9]', '', 'g') AS hp, NOKA AS kartu, "
        "strftime(strptime(TGLLHR, '%Y-%m-%d'), '%d/%m/%Y') AS lahir"
    )
    v = investigate(investigation_ws, _small_leak(investigation_registry, tmp_path, rewrite)).to_json()
    ver = v["verification"]
    assert ver["matched"] == ver["current"] == ver["rows"] == 400
    for c in ("ALAMAT", "EMAIL", "NOHP", "TGLLHR"):
        assert ver["columns"][c]["rate"] == 1.0, c


def test_rows_without_identifiers_go_to_probabilistic_linkage_or_stay_unlinked(
    investigation_registry: Any, investigation_ws: Workspace, tmp_path: Path
) -> None:
    import importlib.util

    path = _small_leak(investigation_registry, tmp_path, "NAMA, TGLLHR, JENKEL, ALAMAT")
    ver = investigate(investigation_ws, path).to_json()["verification"]
    assert ver["rows"] == 400 and ver["fabricated"] == ver["invalid"] == 0
    if importlib.util.find_spec("jejak.linkage") is None:
        assert ver["unlinked"] == 400 and ver["matched"] == 0
    else:
        assert ver["linked_by"].get("probabilistic", 0) == ver["matched"] >= 380
        assert ver["matched"] + ver["unlinked"] == 400


def test_a_zipped_leak_gives_the_same_counts_and_names_its_member(derived_verdict: Any, derived_leak: Any,
                                                                  investigation_ws: Workspace, tmp_path: Path) -> None:
    import zipfile

    packed = tmp_path / "dump.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(derived_leak.path, "data/dijual.csv")
    v = investigate(investigation_ws, packed).to_json()
    assert v["evidence"]["archive"] == "zip" and "dijual.csv" in v["evidence"]["member"]
    assert v["evidence"]["sha256"] == _sha(packed)
    expected = derived_verdict.to_json()["verification"]
    assert {k: v["verification"][k] for k in ("rows", "matched", "outdated", "fabricated", "invalid", "duplicates")} \
        == {k: expected[k] for k in ("rows", "matched", "outdated", "fabricated", "invalid", "duplicates")}


def test_a_mysqldump_with_many_records_per_insert_gives_the_same_counts(
    derived_verdict: Any, derived_leak: Any, investigation_ws: Workspace, tmp_path: Path
) -> None:
    import pyarrow.csv as pacsv

    rows = pacsv.read_csv(derived_leak.path, convert_options=pacsv.ConvertOptions(
        column_types={c: "string" for c in derived_leak.renamed} | {"junk": "string"},
        strings_can_be_null=True)).to_pylist()

    def lit(v: Any) -> str:
        return "NULL" if v is None else "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    names = ", ".join(f"`{c}`" for c in rows[0])
    statements = [
        f"INSERT INTO `peserta` ({names}) VALUES "
        + ",".join("(" + ",".join(lit(v) for v in r.values()) + ")" for r in rows[i:i + 100]) + ";"
        for i in range(0, len(rows), 100)
    ]
    dump = tmp_path / "dump.sql"
    dump.write_text("-- MySQL dump 10.13\n" + "\n".join(statements) + "\n", encoding="utf-8")
    v = investigate(investigation_ws, dump).to_json()
    assert v["evidence"]["format"].startswith("sql") and v["evidence"]["row_ids"] == "record"
    expected = derived_verdict.to_json()["verification"]
    keys = ("rows", "matched", "outdated", "fabricated", "invalid", "duplicates")
    assert {k: v["verification"][k] for k in keys} == {k: expected[k] for k in keys}
    assert v["impact"]["people"] == derived_verdict.to_json()["impact"]["people"]


def test_a_names_only_leak_records_a_case_and_is_never_called_not_ours(
    investigation_registry: Any, investigation_ws: Workspace, tmp_path: Path
) -> None:
    # A name alone identifies no one: splink cannot train on a single comparison, and before this
    # the investigation died inside it with no case recorded.
    v = investigate(investigation_ws, _small_leak(investigation_registry, tmp_path, "NAMA")).to_json()
    assert (investigation_ws.cases_dir / v["case_id"] / "verdict.json").is_file()
    assert v["verification"]["unlinked"] == v["verification"]["rows"] == 400
    assert v["attribution"]["verdict"] == "inconclusive"
    assert not any(line.startswith("Not ours") for line in v["summary"])


def test_excel_mangled_niks_still_record_a_case(investigation_registry: Any, investigation_ws: Workspace,
                                                tmp_path: Path) -> None:
    # Excel shows a 16-digit NIK as 3.512121E+15: the digits are lost, the other fields are not.
    select = "printf('%.6E', CAST(NIK AS DOUBLE)) AS NIK, NAMA, TGLLHR, JENKEL, ALAMAT"
    v = investigate(investigation_ws, _small_leak(investigation_registry, tmp_path, select)).to_json()
    ver = v["verification"]
    assert ver["fabricated"] == 0  # a mangled NIK is not a NIK we never held
    assert ver["matched"] >= 380 and v["attribution"]["verdict"] != "not-ours"
