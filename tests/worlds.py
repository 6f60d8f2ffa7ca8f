"""A small world for attribution tests: a registry, marked releases with their files, a registered one.

Shared by tests/test_attribution.py and tests/test_threat_model.py (one module-scoped world each).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from jejak import attack, keys
from jejak.attribution import Attribution, attribute
from jejak.ledger import Ledger, ReleaseRecord
from jejak.linkbykey import link_by_key
from jejak.registry import Registry
from jejak.release import ReleaseRequest, create_release, register_release
from jejak.synth import generate
from jejak.workspace import Workspace


class World:
    def __init__(self, ws: Workspace, releases: dict[str, ReleaseRecord], files: dict[str, Path]) -> None:
        self.ws, self.releases, self.files = ws, releases, files
        self.tables = {k: attack.read_release(p) for k, p in files.items()}
        with Registry(ws.registry_path, read_only=True) as reg:
            self.roles = reg.dataset("peserta").roles

    def leak(self, table: pa.Table, origin: dict[str, str] | None = None, *,
             releases: list[ReleaseRecord] | None = None, threshold: float = 1e-6,
             window: object = None, read_poorly: str | None = None) -> Attribution:
        """Link ``table`` to the registry by key and attribute it."""
        origin = origin or {c: c for c in table.column_names}
        ledger = Ledger.open(self.ws.ledger_url)
        with Registry(self.ws.registry_path, read_only=True) as reg:
            reg.con.register("_src", table)
            reg.con.execute("CREATE TEMP TABLE _leak AS SELECT *, row_number() OVER () + 1 AS _line FROM _src")
            info = reg.dataset("peserta")
            link_by_key(reg.con, "_leak", origin, info, ledger,
                        index_key=keys.canary_index_key(self.ws.master_secret()))
            return attribute(reg.con, registry=reg, ledger=ledger, master=self.ws.master_secret(), dataset=info,
                             threshold=threshold, releases=releases, window=window, read_poorly=read_poorly)

    def attacked(self, names: list[str], attacks: list[str], rows: int, seed: int) -> attack.Leak:
        rng = np.random.default_rng(seed)
        return attack.apply([attack.start(self.tables[n], self.roles) for n in names], attacks, rows, rng, key="NOKA")

    def investigate(self, table: pa.Table, path: Path, fmt: str = "csv") -> dict[str, Any]:
        """Write ``table`` as a leaked file and run the whole investigation on it; the verdict JSON."""
        from jejak.investigate import investigate

        attack.write(table, path, fmt)
        return investigate(self.ws, path).to_json()

    def names(self, suspects: list[str]) -> set[str]:
        """Release ids as the world's tags (A, B, C, R)."""
        tags = {r.release_id: k for k, r in self.releases.items()}
        return {tags.get(s, s) for s in suspects}

    def registry_copy(self, where: str = "true") -> pa.Table:
        with Registry(self.ws.registry_path, read_only=True) as reg:
            cols = reg.dataset("peserta").columns
            sel = ", ".join(f'"{c}"' for c in cols)
            return reg.con.sql(f"SELECT {sel} FROM ({reg.as_of_sql('peserta')}) WHERE {where}").to_arrow_table()


def make_world(base: Path) -> World:
    """900 participants; marked releases A (KC Bandung), B (PT Vendor), C (RS Sehat, active only) and a
    registered release R of the inactive ones."""
    ws = Workspace.init(base / "ws")
    for f in generate(base / "d", participants=900, snapshots=1, seed=5, patients=False):
        with Registry(ws.registry_path) as reg:
            reg.import_snapshot(f.path, "peserta", "NOKA", f.as_of)
    with Ledger.open(ws.ledger_url) as ledger:
        for name in ("KC Bandung", "PT Vendor", "RS Sehat", "Old Vendor"):
            ledger.add_recipient(name, "vendor")
    releases, files = {}, {}
    for tag, who, where in (("A", "KC Bandung", None), ("B", "PT Vendor", None),
                            ("C", "RS Sehat", "KDSTATUSPST = 'AKTIF'")):
        files[tag] = base / f"{tag}.csv"
        releases[tag] = create_release(ws, ReleaseRequest("peserta", who, files[tag], where=where))
    releases["R"] = register_release(ws, dataset="peserta", recipient="Old Vendor", as_of=date(2025, 3, 1),
                                     columns=None, where="KDSTATUSPST = 'NONAKTIF'", purpose="legacy export")
    return World(ws, releases, files)


