"""The UU PDP notification pack: what the controller must send within 3x24 hours of a leak.

UU No. 27/2022 Art. 46 requires written notice to the data subjects and to the authority within
3x24 hours, stating which personal data was disclosed, when and how, and how the failure is
handled and recovered. From a case's verdict this module prepares:

* ``authority_notice.md`` / ``.html`` / ``.pdf`` — the notice to the authority, with the deadline
  computed from the discovery time the user gives (a time without an offset is Western Indonesian
  Time, WIB = UTC+7: the law's clock is Indonesian);
* ``subjects.csv`` — one row per affected person: how to reach them, the categories of their data
  that leaked, and the message text (Indonesian);
* ``suspect_<recipient>.md`` / ``.html`` — for each recipient named as suspect: what was found and
  what is required of them as a processor (Art. 51);
* ``manifest.json`` — the deadline, the counts and the SHA-256 of every file.

Who is affected is the set of distinct registry keys linked to genuine rows of the leak. The
investigation stores it as ``cases/<case_id>/subjects.parquet`` (one column ``_key``, sorted;
written by :func:`jejak.impact.measure`); for a case without that file, :func:`subjects_from_evidence` recomputes
it from the evidence by exact identifier match on every stored version (rows linked only
probabilistically are then missing, and the manifest says so).

Data minimisation: the subject list holds only what sending the notice needs — a reference, the
name for the salutation, the last four digits of the card number (so the person can recognise the
notice as genuine), and the one contact used: a phone number *or* an e-mail address *or*, for a
letter, the address of record. Never the NIK, the birth date or the leaked values themselves. The
reference is a keyed hash of the registry key, so the list can go to a mailing vendor without
giving away card numbers, and the controller can still find the person in jejak.

Deceased subjects (a membership status such as ``MENINGGAL``) get no SMS or e-mail: the number
may already belong to someone else, and a text to a dead relative's phone is cruel. Their row is
a letter to the heirs (``ahli waris``) at the address of record, flagged ``review`` so that a
person checks it before anything is sent. Rows with no usable contact at all are flagged too.

All tabular work is SQL in DuckDB over the registry (opened read-only); the CSV is written with
the same spreadsheet-formula guard as releases (:func:`jejak.export.formula_safe_sql`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from jejak import keys, signals
from jejak.errors import JejakError
from jejak.export import formula_safe_sql
from jejak.files import OWNER_FILE, privatise_tree
from jejak.findings import Window, extraction_window, people_affected
from jejak.intake import file_sha256
from jejak.registry import Registry, quote, table_name
from jejak.report import (
    _CATEGORY,
    bound_in_words,
    fmt_date,
    fmt_int,
    impact_categories,
    load_verdict,
    specific_words,
    verdict_paragraph,
)
from jejak.roles import Role
from jejak.validators import sql as vsql
from jejak.workspace import Workspace

WIB = ZoneInfo("Asia/Jakarta")
DEADLINE_HOURS = 72  # "3 x 24 jam" (Art. 46(1)): calendar hours, not working days
DECEASED_VALUES = ("MENINGGAL", "MENINGGAL DUNIA", "WAFAT", "DECEASED", "DEAD")
SUBJECTS_FILE = "subjects.parquet"
Say = Callable[[str], None]


class NotifyError(JejakError):
    """The notification pack could not be prepared."""


# -- the deadline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    discovered: datetime  # timezone-aware
    due: datetime

    def remaining(self, now: datetime) -> timedelta:
        return self.due - now

    def check(self, now: datetime) -> None:
        """Refuse a discovery in the future: the deadline would be late by as much, and a notice
        dated so is false. A few minutes' skew between clocks is allowed."""
        if self.discovered > now + CLOCK_SKEW:
            raise NotifyError(f"--discovered {self.discovered.isoformat(timespec='minutes')} is in the future; "
                              "give the time the leak was discovered")

    def passed(self, now: datetime) -> str | None:
        """A one-line warning when the deadline has already passed, else None."""
        late = now - self.due
        if late <= timedelta(0):
            return None
        hours = late.total_seconds() / 3600
        return (f"The 3x24-hour deadline passed on {wib(self.due, 'en')}, {hours:,.0f} hours ago: "
                "notify the authority and the people at once, and say why the notice is late.")

    def to_json(self, now: datetime) -> dict[str, Any]:
        left = self.remaining(now)
        return {
            "discovered": self.discovered.isoformat(),
            "due": self.due.isoformat(),
            "due_utc": self.due.astimezone(ZoneInfo("UTC")).isoformat(),
            "hours": DEADLINE_HOURS,
            "hours_left_at_preparation": round(left.total_seconds() / 3600, 2),
            "overdue_at_preparation": left.total_seconds() < 0,
        }


