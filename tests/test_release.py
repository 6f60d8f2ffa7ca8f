"""Releases: marked, recorded atomically, reproducible byte-for-byte, identity values untouched."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jejak import audit, keys
from jejak.channel.base import Policy, channels, digests_of, embed_release
from jejak.channel.canary import tag
from jejak.errors import JejakError
from jejak.export import formula_safe_sql
from jejak.ledger import Ledger, ReleaseEntry
from jejak.registry import Registry
from jejak.release import ReleaseRequest, audit_detail, create_release, register_release, reproduce_release
from jejak.roles import IDENTITY_ROLES, Role
from jejak.synth import generate
from jejak.validators import sql
from jejak.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    base = tmp_path_factory.mktemp("rel")
    ws = Workspace.init(base / "ws")
    for f in generate(base / "d", participants=1500, snapshots=2, seed=11, patients=False):
        with Registry(ws.registry_path) as reg:
            reg.import_snapshot(f.path, "peserta", "NOKA", f.as_of)
    with Ledger.open(ws.ledger_url) as ledger:
        ledger.add_recipient("KC Bandung", "branch")
        ledger.add_recipient("PT Vendor", "vendor")
    return ws


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def canary_rows(ws: Workspace, release_ids: list[str], rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows of a release file that are canaries of ``release_ids``: the ledger holds their tags only."""
    key = keys.canary_index_key(ws.master_secret())
    with Ledger.open(ws.ledger_url) as ledger:
        tags = {c["key"] for rid in release_ids for c in ledger.canaries(release_id=rid)}
    return [r for r in rows if tag(key, "key", r["NOKA"]) in tags]


def test_release_keeps_identity_values_and_marks_the_rest(workspace: Workspace, tmp_path: Path) -> None:
    rec = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "a.csv"))
    assert rec.rows == 1500 or rec.rows > 1400
    assert rec.channels["ts_jitter"] > 0 and rec.channels["phone_format"] > 0
    with Registry(workspace.registry_path) as reg:
        info = reg.dataset("peserta")
        truth = {r[0]: r for r in reg.con.execute(reg.as_of_sql("peserta")).fetchall()}
    released = read(tmp_path / "a.csv")
    canaries = {r["NOKA"] for r in canary_rows(workspace, [rec.release_id], released)}
    assert len(canaries) == rec.canaries >= 3
    assert {r["NOKA"] for r in released} - truth.keys() == canaries
    identity = [c for c, r in info.roles.items() if r in IDENTITY_ROLES]
    assert "NIK" in identity and "NAMA" in identity
    for row in released:
        if row["NOKA"] in canaries:
            continue
        orig = dict(zip(["_key", *info.columns], truth[row["NOKA"]], strict=True))
        for c in identity:
            assert (row[c] or None) == orig[c], c


def test_two_recipients_get_different_files_of_the_same_rows(workspace: Workspace, tmp_path: Path) -> None:
    a = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "a.csv"))
    b = create_release(workspace, ReleaseRequest("peserta", "KC Bandung", tmp_path / "b.csv"))
    assert a.rows == b.rows and a.file_sha256 != b.file_sha256
    canaries = {r["NOKA"] for f in ("a", "b")
                for r in canary_rows(workspace, [a.release_id, b.release_id], read(tmp_path / f"{f}.csv"))}
    ra = [r for r in read(tmp_path / "a.csv") if r["NOKA"] not in canaries]
    rb = [r for r in read(tmp_path / "b.csv") if r["NOKA"] not in canaries]
    assert [r["NOKA"] for r in ra] == [r["NOKA"] for r in rb]
    assert sum(x["TSUPDATE"] != y["TSUPDATE"] for x, y in zip(ra, rb, strict=True)) > 0.9 * len(ra)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "xlsx"])
