"""Random programs at large sizes, where every large-array mechanism is on: deferred values
(``large/defer.py``), deferred scales of arrays and of Duals (``large/scaled.py``) and in-place
sweeps. Each program's value, gradient (``grad`` and ``value_and_grad``) and Hessian-vector
product must match the same call with deferred values and the deferred scales of Duals off,
and the gradient must match forward mode, which uses none of the sweep's mechanisms. The
lines mix elementwise ops, negations, constant factors, squares, selections, slices scattered
back, reshapes with axis reductions and broadcasting, cumsum and reversal.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualdiff as dd
from dualdiff.large import pool
from tests._programs import function_of, source_of

# deferral engages only with RuntimeWarnings ignored under pytest (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("deferring")

N = 2 * pool.MIN_SIZE
R, C = 4, N // 4

EXPRS = [
    "{a} + {b}",
    "{a} - {b}",
    "{a} * {b}",
    "{a} / ({b} * {b} + 1.0)",
    "-{a}",
    "{a} * 2.5",
    "0.5 - {a}",
    "{a} ** 2",
    "{a} ** 3",
    "np.sin({a})",
    "np.exp(-({a} * {a}))",
    "np.tanh({a})",
    "np.maximum({a}, {b})",
    "np.where({a} > 0, {a}, {b} * 0.5)",
    "np.concatenate([{a}[1:], {a}[:1]]) - {b}",
    "np.concatenate([{a}[:1], {a}[1:] - {a}[:-1]])",
    "({a}.reshape(R, C) - {b}.reshape(R, C).mean(axis=0)).ravel()",
    "({a}.reshape(R, C) * {b}.reshape(R, C)[0]).ravel()",
    "({a}.reshape(R, C).sum(axis=1, keepdims=True) * {b}.reshape(R, C) * 1e-4).ravel()",
    "np.cumsum({a}) * 1e-4",
    "{a}[::-1] * {b}",
    "np.abs({a}) - {b}",
    "{a} * ({b} - 1.0) ** 2",
]


@st.composite
def programs(draw):
    """A few lines, each from two earlier names (x among them), and a loss of some of them."""
    lines, names = ["v0 = x * 0.5"], ["v0", "x"]
    for i in range(1, draw(st.integers(2, 7))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        lines.append(f"v{i} = " + draw(st.sampled_from(EXPRS)).format(a=a, b=b))
        names.append(f"v{i}")
    used = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["sumsq", "mean", "weighted"]))
    if kind == "sumsq":
        ret = " + ".join(f"np.sum({n} * {n})" for n in used)
    elif kind == "mean":
        ret = " + ".join(f"np.mean(({n} - 0.25) ** 2)" for n in used)
    else:
        ret = " + ".join(f"np.sum(np.sin({n}) * W)" for n in used)
    return source_of(lines, ret)


W = np.random.default_rng(9).standard_normal(N)


def all_off():
    """Every large-array mechanism off: the reference engine alone, for the reference run."""
    return dd.engine_options(large=False)


@settings(max_examples=40, deadline=None)
@given(programs())
def test_random_programs_match_every_mechanism_off_and_forward_mode(source):
    f = function_of(source, R=R, C=C, W=W)
    x = np.random.default_rng(2).uniform(-1.5, 1.5, N)
    x0 = x.copy()
    v = np.random.default_rng(3).standard_normal(N)
    val, g = dd.value_and_grad(f)(x)
    g2 = dd.grad(f)(x)
    h = dd.hvp(f, x, v)
    with all_off():
        val_off, g_off = dd.value_and_grad(f)(x)
        h_off = dd.hvp(f, x, v)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(val, val_off, rtol=1e-12)
    scale = max(1.0, np.abs(g_off).max())
    np.testing.assert_allclose(g, g_off, rtol=1e-11, atol=1e-12 * scale)
    np.testing.assert_allclose(g2, g_off, rtol=1e-11, atol=1e-12 * scale)
    hs = max(1.0, np.abs(h_off).max())
    np.testing.assert_allclose(h, h_off, rtol=1e-10, atol=1e-11 * hs)
    jv = dd.jvp(f, (x,), (v,))[1]
    np.testing.assert_allclose(v @ g, jv, rtol=1e-7, atol=1e-7 * (np.abs(v) @ np.abs(g) + 1))
