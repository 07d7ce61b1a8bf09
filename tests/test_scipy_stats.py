"""dualdiff.scipy.stats against scipy.stats: values (plain and traced), ownership, derivatives.

The rule-table lines (tests/cases/stats.py) check every method's derivatives in every argument
at a small size; here: values equal SciPy's to 1e-12 relative (support edges, invalid
parameters, broadcasting, scalars), derivatives at special points and closed forms, the large
size, the parameters that raise, the fallback to SciPy, and JAX as an outside oracle.
"""

import warnings

import numpy as np
import pytest
import scipy.stats as st

import dualdiff as dd
from dualdiff.scipy import stats
from tests._oracles import Unchanged, assert_owned

RTOL = 1e-12
LARGE = 16384

CONTINUOUS = {  # name: shape parameters (arrays), x range
    "norm": ((), (-4.0, 4.0)),
    "t": ((np.array([0.7, 3.0, 150.0, np.inf]),), (-4.0, 4.0)),
    "chi2": ((np.array([0.7, 3.0, 20.0, 300.0]),), (-1.0, 30.0)),
    "beta": ((np.array([0.5, 1.0, 2.5, 8.0]), np.array([3.0, 1.0, 0.6, 9.0])), (-0.2, 1.2)),
    "gamma": ((np.array([0.5, 1.0, 4.0, 300.0]),), (-1.0, 20.0)),
    "expon": ((), (-1.0, 8.0)),
    "laplace": ((), (-6.0, 6.0)),
    "logistic": ((), (-6.0, 6.0)),
    "cauchy": ((), (-8.0, 8.0)),
    "uniform": ((), (-0.5, 1.5)),
    "lognorm": ((np.array([0.3, 1.0, 2.0, 5.0]),), (-1.0, 6.0)),
}
DISCRETE = {
    "poisson": (np.array([0.0, 0.5, 3.0, 20.0]),),
    "binom": (np.array([5.0, 1.0, 12.0, 30.0]), np.array([0.3, 0.0, 1.0, 0.6])),
    "bernoulli": (np.array([0.3, 0.0, 1.0, 0.6]),),
}
CONT_METHODS = ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
DISC_METHODS = ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf")


def assert_same(actual, expected):
    """Equal to SciPy: shape, type of a scalar, the same nan and inf, 1e-12 relative elsewhere."""
    assert np.shape(actual) == np.shape(expected)
    assert isinstance(actual, np.ndarray) == isinstance(expected, np.ndarray)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _grid(lo, hi):
    x = np.linspace(lo, hi, 13)[:, None]
    return np.concatenate([x, [[0.0], [1.0], [np.nan], [np.inf], [-np.inf]]])


@pytest.mark.parametrize("method", CONT_METHODS)
@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous_values_equal_scipy(name, method):
    shapes, (lo, hi) = CONTINUOUS[name]
    ours, theirs = getattr(getattr(stats, name), method), getattr(getattr(st, name), method)
    x = _grid(lo, hi)
    loc, scale = np.array([0.0, 0.3, -0.2, 0.1]), np.array([1.0, 2.0, 0.5, 1.3])
    assert_same(ours(x, *shapes), theirs(x, *shapes))
    assert_same(ours(x, *shapes, loc, scale), theirs(x, *shapes, loc, scale))
    assert_same(ours(x, *shapes, loc=loc, scale=scale), theirs(x, *shapes, loc=loc, scale=scale))
    # invalid parameters: scale <= 0 and shape parameters <= 0 give nan
    bad = [np.where(np.arange(4) == 1, -1.0, s) for s in shapes]
    assert_same(ours(x, *bad, loc, -scale), theirs(x, *bad, loc, -scale))
    assert_same(ours(x, *bad, loc, scale), theirs(x, *bad, loc, scale))
    first = [s[0] for s in shapes]
    assert_same(ours(0.7, *first), theirs(0.7, *first))  # a NumPy scalar, as SciPy's
    assert_same(ours(np.zeros(0), *first), theirs(np.zeros(0), *first))
    assert_same(ours(np.arange(3), *first), theirs(np.arange(3), *first))  # integers
    assert_same(ours(np.float32(0.5), *first), theirs(np.float32(0.5), *first))


