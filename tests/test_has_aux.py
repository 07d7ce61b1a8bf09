"""``has_aux=True`` in every transform that takes it (JAX's semantics), and ``hvp``'s extra
arguments.

f returns ``(out, aux)``: the transform differentiates ``out`` and returns aux as plain values.
Each test runs at a small size and a large one (16384 elements, where the buffer pool and
deferred values engage). Oracles: NumPy's value of f on plain arrays (aux included), finite
differences and the other mode, and ownership (nothing returned shares memory with the inputs
or with another result; the inputs are unchanged).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualdiff as dd
from dualdiff._tracer import Tracer
from tests import _fd
from tests._oracles import assert_owned
from tests._threads import in_threads

SIZES = [6, 16384]


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x(request, deferring):
    return np.random.default_rng(request.param).uniform(0.5, 1.5, request.param)


@pytest.fixture
def v(x):
    return np.random.default_rng(x.size + 1).standard_normal(x.size)




def plain(tree):
    """Every leaf of ``tree`` is a plain value: no tracer at any level."""
    return not any(isinstance(a, Tracer) for a in dd._tree.flatten(tree)[0])


# -- scalar loss: grad and value_and_grad ---------------------------------------------------------


def loss(x, scale=1.0):
    """A scalar loss and an aux holding a traced array, the input itself, a number, a label."""
    s = np.sin(x) * scale
    return np.sum(s * x), {"s": s, "x": x, "n": 3, "label": "sin"}


def loss_value(x, scale=1.0):
    return np.sum(np.sin(x) * scale * x)


def loss_grad(x, scale=1.0):
    return scale * (np.cos(x) * x + np.sin(x))


def check_loss_aux(aux, x, scale=1.0):
    assert plain(aux)
    assert set(aux) == {"s", "x", "n", "label"}
    np.testing.assert_array_equal(aux["s"], np.sin(x) * scale)
    np.testing.assert_array_equal(aux["x"], x)
    assert aux["n"] == 3 and aux["label"] == "sin"


def test_grad_has_aux(x, v):
    x0 = x.copy()
    g, aux = dd.grad(loss, has_aux=True)(x)
    np.testing.assert_allclose(g, loss_grad(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g @ v, _fd.slope(loss_value, x, v), rtol=1e-6)
    np.testing.assert_array_equal(g, dd.grad(loss_value)(x))
    check_loss_aux(aux, x)
    assert_owned((g, aux), (x,))
    np.testing.assert_array_equal(x, x0)


def test_value_and_grad_has_aux(x, v):
    x0 = x.copy()
    (value, aux), g = dd.value_and_grad(loss, has_aux=True)(x)
    np.testing.assert_allclose(value, loss_value(x), rtol=1e-12)
    np.testing.assert_allclose(g, loss_grad(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g @ v, _fd.slope(loss_value, x, v), rtol=1e-6)
    check_loss_aux(aux, x)
    assert_owned((value, g, aux), (x,))
    np.testing.assert_array_equal(x, x0)


def test_has_aux_with_keywords_and_argnums(x):
    def f(a, b, *, scale):
        return np.sum(a * np.sin(b)) * scale, b * 2.0

    b = x[::-1].copy()
    (ga, gb), aux = dd.grad(f, argnums=(0, 1), has_aux=True)(x, b, scale=3.0)
    np.testing.assert_allclose(ga, 3.0 * np.sin(b), rtol=1e-13)
    np.testing.assert_allclose(gb, 3.0 * x * np.cos(b), rtol=1e-13)
    np.testing.assert_array_equal(aux, b * 2.0)
    assert_owned((ga, gb, aux), (x, b))


def test_aux_of_a_deferred_value_is_computed(x):
    """At large sizes the loss's last ops are deferred: an aux reading them gets their value."""

    def f(x):
        squares = x * x
        return np.sum(squares), (squares, np.sum(squares))

    g, (squares, total) = dd.grad(f, has_aux=True)(x)
    np.testing.assert_array_equal(squares, x * x)
    np.testing.assert_allclose(total, np.sum(x * x), rtol=1e-13)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-15)
    assert_owned((g, squares), (x,))