def test_reproduce_is_byte_for_byte(workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    rec = create_release(workspace, ReleaseRequest("peserta", "KC Bandung", tmp_path / f"r.{fmt}",
                                                   columns=["NOKA", "NIK", "NOHP", "TSUPDATE", "GAJI"]))
    rep = reproduce_release(workspace, rec.release_id, tmp_path / f"again.{fmt}")
    assert rep.identical
    assert (tmp_path / f"r.{fmt}").read_bytes() == (tmp_path / f"again.{fmt}").read_bytes()


def test_filter_and_columns_select_the_rows_and_columns(workspace: Workspace, tmp_path: Path) -> None:
    rec = create_release(workspace, ReleaseRequest("peserta", "KC Bandung", tmp_path / "f.csv",
                                                   columns=["noka", "NIK"], where="KDSTATUSPST = 'AKTIF'"))
    rows = read(tmp_path / "f.csv")
    assert list(rows[0]) == ["NOKA", "NIK"] and len(rows) == rec.rows + rec.canaries
    with Registry(workspace.registry_path) as reg:
        active = reg.con.execute(f"SELECT count(*) FROM ({reg.as_of_sql('peserta')}) WHERE KDSTATUSPST = 'AKTIF'")
        assert rec.rows == active.fetchall()[0][0]


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"recipient": "Nobody"}, "unknown recipient"),
        ({"where": "NIK IN (SELECT 1)"}, "may not use"),
        ({"columns": ["NOPE"]}, "does not have"),
        ({"where": "KDSTATUSPST = 'NO SUCH'"}, "selection is empty"),
        ({"as_of": date(2099, 1, 1)}, "after the newest snapshot"),  # a later import would change its rows
        ({"as_of": date(1999, 1, 1)}, "before the first snapshot"),
    ],
)
def test_refused_release_leaves_no_file_and_no_ledger_entry(
    workspace: Workspace, tmp_path: Path, request_kwargs: dict[str, object], message: str
) -> None:
    before = len(Ledger.open(workspace.ledger_url).releases())
    kwargs: dict[str, object] = {"dataset": "peserta", "recipient": "PT Vendor", "out": tmp_path / "x.csv"}
    kwargs.update(request_kwargs)
    with pytest.raises(JejakError, match=message):
        create_release(workspace, ReleaseRequest(**kwargs))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    assert len(Ledger.open(workspace.ledger_url).releases()) == before


def test_a_failure_inside_the_ledger_transaction_leaves_neither_file_nor_entry(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(Ledger.open(workspace.ledger_url).releases())
    import jejak.release as release

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    # The rename happens inside the ledger transaction: its failure must roll the entry back.
    logged = len(audit.entries(workspace))
    monkeypatch.setattr(release.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "x.csv"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert len(Ledger.open(workspace.ledger_url).releases()) == before
    # ... and its audit entry with it, the head file unmoved: the log verifies as before.
    assert len(audit.entries(workspace)) == logged and audit.verify(workspace).intact


def test_a_release_and_its_audit_entry_commit_together(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(Ledger.open(workspace.ledger_url).releases())
    logged = len(audit.entries(workspace))

    def broken_append(*_a: object, **_k: object) -> None:
        raise audit.AuditError("the audit log could not be written: database is full")

    # The entry cannot be written: the release is not made (no file, no ledger entry).
    monkeypatch.setattr(audit.Within, "append", broken_append)
    with pytest.raises(audit.AuditError):
        create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "x.csv"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert len(Ledger.open(workspace.ledger_url).releases()) == before
    assert len(audit.entries(workspace)) == logged
    # Made: one ledger entry and one release.create entry naming it, with the head moved to it.
    rec = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "x.csv"))
    made = [e for e in audit.entries(workspace) if e.action == "release.create" and e.target == rec.release_id]
    assert len(made) == 1 and made[0].detail == audit_detail(rec) and made[0].actor == rec.operator
    reg = register_release(workspace, dataset="peserta", recipient="PT Vendor", as_of=date(2025, 3, 1),
                           columns=None, where=None, purpose=None)
    assert [e.action for e in audit.entries(workspace) if e.target == reg.release_id] == ["release.register"]
    assert audit.verify(workspace).intact


def test_existing_output_is_never_overwritten(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("keep")
    with pytest.raises(JejakError, match="already exists"):
        create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "x.csv"))
    assert (tmp_path / "x.csv").read_text() == "keep"


def test_register_records_an_unmarked_release(workspace: Workspace) -> None:
    rec = register_release(workspace, dataset="peserta", recipient="PT Vendor", as_of=date(2025, 3, 1),
                           columns=["NOKA", "NIK"], where=None, purpose="2019 export")
    assert rec.kind == "registered" and rec.rows > 1000 and rec.file_sha256 is None


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("@SUM(A1)", "'@SUM(A1)"), ("+62 812-3456-7890", "+62 812-3456-7890"),
     ("-5", "-5"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("BUDI", "BUDI")],
)
def test_csv_cells_are_safe_from_formula_injection(value: str, safe: str) -> None:
    con = duckdb.connect()
    assert con.execute(f"SELECT {formula_safe_sql('c')} FROM (SELECT ? AS c)", [value]).fetchall()[0][0] == safe


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=6), st.text(alphabet="=@+-\t\r0123456789 ().-aZé/<>?",
                                                                            max_size=8)), min_size=1, max_size=30))
