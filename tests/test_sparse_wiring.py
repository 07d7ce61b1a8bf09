"""sparse=True through the public entry points: jacobian, hessian, and the SciPy plug-in."""

import numpy as np
import pytest
import scipy.sparse as sp

import dualdiff as dd
from dualdiff import optimize


def banded(x):
    return x[1:] * x[:-1] + np.sin(x[1:]) - np.concatenate([x[2:], np.zeros(1)]) ** 2


def chained(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


X = np.linspace(-0.5, 0.8, 9)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_sparse_is_csr_and_exact(mode):
    J = dd.jacobian(banded, mode=mode, sparse=True)(X)
    assert isinstance(J, sp.csr_array) and J.nnz < J.shape[0] * J.shape[1]
    np.testing.assert_allclose(J.toarray(), dd.jacobian(banded)(X), rtol=1e-12)
    J2 = dd.jacobian(banded, mode=mode, sparse=True)(X + 0.3)  # pattern reused at a new x
    np.testing.assert_allclose(J2.toarray(), dd.jacobian(banded)(X + 0.3), rtol=1e-12)


def test_jacobian_sparse_refuses_an_executor():
    with pytest.raises(ValueError, match="executor"):
        dd.jacobian(banded, sparse=True, executor=object())


def test_hessian_sparse_matches_dense():
    H = dd.hessian(chained, sparse=True)(X)
    assert isinstance(H, sp.csr_array) and H.nnz == 3 * X.size - 2
    np.testing.assert_allclose(H.toarray(), dd.hessian(chained)(X), rtol=1e-12)


def residuals(x):
    return np.concatenate([x[1:] - np.sin(x[:-1]) - 0.5, x[:1] - 0.3])


def exact_solution(n):
    x = np.empty(n)
    x[0] = 0.3
    for i in range(1, n):
        x[i] = np.sin(x[i - 1]) + 0.5
    return x


@pytest.mark.parametrize("sparse", [True, False])
def test_least_squares_with_and_without_a_sparse_jacobian(sparse):
    res = optimize.least_squares(residuals, np.zeros(40), sparse=sparse)
    assert sp.issparse(res.jac) == sparse
    np.testing.assert_allclose(res.x, exact_solution(40), atol=1e-8)


def test_least_squares_auto_goes_sparse_for_large_sparse_problems(monkeypatch):
    monkeypatch.setattr(optimize, "SPARSE_MIN_SIZE", 30)
    res = optimize.least_squares(residuals, np.zeros(40))
    assert sp.issparse(res.jac)
    np.testing.assert_allclose(res.x, exact_solution(40), atol=1e-8)
    dense = optimize.least_squares(lambda x: np.sin(x) * np.sum(x) - 1.0, np.full(40, 0.1))
    assert not sp.issparse(dense.jac)  # a dense pattern stays dense


def test_least_squares_lm_refuses_sparse():
    with pytest.raises(ValueError, match="dense"):
        optimize.least_squares(residuals, np.zeros(5), method="lm", sparse=True)


@pytest.mark.parametrize("method", ["trust-constr", "newton-cg"])
def test_minimize_with_a_sparse_hessian(method):
    res = optimize.minimize(chained, np.zeros(30), method=method, sparse=True)
    dense = optimize.minimize(chained, np.zeros(30), method=method)
    np.testing.assert_allclose(res.x, dense.x, atol=1e-3)
    np.testing.assert_allclose(res.fun, 0.0, atol=1e-4)


def test_minimize_sparse_names_the_methods_that_accept_it():
    with pytest.raises(ValueError, match="trust-constr"):
        optimize.minimize(chained, np.zeros(5), method="trust-ncg", sparse=True)
