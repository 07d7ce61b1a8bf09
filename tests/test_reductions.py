"""Reduction rules where finite differences cannot be the reference: ties, zeros, refusals."""

import numpy as np
import pytest

import dualdiff as dd

TIED = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])


@pytest.mark.parametrize("fn", [np.max, np.amax, np.nanmax])
def test_max_ties_share_the_derivative_equally(fn):
    expected = np.array([[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    f = lambda a: np.sum(fn(a, axis=1))  # noqa: E731
    np.testing.assert_allclose(dd.grad(f)(TIED), expected)
    np.testing.assert_allclose(dd.jacfwd(lambda a: fn(a, axis=1))(TIED).sum(0), expected)


@pytest.mark.parametrize("fn", [np.min, np.amin, np.nanmin])
def test_min_ties_share_the_derivative_equally(fn):
    expected = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(dd.grad(lambda a: np.sum(fn(a, axis=1)))(TIED), expected)


def test_max_and_amax_are_both_registered():
    # Distinct callables in numpy 2: a user can reach either one.
    assert np.max is not np.amax
    assert dd.grad(np.max)(np.array([1.0, 2.0]))[1] == dd.grad(np.amax)(np.array([1.0, 2.0]))[1]


def test_inf_norm_ties_keep_their_signs():
    g = dd.grad(lambda a: np.linalg.norm(a, np.inf))(np.array([-2.0, 2.0, 1.0]))
    np.testing.assert_allclose(g, [-0.5, 0.5, 0.0])


def test_prod_with_zeros_matches_the_analytic_derivatives():
    x = np.array([2.0, 0.0, 3.0])
    np.testing.assert_allclose(dd.grad(np.prod)(x), [0.0, 6.0, 0.0])
    np.testing.assert_allclose(dd.hessian(np.prod)(x), [[0, 3, 0], [3, 0, 2], [0, 2, 0]])
    two_zeros = np.array([2.0, 0.0, 3.0, 0.0])
    hess = np.zeros((4, 4))
    hess[1, 3] = hess[3, 1] = 6.0
    np.testing.assert_allclose(dd.grad(np.prod)(two_zeros), np.zeros(4))
    np.testing.assert_allclose(dd.hessian(np.prod)(two_zeros), hess)


def test_cumprod_with_a_zero_matches_the_analytic_jacobian():
    x = np.array([2.0, 0.0, 3.0])
    expected = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 6.0, 0.0]]
    np.testing.assert_allclose(dd.jacfwd(np.cumprod)(x), expected)
    np.testing.assert_allclose(dd.jacrev(np.cumprod)(x), expected)


def test_third_order_through_the_product_scan():
    x = np.array([0.5, 0.0, 1.2, -0.7, 0.3])
    dd.testing.check_grads(np.cumprod, x, order=3)
    dd.testing.check_grads(np.prod, x, order=3)


def test_median_and_quantile_weights_match_numpy_methods():
    x = np.array([0.3, -1.0, 2.0, 0.9, 1.4, -0.2])
    for method in ["linear", "lower", "higher", "nearest", "midpoint", "hazen", "weibull"]:
        g = dd.grad(lambda a: np.quantile(a, 0.37, method=method))(x)  # noqa: B023
        # The quantile is linear in the sorted sample, so <gradient, x> reproduces it.
        np.testing.assert_allclose(g @ x, np.quantile(x, 0.37, method=method), err_msg=method)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: np.var(a, where=np.array([True, False, True])),
        lambda a: np.max(a, initial=0.0, where=np.array([True, False, True])),
        lambda a: np.quantile(a, 0.5, method="inverted_cdf", weights=np.ones(3)),
    ],
)
def test_unsupported_options_raise_clearly(f):
    with pytest.raises(NotImplementedError, match="dualdiff"):
        dd.grad(f)(np.array([1.0, 2.0, 4.0]))
