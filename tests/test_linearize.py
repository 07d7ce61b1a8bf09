"""``dd.linearize(f, *primals) -> (out, f_jvp)``, as JAX's: ``f_jvp(*tangents)`` is the
directional derivative of f at the primals.

At a small size and a large one (16384 elements). Oracles: NumPy's value of f, finite
differences, ``jvp``, reverse mode (``vjp``, the dot-product test), linearity, and ownership
(results share memory with nothing passed in, the primals are copied).
"""

import numpy as np
import pytest

import dualdiff as dd
from tests import _fd
from tests._oracles import assert_owned

SIZES = [6, 16384]


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x(request, deferring):
    return np.random.default_rng(request.param).uniform(0.5, 1.5, request.param)


def rng_vector(n, seed):
    return np.random.default_rng(seed).standard_normal(n)




def f(x):
    return np.exp(np.sin(x)) * x + np.sum(x**2)


def test_linearize_matches_numpy_fd_jvp_and_vjp(x):
    v, u, ct = (rng_vector(x.size, s) for s in (1, 2, 3))
    x0, v0 = x.copy(), v.copy()
    out, f_jvp = dd.linearize(f, x)
    np.testing.assert_allclose(out, f(x), rtol=1e-14)
    t = f_jvp(v)
    np.testing.assert_allclose(t, _fd.slope(f, x, v), rtol=1e-6, atol=1e-6 * np.abs(t).max())
    np.testing.assert_array_equal(t, dd.jvp(f, (x,), (v,))[1])
    # linear in the tangent
    np.testing.assert_allclose(f_jvp(2.0 * v + u), 2.0 * t + f_jvp(u), rtol=1e-11, atol=1e-9)
    # the transpose of f_jvp is the pullback: <ct, J v> = <J^T ct, v>
    (g,) = dd.vjp(f, x)[1](ct)
    np.testing.assert_allclose(ct @ t, g @ v, rtol=1e-11)
    t2 = f_jvp(v)
    np.testing.assert_array_equal(t2, t)
    assert_owned((out, t, t2), (x, v))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)


def test_primals_are_copied(x):
    """Changing the primal after linearize changes neither out nor f_jvp."""
    v = rng_vector(x.size, 4)
    x0 = x.copy()
    out, f_jvp = dd.linearize(lambda y: y * y, x)
    x *= 3.0
    np.testing.assert_array_equal(out, x0 * x0)
    np.testing.assert_allclose(f_jvp(v), 2 * x0 * v, rtol=1e-15)


def test_identity_and_constant_outputs_are_owned(x):
    v = rng_vector(x.size, 5)
    out, f_jvp = dd.linearize(lambda y: y, x)
    t = f_jvp(v)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(t, v)
    assert_owned((out, t), (x, v))
    c = np.ones(3)
    out, f_jvp = dd.linearize(lambda y: c, x)
    t = f_jvp(v)
    np.testing.assert_array_equal(t, np.zeros(3))
    assert_owned((out, t), (x, v, c))


def test_structures_as_jvp_takes_them(x):
    """Primals: an array and a dict; the output a tuple holding a dict; Python scalars too."""
    w = {"a": x[:3].copy(), "b": 0.5}

    def g(x, w):
        return (np.sum(x * w["b"]) * w["a"], {"s": np.sin(x) * w["b"]})

    tx = rng_vector(x.size, 6)
    tw = {"a": np.array([1.0, -1.0, 2.0]), "b": 0.25}
    out, g_jvp = dd.linearize(g, x, w)
    want_out = g(x, w)
    np.testing.assert_allclose(out[0], want_out[0], rtol=1e-13)
    np.testing.assert_allclose(out[1]["s"], want_out[1]["s"], rtol=1e-15)
    t = g_jvp(tx, tw)
    ref = dd.jvp(g, (x, w), (tx, tw))[1]
    np.testing.assert_array_equal(t[0], ref[0])
    np.testing.assert_array_equal(t[1]["s"], ref[1]["s"])
    s = np.sum(x)
    want0 = (np.sum(tx) * w["b"] + s * tw["b"]) * w["a"] + s * w["b"] * tw["a"]
    np.testing.assert_allclose(t[0], want0, rtol=1e-12)
    np.testing.assert_allclose(t[1]["s"], np.cos(x) * tx * w["b"] + np.sin(x) * tw["b"],
                               rtol=1e-14)  # fmt: skip
    assert_owned(t, (x, tx, w["a"], tw["a"]))


def test_python_scalar_and_integer_primals():
    out, f_jvp = dd.linearize(lambda a, b: a * b**2, 3.0, 2)  # the int is promoted
    assert float(out) == 12.0
    assert float(f_jvp(1.0, 0.0)) == 4.0
    assert float(f_jvp(0.0, 1.0)) == 12.0


def test_linearize_has_aux(x):
    v = rng_vector(x.size, 7)
    out, f_jvp, aux = dd.linearize(lambda y: (np.sin(y), {"y": y, "c": np.cos(y)}), x,
                                   has_aux=True)  # fmt: skip
    np.testing.assert_array_equal(out, np.sin(x))
    np.testing.assert_array_equal(aux["y"], x)
    np.testing.assert_array_equal(aux["c"], np.cos(x))
    np.testing.assert_allclose(f_jvp(v), np.cos(x) * v, rtol=1e-15)
    assert_owned((out, aux), (x,))


def test_linearize_nested_in_grad(x):
    """The primal may be traced by an outer transform: d/dx of <1, J(x) v> for f = x^3."""
    x = x[:6]
    v = np.linspace(-1, 1, 6)

    def directional(y):
        _, f_jvp = dd.linearize(lambda z: z**3, y)
        return np.sum(f_jvp(v))

    np.testing.assert_allclose(dd.grad(directional)(x), 6 * x * v, rtol=1e-14)


def test_bad_tangents_are_refused_by_name(x):
    _, f_jvp = dd.linearize(lambda a, b: a * b, x, x)
    with pytest.raises(ValueError, match=r"dd\.linearize: got 2 primals but 1 tangents"):
        f_jvp(x)
    with pytest.raises(ValueError, match=r"dd\.linearize: tangent shape \(3,\) at \[1\]"):
        f_jvp(x, x[:3])
    with pytest.raises(TypeError, match=r"dd\.linearize: f returned .*str"):
        dd.linearize(lambda a: "label", x)