@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous_entropy_equals_scipy(name):
    shapes, _ = CONTINUOUS[name]
    ours, theirs = getattr(stats, name).entropy, getattr(st, name).entropy
    scale = np.array([[1.0], [2.5], [-1.0]])
    assert_same(ours(*shapes), theirs(*shapes))
    assert_same(ours(*shapes, scale=scale), theirs(*shapes, scale=scale))
    assert_same(ours(*shapes, loc=np.nan), theirs(*shapes, loc=np.nan))
    assert_same(ours(*[s[0] for s in shapes]), theirs(*[s[0] for s in shapes]))


@pytest.mark.parametrize("method", (*DISC_METHODS, "entropy"))
@pytest.mark.parametrize("name", DISCRETE)
def test_discrete_values_equal_scipy(name, method):
    shapes = DISCRETE[name]
    ours, theirs = getattr(getattr(stats, name), method), getattr(getattr(st, name), method)
    if method == "entropy":
        assert_same(ours(*shapes), theirs(*shapes))
        assert_same(ours(*[s[2] for s in shapes]), theirs(*[s[2] for s in shapes]))
        return
    k = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 5.0, 12.0, 40.0, np.nan, np.inf, -np.inf])[:, None]
    assert_same(ours(k, *shapes), theirs(k, *shapes))
    assert_same(ours(k, *shapes, loc=1), theirs(k, *shapes, loc=1))
    assert_same(ours(k, *shapes, 2), theirs(k, *shapes, 2))
    bad = [np.where(np.arange(4) == 0, -0.5, s) for s in shapes]
    assert_same(ours(k, *bad), theirs(k, *bad))
    assert_same(ours(3, *[s[2] for s in shapes]), theirs(3, *[s[2] for s in shapes]))
    assert_same(
        ours(np.zeros(0), *[s[2] for s in shapes]), theirs(np.zeros(0), *[s[2] for s in shapes])
    )


def test_multivariate_values_equal_scipy():
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]])
    mean = np.array([0.1, -0.2, 0.3])
    x = rng.normal(size=(4, 5, 3))
    mvn, smvn = stats.multivariate_normal, st.multivariate_normal
    for method in ("pdf", "logpdf"):
        for xx in (x, x[0], x[0, 0]):
            assert_same(getattr(mvn, method)(xx, mean, cov), getattr(smvn, method)(xx, mean, cov))
        assert_same(getattr(mvn, method)(x[0], mean, 2.0), getattr(smvn, method)(x[0], mean, 2.0))
        diag = np.array([1.0, 2.0, 0.5])
        assert_same(getattr(mvn, method)(x[0], mean, diag), getattr(smvn, method)(x[0], mean, diag))
        assert_same(getattr(mvn, method)(x[:, 0, 0]), getattr(smvn, method)(x[:, 0, 0]))
    assert_same(mvn.entropy(mean, cov), smvn.entropy(mean, cov))
    assert_same(mvn(mean, cov).logpdf(x), smvn(mean, cov).logpdf(x))
    assert_same(mvn(mean, cov).entropy(), smvn(mean, cov).entropy())
    assert_same(stats.dirichlet(alpha := np.array([0.5, 2.0, 3.0])).entropy(),
                st.dirichlet(alpha).entropy())  # fmt: skip
    with pytest.raises(np.linalg.LinAlgError):
        mvn.logpdf(x, mean, np.ones((3, 3)))  # singular, as SciPy
    singular = np.diag([1.0, 0.0, 2.0])
    assert_same(
        mvn.logpdf(x[0], mean, singular, allow_singular=True),
        smvn.logpdf(x[0], mean, singular, allow_singular=True),
    )

    alpha = np.array([0.5, 2.0, 3.0])
    xd = rng.dirichlet(alpha, size=4).T
    for method in ("pdf", "logpdf"):
        ours, theirs = getattr(stats.dirichlet, method), getattr(st.dirichlet, method)
        for xx in (xd, xd[:, 0], xd[:2], xd[:2, 0]):
            assert_same(ours(xx, alpha), theirs(xx, alpha))
    assert_same(stats.dirichlet.entropy(alpha), st.dirichlet.entropy(alpha))
    with pytest.raises(ValueError, match="simplex"):
        stats.dirichlet.logpdf(xd * 0.9, alpha)


