"""dd.stop_gradient (a zero derivative at every level) and dd.elementwise_grad (the gradient of
sum(f(x)) in one reverse sweep), at a small size and a large one, against NumPy's values,
forward mode and finite differences, with the ownership oracle."""

import numpy as np
import pytest

import dualdiff as dd
from tests._fd import slope

SIZES = [6, 1 << 14]


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x(request, deferring):
    return np.random.default_rng(request.param).uniform(0.5, 1.5, request.param)


def test_the_issues_example_is_diag_2_4():
    H = dd.hessian(lambda x: np.sum(x**2 * dd.stop_gradient(x)))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(H, np.diag([2.0, 4.0]))


def test_stop_gradient_is_a_constant_in_every_mode(x):
    x0 = x.copy()

    def f(x):
        return np.sum(np.sin(x) * dd.stop_gradient(x**2))

    value, g = dd.value_and_grad(f)(x)
    assert value == np.sum(np.sin(x) * x**2)  # NumPy's value
    np.testing.assert_allclose(g, np.cos(x) * x**2, rtol=1e-14)
    v = np.cos(3 * x)
    _, t = dd.jvp(f, (x,), (v,))
    np.testing.assert_allclose(t, g @ v, rtol=1e-12)
    hv = dd.hvp(f, x, v)
    np.testing.assert_allclose(hv, -np.sin(x) * x**2 * v, rtol=1e-12, atol=1e-12)
    # the gradient of the function with the constant frozen, by differences
    c = x**2
    np.testing.assert_allclose(g @ v, slope(lambda y: np.sum(np.sin(y) * c), x, v), rtol=1e-6)
    assert not np.shares_memory(g, x) and not np.shares_memory(hv, x)
    np.testing.assert_array_equal(x, x0)


def test_stop_gradient_returns_a_copy_of_the_value_never_recorded_memory(x):
    seen = []

    def f(x):
        y = np.exp(x)
        s = dd.stop_gradient(y)
        seen.append(s)
        s[0] = -1.0  # writing into it changes nothing the recording holds
        return np.sum(y * 2.0)

    g = dd.grad(f)(x)
    np.testing.assert_allclose(g, 2 * np.exp(x), rtol=1e-14)
    assert type(seen[0]) is np.ndarray and seen[0][1] == np.exp(x[1])


def test_stop_gradient_of_trees_numbers_and_tensors():
    tree = {"a": np.ones(2), "b": (2.0, [np.zeros(1)])}
    out = dd.stop_gradient(tree)
    assert out["b"][0] == 2.0 and not np.shares_memory(out["a"], tree["a"])
    np.testing.assert_array_equal(out["a"], tree["a"])
    w = dd.tensor([1.0, 2.0], requires_grad=True)
    loss = dd.sum(w * dd.stop_gradient(w * 3.0))
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 6.0])


def test_elementwise_grad_is_the_derivative_at_every_element(x):
    x0 = x.copy()
    g = dd.elementwise_grad(np.tanh)(x)
    np.testing.assert_allclose(g, 1 - np.tanh(x) ** 2, rtol=1e-13)
    n = min(x.size, 6)
    np.testing.assert_allclose(g[:n], np.diag(dd.jacfwd(np.tanh)(x[:n])), rtol=1e-13)
    v = np.random.default_rng(1).standard_normal(x.size)
    np.testing.assert_allclose(g @ v, slope(lambda y: np.sum(np.tanh(y)), x, v), rtol=1e-6)
    assert not np.shares_memory(g, x)
    np.testing.assert_array_equal(x, x0)


def test_elementwise_grad_with_argnums_and_keywords(x):
    gx, gy = dd.elementwise_grad(lambda a, b, *, c: a * b + c * a**2, (0, 1))(x, 2 * x, c=0.5)
    np.testing.assert_allclose(gx, 2 * x + x, rtol=1e-14)
    np.testing.assert_allclose(gy, x, rtol=1e-14)


def test_elementwise_grad_of_a_tree_output_is_named():
    with pytest.raises(TypeError, match=r"dd\.elementwise_grad: f returned a dict"):
        dd.elementwise_grad(lambda a: {"a": a})(np.ones(3))