CLOCK_SKEW = timedelta(minutes=5)


def parse_discovered(text: str) -> datetime:
    """An ISO date-time; without an offset it is WIB (UTC+7)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NotifyError(f"--discovered must be a date and time like 2026-11-23T08:00, not {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=WIB)
    return when


def deadline(discovered: datetime | str) -> Deadline:
    """Art. 46: notice within 3x24 hours of discovering the failure.

    Arithmetic is done in UTC so a discovery time given in any offset gives the same instant; the
    due time is shown in WIB.
    """
    when = parse_discovered(discovered) if isinstance(discovered, str) else discovered
    if when.tzinfo is None:
        when = when.replace(tzinfo=WIB)
    due = (when.astimezone(ZoneInfo("UTC")) + timedelta(hours=DEADLINE_HOURS)).astimezone(WIB)
    return Deadline(when.astimezone(WIB), due)


def wib(when: datetime, lang: str = "id") -> str:
    """'26 November 2026 pukul 08.00 WIB' / '26 November 2026, 08:00 WIB'."""
    w = when.astimezone(WIB)
    if lang == "id":
        return f"{fmt_date(w.date(), lang)} pukul {w:%H.%M} WIB"
    return f"{fmt_date(w.date(), lang)}, {w:%H:%M} WIB (UTC+7)"


# -- subjects --------------------------------------------------------------------------------------


def subjects_from_evidence(ws: Workspace, verdict: dict[str, Any], con: duckdb.DuckDBPyConnection,
                           name: str = "_jj_subjects", case_dir: Path | None = None) -> int:
    """Recompute the subject keys from the evidence file when the case has no subjects.parquet.

    Exact identifier match only (the columns mapped to the registry's NIK, card or key columns,
    trimmed, against every stored version): a conservative list that misses rows linked only
    probabilistically. The evidence must be the very file of the verdict (checked by SHA-256).
    """
    from jejak.intake import read_table

    path = _evidence_path(ws, verdict, case_dir)
    dataset = str(verdict.get("dataset"))
    reg = Registry(ws.registry_path, read_only=True)
    try:
        info = reg.dataset(dataset)
    finally:
        reg.close()
    mapping = (verdict.get("evidence") or {}).get("mapping") or {}
    ident_roles = {Role.NIK, Role.CARD}
    pairs = [(leak, m["column"]) for leak, m in mapping.items()
             if m.get("column") and (m["column"] == info.key or info.roles.get(m["column"]) in ident_roles)]
    if not pairs:
        raise NotifyError("the verdict maps no identifier column (NIK, card or key); cannot list the subjects")
    with ws.tmpdir("notify-read-") as scratch:
        table = read_table(con, path, name="_jj_notify_leak", strict=False, scratch_dir=scratch)
    rows = table_name(dataset)
    unions = " UNION ".join(
        f"SELECT r._key FROM {rows} r JOIN _jj_notify_leak l ON r.{quote(reg_col)} = trim(l.{quote(leak_col)})"
        for leak_col, reg_col in pairs if leak_col in table.columns
    )
    if not unions:
        raise NotifyError("the evidence file no longer has the verdict's identifier columns")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT _key FROM ({unions})")
    con.execute("DROP TABLE IF EXISTS _jj_notify_leak")
    return int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])


def _evidence_path(ws: Workspace, verdict: dict[str, Any], case_dir: Path | None) -> Path:
    """The evidence file: the case's read-only copy, else where it was taken from (same SHA-256)."""
    ev = verdict.get("evidence") or {}
    sha = str(ev.get("sha256") or "")
    given = Path(str(ev.get("path") or ""))
    candidates = []
    if case_dir is not None:
        if ev.get("copy"):
            candidates.append(case_dir / str(ev["copy"]))
        candidates += sorted((case_dir / "evidence").glob("*"))
    candidates += [given, ws.evidence_dir / given.name, *sorted(ws.evidence_dir.glob(f"{sha}*")),
                   *sorted(ws.evidence_dir.glob(f"*/{given.name}"))]
    for c in candidates:
        if c.is_file() and file_sha256(c) == sha:
            return c
    raise NotifyError(
        f"the case has no {SUBJECTS_FILE} and its evidence file ({given.name}, sha256 {sha[:12]}…) is not in the "
        "workspace; re-run the investigation"
    )


