"""The investigation report: one self-contained HTML file (and its PDF) rendered from a verdict.

The report is read by a director, a regulator and a court, so it is built for three readers at
once: a one-paragraph verdict with the false-accusation bound in words at the top, charts and
tables in the middle, and a method appendix at the end that lets an independent expert
reproduce every number from the evidence file, the registry, the ledger and the master secret.

It is rendered from the verdict JSON alone (``docs/verdict.md``), which holds counts and release
ids but no person's data, so the report cannot disclose any either. Every value from the verdict
passes through :func:`html.escape`; charts are inline SVG drawn here; the page carries a
Content-Security-Policy that forbids every remote load, so it opens offline and leaks nothing
about who reads it. Plain Python templates keep Jinja2 out of the declared dependencies.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import platform
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jejak import __version__
from jejak.errors import JejakError
from jejak.files import private_file, write_private
from jejak.findings import extraction_window, people_affected, specific_data

LANGS = ("id", "en")
SCHEMA = "jejak.verdict/1"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
MAX_RELEASE_ROWS = 500  # a table longer than this is cut (the JSON keeps every release)


class ReportError(JejakError):
    """A verdict could not be read or rendered."""


# -- words -----------------------------------------------------------------------------------------

_T: dict[str, dict[str, str]] = {
    "title": {"id": "Laporan Investigasi Kebocoran Data", "en": "Data Leak Investigation Report"},
    "case": {"id": "Kasus", "en": "Case"},
    "created": {"id": "Dibuat", "en": "Created"},
    "dataset": {"id": "Dataset", "en": "Dataset"},
    "confidential": {
        "id": "RAHASIA — untuk pengendali data, otoritas PDP dan penyidik. Laporan ini tidak memuat data pribadi.",
        "en": "CONFIDENTIAL — for the data controller, the PDP authority and investigators. "
        "This report contains no personal data.",
    },
    "s_verdict": {"id": "1. Kesimpulan", "en": "1. Verdict"},
    "s_evidence": {"id": "2. Barang bukti", "en": "2. Evidence"},
    "s_verify": {"id": "3. Verifikasi: apakah data ini milik kita?", "en": "3. Verification: is this our data?"},
    "s_dating": {"id": "4. Kapan data diambil", "en": "4. When the data was taken"},
    "s_attr": {"id": "5. Sumber kebocoran", "en": "5. Source of the leak"},
    "s_impact": {"id": "6. Dampak", "en": "6. Impact"},
    "s_method": {"id": "Lampiran: metode dan reproduksi", "en": "Appendix: method and reproduction"},
    "k_rows": {"id": "baris dalam berkas", "en": "rows in the file"},
    "k_genuine": {"id": "baris asli milik kita", "en": "genuine rows of ours"},
    "k_people": {"id": "orang terdampak", "en": "people affected"},
    "k_window": {"id": "kondisi data", "en": "data as of"},
    "k_source": {"id": "sumber", "en": "source"},
    "k_unknown": {"id": "tidak diketahui", "en": "unknown"},
    "file": {"id": "Berkas", "en": "File"},
    "member": {"id": "Anggota arsip", "en": "Archive member"},
    "size": {"id": "Ukuran", "en": "Size"},
    "bytes": {"id": "bita", "en": "bytes"},
    "format": {"id": "Format", "en": "Format"},
    "encoding": {"id": "Pengodean", "en": "Encoding"},
    "delimiter": {"id": "Pemisah", "en": "Delimiter"},
    "header": {"id": "Baris judul", "en": "Header row"},
    "rows_read": {"id": "Baris terbaca", "en": "Rows read"},
    "skipped": {"id": "Baris yang tidak terbaca", "en": "Rows that could not be read"},
    "yes": {"id": "ya", "en": "yes"},
    "no": {"id": "tidak", "en": "no"},
    "mapping": {"id": "Kolom yang dikenali", "en": "Columns recognised"},
    "leaked_col": {"id": "kolom dalam berkas", "en": "column in the file"},
    "reg_col": {"id": "kolom registri", "en": "registry column"},
    "role": {"id": "jenis data", "en": "kind of data"},
    "confidence": {"id": "keyakinan", "en": "confidence"},
    "agree": {"id": "nilai sama dengan registri", "en": "values equal to the registry"},
    "unmapped": {"id": "tidak dipetakan", "en": "not mapped"},
    "rows_classes": {"id": "Baris menurut kelas", "en": "Rows by class"},
    "status_title": {"id": "Status kepesertaan (baris yang cocok)", "en": "Membership status (matched rows)"},
    "current": {"id": "asli, terkini", "en": "genuine, current"},
    "outdated": {"id": "asli, versi lama", "en": "genuine, outdated"},
    "fabricated": {"id": "palsu (nomor tidak pernah ada)", "en": "fabricated (number never issued)"},
    "canary": {"id": "rekaman kanari", "en": "canary records"},
    "invalid": {"id": "tidak sah (nomor mustahil)", "en": "invalid (impossible number)"},
    "unlinked": {"id": "tidak tertaut", "en": "not linked"},
    "duplicates": {"id": "duplikat", "en": "duplicates"},
    "active": {"id": "aktif", "en": "active"},
    "inactive": {"id": "nonaktif", "en": "inactive"},
    "deceased": {"id": "meninggal", "en": "deceased"},
    "unknown": {"id": "tidak diketahui", "en": "unknown"},
    "linked_by": {"id": "Cara penautan", "en": "Linked by"},
    "registry_rows": {"id": "Baris registri saat ini", "en": "Rows in the registry now"},
    "snapshots": {"id": "snapshot registri", "en": "registry snapshots"},
    "window": {"id": "jendela pengambilan", "en": "extraction window"},
    "release_sent": {"id": "rilis dikirim", "en": "release sent"},
    "release_asof": {"id": "data rilis per", "en": "release data as of"},
    "support": {"id": "baris mendukung", "en": "rows support"},
    "contradicting": {"id": "baris bertentangan", "en": "rows contradict"},
    "release": {"id": "rilis", "en": "release"},
    "recipient": {"id": "penerima", "en": "recipient"},
    "as_of": {"id": "data per", "en": "data as of"},
    "sent": {"id": "dikirim", "en": "sent"},
    "in_common": {"id": "baris bersama", "en": "rows in common"},
    "marks": {"id": "tanda cocok / terbaca", "en": "marks agreeing / read"},
    "canaries": {"id": "kanari", "en": "canaries"},
    "bound": {"id": "batas tuduhan keliru", "en": "false-accusation bound"},
    "suspect": {"id": "tersangka", "en": "suspect"},
    "channel": {"id": "kanal", "en": "channel"},
    "cells_read": {"id": "sel terbaca", "en": "cells read"},
    "cells_agree": {"id": "sel cocok", "en": "cells agreeing"},
    "by_chance": {"id": "diharapkan bila tak bersalah", "en": "expected if innocent"},
    "flattened": {"id": "terhapus oleh normalisasi (diabaikan)", "en": "erased by normalisation (ignored)"},
    "usable": {"id": "terbaca", "en": "readable"},
    "category": {"id": "kategori data", "en": "data category"},
    "columns": {"id": "kolom", "en": "columns"},
    "people": {"id": "orang", "en": "people"},
    "specific": {"id": "data pribadi spesifik (Pasal 4 UU PDP)", "en": "specific personal data (UU PDP Art. 4)"},
    "provinces": {"id": "Orang terdampak per provinsi (asal NIK)", "en": "People affected by province (of the NIK)"},
    "regencies": {"id": "Kabupaten/kota terbanyak", "en": "Top regencies/cities"},
    "branches": {"id": "Orang terdampak per kantor cabang", "en": "People affected by branch office"},
    "branch": {"id": "kantor cabang", "en": "branch office"},
    "none": {"id": "tidak ada", "en": "none"},
    "code": {"id": "kode", "en": "code"},
    "name": {"id": "nama", "en": "name"},
    "schema": {"id": "skema putusan", "en": "verdict schema"},
    "verdict_sha": {"id": "SHA-256 putusan", "en": "verdict SHA-256"},
    "evidence_sha": {"id": "SHA-256 bukti", "en": "evidence SHA-256"},
    "software": {"id": "perangkat lunak", "en": "software"},
    "more_rows": {"id": "rilis lain tidak ditampilkan; lihat JSON putusan",
                  "en": "more releases not shown; see the verdict JSON"},
    "footer": {
        "id": "Dibuat oleh jejak {v}. Setiap angka dapat direproduksi dari berkas bukti, registri, buku besar "
        "(ledger) dan kunci induk; lihat lampiran.",
        "en": "Produced by jejak {v}. Every number can be reproduced from the evidence file, the registry, "
        "the ledger and the master secret; see the appendix.",
    },
}

_KIND = {
    "branch": {"id": "kantor cabang", "en": "branch office"},
    "vendor": {"id": "vendor (prosesor data)", "en": "vendor (data processor)"},
    "hospital": {"id": "rumah sakit", "en": "hospital"},
    "ministry": {"id": "kementerian", "en": "ministry"},
    "researcher": {"id": "peneliti", "en": "researcher"},
    "other": {"id": "lainnya", "en": "other"},
}
_CATEGORY = {
    "identity": {"id": "identitas", "en": "identity"},
    "contact": {"id": "kontak dan alamat", "en": "contact and address"},
    "membership": {"id": "kepesertaan", "en": "membership"},
    "financial": {"id": "keuangan", "en": "financial"},
    "health": {"id": "kesehatan", "en": "health"},
    "children": {"id": "data anak", "en": "children's data"},  # specific by Art. 4(2)(e), not a column
}
_CHANNEL = {
    "ts_jitter": {"id": "detik cap waktu (kuat)", "en": "timestamp seconds (robust)"},
    "amount_digits": {"id": "digit akhir nominal (kuat)", "en": "amount last digits (robust)"},
    "phone_format": {"id": "format nomor telepon (format)", "en": "phone number format (format)"},
    "email_case": {"id": "huruf domain e-mail (format)", "en": "e-mail domain case (format)"},
    "address_format": {"id": "format alamat (format)", "en": "address format (format)"},
    "canary": {"id": "rekaman kanari (kuat)", "en": "canary records (robust)"},
}
_MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}
_MON = {lang: [m[:3] for m in months] for lang, months in _MONTHS.items()}
_MON["id"][7] = "Agu"
_SCALES = {  # power of ten -> word, for "1 in a billion"
    "id": {3: "seribu", 6: "satu juta", 9: "satu miliar", 12: "satu triliun"},
    "en": {3: "a thousand", 6: "a million", 9: "a billion", 12: "a trillion"},
}
COLOURS = {
    "current": "#2e7d32", "outdated": "#81c784", "canary": "#6a1b9a", "fabricated": "#e65100",
    "invalid": "#c62828", "unlinked": "#9e9e9e", "active": "#1565c0", "inactive": "#90caf9",
    "deceased": "#424242", "unknown": "#bdbdbd",
}


def t(key: str, lang: str) -> str:
    return _T[key][lang]


def e(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_int(n: object, lang: str) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "–"
    s = f"{round(n):,}"
    return s.replace(",", ".") if lang == "id" else s


def fmt_pct(part: float, whole: float, lang: str) -> str:
    if not whole:
        return "–"
    s = f"{100 * part / whole:.1f}%"
    return s.replace(".", ",") if lang == "id" else s


def fmt_date(value: object, lang: str, *, short: bool = False) -> str:
    """'14 Januari 2025' / '14 January 2025' (or '14 Jan 2025') from an ISO date or timestamp string."""
    d = _as_date(value)
    if d is None:
        return "–"
    return f"{d.day} {(_MON if short else _MONTHS)[lang][d.month - 1]} {d.year}"


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None


def bound_in_words(log10_bound: float | None, lang: str) -> str:
    """The false-accusation bound as a sentence a director can read.

    The claim is always rounded in the safe direction: ``log10_bound = -9.7`` means the bound is
    below 10^-9, so "below 1 in a billion", never "1 in 5 billion".
    """
    if log10_bound is None or math.isnan(log10_bound):
        return (
            "batas peluang tuduhan keliru tidak tersedia" if lang == "id"
            else "no bound on the chance of a false accusation is available"
        )
    if lang == "id":
        head = "peluang bahwa penerima yang tidak bersalah memperoleh skor setinggi ini"
    else:
        head = "the chance that an innocent recipient scores this well"
    # -inf: the tail underflowed even in logs; it is stated like any bound below 10^-12.
    k = 12 if log10_bound == -math.inf else math.floor(-log10_bound + 1e-9)
    if k >= 3:
        # 10^12 is the smallest figure stated in words (UU PDP readers, courts): smaller bounds say
        # "below 1 in 10^12" here and give the exact exponent in the technical section.
        if k >= 12:
            odds = (f"1 banding 10^12 ({_SCALES[lang][12]})" if lang == "id"
                    else f"1 in 10^12 ({_SCALES[lang][12]})")
        else:
            scale = max(s for s in _SCALES[lang] if s <= k)
            odds = f"1 banding {_SCALES[lang][scale]}" if lang == "id" else f"1 in {_SCALES[lang][scale]}"
        return f"{head} {'kurang dari' if lang == 'id' else 'is below'} {odds}"
    p = 10 ** min(0.0, log10_bound)
    if p >= 0.5:
        return (f"{head} cukup besar ({fmt_pct(p, 1, lang)}): ini bukan bukti" if lang == "id"
                else f"{head} is high ({fmt_pct(p, 1, lang)}): this is not evidence")
    n = max(2, math.floor(1 / p))
    return (f"{head} sekitar 1 banding {fmt_int(n, lang)}: tidak cukup untuk menuduh" if lang == "id"
            else f"{head} is about 1 in {fmt_int(n, lang)}: not enough to accuse anyone")


def bound_html(log10_bound: float | None, lang: str, *, capital: bool = False) -> str:
    """:func:`bound_in_words`, escaped, with powers of ten as superscripts."""
    text = bound_in_words(log10_bound, lang)
    if capital:
        text = text[:1].upper() + text[1:]
    return re.sub(r"10\^([0-9]+)", r"10<sup>\1</sup>", e(text))


def bound_short(log10_bound: float | None) -> str:
    """HTML for a table cell: '&lt; 10<sup>-41187</sup>' or a plain probability."""
    if log10_bound is None:
        return "–"
    if log10_bound <= -3:
        k = math.floor(-log10_bound + 1e-9)
        return f"&lt; 10<sup>&minus;{k}</sup>"
    return e(f"{10 ** min(0.0, log10_bound):.3g}")


# -- loading ---------------------------------------------------------------------------------------


def load_verdict(path: Path) -> dict[str, Any]:
    """Read and check a verdict JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such verdict file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a verdict JSON file ({type(exc).__name__})") from None
    check_verdict(data, str(path))
    return data


