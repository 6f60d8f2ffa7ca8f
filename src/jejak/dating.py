"""When was the leaked data extracted? The window the most linked rows agree on.

Each linked row shows one version of a registry row, and a version existed only for a while:

* it came into being when its change was made — after the previous snapshot, and exactly at the
  update time the version itself shows (the latest of its timestamp-role columns, e.g.
  ``TSUPDATE``) when that time is later than the previous snapshot;
* it stopped being true when the next version's change was made — before the snapshot that
  first shows the next version (``_to``), and exactly at the next version's update time when that
  is known and later than the version's own.

So each row constrains the extraction time ``t`` to a half-open interval ``[lo, hi)``. Snapshot
dates alone only bracket a change between two snapshots; update timestamps pin it down to the
second, so the window can be far narrower than the snapshot spacing.

A few rows may be wrong (a bad probabilistic link, a fabricated row that happens to match, a
leaker mixing two extracts). The window reported is the one contained in the most row intervals
— a sweep over interval endpoints in SQL — and the rows whose interval misses it are counted as
contradicting. Rows whose version never changed and existed before the first snapshot say only
"after some old date": they are counted apart as *weak*, not as support.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from jejak.registry import DatasetInfo, quote
from jejak.roles import Role

METHOD = "version intervals of changing fields, narrowed by update timestamps; window most rows agree on"


@dataclass(frozen=True)
class Window:
    """The extraction window: ``from_`` and ``to`` are inclusive dates (None = unbounded)."""

    from_: date | None
    to: date | None
    support: int  # informative rows whose interval contains the window
    contradicting: int  # rows whose interval misses the window
    dated_rows: int  # linked rows (current or outdated) that give an interval
    method: str
    weak: int = 0  # uninformative rows consistent with the window (never changed, older than the registry)
    start: datetime | None = None  # the window to the second: [start, end)
    end: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The verdict's ``snapshot`` section."""
        return {
            "from": self.from_.isoformat() if self.from_ else None,
            "to": self.to.isoformat() if self.to else None,
            "support": self.support,
            "contradicting": self.contradicting,
            "dated_rows": self.dated_rows,
            "weak": self.weak,
            "method": self.method,
            "start": self.start.isoformat(sep=" ") if self.start else None,
            "end": self.end.isoformat(sep=" ") if self.end else None,
        }


def timestamp_sql(v: str) -> str:
    """A TIMESTAMP from registry text: ISO (``T`` or space, optional fraction) or ``dd/mm/yyyy hh:mm[:ss]``."""
    return (
        f"coalesce(TRY_CAST({v} AS TIMESTAMP), try_strptime({v}, '%d/%m/%Y %H:%M:%S'), "
        f"try_strptime({v}, '%d/%m/%Y %H:%M'))"
    )


def _version_ts(dataset: DatasetInfo, alias: str) -> str:
    cols = [c for c in dataset.columns if dataset.roles.get(c) == Role.TIMESTAMP]
    if not cols:
        return "NULL::TIMESTAMP"
    parts = [timestamp_sql(f"{alias}.{quote(c)}") for c in cols]
    return parts[0] if len(parts) == 1 else f"greatest({', '.join(parts)})"


def intervals_sql(*, linked: str, dataset: DatasetInfo, versions_table: str) -> str:
    """SELECT ``_line, lo, hi, informative`` (TIMESTAMPs, NULL = unbounded) for every dated row."""
    snaps = ", ".join(f"DATE '{d.isoformat()}'" for d in dataset.snapshots) or "NULL::DATE"
    first = f"DATE '{dataset.snapshots[0].isoformat()}'" if dataset.snapshots else "NULL::DATE"
    return f"""
        WITH rows AS (
            SELECT l._line, l._from, l._to,
                   {_version_ts(dataset, 'v')} AS ts,
                   {_version_ts(dataset, 'n')} AS next_ts,
                   list_max(list_filter([{snaps}], lambda x: x < l._from)) AS prev_snap
            FROM {linked} l
            JOIN {versions_table} v ON v._key = l._key AND v._valid_from = l._from
            -- only outdated rows have a next version: join the versions of their keys alone
            LEFT JOIN (SELECT * FROM {versions_table}
                       WHERE _key IN (SELECT _key FROM {linked} WHERE _to IS NOT NULL)) n
                   ON n._key = l._key AND n._valid_from = l._to
            WHERE l._class IN ('current', 'outdated') AND l._from IS NOT NULL
        ),
        bounds AS (
            SELECT _line,
                   -- the change that made this version happened after the previous snapshot,
                   -- at the version's own update time when that is later
                   CASE WHEN prev_snap IS NULL THEN ts
                        ELSE greatest(prev_snap::TIMESTAMP, coalesce(ts, prev_snap::TIMESTAMP)) END AS lo,
                   -- it stopped being true no later than the snapshot showing the next version,
                   -- and exactly when the next version was updated, if that is known and later
                   CASE WHEN _to IS NULL THEN NULL
                        WHEN next_ts > coalesce(ts, prev_snap::TIMESTAMP, next_ts - INTERVAL 1 SECOND)
                             THEN least(next_ts, _to::TIMESTAMP)
                        ELSE _to::TIMESTAMP END AS hi
            FROM rows
        )
        SELECT _line, lo, hi, hi IS NOT NULL OR coalesce(lo > {first}::TIMESTAMP, false) AS informative
        FROM bounds"""