@dataclass
class SubjectCounts:
    subjects: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    review: int = 0
    deceased: int = 0


def _contact_columns(info: Any) -> dict[str, str | None]:
    """The registry's name, phone, e-mail and address columns, and its status columns."""

    def first(role: Role) -> str | None:
        return next((c for c in info.columns if info.roles.get(c) == role), None)

    return {"name": first(Role.NAME), "phone": first(Role.PHONE), "email": first(Role.EMAIL),
            "address": first(Role.ADDRESS)}


def build_subject_table(con: duckdb.DuckDBPyConnection, info: Any, subjects: str, salt: str,
                        texts: dict[str, str]) -> SubjectCounts:
    """``_jj_notice``: one row per subject with channel, contact and message, from the newest version."""
    cols = _contact_columns(info)
    rows = table_name(info.name)
    status_cols = [c for c in info.columns if info.roles.get(c) == Role.CATEGORY]
    dead_values = ", ".join(f"'{v}'" for v in DECEASED_VALUES)
    deceased = " OR ".join(f"coalesce(upper(trim(v.{quote(c)})) IN ({dead_values}), false)" for c in status_cols) \
        or "false"
    col = lambda c: f"v.{quote(c)}" if c else "NULL"  # noqa: E731
    # the newest version of each key: a person who has since left the registry is still notified
    # The newest version of each key (a person who has since left the registry is still notified),
    # with only the columns a notice needs; sorted by ref once, on these narrow rows.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_notice_src AS
        SELECT substr(sha256($salt || chr(31) || s._key), 1, 16) AS ref, s._key,
               nullif(trim({col(cols['name'])}), '') AS name,
               jj_phone_norm({col(cols['phone'])}) AS phone,
               jj_email_norm({col(cols['email'])}) AS email,
               nullif(trim({col(cols['address'])}), '') AS address,
               ({deceased}) AS deceased
        FROM (SELECT DISTINCT _key FROM {subjects}) s
        JOIN {rows} v ON v._key = s._key
        QUALIFY row_number() OVER (PARTITION BY s._key ORDER BY v._valid_from DESC) = 1
        ORDER BY ref""",
        {"salt": salt},
    )
    # A view, not a table: the long message texts are built while the CSV streams out, never held.
    lit = {k: "'" + v.replace("'", "''") + "'" for k, v in texts.items()}
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _jj_notice AS
        SELECT ref,
               CASE WHEN deceased AND address IS NOT NULL THEN 'letter-heirs'
                    WHEN deceased THEN 'review'
                    WHEN phone IS NOT NULL THEN 'sms'
                    WHEN email IS NOT NULL THEN 'email'
                    WHEN address IS NOT NULL THEN 'letter'
                    ELSE 'review' END AS channel,
               CASE WHEN deceased THEN address
                    WHEN phone IS NOT NULL THEN phone
                    WHEN email IS NOT NULL THEN email
                    ELSE address END AS contact,
               (deceased OR (phone IS NULL AND email IS NULL AND address IS NULL)) AS review,
               deceased,
               name,
               CASE WHEN length(_key) >= 4 THEN right(_key, 4) ELSE NULL END AS card_last4,
               {lit['categories']} AS categories,
               CASE WHEN deceased THEN {lit['heirs_a']} || coalesce(name, {lit['nobody']}) || {lit['heirs_b']}
                    ELSE {lit['living_a']} || coalesce(name, {lit['nobody']}) || {lit['living_b']}
                         || coalesce(right(_key, 4), '-') || {lit['living_c']} END
                 || {lit['ref_label']} || ref AS message
        FROM _jj_notice_src"""
    )
    counts = SubjectCounts()
    counts.subjects = int(con.execute("SELECT count(*) FROM _jj_notice").fetchall()[0][0])
    counts.by_channel = dict(con.execute("SELECT channel, count(*) FROM _jj_notice GROUP BY 1 ORDER BY 1").fetchall())
    counts.review, counts.deceased = (int(x or 0) for x in con.execute(
        "SELECT count(*) FILTER (WHERE review), count(*) FILTER (WHERE deceased) FROM _jj_notice").fetchall()[0])
    return counts


SUBJECT_CSV_COLUMNS = ("ref", "channel", "contact", "review", "name", "card_last4", "categories", "message")


