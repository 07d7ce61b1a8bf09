"""``quad``, differentiable in its limits and in traced ``args``.

One op, ``_integral(z, problem)`` with ``z = [a, b, p]``: the integral over ``[a, b]`` of an
integrand with ``m`` components. Its derivative in ``p`` is the integral of the integrand's
derivative (a ``_integral`` again, so it is differentiable again), in the limits the Leibniz
rule: ``d/db = f(b)``, ``d/da = -f(a)``, zero at an infinite limit (where a convergent
integrand vanishes). One component is integrated by :func:`scipy.integrate.quad`, several by
:func:`scipy.integrate.quad_vec` (or one ``quad`` each when a ``weight`` is given), with the
user's tolerances.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.integrate as si

import dualdiff.numpy as dnp
from dualdiff._implicit import Parameters
from dualdiff._jacobian import tangent_of
from dualdiff._pattern_ops import defdense
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import Tracer, innermost, primitive, shape_of
from dualdiff.engine import push
from dualdiff.integrate._systems import plain, unreached
from dualdiff.transforms import jacobian

# The weight functions w(x) of quad's weight= whose integral's derivative in a limit is
# f(limit) * w(limit) (Leibniz rule); the 'alg' weights depend on the limits themselves: refused.
WEIGHTS = {
    None: lambda x, c: 1.0,
    "cos": lambda x, c: np.cos(c * x),
    "sin": lambda x, c: np.sin(c * x),
    "cauchy": lambda x, c: 1.0 / (x - c),
}

# quad's options that quad_vec understands too (the others describe a weight function)
VEC_OPTIONS = ("epsabs", "epsrel", "points")


def quad(
    func: Callable,
    a: Any,
    b: Any,
    args: tuple = (),
    full_output: int = 0,
    epsabs: float = 1.49e-8,
    epsrel: float = 1.49e-8,
    limit: int = 50,
    points: Any = None,
    weight: str | None = None,
    wvar: Any = None,
    wopts: Any = None,
    maxp1: int = 50,
    limlst: int = 50,
    complex_func: bool = False,
) -> tuple:
    """Integrate ``func(x, *args)`` from ``a`` to ``b``, as :func:`scipy.integrate.quad`.

    Same signature and values: ``(y, abserr)`` (and SciPy's info dict with ``full_output``).
    Inside a transform ``y`` is differentiable in ``a`` and ``b`` (Leibniz rule: ``f(b)`` and
    ``-f(a)``, times the weight there with ``weight='cos'``, ``'sin'`` or ``'cauchy'``; zero at
    an infinite limit) and in the traced values among ``args`` (the integral of ``func``'s
    derivative, computed to the same ``epsabs``/``epsrel``). The ``'alg'`` weights depend on the
    limits themselves: traced limits with them raise ``NotImplementedError``. ``abserr`` is the
    error estimate of ``y``'s value.

    Parameters
    ----------
    func : callable
        ``func(x, *args)`` for a float ``x``, written with ``numpy``; returns a number.
    a, b : float
        Limits of integration, ``-np.inf`` / ``np.inf`` allowed; may be traced.
    args : tuple
        Extra arguments of ``func``; arrays and numbers among them may be traced.
    full_output, epsabs, epsrel, limit, points, weight, wvar, wopts, maxp1, limlst, complex_func
        As in :func:`scipy.integrate.quad` (``complex_func`` only on plain arguments).

    Returns
    -------
    y : float
        The integral (traced inside a transform).
    abserr : float
        SciPy's estimate of its absolute error.
    infodict : dict
        Only with ``full_output``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.integrate import quad
    >>> gauss = lambda s: quad(lambda x, s: np.exp(-x ** 2 / (2 * s ** 2)), -np.inf, np.inf,
    ...                        args=(s,))[0]
    >>> bool(np.isclose(dd.grad(gauss)(2.0), np.sqrt(2 * np.pi)))
    True
    >>> bool(np.isclose(dd.grad(lambda b: quad(np.cos, 0.0, b)[0])(1.0), np.cos(1.0)))
    True
    """
    args = args if type(args) is tuple else (args,)
    kw = dict(epsabs=epsabs, epsrel=epsrel, limit=limit, points=points, weight=weight,
              wvar=wvar, wopts=wopts, maxp1=maxp1, limlst=limlst)  # fmt: skip
    params = Parameters.find(func, args)
    if params is None and not isinstance(a, Tracer) and not isinstance(b, Tracer):
        plain_func = unreached(func, "func")
        return si.quad(plain_func, a, b, args, full_output=full_output,
                       complex_func=complex_func, **kw)  # fmt: skip
    if complex_func:
        raise TypeError("quad: complex_func=True cannot be differentiated (the rules are real).")
    if str(weight).startswith("alg") and (isinstance(a, Tracer) or isinstance(b, Tracer)):
        raise NotImplementedError(
            f"quad: weight={weight!r} depends on the limits a and b themselves, so the integral "
            "cannot be differentiated in traced limits (only in traced args); pass plain limits."
        )
    problem = QuadProblem(_Integrand(func, args, params), kw)
    limits = [np.reshape(dnp.asarray(x, dtype=np.float64), (1,)) for x in (a, b)]
    p = [] if params is None else [params.p]
    value = _integral(np.concatenate(limits + p), problem)[0]
    return (value, problem.abserr) + ((problem.info,) if full_output else ())


class _Integrand:
    """``func(x, *args)`` as ``f(x, p)`` of shape (1,), the traced values it reads (in args or
    in func's closure: :class:`dualdiff._implicit.Parameters`) read from ``p``."""

    m = 1

    def __init__(self, func, args, params):
        self.func, self.plain_args, self.params = func, args, params
        self.n_p = 0 if params is None else int(np.size(params.p))

    def __call__(self, x, p):
        func, args = self.func, self.plain_args
        if self.params is not None:
            func, args, _ = self.params.bind(p)
        out = func(x, *args)
        if np.size(innermost(out)) != 1:
            raise ValueError(
                f"quad: func(x, *args) returned shape {tuple(shape_of(out))}; it must return "
                "a number."
            )
        return np.reshape(out, (1,))


class _Tangents:
    """The integrand's tangents in ``k`` directions of p: ``f(x, [p, T]) = J_p T``, (k*m,)."""

    def __init__(self, base, k):
        self.base, self.k = base, k
        self.m, self.n_p = base.m * k, base.n_p * (1 + k)

    def __call__(self, x, q):
        n_p, k = self.base.n_p, self.k
        tp = np.reshape(q[n_p:], (k, n_p))
        out, level = push(lambda p: self.base(x, p), (q[:n_p],), (tp,))
        return np.reshape(tangent_of(out, level, k), (-1,))


class _Jacobian:
    """The integrand's Jacobian in p, (m * n_p,), by the mode the dispatcher picks (plain)."""

    def __init__(self, base):
        self.base, self.n_p = base, base.n_p
        self.m = base.m * base.n_p
        self._jac = jacobian(lambda p, x: base(x, p))

    def __call__(self, x, p):
        return np.reshape(self._jac(p, x), (-1,))


class QuadProblem:
    """An integrand of (x, p) and quad's options; the primal's abserr and info are kept."""

    def __init__(self, integrand, kw):
        self.integrand, self.kw = integrand, kw
        self.abserr, self.info = None, None

    def derived(self, integrand):
        return QuadProblem(integrand, self.kw)

    def primal(self, z):
        a, b, p = z[0], z[1], z[2:]
        f = self.integrand
        if f.m == 1:
            y, self.abserr, self.info = si.quad(lambda x: plain(f(x, p), "func")[0], a, b,
                                                full_output=1, **self.kw)  # fmt: skip
            return np.array([y])
        if self.kw["weight"] is None:
            vec = {k: self.kw[k] for k in VEC_OPTIONS}
            return np.asarray(si.quad_vec(lambda x: plain(f(x, p), "func"), a, b, norm="max",
                                          **vec)[0], dtype=np.float64)  # fmt: skip
        return np.array([
            si.quad(lambda x, i=i: plain(f(x, p), "func")[i], a, b, full_output=1, **self.kw)[0]
            for i in range(f.m)
        ])  # fmt: skip


@defdense  # every output depends on every parameter
@primitive
def _integral(z, problem):
    """The integral over ``[z[0], z[1]]`` of ``problem.integrand(x, z[2:])``: shape (m,)."""
    return problem.primal(np.asarray(z, dtype=np.float64))


def _at_limit(problem, x, p):
    """The integrand times the weight at a limit (traceable), or zeros at an infinite one (and
    with an 'alg' weight, whose limits are plain: refused in :func:`quad` when traced)."""
    if np.isinf(innermost(x)) or problem.kw["weight"] not in WEIGHTS:
        return np.zeros(problem.integrand.m)
    return problem.integrand(x, p) * WEIGHTS[problem.kw["weight"]](x, problem.kw["wvar"])


@defjvp(_integral)
def _integral_jvp(t, ans, z, problem):
    f = problem.integrand
    k, p = np.shape(t)[0], z[2:]
    out = t[:, 1:2] * _at_limit(problem, z[1], p) - t[:, 0:1] * _at_limit(problem, z[0], p)
    if f.n_p:
        q = np.concatenate([z, np.reshape(t[:, 2:], (-1,))])
        out = out + np.reshape(_integral(q, problem.derived(_Tangents(f, k))), (k, f.m))
    return out


@defvjp(_integral)
def _integral_vjp(g, ans, z, problem):
    if isinstance(g, Tracer) or isinstance(z, Tracer):  # differentiated again: traceable
        basis = np.eye(np.shape(z)[0])
        return g @ _integral_jvp(basis, ans, z, problem).T
    f, p = problem.integrand, z[2:]
    ga = -(g @ _at_limit(problem, z[0], p))
    gb = g @ _at_limit(problem, z[1], p)
    parts = [ga[:, None], gb[:, None]]
    if f.n_p:
        jac = np.reshape(_integral(z, problem.derived(_Jacobian(f))), (f.m, f.n_p))
        parts.append(g @ jac)
    return np.concatenate(parts, axis=1)
