"""Text encodings of delimited files.

Policy: valid UTF-8 (with or without BOM) is read as UTF-8. UTF-16 and UTF-32 are recognised by
their BOM or, without one, by where the NUL bytes fall (text is mostly ASCII, so every second or
every fourth byte is NUL, on the side that tells the byte order); such files are transcoded to
UTF-8 before DuckDB sees them. Any other file with many control bytes is binary, not text. A file
that is mostly UTF-8 but has invalid bytes is *mixed* and refused at the first bad byte, because
guessing would silently corrupt names. A file without any multi-byte UTF-8 sequence is a legacy
single-byte file (cp1252, else latin-1) and is transcoded to a temporary UTF-8 copy for DuckDB.
"""

from __future__ import annotations

import codecs
import contextlib
import tempfile
from pathlib import Path

from jejak.errors import InputError
from jejak.intake import scratch

_CHUNK = 1 << 22
WIDE = ("utf-32", "utf-32-le", "utf-32-be", "utf-16", "utf-16-le", "utf-16-be")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"


def sniff(head: bytes) -> str | None:
    """A wide encoding (one of ``WIDE``), ``binary``, or None for a byte-oriented text file.

    ``head``: the first few KiB. UTF-32 BOMs are tested first: FF FE 00 00 also starts with the
    UTF-16 LE BOM.
    """
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" not in head and not _mostly_control(head):
        return None
    head = head[: len(head) - len(head) % 4]
    if len(head) >= 8:
        quads = [head[i:i + 4] for i in range(0, len(head), 4)]
        if sum(q[1:] == b"\0\0\0" for q in quads) > 0.5 * len(quads):
            return "utf-32-le"
        if sum(q[:3] == b"\0\0\0" for q in quads) > 0.5 * len(quads):
            return "utf-32-be"
    pairs = len(head) // 2
    if pairs >= 2:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 0.3 * pairs and even < 0.02 * pairs:
            return "utf-16-le"
        if even > 0.3 * pairs and odd < 0.02 * pairs:
            return "utf-16-be"
    return "binary" if _mostly_control(head) else None


def _mostly_control(head: bytes) -> bool:
    # Text has next to no control bytes; random or binary data has about one in nine.
    return len(head) > 0 and sum(head.count(c) for c in _CONTROL) > max(2, len(head) // 100)


def head_of(path: Path, size: int = 65536) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


def peek_text(path: Path, size: int = 65536) -> str:
    raw = head_of(path, size)
    codec = sniff(raw[:4096])
    if codec in WIDE:
        unit = 4 if "32" in codec else 2
        return raw[: len(raw) - len(raw) % unit].decode(codec or "utf-8", errors="replace").lstrip("\ufeff")
    return raw.decode("utf-8", errors="replace")


def detect(path: Path) -> str:
    """``utf-8``, a wide encoding (``WIDE``) or a legacy codec name; raises InputError for mixed
    and binary files."""
    wide = sniff(head_of(path, 4096))
    if wide == "binary":
        raise binary_error(path)
    if wide is not None:
        return wide
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, multibyte = 1, False
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                if multibyte or _has_multibyte(chunk[: exc.start]):
                    bad_line, col = _locate(path, line, chunk, exc.start)
                    raise InputError(
                        "the file mixes UTF-8 with bytes in another encoding; pass --encoding to choose one",
                        path=path, line=bad_line, column=col,
                    ) from None
                return _legacy(path)
            multibyte = multibyte or _has_multibyte(chunk)
            line += chunk.count(b"\n")
    return "utf-8"


def binary_error(path: Path) -> InputError:
    head = head_of(path, 4096)
    at = next((i for i, b in enumerate(head) if bytes([b]) in _CONTROL), 0)
    line, col = _locate(path, 1, head, at)
    return InputError("the file holds binary data (control bytes), not text or a known table format",
                      path=path, line=line, column=col)


def _has_multibyte(data: bytes) -> bool:
    # Called on bytes already decoded as valid UTF-8, where any non-ASCII byte is part of a
    # multi-byte sequence; bytes.isascii runs in C, a Python loop would not.
    return not data.isascii()


def _locate(path: Path, line_at_chunk: int, chunk: bytes, offset: int) -> tuple[int, int]:
    before = chunk[:offset]
    line = line_at_chunk + before.count(b"\n")
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def _legacy(path: Path) -> str:
    data = path.read_bytes()[: 1 << 20]
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def transcode(path: Path, codec: str, cr_lines: bool = False) -> Path:
    """A temporary UTF-8 copy of ``path``; the caller deletes it. ``cr_lines``: the file ends its
    lines with a bare CR (old Mac), turned into LF so that every reader sees the same lines."""
    tmp = tempfile.NamedTemporaryFile(prefix="jejak-utf8-", suffix=".csv", delete=False, dir=scratch.directory())  # noqa: SIM115
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    line = 1
    try:
        with path.open("rb") as src, tmp:
            while chunk := src.read(_CHUNK):
                try:
                    text = decoder.decode(chunk)
                    if cr_lines:
                        text = text.replace("\r", "\n")
                except UnicodeDecodeError as exc:
                    bad_line, col = _locate(path, line, chunk, exc.start)
                    raise InputError(
                        f"bytes that are not valid {codec}", path=path, line=bad_line, column=col
                    ) from None
                tmp.write(text.encode("utf-8"))
                line += chunk.count(b"\r" if cr_lines else b"\n")
            # A cut file may end inside a character: those 1-3 bytes hold no complete one.
            with contextlib.suppress(UnicodeDecodeError):
                tmp.write(decoder.decode(b"", final=True).encode("utf-8"))

    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    return Path(tmp.name)
