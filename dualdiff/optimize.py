"""SciPy's optimizers with exact derivatives: ``minimize``, ``least_squares``, ``root``,
``curve_fit``.

Each function takes SciPy's own signature and returns SciPy's own result; dualdiff fills in
the derivatives the chosen method can use. Which method uses what is data (``MINIMIZE_USES``,
``ROOT_USES``), read in one place. Everything handed to SciPy is float64 and flat; ``x0`` may
be an array of any shape or a dict / nested structure of arrays, and ``result.x`` comes back
in that structure.

Inside a transform (``dd.grad``, ``dd.jacobian``, ``dd.jvp``, ``dd.vjp``, ``dd.hessian``, ...),
``root``, ``minimize`` and ``least_squares`` whose ``args`` (or ``kwargs``, or ``fun``'s closure,
defaults or ``functools.partial`` arguments) hold traced values solve on plain values and return
a ``result.x`` differentiable in them by the implicit function theorem (``dualdiff._implicit``):
no derivative flows through SciPy's iterations. ``x0`` is a starting point, a constant.

Hessian-vector products at one point share one recording: the gradient's tangent map at x is
recorded once as a tape of linear ops (forward over reverse, with the tangent itself traced),
and each product is one sweep of that tape. The sweep computes ``H^T v``, which is ``H v``
because a Hessian is symmetric; the primal work of ``f`` and its gradient is not repeated.
"""

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.optimize as so
from scipy.sparse.linalg import LinearOperator

from dualdiff import _implicit
from dualdiff._implicit import (
    ActiveConstraintError,
    ImplicitFunctionError,
    SingularJacobianError,
    SolverFailedError,
    TracedClosureError,
)
from dualdiff._jacobian import Seeds
from dualdiff._tracer import Tracer, innermost, shape_of
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.engine import push, record
from dualdiff.replay import replay as replayed
from dualdiff.replay import replay_derivatives
from dualdiff.sparse import SparseHessian, SparseJacobian
from dualdiff.transforms import hessian, jacobian, value_and_grad

__all__ = [
    "ActiveConstraintError",
    "ImplicitFunctionError",
    "SingularJacobianError",
    "SolverFailedError",
    "TracedClosureError",
    "curve_fit",
    "least_squares",
    "minimize",
    "root",
]

# What each ``scipy.optimize.minimize`` method can use. "jac": the gradient, passed as
# ``jac=True`` so one forward and one backward pass give value and gradient; "hessp":
# Hessian-vector products; "hess": the dense Hessian; "constraint_jac": Jacobians of the
# constraints; "constraint_hess": the constraints' Hessian term of the Lagrangian.
MINIMIZE_USES: dict[str, frozenset[str]] = {
    "nelder-mead": frozenset(),
    "powell": frozenset(),
    "cobyla": frozenset(),
    "cobyqa": frozenset(),
    "cg": frozenset({"jac"}),
    "bfgs": frozenset({"jac"}),
    "l-bfgs-b": frozenset({"jac"}),
    "tnc": frozenset({"jac"}),
    "slsqp": frozenset({"jac", "constraint_jac"}),
    "newton-cg": frozenset({"jac", "hessp"}),
    "trust-ncg": frozenset({"jac", "hessp"}),
    "trust-krylov": frozenset({"jac", "hessp"}),
    "dogleg": frozenset({"jac", "hess"}),
    "trust-exact": frozenset({"jac", "hess"}),
    "trust-constr": frozenset({"jac", "hessp", "constraint_jac", "constraint_hess"}),
}
# A callable ``method``: SciPy hands it jac/hessp/constraints; products are computed on demand.
CUSTOM_METHOD_USES = frozenset({"jac", "hessp", "constraint_jac"})

# What each ``scipy.optimize.root`` method can use: MINPACK's hybrj and lmder take the
# Jacobian, given as ``jac=True`` with value and Jacobian from one forward pass of the whole
# basis (a square system: n directions either way, and forward mode yields the value too).
# The quasi-Newton and Krylov methods take no Jacobian.
ROOT_USES: dict[str, frozenset[str]] = {
    "hybr": frozenset({"jac"}),
    "lm": frozenset({"jac"}),
}

_HESSIANS = ("hess", "hessp")

# Sparse derivatives. least_squares(sparse="auto") detects the residuals' Jacobian pattern
# when there are at least SPARSE_MIN_SIZE unknowns and uses a compressed sparse Jacobian
# (SciPy's trf/dogbox then solve with LSMR) when at most SPARSE_MAX_DENSITY of it is nonzero;
# detection costs a few tens of f evaluations, once. The size threshold is high on purpose:
# below it a dense Jacobian's exact trust-region solve is affordable and more robust (LSMR
# stalls on ill-conditioned residuals such as discretised elliptic PDEs), above it the dense
# solve costs n^2 memory and n^3 time per iteration. Of the Hessian methods, only these
# accept a scipy.sparse Hessian (trust-ncg, trust-krylov and trust-exact need dense ones).
SPARSE_MIN_SIZE = 5000
SPARSE_MAX_DENSITY = 0.05
SPARSE_HESSIAN_METHODS = frozenset({"trust-constr", "newton-cg"})


