"""``dualdiff.scipy.special``: SciPy's results on plain arrays, exact derivatives on traced ones.

References are SciPy itself (plain values, softmax as the gradient of logsumexp) and analytic
derivatives.
"""

import numpy as np
import pytest
import scipy.special

import dualdiff as dd
import dualdiff.scipy.special as sp

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4))
X3 = RNG.standard_normal((2, 3, 4))
B = RNG.uniform(0.5, 2.0, (3, 4))
MASKED = np.array([[0.3, -np.inf, 1.2], [-np.inf, 0.0, -np.inf]])

LSE_CALLS = [
    ((X,), {}),
    ((X,), {"axis": 1}),
    ((X,), {"axis": -2, "keepdims": True}),
    ((X3,), {"axis": (0, 2)}),
    ((np.float64(0.7),), {}),
    ((np.float64(0.7),), {"keepdims": True}),
    ((X,), {"axis": 0, "b": B}),
    ((X,), {"b": B[0]}),
    ((X,), {"axis": 1, "b": np.array([1.0, -0.3, 0.6, -2.0]), "return_sign": True}),
    ((MASKED,), {"axis": 1}),
    ((np.full((2, 3), -np.inf),), {"axis": 1}),
]


@pytest.mark.parametrize("args, kwargs", LSE_CALLS)
def test_logsumexp_plain_matches_scipy(args, kwargs):
    ours = sp.logsumexp(*args, **kwargs)
    theirs = scipy.special.logsumexp(*args, **kwargs)
    pairs = zip(ours, theirs) if kwargs.get("return_sign") else [(ours, theirs)]
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
        assert type(a) is type(b) and np.shape(a) == np.shape(b)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("x, axis", [(X, None), (X, 0), (X3, -1), (X3, (1, 2)), (MASKED, 1)])
def test_softmax_plain_matches_scipy(fn, x, axis):
    np.testing.assert_array_equal(
        getattr(sp, fn)(x, axis=axis), getattr(scipy.special, fn)(x, axis=axis)
    )


def test_polygamma_and_spherical_jn_plain_match_scipy():
    n, x = np.array([[0], [1], [3]]), np.abs(X) + 0.1
    np.testing.assert_array_equal(sp.polygamma(n, x), scipy.special.polygamma(n, x))
    np.testing.assert_array_equal(sp.spherical_jn(n, X), scipy.special.spherical_jn(n, X))
    np.testing.assert_array_equal(
        sp.spherical_jn(2, X, True), scipy.special.spherical_jn(2, X, derivative=True)
    )


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_grad_of_logsumexp_is_softmax(axis):
    g = dd.grad(lambda x: np.sum(sp.logsumexp(x, axis=axis)))(X)
    np.testing.assert_allclose(g, scipy.special.softmax(X, axis=axis), rtol=1e-14, atol=1e-15)


def test_grad_of_logsumexp_with_weights():
    ga, gb = dd.grad(lambda a, b: sp.logsumexp(a, b=b), argnums=(0, 1))(X, B)
    w = B * np.exp(X) / np.sum(B * np.exp(X))
    np.testing.assert_allclose(ga, w, rtol=1e-13)
    np.testing.assert_allclose(gb, w / B, rtol=1e-13)


def test_logsumexp_return_sign_is_traced_through_the_magnitude():
    b, t = np.array([1.0, -3.0, 0.5, 0.2]), RNG.standard_normal(4)
    (out, sgn), (t_out, t_sgn) = dd.jvp(
        lambda a: sp.logsumexp(a, b=b, return_sign=True), (X[0],), (t,)
    )
    s = np.sum(b * np.exp(X[0]))
    assert sgn == np.sign(s) == -1.0 and t_sgn == 0.0
    np.testing.assert_allclose(out, np.log(abs(s)), rtol=1e-14)
    np.testing.assert_allclose(t_out, np.sum(b * np.exp(X[0]) * t) / s, rtol=1e-13)