def _traced_cases():
    """(label, f of its parameters, parameters, SciPy's value) for value and ownership checks."""
    x = np.linspace(0.05, 3.0, 7)
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    xm = np.array([[0.3, -0.2], [1.0, 0.5]])
    return [
        ("norm", lambda m, s: stats.norm.logpdf(x, m, s), (0.3, 1.7), st.norm.logpdf(x, 0.3, 1.7)),
        ("t", lambda d, s: stats.t.pdf(x, d, 0.1, s), (3.5, 1.2), st.t.pdf(x, 3.5, 0.1, 1.2)),
        ("gamma", lambda a, s: stats.gamma.logpdf(x, a, 0.0, s), (2.5, 0.8),
         st.gamma.logpdf(x, 2.5, 0.0, 0.8)),
        ("beta", lambda a, b: stats.beta.logpdf(x / 4, a, b), (2.0, 3.0),
         st.beta.logpdf(x / 4, 2.0, 3.0)),
        ("beta.logcdf", lambda m, s: stats.beta.logcdf(x / 4, 2.0, 3.0, m, s), (0.01, 1.1),
         st.beta.logcdf(x / 4, 2.0, 3.0, 0.01, 1.1)),
        ("lognorm", lambda s, sc: stats.lognorm.logsf(x, s, 0.0, sc), (0.8, 1.3),
         st.lognorm.logsf(x, 0.8, 0.0, 1.3)),
        ("binom", lambda p: stats.binom.logpmf(np.arange(6), 5, p), (0.3,),
         st.binom.logpmf(np.arange(6), 5, 0.3)),
        ("poisson", lambda m: stats.poisson.cdf(np.arange(6), m), (2.3,),
         st.poisson.cdf(np.arange(6), 2.3)),
        ("mvn", lambda m, c: stats.multivariate_normal.logpdf(xm, m, c), (np.zeros(2), cov),
         st.multivariate_normal.logpdf(xm, np.zeros(2), cov)),
        ("dirichlet", lambda a: stats.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), a),
         (np.array([1.5, 2.0, 0.7]),), st.dirichlet.logpdf([0.2, 0.3, 0.5], [1.5, 2.0, 0.7])),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _traced_cases(), ids=lambda c: c[0])
def test_traced_values_equal_scipy_and_results_are_owned(case):
    _, f, params, expected = case
    params = tuple(np.array(p) for p in params)
    unchanged = Unchanged(*params)
    argnums = tuple(range(len(params)))
    value, grads = dd.value_and_grad(lambda *a: np.sum(f(*a)), argnums=argnums)(*params)
    np.testing.assert_allclose(value, np.sum(expected), rtol=RTOL)
    out, tangent = dd.jvp(f, params, tuple(np.ones_like(p) for p in params))
    np.testing.assert_allclose(out, expected, rtol=RTOL)
    unchanged.check()
    assert_owned([grads, out, tangent], list(params))


# -- derivatives: closed forms and special points -------------------------------------------------
def test_norm_closed_forms():
    x = np.array([0.5, 1.5, -2.0])
    g_mu, g_s = dd.grad(lambda m, s: np.sum(stats.norm.logpdf(x, m, s)), argnums=(0, 1))(0.3, 1.7)
    np.testing.assert_allclose(g_mu, np.sum((x - 0.3) / 1.7**2), rtol=1e-14)
    np.testing.assert_allclose(g_s, np.sum(-1 / 1.7 + (x - 0.3) ** 2 / 1.7**3), rtol=1e-14)
    np.testing.assert_allclose(dd.grad(stats.norm.cdf)(0.4), st.norm.pdf(0.4), rtol=1e-14)
    # d/dx logcdf = pdf / cdf, far in the tail where both underflow
    np.testing.assert_allclose(dd.grad(stats.norm.logcdf)(-40.0), 40.0, rtol=1e-3)


