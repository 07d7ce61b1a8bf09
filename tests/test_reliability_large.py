"""The large-array mechanisms never change an answer (issue 12, items 3-5 and the pool).

Every family runs at a small size and a large one (where the pool and deferred values engage)
and checks against NumPy on plain arrays, an analytic derivative or the same call with
deferral off:

- deferred values under the caller's error handling (warnings as errors, ``np.errstate``
  raise/call/log/print, recorded warnings): the eager op's behaviour, fallbacks taken;
- an operator that NumPy's object-dtype loop applies to a tracer held only by an object array;
- the caller's arrays (results handed back, through ops that return their input) are never an
  input of a deferred value; results die with their last reference (weakrefs);
- the pool stays bounded by the buffers in use over a loop of calls;
- every array a transform returns is the caller's own: no memory shared with an input, a
  constant, a closure array or another result, and nothing a later call writes into.
"""

import gc
import os
import subprocess
import sys
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.large import pool
from dualdiff.large.record import DeferredVar

SMALL, LARGE = 6, 2 * pool.MIN_SIZE
SIZES = pytest.mark.parametrize("n", [SMALL, LARGE], ids=["small", "large"])
pytestmark = pytest.mark.usefixtures("empty_pool", "deferring")


def points(n, low=-1.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, n)


def eager(transform, f, *args):
    """``transform(f)(*args)`` with deferral off."""
    with dd.engine_options(defer=False):
        return transform(f)(*args)


# -- item 3: deferred values under the caller's error handling ---------------------------------


def log_or_fallback_by_filter(x):
    """log(y), or log(|y| + 1) when log warns: the fallback chosen by a warnings filter."""
    y = x * 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = np.log(y)
    except RuntimeWarning:
        z = np.log(np.abs(y) + 1.0)
    return np.sum(z)


def log_or_fallback_by_errstate(x):
    y = x * 1.0
    try:
        with np.errstate(invalid="raise", divide="raise"):
            z = np.log(y)
    except FloatingPointError:
        z = np.log(np.abs(y) + 1.0)
    return np.sum(z)


def log_or_fallback_by_record(x):
    y = x * 1.0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        z = np.log(y)
    if seen:
        z = np.log(np.abs(y) + 1.0)
    return np.sum(z)


def log_or_fallback_by_narrow_filter(x):
    y = x * 1.0
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="invalid value", category=RuntimeWarning)
            z = np.log(y)
    except RuntimeWarning:
        z = np.log(np.abs(y) + 1.0)
    return np.sum(z)


FALLBACKS = [
    log_or_fallback_by_filter,
    log_or_fallback_by_errstate,
    log_or_fallback_by_record,
    log_or_fallback_by_narrow_filter,
]


@SIZES
@pytest.mark.parametrize("f", FALLBACKS, ids=lambda f: f.__name__)
def test_a_fallback_chosen_by_error_handling_is_taken(f, n):
    x = points(n)  # negatives: log warns, the fallback runs
    numpy_value = f(x)  # NumPy itself, on plain arrays
    assert numpy_value == pytest.approx(np.sum(np.log(np.abs(x) + 1.0)), rel=1e-12)
    value, g = dd.value_and_grad(f)(x)
    assert value == pytest.approx(numpy_value, rel=1e-12)
    np.testing.assert_allclose(g, np.sign(x) / (np.abs(x) + 1.0), rtol=1e-12)
    np.testing.assert_array_equal(dd.grad(f)(x), g)
    np.testing.assert_array_equal(eager(dd.grad, f, x), g)


@SIZES
@pytest.mark.parametrize("kind", ["over", "divide", "invalid"])
def test_errstate_raise_surfaces_inside_f(kind, n):
    x = points(n, 0.5, 1.5)
    op = {
        "over": lambda y: np.exp(y * 1000.0),
        "divide": lambda y: np.log(y * 0.0),
        "invalid": lambda y: np.sqrt(y * -1.0),
    }[kind]
    caught = []

    def f(x):
        y = x * 1.0
        try:
            with np.errstate(**{kind: "raise"}):
                z = op(y)
        except FloatingPointError as e:
            caught.append(str(e))
            z = y * 3.0
        return np.sum(z)

    g = dd.grad(f)(x)
    assert len(caught) == 1 and kind.replace("over", "overflow") in caught[0]
    np.testing.assert_array_equal(g, np.full(n, 3.0))


@SIZES
def test_errstate_call_and_log_see_the_error_inside_f(n):
    x = points(n)
    calls, log = [], []

    class Log:
        def write(self, message):
            log.append(message)

    def f(x):
        y = x * 1.0
        with np.errstate(invalid="call", call=lambda kind, flag: calls.append(kind)):
            z = np.log(y)
        if calls:  # the handler's flag picks the branch
            z = y * 2.0
        with np.errstate(invalid="log", call=Log()):
            w = np.sqrt(y)
        return np.sum(z) + (np.sum(y) if log else np.sum(w))  # the log picks the term

    g = dd.grad(f)(x)
    assert calls == ["invalid value"] and len(log) == 1 and "sqrt" in log[0]
    np.testing.assert_array_equal(g, np.full(n, 3.0))


