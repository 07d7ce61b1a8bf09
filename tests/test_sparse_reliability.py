"""Sparse Jacobians and Hessians at points other than the one the pattern was traced at.

Indices, masks and branches computed from the traced values change with the point; the sparse
result must equal the dense one at every point, including ties and zeros. Also: size-0 inputs
and outputs, and the errors the sparse entry points raise on bad input.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import dualdiff as dd
from dualdiff.sparse import SparseHessian, SparseJacobian, hessian_sparsity, jacobian_sparsity
from tests._fd import jacobian as fd_jacobian

N = 8
RNG = np.random.default_rng(1207)
# Tie, zero and generic points: the pattern is traced at the first one, checked at the others.
POINTS = [
    np.array([0.0, 1.0, -1.0, 1.0, 0.0, 2.0, 2.0, -3.0]),  # zeros, a tied maximum
    np.array([3.0, -1.0, 0.5, 0.5, 2.0, -2.0, 1.5, -0.5]),
    np.array([-1.0, -2.0, -0.5, -3.0, -1.5, -2.5, -0.25, -4.0]),  # all negative
    np.full(N, 0.7),  # all tied
    RNG.standard_normal(N),
    RNG.standard_normal(N) * 3,
]


def _set_at_argmax(x):
    y = x.copy()
    y[np.argmax(x)] = 0.0
    return y * x


def _set_negatives(x):
    y = x.copy()
    y[x < 0] = 2.0
    return y**2


def _in_place(x):
    y = x.copy()
    y -= y.mean()
    y[np.argmax(x)] *= 3.0
    y /= 2.0
    return y * x


def _branch(x):
    return np.roll(x, 1) * x if x[0] > 0 else x[::-1] * x


def _prefix(x):
    k = int(np.argmax(x)) + 1
    return x * np.sum(x[:k] ** 2)


def _python_loop(x):
    total = 0.0
    for i in np.argsort(x)[:3]:
        total = total + x[i] ** 2
    return x * total


# f(x) -> array of fixed shape; each reads values of x to pick, mask or branch.
IDIOMS = {
    "argmax": lambda x: x * x[np.argmax(x)],
    "argmax_method": lambda x: x**2 * x[x.argmax()],
    "derived_methods": lambda x: x * x[(x > 0).argmax()] + x[(x > 0.5).nonzero()[0][:1]].sum(),
    "unravel": lambda x: x * x.reshape(2, 4)[np.unravel_index(np.argmin(x), (2, 4))],
    "argmin_rows": lambda x: (
        np.take_along_axis(x.reshape(4, 2), np.argmin(x.reshape(4, 2), axis=1)[:, None], 1)
        * x.reshape(4, 2)
    ).ravel(),
    "argsort": lambda x: x[np.argsort(x)] * np.arange(1.0, N + 1),
    "argsort_rows": lambda x: (
        np.take_along_axis(x.reshape(2, 4), np.argsort(x.reshape(2, 4), axis=1), 1) ** 2
    ).ravel(),
    "take_argmax": lambda x: np.take(x, np.argmax(x)) * np.sin(x),
    "nonzero": lambda x: np.sum(x[np.nonzero(x > 0)] ** 2) + x,
    "where_one_arg": lambda x: np.sum(np.exp(x[np.where(x < 0.5)])) * x,
    "flatnonzero": lambda x: np.sum(x[np.flatnonzero(x > 0.6)] ** 3) * x,
    "mask": lambda x: np.sum(x[x > 0] ** 2) * x,
    "compress": lambda x: np.sum(np.compress(x > 0, x) ** 2) * x[::-1],
    "mask_rows": lambda x: np.sum(x.reshape(4, 2)[x[::2] > 0], axis=0) * x.reshape(4, 2),
    "mask_traced_comparison": lambda x: x * np.sum(x[x >= np.max(x)]),
    "where": lambda x: np.where(x > 0, x**2, np.roll(x, 1)),
    "relu_multiply": lambda x: x * (x > 0) + x**2 * (x < 0.5),
    "sign": lambda x: x * np.sign(x) * x[::-1],
    "heaviside": lambda x: x**3 * np.heaviside(x, 0.5),
    "floor_index": lambda x: x[np.floor(np.abs(x) * 2).astype(int) % N] * x,
    "searchsorted": lambda x: x[np.searchsorted(np.sort(x.value), 0.0) % N] * x,
    "value_read": lambda x: x * x[np.argmax(x.value)],
    "masked_matrix": lambda x: np.diag((x > 0) * 1.0) @ x**2,
    "setitem_argmax": _set_at_argmax,
    "setitem_mask": _set_negatives,
    "in_place_at_argmax": _in_place,
    "roll_by_argmax": lambda x: np.roll(x, np.argmax(x)) * x,
    "sort": lambda x: np.sort(x) ** 2,
    "max_min_ties": lambda x: np.max(x) * np.min(x) * x,
    "maximum": lambda x: np.maximum(x, x[::-1]) ** 2,
    "abs": lambda x: np.abs(x) ** 3,
    "clip": lambda x: np.clip(x, -0.5, 0.5) * x,
    "median": lambda x: np.median(x) * x,
    "branch": _branch,
    "prefix": _prefix,
    "python_loop": _python_loop,
}


def _dense(f, x):
    return np.reshape(dd.jacfwd(f)(x), (-1, x.size))


def _scalar(f):
    return lambda x: np.sum(f(x) ** 2)


@pytest.mark.parametrize("name", list(IDIOMS))
def test_sparse_jacobian_holds_at_other_points(name):
    f = IDIOMS[name]
    built = SparseJacobian(f, POINTS[0])
    cached = dd.jacobian(f, sparse=True)
    reverse = SparseJacobian(f, POINTS[0], mode="reverse")
    for x in POINTS:
        expected = _dense(f, x)
        for jac in (built, cached, reverse):
            J = jac(x)
            assert J.shape == expected.shape
            np.testing.assert_allclose(J.toarray(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(IDIOMS))
def test_sparse_hessian_holds_at_other_points(name):
    g = _scalar(IDIOMS[name])
    built = SparseHessian(g, POINTS[0])
    cached = dd.hessian(g, sparse=True)
    for x in POINTS:
        expected = dd.hessian(g)(x)
        for hess in (built, cached):
            np.testing.assert_allclose(hess(x).toarray(), expected, rtol=1e-12, atol=1e-10)


def _set_picked(a, b):
    y = a.copy()
    y[np.argmin(b)] = b[np.argmax(a)] ** 2
    return y


# Steps of random programs: each combines two earlier values and reads values of them.
STEPS = [
    lambda a, b: a * b,
    lambda a, b: a + np.roll(b, 1),
    lambda a, b: a * b[np.argmax(b)],
    lambda a, b: a[np.argsort(b)],
    lambda a, b: np.where(a > b, a**2, b),
    lambda a, b: a * (b > 0),
    lambda a, b: np.maximum(a, b) * a,
    lambda a, b: np.sort(a) * b,
    lambda a, b: a * np.sum(b[b > 0.2]),
    lambda a, b: np.clip(a, -0.3, 0.4) * b,
    lambda a, b: a * np.sign(b),
    lambda a, b: np.cumsum(a)[np.floor(np.abs(b) * 3).astype(int) % N],
    _set_picked,
    lambda a, b: a * np.max(b.reshape(2, 4), axis=1).repeat(4),
]


def _program(seed):
    rng = np.random.default_rng(seed)
    steps = [(rng.integers(len(STEPS)), rng.integers(10), rng.integers(10)) for _ in range(4)]

    def f(x):
        vals = [x, x**2 - 0.5]
        for k, i, j in steps:
            vals.append(STEPS[k](vals[i % len(vals)], vals[j % len(vals)]))
        return vals[-1]

    return f


@pytest.mark.parametrize("seed", range(24))
def test_random_programs_with_value_reads(seed):
    f = _program(seed)
    g = _scalar(f)
    rng = np.random.default_rng(seed)
    points = [np.round(rng.standard_normal(N), 1) for _ in range(4)]  # rounding makes ties
    jac, hess = SparseJacobian(f, points[0]), SparseHessian(g, points[0])
    for x in points:
        J, H = _dense(f, x), dd.hessian(g)(x)
        np.testing.assert_allclose(jac(x).toarray(), J, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(hess(x).toarray(), H, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("name", ["argmax", "argsort", "floor_index", "mask", "masked_matrix"])
def test_patterns_of_value_indices_cover_every_point(name):
    f = IDIOMS[name]
    pattern = jacobian_sparsity(f, POINTS[0]).toarray()
    hpattern = hessian_sparsity(_scalar(f), POINTS[0]).toarray()
    for x in POINTS:
        assert not np.any((_dense(f, x) != 0) & ~pattern)
        assert not np.any((dd.hessian(_scalar(f))(x) != 0) & ~hpattern)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x[(np.abs(x) * 2).astype(int) % N] * x,
        lambda x: np.sum(x[np.abs(x).astype(bool)] ** 2) * x,
    ],
)
def test_integer_casts_of_traced_values_are_value_indices(f):
    jac = SparseJacobian(f, POINTS[0], mode="forward")  # reverse mode refuses a traced index
    for x in POINTS:
        np.testing.assert_allclose(jac(x).toarray(), _dense(f, x), rtol=1e-12, atol=1e-12)


def test_value_indices_depend_on_the_indexed_axis_only():
    x = POINTS[1].reshape(4, 2)
    f = lambda x: np.take_along_axis(x, np.argmax(x, axis=1)[:, None], 1).ravel()
    expected = np.kron(np.eye(4, dtype=bool), np.ones((1, 2), dtype=bool))  # each row's pair
    np.testing.assert_array_equal(jacobian_sparsity(f, x).toarray(), expected)
    g = lambda x: x[np.argmax(x[:, 0]), :]  # a row picked by values: that column of every row
    np.testing.assert_array_equal(
        jacobian_sparsity(g, x).toarray(), np.tile(np.eye(2, dtype=bool), (1, 4))
    )


def test_structural_patterns_are_not_detected_again():
    jac = SparseJacobian(IDIOMS["argmax"], POINTS[0])
    assert jac.reason is None
    colors = jac.colors
    jac(POINTS[1])
    assert jac.colors is colors  # the kept coloring, not one made again


def test_pointwise_patterns_say_why_and_keep_their_coloring_while_the_pattern_holds():
    jac = SparseJacobian(_branch, POINTS[1])  # x[0] > 0
    assert "control flow" in jac.reason
    colors = jac.colors
    y = POINTS[1] + 1.0  # the same branch: the same pattern, the same coloring
    np.testing.assert_allclose(jac(y).toarray(), _dense(_branch, y), rtol=1e-12)
    assert jac.colors is colors
    y = POINTS[2]  # the other branch
    np.testing.assert_allclose(jac(y).toarray(), _dense(_branch, y), rtol=1e-12)
    assert jac.colors is not colors


def test_value_dependent_output_shape():
    f = lambda x: np.cumsum(x[x > 0])  # as many outputs as positive elements
    jac = SparseJacobian(f, POINTS[0])
    cached = dd.jacobian(f, sparse=True)
    for x in POINTS:
        expected = _dense(f, x)
        for j in (jac, cached):
            J = j(x)
            assert J.shape == expected.shape == (int(np.sum(x > 0)), N)
            np.testing.assert_allclose(J.toarray(), expected, rtol=1e-12)


def test_a_hidden_change_of_output_shape_is_an_error():
    state = {"k": 1}

    def f(x):
        return x[: state["k"]] * 2.0  # a length the tracer cannot see

    for mode in ("forward", "reverse"):
        state["k"] = 1
        jac = SparseJacobian(f, POINTS[1], mode=mode)
        state["k"] = 6
        with pytest.raises(ValueError, match="output has 6 element"):
            jac(POINTS[0])


def test_lengths_read_from_values_are_followed():
    f = lambda x: x[: int(np.argmax(x.value)) + 1] * 2.0
    jac = SparseJacobian(f, POINTS[1])
    assert jac.reason is not None
    for x in POINTS:
        np.testing.assert_allclose(jac(x).toarray(), _dense(f, x), rtol=1e-12)


@pytest.mark.parametrize("n", [N, 2**14])
def test_sparse_results_own_their_memory_and_leave_inputs_alone(n):
    x = np.random.default_rng(n).standard_normal(n)
    before = x.copy()
    jac = SparseJacobian(windowed, x)
    J1, J2 = jac(x), jac(x)
    hess = SparseHessian(lambda x: np.sum(windowed(x) ** 2), x)
    H1, H2 = hess(x), hess(x)
    np.testing.assert_array_equal(x, before)
    v = np.random.default_rng(1).standard_normal(n)
    np.testing.assert_allclose(J1 @ v, dd.jvp(windowed, (x,), (v,))[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(J2.data, J1.data)
    np.testing.assert_array_equal(H2.data, H1.data)
    arrays = [m.data for m in (J1, J2, H1, H2)] + [m.indices for m in (J1, J2, H1, H2)]
    held = [x, jac.pattern.indices, jac.pattern.indptr, hess.pattern.indices]
    for i, a in enumerate(arrays):
        assert not any(np.shares_memory(a, b) for b in arrays[i + 1 :] + held)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_complex_intermediates_and_a_complex_output(mode):
    # complex intermediates to a real output: the pattern and the compressed passes hold
    f = lambda x: np.real(np.roll(x, 1) * (1.0 + 2.0j) * x) + np.abs(x * 1j + 1)  # noqa: E731
    x = POINTS[1]
    J = dd.jacobian(f, sparse=True, mode=mode)(x).toarray()
    np.testing.assert_allclose(J, fd_jacobian(f, x), rtol=1e-6, atol=1e-8)
    # a complex output needs two passes: refused by name (tests/test_complex.py)
    with pytest.raises(TypeError, match="f returned a complex value"):
        dd.jacobian(lambda x: np.roll(x, 1) * (1.0 + 2.0j) * x, sparse=True, mode=mode)(x)


# -- large: a banded function with value-dependent picks, n >= 16384 -----------------------------
def windowed(x):
    w = x.reshape(-1, 4)
    top = np.take_along_axis(w, np.argmax(w, axis=1)[:, None], 1)  # each window's maximum
    local = np.where(w > 0, w**2, 0.5 * w) * top
    return local.ravel() + np.diff(x, append=0.0) * np.maximum(x, 0.0) + x * (x > 0.3)


def test_large_banded_with_value_indices():
    n = 2**14
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal(n)
    jac = dd.jacobian(windowed, sparse=True)
    hess = dd.hessian(lambda x: np.sum(windowed(x) ** 2), sparse=True)
    J0 = jac(x0)
    assert 4 * n <= J0.nnz <= 6 * n  # the window and the neighbour: local, not dense
    assert SparseJacobian(windowed, x0).reason is None  # structural: detected once
    for x in (x0, rng.standard_normal(n), np.round(rng.standard_normal(n), 1)):  # ties
        J, H = jac(x), hess(x)
        for _ in range(2):
            v = rng.standard_normal(n)
            _, jv = dd.jvp(windowed, (x,), (v,))
            np.testing.assert_allclose(J @ v, jv, rtol=1e-10, atol=1e-10)
            hv = dd.hvp(lambda x: np.sum(windowed(x) ** 2), x, v)
            np.testing.assert_allclose(H @ v, hv, rtol=1e-10, atol=1e-9)
        v = np.zeros(n)
        v[[7, n // 2, n - 1]] = 1e-6  # finite differences along three coordinates
        fd = (windowed(x + v) - windowed(x - v)) / 2e-6
        np.testing.assert_allclose(J @ (v / 1e-6), fd, rtol=1e-5, atol=1e-5)


# -- size 0 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize(
    ("f", "x", "shape"),
    [
        (np.sin, np.zeros(0), (0, 0)),
        (lambda x: x * 2.0, np.zeros((3, 0)), (0, 0)),
        (lambda x: x[:0] ** 2, np.ones(3), (0, 3)),
        (lambda x: np.sum(x) + 1.0, np.zeros(0), (1, 0)),
        (lambda x: np.prod(x, axis=0), np.zeros((2, 0)), (0, 0)),
        (lambda x: np.prod(x, axis=1), np.zeros((2, 0)), (2, 0)),
        (np.cumprod, np.zeros(0), (0, 0)),
        (lambda x: np.cumsum(x, axis=1), np.zeros((2, 0)), (0, 0)),
        (lambda x: np.einsum("ij->i", x), np.zeros((2, 0)), (2, 0)),
        (lambda x: x @ np.ones((0, 3)), np.zeros((2, 0)), (6, 0)),
        (lambda x: np.linalg.det(x), np.zeros((0, 2, 2)), (0, 0)),
        (lambda x: np.median(x, axis=0), np.zeros((0, 3)), (3, 0)),
        (lambda x: x[np.argsort(x)] * x[x > 0].sum(), np.zeros(0), (0, 0)),
    ],
)
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_size_zero_jacobians(f, x, shape, mode):
    J = dd.jacobian(f, sparse=True, mode=mode)(x)
    assert isinstance(J, sp.csr_array) and J.shape == shape and J.nnz == 0
    assert SparseJacobian(f, x, mode=mode)(x).shape == shape
    assert jacobian_sparsity(f, x).shape == shape


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_size_zero_hessians():
    for f in (lambda x: np.sum(x**2), lambda x: np.mean(x**2), lambda x: np.sum(np.prod(x, 1))):
        x = np.zeros((2, 0))
        H = dd.hessian(f, sparse=True)(x)
        assert isinstance(H, sp.csr_array) and H.shape == (0, 0) and H.nnz == 0
        assert SparseHessian(f, x)(x).shape == (0, 0)
        assert hessian_sparsity(f, x).shape == (0, 0)


# -- errors --------------------------------------------------------------------------------------
X = np.linspace(0.5, 1.0, 3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: dd.jacobian(lambda x: None, sparse=True)(X), TypeError, "returned None"),
        (lambda: dd.jacobian(lambda x: "a", sparse=True)(X), TypeError, "returned a str"),
        (lambda: dd.jacobian(lambda x: {"a": "b"}, sparse=True)(X), TypeError, "containing a str"),
        (lambda: dd.jacobian(lambda x: [x, 1j], sparse=True)(X), TypeError, "containing a complex"),
        (lambda: dd.hessian(lambda x: None, sparse=True)(X), TypeError, "returned None"),
        (lambda: dd.hessian(np.sin, sparse=True)(X), ValueError, "scalar function"),
        (lambda: jacobian_sparsity(lambda x: None, X), TypeError, "returned None"),
        (lambda: hessian_sparsity(lambda x: (x, x), X), TypeError, "returned a tuple"),
        (lambda: SparseJacobian(np.sin, X)(np.ones(4)), ValueError, r"shape \(3,\); got"),
        (lambda: SparseHessian(np.sum, X)(np.ones((3, 1))), ValueError, r"shape \(3,\); got"),
        (lambda: SparseJacobian(np.sin, X)(), ValueError, "no such argument"),
        (lambda: SparseJacobian(np.sin, X, argnums=2), ValueError, "argnums=2"),
        (lambda: SparseJacobian(np.sin, X, argnums=1.5), TypeError, "argnums must be an int"),
        (lambda: SparseJacobian(np.sin), ValueError, "0 argument"),
        (lambda: SparseJacobian(np.sin, "abc"), TypeError, "array of numbers"),
        (lambda: jacobian_sparsity(np.sin, X, argnums=3), ValueError, "argnums=3"),
        (lambda: SparseJacobian(np.sin, X, pattern=np.eye(4)), ValueError, "one column per"),
        (lambda: SparseJacobian(np.sin, X, pattern="dense"), TypeError, "2-D sparse"),
        (lambda: SparseHessian(np.sum, X, pattern=np.ones((2, 3))), ValueError, r"needs \(3, 3\)"),
        (lambda: SparseJacobian(np.sin, X, chunk_size=0), ValueError, "chunk_size"),
        (lambda: SparseJacobian(np.sin, X, chunk_size=-2), ValueError, "chunk_size"),
        (lambda: SparseHessian(np.sum, X, max_memory=0), ValueError, "max_memory"),
    ],
)
def test_bad_input_gets_a_named_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