def check_verdict(data: object, where: str = "verdict") -> None:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportError(f"{where}: not a {SCHEMA} document (see docs/verdict.md)")
    for section in ("case_id", "evidence", "verification"):
        if section not in data:
            raise ReportError(f"{where}: the verdict has no {section!r}")


def verdict_digest(verdict: dict[str, Any]) -> str:
    """SHA-256 of the verdict in canonical JSON (sorted keys, no spaces): quoted in the appendix."""
    canonical = json.dumps(verdict, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_ROLE_CATEGORY = {
    "nik": "identity", "card": "identity", "npwp": "identity", "name": "identity", "date": "identity",
    "phone": "contact", "email": "contact", "address": "contact",
    "category": "membership", "timestamp": "membership", "identifier": "membership",
    "amount": "financial", "medical": "health",
}
SPECIFIC_CATEGORIES = frozenset({"financial", "health"})  # UU PDP Art. 4(2): health and personal financial data


def specific_words(verdict: dict[str, Any], lang: str) -> str:
    """'health (120 people), children's data (617 people)'; empty when the file holds no specific data."""
    unit = "orang" if lang == "id" else "people"
    return ", ".join(f"{_CATEGORY.get(k, {}).get(lang, k)} ({fmt_int(n, lang)} {unit})"
                     for k, n in specific_data(verdict))


def impact_categories(verdict: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], bool]:
    """The impact's data categories and whether specific data leaked.

    When the impact step did not run, they are derived from the evidence's column mapping (every
    affected person counted in every mapped category): the notice must still say what leaked.
    """
    imp = verdict.get("impact") or {}
    if imp.get("categories"):
        return imp["categories"], bool(imp.get("specific_data"))
    people = imp.get("people") or (verdict.get("verification") or {}).get("matched") or 0
    cats: dict[str, dict[str, Any]] = {}
    for m in ((verdict.get("evidence") or {}).get("mapping") or {}).values():
        cat = _ROLE_CATEGORY.get(str(m.get("role")))
        if m.get("column") and cat:
            c = cats.setdefault(cat, {"people": people, "columns": [], "specific": cat in SPECIFIC_CATEGORIES})
            c["columns"].append(m["column"])
    order = ["identity", "contact", "membership", "financial", "health"]
    cats = {k: cats[k] for k in order if k in cats}
    return cats, any(c["specific"] and c["people"] for c in cats.values())


