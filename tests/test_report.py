"""The investigation report: words, escaping, self-containment, and a real browser rendering it."""

from __future__ import annotations

import copy
import json
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pytest
from typer.testing import CliRunner

from jejak.browser import dump_dom, screenshot
from jejak.cli import app
from jejak.report import (
    CSP,
    bound_in_words,
    environment,
    install_helpers,
    render_html,
    render_pdf,
    report_context,
    write_html,
)

FIXTURE = Path(__file__).parent / "data" / "verdict_example.json"


def verdict() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize(
    ("log10", "lang", "expected"),
    [
        (-9.0, "en", "below 1 in a billion"),
        (-9.7, "en", "below 1 in a billion"),  # rounded towards the safe side, never "1 in 5 billion"
        (-8.99, "en", "below 1 in a million"),
        (-12.0, "en", "below 1 in 10^12 (a trillion)"),
        (-41187.4, "en", "below 1 in 10^12 (a trillion)"),  # the smallest figure stated in words
        (-3.2, "en", "below 1 in a thousand"),
        (-9.5, "id", "kurang dari 1 banding satu miliar"),
        (-6.0, "id", "kurang dari 1 banding satu juta"),
        (-41187.4, "id", "kurang dari 1 banding 10^12 (satu triliun)"),
        (-1.0, "en", "about 1 in 10: not enough to accuse anyone"),
        (-0.1, "en", "is high (79.4%): this is not evidence"),
        (float("-inf"), "en", "below 1 in 10^12 (a trillion)"),
    ],
)
def test_the_false_accusation_bound_reads_as_words(log10: float, lang: str, expected: str) -> None:
    assert expected in bound_in_words(log10, lang)


def test_the_verdict_paragraph_says_who_when_how_much_and_how_sure() -> None:
    page = render_html(verdict(), "en")
    para = re.search(r'<p class="verdict">(.*?)</p>', page, re.S)
    assert para
    text = re.sub(r"<[^>]+>", "", para.group(1))
    assert "PT Vendor Data Nusantara" in text and "R-20250114-021530-7K3Q9M2X" in text  # who
    assert "28 December 2024" in text and "6 January 2025" in text  # when
    assert "11,712" in text and "11,498 people" in text  # how much
    assert "the chance that an innocent recipient scores this well is below 1 in 1012 (a trillion)" in text  # how sure
    assert "log<sub>10</sub> = -41187" in page  # the exact figure lives in the technical section


def test_indonesian_report_uses_indonesian_words_and_number_format() -> None:
    page = render_html(verdict(), "id")
    assert '<html lang="id">' in page
    assert "Kesimpulan" in page and "11.498 orang" in page and "Januari 2025" in page
    assert "penerima yang tidak bersalah" in page
    assert "Verdict" not in page


def test_every_section_is_present_in_both_languages() -> None:
    for lang in ("id", "en"):
        page = render_html(verdict(), lang)
        for section in ("verdict", "evidence", "verification", "dating", "attribution", "impact", "appendix"):
            assert f'id="{section}"' in page
        assert page.count("<svg") >= 5  # two stacked bars, timeline, provinces, branches


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render_html(verdict(), "en")
    [policy] = [a["content"] for tag, a in parse(page).tags if tag == "meta" and a.get("http-equiv")
                == "Content-Security-Policy"]
    assert policy == CSP  # as the browser reads the attribute, whichever entity escapes the quotes
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"\bsrc=", r"url\(", r"@import", r"href="):
        assert not re.search(pattern, page, re.I), pattern
    # The only URLs are the SVG namespace identifiers, which are names, not fetches.
    assert set(re.findall(r"https?://[^\"' <]+", page)) == {"http://www.w3.org/2000/svg"}


def test_every_value_from_the_verdict_is_escaped() -> None:
    v = verdict()
    evil = '<script>alert("x")</script>'
    v["attribution"]["releases"][0]["recipient"] = evil
    v["evidence"]["mapping"][evil] = {"column": None, "role": "text", "confidence": 0.0}
    v["evidence"]["member"] = evil
    v["impact"]["provinces"][0]["name"] = evil
    v["case_id"] = evil
    page = render_html(v, "en")
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 5


