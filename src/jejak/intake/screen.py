"""Screening a delimited file line by line before the fast reader sees it (non-strict reads only).

Two things make a leaked text file unreadable as a whole: a line so long it is not a record (a
2 GB "line" must neither be buffered nor hang the reader), and, in a UTF-8 file, lines in
another encoding (files concatenated from several sources). The screen streams the file in
large chunks, finds such lines with bytes and numpy operations, and only if it found any writes
a copy in which each of them is replaced by a line the reader rejects as ragged; the line numbers
of every other line stay the same, and the reason is reported per line. A file with no such line
is passed through untouched and not copied.

A file without any valid multi-byte UTF-8 sequence is not "mixed": it is a legacy single-byte
file (cp1252) as a whole, which the reader transcodes.
"""

from __future__ import annotations

import codecs
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jejak.errors import InputError
from jejak.intake import scratch

CHUNK = 32 << 20
_BLOCK = 1 << 20
_MAX_REPORTED = 1_000_000
TOO_LONG = "a line longer than the limit ({:,} bytes); skipped"
NOT_UTF8 = "bytes that are not valid UTF-8 in a UTF-8 file (mixed encodings); line skipped"


@dataclass
class Screened:
    path: Path  # the file to read: the original, or a temporary copy the caller deletes
    bad: dict[int, str] = field(default_factory=dict)  # line -> reason
    copied: bool = False
    utf8: bool = False  # every byte was checked and is UTF-8: the reader need not detect the encoding
    lines: int | None = None  # physical lines, when known (a record per line if it equals the records)


def screen(path: Path, max_line: int, placeholder: bytes) -> Screened:
    """Find over-long and (in a UTF-8 file) undecodable lines; copy the file without them if any."""
    quick = _quick_scan(path, max_line)
    if quick is not None:
        return Screened(path, utf8=True, lines=quick)
    long_spans, bad_utf8, multibyte = _scan(path, max_line)
    bad: dict[int, tuple[int, int, str]] = {}
    for line, start, end in long_spans:
        bad[line] = (start, end, TOO_LONG.format(max_line))
    with path.open("rb") as f:
        utf16 = f.read(2) in (b"\xff\xfe", b"\xfe\xff")  # not UTF-8 at all: no line is "mixed"
    if multibyte and not utf16:
        for line, start, end in bad_utf8:
            bad.setdefault(line, (start, end, NOT_UTF8))
    if not bad:
        return Screened(path)
    if 1 in bad:
        raise InputError("the first line " + bad[1][2].split(";")[0].replace("a line ", "is a line ", 1)
                         + "; it cannot be a header or a record", path=path, line=1)
    copy = _copy_without(path, sorted(bad.values()), placeholder)
    return Screened(copy, {k: v[2] for k, v in bad.items()}, copied=True)


