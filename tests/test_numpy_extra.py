"""The NumPy functions of dualdiff/rules/numpy_extra.py against the three oracles: NumPy's
values, ownership, and finite differences with forward against reverse; at a small size and at
one where the large-array layer runs, through the tensor layer, at special points (ties, knots,
size 0), and their named errors. (The rules' own table lines: tests/cases/numpy_extra.py.)"""

import numpy as np
import pytest

import dualdiff as dd
from tests._oracles import assert_fd, check_function_of_a_vector

SMALL, LARGE = 12, 16386  # LARGE: the large-array layer engages from 16384 elements


def _point(n, seed=0):
    """Values in (-2, 2), without ties. (Where a step of the finite differences straddles a
    jump of a rounding function, the estimates at two steps disagree and assert_fd skips it.)"""
    return np.random.default_rng(seed).uniform(-2.0, 2.0, n)


# Each family is f(x) of a 1-D x of even length n, returning an array.
def constants(x):
    out = np.round(x * 3, 1) * x + np.around(x) + np.fix(x) * x + (x // 1.0) * x
    frac, whole = np.modf(x)
    q, r = divmod(x, 0.7)
    m, e = np.frexp(x)
    return out + frac * whole + q + r * x + m + np.sign(x) * np.heaviside(x, 0.5) * x


def interp(x):
    knots = np.linspace(-2.5, 2.5, 9)
    return np.interp(x, knots, np.sin(knots)) * x


def interp_fp(x):
    n = x.size
    return np.interp(np.linspace(-0.3, n + 0.3, n // 2), np.arange(n), x**2)


def polys(x):
    return np.polyval(x[:4], x) + np.polyval(np.array([0.5, -1.0, 2.0]), x) * x


def polyfit(x):
    return np.polyfit(np.linspace(0.0, 1.0, x.size), x * x, 3)


def polyfit_in_x(x):
    grid = np.linspace(0.0, 1.0, x.size)
    return np.polyfit(grid + 0.01 * x, np.cos(3.0 * grid), 3)


def grids(x):
    n = x.size
    return (
        np.linspace(x[0], x[1], n)
        + np.geomspace(1.0 + x[2] ** 2, 2.0 + x[3] ** 2, n)
        + np.logspace(x[4], x[5], n, base=2.0)
    )


def gradient(x):
    coords = np.cumsum(np.linspace(0.5, 1.5, x.size))
    return np.gradient(x, 0.3) * x + np.gradient(x**2, coords, edge_order=2)


def partition(x):
    # spread apart, so that no finite-difference step reorders two elements
    apart = x + np.random.default_rng(5).permutation(x.size) * 0.01
    return np.partition(apart, x.size // 2) * np.linspace(1.0, 2.0, x.size)


def cov(x):
    m = np.reshape(x, (2, -1))
    return np.ravel(np.cov(m)) + np.ravel(np.corrcoef(m + 0.1 * m**2))


def convolve(x):
    k = np.array([0.25, -0.5, 1.0])
    return np.convolve(x, k, "same") + np.correlate(x, np.exp(x[:5]), "same") ** 2


def insert(x):
    return np.insert(x, [1, 3], x[:2] * 2.0)[:-2] * np.delete(np.append(x, x[0]), 0)


def piecewise(x):
    return np.piecewise(x, [x < 0, x > 1], [lambda v: v**2, np.sin, lambda v: 2.0 * v])


def nan_to_num(x):
    return np.nan_to_num(np.log(x * x)) * x


def index_tricks(x):
    n = x.size
    row = np.r_[x[:2], 0:3, [7.0, 8.0], x**2, 5.0][: n + 2]
    cols = np.c_[x, x[::-1] ** 2, np.ones(n)]
    stacked = np.r_["0,2,1", x, 2.0 * x]
    return np.concatenate([row, np.ravel(cols), np.ravel(stacked)])


def filling(y):
    """SciPy's ODE idiom: a right-hand side filled element by element."""
    dy = np.zeros_like(y)
    dy[0] = -2.0 * y[0]
    dy[1:-1] = y[:-2] - 2.0 * y[1:-1] + y[2:] * y[0]
    dy[-1] = y[-1] * y[-2]
    half = dy[: y.size // 2]  # a view of the filled array: writes through it reach dy
    half[1] += y[3] ** 2
    ones = np.ones_like(y)
    ones[::2] = np.sin(y[::2])
    full = np.full_like(y, 0.5)
    full[1::2] += y[1::2]  # (a *= would read values the write changes: PyTorch refuses it)
    empty = np.empty_like(y)
    empty[...] = y**3
    copy = np.copy(y)
    copy[0] = 1.0
    return dy + ones * full + empty - copy


FAMILIES = [constants, interp, interp_fp, polys, polyfit, polyfit_in_x, grids, gradient,
            partition, cov, convolve, insert, piecewise, nan_to_num, index_tricks,
            filling]  # fmt: skip


def _direction(x, seed=1):
    return np.random.default_rng(seed).standard_normal(x.shape)


@pytest.mark.parametrize("n", [SMALL, LARGE])
@pytest.mark.parametrize("f", FAMILIES, ids=lambda f: f.__name__)
def test_values_ownership_and_derivatives(f, n):
    check_function_of_a_vector(f, _point(n))


@pytest.mark.parametrize("f", FAMILIES, ids=lambda f: f.__name__)
def test_tensor_layer_matches_reverse_mode(f):
    x = _point(SMALL)
    u = _direction(f(x), seed=2)
    t = dd.tensor(x, requires_grad=True)
    out = f(t)
    np.testing.assert_array_equal(out.detach().numpy(), f(x))
    np.sum(out * u).backward()
    expected = dd.vjp(f, x)[1](u)[0]
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_second_order_matches_finite_differences_of_the_gradient():
    x = _point(SMALL)
    v = _direction(x)
    for f in (interp, polys, grids, gradient, cov, convolve, piecewise, index_tricks, filling):
        loss = lambda x, f=f: np.sum(f(x) ** 2)  # noqa: E731
        hv = dd.hvp(loss, x, v)
        assert_fd(dd.grad(loss), x, v, hv, 1.0)


# -- piecewise-constant functions --------------------------------------------------------------
@pytest.mark.parametrize(
    "op",
    [np.round, np.around, np.fix, np.sign, np.rint, np.floor, np.ceil, np.trunc,
     lambda x: np.round(x, 2), lambda x: x // 1.0, lambda x: np.floor_divide(x, 0.5),
     lambda x: np.heaviside(x, 0.5), lambda x: divmod(x, 0.7)[0], lambda x: np.modf(x)[1],
     lambda x: np.frexp(x)[1] * 1.0, lambda x: np.isclose(x, 0.5) * 1.0, lambda x: x.round(1)],
)  # fmt: skip
def test_piecewise_constant_functions_have_zero_derivatives_in_every_mode(op):
    x = np.array([0.5, 1.5, -0.5, 2.5, 0.25, -1.75])  # ties of round at .5 among them
    f = lambda x: op(x) * x  # noqa: E731
    expected = op(x)
    np.testing.assert_array_equal(dd.grad(lambda x: np.sum(f(x)))(x), expected)
    np.testing.assert_array_equal(dd.jacfwd(f)(x), np.diag(expected))
    np.testing.assert_array_equal(dd.jacrev(f)(x), np.diag(expected))
    t = dd.tensor(x, requires_grad=True)
    np.sum(f(t)).backward()
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_modf_fraction_and_divmod_remainder_have_slope_one():
    x = np.array([0.3, 1.7, -0.6, 2.4])
    np.testing.assert_array_equal(dd.grad(lambda x: np.sum(np.modf(x)[0]))(x), np.ones(4))
    np.testing.assert_array_equal(dd.grad(lambda x: np.sum(divmod(x, 0.7)[1]))(x), np.ones(4))
    y = np.array([0.7, 0.9, 1.1, 0.3])
    dy = dd.grad(lambda y: np.sum(np.divmod(x, y)[1]))(y)
    np.testing.assert_array_equal(dy, -np.floor_divide(x, y))


def test_floor_division_in_place_gives_zero_derivative_in_every_layer():
    x = np.array([0.3, 1.7, -0.6, 2.4])

    def f(x):
        y = x * 2.0
        y //= 1.0  # a piecewise-constant in-place op rebinds y to constants
        return np.sum(y * x)

    expected = np.floor(2 * x)
    np.testing.assert_array_equal(dd.grad(f)(x), expected)
    np.testing.assert_array_equal(dd.jacfwd(f)(x), expected)
    t = dd.tensor(x, requires_grad=True)
    y = t * 2.0
    y //= 1.0  # was a KeyError from the rule table
    np.sum(y * t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), expected)


# -- special points ----------------------------------------------------------------------------
def test_interp_at_its_knots_takes_the_slope_on_the_right_and_the_last_at_the_end():
    xp, fp = np.array([0.0, 1.0, 3.0, 4.0]), np.array([0.0, 2.0, 1.0, 5.0])
    x = xp.copy()  # exactly at every knot
    slope = dd.jacfwd(lambda x: np.interp(x, xp, fp))(x)
    np.testing.assert_array_equal(np.diag(slope), [2.0, -0.5, 4.0, 4.0])
    np.testing.assert_array_equal(dd.jacrev(lambda x: np.interp(x, xp, fp))(x), slope)
    h = 1e-7  # one-sided differences: on the right, and at the last knot on the left
    right = (np.interp(x[:3] + h, xp, fp) - np.interp(x[:3], xp, fp)) / h
    np.testing.assert_allclose(np.diag(slope)[:3], right, rtol=1e-6)
    outside = dd.grad(lambda x: np.sum(np.interp(x, xp, fp)))(np.array([-1.0, 5.0]))
    np.testing.assert_array_equal(outside, [0.0, 0.0])
    # in fp, at a knot the value is that knot's fp: its weight is 1
    jf = dd.jacfwd(lambda fp: np.interp(x, xp, fp))(fp)
    np.testing.assert_array_equal(jf, np.eye(4))
    np.testing.assert_array_equal(dd.jacrev(lambda fp: np.interp(x, xp, fp))(fp), jf)


def test_partition_with_ties_sends_each_cotangent_to_one_tied_element():
    x = np.array([2.0, 1.0, 2.0, 0.5, 1.0, 2.0])
    w = np.array([1.0, 10.0, 100.0, 1000.0, 1e4, 1e5])
    f = lambda x: np.partition(x, 2) * w  # noqa: E731
    g = dd.grad(lambda x: np.sum(f(x)))(x)
    np.testing.assert_array_equal(np.sort(g), np.sort(w))  # a permutation of the weights
    ans = np.partition(x, 2)
    for value in np.unique(x):  # tied elements share the weights of their places
        assert np.sum(g[x == value]) == np.sum(w[ans == value])
    np.testing.assert_array_equal(dd.jacfwd(f)(x), dd.jacrev(f)(x))


def test_round_at_halves_follows_numpy_and_has_zero_derivative():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5])
    value, g = dd.value_and_grad(lambda x: np.sum(np.round(x) * x))(x)
    assert value == np.sum(np.round(x) * x)
    np.testing.assert_array_equal(g, np.round(x))  # round half to even: 0, 2, 2, -0, -2


@pytest.mark.parametrize(
    "f",
    [lambda x: np.interp(x, [0.0, 1.0], [1.0, 2.0]), lambda x: np.polyval([1.0, 2.0], x),
     lambda x: np.insert(x, 0, [])[:0], lambda x: np.zeros_like(x) + x,
     lambda x: np.partition(x, 0, axis=0)[:0] if x.size else x,
     lambda x: np.linspace(0.0, 1.0, 0) + np.sum(x), lambda x: np.gradient(np.ones(3))[:0] + x],
)  # fmt: skip
def test_size_zero(f):
    x = np.zeros(0)
    out, t = dd.jvp(f, (x,), (x,))
    assert out.shape == f(x).shape == t.shape
    assert dd.vjp(f, x)[1](np.zeros(out.shape))[0].shape == (0,)


# -- the filling idiom at scale, and through views ----------------------------------------------
@pytest.mark.parametrize("large", [False, None])  # the large-array layer off, and as configured
def test_filling_idiom_is_the_same_with_the_large_layer_on_and_off(large):
    x = _point(LARGE, seed=3)
    u = _direction(x, seed=4)
    with dd.engine_options(large=large):
        g = dd.vjp(filling, x)[1](u)[0]
        gf = dd.jvp(filling, (x,), (u,))[1]
    with dd.engine_options(large=False):
        g0 = dd.vjp(filling, x)[1](u)[0]
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_allclose(np.vdot(u, gf), np.vdot(g, u), rtol=1e-10)


def test_zeros_like_of_a_plain_array_and_integer_dtypes_stay_plain():
    def f(x):
        ids = np.zeros_like(x, dtype=np.intp)  # bookkeeping: never traced
        assert type(ids) is np.ndarray
        plain = np.ones_like(np.arange(3.0))
        assert type(plain) is np.ndarray
        return x * (ids + 1) + np.sum(plain)

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(dd.grad(lambda x: np.sum(f(x)))(x), np.ones(3))


def test_tensor_zeros_like_is_outside_the_graph_until_a_write():
    y = dd.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    dy = np.zeros_like(y)
    assert dy.grad_fn is None and not dy.requires_grad  # as torch.zeros_like
    dy[0] = -2.0 * y[0]
    dy[1:] = y[1:] * y[0]
    np.sum(dy).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [-2.0 + 5.0, 1.0, 1.0])


def test_sparsity_of_the_filling_idiom_is_the_stencil():
    def rhs(y):
        dy = np.zeros_like(y)
        dy[0] = -y[0]
        dy[1:] = y[1:] - y[:-1]
        return dy

    pattern = dd.jacobian_sparsity(rhs, np.ones(5))
    expected = np.eye(5, dtype=bool) | np.eye(5, k=-1, dtype=bool)
    np.testing.assert_array_equal(pattern.toarray(), expected)


# -- named errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", [dd.jacfwd, dd.jacrev], ids=["forward", "reverse"])
def test_missing_rule_suggests_defconstant(transform):
    with pytest.raises(NotImplementedError) as info:
        transform(lambda x: np.histogramdd(x)[0])(np.ones(3))
    msg = str(info.value)
    assert "numpy.histogramdd" in msg and "dualdiff.defconstant(histogramdd)" in msg


def test_missing_rule_in_the_tensor_layer_suggests_defconstant():
    t = dd.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"defconstant\(histogramdd\)"):
        np.histogramdd(t)


