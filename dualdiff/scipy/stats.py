"""``scipy.stats`` distributions that dualdiff can differentiate, as drop-in objects.

SciPy's distribution methods start with ``np.asarray``, so a traced array never reaches a hook
and ``scipy.stats.norm.logpdf(x, m, s)`` refuses a traced ``m``. The distributions here have
SciPy's names, methods and signatures (``norm.logpdf(x, loc=0, scale=1)``,
``gamma.cdf(x, a, loc=0, scale=1)``, ``binom.logpmf(k, n, p)``,
``multivariate_normal.logpdf(x, mean=None, cov=1)``, ...) and the same results on plain arrays,
support and invalid parameters included (``-inf`` outside the support, ``nan`` where a parameter
is invalid, such as ``scale <= 0``), with SciPy's broadcasting. They follow SciPy's own formulas
in NumPy and ``scipy.special`` calls that dualdiff differentiates, so every method is
differentiable at every order in ``x`` and in every continuous parameter:

- continuous (``pdf logpdf cdf logcdf sf logsf entropy``): ``norm``, ``t``, ``chi2``, ``beta``,
  ``gamma``, ``expon``, ``laplace``, ``logistic``, ``cauchy``, ``uniform``, ``lognorm``;
- discrete (``pmf logpmf cdf logcdf sf logsf entropy``): ``poisson``, ``binom``,
  ``bernoulli``; the integer arguments (``k``, ``loc``, the ``n`` of ``binom``) have no
  derivative and raise ``NotImplementedError`` when traced;
- ``multivariate_normal`` (``pdf logpdf entropy``, in ``x``, ``mean`` and ``cov``) and
  ``dirichlet`` (``pdf logpdf entropy``, in ``x`` and ``alpha``).

The cdf of ``t`` and ``chi2`` (in ``df``), of ``gamma`` (in ``a``) and of ``beta`` (in ``a`` and
``b``) have no closed-form derivative in the shape parameter: a traced shape parameter there
raises ``NotImplementedError`` (the density is differentiable in it). Calling a distribution
freezes it (``norm(0.0, s).logpdf(x)``). Every other name, and every other method of these
distributions (``ppf``, ``rvs``, ``mean``, ...), is SciPy's own.

Examples
--------
>>> import numpy as np
>>> import dualdiff as dd
>>> from dualdiff.scipy import stats
>>> x = np.array([0.5, 1.5, 2.0])
>>> def nll(mu):
...     return -np.sum(stats.norm.logpdf(x, mu, 2.0))
>>> float(dd.grad(nll)(1.0))  # sum(x - mu) / scale**2
-0.25
>>> bool(stats.gamma.logpdf(2.0, 3.0) == __import__("scipy").stats.gamma.logpdf(2.0, 3.0))
True
"""

import functools

import numpy as np
import scipy.special as sc
import scipy.stats
from scipy.special import _ufuncs as scu

import dualdiff.rules.stats_special  # noqa: F401  (the rules of stdtr, chdtr, pdtr, ...)
from dualdiff._tracer import Tracer, innermost
from dualdiff.scipy._fallback import fallback

__all__ = [
    "bernoulli",
    "beta",
    "binom",
    "cauchy",
    "chi2",
    "dirichlet",
    "expon",
    "gamma",
    "laplace",
    "logistic",
    "lognorm",
    "multivariate_normal",
    "norm",
    "poisson",
    "t",
    "uniform",
]

_LOG_2PI = np.log(2 * np.pi)
_NORM_PDF_C = np.sqrt(2 * np.pi)
_NORM_PDF_LOGC = np.log(_NORM_PDF_C)
_LOG_PI = np.log(np.pi)


def _plain(x):
    """The plain array inside ``x`` (a number, an array or a tracer at any level)."""
    return np.asarray(innermost(x))


def _float(x):
    """``x`` as SciPy reads it: a float64 (or wider) array; tracers are float64 already."""
    if isinstance(x, Tracer):
        return x
    x = np.asarray(x)
    return np.asarray(x, dtype=np.promote_types(x.dtype, np.float64))


def _finish(out):
    """SciPy's return convention: a 0-d result is a NumPy scalar."""
    if isinstance(out, np.ndarray) and out.ndim == 0:
        return out[()]
    return out


def _valid(ok, values, fills):
    """``values`` with entries where ``ok`` is False replaced by ``fills`` (finite derivatives)."""
    if ok.all():
        return list(values)
    return [np.where(ok, v, f) for v, f in zip(values, fills)]


def _branch(cond, x, fill, if_true, if_false, *args):
    """SciPy's ``apply_where``: each branch sees only its own entries (``fill`` elsewhere), so an
    overflow in the branch not taken cannot turn a derivative into NaN."""
    xt = np.where(cond, x, fill)
    xf = np.where(cond, fill, x)
    return np.where(cond, if_true(xt, *args), if_false(xf, *args))


def _xlogy(fn, c, y):
    """``fn(c, y)`` for ``fn`` = ``sc.xlogy`` or ``sc.xlog1py``, with ``y`` masked where a plain
    ``c`` is 0: the term is 0 there whatever ``y`` is, so its derivative in ``y`` is 0 too (the
    rule's ``c / y`` would be 0 / 0 at ``y = 0``: the density of gamma(a=1) at x = 0, the
    binomial's mass at p = 0). The value is SciPy's."""
    if isinstance(c, Tracer):
        return fn(c, y)
    zero = np.asarray(c) == 0
    if not zero.any():
        return fn(c, y)
    return fn(c, np.where(zero, 1.0 if fn is sc.xlogy else 0.0, y))


