"""NumPy's write semantics on traced arrays: in-place operators change the object, writes
through views are seen through the base and every other view, copies are copies.

Each program is plain NumPy code. It runs on ndarrays for the reference value and for central
differences, and through dualdiff in reverse mode (value_and_grad), forward mode (jvp) and
forward over reverse (hvp), at a small size and at a large one (where the pool, deferred values
and in-place sweeps engage).
"""

import contextlib
import copy
import pickle
import warnings

import numpy as np
import pytest

import dualdiff as dd
import dualdiff.numpy as dnp
from tests import _fd

SIZES = (12, 2 * 16384)


def std_(v):
    """Standardize in place, as a NumPy helper does."""
    v -= v.mean()
    v /= v.std()


def helper_in_place(x):
    y = x * 1.0
    std_(y)
    return np.sum(y * np.sin(x))


def slice_of_slice(x):
    y = x * 2.0
    y[:4][1] = 0.5
    y[2:][::2] *= 3.0
    return np.sum(y * y * x)


def reshape_view(x):
    y = np.cos(x)
    y.reshape(2, -1)[0, 3] = 0.25
    y.reshape(4, -1)[1:3] += x.reshape(4, -1)[:2]
    return np.sum(y**3)


def transpose_view(x):
    y = np.exp(x / x.size).reshape(2, -1)
    y.T[1, 0] = 3.0
    y.T[::2] *= 0.5
    return np.sum(y * np.arange(y.size).reshape(y.shape))


def rows_divided(x):
    y = x.reshape(4, -1) * 1.0
    for row in y:
        row /= row.mean()
    return np.sum(np.sin(y))