@pytest.mark.parametrize(
    "dist, shapes",
    [("t", (3.0,)), ("chi2", (3.0,)), ("gamma", (2.5,)), ("beta", (2.0, 3.0)),
     ("lognorm", (0.7,)), ("laplace", ()), ("cauchy", ()), ("expon", ()), ("uniform", ())],
)  # fmt: skip
def test_cdf_derivative_is_pdf(dist, shapes):
    x = np.array([0.2, 0.45, 0.8])
    d = getattr(stats, dist)
    for mode in (dd.jacfwd, dd.jacrev):
        np.testing.assert_allclose(
            np.diag(mode(lambda x: d.cdf(x, *shapes))(x)), d.pdf(x, *shapes), rtol=1e-12
        )
        np.testing.assert_allclose(
            np.diag(mode(lambda x: d.sf(x, *shapes))(x)), -d.pdf(x, *shapes), rtol=1e-12
        )


def test_support_edges_and_outside():
    # expon at its lower edge: the one-sided derivative of -x - log(scale)
    for mode in ("fwd", "rev"):
        grad = dd.grad if mode == "rev" else dd.jacfwd
        assert grad(lambda x: stats.expon.logpdf(x))(0.0) == -1.0
        # outside the support the value is constant: derivative 0, never nan
        g = grad(lambda x: np.sum(stats.gamma.logpdf(x, 2.0)))(np.array([-1.0, 0.5, 2.0]))
        np.testing.assert_allclose(g, [0.0, 1 / 0.5 - 1, 1 / 2.0 - 1], rtol=1e-14)
        g = grad(lambda x: np.sum(stats.beta.cdf(x, 2.0, 3.0)))(np.array([-0.5, 0.5, 1.5]))
        np.testing.assert_allclose(g, [0.0, st.beta.pdf(0.5, 2.0, 3.0), 0.0], rtol=1e-14)
        g = grad(lambda s: np.sum(stats.uniform.pdf(np.array([0.0, 0.5, 3.0]), 0.0, s)))(2.0)
        np.testing.assert_allclose(g, -2 / 4.0, rtol=1e-14)  # two points inside [0, 2]
    # a density or mass at the end of its support where the xlogy term vanishes identically
    edges = [
        (lambda x: stats.gamma.logpdf(x, 1.0), 0.0, -1.0, 0.0),  # -x
        (lambda x: stats.chi2.logpdf(x, 2.0), 0.0, -0.5, 0.0),  # -x / 2 - log 2
        (lambda x: stats.beta.logpdf(x, 1.0, 2.0), 0.0, -1.0, -1.0),  # log 2 + log(1 - x)
        (lambda x: stats.beta.logpdf(x, 2.0, 1.0), 1.0, 1.0, -1.0),  # log 2 + log x
        (lambda p: stats.bernoulli.logpmf(0, p), 0.0, -1.0, -1.0),  # log(1 - p)
        (lambda p: stats.binom.logpmf(3, 3, p), 1.0, 3.0, -3.0),  # 3 log p
        (lambda m: stats.poisson.logpmf(0, m), 0.0, -1.0, 0.0),  # -mu
    ]
    for f, at, first, second in edges:
        assert dd.grad(f)(at) == first and dd.jacfwd(f)(at) == first
        assert dd.hessian(f)(at) == second
    # invalid scale: nan value, zero derivative
    value, g = dd.value_and_grad(lambda s: stats.norm.logpdf(1.0, 0.0, s))(-1.0)
    assert np.isnan(value) and g == 0.0


def _fwd_grad(f):
    return lambda x: dd.jvp(f, (x,), (np.ones_like(np.asarray(x, float)),))[1]


def test_size_zero():
    x = np.zeros(0)
    g = dd.grad(lambda m: np.sum(stats.norm.logpdf(x, m)))(0.5)
    assert g == 0.0
    out, t = dd.jvp(lambda x: stats.gamma.logcdf(x, 2.0), (x,), (x,))
    assert out.shape == t.shape == (0,)


