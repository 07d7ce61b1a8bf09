"""Derivative rules, one module per family; importing this package fills the rule table."""

from dualdiff.rules import elementwise, linalg, reductions, shape, special  # noqa: F401