def test_writing_traced_values_into_a_plain_array_names_zeros_like():
    def f(x):
        out = np.zeros(3)
        out[:2] = x[:2]
        return out

    with pytest.raises(TypeError, match=r"np.zeros_like\(x\)"):
        dd.grad(lambda x: np.sum(f(x)))(np.ones(3))

    def g(x):
        out = np.zeros(3)
        out[0] = x[0]  # NumPy wraps the TypeError in its ValueError; the transform unwraps it
        return out

    with pytest.raises(TypeError, match=r"np.zeros_like\(x\)"):
        dd.grad(lambda x: np.sum(g(x)))(np.ones(3))


def test_full_like_of_a_plain_array_with_a_traced_fill_names_the_fix():
    with pytest.raises(TypeError, match=r"numpy.copyto.*np.full_like\(x, v\)"):
        dd.grad(lambda c: np.sum(np.full_like(np.ones(3), c)))(1.0)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's
def test_index_tricks_without_tracers_are_numpy_s_own():
    assert np.r_.__class__.__getitem__.__module__ == "dualdiff._index_tricks"
    np.testing.assert_array_equal(np.r_[1:4, [5, 6], 7], [1, 2, 3, 5, 6, 7])
    np.testing.assert_array_equal(np.c_[np.array([1, 2]), np.array([3, 4])], [[1, 3], [2, 4]])
    assert isinstance(np.r_["r", [1, 2], [3]], np.matrix)
    with pytest.raises(NotImplementedError, match="matrix directives"):
        dd.grad(lambda x: np.sum(np.r_["r", x, x]))(np.ones(2))


def test_unsupported_options_are_named():
    with pytest.raises(NotImplementedError, match="period="):
        dd.grad(lambda x: np.sum(np.interp(x, [0.0, 1.0], [0.0, 1.0], period=2.0)))(np.ones(2))
    with pytest.raises(NotImplementedError, match="full=False, cov=False"):
        dd.jacrev(lambda y: np.polyfit(np.arange(4.0), y, 1, full=True)[0])(np.ones(4))