def _f64(x):
    """SciPy's arrays as float64 (trust-constr passes int8 vectors to hessp)."""
    return np.asarray(x, dtype=np.float64)


def _float(value):
    """A one-element value (a NumPy scalar, or an array of shape (1,)) as a Python float."""
    return float(value) if np.ndim(value) == 0 else float(np.reshape(value, ()))


def _call(fun, x, args, kwargs):
    """``fun(x, *args, **kwargs)``; a TypeError while tracing names the usual cause."""
    if not isinstance(x, Tracer):
        return fun(x, *args, **kwargs)
    try:
        return fun(x, *args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"{error}\n\ndualdiff.optimize differentiates your function by running it on "
            "traced arrays. Build arrays from traced values with dualdiff.numpy.array. SciPy's "
            "Python-level functions such as scipy.optimize.rosen call np.asarray on their "
            "input and cannot be traced: write the formula in NumPy, e.g. "
            "np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)."
        ) from error


# -- x0 as one flat float64 vector ---------------------------------------------------------------


def _is_array_like(x):
    """An ndarray, a number, or a (nested) list/tuple of numbers: SciPy's own x0."""
    if isinstance(x, dict):
        return False
    if not isinstance(x, list | tuple):
        return True
    return all(np.ndim(leaf) == 0 and not isinstance(leaf, dict) for leaf in flatten(x)[0])


def _first(leaves):
    return leaves[0]


class _Packer:
    """Maps ``x0``'s structure to one flat float64 vector and back (traced or not)."""

    def __init__(self, x0):
        self.array = _is_array_like(x0)
        if self.array:
            leaves, self.unflatten = [x0 if np.ndim(x0) == 0 else np.asarray(x0)], _first
        else:
            leaves, self.unflatten = flatten(x0)
        arrays = [np.asarray(a) for a in leaves]
        if any(not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a) for a in arrays):
            raise TypeError("x0 must hold real numbers (an array, or a dict/list of arrays)")
        self.shapes = [a.shape for a in arrays]
        self.numbers = [not isinstance(a, np.ndarray) for a in leaves]  # come back as floats
        self.stops = np.cumsum([a.size for a in arrays]).tolist()
        self.flat = self.array and arrays[0].ndim == 1
        self.x0 = np.concatenate([_f64(a).ravel() for a in arrays])
        self.tree = x0

    def unravel(self, x):
        """The flat vector ``x`` (ndarray or tracer) in ``x0``'s structure."""
        if self.flat:
            return x
        if self.array:
            return np.reshape(x, self.shapes[0])
        starts = [0] + self.stops[:-1]
        return self.unflatten(
            [np.reshape(x[a:b], s) for a, b, s in zip(starts, self.stops, self.shapes)]
        )

    def result(self, x):
        """SciPy's flat solution in x0's structure (Python numbers in x0 come back as floats)."""
        leaves = [self.unravel(x)] if self.array else flatten(self.unravel(x))[0]
        return self.unflatten(
            [
                float(a) if n and not isinstance(a, Tracer) else a
                for a, n in zip(leaves, self.numbers)
            ]
        )

    def ravel(self, tree):
        """A structure like ``x0`` (or an already flat vector) as one flat float64 vector."""
        if not isinstance(tree, dict | list | tuple):
            return _f64(tree).ravel()
        return np.concatenate([_f64(a).ravel() for a in flatten(tree)[0]])

    def bounds(self, bounds):
        """Bounds for the flat vector: a dict per key of a dict ``x0``, or ``Bounds``."""
        if isinstance(bounds, dict):
            return self._dict_bounds(bounds)
        if isinstance(bounds, so.Bounds):  # arrays shaped like x0, or numbers for every entry
            shape = self.shapes[0] if self.array else self.x0.shape
            lb, ub, keep = (
                np.broadcast_to(b, shape).ravel()
                for b in (_f64(bounds.lb), _f64(bounds.ub), bounds.keep_feasible)
            )
            return so.Bounds(lb, ub, keep_feasible=keep)
        return bounds

    def _dict_bounds(self, bounds):
        if not isinstance(self.tree, dict):
            raise TypeError("bounds given as a dict need x0 to be a dict with the same keys")
        unknown = set(bounds) - set(self.tree)
        if unknown:
            raise ValueError(f"bounds has keys that x0 lacks: {sorted(unknown)}")
        lows, highs = [], []
        for key, value in self.tree.items():
            leaves = flatten(value)[0]
            shape = np.shape(leaves[0]) if len(leaves) == 1 else (sum(np.size(a) for a in leaves),)
            pair = bounds.get(key, (None, None))
            pair = (pair.lb, pair.ub) if isinstance(pair, so.Bounds) else pair
            for side, out, default in ((pair[0], lows, -np.inf), (pair[1], highs, np.inf)):
                side = default if side is None else side
                out.append(np.broadcast_to(_f64(side), shape).ravel())
        return so.Bounds(np.concatenate(lows), np.concatenate(highs))


def _user_callable(fn, packer, n_structured=1, ravel=True, args=()):
    """A user's jac/hess/hessp called with ``x`` (and ``p``) in x0's structure, args bound."""
    if not callable(fn):
        return fn

    def wrapped(*a):
        trees = [packer.unravel(_f64(v)) for v in a[:n_structured]]
        out = fn(*trees, *a[n_structured:], *args)
        return packer.ravel(out) if ravel else out

    return wrapped