def write_subject_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    select = ", ".join(
        "CASE WHEN review THEN 'yes' ELSE 'no' END AS review" if c == "review" else formula_safe_sql(c)
        for c in SUBJECT_CSV_COLUMNS
    )
    target = str(path).replace("'", "''")
    # _jj_notice_src is stored sorted by ref; with insertion order preserved the CSV streams in that order
    con.execute("SET preserve_insertion_order = true")
    with signals.held():  # DuckDB 2.0 can hang when a COPY to a file is interrupted (docs/operations.md)
        con.execute(f"COPY (SELECT {select} FROM _jj_notice) TO '{target}' (FORMAT csv, HEADER true)")


# -- texts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What every document of the pack says, computed once from the verdict."""

    case_id: str
    controller: str
    discovered: datetime
    due: datetime
    categories: list[tuple[str, list[str], int, bool]]  # name, columns, people, specific
    people: int
    specific: str  # what makes it specific, in words ('' when nothing does); see findings.specific_data
    window: Window | None
    evidence_name: str
    evidence_sha256: str
    suspects: list[dict[str, Any]]
    verdict_text: str  # the verdict paragraph, plain text
    attribution: str


def facts_from(verdict: dict[str, Any], dl: Deadline, controller: str, lang: str) -> Facts:
    ev = verdict.get("evidence") or {}
    attr = verdict.get("attribution") or {}
    categories, _ = impact_categories(verdict)
    cats = [(_CATEGORY.get(k, {}).get(lang, k), list(c.get("columns") or []), int(c.get("people") or 0),
             bool(c.get("specific"))) for k, c in categories.items() if c.get("people")]
    suspects = [r for r in attr.get("releases") or [] if r.get("suspect")]
    return Facts(
        case_id=str(verdict.get("case_id")), controller=controller, discovered=dl.discovered, due=dl.due,
        categories=cats, people=people_affected(verdict),
        specific=specific_words(verdict, lang),
        window=extraction_window(verdict),
        evidence_name=str(ev.get("member") or Path(str(ev.get("path") or "")).name),
        evidence_sha256=str(ev.get("sha256") or ""), suspects=suspects,
        verdict_text=plain(verdict_paragraph(verdict, lang)), attribution=str(attr.get("verdict") or "not-run"),
    )


def plain(fragment: str) -> str:
    """HTML fragment -> plain text (the report's sentences reused in Markdown and SMS)."""
    text = re.sub(r"<sup>([^<]*)</sup>", r"^\1", fragment)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _category_words(f: Facts) -> str:
    return ", ".join(name + (" (data pribadi spesifik)" if specific else "") for name, _c, _p, specific in f.categories)


def subject_texts(f: Facts) -> dict[str, str]:
    """The fixed parts of each subject's message (always Indonesian); SQL adds name, card digits, ref."""
    when = f.window.words("id", lambda d: fmt_date(d, "id")) if f.window else "pada waktu yang masih diselidiki"
    cats = _category_words(f) or "data kepesertaan"
    common = (f" Data yang terungkap: {cats}. Data tersebut diambil {when} dan ditemukan beredar pada "
              f"{wib(f.discovered)}. Kami telah menghentikan sumber kebocoran, melaporkannya kepada lembaga "
              f"pelindungan data pribadi dan aparat, serta memantau penyalahgunaannya. Waspadai penipuan yang "
              f"mengatasnamakan {f.controller}: kami tidak pernah meminta PIN, OTP atau kata sandi. ")
    return {
        "living_a": "Yth. ",
        "living_b": f": {f.controller} memberitahukan bahwa data pribadi Anda (kartu berakhiran ",
        "living_c": ") termasuk dalam data yang bocor." + common,
        "heirs_a": "Kepada Yth. ahli waris almarhum/almarhumah ",
        "heirs_b": f": {f.controller} memberitahukan bahwa data pribadi almarhum/almarhumah termasuk dalam "
                   f"data yang bocor." + common,
        "nobody": "Peserta",
        "ref_label": "Ref. ",
        "categories": cats,
    }


# Document blocks, rendered to Markdown and to HTML: ("h1"|"h2"|"p"|"b", text), ("ul", [items]),
# ("table", head, rows). Text is plain; each renderer escapes for its own syntax.
Block = tuple[Any, ...]


