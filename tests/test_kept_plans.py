"""Kept plans never serve a call they do not fit: an argument that is not differentiated may
change f's output shape (``x[:n]``) or its sparsity pattern (an index array, a Python branch
on a constant), and a structure among the arguments is described, not reshaped. Every answer is
compared with jacfwd and finite differences (NumPy only)."""

import numpy as np
import pytest
import scipy.sparse as sp

import dualdiff as dd
from dualdiff import sparse
from tests._fd import jacobian as fd_jacobian

MODES = ["auto", "forward", "reverse"]
SIZES = {"small": 6, "large": 16384}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_an_int_argument_that_sets_the_output_shape_gets_its_own_plan(mode, size):
    f = lambda x, n: np.sin(x[:n]) * np.sum(x)  # noqa: E731
    x = np.linspace(0.1, 1.0, SIZES[size])
    before = x.copy()
    jac = dd.jacobian(f, mode=mode)
    for n in (2, 5, 3, 2):
        J = jac(x, n)
        expected = np.outer(np.sin(x[:n]), np.ones(x.size))  # d/dx of sum(x), times sin
        expected[:, :n] += np.diag(np.cos(x[:n]) * np.sum(x))
        np.testing.assert_allclose(J, expected, rtol=1e-12)
        assert not np.shares_memory(J, x)
        if size == "small":
            np.testing.assert_allclose(J, fd_jacobian(lambda y, n=n: f(y, n), x), atol=1e-8)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_a_float_argument_that_changes_the_output_shape_rebuilds_the_plan(mode, size):
    # a large input to a few outputs: a dense Jacobian of a small size
    f = lambda x, t: x[:3] * np.sum(x) if t > 0 else x[:2] * np.sum(x**2)  # noqa: E731
    x = np.linspace(0.1, 1.0, SIZES[size])
    jac = dd.jacobian(f, mode=mode)
    three = np.outer(x[:3], np.ones(x.size))
    three[:, :3] += np.eye(3) * np.sum(x)
    two = np.outer(x[:2], 2 * x)
    two[:, :2] += np.eye(2) * np.sum(x**2)
    for t, expected in ((1.0, three), (-1.0, two), (1.0, three), (-1.0, two)):
        np.testing.assert_allclose(jac(x, t), expected, rtol=1e-12)  # the closed form


def test_a_structured_argument_that_is_not_differentiated_reaches_f_as_it_is():
    f = lambda x, c: np.sin(x) * np.sum(c[0]) * c[1]  # noqa: E731
    x, c = np.linspace(0.1, 1.0, 3), (np.ones(4), 2.0)
    expected = np.diag(np.cos(x)) * 8.0
    for transform in (dd.jacobian(f), dd.jacobian(f, sparse=True)):
        J = transform(x, c)
        np.testing.assert_allclose(J.toarray() if hasattr(J, "toarray") else J, expected)
    g = lambda x, c: np.sum(np.sin(x)) * np.sum(c[0]) * c[1]  # noqa: E731
    np.testing.assert_allclose(dd.hessian(g)(x, c), -np.diag(np.sin(x)) * 8.0)


@pytest.mark.parametrize("size", SIZES)
def test_an_index_argument_that_changes_the_pattern_is_detected_again(size):
    n = SIZES[size] if size == "small" else 3000
    x = np.linspace(1.0, 2.0, n)
    f = lambda x, idx: x[idx] ** 2 * x  # noqa: E731
    g = lambda x, idx: np.sum(x[idx] * x)  # noqa: E731
    forward, backward = np.arange(n), np.arange(n)[::-1].copy()
    jac, hess = dd.jacobian(f, sparse=True), dd.hessian(g, sparse=True)
    auto_hess = dd.hessian(g)
    for idx in (forward, backward, forward):
        expected = np.diag(x[idx] ** 2)  # d/dx_j of x[idx_i]^2 x_i
        expected[np.arange(n), idx] += 2 * x[idx] * x
        np.testing.assert_allclose(jac(x, idx).toarray(), expected, rtol=1e-14)
        P = np.zeros((n, n))
        P[np.arange(n), idx] = 1.0
        np.testing.assert_array_equal(hess(x, idx).toarray(), P + P.T)  # of sum(x[idx] * x)
        np.testing.assert_array_equal(auto_hess(x, idx), P + P.T)


def test_a_sparse_jacobian_whose_pattern_misses_nonzeros_raises(monkeypatch):
    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    x = np.linspace(-1.0, 1.0, 50)
    real = sparse.trace

    def diagonal_only(*args, **kwargs):
        deps, shape, tr = real(*args, **kwargs)
        return _diagonal(deps), shape, tr

    monkeypatch.setattr(sparse, "trace", diagonal_only)
    with pytest.raises(RuntimeError, match="missed nonzeros of this Jacobian"):
        dd.jacobian(f, sparse=True)(x)


def _diagonal(pattern):
    """Only the diagonal of a pattern: a pattern that misses nonzeros."""
    coo = sp.coo_array(pattern)
    keep = coo.row == coo.col
    return sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


@pytest.mark.parametrize("inner", MODES)
@pytest.mark.parametrize("outer", MODES)
def test_a_jacobian_of_a_jacobian_equals_the_hessian(inner, outer):
    f = lambda x: np.sum(np.sin(x) * x**2)  # noqa: E731
    x = np.linspace(0.1, 1.0, 5)
    H = dd.jacobian(dd.jacobian(f, mode=inner), mode=outer)(x)
    np.testing.assert_allclose(H, dd.hessian(f)(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(H, fd_jacobian(dd.grad(f), x), rtol=1e-6)


@pytest.mark.parametrize("inner", ["auto", "reverse"])  # forward: 16384 passes' worth, slow
def test_a_jacobian_of_a_jacobian_of_a_large_input(inner):
    # inner: 2 outputs of a 16384-element x; outer: in the 3 parameters c
    def f(x, c):
        return np.array([np.sum(np.sin(c[0] * x)), c[1] * np.sum(x**2) + c[2]])

    x, c = np.linspace(0.1, 1.0, 16384), np.array([0.5, 2.0, 1.0])
    before = x.copy()
    J2 = dd.jacobian(dd.jacobian(f, mode=inner), argnums=1)(x, c)
    expected = np.zeros((2, x.size, 3))  # d/dc of [c0-row: cos(c0 x), c1-row: 2 c1 x]
    expected[0, :, 0] = np.cos(c[0] * x) - c[0] * x * np.sin(c[0] * x)
    expected[1, :, 1] = 2 * x
    np.testing.assert_allclose(J2, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(J2, x)


def test_an_empty_structure_has_an_empty_jacobian():
    assert dd.jacfwd(lambda p: 1.0)({}) == {}
    assert dd.jacrev(lambda p: 1.0)({}) == {}