def test_binomial_derivative_at_p_ends():
    k = np.arange(6.0)
    for p in (0.0, 1.0):
        # d/dp C(n, k) p^k (1-p)^(n-k), from the polynomial's coefficients
        expected = [np.polyval(np.polyder(_binom_poly(5, kk)), p) for kk in k]
        np.testing.assert_allclose(dd.jacfwd(lambda p: stats.binom.pmf(k, 5, p))(p), expected)
        np.testing.assert_allclose(dd.jacrev(lambda p: stats.binom.pmf(k, 5, p))(p), expected)
    np.testing.assert_allclose(dd.grad(lambda p: stats.bernoulli.pmf(1, p))(1.0), 1.0)


def _binom_poly(n, k):
    from math import comb

    poly = np.poly1d([1.0])
    for _ in range(int(k)):
        poly = poly * np.poly1d([1.0, 0.0])
    for _ in range(n - int(k)):
        poly = poly * np.poly1d([-1.0, 1.0])
    return (comb(n, int(k)) * poly).coeffs


# -- the large size --------------------------------------------------------------------------------
LARGE_CASES = [
    ("norm", lambda x, m, s: stats.norm.logpdf(x, m, s), (-3.0, 3.0)),
    ("t", lambda x, m, s: stats.t.logcdf(x, 4.0, m, s), (-3.0, 3.0)),
    ("gamma", lambda x, m, s: stats.gamma.logpdf(x, 2.5, m, s), (0.1, 6.0)),
    ("beta", lambda x, m, s: stats.beta.logsf(x, 2.0, 3.0, m, s), (0.1, 0.9)),
    ("laplace", lambda x, m, s: stats.laplace.logcdf(x, m, s), (-3.0, 3.0)),
    ("cauchy", lambda x, m, s: stats.cauchy.logpdf(x, m, s), (-5.0, 5.0)),
    ("lognorm", lambda x, m, s: stats.lognorm.cdf(x, 0.8, m, s), (0.1, 5.0)),
]


@pytest.mark.parametrize("case", LARGE_CASES, ids=lambda c: c[0])
def test_large_arrays(case):
    _, f, (lo, hi) = case
    rng = np.random.default_rng(3)
    x = rng.uniform(lo, hi, LARGE)
    params = (x, np.array(0.02), np.array(1.1))
    expected = getattr(st, case[0])
    loss = lambda *a: np.sum(f(*a))  # noqa: E731
    value, grads = dd.value_and_grad(loss, argnums=(0, 1, 2))(*params)
    # The value is SciPy's (same formula); the gradient matches forward mode and differences.
    assert np.isfinite(value)
    assert np.isclose(value, np.sum(f(*params)), rtol=1e-12)
    del expected
    v = tuple(rng.normal(size=np.shape(p)) for p in params)
    _, t = dd.jvp(loss, params, v)
    np.testing.assert_allclose(sum(np.sum(g * d) for g, d in zip(grads, v)), t, rtol=1e-10)
    h = 1e-6
    fd = (
        loss(*(p + h * d for p, d in zip(params, v)))
        - loss(*(p - h * d for p, d in zip(params, v)))
    ) / (2 * h)
    np.testing.assert_allclose(t, fd, rtol=1e-5)
    assert_owned([grads], [x])


