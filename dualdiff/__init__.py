"""dualdiff: exact derivatives of NumPy code, forward and reverse mode over one rule table."""

from dualdiff import rules  # noqa: F401  (fills the rule table)
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._tracer import primitive
from dualdiff.dual import Dual
from dualdiff.transforms import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)

__all__ = [
    "Dual",
    "defconstant",
    "defjvp",
    "defvjp",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "primitive",
    "value_and_grad",
    "vjp",
]
