"""Temporary elision in recording (``dualdiff/_elide.py``): an operator's answer goes into a
temporary input's buffer, never into anything a user, a view or the tape can still read.

Each test compares against the same function recorded with elision off (the results must be
identical, bit for bit) and, where cheap, against forward mode, which never elides. Deferred
values (``_defer.py``) are off here, so that every op is recorded at once, where it may elide;
``tests/test_defer.py`` covers the two together.
"""

import operator
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import rosen_der

import dualdiff as dd
from dualdiff import _defer, _elide, _pool
from tests._programs import function_of, source_of
from tests._threads import in_threads

pytestmark = [
    pytest.mark.skipif(_elide._temporary is None, reason="elision is off on this interpreter"),
    pytest.mark.usefixtures("empty_pool"),
]

N = 2 * _pool.MIN_SIZE  # large enough to record through the pool


@pytest.fixture(autouse=True)
def eager():
    with _defer.eager():
        yield


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(0.5, 1.5, N)


def run(f, x):
    """(value, gradient, elisions) with elision on, and (value, gradient) with it off."""
    before = _elide.elided
    value, g = dd.value_and_grad(f)(x)
    count = _elide.elided - before
    saved, _elide._temporary = _elide._temporary, None
    try:
        off = dd.value_and_grad(f)(x)
    finally:
        _elide._temporary = saved
    return (value, g), off, count


def assert_same(on, off):
    assert on[0] == off[0]
    np.testing.assert_array_equal(on[1], off[1])


def forward_grad(f, x, k=3):
    """Directional derivatives along k random directions, by forward mode."""
    V = np.random.default_rng(1).standard_normal((k, x.size))
    return V, np.array([dd.jvp(f, (x,), (v,))[1] for v in V])


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_rosenbrock_writes_three_answers_into_temporaries(x):
    on, off, count = run(rosen, x)
    assert count == 3  # b - a2 into a2, 100 * d2 into d2, t + c2 into c2
    assert_same(on, off)
    np.testing.assert_allclose(on[1], rosen_der(x), rtol=1e-12, atol=1e-9)


def test_named_operands_keep_their_values(x):
    def f(x):
        a = x * 1.5
        b = (x * 2.0) - a  # into x * 2.0's buffer, not a's
        c = a - (x * 3.0)  # into x * 3.0's buffer
        d = a + a
        return np.sum(a * b * c + d)  # (a * b * c) + d into a * b * c's buffer

    on, off, count = run(f, x)
    assert count == 3
    assert_same(on, off)
    # f = sum(1.5x * 0.5x * -1.5x + 3x) = sum(-1.125 x^3 + 3x)
    np.testing.assert_allclose(on[1], -3.375 * x**2 + 3.0, rtol=1e-12, atol=1e-12)


def test_values_the_tape_keeps_are_never_written(x):
    def f(x):
        e = np.exp(x * 0.5) - 1.0  # exp's answer is kept for its partial
        p = (x * 1.0) ** 3 - x  # power keeps its input
        m = np.sin(x * 1.0) * (x * 2.0)  # multiply keeps both inputs
        q = (x * 2.0) / (x + 1.0)  # divide keeps both inputs
        return np.sum(e * p + m * q)

    on, off, count = run(f, x)
    assert_same(on, off)
    V, jvps = forward_grad(f, x)
    np.testing.assert_allclose(V @ on[1], jvps, rtol=1e-10)


def test_answers_of_function_rules_are_never_written(x):
    # cumprod's node keeps its answer (its VJP reads it); the answer is not a pooled buffer
    # but has the reference count a free pooled one would have
    def f(x):
        return np.sum((np.cumprod(1.0 + x * 1e-5) - 1.0) ** 2)

    on, off, count = run(f, x)
    assert count == 1  # 1.0 + x * 1e-5 only
    assert_same(on, off)
    V, jvps = forward_grad(f, x)
    np.testing.assert_allclose(V @ on[1], jvps, rtol=1e-9)


def test_only_the_newest_value_is_a_candidate(x):
    def f(x):
        # x * 2.0 is a temporary but np.exp(x) was recorded after it; exp keeps its answer
        return np.sum(((x * 2.0) - np.exp(x)) ** 2)

    on, off, count = run(f, x)
    assert count == 0
    assert_same(on, off)
    np.testing.assert_allclose(
        on[1], 2 * (2 * x - np.exp(x)) * (2 - np.exp(x)), rtol=1e-12, atol=1e-12
    )


def test_only_operators_in_python_code_elide(x):
    calls = [
        lambda x: np.sum(np.subtract(x * 2.0, x) ** 2),
        lambda x: np.sum(operator.sub(x * 2.0, x) ** 2),
        lambda x: np.sum((x * 2.0).__sub__(x) ** 2),
    ]
    for f in calls:
        on, off, count = run(f, x)
        assert count == 0
        assert_same(on, off)
        np.testing.assert_allclose(on[1], 2 * x, rtol=1e-12)


