"""The command line end to end, as a user runs it (a real subprocess for the error path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from jejak.cli import app

runner = CliRunner()


def run(home: Path, *args: str) -> str:
    result = runner.invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_synth_import_list_show_history(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run(home, "init")
    run(home, "synth", "--out", str(tmp_path / "d"), "--participants", "800", "--snapshots", "2", "--seed", "5")
    files = sorted((tmp_path / "d").glob("peserta_*.csv"))
    for f in files:
        run(home, "registry", "import", str(f), "--dataset", "peserta", "--key", "NOKA",
            "--as-of", f.stem.split("_")[1], "--role", "KDKANTOR=category")
    listed = json.loads(run(home, "registry", "list", "--json"))
    assert listed[0]["name"] == "peserta" and len(listed[0]["snapshots"]) == 2
    shown = json.loads(run(home, "registry", "show", "peserta", "--json"))
    assert {"rows", "versions", "snapshots", "roles"} <= shown.keys()
    assert shown["roles"]["NIK"] == "nik" and shown["roles"]["KDKANTOR"] == "category"
    assert shown["versions"] > shown["rows"] > 700
    again = json.loads(run(home, "registry", "import", str(files[-1]), "--dataset", "peserta", "--key", "NOKA",
                           "--as-of", files[-1].stem.split("_")[1], "--json"))
    assert again["already_imported"] is True


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jejak.cli", "--home", str(tmp_path / "nope"), "registry", "list"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "not a jejak workspace" in proc.stderr and "Traceback" not in proc.stderr


def test_make_demo_command_line_is_valid() -> None:
    """`make demo` must pass options the CLI accepts (a typo here breaks the README's first command)."""
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    line = next(ln.strip() for ln in makefile.splitlines() if "/jejak " in ln and " demo" in ln)
    args = line.split("/jejak ", 1)[1].split()
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
