"""The audit log on SQLite and PostgreSQL: the chain, signed checkpoints, the head file, and
every kind of tampering an insider with database access could try — each named by its entry."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import jejak
from jejak import audit
from jejak.audit import GENESIS, AuditError, AuditLog, entry_hash
from jejak.keys import audit_signing_key
from jejak.ledger import Ledger
from jejak.workspace import Workspace

MASTER = bytes(range(32))
EVERY = 5
#: 12 actions with a checkpoint every 5 entries: entries 1-14, checkpoints at 6 and 12, and
#: entries 13 and 14 after the last checkpoint (covered by the head file only).
ACTIONS = 12


@pytest.fixture
def log(ledger_url: str, tmp_path: Path) -> Iterator[AuditLog]:
    home = tmp_path / "home"
    home.mkdir()
    ledger = Ledger.open(ledger_url)
    yield AuditLog(ledger, home, checkpoint_every=EVERY)
    ledger.close()


@pytest.fixture
def chain(log: AuditLog) -> AuditLog:
    for i in range(ACTIONS):
        log.append("release.create", f"R-{i:03d}", {"rows": 100 + i, "file": f"r{i}.csv"}, actor="operator",
                   master=MASTER)
    return log


def tamper(log: AuditLog, *statements: str, **params: Any) -> None:
    """Run SQL as an insider who owns the database: first drop the append-only triggers."""
    with log.ledger.engine.begin() as conn:
        for table in ("audit_log", "audit_checkpoints"):
            if conn.dialect.name == "sqlite":
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            else:
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
        for sql in statements:
            conn.execute(sa.text(sql), params)


def forge(log: AuditLog, seq: int, prev_hash: str, **changes: Any) -> dict[str, Any]:
    """An entry a forger would write: plausible content, correct prev_hash, freshly computed hash."""
    e = {"seq": seq, "time": datetime(2026, 1, 1, tzinfo=UTC), "actor": "operator", "action": "release.create",
         "target": "R-FORGED", "detail": {"rows": 1}, "prev_hash": prev_hash, **changes}
    e["hash"] = entry_hash(e["seq"], e["time"], e["actor"], e["action"], e["target"], e["detail"], e["prev_hash"])
    return e


def insert(log: AuditLog, *rows: dict[str, Any]) -> None:
    from jejak.ledger.models import AuditEntryRow

    tamper(log)
    with log.ledger.engine.begin() as conn:
        conn.execute(sa.insert(AuditEntryRow), list(rows))


def hashes(log: AuditLog) -> dict[int, str]:
    return {e.seq: e.hash for e in log.entries()}


def failed(log: AuditLog) -> tuple[int | None, str]:
    result = log.verify()
    assert not result.intact
    assert result.message == result.reason and "\n" not in result.message
    return result.failed_seq, result.message


# -- an intact log ---------------------------------------------------------------------------------


def test_a_chain_of_entries_verifies_with_its_checkpoints(chain: AuditLog) -> None:
    entries = chain.entries()
    assert [e.seq for e in entries] == list(range(1, 15))
    assert [e.seq for e in entries if e.action == audit.CHECKPOINT_ACTION] == [6, 12]
    assert [c.seq for c in chain.checkpoints()] == [6, 12]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert entries[11].detail == {"previous_checkpoint": 6}
    result = chain.verify()
    assert result.intact and result.failed_seq is None
    assert result.message == "intact: 14 entries, last checkpoint at seq 12"
    assert chain.read_head() == (14, entries[-1].hash)


def test_entries_read_back_with_the_hash_they_were_written_with(chain: AuditLog) -> None:
    e = chain.entries(limit=1)[0]
    assert e.seq == 14 and e.time.tzinfo is not None
    assert entry_hash(e.seq, e.time, e.actor, e.action, e.target, e.detail, e.prev_hash) == e.hash
    assert [x.seq for x in chain.entries(limit=3)] == [12, 13, 14]


def test_an_empty_log_is_intact(log: AuditLog) -> None:
    assert log.verify().message == "intact: 0 entries, no checkpoint yet"


def test_the_encoding_of_an_entry_never_changes() -> None:
    # Old logs are verified by new code: changing the canonical encoding would make every
    # existing entry look altered. This vector pins it.
    t = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    args = (1, t, "dpo", "release.create", "R-1", {"rows": 3, "b": [1, "x"]}, GENESIS)
    assert audit.canonical(*args) == (
        b'["jejak-audit/v1",1,"2026-01-02T03:04:05.678901Z","dpo","release.create","R-1",{"b":[1,"x"],"rows":3},"'
        + GENESIS.encode() + b'"]')
    assert entry_hash(*args) == "fb2cf7a46013ed1580ed919babd211612086a5b2bedbf2f0bfc86405439f2095"


def test_the_database_refuses_to_change_or_delete_entries(chain: AuditLog) -> None:
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 14",
                "DELETE FROM audit_checkpoints WHERE seq = 6"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), chain.ledger.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert chain.verify().intact


# -- tampering: each is detected and names its entry ------------------------------------------------


def test_an_edited_detail_is_named(chain: AuditLog) -> None:
    tamper(chain, "UPDATE audit_log SET detail = :d WHERE seq = 3", d=json.dumps({"rows": 1, "file": "r2.csv"}))
    assert failed(chain) == (3, "entry 3 was altered: its content or position no longer matches its hash")


def test_an_edited_actor_is_named(chain: AuditLog) -> None:
    tamper(chain, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 8")
    assert failed(chain)[0] == 8


def test_a_deleted_entry_in_the_middle_is_named(chain: AuditLog) -> None:
    tamper(chain, "DELETE FROM audit_log WHERE seq = 4")
    assert failed(chain) == (4, "entry 4 is missing: the log goes from entry 3 to entry 5")


def test_a_deleted_first_entry_is_named(chain: AuditLog) -> None:
    tamper(chain, "DELETE FROM audit_log WHERE seq = 1")
    assert failed(chain) == (1, "entry 1 is missing: the log starts at entry 2")


def test_two_swapped_entries_are_named(chain: AuditLog) -> None:
    tamper(chain, "UPDATE audit_log SET seq = -1 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 4",
           "UPDATE audit_log SET seq = 4 WHERE seq = -1")
    assert failed(chain)[0] == 3


def test_an_entry_replaced_by_a_forgery_with_a_fresh_hash_is_caught_by_the_next_entry(chain: AuditLog) -> None:
    h = hashes(chain)
    tamper(chain, "DELETE FROM audit_log WHERE seq = 9")
    insert(chain, forge(chain, 9, h[8]))
    assert failed(chain) == (10, "entry 10 does not follow entry 9: entry 9 was replaced, or an entry was "
                                 "inserted or removed between them")


def test_a_forgery_inserted_by_renumbering_the_rest_is_named(chain: AuditLog) -> None:
    h = hashes(chain)
    tamper(chain, *(f"UPDATE audit_log SET seq = {s + 1} WHERE seq = {s}" for s in range(14, 8, -1)))
    insert(chain, forge(chain, 9, h[8]))
    # The forgery itself chains correctly; the entry it pushed down cannot (its seq is hashed).
    assert failed(chain)[0] == 10


def test_a_rewritten_chain_is_caught_by_the_next_checkpoint(chain: AuditLog) -> None:
    # The forger recomputes every hash from the forgery on, so the chain links again; only the
    # signature (which needs the master secret) still holds the old hash of entry 6.
    old = chain.entries()
    rows, prev = [], old[1].hash
    for e in old[2:]:
        changes = {"detail": {"rows": 1}} if e.seq == 3 else {}
        row = forge(chain, e.seq, prev, time=e.time, actor=e.actor, action=e.action, target=e.target,
                    **({"detail": e.detail} | changes))
        rows.append(row)
        prev = row["hash"]
    tamper(chain, "DELETE FROM audit_log WHERE seq >= 3")
    insert(chain, *rows)
    assert failed(chain) == (6, "entry 6 is not the entry its checkpoint signed: it was replaced")


def test_a_rewritten_tail_after_the_last_checkpoint_is_caught_by_the_head(chain: AuditLog) -> None:
    h = hashes(chain)
    e13 = forge(chain, 13, h[12])
    e14 = forge(chain, 14, e13["hash"], target="R-FORGED-2")
    tamper(chain, "DELETE FROM audit_log WHERE seq >= 13")
    insert(chain, e13, e14)
    assert failed(chain) == (14, "entry 14 is not the entry audit.head records: it was replaced")


def test_a_forgery_appended_at_the_end_is_named(chain: AuditLog) -> None:
    insert(chain, forge(chain, 15, hashes(chain)[14]))
    assert failed(chain)[0] == 15


def test_entries_deleted_after_the_last_checkpoint_are_named_by_the_head(chain: AuditLog) -> None:
    tamper(chain, "DELETE FROM audit_log WHERE seq >= 13")
    assert failed(chain) == (13, "entry 13 is missing: the log ends at entry 12 but audit.head records entry 14 "
                                 "(entries were deleted from the end)")


def test_entries_deleted_through_a_checkpoint_are_named(chain: AuditLog) -> None:
    tamper(chain, "DELETE FROM audit_log WHERE seq >= 10")
    assert failed(chain)[0] == 10
    tamper(chain, "DELETE FROM audit_checkpoints WHERE seq = 12")  # and the checkpoint too: the head remains
    assert failed(chain)[0] == 10


def test_a_missing_head_file_fails_verification(chain: AuditLog) -> None:
    chain.head_path.unlink()
    assert failed(chain) == (None, "audit.head is missing, so deletions after the last checkpoint cannot be "
                                   "ruled out")


def test_an_edited_checkpoint_signature_is_named(chain: AuditLog) -> None:
    sig = chain.checkpoints()[0].signature
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    tamper(chain, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 6", s=flipped)
    assert failed(chain) == (6, "the checkpoint at entry 6 has an invalid signature: it was forged or altered")


def test_an_edited_checkpoint_hash_is_named(chain: AuditLog) -> None:
    tamper(chain, "UPDATE audit_checkpoints SET hash = :h WHERE seq = 12", h="ab" * 32)
    assert failed(chain)[0] == 12


def test_a_deleted_checkpoint_is_named(chain: AuditLog) -> None:
    tamper(chain, "DELETE FROM audit_checkpoints WHERE seq = 6")
    assert failed(chain) == (6, "entry 6 records a checkpoint whose signature was removed")


def test_a_checkpoint_signed_with_another_secret_is_named(chain: AuditLog) -> None:
    other = audit_signing_key(b"\x01" * 32).public_key()
    result = chain.verify(other)
    assert (result.intact, result.failed_seq) == (False, 6)


def test_a_key_file_of_another_secret_refuses_to_sign_but_not_to_record(chain: AuditLog) -> None:
    with pytest.raises(AuditError, match="does not belong to this workspace's master secret"):
        chain.checkpoint(b"\x01" * 32)
    for _ in range(EVERY):  # an action is still recorded, unsigned, rather than lost
        chain.append("investigate", "C-1", {}, actor="a", master=b"\x01" * 32)
    assert [c.seq for c in chain.checkpoints()] == [6, 12]
    assert chain.verify().message == "intact: 19 entries, last checkpoint at seq 12"


# -- writing ---------------------------------------------------------------------------------------


def test_entries_without_the_secret_are_chained_and_signed_later(log: AuditLog) -> None:
    for i in range(7):
        log.append("recipient.add", f"Cabang {i}", {"kind": "branch"}, actor="a")
    assert log.checkpoints() == []
    assert log.verify().message == "intact: 7 entries, no checkpoint yet"
    cp = log.checkpoint(MASTER, actor="dpo")
    assert cp.seq == 8
    assert log.verify().message == "intact: 8 entries, last checkpoint at seq 8"


def test_concurrent_writers_never_share_a_seq(log: AuditLog) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        other = AuditLog(Ledger(log.ledger.url.render_as_string(hide_password=False)), log.home,
                         checkpoint_every=EVERY)
        try:
            for i in range(8):
                other.append("investigate", f"C-{n}-{i}", {"rows": i}, actor=f"w{n}", master=MASTER)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            other.ledger.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = log.entries()
    assert len([e for e in entries if e.action == "investigate"]) == 24
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert log.verify().intact


@pytest.mark.parametrize(("action", "target", "detail", "message"), [
    ("Release Create", None, {}, "dotted lower-case words"),
    ("release.create", "line\nbreak", {}, "target must be 1-200 printable"),
    ("release.create", None, {"x": float("nan")}, "plain JSON"),
    ("release.create", None, {"x": object()}, "plain JSON"),
    ("release.create", None, {"rows": "9" * 5000}, "under 4000 characters"),
])
def test_a_bad_entry_is_refused_without_quoting_it(log: AuditLog, action: str, target: str | None,
                                                   detail: dict[str, Any], message: str) -> None:
    with pytest.raises(AuditError, match=message) as info:
        log.append(action, target, detail, actor="a")
    assert "9999" not in str(info.value) and "break" not in str(info.value)
    assert log.entries() == []


def test_a_detail_is_stored_as_the_database_returns_it(log: AuditLog) -> None:
    e = log.append("notify", "C-1", {"files": ("a.html", "b.csv"), "due": None}, actor="a")
    assert e.detail == {"files": ["a.html", "b.csv"], "due": None}
    assert log.verify().intact


def test_record_signs_with_the_workspace_secret_and_writes_owner_only_files(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    audit.record(ws, "init", None, {"format": 1})
    cp = audit.checkpoint(ws)
    assert cp.seq == 2
    for name in ("audit.pub", "audit.head", "audit.lock"):
        assert stat.S_IMODE((ws.home / name).stat().st_mode) == 0o600, name
    assert b"BEGIN PUBLIC KEY" in (ws.home / "audit.pub").read_bytes()
    copy = tmp_path / "kept-elsewhere.pub"
    copy.write_bytes((ws.home / "audit.pub").read_bytes())
    assert audit.verify(ws, copy).intact
    assert [e.action for e in audit.entries(ws)] == ["init", "audit.checkpoint"]


def test_verification_result_serialises_without_entry_content(chain: AuditLog) -> None:
    tamper(chain, "UPDATE audit_log SET target = 'R-EDITED' WHERE seq = 2")
    data = chain.verify().to_json()
    assert data == {"intact": False, "entries": 1, "last_checkpoint": None, "failed_seq": 2,
                    "message": "entry 2 was altered: its content or position no longer matches its hash"}
    assert "R-EDITED" not in json.dumps(data)
    assert replace(chain.verify(), reason=None).message == "the audit log failed verification"


# -- the command line ------------------------------------------------------------------------------


DISTINCTIVE = "ZULKIFLIANTO WIRASAPUTRADJAJA"


def test_cli_records_its_actions_and_never_a_data_value(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "ws"
    src = str(Path(jejak.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("JEJAK_MASTER_SECRET", "JEJAK_HOME",
                                                             "JEJAK_DATABASE_URL")}
    env["PYTHONPATH"] = src  # the package under test, not whichever copy the venv installed

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "jejak.cli", "--home", str(home), *args], capture_output=True,
                              text=True, env=env, check=False, timeout=300)
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    data = tmp_path / "peserta_kecil.csv"
    data.write_text("NOKA,NIK,NAMA,NOHP\n"
                    f"0001234567890,3201014101900001,{DISTINCTIVE},081234567890\n"
                    "0001234567891,3201010202910002,SITI AMINAH,081298765432\n")
    run("init")
    run("recipient", "add", "Cabang Bandung", "--kind", "branch", "--contact", "budi.hartono@example.org")
    run("registry", "import", str(data), "--dataset", "peserta", "--key", "NOKA", "--as-of", "2025-01-01")
    verified = run("audit", "verify")
    assert verified.stdout.strip() == "intact: 3 entries, no checkpoint yet"
    listed = json.loads(run("audit", "list", "--json").stdout)
    assert [e["action"] for e in listed] == ["init", "recipient.add", "registry.import"]
    assert listed[1]["target"] == "Cabang Bandung" and listed[1]["detail"] == {"kind": "branch"}
    assert listed[2]["target"] == "peserta"
    assert listed[2]["detail"] == {"as_of": "2025-01-01", "file": "peserta_kecil.csv", "rows": 2, "added": 2,
                                   "changed": 0, "closed": 0, "unchanged": 0}
    assert "checkpoint signed at entry 4" in run("audit", "checkpoint").stdout.lower()
    assert "last checkpoint at seq 4" in run("audit", "verify").stdout

    with Ledger.open(f"sqlite:///{home / 'ledger.sqlite'}") as ledger, ledger.engine.connect() as conn:
        text = "\n".join(repr(tuple(r)) for t in ("audit_log", "audit_checkpoints")
                         for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
    for value in (DISTINCTIVE, "WIRASAPUTRA", "3201014101900001", "081234567890", "budi.hartono"):
        assert value not in text
        assert value not in run("audit", "list").stdout
    for name in ("audit.pub", "audit.head"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600

    tamper(AuditLog(Ledger(f"sqlite:///{home / 'ledger.sqlite'}"), home),
           "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    bad = run("audit", "verify", ok=False)
    assert bad.returncode == 1
    assert "entry 2 was altered" in bad.stderr
