"""jejak — custody and leak-tracing for personal data.

The package is the product; :mod:`jejak.cli` is a thin shell over it.
"""

__version__ = "0.1.0"
