"""Custom rules of ops with several outputs: an output that nothing used reaches the user's VJP
rule as zeros of its shape (as JAX's custom rules), in every way f can be differentiated, at a
small size and a large one; dualdiff's own rules keep reading None there (eigh at a repeated
eigenvalue stays finite)."""

import numpy as np
import pytest

import dualdiff as dd
from tests._fd import slope

SIZES = [5, 1 << 14]
seen = []


@dd.primitive
def sin_and_square(x):
    return np.sin(x), x**2


@dd.defjvp(sin_and_square)
def sin_and_square_jvp(t, ans, x):
    return t * np.cos(x), t * (2 * x)


@dd.defvjp(sin_and_square)
def sin_and_square_vjp(g, ans, x):
    seen.append(g)
    gs, gq = g  # a user's rule unpacks and multiplies: a None here would crash it
    return gs * np.cos(x) + gq * (2 * x)


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x(request):
    return np.random.default_rng(request.param).uniform(-1.0, 1.0, request.param)


@pytest.mark.parametrize("used", [0, 1])
def test_an_unused_output_reaches_the_rule_as_zeros(x, used):
    x0 = x.copy()
    seen.clear()

    def f(x):
        return np.sum(sin_and_square(x)[used] * 3.0)

    value, g = dd.value_and_grad(f)(x)
    assert value == np.sum((np.sin(x), x**2)[used] * 3.0)  # NumPy's value
    expected = 3.0 * (np.cos(x) if used == 0 else 2 * x)
    np.testing.assert_allclose(g, expected, rtol=1e-13)
    unused = seen[0][1 - used]
    assert type(unused) is np.ndarray and unused.shape == (1, x.size) and not unused.any()
    v = np.cos(7 * x)
    np.testing.assert_allclose(g @ v, dd.jvp(f, (x,), (v,))[1], rtol=1e-12)
    np.testing.assert_allclose(g @ v, slope(f, x, v), rtol=1e-6)
    assert not np.shares_memory(g, x)
    np.testing.assert_array_equal(x, x0)


def test_zeros_in_a_batch_of_directions_and_through_the_tensor_layer():
    x = np.linspace(-1.0, 1.0, 4)
    seen.clear()
    J = dd.jacrev(lambda x: sin_and_square(x)[1])(x)
    np.testing.assert_allclose(J, np.diag(2 * x), rtol=1e-14)
    assert seen[0][0].shape == (4, 4) and not seen[0][0].any()
    t = dd.tensor(x, requires_grad=True)
    dd.sum(sin_and_square(t)[0]).backward()
    np.testing.assert_allclose(t.grad.numpy(), np.cos(x), rtol=1e-14)


def test_dualdiffs_own_rules_still_skip_an_unused_output_at_a_repeated_eigenvalue():
    a = np.diag([2.0, 2.0, 3.0])  # a repeated eigenvalue: eigenvectors' derivative is infinite
    g = dd.grad(lambda a: np.sum(np.linalg.eigh(a)[0]))(a)
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)  # d trace / d a
