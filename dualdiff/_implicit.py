"""Implicit derivatives of solutions: ``x*(p)`` defined by ``F(x*, p) = 0``, differentiated by
the implicit function theorem, never through the solver's iterations.

``dualdiff.optimize`` solves on plain values and hands the solution here. The derivative is one
opaque op, ``implicit_solution(problem, p)``, whose parameters ``p`` are the traced values the
problem reads (in ``args``, ``kwargs``, and ``fun``'s closure, defaults or ``functools.partial``
arguments) joined into one flat vector. Its rules::

    forward:  dx = -F_x^{-1} (F_p t)            reverse:  dp = -F_p^T (F_x^{-T} g)

with ``F_x`` and ``F_p`` evaluated at the solution. The condition ``F`` is

- ``root``: ``fun`` itself;
- ``minimize``: the gradient of ``fun`` in ``x``, so ``F_x`` is the Hessian;
- ``least_squares``: the gradient of SciPy's cost ``0.5 * sum(rho(r ** 2))`` (``rho`` the
  identity for ``loss='linear'``), so ``F_x = J^T J + sum_i r_i Hess(r_i)`` (for the linear
  loss) with the second-order residual term: the exact optimality condition, not Gauss-Newton.
  Gauss-Newton would be wrong for a fit whose residuals are not zero at the solution.

A bound active at a solution of ``minimize`` or ``least_squares`` (the solution sits on it and
the gradient pushes into it) keeps that coordinate on the bound: its row of ``F`` becomes
``x_i - bound_i``. That is the implicit function theorem for the active set, which is locally
constant under strict complementarity; a bound touched with a zero gradient (weakly active)
raises :class:`ActiveConstraintError`, as does an active general constraint.

The rules are written in NumPy calls on (possibly traced) values and dualdiff transforms, so
they differentiate again: a Hessian through a solution works. A plain first-order problem with
more than ``DENSE_MAX`` unknowns factors a sparse ``F_x`` (pattern detected and colored by
:mod:`dualdiff.sparse`) with SuperLU instead; nested (second-order) derivatives always use the
dense ``F_x``.
"""

import functools
import math
import types
import warnings
from collections import namedtuple

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from dualdiff import _array_scope
from dualdiff._pattern_ops import defdense
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import Tracer, innermost, primitive, shape_of
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.engine import push, record
from dualdiff.sparse import SparseHessian, SparseJacobian
from dualdiff.transforms import grad, hessian, jacobian

# F_x (or the Hessian) with a larger condition number raises SingularJacobianError: the
# derivative would carry about condition * 1e-16 relative error, plus the solver's own error
# in x* magnified as much. Read at every call, so it may be changed.
MAX_CONDITION = 1e12
# Plain first-order problems with more unknowns than this factor a sparse F_x (SuperLU).
DENSE_MAX = 2000
# |x - bound| <= BOUND_TOL * (1 + |bound|): the solution sits on the bound.
BOUND_TOL = 1e-8
# A solution whose Newton step F_x^{-1} F exceeds STATIONARY_TOL * (1 + max|x|) is refused: it
# is not a root / stationary point (Nelder-Mead's default xatol of 1e-4 passes).
STATIONARY_TOL = 1e-3


class ImplicitFunctionError(ValueError):
    """The implicit function theorem gives no derivative of this solution."""


class SingularJacobianError(ImplicitFunctionError):
    """``F_x`` (root) or the Hessian (minimize, least_squares) at the solution is singular or
    too ill-conditioned for its inverse to be trusted (condition above ``MAX_CONDITION``)."""


class ActiveConstraintError(ImplicitFunctionError):
    """A constraint is active at the solution (or a bound weakly active): the derivative of an
    unconstrained solution does not apply there."""


class SolverFailedError(RuntimeError):
    """SciPy's solver did not succeed inside a transform; ``result`` holds SciPy's result."""

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


class TracedClosureError(TypeError):
    """``fun`` reads a traced value dualdiff cannot reach (a global, an attribute, ...)."""


# -- the traced parameters a problem reads ------------------------------------------------------

_Lifted = namedtuple("_Lifted", "fn parts")  # a function whose closure/defaults hold parameters
_DEPTH = 3  # functions inside functions' closures searched for parameters


