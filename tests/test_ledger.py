"""The ledger on SQLite and PostgreSQL: migrations, recipients, atomic releases, canaries."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from jejak.channel.canary import tag_row
from jejak.errors import JejakError
from jejak.ledger import Ledger, LedgerError, ReleaseEntry
from jejak.ledger.models import Base
from jejak.ledger.store import HEAD, MIGRATIONS

SHA = "ab" * 32
T0 = datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)


def entry(release_id: str, **changes: Any) -> ReleaseEntry:
    base = ReleaseEntry(
        release_id=release_id, recipient="Cabang Bekasi", dataset="peserta", as_of=date(2024, 4, 30),
        registry_version="snapshot 2024-04-30 (2 of 2)", columns=["noka", "nik", "nama"], filter=None,
        rows=1000, channels={"phone_format": 310, "ts_jitter": 990}, policy={"canary": {"count": 2}},
        canaries=0, created_at=T0, operator="tester", purpose="audit", file_name="out.csv",
        file_sha256=SHA, file_format="csv", kind="marked", extra={},
    )
    return replace(base, **changes)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    led.add_recipient("Cabang Bekasi", "branch", contact="kc.bekasi@example.org")
    led.add_recipient("PT Vendor Data", "vendor", note="contract 12/2024")
    yield led
    led.close()


INDEX_KEY = bytes(range(32))


def plain(i: int) -> dict[str, object]:
    """A canary as drawn (and as ledgers before revision 0002 stored it)."""
    return {"canary_key": f"000123456{i:04d}", "nik": f"320101010190{i:04d}", "noka": f"000123456{i:04d}",
            "phone": f"+628120000{i:04d}", "email": f"canary.{i}@example.org", "name": f"SITI AMINAH {'X' * i}",
            "birth_date": date(1990, 1, 1 + i)}


def canary(i: int) -> dict[str, object]:
    """The same canary as the ledger takes it: tags only."""
    return {**tag_row(plain(i), INDEX_KEY), "family": i // 2}


# -- migrations ----------------------------------------------------------------------------------


def test_upgrade_twice_is_idempotent_and_reaches_head(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    led.upgrade()
    led.add_recipient("Dinkes Kota", "ministry")
    led.upgrade()
    Ledger.open(ledger_url).close()
    assert [r.name for r in led.recipients()] == ["Dinkes Kota"]
    with led.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    led.close()


def test_head_names_the_newest_migration() -> None:
    # Ledger.open skips Alembic when the schema is at HEAD: a new migration must move HEAD too.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from jejak.ledger.store import HEAD, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_migrated_schema_matches_the_models(ledger_url: str) -> None:
    led = Ledger.open(ledger_url)
    with led.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    led.close()
    assert diff == []


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert list((MIGRATIONS / "versions").glob("r0001_*.py"))
    assert list((MIGRATIONS / "versions").glob("r0002_*.py"))


def test_unreachable_database_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger.open(f"sqlite:///{tmp_path / 'missing-dir' / 'ledger.sqlite'}")
    with pytest.raises(LedgerError, match="unsupported ledger database"):
        Ledger("mysql://user:pw@localhost/db")


# -- recipients ----------------------------------------------------------------------------------


def test_recipients_are_listed_by_name_with_their_details(ledger: Ledger) -> None:
    ledger.add_recipient("Bappenas", "ministry")
    got = ledger.recipients()
    assert [r.name for r in got] == ["Bappenas", "Cabang Bekasi", "PT Vendor Data"]
    bekasi = ledger.recipient("Cabang Bekasi")
    assert (bekasi.kind, bekasi.contact, bekasi.note) == ("branch", "kc.bekasi@example.org", None)
    assert bekasi.created_at.tzinfo == UTC


def test_unknown_recipient_names_the_known_ones(ledger: Ledger) -> None:
    known = r"unknown recipient 'Cabang Bogor'; known: Cabang Bekasi, PT Vendor Data$"
    with pytest.raises(LedgerError, match=known):
        ledger.recipient("Cabang Bogor")
    assert issubclass(LedgerError, JejakError)


def test_duplicate_recipient_is_refused_even_in_another_case(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="already exists"):
        ledger.add_recipient("Cabang Bekasi", "branch")
    with pytest.raises(LedgerError, match="'Cabang Bekasi' already exists"):
        ledger.add_recipient("CABANG BEKASI", "branch")
    assert len(ledger.recipients()) == 2


@pytest.mark.parametrize("kind", ["Branch", "partner", ""])
def test_bad_recipient_kind_lists_the_valid_ones(ledger: Ledger, kind: str) -> None:
    kinds = "choose one of branch, vendor, hospital, ministry, researcher, other"
    with pytest.raises(LedgerError, match=kinds):
        ledger.add_recipient("RS Harapan", kind)


@pytest.mark.parametrize("name", ["", "   ", " RS Harapan", "RS  Harapan", "RS\tHarapan", "x" * 201])
def test_bad_recipient_names_are_refused(ledger: Ledger, name: str) -> None:
    with pytest.raises(LedgerError):
        ledger.add_recipient(name, "hospital")


# -- releases ------------------------------------------------------------------------------------


def test_recording_commits_and_round_trips_every_field(ledger: Ledger) -> None:
    wib = timezone(timedelta(hours=7))
    e = entry(
        ledger.new_release_id(), created_at=datetime(2024, 5, 1, 17, 15, 30, 123456, tzinfo=wib),
        filter="kelas = '1' AND provinsi IN ('JAWA BARAT')",
        policy={"ts_jitter": {"max_seconds": 59}, "rate": 0.25, "note": "kelas ≥ 1", "list": [1, None, True]},
        extra={"sample_seed": 42, "nested": {"a": [1, 2]}},
    )
    with ledger.recording(e) as rec:
        assert rec.release_id == e.release_id
    got = ledger.release(e.release_id)
    assert got.created_at == datetime(2024, 5, 1, 10, 15, 30, 123456, tzinfo=UTC)
    assert got.created_at.tzinfo == UTC
    assert asdict(got) == asdict(e)  # aware datetimes compare by instant
    assert (got.columns, got.channels, got.policy, got.extra) == (e.columns, e.channels, e.policy, e.extra)
    assert got.as_of == date(2024, 4, 30)


def test_exception_inside_recording_leaves_no_release_and_no_canaries(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with pytest.raises(RuntimeError, match="rename failed"), ledger.recording(entry(rid, canaries=3)) as rec:
        rec.add_canaries([canary(i) for i in range(3)])
        raise RuntimeError("rename failed")
    with pytest.raises(LedgerError, match="unknown release"):
        ledger.release(rid)
    assert ledger.releases() == []
    assert ledger.canaries() == []


def test_a_failing_commit_reaches_the_caller_and_records_nothing(ledger_url: str, tmp_path: Path) -> None:
    url = make_url(ledger_url)
    if url.get_backend_name() == "sqlite":
        url = url.update_query_dict({"timeout": "0.2"})  # fail fast instead of waiting 5 s for the lock
    led = Ledger.open(url.render_as_string(hide_password=False))
    led.add_recipient("Cabang Bekasi", "branch")
    rid = led.new_release_id()
    moved: list[bool] = []
    with pytest.raises(LedgerError, match=f"could not record {rid}") as err, led.recording(entry(rid)):
        blocker = _break_commit(ledger_url)
        moved.append(True)
    blocker()
    assert isinstance(err.value.__cause__, sa.exc.OperationalError)
    assert moved == [True]  # the block ran to its end: the commit itself failed
    assert [r.release_id for r in Ledger.open(ledger_url).releases()] == []
    led.close()


def _break_commit(ledger_url: str) -> Callable[[], None]:
    """Make the open recording's COMMIT fail for real; returns a function that undoes the cause."""
    url = make_url(ledger_url)
    if url.get_backend_name() == "sqlite":
        # A reader holding its shared lock keeps the writer from ever committing.
        reader = sqlite3.connect(str(url.database), isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM releases").fetchall()
        return reader.close
    # PostgreSQL: the server drops the writer's connection, as after a network failure or restart.
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pids = conn.scalars(sa.text(
            "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.oid = 'releases'::regclass AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
        )).all()
        assert len(pids) == 1
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
    return admin.dispose


def test_canaries_are_recorded_with_the_release_as_tags(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with ledger.recording(entry(rid, canaries=2)) as rec:
        assert rec.add_canaries([canary(1), canary(2)]) == 2
    other = ledger.new_release_id()
    only_nik = tag_row({"canary_key": "P1", "nik": "0012345678901234"}, INDEX_KEY)
    with ledger.recording(entry(other, dataset="pasien", canaries=1)) as rec:
        rec.add_canaries([only_nik])
    rows = ledger.canaries(dataset="peserta")
    assert [(r["release_id"], r["key"], r["family"]) for r in rows] == [
        (rid, canary(1)["key"], 0), (rid, canary(2)["key"], 1)]
    assert {k: rows[0][k] for k in ("nik", "noka", "name", "phone", "email", "birth_date")} == {
        k: canary(1)[k] for k in ("nik", "noka", "name", "phone", "email", "birth_date")}
    pasien = ledger.canaries(dataset="pasien")
    assert pasien[0]["nik"] == only_nik["nik"] and pasien[0]["family"] is None
    assert pasien[0]["phone"] is None
    assert len(ledger.canaries()) == 3 and len(ledger.canaries(release_id=other)) == 1


def test_canary_count_must_match_what_the_release_declares(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with pytest.raises(LedgerError, match="declares 2 canaries but 1 were added"), \
            ledger.recording(entry(rid, canaries=2)) as rec:
        rec.add_canaries([canary(1)])
    assert ledger.releases() == [] and ledger.canaries() == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [([{"key": "ab" * 32, "nama": "x"}], "unknown field"), ([{"nik": "ab" * 32}], "key tag is missing"),
     ([{"key": "ab" * 32}, {"key": "ab" * 32}], "given twice"),
     ([{"key": "0001234567890"}], "key is not a tag"),  # plaintext where a tag belongs
     ([{"key": "ab" * 32, "nik": "3201011212900001"}], "nik is not a tag"),
     ([{"key": "ab" * 32, "name": "AB" * 32}], "name is not a tag"),
     ([{"key": "ab" * 32, "family": "1"}], "family must be an int")],
)
def test_bad_canaries_are_refused_without_quoting_values(ledger: Ledger, rows: list[dict[str, Any]],
                                                         message: str) -> None:
    with pytest.raises(LedgerError, match=message) as err, \
            ledger.recording(entry(ledger.new_release_id(), canaries=len(rows))) as rec:
        rec.add_canaries(rows)
    assert "'x'" not in str(err.value) and "'1'" not in str(err.value)
    assert not any(v in str(err.value) for v in ("0001234567890", "3201011212900001", "AB" * 32))
    assert ledger.releases() == []


def test_releases_are_listed_in_time_order_and_filtered(ledger: Ledger) -> None:
    ids = {}
    # Recorded out of time order: a backdated registration, then two releases in the same second.
    for name, when, recipient, dataset in [
        ("late", T0, "Cabang Bekasi", "peserta"),
        ("early", T0 - timedelta(days=400), "PT Vendor Data", "peserta"),
        ("tie", T0, "PT Vendor Data", "pasien"),
    ]:
        ids[name] = f"R-test-{name}"
        kind = {"kind": "registered", "file_name": None, "file_sha256": None, "file_format": None} \
            if name == "early" else {}
        e = entry(ids[name], created_at=when, recipient=recipient, dataset=dataset, **kind)
        with ledger.recording(e):
            pass
    assert [r.release_id for r in ledger.releases()] == [ids["early"], ids["late"], ids["tie"]]
    assert [r.release_id for r in ledger.releases(dataset="peserta")] == [ids["early"], ids["late"]]
    assert [r.release_id for r in ledger.releases(recipient="PT Vendor Data")] == [ids["early"], ids["tie"]]
    assert ledger.releases(dataset="peserta", recipient="PT Vendor Data")[0].kind == "registered"
    assert ledger.releases(dataset="nothing") == []
    with pytest.raises(LedgerError, match="unknown recipient"):
        ledger.releases(recipient="PT Vendor")


def test_release_ids_are_unique_sortable_and_carry_only_the_time(ledger: Ledger) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    ids = [ledger.new_release_id() for _ in range(300)]
    after = datetime.now(UTC)
    assert len(set(ids)) == 300
    for rid in ids:
        m = re.fullmatch(r"R-(\d{8}-\d{6})-[0-9A-HJKMNP-TV-Z]{8}", rid)
        assert m is not None
        assert before <= datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC) <= after


def test_a_release_id_is_recorded_once(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with ledger.recording(entry(rid)):
        pass
    with pytest.raises(LedgerError, match="already in the ledger"), ledger.recording(entry(rid, rows=5)):
        pass
    assert ledger.release(rid).rows == 1000


def test_unknown_recipient_or_release_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown recipient 'Nobody'"), \
            ledger.recording(entry(ledger.new_release_id(), recipient="Nobody")):
        pytest.fail("the block must not run")
    with pytest.raises(LedgerError, match="unknown release 'R-nope'"):
        ledger.release("R-nope")


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"created_at": datetime(2024, 5, 1, 10, 0)}, "timezone-aware"),
     ({"file_sha256": None}, "needs file_name and file_sha256"),
     ({"file_sha256": "AB" * 32}, "64 lower-case hex"),
     ({"kind": "registered"}, "has no file"),
     ({"kind": "leaked"}, "kind must be one of"),
     ({"columns": []}, "columns"),
     ({"rows": -1}, "negative"),
     ({"extra": {"when": date(2024, 1, 1)}}, "extra cannot be stored as JSON")],
)
def test_inconsistent_entries_are_refused_before_anything_is_written(
    ledger: Ledger, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(LedgerError, match=message), ledger.recording(entry("R-x", **changes)):
        pytest.fail("the block must not run")
    assert ledger.releases() == []


def test_a_release_id_must_be_safe_in_file_names(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="release id must be"), ledger.recording(entry("R 1/../x")):
        pytest.fail("the block must not run")


def test_the_database_itself_refuses_to_change_releases_and_canaries(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with ledger.recording(entry(rid, canaries=1)) as rec:
        rec.add_canaries([canary(1)])
    for stmt in ("UPDATE releases SET rows = 1", "DELETE FROM releases", "UPDATE canaries SET nik_tag = NULL",
                 "DELETE FROM canaries"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(sa.text(stmt))
    assert ledger.release(rid).rows == 1000 and len(ledger.canaries()) == 1


def test_the_database_itself_refuses_plaintext_where_a_tag_belongs(ledger: Ledger) -> None:
    rid = ledger.new_release_id()
    with ledger.recording(entry(rid)):
        pass
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO canaries (release_id, dataset, key_tag) VALUES (:r, 'peserta', :k)"),
                     {"r": rid, "k": "0001234567890"})
    assert ledger.canaries() == []


# -- ledgers from before canary tags: migration and sealing ---------------------------------------


def _old_ledger_with_plaintext_canaries(url: str, count: int = 4) -> list[dict[str, object]]:
    """A ledger at revision 0001 holding ``count`` canaries in plaintext, as jejak used to write them."""
    from alembic import command
    from alembic.config import Config

    led = Ledger(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with led.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    led.add_recipient("Cabang Bekasi", "branch")
    rid = "R-20240501-101530-OLDLEDGR"
    with led.recording(entry(rid)):
        pass
    rows = [{**plain(i), "birth_date": plain(i)["birth_date"].isoformat()} for i in range(count)]  # type: ignore[union-attr]
    with led.engine.begin() as conn:
        for r in rows:
            conn.execute(sa.text(
                "INSERT INTO canaries (release_id, dataset, canary_key, nik, noka, phone, email, name, birth_date) "
                "VALUES (:rid, 'peserta', :canary_key, :nik, :noka, :phone, :email, :name, :birth_date)"),
                {"rid": rid, **r})
    led.close()
    return [{**r, "release_id": rid} for r in rows]


def _ledger_text(led: Ledger) -> str:
    """Every value of every table of the ledger, as text."""
    out = []
    with led.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            out += [repr(tuple(row)) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))]
    return "\n".join(out)


_VALUES = ("canary_key", "nik", "noka", "phone", "email", "name", "birth_date")


def test_an_old_ledger_is_upgraded_then_sealed_and_no_canary_value_remains(ledger_url: str) -> None:
    old = _old_ledger_with_plaintext_canaries(ledger_url)
    led = Ledger.open(ledger_url)  # migrates to HEAD: the plaintext waits in canaries_unsealed
    assert any(str(c["nik"]) in _ledger_text(led) for c in old)
    with pytest.raises(LedgerError, match="4 canaries recorded before canary tags") as err:
        led.canaries()
    assert not any(str(c["nik"]) in str(err.value) for c in old)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), led.engine.begin() as conn:
        conn.execute(sa.text("UPDATE canaries_unsealed SET nik = NULL"))  # plaintext is sealed, never edited
    assert led.seal_canaries(INDEX_KEY) == 4
    assert led.seal_canaries(INDEX_KEY) == 0
    got = led.canaries()
    assert [{k: v for k, v in r.items() if k not in ("release_id", "dataset", "family")} for r in got] == [
        {k: v for k, v in tag_row(c, INDEX_KEY).items()} for c in old]
    assert {r["family"] for r in got} == {None}
    text = _ledger_text(led)
    for c in old:
        for f in _VALUES:
            assert str(c[f]) not in text, f
    url = make_url(ledger_url)
    if url.get_backend_name() == "sqlite":  # not even in free pages of the file
        raw = Path(str(url.database)).read_bytes()
        for c in old:
            for f in _VALUES:
                assert str(c[f]).encode() not in raw, f
    led.close()


