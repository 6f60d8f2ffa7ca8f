"""Operations: owner-only files, temporary files in the workspace, interruption, the registry lock.

Every test runs the real command line in a subprocess, as an operator would, with a loose umask
and an empty ``$TMPDIR`` that must stay empty.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from jejak.errors import InputError
from jejak.files import check_input


class Jejak:
    """The ``jejak`` command in a subprocess, in one workspace, with its own empty ``$TMPDIR``."""

    def __init__(self, base: Path) -> None:
        self.home = base / "ws"
        self.tmpdir = base / "tmpdir"
        self.tmpdir.mkdir()
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir), "JEJAK_LOCK_TIMEOUT": "2"}
        self.env.pop("JEJAK_MASTER_SECRET", None)
        self.env.pop("JEJAK_HOME", None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "jejak.cli", "--home", str(self.home), *args]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, check=False,
                              preexec_fn=_loose_umask, timeout=600)
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, preexec_fn=_loose_umask)


def _loose_umask() -> None:
    os.umask(0o022)  # what most shells have: files readable by everyone unless jejak says otherwise


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Jejak, Path]]:
    """A workspace after the main commands: import, release (CSV and XLSX), investigate, notify."""
    base = tmp_path_factory.mktemp("ops")
    j = Jejak(base)
    data = base / "data"
    j.run("init")
    j.run("synth", "--out", str(data), "--participants", "1500", "--snapshots", "2", "--seed", "3",
          "--no-patients")
    for f in sorted(data.glob("peserta_*.csv")):
        j.run("registry", "import", str(f), "--dataset", "peserta", "--key", "NOKA", "--as-of", f.stem.split("_")[1])
    j.run("recipient", "add", "Cabang Bandung", "--kind", "branch")
    out = base / "out"
    out.mkdir()
    j.run("release", "create", "--dataset", "peserta", "--recipient", "Cabang Bandung", "--purpose", "audit",
          "--all", "--out", str(out / "r.xlsx"))
    j.run("release", "create", "--dataset", "peserta", "--recipient", "Cabang Bandung", "--purpose", "audit",
          "--columns", "NOKA,NIK,NAMA,NOHP,TSUPDATE", "--out", str(out / "r.csv"))
    j.run("investigate", str(out / "r.xlsx"))
    case = next(p.name for p in (j.home / "cases").iterdir() if p.name.startswith("C-"))
    j.run("notify", case, "--discovered", "2026-11-23T08:00", "--no-pdf")
    yield j, out


def test_every_file_a_run_writes_is_owner_only_whatever_the_umask(story: tuple[Jejak, Path]) -> None:
    j, out = story
    wrong = []
    for path in [j.home, *j.home.rglob("*"), *out.iterdir()]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.parent.name == "evidence" and path.parent.parent.name.startswith("C-"):
            expected = 0o400  # the evidence copy: read-only, even for its owner
        else:
            expected = 0o700 if path.is_dir() else 0o600
        if mode != expected:
            wrong.append(f"{oct(mode)} {path.relative_to(path.parents[2])}")
    assert not wrong, wrong


def test_nothing_is_written_to_tmpdir_and_no_temporary_folder_is_left(story: tuple[Jejak, Path]) -> None:
    j, _ = story
    assert list(j.tmpdir.iterdir()) == []
    assert not [p for p in j.home.rglob(".tmp-*")]
    assert not list(j.home.glob("*.tmp"))  # DuckDB's default spill folder beside the registry


def test_a_killed_investigation_is_swept_by_the_next_command(story: tuple[Jejak, Path]) -> None:
    j, out = story
    proc = j.start("investigate", str(out / "r.csv"))
    deadline = time.monotonic() + 120
    while not list((j.home / "cases").glob(".tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    j.run("registry", "list")
    assert not list(j.home.rglob(".tmp-*"))
    assert list(j.tmpdir.iterdir()) == []


def test_a_temporary_folder_of_a_live_process_is_not_swept(tmp_path: Path) -> None:
    from jejak.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    with ws.tmpdir("x") as mine:
        assert stat.S_IMODE(mine.stat().st_mode) == 0o700
        assert ws.sweep_stale() == []
        assert mine.is_dir()
    assert not mine.exists()


def _big_csv(path: Path, rows: int = 3_000_000) -> Path:
    duckdb.sql(f"COPY (SELECT lpad(i::VARCHAR, 13, '0') AS NOKA, 'x' || i AS NAMA, md5(i::VARCHAR) AS A, "
               f"md5((i * 7)::VARCHAR) AS B FROM range({rows}) t(i)) TO '{path}'")
    return path


def _interrupt(j: Jejak, sig: signal.Signals, *args: str, after: float,
               under_way: Callable[[], bool] | None = None) -> str:
    """Start a command, send it ``sig`` once it is well under way, and return its stderr.

    ``under_way`` says when the stage to interrupt has begun (a partial file exists, say): waiting for
    it rather than for a fixed time keeps the test right on a machine faster or slower than ours.
    """
    proc = j.start(*args)
    if under_way is None:
        time.sleep(after)
    else:
        deadline = time.monotonic() + 120
        while not under_way() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert proc.poll() is None, "the command finished before it could be interrupted; make the input larger"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted, nothing changed"
    assert "Traceback" not in stderr
    assert not list(j.home.rglob(".tmp-*")) and list(j.tmpdir.iterdir()) == []
    return stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_import_says_so_in_one_line_and_changes_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    j = Jejak(tmp_path)
    j.run("init")
    big = _big_csv(tmp_path / "big.csv", rows=6_000_000)  # still reading when the signal comes on a fast machine
    before = j.run("registry", "list", "--json").stdout
    _interrupt(j, sig, "registry", "import", str(big), "--dataset", "big", "--key", "NOKA", "--as-of", "2025-01-01",
               "--json", after=2.5)
    assert j.run("registry", "list", "--json").stdout == before


@pytest.fixture(scope="module")
def big_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Jejak, Path]:
    base = tmp_path_factory.mktemp("big")
    j = Jejak(base)
    j.run("init")
    big = _big_csv(base / "big.csv")
    j.run("registry", "import", str(big), "--dataset", "big", "--key", "NOKA", "--as-of", "2025-01-01")
    j.run("recipient", "add", "Vendor", "--kind", "vendor")
    return j, big


@pytest.mark.parametrize(("sig", "fmt"), [(signal.SIGINT, "xlsx"), (signal.SIGTERM, "csv")])
def test_an_interrupted_release_leaves_no_file_no_entry_and_nothing_in_tmpdir(
    big_workspace: tuple[Jejak, Path], sig: signal.Signals, fmt: str,
) -> None:
    j, big = big_workspace
    out = big.parent / f"release.{fmt}"
    # An XLSX sheet holds 1,048,575 rows: a larger release is refused, and on a slow machine that
    # refusal could come before the signal. A million rows in XLSX are still being written after 5 s.
    rows = ["--where", "NOKA < '0000001000000'"] if fmt == "xlsx" else ["--all"]
    def writing() -> bool:  # the release's scratch folder is made when the file's writing begins
        return bool(list((j.home / "tmp").glob(".tmp-release*")))

    _interrupt(j, sig, "release", "create", "--dataset", "big", "--recipient", "Vendor", *rows, "--purpose", "t",
               "--out", str(out), after=0, under_way=writing)
    assert not out.exists() and not list(big.parent.glob(".release*"))
    assert _release_ids(j) == []


def test_an_interrupted_investigation_records_no_case(big_workspace: tuple[Jejak, Path]) -> None:
    j, big = big_workspace
    _interrupt(j, signal.SIGTERM, "investigate", str(big), after=0,
               under_way=lambda: bool(list((j.home / "cases").glob(".tmp-*"))))
    assert list((j.home / "cases").iterdir()) == []


def test_a_writer_waits_for_the_lock_then_names_the_process_that_holds_it(story: tuple[Jejak, Path]) -> None:
    j, _ = story
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from jejak.registry import Registry; "
         f"r = Registry(Path({str(j.home / 'registry.duckdb')!r})); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env=j.env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        snapshot = sorted((j.home.parent / "data").glob("peserta_*.csv"))[-1]
        proc = j.run("registry", "import", str(snapshot), "--dataset", "peserta", "--key", "NOKA",
                     "--as-of", snapshot.stem.split("_")[1], ok=False)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    assert "waiting for process" in proc.stderr
    assert f"in use by process {holder.pid}" in proc.stderr
    assert "Could not set lock" not in proc.stderr and "Traceback" not in proc.stderr


def test_readers_share_the_registry(story: tuple[Jejak, Path]) -> None:
    j, _ = story
    reader = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from jejak.registry import Registry; "
         f"r = Registry(Path({str(j.home / 'registry.duckdb')!r}), read_only=True); print('held', flush=True); "
         "time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env=j.env,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "held"
        assert "peserta" in j.run("registry", "show", "peserta").stdout
        assert j.run("release", "list").stdout
    finally:
        reader.kill()
        reader.wait()


def test_a_directory_or_a_fifo_is_named_for_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        check_input(tmp_path)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        check_input(fifo)
    with pytest.raises(InputError, match="no such file"):
        check_input(tmp_path / "missing.csv")


# -- the terminal ----------------------------------------------------------------------------------


def _release_ids(j: Jejak) -> list[str]:
    import json

    return [r["release_id"] for r in json.loads(j.run("release", "list", "--json").stdout)]


def test_release_ids_and_hashes_are_never_cut_to_the_terminal(story: tuple[Jejak, Path]) -> None:
    import json

    j, _ = story
    narrow = {**j.env, "COLUMNS": "60"}
    listed = subprocess.run(j.argv("release", "list"), capture_output=True, text=True, env=narrow, check=True)
    for rid in _release_ids(j):
        assert rid in listed.stdout
        shown = subprocess.run(j.argv("release", "show", rid), capture_output=True, text=True, env=narrow, check=True)
        sha = json.loads(j.run("release", "show", rid, "--json").stdout)["file_sha256"]
        assert rid in shown.stdout and sha in shown.stdout


def test_registry_history_is_one_block_per_version_and_an_unknown_key_fails(story: tuple[Jejak, Path]) -> None:
    import json

    j, _ = story
    as_json = j.run("registry", "history", "peserta", "0000000000000", "--json", ok=False)
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == []
    missing = j.run("registry", "history", "peserta", "0000000000000", ok=False)
    assert missing.returncode != 0 and "no row" in missing.stderr.lower()
    data = j.home.parent / "data"
    noka = sorted(data.glob("peserta_*.csv"))[0].read_text().splitlines()[1].split(",")[0]
    shown = subprocess.run(j.argv("registry", "history", "peserta", noka), capture_output=True, text=True,
                           env={**j.env, "COLUMNS": "80"}, check=True)
    assert "version 1 of" in shown.stdout
    assert "NIK" in shown.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--purpose", "audit"], "--all"),
    (["--all"], "--purpose is required"),
])
def test_release_create_asks_for_all_and_a_purpose(story: tuple[Jejak, Path], args: list[str], says: str) -> None:
    j, out = story
    proc = j.run("release", "create", "--dataset", "peserta", "--recipient", "Cabang Bandung", *args,
                 "--out", str(out / "never.csv"), ok=False)
    assert proc.returncode == 2 and says in proc.stderr
    assert not (out / "never.csv").exists()


def test_reproduce_refuses_a_file_name_of_another_format(story: tuple[Jejak, Path]) -> None:
    import json

    j, out = story
    csv_release = next(r for r in json.loads(j.run("release", "list", "--json").stdout) if r["file_format"] == "csv")
    proc = j.run("release", "reproduce", csv_release["release_id"], "--out", str(out / "again.parquet"), ok=False)
    assert proc.returncode == 2 and "released as csv" in proc.stderr
    assert not (out / "again.parquet").exists()


@pytest.mark.parametrize(("as_of", "says"), [("2000-01-01", "before the first snapshot"),
                                             ("2999-01-01", "in the future")])
def test_register_refuses_an_as_of_the_registry_cannot_hold(story: tuple[Jejak, Path], as_of: str, says: str) -> None:
    j, _ = story
    before = _release_ids(j)
    proc = j.run("release", "register", "--dataset", "peserta", "--recipient", "Cabang Bandung", "--as-of", as_of,
                 ok=False)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr
    assert _release_ids(j) == before  # nothing written into the append-only ledger


def test_investigating_a_directory_says_it_is_one(story: tuple[Jejak, Path]) -> None:
    j, out = story
    proc = j.run("investigate", str(out), ok=False)
    assert proc.returncode == 2 and "is a directory" in proc.stderr


def test_notify_refuses_a_future_discovery_and_warns_at_once_of_a_passed_deadline(story: tuple[Jejak, Path]) -> None:
    j, _ = story
    case = next(p.name for p in (j.home / "cases").iterdir() if p.name.startswith("C-"))
    future = j.run("notify", case, "--discovered", "2999-01-01T08:00", "--no-pdf", ok=False)
    assert future.returncode == 2 and "in the future" in future.stderr
    late = j.run("notify", case, "--discovered", "2026-01-01T08:00", "--no-pdf", "--out",
                 str(j.home.parent / "late-pack"))
    assert "deadline passed" in late.stderr


# -- the terminal, the report and the notice agree -------------------------------------------------


def test_terminal_report_and_notice_state_the_same_window_head_count_and_specific_data(
    story: tuple[Jejak, Path],
) -> None:
    import html
    import json

    from jejak.findings import extraction_window, people_affected
    from jejak.report import fmt_date, fmt_int, specific_words

    j, out = story
    case = next(p for p in (j.home / "cases").iterdir() if p.name.startswith("C-"))
    verdict = json.loads((case / "verdict.json").read_text())
    terminal = "\n".join(verdict["summary"])
    j.run("report", case.name, "--out", str(out / "report_en.html"), "--lang", "en")
    page = html.unescape((out / "report_en.html").read_text())
    j.run("notify", case.name, "--discovered", "2026-11-23T08:00", "--no-pdf", "--lang", "en",
          "--out", str(j.home.parent / "pack-en"))
    notice = (j.home.parent / "pack-en" / "authority_notice.md").read_text().replace("\\", "")

    window = extraction_window(verdict)
    assert window is not None
    assert window.words("en") in terminal
    long_form = window.words("en", lambda d: fmt_date(d, "en"))
    assert long_form in page and long_form in notice
    people = people_affected(verdict)
    assert f"{people:,} distinct people" in terminal
    assert f"{fmt_int(people, 'en')}</b> distinct people" in (out / "report_en.html").read_text()
    assert f"Data subjects: {fmt_int(people, 'en')} people" in notice
    specific = specific_words(verdict, "en")
    assert specific  # synthetic participants include children
    assert specific in terminal and specific in page and specific in notice
    assert "()" not in page and "()" not in notice


def test_children_alone_make_the_data_specific_and_are_named(tmp_path: Path) -> None:
    import html

    from jejak.notify import deadline, facts_from
    from jejak.report import verdict_paragraph

    verdict = {
        "case_id": "C-T", "verification": {"rows": 10, "matched": 10},
        "snapshot": {"from": "2025-07-01", "to": None},
        "impact": {"people": 10, "children": 3, "specific_data": True,
                   "categories": {"identity": {"people": 10, "columns": ["NIK"], "specific": False}}},
        "evidence": {"path": "leak.csv"}, "attribution": {"verdict": "unreleased"},
    }
    for lang, children in (("en", "children's data (3 people)"), ("id", "data anak (3 orang)")):
        text = verdict_paragraph(verdict, lang)
        assert children in html.unescape(text) and "()" not in text
        facts = facts_from(verdict, deadline("2026-11-23T08:00"), "X", lang)
        assert children in facts.specific
    assert "on or after" in verdict_paragraph(verdict, "en")


def test_a_signal_during_a_commit_lands_after_it_and_says_what_was_saved() -> None:
    from jejak import signals

    signals.install()
    try:
        with pytest.raises(KeyboardInterrupt), signals.committing("the snapshot"):
            os.kill(os.getpid(), signal.SIGINT)  # arrives inside the commit: held back, not raised here
            held = True
        assert held and signals.saved()[-1] == "the snapshot"
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signals._received.clear()
