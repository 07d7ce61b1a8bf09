"""Derivative rules, one module per family; importing this package fills the rule table."""

from dualdiff.rules import (  # noqa: F401
    complex_values,
    elementwise,
    fft,
    linalg,
    linalg_eig,
    numpy_extra,
    numpy_more,
    reductions,
    shape,
    special,
)
