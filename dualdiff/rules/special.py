"""Special functions: ``scipy.special`` ufuncs, ``np.sinc``, ``np.i0``, ``dualdiff.scipy.special``.

SciPy's special functions are ufuncs, declared here by their partial derivatives. Each partial
is written with other special functions that have partials too, so every order is exact: the
derivative of digamma is the Hurwitz zeta ``zeta(2, x)`` (``polygamma`` is a Python function in
SciPy, not a ufunc), and Bessel derivatives use the recurrences
``J_v' = (J_{v-1} - J_{v+1}) / 2``, which hold at ``x = 0`` where ``J_1(x) / x`` would not.

Orders and shape parameters (``v`` of ``jv``, ``a`` of ``gammainc``) have no closed-form
derivative: their partial raises, so pass them as constants.
"""

import numpy as np
import scipy.special as sc
from scipy.special import _ufuncs  # the Hurwitz zeta ufunc behind scipy.special.zeta(x, q)

from dualdiff._batch import align, neg_axis
from dualdiff._registry import defconstant, defjvp, defpartials, defvjp
from dualdiff.scipy.special import (
    _logsumexp,
    _logsumexp_sign,
    log_softmax,
    polygamma,
    softmax,
    spherical_jn,
)

SQRT_PI = np.sqrt(np.pi)
SQRT_2PI = np.sqrt(2.0 * np.pi)
LN2 = np.log(2.0)
LN10 = np.log(10.0)


def _constant(fn, arg):
    """A partial for a parameter dualdiff cannot differentiate: it says so when it is needed."""

    def partial(ans, *inputs):
        raise NotImplementedError(
            f"dualdiff has no derivative of scipy.special.{fn} with respect to {arg} (no closed "
            f"form); pass {arg} as a constant, or wrap your own rule with @dualdiff.primitive."
        )

    return partial


# -- gamma, beta and zeta --------------------------------------------------------------------------
def _hurwitz_dq(ans, s, q):
    return -s * _ufuncs._zeta(s + 1.0, q)


defpartials(sc.gammaln, lambda ans, x: sc.digamma(x))
defpartials(sc.loggamma, lambda ans, x: sc.digamma(x))  # real x: loggamma is gammaln
defpartials(sc.gamma, lambda ans, x: ans * sc.digamma(x))
defpartials(sc.rgamma, lambda ans, x: -ans * sc.digamma(x))
defpartials(sc.digamma, lambda ans, x: _ufuncs._zeta(2.0, x))  # polygamma(1, x); psi is digamma
defpartials(_ufuncs._zeta, _constant("zeta", "the exponent x"), _hurwitz_dq)  # zeta(x, q)


def _betaln_da(ans, a, b):
    return sc.digamma(a) - sc.digamma(a + b)


def _betaln_db(ans, a, b):
    return sc.digamma(b) - sc.digamma(a + b)


defpartials(sc.betaln, _betaln_da, _betaln_db)
defpartials(
    sc.beta,
    lambda ans, a, b: ans * _betaln_da(ans, a, b),
    lambda ans, a, b: ans * _betaln_db(ans, a, b),
)


def _gammainc_dx(ans, a, x):
    # The integrand of the regularized incomplete gamma function, in log space.
    return np.exp((a - 1.0) * np.log(x) - x - sc.gammaln(a))


def _betainc_dx(ans, a, b, x):
    return np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - sc.betaln(a, b))


defpartials(sc.gammainc, _constant("gammainc", "a"), _gammainc_dx)
defpartials(sc.gammaincc, _constant("gammaincc", "a"), lambda ans, a, x: -_gammainc_dx(ans, a, x))
defpartials(sc.betainc, _constant("betainc", "a"), _constant("betainc", "b"), _betainc_dx)

