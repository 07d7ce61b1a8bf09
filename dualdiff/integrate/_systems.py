"""The ODE systems the SciPy solvers see: the user's, its forward sensitivities, its adjoint.

Every system has a state size ``n``, a parameter size ``n_p``, a right-hand side
``fun(t, y, p)`` with ``p`` one flat parameter vector (differentiable again: it is written in
traced NumPy calls), and ``newton(t, y, p)``, the plain matrix an implicit method factorizes.
The user's system computes that matrix exactly (``dd.jacobian``, sparse for large systems);
the derived systems build theirs from it, block by block, as CVODES does (the sensitivity
equations' coupling to the state is left out of the Newton matrix: Newton still converges, the
solution's accuracy is set by the error control, not by the matrix).
"""

import weakref

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp

import dualdiff.numpy as dnp
from dualdiff._implicit import Parameters
from dualdiff._jacobian import tangent_of
from dualdiff._tracer import Tracer, shape_of
from dualdiff.dual import Dual
from dualdiff.engine import push, record
from dualdiff.integrate._loop import Evaluation
from dualdiff.transforms import jacobian

IMPLICIT = (si.BDF, si.Radau, si.LSODA)
# From this many states on, Jacobians and Newton matrices are scipy.sparse: BDF and Radau then
# factorize with a sparse LU, and dd.jacobian finds the pattern and colors it once.
SPARSE_MIN = 100


_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # fun -> {(n, tfirst): jacobian}


class IntegrationError(RuntimeError):
    """A solve inside a transform failed (SciPy's message), or its derivatives are not finite."""


def solver_class(method):
    """SciPy's solver class for ``method`` (a name or an ``OdeSolver`` subclass), or None."""
    if isinstance(method, str):
        return si._ivp.ivp.METHODS.get(method)
    return method if isinstance(method, type) else None


def is_implicit(method) -> bool:
    cls = solver_class(method)
    return cls is not None and issubclass(cls, IMPLICIT)


def checked(fun, n, name="fun", caller="solve_ivp"):
    """``fun`` whose result is an array of shape ``(n,)`` (or ``(n, m)`` for a vectorized call
    with ``y`` of shape ``(n, m)``); a list of traced values becomes a traced array."""

    def checked_fun(t, y, *args):
        out = fun(t, y, *args)
        if type(out) is list or type(out) is tuple:
            out = dnp.asarray(out)
        expected = (n,) + tuple(shape_of(y)[1:])
        if tuple(shape_of(out)) != expected:
            raise ValueError(
                f"{caller}: {name} returned an array of shape {tuple(shape_of(out))}, "
                f"but y has shape {tuple(shape_of(y))}: it must return shape {expected} (one "
                "derivative per state)."
            )
        return out

    return checked_fun


def plain(out, where="fun"):
    """``out`` of a function called with plain arrays; a tracer there means that it reads a
    traced value that dualdiff cannot reach, whose derivative would be lost."""
    if isinstance(out, Tracer):
        raise TypeError(
            f"{where} returned a traced value for plain arguments: it reads a value being "
            "differentiated that dualdiff cannot reach (a global variable, an attribute of an "
            "object, a function defined elsewhere). Pass that value through args=(...) (or "
            "in fun's closure or defaults), so that its derivative is kept."
        )
    return out


def unreached(fun, where="fun"):
    """``fun`` refusing a traced result (see :func:`plain`)."""
    return lambda *a: plain(fun(*a), where)


class ExactJacobian:
    """``d fun(t, y, *args) / dy`` by dualdiff: below SPARSE_MIN states dense, by forward mode
    (n directions for n outputs), replayed; else a ``scipy.sparse.csr_array`` (pattern detected
    and colored once, reused at every call)."""

    def __init__(self, fun, n):
        self._fun = fun
        if n >= SPARSE_MIN:
            self._sparse = jacobian(self._of_y, sparse=True)
            return
        self._sparse = None
        dense = jacobian(self._of_y, mode="forward")
        self._dense = Evaluation(lambda t, y, args: dense(y, t, args))

    def _of_y(self, y, t, args):
        return self._fun(t, y, *args)

    def __call__(self, t, y, *args):
        y = np.asarray(y, dtype=np.float64)
        if self._sparse is not None:
            return self._sparse(y, t, args)
        return self._dense(t, y, args)