# -- charts (inline SVG) ---------------------------------------------------------------------------


def svg_stacked(title: str, segments: Sequence[tuple[str, float, str]], lang: str, width: int = 900) -> str:
    """One horizontal bar split into coloured segments, with a legend of counts and shares."""
    total = sum(v for _, v, _ in segments) or 1
    x = 0.0
    parts = []
    for label, v, colour in segments:
        w = width * v / total
        if w > 0:
            parts.append(f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="34" fill="{e(colour)}">'
                         f"<title>{e(label)}: {e(fmt_int(v, lang))}</title></rect>")
        x += w
    legend = []
    for i, (label, v, colour) in enumerate(segments):
        lx, ly = (i % 2) * (width // 2), 54 + (i // 2) * 22
        legend.append(
            f'<rect x="{lx}" y="{ly - 11}" width="12" height="12" fill="{e(colour)}"/>'
            f'<text x="{lx + 18}" y="{ly}">{e(label)}: {e(fmt_int(v, lang))} ({e(fmt_pct(v, total, lang))})</text>'
        )
    height = 54 + ((len(segments) + 1) // 2) * 22
    return (
        f'<figure><figcaption>{e(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
        f'{"".join(parts)}{"".join(legend)}</svg></figure>'
    )


def svg_bars(title: str, items: Sequence[tuple[str, float]], lang: str, colour: str = "#1565c0",
             width: int = 900, limit: int = 12) -> str:
    """Horizontal bars, largest first, with the value at the end of each bar."""
    items = sorted(items, key=lambda kv: -kv[1])[:limit]
    if not items:
        return f"<p><em>{e(title)}: {e(t('none', lang))}</em></p>"
    label_w, row_h = 230, 24
    top = max(v for _, v in items) or 1
    room = width - label_w - 90
    rows = []
    for i, (label, v) in enumerate(items):
        y = i * row_h
        w = max(1.0, room * v / top)
        rows.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{e(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="16" fill="{e(colour)}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{e(fmt_int(v, lang))}</text>'
        )
    height = len(items) * row_h + 4
    return (
        f'<figure><figcaption>{e(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">{"".join(rows)}</svg></figure>'
    )


def svg_timeline(
    snapshots: Iterable[object], window: tuple[object, object] | None,
    markers: Sequence[tuple[object, str, str]], lang: str, width: int = 900,
) -> str:
    """Registry snapshots, the extraction window and release dates on one time axis.

    ``markers`` are ``(date, label, colour)``; labels are staggered over three lines so that
    releases a few days apart stay readable.
    """
    snaps = [d for d in (_as_date(s) for s in snapshots) if d]
    win = (_as_date(window[0]), _as_date(window[1])) if window else (None, None)
    marks = [(d, label, colour) for d, label, colour in ((_as_date(m[0]), m[1], m[2]) for m in markers) if d]
    days = [*snaps, *[d for d in win if d], *[m[0] for m in marks]]
    if not days:
        return ""
    lo, hi = min(days).toordinal() - 20, max(days).toordinal() + 20
    left, right, axis_y = 20, width - 20, 120

    def x(d: date) -> float:
        return left + (right - left) * (d.toordinal() - lo) / max(1, hi - lo)

    out = [f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#555" stroke-width="1.5"/>']
    first = date.fromordinal(lo)
    month = date(first.year, first.month, 1)
    span_months = (hi - lo) / 30.4
    step = 1 if span_months <= 14 else 3 if span_months <= 40 else 12
    while month.toordinal() <= hi:
        if month.toordinal() >= lo and (month.month - 1) % step == 0:
            mx = x(month)
            label = f"{_MON[lang][month.month - 1]} {month.year}" if month.month == 1 or step == 12 \
                else _MON[lang][month.month - 1]
            out.append(f'<line x1="{mx:.1f}" y1="{axis_y}" x2="{mx:.1f}" y2="{axis_y + 5}" stroke="#555"/>'
                       f'<text x="{mx:.1f}" y="{axis_y + 18}" text-anchor="middle" class="small">{e(label)}</text>')
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    if win[0] and win[1]:
        x0, x1 = x(win[0]), x(win[1])
        out.append(f'<rect x="{x0:.1f}" y="{axis_y - 40}" width="{max(3.0, x1 - x0):.1f}" height="40" '
                   f'fill="#ffcc80" stroke="#e65100"><title>{e(t("window", lang))}</title></rect>'
                   f'<text x="{min(max((x0 + x1) / 2, left + 60), right - 60):.1f}" y="{axis_y - 46}" '
                   f'text-anchor="middle" font-weight="bold">'
                   f'{e(t("window", lang))}</text>')
    for d in snaps:
        sx = x(d)
        out.append(f'<path d="M{sx:.1f},{axis_y + 24} l-6,10 h12 z" fill="#1565c0"/>'
                   f'<text x="{sx:.1f}" y="{axis_y + 48}" text-anchor="middle" class="small">{e(d.isoformat())}</text>')
    for i, (d, label, colour) in enumerate(marks):
        mx, ly = x(d), 18 + (i % 3) * 16
        anchor = "start" if mx < width * 0.6 else "end"
        dx = 4 if anchor == "start" else -4
        out.append(f'<line x1="{mx:.1f}" y1="{ly + 3}" x2="{mx:.1f}" y2="{axis_y}" stroke="{e(colour)}" '
                   f'stroke-dasharray="3,2"/><circle cx="{mx:.1f}" cy="{axis_y}" r="5" fill="{e(colour)}"/>'
                   f'<text x="{mx + dx:.1f}" y="{ly}" text-anchor="{anchor}" class="small" fill="{e(colour)}">'
                   f'{e(label)} ({e(d.isoformat())})</text>')
    legend = (f'<path d="M24,{axis_y + 62} l-6,10 h12 z" fill="#1565c0"/>'
              f'<text x="36" y="{axis_y + 72}" class="small">{e(t("snapshots", lang))}</text>')
    height = axis_y + 80
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline" '
            f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">{"".join(out)}{legend}</svg>')


# -- sections --------------------------------------------------------------------------------------


def _suspects(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    attr = verdict.get("attribution") or {}
    releases = attr.get("releases") or []
    ids = set(attr.get("suspects") or [])
    return [r for r in releases if r.get("suspect") or r.get("release_id") in ids]


def _kind(kind: object, lang: str) -> str:
    return _KIND.get(str(kind), {}).get(lang, str(kind or ""))


def _marks_summary(release: dict[str, Any]) -> tuple[int, int]:
    read = agree = 0
    for ch in (release.get("channels") or {}).values():
        if not ch.get("flattened"):
            read += int(ch.get("read") or 0)
            agree += int(ch.get("agree") or 0)
    return agree, read


def verdict_paragraph(verdict: dict[str, Any], lang: str) -> str:
    """The verdict in one paragraph (HTML): who, when, how much, how sure."""
    v = verdict.get("verification") or {}
    attr = verdict.get("attribution") or {"verdict": "not-run"}
    ev = verdict.get("evidence") or {}
    rows, matched = v.get("rows", 0), v.get("matched", 0)
    n = lambda x: e(fmt_int(x, lang))  # noqa: E731
    name = e(ev.get("member") or Path(str(ev.get("path") or "?")).name)
    s: list[str] = []
    ours = attr.get("verdict") != "not-ours" and matched > 0
    if lang == "id":
        if ours:
            s.append(f"Berkas <b>{name}</b> berisi data kita: <b>{n(matched)}</b> dari {n(rows)} barisnya "
                     f"({e(fmt_pct(matched, rows, lang))}) cocok dengan peserta dalam registri, "
                     f"menyangkut <b>{n(people_affected(verdict))} orang</b>.")
        else:
            s.append(f"Berkas <b>{name}</b> tidak cocok dengan registri kita: hanya {n(matched)} dari "
                     f"{n(rows)} barisnya dapat ditautkan.")
    elif ours:
        s.append(f"The file <b>{name}</b> holds our data: <b>{n(matched)}</b> of its {n(rows)} rows "
                 f"({e(fmt_pct(matched, rows, lang))}) match participants in our registry, concerning "
                 f"<b>{n(people_affected(verdict))} people</b>.")
    else:
        s.append(f"The file <b>{name}</b> does not match our registry: only {n(matched)} of its {n(rows)} "
                 f"rows could be linked.")
    pad = (v.get("fabricated") or 0) + (v.get("invalid") or 0)
    if ours and pad:
        s.append(f"{n(v.get('fabricated'))} baris palsu dan {n(v.get('invalid'))} baris tidak sah: berkas ini "
                 f"diisi data buatan agar tampak lebih besar." if lang == "id" else
                 f"{n(v.get('fabricated'))} rows are fabricated and {n(v.get('invalid'))} invalid: the file was "
                 f"padded to look larger.")
    specific = specific_words(verdict, lang)
    if specific:
        s.append(f"Berkas memuat <b>data pribadi spesifik</b>: {e(specific)}." if lang == "id" else
                 f"It contains <b>specific personal data</b>: {e(specific)}.")
    window = extraction_window(verdict)
    if window:
        s.append(f"Data diambil {e(window.words(lang, lambda d: fmt_date(d, lang)))}." if lang == "id" else
                 f"The data was taken {e(window.words(lang, lambda d: fmt_date(d, lang)))}.")
    s.append(_attribution_sentences(attr, _suspects(verdict), lang))
    return " ".join(x for x in s if x)


def _attribution_sentences(attr: dict[str, Any], suspects: list[dict[str, Any]], lang: str) -> str:
    kind = attr.get("verdict")
    tested = e(fmt_int(attr.get("tested"), lang))
    if kind == "release" and suspects:
        parts = []
        for r in suspects:
            agree, read = _marks_summary(r)
            canary = r.get("canary_hits") or 0
            if lang == "id":
                what = f"{e(fmt_int(agree, lang))} dari {e(fmt_int(read, lang))} tanda rahasia cocok"
                if canary:
                    what += f" dan {e(fmt_int(canary, lang))} rekaman kanari miliknya ada dalam berkas"
                parts.append(
                    f"Data berasal dari rilis <b>{e(r.get('release_id'))}</b> yang kita berikan kepada "
                    f"<b>{e(r.get('recipient'))}</b>{_kind_note(r, lang)} pada "
                    f"{e(fmt_date(r.get('created_at'), lang))}: {what}. Secara statistik, "
                    f"<b>{bound_html(r.get('log10_bound'), lang)}</b> (dengan {tested} rilis diuji).")
            else:
                what = f"{e(fmt_int(agree, lang))} of {e(fmt_int(read, lang))} secret marks agree"
                if canary:
                    what += f" and {e(fmt_int(canary, lang))} of its canary records are in the file"
                parts.append(
                    f"It came from release <b>{e(r.get('release_id'))}</b> that we gave to "
                    f"<b>{e(r.get('recipient'))}</b>{_kind_note(r, lang)} on "
                    f"{e(fmt_date(r.get('created_at'), lang))}: {what}. Statistically, "
                    f"<b>{bound_html(r.get('log10_bound'), lang)}</b> ({tested} releases tested).")
        return " ".join(parts)
    if kind == "unreleased":
        return (f"Data ini salinan tanpa tanda dari registri, bukan dari salah satu dari {tested} rilis dalam buku "
                f"besar: data kemungkinan besar keluar dari pusat data sendiri atau lewat ekspor yang tidak "
                f"tercatat." if lang == "id" else
                f"The data is an unmarked copy of the registry, not one of the {tested} releases in the ledger: it "
                f"most likely left from the data centre itself or through an export that was never recorded.")
    if kind == "altered":
        names = ", ".join(f"{c.get('recipient')} ({c.get('release_id')})" for c in (attr.get("candidates") or [])[:5])
        return (f"Tanda rahasia dalam berkas ini telah diubah, sehingga ini bukan salinan registri tanpa tanda; "
                f"rilis yang baris, kolom dan tanggalnya cocok adalah kandidat sumber: {e(names)}." if lang == "id"
                else f"The secret marks in this file were altered, so it is not an unmarked copy of the registry; "
                     f"the releases whose rows, columns and date fit are candidate sources: {e(names)}.")
    if kind == "not-ours":
        return ("Data ini bukan milik kita; tidak ada sumber yang perlu dicari." if lang == "id" else
                "The data is not ours; there is no source of ours to trace.")
    if kind == "inconclusive":
        missing = attr.get("missing")
        return ((f"Bukti belum cukup untuk menunjuk sumber ({tested} rilis diuji)"
                 + (f": {e(missing)}." if missing else ".")) if lang == "id" else
                (f"The evidence is not sufficient to name a source ({tested} releases tested)"
                 + (f": {e(missing)}." if missing else ".")))
    return ("Atribusi sumber belum dijalankan." if lang == "id" else "Attribution has not been run.")


def _kind_note(release: dict[str, Any], lang: str) -> str:
    """' (vendor (data processor))' when the release row says what kind of recipient it is (optional in v1)."""
    kind = release.get("recipient_kind")
    return f" ({e(_kind(kind, lang))})" if kind else ""


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None,
           numeric: Sequence[int] = (), css: str = "") -> str:
    """A table; cells are HTML already escaped by the caller."""
    h = "".join(f'<th{" class=num" if i in numeric else ""}>{e(x)}</th>' for i, x in enumerate(head))
    body = []
    for j, r in enumerate(rows):
        cls = f' class="{e(classes[j])}"' if classes and classes[j] else ""
        cells = "".join(f'<td{" class=num" if i in numeric else ""}>{x}</td>' for i, x in enumerate(r))
        body.append(f"<tr{cls}>{cells}</tr>")
    cls = f' class="{e(css)}"' if css else ""
    return f"<table{cls}><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _key_figures(verdict: dict[str, Any], lang: str) -> str:
    v = verdict.get("verification") or {}
    suspects = _suspects(verdict)
    source = ", ".join(str(r.get("recipient")) for r in suspects) or {
        "unreleased": "pusat data / ekspor tak tercatat" if lang == "id" else "data centre / unlogged export",
        "altered": "tanda diubah: kandidat terlampir" if lang == "id" else "marks altered: candidates listed",
        "not-ours": "bukan data kita" if lang == "id" else "not our data",
    }.get(str((verdict.get("attribution") or {}).get("verdict")), t("k_unknown", lang))
    found = extraction_window(verdict)
    window = (f"{fmt_date(found.start, lang, short=True)} – "
              + (fmt_date(found.end, lang, short=True) if found.end else ("kini" if lang == "id" else "now"))
              if found else t("k_unknown", lang))
    cards = [
        (fmt_int(v.get("rows"), lang), t("k_rows", lang)),
        (fmt_int(v.get("matched"), lang), t("k_genuine", lang)),
        (fmt_int(people_affected(verdict), lang), t("k_people", lang)),
        (window, t("k_window", lang)),
        (source, t("k_source", lang)),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="big">{e(a)}</div><div>{e(b)}</div></div>' for a, b in cards) + "</div>"


def section_evidence(verdict: dict[str, Any], lang: str) -> str:
    ev = verdict.get("evidence") or {}
    ver = verdict.get("verification") or {}
    yn = lambda b: t("yes", lang) if b else t("no", lang)  # noqa: E731
    kv = [
        (t("file", lang), e(Path(str(ev.get("path") or "")).name)),
        *([(t("member", lang), e(ev.get("member")))] if ev.get("member") else []),
        ("SHA-256", f'<code class="hash">{e(ev.get("sha256"))}</code>'),
        (t("size", lang), e(f"{fmt_int(ev.get('size'), lang)} {t('bytes', lang)}")),
        (t("format", lang), e(ev.get("format"))),
        (t("encoding", lang), e(ev.get("encoding") or "–")),
        (t("delimiter", lang), e(repr(ev["delimiter"]) if ev.get("delimiter") else "–")),
        (t("header", lang), e(yn(ev.get("header")))),
        (t("rows_read", lang), e(fmt_int(ev.get("rows"), lang))),
        (t("skipped", lang), e(fmt_int(ev.get("skipped_rows", len(ev.get("skipped") or [])), lang))),
    ]
    rates = ver.get("columns") or {}
    rows, classes = [], []
    for col, m in (ev.get("mapping") or {}).items():
        target = m.get("column")
        rate = (rates.get(target) or {}).get("rate") if target else None
        rows.append([
            f"<code>{e(col)}</code>",
            f"<code>{e(target)}</code>" if target else f"<em>{e(t('unmapped', lang))}</em>",
            e(m.get("role")),
            e(fmt_pct(m.get("confidence") or 0, 1, lang)),
            e(fmt_pct(rate, 1, lang)) if rate is not None else "–",
        ])
        classes.append("" if target else "muted")
    mapping = _table([t("leaked_col", lang), t("reg_col", lang), t("role", lang), t("confidence", lang),
                      t("agree", lang)], rows, classes, numeric=(3, 4))
    return f"{_kv_table(kv)}<h3>{e(t('mapping', lang))}</h3>{mapping}"


def section_verification(verdict: dict[str, Any], lang: str) -> str:
    v = verdict.get("verification") or {}
    # canaries are counted inside "fabricated" (to an outsider they are); draw them apart once.
    fabricated_only = max(0, (v.get("fabricated") or 0) - (v.get("canary") or 0))
    classes = [
        (t("current", lang), v.get("current") or 0, COLOURS["current"]),
        (t("outdated", lang), v.get("outdated") or 0, COLOURS["outdated"]),
        (t("fabricated", lang), fabricated_only, COLOURS["fabricated"]),
        (t("canary", lang), v.get("canary") or 0, COLOURS["canary"]),
        (t("invalid", lang), v.get("invalid") or 0, COLOURS["invalid"]),
        (t("unlinked", lang), v.get("unlinked") or 0, COLOURS["unlinked"]),
    ]
    status = v.get("status") or {}
    states = [(t(k, lang), status.get(k) or 0, COLOURS[k]) for k in ("active", "inactive", "deceased", "unknown")]
    rows = v.get("rows") or 0
    facts = [
        (t("duplicates", lang),
         e(f"{fmt_int(v.get('duplicates'), lang)} ({fmt_pct(v.get('duplicates') or 0, rows, lang)})")),
        (t("linked_by", lang), e(", ".join(f"{k}: {fmt_int(n, lang)}" for k, n in (v.get("linked_by") or {}).items())
                                 or "–")),
        (t("registry_rows", lang), e(fmt_int(v.get("registry_rows"), lang))),
    ]
    if lang == "id":
        lead = ("Setiap baris berkas dicocokkan dengan semua versi data dalam registri. Baris <i>asli</i> ada "
                "di registri; <i>versi lama</i> berarti nilainya sudah berubah sejak itu; <i>palsu</i> berarti "
                "nomornya sah bentuknya tetapi tidak pernah kita terbitkan; <i>tidak sah</i> berarti nomornya "
                "mustahil (misalnya tanggal lahir 32).")
    else:
        lead = ("Every row of the file is compared with every version of the data in the registry. A "
                "<i>genuine</i> row is in the registry; <i>outdated</i> means its values have changed since; "
                "<i>fabricated</i> means a well-formed number we never issued; <i>invalid</i> means an "
                "impossible number (e.g. birth day 32).")
    return (f"<p>{lead}</p>{svg_stacked(t('rows_classes', lang), classes, lang)}"
            f"{svg_stacked(t('status_title', lang), states, lang)}{_kv_table(facts)}")


def section_dating(verdict: dict[str, Any], lang: str) -> str:
    snap = verdict.get("snapshot") or {}
    reg = verdict.get("registry") or {}
    markers: list[tuple[object, str, str]] = []
    for r in _suspects(verdict):
        markers.append((r.get("created_at"), f"{t('release_sent', lang)}: {r.get('recipient')}", "#c62828"))
        if r.get("as_of") and _as_date(r.get("as_of")) != _as_date(r.get("created_at")):
            markers.append((r.get("as_of"), t("release_asof", lang), "#6a1b9a"))
    found = extraction_window(verdict)
    window = (found.start, found.end) if found and found.end else None
    svg = svg_timeline(reg.get("snapshots") or [], window, markers, lang)
    if found:
        words = e(found.words(lang, lambda d: fmt_date(d, lang)))
        text = (f"Data dalam berkas diambil <b>{words}</b>: {e(fmt_int(snap.get('support'), lang))} "
                f"baris mendukung periode ini dan {e(fmt_int(snap.get('contradicting'), lang))} bertentangan "
                f"(dari {e(fmt_int(snap.get('dated_rows'), lang))} baris yang dapat diberi tanggal)."
                if lang == "id" else
                f"The data in the file was taken <b>{words}</b>: {e(fmt_int(snap.get('support'), lang))} rows "
                f"support this window and {e(fmt_int(snap.get('contradicting'), lang))} contradict it (of "
                f"{e(fmt_int(snap.get('dated_rows'), lang))} rows that could be dated).")
    else:
        text = ("Waktu pengambilan tidak dapat ditentukan dari data ini." if lang == "id"
                else "The time of extraction could not be determined from this data.")
    return f"<p>{text}</p><figure>{svg}</figure>"


def section_attribution(verdict: dict[str, Any], lang: str) -> str:
    attr = verdict.get("attribution") or {}
    if attr.get("verdict") in (None, "not-run"):
        return f"<p>{e(_attribution_sentences(attr, [], lang))}</p>"
    releases = attr.get("releases") or []
    threshold = attr.get("threshold")
    th_log = math.log10(threshold) if isinstance(threshold, int | float) and threshold > 0 else None
    if lang == "id":
        intro = (f"Setiap rilis yang pernah kita buat membawa tanda rahasia milik penerimanya. Semua "
                 f"{e(fmt_int(attr.get('tested'), lang))} rilis diuji. Sebuah rilis menjadi <b>tersangka</b> "
                 f"hanya bila peluang penerima yang tidak bersalah mendapat skor setinggi itu di bawah ambang "
                 f"{bound_short(th_log)} (sudah dikoreksi untuk jumlah rilis yang diuji); ambang ini tetap, "
                 f"tidak disetel dari contoh.")
    else:
        intro = (f"Every release we ever made carries its recipient's secret marks. All "
                 f"{e(fmt_int(attr.get('tested'), lang))} releases were tested. A release is a <b>suspect</b> only "
                 f"if the chance that an innocent recipient scores as well is below the threshold "
                 f"{bound_short(th_log)} (corrected for the number of releases tested); the threshold is fixed, "
                 f"never tuned on examples.")
    rows, classes = [], []
    for r in releases[:MAX_RELEASE_ROWS]:
        agree, read = _marks_summary(r)
        sus = bool(r.get("suspect"))
        rows.append([
            f"<code>{e(r.get('release_id'))}</code>", e(r.get("recipient")), e(r.get("as_of")),
            e(str(r.get("created_at") or "")[:10]), e(fmt_int(r.get("rows_in_common"), lang)),
            e(f"{fmt_int(agree, lang)} / {fmt_int(read, lang)}") if r.get("kind") != "registered" else "–",
            e(fmt_int(r.get("canary_hits"), lang)), bound_short(r.get("log10_bound")),
            f"<b>{e(t('suspect', lang).upper())}</b>" if sus else "",
        ])
        classes.append("suspect" if sus else "")
    table = _table([t("release", lang), t("recipient", lang), t("as_of", lang), t("sent", lang),
                    t("in_common", lang), t("marks", lang), t("canaries", lang), t("bound", lang), ""],
                   rows, classes, numeric=(4, 5, 6, 7), css="releases")
    more = (f"<p class=muted>{e(fmt_int(len(releases) - MAX_RELEASE_ROWS, lang))} {e(t('more_rows', lang))}</p>"
            if len(releases) > MAX_RELEASE_ROWS else "")
    details = "".join(_suspect_detail(r, lang) for r in _suspects(verdict))
    flat = attr.get("flattened_channels") or []
    flat_note = ""
    if flat:
        names = ", ".join(_CHANNEL.get(c, {}).get(lang, c) for c in flat)
        flat_note = (f"<p>Kanal yang dihapus oleh pembocor (mis. normalisasi nomor telepon) dikenali dan "
                     f"<b>tidak</b> dipakai sebagai bukti: {e(names)}.</p>" if lang == "id" else
                     f"<p>Channels the leaker erased (e.g. by normalising phone numbers) are detected and "
                     f"<b>not</b> used as evidence: {e(names)}.</p>")
    label = "Penjelasan dari analisis" if lang == "id" else "The analysis explains"
    expl = f"<p><i>{e(label)}:</i> {e(attr.get('explanation'))}</p>" if attr.get("explanation") else ""
    missing = f"<p><b>{e(attr.get('missing'))}</b></p>" if attr.get("missing") else ""
    return f'<p>{intro}</p>{expl}{missing}{details}{flat_note}<div class="scroll">{table}</div>{more}'


def _suspect_detail(r: dict[str, Any], lang: str) -> str:
    rows = []
    for name, ch in (r.get("channels") or {}).items():
        read, agree = ch.get("read") or 0, ch.get("agree") or 0
        m = ch.get("alphabet_mean") or 0
        chance = ch["chance"] if ch.get("chance") is not None else (read / m if m else 0)
        rows.append([
            e(_CHANNEL.get(name, {}).get(lang, name)), e(fmt_int(read, lang)), e(fmt_int(agree, lang)),
            e(fmt_int(chance, lang)), e(t("flattened", lang) if ch.get("flattened") else t("usable", lang)),
        ])
    if r.get("canary_hits") is not None:
        rows.append([e(_CHANNEL["canary"][lang]), "–", e(fmt_int(r.get("canary_hits"), lang)), "0",
                     e(t("usable", lang))])
    head = (f"<h3>{e(t('suspect', lang).capitalize())}: {e(r.get('recipient'))} — <code>{e(r.get('release_id'))}"
            f"</code></h3><p>{bound_html(r.get('log10_bound'), lang, capital=True)} "
            f"(log<sub>10</sub> = {e(r.get('log10_bound'))}).</p>")
    return head + _table([t("channel", lang), t("cells_read", lang), t("cells_agree", lang), t("by_chance", lang), ""],
                         rows, numeric=(1, 2, 3))


def section_impact(verdict: dict[str, Any], lang: str) -> str:
    imp = verdict.get("impact") or {}
    categories, _ = impact_categories(verdict)
    specific = specific_words(verdict, lang)
    rows, classes = [], []
    for key, c in categories.items():
        rows.append([
            e(_CATEGORY.get(key, {}).get(lang, key)),
            e(", ".join(c.get("columns") or []) or "–"),
            e(fmt_int(c.get("people"), lang)),
            f'<span class="badge">{e(t("specific", lang))}</span>' if c.get("specific") and c.get("people") else "",
        ])
        classes.append("specific" if c.get("specific") and c.get("people") else "")
    cats = _table([t("category", lang), t("columns", lang), t("people", lang), ""], rows, classes, numeric=(2,))
    provinces = svg_bars(t("provinces", lang), [(f"{p.get('name') or ''} ({p.get('code')})", p.get("people") or 0)
                                                for p in imp.get("provinces") or []], lang)
    branches = svg_bars(t("branches", lang), [(f"{t('branch', lang)} {b.get('code')}", b.get("people") or 0)
                                              for b in imp.get("branches") or []], lang, colour="#00695c")
    reg_rows = [[e(r.get("code")), e(r.get("name")), e(fmt_int(r.get("people"), lang))]
                for r in sorted(imp.get("regencies") or [], key=lambda r: -(r.get("people") or 0))[:10]]
    head = [t("code", lang), t("name", lang), t("people", lang)]
    regencies = (f"<h3>{e(t('regencies', lang))}</h3>" + _table(head, reg_rows, numeric=(2,))
                 if reg_rows else "")
    people = e(fmt_int(people_affected(verdict), lang))
    dead = e(fmt_int(imp.get("deceased", ((verdict.get("verification") or {}).get("status") or {}).get("deceased")),
                     lang))
    if lang == "id":
        lead = (f"<b>{people}</b> orang berbeda terdampak, {dead} di antaranya telah meninggal. "
                + (f"Berkas memuat <b>data pribadi spesifik</b> ({e(specific)}): pemberitahuan wajib "
                   "menyebutkannya." if specific else "Tidak ada data pribadi spesifik dalam berkas."))
    else:
        lead = (f"<b>{people}</b> distinct people are affected, {dead} of them deceased. "
                + (f"The file holds <b>specific personal data</b> ({e(specific)}): the notices must say so."
                   if specific else "The file holds no specific personal data."))
    return f"<p>{lead}</p>{cats}{provinces}{branches}{regencies}"


def _sentence(text: object) -> str:
    s = str(text or "").strip().rstrip(".")
    return s[:1].upper() + s[1:]


def section_method(verdict: dict[str, Any], lang: str) -> str:
    ev = verdict.get("evidence") or {}
    reg = verdict.get("registry") or {}
    snap = verdict.get("snapshot") or {}
    attr = verdict.get("attribution") or {}
    versions: dict[str, Any] = verdict["versions"] if isinstance(verdict.get("versions"), dict) else {}
    soft = [f"jejak {verdict.get('jejak_version', '?')} (investigation)",
            f"jejak {__version__} (report), Python {platform.python_version()}"]
    soft += [f"{k} {v}" for k, v in sorted(versions.items())]
    ident = [
        (t("case", lang), f"<code>{e(verdict.get('case_id'))}</code>"),
        (t("schema", lang), e(verdict.get("schema"))),
        (t("verdict_sha", lang), f'<code class="hash">{e(verdict_digest(verdict))}</code>'),
        (t("evidence_sha", lang), f'<code class="hash">{e(ev.get("sha256"))}</code>'),
        (t("dataset", lang), e(f"{verdict.get('dataset')}: {fmt_int(reg.get('rows'), lang)} rows, "
                               f"{fmt_int(reg.get('versions'), lang)} versions, snapshots "
                               f"{', '.join(map(str, reg.get('snapshots') or []))}")),
        (t("software", lang), e("; ".join(soft))),
    ]
    steps_en = [
        ("Evidence",
         "The file is hashed (SHA-256) when it is taken in and never modified; check it with "
         "<code>sha256sum</code>. It is read without trusting its header names: every column's kind is inferred "
         "from its values and mapped to a registry column (section 2)."),
        ("Linkage",
         "Each row is linked to the registry by its identifiers (NIK, card number, e-mail, phone; exact match "
         "after normalisation, compared with every stored version of every row), and rows without a usable "
         "identifier by probabilistic record linkage (Fellegi–Sunter model, splink, on name, birth date, "
         "address, sex and region)."),
        ("Classes",
         "<i>current</i>: linked, agreeing best with the version open at the newest snapshot; <i>outdated</i>: "
         "agreeing better with an older version; <i>canary</i>: one of the synthetic records recorded in the "
         "ledger for exactly one release; <i>fabricated</i>: a well-formed identifier that no version of the "
         "registry ever held (canaries included); <i>invalid</i>: an impossible identifier (e.g. NIK day 32, "
         "unknown district, serial 0000); <i>duplicates</i>: rows repeating an earlier row's identity. "
         "People are counted as distinct registry keys."),
        ("Dating",
         f"{e(_sentence(snap.get('method')) or 'Not determined')}. Each linked row's values are valid on an interval "
         "[valid-from, valid-to) of registry versions, narrowed by its timestamp columns; the window is the "
         "largest interval consistent with the most rows."),
        ("Attribution",
         "Each release's marks are keyed pseudo-random symbols: AES-128 of the row digest under a key derived "
         "by HKDF-SHA256 from the master secret and the release id, modulo the number m of equivalent "
         "renderings of the cell. Timestamps and amounts are read by how far the leaked value lies from the "
         "registry's, at four levels (exactly; within 5 s; within a minute; within 5 minutes), so noise added by "
         "the leaker only moves the evidence to a coarser level. For an innocent release a leaked cell agrees "
         "with probability exactly c/m (c of its m possible shifts fall in the window the leak shows), "
         "independently of the leak; the number of agreeing cells has an exact upper tail, no approximation. "
         "The release's p-value is the smallest level's tail times the number of levels, combined with its "
         "canary evidence (Fisher's method); the bound multiplies it by the number of releases tested "
         f"(Bonferroni). Threshold {e(attr.get('threshold'))}. Phone and e-mail renderings erased by "
         "normalisation are reported as flattened and not used. The bounds assume that the master secret was "
         "kept secret, that the ledger is intact and that the registry was never re-imported from a released "
         "file (jejak refuses such an import). A verdict that the data is an unmarked copy of the registry "
         "rests on a bound of its own: the chance that up to 3 recipients pooling their copies put back the "
         "registry's exact values."),
        ("Reproduction",
         "With the same registry file, ledger and master secret: <code>jejak release reproduce RELEASE_ID "
         "--out F</code> regenerates each suspect release byte-for-byte (its SHA-256 is in the ledger), and "
         "<code>jejak investigate EVIDENCE --json V.json</code> recomputes this verdict; <code>jejak report "
         "V.json</code> renders this report. The master secret itself is never part of a report."),
    ]
    steps_id = [
        ("Barang bukti",
         "Berkas di-hash (SHA-256) saat diterima dan tidak pernah diubah; periksa dengan <code>sha256sum</code>. "
         "Nama kolom dalam berkas tidak dipercaya: jenis setiap kolom disimpulkan dari nilainya dan dipetakan "
         "ke kolom registri (bagian 2)."),
        ("Penautan",
         "Setiap baris ditautkan ke registri melalui pengenalnya (NIK, nomor kartu, e-mail, telepon; sama persis "
         "setelah normalisasi, dibandingkan dengan semua versi setiap baris), dan baris tanpa pengenal yang "
         "dapat dipakai melalui penautan probabilistik (model Fellegi–Sunter, splink, atas nama, tanggal lahir, "
         "alamat, jenis kelamin dan wilayah)."),
        ("Kelas",
         "<i>terkini</i>: tertaut dan paling sesuai dengan versi yang berlaku pada snapshot terbaru; "
         "<i>versi lama</i>: lebih sesuai dengan versi sebelumnya; <i>kanari</i>: rekaman sintetis yang "
         "tercatat di buku besar untuk tepat satu rilis; <i>palsu</i>: pengenal berbentuk sah yang tidak pernah "
         "ada di versi mana pun (kanari termasuk); <i>tidak sah</i>: pengenal mustahil (mis. hari NIK 32, "
         "kecamatan tak dikenal, nomor urut 0000); <i>duplikat</i>: baris yang mengulang identitas baris "
         "sebelumnya. Orang dihitung sebagai kunci registri yang berbeda."),
        ("Penanggalan",
         f"{e(_sentence(snap.get('method')) or 'Tidak ditentukan')}. Nilai setiap baris tertaut berlaku pada selang "
         "[berlaku-sejak, berlaku-hingga) versi registri, dipersempit oleh kolom cap waktunya; jendela adalah "
         "selang terbesar yang konsisten dengan baris terbanyak."),
        ("Atribusi",
         "Tanda setiap rilis adalah simbol pseudo-acak berkunci: AES-128 atas digest baris dengan kunci yang "
         "diturunkan (HKDF-SHA256) dari kunci induk dan id rilis, modulo jumlah m tampilan setara sel itu. Cap "
         "waktu dan nominal dibaca dari selisih nilai bocoran terhadap nilai registri, pada empat tingkat "
         "(persis; dalam 5 detik; dalam satu menit; dalam 5 menit), sehingga derau yang ditambahkan pembocor "
         "hanya memindahkan bukti ke tingkat yang lebih kasar. Untuk rilis yang tidak bersalah, sel yang bocor "
         "cocok dengan peluang tepat c/m, bebas dari isi kebocoran; jumlah sel cocok memiliki peluang ekor atas "
         "yang eksak. Nilai-p rilis adalah ekor tingkat terkecil dikalikan jumlah tingkat, digabung dengan bukti "
         "kanari (metode Fisher); batas mengalikannya dengan jumlah rilis yang diuji (Bonferroni). Ambang "
         f"{e(attr.get('threshold'))}. Kanal yang dihapus pembocor dilaporkan dan tidak dipakai. Batas ini "
         "mengandaikan kunci induk tetap rahasia, buku besar utuh, dan registri tidak pernah diimpor ulang dari "
         "berkas rilis (jejak menolak impor semacam itu)."),
        ("Reproduksi",
         "Dengan berkas registri, buku besar dan kunci induk yang sama: <code>jejak release reproduce ID_RILIS "
         "--out F</code> membuat ulang setiap rilis tersangka bita demi bita (SHA-256-nya ada di buku besar), "
         "dan <code>jejak investigate BUKTI --json V.json</code> menghitung ulang putusan ini; <code>jejak "
         "report V.json</code> membuat laporan ini. Kunci induk tidak pernah dimuat dalam laporan."),
    ]
    steps = steps_id if lang == "id" else steps_en
    items = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in steps)
    suspects = _suspects(verdict)
    rel = ""
    if suspects:
        rel = _table(["release", "recipient", "as of", "created", "log10 bound"],
                     [[f"<code>{e(r.get('release_id'))}</code>", e(r.get("recipient")), e(r.get("as_of")),
                       e(r.get("created_at")), e(r.get("log10_bound"))] for r in suspects])
    return f"{_kv_table(ident)}<dl>{items}</dl>{rel}"


# -- page ------------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:"DejaVu Sans","Liberation Sans",Arial,Helvetica,sans-serif;color:#1a1a1a;margin:0;
  background:#f4f5f7;line-height:1.45;font-size:15px}
main{max-width:980px;margin:0 auto;background:#fff;padding:28px 40px 40px}
header{border-bottom:4px solid #0d47a1;margin-bottom:18px;padding-bottom:10px}
h1{font-size:26px;margin:0 0 4px;color:#0d47a1}
h2{font-size:20px;margin:30px 0 10px;color:#0d47a1;border-bottom:1px solid #ccd;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 8px}
.meta{color:#555;font-size:13px}
.conf{background:#fff3e0;border-left:4px solid #e65100;padding:6px 10px;font-size:12.5px;margin:10px 0}
.verdict{font-size:16.5px;background:#e8f0fe;border-left:5px solid #0d47a1;padding:14px 16px;margin:8px 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{flex:1 1 160px;border:1px solid #ccd;border-radius:6px;padding:10px 12px;font-size:12.5px;color:#444}
.card .big{font-size:17px;font-weight:bold;color:#111;margin-bottom:2px}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:13px}
th,td{border-bottom:1px solid #dde;padding:4px 6px;text-align:left;vertical-align:top}
thead th{background:#eef1f6}
td.num,th.num{text-align:right;white-space:nowrap}
table.kv th{width:30%;background:#f7f8fa;font-weight:600}
tr.suspect td{background:#ffebee;font-weight:600}
tr.specific td{background:#fff8e1}
tr.muted td,.muted{color:#888}
.badge{background:#e65100;color:#fff;border-radius:3px;padding:1px 6px;font-size:11.5px;white-space:nowrap}
code{font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:12px}
code.hash{word-break:break-all}
td code{white-space:nowrap}
table.releases{font-size:11.5px}
table.releases td{white-space:nowrap}
table.releases td:nth-child(2),table.releases th{white-space:normal}
.scroll{overflow-x:auto}
figure{margin:12px 0}
figcaption{font-weight:600;margin-bottom:6px}
svg text{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;font-size:12px;fill:#222}
svg text.small{font-size:10.5px}
dt{font-weight:700;margin-top:8px}
dd{margin:2px 0 6px 0}
footer{margin-top:30px;color:#666;font-size:12px;border-top:1px solid #ccd;padding-top:8px}
@page{size:A4;margin:14mm 12mm}
@media print{
  body{background:#fff;font-size:11pt}
  main{max-width:none;padding:0}
  h2{break-after:avoid}
  figure,table.kv,.cards,.verdict,tr{break-inside:avoid}
  section.sec-appendix{break-before:page}
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def render_html(verdict: dict[str, Any], lang: str = "id") -> str:
    """Render the report as one self-contained HTML page (no network loads, no per-person data)."""
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    check_verdict(verdict)
    title = t("title", lang)
    created = fmt_date(verdict.get("created_at"), lang)
    sections = [
        ("verdict", t("s_verdict", lang),
         f'<p class="verdict">{verdict_paragraph(verdict, lang)}</p>{_key_figures(verdict, lang)}'),
        ("evidence", t("s_evidence", lang), section_evidence(verdict, lang)),
        ("verification", t("s_verify", lang), section_verification(verdict, lang)),
        ("dating", t("s_dating", lang), section_dating(verdict, lang)),
        ("attribution", t("s_attr", lang), section_attribution(verdict, lang)),
        ("impact", t("s_impact", lang), section_impact(verdict, lang)),
        ("appendix", t("s_method", lang), section_method(verdict, lang)),
    ]
    body = "".join(
        f'<section id="{e(sid)}" class="sec-{e(sid)}"><h2>{e(heading)}</h2>{content}</section>'
        for sid, heading, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{e(lang)}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} — {e(verdict.get('case_id'))}</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>{e(title)}</h1>"
        f'<div class="meta">{e(t("case", lang))} <code>{e(verdict.get("case_id"))}</code> · '
        f'{e(t("created", lang))} {e(created)} · {e(t("dataset", lang))} <code>{e(verdict.get("dataset"))}</code></div>'
        f'<div class="conf">{e(t("confidential", lang))}</div></header>'
        f"{body}<footer>{e(t('footer', lang).format(v=verdict.get('jejak_version', __version__)))}</footer>"
        "</main></body></html>\n"
    )


def write_html(verdict: dict[str, Any], out: Path, lang: str = "id") -> Path:
    """Write the report atomically (a reader never sees half a file)."""
    out = out.expanduser().resolve()
    if not out.parent.is_dir():
        raise ReportError(f"the directory {out.parent} does not exist")
    text = render_html(verdict, lang)
    tmp = out.with_name(f".{out.name}.partial")
    write_private(tmp, text)  # the report names people's regions, branches and counts: owner-only
    tmp.replace(out)
    return out


def render_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print a rendered report to PDF with headless Chromium (its print stylesheet applies)."""
    from jejak.browser import print_to_pdf

    return private_file(print_to_pdf(html_path, pdf_path))


def verdict_from(ws_cases: Path, case_or_file: str) -> tuple[dict[str, Any], Path]:
    """A verdict from a JSON file path, or from ``<cases>/<case_id>/verdict.json``."""
    p = Path(case_or_file)
    if p.suffix.lower() == ".json" or p.is_file():
        return load_verdict(p), p
    if "/" in case_or_file or case_or_file.startswith("."):
        raise ReportError(f"{case_or_file}: no such verdict file")
    path = ws_cases / case_or_file / "verdict.json"
    if not path.exists():
        raise ReportError(f"no case {case_or_file!r} in the workspace (looked for {path})")
    return load_verdict(path), path
