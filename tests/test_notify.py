"""The UU PDP notification pack against a real registry: deadline, channels, minimisation, CSV safety."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from jejak.cli import app
from jejak.notify import (
    NotifyError,
    SubjectCounts,
    authority_blocks,
    deadline,
    facts_from,
    prepare_pack,
    suspect_blocks,
    to_html,
)
from jejak.registry import Registry
from jejak.roles import Role
from jejak.workspace import Workspace

FIXTURE = Path(__file__).parent / "data" / "verdict_example.json"
HEADER = ["NOKA", "NIK", "NAMA", "TGLLHR", "NOHP", "EMAIL", "ALAMAT", "KDSTATUSPST"]
PEOPLE = [
    # card, NIK, name, birth date, phone, e-mail, address, status
    ["0001000000011", "3273015203850001", "SITI AMINAH", "1985-03-12", "0812-3456-7001", "", "Jl. Merdeka 1", "AKTIF"],
    ["0001000000022", "3273011104900002", "BUDI SANTOSO", "1990-04-11", "", "Budi.S@Mail.example", "Jl. Asia 2",
     "AKTIF"],
    ["0001000000033", "3273012506700003", "AGUS SALIM", "1970-06-25", "", "", "Gg. Mawar 3", "NONAKTIF"],
    ["0001000000044", "3273014107400004", "RATNA DEWI", "1940-07-01", "081299990044", "r@x.example",
     "Jl. Kenanga 4 RT 01/RW 02", "MENINGGAL"],
    ["0001000000055", "3273010101800005", "=HYPERLINK(\"http://evil.example\",\"x\")", "1980-01-01",
     "+62 812-5555-0055", "", "@SUM(1+1)", "AKTIF"],
    ["0001000000066", "3273010202810006", "-2+3", "1981-02-02", "", "", "", "AKTIF"],
    ["0001000000077", "3273010303820007", "NOT LEAKED", "1982-03-03", "081277770077", "", "Jl. Lain 7", "AKTIF"],
]
ROLES = {"NOKA": Role.CARD, "NIK": Role.NIK, "NAMA": Role.NAME, "TGLLHR": Role.DATE, "NOHP": Role.PHONE,
         "EMAIL": Role.EMAIL, "ALAMAT": Role.ADDRESS, "KDSTATUSPST": Role.CATEGORY}


def make_workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    snap = tmp_path / "peserta.csv"
    with snap.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *PEOPLE])
    with Registry(ws.registry_path) as reg:
        reg.import_snapshot(snap, "peserta", "NOKA", date(2025, 1, 1), roles=ROLES)
    return ws


def make_case(ws: Workspace, keys: list[str] | None, case: str = "C-T1", **evidence: Any) -> Path:
    d = ws.cases_dir / case
    d.mkdir(parents=True)
    v = json.loads(FIXTURE.read_text())
    v["case_id"] = case
    v["evidence"].update(evidence)
    (d / "verdict.json").write_text(json.dumps(v))
    if keys is not None:
        con = duckdb.connect()
        con.execute("CREATE TABLE s AS SELECT unnest(?::VARCHAR[]) AS _key", [keys])
        con.execute(f"COPY s TO '{d / 'subjects.parquet'}' (FORMAT parquet)")
        con.close()
    return d


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("discovered", "due"),
    [
        ("2026-11-23T08:00", "2026-11-26T08:00:00+07:00"),  # no offset: WIB
        ("2026-11-23T08:00+07:00", "2026-11-26T08:00:00+07:00"),
        ("2026-11-23T01:00Z", "2026-11-26T08:00:00+07:00"),  # the same instant in UTC
        ("2026-11-23T08:00+09:00", "2026-11-26T06:00:00+07:00"),  # WIT (Papua) is two hours ahead of WIB
        ("2026-11-30T23:30", "2026-12-03T23:30:00+07:00"),  # across a month end
        ("2026-12-30T10:15:30", "2027-01-02T10:15:30+07:00"),  # across a year end, seconds kept
        ("2028-02-27T12:00", "2028-03-01T12:00:00+07:00"),  # a leap day counts: 72 calendar hours
    ],
)
def test_the_deadline_is_72_hours_after_discovery(discovered: str, due: str) -> None:
    d = deadline(discovered)
    assert d.due.isoformat() == due
    assert (d.due - d.discovered).total_seconds() == 72 * 3600


def test_a_discovery_time_that_is_not_a_time_is_refused() -> None:
    with pytest.raises(NotifyError, match="--discovered"):
        deadline("kemarin pagi")


def test_the_deadline_reports_time_left_and_overdue() -> None:
    d = deadline("2026-11-23T08:00")
    assert d.to_json(datetime.fromisoformat("2026-11-25T08:00+07:00"))["hours_left_at_preparation"] == 24
    late = d.to_json(datetime.fromisoformat("2026-11-26T09:00+07:00"))
    assert late["overdue_at_preparation"] is True and late["hours_left_at_preparation"] == -1


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """One pack shared by the read-only tests below (each builds nothing of its own)."""
    ws = make_workspace(tmp_path_factory.mktemp("pack"))
    leaked = [p[0] for p in PEOPLE if p[2] != "NOT LEAKED"]
    make_case(ws, leaked)
    result = prepare_pack(ws, "C-T1", "2026-11-23T08:00", controller="BPJS Kesehatan", pdf=False)
    return ws, result.directory


def test_each_subject_gets_one_channel_and_only_the_contact_it_needs(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    rows = {r["card_last4"]: r for r in read_csv(d / "subjects.csv")}
    assert set(rows) == {"0011", "0022", "0033", "0044", "0055", "0066"}  # the not-leaked person is absent
    assert (rows["0011"]["channel"], rows["0011"]["contact"]) == ("sms", "+6281234567001")
    assert (rows["0022"]["channel"], rows["0022"]["contact"]) == ("email", "budi.s@mail.example")
    assert (rows["0033"]["channel"], rows["0033"]["contact"]) == ("letter", "Gg. Mawar 3")
    assert rows["0066"]["channel"] == "review" and rows["0066"]["review"] == "yes"
    assert rows["0011"]["message"].startswith("Yth. SITI AMINAH: BPJS Kesehatan")
    message = rows["0011"]["message"]
    assert "berakhiran 0011" in message and "keuangan (data pribadi spesifik)" in message


def test_a_deceased_subject_gets_a_reviewed_letter_to_the_heirs_and_no_sms(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    row = next(r for r in read_csv(d / "subjects.csv") if r["card_last4"] == "0044")
    assert row["channel"] == "letter-heirs" and row["review"] == "yes"
    assert row["contact"] == "Jl. Kenanga 4 RT 01/RW 02"
    assert row["message"].startswith("Kepada Yth. ahli waris almarhum/almarhumah RATNA DEWI")
    text = "".join(p.read_text(errors="ignore") for p in d.iterdir() if p.suffix != ".pdf")
    assert "99990044" not in text and "r@x.example" not in text  # her phone and e-mail appear nowhere


def test_the_pack_discloses_no_more_personal_data_than_the_notice_needs(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    rows = read_csv(d / "subjects.csv")
    assert list(rows[0]) == ["ref", "channel", "contact", "review", "name", "card_last4", "categories", "message"]
    text = "".join(p.read_text(errors="ignore") for p in d.iterdir())
    for card, nik, _name, born, *_ in PEOPLE:
        assert card not in text and nik not in text and born not in text
    # The suspect's summary and the authority notice name nobody.
    for p in d.glob("*.md"):
        assert "SITI AMINAH" not in p.read_text() and "0011" not in p.read_text()
    refs = [r["ref"] for r in rows]
    assert len(set(refs)) == len(refs) and all(len(r) == 16 for r in refs)
    assert refs == sorted(refs)  # a stable order: the same pack lists people the same way


def test_the_subject_csv_is_safe_to_open_in_a_spreadsheet(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    rows = {r["card_last4"]: r for r in read_csv(d / "subjects.csv")}
    assert rows["0055"]["name"].startswith("'=HYPERLINK")
    assert rows["0055"]["channel"] == "sms" and rows["0055"]["contact"] == "+6281255550055"  # a phone stays a phone
    assert rows["0066"]["name"] == "'-2+3"
    for r in rows.values():
        for value in r.values():
            assert not value.startswith(("=", "@", "\t", "\r")), value


def test_the_authority_notice_states_what_when_how_and_the_deadline(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    md = (d / "authority_notice.md").read_text()
    assert "Pasal 46" in md and "26 November 2026 pukul 08.00 WIB" in md
    assert "23 November 2026 pukul 08.00 WIB" in md
    assert "keuangan" in md and "11.498 orang" in md
    assert "antara 28 Desember 2024 dan 6 Januari 2025" in md  # the same words as the report (findings.Window)
    assert "PT Vendor Data Nusantara" in md and "9f2c4e1a" in md
    html = (d / "authority_notice.html").read_text()
    assert "Content-Security-Policy" in html and "<script" not in html
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["deadline"]["due"] == "2026-11-26T08:00:00+07:00"
    assert manifest["subjects"] == 6 and manifest["deceased"] == 1
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((d / name).read_bytes()).hexdigest() == digest


def test_the_suspect_summary_states_the_findings_and_processor_duties(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    [summary] = d.glob("suspect_*.md")
    text = summary.read_text()
    assert "PT Vendor Data Nusantara" in text and "R-20250114-021530-7K3Q9M2X" in text
    assert "Pasal 51" in text and "6 rekaman kanari" in text


class Elements(HTMLParser):
    """A page as the browser's parser reads it: its elements with their attributes, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("lang", ["id", "en"])