# -- Jacobians: f(w, x) in R^2, w small (forward mode stays cheap), x of the test's size -----------


W = np.array([0.7, -1.3, 0.4])


def two(w, x):
    """R^3 x R^n -> R^2 and an aux (the traced intermediate, the input x, a float)."""
    y = np.sin(x) * w[2]
    return w[:2] * np.sum(y), {"y": y, "x": x, "w2": w[2]}


def two_out(w, x):
    return w[:2] * np.sum(np.sin(x) * w[2])


def check_two_aux(aux, w, x):
    assert plain(aux)
    np.testing.assert_array_equal(aux["y"], np.sin(x) * w[2])
    np.testing.assert_array_equal(aux["x"], x)
    assert aux["w2"] == w[2]


def two_jac_w(w, x):
    s = np.sum(np.sin(x))
    return np.array([[w[2] * s, 0, w[0] * s], [0, w[2] * s, w[1] * s]])


def two_jac_x(w, x):
    return np.outer(w[:2], w[2] * np.cos(x))


JACOBIANS = {
    "jacfwd": lambda **kw: dd.jacfwd(two, argnums=(0, 1), **kw),
    "jacrev": lambda **kw: dd.jacrev(two, argnums=(0, 1), **kw),
    "jacobian-auto": lambda **kw: dd.jacobian(two, argnums=(0, 1), **kw),
    "jacobian-forward": lambda **kw: dd.jacobian(two, argnums=(0, 1), mode="forward", **kw),
    "jacobian-reverse": lambda **kw: dd.jacobian(two, argnums=(0, 1), mode="reverse", **kw),
}