def test_sealing_is_one_transaction(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _old_ledger_with_plaintext_canaries(ledger_url, count=3)
    led = Ledger.open(ledger_url)
    from jejak.ledger import store

    def power_cut(*_a: Any, **_k: Any) -> Any:  # after the tags were inserted, before the plaintext goes
        with led.engine.connect() as other:  # nothing is visible outside the transaction yet
            assert other.scalar(sa.text("SELECT count(*) FROM canaries")) == 0
        raise RuntimeError("power cut")

    monkeypatch.setattr(store.sa, "delete", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        led.seal_canaries(INDEX_KEY)
    monkeypatch.undo()
    with led.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM canaries_unsealed")) == len(old)
        assert conn.scalar(sa.text("SELECT count(*) FROM canaries")) == 0
    assert led.seal_canaries(INDEX_KEY) == 3 and len(led.canaries()) == 3
    led.close()


def test_plain_postgresql_urls_use_psycopg(ledger_url: str) -> None:
    if not ledger_url.startswith("postgresql+psycopg://"):
        pytest.skip("PostgreSQL only")
    led = Ledger.open(ledger_url.replace("postgresql+psycopg://", "postgresql://"))
    assert led.engine.dialect.driver == "psycopg"
    led.close()


# -- concurrency (SQLite file shared by two processes' ledgers) ----------------------------------


def test_two_ledgers_on_one_sqlite_file_both_read_while_one_records(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    a, b = Ledger.open(url), Ledger.open(url)
    a.add_recipient("Cabang Bekasi", "branch")
    assert [r.name for r in b.recipients()] == ["Cabang Bekasi"]
    first = a.new_release_id()
    with a.recording(entry(first)):
        pass
    second = b.new_release_id()
    with b.recording(entry(second, created_at=T0 + timedelta(seconds=1))):
        # b's write is not committed yet; a still reads the committed state without blocking.
        assert [r.release_id for r in a.releases()] == [first]
    assert [r.release_id for r in a.releases()] == [first, second] == [r.release_id for r in b.releases()]
    a.close()
    b.close()
