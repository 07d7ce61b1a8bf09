"""dualdiff: exact derivatives of NumPy code, forward and reverse mode over one rule table."""

from numpy import sum  # noqa: A004  (dd.sum, as torch.sum: the seed post's snippet uses it)

from dualdiff import autograd, integrate, nn, numpy, optim, optimize, rules, testing  # noqa: F401  (rules: table)
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._structured import ravel_pytree
from dualdiff._tracer import primitive
from dualdiff.dispatch import JacobianPlan, plan_jacobian
from dualdiff.dual import Dual
from dualdiff.large import layer  # noqa: F401  (plugs the large-array layer into the tape)
from dualdiff.large.pool import release_memory
from dualdiff.options import engine_options
from dualdiff.replay import replay  # dd.replay, the transform (the module stays importable)
from dualdiff.sparse import jacobian_sparsity, sparse_hessian, sparse_jacobian
from dualdiff.tensor import Tensor, no_grad, tensor  # dd.tensor: the function, as torch.tensor
from dualdiff.transforms import (
    elementwise_grad,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    stop_gradient,
    value_and_grad,
    vjp,
)

__version__ = "0.1.0"  # as pyproject.toml says; tests/test_package.py checks it

__all__ = [
    "Dual",
    "JacobianPlan",
    "Tensor",
    "defconstant",
    "defjvp",
    "defvjp",
    "elementwise_grad",
    "engine_options",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacobian_sparsity",
    "jacrev",
    "jvp",
    "linearize",
    "nn",
    "no_grad",
    "numpy",
    "optim",
    "optimize",
    "plan_jacobian",
    "primitive",
    "ravel_pytree",
    "release_memory",
    "replay",
    "sparse",
    "sparse_hessian",
    "sparse_jacobian",
    "stop_gradient",
    "sum",
    "tensor",
    "testing",
    "value_and_grad",
    "vjp",
]