@pytest.mark.parametrize("name", JACOBIANS)
def test_jacobians_has_aux(name, x, v):
    if name in ("jacfwd", "jacobian-forward") and x.size > 6:
        pytest.skip("the input basis of x is n x n: forward mode over x is for the small size")
    w, x0 = W.copy(), x.copy()
    (jw, jx), aux = JACOBIANS[name](has_aux=True)(w, x)
    np.testing.assert_allclose(jw, two_jac_w(w, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jw, _fd.jacobian(lambda w_: two_out(w_, x), w), rtol=1e-6)
    np.testing.assert_allclose(jx, two_jac_x(w, x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jx @ v, _fd.slope(lambda x_: two_out(w, x_), x, v), rtol=1e-6)
    check_two_aux(aux, w, x)
    assert_owned((jw, jx, aux), (w, x))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, W)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_has_aux_forward_equals_reverse_over_the_small_argument(mode, x):
    jac = dd.jacobian(two, argnums=0, mode=mode, has_aux=True)
    J, aux = jac(W, x)
    Jf, _ = dd.jacfwd(two, has_aux=True)(W, x)
    Jr, _ = dd.jacrev(two, has_aux=True)(W, x)
    np.testing.assert_allclose(J, Jf, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(J, Jr, rtol=1e-13, atol=1e-13)
    check_two_aux(aux, W, x)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("executor", [None, "threads"])
def test_jacobian_aux_is_the_current_calls_with_a_kept_plan(mode, executor, x):
    """The plan is kept per shapes; the aux still comes from this call's f, not the first's,
    also when an executor runs every pass on its threads (chunks of one direction)."""
    with ThreadPoolExecutor(2) as pool:
        jac = dd.jacobian(two, mode=mode, chunk_size=1, has_aux=True,
                          executor=pool if executor else None)  # fmt: skip
        for w in (W, 2 * W, -W):
            J, aux = jac(w, x)
            np.testing.assert_allclose(J, two_jac_w(w, x), rtol=1e-12, atol=1e-12)
            check_two_aux(aux, w, x)
            assert_owned((J, aux), (w, x))


def test_jacobian_has_aux_keywords(x):
    def f(w, x, *, shift):
        return w[:2] * np.sum(np.sin(x + shift)), np.cos(x + shift)

    for shift in (0.0, 0.5):
        J, aux = dd.jacobian(f, has_aux=True)(W, x, shift=shift)
        s = np.sum(np.sin(x + shift))
        np.testing.assert_allclose(J, [[s, 0, 0], [0, s, 0]], rtol=1e-13)
        np.testing.assert_array_equal(aux, np.cos(x + shift))


def test_jacobian_has_aux_in_threads():
    """One transform called from several threads at once: each call gets its own aux."""
    jac = dd.jacobian(two, mode="reverse", has_aux=True)
    xs = [np.linspace(0.1, 1.0 + i, 6) for i in range(4)]

    def work(i):
        return [jac(W * (i + 1), xs[i]) for _ in range(20)]

    for i, results in enumerate(in_threads(work, 4)):
        for J, aux in results:
            np.testing.assert_allclose(J, two_jac_w(W * (i + 1), xs[i]), rtol=1e-12)
            check_two_aux(aux, W * (i + 1), xs[i])


def test_hessian_has_aux(x):
    x = x[:6]

    def f(x):
        return np.sum(x**3), x**2

    H, aux = dd.hessian(f, has_aux=True)(x)
    np.testing.assert_allclose(H, np.diag(6 * x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(H, dd.jacfwd(dd.jacrev(lambda y: np.sum(y**3)))(x), rtol=1e-13)
    np.testing.assert_array_equal(aux, x**2)
    assert plain(aux)
    assert_owned((H, aux), (x,))


# -- vjp and jvp --------------------------------------------------------------------------------


def vec(x):
    y = np.exp(np.sin(x))
    return y * x, (y, x)


def vec_out(x):
    return np.exp(np.sin(x)) * x


def test_vjp_has_aux(x, v):
    x0 = x.copy()
    out, pullback, aux = dd.vjp(vec, x, has_aux=True)
    np.testing.assert_allclose(out, vec_out(x), rtol=1e-14)
    y, x_aux = aux
    np.testing.assert_allclose(y, np.exp(np.sin(x)), rtol=1e-14)
    np.testing.assert_array_equal(x_aux, x)
    ct = np.cos(np.arange(x.size))
    (g,) = pullback(ct)
    (g2,) = pullback(ct)  # a second sweep of the same recording
    np.testing.assert_array_equal(g, g2)
    np.testing.assert_allclose(g @ v, ct @ _fd.slope(vec_out, x, v), rtol=1e-6)
    _, t = dd.jvp(vec_out, (x,), (v,))
    np.testing.assert_allclose(g @ v, ct @ t, rtol=1e-12)  # reverse against forward
    assert plain(aux)
    assert_owned((out, g, g2, aux), (x, ct))
    np.testing.assert_array_equal(x, x0)


def test_jvp_has_aux(x, v):
    x0, v0 = x.copy(), v.copy()
    out, t, aux = dd.jvp(vec, (x,), (v,), has_aux=True)
    np.testing.assert_allclose(out, vec_out(x), rtol=1e-14)
    np.testing.assert_allclose(t, _fd.slope(vec_out, x, v), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(t, dd.jvp(vec_out, (x,), (v,))[1])
    y, x_aux = aux
    np.testing.assert_allclose(y, np.exp(np.sin(x)), rtol=1e-14)
    np.testing.assert_array_equal(x_aux, x)
    assert plain(aux)
    assert_owned((out, t, aux), (x, v))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)


def test_aux_inside_an_outer_transform_keeps_only_the_outer_tracer(x):
    """This transform's level is stripped; the outer jvp's stays (JAX's semantics), so the
    outer transform differentiates the aux too."""
    x = x[:6]
    seen = []

    def outer(a):
        g, aux = dd.grad(lambda b: (np.sum(b**2 * a), b * a), has_aux=True)(a)
        seen.append(aux)
        return g

    _, t = dd.jvp(outer, (x,), (np.ones(6),))
    np.testing.assert_allclose(t, 4 * x, rtol=1e-13)  # g = 2 b a at b = a: d/da 2 a^2
    aux = seen[0]
    assert type(aux) is dd.Dual  # the outer jvp's tracer: b * a at b = a is a * a
    np.testing.assert_array_equal(aux.value, x * x)
    np.testing.assert_allclose(aux.tangent[0], 2 * x, rtol=1e-14)


# -- errors ---------------------------------------------------------------------------------------

NOT_PAIRS = [
    (lambda x: x * 2, r"one array of shape \(3,\)"),
    (lambda x: (np.sum(x),), "a tuple of length 1"),
    (lambda x: (np.sum(x), x, x), "a tuple of length 3"),
    (lambda x: None, "None"),
]

CALLS = {
    "grad": lambda f, x: dd.grad(f, has_aux=True)(x),
    "value_and_grad": lambda f, x: dd.value_and_grad(f, has_aux=True)(x),
    "jacfwd": lambda f, x: dd.jacfwd(f, has_aux=True)(x),
    "jacrev": lambda f, x: dd.jacrev(f, has_aux=True)(x),
    "jacobian": lambda f, x: dd.jacobian(f, has_aux=True)(x),
    "hessian": lambda f, x: dd.hessian(f, has_aux=True)(x),
    "vjp": lambda f, x: dd.vjp(f, x, has_aux=True),
    "jvp": lambda f, x: dd.jvp(f, (x,), (x,), has_aux=True),
    "linearize": lambda f, x: dd.linearize(f, x, has_aux=True),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("f, what", NOT_PAIRS)
def test_f_that_does_not_return_a_pair_is_refused_by_name(name, f, what):
    with pytest.raises(TypeError, match=rf"dd\.{name}: with has_aux=True, .*returned {what}"):
        CALLS[name](f, np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("name", ["jacobian", "hessian"])
def test_sparse_has_aux_is_refused_by_name(name):
    with pytest.raises(ValueError, match=rf"dd\.{name}: has_aux=True is not supported with sparse"):
        getattr(dd, name)(lambda x: (np.sum(x**2), x), sparse=True, has_aux=True)


# -- hvp with extra arguments -------------------------------------------------------------------


def scaled(x, a, b=1.0, *, p=3):
    return np.sum(a * x**p) + b * np.sum(np.sin(x))


def test_hvp_passes_extra_arguments(x, v):
    x0, v0 = x.copy(), v.copy()
    a = 0.5 + np.arange(x.size) / x.size  # an array argument, not differentiated
    hv = dd.hvp(scaled, x, v, a, 2.0, p=4)
    want = (12 * a * x**2 - 2.0 * np.sin(x)) * v
    np.testing.assert_allclose(hv, want, rtol=1e-12, atol=1e-12)
    gradient = dd.grad(scaled)
    fd = _fd.slope(lambda y: gradient(y, a, 2.0, p=4), x, v)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6)
    assert_owned((hv,), (x, v, a))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)


def test_hvp_with_arguments_equals_the_hessian(x):
    x = x[:6]
    v = np.linspace(-1, 1, 6)
    H = dd.hessian(scaled)(x, 1.5, b=0.5, p=3)
    np.testing.assert_allclose(dd.hvp(scaled, x, v, 1.5, b=0.5, p=3), H @ v, rtol=1e-13)
    # a keyword named like hvp's own parameters reaches f
    hv = dd.hvp(lambda y, x=1.0, v=1.0: x * v * np.sum(y**2), x, v, x=2.0, v=3.0)
    np.testing.assert_allclose(hv, 12.0 * v, rtol=1e-15)


def test_an_inner_transforms_aux_is_differentiated_by_an_outer_one():
    # the aux keeps the outer transform's tracers (JAX's semantics): no silent zero derivative
    x = np.array([0.3, -0.7, 1.1])

    def f(x):
        return np.sum(x**2), np.sin(x) * 2.0

    def aux_of(x):
        return dd.grad(f, has_aux=True)(x)[1]

    np.testing.assert_allclose(aux_of(x), 2.0 * np.sin(x), rtol=1e-15)
    J = dd.jacfwd(aux_of)(x)
    np.testing.assert_allclose(J, np.diag(2.0 * np.cos(x)), rtol=1e-14)
    np.testing.assert_allclose(dd.jacrev(aux_of)(x), J, rtol=1e-14)
    np.testing.assert_allclose(J, _fd.jacobian(aux_of, x), rtol=1e-6, atol=1e-8)
    _, t = dd.jvp(lambda x: dd.value_and_grad(f, has_aux=True)(x)[0][1], (x,), (np.ones(3),))
    np.testing.assert_allclose(t, 2.0 * np.cos(x), rtol=1e-14)
