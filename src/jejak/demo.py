"""The demonstration story behind ``make demo``.

Today it builds a synthetic registry with history; releases, a simulated leak and the
investigation join the story as those capabilities land.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jejak.errors import WorkspaceError
from jejak.registry import DatasetInfo, Registry
from jejak.synth import generate
from jejak.workspace import MARKER, Workspace

KEYS = {"peserta": "NOKA", "pasien": "ID_KUNJUNGAN"}


@dataclass(frozen=True)
class DemoResult:
    workspace: Workspace
    datasets: list[DatasetInfo]


def run_demo(
    home: Path,
    *,
    rows: int = 200_000,
    seed: int = 0,
    fresh: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoResult:
    """Build a demo workspace at ``home``.

    An existing workspace is never mixed with a new story: it is refused, or with ``fresh``
    removed first (only if it really is a jejak workspace, so a typo cannot delete other data).
    """
    home = home.expanduser().resolve()
    if home.exists() and any(home.iterdir()):
        if not fresh:
            raise WorkspaceError(f"{home} is not empty; pass --fresh to start the demo there from scratch")
        if not (home / MARKER).exists():
            raise WorkspaceError(f"{home} is not a jejak workspace; refusing to delete it")
        shutil.rmtree(home)
    ws = Workspace.init(home)
    with tempfile.TemporaryDirectory(prefix="jejak-demo-") as tmp:
        say(f"generating {rows:,} synthetic participants")
        files = generate(Path(tmp), participants=rows, snapshots=3, seed=seed, fmt="parquet", progress=progress)
        with Registry(ws.registry_path) as reg:
            for f in files:
                say(f"importing {f.dataset} as of {f.as_of}")
                reg.import_snapshot(f.path, f.dataset, KEYS[f.dataset], f.as_of)
            datasets = reg.datasets()
    return DemoResult(ws, datasets)
