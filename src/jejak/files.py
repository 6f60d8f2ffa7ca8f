"""Owner-only files: everything jejak writes may hold personal data.

The registry, releases, case evidence, subject lists, reports and temporary files are readable
by their owner alone, whatever the umask of the shell that started jejak: a group-readable
registry on a shared analysis server is a leak waiting to be found. The CLI sets a umask of 077
as a first line; the library still chmods what it creates, because it is also used from other
programs (the service, notebooks) whose umask it does not control.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
EVIDENCE_MODE = 0o400  # the evidence copy is never modified, not even by its owner by mistake
OWNER_FILE = "owner.pid"  # in a temporary folder: the process that will remove it


def private_dir(path: Path, *, parents: bool = False, exist_ok: bool = True) -> Path:
    """Create (or tighten) a directory only its owner can enter."""
    path.mkdir(mode=DIR_MODE, parents=parents, exist_ok=exist_ok)
    path.chmod(DIR_MODE)  # mkdir's mode is masked by the umask, and an existing one keeps its mode
    return path


def private_file(path: Path) -> Path:
    """Make an existing file owner-only; a missing one is ignored (nothing to protect)."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(FILE_MODE)
    return path


def write_private(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to a file that is owner-only from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding=encoding) as f:
        f.write(text)
    return private_file(path)


def privatise_tree(root: Path) -> None:
    """Owner-only modes for a whole tree (a case or a notification pack before it is published);
    files already read-only (evidence) stay read-only."""
    if not root.exists():
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(DIR_MODE)
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            mode = p.stat().st_mode & 0o777
            p.chmod(EVIDENCE_MODE if not mode & 0o200 else FILE_MODE)


TMP_PREFIX = ".tmp-"  # what the sweep of a workspace looks for
_owned: set[Path] = set()


def owned_tempdir(base: Path, prefix: str) -> Path:
    """A fresh owner-only folder ``base/.tmp-<prefix>…`` that records this process as its owner, so
    that the next command sweeps it if this run is killed (``Workspace.sweep_stale``). Remove it
    with :func:`remove_owned_dir`."""
    import tempfile

    from jejak import signals

    private_dir(base, parents=True)
    with signals.held():  # a signal between making the folder and owning it would leave it behind
        folder = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{prefix}", dir=base))  # mode 0700 by construction
        _owned.add(folder)
        write_private(folder / OWNER_FILE, f"{os.getpid()}\n")
    return folder


def remove_owned_dir(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    _owned.discard(folder)


def remove_owned() -> None:
    """Remove every temporary folder this process still owns: the last step of an interrupted run,
    where a second signal or an exception inside a ``finally`` may have skipped a cleanup."""
    for folder in list(_owned):
        remove_owned_dir(folder)


def check_input(path: Path) -> Path:
    """Refuse an input that is not a regular file, saying what it is ("no such file" misleads
    when it is a folder, and reading a FIFO would wait for a writer forever)."""
    import stat

    from jejak.errors import InputError

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except PermissionError:
        raise InputError("permission denied", path=path) from None
    if stat.S_ISREG(mode):
        return path
    kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode)
            else "something other than a regular file")
    raise InputError(f"this is {kind}, not a data file", path=path)