def _structured_callback(callback, packer):
    """The user's callback sees ``x`` in x0's structure (both SciPy callback styles)."""
    if callback is None or packer.flat:
        return callback
    if set(inspect.signature(callback).parameters) == {"intermediate_result"}:

        def structured(intermediate_result):
            res = so.OptimizeResult(intermediate_result)
            res.x = packer.result(res.x)
            return callback(intermediate_result=res)

        return structured
    return lambda xk, *rest: callback(packer.result(xk), *rest)


# -- Hessian-vector products sharing one recording per point ------------------------------------


class _HessianAt:
    """``v -> H(x) v`` of a scalar ``f`` at one ``x``: one recording, then one sweep per product.

    The map ``t -> tangent of the gradient at x along t`` is linear; recording it with ``t``
    traced (forward over reverse, inside an outer recording) leaves a tape of linear tangent
    ops with every partial derivative already evaluated. Pulling ``v`` back through it gives
    ``H^T v = H v``, without repeating the primal work of ``f`` and its gradient.
    """

    def __init__(self, f, x):
        self.x_shape = x.shape
        self.linear = record(self._tangent_of_gradient, (np.zeros((1,) + x.shape), f, x), (0,))
        out = self.linear.out
        self.constant = not (isinstance(out, Tracer) and out.level == self.linear.level)

    def _tangent_of_gradient(self, t, f, x):
        """The gradient's tangent along ``t`` (batched, (1, *x.shape)); f(x) and the gradient
        come for free."""
        out, level = push(lambda y: self._gradient(f, y), (x,), (t,))
        if type(out) is Dual and out.level == level:
            return out.tangent
        return np.zeros((1,) + out.shape)  # the gradient does not depend on x: H = 0

    def _gradient(self, f, y):
        recording = record(f, (y,), (0,))
        # The gradient with its batch axis, (1, *x.shape), read without a squeeze: a squeeze
        # would be one more op on the tape, swept at every product.
        (g,) = recording.pull(np.ones((1,) + shape_of(recording.out)))
        self.value = _float(innermost(recording.out))
        self.gradient = _f64(innermost(g)).reshape(self.x_shape)
        return g

    def matvec(self, v):
        v = _f64(v).ravel()
        if self.constant:
            return np.zeros_like(v)
        # The tangent has shape (1, 1, *x.shape) (its batch axis, the gradient's own), and one
        # cotangent of it (1, 1, 1, *x.shape).
        (ct,) = self.linear.pull(v.reshape((1, 1, 1) + self.x_shape))
        return _f64(ct).reshape(v.shape)


class _NonFinite(Exception):
    """A NaN or inf in a derivative: stops SciPy's loop with a clear result."""


def _check_finite(values, what, x, value=None):
    """Raise ``_NonFinite`` for a NaN or inf in ``values`` (the sum is the cheap first test)."""
    if math.isfinite(values.sum()) or np.isfinite(values).all():
        return
    gradient = values if what == "gradient" else None
    raise _NonFinite(_nonfinite_message(what, values), x, value, gradient)


def _nonfinite_message(what, values):
    bad = np.flatnonzero(~np.isfinite(values))
    return (
        f"dualdiff stopped the optimizer: the {what} has {bad.size} NaN/inf entries (first at "
        f"flat index {bad[0]}). The result holds the last point with a finite gradient. A NaN "
        "usually means the objective left its domain (log, sqrt or a division at or below "
        "0): add bounds or constraints, or rewrite the objective to stay finite."
    )