def _no_derivative(name, value, why):
    if isinstance(value, Tracer):
        raise NotImplementedError(
            f"dualdiff has no derivative of {name} ({why}); pass it as a constant."
        )


def _parse(dist, names, defaults, args, kwds):
    """SciPy's argument parsing: shape parameters positionally or by name, then loc (scale)."""
    all_names = tuple(names) + tuple(defaults)
    if len(args) > len(all_names):
        raise TypeError(f"{dist}: too many positional arguments ({len(args)} given)")
    vals = dict(zip(all_names, args))
    for key, v in kwds.items():
        if key not in all_names:
            raise TypeError(f"{dist}: unexpected keyword argument {key!r}")
        if key in vals:
            raise TypeError(f"{dist}: got multiple values for argument {key!r}")
        vals[key] = v
    missing = [n for n in names if n not in vals]
    if missing:
        raise TypeError(f"{dist}: missing required argument(s) {', '.join(map(repr, missing))}")
    return [vals[n] for n in names], [vals.get(k, d) for k, d in defaults.items()]


class _Distribution:
    """What continuous and discrete distributions share: SciPy's object behind, freezing."""

    name = ""
    _shape_names = ()
    _fills = ()  # a valid value of each shape parameter, put where the caller's is invalid
    _methods = ()

    def __init__(self):
        self._scipy = getattr(scipy.stats, self.name)

    def __getattr__(self, name):
        # Methods not served here (ppf, rvs, mean, ...) are SciPy's own.
        if name.startswith("__") or name == "_scipy":
            raise AttributeError(name)
        return getattr(self._scipy, name)

    def __call__(self, *args, **kwds):
        return _Frozen(self, args, kwds)

    def __repr__(self):
        return f"<dualdiff.scipy.stats.{self.name}>"

    def _argcheck(self, *shapes):
        ok = np.asarray(True)
        for s in shapes:
            ok = ok & (s > 0)
        return ok


class _Frozen:
    """A distribution with its parameters fixed, as ``scipy.stats.norm(loc, scale)``."""

    def __init__(self, dist, args, kwds):
        self.dist, self.args, self.kwds = dist, args, kwds

    def __getattr__(self, name):
        if name in ("dist", "args", "kwds"):
            raise AttributeError(name)
        if name in self.dist._methods:
            method = getattr(self.dist, name)
            if name == "entropy":  # of the parameters alone (allow_singular is not one)
                kwds = {k: v for k, v in self.kwds.items() if k != "allow_singular"}
                return functools.partial(method, *self.args, **kwds)
            return lambda x: method(x, *self.args, **self.kwds)
        # SciPy's own method (ppf, rvs, mean, ...): plain parameters only, never a silently
        # dropped derivative.
        for v in (*self.args, *self.kwds.values()):
            _no_derivative(f"{self.dist.name}(...).{name}", v, "it is SciPy's own method")
        return getattr(self.dist._scipy(*self.args, **self.kwds), name)


