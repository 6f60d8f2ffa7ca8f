"""Validators and normalisers for Indonesian identifiers, as Python functions and DuckDB macros."""
