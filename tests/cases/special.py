"""Test-table lines for special functions (rules in dualdiff/rules/special.py).

Points stay away from poles (gamma at non-positive integers), branch cuts and the kinks of
``huber`` and the exponentially scaled Bessel functions (``|x|`` at 0).
"""

import numpy as np
import scipy.special as sc

import dualdiff.scipy.special as dsp
from dualdiff.scipy.special import _logsumexp
from tests._table import Case, pos, rand

x, y = rand(3, 4, seed=10), rand(3, 4, seed=11)
p, q = pos(3, 4, seed=10), pos(3, 4, seed=11)
unit = rand(3, 4, low=0.1, high=0.9, seed=12)  # inside (0, 1)
wide = 3.0 * x
neg = rand(3, 4, low=-0.8, high=-0.2, seed=13)  # between the poles at -1 and 0
with_zero = np.array([0.0, -0.7, 0.4, 1.3, -2.1])
v = np.array([[0.5], [1.5], [2.0]])  # orders broadcast against a (3, 4) argument
n = np.array([[0], [1], [3]])  # integer orders: iv(n, x) is real for negative x too

UNARY = [
    (sc.gammaln, p), (sc.loggamma, p), (sc.gamma, p), (sc.rgamma, p), (sc.digamma, p),
    (sc.erf, x), (sc.erfc, x), (sc.erfcx, wide), (sc.erfinv, 0.9 * x), (sc.erfcinv, unit + 0.5),
    (sc.dawsn, wide), (sc.ndtr, wide), (sc.ndtri, unit), (sc.ndtri_exp, -3.0 * unit),
    (sc.expit, wide), (sc.logit, unit), (sc.log_expit, wide),
    (sc.expm1, x), (sc.log1p, p), (sc.exp2, x), (sc.exp10, x), (sc.cbrt, p), (sc.entr, p),
    (sc.j0, wide), (sc.j1, wide), (sc.y0, p), (sc.y1, p), (sc.i0, wide), (sc.i1, wide),
    (sc.i0e, wide), (sc.i1e, wide), (sc.k0, p), (sc.k1, p), (sc.k0e, p), (sc.k1e, p),
    (np.sinc, wide), (np.i0, wide),
]  # fmt: skip
BINARY = [
    (sc.betaln, p, q), (sc.beta, p, q), (sc.xlogy, x, p), (sc.xlog1py, x, unit - 0.5),
    (sc.rel_entr, p, q), (sc.kl_div, p, q), (sc.huber, p, wide), (sc.pseudo_huber, p, wide),
]  # fmt: skip
# Ufuncs whose first argument (an order or shape parameter) is a constant.
IN_X = [
    (sc.jv, v, 3 * p), (sc.yv, v, 3 * p), (sc.iv, n, wide), (sc.ive, n, wide), (sc.kv, v, p),
    (sc.kve, v, p), (sc.gammainc, 1.5, p), (sc.gammaincc, 1.5, p), (sc.yn, n, 3 * p),
]  # fmt: skip