# -- continuous distributions ----------------------------------------------------------------------
class _Continuous(_Distribution):
    """``rv_continuous``'s public methods, on the formulas ``_pdf``, ``_logpdf``, ``_cdf``, ...
    of the standardized variable ``z = (x - loc) / scale``, as SciPy writes them."""

    a, b = -np.inf, np.inf  # support of z
    _inner = 0.0  # a point inside the support
    _methods = ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "entropy")

    # SciPy's defaults for what a distribution does not define.
    def _pdf(self, z, *s):
        return np.exp(self._logpdf(z, *s))

    def _logpdf(self, z, *s):
        return np.log(self._pdf(z, *s))

    def _sf(self, z, *s):
        return 1.0 - self._cdf(z, *s)

    def _median(self, *s):
        return self._scipy._ppf(0.5, *[_plain(v) for v in s])

    def _logcdf(self, z, *s):
        med = self._median(*s)
        return _branch(
            _plain(z) < med, z, med, lambda z: np.log(self._cdf(z, *s)),
            lambda z: np.log1p(-self._sf(z, *s)),
        )  # fmt: skip

    def _logsf(self, z, *s):
        med = self._median(*s)
        return _branch(
            _plain(z) > med, z, med, lambda z: np.log(self._sf(z, *s)),
            lambda z: np.log1p(-self._cdf(z, *s)),
        )  # fmt: skip

    def _prepare(self, kind, x, args, kwds):
        shapes, (loc, scale) = _parse(
            f"{self.name}.{kind}", self._shape_names, {"loc": 0.0, "scale": 1.0}, args, kwds
        )
        x = _float(x)
        ok = np.asarray(self._argcheck(*map(_plain, shapes)) & (_plain(scale) > 0))
        *shapes, scale = _valid(ok, [*shapes, scale], [*self._fills, 1.0])
        z = (x - loc) / scale
        zv = _plain(z)
        bad = ~ok | np.isnan(zv)
        return z, zv, ok, bad, shapes, scale

    def _density(self, kind, x, args, kwds):
        z, zv, ok, bad, shapes, scale = self._prepare(kind, x, args, kwds)
        inside = ok & (self.a <= zv) & (zv <= self.b)
        zs = z if inside.all() else np.where(inside, z, self._inner)
        if kind == "pdf":
            val, outside = self._pdf(zs, *shapes) / scale, 0.0
        else:
            val, outside = self._logpdf(zs, *shapes) - np.log(scale), -np.inf
        return _finish(np.where(bad, np.nan, np.where(inside, val, outside)))

    def _tail(self, kind, x, args, kwds):
        z, zv, ok, bad, shapes, _ = self._prepare(kind, x, args, kwds)
        inside = ok & (self.a < zv) & (zv < self.b)
        zs = z if inside.all() else np.where(inside, z, self._inner)
        val = getattr(self, "_" + kind)(zs, *shapes)
        edge = ok & ((zv >= self.b) if kind in ("cdf", "logcdf") else (zv <= self.a))
        log = kind.startswith("log")
        outside = np.where(edge, 0.0 if log else 1.0, -np.inf if log else 0.0)
        return _finish(np.where(inside, val, np.where(bad, np.nan, outside)))

    def pdf(self, x, *args, **kwds):
        """Probability density at ``x``; SciPy's signature ``pdf(x, *shapes, loc=0, scale=1)``."""
        return self._density("pdf", x, args, kwds)

    def logpdf(self, x, *args, **kwds):
        """Log of the density at ``x``: ``-inf`` outside the support, ``nan`` for bad parameters.

        Parameters
        ----------
        x : array_like
            Quantiles.
        *args : array_like
            The shape parameters (``df`` of ``t``, ``a`` and ``b`` of ``beta``, ...), then
            ``loc`` and ``scale``, positionally or by name as in SciPy; all broadcast with ``x``.
        loc, scale : array_like
            Location (default 0) and scale (default 1).

        Returns
        -------
        ndarray or float64
            SciPy's value, traced in ``x``, ``loc``, ``scale`` and the shape parameters; a
            NumPy scalar for scalar arguments.

        Examples
        --------
        >>> import numpy as np
        >>> import dualdiff as dd
        >>> from dualdiff.scipy.stats import norm
        >>> g = dd.grad(lambda s: norm.logpdf(3.0, 1.0, s))(2.0)
        >>> bool(np.isclose(g, -1 / 2.0 + (3.0 - 1.0) ** 2 / 2.0**3))
        True
        """
        return self._density("logpdf", x, args, kwds)

    def cdf(self, x, *args, **kwds):
        """Cumulative distribution function at ``x``.

        Parameters
        ----------
        x : array_like
            Quantiles.
        *args : array_like
            Shape parameters, then ``loc`` and ``scale``, as for :meth:`logpdf`.

        Returns
        -------
        ndarray or float64
            SciPy's value, traced in ``x``, ``loc`` and ``scale``; in the shape parameters too,
            except for ``t`` and ``chi2`` (``df``), ``gamma`` (``a``) and ``beta`` (``a``,
            ``b``), whose cdf, sf, logcdf and logsf raise ``NotImplementedError`` for a traced
            shape parameter (no closed-form derivative).

        Examples
        --------
        >>> import dualdiff as dd
        >>> from dualdiff.scipy.stats import gamma
        >>> bool(abs(dd.grad(lambda x: gamma.cdf(x, 2.5))(1.2) - gamma.pdf(1.2, 2.5)) < 1e-15)
        True
        """
        return self._tail("cdf", x, args, kwds)

    def logcdf(self, x, *args, **kwds):
        """Log of the cumulative distribution function at ``x``."""
        return self._tail("logcdf", x, args, kwds)

    def sf(self, x, *args, **kwds):
        """Survival function ``1 - cdf`` at ``x``."""
        return self._tail("sf", x, args, kwds)

    def logsf(self, x, *args, **kwds):
        """Log of the survival function at ``x``."""
        return self._tail("logsf", x, args, kwds)

    def entropy(self, *args, **kwds):
        """Differential entropy; ``entropy(*shapes, loc=0, scale=1)``."""
        shapes, (loc, scale) = _parse(
            f"{self.name}.entropy", self._shape_names, {"loc": 0.0, "scale": 1.0}, args, kwds
        )
        lv = _plain(loc)
        ok = np.asarray(self._argcheck(*map(_plain, shapes)) & (_plain(scale) > 0) & (lv == lv))
        *shapes, scale = _valid(ok, [*shapes, scale], [*self._fills, 1.0])
        return _finish(np.where(ok, self._entropy(*shapes) + np.log(scale), np.nan))


class norm_gen(_Continuous):
    name = "norm"

    def _pdf(self, z):
        return np.exp(-(z**2) / 2.0) / _NORM_PDF_C

    def _logpdf(self, z):
        return -(z**2) / 2.0 - _NORM_PDF_LOGC

    def _cdf(self, z):
        return sc.ndtr(z)

    def _logcdf(self, z):
        return sc.log_ndtr(z)

    def _sf(self, z):
        return sc.ndtr(-z)

    def _logsf(self, z):
        return sc.log_ndtr(-z)

    def _entropy(self):
        return 0.5 * (np.log(2 * np.pi) + 1)