def authority_blocks(f: Facts, counts: SubjectCounts, lang: str) -> list[Block]:
    id_ = lang == "id"
    left = f.due - datetime.now(WIB)
    hours = left.total_seconds() / 3600
    status = ((f"sisa {hours:.0f} jam saat dokumen ini disiapkan" if id_ else
               f"{hours:.0f} hours left when this document was prepared") if hours >= 0 else
              ("BATAS WAKTU SUDAH LEWAT" if id_ else "THE DEADLINE HAS PASSED"))
    cat_rows = [[name, ", ".join(cols) or "-", fmt_int(people, lang),
                 ("ya" if id_ else "yes") if specific else ("tidak" if id_ else "no")]
                for name, cols, people, specific in f.categories]
    channels = ", ".join(f"{k}: {fmt_int(v, lang)}" for k, v in sorted(counts.by_channel.items())) or "-"
    suspects = "; ".join(
        f"{r.get('recipient')} ({('rilis' if id_ else 'release')} {r.get('release_id')}, "
        f"{fmt_date(r.get('created_at'), lang)}; {bound_in_words(r.get('log10_bound'), lang)})"
        for r in f.suspects)
    if id_:
        return [
            ("h1", "Pemberitahuan Kegagalan Pelindungan Data Pribadi"),
            ("p", "Berdasarkan Pasal 46 Undang-Undang Nomor 27 Tahun 2022 tentang Pelindungan Data Pribadi."),
            ("ul", ["Kepada: Lembaga Pelindungan Data Pribadi",
                    f"Dari: {f.controller} (Pengendali Data Pribadi)",
                    f"Nomor kasus: {f.case_id}",
                    f"Kegagalan diketahui: {wib(f.discovered)}",
                    f"Batas waktu pemberitahuan (3 x 24 jam): {wib(f.due)} — {status}"]),
            ("h2", "1. Data pribadi yang terungkap"),
            ("p", f"Jumlah subjek data: {fmt_int(f.people, lang)} orang, {fmt_int(counts.deceased, lang)} di antaranya "
                  f"telah meninggal dunia."
                  + (f" Termasuk data pribadi yang bersifat spesifik (Pasal 4 ayat (2)): {f.specific}."
                     if f.specific else "")),
            ("table", ["Kategori", "Kolom", "Orang", "Spesifik"], cat_rows),
            ("h2", "2. Kapan dan bagaimana data terungkap"),
            ("p", f.verdict_text),
            ("ul", ["Waktu pengambilan data: "
                    + (f.window.words(lang, lambda d: fmt_date(d, lang)) if f.window else "belum dapat ditentukan"),
                    f"Sumber: {suspects or _source_words(f.attribution, lang)}",
                    f"Barang bukti: {f.evidence_name}, SHA-256 {f.evidence_sha256}"]),
            ("h2", "3. Upaya penanganan dan pemulihan"),
            ("p", "Langkah di bawah disiapkan oleh jejak dan wajib dikonfirmasi oleh pengendali sebelum dikirim:"),
            ("ul", [*(["Akses penerima tersangka terhadap data dihentikan dan penerima diminta mengamankan serta "
                       "melaporkan semua salinan rilis (ringkasan terlampir)."] if f.suspects else []),
                    f"Subjek data diberitahu secara tertulis ({channels}); {fmt_int(counts.review, lang)} "
                    f"pemberitahuan ditinjau petugas sebelum dikirim, termasuk surat kepada ahli waris "
                    f"{fmt_int(counts.deceased, lang)} subjek yang telah meninggal.",
                    "Koordinasi dengan Badan Siber dan Sandi Negara (BSSN) dan kepolisian; permintaan "
                    "penurunan (takedown) berkas dari situs tempat data ditawarkan.",
                    "Peninjauan semua rilis lain kepada penerima yang sama dan pemantauan penyalahgunaan data.",
                    "Laporan investigasi lengkap dan bukti dapat direproduksi tersedia bagi lembaga."]),
            ("h2", "4. Narahubung"),
            ("p", "Pejabat Pelindungan Data Pribadi: [nama, jabatan, telepon, e-mail — diisi pengendali]"),
        ]
    return [
        ("h1", "Notice of a Personal Data Protection Failure"),
        ("p", "Under Article 46 of Law No. 27 of 2022 on Personal Data Protection (UU PDP)."),
        ("ul", ["To: the Personal Data Protection Authority",
                f"From: {f.controller} (data controller)",
                f"Case: {f.case_id}",
                f"Failure discovered: {wib(f.discovered, lang)}",
                f"Notice deadline (3 x 24 hours): {wib(f.due, lang)} — {status}"]),
        ("h2", "1. Personal data disclosed"),
        ("p", f"Data subjects: {fmt_int(f.people, lang)} people, {fmt_int(counts.deceased, lang)} of them deceased."
              + (f" Includes specific personal data (Art. 4(2)): {f.specific}." if f.specific else "")),
        ("table", ["Category", "Columns", "People", "Specific"], cat_rows),
        ("h2", "2. When and how the data was disclosed"),
        ("p", f.verdict_text),
        ("ul", ["Data taken: " + (f.window.words(lang, lambda d: fmt_date(d, lang)) if f.window
                                 else "not yet determined"),
                f"Source: {suspects or _source_words(f.attribution, lang)}",
                f"Evidence: {f.evidence_name}, SHA-256 {f.evidence_sha256}"]),
        ("h2", "3. Handling and recovery"),
        ("p", "The steps below were prepared by jejak and must be confirmed by the controller before sending:"),
        ("ul", [*(["The suspect recipient's access to the data is stopped; the recipient is required to secure "
                   "and account for every copy of the release (summary attached)."] if f.suspects else []),
                f"Data subjects are notified in writing ({channels}); {fmt_int(counts.review, lang)} notices are "
                f"reviewed by staff before sending, including letters to the heirs of "
                f"{fmt_int(counts.deceased, lang)} deceased subjects.",
                "Coordination with the national cyber agency (BSSN) and the police; takedown requests to the site "
                "where the data is offered.",
                "Review of every other release to the same recipient; monitoring for misuse of the data.",
                "The full investigation report and reproducible evidence are available to the authority."]),
        ("h2", "4. Contact"),
        ("p", "Data protection officer: [name, position, phone, e-mail — to be filled in by the controller]"),
    ]