def _parts(fun, depth=_DEPTH):
    """What ``fun`` reads that can be rebuilt: a function's closure contents and defaults, a
    partial's arguments (functions among them searched in turn), as one structure."""
    if isinstance(fun, functools.partial):
        return (_lift(fun.func, depth), fun.args, dict(fun.keywords))
    if not isinstance(fun, types.FunctionType):
        return ()
    try:
        cells = tuple(_lift(c.cell_contents, depth) for c in fun.__closure__ or ())
    except ValueError:  # an empty cell (a name assigned after the function was made)
        return ()
    defaults = tuple(_lift(d, depth) for d in fun.__defaults__ or ())
    return (cells, defaults, dict(fun.__kwdefaults__ or {}))


def _lift(obj, depth):
    if depth > 0 and isinstance(obj, types.FunctionType | functools.partial):
        return _Lifted(obj, _parts(obj, depth - 1))
    return obj


def _rebuilt(fun, parts):
    """``fun`` reading the values in ``parts`` (as :func:`_parts` laid them out)."""
    if isinstance(fun, functools.partial):
        inner, args, keywords = parts
        return functools.partial(_lowered(inner), *args, **keywords)
    if not isinstance(fun, types.FunctionType) or not parts:
        return fun
    cells, defaults, kwdefaults = parts
    closure = tuple(types.CellType(_lowered(c)) for c in cells) or None
    new = types.FunctionType(
        fun.__code__, fun.__globals__, fun.__name__, tuple(map(_lowered, defaults)) or None, closure
    )
    new.__kwdefaults__ = kwdefaults or None
    return new


def _lowered(obj):
    return _rebuilt(obj.fn, obj.parts) if isinstance(obj, _Lifted) else obj


class Parameters:
    """The traced values ``fun(x, *args, **kwargs)`` reads, joined into one flat vector ``p``.

    They are found in ``args``, ``kwargs``, and ``fun``'s closure cells, defaults and
    ``functools.partial`` arguments (and those of functions found there). :meth:`bind` gives
    ``fun``, ``args`` and ``kwargs`` reading other values of the parameters.
    """

    def __init__(self, fun, args, kwargs, leaves, unflatten, traced):
        self.fun, self.args, self.kwargs = fun, args, kwargs
        self.leaves, self.unflatten, self.traced = leaves, unflatten, traced
        self.shapes = [leaves[i].shape for i in traced]
        self.dtypes = [leaves[i].dtype for i in traced]
        self.stops = np.cumsum([math.prod(s) for s in self.shapes]).tolist()
        pieces = [np.reshape(leaves[i], (-1,)) for i in traced]
        self.p = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    @classmethod
    def find(cls, fun, args=(), kwargs=None):
        """The parameters of ``fun``, or None when it reads no traced value we can reach."""
        leaves, unflatten = flatten((tuple(args), dict(kwargs or {}), _parts(fun)))
        traced = [i for i, a in enumerate(leaves) if isinstance(a, Tracer)]
        if not traced:
            return None
        return cls(fun, args, kwargs, leaves, unflatten, traced)

    def bind(self, p):
        """``(fun, args, kwargs)`` reading the flat parameters ``p`` (traced or plain)."""
        leaves = list(self.leaves)
        starts = [0] + self.stops[:-1]
        for i, a, b, s, d in zip(self.traced, starts, self.stops, self.shapes, self.dtypes):
            piece = np.reshape(p[a:b], s)
            leaves[i] = piece if piece.dtype == d else piece.astype(d)
        args, kwargs, parts = self.unflatten(leaves)
        return _rebuilt(self.fun, parts), args, kwargs

    def plain(self):
        """``(fun, args, kwargs)`` reading the parameters' plain values."""
        return self.bind(innermost(self.p))


def strip_tree(tree):
    """``tree`` with every traced leaf replaced by its plain value (``x0``: a starting point)."""
    leaves, unflatten = flatten(tree)
    return unflatten([innermost(a) for a in leaves])


def probe(fun, x, args, kwargs, name):
    """Raise :class:`TracedClosureError` when ``fun`` at a plain ``x`` still returns a traced
    value: it reads one we did not find (only checked inside a transform)."""
    if _array_scope._thread.depth == 0:
        return
    leaves, _ = flatten(fun(x, *args, **kwargs))
    if any(isinstance(a, Tracer) for a in leaves):
        raise TracedClosureError(
            f"{name}: fun returns a traced value at a plain x, so it reads a value being "
            "differentiated that dualdiff cannot reach (a global variable, an attribute of an "
            "object, a function defined elsewhere). Pass that value through args= (or as a "
            "default argument of fun, or in its closure); the solution is then differentiable "
            "in it."
        )


