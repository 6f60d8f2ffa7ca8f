"""Text encodings of delimited files.

Policy: valid UTF-8 (with or without BOM) is read as UTF-8; a UTF-16 BOM means UTF-16. A file
that is mostly UTF-8 but has invalid bytes is *mixed* and refused at the first bad byte, because
guessing would silently corrupt names. A file without any multi-byte UTF-8 sequence is a legacy
single-byte file (cp1252, else latin-1) and is transcoded to a temporary UTF-8 copy for DuckDB.
"""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

from jejak.errors import InputError

_CHUNK = 1 << 22


def peek_text(path: Path, size: int = 65536) -> str:
    with path.open("rb") as f:
        raw = f.read(size)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="replace")
    return raw.decode("utf-8", errors="replace")


def detect(path: Path) -> str:
    """``utf-8``, ``utf-16`` or a legacy codec name; raises InputError for mixed files."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
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


def transcode(path: Path, codec: str) -> Path:
    """A temporary UTF-8 copy of ``path``; the caller deletes it."""
    tmp = tempfile.NamedTemporaryFile(prefix="jejak-utf8-", suffix=".csv", delete=False)  # noqa: SIM115
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    line = 1
    try:
        with path.open("rb") as src, tmp:
            while chunk := src.read(_CHUNK):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad_line, col = _locate(path, line, chunk, exc.start)
                    raise InputError(
                        f"bytes that are not valid {codec}", path=path, line=bad_line, column=col
                    ) from None
                tmp.write(text.encode("utf-8"))
                line += chunk.count(b"\n")
            tmp.write(decoder.decode(b"", final=True).encode("utf-8"))
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    return Path(tmp.name)
