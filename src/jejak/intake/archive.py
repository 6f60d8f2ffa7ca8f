"""Archives (.zip, .gz, .tar and compressed tars) unpacked safely into a temporary directory.

Leaks travel packed. We unpack the members that can hold a table into a private temporary
directory (removed again by the caller, whatever happens), never touching the evidence file.

Defences, all counted on bytes actually written, because sizes declared in an archive lie:
* a budget of ``Limits.max_total_bytes`` for everything unpacked, nested archives included;
* a zip bomb is output beyond ``Limits.ratio_min_bytes`` *and* more than ``Limits.max_ratio``
  times the evidence file's size; a zip whose directory already declares that is refused before
  anything is unpacked;
* at most ``Limits.max_members`` members, and archives nested one level (a ``.csv.gz`` in a zip,
  a zip in a tar); deeper archives are left out and reported.

A truncated archive (an interrupted download) still yields what it holds: a zip without its
central directory is read from its local headers, a gzip or tar stream up to where it breaks. The
incomplete last line of a truncated member is dropped and reported, so no half value is read.
"""

from __future__ import annotations

import gzip
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from jejak.errors import InputError

if TYPE_CHECKING:
    from jejak.intake import Limits

ARCHIVES = ("zip", "gz", "tar", "bz2", "xz")
_BLOCK = 1 << 20
# Files that travel with leaks but never hold the table: OS litter, documents, pictures.
_JUNK_SUFFIXES = {
    ".pdf", ".doc", ".docx", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".md", ".html", ".htm", ".exe", ".dll",
    ".lnk", ".url", ".ini", ".sig", ".asc", ".sha256", ".md5", ".nfo", ".mp4", ".7z", ".rar",
}


@dataclass
class Member:
    """One file inside an archive, as listed (sizes as declared) or as unpacked."""

    name: str
    size: int | None
    compressed: int | None = None


@dataclass
class Unpacked:
    name: str  # inner path, nested with "!": "data.zip!dir/data.csv"
    path: Path
    truncated: bool = False
    dropped_line: int | None = None  # the incomplete last line removed from a truncated member