class t_gen(_Continuous):
    name, _shape_names, _fills = "t", ("df",), (1.0,)

    def _logpdf(self, z, df):
        def t_logpdf(df):
            return (
                np.log(sc.poch(0.5 * df, 0.5))
                - 0.5 * (np.log(df) + np.log(np.pi))
                - (df + 1) / 2 * np.log1p(z * z / df)
            )

        infinite = _plain(df) == np.inf
        if not infinite.any():
            return t_logpdf(df)
        return _branch(
            infinite, df, 1.0, lambda d: norm._logpdf(z) * np.ones(np.shape(d)), t_logpdf
        )

    def _pdf(self, z, df):
        infinite = _plain(df) == np.inf
        if not infinite.any():
            return np.exp(self._logpdf(z, df))
        return _branch(
            infinite, df, 1.0, lambda d: norm._pdf(z) * np.ones(np.shape(d)),
            lambda d: np.exp(self._logpdf(z, d)),
        )  # fmt: skip

    def _cdf(self, z, df):
        return sc.stdtr(df, z)

    def _sf(self, z, df):
        return sc.stdtr(df, -z)

    def _entropy(self, df):
        def regular(df):
            half = df / 2
            half1 = (df + 1) / 2
            return half1 * (sc.digamma(half1) - sc.digamma(half)) + np.log(
                np.sqrt(df) * sc.beta(half, 0.5)
            )

        def asymptotic(df):
            return (
                norm._entropy() + 1 / df + (df**-2.0) / 4 - (df**-3.0) / 6
                - (df**-4.0) / 8 + 3 / 10 * (df**-5.0) + (df**-6.0) / 4
            )  # fmt: skip

        dv = _plain(df)
        h = _branch(dv >= 100, df, 1000.0, asymptotic, regular)
        return np.where(dv == np.inf, norm._entropy(), h) if (dv == np.inf).any() else h


class chi2_gen(_Continuous):
    name, _shape_names, _fills = "chi2", ("df",), (1.0,)
    a, _inner = 0.0, 1.0

    def _logpdf(self, z, df):
        return (
            _xlogy(sc.xlogy, df / 2.0 - 1, z)
            - z / 2.0
            - sc.gammaln(df / 2.0)
            - (np.log(2) * df) / 2.0
        )

    def _cdf(self, z, df):
        return sc.chdtr(df, z)

    def _sf(self, z, df):
        return sc.chdtrc(df, z)

    def _entropy(self, df):
        def regular(half_df):
            return half_df + np.log(2) + sc.gammaln(half_df) + (1 - half_df) * sc.psi(half_df)

        def asymptotic(half_df):
            c = np.log(2) + 0.5 * (1 + np.log(2 * np.pi))
            h = 0.5 / half_df
            return h * (-2 / 3 + h * (-1 / 3 + h * (-4 / 45 + h / 7.5))) + 0.5 * np.log(half_df) + c

        half_df = 0.5 * df
        return _branch(_plain(half_df) < 125, half_df, 1.0, regular, asymptotic)


class beta_gen(_Continuous):
    name, _shape_names, _fills = "beta", ("a", "b"), (1.0, 1.0)
    a, b, _inner = 0.0, 1.0, 0.5

    def _pdf(self, z, a, b):
        with np.errstate(over="ignore"):
            return scu._beta_pdf(z, a, b)

    def _logpdf(self, z, a, b):
        lpx = _xlogy(sc.xlog1py, b - 1.0, -z) + _xlogy(sc.xlogy, a - 1.0, z)
        return lpx - sc.betaln(a, b)

    def _cdf(self, z, a, b):
        return sc.betainc(a, b, z)

    def _sf(self, z, a, b):
        return sc.betaincc(a, b, z)

    def _entropy(self, a, b):
        def regular(a, b):
            return (
                sc.betaln(a, b) - (a - 1) * sc.psi(a) - (b - 1) * sc.psi(b)
                + (a + b - 2) * sc.psi(a + b)
            )  # fmt: skip

        def asymptotic_ab_large(a, b):
            s = a + b
            log_term = 0.5 * (np.log(2 * np.pi) + np.log(a) + np.log(b) - 3 * np.log(s) + 1)
            t1 = 110 / s + 20 * s**-2.0 + s**-3.0 - 2 * s**-4.0
            t2 = -50 / a - 10 * a**-2.0 - a**-3.0 + a**-4.0
            t3 = -50 / b - 10 * b**-2.0 - b**-3.0 + b**-4.0
            return log_term + (t1 + t2 + t3) / 120

        def asymptotic_b_large(a, b):
            s = a + b
            t1 = sc.gammaln(a) - (a - 1) * sc.psi(a)
            t2 = (
                -1 / (2 * b) + 1 / (12 * b) - b**-2.0 / 12 - b**-3.0 / 120 + b**-4.0 / 120
                + b**-5.0 / 252 - b**-6.0 / 252 + 1 / s - 1 / (12 * s) + s**-2.0 / 6
                + s**-3.0 / 120 - s**-4.0 / 60 - s**-5.0 / 252 + s**-6.0 / 126
            )  # fmt: skip
            return t1 + t2 + s * np.log1p(a / b) + np.log(b) - 2 * np.log(s)

        def threshold(v):
            j = np.floor(np.log10(v))
            d = np.floor(v / 10**j) + 2
            return np.where(v != 1.0, d * 10 ** (7 + j), 1000)

        av, bv = np.broadcast_arrays(_plain(a), _plain(b))
        conds = [
            (av >= 4.96e6) & (bv >= 4.96e6),
            (av <= 4.9e6) & (bv - av >= 1e6) & (bv >= threshold(av)),
            (bv <= 4.9e6) & (av - bv >= 1e6) & (av >= threshold(bv)),
            (av < 4.9e6) & (bv < 4.9e6),
        ]
        formulas = [
            asymptotic_ab_large, asymptotic_b_large, lambda a, b: asymptotic_b_large(b, a),
            regular,
        ]  # fmt: skip
        out = np.zeros(av.shape)  # SciPy's _lazyselect: later conditions win, 0 where none holds
        for cond, formula in zip(conds, formulas):
            if cond.any():
                safe = [np.where(cond, v, 2.0) for v in (a, b)]
                out = np.where(cond, formula(*safe), out)
        return out