def _source_words(attribution: str, lang: str) -> str:
    words = {
        "unreleased": ("pusat data sendiri atau ekspor yang tidak tercatat", "the data centre or an unrecorded export"),
        "altered": ("belum dapat ditentukan: tanda rahasia diubah, kandidat penerima sedang diperiksa",
                    "not yet determined: the secret marks were altered; candidate recipients are being examined"),
        "not-ours": ("bukan data kita", "not our data"),
        "inconclusive": ("belum dapat ditentukan", "not yet determined"),
    }
    pair = words.get(attribution, ("belum dianalisis", "not analysed"))
    return pair[0] if lang == "id" else pair[1]


def suspect_blocks(f: Facts, release: dict[str, Any], rows: int, genuine: int, lang: str) -> list[Block]:
    id_ = lang == "id"
    agree = sum(int(c.get("agree") or 0) for c in (release.get("channels") or {}).values() if not c.get("flattened"))
    read = sum(int(c.get("read") or 0) for c in (release.get("channels") or {}).values() if not c.get("flattened"))
    canary = int(release.get("canary_hits") or 0)
    rid, sent = release.get("release_id"), fmt_date(release.get("created_at"), lang)
    if id_:
        return [
            ("h1", f"Ringkasan temuan untuk {release.get('recipient')}"),
            ("p", f"Kasus {f.case_id}. Dari: {f.controller} (Pengendali Data Pribadi)."),
            ("h2", "Apa yang ditemukan"),
            ("ul", [f"Sebuah berkas ({f.evidence_name}, SHA-256 {f.evidence_sha256}) yang beredar tanpa izin "
                    f"memuat {fmt_int(rows, lang)} baris, {fmt_int(genuine, lang)} di antaranya data peserta kami.",
                    f"Data itu membawa tanda rahasia rilis {rid} yang kami berikan kepada Anda pada {sent}: "
                    f"{fmt_int(agree, lang)} dari {fmt_int(read, lang)} tanda cocok"
                    + (f", dan {fmt_int(canary, lang)} rekaman kanari yang hanya ada di rilis Anda ditemukan." if canary
                       else "."),
                    f"Secara statistik, {bound_in_words(release.get('log10_bound'), lang)}.",
                    "Temuan ini menunjukkan dari rilis mana data berasal, bukan siapa yang membocorkannya: salinan "
                    "Anda mungkin diambil oleh pihak ketiga."]),
            ("h2", "Kewajiban Anda sebagai Prosesor Data Pribadi (Pasal 51 UU PDP)"),
            ("p", "Prosesor memproses data pribadi hanya berdasarkan perintah pengendali dan wajib menjaga "
                  "keamanannya. Kami meminta Anda untuk:"),
            ("ul", ["segera menghentikan setiap pemrosesan dan pengiriman rilis tersebut di luar perintah kami;",
                    "mengamankan dan tidak menghapus semua salinan, cadangan, log akses dan catatan pengiriman "
                    "rilis, sebagai barang bukti;",
                    "dalam 24 jam memberi keterangan tertulis: di mana rilis disimpan, siapa yang mengaksesnya, dan "
                    "kepada siapa data diteruskan (termasuk subprosesor);",
                    "bekerja sama dengan pemeriksaan kami, BSSN dan kepolisian;",
                    "menghapus atau mengembalikan data sesuai perjanjian setelah pemeriksaan selesai, atas "
                    "perintah tertulis kami."]),
        ]
    return [
        ("h1", f"Summary of findings for {release.get('recipient')}"),
        ("p", f"Case {f.case_id}. From: {f.controller} (data controller)."),
        ("h2", "What was found"),
        ("ul", [f"A file circulating without authorisation ({f.evidence_name}, SHA-256 {f.evidence_sha256}) holds "
                f"{fmt_int(rows, lang)} rows, {fmt_int(genuine, lang)} of them our participants' data.",
                f"The data carries the secret marks of release {rid} that we gave you on {sent}: "
                f"{fmt_int(agree, lang)} of {fmt_int(read, lang)} marks agree"
                + (f", and {fmt_int(canary, lang)} canary records that exist only in your release are in it."
                   if canary else "."),
                f"Statistically, {bound_in_words(release.get('log10_bound'), lang)}.",
                "This shows which release the data came from, not who leaked it: your copy may have been taken by "
                "a third party."]),
        ("h2", "Your duties as a data processor (UU PDP Art. 51)"),
        ("p", "A processor processes personal data only on the controller's instructions and must keep it secure. "
              "We require you to:"),
        ("ul", ["stop at once any processing or transfer of that release outside our instructions;",
                "secure, and not delete, every copy, backup, access log and transfer record of the release, as "
                "evidence;",
                "within 24 hours give a written account of where the release was stored, who accessed it and to "
                "whom it was passed (including sub-processors);",
                "cooperate with our inquiry, the national cyber agency (BSSN) and the police;",
                "delete or return the data as the contract requires once the inquiry ends, on our written "
                "instruction."]),
    ]