# -- conditions F(x, p) -------------------------------------------------------------------------


class RootCondition:
    """``F(x, p) = fun(x, *args)`` raveled: ``root``'s own system."""

    symmetric = False

    def __init__(self, params, unravel, n, returns_jacobian=False):
        self.params, self.unravel, self.n = params, unravel, n
        self.returns_jacobian = returns_jacobian  # root(jac=True): fun returns (F, F_x)

    def __call__(self, x, p):
        fun, args, kwargs = self.params.bind(p)
        out = fun(self.unravel(x), *args, **kwargs)
        out = np.reshape(out[0] if self.returns_jacobian else out, (-1,))
        check_size(out, self.n, "root")
        return out

    def matrix(self, x, p, sparse):
        """``F_x`` at ``(x, p)``: dense ``(n, n)`` (traced when they are), or ``csr_array``."""
        if sparse:
            f = functools.partial(self, p=p)
            return SparseJacobian(f, x)(x)
        return np.reshape(jacobian(self, argnums=0)(x, p), (self.n, self.n))


class StationaryCondition:
    """``F(x, p) = grad_x cost(x, p)``: the first-order optimality condition of a minimum."""

    symmetric = True

    def __init__(self, cost, n):
        self.cost, self.n = cost, n

    def __call__(self, x, p):
        return grad(self.cost, argnums=0)(x, p)

    def matrix(self, x, p, sparse):
        """The Hessian of the cost at ``(x, p)``: dense (traced when they are) or ``csr_array``."""
        if sparse:
            return SparseHessian(functools.partial(self.cost, p=p), x)(x)
        return np.reshape(hessian(self.cost, argnums=0)(x, p), (self.n, self.n))


def check_size(out, n, name):
    """A system must have as many equations as unknowns."""
    if math.prod(np.shape(out)) != n:
        raise ValueError(
            f"{name} needs fun to return as many elements as x0 has ({n}); it returned "
            f"{math.prod(np.shape(out))} (shape {np.shape(out)})."
        )


# -- linear solves with F_x ---------------------------------------------------------------------


def _condition_error(condition, what):
    return SingularJacobianError(
        f"the {what} at the solution is singular or ill-conditioned (condition number "
        f"{condition:.3g} > {MAX_CONDITION:.3g}): the implicit function theorem does not give "
        "a trustworthy derivative of the solution there (the solution may not be unique, or "
        "may not depend smoothly on the parameters)."
    )


class _Dense:
    """Solves with a dense ``A`` (plain or traced); its condition is checked on plain values."""

    def __init__(self, A, what):
        plain = np.asarray(innermost(A), dtype=np.float64)
        if not np.all(np.isfinite(plain)):
            raise ImplicitFunctionError(f"the {what} at the solution has NaN or inf entries")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a singular matrix: measured by rcond below
            lu = sl.lu_factor(plain, check_finite=False)
            rcond, _ = sl.lapack.dgecon(lu[0], np.linalg.norm(plain, 1), norm="1")
        if not rcond * MAX_CONDITION > 1.0:
            raise _condition_error(1.0 / rcond if rcond > 0 else np.inf, what)
        self.A, self.lu = A, lu

    def plain_solve(self, v):
        return sl.lu_solve(self.lu, v, check_finite=False)

    def solve(self, rhs, transpose=False):
        """``A^{-1}`` (or ``A^{-T}``) applied to each row of ``rhs`` ``(k, n)``."""
        if type(self.A) is np.ndarray and type(rhs) is np.ndarray:
            return sl.lu_solve(self.lu, rhs.T, trans=int(transpose), check_finite=False).T
        A = np.swapaxes(self.A, 0, 1) if transpose else self.A
        return np.swapaxes(np.linalg.solve(A, np.swapaxes(rhs, 0, 1)), 0, 1)  # traced rules


