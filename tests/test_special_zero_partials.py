"""xlogy(0, y) and xlog1py(0, y) are 0 for every y: their derivative in y is 0 there, also at
y = 0 (and y = -1), where x / y would be NaN. Oracle: finite differences away from the zeros."""

import numpy as np
import pytest
import scipy.special as sc

import dualdiff as dd

SIZES = {"small": 4, "large": 16384}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fn, edge", [(sc.xlogy, 0.0), (sc.xlog1py, -1.0)])
def test_the_derivative_in_y_where_x_is_zero_is_zero(fn, edge, size):
    n = SIZES[size]
    x = np.where(np.arange(n) % 2 == 0, 0.0, 1.5)
    y = np.where(np.arange(n) % 2 == 0, edge, edge + 2.0)
    f = lambda y: np.sum(fn(x, y))  # noqa: E731
    expected = np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y - edge))
    for g in (dd.grad(f)(y), dd.jvp(f, (y,), (np.ones(n),))[1]):
        assert np.all(np.isfinite(g))
    np.testing.assert_allclose(dd.grad(f)(y), expected, rtol=1e-14)
    np.testing.assert_allclose(dd.jvp(f, (y,), (np.ones(n),))[1], expected.sum(), rtol=1e-12)
    h = 1e-6
    away = y + 0.5
    fd = (fn(x, away + h) - fn(x, away - h)) / (2 * h)
    np.testing.assert_allclose(dd.grad(f)(away), fd, rtol=1e-6, atol=1e-9)
    second = np.where(x == 0, 0.0, -x / np.where(x == 0, 1.0, y - edge) ** 2)
    g4 = lambda y: np.sum(fn(x[:4], y))  # noqa: E731
    np.testing.assert_allclose(np.diag(dd.hessian(g4)(y[:4])), second[:4], rtol=1e-14)


@pytest.mark.parametrize("size", SIZES)
def test_gammasgn_is_piecewise_constant(size):
    x = np.linspace(-3.7, 3.3, SIZES[size])  # no pole hit
    f = lambda x: np.sum(sc.gammasgn(x) * x)  # noqa: E731
    np.testing.assert_array_equal(dd.grad(f)(x), sc.gammasgn(x))
    np.testing.assert_array_equal(dd.jvp(f, (x,), (np.ones_like(x),))[1], np.sum(sc.gammasgn(x)))