def test_markup_in_the_names_a_notice_quotes_renders_as_text(lang: str) -> None:
    evil = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']
    v = json.loads(FIXTURE.read_text())
    v["case_id"] += evil[0]
    v["evidence"]["member"] = "dump.jsonl" + evil[1]
    v["attribution"]["releases"][0]["recipient"] += evil[1]
    facts = facts_from(v, deadline("2026-11-23T08:00"), "Pengendali" + evil[0], lang)
    counts = SubjectCounts(subjects=6, by_channel={"sms": 5, "letter-heirs": 1}, review=1, deceased=1)
    for blocks in (authority_blocks(facts, counts, lang), suspect_blocks(facts, facts.suspects[0], 10, 8, lang)):
        page = to_html(blocks, lang, blocks[0][1])
        parsed = Elements(page)
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "img")]
        assert not [name for _, attrs in parsed.tags for name, _ in attrs if name.startswith("on")]
        text = "".join(parsed.text)
        assert "Pengendali" + evil[0] in text and "dump.jsonl" + evil[1] in text
        assert "Content-Security-Policy" in page


def test_the_pack_is_readable_by_its_owner_only(pack: tuple[Workspace, Path]) -> None:
    _ws, d = pack
    assert d.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in d.iterdir()} == {0o600}
    assert not list(d.parent.glob(".notify*.partial"))


