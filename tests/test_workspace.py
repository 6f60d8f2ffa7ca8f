"""A workspace holds one registry, ledger and master secret, and never mixes with another."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jejak.errors import WorkspaceError
from jejak.workspace import SECRET_ENV, Workspace, resolve_home


def test_init_creates_an_owner_only_master_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    ws = Workspace.init(tmp_path / "ws")
    mode = stat.S_IMODE(ws.secret_path.stat().st_mode)
    assert mode == 0o600
    assert len(ws.master_secret()) == 32


def test_two_workspaces_have_different_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    a, b = Workspace.init(tmp_path / "a"), Workspace.init(tmp_path / "b")
    assert a.master_secret() != b.master_secret()
    assert a.registry_path != b.registry_path


def test_init_refuses_an_existing_workspace_or_a_non_empty_directory(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="already a jejak workspace"):
        Workspace.init(tmp_path / "ws")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="not empty"):
        Workspace.init(tmp_path / "other")


def test_open_refuses_a_directory_that_is_not_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="jejak --home"):
        Workspace.open(tmp_path)


def test_secret_from_the_environment_wins_and_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "ab" * 32)
    ws = Workspace.init(tmp_path / "ws")
    assert not ws.secret_path.exists()
    assert ws.master_secret() == bytes.fromhex("ab" * 32)


def test_missing_secret_explains_how_to_restore_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    ws = Workspace.init(tmp_path / "ws")
    ws.secret_path.unlink()
    with pytest.raises(WorkspaceError, match="restore"):
        ws.master_secret()


def test_home_option_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JEJAK_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "opt") == tmp_path / "opt"
    assert resolve_home(None) == tmp_path / "env"
    monkeypatch.delenv("JEJAK_HOME")
    with pytest.raises(WorkspaceError, match="--home"):
        resolve_home(None)
