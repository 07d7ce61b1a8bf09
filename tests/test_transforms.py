"""The functional API: shapes, structures, nesting to any order, threads."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualdiff as dd
from dualdiff._tracer import innermost
from tests._threads import in_threads

X = np.array([0.3, -1.2, 2.0])


def f_scalar(x):
    return np.sum(np.sin(x) * x**2)


def df_scalar(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def test_grad_matches_analytic():
    np.testing.assert_allclose(dd.grad(f_scalar)(X), df_scalar(X), rtol=1e-12)


def test_value_and_grad():
    value, g = dd.value_and_grad(f_scalar)(X)
    assert value == pytest.approx(f_scalar(X))
    np.testing.assert_allclose(g, df_scalar(X), rtol=1e-12)


def test_grad_of_python_float_and_0d():
    assert float(dd.grad(lambda x: x**3)(2.0)) == pytest.approx(12.0)
    assert float(dd.grad(lambda x: np.exp(x))(np.array(0.5))) == pytest.approx(np.exp(0.5))


def test_tuple_argnums():
    gx, gy = dd.grad(lambda x, y: np.sum(x * y**2), argnums=(0, 1))(X, 2 * X)
    np.testing.assert_allclose(gx, (2 * X) ** 2)
    np.testing.assert_allclose(gy, 2 * X * (2 * X))


def test_structured_arguments_come_back_in_the_same_structure():
    params = {"w": np.array([1.0, 2.0]), "b": (np.array(0.5), [np.array([3.0])])}

    def loss(p):
        return np.sum(p["w"] ** 2) * p["b"][0] + np.sum(p["b"][1][0])

    g = dd.grad(loss)(params)
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple) and isinstance(g["b"][1], list)
    np.testing.assert_allclose(g["w"], 2 * params["w"] * 0.5)
    np.testing.assert_allclose(g["b"][0], 5.0)
    np.testing.assert_allclose(g["b"][1][0], [1.0])


def test_gradient_of_unused_argument_is_zero():
    g = dd.grad(lambda x, y: np.sum(x), argnums=1)(X, np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_jvp_and_vjp_agree_with_jacobians():
    f = lambda x: np.tanh(x) * x[::-1]  # noqa: E731
    v, u = np.array([1.0, 0.5, -2.0]), np.array([0.1, 0.2, 0.3])
    J = dd.jacfwd(f)(X)
    out, jv = dd.jvp(f, (X,), (v,))
    np.testing.assert_allclose(out, f(X))
    np.testing.assert_allclose(jv, J @ v, rtol=1e-12)
    out, pullback = dd.vjp(f, X)
    np.testing.assert_allclose(pullback(u)[0], u @ J, rtol=1e-12)
    np.testing.assert_allclose(dd.jacrev(f)(X), J, rtol=1e-12)


def test_jacobian_shapes_follow_out_then_in():
    x = np.arange(6.0).reshape(2, 3) / 10
    f = lambda x: np.sin(x)[:, :, None] * np.ones(4)  # noqa: E731
    fd = dd.jacfwd(f)(x)
    assert fd.shape == (2, 3, 4, 2, 3)
    np.testing.assert_allclose(dd.jacrev(f)(x), fd, rtol=1e-12)
    for mode in ("forward", "reverse", "auto"):
        np.testing.assert_allclose(dd.jacobian(f, mode=mode)(x), fd, rtol=1e-12)


def test_hessian_and_hvp():
    f = lambda x: np.sum(x[0] ** 2 * np.exp(x[1]) * x)  # noqa: E731
    H = dd.hessian(f)(X)
    fd = np.array([(dd.grad(f)(X + 1e-6 * e) - dd.grad(f)(X - 1e-6 * e)) / 2e-6 for e in np.eye(3)])
    np.testing.assert_allclose(H, fd.T, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)
    v = np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(dd.hvp(f, X, v), H @ v, rtol=1e-12)


@pytest.mark.parametrize("outer", [dd.jacfwd, dd.jacrev])
@pytest.mark.parametrize("inner", [dd.jacfwd, dd.jacrev])
def test_fourth_derivative_of_sin_in_every_nesting(outer, inner):
    d2 = lambda g: lambda x: outer(inner(g))(x)  # noqa: E731
    x = np.array(0.7)
    assert float(d2(d2(np.sin))(x)) == pytest.approx(np.sin(0.7), rel=1e-12)


def test_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] at any point is 1: the inner derivative must not see x's tangent.
    for outer in (dd.grad, lambda f: lambda x: dd.jvp(f, (x,), (1.0,))[1]):
        for inner in (dd.grad, lambda f: lambda y: dd.jvp(f, (y,), (1.0,))[1]):
            d = outer(lambda x, inner=inner: x * inner(lambda y: x + y)(np.array(2.0)))(1.0)
            assert float(d) == pytest.approx(1.0)


def test_eight_threads_get_serial_results():
    def work(i):
        f = lambda x: np.sum(np.sin(i * x) * x ** (i % 3 + 1))  # noqa: E731
        x = np.linspace(0.1, 1.0, 5) + i
        return dd.hessian(f)(x), dd.grad(f)(x)

    serial = [work(i) for i in range(8)]

    def run(i):
        for _ in range(20):
            result = work(i)
        return result

    for (h, g), (hs, gs) in zip(in_threads(run, 8), serial):
        np.testing.assert_array_equal(h, hs)
        np.testing.assert_array_equal(g, gs)


def test_nan_in_a_derivative_propagates_like_numpy():
    with np.errstate(divide="ignore", invalid="ignore"):
        g = dd.grad(lambda x: np.sum(np.sqrt(x)))(np.array([0.0, 4.0]))
    assert np.isinf(g[0]) and g[1] == pytest.approx(0.25)


def test_integer_inputs_are_promoted_to_float64():
    g = dd.grad(lambda x: np.sum(x**2))(np.array([1, 2, 3]))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


def test_dual_public_constructor():
    d = dd.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert d.tangent.shape == (1, 2)
    y = d * d + 1.0
    np.testing.assert_array_equal(y.value, [2.0, 5.0])
    np.testing.assert_array_equal(y.tangent, [[2.0, 0.0]])
    batched = dd.Dual(np.array([1.0, 2.0]), np.eye(2))
    np.testing.assert_array_equal(np.exp(batched).tangent, np.diag(np.exp([1.0, 2.0])))
    assert dd.Dual(3.0, 1.0).value.shape == ()


def test_dual_operators_and_attributes():
    d = dd.Dual(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)))
    assert d.shape == (2, 2) and d.ndim == 2 and d.dtype == np.float64 and len(d) == 2
    np.testing.assert_array_equal((-d).value, -d.value)
    np.testing.assert_array_equal(abs(-d).tangent, np.ones((1, 2, 2)))
    np.testing.assert_array_equal((2.0 / d).tangent[0], -2.0 / d.value**2)
    np.testing.assert_array_equal((d**2).tangent[0], 2 * d.value)
    np.testing.assert_array_equal((d > 2.5), [[False, False], [True, True]])
    np.testing.assert_array_equal(d.T.value, d.value.T)
    np.testing.assert_array_equal(d.sum().tangent, [4.0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6))
def test_grad_of_polynomial_property(values):
    x = np.array(values)
    g = dd.grad(lambda x: np.sum(3 * x**3 - x**2 + 2 * x))(x)
    np.testing.assert_allclose(g, 9 * x**2 - 2 * x + 2, rtol=1e-12, atol=1e-12)


def test_reshape_method_keeps_its_order_argument():
    x = np.arange(6.0).reshape(2, 3)
    out, t = dd.jvp(lambda a: a.reshape(3, 2, order="F"), (x,), (x + 1,))
    np.testing.assert_array_equal(out, x.reshape(3, 2, order="F"))
    np.testing.assert_array_equal(t, (x + 1).reshape(3, 2, order="F"))


def test_the_tape_is_released_when_the_transform_returns():
    import gc
    import weakref

    kept = []

    def f(x):
        y = np.sin(x) * 2.0  # an intermediate value the tape holds during the call
        kept.append(weakref.ref(innermost(y)))  # the primal array inside the tracers
        return np.sum(y**2)

    gc.disable()  # freed by reference counting alone: no cycle keeps a tape alive
    try:
        for transform in (dd.grad, dd.hessian, lambda f: dd.jacobian(f, mode="reverse")):
            kept.clear()
            transform(f)(X)
            assert kept and all(ref() is None for ref in kept)
    finally:
        gc.enable()


def test_traced_keyword_arguments_reach_their_positional_rules():
    x, w = np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.3, 0.5])
    g = dd.grad(lambda w: np.average(x, weights=w))(w)
    np.testing.assert_allclose(g, (x - np.average(x, weights=w)) / w.sum(), rtol=1e-12)
    for mode in (dd.jacfwd, dd.jacrev):
        J = mode(lambda lo: np.clip(x, a_min=lo, a_max=None))(np.array(1.5))
        np.testing.assert_array_equal(J, [1.0, 0.0, 0.0])


def test_traced_keyword_only_argument_names_the_fix():
    with pytest.raises(TypeError, match="positionally"):
        dd.grad(lambda c: np.sum(np.clip(X, min=c)))(np.array(0.0))


@pytest.mark.parametrize("n", [3, 100_000])
def test_gradients_are_writeable_arrays_of_their_own(n):
    # sum pulls back a read-only broadcast; the caller still gets an array it may write into
    for f in (lambda x: np.sum(x), lambda x: np.sum(100.0 * x), lambda x: np.sum(x**2)):
        x = np.ones(n)
        g, again = dd.grad(f)(x), dd.grad(f)(x)
        assert g.flags.writeable and not np.shares_memory(g, again)
        g *= 2.0
        assert np.all(again != g) and np.all(x == 1.0)
    ct = np.ones(n)
    _, pullback = dd.vjp(lambda x: x, np.zeros(n))
    r = pullback(ct)
    r = r[0] if isinstance(r, tuple) else r
    assert not np.shares_memory(r, ct)