class _Scalar:
    """The objective on SciPy's side: flat float64 in, float64 value and derivatives out."""

    def __init__(self, fun, args, packer, replay=False):
        self.fun, self.args, self.packer = fun, args, packer
        self.value_and_grad_f = value_and_grad(self.traced)
        self.hessian_f = replayed(hessian(self.traced)) if replay else hessian(self.traced)
        # replay=True: f, its gradient and Hessian products run as their recorded NumPy calls
        self.replayed = replay_derivatives(self.traced) if replay else None
        self.at = None  # (x bytes, _HessianAt) for the last x a product was asked at
        self.sparse_hessian = None  # a SparseHessian, once asked for
        # With our hessp, value_and_grad records the Hessian's tape at once: one recording
        # gives f, the gradient and every product at that x (SciPy's Newton-CG asks for the
        # gradient at x before the products; the few line-search points pay a little more).
        self.record_hessian = False
        self.last = None  # (x, value, gradient) at the last point with a finite gradient
        self.nfev = 0

    def traced(self, x):
        out = _call(self.fun, self.packer.unravel(x), self.args, {})
        if math.prod(shape_of(out)) != 1:
            raise ValueError(
                f"minimize needs fun to return a scalar; it returned shape {shape_of(out)}. "
                "Reduce it (np.sum, a norm), or use dualdiff.optimize.least_squares for a "
                "vector of residuals."
            )
        return out

    def value(self, x):
        self.nfev += 1
        if self.replayed is not None:
            return _float(self.replayed.value(_f64(x)))
        return _float(self.traced(_f64(x)))

    def user_value_and_grad(self, x):
        value, g = self.fun(self.packer.unravel(_f64(x)), *self.args)
        return _float(value), self.packer.ravel(g)

    def value_and_grad(self, x):
        x = _f64(x)
        self.nfev += 1
        if self.replayed is not None:
            value, g = self.replayed.value_and_grad(x)
            value, g = _float(value), _f64(g)
        elif self.record_hessian:  # Newton-type methods: products at this x will follow
            self.at = (x.tobytes(), _HessianAt(self.traced, x))
            value, g = self.at[1].value, self.at[1].gradient
        else:
            value, g = self.value_and_grad_f(x)
            value, g = _float(value), _f64(g)
        _check_finite(g, "gradient", x, value)
        self.last = (x.copy(), value, g)  # L-BFGS-B writes its next iterate into x in place
        return value, g

    def hessp(self, x, p):
        x = _f64(x)
        if self.replayed is not None:
            hp = _f64(self.replayed.hessp(x, _f64(p)))
            _check_finite(hp, "Hessian-vector product", x)
            return hp
        key = x.tobytes()
        if self.at is None or self.at[0] != key:
            self.at = (key, _HessianAt(self.traced, x))
        hp = self.at[1].matvec(p)
        _check_finite(hp, "Hessian-vector product", x)
        return hp

    def hess(self, x):
        x = _f64(x)
        H = _f64(self.hessian_f(x)).reshape(x.size, x.size)
        _check_finite(H, "Hessian", x)
        return H

    def sparse_hess(self, x):
        """The Hessian as a ``csr_array`` (pattern and coloring found at the first x)."""
        x = _f64(x)
        if self.sparse_hessian is None:
            self.sparse_hessian = SparseHessian(self.traced, x)
        H = self.sparse_hessian(x)
        _check_finite(H.data, "Hessian", x)
        return H

    def stopped(self, error):
        """SciPy-style result for a run that ``_NonFinite`` stopped."""
        x, value, g = self.last if self.last is not None else error.args[1:]
        return so.OptimizeResult(
            x=x,
            fun=value,
            jac=g,
            success=False,
            status=-1,
            message=error.args[0],
            nfev=self.nfev,
            njev=self.nfev,
        )


class _Vector:
    """A vector function of the flat x (constraints, residuals, systems): value and Jacobian."""

    def __init__(self, fun, args, packer, kwargs=None, square=False, replay=False):
        self.fun, self.args, self.kwargs, self.packer = fun, args, kwargs or {}, packer
        self.jacobian_f = replayed(jacobian(self.traced)) if replay else jacobian(self.traced)
        self.value_f = replayed(self.traced) if replay else self.traced
        self.replay = replay
        self.square = square  # root's system: as many equations as unknowns

    def traced(self, x):
        out = np.reshape(_call(self.fun, self.packer.unravel(x), self.args, self.kwargs), (-1,))
        if self.square:
            _implicit.check_size(out, self.packer.x0.size, "root")
        return out

    def value(self, x):
        return _f64(self.value_f(_f64(x)))

    def jac(self, x):
        x = _f64(x)
        return _f64(self.jacobian_f(x)).reshape(-1, x.size)

    def sparse_jac_if_sparse(self, x0, sparse):
        """A SparseJacobian callable when ``sparse`` says so (or "auto" finds it sparse)."""
        if sparse is False or (sparse == "auto" and x0.size < SPARSE_MIN_SIZE):
            return None
        sj = SparseJacobian(self.traced, x0)
        m, n = sj.shape
        if sparse == "auto" and sj.pattern.nnz > SPARSE_MAX_DENSITY * m * n:
            return None
        return lambda x: sj(_f64(x))

    def value_and_jac(self, x):
        """Value and Jacobian from one forward pass of the whole input basis."""
        x = _f64(x)
        if self.replay:  # the replayed Jacobian computes the value on its way
            return self.value(x), self.jac(x)
        out, level = push(self.traced, (x,), (Seeds(x.size).rows(0, x.size),))
        if type(out) is not Dual or out.level != level:  # the output does not depend on x
            return _f64(out), np.zeros((np.size(out), x.size))
        return _f64(out.value), _f64(out.tangent).T

    def hess(self, x, v):
        """``sum_i v_i * Hessian(f_i)(x)`` as a LinearOperator (trust-constr's constraint term)."""
        x, v = _f64(x), _f64(v).ravel()
        at = _HessianAt(lambda y: np.sum(v * self.traced(y)), x)
        return LinearOperator((x.size, x.size), matvec=at.matvec, rmatvec=at.matvec, dtype=float)


# -- constraints --------------------------------------------------------------------------------


def _constraints(constraints, packer, uses):
    """SciPy constraints with the flat x, exact Jacobians and (trust-constr) Hessian terms."""
    single = isinstance(constraints, dict | so.NonlinearConstraint | so.LinearConstraint)
    if not single and not constraints:
        return constraints
    items = [constraints] if single else list(constraints)
    return [_constraint(c, packer, uses) for c in items]