class _Sparse:
    """Solves with a sparse plain ``A`` by SuperLU; its condition estimated in the 1-norm."""

    def __init__(self, A, what):
        A = sp.csc_matrix(A)
        if not np.all(np.isfinite(A.data)):
            raise ImplicitFunctionError(f"the {what} at the solution has NaN or inf entries")
        try:
            self.lu = spl.splu(A)
        except RuntimeError as error:  # "Factor is exactly singular"
            raise _condition_error(np.inf, what) from error
        n = A.shape[0]
        inverse = spl.LinearOperator(
            (n, n), matvec=self.lu.solve, rmatvec=lambda v: self.lu.solve(v, trans="T")
        )
        condition = spl.onenormest(A) * spl.onenormest(inverse)
        if not condition < MAX_CONDITION:
            raise _condition_error(condition, what)

    def plain_solve(self, v):
        return self.lu.solve(np.ascontiguousarray(v))

    def solve(self, rhs, transpose=False):
        return self.lu.solve(np.ascontiguousarray(rhs.T), trans="T" if transpose else "N").T


# -- the solution as one op ---------------------------------------------------------------------


class Problem:
    """A solved problem: the condition, the plain solution, and which bounds are active."""

    def __init__(self, condition, x, active=None):
        self.condition, self.x = condition, x
        self.active = active if active is not None and active.any() else None
        self.what = "Hessian" if condition.symmetric else "Jacobian of fun in x"
        self._checked = False

    def _linear(self, ans, p):
        plain = type(ans) is np.ndarray and type(p) is np.ndarray
        sparse = plain and ans.size > DENSE_MAX
        A = self.condition.matrix(ans, p, sparse)
        if self.active is not None:  # an active bound's row: x_i - bound_i = 0
            if sparse:
                free = sp.diags((~self.active).astype(float))
                A = free @ A + sp.diags(self.active.astype(float))
            else:
                A = np.where(self.active[:, None], np.eye(ans.size), A)
        linear = _Sparse(A, self.what) if sparse else _Dense(A, self.what)
        if not self._checked:
            self._check_stationary(linear, ans, p)
        return linear

    def _check_stationary(self, linear, ans, p):
        """Raise unless ``F`` is zero at the solution to the solver's accuracy: the Newton step
        ``F_x^{-1} F`` (free coordinates) is within ``STATIONARY_TOL * (1 + max|x|)``. An
        interior-point method stops short of an active bound (trust-constr: x = 0.9996 on a
        bound at 1, the gradient -2 there), where the theorem's derivative is meaningless."""
        x = np.asarray(innermost(ans), dtype=np.float64)
        F = np.asarray(innermost(self.condition(x, innermost(p))), dtype=np.float64)
        step = linear.plain_solve(self._free(np.reshape(F, (-1,))))
        size = float(np.max(np.abs(step), initial=0.0))
        if not size <= STATIONARY_TOL * (1.0 + float(np.max(np.abs(x), initial=0.0))):
            what = "stationary point" if self.condition.symmetric else "root"
            raise ImplicitFunctionError(
                f"the solution is not a {what} to the solver's accuracy (a Newton step of "
                f"{size:.3g} from it): the implicit function theorem's derivative would be "
                "wrong there. The solve stopped early, or (trust-constr, an interior-point "
                "method) short of an active bound: tighten the tolerances, or use L-BFGS-B, "
                "TNC or SLSQP for bounds."
            )
        self._checked = True

    def _free(self, b):
        return b if self.active is None else b * (~self.active)

    def tangent(self, t, ans, p):
        """``dx = -F_x^{-1} F_p t`` for a batch of parameter tangents ``t`` ``(k, P)``."""
        linear = self._linear(ans, p)
        out, level = push(functools.partial(self.condition, ans), (p,), (t,))
        if type(out) is not Dual or out.level != level:  # F does not read p
            return np.zeros((np.shape(t)[0], ans.size))
        return _finite(-linear.solve(self._free(out.tangent)))

    def cotangent(self, g, ans, p):
        """``dp = -F_p^T F_x^{-T} g`` for a batch of solution cotangents ``g`` ``(k, n)``."""
        linear = self._linear(ans, p)
        w = self._free(linear.solve(g, transpose=True))
        recording = record(functools.partial(self.condition, ans), (p,), (0,))
        return _finite(-recording.pull(w)[0])


def _finite(d):
    if not np.all(np.isfinite(innermost(d))):
        raise ImplicitFunctionError(
            "the derivative of the solution has NaN or inf entries: fun's derivative in the "
            "parameters is not finite at the solution"
        )
    return d


@defdense  # the solution depends on every parameter
@primitive
def implicit_solution(problem, p):
    """The solution ``x*(p)`` (flat) the solver found at the plain values of ``p``."""
    return problem.x.copy()


@defjvp(implicit_solution, argnum=1)
def implicit_solution_jvp(t, ans, problem, p):
    return problem.tangent(t, ans, p)