def sibling_views(x):
    y = x**2
    v = y[: x.size // 2]
    w = y[x.size // 4 :]
    v[-1] = x[0] * 5.0  # w sees this write: it lies in both
    w *= 2.0  # and v sees this one where they overlap
    return np.sum(v * np.arange(v.size)) + np.sum(w)


def split_views(x):
    y = np.tanh(x)
    a, b = np.split(y, 2)
    a[0] = 4.0 * x[1]
    b -= a
    return np.sum(y * y)


def not_a_view(x):
    y = np.sin(x).reshape(2, -1)
    z = y.T.reshape(-1)  # a copy in NumPy: writing into z leaves y alone
    z[0] = 100.0
    return np.sum(y) + np.sum(z * z)


def copies(x):
    y = x * 3.0
    a, b, c, d = copy.copy(y), copy.deepcopy(y), np.copy(y), y.copy()
    a[0] = b[1] = c[2] = d[3] = 0.0
    e = +y
    e += 1.0
    return np.sum(y * x) + np.sum(a * b * c * d * e)


def aliases(x):
    y = np.sin(x)
    z = y  # the same object
    z += x
    y *= 2.0  # both names see both writes
    return np.sum(z * x)


def power_in_place(x):
    y = x + 2.0
    y **= 2
    y[1:3] **= 0.5
    return np.sum(y)


PROGRAMS = [
    helper_in_place,
    slice_of_slice,
    reshape_view,
    transpose_view,
    rows_divided,
    sibling_views,
    split_views,
    not_a_view,
    copies,
    aliases,
    power_in_place,
]


def _point(n, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, n)


@contextlib.contextmanager
def _mechanisms(on):
    """Deferred values on (RuntimeWarnings ignored, else dualdiff computes every op at once
    while pytest records warnings) or off."""
    off = contextlib.nullcontext() if on else dd.engine_options(defer=False)
    with warnings.catch_warnings(), off:
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.mark.parametrize("on", [True, False], ids=["mechanisms-on", "mechanisms-off"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_programs_match_numpy_and_finite_differences(f, n, on):
    x = _point(n)
    x0 = x.copy()
    v = np.random.default_rng(1).standard_normal(n)
    expected = f(x.copy())
    with _mechanisms(on):
        value, g = dd.value_and_grad(f)(x)
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    np.testing.assert_array_equal(x, x0)  # the caller's array is never written into
    assert not np.shares_memory(g, x)
    slope = _fd.slope(f, x, v, h=1e-5)
    np.testing.assert_allclose(g @ v, slope, rtol=1e-6, atol=1e-8 * abs(expected))
    with _mechanisms(on):
        out, t = dd.jvp(f, (x,), (v,))
        hv = dd.hvp(f, x, v)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert not np.shares_memory(hv, x) and not np.shares_memory(hv, g)
    scale = np.linalg.norm(g) * np.linalg.norm(v)  # where terms cancel, rounding sets the floor
    np.testing.assert_allclose(t, g @ v, rtol=1e-10, atol=1e-13 * scale)
    h = 1e-5  # the Hessian-vector product against differences of the gradient, at every size
    grad = dd.grad(f)
    fd = (grad(x + h * v) - grad(x - h * v)) / (2 * h)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_second_order_through_writes(f):
    x = _point(12)
    v = np.random.default_rng(2).standard_normal(12)
    hv = dd.hvp(f, x, v)
    h = 1e-5
    grad = dd.grad(f)
    np.testing.assert_allclose(
        hv, (grad(x + h * v) - grad(x - h * v)) / (2 * h), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(dd.hessian(f)(x) @ v, hv, rtol=1e-10, atol=1e-12)


def test_writes_are_seen_by_every_view_in_value():
    def f(x):
        y = x * 1.0
        v, w = y[:3], y[1:4]
        t = y.reshape(2, 3).T
        v[1] = 7.0
        t[2, 0] = 9.0  # y[2]
        return np.stack([y, w[0] * np.ones(6), t.T.reshape(-1)])

    x = np.arange(6.0)
    np.testing.assert_array_equal(dd.jacfwd(f)(x).shape, (3, 6, 6))
    out = dd.vjp(f, x)[0]
    np.testing.assert_array_equal(out, f(x.copy()))
    assert out[0, 1] == 7.0 and out[1, 0] == 7.0 and out[0, 2] == 9.0


def test_dualdiff_numpy_array_copies():
    def f(x):
        y = x * 2.0
        z = dnp.array(y)
        z[0] = 0.0  # y keeps its value
        same = dnp.asarray(y)  # asarray returns the array itself, as NumPy's
        same[1] = 0.0
        return np.sum(y * y) + np.sum(z)

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(dd.grad(f)(x), [8.0, 2.0, 26.0])
    assert f(x.copy()) == pytest.approx(dd.value_and_grad(f)(x)[0])


def test_read_only_views_raise_like_numpy():
    def diag(x):
        np.diagonal(x.reshape(2, 2))[0] = 1.0
        return np.sum(x)

    with pytest.raises(ValueError, match="read-only"):
        diag(np.arange(4.0))
    with pytest.raises(ValueError, match="read-only"):
        dd.grad(diag)(np.arange(4.0))


def test_in_place_shape_mismatch_raises_like_numpy():
    def f(x):
        y = x * 1.0
        y += np.ones((2, 3))
        return np.sum(y)

    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        f(np.ones(3))
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        dd.grad(f)(np.ones(3))


def test_write_of_an_inner_trace_into_an_outer_array_names_the_way_out():
    def outer(x):
        y = x * 1.0

        def inner(z):
            y[0] = z  # y belongs to the outer transform
            return z

        return dd.grad(inner)(1.0) * np.sum(y)

    with pytest.raises(TypeError, match="make a new array instead"):
        dd.grad(outer)(np.ones(3))


def test_plain_array_with_traced_operand_in_place_names_the_way_out():
    def f(x):
        acc = np.zeros(3)
        acc += x
        return np.sum(acc)

    with pytest.raises(TypeError, match="out= and where="):
        dd.grad(f)(np.ones(3))


def test_pickle_and_unknown_attributes_name_no_internal_class():
    seen = []

    def f(x):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(x)
        with pytest.raises(AttributeError, match="traced array") as info:
            x.flags  # noqa: B018
        seen.append(str(info.value))
        return np.sum(x)

    dd.grad(f)(np.ones(16384 * 2))
    dd.jvp(f, (np.ones(3),), (np.ones(3),))
    assert len(seen) == 2 and not any("Var" in s or "Dual" in s for s in seen)


def test_dualdiff_numpy_submodules_are_numpys_own():
    import dualdiff.numpy.linalg as la

    assert la is np.linalg and not hasattr(dnp, "__path__")
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(dd.grad(la.det)(a), la.det(a) * np.linalg.inv(a).T)


@pytest.mark.parametrize("n", SIZES)
def test_in_place_keeps_the_arrays_dtype(n):
    def f(x):
        y = x.astype(np.float32)
        y *= np.float64(2.0)
        y[1:] += x[:-1]
        assert y.dtype == np.float32
        return np.sum(y * y)

    x = _point(n)
    value, g = dd.value_and_grad(f)(x)
    assert value == f(x.copy()) and value.dtype == np.float32
    y = (2 * x).astype(np.float32)
    y[1:] += x[:-1]  # the same arithmetic in float32, then the hand derivative
    expected = 4 * y.astype(np.float64)
    expected[:-1] += 2 * y[1:]
    np.testing.assert_allclose(g, expected, rtol=1e-6)


@pytest.mark.parametrize("n", SIZES)
def test_a_read_only_input_is_written_through_its_views_like_a_copy(n):
    def f(x):
        x.reshape(2, -1).T[0, 1] = 0.0  # f's traced copy may be written into, view or not
        x[1] = 2.0
        return np.sum(x * x)

    x = _point(n)
    x.flags.writeable = False
    want = x.copy()
    want[n // 2] = 0.0
    want[1] = 2.0
    value, g = dd.value_and_grad(f)(x)
    assert value == pytest.approx(np.sum(want * want), rel=1e-13)
    grad = 2 * x
    grad[n // 2] = grad[1] = 0.0
    np.testing.assert_allclose(g, grad, rtol=1e-13)