def _constraint(c, packer, uses):
    if isinstance(c, so.LinearConstraint):
        return c  # A acts on the flat x already
    if isinstance(c, dict):
        return _dict_constraint(c, packer, uses)
    vec = _Vector(c.fun, (), packer)
    jac = _user_callable(c.jac, packer, ravel=False)
    hess = _user_callable(c.hess, packer, ravel=False)
    if not callable(jac) and "constraint_jac" in uses:  # a finite-difference request: replace
        jac = vec.jac
    if not callable(hess) and "constraint_hess" in uses:  # SciPy's default BFGS(): replace
        hess = vec.hess
    return so.NonlinearConstraint(
        vec.value,
        c.lb,
        c.ub,
        jac=jac,
        hess=hess,
        keep_feasible=c.keep_feasible,
        finite_diff_rel_step=c.finite_diff_rel_step,
        finite_diff_jac_sparsity=c.finite_diff_jac_sparsity,
    )


def _dict_constraint(c, packer, uses):
    args = tuple(c.get("args", ()))
    vec = _Vector(c["fun"], args, packer)
    jac = _user_callable(c.get("jac"), packer, ravel=False, args=args)
    if jac is None and "constraint_jac" in uses:
        jac = vec.jac
    if "constraint_hess" in uses:  # trust-constr: a NonlinearConstraint carries the Hessian
        ub = 0.0 if c["type"] == "eq" else np.inf
        return so.NonlinearConstraint(vec.value, 0.0, ub, jac=jac, hess=vec.hess)
    out = {"type": c["type"], "fun": vec.value}
    return out if jac is None else {**out, "jac": jac}


# -- the public functions -----------------------------------------------------------------------


def _minimize_uses(method, constraints, bounds):
    if callable(method):
        return CUSTOM_METHOD_USES, method
    if method is None:  # SciPy's own default, resolved here to know what it can use
        method = "SLSQP" if constraints else "L-BFGS-B" if bounds is not None else "BFGS"
    return MINIMIZE_USES.get(method.lower(), frozenset()), method


def minimize(
    fun: Callable, x0: Any, args: tuple = (), method: str | Callable | None = None, **kwargs: Any
) -> so.OptimizeResult:
    """``scipy.optimize.minimize`` with the exact gradient, Hessian and constraint Jacobians.

    Same signature and result as SciPy's; every keyword passes through. dualdiff supplies
    what the method can use (see ``MINIMIZE_USES``): the gradient as ``jac=True`` (value and
    gradient from one forward and one backward pass), Hessian-vector products ``hessp``
    (Newton-CG, trust-ncg, trust-krylov, trust-constr; products at one point share one
    recording) or the dense ``hess`` (dogleg, trust-exact), and for constraints their
    Jacobians (SLSQP, trust-constr) and Hessian term (trust-constr). A ``jac``, ``hess`` or
    ``hessp`` you pass wins, as does a callable ``jac``/``hess`` on a constraint.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> scalar``, written with ``numpy``. ``scipy.optimize.rosen`` and
        other SciPy Python functions that call ``np.asarray`` cannot be traced: write the
        formula in NumPy.
    x0 : array_like, or dict / list / tuple of arrays
        Starting point. An array of any shape, or a structure of arrays; ``fun`` receives
        ``x`` in that structure, and so do callbacks and your own jac/hess/hessp (which may
        return the gradient in it; Hessians and constraint Jacobians use the flat order,
        leaves in ``x0``'s order, each raveled).
    args : tuple
        Extra arguments of ``fun`` (constants, not differentiated).
    method : str or callable, optional
        Any SciPy method; ``None`` resolves as SciPy does (BFGS, L-BFGS-B or SLSQP).
    **kwargs
        SciPy's keywords. ``bounds`` may also be a dict ``{key: (low, high)}`` for a dict
        ``x0`` (a missing key or ``None`` is unbounded; arrays broadcast to the entry).
        dualdiff adds ``sparse=True``: trust-constr and Newton-CG then get the Hessian as a
        ``scipy.sparse`` matrix computed by :class:`dualdiff.sparse.SparseHessian`; and
        ``replay=True``: f, its gradient, Hessian products and Hessian run as their recorded
        NumPy calls (:func:`dualdiff.replay`), with the same values, at a fraction of the
        per-call cost for small and middling ``x``. ``least_squares``, ``root`` and
        ``curve_fit`` take ``replay=True`` too (the residuals' values and Jacobian).

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result, with ``x`` in ``x0``'s structure. A NaN or inf in the gradient stops
        the run: ``success`` is False, ``message`` says why, ``x`` is the last point with a
        finite gradient.

    Raises
    ------
    ValueError
        If ``fun`` returns more than one element.
    SolverFailedError, SingularJacobianError, ActiveConstraintError, TracedClosureError
        Inside a transform: the solve failed, the Hessian at the solution is singular or
        ill-conditioned, a general constraint is active (or a bound weakly active), or ``fun``
        reads a traced value dualdiff cannot reach.

    Notes
    -----
    Inside a transform, ``res.x`` is differentiable in traced values ``fun`` reads: the
    gradient vanishes at the solution, so ``dx* = -H^{-1} (d grad_x f / dp) dp`` with the exact
    Hessian ``H``. A bound the solution sits on (with a gradient pushing into it) holds its
    coordinate there (derivative 0); strictly inactive inequality constraints are ignored.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> def rosen(x):
    ...     return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    >>> res = dd.optimize.minimize(rosen, np.zeros(5), method="trust-krylov")
    >>> bool(res.success), np.round(res.x, 6)
    (True, array([1., 1., 1., 1., 1.]))
    """
    args = args if isinstance(args, tuple) else (args,)
    params = _implicit.Parameters.find(fun, args)
    if params is not None:
        return _minimize_solution(params, x0, method, kwargs)
    packer = _Packer(x0)
    _implicit.probe(fun, x0, args, {}, "minimize")
    sparse = kwargs.pop("sparse", False)
    replay = kwargs.pop("replay", False)
    uses, method = _minimize_uses(method, kwargs.get("constraints"), kwargs.get("bounds"))
    objective = _Scalar(fun, args, packer, replay)
    if sparse:
        uses = _sparse_hessian_uses(method, uses, kwargs)
    kw = _minimize_kwargs(kwargs, uses, objective, packer)
    objective.record_hessian = kw.get("hessp") == objective.hessp and not replay
    scipy_fun = objective.value_and_grad if kw["jac"] is True else objective.value
    if kwargs.get("jac") is True:  # the user's fun returns (value, gradient) itself
        scipy_fun = objective.user_value_and_grad
    try:
        res = so.minimize(scipy_fun, packer.x0, method=method, **kw)
    except _NonFinite as error:
        res = objective.stopped(error)
    res.x = packer.result(res.x)
    return res


