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
def test_an_int_argument_that_sets_the_output_shape_gets_its_own_plan(mode):
    f = lambda x, n: np.sin(x[:n])  # noqa: E731
    x = np.linspace(0.1, 1.0, 5)
    jac = dd.jacobian(f, mode=mode)
    for n in (2, 5, 3, 2):
        J = jac(x, n)
        np.testing.assert_allclose(J, fd_jacobian(lambda y, n=n: f(y, n), x), atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_a_float_argument_that_changes_the_output_shape_rebuilds_the_plan(mode, size):
    # a large input to a few outputs: a dense Jacobian of a small size
    f = lambda x, t: x[:3] * np.sum(x) if t > 0 else x[:2] * np.sum(x**2)  # noqa: E731
    x = np.linspace(0.1, 1.0, SIZES[size])
    jac = dd.jacobian(f, mode=mode)
    for t in (1.0, -1.0, 1.0, -1.0):
        np.testing.assert_array_equal(jac(x, t), dd.jacfwd(f)(x, t))


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
        np.testing.assert_array_equal(jac(x, idx).toarray(), dd.jacfwd(f)(x, idx))
        reference = dd.jacfwd(dd.grad(g))(x, idx)
        np.testing.assert_array_equal(hess(x, idx).toarray(), reference)
        np.testing.assert_array_equal(auto_hess(x, idx), reference)


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


def test_an_empty_structure_has_an_empty_jacobian():
    assert dd.jacfwd(lambda p: 1.0)({}) == {}
    assert dd.jacrev(lambda p: 1.0)({}) == {}
