"""Dating a leak: the extraction window contains the true extraction time, noise rows or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from jejak.dating import extraction_window, timestamp_sql
from jejak.registry import Registry


@pytest.fixture
def ro(synth_registry: Path) -> Iterator[Registry]:
    reg = Registry(synth_registry, read_only=True)
    yield reg
    reg.close()


def leak_taken_at(reg: Registry, when: datetime, *, share: float, noise: int, seed: int) -> None:
    """``_jj_linked`` for a leak extracted at ``when``: each sampled row shows the version true then.

    The generator stamps every change with its ``TSUPDATE``, so a version was true from its own
    update time until the next version's. Rows removed later are left out near their removal
    (only the snapshot bracket of a removal is known). ``noise`` rows are linked to versions
    drawn at random.
    """
    ts = timestamp_sql('"TSUPDATE"')
    snaps = reg.dataset("peserta").snapshots
    reg.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _truth AS
            WITH v AS (
                SELECT _key, _valid_from, _valid_to, {ts} AS born,
                       lead({ts}) OVER (PARTITION BY _key ORDER BY _valid_from) AS died,
                       lead(_valid_from) OVER (PARTITION BY _key ORDER BY _valid_from) AS next_from
                FROM rows_peserta)
            SELECT _key, _valid_from AS _from, _valid_to AS _to FROM v
            WHERE born <= ?::TIMESTAMP AND (died IS NULL OR died > ?::TIMESTAMP)
              AND (_valid_to IS NULL OR next_from IS NOT NULL
                   OR ?::TIMESTAMP < (SELECT max(d) FROM unnest(?::DATE[]) t(d) WHERE d < _valid_to))""",
        [when, when, when, snaps],
    )
    reg.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_linked AS
            SELECT row_number() OVER (ORDER BY hash(_key, {seed})) AS _line, _key, 'nik' AS _via,
                   1.0 AS _match_p, CASE WHEN _to IS NULL THEN 'current' ELSE 'outdated' END AS _class,
                   false AS _dup, _from, _to FROM
            (SELECT * FROM _truth WHERE hash(_key, {seed}) % 1000 < {int(share * 1000)}
             UNION ALL
             SELECT * FROM (SELECT _key, _valid_from, _valid_to FROM rows_peserta
                            ORDER BY hash(_key, _valid_from, {seed} + 1) LIMIT {noise}))"""
    )


SNAPS = [date(2025, 1, 1), date(2025, 7, 2), date(2025, 12, 31)]


@pytest.mark.parametrize(
    "when",
    [
        datetime(2025, 3, 14, 10, 30),  # between the first two snapshots
        datetime(2025, 7, 2, 0, 0),  # exactly at a snapshot
        datetime(2025, 10, 1, 16, 45),  # between the last two
        datetime(2025, 12, 30, 9, 0),  # the day before the last snapshot
        datetime(2024, 11, 20, 12, 0),  # before the registry's first snapshot
    ],
)
@pytest.mark.parametrize("noise", [0, 8])
def test_the_window_contains_the_true_extraction_time(ro: Registry, when: datetime, noise: int) -> None:
    assert ro.dataset("peserta").snapshots == SNAPS
    leak_taken_at(ro, when, share=0.6, noise=noise, seed=noise)
    w = extraction_window(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert w.start is not None and w.start <= when
    assert w.end is None or when < w.end
    assert w.from_ is not None and w.from_ <= when.date() and (w.to is None or when.date() <= w.to)
    assert w.dated_rows == w.support + w.weak + w.contradicting
    assert w.contradicting <= noise
    assert w.support > 0


@pytest.mark.parametrize("when", [datetime(2025, 3, 14, 10, 30), datetime(2025, 10, 1, 16, 45)])
def test_update_timestamps_narrow_the_window_far_below_the_snapshot_spacing(ro: Registry, when: datetime) -> None:
    leak_taken_at(ro, when, share=1.0, noise=0, seed=1)
    w = extraction_window(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert w.start is not None and w.end is not None
    assert w.end - w.start < timedelta(days=20)  # snapshots are 182 days apart


def test_a_leak_of_rows_that_never_changed_gives_weak_rows_and_no_claimed_support(ro: Registry) -> None:
    ro.con.execute(
        """CREATE OR REPLACE TEMP TABLE _jj_linked AS
           SELECT row_number() OVER () AS _line, _key, 'current' AS _class, _valid_from AS _from, _valid_to AS _to
           FROM rows_peserta WHERE _valid_to IS NULL AND _valid_from = DATE '2025-01-01' LIMIT 50"""
    )
    w = extraction_window(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert (w.support, w.weak, w.contradicting, w.dated_rows) == (0, 50, 0, 50)
    assert w.to is None and w.to_json()["to"] is None


def test_no_linked_rows_gives_an_open_window_with_nothing_counted(ro: Registry) -> None:
    ro.con.execute(
        "CREATE OR REPLACE TEMP TABLE _jj_linked AS SELECT 1::BIGINT AS _line, NULL::VARCHAR AS _key, "
        "'fabricated' AS _class, NULL::DATE AS _from, NULL::DATE AS _to"
    )
    w = extraction_window(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert (w.from_, w.to, w.dated_rows) == (None, None, 0)
    assert set(w.to_json()) >= {"from", "to", "support", "contradicting", "dated_rows", "method"}
