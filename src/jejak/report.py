"""The investigation report: one self-contained HTML file (and its PDF) rendered from a verdict.

The report is read by a director, a regulator and a court, so it is built for three readers at
once: a one-paragraph verdict with the false-accusation bound in words at the top, charts and
tables in the middle, and a method appendix at the end that lets an independent expert
reproduce every number from the evidence file, the registry, the ledger and the master secret.

It is rendered from the verdict JSON alone (``docs/verdict.md``), which holds counts and release
ids but no person's data, so the report cannot disclose any either. This module computes what
the report says — numbers, words, dates, the bound in words, chart geometry — as plain data
(:func:`report_context`); the markup is Jinja2 templates in ``jejak/templates/report/``,
rendered with autoescape on, so escaping a value from the verdict is the engine's default and
not a call someone must remember. The page carries a Content-Security-Policy that forbids every
remote load, so it opens offline and leaks nothing about who reads it. The web service's verdict
page includes the same ``report/_content.html`` with the same context.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import platform
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from jejak import __version__
from jejak.errors import JejakError
from jejak.files import private_file, write_private
from jejak.findings import extraction_window, people_affected, specific_data

if TYPE_CHECKING:  # jinja2 is imported when a page is rendered: an investigation only needs the words here
    import jinja2
    from jinja2.runtime import Context

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


def short_bound(log10_bound: float | None) -> tuple[str, str]:
    """A bound for a table cell: ``("below", "41187")`` for < 10^-41187, ``("p", "0.0123")``, or
    ``("none", "–")``; the template draws the superscript."""
    if log10_bound is None:
        return "none", "–"
    if log10_bound <= -3:
        return "below", str(math.floor(-log10_bound + 1e-9))
    return "p", f"{10 ** min(0.0, log10_bound):.3g}"


def powers(text: str) -> list[tuple[str, str]]:
    """'below 1 in 10^12 (a trillion)' -> [('below 1 in ', '12'), (' (a trillion)', '')].

    The exponent is split out as data because a superscript is markup: the template draws
    ``10<sup>12</sup>`` and escapes the words around it, so no HTML is built here.
    """
    parts = re.split(r"10\^([0-9]+)", text)
    return [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]


def first_upper(text: str) -> str:
    """Capitalise the first letter only (Jinja's ``capitalize`` would lower-case the rest)."""
    return text[:1].upper() + text[1:]


def _s(value: object) -> str:
    """A verdict value as display text: a missing value shows as nothing, never as 'None'."""
    return "" if value is None else str(value)


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


# -- the template environment ----------------------------------------------------------------------

# Templates read the language from their context, so one cached environment serves both
# languages and a page that includes a partial needs nothing but the partial's context.


def _t(ctx: Context, key: str) -> str:
    return t(key, ctx["lang"])


def _fmt_int(ctx: Context, n: object) -> str:
    return fmt_int(n, ctx["lang"])


def _fmt_pct(ctx: Context, part: float, whole: float = 1) -> str:
    return fmt_pct(part, whole, ctx["lang"])


def _fmt_date(ctx: Context, value: object, short: bool = False) -> str:
    return fmt_date(value, ctx["lang"], short=short)


def install_helpers(env: jinja2.Environment) -> None:
    """Give an environment the globals and filters the report templates use.

    For a page whose own environment (another loader, say) includes ``report/_content.html``;
    that environment must also autoescape and find the package's ``templates`` folder.
    """
    from jinja2 import pass_context

    env.globals["t"] = pass_context(_t)
    env.filters.update(fmt_int=pass_context(_fmt_int), fmt_pct=pass_context(_fmt_pct),
                       fmt_date=pass_context(_fmt_date), short_bound=short_bound, powers=powers,
                       first_upper=first_upper)


@functools.cache
def environment() -> jinja2.Environment:
    """jejak's template environment (the report's, the notices'), shared by the process: add nothing to it.

    Autoescape is on for every template, whatever its extension, and an undefined name raises:
    a template that reads a key the context lacks fails loudly instead of printing nothing.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jejak", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    install_helpers(env)
    return env


# -- charts: geometry here, SVG in templates/report/_macros.html -----------------------------------


def chart_stacked(title: str, segments: Sequence[tuple[str, float, str]], lang: str,
                  width: int = 900) -> dict[str, Any]:
    """One horizontal bar split into coloured segments, with a legend of counts and shares."""
    total = sum(v for _, v, _ in segments) or 1
    x = 0.0
    bars = []
    for label, v, colour in segments:
        w = width * v / total
        if w > 0:
            bars.append({"x": f"{x:.2f}", "w": f"{w:.2f}", "colour": colour, "label": label,
                         "value": fmt_int(v, lang)})
        x += w
    legend = []
    for i, (label, v, colour) in enumerate(segments):
        lx, ly = (i % 2) * (width // 2), 54 + (i // 2) * 22
        legend.append({"x": lx, "y": ly, "colour": colour, "label": label, "value": fmt_int(v, lang),
                       "share": fmt_pct(v, total, lang)})
    height = 54 + ((len(segments) + 1) // 2) * 22
    return {"title": title, "width": width, "height": height, "bars": bars, "legend": legend}


def chart_bars(title: str, items: Sequence[tuple[str, float]], lang: str, colour: str = "#1565c0",
               width: int = 900, limit: int = 12) -> dict[str, Any]:
    """Horizontal bars, largest first, with the value at the end of each bar (no rows: no chart)."""
    items = sorted(items, key=lambda kv: -kv[1])[:limit]
    label_w, row_h = 230, 24
    top = max((v for _, v in items), default=0) or 1
    room = width - label_w - 90
    rows = []
    for i, (label, v) in enumerate(items):
        w = max(1.0, room * v / top)
        rows.append({"y": i * row_h, "label": label, "w": f"{w:.1f}", "value": fmt_int(v, lang),
                     "value_x": f"{label_w + w + 6:.1f}"})
    return {"title": title, "width": width, "height": len(items) * row_h + 4, "label_w": label_w,
            "colour": colour, "rows": rows}


def chart_timeline(
    snapshots: Iterable[object], window: tuple[object, object] | None,
    markers: Sequence[tuple[object, str, str]], lang: str, width: int = 900,
) -> dict[str, Any] | None:
    """Registry snapshots, the extraction window and release dates on one time axis (None: no dates).

    ``markers`` are ``(date, label, colour)``; labels are staggered over three lines so that
    releases a few days apart stay readable.
    """
    snaps = [d for d in (_as_date(s) for s in snapshots) if d]
    win = (_as_date(window[0]), _as_date(window[1])) if window else (None, None)
    marks = [(d, label, colour) for d, label, colour in ((_as_date(m[0]), m[1], m[2]) for m in markers) if d]
    days = [*snaps, *[d for d in win if d], *[m[0] for m in marks]]
    if not days:
        return None
    lo, hi = min(days).toordinal() - 20, max(days).toordinal() + 20
    left, right, axis_y = 20, width - 20, 120

    def x(d: date) -> float:
        return left + (right - left) * (d.toordinal() - lo) / max(1, hi - lo)

    chart: dict[str, Any] = {"width": width, "height": axis_y + 80, "left": left, "right": right,
                             "axis_y": axis_y, "ticks": _month_ticks(lo, hi, x, lang), "window": None}
    if win[0] and win[1]:
        x0, x1 = x(win[0]), x(win[1])
        chart["window"] = {"x": f"{x0:.1f}", "w": f"{max(3.0, x1 - x0):.1f}",
                           "label_x": f"{min(max((x0 + x1) / 2, left + 60), right - 60):.1f}"}
    chart["snaps"] = [{"x": f"{x(d):.1f}", "label": d.isoformat()} for d in snaps]
    chart["marks"] = []
    for i, (d, label, colour) in enumerate(marks):
        mx, ly = x(d), 18 + (i % 3) * 16
        anchor = "start" if mx < width * 0.6 else "end"
        chart["marks"].append({"x": f"{mx:.1f}", "y": ly, "anchor": anchor, "colour": colour,
                               "text_x": f"{mx + (4 if anchor == 'start' else -4):.1f}",
                               "label": f"{label} ({d.isoformat()})"})
    return chart


def _month_ticks(lo: int, hi: int, x: Any, lang: str) -> list[dict[str, str]]:
    """Month ticks between two day ordinals: every month up to 14 months, then quarters, then years."""
    first = date.fromordinal(lo)
    month = date(first.year, first.month, 1)
    span_months = (hi - lo) / 30.4
    step = 1 if span_months <= 14 else 3 if span_months <= 40 else 12
    ticks = []
    while month.toordinal() <= hi:
        if month.toordinal() >= lo and (month.month - 1) % step == 0:
            name = _MON[lang][month.month - 1]
            label = f"{name} {month.year}" if month.month == 1 or step == 12 else name
            ticks.append({"x": f"{x(month):.1f}", "label": label})
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return ticks


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


def _sentence(text: object) -> str:
    s = str(text or "").strip().rstrip(".")
    return s[:1].upper() + s[1:]


# -- what the templates show -----------------------------------------------------------------------
# Every function below returns display-ready data (strings, numbers, lists, dicts) and no markup.


def report_context(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    """Everything ``report/report.html`` and ``report/_content.html`` need, for one language.

    A page of its own (the web service's verdict page) can ``{% include "report/_content.html" %}``
    with this context and shows the same sections as the offline report.
    """
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    check_verdict(verdict)
    return {
        "lang": lang,
        "csp": CSP,
        "case_id": _s(verdict.get("case_id")),
        "created": fmt_date(verdict.get("created_at"), lang),
        "dataset": _s(verdict.get("dataset")),
        "footer": t("footer", lang).format(v=verdict.get("jejak_version", __version__)),
        **paragraph_context(verdict, lang),
        "cards": _key_figures(verdict, lang),
        "evidence": _evidence(verdict, lang),
        "verification": _verification(verdict, lang),
        "dating": _dating(verdict, lang),
        "attribution": _attribution(verdict, lang),
        "impact": _impact(verdict, lang),
        "method": _method(verdict, lang),
    }


def _suspect(r: dict[str, Any], lang: str) -> dict[str, Any]:
    agree, read = _marks_summary(r)
    channels = []
    for name, ch in (r.get("channels") or {}).items():
        n, m = ch.get("read") or 0, ch.get("alphabet_mean") or 0
        chance = ch["chance"] if ch.get("chance") is not None else (n / m if m else 0)
        channels.append({"name": _CHANNEL.get(name, {}).get(lang, name), "read": n, "agree": ch.get("agree") or 0,
                         "chance": chance, "flattened": bool(ch.get("flattened"))})
    kind = r.get("recipient_kind")
    return {
        "release_id": _s(r.get("release_id")), "recipient": _s(r.get("recipient")),
        "kind": _kind(kind, lang) if kind else "",  # optional in v1: said only when the verdict has it
        "as_of": _s(r.get("as_of")), "created_at": _s(r.get("created_at")),
        "sent": fmt_date(r.get("created_at"), lang),
        "agree": agree, "read": read, "canary_hits": r.get("canary_hits"),
        "bound": bound_in_words(r.get("log10_bound"), lang), "log10_bound": _s(r.get("log10_bound")),
        "channels": channels, "canary_channel": _CHANNEL["canary"][lang],
    }


def paragraph_context(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    """What ``report/_verdict_paragraph.html`` needs: ``lang``, ``paragraph`` and ``suspects``."""
    v = verdict.get("verification") or {}
    attr = verdict.get("attribution") or {"verdict": "not-run"}
    ev = verdict.get("evidence") or {}
    suspects = [_suspect(r, lang) for r in _suspects(verdict)]
    kind = attr.get("verdict")
    if (kind == "release" and not suspects) or kind not in ("release", "unreleased", "altered", "not-ours",
                                                            "inconclusive"):
        kind = "not-run"  # a release verdict that names nobody says no more than one never run
    window = extraction_window(verdict)
    matched = v.get("matched", 0)
    return {"lang": lang, "suspects": suspects, "paragraph": {
        "file": _s(ev.get("member") or Path(str(ev.get("path") or "?")).name),
        "ours": attr.get("verdict") != "not-ours" and matched > 0,
        "rows": v.get("rows", 0), "matched": matched, "people": people_affected(verdict),
        "fabricated": v.get("fabricated"), "invalid": v.get("invalid"),
        "padded": bool((v.get("fabricated") or 0) + (v.get("invalid") or 0)),
        "specific": specific_words(verdict, lang),
        "window": window.words(lang, lambda d: fmt_date(d, lang)) if window else "",
        "attribution": kind, "tested": attr.get("tested"), "missing": _s(attr.get("missing")),
        "candidates": ", ".join(f"{c.get('recipient')} ({c.get('release_id')})"
                                for c in (attr.get("candidates") or [])[:5]),
    }}


def _key_figures(verdict: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    """The cards under the verdict: (figure, what it counts)."""
    v = verdict.get("verification") or {}
    source = ", ".join(str(r.get("recipient")) for r in _suspects(verdict)) or {
        "unreleased": "pusat data / ekspor tak tercatat" if lang == "id" else "data centre / unlogged export",
        "altered": "tanda diubah: kandidat terlampir" if lang == "id" else "marks altered: candidates listed",
        "not-ours": "bukan data kita" if lang == "id" else "not our data",
    }.get(str((verdict.get("attribution") or {}).get("verdict")), t("k_unknown", lang))
    found = extraction_window(verdict)
    window = (f"{fmt_date(found.start, lang, short=True)} – "
              + (fmt_date(found.end, lang, short=True) if found.end else ("kini" if lang == "id" else "now"))
              if found else t("k_unknown", lang))
    return [
        (fmt_int(v.get("rows"), lang), t("k_rows", lang)),
        (fmt_int(v.get("matched"), lang), t("k_genuine", lang)),
        (fmt_int(people_affected(verdict), lang), t("k_people", lang)),
        (window, t("k_window", lang)),
        (source, t("k_source", lang)),
    ]


def _evidence(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    ev = verdict.get("evidence") or {}
    rates = (verdict.get("verification") or {}).get("columns") or {}
    facts: list[tuple[str, str, str]] = [  # (label, value, how it is set: "" | "code" | "hash")
        (t("file", lang), Path(str(ev.get("path") or "")).name, ""),
        *([(t("member", lang), _s(ev.get("member")), "")] if ev.get("member") else []),
        ("SHA-256", _s(ev.get("sha256")), "hash"),
        (t("size", lang), f"{fmt_int(ev.get('size'), lang)} {t('bytes', lang)}", ""),
        (t("format", lang), _s(ev.get("format")), ""),
        (t("encoding", lang), _s(ev.get("encoding") or "–"), ""),
        (t("delimiter", lang), repr(ev["delimiter"]) if ev.get("delimiter") else "–", ""),
        (t("header", lang), t("yes", lang) if ev.get("header") else t("no", lang), ""),
        (t("rows_read", lang), fmt_int(ev.get("rows"), lang), ""),
        (t("skipped", lang), fmt_int(ev.get("skipped_rows", len(ev.get("skipped") or [])), lang), ""),
    ]
    mapping = []
    for col, m in (ev.get("mapping") or {}).items():
        target = m.get("column")
        rate = (rates.get(target) or {}).get("rate") if target else None
        mapping.append({"column": _s(col), "target": _s(target), "role": _s(m.get("role")),
                        "confidence": fmt_pct(m.get("confidence") or 0, 1, lang),
                        "agree": fmt_pct(rate, 1, lang) if rate is not None else "–"})
    return {"facts": facts, "mapping": mapping}


def _verification(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
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
    linked = ", ".join(f"{k}: {fmt_int(n, lang)}" for k, n in (v.get("linked_by") or {}).items())
    return {
        "classes": chart_stacked(t("rows_classes", lang), classes, lang),
        "status": chart_stacked(t("status_title", lang), states, lang),
        "facts": [
            (t("duplicates", lang), f"{fmt_int(v.get('duplicates'), lang)} "
                                    f"({fmt_pct(v.get('duplicates') or 0, rows, lang)})", ""),
            (t("linked_by", lang), linked or "–", ""),
            (t("registry_rows", lang), fmt_int(v.get("registry_rows"), lang), ""),
        ],
    }


def _dating(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    snap = verdict.get("snapshot") or {}
    markers: list[tuple[object, str, str]] = []
    for r in _suspects(verdict):
        markers.append((r.get("created_at"), f"{t('release_sent', lang)}: {r.get('recipient')}", "#c62828"))
        if r.get("as_of") and _as_date(r.get("as_of")) != _as_date(r.get("created_at")):
            markers.append((r.get("as_of"), t("release_asof", lang), "#6a1b9a"))
    found = extraction_window(verdict)
    window = (found.start, found.end) if found and found.end else None
    return {
        "window": found.words(lang, lambda d: fmt_date(d, lang)) if found else "",
        "support": snap.get("support"), "contradicting": snap.get("contradicting"),
        "dated_rows": snap.get("dated_rows"),
        "timeline": chart_timeline((verdict.get("registry") or {}).get("snapshots") or [], window, markers, lang),
    }


def _attribution(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    attr = verdict.get("attribution") or {}
    releases = attr.get("releases") or []
    threshold = attr.get("threshold")
    rows = []
    for r in releases[:MAX_RELEASE_ROWS]:
        agree, read = _marks_summary(r)
        rows.append({
            "release_id": _s(r.get("release_id")), "recipient": _s(r.get("recipient")), "as_of": _s(r.get("as_of")),
            "sent": str(r.get("created_at") or "")[:10], "in_common": fmt_int(r.get("rows_in_common"), lang),
            # a registered release carries no marks: nothing was read, which is not "0 of 0 agree"
            "marks": f"{fmt_int(agree, lang)} / {fmt_int(read, lang)}" if r.get("kind") != "registered" else "–",
            "canaries": fmt_int(r.get("canary_hits"), lang), "log10_bound": r.get("log10_bound"),
            "suspect": bool(r.get("suspect")),
        })
    flat = attr.get("flattened_channels") or []
    return {
        "run": attr.get("verdict") not in (None, "not-run"),
        "tested": attr.get("tested"),
        "threshold_log10": math.log10(threshold) if isinstance(threshold, int | float) and threshold > 0 else None,
        "releases": rows,
        "more": max(0, len(releases) - MAX_RELEASE_ROWS),
        "flattened": ", ".join(_CHANNEL.get(c, {}).get(lang, c) for c in flat),
        "explanation": _s(attr.get("explanation") or ""),
        "missing": _s(attr.get("missing") or ""),
    }


def _impact(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    imp = verdict.get("impact") or {}
    categories, _ = impact_categories(verdict)
    provinces = [(f"{p.get('name') or ''} ({p.get('code')})", p.get("people") or 0) for p in imp.get("provinces") or []]
    branches = [(f"{t('branch', lang)} {b.get('code')}", b.get("people") or 0) for b in imp.get("branches") or []]
    regencies = sorted(imp.get("regencies") or [], key=lambda r: -(r.get("people") or 0))[:10]
    status = (verdict.get("verification") or {}).get("status") or {}
    return {
        "people": people_affected(verdict),
        "deceased": imp.get("deceased", status.get("deceased")),
        "specific": specific_words(verdict, lang),
        "categories": [{"name": _CATEGORY.get(key, {}).get(lang, key),
                        "columns": ", ".join(c.get("columns") or []) or "–", "people": c.get("people"),
                        "specific": bool(c.get("specific") and c.get("people"))} for key, c in categories.items()],
        "provinces": chart_bars(t("provinces", lang), provinces, lang),
        "branches": chart_bars(t("branches", lang), branches, lang, colour="#00695c"),
        "regencies": [{"code": _s(r.get("code")), "name": _s(r.get("name")), "people": r.get("people")}
                      for r in regencies],
    }


def _method(verdict: dict[str, Any], lang: str) -> dict[str, Any]:
    ev = verdict.get("evidence") or {}
    reg = verdict.get("registry") or {}
    snap = verdict.get("snapshot") or {}
    versions: dict[str, Any] = verdict["versions"] if isinstance(verdict.get("versions"), dict) else {}
    soft = [f"jejak {verdict.get('jejak_version', '?')} (investigation)",
            f"jejak {__version__} (report), Python {platform.python_version()}"]
    soft += [f"{k} {v}" for k, v in sorted(versions.items())]
    dataset = (f"{verdict.get('dataset')}: {fmt_int(reg.get('rows'), lang)} rows, {fmt_int(reg.get('versions'), lang)} "
               f"versions, snapshots {', '.join(map(str, reg.get('snapshots') or []))}")
    return {
        "facts": [
            (t("case", lang), _s(verdict.get("case_id")), "code"),
            (t("schema", lang), _s(verdict.get("schema")), ""),
            (t("verdict_sha", lang), verdict_digest(verdict), "hash"),
            (t("evidence_sha", lang), _s(ev.get("sha256")), "hash"),
            (t("dataset", lang), dataset, ""),
            (t("software", lang), "; ".join(soft), ""),
        ],
        "dating_method": _sentence(snap.get("method")),
        "threshold": _s((verdict.get("attribution") or {}).get("threshold")),
    }


# -- page ------------------------------------------------------------------------------------------


def render_html(verdict: dict[str, Any], lang: str = "id") -> str:
    """Render the report as one self-contained HTML page (no network loads, no per-person data)."""
    return environment().get_template("report/report.html").render(report_context(verdict, lang))


def verdict_paragraph(verdict: dict[str, Any], lang: str) -> Markup:
    """The verdict in one paragraph (HTML, escaped by the template): who, when, how much, how sure."""
    return Markup(environment().get_template("report/_verdict_paragraph.html")
                  .render(paragraph_context(verdict, lang)))


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