CASES = [Case(op, op, (a,)) for op, a in UNARY]
CASES += [Case(op, op, (a, b)) for op, a, b in BINARY]
CASES += [Case(op, lambda b, op=op, a=a: op(a, b), (b,)) for op, a, b in IN_X]
CASES += [
    Case(sc.gammaln, sc.gammaln, (neg,), name="negative"),
    Case(sc.digamma, sc.digamma, (neg,), name="negative"),
    Case(sc.gamma, sc.gamma, (neg,), name="negative"),
    Case(sc.log_ndtr, sc.log_ndtr, (rand(3, 4, low=-30.0, high=4.0),), name="far-tail"),
    Case(sc.entr, lambda a: np.sum(sc.entr(a)), (p,), name="sum"),
    Case(sc.betainc, lambda a: sc.betainc(2.0, 3.5, a), (unit,)),
    Case(sc.xlogy, lambda a: sc.xlogy(a, 1.5), (x,), name="y-constant"),
    Case(sc.xlogy, sc.xlogy, (x, pos(4, seed=14)), name="broadcast"),
    Case(sc.j1, sc.j1, (with_zero,), name="zero"),
    Case(sc.i1, sc.i1, (with_zero,), name="zero"),
    Case(sc.jv, lambda a: sc.jv(3.0, a), (with_zero,), name="zero"),
    Case(np.sinc, np.sinc, (with_zero,), name="zero"),
    Case(np.sinc, lambda a: np.sinc(a) ** 2, (rand(2, 3, low=-4.0, high=4.0),), name="square"),
    Case(np.sinc, np.sinc, (np.array(0.3),), name="0d"),
    # scipy.special.zeta(s, q) is a Python wrapper around the Hurwitz zeta ufunc.
    Case(sc._ufuncs._zeta, lambda a: sc.zeta(3.0, a), (p,)),
    Case(sc._ufuncs._zeta, lambda a: sc.zeta(2.0, a), (neg,), name="negative"),
    Case(sc.gammaln, lambda a: dsp.multigammaln(a, 3), (p + 1.5,), name="multigammaln"),
]
# dualdiff.scipy.special primitives.
lse, x3 = _logsumexp, rand(2, 3, 4, seed=15)
masked = np.where(rand(3, 4, seed=16) > 0.5, -np.inf, x)
masked[:, 0] = 0.5  # every row keeps a finite entry
CASES += [
    Case(dsp.polygamma, lambda a: dsp.polygamma(1, a), (p,)),
    Case(dsp.polygamma, lambda a: dsp.polygamma(np.array([[0], [1], [3]]), a), (p,), name="n"),
    Case(dsp.polygamma, lambda a: dsp.polygamma(2, a), (neg,), name="negative"),
    Case(dsp.spherical_jn, lambda a: dsp.spherical_jn(0, a), (with_zero,), name="n0"),
    Case(dsp.spherical_jn, lambda a: dsp.spherical_jn(n, a), (wide,), name="n"),
    Case(dsp.spherical_jn, lambda a: dsp.spherical_jn(n, a, True), (with_zero,), name="deriv"),
    Case(lse, dsp.logsumexp, (x,), name="all"),
    Case(lse, lambda a: dsp.logsumexp(a, axis=1), (x,), name="axis1"),
    Case(lse, lambda a: dsp.logsumexp(a, axis=-2, keepdims=True), (x,), name="keepdims"),
    Case(lse, lambda a: dsp.logsumexp(a, axis=(0, 2)), (x3,), name="tuple-axis"),
    Case(lse, dsp.logsumexp, (np.array(0.7),), name="0d"),
    Case(lse, lambda a: dsp.logsumexp(a, axis=1, b=q), (x,), name="b-constant"),
    Case(lse, lambda a, b: dsp.logsumexp(a, axis=0, b=b), (x, q), name="b-traced"),
    Case(lse, lambda a, b: dsp.logsumexp(a, axis=1, b=b), (x, pos(4)), name="b-broadcast"),
    Case(lse, lambda b: dsp.logsumexp(x[0], b=b), (q,), name="a-broadcast"),
    Case(lse, lambda a: dsp.logsumexp(a, axis=-1), (masked,), name="neg-inf-entries"),
    Case(
        lse,
        lambda a, b: dsp.logsumexp(a, axis=1, b=b, return_sign=True)[0],
        (x, np.array([1.0, -0.3, 0.6, -0.2])),
        name="return-sign",
    ),
    Case(dsp.softmax, dsp.softmax, (x,), name="all"),
    Case(dsp.softmax, lambda a: dsp.softmax(a, axis=0), (x,), name="axis0"),
    Case(dsp.softmax, lambda a: dsp.softmax(a, axis=-1), (x3,), name="axis-1"),
    Case(dsp.softmax, lambda a: dsp.softmax(a, axis=(1, 2)), (x3,), name="tuple-axis"),
    Case(dsp.softmax, lambda a: dsp.softmax(a, axis=1), (masked,), name="neg-inf-entries"),
    Case(dsp.log_softmax, dsp.log_softmax, (x,), name="all"),
    Case(dsp.log_softmax, lambda a: dsp.log_softmax(a, axis=-1), (x3,), name="axis-1"),
    Case(dsp.log_softmax, lambda a: dsp.log_softmax(a, axis=(0, 1)), (x3,), name="tuple-axis"),
]