class Page(HTMLParser):
    """A rendered page as the browser's parser sees it: every element with its attributes, the
    visible text (no <style>), and the text of each <section id=...>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._style = False
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._style = tag == "style"
        if tag == "section":
            self._section = dict(attrs).get("id")
            self.sections[str(self._section)] = []

    def handle_endtag(self, tag: str) -> None:
        self._style = False
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if not self._style:
            self.text.append(data)
            if self._section:
                self.sections[self._section].append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


EVIL = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>")


def hostile(v: Any, key: str = "", n: list[int] | None = None) -> Any:
    """Every string of a verdict, and every column name used as a key, with a payload appended.

    Verdict-kind words stay as they are, so each branch of the report is still taken.
    """
    n = n if n is not None else [0]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            name = k + EVIL[len(k) % 3] if key in ("mapping", "columns", "linked_by") else k
            out[name] = x if k in ("schema", "verdict", "kind", "role") else hostile(x, k, n)
        return out
    if isinstance(v, list):
        return [hostile(x, key, n) for x in v]
    if isinstance(v, str):
        n[0] += 1
        return v + EVIL[n[0] % 3]
    return v


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("kind", ["release", "altered", "inconclusive", "unreleased"])
def test_markup_in_any_string_of_the_verdict_renders_as_text(lang: str, kind: str) -> None:
    v = verdict()
    v["evidence"]["notes"] = "curated by the seller"
    for r in v["attribution"]["releases"]:
        r["purpose"] = "claims processing"
    v = hostile(v)
    v["attribution"]["verdict"] = kind
    v["attribution"]["candidates"] = [{"recipient": EVIL[0], "release_id": EVIL[1]}]
    v["attribution"]["missing"] = EVIL[1]
    page = parse(render_html(v, lang))
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object")]
    assert not [(tag, a) for tag, a in page.tags for name in a if name.startswith("on")]
    assert [tag for tag, _ in page.tags].count("svg") == 5  # only the report's own charts
    text = "".join(page.text)
    # each value is shown to the reader as the characters it is, not dropped: the file and
    # dataset names, a recipient, column names of the file and of the registry
    for value in ("dijual_bpjs_sample.jsonl", "peserta", "PT Vendor Data Nusantara", "no_kartu", "NOKA"):
        assert any(value + evil in text for evil in EVIL), value
    if kind in ("altered", "inconclusive"):
        assert EVIL[1] in text  # the candidates, the missing evidence


def test_the_templates_escape_by_default_and_a_missing_key_fails_loudly() -> None:
    env = environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    for name in ("report/report.html", "report/_content.html", "report/report.css", "notify/x.txt"):
        assert env.autoescape(name) if callable(env.autoescape) else env.autoescape, name
    header = env.get_template("report/_header.html").render(lang="en", case_id="<b>C-1</b>", created="", dataset="")
    assert "&lt;b&gt;C-1&lt;/b&gt;" in header and "<b>" not in header
    assert env.undefined is jinja2.StrictUndefined
    context = report_context(verdict(), "en")
    del context["cards"]
    with pytest.raises(jinja2.UndefinedError, match="cards"):
        env.get_template("report/report.html").render(context)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ attribution.no_such_key }}").render(report_context(verdict(), "en"))


@pytest.mark.parametrize("lang", ["id", "en"])
def test_another_page_that_includes_the_content_shows_the_same_sections(lang: str) -> None:
    """The web service's verdict page includes report/_content.html in a layout of its own."""
    v = verdict()
    offline = parse(render_html(v, lang))
    page_source = '<html><body><nav>jejak</nav><div class="verdict-page">{% include "report/_content.html" %}</div>'
    # the same environment, and an environment of the service's own that only adds our helpers
    own = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.DictLoader({"verdict.html": page_source}),
                                    jinja2.PackageLoader("jejak", "templates")]),
        autoescape=True, undefined=jinja2.StrictUndefined)
    install_helpers(own)
    for template in (environment().from_string(page_source), own.get_template("verdict.html")):
        served = parse(template.render(report_context(v, lang)))
        assert list(served.sections) == ["verdict", "evidence", "verification", "dating", "attribution", "impact",
                                         "appendix"]
        for sid, words in offline.sections.items():
            assert "".join(served.sections[sid]).split() == "".join(words).split(), sid
        assert [t for t, _ in served.tags if t in ("svg", "table")] == \
            [t for t, _ in offline.tags if t in ("svg", "table")]


def test_the_report_holds_no_personal_identifiers() -> None:
    """The verdict has counts, not people; no NIK- or card-like digit run may reach the page."""
    for lang in ("id", "en"):
        page = render_html(verdict(), lang)
        assert not re.search(r"(?<![0-9a-f])[0-9]{13,16}(?![0-9a-f])", page)


def test_an_unknown_language_or_a_non_verdict_is_refused(tmp_path: Path) -> None:
    from jejak.report import ReportError, load_verdict

    with pytest.raises(ReportError):
        render_html(verdict(), "fr")
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "something/else"}')
    with pytest.raises(ReportError, match="not a jejak.verdict/1"):
        load_verdict(bad)


@pytest.mark.parametrize("kind", ["unreleased", "not-ours", "inconclusive", "not-run"])
def test_verdicts_without_a_suspect_render_their_own_conclusion(kind: str) -> None:
    v = verdict()
    if kind == "not-run":
        v["attribution"] = {"verdict": "not-run"}
    else:
        v["attribution"]["verdict"] = kind
        v["attribution"]["suspects"] = []
        v["attribution"]["missing"] = "at least 400 more marked rows" if kind == "inconclusive" else None
        for r in v["attribution"]["releases"]:
            r["suspect"] = False
    page = render_html(v, "en")
    expected = {"unreleased": "never recorded", "not-ours": "not ours", "inconclusive": "at least 400 more",
                "not-run": "has not been run"}[kind]
    assert expected in page
    assert "SUSPECT" not in page


