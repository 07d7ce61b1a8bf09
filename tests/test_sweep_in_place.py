"""The sweep's memory reuse at sizes where it switches on (``_batch.IN_PLACE_MIN`` elements).

Above that size the sweep writes cotangents into arrays it owns, into new arrays a partial
made, and keeps a uniform cotangent (a broadcast scalar) as a broadcast. Each function here
mixes those cases with the ones where writing would be wrong (a cotangent handed to two
parents, a partial that returns an input or the answer, a user's seed); reverse mode must agree
with forward mode, which shares none of that code, and must leave every input untouched.
"""

import numpy as np
import pytest

import dualdiff as dd
from dualdiff._batch import IN_PLACE_MIN

N = IN_PLACE_MIN + 17

FUNCTIONS = {
    "rosenbrock": lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
    "shared subexpression": lambda x: np.sum((y := np.sin(x)) * y + np.exp(y) - y),
    "x times x": lambda x: np.sum(x * x * 3.0),
    "difference of uses": lambda x: np.sum(np.tanh(x) - x * 2.0 - (1.0 - x) ** 3),
    "partial is an input": lambda x: np.sum(np.exp(x) * np.cos(x) * x),
    "scaled uniform": lambda x: 2.5 * np.sum(-(4.0 * x) / 3.0),
    "mean and broadcasting": lambda x: np.mean(x.reshape(-1, 1) * np.ones((1, 3)) + x[:, None]),
    "maximum (a boolean partial)": lambda x: np.sum(np.maximum(x, 0.1) ** 2),
    "reused leaf slices": lambda x: np.sum(x[2:] * x[:-2] - x[1:-1] ** 2 + x[::2].sum()),
    "float32 pieces": lambda x: np.sum(np.sin(x.astype(np.float32)).astype(np.float64) * x),
    # deferred scales (dualdiff/_scaled.py): negations, constant factors and 2 * x partials
    "negation shared by two parents": lambda x: np.sum(
        np.exp((u := x * 1.5) - (w := np.sin(x))) * u * w
    ),
    "scaled squares into slices": lambda x: np.sum(
        3.0 * (x[1:] - x[:-1]) ** 2 + 7.0 * np.square(x[:-1] - 0.5)
    ),
    "scaled cotangents meet in one slot": lambda x: (
        np.sum(4.0 * (x - 1.0) ** 2) + np.sum(-x * 2.0) + np.sum(5.0 * x**2 - x / 3.0)
    ),
    "scaled into other rules": lambda x: np.sum(3.0 * (np.cumsum(x) * 1e-3 - 1.0) ** 2),
    "scaled and broadcast": lambda x: np.sum(2.0 * (x.reshape(-1, 1) - np.arange(3.0)) ** 2),
    "scaled 2-d slices": lambda x: np.sum(
        5.0 * ((m := x[: x.size // 4 * 4].reshape(-1, 4))[1:, :3] - m[:-1, 1:]) ** 2
    ),
    "constant factors": lambda x: np.sum(np.sin(x) * 3.0 * -2.0 / 4.0 - (x * 0.5) ** 2),
    "square of a shared base": lambda x: np.sum((y := x * 2.0) ** 2 * y + y**2),
    "float32 negation": lambda x: np.sum(
        np.sin(1.0 - x.astype(np.float32) * np.float32(2.0)).astype(np.float64) * x
    ),
}


@pytest.fixture
def point():
    rng = np.random.default_rng(7)
    return rng.uniform(0.2, 0.9, N), rng.standard_normal(N)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_reverse_matches_forward_and_leaves_inputs_alone(name, point):
    f = FUNCTIONS[name]
    x, v = point
    x0 = x.copy()
    g = dd.grad(f)(x)
    _, directional = dd.jvp(f, (x,), (v,))
    rtol = 1e-5 if "float32" in name else 1e-10
    np.testing.assert_allclose(np.vdot(g, v), directional, rtol=rtol)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dd.grad(f)(x), g)  # nothing left behind changes a rerun


def test_a_users_cotangent_is_not_written_into(point):
    x, _ = point
    ct = np.linspace(1.0, 2.0, N)
    ct0 = ct.copy()
    out, pullback = dd.vjp(lambda x: np.sin(x) * 3.0 - x, x)
    (g,) = pullback(ct)
    np.testing.assert_array_equal(ct, ct0)
    np.testing.assert_allclose(g, ct * (3.0 * np.cos(x) - 1.0))
    np.testing.assert_array_equal(pullback(ct)[0], g)  # the tape is swept again, unchanged


def test_a_users_cotangent_is_not_written_into_through_a_reshape(point):
    # the reshape's pullback hands on a view of the caller's cotangent: not the sweep's to
    # write into when sin's contribution is added to the same slot
    x, _ = point
    x = x[: 4 * (N // 4)]

    def f(x):
        y = x * 1.0
        return y.reshape(4, -1) + np.sin(y).reshape(4, -1)

    ct = np.linspace(1.0, 2.0, x.size).reshape(4, -1)
    ct0 = ct.copy()
    (g,) = dd.vjp(f, x)[1](ct)
    np.testing.assert_array_equal(ct, ct0)
    np.testing.assert_allclose(g, ct0.ravel() * (1.0 + np.cos(x)), rtol=1e-14)


def test_batched_cotangents_and_second_order(point):
    x, v = point
    f = FUNCTIONS["rosenbrock"]
    small = x[:50]
    j_rev = dd.jacrev(lambda x: np.tanh(x) * x[::-1] * 2.0)(small)
    j_fwd = dd.jacfwd(lambda x: np.tanh(x) * x[::-1] * 2.0)(small)
    np.testing.assert_allclose(j_rev, j_fwd, rtol=1e-12)
    # hvp sweeps Dual cotangents; compare with the directional derivative of the gradient
    hv = dd.hvp(f, x, v)
    eps = 1e-6
    fd = (dd.grad(f)(x + eps * v) - dd.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "shape, index",
    [
        ((1, N), (slice(None), slice(1, None))),
        ((1, N), (slice(None), slice(None, -1))),
        ((2, 200, 150), (slice(None), slice(3, 190), slice(10, 20))),
        ((1, 300, 100), (slice(None), slice(5, 5))),
        ((1, 300, 100), (slice(None), slice(-10, None))),
        ((1, 300, 100), (slice(None), slice(None, None, 2))),
    ],
)
def test_a_scattered_slice_is_zero_outside_it_even_in_a_reused_buffer(shape, index):
    from dualdiff._batch import Scatter
    from dualdiff.large.sweep import dense_scatter

    values = np.random.default_rng(1).standard_normal(np.zeros(shape)[index].shape)
    expected = np.zeros(shape)
    expected[index] = values
    dirty = dense_scatter(Scatter(shape, index, values))
    dirty[...] = 7.0  # the pool hands this buffer out again below
    del dirty
    np.testing.assert_array_equal(dense_scatter(Scatter(shape, index, values)), expected)


def _shared_cotangent(x):
    q = np.sin(x)
    a = x[:]  # its cotangent reaches x while x and q hold the one Dual that x + q passed on
    return np.sum(a * (x + q))


def _slices_and_whole_uses(x):
    # slot x receives Dual slice cotangents (scattered in place into a Dual the sweep made)
    # and whole-array cotangents (which replace that Dual by a sum) in alternation
    return (
        np.sum(x[1:] ** 3)
        + np.sum(np.sin(x) * x)
        + np.sum(x[:-1] ** 2 * x[1:])
        + np.sum(np.exp(-x) * 0.5)
        + np.sum(x[2:] * x[:-2] ** 2)
    )


@pytest.mark.parametrize("f", [_shared_cotangent, _slices_and_whole_uses])
@pytest.mark.parametrize("n", [7, N])
def test_hvp_through_slices_mixed_with_whole_array_uses(f, n):
    rng = np.random.default_rng(3)
    x, v = rng.uniform(0.1, 1.0, n), rng.standard_normal(n)
    hv = dd.hvp(f, x, v)
    eps = 1e-6
    fd = (dd.grad(f)(x + eps * v) - dd.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-5)
    if n < 50:
        np.testing.assert_allclose(hv, dd.hessian(f)(x) @ v, rtol=1e-10, atol=1e-12)


def test_reverse_over_reverse_at_a_large_size(point):
    # the inner sweep's partials are Vars of the outer tape: none of them is written into
    x, _ = point
    f = FUNCTIONS["partial is an input"]
    outer = dd.grad(lambda x: np.sum(dd.grad(f)(x) * x))(x)
    expected = dd.hvp(f, x, x) + dd.grad(f)(x)
    np.testing.assert_allclose(outer, expected, rtol=1e-10, atol=1e-12)


def test_the_tape_keeps_what_each_partial_reads():
    from dualdiff._registry import UFUNC_KEEP, _reads

    # (ans, x, y) flags for the traced-inputs mask: x alone (1), y alone (2), both (3)
    assert UFUNC_KEEP[np.multiply][1] == (False, False, True)  # d/dx (x * y) = y
    assert UFUNC_KEEP[np.multiply][3] == (False, True, True)
    assert UFUNC_KEEP[np.add][3] == (False, False, False)  # linear: nothing
    assert UFUNC_KEEP[np.exp][1] == (True, False)  # d exp = ans
    assert UFUNC_KEEP[np.sin][1] == (False, True)  # d sin = cos(x)
    assert UFUNC_KEEP[np.true_divide][2] == (True, False, True)  # -ans / y

    def captured(ans, x):
        return lambda: x  # read by an inner function

    assert _reads(captured, 1) == (False, True)
    assert _reads(np.cos, 1) == (True, True)  # not Python code: keep everything
    assert _reads(lambda *a: a[0], 1) == (True, True)


def test_batched_cotangents_scaled_into_strided_slices(point):
    x, _ = point

    def f(x):
        return (x[1:] - x[:-1] ** 2)[:3] * 2.0 - x[-3:] * 0.5

    J = dd.jacrev(f)(x)  # three rows pulled back in one sweep
    for v in np.random.default_rng(3).standard_normal((2, x.size)):
        np.testing.assert_allclose(J @ v, dd.jvp(f, (x,), (v,))[1], rtol=1e-10)


def test_tensor_grads_of_scaled_cotangents(point):
    x, _ = point
    t = dd.tensor(x, requires_grad=True)
    u = t - 1.0
    u.retain_grad()
    loss = (3.0 * u**2).sum() + (-t * 2.0).sum()
    loss.backward()
    np.testing.assert_allclose(u.grad, 6.0 * (x - 1.0), rtol=1e-12)
    np.testing.assert_allclose(t.grad, 6.0 * (x - 1.0) - 2.0, rtol=1e-12)
    assert not np.shares_memory(t.grad, u.grad)


def _slices_onto_a_negated_dual(x):
    # the sweep puts a negated Dual (a Scaled one) into u's slot first, then scatters u's
    # slices into that slot (found by the random programs of tests/test_defer.py)
    u = x * 0.5
    w = u * 1.5
    return np.sum((np.concatenate([u[1:], u[:1]]) * w) ** 2) + np.sum((w - (u + 2.0)) ** 2)


HVP_FUNCTIONS = {
    **{name: FUNCTIONS[name] for name in ("rosenbrock", "difference of uses", "x times x")},
    **{n: FUNCTIONS[n] for n in FUNCTIONS if ("scaled" in n or "negation" in n) and "32" not in n},
    "negation into a non-elementwise rule": lambda x: np.sum(np.cumsum(-(x**2)) * 1e-3),
    "negation into a nonlinear partial": lambda x: np.sum((1.0 - np.sin(x)) ** 3),
    "plain and Dual cotangents meeting": lambda x: (
        np.sum(x) + np.sum(-(x * 3.0)) + np.sum(-((-x) ** 2)) - np.sum(np.sin(-x) * x)
    ),
    "negations meeting in one slot": lambda x: np.sum(np.sin(-x) * (3.0 - x) ** 2 - x**3),
    "a negated Dual meeting a plain cotangent": lambda x: (
        np.sum((w := -(u := np.sin(x))) ** 2) + np.sum(w * 3.0) + np.sum(u * 3.0)
    ),
    "negation of a broadcast parent": lambda x: np.sum(
        (x.reshape(-1, 1) - np.sin(x[:3])) ** 2 * np.arange(1.0, 4.0)
    ),
    "slices scattered onto a negated Dual": _slices_onto_a_negated_dual,
}


@pytest.mark.parametrize("name", HVP_FUNCTIONS)
def test_hvp_with_deferred_scales_matches_without(name, point):
    # forward over reverse defers scales of Dual cotangents (a Scaled of a Dual: -g, and a
    # uniform cotangent times 2 * x) into the next partial or scatter; with that turned off
    # every one is computed at once
    f = HVP_FUNCTIONS[name]
    x, v = point
    x0 = x.copy()
    h = dd.hvp(f, x, v)
    with dd.engine_options(scale=False):
        np.testing.assert_allclose(h, dd.hvp(f, x, v), rtol=1e-10, atol=1e-10)
    eps = 1e-6
    fd = (dd.grad(f)(x + eps * v) - dd.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, x0)


def test_hvp_of_scaled_sweeps(point):
    x, v = point
    f = FUNCTIONS["scaled squares into slices"]
    eps = 1e-6
    fd = (dd.grad(f)(x + eps * v) - dd.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(dd.hvp(f, x, v), fd, rtol=1e-6, atol=1e-6)


def test_a_constant_partial_does_not_let_two_parents_share_a_writable_array(point):
    # No built-in two-input rule has a constant non-linear partial, but a registered one may:
    # g * 2.0 and g * 3.0 both defer to g's array, so neither parent may write into it.
    # The sine is recorded last, so it is pulled back (writing in place, if it owned g)
    # before the exponential reads its share.
    from dualdiff._registry import UFUNC_KEEP, UFUNC_PARTIALS, defpartials

    x, v = point
    saved = UFUNC_PARTIALS[np.add], UFUNC_KEEP[np.add]
    defpartials(np.add, lambda ans, x, y: 2.0, lambda ans, x, y: 3.0)
    try:

        def f(x):
            e = np.exp(x)
            return np.sum(np.sin(np.sin(x) + e))  # the outer sine's pullback makes g

        g = dd.grad(f)(x)
    finally:
        UFUNC_PARTIALS[np.add], UFUNC_KEEP[np.add] = saved
    outer = np.cos(np.sin(x) + np.exp(x))
    np.testing.assert_allclose(g, outer * (2.0 * np.cos(x) + 3.0 * np.exp(x)), rtol=1e-12)


def test_tensor_grads_accumulate_over_retained_sweeps(point):
    x, _ = point
    t = dd.tensor(x, requires_grad=True)
    loss = (4.0 * (1.0 - t) ** 2).sum() + (-(t * 3.0)).sum()
    loss.backward(retain_graph=True)
    first = t.grad.copy()
    loss.backward()  # .grad accumulates; the retained graph's arrays are unchanged
    np.testing.assert_allclose(first, -8.0 * (1.0 - x) - 3.0, rtol=1e-12)
    np.testing.assert_allclose(t.grad, 2 * first, rtol=1e-12)
    np.testing.assert_array_equal(x, point[0])


@pytest.mark.parametrize("n", [8, 300])
def test_small_ops_swept_with_a_large_batch_of_directions(n):
    # jacrev pulls the whole output basis at once: k = 4 n directions through ops on arrays of
    # n elements, so the cotangents are large while every recorded value is small; the store
    # then sweeps those nodes in place, pending scales included (-g, 3 * g, x - y)
    A = np.random.default_rng(5).standard_normal((4 * n, n)) / np.sqrt(n)
    x = np.random.default_rng(6).uniform(-1.0, 1.0, n)
    x0, A0 = x.copy(), A.copy()

    def f(x):
        u = A @ x
        v = 3.0 * np.sin(u) - np.tanh(u) * u
        return -(v - u**2) * 0.5 + np.exp(-v)

    jr = dd.jacrev(f)(x)
    jf = dd.jacfwd(f)(x)
    with dd.engine_options(large=False):
        j_ref = dd.jacrev(f)(x)
    np.testing.assert_allclose(jr, jf, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jr, j_ref, rtol=1e-12, atol=1e-12)
    h = 1e-6
    fd = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(jr, fd, rtol=1e-6, atol=1e-6)
    assert not np.shares_memory(jr, x) and not np.shares_memory(jr, A)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(A, A0)