def _quick_scan(path: Path, max_line: int) -> int | None:
    """The number of lines of a clean file — valid UTF-8, no line over ``max_line`` — else None.

    The common case in one cheap pass. If every aligned block of ``max_line // 2`` bytes holds a
    newline, no two consecutive newlines are ``max_line`` apart; an ASCII chunk needs no decoding.
    Anything else is left to the precise :func:`_scan`.
    """
    block = max(1, max_line // 2)
    size = max(block, CHUNK // block * block)  # chunks start on block boundaries
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, last = 0, bytearray(b"\n")
    buf = bytearray(size)  # one buffer, refilled: allocating a fresh chunk each time cost more than counting
    with path.open("rb") as f:
        while n := _fill(f, buf):
            chunk = buf if n == size else buf[:n]
            full = n - n % block  # a short last block may lack a newline
            if any(chunk.find(b"\n", i, i + block) < 0 for i in range(0, full, block)):
                return None
            if decoder.getstate()[0] or not chunk.isascii():
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return newlines + (last != b"\n")


def _fill(f: io.BufferedReader, buf: bytearray) -> int:
    """Fill ``buf`` from ``f``; fewer bytes only at the end of the file."""
    view, n = memoryview(buf), 0
    while n < len(buf) and (got := f.readinto(view[n:])):
        n += got
    return n


def _scan(path: Path, max_line: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]], bool]:
    """(over-long lines, lines with invalid UTF-8, whether valid multi-byte UTF-8 was seen).

    Lines are (line number, start byte, end byte excluding the newline).
    """
    longs: list[tuple[int, int, int]] = []
    invalid: list[tuple[int, int, int]] = []
    multibyte = False
    line, offset = 1, 0  # line number and file offset of the first byte of `carry`
    carry = b""
    in_long = False  # the current line already exceeded max_line; its bytes are not kept
    with path.open("rb") as f:
        while True:
            chunk = f.read(CHUNK)
            eof = not chunk
            nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) if chunk else np.empty(0, np.int64)
            if in_long:
                if len(nl) == 0 and not eof:
                    offset += len(chunk)
                    continue
                end = offset + (int(nl[0]) if len(nl) else len(chunk))
                longs[-1] = (longs[-1][0], longs[-1][1], end)
                skip = int(nl[0]) + 1 if len(nl) else len(chunk)
                line += 1
                chunk, offset, nl, in_long = chunk[skip:], end + 1, nl[1:] - skip, False
            data = carry + chunk
            ends = (nl + len(carry)).astype(np.int64)
            starts = np.concatenate(([0], ends + 1))[: len(ends)]
            lengths = ends - starts
            for i in np.flatnonzero(lengths > max_line).tolist():
                longs.append((line + i, offset + int(starts[i]), offset + int(ends[i])))
            complete = int(ends[-1]) + 1 if len(ends) else 0
            if eof:
                complete = len(data)
            multibyte = _check_utf8(data[:complete], line, offset, invalid, longs) or multibyte
            line += len(ends)
            carry, offset = data[complete:], offset + complete
            if len(carry) > max_line:
                longs.append((line, offset, offset + len(carry)))
                in_long, offset, carry = True, offset + len(carry), b""
            if eof:
                break
    return longs, invalid, multibyte


def _check_utf8(data: bytes, line: int, offset: int, invalid: list[tuple[int, int, int]],
                longs: list[tuple[int, int, int]]) -> bool:
    """Record lines of ``data`` (complete lines) that are not UTF-8; True if valid multi-byte UTF-8 was seen.

    Decoded in ~1 MiB blocks cut at line ends; only a block that fails is split into lines.
    """
    multibyte = False
    skip = {start for _, start, _ in longs}
    pos = 0
    while pos < len(data):
        end = data.rfind(b"\n", pos, pos + _BLOCK) + 1 or data.find(b"\n", pos + _BLOCK) + 1 or len(data)
        block = data[pos:end]
        try:
            block.decode("utf-8")
            multibyte = multibyte or not block.isascii()
        except UnicodeDecodeError:
            n, start = line + data.count(b"\n", 0, pos), pos
            for text in block.split(b"\n"):
                try:
                    text.decode("utf-8")
                    multibyte = multibyte or not text.isascii()
                except UnicodeDecodeError:
                    if offset + start not in skip and len(invalid) < _MAX_REPORTED:
                        invalid.append((n, offset + start, offset + start + len(text)))
                n, start = n + 1, start + len(text) + 1
        pos = end
    return multibyte


def _copy_without(path: Path, spans: list[tuple[int, int, str]], placeholder: bytes) -> Path:
    tmp = tempfile.NamedTemporaryFile(prefix="jejak-screened-", suffix=".csv", delete=False, dir=scratch.directory())  # noqa: SIM115
    try:
        with path.open("rb") as src, tmp:
            pos = 0
            for start, end, _ in spans:
                _stream(src, tmp, pos, start)
                tmp.write(placeholder)
                pos = end
            _stream(src, tmp, pos, None)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    return Path(tmp.name)


def _stream(src: object, dst: object, start: int, end: int | None) -> None:
    src.seek(start)  # type: ignore[attr-defined]
    left = None if end is None else end - start
    while left is None or left > 0:
        block = src.read(CHUNK if left is None else min(CHUNK, left))  # type: ignore[attr-defined]
        if not block:
            return
        dst.write(block)  # type: ignore[attr-defined]
        if left is not None:
            left -= len(block)