def _sparse_hessian_uses(method, uses, kwargs):
    """``sparse=True``: the method gets the Hessian as a csr_array instead of products."""
    name = method.lower() if isinstance(method, str) else method
    if name not in SPARSE_HESSIAN_METHODS:
        raise ValueError(
            f"sparse=True gives a scipy.sparse Hessian, which {method!r} does not accept; "
            f"use one of {sorted(SPARSE_HESSIAN_METHODS)}"
        )
    return (uses - {"hessp"}) | {"sparse_hess"}


def _minimize_kwargs(kwargs, uses, objective, packer):
    """SciPy's keywords with dualdiff's derivatives filled in and x made flat."""
    kw = dict(kwargs)
    args = objective.args
    user_hessian = any(kw.get(k) is not None for k in _HESSIANS)
    kw["hessp"] = _user_callable(kw.get("hessp"), packer, n_structured=2, args=args)
    kw["hess"] = _user_callable(kw.get("hess"), packer, ravel=False, args=args)
    if kw.get("jac") is not True:  # jac=True: the user's fun returns (value, gradient)
        kw["jac"] = _user_callable(kw.get("jac"), packer, args=args)
    ours = {"jac": True, "hessp": objective.hessp, "hess": objective.hess}
    if "sparse_hess" in uses:
        uses, ours["hess"] = uses | {"hess"}, objective.sparse_hess
    for key, value in ours.items():
        if key in uses and kw[key] is None and not (key in _HESSIANS and user_hessian):
            kw[key] = value
    if "bounds" in kw:
        kw["bounds"] = packer.bounds(kw["bounds"])
    if "constraints" in kw:
        kw["constraints"] = _constraints(kw["constraints"], packer, uses)
    kw["callback"] = _structured_callback(kw.get("callback"), packer)
    return kw


def least_squares(
    fun: Callable,
    x0: Any,
    jac: Callable | str | None = None,
    bounds: Any = (-np.inf, np.inf),
    method: str = "trf",
    *,
    args: tuple = (),
    kwargs: dict | None = None,
    sparse: bool | str = "auto",
    **options: Any,
) -> so.OptimizeResult:
    """``scipy.optimize.least_squares`` with the exact Jacobian of the residuals.

    The Jacobian comes from :func:`dualdiff.jacobian`, which picks the mode (usually forward:
    residuals outnumber parameters). ``method`` may be ``'trf'``, ``'dogbox'`` or ``'lm'``;
    every other keyword passes through. With ``sparse=True`` (or ``"auto"``, the default,
    for at least ``SPARSE_MIN_SIZE`` unknowns and a pattern at most ``SPARSE_MAX_DENSITY``
    full) the Jacobian is a compressed ``scipy.sparse`` matrix (:mod:`dualdiff.sparse`:
    pattern detected and colored once), and SciPy's trf/dogbox solve with LSMR;
    ``method='lm'`` needs a dense Jacobian. A ``jac`` you pass (callable or finite-difference
    string) wins. ``x0`` may be structured as in :func:`minimize`; ``bounds`` may be a
    ``(lb, ub)`` pair, ``Bounds``, or a dict per key of a dict ``x0``.

    Inside a transform, ``res.x`` is differentiable in traced values ``fun`` reads (``args``,
    ``kwargs``, its closure): the condition is the zero gradient ``J^T r`` of SciPy's cost
    ``0.5 * sum(rho(r**2))``, differentiated exactly, including the second-order residual term
    ``sum_i r_i Hess(r_i)`` that Gauss-Newton drops (it matters when the residuals are not zero
    at the solution). Named losses are supported, a callable ``loss`` is not; active bounds
    are held as in :func:`minimize`.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> t = np.linspace(0.0, 1.0, 20)
    >>> res = dd.optimize.least_squares(lambda p: p[0] * np.exp(p[1] * t) - 2 * np.exp(-t),
    ...                                 np.ones(2), method="lm")
    >>> np.round(res.x, 6)
    array([ 2., -1.])
    """
    params = _implicit.Parameters.find(fun, args, kwargs)
    if params is not None:
        return _least_squares_solution(
            params, x0, dict(jac=jac, bounds=bounds, method=method, sparse=sparse, **options)
        )
    packer = _Packer(x0)
    kwargs = kwargs or {}
    _implicit.probe(fun, x0, args, kwargs, "least_squares")
    residuals = _Vector(fun, tuple(args), packer, kwargs, replay=options.pop("replay", False))
    if sparse is True and method == "lm":
        raise ValueError("method='lm' needs a dense Jacobian: use 'trf' or 'dogbox' with sparse")
    if callable(jac):
        user_jac = jac
        jac = _user_callable(lambda x: user_jac(x, *args, **kwargs), packer, ravel=False)
    elif jac is None:  # ours take x alone: args are bound in residuals
        sparse_jac = residuals.sparse_jac_if_sparse(packer.x0, sparse) if method != "lm" else None
        jac = residuals.jac if sparse_jac is None else sparse_jac
    if isinstance(bounds, tuple | list) and len(bounds) == 2 and not packer.flat:
        bounds = so.Bounds(*bounds)  # (lb, ub) shaped like x0 become flat
    res = so.least_squares(
        residuals.value, packer.x0, jac=jac, bounds=packer.bounds(bounds), method=method, **options
    )
    res.x = packer.result(res.x)
    return res


