"""Special functions behind ``dualdiff.scipy.stats``: distribution functions SciPy computes with
ufuncs of its own (``stdtr``, ``chdtr``, ``pdtr``, ``betaincc``, ``poch`` and the Boost-backed
``_beta_pdf`` and ``_binom_pmf/_cdf/_sf``), declared by their partial derivatives.

Derivatives in a continuous argument are closed forms written with functions that have partials
too, so every order is exact. Integer arguments (the ``n`` and ``k`` of the binomial, the ``k``
of the Poisson) and shape parameters of a cdf without a closed-form derivative (the degrees of
freedom of ``stdtr`` and ``chdtr``, ``a`` and ``b`` of ``betaincc``) raise
``NotImplementedError`` when they are traced.

The binomial's derivatives in ``p`` use the identities (exact at ``p = 0`` and ``p = 1``)::

    d/dp pmf(k; n, p) = n (pmf(k - 1; n - 1, p) - pmf(k; n - 1, p))
    d/dp cdf(k; n, p) = -n pmf(k; n - 1, p),      d/dp sf(k; n, p) = n pmf(k; n - 1, p)
"""

import numpy as np
import scipy.special as sc
from scipy.special import _ufuncs as scu

from dualdiff._registry import defpartials
from dualdiff.rules.special import _betainc_dx, _constant

# -- Pochhammer symbol (Student-t's log-density) ---------------------------------------------------
defpartials(
    sc.poch,
    lambda ans, z, m: ans * (sc.digamma(z + m) - sc.digamma(z)),
    lambda ans, z, m: ans * sc.digamma(z + m),
)


# -- Student's t -----------------------------------------------------------------------------------
def _t_pdf(df, t):
    """Student-t density, the normal density where ``df`` is infinite (as stdtr's limit)."""
    finite = np.isfinite(df)
    d = np.where(finite, df, 1.0)
    log_t = (
        sc.gammaln(0.5 * (d + 1.0))
        - sc.gammaln(0.5 * d)
        - 0.5 * np.log(d * np.pi)
        - 0.5 * (d + 1.0) * np.log1p(t * t / d)
    )
    return np.where(finite, np.exp(log_t), np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi))


defpartials(sc.stdtr, _constant("stdtr", "df"), lambda ans, df, t: _t_pdf(df, t))


# -- chi-squared -----------------------------------------------------------------------------------
def _chi2_pdf(df, x):
    h = 0.5 * df
    return np.exp(sc.xlogy(h - 1.0, x) - 0.5 * x - sc.gammaln(h) - np.log(2.0) * h)


defpartials(sc.chdtr, _constant("chdtr", "df"), lambda ans, df, x: _chi2_pdf(df, x))
defpartials(sc.chdtrc, _constant("chdtrc", "df"), lambda ans, df, x: -_chi2_pdf(df, x))


# -- Poisson: pdtr(k, m) = gammaincc(k + 1, m) -----------------------------------------------------
def _poisson_pmf(k, m):
    k = np.floor(k)  # pdtr(k, m) reads floor(k)
    return np.exp(sc.xlogy(k, m) - m - sc.gammaln(k + 1.0))


defpartials(sc.pdtr, _constant("pdtr", "k"), lambda ans, k, m: -_poisson_pmf(k, m))
defpartials(sc.pdtrc, _constant("pdtrc", "k"), lambda ans, k, m: _poisson_pmf(k, m))

# -- beta ------------------------------------------------------------------------------------------
defpartials(
    sc.betaincc,
    _constant("betaincc", "a"),
    _constant("betaincc", "b"),
    lambda ans, a, b, x: -_betainc_dx(ans, a, b, x),
)


def _beta_pdf_dx(ans, x, a, b):
    # ans * ((a - 1) / x - (b - 1) / (1 - x)); a term whose factor a - 1 (b - 1) is zero is
    # zero, also at the end point where its quotient would be 0 / 0.
    left = np.where(a == 1.0, 0.0, (a - 1.0) / np.where(a == 1.0, 1.0, x))
    right = np.where(b == 1.0, 0.0, (b - 1.0) / np.where(b == 1.0, 1.0, 1.0 - x))
    return ans * (left - right)


defpartials(
    scu._beta_pdf,
    _beta_pdf_dx,
    lambda ans, x, a, b: sc.xlogy(ans, x) - ans * (sc.digamma(a) - sc.digamma(a + b)),
    lambda ans, x, a, b: sc.xlog1py(ans, -x) - ans * (sc.digamma(b) - sc.digamma(a + b)),
)


# -- binomial --------------------------------------------------------------------------------------
def _pmf_below(k, n, p):
    """``pmf(k; n - 1, p)``, zero where ``k`` is outside ``[0, n - 1]`` (Boost says NaN)."""
    inside = (k >= 0) & (k <= n - 1)
    return np.where(inside, scu._binom_pmf(np.where(inside, k, 0.0), np.maximum(n - 1, 0), p), 0.0)


defpartials(
    scu._binom_pmf,
    _constant("_binom_pmf", "k"),
    _constant("_binom_pmf", "n"),
    lambda ans, k, n, p: n * (_pmf_below(k - 1, n, p) - _pmf_below(k, n, p)),
)
defpartials(
    scu._binom_cdf,
    _constant("_binom_cdf", "k"),
    _constant("_binom_cdf", "n"),
    lambda ans, k, n, p: -n * _pmf_below(k, n, p),
)
defpartials(
    scu._binom_sf,
    _constant("_binom_sf", "k"),
    _constant("_binom_sf", "n"),
    lambda ans, k, n, p: n * _pmf_below(k, n, p),
)
