"""Derivative rules, one module per family; importing this package fills the rule table."""

from dualdiff.rules import (  # noqa: F401
    elementwise,
    linalg,
    numpy_extra,
    reductions,
    shape,
    special,
)
