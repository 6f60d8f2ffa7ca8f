"""The evaluation harness (``jejak eval``) end to end on a small scratch workspace."""

from __future__ import annotations

from pathlib import Path

from jejak.evaluation import evaluate


def test_the_harness_names_leakers_accuses_no_innocent_and_dates_every_leak(tmp_path: Path) -> None:
    report = evaluate(tmp_path, participants=3_000, releases=40, innocent_leaks=2, seeds=1,
                      scenarios=["unmodified extract", "2 colluders, rows interleaved"])
    j = report.to_json()
    needed = {r["scenario"]: r["rows"] for r in j["rows_needed"]}
    assert needed["unmodified extract"] is not None and needed["unmodified extract"] <= 50
    assert needed["2 colluders, rows interleaved"] is not None and needed["2 colluders, rows interleaved"] <= 2_000
    assert j["innocent"]["trials"] > 0 and j["innocent"]["accused_at_1e-6"] == 0
    # every leak tried (the search's and the innocent trials') was dated, each window right
    assert j["dating"]["trials"] >= 4
    assert j["dating"]["window_contains_extraction"] == j["dating"]["trials"]
