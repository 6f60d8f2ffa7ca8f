"""Does a delimited file start with a header row? Decided from the values, as a reader would.

Leaked CSVs often come without a header. The first row is *data* when one of its values has a
data shape that column names never have (a NIK, card or phone number, any run of three or more
digits, a date, an e-mail address), or when in several columns (at least two, and a third of
them) it repeats a value found further down (a header name is not one of the values: ``JENKEL``
is not ``L`` or ``P``). Otherwise it is taken as a header, which is also the answer for an
all-text sample we cannot tell apart.
"""

from __future__ import annotations

import csv
import io
import re

_DATA_SHAPES = re.compile(
    r"""^\s*(?:
        [+(]?\d[\d\s().+-]{2,}          # numbers: NIK, card, phone, amounts, codes with 3+ digits
      | \d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*  # dates and timestamps
      | [^@\s]+@[^@\s]+\.[^@\s]+         # e-mail
      | -?\d+[.,]\d+                     # decimals
    )\s*$""",
    re.X,
)


def first_row_is_header(rows: list[list[str]]) -> bool:
    """``rows``: the first rows of the file as parsed (at least the first)."""
    if not rows:
        return True
    first, rest = rows[0], rows[1:]
    if any(_DATA_SHAPES.match(v) for v in first if v):
        return False
    repeats = 0
    for j, v in enumerate(first):
        below = {r[j].strip() for r in rest if j < len(r) and r[j].strip()}
        repeats += bool(v.strip()) and v.strip() in below
    # One column repeating its name as a value is a coincidence; several columns doing it is data.
    return repeats < max(2, -(-len(first) // 3))


def sample_rows(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    """Parse up to ``limit`` complete rows of a text sample (the last, maybe cut, row is dropped)."""
    body = text.lstrip("\ufeff")
    cut = body.rfind("\n")
    if cut > 0:
        body = body[:cut]
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    out = []
    try:
        for row in reader:
            if row:
                out.append(row)
            if len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def lines_above_table(text: str, delimiter: str, most: int = 10) -> int:
    """How many lines (a report title, an export note, blank lines) stand above the header.

    The table starts at the first line with the number of fields that most lines have; the lines
    above it must all have fewer (a title is one field). Only the first ``most`` lines may be such
    notes, and nine lines in ten below them must agree, or the answer is 0.
    """
    lines = text.lstrip("\ufeff").split("\n")[:-1][:200]  # complete lines only
    widths = []
    for ln in lines:
        try:
            widths.append(len(next(csv.reader([ln.rstrip("\r")], delimiter=delimiter), [])))
        except csv.Error:
            widths.append(0)
    filled = [w for w in widths if w]
    if len(filled) < 5:
        return 0
    common = max(set(filled), key=filled.count)
    start = widths.index(common)
    if common < 2 or not 0 < start <= most or any(w >= common for w in widths[:start]):
        return 0
    below = [w for w in widths[start:] if w]
    return start if below.count(common) >= 0.9 * len(below) else 0
