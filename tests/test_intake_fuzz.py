"""Property: whatever bytes arrive, every reader gives a table or a clean ``InputError``, in time.

Each reader is fuzzed with raw bytes in its own disguise (a format's magic or first character
followed by anything) and with a valid file of its format damaged at random (bytes overwritten,
the file cut). Examples are few per reader so the whole file runs in well under a minute.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests import hostile

from jejak.errors import InputError
from jejak.intake import Limits, read_table

FUZZ = settings(max_examples=40, deadline=10_000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
_ROWS = hostile.people(40, 7)
_COLS = hostile.COLUMNS

VALID: dict[str, Callable[[], bytes]] = {
    "csv": lambda: hostile.delimited(_COLS, _ROWS),
    "jsonl": lambda: hostile.jsonl(_COLS, _ROWS),
    "json": lambda: hostile.wrapped(["data"], _COLS, _ROWS, indent=1),
    "xlsx": lambda: hostile.xlsx(_COLS, _ROWS),
    "parquet": lambda: hostile.parquet(_COLS, _ROWS),
    "sql": lambda: hostile.mysql_dump(_COLS, _ROWS, per_insert=7),
    "zip": lambda: hostile.zipped({"a.csv": hostile.delimited(_COLS, _ROWS)}),
    "gz": lambda: hostile.gzipped(hostile.delimited(_COLS, _ROWS)),
    "tar": lambda: hostile.tarred({"a.csv": hostile.delimited(_COLS, _ROWS)}),
}
_GOOD = {k: build() for k, build in VALID.items()}
PREFIX = {"csv": b"NIK,NAMA\n", "jsonl": b"{", "json": b"[", "xlsx": b"PK\x03\x04", "parquet": b"PAR1",
          "sql": b"INSERT INTO t VALUES (", "zip": b"PK\x03\x04", "gz": b"\x1f\x8b", "tar": b""}


def check(data: bytes, suffix: str) -> None:
    """The property itself, for both a leak (lenient) and a registry import (strict)."""
    with tempfile.TemporaryDirectory(prefix="intake-fuzz-") as tmp:
        path = Path(tmp) / f"fuzz.{suffix}"
        path.write_bytes(data)
        for strict in (False, True):
            con = duckdb.connect()
            try:
                t = read_table(con, path, name="t", strict=strict, limits=Limits(max_total_bytes=64 << 20))
            except InputError as exc:
                assert str(exc)  # a message, located on the file
                assert exc.path is not None
                continue
            finally:
                con.close()
            assert t.rows >= 1 and t.columns
            lowered = [c.lower() for c in t.columns]
            assert len(set(lowered)) == len(lowered)  # unique, ignoring case
            assert not any(c.startswith("_") for c in t.columns)  # never one of jejak's own columns


@st.composite
def damaged(draw: st.DrawFn, fmt: str) -> bytes:
    data = bytearray(_GOOD[fmt])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=16))
        data[at:at + len(patch)] = patch
    keep = draw(st.floats(0.05, 1.0))
    return bytes(data[: max(1, int(len(data) * keep))])


@st.composite
def disguised(draw: st.DrawFn, fmt: str) -> bytes:
    return PREFIX[fmt] + draw(st.binary(max_size=2000))


@st.composite
def messy_text(draw: st.DrawFn) -> bytes:
    """Text that looks like a table: cells with delimiters, quotes and line breaks, any encoding."""
    cell = st.text(alphabet=st.sampled_from(list('ab1é,;|\t"\r\n {}[]\'\\')), max_size=8)
    rows = draw(st.lists(st.lists(cell, min_size=1, max_size=6), min_size=1, max_size=12))
    delim = draw(st.sampled_from([",", ";", "|", "\t"]))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"]))
    text = eol.join(delim.join(r) for r in rows) + eol
    return text.encode(codec, errors="replace")


@settings(FUZZ)
@given(st.sampled_from(sorted(VALID)).flatmap(lambda f: st.tuples(st.just(f), damaged(f))))
def test_every_reader_turns_a_damaged_file_into_a_table_or_a_clean_error(case: tuple[str, bytes]) -> None:
    fmt, data = case
    check(data, fmt)


@settings(FUZZ)
@given(st.sampled_from(sorted(PREFIX)).flatmap(lambda f: st.tuples(st.just(f), disguised(f))))
@example(("tar", b"\x00\x01\x00\x01\x00"))  # UTF-16 BE cut inside a character (found by fuzzing)
def test_every_reader_turns_random_bytes_in_its_disguise_into_a_table_or_a_clean_error(
    case: tuple[str, bytes],
) -> None:
    fmt, data = case
    check(data, fmt)


@settings(FUZZ)
@given(st.binary(min_size=1, max_size=4000))
def test_any_bytes_give_a_table_or_a_clean_error(data: bytes) -> None:
    check(data, "csv")


@settings(FUZZ)
@given(messy_text())
def test_messy_delimited_text_in_any_encoding_gives_a_table_or_a_clean_error(data: bytes) -> None:
    check(data, "csv")
