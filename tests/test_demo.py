"""`jejak demo` end to end at a small size, and its refusal to mix two stories in one workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jejak import demo
from jejak.cli import app
from jejak.demo import _new_workspace
from jejak.errors import WorkspaceError
from jejak.ledger import Ledger
from jejak.workspace import Workspace


def test_the_demo_tells_the_whole_story_at_small_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "demo-home"
    made_in: list[Path] = []
    generate = demo.generate

    def spy(out: Path, **kw: Any) -> Any:
        made_in.append(out)
        return generate(out, **kw)

    monkeypatch.setattr(demo, "generate", spy)
    # Speed is measured (the closing notes, docs/report.md), never asserted: a shared CI machine's clock means little.
    result = CliRunner().invoke(app, ["--home", str(home), "demo", "--rows", "3000", "--seed", "3", "--fresh"])
    assert result.exit_code == 0, (result.output, result.exception)
    ws = Workspace.open(home)
    # The synthetic registry is made inside the workspace (never $TMPDIR) and gone afterwards.
    assert made_in and made_in[0].is_relative_to(ws.tmp_root.resolve()) and not made_in[0].exists()
    with Ledger.open(ws.ledger_url) as ledger:
        recipients = ledger.recipients()
        releases = ledger.releases()
    kinds = {r.kind for r in recipients}
    assert 35 <= len(recipients) <= 45 and {"branch", "vendor", "hospital"} <= kinds
    assert {r.kind for r in releases} == {"marked", "registered"}
    assert len({r.as_of for r in releases}) == 3  # releases at every registry date
    leak = home / "found" / "dijual_bpjs_sample.jsonl"
    assert leak.exists() and str(leak) in result.output.replace("\n", "")
    assert "is not installed" not in result.output.replace("Chromium is not installed", "")
    [case] = [p for p in (home / "cases").iterdir() if p.is_dir()]
    verdict = json.loads((case / "verdict.json").read_text())
    assert verdict["verification"]["matched"] > 0
    assert (case / "report_id.html").exists() and (case / "report_en.html").exists()
    assert (case / "notify" / "subjects.csv").exists() and (case / "notify" / "authority_notice.md").exists()
    assert "Verdict" in result.output and "Notification pack" in result.output
    truth = next(r.release_id for r in releases if r.recipient == "PT Vendor Data Nusantara")
    assert verdict["attribution"]["verdict"] == "release"
    assert verdict["attribution"]["suspects"] == [truth]  # found without being told
    assert verdict["verification"]["fabricated"] > 0 and verdict["snapshot"]["from"]  # padded, and dated


def test_a_second_demo_into_the_same_workspace_is_refused_without_fresh(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = _new_workspace(home, fresh=False)
    (ws.home / "stale.txt").write_text("from the last story")
    with pytest.raises(WorkspaceError, match="--fresh"):
        _new_workspace(home, fresh=False)
    assert (ws.home / "stale.txt").exists()
    _new_workspace(home, fresh=True)
    assert not (ws.home / "stale.txt").exists() and Workspace.open(home)


def test_fresh_never_deletes_a_directory_that_is_not_a_workspace(tmp_path: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(WorkspaceError, match="not a jejak workspace"):
        _new_workspace(other, fresh=True)
    assert (other / "holiday.jpg").exists()
