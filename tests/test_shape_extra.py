"""Shape and indexing rules beyond the table: masked branches, index Jacobians, clear errors."""

import numpy as np
import pytest

import dualdiff as dd

X = np.array([-2.0, -0.5, 0.0, 0.0, 0.25, 1.0, 4.0])


def masked_sqrt(x):
    return np.where(x > 0, np.sqrt(np.where(x > 0, x, 1.0)), 0.0)


def test_masked_sqrt_gradient_has_no_nan():
    safe = np.where(X > 0, X, 1.0)
    expected = np.where(X > 0, 0.5 / np.sqrt(safe), 0.0)
    grad = dd.grad(lambda x: np.sum(masked_sqrt(x)))(X)
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    np.testing.assert_allclose(np.diag(dd.jacfwd(masked_sqrt)(X)), expected, rtol=1e-12)
    np.testing.assert_allclose(np.diag(dd.jacrev(masked_sqrt)(X)), expected, rtol=1e-12)


def test_masked_sqrt_hessian_has_no_nan():
    safe = np.where(X > 0, X, 1.0)
    expected = np.diag(np.where(X > 0, -0.25 * safe**-1.5, 0.0))
    hess = dd.hessian(lambda x: np.sum(masked_sqrt(x)))(X)
    np.testing.assert_allclose(hess, expected, rtol=1e-12)


def test_tril_of_masked_log_has_no_nan():
    a = np.array([[1.0, 0.0], [2.0, 3.0]])  # zero above the diagonal, where log is -inf
    lower = np.tril(np.ones((2, 2), dtype=bool))

    def f(m):
        return np.sum(np.tril(np.log(np.where(lower, m, 1.0))))

    expected = np.where(lower, 1.0 / np.where(lower, a, 1.0), 0.0)
    np.testing.assert_allclose(dd.grad(f)(a), expected, rtol=1e-12)


X3 = np.arange(24.0).reshape(2, 3, 4) / 7.0 - 1.0
INDICES = [
    1,
    (Ellipsis, -1),
    (slice(None, None, -1), None, slice(1, 3)),
    [1, 1, 0],
    (0, slice(None), [3, 0, 3]),
    ([1, 0], slice(None), [2, 2]),
    (X3[:, :, 0] > 0.5, [1, 1, 3]),
    ([[0], [1]], [[2, 0]], Ellipsis),
]


def _selection(shape, idx):
    """The Jacobian of ``x[idx]``: row r is the one-hot of the element that output r reads."""
    size = int(np.prod(shape))
    picked = np.arange(size).reshape(shape)[idx]
    return np.eye(size)[np.ravel(picked)].reshape(picked.shape + shape)


@pytest.mark.parametrize("idx", INDICES, ids=range(len(INDICES)))
def test_getitem_jacobian_is_the_selection(idx):
    expected = _selection(X3.shape, idx)
    np.testing.assert_array_equal(dd.jacfwd(lambda x: x[idx])(X3), expected)
    np.testing.assert_array_equal(dd.jacrev(lambda x: x[idx])(X3), expected)


@pytest.mark.parametrize("idx", INDICES, ids=range(len(INDICES)))
def test_setitem_jacobians_against_numpy(idx):
    v = np.full(X3[idx].shape, 2.0)

    size, count = X3.size, v.size

    def f(p):  # x and the value both come from one traced vector
        y = p[:size].reshape(X3.shape)
        y[idx] = p[size:].reshape(v.shape)
        return y

    # Reference: which entry of p each output place holds after numpy's own write.
    source = np.arange(size).reshape(X3.shape)
    source[idx] = size + np.arange(count).reshape(v.shape)
    expected = np.eye(size + count)[source.ravel()].reshape(X3.shape + (size + count,))
    p = np.concatenate([X3.ravel(), v.ravel()])
    np.testing.assert_array_equal(dd.jacfwd(f)(p), expected)
    np.testing.assert_array_equal(dd.jacrev(f)(p), expected)


def test_pad_mode_without_rule_says_so():
    x = np.ones((3, 3))
    with pytest.raises(NotImplementedError, match="np.pad"):
        dd.jacfwd(lambda a: np.pad(a, 1, mode="maximum"))(x)
    with pytest.raises(NotImplementedError, match="np.pad"):
        dd.grad(lambda a: np.sum(np.pad(a, 1, mode="median")))(x)


def test_sort_gradient_follows_the_permutation():
    x = np.array([3.0, -1.0, 2.0, 0.5])
    weights = np.arange(1.0, 5.0)
    grad = dd.grad(lambda a: np.sum(weights * np.sort(a)))(x)
    np.testing.assert_array_equal(grad, weights[np.argsort(np.argsort(x))])


def test_where_with_indices_only_is_constant():
    x = np.array([0.0, 2.0, -1.0])
    rows = dd.jvp(lambda a: np.where(a)[0], (x,), (np.ones(3),))[0]
    np.testing.assert_array_equal(rows, [1, 2])


def test_a_rule_for_every_position_serves_each_engine():
    # np.broadcast_arrays declares one rule for any position: the tenth argument has one in
    # forward mode, on the tape and in the tensor layer alike.
    xs = [np.array([i + 1.0]) for i in range(10)]

    def f(*arrays):
        out = np.broadcast_arrays(*arrays)
        return np.sum(out[9] * out[3])

    expected = (np.array([10.0]), np.array([4.0]))  # d/dx3 = x9, d/dx9 = x3
    for mode in ("forward", "reverse"):
        jac = dd.jacobian(f, argnums=(3, 9), mode=mode)(*xs)
        np.testing.assert_array_equal(np.concatenate(jac), np.concatenate(expected))
    tensors = [dd.tensor(x, requires_grad=True) for x in xs]
    out = np.broadcast_arrays(*tensors)
    np.sum(out[9] * out[3]).backward()
    np.testing.assert_array_equal(tensors[3].grad, expected[0])
    np.testing.assert_array_equal(tensors[9].grad, expected[1])
    assert tensors[0].grad is None


def test_linear_ops_shift_their_axis_arguments_past_the_batch_axis():
    # deflinear applies the op to a batched tangent: axes given by keyword, positionally, or
    # left at their defaults all refer to the primal's axes. The Jacobian of a linear op is
    # the op applied to the identity basis.
    a = np.arange(24.0).reshape(2, 3, 4)
    basis = np.eye(a.size).reshape((a.size,) + a.shape)
    ops = [
        lambda x: np.diagonal(x, axis2=0, axis1=-1),
        lambda x: np.trace(x, -1),
        lambda x: np.transpose(x, axes=(2, 0, 1)),
        lambda x: np.rot90(x, k=3, axes=(-1, 1)),
        lambda x: np.moveaxis(x, destination=0, source=2),
        lambda x: np.flip(x),
    ]
    for op in ops:
        expected = np.moveaxis(np.stack([op(b) for b in basis]), 0, -1).reshape(
            op(a).shape + a.shape
        )
        np.testing.assert_array_equal(dd.jacfwd(op)(a), expected)
        np.testing.assert_array_equal(dd.jacrev(op)(a), expected)
