"""Progress of long work: the running statement's progress reaches a listener, in rows where the stage
knows them; a terminal shows it as a bar; a pipe gets none of it; memory and thread settings apply."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from jejak import progress, resources
from jejak.registry import Registry


@pytest.fixture
def listener() -> Iterator[list[tuple[float, int | None]]]:
    seen: list[tuple[float, int | None]] = []
    progress.listen(lambda pct, rows: seen.append((pct, rows)))
    yield seen
    progress.listen(None)


def test_a_long_statement_reports_its_progress_and_the_stage_rows(tmp_path: Path, listener: list) -> None:
    with Registry(tmp_path / "r.duckdb") as reg, progress.rows(1_000):
        reg.con.execute("SELECT count(*) FROM range(300000000) t(i) WHERE hash(i) % 7 = 0").fetchall()
    assert listener, "no progress was reported during a statement of several seconds"
    assert all(0 <= pct <= 100 for pct, _ in listener)
    assert {rows for _, rows in listener} == {1_000}
    assert len({pct for pct, _ in listener}) > 1  # it moves
    n = len(listener)
    time.sleep(3 * progress.POLL_SECONDS)
    assert len(listener) == n, "the watch must stop when the registry is closed"


def test_nothing_is_watched_without_a_listener(tmp_path: Path) -> None:
    progress.listen(None)
    with Registry(tmp_path / "r.duckdb") as reg:
        assert reg._watch is None
        assert reg.con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0] is False


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; its exit status and what it drew."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("progress")
    home, leak = base / "ws", base / "leak.csv"
    duckdb.sql(f"COPY (SELECT lpad(i::VARCHAR, 13, '0') AS NOKA, 'ORANG ' || i AS NAMA, md5(i::VARCHAR) AS A "
               f"FROM range(2000000) t(i)) TO '{leak}'")
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("JEJAK_HOME", None)
    cli = [sys.executable, "-m", "jejak.cli", "--home", str(home)]
    subprocess.run([*cli, "init"], check=True, env=env, capture_output=True)
    subprocess.run([*cli, "registry", "import", str(leak), "--dataset", "big", "--key", "NOKA", "--as-of",
                    "2025-01-01"], check=True, env=env, capture_output=True)
    return home, leak, env


def test_a_terminal_shows_the_rows_done_and_a_pipe_shows_nothing(
    workspace: tuple[Path, Path, dict[str, str]],
) -> None:
    home, leak, env = workspace
    cli = [sys.executable, "-m", "jejak.cli", "--home", str(home)]
    status, drawn = _on_a_terminal([*cli, "investigate", str(leak)], env)
    assert status == 0, drawn
    assert "of 2,000,000 rows" in drawn
    piped = subprocess.run([*cli, "investigate", str(leak)], env=env, capture_output=True, text=True)
    assert piped.returncode == 0
    assert "rows" not in piped.stderr and "\x1b[" not in piped.stderr + piped.stdout


def test_a_memory_limit_that_is_no_size_is_refused_in_one_line(workspace: tuple[Path, Path, dict[str, str]]) -> None:
    home, leak, env = workspace
    proc = subprocess.run([sys.executable, "-m", "jejak.cli", "--home", str(home), "investigate", str(leak),
                           "--memory-limit", "lots"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "not a size" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("text", "size"), [("4GB", 4 * 10**9), ("512MiB", 512 * 2**20), ("1.5 GiB", 3 * 2**29)])
def test_sizes_are_read_in_both_unit_systems(text: str, size: int) -> None:
    assert resources.parse_size(text) == size


def test_the_default_limit_is_at_most_3_gib_and_the_environment_and_option_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(resources.MEMORY_ENV, raising=False)
    assert resources.memory_limit() <= 3 * 2**30
    monkeypatch.setenv(resources.MEMORY_ENV, "1GiB")
    monkeypatch.setenv(resources.THREADS_ENV, "1")
    with Registry(tmp_path / "r.duckdb") as reg:
        limit, threads = reg.con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
    assert limit.replace(" ", "") in ("1.0GiB", "1024.0MiB") and threads == 1
    resources.use_memory_limit("300MiB")
    try:
        with Registry(tmp_path / "r.duckdb") as reg:
            limit = reg.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.replace(" ", "") == "300.0MiB"
    finally:
        resources.use_memory_limit(None)


@pytest.fixture
def main_side_effects() -> Iterator[None]:
    """cli.main sets the umask and signal handlers of the process: put them back for the other tests."""
    import signal

    umask = os.umask(0o077)
    os.umask(umask)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    os.umask(umask)
    for s, h in handlers.items():
        signal.signal(s, h)


@pytest.mark.usefixtures("main_side_effects")
@pytest.mark.parametrize(("exc", "says"), [
    (duckdb.IOException('IO Error: Could not write file "/ws/tmp/spill/duckdb_temp_1.tmp": No space left on device'),
     "the disk holding the workspace is full"),
    (duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate"), "out of memory"),
])
def test_running_out_of_disk_or_memory_is_one_line_without_a_traceback(
    exc: Exception, says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from jejak import cli

    def fail() -> None:
        raise exc

    monkeypatch.setattr(cli, "app", fail)
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "nothing changed" in err and "Traceback" not in err


@pytest.mark.usefixtures("main_side_effects")
def test_any_other_failure_is_not_dressed_up_as_a_resource_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from jejak import cli

    def fail() -> None:
        raise duckdb.IOException("IO Error: Cannot open file: permission denied")

    monkeypatch.setattr(cli, "app", fail)
    with pytest.raises(duckdb.IOException):
        cli.main()
