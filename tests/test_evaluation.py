"""The evaluation harness (``jejak eval``) end to end on a small scratch workspace."""

from __future__ import annotations

import json
import stat
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jejak.cli import app
from jejak.evaluation import evaluate


def test_the_harness_names_leakers_accuses_no_innocent_and_dates_every_leak(tmp_path: Path) -> None:
    report = evaluate(tmp_path, participants=3_000, releases=40, leaks=3, seeds=1,
                      scenarios=["unmodified extract", "2 colluders, rows interleaved",
                                 "seconds and last two amount digits randomised",
                                 "unmarked registry copy, lower-cased headers"])
    j = report.to_json()
    rows = {r["scenario"]: r for r in j["rows_needed"]}
    assert rows["unmodified extract"]["rows"] is not None and rows["unmodified extract"]["rows"] <= 50
    assert rows["2 colluders, rows interleaved"]["rows"] is not None
    assert rows["2 colluders, rows interleaved"]["rows"] <= 2_000
    assert rows["2 colluders, rows interleaved"]["outcomes"] == {"named": 3}
    randomised = rows["seconds and last two amount digits randomised"]["outcomes"]
    assert set(randomised) <= {"named", "candidates"} and sum(randomised.values()) == 3
    assert rows["unmarked registry copy, lower-cased headers"]["outcomes"] == {"unreleased": 3}
    assert j["innocent"]["trials"] > 0 and j["innocent"]["accused_at_1e-6"] == 0
    # every leak tried (the search's and the innocent trials') was dated, each window right
    assert j["dating"]["trials"] >= 4
    assert j["dating"]["window_contains_extraction"] == j["dating"]["trials"]


def test_the_cli_works_in_the_current_directory_not_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jejak eval` without --work builds its synthetic registry in ./jejak-eval (owner-only) and
    writes nothing into the system's temporary directory."""
    tmpdir = tmp_path / "system-tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    res = CliRunner().invoke(app, ["eval", "--participants", "2000", "--releases", "12", "--leaks", "1",
                                   "--seeds", "1", "--scenario", "unmodified extract", "--json"])
    assert res.exit_code == 0, res.output
    work = here / "jejak-eval"
    assert (work / "ws").is_dir() and stat.S_IMODE(work.stat().st_mode) == 0o700
    assert json.loads(res.stdout)["rows_needed"][0]["scenario"] == "unmodified extract"
    assert list(tmpdir.iterdir()) == []