def root(
    fun: Callable,
    x0: Any,
    args: tuple = (),
    method: str = "hybr",
    jac: Callable | bool | None = None,
    **options: Any,
) -> so.OptimizeResult:
    """``scipy.optimize.root`` with the exact Jacobian for the methods that use one.

    ``'hybr'`` and ``'lm'`` get the Jacobian (``ROOT_USES``) as ``jac=True``: value and
    Jacobian come from one forward pass. The quasi-Newton and Krylov methods take none. A
    ``jac`` you pass wins. ``x0`` may be structured as in :func:`minimize`; ``fun`` must
    return as many elements as ``x0`` has.

    Inside a transform, ``sol.x`` is differentiable in traced values ``fun`` reads (through
    ``args``, its closure or defaults): ``F(x*, p) = 0`` gives ``dx*/dp = -F_x^{-1} F_p``, one
    linear solve with the exact Jacobian at the solution, in forward and reverse mode and
    nested (second derivatives).

    Raises
    ------
    ValueError
        If ``fun`` does not return as many elements as ``x0`` has.
    SolverFailedError
        Inside a transform, if SciPy's solve did not succeed (its message is kept).
    SingularJacobianError
        Inside a transform, if ``F_x`` at the solution is singular or ill-conditioned.
    TracedClosureError
        Inside a transform, if ``fun`` reads a traced value dualdiff cannot reach.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> sol = dd.optimize.root(lambda x: np.array([1.0, 2.0]) * x ** 3 - 1.0, np.ones(2))
    >>> np.round(sol.x, 6)
    array([1.      , 0.793701])
    >>> sqrt = lambda p: dd.optimize.root(lambda x: x ** 2 - p, 1.0).x    # x* = sqrt(p)
    >>> round(float(dd.grad(sqrt)(4.0)), 12)                              # 1 / (2 sqrt(p))
    0.25
    """
    args = args if isinstance(args, tuple) else (args,)
    params = _implicit.Parameters.find(fun, args)
    if params is not None:
        return _root_solution(params, x0, dict(method=method, jac=jac, **options))
    packer = _Packer(x0)
    _implicit.probe(fun, x0, args, {}, "root")
    replay = options.pop("replay", False)
    system = _Vector(fun, args, packer, square=jac is not True, replay=replay)
    scipy_fun = system.value
    if jac is True:  # the user's fun returns (value, Jacobian) itself
        scipy_fun = _user_callable(fun, packer, ravel=False, args=args)
    elif jac is None and "jac" in ROOT_USES.get(str(method).lower(), ()):
        scipy_fun, jac = system.value_and_jac, True
    elif callable(jac):
        jac = _user_callable(jac, packer, ravel=False, args=args)
    callback = _structured_callback(options.pop("callback", None), packer)
    res = so.root(scipy_fun, packer.x0, method=method, jac=jac, callback=callback, **options)
    res.x = packer.result(res.x)
    return res


# -- differentiable solutions inside transforms ----------------------------------------------


def _root_solution(params, x0, kw):
    """``root`` of a system reading traced parameters: solved on plain values, its ``x``
    differentiable in them by the implicit function theorem (``dualdiff._implicit``)."""
    x0 = _implicit.strip_tree(x0)
    fun, args, _ = params.plain()
    res = root(fun, x0, args, **kw)
    packer = _Packer(x0)
    condition = _implicit.RootCondition(params, packer.unravel, packer.x0.size, kw["jac"] is True)
    return _solution(res, "root", params, packer, condition)