def test_report_command_renders_a_verdict_file_and_a_case(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(FIXTURE), "--out", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "Data Leak Investigation Report" in out.read_text()
    home = tmp_path / "ws"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == 0
    case = home / "cases" / "C-1"
    case.mkdir(parents=True)
    (case / "verdict.json").write_text(FIXTURE.read_text())
    result = runner.invoke(app, ["--home", str(home), "report", "C-1", "--out", str(tmp_path / "c.html")])
    assert result.exit_code == 0, result.output
    assert "Laporan Investigasi" in (tmp_path / "c.html").read_text()
    result = runner.invoke(app, ["--home", str(home), "report", "C-404", "--out", str(tmp_path / "d.html")])
    assert result.exit_code != 0 and not (tmp_path / "d.html").exists()


# -- in a real browser -----------------------------------------------------------------------------


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into (h, w, channels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int64)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) % 256
        elif ftype == 1:  # Sub: a running sum per channel
            cur = (np.cumsum(line.reshape(-1, bpp), axis=0) % 256).reshape(-1)
        else:
            cur = np.zeros(stride, dtype=np.int64)
            b = prev.tolist()
            c = cur.tolist()
            ln = line.tolist()
            for i in range(stride):
                a = c[i - bpp] if i >= bpp else 0
                up = b[i]
                if ftype == 3:
                    c[i] = (ln[i] + (a + up) // 2) % 256
                else:
                    ul = b[i - bpp] if i >= bpp else 0
                    p = a + up - ul
                    pa, pb, pc = abs(p - a), abs(p - up), abs(p - ul)
                    pred = a if pa <= pb and pa <= pc else up if pb <= pc else ul
                    c[i] = (ln[i] + pred) % 256
            cur = np.array(c, dtype=np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def test_the_report_renders_in_chromium_as_a_real_page(tmp_path: Path, chromium: str) -> None:
    html_path = write_html(verdict(), tmp_path / "report.html", "en")
    png = screenshot(html_path, tmp_path / "report.png", width=800, height=700)
    pixels = png_pixels(png)[:, :, :3]
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50  # text, charts and backgrounds, not a blank or uniform page
    dark = (pixels.sum(axis=2) < 200).mean()
    assert 0.005 < dark < 0.5  # there is text on the page, and the page is not black


INSTRUMENT = """<script nonce="jjtest">
window.jjViolations = 0;
document.addEventListener('securitypolicyviolation', () => { window.jjViolations += 1; });
window.addEventListener('error', (ev) => { if (ev.target !== window) window.jjViolations += 1; }, true);
window.addEventListener('load', () => {
  const n = performance.getEntriesByType('resource').length;
  document.documentElement.setAttribute('data-jj', 'resources=' + n + ';violations=' + window.jjViolations);
});
</script>"""


def instrumented(page: str, extra: str = "") -> str:
    """The page with a nonce'd probe that records resource loads and CSP violations into the DOM."""
    csp = CSP + "; script-src 'nonce-jjtest'"
    page = re.sub(r'(http-equiv="Content-Security-Policy" content=")[^"]*"', lambda m: m.group(1) + csp.replace(
        "'", "&#x27;") + '"', page)
    page = page.replace("<title>", INSTRUMENT + "<title>", 1)
    return page.replace("</main>", extra + "</main>", 1)


def probe(path: Path) -> tuple[int, int]:
    dom = dump_dom(path)
    found = re.search(r'data-jj="resources=(\d+);violations=(\d+)"', dom)
    assert found, "the probe did not run"
    return int(found.group(1)), int(found.group(2))


def test_no_resource_load_fails_or_happens_when_chromium_opens_the_report(tmp_path: Path, chromium: str) -> None:
    page = render_html(verdict(), "id")
    clean = tmp_path / "clean.html"
    clean.write_text(instrumented(page))
    assert probe(clean) == (0, 0)
    # The probe itself can fail: a remote image in the same page is blocked and counted.
    dirty = tmp_path / "dirty.html"
    dirty.write_text(instrumented(page, '<img src="http://example.invalid/x.png">'))
    assert probe(dirty)[1] >= 1


def test_the_pdf_has_several_pages(tmp_path: Path, chromium: str) -> None:
    html_path = write_html(verdict(), tmp_path / "report.html", "id")
    pdf = render_pdf(html_path, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3
    assert not list(tmp_path.glob(".*partial"))


def test_a_missing_chromium_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jejak.browser import BrowserError

    monkeypatch.setenv("JEJAK_CHROMIUM", str(tmp_path / "no-such-browser"))
    html_path = write_html(copy.deepcopy(verdict()), tmp_path / "r.html", "en")
    with pytest.raises(BrowserError, match="apt-get install"):
        render_pdf(html_path, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_without_an_impact_step_the_categories_come_from_the_column_mapping() -> None:
    from jejak.report import impact_categories

    v = verdict()
    v["impact"] = {"people": 608, "note": "impact not measured"}
    cats, specific = impact_categories(v)
    assert cats["identity"]["columns"] == ["NOKA", "NIK", "NAMA", "TGLLHR"]
    assert cats["financial"] == {"people": 608, "columns": ["GAJI"], "specific": True} and specific
    assert "health" not in cats
    page = render_html(v, "en")
    assert "specific personal data" in page and "GAJI" in page