class UserSystem:
    """``y' = fun(t, y, *args)`` with the traced values it reads (in ``args``, or in ``fun``'s
    closure, defaults or partial arguments: :class:`dualdiff._implicit.Parameters`) read
    from the flat vector ``p``. ``tfirst=False`` calls ``fun(y, t, *args)`` (odeint's order)."""

    def __init__(self, fun, args, n, *, jac=None, tfirst=True):
        self.params = Parameters.find(fun, args)
        self._plain = (fun, args)
        self.n = n
        self.n_p = 0 if self.params is None else int(np.size(self.params.p))
        self.user_jac, self.tfirst = jac, tfirst
        self._check = checked(
            lambda t, y, f, *a: f(t, y, *a) if tfirst else f(y, t, *a),
            n,
            *(("fun", "solve_ivp") if tfirst else ("func", "odeint")),
        )
        self._exact = None

    @property
    def p(self):
        """The traced parameters, flat (an empty array when there are none)."""
        return np.zeros(0) if self.params is None else self.params.p

    def bound(self, p):
        """``(fun, args)`` reading the parameter values ``p``."""
        if self.params is None:
            return self._plain
        fun, args, _ = self.params.bind(p)
        return fun, args

    def fun(self, t, y, p):
        fun, args = self.bound(p)
        return self._check(t, y, fun, *args)

    def rhs(self, p):
        """``fun(t, y)`` at plain parameters ``p``, bound once for a whole solve."""
        fun, args = self.bound(p)
        check = self._check
        return lambda t, y: check(t, y, fun, *args)

    def newton(self, t, y, p):
        jac = self.user_jac
        if jac is not None:
            return jac(t, y, *self.bound(p)[1]) if callable(jac) else jac
        if self._exact is None:
            self._exact = self._kept_jacobian()
        if self.params is None:
            return self._exact(t, y, *self._plain[1])
        return self._exact(t, y, p)

    def _kept_jacobian(self):
        """The exact Jacobian; a sparse one without traced parameters is kept per ``fun`` across
        calls, so that solving again (a fit, a benchmark) detects and colors its pattern once. A
        kept pattern is checked at every call (``dualdiff.sparse``) and detected again if it no
        longer holds. A dense one is made per solve: its replayed recording must not outlive
        the solve (``_loop.Evaluation``)."""
        if self.params is not None:
            return ExactJacobian(self.fun, self.n)
        fun, check = self._plain[0], self._check
        if self.n < SPARSE_MIN:
            return ExactJacobian(lambda t, y, *a: check(t, y, fun, *a), self.n)
        key = (self.n, self.tfirst)
        try:
            kept = _KEPT.setdefault(fun, {})
        except TypeError:  # not weakly referenceable (a builtin): nothing to keep it by
            kept = {}
        if key not in kept:  # a weak reference: the kept Jacobian must not keep fun alive
            ref = _weak(fun)
            kept[key] = ExactJacobian(lambda t, y, *a: check(t, y, ref(), *a), self.n)
        return kept[key]


def _weak(fun):
    try:
        return weakref.ref(fun)
    except TypeError:
        return lambda: fun


class ForwardSystem:
    """The state with ``k`` tangent directions: ``w = [y, S]``, ``q = [p, T]``, and
    ``S' = J_y S + J_p T`` (one batched forward pass of the base system per evaluation)."""

    def __init__(self, base, k):
        self.base, self.k = base, k
        self.n, self.n_p = base.n * (1 + k), base.n_p * (1 + k)
        self._exact = None
        self._fast = Evaluation(self.fun)

    def rhs(self, q):
        """``fun(t, w)`` at plain ``q`` for SciPy's loop, replayed (:mod:`._loop`)."""
        fast = self._fast
        return lambda t, w: fast(t, w, q)

    def fun(self, t, w, q):
        n, n_p, k = self.base.n, self.base.n_p, self.k
        y, s = w[:n], np.reshape(w[n:], (k, n))
        p, tp = q[:n_p], np.reshape(q[n_p:], (k, n_p))
        args, tangents = (y, p), (s, tp if n_p else None)
        out, level = push(lambda y, p: self.base.fun(t, y, p), args, tangents)
        value = out.value if isinstance(out, Dual) and out.level == level else out
        return np.concatenate([value, np.reshape(tangent_of(out, level, k), (-1,))])

    def newton(self, t, w, q):
        if self.n < SPARSE_MIN:  # small: exact, with the tangents' coupling to the state
            if self._exact is None:
                self._exact = ExactJacobian(self.fun, self.n)
            return self._exact(t, w, q)
        jac = self.base.newton(t, w[: self.base.n], q[: self.base.n_p])
        return block_diagonal([jac] * (1 + self.k))


class AdjointSystem:
    """``k`` adjoint states ``a' = -J_y^T a`` along the forward solution ``ysol`` and their
    parameter quadratures ``r' = -J_p^T a``: state ``v = [a, r]``, plain arrays only."""

    def __init__(self, base, k, ysol, p):
        self.base, self.k, self.ysol, self.p = base, k, ysol, p
        self.n = k * (base.n + base.n_p)
        self._fast = Evaluation(self._of_state)

    def fun(self, t, v, _p=None):
        return self._fast(t, self.ysol(t), self.p, v)

    def rhs(self, _p=None):
        """``fun(t, v)`` for SciPy's loop, replayed (:mod:`._loop`)."""
        return self.fun

    def _of_state(self, t, y, p, v):
        """The right-hand side at the forward state ``y = ysol(t)``."""
        base, k = self.base, self.k
        a = np.reshape(v[: k * base.n], (k, base.n))
        if base.n_p:
            rec = record(lambda y, p: base.fun(t, y, p), (y, p), (0, 1))
        else:
            rec = record(lambda y: base.fun(t, y, p), (y,), (0,))
        if not isinstance(rec.out, Tracer) or rec.out.level != rec.level:
            return np.zeros(self.n)  # the right-hand side does not depend on y or p
        cts = rec.pull(a, release=True)
        return -np.concatenate([np.reshape(c, (-1,)) for c in cts])

    def newton(self, t, v, _p=None):
        jac = self.base.newton(t, self.ysol(t), self.p)
        minus_jt = -jac.T if sp.issparse(jac) else -np.asarray(jac).T
        blocks = [minus_jt] * self.k + [zeros_block(self.k * self.base.n_p)]
        return block_diagonal(blocks)


def zeros_block(m):
    if not m:
        return None
    return sp.csr_array((m, m)) if m >= SPARSE_MIN else np.zeros((m, m))


def block_diagonal(blocks):
    """The block-diagonal matrix of ``blocks``: sparse when one is or when it is large."""
    blocks = [b for b in blocks if b is not None]
    size = sum(b.shape[0] for b in blocks)
    if size >= SPARSE_MIN or any(sp.issparse(b) for b in blocks):
        return sp.block_diag([sp.csr_array(b) for b in blocks], format="csc")
    out = np.zeros((size, size))
    start = 0
    for b in blocks:
        m = b.shape[0]
        out[start : start + m, start : start + m] = b
        start += m
    return out