def _minimize_solution(params, x0, method, kw):
    """``minimize`` of an objective reading traced parameters (see :func:`_root_solution`);
    the condition is the zero gradient, with active bounds held."""
    x0 = _implicit.strip_tree(x0)
    fun, args, _ = params.plain()
    res = minimize(fun, x0, args, method, **kw)
    packer = _Packer(x0)
    cost = _implicit.minimize_cost(params, packer.unravel, kw.get("jac") is True)
    condition = _implicit.StationaryCondition(cost, packer.x0.size)
    bounds = _bound_arrays(packer.bounds(kw.get("bounds")), packer.x0.size)
    constraints = kw.get("constraints") or ()
    return _solution(res, "minimize", params, packer, condition, bounds, constraints)


def _least_squares_solution(params, x0, kw):
    """``least_squares`` of residuals reading traced parameters: the condition is the zero
    gradient of SciPy's cost (its exact Hessian, not Gauss-Newton), with active bounds held."""
    x0 = _implicit.strip_tree(x0)
    fun, args, kwargs = params.plain()
    res = least_squares(fun, x0, args=args, kwargs=kwargs, **kw)
    packer = _Packer(x0)
    loss, f_scale = kw.get("loss", "linear"), kw.get("f_scale", 1.0)
    cost = _implicit.least_squares_cost(params, packer.unravel, loss, f_scale)
    condition = _implicit.StationaryCondition(cost, packer.x0.size)
    bounds = kw["bounds"]
    if not isinstance(bounds, dict | so.Bounds):
        bounds = so.Bounds(*bounds)
    bounds = _bound_arrays(packer.bounds(bounds), packer.x0.size)
    return _solution(res, "least_squares", params, packer, condition, bounds)


def _solution(res, name, params, packer, condition, bounds=None, constraints=()):
    """SciPy's result ``res`` with ``x`` the differentiable solution."""
    _implicit.check_success(res, name)
    x = packer.ravel(res.x)
    active = None
    if bounds is not None:
        g = condition(x, innermost(params.p))
        active = _implicit.active_bounds(x, g, *bounds)
    if constraints:
        _implicit.inactive_constraints(_constraint_values(constraints, packer, x), name)
    problem = _implicit.Problem(condition, x, active)
    res.x = packer.result(_implicit.implicit_solution(problem, params.p))
    return res


def _bound_arrays(bounds, n):
    """``(lb, ub)`` flat arrays of SciPy's bounds (``Bounds`` or (low, high) pairs), or None."""
    if bounds is None:
        return None
    if not isinstance(bounds, so.Bounds):
        pairs = [(-np.inf if lo is None else lo, np.inf if hi is None else hi) for lo, hi in bounds]
        bounds = so.Bounds(*zip(*pairs))
    lb, ub = (np.broadcast_to(_f64(b), (n,)) for b in (bounds.lb, bounds.ub))
    if np.all(np.isinf(lb)) and np.all(np.isinf(ub)):
        return None
    return lb, ub


def _constraint_values(constraints, packer, x):
    """``(value, lb, ub)`` of each constraint at the flat solution ``x`` (an equality: lb = ub)."""
    single = isinstance(constraints, dict | so.NonlinearConstraint | so.LinearConstraint)
    values = []
    for c in [constraints] if single else constraints:
        if isinstance(c, dict):
            value = c["fun"](packer.unravel(x), *c.get("args", ()))
            values.append((value, 0.0, 0.0 if c["type"] == "eq" else np.inf))
        elif isinstance(c, so.LinearConstraint):
            values.append((np.asarray(c.A) @ x, c.lb, c.ub))
        else:
            values.append((c.fun(packer.unravel(x)), c.lb, c.ub))
    return values


class _ParamJacobian:
    """``jac(xdata, *params)`` for ``curve_fit``: one forward pass over all parameters."""

    def __init__(self, f, replay=False):
        jacobian_f = jacobian(lambda p, xdata: np.reshape(f(xdata, *p), (-1,)))
        self.jacobian_f = replayed(jacobian_f) if replay else jacobian_f

    def __call__(self, xdata, *params):
        p = _f64(params)
        return _f64(self.jacobian_f(p, xdata)).reshape(-1, p.size)


def curve_fit(
    f: Callable, xdata: Any, ydata: Any, p0: Sequence[float] | None = None, **kwargs: Any
) -> tuple:
    """``scipy.optimize.curve_fit`` with the exact Jacobian with respect to the parameters.

    ``f(xdata, *params)`` is written with ``numpy``; dualdiff gives SciPy its Jacobian with
    respect to ``params`` (shape ``(len(ydata), len(params))``). Returns ``popt, pcov`` (and
    more with ``full_output=True``) exactly as SciPy does; a ``jac`` you pass wins.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> x = np.linspace(0.0, 4.0, 30)
    >>> y = 2.5 * np.exp(-1.3 * x) + 0.5
    >>> popt, pcov = dd.optimize.curve_fit(lambda x, a, b, c: a * np.exp(-b * x) + c, x, y,
    ...                                    p0=[1.0, 1.0, 0.0])
    >>> np.round(popt, 6)
    array([2.5, 1.3, 0.5])
    """
    replay = kwargs.pop("replay", False)
    if kwargs.get("jac") is None:
        kwargs["jac"] = _ParamJacobian(f, replay)
    return so.curve_fit(f, xdata, ydata, p0=p0, **kwargs)