class gamma_gen(_Continuous):
    name, _shape_names, _fills = "gamma", ("a",), (1.0,)
    a, _inner = 0.0, 1.0

    def _logpdf(self, z, a):
        return _xlogy(sc.xlogy, a - 1.0, z) - z - sc.gammaln(a)

    def _cdf(self, z, a):
        return sc.gammainc(a, z)

    def _sf(self, z, a):
        return sc.gammaincc(a, z)

    def _entropy(self, a):
        def regular(a):
            return sc.psi(a) * (1 - a) + a + sc.gammaln(a)

        def asymptotic(a):
            return (
                0.5 * (1.0 + np.log(2 * np.pi) + np.log(a)) - 1 / (3 * a) - (a**-2.0) / 12
                - (a**-3.0) / 90 + (a**-4.0) / 120
            )  # fmt: skip

        return _branch(_plain(a) < 250, a, 1.0, regular, asymptotic)


class expon_gen(_Continuous):
    name, a, _inner = "expon", 0.0, 1.0

    def _pdf(self, z):
        return np.exp(-z)

    def _logpdf(self, z):
        return -z

    def _cdf(self, z):
        return -sc.expm1(-z)

    def _sf(self, z):
        return np.exp(-z)

    def _logsf(self, z):
        return -z

    def _median(self):
        return -sc.log1p(-0.5)

    def _entropy(self):
        return 1.0


class laplace_gen(_Continuous):
    name = "laplace"

    def _pdf(self, z):
        return 0.5 * np.exp(-abs(z))

    def _cdf(self, z):
        return _branch(
            _plain(z) > 0, z, 0.0, lambda z: 1.0 - 0.5 * np.exp(-z), lambda z: 0.5 * np.exp(z)
        )

    def _sf(self, z):
        return self._cdf(-z)

    def _median(self):
        return 0.0

    def _entropy(self):
        return np.log(2) + 1


class logistic_gen(_Continuous):
    name = "logistic"

    def _logpdf(self, z):
        y = -np.abs(z)
        return y - 2.0 * sc.log1p(np.exp(y))

    def _cdf(self, z):
        return sc.expit(z)

    def _logcdf(self, z):
        return sc.log_expit(z)

    def _sf(self, z):
        return sc.expit(-z)

    def _logsf(self, z):
        return sc.log_expit(-z)

    def _entropy(self):
        return 2.0


class cauchy_gen(_Continuous):
    name = "cauchy"

    def _pdf(self, z):
        with np.errstate(over="ignore"):
            return 1.0 / np.pi / (1.0 + z * z)

    def _logpdf(self, z):
        absz = np.abs(z)
        return _branch(
            _plain(absz) < 1, absz, 1.0, lambda u: -_LOG_PI - np.log1p(u**2),
            lambda u: -_LOG_PI - (2 * np.log(u) + np.log1p((1 / u) ** 2)),
        )  # fmt: skip

    def _cdf(self, z):
        return np.arctan2(1, -z) / np.pi

    def _sf(self, z):
        return np.arctan2(1, z) / np.pi

    def _median(self):
        return 0.0

    def _entropy(self):
        return np.log(4 * np.pi)


class uniform_gen(_Continuous):
    name, a, b, _inner = "uniform", 0.0, 1.0, 0.5

    def _pdf(self, z):
        return 1.0 * (z == z)

    def _cdf(self, z):
        return z

    def _median(self):
        return 0.5

    def _entropy(self):
        return 0.0


class lognorm_gen(_Continuous):
    name, _shape_names, _fills = "lognorm", ("s",), (1.0,)
    a, _inner = 0.0, 1.0

    def _logpdf(self, z, s):
        zero = _plain(z) == 0
        z = np.where(zero, 1.0, z) if zero.any() else z
        out = -(np.log(z) ** 2) / (2 * s**2) - np.log(s * z * np.sqrt(2 * np.pi))
        return np.where(zero, -np.inf, out) if zero.any() else out

    def _cdf(self, z, s):
        return sc.ndtr(np.log(z) / s)

    def _logcdf(self, z, s):
        return sc.log_ndtr(np.log(z) / s)

    def _sf(self, z, s):
        return sc.ndtr(-(np.log(z) / s))

    def _logsf(self, z, s):
        return sc.log_ndtr(-(np.log(z) / s))

    def _entropy(self, s):
        return 0.5 * (1 + np.log(2 * np.pi) + 2 * np.log(s))


