"""Where an investigation's time goes: one investigation in this process, timed stage by stage.

    python benchmarks/stages.py WORKSPACE LEAK [--repeats N]

It calls the library as ``jejak investigate`` does, records when each stage of the progress
callback starts, reads the leak into the page cache first (see ``scale.warm``), and prints each
stage's seconds (the median of ``--repeats`` runs). The cases it makes are removed afterwards.
The stage table of "The floors, measured" in ``docs/scale.md`` comes from it, run on the cached
workspaces and leaks of ``make bench`` and ``make bench-scale``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import warm  # noqa: E402

from jejak.investigate import investigate  # noqa: E402
from jejak.workspace import Workspace  # noqa: E402


def timed(ws: Workspace, leak: Path) -> dict[str, float]:
    marks: list[tuple[str, float]] = []

    def progress(stage: str, _done: int, _total: int) -> None:
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))

    start = time.perf_counter()
    verdict = investigate(ws, leak, progress=progress)
    end = time.perf_counter()
    if verdict.case_dir is not None:
        shutil.rmtree(verdict.case_dir)
    out = {stage: later - t for (stage, t), (_, later) in zip(marks, marks[1:] + [("", end)], strict=True)}
    out["total"] = end - start
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workspace", type=Path)
    p.add_argument("leak", type=Path)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    ws = Workspace.open(args.workspace)
    runs = []
    for _ in range(args.repeats):
        warm(args.leak, ws.registry_path)
        runs.append(timed(ws, args.leak))
    for stage in runs[0]:
        print(f"{stage:<28} {statistics.median(r[stage] for r in runs):8.2f} s")


if __name__ == "__main__":
    main()