def test_a_pack_is_never_overwritten(pack: tuple[Workspace, Path]) -> None:
    ws, d = pack
    before = (d / "subjects.csv").read_bytes()
    with pytest.raises(NotifyError, match="never overwritten"):
        prepare_pack(ws, "C-T1", "2026-11-24T08:00", pdf=False)
    assert (d / "subjects.csv").read_bytes() == before


def test_without_a_subject_list_the_evidence_is_relinked_by_identifiers(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    leak = ws.evidence_dir / "dump.csv"
    leak.write_text("no_kartu,nik,nama_lengkap\n"
                    "0001000000011,,SITI AMINAH\n"  # by card
                    ",3273011104900002,BUDI SANTOSO\n"  # by NIK
                    " 0001000000033 ,,AGUS\n"  # padded with spaces
                    "0001999999999,3273010101990009,FAKE\n")  # fabricated
    sha = hashlib.sha256(leak.read_bytes()).hexdigest()
    make_case(ws, None, path=str(leak), sha256=sha, member=None)
    result = prepare_pack(ws, "C-T1", "2026-11-23T08:00", pdf=False)
    assert result.subjects_source.startswith("evidence")
    assert sorted(r["card_last4"] for r in read_csv(result.directory / "subjects.csv")) == ["0011", "0022", "0033"]


def test_relinking_refuses_an_evidence_file_that_changed(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    leak = ws.evidence_dir / "dump.csv"
    leak.write_text("no_kartu,nik\n0001000000011,\n")
    make_case(ws, None, path=str(leak), sha256="0" * 64)
    with pytest.raises(NotifyError, match="not in the workspace"):
        prepare_pack(ws, "C-T1", "2026-11-23T08:00", pdf=False)
    assert not (ws.cases_dir / "C-T1" / "notify").exists()
    assert not list((ws.cases_dir / "C-T1").glob(".*partial")) and not list((ws.cases_dir / "C-T1").glob(".tmp-*"))


def test_notify_command_prints_the_deadline_and_writes_the_pack(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    make_case(ws, [p[0] for p in PEOPLE])
    out = tmp_path / "pack"
    result = CliRunner().invoke(app, ["--home", str(ws.home), "notify", "C-T1", "--discovered", "2026-11-23T08:00",
                                      "--out", str(out), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert "26 November 2026 pukul 08.00 WIB" in result.output
    assert not (out / "authority_notice.pdf").exists()  # printing is tested with the report and the demo
