"""The evaluation harness (``jejak eval``) end to end on a small scratch workspace."""

from __future__ import annotations

from pathlib import Path

from jejak.evaluation import evaluate


def test_the_harness_names_leakers_accuses_no_innocent_and_dates_every_leak(tmp_path: Path) -> None:
    report = evaluate(tmp_path, participants=3_000, releases=40, leaks=3, seeds=1,
                      scenarios=["unmodified extract", "2 colluders, rows interleaved",
                                 "seconds and last two amount digits randomised",
                                 "unmarked registry copy, lower-cased headers"])
    j = report.to_json()
    rows = {r["scenario"]: r for r in j["rows_needed"]}
    assert rows["unmodified extract"]["rows"] is not None and rows["unmodified extract"]["rows"] <= 50
    assert rows["2 colluders, rows interleaved"]["rows"] is not None
    assert rows["2 colluders, rows interleaved"]["rows"] <= 2_000
    assert rows["2 colluders, rows interleaved"]["outcomes"] == {"named": 3}
    randomised = rows["seconds and last two amount digits randomised"]["outcomes"]
    assert set(randomised) <= {"named", "candidates"} and sum(randomised.values()) == 3
    assert rows["unmarked registry copy, lower-cased headers"]["outcomes"] == {"unreleased": 3}
    assert j["innocent"]["trials"] > 0 and j["innocent"]["accused_at_1e-6"] == 0
    # every leak tried (the search's and the innocent trials') was dated, each window right
    assert j["dating"]["trials"] >= 4
    assert j["dating"]["window_contains_extraction"] == j["dating"]["trials"]