# -- error function and normal distribution --------------------------------------------------------
defpartials(sc.erf, lambda ans, x: (2.0 / SQRT_PI) * np.exp(-x * x))
defpartials(sc.erfc, lambda ans, x: (-2.0 / SQRT_PI) * np.exp(-x * x))
defpartials(sc.erfcx, lambda ans, x: 2.0 * x * ans - 2.0 / SQRT_PI)
defpartials(sc.erfinv, lambda ans, x: (SQRT_PI / 2.0) * np.exp(ans * ans))
defpartials(sc.erfcinv, lambda ans, x: (-SQRT_PI / 2.0) * np.exp(ans * ans))
defpartials(sc.dawsn, lambda ans, x: 1.0 - 2.0 * x * ans)
defpartials(sc.ndtr, lambda ans, x: np.exp(-0.5 * x * x) / SQRT_2PI)
# pdf / cdf in log space: no 0 / 0 far in the lower tail.
defpartials(sc.log_ndtr, lambda ans, x: np.exp(-0.5 * x * x - ans) / SQRT_2PI)
defpartials(sc.ndtri, lambda ans, x: SQRT_2PI * np.exp(0.5 * ans * ans))
defpartials(sc.ndtri_exp, lambda ans, y: SQRT_2PI * np.exp(y + 0.5 * ans * ans))

# -- logistic --------------------------------------------------------------------------------------
defpartials(sc.expit, lambda ans, x: ans * (1.0 - ans))
defpartials(sc.logit, lambda ans, x: 1.0 / (x * (1.0 - x)))
defpartials(sc.log_expit, lambda ans, x: sc.expit(-x))

# -- SciPy's own copies of elementary functions ----------------------------------------------------
defpartials(sc.expm1, lambda ans, x: ans + 1.0)
defpartials(sc.log1p, lambda ans, x: 1.0 / (x + 1.0))
defpartials(sc.exp2, lambda ans, x: ans * LN2)
defpartials(sc.exp10, lambda ans, x: ans * LN10)
defpartials(sc.cbrt, lambda ans, x: ans**-2.0 / 3.0)  # a power, as np.cbrt's

# -- information theory and losses ---------------------------------------------------------------


def _x_over(x, y):
    """``x / y``, 0 where x is 0: xlogy(0, y) is 0 for every y, so is its derivative in y."""
    zero = x == 0
    return np.where(zero, 0.0, x / np.where(zero, 1.0, y))


defpartials(sc.xlogy, lambda ans, x, y: np.log(y), lambda ans, x, y: _x_over(x, y))
defpartials(sc.xlog1py, lambda ans, x, y: np.log1p(y), lambda ans, x, y: _x_over(x, 1.0 + y))
defpartials(sc.entr, lambda ans, x: -(np.log(x) + 1.0))
defpartials(sc.rel_entr, lambda ans, x, y: np.log(x / y) + 1.0, lambda ans, x, y: -x / y)
defpartials(sc.kl_div, lambda ans, x, y: np.log(x / y), lambda ans, x, y: 1.0 - x / y)
# huber(delta, r): quadratic inside |r| <= delta, linear outside.
defpartials(
    sc.huber,
    lambda ans, delta, r: np.maximum(np.abs(r) - delta, 0.0),
    lambda ans, delta, r: np.minimum(np.maximum(r, -delta), delta),
)


def _pseudo_huber_root(ans, delta):
    """``sqrt(1 + (r / delta)**2)``, read off the answer."""
    return 1.0 + ans / (delta * delta)


defpartials(
    sc.pseudo_huber,
    lambda ans, d, r: 2.0 * ans / d - r * r / (d * _pseudo_huber_root(ans, d)),
    lambda ans, d, r: r / _pseudo_huber_root(ans, d),
)

