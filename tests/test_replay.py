"""dd.replay: the replayed transform equals the transform, at every call.

The reference is the same transform called directly. With the large-array layer off (the
engine replay records on) the two agree bit for bit; with it on, at large sizes, to a few
ulps (the layer's fused scales, BLAS daxpy, may round differently). Every kind of guard has a
test where it fails at the second point and the answer is still the transform's there.
"""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualdiff as dd
from dualdiff.large import pool
from dualdiff.replay import replay_derivatives
from tests._oracles import assert_disjoint
from tests._programs import function_of, source_of
from tests.test_large_programs import EXPRS

# Python control flow, data-dependent loops, argmax indices and in-place idioms, one line each
CONTROL = [
    "{a} * 2.0 if np.sum({a}) > 0 else np.sin({b})",
    "({a} - {b}) if np.max({a}) > np.max({b}) else ({b} * 0.5)",
    "{a} * {b}[int(np.argmax({b}))]",
    "{a} + {b}[np.argmin({a})]",
    "{a} * np.sum({b}[{b} > 0])",
]
STATEMENTS = [
    "v{i} = {a} * 1.0\n    while np.max(np.abs(v{i})) > 0.25: v{i} = v{i} * 0.5",
    "v{i} = {a}.copy(); v{i}[::2] += {b}[::2]",
    "v{i} = {a} * 1.0; v{i} -= {b}; v{i} *= 0.5",
    "v{i} = {a} + 0.0\n    for _ in range(int(np.sum({b} > 0)) % 3): v{i} = np.tanh(v{i})",
]


@st.composite
def programs(draw):
    lines, names = ["v0 = x * 0.5"], ["v0", "x"]
    for i in range(1, draw(st.integers(2, 6))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["expr", "control", "statement"]))
        if kind == "statement":
            lines.append(draw(st.sampled_from(STATEMENTS)).format(i=i, a=a, b=b))
        else:
            expr = draw(st.sampled_from(EXPRS if kind == "expr" else CONTROL))
            lines.append(f"v{i} = " + expr.format(a=a, b=b))
        names.append(f"v{i}")
    used = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    return source_of(lines, " + ".join(f"np.sum(np.sin({n}) * W)" for n in used))


def _points(n, seed, k=3):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n) for _ in range(k)]


def _same_bits(a, b):
    for x, y in zip(dd.ravel_pytree(a)[0:1], dd.ravel_pytree(b)[0:1]):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), np.max(np.abs(x - y))