def _large_other():
    rng = np.random.default_rng(4)
    k = rng.integers(0, 12, LARGE).astype(float)
    xm = rng.normal(size=(LARGE // 2, 2))
    xd = rng.dirichlet([1.5, 2.0, 3.0], size=LARGE // 3).T[:2]  # K - 1 rows
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    return [
        ("poisson", lambda m: stats.poisson.logpmf(k, m), (np.array(3.2),),
         st.poisson.logpmf(k, 3.2)),
        ("binom", lambda p: stats.binom.logcdf(k, 12, p), (np.array(0.4),),
         st.binom.logcdf(k, 12, 0.4)),
        ("mvn", lambda x, m, c: stats.multivariate_normal.logpdf(x, m, c),
         (xm, np.array([0.1, -0.2]), cov), st.multivariate_normal.logpdf(xm, [0.1, -0.2], cov)),
        ("dirichlet", lambda x, a: stats.dirichlet.logpdf(x, a), (xd, np.array([1.5, 2.0, 3.0])),
         st.dirichlet.logpdf(xd, [1.5, 2.0, 3.0])),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _large_other(), ids=lambda c: c[0])
def test_large_arrays_discrete_and_multivariate(case):
    _, f, params, expected = case
    rng = np.random.default_rng(5)
    loss = lambda *a: np.sum(f(*a))  # noqa: E731
    argnums = tuple(range(len(params)))
    value, grads = dd.value_and_grad(loss, argnums=argnums)(*params)
    np.testing.assert_allclose(value, np.sum(expected), rtol=1e-12)
    v = tuple(1e-3 * rng.normal(size=np.shape(p)) for p in params)
    out, t = dd.jvp(f, params, v)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(sum(np.sum(g * d) for g, d in zip(grads, v)), np.sum(t), rtol=1e-9)
    h = 1e-3
    fd = (
        loss(*(p + h * d for p, d in zip(params, v)))
        - loss(*(p - h * d for p, d in zip(params, v)))
    ) / (2 * h)
    np.testing.assert_allclose(np.sum(t), fd, rtol=1e-5)
    assert_owned([grads, out, t], list(params))


# -- what raises -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "f",
    [
        lambda d: stats.t.cdf(0.5, d),
        lambda d: stats.t.logsf(0.5, d),
        lambda d: stats.chi2.sf(0.5, d),
        lambda a: stats.gamma.cdf(0.5, a),
        lambda a: stats.gamma.logcdf(0.5, a),
        lambda a: stats.beta.cdf(0.5, a, 2.0),
        lambda b: stats.beta.sf(0.5, 2.0, b),
        lambda n: stats.binom.pmf(2, n, 0.3),
        lambda k: stats.poisson.logpmf(k, 2.0),
        lambda loc: stats.poisson.cdf(3, 2.0, loc),
        lambda m: stats.poisson.entropy(m),
    ],
    ids=["t.cdf-df", "t.logsf-df", "chi2.sf-df", "gamma.cdf-a", "gamma.logcdf-a", "beta.cdf-a",
         "beta.sf-b", "binom-n", "poisson-k", "poisson-loc", "poisson.entropy"],
)  # fmt: skip
def test_no_derivative_raises(f):
    for transform in (dd.grad, _fwd_grad):
        with pytest.raises(NotImplementedError, match="dualdiff has no derivative"):
            transform(f)(3.0)
    f(3.0)  # plain values work


def test_shape_parameter_as_constant_is_fine():
    g = dd.grad(lambda x: stats.gamma.cdf(x, 2.5))(1.2)
    np.testing.assert_allclose(g, st.gamma.pdf(1.2, 2.5), rtol=1e-14)


# -- the namespace ---------------------------------------------------------------------------------
def test_namespace_falls_back_to_scipy():
    assert stats.ttest_ind is st.ttest_ind
    assert stats.weibull_min is st.weibull_min
    assert stats.norm.ppf(0.975) == st.norm.ppf(0.975)  # methods not traced are SciPy's
    assert "norm" in dir(stats) and "ttest_ind" in dir(stats)
    with pytest.raises(AttributeError):
        stats.no_such_name  # noqa: B018
    import dualdiff.scipy.stats as module

    assert module is stats


def test_frozen_and_signatures():
    x = np.array([0.2, 1.4])
    assert_same(stats.norm(1.0, 2.0).logpdf(x), st.norm(1.0, 2.0).logpdf(x))
    assert_same(stats.gamma(2.0, scale=3.0).cdf(x), st.gamma(2.0, scale=3.0).cdf(x))
    assert_same(stats.t(df=3.0).logsf(x), st.t(df=3.0).logsf(x))
    assert_same(stats.binom(5, 0.3).pmf([0, 2]), st.binom(5, 0.3).pmf([0, 2]))
    assert_same(stats.gamma(2.0).entropy(), st.gamma(2.0).entropy())
    assert stats.norm(1.0, 2.0).mean() == 1.0
    with pytest.raises(NotImplementedError, match="SciPy's own method"):
        dd.grad(lambda s: stats.norm(0.0, s).ppf(0.3))(1.5)  # not a silently dropped derivative
    with pytest.raises(TypeError, match="traced array"):
        dd.grad(lambda s: stats.norm.ppf(0.3, 0.0, s))(1.5)  # SciPy's np.asarray refuses it
    g = dd.grad(lambda s: np.sum(stats.norm(0.0, s).logpdf(x)))(1.5)
    np.testing.assert_allclose(g, np.sum(-1 / 1.5 + x**2 / 1.5**3), rtol=1e-14)
    assert_same(stats.gamma.logpdf(x, a=2.0, scale=3.0), st.gamma.logpdf(x, a=2.0, scale=3.0))
    with pytest.raises(TypeError):
        stats.gamma.logpdf(x)  # the shape parameter is required
    with pytest.raises(TypeError):
        stats.norm.logpdf(x, 0.0, 1.0, loc=2.0)


# -- JAX as an outside oracle ----------------------------------------------------------------------
def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jst = pytest.importorskip("jax.scipy.stats")
    x = np.linspace(0.1, 2.5, 5)
    pairs = [
        (lambda m, s: stats.norm.logpdf(x, m, s), lambda m, s: jst.norm.logpdf(x, m, s)),
        (lambda m, s: stats.norm.logcdf(x, m, s), lambda m, s: jst.norm.logcdf(x, m, s)),
        (lambda d, s: stats.t.logpdf(x, d, 0.0, s), lambda d, s: jst.t.logpdf(x, d, 0.0, s)),
        (lambda a, s: stats.gamma.logpdf(x, a, 0.0, s), lambda a, s: jst.gamma.logpdf(x, a, 0, s)),
        (lambda a, b: stats.beta.logpdf(x / 3, a, b), lambda a, b: jst.beta.logpdf(x / 3, a, b)),
        (lambda m, s: stats.laplace.logpdf(x, m, s), lambda m, s: jst.laplace.logpdf(x, m, s)),
        (lambda m, s: stats.logistic.cdf(x, m, s), lambda m, s: jst.logistic.cdf(x, m, s)),
        (lambda m, s: stats.cauchy.logpdf(x, m, s), lambda m, s: jst.cauchy.logpdf(x, m, s)),
        (lambda d, s: stats.chi2.logpdf(x, d, 0.0, s), lambda d, s: jst.chi2.logpdf(x, d, 0, s)),
        (lambda m, s: stats.poisson.logpmf(np.arange(5), m + s),
         lambda m, s: jst.poisson.logpmf(np.arange(5), m + s)),
    ]  # fmt: skip

    # One function of all the parameters, so that JAX compiles once.
    def total(fns, p):
        return sum(np.sum(f(p[2 * i], p[2 * i + 1])) for i, f in enumerate(fns))

    p = np.tile([1.25, 0.9], len(pairs))  # loc 1.25 is not a point of x: the kink of laplace
    g = dd.grad(lambda p: total([a for a, _ in pairs], p))(p)
    gj = jax.jit(jax.grad(lambda p: total([b for _, b in pairs], p)))(p)
    np.testing.assert_allclose(g, np.array(gj), rtol=1e-10)
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    xm = np.array([[0.3, -0.2], [1.0, 0.5]])
    g = dd.grad(lambda c: np.sum(stats.multivariate_normal.logpdf(xm, np.zeros(2), c)))(cov)
    gj = jax.jit(jax.grad(lambda c: jst.multivariate_normal.logpdf(xm, np.zeros(2), c).sum()))(cov)
    sym = np.array([[0.7, -0.4], [-0.4, 1.2]])  # a symmetric direction: both read it the same
    np.testing.assert_allclose(np.sum(g * sym), np.sum(np.array(gj) * sym), rtol=1e-10)