# -- Bessel functions: recurrences that stay finite at x = 0 ---------------------------------------
defpartials(sc.j0, lambda ans, x: -sc.j1(x))
defpartials(sc.j1, lambda ans, x: 0.5 * (sc.j0(x) - sc.jv(2.0, x)))
defpartials(sc.y0, lambda ans, x: -sc.y1(x))
defpartials(sc.y1, lambda ans, x: 0.5 * (sc.y0(x) - sc.yv(2.0, x)))
defpartials(sc.i0, lambda ans, x: sc.i1(x))
defpartials(sc.i1, lambda ans, x: 0.5 * (sc.i0(x) + sc.iv(2.0, x)))
# The exponentially scaled ones carry exp(-|x|) (i) or exp(x) (k): product rule.
defpartials(sc.i0e, lambda ans, x: sc.i1e(x) - np.sign(x) * ans)
defpartials(sc.i1e, lambda ans, x: 0.5 * (sc.i0e(x) + sc.ive(2.0, x)) - np.sign(x) * ans)
defpartials(sc.k0, lambda ans, x: -sc.k1(x))
defpartials(sc.k1, lambda ans, x: -0.5 * (sc.k0(x) + sc.kv(2.0, x)))
defpartials(sc.k0e, lambda ans, x: ans - sc.k1e(x))
defpartials(sc.k1e, lambda ans, x: ans - 0.5 * (sc.k0e(x) + sc.kve(2.0, x)))
defpartials(
    sc.jv, _constant("jv", "v"), lambda ans, v, x: 0.5 * (sc.jv(v - 1, x) - sc.jv(v + 1, x))
)
defpartials(
    sc.yv, _constant("yv", "v"), lambda ans, v, x: 0.5 * (sc.yv(v - 1, x) - sc.yv(v + 1, x))
)
defpartials(  # an integer order: yv's recurrence, which takes n - 1 = -1 too
    sc.yn, _constant("yn", "n"), lambda ans, n, x: 0.5 * (sc.yv(n - 1, x) - sc.yv(n + 1, x))
)
defconstant(sc.gammasgn)  # the sign of gamma: piecewise constant
defpartials(
    sc.iv, _constant("iv", "v"), lambda ans, v, x: 0.5 * (sc.iv(v - 1, x) + sc.iv(v + 1, x))
)
defpartials(
    sc.ive,
    _constant("ive", "v"),
    lambda ans, v, x: 0.5 * (sc.ive(v - 1, x) + sc.ive(v + 1, x)) - np.sign(x) * ans,
)
defpartials(
    sc.kv, _constant("kv", "v"), lambda ans, v, x: -0.5 * (sc.kv(v - 1, x) + sc.kv(v + 1, x))
)
defpartials(
    sc.kve,
    _constant("kve", "v"),
    lambda ans, v, x: ans - 0.5 * (sc.kve(v - 1, x) + sc.kve(v + 1, x)),
)


# -- NumPy's special functions (Python functions, dispatched through __array_function__) ----------
def _dsinc(x):
    # sinc(x) = j_0(pi x), so sinc' = -pi j_1(pi x): smooth through x = 0, no 0 / 0.
    return -np.pi * spherical_jn(1, np.pi * x)


@defjvp(np.sinc)
def sinc_jvp(t, ans, x):
    return t * _dsinc(x)


@defvjp(np.sinc)
def sinc_vjp(g, ans, x):
    return g * _dsinc(x)


@defjvp(np.i0)
def i0_jvp(t, ans, x):
    return t * sc.i1(x)


@defvjp(np.i0)
def i0_vjp(g, ans, x):
    return g * sc.i1(x)


# -- dualdiff.scipy.special: SciPy's Python-level functions as primitives --------------------------
defconstant(_logsumexp_sign)


@defjvp(polygamma, argnum=1)
def polygamma_jvp(t, ans, n, x):
    return align(t, np.ndim(ans)) * polygamma(np.add(n, 1), x)


@defvjp(polygamma, argnum=1)
def polygamma_vjp(g, ans, n, x):
    return g * polygamma(np.add(n, 1), x)


@defjvp(spherical_jn, argnum=1)
def spherical_jn_jvp(t, ans, n, z, derivative=False):
    return align(t, np.ndim(ans)) * _spherical_jn_dz(n, z, derivative)


@defvjp(spherical_jn, argnum=1)
def spherical_jn_vjp(g, ans, n, z, derivative=False):
    return g * _spherical_jn_dz(n, z, derivative)