def _run_program(source, n, seed):
    names = {"R": 4, "C": n // 4, "W": np.random.default_rng(9).standard_normal(n)}
    f = function_of(source, **names)
    fast = dd.replay(dd.value_and_grad(f))
    reference = dd.value_and_grad(f)
    for x in _points(n, seed):
        x0 = x.copy()
        got = fast(x)
        with dd.engine_options(large=False):
            want = reference(x)
        _same_bits(got, want)
        assert np.array_equal(x, x0)
        if n >= pool.MIN_SIZE:  # the large-array layer on: its fused paths round differently
            value, g = reference(x)
            np.testing.assert_allclose(got[1], g, rtol=1e-12, atol=1e-12 * np.max(np.abs(g)))
    return fast


@settings(max_examples=60, deadline=None)
@given(programs(), st.integers(0, 2**16))
def test_random_programs_small(source, seed):
    _run_program(source, 12, seed)


@settings(max_examples=10, deadline=None)
@given(programs(), st.integers(0, 2**16))
def test_random_programs_large(source, seed):
    _run_program(source, 2 * pool.MIN_SIZE, seed)


def test_branch_flip_rerecords_and_keeps_both():
    def f(x):
        return np.sum(x**2) if np.sum(x) > 0 else np.sum(np.sin(x))

    fast = dd.replay(dd.grad(f))
    up, down = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    for x in (up, down, up, down):
        _same_bits(fast(x), dd.grad(f)(x))
    stats = fast.stats()
    assert stats["recordings"] == 2 and stats["kept"] == 2 and stats["replays"] == 2


def _check_guard(fun, first, second, *rest):
    """``fun`` replayed at ``first`` and then at ``second``, where a guard fails: both answers
    are the direct call's, and the second call recorded again."""
    fast = dd.replay(fun)
    for args in (first, second):
        got, want = fast(*args, *rest), fun(*args, *rest)
        np.testing.assert_array_equal(dd.ravel_pytree(got)[0], dd.ravel_pytree(want)[0])
    assert fast.stats()["recordings"] == 2
    return fast


def test_guard_while_loop_length():
    def f(x):
        while np.max(np.abs(x)) > 1.0:
            x = x * 0.5
        return np.sum(x**3)

    _check_guard(dd.grad(f), (np.array([0.5, 3.0]),), (np.array([0.5, 30.0]),))


def test_guard_int_of_argmax_as_index():
    def f(x):
        return x[int(np.argmax(x))] ** 2 + np.sum(x)

    _check_guard(dd.grad(f), (np.array([3.0, 1.0, 2.0]),), (np.array([1.0, 3.0, 2.0]),))


def test_argmax_index_without_int_is_replayed_not_guarded():
    def f(x):
        return x[np.argmax(x)] ** 2

    fast = dd.replay(dd.grad(f))
    for x in (np.array([3.0, 1.0]), np.array([1.0, 3.0])):
        _same_bits(fast(x), dd.grad(f)(x))
    assert fast.stats()["recordings"] == 1


def test_guard_float_of_an_argument():
    def f(x, s):
        return np.sum(x**2) * (2.0 if float(s[0]) > 0 else 3.0)

    x = np.array([1.0, 2.0])
    _check_guard(dd.grad(f), (x, np.array([1.0])), (x, np.array([-1.0])))


def test_guard_index_of_an_argument():
    def f(x, k):
        out = x
        for _ in range(k[0]):
            out = np.sin(out)
        return np.sum(out)

    x = np.array([1.0, 2.0])
    _check_guard(dd.grad(f), (x, np.array([1])), (x, np.array([3])))


def test_guard_shape_of_a_mask():
    def f(x):
        picked = x[x > 0]
        return np.sum(picked**2) * len(picked)

    _check_guard(dd.grad(f), (np.array([1.0, -2.0, 3.0]),), (np.array([1.0, 2.0, 3.0]),))


def test_guard_python_answer_of_numpy():
    def f(x):
        return np.sum(x**2) if np.allclose(x, 1.0) else np.sum(x**3)

    _check_guard(dd.grad(f), (np.ones(3),), (np.array([1.0, 2.0, 3.0]),))


def test_guard_constant_changed_in_place():
    W = np.array([1.0, 2.0, 3.0])

    def f(x):
        return np.sum(np.sin(x) * W)

    fast = dd.replay(dd.grad(f))
    x = np.array([0.1, 0.2, 0.3])
    _same_bits(fast(x), dd.grad(f)(x))
    W[1] = -7.0  # the recording read W: this call must see the new contents
    _same_bits(fast(x), dd.grad(f)(x))
    assert fast.stats()["recordings"] == 2


def test_stop_gradient_of_the_point_is_data_of_the_recording():
    def f(x):
        c = dd.stop_gradient(x)  # a constant for grad, made of the point: not a guard
        return np.sum(x * c)

    fast = dd.replay(dd.grad(f))
    for x in (np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([-1.0, 0.5])):
        got = fast(x)
        np.testing.assert_array_equal(got, dd.grad(f)(x))
        np.testing.assert_array_equal(got, x)  # d/dx sum(x * c) with c = x held constant
    assert fast.stats()["recordings"] == 1


def test_static_arguments_are_part_of_the_signature():
    def f(x, p):
        return np.sum(x**p)

    fast = dd.replay(dd.grad(f))
    x = np.array([1.0, 2.0])
    for p in (2, 3, 2):
        _same_bits(fast(x, p), dd.grad(f)(x, p))
    assert fast.stats()["recordings"] == 2


@pytest.mark.parametrize("n", [5, 2 * pool.MIN_SIZE])
def test_ownership_results_are_new_and_inputs_unchanged(n):
    def f(x):
        return np.sum(np.tanh(x) * x)

    fast = dd.replay(dd.value_and_grad(f))
    x1, x2 = _points(n, 1, 2)
    k1, k2 = x1.copy(), x2.copy()
    v1, g1 = fast(x1)
    g1_kept = g1.copy()
    v2, g2 = fast(x2)  # must not overwrite g1
    np.testing.assert_array_equal(g1, g1_kept)
    np.testing.assert_array_equal(x1, k1)
    np.testing.assert_array_equal(x2, k2)
    assert_disjoint(g1, g2, x1, x2)


def test_ownership_identity_and_constant_outputs():
    C = np.ones(3)
    fast = dd.replay(lambda x: (x, x[1:], C))
    x = np.array([1.0, 2.0, 3.0])
    a, b, c = fast(x)
    assert_disjoint(a, b, c, x, C)
    a2, b2, c2 = fast(x)
    assert_disjoint(a, a2, b2, c, c2)
    np.testing.assert_array_equal(a, x)


@pytest.mark.parametrize(
    "transform",
    [dd.hessian, dd.jacfwd, dd.jacrev, dd.jacobian, lambda f: lambda x: dd.hvp(f, x, x)],
)
def test_nested_and_other_transforms(transform):
    def f(x):
        return np.sum(np.sin(x) * x**2) + np.prod(x[:2])

    fast = dd.replay(transform(f))
    for x in _points(4, 3):
        _same_bits(fast(x), transform(f)(x))
    assert fast.stats()["recordings"] == 1


def test_threads_share_one_replayed_function():
    def f(x):
        return np.sum(np.tanh(x) ** 2 * x)

    fast = dd.replay(dd.value_and_grad(f))
    points = _points(64, 4, 16)
    want = [dd.value_and_grad(f)(x) for x in points]
    fast(points[0])
    errors = []

    def work(offset):
        for i in range(200):
            j = (i + offset) % len(points)
            value, g = fast(points[j])
            if not (np.array_equal(g, want[j][1]) and value == want[j][0]):
                errors.append(j)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_training_step_replayed_with_parameters_as_inputs():
    rng = np.random.default_rng(0)
    params = [
        rng.standard_normal((8, 4)) * 0.3,
        np.zeros(8),
        rng.standard_normal((1, 8)),
        np.zeros(1),
    ]
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        d = np.tanh(x @ w1.T + b1) @ w2.T + b2 - y
        return np.mean(d * d)

    def step(params, x, y):
        return [p - 0.1 * g for p, g in zip(params, dd.grad(loss)(params, x, y))]

    fast = dd.replay(step)
    slow = [p.copy() for p in params]
    for _ in range(5):
        params, slow = fast(params, x, y), step(slow, x, y)
        for a, b in zip(params, slow):
            _same_bits(a, b)
    assert fast.stats()["recordings"] == 1


def test_called_inside_another_transform_is_traced_as_usual():
    inner = dd.replay(lambda x: np.sum(x**3))
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(dd.grad(inner)(x), 3 * x**2)


def test_recordings_are_bounded():
    fast = dd.replay(dd.grad(lambda x: np.sum(x**2)), max_recordings=2)
    for n in (2, 3, 4, 2):
        np.testing.assert_array_equal(fast(np.ones(n)), 2 * np.ones(n))
    assert fast.stats()["kept"] == 2


def test_optimize_bridge_derivatives():
    d = replay_derivatives(lambda x: np.sum(x**4) + x[0] * x[1])
    x, p = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    value, g = d.value_and_grad(x)
    assert value == 19.0
    np.testing.assert_array_equal(g, [6.0, 33.0])
    np.testing.assert_array_equal(d.hessp(x, p), [12 * 0.5 - 1.0, 0.5 - 48.0])
    np.testing.assert_array_equal(d.jacobian(x), g)


def test_bad_input_named_errors():
    with pytest.raises(TypeError, match="dd.replay: expected a callable"):
        dd.replay(3)
    with pytest.raises(ValueError, match="max_recordings"):
        dd.replay(np.sum, max_recordings=0)
    with pytest.raises(TypeError, match="neither an array"):
        dd.replay(lambda a: a)(object())


def test_write_through_a_view_of_an_argument_is_refused():
    def f(x, buf):
        view = buf[:2]
        view[0] = 5.0
        return np.sum(x * buf)

    with pytest.raises(NotImplementedError, match="views"):
        dd.replay(dd.grad(f))(np.ones(3), np.zeros(3))


# -- the generated code's rewrites: each keeps the unreplayed bits ---------------------------


def _compiled_ops(fun, *args, **tuning):
    """The number of calls in ``fun``'s replayed code, with the rewrites in ``tuning`` set."""
    import dualdiff._replay_code as code

    saved = dict(code.TUNING)
    code.TUNING.update(tuning)
    try:
        fast = dd.replay(fun)
        got = fast(*args)
    finally:
        code.TUNING.update(saved)
    _same_bits(got, fun(*args))
    return sum(r.ops for reps in fast._cache.values() for r in reps)


def test_repeated_sweep_calls_are_merged_with_the_same_bits():
    def f(x):
        d = np.sin(x) - 1.0
        return np.mean(d * d)  # the sweep computes g * d twice

    x = np.array([0.3, -1.2, 2.5])
    merged = _compiled_ops(dd.grad(f), x)
    assert merged < _compiled_ops(dd.grad(f), x, simplify=False)


def test_calls_that_look_alike_but_read_changed_constants_are_not_merged():
    def f(x):
        W = np.ones(3)
        view = W[:2]
        a = np.sum(np.sin(W * x)) + np.sum(np.exp(view * x[:2]))
        W[0] = 5.0  # the same calls again read other contents, through W and through its view
        return a + np.sum(np.sin(W * x)) + np.sum(np.exp(view * x[:2]))

    fast = dd.replay(dd.value_and_grad(f))
    for x in _points(3, 5):
        _same_bits(fast(x), dd.value_and_grad(f)(x))
    assert fast.stats()["recordings"] == 1


def test_merge_keys_tell_signed_zeros_and_types_apart():
    from dualdiff._replay_capture import Node, Ref
    from dualdiff._replay_rewrite import simplify

    values = [np.ones(2)] * 6

    def mul(out, c, quiet=True):
        return Node(np.multiply, (Ref(0), c), {}, out, quiet)

    nodes = [mul(1, 0.0), mul(2, -0.0), mul(3, 0.0), mul(4, 2), mul(5, 2.0)]
    kept = [n.out for n in simplify(nodes, values, keep=set())]
    assert kept == [1, 2, 4, 5]  # only the second 0.0 repeats a call
    loud = [mul(1, 0.0, quiet=False), mul(2, 0.0, quiet=False)]
    assert [n.out for n in simplify(loud, values, keep=set())] == [1, 2]  # f's own: may warn
    assert [n.out for n in simplify(nodes[:3], values, keep={3})] == [1, 2, 3]  # an output


def test_product_by_one_dropped_only_where_the_bits_stay():
    snan = np.frombuffer(np.uint64(0x7FF0000000000001).tobytes(), dtype=np.float64)

    def f(x):
        return x * 1.0, np.sin(x) * 1.0  # an input may hold a signaling NaN: 1.0 * it quiets it

    x = np.concatenate([snan, [0.5, -0.0]])
    fast = dd.replay(f)
    with np.errstate(invalid="ignore"):
        for _ in range(2):
            _same_bits(fast(x), f(x))
        assert fast(x)[0].view(np.uint64)[0] == f(x)[0].view(np.uint64)[0]


def test_python_numbers_keep_their_promotion_on_float32():
    def f(x):
        return np.sum(np.tanh(x * 1.1 + 0.5) * 3)

    x = np.linspace(0.0, 1.0, 7, dtype=np.float32)
    fast = dd.replay(dd.value_and_grad(f))
    for _ in range(2):
        got = fast(x)
        _same_bits(got, dd.value_and_grad(f)(x))
        assert got[1].dtype == np.float32


def test_grad_cotangent_chain_unbroadcast_keeps_bits_and_guards():
    def f(x):
        y = np.sin(x) * 1.1 + 0.5
        y = np.tanh(y) / (1.0 + x * x)
        return np.sum(np.sqrt(y * y + 1.0) * x)

    g = dd.grad(f)
    fast = dd.replay(g)
    for x in _points(10, 6):
        _same_bits(fast(x), g(x))
    assert fast.stats()["recordings"] == 1


# -- writes into arguments and returned functions ---------------------------------------------


@pytest.mark.parametrize("n", [2, 2 * pool.MIN_SIZE])
def test_write_into_an_argument_reaches_the_caller_as_in_numpy(n):
    def step(p, g):
        p -= 0.1 * g  # an in-place SGD update of the caller's parameters
        return np.sum(p * p)

    fast = dd.replay(step)
    p_fast = _points(n, 8, 1)[0]
    p_slow = p_fast.copy()
    for g in _points(n, 9, 3):
        assert fast(p_fast, g) == step(p_slow, g)
        _same_bits(p_fast, p_slow)
    assert fast.stats()["recordings"] == 1


def test_write_into_an_undifferentiated_argument_under_grad():
    def f(x, buf):
        buf[0] += 1.0  # a plain array in f: written in place
        buf *= 2.0
        return np.sum(x * buf)

    fast = dd.replay(dd.grad(f))
    b_fast, b_slow = np.zeros(3), np.zeros(3)
    for x in _points(3, 7, 2):
        _same_bits(fast(x, b_fast), dd.grad(f)(x, b_slow))
        _same_bits(b_fast, b_slow)


def test_write_into_an_argument_aliased_or_read_only():
    def step(p, q):
        p *= 2.0
        return np.sum(p + q)

    fast = dd.replay(step)
    a, b = np.ones(2), np.ones(2)
    assert fast(a, a) == step(b, b)  # the same array twice: the write is seen through q
    _same_bits(a, b)
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        dd.replay(step)(frozen, np.ones(2))


@pytest.mark.parametrize(
    "transform",
    [lambda f: (lambda x: dd.vjp(f, x)), lambda f: (lambda x: dd.linearize(f, x))],
)
def test_returned_functions_are_refused_by_name(transform):
    with pytest.raises(TypeError, match="returned a function.*dd.vjp"):
        dd.replay(transform(lambda x: np.sin(x)))(np.ones(2))


# -- adversarial review: differences from the direct call, each fixed ------------------------


def _outcome(fn, *args):
    """(value or error type, the warnings' categories and messages) of one call."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args)
        except Exception as e:  # noqa: BLE001
            result = type(e)
    return result, [(w.category, str(w.message)) for w in caught]


def _same_outcome(fast, fn, *args):
    got, want = _outcome(fast, *args), _outcome(fn, *args)
    assert got[1] == want[1]
    if isinstance(want[0], type):
        assert got[0] is want[0]
    else:
        _same_bits(got[0], want[0])


def test_python_number_as_the_only_argument():
    # the generated signature was "def _replay(_bufs, , *, ...)": a SyntaxError
    grad = dd.grad(lambda x: np.sin(x) * x)
    fast = dd.replay(grad)
    for x in (1.0, 2.0, np.float64(3.0)):
        _same_bits(fast(x), grad(x))


def test_bitwise_operators_of_boolean_arguments():
    def f(a, b):
        return ~a & b | (a ^ b)

    fast = dd.replay(f)
    rng = np.random.default_rng(1)
    for _ in range(3):
        a, b = rng.standard_normal(6) > 0, rng.standard_normal(6) > 0
        assert np.array_equal(fast(a, b), f(a, b))


def test_an_error_f_catches_at_the_new_point():
    # the recording's solve succeeded; at a singular matrix replay raised LinAlgError where f
    # catches it and returns zeros
    def f(a):
        try:
            return np.sum(np.linalg.solve(a, np.ones(3)))
        except np.linalg.LinAlgError:
            return np.sum(a) * 0.0

    for fn in (f, dd.grad(f)):
        fast = dd.replay(fn)
        for a in (np.eye(3), np.ones((3, 3)), 2 * np.eye(3), np.ones((3, 3))):
            _same_outcome(fast, fn, a)
    singular = dd.replay(dd.grad(lambda a: np.sum(np.linalg.inv(a))))
    singular(np.eye(3))
    with pytest.raises(np.linalg.LinAlgError):
        singular(np.ones((3, 3)))


def test_an_error_f_caught_at_recording_is_checked_at_replay():
    # det's gradient takes the cofactors where inv raises: recorded at a singular matrix, a
    # regular one must take inv's path (a guard that the call raises again); and a capture
    # took the traced path of the rule (signed zeros differed from the direct call's)
    grad = dd.grad(lambda a: np.linalg.det(a))
    fast = dd.replay(grad)
    for a in (np.ones((3, 3)), 2 * np.eye(3), np.ones((3, 3)), np.arange(9.0).reshape(3, 3)):
        _same_bits(fast(a), grad(a))


def test_warnings_and_errors_of_f_values_grad_does_not_read():
    # grad never reads log(x), so its call was dropped: no RuntimeWarning at a negative x, and
    # no FloatingPointError under the caller's errstate(all="raise")
    grad = dd.grad(lambda x: np.sum(np.log(x)))
    fast = dd.replay(grad)
    for x in (np.array([1.0, 2.0]), np.array([-1.0, 2.0]), np.array([0.0, 1.0])):
        _same_outcome(fast, grad, x)
        with np.errstate(all="raise"):
            _same_outcome(fast, grad, x)


def test_errstate_and_warnings_filters_set_inside_f():
    # replay ran f's calls under the caller's state, not the one f set around them
    import warnings

    def quiet_log(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.log(x)
        return np.sqrt(x) + np.where(np.isfinite(y), y, 0.0)

    def filtered_log(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = np.log(x)
        return np.sqrt(x) + y

    for f in (quiet_log, filtered_log):
        for fn in (f, dd.grad(lambda x, f=f: np.sum(f(x)))):
            fast = dd.replay(fn)
            for x in (np.array([1.0, 2.0]), np.array([-1.0, 0.0])):
                _same_outcome(fast, fn, x)


SCALE = 2.0
WEIGHTS = np.arange(4.0)


def test_rebound_global_and_closure_variables_record_again():
    # replay kept the recorded objects: a rebound global number or array gave stale answers
    global SCALE, WEIGHTS
    grad = dd.grad(lambda x: np.sum(x**2 * SCALE * WEIGHTS))
    fast = dd.replay(grad)
    x = np.linspace(0.5, 1.0, 4)
    try:
        _same_bits(fast(x), grad(x))
        SCALE = 3.0
        _same_bits(fast(x), grad(x))
        WEIGHTS = WEIGHTS + 1.0
        _same_bits(fast(x), grad(x))
    finally:
        SCALE, WEIGHTS = 2.0, np.arange(4.0)

    c = 1.0

    def f(x):
        return x * c

    fast = dd.replay(f)
    _same_bits(fast(x), f(x))
    c = 7.0
    _same_bits(fast(x), f(x))


def test_last_call_fast_path_falls_back_when_a_kind_changes():
    # a call with the last call's kinds of plain arrays reuses its signature without recursing;
    # any other shape, dtype, layout, writeability or argument takes the full path
    def f(x, p=3):
        return np.sum(x**p * 0.5)

    grad = dd.grad(f)
    fast = dd.replay(grad, max_recordings=32)
    base = np.linspace(0.5, 1.5, 6).reshape(2, 3)
    frozen = base.copy()
    frozen.flags.writeable = False
    wide = np.linspace(0.5, 1.5, 12).reshape(2, 6)
    kinds = [
        base,
        np.asfortranarray(base),  # same shape, Fortran order
        np.linspace(0.5, 1.5, 12).reshape(4, 3),  # another shape, the same strides
        frozen,  # read-only
        base.astype(np.float32),  # another dtype
        base.astype(">f8"),  # the same values big-endian
        wide[:, ::2],  # a view of the same shape with other strides
        np.arange(6).reshape(2, 3),  # integers
        np.array(0.75),  # 0-d
        base[0],  # one dimension
        base.reshape(1, 2, 3),  # a leading axis of one
    ]
    for i, x in enumerate(kinds):
        for _ in range(2):  # the second call is the fast path's
            _same_bits(fast(x), grad(x))
        assert fast.stats()["recordings"] == i + 1, i
        _same_bits(fast(base), grad(base))  # and back: replayed, not recorded again
        assert fast.stats()["recordings"] == i + 1, i
    before = fast.stats()
    for args, kwargs in [((base, 2), {}), ((base,), {"p": 2}), (((base,),), {})]:
        if type(args[0]) is tuple:  # a tuple of one array, not an array
            want = dd.grad(lambda t: f(t[0]))(*args)
            fast_t = dd.replay(dd.grad(lambda t: f(t[0])))
            _same_bits(fast_t(base), dd.grad(lambda t: f(t[0]))(base))
            _same_bits(fast_t(*args), want)
            _same_bits(fast_t(*args), want)
            continue
        _same_bits(fast(*args, **kwargs), grad(*args, **kwargs))
        _same_bits(fast(base), grad(base))
    assert fast.stats()["recordings"] == before["recordings"] + 2
    # the same array changed in place between calls: its shape, then its writeability
    x = base.copy()
    _same_bits(fast(x), grad(x))
    x.shape = (3, 2)
    _same_bits(fast(x), grad(x))
    x.flags.writeable = False
    _same_bits(fast(x), grad(x))
    assert fast.stats()["recordings"] == before["recordings"] + 4
    stats = fast.stats()
    assert stats["calls"] == stats["replays"] + stats["recordings"]


def test_last_call_fast_path_keeps_every_guard():
    # the signature found without recursing still runs the recording's guards and environment
    consts = np.array([1.0, 2.0, 3.0])
    scale = 2.0

    def f(x):
        y = x * consts * scale
        return y * 2.0 if np.sum(y) > 0 else -y

    fast = dd.replay(f)
    x = np.array([0.5, 1.0, 1.5])
    for point in (x, -x, x, -x):  # a branch flipping at every call
        _same_bits(fast(point), f(point))
    consts[1] = -5.0  # a constant changed in place
    _same_bits(fast(x), f(x))
    scale = -1.0  # a closure variable rebound
    _same_bits(fast(x), f(x))
    assert fast.stats()["recordings"] == 4
    assert fast.stats()["misses"] >= 3
