"""A released file fed back into the registry is refused, naming the release.

A release carries marks: timestamps and amounts moved by secret shifts, phones and e-mails in a
secret rendering. Imported as a snapshot, those values would become the registry's own: every
later release would start from marked values, and the registry could no longer tell a leak of
that release from an unmarked copy of itself. So before a later snapshot changes any row, the
rows it would change are attributed like a leak (``jejak.attribution``), against every marked
release of the dataset; if one is named at 1e-6, the import is refused and nothing changes.

The check costs one attribution of at most ``registry.SCREEN_ROWS`` rows, and runs only when a
snapshot changes rows and the dataset has marked releases.
"""

from __future__ import annotations

import logging

import duckdb

from jejak.errors import RegistryError
from jejak.registry import Registry, Screen
from jejak.sqltext import quote
from jejak.workspace import Workspace

log = logging.getLogger(__name__)

THRESHOLD = 1e-6
_LINKED = "_jj_feedback"


def screen(ws: Workspace, registry: Registry, dataset: str) -> Screen:
    """The import screen of ``dataset`` in ``ws``: refuses rows that carry a release's marks."""

    def check(con: duckdb.DuckDBPyConnection, changed: str, columns: list[str]) -> None:
        from jejak.attribution import attribute, strength
        from jejak.ledger import Ledger

        with Ledger.open(ws.ledger_url) as ledger:
            marked = [r for r in ledger.releases(dataset=dataset) if r.kind == "marked"]
            if not marked:
                return
            cols = ", ".join(quote(c) for c in columns)
            # Shaped like a linked leak: each changed row is "current" and linked by its key.
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {_LINKED} AS
                    SELECT row_number() OVER (ORDER BY _key) AS _line, _key, 'current' AS _class, {cols}
                    FROM {changed}""")
            try:
                result = attribute(con, registry=registry, ledger=ledger, master=ws.master_secret(),
                                   dataset=registry.dataset(dataset), linked=_LINKED, releases=marked,
                                   threshold=THRESHOLD)
            finally:
                con.execute(f"DROP TABLE IF EXISTS {_LINKED}")
        if result.suspects:
            top = next(s for s in result.releases if s.suspect)
            log.warning("import refused: the snapshot carries the marks of %s", top.release_id)
            raise RegistryError(
                f"this snapshot carries the marks of release {top.release_id} (to {top.recipient}): its changed "
                f"rows agree with that release's secret marks, which an unrelated file would do with probability "
                f"{strength(top.log10_bound or 0.0)}. A released file must not be imported into the registry; "
                "import the source system's own export instead. Nothing was changed.")

    return check