# -- discrete distributions ------------------------------------------------------------------------
class _Discrete(_Distribution):
    """``rv_discrete``'s public methods on the formulas ``_pmf``, ``_logpmf``, ``_cdf``, ``_sf``.

    ``k`` and ``loc`` are integers: they have no derivative and must not be traced.
    """

    a = 0
    _inner = 0.0
    _integer_shapes = ()  # shape parameters that are integers (binom's n): never traced
    _methods = ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "entropy")

    def _pmf(self, k, *s):
        return np.exp(self._logpmf(k, *s))

    def _logcdf(self, k, *s):
        return np.log(self._cdf(k, *s))

    def _logsf(self, k, *s):
        return np.log(self._sf(k, *s))

    def _support_b(self, *s):
        return self.b

    def _prepare(self, kind, k, args, kwds):
        shapes, (loc,) = _parse(f"{self.name}.{kind}", self._shape_names, {"loc": 0}, args, kwds)
        _no_derivative(f"{self.name}.{kind} in k", k, "k is discrete")
        _no_derivative(f"{self.name}.{kind} in loc", loc, "loc is an integer shift")
        self._integers(kind, shapes)
        sv = [_plain(v) for v in shapes]
        k = np.asarray(_plain(k) - _plain(loc))
        ok = np.asarray(self._argcheck(*sv))
        b = self._support_b(*sv)
        shapes = _valid(ok, shapes, self._fills)
        return k, ok, b, shapes

    def _integers(self, kind, shapes):
        for name, v in zip(self._shape_names, shapes):
            if name in self._integer_shapes:
                _no_derivative(f"{self.name}.{kind} in {name}", v, f"{name} is an integer")

    def _masked(self, inside, k, shapes, formula):
        ks = k if inside.all() else np.where(inside, k, self._inner)
        return formula(ks, *shapes)

    def pmf(self, k, *args, **kwds):
        """Probability mass at ``k``; SciPy's signature ``pmf(k, *shapes, loc=0)``."""
        return self._mass("pmf", k, args, kwds)

    def logpmf(self, k, *args, **kwds):
        """Log of the probability mass at ``k``: ``-inf`` off the support.

        Parameters
        ----------
        k : array_like
            Quantiles (a constant: ``k`` has no derivative).
        *args : array_like
            The shape parameters (``mu``; ``n`` and ``p``; ``p``), then ``loc``, positionally
            or by name as in SciPy; all broadcast with ``k``.

        Returns
        -------
        ndarray or float64
            SciPy's value, traced in ``mu`` and ``p``; a traced ``k``, ``loc`` or ``n`` raises
            ``NotImplementedError``.

        Examples
        --------
        >>> import dualdiff as dd
        >>> from dualdiff.scipy.stats import poisson
        >>> float(dd.grad(lambda mu: poisson.logpmf(3, mu))(2.0))  # k / mu - 1
        0.5
        """
        return self._mass("logpmf", k, args, kwds)

    def _mass(self, kind, k, args, kwds):
        k, ok, b, shapes = self._prepare(kind, k, args, kwds)
        inside = ok & (k >= self.a) & (k <= b) & (np.floor(k) == k)
        if kind == "pmf":
            val = np.clip(self._masked(inside, k, shapes, self._pmf), 0, 1)
            outside = 0.0
        else:
            val, outside = self._masked(inside, k, shapes, self._logpmf), -np.inf
        bad = ~ok | np.isnan(k)
        return _finish(np.where(inside, val, np.where(bad, np.nan, outside)))

    def cdf(self, k, *args, **kwds):
        """Cumulative distribution function ``P(X <= k)``."""
        k, ok, b, shapes = self._prepare("cdf", k, args, kwds)
        k = np.floor(k)
        inside = ok & (k >= self.a) & (k < b) & np.isfinite(k)
        val = np.clip(self._masked(inside, k, shapes, self._cdf), 0, 1)
        out = np.where(~ok | np.isnan(k), np.nan, np.where(k >= b, 1.0, 0.0))
        return _finish(np.where(inside, val, out))

    def logcdf(self, k, *args, **kwds):
        """Log of the cumulative distribution function."""
        k, ok, b, shapes = self._prepare("logcdf", k, args, kwds)
        inside = ok & (k >= self.a) & (k < b)
        val = self._masked(inside, k, shapes, self._logcdf)
        out = np.where(k >= b, 0.0, np.where(~ok | np.isnan(k), np.nan, -np.inf))
        return _finish(np.where(inside, val, out))

    def sf(self, k, *args, **kwds):
        """Survival function ``P(X > k)``."""
        k, ok, b, shapes = self._prepare("sf", k, args, kwds)
        inside = ok & (k >= self.a) & (k < b) & np.isfinite(k)
        val = np.clip(self._masked(inside, k, shapes, self._sf), 0, 1)
        below = ((k < self.a) | np.isneginf(k)) & ok
        out = np.where(below, 1.0, np.where(~ok | np.isnan(k), np.nan, 0.0))
        return _finish(np.where(inside, val, out))

    def logsf(self, k, *args, **kwds):
        """Log of the survival function."""
        k, ok, b, shapes = self._prepare("logsf", k, args, kwds)
        inside = ok & (k >= self.a) & (k < b)
        val = self._masked(inside, k, shapes, self._logsf)
        below = (k < self.a) & ok
        out = np.where(below, 0.0, np.where(~ok | np.isnan(k), np.nan, -np.inf))
        return _finish(np.where(inside, val, out))

    def entropy(self, *args, **kwds):
        """Entropy of the distribution; ``entropy(*shapes, loc=0)``."""
        shapes, (loc,) = _parse(f"{self.name}.entropy", self._shape_names, {"loc": 0}, args, kwds)
        self._integers("entropy", shapes)
        lv = _plain(loc)
        ok = np.asarray(self._argcheck(*map(_plain, shapes)) & (lv == lv))
        shapes = _valid(ok, shapes, self._fills)
        return _finish(np.where(ok, self._entropy(*shapes) + np.log(1.0), np.nan))


def _integral(n):
    return n == np.floor(n)


class poisson_gen(_Discrete):
    name, _shape_names, _fills, b = "poisson", ("mu",), (1.0,), np.inf

    def _argcheck(self, mu):
        return mu >= 0

    def _logpmf(self, k, mu):
        return _xlogy(sc.xlogy, k, mu) - sc.gammaln(k + 1) - mu

    def _cdf(self, k, mu):
        return sc.pdtr(np.floor(k), mu)

    def _sf(self, k, mu):
        return sc.pdtrc(np.floor(k), mu)

    def entropy(self, *args, **kwds):
        """Entropy (SciPy's series): plain parameters only, a traced ``mu`` raises."""
        for v in (*args, *kwds.values()):
            _no_derivative("poisson.entropy", v, "SciPy sums a truncated series")
        return self._scipy.entropy(*args, **kwds)