@dataclass
class Unpacking:
    kind: str = ""  # zip | gz | tar | tar.gz | ...
    files: list[Unpacked] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sniff(head: bytes) -> str | None:
    """Archive format from the first 512+ bytes, or None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c") or head.startswith(b"Rar!"):
        return "unsupported"
    return None


class _Budget:
    """Bytes unpacked so far, against the total cap and the bomb ratio of the evidence file."""

    def __init__(self, evidence: Path, limits: Limits) -> None:
        self.limits = limits
        self.evidence = evidence
        self.size = max(evidence.stat().st_size, 1)
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        self.check(self.used)

    def check(self, total: int) -> None:
        lim = self.limits
        if total > lim.max_total_bytes:
            raise InputError(
                f"the archive expands to more than {lim.max_total_bytes:,} bytes (the limit); refused",
                path=self.evidence,
            )
        if total > lim.ratio_min_bytes and total > lim.max_ratio * self.size:
            raise InputError(
                f"the archive expands more than {lim.max_ratio:g} times its size beyond "
                f"{lim.ratio_min_bytes:,} bytes: a zip bomb; refused",
                path=self.evidence,
            )


def unpack(path: Path, fmt: str, dest: Path, limits: Limits) -> Unpacking:
    """Unpack the members of ``path`` that may hold a table into ``dest``."""
    out = Unpacking(kind=fmt)
    if fmt in ("gz", "bz2", "xz") and _is_tar(path, fmt):
        out.kind = "tar." + fmt
    budget = _Budget(path, limits)
    _unpack(path, fmt, dest, budget, out, prefix="", depth=0)
    if not out.files:
        raise InputError("the archive holds no file that could contain a table", path=path)
    return out


def _unpack(src: Path, fmt: str, dest: Path, budget: _Budget, out: Unpacking, prefix: str, depth: int) -> None:
    if fmt == "unsupported":
        raise InputError("7z and RAR archives are not supported; unpack the file first", path=budget.evidence)
    if fmt == "zip":
        got = _unzip(src, dest, budget, out, prefix)
    elif fmt in ("gz", "bz2", "xz") and not _is_tar(src, fmt):
        got = [_gunzip(src, fmt, dest, budget, out, prefix)]
    else:
        got = _untar(src, dest, budget, out, prefix)
    for item in got:
        inner = _sniff_file(item.path)
        if inner is None:
            out.files.append(item)
        elif depth >= 1:
            out.notes.append(f"{item.name}: an archive nested more than one level deep; not read")
            item.path.unlink(missing_ok=True)
        else:
            sub = dest / f"n{len(out.files)}_{item.path.name}.d"
            sub.mkdir()
            _unpack(item.path, inner, sub, budget, out, prefix=item.name + "!", depth=depth + 1)
            item.path.unlink(missing_ok=True)
    if len(out.files) > budget.limits.max_members:
        raise InputError(f"the archive holds more than {budget.limits.max_members:,} files; refused",
                         path=budget.evidence)


def _sniff_file(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(512)
    fmt = sniff(head)
    if fmt == "zip" and (_is_office(path) or office_parts(path)):
        return None  # an .xlsx is a zip, but a table
    return fmt


def _is_office(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "[Content_Types].xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def office_parts(path: Path) -> bool:
    """Whether a zip that has lost its directory was an Office document (its first local header
    names ``[Content_Types].xml`` or a part under ``xl/``, ``word/``, ``docProps/``, ``_rels/``)."""
    with path.open("rb") as f:
        head = f.read(30)
        if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
            return False
        name = f.read(int.from_bytes(head[26:28], "little"))
    return name == b"[Content_Types].xml" or name.startswith((b"xl/", b"word/", b"docProps/", b"_rels/"))


def _is_tar(path: Path, fmt: str) -> bool:
    opener = _OPENERS[fmt]
    try:
        with opener(path) as f:
            head = f.read(512)
    except (OSError, EOFError, zlib.error, ValueError):
        return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def _gzip_open(path: Path) -> IO[bytes]:
    return gzip.open(path)  # type: ignore[return-value]


def _bz2_open(path: Path) -> IO[bytes]:
    import bz2

    return bz2.open(path)


def _xz_open(path: Path) -> IO[bytes]:
    import lzma

    return lzma.open(path)


_OPENERS: dict[str, Callable[[Path], IO[bytes]]] = {"gz": _gzip_open, "bz2": _bz2_open, "xz": _xz_open}


def wanted(name: str) -> bool:
    """Whether a member may hold a table (not OS litter, documents or pictures)."""
    p = PurePosixPath(name)
    if any(part in ("__MACOSX",) for part in p.parts) or p.name.startswith("._") or p.name in (".DS_Store",
                                                                                              "Thumbs.db"):
        return False
    return p.suffix.lower() not in _JUNK_SUFFIXES


def _target(dest: Path, name: str, n: int) -> Path:
    # Member names are attacker-chosen ("../../etc/passwd"): never use them as paths.
    suffix = "".join(PurePosixPath(name).suffixes[-2:])[:16]
    return dest / f"m{n}{suffix}"


def _copy(src: IO[bytes], target: Path, budget: _Budget, block_size: int = _BLOCK) -> tuple[bool, int]:
    """Stream ``src`` to ``target``; returns (truncated, lines written)."""
    lines = 0
    with target.open("wb") as f:
        while True:
            try:
                # read1: one decompression step at a time, so the data before a break is kept.
                block = src.read1(block_size) if hasattr(src, "read1") else src.read(block_size)
            except (EOFError, zlib.error, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
                if isinstance(exc, InputError):
                    raise
                return True, lines
            if not block:
                return False, lines
            budget.spend(len(block))
            lines += block.count(b"\n")
            f.write(block)


def _finish(item: Unpacked, truncated: bool, lines: int) -> Unpacked:
    item.truncated = truncated
    if truncated:
        item.dropped_line = _drop_partial_line(item.path, lines)
    return item


def _drop_partial_line(path: Path, newlines: int) -> int | None:
    """Cut a truncated member after its last complete line; the dropped line's number or None."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        pos = size
        while pos > 0:
            step = min(_BLOCK, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                cut = pos - step + nl + 1
                if cut == size:
                    return None
                f.truncate(cut)
                return newlines + 1
            pos -= step
        f.truncate(0)
    return 1 if size else None


def _unzip(src: Path, dest: Path, budget: _Budget, out: Unpacking, prefix: str) -> list[Unpacked]:
    try:
        z = zipfile.ZipFile(src)
    except zipfile.BadZipFile:
        return _unzip_local_headers(src, dest, budget, out, prefix)
    got: list[Unpacked] = []
    with z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        if len(infos) > budget.limits.max_members:
            raise InputError(f"the archive holds {len(infos):,} files, more than the limit "
                             f"({budget.limits.max_members:,}); refused", path=budget.evidence)
        budget.check(budget.used + sum(i.file_size for i in infos))
        for info in infos:
            if not wanted(info.filename):
                continue
            if info.flag_bits & 0x1:
                out.notes.append(f"{prefix}{info.filename}: encrypted; not read")
                continue
            item = Unpacked(prefix + info.filename, _target(dest, info.filename, len(got)))
            try:
                with z.open(info) as f:
                    truncated, lines = _copy(f, item.path, budget)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error):
                truncated, lines = True, 0
            got.append(_finish(item, truncated, lines))
    return got


