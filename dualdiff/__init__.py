"""dualdiff: exact derivatives of NumPy code, forward and reverse mode over one rule table."""

from dualdiff import numpy, rules, testing  # noqa: F401  (rules fills the rule table)
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._tracer import primitive
from dualdiff.dispatch import JacobianPlan, jacobian, plan_jacobian
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
    "JacobianPlan",
    "defconstant",
    "defjvp",
    "defvjp",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "numpy",
    "plan_jacobian",
    "primitive",
    "testing",
    "value_and_grad",
    "vjp",
]