class binom_gen(_Discrete):
    name, _shape_names, _fills, b = "binom", ("n", "p"), (1.0, 0.5), np.inf
    _integer_shapes = ("n",)

    def _argcheck(self, n, p):
        return (n >= 0) & _integral(n) & (p >= 0) & (p <= 1)

    def _support_b(self, n, p):
        return n

    def _pmf(self, k, n, p):
        return scu._binom_pmf(k, n, p)

    def _logpmf(self, k, n, p):
        k = np.floor(k)
        combiln = sc.gammaln(n + 1) - (sc.gammaln(k + 1) + sc.gammaln(n - k + 1))
        return combiln + _xlogy(sc.xlogy, k, p) + _xlogy(sc.xlog1py, n - k, -p)

    def _cdf(self, k, n, p):
        return scu._binom_cdf(np.floor(k), n, p)

    def _sf(self, k, n, p):
        return scu._binom_sf(np.floor(k), n, p)

    def _entropy(self, n, p):
        nv = np.asarray(_plain(n))
        k = np.arange(int(nv.max()) + 1 if nv.size else 1.0, dtype=float)
        k = k.reshape((-1,) + (1,) * len(self._shape(n, p)))
        inside = k <= nv
        vals = np.where(inside, self._pmf(np.where(inside, k, 0.0), n, p), 1.0)
        return np.sum(sc.entr(vals), axis=0)

    @staticmethod
    def _shape(n, p):
        return np.broadcast_shapes(np.shape(n), np.shape(p))


class bernoulli_gen(binom_gen):
    name, _shape_names, _fills, b = "bernoulli", ("p",), (0.5,), 1
    _integer_shapes = ()

    def _argcheck(self, p):
        return (p >= 0) & (p <= 1)

    def _support_b(self, p):
        return self.b

    def _pmf(self, k, p):
        return binom._pmf(k, 1, p)

    def _logpmf(self, k, p):
        return binom._logpmf(k, 1, p)

    def _cdf(self, k, p):
        return binom._cdf(k, 1, p)

    def _sf(self, k, p):
        return binom._sf(k, 1, p)

    def _entropy(self, p):
        return sc.entr(p) + sc.entr(1 - p)


# -- multivariate distributions --------------------------------------------------------------------
def _squeeze(out):
    out = out.squeeze()
    return _finish(out)


class multivariate_normal_gen(_Distribution):
    """``scipy.stats.multivariate_normal``: ``pdf``, ``logpdf`` and ``entropy`` traced in ``x``,
    ``mean`` and ``cov``.

    ``cov`` is read through its Cholesky factor, which reads the lower triangle (SciPy's
    eigendecomposition reads the lower triangle too); it is validated as SciPy does (a singular
    or indefinite ``cov`` raises SciPy's error). ``allow_singular=True`` with a singular ``cov``
    is SciPy's own computation, on plain arrays only.
    """

    name = "multivariate_normal"
    _methods = ("pdf", "logpdf", "entropy")

    def __call__(self, mean=None, cov=1, allow_singular=False, seed=None, **kwds):
        return _Frozen(self, (), {"mean": mean, "cov": cov, "allow_singular": allow_singular})

    def _parameters(self, mean, cov, allow_singular):
        """SciPy's validation on the plain values; mean as a vector, cov as a matrix (traced)."""
        mv = None if mean is None else _plain(mean)
        dim, _, cv = self._scipy._process_parameters_psd(None, mv, _plain(cov))
        psd = scipy.stats._multivariate._PSD(cv, allow_singular=allow_singular)
        mean = np.zeros(dim) if mean is None else mean
        if np.ndim(mean) != 1:
            mean = np.reshape(mean, (dim,))
        if np.ndim(cov) == 0:
            cov = cov * np.eye(dim)
        elif np.ndim(cov) == 1:
            cov = np.diag(cov) if dim > 1 or np.size(cov) > 1 else np.reshape(cov, (1, 1))
        elif np.ndim(cov) == 2 and np.shape(cov) != (dim, dim):
            cov = np.reshape(cov, (dim, dim))
        return dim, mean, cov, psd

    def _traced_logpdf(self, x, mean, cov, allow_singular):
        dim, mean, cov, psd = self._parameters(mean, cov, allow_singular)
        if psd.rank < dim:  # singular: SciPy's pseudo-inverse, plain arrays only
            for name, v in (("x", x), ("mean", mean), ("cov", cov)):
                _no_derivative(f"multivariate_normal in {name}", v, "singular cov")
            return None, dim, psd
        x = _float(x)
        if np.ndim(x) == 0:
            x = np.reshape(x, (1,))
        if np.ndim(x) == 1:
            x = np.reshape(x, (-1, 1) if dim == 1 else (1, -1))
        chol = np.linalg.cholesky(cov)
        log_det = 2.0 * np.sum(np.log(np.diagonal(chol)))
        dev = x - mean
        flat = np.reshape(dev, (-1, dim))
        white = np.linalg.solve(chol, flat.T)
        maha = np.reshape(np.sum(np.square(white), axis=0), np.shape(dev)[:-1])
        return -0.5 * (dim * _LOG_2PI + log_det + maha), dim, psd

    def logpdf(self, x, mean=None, cov=1, allow_singular=False):
        """Log-density of the multivariate normal at ``x`` (the last axis holds the components).

        Parameters
        ----------
        x : array_like
            Quantiles, the components along the last axis.
        mean : array_like, optional
            Mean vector (default zero).
        cov : array_like
            Covariance matrix; a scalar or a vector stand for ``cov * I`` and ``diag(cov)``.
        allow_singular : bool
            Accept a singular ``cov`` (then SciPy's own computation, plain arrays only).

        Returns
        -------
        ndarray or float64
            SciPy's value, squeezed as SciPy does, traced in ``x``, ``mean`` and ``cov``.

        Examples
        --------
        >>> import numpy as np
        >>> import dualdiff as dd
        >>> from dualdiff.scipy.stats import multivariate_normal
        >>> cov = np.array([[2.0, 0.5], [0.5, 1.0]])
        >>> x, mu = np.array([1.0, -1.0]), np.zeros(2)
        >>> g = dd.grad(lambda m: multivariate_normal.logpdf(x, m, cov))(mu)
        >>> bool(np.allclose(g, np.linalg.solve(cov, x - mu)))
        True
        """
        out, _, _ = self._traced_logpdf(x, mean, cov, allow_singular)
        if out is None:
            return self._scipy.logpdf(x, mean, cov, allow_singular)
        return _squeeze(out)

    def pdf(self, x, mean=None, cov=1, allow_singular=False):
        """Density of the multivariate normal at ``x``."""
        out, _, _ = self._traced_logpdf(x, mean, cov, allow_singular)
        if out is None:
            return self._scipy.pdf(x, mean, cov, allow_singular)
        return _squeeze(np.exp(out))

    def entropy(self, mean=None, cov=1):
        """Differential entropy ``(dim (log 2 pi + 1) + log det cov) / 2``."""
        dim, _, cov, psd = self._parameters(mean, cov, True)
        if psd.rank < dim:
            _no_derivative("multivariate_normal.entropy in cov", cov, "singular cov")
            return self._scipy.entropy(mean, _plain(cov))
        log_det = 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(cov))))
        return _finish(0.5 * (dim * (_LOG_2PI + 1) + log_det))


