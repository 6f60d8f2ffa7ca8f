"""Release filters (``--where``): parsed, checked against an allow-list, and re-rendered.

A filter is a boolean expression over the dataset's columns. It is never pasted into SQL: it is
parsed with sqlglot, every node must be of an allowed kind (comparisons, boolean logic, IN,
BETWEEN, LIKE, IS NULL, literals, a few string functions), every column must exist, and the SQL
that runs is sqlglot's rendering of the checked tree with every identifier quoted. Subqueries,
statements, unknown functions and comments therefore cannot reach the database.
"""

from __future__ import annotations

from functools import cache

from jejak.errors import JejakError


@cache
def _allowed() -> tuple[type, ...]:
    from sqlglot import exp  # imported on first use: sqlglot costs a tenth of a second to load

    return (
        exp.And, exp.Or, exp.Not, exp.Paren,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
        exp.In, exp.Between, exp.Like, exp.ILike, exp.Is, exp.Null, exp.Boolean,
        exp.Column, exp.Identifier, exp.Literal, exp.Tuple, exp.Neg,
        exp.Substring, exp.Lower, exp.Upper, exp.Trim, exp.Length, exp.Left, exp.Right,
        exp.StartsWith, exp.DataType, exp.Cast, exp.TryCast, exp.Concat, exp.DPipe,
        exp.Add, exp.Sub, exp.Mul, exp.Div,
    )


class FilterError(JejakError):
    """The --where expression is not a valid, allowed filter."""


def compile_filter(text: str, columns: list[str]) -> str:
    """Validate ``text`` against ``columns`` and return the SQL to run (DuckDB dialect)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except TokenError:
        # sqlglot's message quotes the filter, which may quote a person's NIK: never passed on.
        raise FilterError("--where is not a valid expression: a quote or bracket is not closed") from None
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise FilterError(
            f"--where is not a valid expression (line {first.get('line', '?')}, column {first.get('col', '?')}): "
            f"{first.get('description', 'syntax error')}"
        ) from None
    if not isinstance(tree, exp.Condition) or isinstance(tree, exp.Column | exp.Literal):
        raise FilterError("--where must be a condition, such as KDKANTOR = '0901'")
    known = {c.lower(): c for c in columns}
    for node in tree.walk():
        if not isinstance(node, _allowed()):
            raise FilterError(f"--where may not use {node.key.upper()}; allowed are comparisons, AND/OR/NOT, "
                              "IN, BETWEEN, LIKE, IS NULL and substr/lower/upper/trim/length")
        if isinstance(node, exp.Column):
            if node.table:
                raise FilterError("--where columns must be plain names, without a table")
            real = columns_match(node.name, known)
            if real is None:
                raise FilterError(f"--where names column {node.name!r}, which the dataset does not have")
            node.set("this", exp.to_identifier(real, quoted=True))
    return tree.sql(dialect="duckdb", identify=True)


def columns_match(name: str, known: dict[str, str]) -> str | None:
    """Exact column name, else a case-insensitive match (users type ``nik`` for ``NIK``)."""
    if name in known.values():
        return name
    return known.get(name.lower())