@SIZES
def test_a_deferred_value_read_under_an_error_filter_does_not_raise(n):
    # recorded where RuntimeWarnings are ignored, computed where they are errors: the eager
    # op raised nothing, and neither does the deferred one
    x = points(n)

    def f(x):
        y = np.log(x * 1.0)  # NaN where x < 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = np.where(np.isnan(y), 0.0, y)
        return np.sum(z * 1.0)

    value, g = dd.value_and_grad(f)(x)
    with np.errstate(invalid="ignore"):
        assert value == pytest.approx(f(x), rel=1e-12)  # NumPy itself
    np.testing.assert_allclose(g, np.where(x > 0, 1.0 / x, 0.0), rtol=1e-12)


def test_ops_defer_only_where_their_errors_cannot_be_seen():
    x = points(LARGE, 0.5, 1.5)
    kinds = {}

    def f(x):
        y = x * 1.0
        kinds["ignored"] = type(np.exp(y))
        with np.errstate(all="ignore"), warnings.catch_warnings(record=True):
            kinds["errstate ignore, recorded"] = type(np.exp(y))
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            kinds["recorded"] = type(np.exp(y))
        with warnings.catch_warnings(record=True):
            kinds["recorded but ignored"] = type(np.exp(y))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            kinds["error filter"] = type(np.exp(y))
        with np.errstate(over="raise"):
            kinds["raise"] = type(np.exp(y))
        with np.errstate(under="print"):
            kinds["print"] = type(np.exp(y))
        return np.sum(y)

    dd.grad(f)(x)
    assert kinds == {
        "ignored": DeferredVar,
        "errstate ignore, recorded": DeferredVar,
        "recorded": dd.tape.Var,
        "recorded but ignored": DeferredVar,
        "error filter": dd.tape.Var,
        "raise": dd.tape.Var,
        "print": dd.tape.Var,
    }