class dirichlet_gen(_Distribution):
    """``scipy.stats.dirichlet``: ``pdf``, ``logpdf`` and ``entropy`` traced in ``x`` and
    ``alpha``, with SciPy's validation (on the plain values) and its layout of ``x`` (the
    components along the first axis, the last one optional)."""

    name = "dirichlet"
    _methods = ("pdf", "logpdf", "entropy")

    def __call__(self, alpha, seed=None):
        return _Frozen(self, (alpha,), {})

    def _x(self, x, alpha):
        mult = scipy.stats._multivariate
        alpha_v = mult._dirichlet_check_parameters(_plain(alpha))
        mult._dirichlet_check_input(alpha_v, _plain(x))
        x = _float(x)
        if np.shape(x)[0] != alpha_v.shape[0]:
            x = np.concatenate([x, np.reshape(1 - np.sum(x, 0), (1,) + np.shape(x)[1:])])
        return x

    def _logpdf(self, x, alpha):
        lnb = np.sum(sc.gammaln(alpha)) - sc.gammaln(np.sum(alpha))
        return -lnb + np.sum(_xlogy(sc.xlogy, alpha - 1, x.T).T, 0)

    def logpdf(self, x, alpha):
        """Log-density of the Dirichlet distribution at ``x``.

        Parameters
        ----------
        x : array_like
            Points of the simplex, shape ``(K,)`` or ``(K, N)``; with ``K - 1`` rows the last
            component is ``1 - sum``.
        alpha : array_like
            Concentration parameters, shape ``(K,)``.

        Returns
        -------
        ndarray or float64
            SciPy's value, traced in ``x`` and ``alpha``.

        Examples
        --------
        >>> import numpy as np
        >>> import dualdiff as dd
        >>> from dualdiff.scipy.stats import dirichlet
        >>> x, alpha = np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0])
        >>> g = dd.grad(lambda x: dirichlet.logpdf(x, alpha))(x)
        >>> bool(np.allclose(g, (alpha - 1) / x))
        True
        """
        return _squeeze(self._logpdf(self._x(x, alpha), alpha))

    def pdf(self, x, alpha):
        """Density at ``x``."""
        return _squeeze(np.exp(self._logpdf(self._x(x, alpha), alpha)))

    def entropy(self, alpha):
        """Differential entropy."""
        scipy.stats._multivariate._dirichlet_check_parameters(_plain(alpha))
        alpha0 = np.sum(alpha)
        lnb = np.sum(sc.gammaln(alpha)) - sc.gammaln(alpha0)
        k = np.shape(alpha)[0]
        out = lnb + (alpha0 - k) * sc.psi(alpha0) - np.sum((alpha - 1) * sc.psi(alpha))
        return _finish(out)


norm = norm_gen()
t = t_gen()
chi2 = chi2_gen()
beta = beta_gen()
gamma = gamma_gen()
expon = expon_gen()
laplace = laplace_gen()
logistic = logistic_gen()
cauchy = cauchy_gen()
uniform = uniform_gen()
lognorm = lognorm_gen()
poisson = poisson_gen()
binom = binom_gen()
bernoulli = bernoulli_gen()
multivariate_normal = multivariate_normal_gen()
dirichlet = dirichlet_gen()


# Everything not served here is SciPy's own.
__getattr__, __dir__ = fallback(__name__, scipy.stats)