def test_formula_safety_follows_the_first_character_rule_for_any_text(values: list[str | None]) -> None:
    # The SQL skips most cells with a byte comparison first; it must still agree with the plain rule.
    def rule(v: str | None) -> str | None:
        if not v:
            return v
        if v[0] in "=@\t\r" or (v[0] in "+-" and re.fullmatch(r"[+-][0-9 ().-]*", v) is None):
            return "'" + v
        return v

    con = duckdb.connect()
    got = con.execute(f"SELECT {formula_safe_sql('c')} FROM (SELECT unnest(?) AS c, generate_subscripts(?, 1) AS i) "
                      "ORDER BY i", [values, values]).fetchall()
    assert [r[0] for r in got] == [rule(v) for v in values]


# -- channels: property tests -------------------------------------------------------------------------

CELLS = {
    "ts_jitter": (Role.TIMESTAMP, st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))),
    "amount_digits": (Role.AMOUNT, st.integers(1000, 10**12).map(str)),
    "phone_format": (Role.PHONE, st.from_regex(r"(0|62|\+62 )8[1-9][0-9]{8,9}", fullmatch=True)),
    "email_case": (
        Role.EMAIL, st.from_regex(r"[a-z]{1,8}\.[A-Za-z0-9]{1,5}@[a-z]{2,8}\.(com|co\.id|id)", fullmatch=True)
    ),
}


@pytest.mark.parametrize("name", sorted(CELLS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_channel_reads_back_what_it_embedded_and_normalises_to_the_registry(
    name: str, data: st.DataObject
) -> None:
    role, strategy = CELLS[name]
    values = data.draw(st.lists(strategy, min_size=1, max_size=30))
    secret = data.draw(st.binary(min_size=32, max_size=32))
    con = duckdb.connect()
    sql.install(con)
    con.execute("CREATE TABLE orig (_rid BIGINT, _digest BLOB, v VARCHAR)")
    for i, v in enumerate(values):
        con.execute(f"INSERT INTO orig VALUES (?, {keys.digest_sql('d', '?')}, ?)", [i, str(i), v])
    con.execute("CREATE TABLE rel AS SELECT * FROM orig")
    policy = Policy(channels=(name,))
    embed_release(con, "rel", roles={"v": role}, release_secret=secret, policy=policy)
    ch = channels()[name]
    rows = con.execute(
        f"""SELECT {ch.markable_sql('o.v', policy)}, {ch.observe_sql('r.v', 'o.v', policy)}, o.v, r.v
            FROM rel r JOIN orig o USING (_rid) ORDER BY _rid"""
    ).fetchall()
    words = keys.prf_words(keys.channel_key(secret, name, "v"), digests_of(con, "orig"))
    for (m, observed, before, after), w in zip(rows, words, strict=True):
        if m >= 2:
            assert observed == int(w) % m
        else:
            assert after == before
    if name == "phone_format":
        assert con.execute("SELECT count(*) FROM rel r JOIN orig o USING (_rid) "
                           "WHERE jj_phone_norm(r.v) IS DISTINCT FROM jj_phone_norm(o.v)").fetchall()[0][0] == 0
    if name == "email_case":
        assert con.execute("SELECT count(*) FROM rel r JOIN orig o USING (_rid) "
                           "WHERE lower(r.v) <> lower(o.v)").fetchall()[0][0] == 0
    if name == "ts_jitter":
        assert con.execute("SELECT count(*) FROM rel r JOIN orig o USING (_rid) "
                           "WHERE r.v[1:10] <> o.v[1:10]").fetchall()[0][0] == 0


def test_canaries_look_real_are_unique_to_the_release_and_never_collide(workspace: Workspace, tmp_path: Path) -> None:
    from jejak.validators import nik

    a = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "a.csv"))
    b = create_release(workspace, ReleaseRequest("peserta", "KC Bandung", tmp_path / "b.csv"))
    rows = read(tmp_path / "a.csv")
    ca = canary_rows(workspace, [a.release_id], rows)
    cb = canary_rows(workspace, [b.release_id], read(tmp_path / "b.csv"))
    assert len(ca) == a.canaries and len(cb) == b.canaries
    assert {c["NOKA"] for c in ca}.isdisjoint(c["NOKA"] for c in cb)
    assert all(nik.is_valid(c["NIK"]) for c in ca)
    with Registry(workspace.registry_path) as reg:
        ever = reg.con.execute("SELECT list(DISTINCT NIK), list(DISTINCT _key) FROM rows_peserta").fetchall()[0]
    assert not {c["NIK"] for c in ca} & set(ever[0])
    assert not {c["NOKA"] for c in ca} & set(ever[1])
    positions = [i for i, r in enumerate(rows) if r["NOKA"] in {c["NOKA"] for c in ca}]
    assert positions != list(range(len(rows) - len(ca), len(rows)))  # spread in, not appended


