"""The comparison of a leaked cell with a registry cell: the cheap path for canonical timestamps and
amounts (what a marked release writes) must decide exactly as the general path does."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jejak.normalise import _canonical_agree, agree_sql, install
from jejak.roles import Role

_CON = duckdb.connect()
install(_CON)


def _general(role: Role, a: str, b: str) -> str:
    """agree_sql without its canonical shortcut: the reference it must equal."""
    full = agree_sql(role, a, b)
    fast = _canonical_agree(role, a, b)
    assert fast is not None and f"coalesce({fast}, " in full
    return full.replace(f"coalesce({fast}, ", "coalesce(NULL, ")


def _both(role: Role, x: str | None, y: str | None) -> tuple[object, object]:
    row = _CON.execute(f"SELECT {agree_sql(role, '$1', '$2')}, {_general(role, '$1', '$2')}", [x, y]).fetchone()
    assert row is not None
    return row[0], row[1]


_ts = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31))
_ts_text = st.one_of(
    _ts.map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    _ts.map(lambda d: d.strftime("%d/%m/%Y %H:%M:%S")),
    _ts.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S")),
    _ts.map(lambda d: d.isoformat(sep=" ")),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(a=_ts_text, shift=st.integers(-4000, 4000))
@example(a="2025-01-01 00:00:00", shift=2400).via("the edge of near")
@example(a="2024-12-31 23:59:59", shift=1).via("a shift across midnight is not near")
def test_the_timestamp_shortcut_decides_as_the_general_comparison(a: str, shift: int) -> None:
    try:
        b = (datetime.strptime(a, "%Y-%m-%d %H:%M:%S") + timedelta(seconds=shift)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        b = a[::-1]
    fast, general = _both(Role.TIMESTAMP, a, b)
    assert fast == general


_amount = st.one_of(st.integers(-10**12, 10**12).map(str), st.sampled_from(
    ["0991", "991", "+5", "12.5", "0x10", "1_000", "1e3", " 991", "1.000.000", "Rp 5.000", "", "abc"]))


@settings(max_examples=300, deadline=None)
@given(a=_amount, b=_amount)
@example(a="991", b="1000").via("the smallest amount that can be near")
@example(a="990", b="999").via("below it, exact only")
def test_the_amount_shortcut_decides_as_the_general_comparison(a: str, b: str) -> None:
    fast, general = _both(Role.AMOUNT, a, b)
    assert fast == general


@pytest.mark.parametrize(("a", "b", "agree"), [
    ("2025-03-01 10:00:00", "2025-03-01 10:00:03", True),
    ("2025-03-01 10:00:00", "2025-03-01 10:41:00", False),
    ("2025-03-01 23:59:59", "2025-03-02 00:00:01", False),
])
def test_a_marked_timestamp_agrees_within_the_release_shift_and_the_same_day(a: str, b: str, agree: bool) -> None:
    assert _both(Role.TIMESTAMP, a, b) == (agree, agree)


_phone = st.one_of(st.from_regex(r"(0|62|\+62 ?)8[1-9][0-9]{7,9}", fullmatch=True),
                   st.sampled_from(["0812-3456-7890", "+62 812 3456 7890", "12345", "", "abc"]))
_email = st.one_of(st.emails(), st.sampled_from(["A@B.CO", " a@b.co ", "", "x"]))
_carrier_values = {
    Role.TIMESTAMP: _ts_text,
    Role.AMOUNT: _amount,
    Role.PHONE: _phone,
    Role.EMAIL: _email,
}


def _moved(value: str, by: int) -> str:
    """``value`` moved as a release or a leaker moves it: a timestamp by seconds, an amount by rupiah."""
    try:
        when = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(int(value) + by % 19 - 9) if value.isdigit() else value
    return (when + timedelta(seconds=by)).strftime("%Y-%m-%d %H:%M:%S")


@settings(max_examples=300, deadline=None)
@given(data=st.data(), role=st.sampled_from(sorted(_carrier_values, key=str)))
def test_a_carrier_number_decides_as_the_text_comparison_where_both_sides_have_one(data, role: Role) -> None:
    """verify._best_versions trusts these numbers instead of re-reading a marked leak's text."""
    from jejak.normalise import carrier_agree_sql, carrier_key_sql

    a = data.draw(_carrier_values[role])
    b = data.draw(st.one_of(_carrier_values[role], st.just(a), st.integers(-3000, 3000).map(lambda d: _moved(a, d))))
    ka, kb, text = _CON.execute(
        f"SELECT {carrier_key_sql(role, '$1')}, {carrier_key_sql(role, '$2')}, {agree_sql(role, '$1', '$2')}",
        [a, b]).fetchone()
    if ka is None or kb is None:
        return  # undecided: the text comparison runs
    (by_number,) = _CON.execute(f"SELECT {carrier_agree_sql(role, '$1', '$2')}", [ka, kb]).fetchone()
    assert by_number == text