def test_a_wrapper_holding_a_tracer_keeps_it(x):
    class Wrapped:
        def __init__(self, v):
            self.v = v

        def __sub__(self, other):
            return self.v - other  # self.v is an attribute: named

    def f(x):
        w = Wrapped(x * 2.0)
        r = w - 1.0
        return np.sum(r * w.v)

    on, off, count = run(f, x)
    assert count == 0
    assert_same(on, off)
    np.testing.assert_allclose(on[1], 8 * x - 2.0, rtol=1e-12)


def test_broadcasting(x):
    row = x.reshape(4, -1)

    def f(x):
        m = x.reshape(4, -1)
        r = m[0]
        a = (m * 2.0) - r  # the answer has the temporary's shape: elided
        b = r * 3.0 - m  # the row-shaped temporary cannot hold a (4, n) answer
        return np.sum(a * b)

    on, off, count = run(f, x)
    assert count == 1
    assert_same(on, off)
    V, jvps = forward_grad(f, x)
    np.testing.assert_allclose(V @ on[1], jvps, rtol=1e-10)
    assert row.base is x  # the input is untouched
    np.testing.assert_array_equal(x, np.random.default_rng(0).uniform(0.5, 1.5, N))


def test_hessian_vector_products_and_jacobians(x):
    v = np.ones_like(x)
    saved, _elide._temporary = _elide._temporary, None
    try:
        hvp_off = dd.hvp(rosen, x, v)
        jac_off = dd.jacrev(lambda x: (x[1:] - x[:-1] ** 2) * 3.0 + 1.0)(x[:200])
    finally:
        _elide._temporary = saved
    np.testing.assert_array_equal(dd.hvp(rosen, x, v), hvp_off)
    jac = dd.jacrev(lambda x: (x[1:] - x[:-1] ** 2) * 3.0 + 1.0)(x[:200])
    np.testing.assert_array_equal(jac, jac_off)


def test_threads_elide_into_their_own_buffers(x):
    expected = rosen_der(x)

    def work(i):
        for _ in range(5):
            g = dd.grad(rosen)(x * (1 + i / 10))
        return g

    for i, g in enumerate(in_threads(work, 4)):
        np.testing.assert_allclose(g, rosen_der(x * (1 + i / 10)), rtol=1e-12)
    np.testing.assert_allclose(dd.grad(rosen)(x), expected, rtol=1e-12)


# Random programs: each line computes a new variable from two operands, each a named
# variable, a temporary expression of one (its square among them), or a constant; the
# program's value is a sum. They exercise the sweep's deferred scales as well.
_OPS = ["+", "-", "*"]


@st.composite
def programs(draw):
    lines, names = [], ["x"]
    for i in range(draw(st.integers(2, 6))):
        operands = []
        for _ in range(2):
            kind = draw(st.sampled_from(["named", "temp", "square", "const"]))
            name = draw(st.sampled_from(names))
            if kind == "named":
                operands.append(name)
            elif kind == "square":
                operands.append(f"({name} ** 2)")
            elif kind == "temp":
                op = draw(st.sampled_from(_OPS))
                operands.append(f"({name} {op} {draw(st.sampled_from(['0.5', '1.25']))})")
            else:
                operands.append(draw(st.sampled_from(["2.0", "0.75"])))
        if operands[0][0].isdigit() and operands[1][0].isdigit():
            operands[0] = names[-1]
        lines.append(f"v{i} = {operands[0]} {draw(st.sampled_from(_OPS))} {operands[1]}")
        names.append(f"v{i}")
    terms = " + ".join(f"np.sum({n} * {n})" for n in names[1:])
    return source_of(lines, terms)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_programs_match_elision_off_and_forward_mode(source):
    f = function_of(source)
    x = np.random.default_rng(2).uniform(0.5, 1.5, N)
    on, off, _ = run(f, x)
    assert_same(on, off)
    V, jvps = forward_grad(f, x, k=2)
    np.testing.assert_allclose(V @ on[1], jvps, rtol=1e-9, atol=1e-6)


def test_the_environment_variable_turns_it_off():
    env = dict(os.environ, DUALDIFF_NO_ELISION="1")
    code = "import dualdiff._elide as e, dualdiff; print(e._temporary is None)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


def test_under_a_tracer_the_results_are_the_same(x):
    # debuggers and coverage tools trace frames; whatever they hold counts as a reference
    def f(x):
        a = x * 1.5
        return np.sum(((x * 2.0) - a) * (a - (x * 3.0)))

    expected = run(f, x)[1]

    def tracer(frame, event, arg):
        frame.f_locals  # noqa: B018  (what a debugger reads at every line)
        return tracer

    sys.settrace(tracer)
    try:
        traced = dd.value_and_grad(f)(x)
    finally:
        sys.settrace(None)
    assert_same(traced, expected)