def test_default_warnings_defer_and_warn_when_computed():
    """Outside pytest's recording (a fresh interpreter, default filters and display): ops
    defer; a deferred op's warning goes to stderr when its value is computed, and nowhere when
    it is never computed; a value read inside an error filter does not raise."""
    code = """
import warnings, numpy as np, dualdiff as dd
from dualdiff.large.record import DeferredVar
x = np.linspace(-1.0, 1.0, 40000)
kinds = []
def f(x):
    y = np.log(x * 1.0)
    kinds.append(type(y) is DeferredVar)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = y * 1.0  # computes y here: its warning is dropped, never raised
    return np.sum(z)
dd.grad(lambda x: np.sum(np.log(x * 1.0)))(x)  # the log is never computed: no warning
print("after grad", flush=True)
value, g = dd.value_and_grad(lambda x: np.sum(np.log(x * 1.0)))(x)  # computed: one warning
print("after value", flush=True)
value, g = dd.value_and_grad(f)(x)
print(kinds, np.isnan(value), flush=True)
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "DUALDIFF_EAGER")}
    root = Path(__file__).parent.parent
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:3] == ["after grad", "after value", "[True] True"]
    assert run.stderr.count("invalid value encountered in log") == 1, run.stderr


# -- item 4: operators applied by NumPy's object-dtype loop ------------------------------------


@SIZES
def test_an_operator_on_a_tracer_held_only_by_an_object_array(n):
    a, b = points(n, 0.5, 1.5, seed=1), points(n, 0.5, 1.5, seed=2)
    other = np.empty(1, object)
    other[0] = b

    def f(a):
        t = a * 2.0
        box = np.empty(1, object)
        box[0] = t
        del t
        r = box - other  # NumPy's object loop calls t.__sub__(b), t held only by box
        return np.sum(r[0] * box[0])

    value, g = dd.value_and_grad(f)(a)
    assert value == pytest.approx(f(a), rel=1e-12)  # NumPy itself
    np.testing.assert_allclose(g, 2.0 * (4.0 * a - b), rtol=1e-12)


# -- item 5: the caller's arrays and the results it holds ---------------------------------------


@SIZES
@pytest.mark.parametrize("same", [np.real, np.atleast_1d], ids=["real", "atleast_1d"])
@pytest.mark.parametrize("made_by", ["vjp", "jvp", "grad"])
def test_a_result_passed_back_and_changed_in_place(same, made_by, n):
    x = points(n, 0.5, 1.5)
    if made_by == "vjp":
        z = dd.vjp(lambda x: x * 1.0, x)[0]
    elif made_by == "jvp":
        z = dd.jvp(lambda x: x * 1.0, (x,), (x,))[1]
    else:
        z = dd.grad(lambda x: np.sum(x * x) / 2.0)(x)
    np.testing.assert_array_equal(z, x)
    assert not pool.holds(z)

    def f(w):
        v = np.exp(same(w) * 1.0)
        z[:] = 0.0  # the caller's array changes before v is read
        return np.sum(v * 1.0)

    value, g = dd.value_and_grad(f)(z)
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-12)
    assert value == pytest.approx(np.sum(np.exp(x)), rel=1e-12)


@SIZES
def test_an_input_passed_through_is_never_an_input_of_a_deferred_value(n):
    # a pooled buffer that the caller holds: the pass-through node's value is not the
    # recording's own, even while the pool still has it
    x = points(n, 0.5, 1.5)
    held = pool.empty((n,))
    held[:] = x

    def f(w):
        v = np.exp(np.real(w) * 1.0)
        held[:] = 0.0
        return np.sum(v)

    np.testing.assert_allclose(dd.grad(f)(held), np.exp(x), rtol=1e-12)


@SIZES
def test_results_die_with_their_last_reference(n):
    x, v = points(n, 0.5, 1.5), points(n, seed=3)

    def f(x):
        return np.sum(np.sin(x) ** 2 * 3.0)

    def made():
        out, pullback = dd.vjp(lambda x: np.exp(x) * 2.0, x)
        yield out
        yield pullback(v)[0]
        del pullback
        yield dd.grad(f)(x)
        yield dd.value_and_grad(f)(x)[1]
        yield dd.jvp(lambda x: np.tanh(x) * 2.0, (x,), (v,))[0]
        yield dd.jvp(lambda x: np.tanh(x) * 2.0, (x,), (v,))[1]
        yield dd.hvp(f, x, v)

    refs = [weakref.ref(r) for r in made()]
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


# -- the pool: bounded by the buffers in use ---------------------------------------------------


def test_the_pool_stays_bounded_over_a_loop_of_calls():
    x, v = points(20000, 0.5, 1.5), points(20000, seed=4)

    def f(x):
        terms = [x * (1.0 + 0.1 * i) for i in range(8)]  # 8 large values live at once
        return np.sum(sum(t * t for t in terms))

    def size():
        buffers = sum(len(b) for b in pool._pool.buckets.values())
        return buffers, pool._pool.nbytes

    held, sizes = None, []
    for _ in range(300):
        hv = dd.hvp(f, x, v)
        held = dd.vjp(lambda x: np.exp(x) * 2.0, hv)  # the previous result is held
        sizes.append(size())
    # one call has about 30 large arrays in use at once (forward over reverse: values and
    # tangents), and a pool that kept a buffer per call would hold 300 more
    assert max(n for n, _ in sizes) <= 60
    assert max(nbytes for _, nbytes in sizes) <= 60 * x.nbytes
    assert held[0].shape == x.shape


def test_a_long_tape_of_values_in_use_is_not_rescanned_at_every_request(monkeypatch):
    counts = []
    count = pool._count
    monkeypatch.setattr(pool, "_count", lambda bucket, i: counts.append(1) or count(bucket, i))
    held = [pool.empty((LARGE,)) for _ in range(300)]  # all in use
    # each full scan that finds nothing is followed by as many requests without one
    assert len(counts) < 300 * (pool._SCAN + 4)
    assert len({id(h) for h in held}) == 300


# -- ownership of every array a transform returns ----------------------------------------------


def assert_owned(results, held, copies):
    """No result shares memory with another or with anything ``held``; each is writeable and
    outside the pool; ``held`` is unchanged (``copies`` are its values before)."""
    results = [r for r in results if isinstance(r, np.ndarray)]
    for i, r in enumerate(results):
        assert r.flags.writeable and not pool.holds(r)
        assert r.base is None or not pool.holds(r.base)
        for h in held:
            assert not np.shares_memory(r, h)
        for other in results[:i]:
            assert not np.shares_memory(r, other)
    for h, c in zip(held, copies):
        np.testing.assert_array_equal(h, c)


def owned_twice(call, held, reference):
    """``call()`` twice: every result owned (:func:`assert_owned`), the first unchanged by the
    second call, and both equal to ``reference`` (from NumPy or an analytic derivative)."""
    copies = [h.copy() for h in held]
    first = call()
    kept = [np.array(r, copy=True) for r in first]
    second = call()
    assert_owned(list(first) + list(second), held, copies)
    for r, k, ref in zip(first, kept, reference):
        np.testing.assert_array_equal(r, k)
        np.testing.assert_allclose(r, ref, rtol=1e-12, atol=1e-12)


@SIZES
def test_grad_and_value_and_grad_own_their_results(n):
    a, b, C = points(n, seed=5), points(n, seed=6), points(n, seed=7)
    held = [a, b, C]
    owned_twice(lambda: [dd.grad(lambda a, b: np.sum(a * b))(a, b)], held, [b])
    owned_twice(lambda: dd.grad(lambda a, b: np.sum(a * b), (0, 1))(a, b), held, [b, a])
    owned_twice(lambda: [dd.grad(np.sum)(a)], held, [np.ones(n)])
    owned_twice(lambda: [dd.grad(lambda x: np.sum(C * x))(a)], held, [C])
    vg = dd.value_and_grad(lambda x: np.sum(x * C))
    owned_twice(lambda: [np.asarray(vg(a)[0]), vg(a)[1]], held, [np.sum(a * C), C])


@SIZES
def test_vjp_owns_its_output_and_cotangents(n):
    a, v, C = points(n, seed=5), points(n, seed=6), points(n, seed=7)
    held = [a, v, C]

    def outputs_and_cotangents(f, ct):
        out, pullback = dd.vjp(f, a)
        first, second = pullback(ct)[0], pullback(ct)[0]  # a second pull writes nothing over
        return [*(out if type(out) is tuple else (out,)), first, second]

    for f, out_ref, ct_ref in [
        (lambda x: x, a, v),
        (lambda x: x * 1.0, a, v),
        (lambda x: x * C, a * C, v * C),
    ]:
        owned_twice(lambda f=f: outputs_and_cotangents(f, v), held, [out_ref, ct_ref, ct_ref])
    ct_ref = np.zeros(n)
    ct_ref[:3] = v[:3]
    owned_twice(
        lambda: outputs_and_cotangents(lambda x: (x[:3], C), (v[:3], v)),
        held,
        [a[:3], C, ct_ref, ct_ref],
    )


@SIZES
def test_writing_into_vjps_output_leaves_its_pullback_right(n):
    # the pullback's tape keeps exp's answer for its rule: the output handed over is a copy
    x, v = points(n), points(n, seed=6)
    out, pullback = dd.vjp(np.exp, x)
    out[:] = 0.0
    np.testing.assert_allclose(pullback(v)[0], np.exp(x) * v, rtol=1e-14)
    (a, b), pullback = dd.vjp(lambda x: (np.exp(x), np.sqrt(x * x + 1.0)), x)
    a *= 2.0
    b[:] = 1.0
    (c,) = pullback((v, v))
    expected = (np.exp(x) + x / np.sqrt(x * x + 1.0)) * v
    np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-15)


@SIZES
def test_jvp_and_hvp_own_their_results(n):
    a, v, C = points(n, seed=5), points(n, seed=6), points(n, seed=7)
    held = [a, v, C]
    for f, out_ref, t_ref in [
        (lambda x: x, a, v),
        (lambda x: x + C, a + C, v),
        (lambda x: C, C, np.zeros(n)),
        (lambda x: np.sin(x) * 2.0, np.sin(a) * 2.0, 2.0 * np.cos(a) * v),
    ]:
        owned_twice(lambda f=f: dd.jvp(f, (a,), (v,)), held, [out_ref, t_ref])
    owned_twice(lambda: [dd.hvp(lambda x: np.sum(x * x * C), a, v)], held, [2.0 * C * v])
    owned_twice(lambda: [dd.hvp(np.sum, a, v)], held, [np.zeros(n)])


@SIZES
def test_jacobians_and_hessians_own_their_results(n):
    # three inputs, intermediates of 3 * n / 3 elements: the large size engages the pool
    x = points(3, 0.5, 1.5, seed=8)
    W = points(max(n // 3, 2), seed=9)[None]
    held = [x, W]

    def f(x):
        return np.sum(np.sin(x[:, None] * W), axis=1)

    def h(x):
        return np.sum(np.sin(x[:, None] * W) ** 2)

    jac = np.diag(np.sum(np.cos(x[:, None] * W) * W, axis=1))
    s = np.sin(2.0 * x[:, None] * W)
    hess = np.diag(np.sum(2.0 * np.cos(2.0 * x[:, None] * W) * W * W, axis=1))
    assert s.size >= 2  # (the Hessian of a sum of separable terms is diagonal)
    owned_twice(lambda: [dd.jacrev(f)(x)], held, [jac])
    owned_twice(lambda: [dd.jacfwd(f)(x)], held, [jac])
    owned_twice(lambda: [dd.jacobian(f)(x)], held, [jac])
    owned_twice(lambda: [dd.hessian(h)(x)], held, [hess])
    identity = [np.eye(3), np.eye(3)]
    owned_twice(lambda: [dd.jacrev(lambda x: x)(x), dd.jacfwd(lambda x: x)(x)], held, identity)