def test_a_release_writes_no_canary_value_into_the_ledger(workspace: Workspace, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from jejak.channel.canary import normalise

    rec = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "c.csv"))
    made = canary_rows(workspace, [rec.release_id], read(tmp_path / "c.csv"))
    assert len(made) == rec.canaries >= 3
    values = {v for c in made for f, col in (("key", "NOKA"), ("nik", "NIK"), ("name", "NAMA"), ("phone", "NOHP"),
                                             ("email", "EMAIL"), ("birth_date", "TGLLHR"))
              for v in (c[col], normalise(f, c[col])) if v and len(v) >= 6}  # shorter could occur by chance
    with Ledger.open(workspace.ledger_url) as ledger, ledger.engine.connect() as conn:
        text = "\n".join(repr(tuple(r)) for t in sa.inspect(conn).get_table_names()
                         for r in conn.execute(sa.text(f'SELECT * FROM "{t}"')))
        assert {c["family"] for c in ledger.canaries(release_id=rec.release_id)} != {None}
    assert not [v for v in values if v in text]
    raw = (workspace.home / "ledger.sqlite").read_bytes()
    assert not [v for v in values if v.encode() in raw]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_policy_version_1_release_still_reproduces_byte_for_byte(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    rec = create_release(workspace, ReleaseRequest("peserta", "KC Bandung", tmp_path / f"v1.{fmt}",
                                                   policy=Policy(version=1, jitter_seconds=30)))
    assert rec.policy["version"] == 1
    rep = reproduce_release(workspace, rec.release_id, tmp_path / f"again.{fmt}")
    assert rep.identical


# -- releases reproduce across versions of jejak ----------------------------------------------------

GOLDEN_SECRET = "6a656a616b2d676f6c64656e2d6d61737465722d7365637265742d2d2d2d2d2d"
GOLDEN = {  # sha256 prefixes of files made by jejak before the marking code was sped up (November 2026)
    ("v1", "csv"): "e23395893fd1065c", ("v1", "parquet"): "68d07d2386209506",
    ("v2", "csv"): "485dd0fc1b82ac0f", ("v2", "parquet"): "457001ebf27eaa73", ("v2", "jsonl"): "3557a6e3481246f0",
    ("v2", "xlsx"): "5d3457b07c98f1ab", ("address", "csv"): "97acca873e04e7c3", ("filtered", "csv"): "1feec07857e86e25",
    # policy 3 (30-minute timestamp marks; canaries that pass the filter, placed in key order), pinned
    # when it was introduced (December 2026)
    ("v3", "csv"): "cc3dd4c2a8e8b0a5", ("v3", "parquet"): "70c4fd38ddcded41",
    ("v3-filtered", "csv"): "187583b3fb2aa6a0",
}
GOLDEN_POLICIES = {
    "v1": (Policy(version=1, jitter_seconds=30), None, None),
    "v3": (Policy(version=3, jitter_seconds=1800), None, None),
    "v3-filtered": (Policy(version=3, jitter_seconds=1800), None, "KDKANTOR < '0500'"),
    "v2": (Policy(version=2, jitter_seconds=30), None, None),
    "address": (Policy(channels=(*Policy().channels, "address_format"), version=2, jitter_seconds=30), None, None),
    "filtered": (Policy(version=2, jitter_seconds=30), ["NOKA", "NIK", "NOHP", "EMAIL", "GAJI", "TSINPUT", "TSUPDATE"],
                 "KDKANTOR < '0500'"),
}


@pytest.mark.parametrize("block", [None, 100])
def test_releases_made_by_earlier_versions_reproduce_byte_for_byte(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    # Fixed ids, times and master secret: these files are what earlier code wrote. A change to
    # marking, rendering or writing that alters one byte breaks the promise that a leak's marks
    # can be regenerated from the ledger, so it must come with a new policy version instead.
    # With ``block`` the rows are read and marked in batches of 100, as a big release is.
    monkeypatch.setenv("JEJAK_MASTER_SECRET", GOLDEN_SECRET)
    if block:
        import jejak.channel.base
        import jejak.release

        monkeypatch.setattr(jejak.release, "SYMBOL_BLOCK", block)
        monkeypatch.setattr(jejak.channel.base, "SYMBOL_BLOCK", block)
    ledger = Ledger.open(workspace.ledger_url)
    with Registry(workspace.registry_path) as reg:
        info = reg.dataset("peserta")
    got = {}
    for i, ((name, fmt), _want) in enumerate(GOLDEN.items()):
        policy, columns, where = GOLDEN_POLICIES[name]
        release_id = f"R-20250101-000000-GOLDEN{i:02d}"
        entry = ReleaseEntry(
            release_id=release_id, recipient="PT Vendor", dataset="peserta", as_of=info.snapshots[-1],
            registry_version="golden", columns=columns or info.columns, filter=where, rows=0,
            policy=policy.to_dict(), created_at=datetime(2025, 1, 1, 8, 30, tzinfo=UTC), operator="golden",
            file_format=fmt, file_name=f"{name}.{fmt}", file_sha256="0" * 64,
        )
        if release_id not in {r.release_id for r in ledger.releases()}:  # the other parameter recorded it
            with ledger.recording(entry):
                pass
        got[(name, fmt)] = reproduce_release(workspace, release_id, tmp_path / f"{name}.{fmt}").sha256[:16]
    assert got == GOLDEN


def test_a_release_survives_what_fails_after_its_commit_and_a_racing_audit_writer(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError

    real_insert = audit.AuditLog._insert_on
    calls: list[int] = []

    def raced_once(self: audit.AuditLog, *a: object, **k: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # another machine took the next entry number first
            raise IntegrityError("INSERT INTO audit_entries", None, Exception("duplicate key"))
        return real_insert(self, *a, **k)  # type: ignore[arg-type]

    def head_unwritable(self: audit.AuditLog, entry: object) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(audit.AuditLog, "_insert_on", raced_once)
    monkeypatch.setattr(audit.AuditLog, "_move_head", head_unwritable)
    rec = create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / "x.csv"))
    monkeypatch.undo()
    # The race cost a retry of the entry, not the release; the head file that could not follow
    # did not take back a release that had committed.
    assert len(calls) == 2 and (tmp_path / "x.csv").exists()
    assert Ledger.open(workspace.ledger_url).release(rec.release_id).file_sha256 == rec.file_sha256
    assert [e.action for e in audit.entries(workspace) if e.target == rec.release_id] == ["release.create"]
    assert not audit.verify(workspace).intact  # the head lags: verify says so ...
    audit.record(workspace, "test.note")  # ... until the next entry moves it on
    assert audit.verify(workspace).intact


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_signal_while_the_file_is_written_stops_the_stream_and_leaves_nothing(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str,
) -> None:
    """Ctrl-C during the COPY is held back (DuckDB 2.0 can hang when a COPY to a file is interrupted),
    the rows stop at the next batch, and then the interruption is raised: no file, no entry."""
    import signal

    import jejak.release as release
    from jejak import signals

    monkeypatch.setattr(release, "SYMBOL_BLOCK", 100)  # 1,500 rows in 15 batches
    marked_batches: list[int] = []
    mark = release._marked

    def marked_then_signal(*args: object, **kwargs: object) -> object:
        marked_batches.append(1)
        if len(marked_batches) == 3:  # the writer is copying: the handler runs as it would here
            signals._on_signal(signal.SIGINT, None)
        return mark(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(release, "_marked", marked_then_signal)
    before = len(Ledger.open(workspace.ledger_url).releases())
    signals._received.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            create_release(workspace, ReleaseRequest("peserta", "PT Vendor", tmp_path / f"x.{fmt}", fmt=fmt))
    finally:
        signals._received.clear()
    assert len(marked_batches) == 3  # no batch marked after the signal
    assert list(tmp_path.iterdir()) == []
    assert len(Ledger.open(workspace.ledger_url).releases()) == before
    assert not list(workspace.tmp_root.glob(".tmp-*"))