def _spherical_jn_dz(n, z, derivative):
    # (n f_{n-1} - (n+1) f_{n+1}) / (2n+1) for f = j or j': no 1/z, so exact at z = 0 (where
    # SciPy's j_{n-1} - (n+1) j_n / z is 0 / 0); n = 0 drops the j_{-1} term.
    below = n * spherical_jn(np.maximum(np.subtract(n, 1), 0), z, derivative)
    above = np.add(n, 1) * spherical_jn(np.add(n, 1), z, derivative)
    return (below - above) / np.add(np.multiply(n, 2), 1)


def _lse_weights(ans, a, b, axis, return_sign):
    """``exp(a - out) * sign`` (the derivative of out in ``b * exp(a)``), its shape and axes.

    ``out`` is kept on the reduced axes so it broadcasts back; a slice that is all ``-inf``
    (out = -inf) gets zero weights instead of exp(-inf + inf) = NaN.
    """
    shape = np.broadcast_shapes(np.shape(a), np.shape(b)) if b is not None else np.shape(a)
    shape = shape or (1,)  # SciPy reduces a 0-d input as shape (1,)
    axes = neg_axis(axis, len(shape))
    reduced = set(np.atleast_1d(axes).tolist())
    kept = tuple(1 if i - len(shape) in reduced else n for i, n in enumerate(shape))
    out = np.reshape(ans, kept)
    e = np.exp(a - np.where(out == -np.inf, 0.0, out))
    if return_sign:  # out = log|s|, so d out = ds / s
        e = e * _logsumexp_sign(a, b, axis, True)
    return e, shape, kept, axes


def _lse_jvp(t, ans, a, b, axis, keepdims, return_sign, scale):
    e, shape, _, axes = _lse_weights(ans, a, b, axis, return_sign)
    w = e if scale is None else scale * e
    return np.sum(align(t, len(shape)) * w, axis=axes, keepdims=keepdims)


def _lse_vjp(g, ans, a, b, axis, keepdims, return_sign, scale):
    e, shape, kept, _ = _lse_weights(ans, a, b, axis, return_sign)
    w = e if scale is None else scale * e
    # Over the full broadcast shape of a and b; the engine sums it back to the argument's.
    return np.broadcast_to(np.reshape(g, g.shape[:1] + kept) * w, g.shape[:1] + shape)


@defjvp(_logsumexp, argnum=0)
def logsumexp_jvp_a(t, ans, a, b, axis, keepdims, return_sign):
    return _lse_jvp(t, ans, a, b, axis, keepdims, return_sign, b)


@defvjp(_logsumexp, argnum=0)
def logsumexp_vjp_a(g, ans, a, b, axis, keepdims, return_sign):
    return _lse_vjp(g, ans, a, b, axis, keepdims, return_sign, b)


@defjvp(_logsumexp, argnum=1)
def logsumexp_jvp_b(t, ans, a, b, axis, keepdims, return_sign):
    return _lse_jvp(t, ans, a, b, axis, keepdims, return_sign, None)


@defvjp(_logsumexp, argnum=1)
def logsumexp_vjp_b(g, ans, a, b, axis, keepdims, return_sign):
    return _lse_vjp(g, ans, a, b, axis, keepdims, return_sign, None)


# The softmax Jacobian diag(p) - p p^T is symmetric: one formula serves both modes.
def _softmax_pullpush(t, ans, x, axis):
    return ans * (t - np.sum(ans * t, axis=neg_axis(axis, x.ndim), keepdims=True))


@defjvp(softmax)
def softmax_jvp(t, ans, x, axis=None):
    return _softmax_pullpush(t, ans, x, axis)


@defvjp(softmax)
def softmax_vjp(g, ans, x, axis=None):
    return _softmax_pullpush(g, ans, x, axis)


@defjvp(log_softmax)
def log_softmax_jvp(t, ans, x, axis=None):
    return t - np.sum(np.exp(ans) * t, axis=neg_axis(axis, x.ndim), keepdims=True)


@defvjp(log_softmax)
def log_softmax_vjp(g, ans, x, axis=None):
    return g - np.exp(ans) * np.sum(g, axis=neg_axis(axis, x.ndim), keepdims=True)