def extraction_window(
    con: duckdb.DuckDBPyConnection, *, linked: str, dataset: DatasetInfo, versions_table: str
) -> Window:
    """The extraction window that the most linked rows support, with the rows against it."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _jj_dating AS "
        + intervals_sql(linked=linked, dataset=dataset, versions_table=versions_table)
    )
    try:
        return _sweep(con)
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_dating")


def _sweep(con: duckdb.DuckDBPyConnection) -> Window:
    dated = con.execute("SELECT count(*) FROM _jj_dating").fetchall()[0][0]
    if dated == 0:
        return Window(None, None, 0, 0, 0, "no linked rows to date")
    # Events: +1 where an interval opens, -1 where it closes (half-open, so at one instant the
    # closings count before the openings). NULL bounds are -inf/+inf. Segments between
    # consecutive event times carry the number of intervals containing them.
    best = con.execute(
        """
        WITH ev AS (
            SELECT coalesce(lo, TIMESTAMP '0001-01-01 00:00:00') AS t, 1 AS d FROM _jj_dating
            UNION ALL SELECT hi, -1 FROM _jj_dating WHERE hi IS NOT NULL
        ),
        pts AS (SELECT t, sum(d) AS d FROM ev GROUP BY t),
        seg AS (
            SELECT t AS s, lead(t) OVER (ORDER BY t) AS e, sum(d) OVER (ORDER BY t) AS n FROM pts
        ),
        top AS (SELECT * FROM seg WHERE n = (SELECT max(n) FROM seg) AND (e IS NULL OR e > s)),
        -- adjacent maximal segments (a closing and an opening at one instant) form one window
        grp AS (SELECT *, s <> coalesce(lag(e) OVER (ORDER BY s), s - INTERVAL 1 SECOND) AS brk FROM top),
        win AS (SELECT *, sum(brk::INTEGER) OVER (ORDER BY s) AS g FROM grp)
        SELECT min(s), max(e) FILTER (WHERE e IS NOT NULL), bool_or(e IS NULL)
        FROM win GROUP BY g ORDER BY min(s) LIMIT 1
        """
    ).fetchall()[0]
    start, end, open_end = best[0], best[1], best[2]
    start = None if start == datetime(1, 1, 1) else start
    if open_end:
        end = None
    counts = con.execute(
        """SELECT count(*) FILTER (WHERE inside AND informative), count(*) FILTER (WHERE inside AND NOT informative),
                  count(*) FILTER (WHERE NOT inside)
           FROM (SELECT informative,
                        (lo IS NULL OR ?::TIMESTAMP IS NOT NULL AND lo <= ?::TIMESTAMP)
                        AND (hi IS NULL OR ?::TIMESTAMP IS NOT NULL AND hi >= ?::TIMESTAMP) AS inside
                 FROM _jj_dating)""",
        [start, start, end, end],
    ).fetchall()[0]
    support, weak, contradicting = (int(x) for x in counts)
    return Window(
        from_=start.date() if isinstance(start, datetime) else None,
        to=(end - timedelta(microseconds=1)).date() if isinstance(end, datetime) else None,
        support=support,
        contradicting=contradicting,
        dated_rows=int(dated),
        method=METHOD,
        weak=weak,
        start=start if isinstance(start, datetime) else None,
        end=end if isinstance(end, datetime) else None,
    )