def _unzip_local_headers(src: Path, dest: Path, budget: _Budget, out: Unpacking, prefix: str) -> list[Unpacked]:
    """Recover members of a zip whose central directory is missing (a truncated file)."""
    got: list[Unpacked] = []
    with src.open("rb") as f:
        while True:
            head = f.read(30)
            if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
                break
            _, _, flags, method, _, _, _, csize, _, nlen, xlen = struct.unpack("<4sHHHHHIIIHH", head)
            raw_name = f.read(nlen)
            f.read(xlen)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            if method not in (0, 8) or flags & 0x1:
                out.notes.append(f"{prefix}{name}: compression method {method} or encryption in a damaged zip; "
                                 "not read")
                break
            item = Unpacked(prefix + name, _target(dest, name, len(got)))
            complete, lines = _inflate(f, item.path, budget, method, csize if not flags & 0x8 else None)
            if wanted(name) and not name.endswith("/"):
                got.append(_finish(item, not complete, lines))
            else:
                item.path.unlink(missing_ok=True)
            if not complete:
                break
            if flags & 0x8:  # a data descriptor follows the data
                desc = f.read(16)
                if not desc.startswith(b"PK\x07\x08"):
                    f.seek(-4, 1)
    if not got:
        raise InputError("the zip file is damaged and no member could be recovered", path=budget.evidence)
    out.notes.append("the zip file has no central directory (truncated or damaged); "
                     "members were recovered from their local headers")
    return got


def _inflate(f: IO[bytes], target: Path, budget: _Budget, method: int, csize: int | None) -> tuple[bool, int]:
    """Decompress one member's data; returns (reached its end, lines written)."""
    d = zlib.decompressobj(-15) if method == 8 else None
    left = csize
    lines = 0
    with target.open("wb") as out:
        while True:
            want = _BLOCK if left is None else min(_BLOCK, left)
            if want == 0:
                return True, lines
            block = f.read(want)
            if not block:
                return False, lines
            if left is not None:
                left -= len(block)
            try:
                data = d.decompress(block) if d is not None else block
            except zlib.error:
                return False, lines
            budget.spend(len(data))
            lines += data.count(b"\n")
            out.write(data)
            if d is not None and d.eof:
                # Rewind over what belongs to the next header.
                f.seek(-len(d.unused_data), 1)
                return True, lines


def _gunzip(src: Path, fmt: str, dest: Path, budget: _Budget, out: Unpacking, prefix: str) -> Unpacked:
    name = _gzip_name(src) if fmt == "gz" else None
    if not name:
        stem = budget.evidence.name if not prefix else PurePosixPath(prefix.rstrip("!")).name
        name = stem.rsplit(".", 1)[0] if "." in stem else stem
    opener = _OPENERS[fmt]
    item = Unpacked(prefix + name, _target(dest, name, 0))
    try:
        with opener(src) as f:
            truncated, lines = _copy(f, item.path, budget)
    except (OSError, EOFError, zlib.error):
        truncated, lines = True, 0
    return _finish(item, truncated, lines)


def _gzip_name(path: Path) -> str | None:
    """The original file name stored in the gzip header (FNAME), if any."""
    with path.open("rb") as f:
        head = f.read(1024)
    if len(head) < 10 or not head[3] & 0x08:
        return None
    pos = 10
    if head[3] & 0x04:
        pos += 2 + int.from_bytes(head[10:12], "little")
    end = head.find(b"\x00", pos)
    return head[pos:end].decode("latin-1") if end > pos else None


def _untar(src: Path, dest: Path, budget: _Budget, out: Unpacking, prefix: str) -> list[Unpacked]:
    got: list[Unpacked] = []
    try:
        with tarfile.open(src, mode="r|*") as tf:
            for info in _tar_members(tf):
                if not info.isfile() or not wanted(info.name):
                    continue
                if len(got) >= budget.limits.max_members:
                    raise InputError(f"the archive holds more than {budget.limits.max_members:,} files; refused",
                                     path=budget.evidence)
                item = Unpacked(prefix + info.name, _target(dest, info.name, len(got)))
                f = tf.extractfile(info)
                if f is None:
                    continue
                # Small reads: a tar stream that breaks loses only the block being read.
                truncated, lines = _copy(f, item.path, budget, 1 << 13)
                got.append(_finish(item, truncated, lines))
                if truncated:
                    out.notes.append(f"{item.name}: the archive ends inside this file (truncated)")
                    break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, InputError):
            raise
        if not got:
            raise InputError("the tar archive is damaged or truncated before its first file", path=budget.evidence) \
                from None
        out.notes.append("the tar archive is damaged or truncated; files after the damage are missing")
    return got


def _tar_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        info = tf.next()
        if info is None:
            return
        yield info


def list_members(path: Path, fmt: str) -> list[Member]:
    """The archive's members as declared, without unpacking (for the evidence record)."""
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as z:
                return [Member(i.filename, i.file_size, i.compress_size) for i in z.infolist() if not i.is_dir()]
        if fmt in ("gz", "bz2", "xz") and not _is_tar(path, fmt):
            name = (_gzip_name(path) if fmt == "gz" else None) or path.name.rsplit(".", 1)[0]
            return [Member(name, None, path.stat().st_size)]
        with tarfile.open(path, mode="r|*") as tf:
            return [Member(i.name, i.size) for i in _tar_members(tf) if i.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error, ValueError):
        return []