@defvjp(implicit_solution, argnum=1)
def implicit_solution_vjp(g, ans, problem, p):
    return problem.cotangent(g, ans, p)


# -- checks at the solution ---------------------------------------------------------------------


def check_success(res, name):
    """A failed solve inside a transform raises: its solution has no derivative."""
    if not res.success:
        raise SolverFailedError(
            f"{name} did not succeed, so its solution cannot be differentiated: {res.message} "
            "(tighten or loosen the tolerances, raise the iteration limit, or start closer).",
            res,
        )


def _near(x, bound):
    """Where ``x`` sits on a finite ``bound``."""
    with np.errstate(invalid="ignore"):  # inf - inf where both are infinite: not near
        return np.isfinite(bound) & (np.abs(x - bound) <= BOUND_TOL * (1.0 + np.abs(bound)))


def active_bounds(x, g, lb, ub):
    """Which coordinates sit on a bound the gradient ``g`` pushes into; raise when one sits on
    a bound with a zero gradient (weakly active: the solution is not differentiable there)."""
    on = _near(x, lb) | _near(x, ub)
    scale = max(1.0, float(np.max(np.abs(g), initial=0.0)))
    weak = on & (np.abs(g) <= math.sqrt(np.finfo(float).eps) * scale)
    if weak.any():
        raise ActiveConstraintError(
            f"the solution sits on a bound with a zero gradient at flat index "
            f"{int(np.flatnonzero(weak)[0])} (a weakly active bound): the solution is not "
            "differentiable in the parameters there. Move the bound, or drop it if it is not "
            "needed."
        )
    return on


def inactive_constraints(values, name):
    """Raise unless every general constraint is strictly inactive at the solution.

    ``values``: ``(value, lb, ub)`` of each constraint (an equality has ``lb == ub``)."""
    for value, lb, ub in values:
        value = np.asarray(value, dtype=float).ravel()
        lb, ub = (np.broadcast_to(np.asarray(b, dtype=float), value.shape) for b in (lb, ub))
        if np.any(_near(value, lb) | _near(value, ub) | (lb == ub)):
            raise ActiveConstraintError(
                f"{name}: a constraint is active at the solution (an equality, or an inequality "
                "met with equality); the derivative of a constrained solution needs its "
                "Lagrange multipliers (the KKT system), which dualdiff does not implement. "
                "Inside a transform only strictly inactive inequality constraints are supported."
            )


# -- the costs whose stationary points minimize and least_squares find --------------------------


def minimize_cost(params, unravel, returns_gradient):
    """``cost(x, p) = fun(x, *args)`` (its value alone when ``fun`` returns the gradient too)."""

    def cost(x, p):
        fun, args, kwargs = params.bind(p)
        out = fun(unravel(x), *args, **kwargs)
        out = out[0] if returns_gradient else out
        # reshape only when needed: the large-array layer cannot yet compute a deferred sum
        # reshaped under forward over reverse (np.subtract(out=...) on a Dual)
        return out if len(shape_of(out)) == 0 else np.reshape(out, ())

    return cost


# SciPy's robust losses rho(z) of z = (r / f_scale) ** 2; its cost is 0.5 f_scale^2 sum rho(z)
LOSSES = {
    "linear": lambda z: z,
    "soft_l1": lambda z: 2.0 * (np.sqrt(1.0 + z) - 1.0),
    # sqrt of max(z, 1): the unselected branch stays finite at z = 0 at every order
    "huber": lambda z: np.where(z <= 1.0, z, 2.0 * np.sqrt(np.maximum(z, 1.0)) - 1.0),
    "cauchy": np.log1p,
    "arctan": np.arctan,
}


def least_squares_cost(params, unravel, loss, f_scale):
    """SciPy's cost ``0.5 * f_scale**2 * sum(rho((r / f_scale)**2))`` of the residuals."""
    if loss not in LOSSES:
        raise ImplicitFunctionError(
            f"least_squares: the implicit derivative needs one of SciPy's named losses "
            f"{sorted(LOSSES)}; a callable loss gives no second derivative to dualdiff."
        )
    rho = LOSSES[loss]

    def cost(x, p):
        fun, args, kwargs = params.bind(p)
        r = np.reshape(fun(unravel(x), *args, **kwargs), (-1,))
        return 0.5 * f_scale**2 * np.sum(rho((r / f_scale) ** 2))

    return cost