def test_neg_inf_entries_give_zero_derivatives_not_nan():
    g = dd.grad(lambda x: np.sum(sp.logsumexp(x, axis=1)))(MASKED)
    np.testing.assert_allclose(g, scipy.special.softmax(MASKED, axis=1), rtol=1e-14)
    j = dd.jacrev(lambda x: sp.log_softmax(x, axis=1))(MASKED)
    assert not np.isnan(j).any()
    # A slice with no finite entry: SciPy gives -inf; its gradient is zero, not NaN.
    empty = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    g = dd.grad(lambda x: sp.logsumexp(x, axis=1)[1])(empty)
    np.testing.assert_allclose(g, [[0.0, 0.0], scipy.special.softmax([0.0, 1.0])], rtol=1e-14)


def test_hessian_of_logsumexp_is_softmax_covariance():
    x = X[0]
    p = scipy.special.softmax(x)
    np.testing.assert_allclose(dd.hessian(sp.logsumexp)(x), np.diag(p) - np.outer(p, p), atol=1e-15)


def test_softmax_jvp_tangent_sums_to_zero():
    t = RNG.standard_normal((3, 4))
    out, tangent = dd.jvp(lambda x: sp.softmax(x, axis=1), (X,), (t,))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(tangent.sum(axis=1), 0.0, atol=1e-15)
    # and it is the product with the Jacobian diag(p) - p p^T, row by row
    expected = out * (t - np.sum(out * t, axis=1, keepdims=True))
    np.testing.assert_allclose(tangent, expected, rtol=1e-14)


def test_log_softmax_is_log_of_softmax_in_derivatives():
    j1 = dd.jacfwd(lambda x: sp.log_softmax(x, axis=-1))(X[1])
    j2 = dd.jacfwd(lambda x: np.log(sp.softmax(x, axis=-1)))(X[1])
    np.testing.assert_allclose(j1, j2, rtol=1e-12, atol=1e-15)


def test_polygamma_derivatives_climb_the_order():
    x = 1.7
    assert dd.grad(lambda x: sp.polygamma(1, x))(x) == pytest.approx(
        scipy.special.polygamma(2, x), rel=1e-14
    )
    h = dd.hessian(lambda x: sp.polygamma(0, x))(x)
    assert h == pytest.approx(scipy.special.polygamma(2, x), rel=1e-13)
    # digamma's own derivative goes through the Hurwitz zeta ufunc
    h = dd.hessian(scipy.special.digamma)(x)
    assert h == pytest.approx(scipy.special.polygamma(2, x), rel=1e-13)


def test_sinc_and_bessel_derivatives_are_exact_at_zero():
    assert dd.grad(np.sinc)(0.0) == 0.0
    assert dd.hessian(np.sinc)(0.0) == pytest.approx(-(np.pi**2) / 3, rel=1e-14)
    assert dd.grad(scipy.special.j1)(0.0) == pytest.approx(0.5, rel=1e-15)
    assert dd.hessian(scipy.special.i1)(0.0) == pytest.approx(0.0, abs=1e-15)
    assert dd.grad(lambda z: sp.spherical_jn(1, z))(0.0) == pytest.approx(1 / 3, rel=1e-15)


def test_scipy_python_functions_refuse_tracers_and_name_the_way_out():
    for fn in (scipy.special.logsumexp, scipy.special.softmax, scipy.special.log_softmax):
        with pytest.raises(TypeError, match="dualdiff.scipy.special"):
            dd.grad(lambda x, fn=fn: np.sum(fn(x)))(X)


def test_constant_parameters_say_so():
    with pytest.raises(NotImplementedError, match="jv with respect to v"):
        dd.jvp(lambda v: scipy.special.jv(v, 2.0), (1.5,), (1.0,))
    with pytest.raises(NotImplementedError, match="argument 0"):
        dd.grad(lambda n: sp.polygamma(n, 2.0))(1.0)


def test_namespace_falls_back_to_scipy():
    assert sp.gammaln is scipy.special.gammaln
    assert sp.expit is scipy.special.expit
    assert sp.logsumexp is not scipy.special.logsumexp
    assert "erfcinv" in dir(sp) and "logsumexp" in dir(sp)
    with pytest.raises(AttributeError, match="no_such_function"):
        sp.no_such_function  # noqa: B018
    # softplus is np.logaddexp(0, x) in SciPy: the hooks already see it
    g = dd.grad(lambda x: np.sum(sp.softplus(x)))(X)
    np.testing.assert_allclose(g, scipy.special.expit(X), rtol=1e-14)
