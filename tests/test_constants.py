"""Plain arrays f uses and then changes in place: the derivative uses the contents the value
used (NumPy's semantics), and the caller changing an input before calling a pullback does not
change the pullback's answer. Small and large sizes; references by hand and finite differences.
"""

import numpy as np
import pytest

import dualdiff as dd
from tests import _fd

SIZES = (8, 2 * 16384)


def work_buffer(x):
    """A buffer reused for two terms, as NumPy code written for speed does."""
    buf = np.empty(x.size)
    buf[:] = np.linspace(1.0, 2.0, x.size)
    y = np.sin(x) * buf
    buf *= 3.0  # y keeps the first contents
    z = np.cos(x) * buf
    buf[:] = 0.0
    return np.sum(y * y) + np.sum(z)


def matrix_then_changed(x):
    m = x.size
    a = np.add.outer(np.arange(4.0), np.linspace(0.0, 1.0, m)) / m
    y = a @ np.tanh(x)
    a[:] = 7.0
    return np.sum(y**2) + np.sum(a @ x)


def index_then_changed(x):
    idx = np.arange(x.size)[::-1].copy()
    y = x[idx] * np.arange(x.size)
    idx[:] = 0  # the gather's derivative scatters to the old positions
    return np.sum(y * x[idx])


def weights_then_changed(x):
    w = np.linspace(1.0, 3.0, x.size)
    y = np.average(x**2, weights=w)
    w[::2] = 100.0
    return y + np.sum(w * 0.0 * x)


def stacked_then_changed(x):
    c = np.linspace(-1.0, 1.0, x.size)
    s = np.stack([x, c])
    c += 5.0
    return np.sum(np.prod(s, axis=0) ** 2)


PROGRAMS = [
    work_buffer,
    matrix_then_changed,
    index_then_changed,
    weights_then_changed,
    stacked_then_changed,
]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_arrays_changed_after_use(f, n):
    x = np.linspace(-1.0, 1.5, n)
    v = np.random.default_rng(4).standard_normal(n)
    value, g = dd.value_and_grad(f)(x)
    assert value == pytest.approx(f(x), rel=1e-12)
    slope = _fd.slope(f, x, v)
    np.testing.assert_allclose(g @ v, slope, rtol=1e-6, atol=1e-9 * np.abs(g).sum())
    out, pullback = dd.vjp(f, x)
    np.testing.assert_allclose(pullback(1.0)[0], g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dd.jvp(f, (x,), (v,))[1], g @ v, rtol=1e-9, atol=1e-12 * abs(slope))
    if n < 100:
        hv = dd.hvp(f, x, v)
        grad = dd.grad(f)
        h = 1e-5
        np.testing.assert_allclose(
            hv, (grad(x + h * v) - grad(x - h * v)) / (2 * h), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("n", SIZES)
def test_inputs_changed_before_the_pullback_is_called(n):
    x = np.linspace(0.5, 1.5, n)
    x0 = x.copy()
    out, pullback = dd.vjp(lambda y: np.sum(y * np.sin(y)), x)
    x *= 10.0
    np.testing.assert_allclose(pullback(1.0)[0], np.sin(x0) + x0 * np.cos(x0), rtol=1e-13)


def test_a_read_only_constant_is_read_by_reference():
    a = np.linspace(1.0, 2.0, 5)
    a.flags.writeable = False
    view = a[1:]  # a read-only view of a read-only owner: nothing can change it
    g = dd.grad(lambda x: np.sum(x * view))(np.ones(4))
    np.testing.assert_array_equal(g, view)
    b = np.linspace(1.0, 2.0, 5)
    frozen_view = b[1:]
    frozen_view.flags.writeable = False  # read-only, but its base is not: copied

    def f(x):
        y = x * frozen_view
        b[:] = 0.0
        return np.sum(y)

    np.testing.assert_allclose(dd.grad(f)(np.ones(4)), np.linspace(1.0, 2.0, 5)[1:])


@pytest.mark.parametrize("n", SIZES)
def test_tensor_ops_keep_plain_arrays_as_they_were(n):
    c = np.linspace(1.0, 2.0, n)
    a = np.add.outer(np.arange(3.0), c)
    w = dd.tensor(np.ones(n), requires_grad=True)
    loss = (w * c).sum() + np.sum(np.matmul(a, w)) + dd.sum(np.stack([w, c]) ** 2)
    expected = c + a.sum(axis=0) + 2.0 * np.ones(n)
    c += 1.0  # plain arrays have no version counter: backward uses what the ops used
    a[:] = 0.0
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-13)
