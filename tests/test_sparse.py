"""Sparse Jacobians and Hessians: detected patterns, colorings, and values against dense ones."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import least_squares

import dualdiff as dd
from dualdiff import _coloring
from dualdiff._pattern import HANDLERS
from dualdiff._registry import UFUNC_PARTIALS, registered_ops
from dualdiff.sparse import (
    SparseHessian,
    SparseJacobian,
    color_columns,
    color_rows,
    hessian_sparsity,
    jacobian_sparsity,
    star_coloring,
)

RNG = np.random.default_rng(20240611)
N = 12
X = np.linspace(0.3, 1.4, N)
A_SPARSE = RNG.standard_normal((N, N)) * (RNG.random((N, N)) < 0.25)
A_DENSE = RNG.standard_normal((N, N))


def dense_jacobian(f, x, *rest, argnums=0):
    args = (x, *rest) if argnums == 0 else (*rest[:argnums], x, *rest[argnums:])
    J = dd.jacobian(f, argnums=argnums, mode="forward")(*args)
    return np.reshape(J, (-1, np.size(x)))


def band(x):
    return x[:-2] - 2.0 * x[1:-1] + x[2:] + np.exp(x[1:-1]) * x[2:]


def block_diagonal(x):
    blocks = x.reshape(4, 3)
    return (np.tanh(blocks) @ A_DENSE[:3, :3] * np.sum(blocks**2, axis=1, keepdims=True)).ravel()


def arrow_head(x):  # a dense last row and column over a diagonal
    body = np.sin(x[:-1]) * x[-1]
    return np.append(body, np.sum(x**2))


def random_sparse(x):
    return A_SPARSE @ np.sin(x) + np.cos(x)


def mixed(x):  # a dense block (a sum feeding three rows) beside a sparse stencil
    dense = x[:3] * np.sum(np.exp(x[6:]))
    return np.concatenate([dense, np.diff(x[3:], 2) ** 2, np.sqrt(x[6:])])


# Expected patterns of the examples, written out by hand.
def _band_pattern():
    p = np.zeros((N - 2, N), dtype=bool)
    for i in range(N - 2):
        p[i, i : i + 3] = True
    return p


def _arrow_pattern():
    p = np.eye(N, dtype=bool)
    p[:, -1] = True
    p[-1, :] = True
    return p


def _block_pattern():
    return np.kron(np.eye(4), np.ones((3, 3))).astype(bool)


EXPECTED = {
    band: _band_pattern(),
    block_diagonal: _block_pattern(),
    arrow_head: _arrow_pattern(),
    random_sparse: (A_SPARSE != 0) | np.eye(N, dtype=bool),
}
FUNCTIONS = [band, block_diagonal, arrow_head, random_sparse, mixed]


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_pattern_covers_every_nonzero_of_the_dense_jacobian(f):
    pattern = jacobian_sparsity(f, X).toarray()
    for x in (X, RNG.standard_normal(N) + 2.0):
        J = dense_jacobian(f, x)
        assert J.shape == pattern.shape
        assert not np.any((J != 0) & ~pattern)


@pytest.mark.parametrize("f", list(EXPECTED), ids=lambda f: f.__name__)
def test_pattern_is_exact_on_structured_functions(f):
    np.testing.assert_array_equal(jacobian_sparsity(f, X).toarray(), EXPECTED[f])


def test_mixed_pattern_is_dense_in_the_dense_block_only():
    p = jacobian_sparsity(mixed, X).toarray()
    assert p[:3, 6:].all() and p[:3, 3:6].sum() == 0
    np.testing.assert_array_equal(p[:3, :3], np.eye(3, dtype=bool))
    assert p.sum() == 3 * 7 + 7 * 3 + 6  # dense block, second differences, sqrt


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_sparse_values_match_dense_jacobian_at_new_points(f, mode):
    jac = SparseJacobian(f, X, mode=mode)
    for seed in range(3):  # the pattern found at X is reused elsewhere
        x = np.random.default_rng(seed).uniform(0.2, 2.0, N)
        J = jac(x)
        assert isinstance(J, sp.csr_array) and J.shape == (np.size(f(x)), N)
        np.testing.assert_allclose(J.toarray(), dense_jacobian(f, x), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 25), st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_random_gathers_give_exact_patterns(m, n, seed):
    rng = np.random.default_rng(seed)
    i, j, k = rng.integers(0, n, (3, m))
    f = lambda x: x[i] * x[j] + np.sin(x[k])
    x = rng.uniform(0.5, 1.5, n)
    expected = np.zeros((m, n), dtype=bool)
    expected[np.arange(m), i] = expected[np.arange(m), j] = expected[np.arange(m), k] = True
    np.testing.assert_array_equal(jacobian_sparsity(f, x).toarray(), expected)
    np.testing.assert_allclose(SparseJacobian(f, x)(x).toarray(), dense_jacobian(f, x), rtol=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 25), st.integers(1, 25), st.floats(0.0, 0.6), st.integers(0, 2**32 - 1))
def test_random_sparse_matrices_give_their_own_pattern(m, n, density, seed):
    rng = np.random.default_rng(seed)
    a = sp.random_array((m, n), density=density, rng=rng).toarray()
    f = lambda x: a @ x**2
    x = rng.uniform(0.5, 1.5, n)
    np.testing.assert_array_equal(jacobian_sparsity(f, x).toarray(), a != 0)
    J = SparseJacobian(f, x)(x).toarray()
    np.testing.assert_allclose(J, a * 2 * x, rtol=1e-12)


def test_arrays_of_any_shape_are_flattened_in_c_order():
    f = lambda x: np.sum(x**2, axis=1)[:, None] * x[:, ::-1]
    x = X.reshape(3, 4)
    J = dd.jacobian(f)(x).reshape(12, 12)
    np.testing.assert_array_equal(jacobian_sparsity(f, x).toarray(), J != 0)
    np.testing.assert_allclose(SparseJacobian(f, x)(x).toarray(), J, rtol=1e-12)


@pytest.mark.parametrize("cache", [True, False])
def test_chunked_passes_give_the_same_values(cache):
    # seeds are kept between calls within an eighth of max_memory, else rebuilt at every call
    budget = {} if cache else {"max_memory": 64}
    for mode in ("forward", "reverse"):
        jac = SparseJacobian(random_sparse, X, mode=mode, chunk_size=1, **budget)
        for _ in range(2):  # built, then kept or rebuilt
            np.testing.assert_allclose(
                jac(X).toarray(), dense_jacobian(random_sparse, X), rtol=1e-12
            )
    hess = SparseHessian(rosenbrock, X, chunk_size=2, **budget)
    for _ in range(2):
        np.testing.assert_allclose(hess(X).toarray(), dd.hessian(rosenbrock)(X), rtol=1e-12)


def test_pattern_holds_where_the_branch_changes():
    f = lambda x: np.where(x > 1.0, x**2, np.roll(x, 1))  # union of both branches
    jac = SparseJacobian(f, np.zeros(N))  # every element takes the roll branch here
    x = np.linspace(0.5, 1.5, N)  # and both branches here
    np.testing.assert_allclose(jac(x).toarray(), dense_jacobian(f, x), rtol=1e-12)


def test_tridiagonal_needs_three_colors():
    n = 50
    jac = SparseJacobian(lambda x: np.diff(np.pad(x, 1), 2) + x**3, np.zeros(n))
    assert jac.pattern.nnz == 3 * n - 2
    assert jac.n_colors == 3 and jac.mode == "forward"
    np.testing.assert_array_equal(color_columns(jac.pattern), np.arange(n) % 3)


def test_mode_follows_the_smaller_coloring():
    dense_row = lambda x: np.append(np.sin(x), np.sum(x))  # n column colors, 2 row colors
    jac = SparseJacobian(dense_row, X)
    assert jac.mode == "reverse" and jac.n_colors == 2
    assert color_columns(jac.pattern).max() + 1 == N
    np.testing.assert_allclose(jac(X).toarray(), dense_jacobian(dense_row, X), rtol=1e-12)


def test_a_dense_constraint_row_is_handled_by_row_colors():
    f = lambda x: np.append(np.diff(np.pad(x, 1), 2) + x**3, np.sum(x))
    x = np.linspace(0.0, 1.0, 300)
    jac = SparseJacobian(f, x)
    assert jac.mode == "reverse" and jac.n_colors == 4
    np.testing.assert_allclose(jac(x).toarray(), dense_jacobian(f, x), rtol=1e-12, atol=1e-12)


def _assert_column_coloring(pattern, colors):
    p = pattern.toarray()
    for c in np.unique(colors):
        assert p[:, colors == c].sum(axis=1).max(initial=0) <= 1


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.0, 0.5), st.integers(0, 2**32 - 1))
def test_colorings_separate_columns_and_rows_that_meet(m, n, density, seed):
    pattern = sp.random_array((m, n), density=density, rng=np.random.default_rng(seed)) != 0
    _assert_column_coloring(pattern, color_columns(pattern))
    _assert_column_coloring(pattern.T, color_rows(pattern))


def _two_colored_path(graph, colors):
    """Is there a path a-b-c-d colored x, y, x, y? (brute force)"""
    g = graph.toarray()
    np.fill_diagonal(g, False)
    for a in range(len(g)):
        for b in np.flatnonzero(g[a]):
            for c in np.flatnonzero(g[b]):
                for d in np.flatnonzero(g[c]) if c != a else ():
                    if d not in (a, b) and colors[a] == colors[c] and colors[b] == colors[d]:
                        return True
    return False


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 24), st.floats(0.0, 0.4), st.integers(0, 2**32 - 1))
def test_star_coloring_is_a_star_coloring_and_recovers_symmetric_matrices(n, density, seed):
    rng = np.random.default_rng(seed)
    upper = sp.random_array((n, n), density=density, rng=rng).toarray()
    H = upper + upper.T + np.diag(rng.standard_normal(n))
    pattern = sp.csr_array(H != 0)
    colors = star_coloring(pattern)
    g = pattern.toarray()
    assert not np.any(g & (colors[:, None] == colors[None, :]) & ~np.eye(n, dtype=bool))
    assert not _two_colored_path(pattern, colors)
    seeds = np.stack([(colors == c).astype(float) for c in range(colors.max() + 1)])
    compressed = (H @ seeds.T).T
    where = _coloring.symmetric_recovery(pattern, colors)
    recovered = sp.csr_array((compressed.ravel()[where], pattern.indices, pattern.indptr))
    np.testing.assert_allclose(recovered.toarray(), H, rtol=1e-14, atol=1e-14)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


HESSIAN_FUNCTIONS = [
    rosenbrock,
    lambda x: x @ A_SPARSE @ x + np.sum(np.exp(x[::3])),
    lambda x: np.sum(np.prod(x.reshape(4, 3), axis=1)) + np.sum(x[:-1] / x[1:]),
    lambda x: np.sum(np.tanh(np.diff(x)) ** 2) + dd.scipy.special.logsumexp(x[:4]),
    lambda x: np.sum(x[:6].reshape(2, 3) @ x[6:].reshape(3, 2)) + np.linalg.norm(x[::2]),
    lambda x: np.einsum("i,ij,j->", x, A_SPARSE, x) + np.sum(np.abs(x) * x[::-1]),
    lambda x: np.sum(np.cumprod(x[:5])) + np.sum(np.sin(A_SPARSE @ x)),
]


@pytest.mark.parametrize("k", range(len(HESSIAN_FUNCTIONS)))
def test_sparse_hessian_matches_dense_hessian(k):
    f = HESSIAN_FUNCTIONS[k]
    pattern = hessian_sparsity(f, X).toarray()
    hess = SparseHessian(f, X)
    for seed in range(2):
        x = np.random.default_rng(seed).uniform(0.5, 1.5, N)
        H = dd.hessian(f)(x)
        assert not np.any((H != 0) & ~pattern)
        np.testing.assert_allclose(hess(x).toarray(), H, rtol=1e-10, atol=1e-10)


def test_hessian_pattern_of_chained_rosenbrock_is_tridiagonal():
    pattern = hessian_sparsity(rosenbrock, X).toarray()
    expected = np.abs(np.subtract.outer(np.arange(N), np.arange(N))) <= 1
    np.testing.assert_array_equal(pattern, expected)
    assert SparseHessian(rosenbrock, X).n_colors == 3


def test_hessian_pattern_agrees_with_the_pattern_of_the_gradient():
    # An independent route: trace grad(f) itself (the tape runs on pattern values). Products
    # (function 2) differ: the direct pattern keeps their zero second-derivative diagonal.
    for k in (0, 1, 3, 5):
        f = HESSIAN_FUNCTIONS[k]
        by_grad = jacobian_sparsity(dd.grad(f), X).toarray()
        np.testing.assert_array_equal(hessian_sparsity(f, X).toarray(), by_grad)


def test_linear_function_has_an_empty_hessian_pattern():
    f = lambda x: np.sum(A_SPARSE @ x) + np.max(x) + np.sum(np.abs(np.diff(x)))
    assert hessian_sparsity(f, X).nnz == 0
    np.testing.assert_array_equal(SparseHessian(f, X)(X).toarray(), dd.hessian(f)(X))


def test_other_argument_and_cached_callables():
    f = lambda a, x: a * np.diff(x) ** 2
    jac = dd.sparse_jacobian(f, argnums=1)
    hess = dd.sparse_hessian(lambda a, x: np.sum(f(a, x)), argnums=1)
    for x in (X, X[::-1]):
        np.testing.assert_allclose(
            jac(2.0, x).toarray(), dense_jacobian(f, x, 2.0, argnums=1), rtol=1e-12
        )
        dense_h = dd.hessian(lambda a, x: np.sum(f(a, x)), argnums=1)(2.0, x)
        np.testing.assert_allclose(hess(2.0, x).toarray(), dense_h, rtol=1e-12)
    ja, jx = dd.sparse_jacobian(f, argnums=(0, 1))(2.0, X)
    np.testing.assert_allclose(ja.toarray().ravel(), np.diff(X) ** 2, rtol=1e-12)
    np.testing.assert_allclose(jx.toarray(), dense_jacobian(f, X, 2.0, argnums=1), rtol=1e-12)


# Ops one by one: the pattern covers the dense Jacobian, and equals it where the op is
# structural and the values are generic.
M = X[:6].reshape(2, 3)
OPS = {
    "getitem": (lambda x: x[[0, 3, 3, -1]] * x[1:5], True),
    "setitem": (lambda x: _set(x), True),
    "reshape_T": (lambda x: np.transpose(x.reshape(3, 4)).ravel() * x, True),
    "stack_split": (
        lambda x: np.concatenate(np.split(np.stack([x, x**2]), 2, axis=1), 1).ravel(),
        True,
    ),
    "pad_reflect": (lambda x: np.pad(x, 2, mode="reflect") ** 2, True),
    "pad_constant": (lambda x: np.pad(x, (1, 2), constant_values=5.0) * 2.0, True),
    "flip_roll": (lambda x: np.flip(x) * np.roll(x, 3), True),
    "take_repeat": (lambda x: np.take(np.repeat(x, 2), [0, 5, 7]) + np.tile(x[:2], 2)[1:], True),
    "diag_triu": (
        lambda x: np.triu(np.outer(x[:4], x[4:8])).ravel() + np.diag(x[:3]).ravel()[:8].sum(),
        True,
    ),
    "where_clip": (lambda x: np.where(x > 1.0, x, -x) + np.clip(x, 0.5, 1.0), False),
    "sum_mean_axis": (lambda x: np.sum(x.reshape(3, 4) ** 2, axis=0) * np.mean(x[:4]), True),
    "var_prod": (
        lambda x: np.var(x.reshape(4, 3), axis=1) + np.prod(x.reshape(4, 3), axis=1),
        True,
    ),
    "max_median": (
        lambda x: np.max(x.reshape(4, 3), axis=1) + np.median(x.reshape(4, 3), axis=1),
        False,
    ),
    "sort_softmax": (
        lambda x: np.sort(x.reshape(3, 4), axis=0).ravel() + dd.scipy.special.softmax(x),
        False,
    ),
    "cumsum_cumprod": (lambda x: np.cumsum(x.reshape(3, 4), axis=1).ravel() * np.cumprod(x), True),
    "diff_ediff1d": (
        lambda x: np.append(
            np.diff(x.reshape(3, 4), n=2, axis=0),
            np.ediff1d(x[:5], to_end=[1.0], to_begin=[2.0, 3.0]),
        ),
        True,
    ),
    "trace": (lambda x: np.trace(x[:9].reshape(3, 3)) * x, True),
    "matmul_const": (
        lambda x: A_SPARSE @ x + x @ A_SPARSE + (x.reshape(3, 4) @ A_SPARSE[:4, :5]).ravel()[:N],
        True,
    ),
    "matmul_traced": (lambda x: (x[:6].reshape(2, 3) @ x[6:].reshape(3, 2)).ravel(), True),
    "batched_matmul": (lambda x: (x.reshape(2, 2, 3) @ A_SPARSE[:3, :2]).ravel(), True),
    "dot_inner_vdot": (
        lambda x: np.dot(M, x[6:9]) + np.inner(M, x[9:]) + np.vdot(x[:3], x[3:6]),
        True,
    ),
    "tensordot": (
        lambda x: np.tensordot(x.reshape(2, 2, 3), A_DENSE[:3, :2], axes=([2], [0])).ravel(),
        True,
    ),
    "einsum": (lambda x: np.einsum("ij,jk->ik", x.reshape(3, 4), A_SPARSE[:4, :3]).ravel(), True),
    "kron_outer": (lambda x: np.kron(x[:2], x[2:4]) + np.outer(x[4:6], x[6:8]).ravel(), True),
    "linalg": (
        lambda x: (
            np.linalg.det(x[:8].reshape(2, 2, 2)).sum() + np.linalg.inv(x[8:].reshape(2, 2)).ravel()
        ),
        True,
    ),
    "solve_fallback": (lambda x: np.linalg.solve(A_DENSE[:4, :4] + 4 * np.eye(4), x[:4]), True),
    "nn_linear": (lambda x: dd.nn.linear(x.reshape(4, 3), A_SPARSE[:5, :3], x[:5]).ravel(), True),
}


def _set(x):
    y = x.copy()
    y[2:5] = x[:3] ** 2
    y[0] = 1.0
    return y


@pytest.mark.parametrize("name", list(OPS))
def test_op_patterns(name):
    f, exact = OPS[name]
    pattern = jacobian_sparsity(f, X).toarray()
    J = dense_jacobian(f, X)
    assert pattern.shape == J.shape
    assert not np.any((J != 0) & ~pattern)
    if exact:
        np.testing.assert_array_equal(pattern, J != 0)
    np.testing.assert_allclose(SparseJacobian(f, X)(X).toarray(), J, rtol=1e-12, atol=1e-13)


def test_every_built_in_op_has_a_pattern_rule():
    built_in = {
        op
        for op in registered_ops() - set(UFUNC_PARTIALS)
        if (getattr(op, "__module__", None) or "numpy").split(".")[0] in ("numpy", "dualdiff")
    }
    missing = sorted(getattr(op, "__name__", repr(op)) for op in built_in - set(HANDLERS))
    assert not missing, (
        f"ops without a sparsity rule (add them to dualdiff._pattern_ops): {missing}"
    )


def test_banded_detection_at_large_n():
    n = 100_000
    pattern = jacobian_sparsity(lambda x: np.diff(np.pad(x, 1), 2) + np.sin(x), np.zeros(n))
    assert pattern.nnz == 3 * n - 2
    rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
    assert np.abs(pattern.indices - rows).max() == 1


def test_least_squares_with_the_sparse_jacobian():
    n = 60
    t = np.arange(1, n + 1) / (n + 1)
    target = np.sin(np.pi * t)

    def residual(u):  # u'' = u**3 - source, discretised; the exact discrete solution is target
        padded = np.pad(u, 1)
        return (padded[:-2] - 2 * padded[1:-1] + padded[2:]) * (n + 1) ** 2 - u**3 + source

    padded = np.pad(target, 1)
    source = target**3 - (padded[:-2] - 2 * padded[1:-1] + padded[2:]) * (n + 1) ** 2
    sol = least_squares(residual, np.zeros(n), jac=SparseJacobian(residual, np.zeros(n)),
                        tr_solver="lsmr", xtol=1e-14, ftol=1e-14, gtol=1e-14)  # fmt: skip
    np.testing.assert_allclose(sol.x, target, atol=1e-9)


def test_errors():
    with pytest.raises(ValueError, match="scalar"):
        hessian_sparsity(np.sin, X)
    with pytest.raises(ValueError, match="mode"):
        SparseJacobian(np.sin, X, mode="sideways")
    with pytest.raises(TypeError, match="one array output"):
        jacobian_sparsity(lambda x: (x, x), X)