def to_markdown(blocks: Sequence[Block]) -> str:
    def esc(s: str) -> str:
        return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", s)

    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out.append(f"# {esc(b[1])}\n")
        elif kind == "h2":
            out.append(f"## {esc(b[1])}\n")
        elif kind == "p":
            out.append(f"{esc(b[1])}\n")
        elif kind == "ul":
            out.append("".join(f"- {esc(x)}\n" for x in b[1]))
        elif kind == "table":
            out.append("| " + " | ".join(esc(h) for h in b[1]) + " |\n|" + "---|" * len(b[1]) + "\n"
                       + "".join("| " + " | ".join(esc(str(c)) for c in r) + " |\n" for r in b[2]))
    return "\n".join(out)


def to_html(blocks: Sequence[Block], lang: str, title: str) -> str:
    """A notice as one offline HTML page (``templates/notify/notice.html``, autoescaped)."""
    from jejak.report import CSP, environment

    return environment().get_template("notify/notice.html").render(blocks=blocks, lang=lang, title=title, csp=CSP)


# -- the pack --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyPack:
    directory: Path
    deadline: Deadline
    counts: SubjectCounts
    files: dict[str, Path]
    subjects_source: str  # "subjects.parquet" | "evidence (identifier match)"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "recipient"


def prepare_pack(
    ws: Workspace, case_or_verdict: str, discovered: str | datetime, *, out: Path | None = None,
    lang: str = "id", controller: str = "Pengendali Data", pdf: bool | None = None, say: Say = lambda _m: None,
) -> NotifyPack:
    """Prepare the whole pack for a case (its id or its verdict JSON path) into a new directory.

    ``pdf=None`` makes the PDF when Chromium is installed and skips it otherwise; ``True``
    requires it. The directory appears complete or not at all.
    """
    from jejak.browser import find_chromium, print_to_pdf
    from jejak.report import verdict_from

    dl = deadline(discovered)
    dl.check(datetime.now(WIB))
    verdict, verdict_path = verdict_from(ws.cases_dir, case_or_verdict)
    case_dir = verdict_path.parent
    target = (out or case_dir / "notify").expanduser().resolve()
    if target.exists():
        raise NotifyError(f"{target} already exists; a notification pack is never overwritten")
    if not target.parent.is_dir():
        raise NotifyError(f"the directory {target.parent} does not exist")
    want_pdf = pdf if pdf is not None else find_chromium() is not None
    facts = facts_from(verdict, dl, controller, lang)
    # A folder of its own (a pack being prepared by another run is never touched), owner-only because
    # the subject list holds every affected person's contact, and marked with our PID so that a
    # killed run's half-written pack is swept by the next command.
    with ws.tmpdir("notify", parent=target.parent) as tmp:
        counts, source = _subjects_csv(ws, verdict, case_dir, tmp / "subjects.csv", facts, say)
        files = {"subjects": tmp / "subjects.csv"}
        say("writing the notice to the authority")
        blocks = authority_blocks(facts, counts, lang)
        (tmp / "authority_notice.md").write_text(to_markdown(blocks), encoding="utf-8")
        (tmp / "authority_notice.html").write_text(to_html(blocks, lang, blocks[0][1]), encoding="utf-8")
        files |= {"authority_md": tmp / "authority_notice.md", "authority_html": tmp / "authority_notice.html"}
        if want_pdf:
            say("printing the notice to PDF")
            print_to_pdf(tmp / "authority_notice.html", tmp / "authority_notice.pdf")
            files["authority_pdf"] = tmp / "authority_notice.pdf"
        ver = verdict.get("verification") or {}
        for r in facts.suspects:
            sb = suspect_blocks(facts, r, int(ver.get("rows") or 0), int(ver.get("matched") or 0), lang)
            stem = f"suspect_{_slug(str(r.get('recipient')))}_{_slug(str(r.get('release_id')))}"
            (tmp / f"{stem}.md").write_text(to_markdown(sb), encoding="utf-8")
            (tmp / f"{stem}.html").write_text(to_html(sb, lang, sb[0][1]), encoding="utf-8")
            files[f"{stem}.md"], files[f"{stem}.html"] = tmp / f"{stem}.md", tmp / f"{stem}.html"
        (tmp / OWNER_FILE).unlink()  # the pack holds only its own files
        manifest = {
            "case_id": facts.case_id, "prepared_at": datetime.now(WIB).isoformat(timespec="seconds"),
            "deadline": dl.to_json(datetime.now(WIB)), "subjects": counts.subjects,
            "by_channel": counts.by_channel, "review": counts.review, "deceased": counts.deceased,
            "subjects_source": source,
            "files": {p.name: file_sha256(p) for p in sorted(tmp.iterdir())},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        privatise_tree(tmp)
        tmp.rename(target)
    return NotifyPack(target, dl, counts, {k: target / v.name for k, v in files.items()}, source)


def _subjects_csv(ws: Workspace, verdict: dict[str, Any], case_dir: Path, path: Path, facts: Facts,
                  say: Say) -> tuple[SubjectCounts, str]:
    stored = case_dir / SUBJECTS_FILE
    reg = Registry(ws.registry_path, read_only=True)
    try:
        con = reg.con
        vsql.install(con)
        info = reg.dataset(str(verdict.get("dataset")))
        if stored.exists():
            source = SUBJECTS_FILE
            con.execute("CREATE OR REPLACE TEMP TABLE _jj_subjects AS SELECT DISTINCT CAST(_key AS VARCHAR) AS _key "
                        "FROM read_parquet(?)", [str(stored)])
        else:
            say("no subject list in the case: re-linking the evidence by its identifiers")
            source = "evidence (identifier match)"
            subjects_from_evidence(ws, verdict, con, case_dir=case_dir)
        say("choosing a contact channel for every subject")
        salt = keys._hkdf(ws.master_secret(), "jejak/notify/v1/ref").hex()
        counts = build_subject_table(con, info, "_jj_subjects", salt, subject_texts(facts))
        write_subject_csv(con, path)
        con.execute("DROP VIEW IF EXISTS _jj_notice; DROP TABLE IF EXISTS _jj_notice_src; "
                    "DROP TABLE IF EXISTS _jj_subjects")
    finally:
        reg.close()
    return counts, source


def load_case_verdict(ws: Workspace, case: str) -> dict[str, Any]:
    from jejak.report import verdict_from

    return verdict_from(ws.cases_dir, case)[0]


__all__ = [
    "Deadline", "NotifyError", "NotifyPack", "deadline", "load_verdict", "parse_discovered", "prepare_pack",
    "subjects_from_evidence",
]
