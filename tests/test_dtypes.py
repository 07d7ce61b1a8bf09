"""Derivatives keep their inputs' floating dtypes (float32 stays float32, as in JAX, autograd
and PyTorch); integer and bool inputs are promoted to float64. Small and large sizes, against
float64 results, NumPy's value and finite differences, with the ownership oracle."""

import numpy as np
import pytest

import dualdiff as dd
from tests._fd import slope

SIZES = [6, 1 << 14]


def loss(x):
    return np.sum(np.sin(x) * x**2) * 0.5


def pair(x):
    return np.stack([np.sum(np.cos(x)), np.sum(x**3)])


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x32(request, deferring):
    return np.random.default_rng(request.param).uniform(-1, 1, request.param).astype(np.float32)


def test_reverse_mode_keeps_float32(x32):
    x0 = x32.copy()
    x64 = x32.astype(np.float64)
    value, g = dd.value_and_grad(loss)(x32)
    assert g.dtype == np.float32 and value == loss(x32)  # NumPy's value, in float32
    np.testing.assert_allclose(g, dd.grad(loss)(x64), rtol=2e-5, atol=1e-6)
    assert dd.grad(loss)(x32).dtype == np.float32
    out, pullback = dd.vjp(pair, x32)
    (ct,) = pullback(np.ones(2, np.float32))
    assert ct.dtype == np.float32
    J = dd.jacrev(pair)(x32)
    assert J.dtype == np.float32
    np.testing.assert_allclose(J, dd.jacrev(pair)(x64), rtol=2e-5, atol=1e-5)
    v = np.cos(x64)
    np.testing.assert_allclose(g @ v, slope(loss, x64, v), rtol=1e-4)
    assert not np.shares_memory(g, x32) and not np.shares_memory(J, x32)
    np.testing.assert_array_equal(x32, x0)


def test_forward_mode_and_second_order_keep_float32(x32):
    v = np.cos(x32)
    _, t = dd.jvp(loss, (x32,), (v,))
    assert np.asarray(t).dtype == np.float32
    hv = dd.hvp(loss, x32, v)
    assert hv.dtype == np.float32
    np.testing.assert_allclose(
        hv, dd.hvp(loss, x32.astype(np.float64), v.astype(np.float64)), rtol=1e-4, atol=1e-5
    )
    small = x32[:5]
    assert dd.jacfwd(pair)(small).dtype == np.float32
    H = dd.hessian(loss)(small)
    assert H.dtype == np.float32
    np.testing.assert_allclose(H, dd.hessian(loss)(small.astype(np.float64)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_integer_and_bool_inputs_give_float64(dtype):
    x = np.array([1, 0, 1], dtype=dtype)
    g = dd.grad(lambda x: np.sum(x * 2.0))(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


def test_a_float64_input_stays_float64_through_a_float32_constant():
    x = np.linspace(0.0, 1.0, 5)
    g = dd.grad(lambda x: np.sum(x * np.float32(3.0)))(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.full(5, 3.0))


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_jacobian_keeps_float32_in_every_mode_and_chunking(x32, mode, chunk_size):
    x = x32 if mode == "reverse" or x32.size < 100 else x32[:64]  # forward: n passes
    J = dd.jacobian(pair, mode=mode, chunk_size=chunk_size)(x)
    assert J.dtype == np.float32 and J.shape == (2, x.size)
    np.testing.assert_allclose(J, dd.jacrev(pair)(x.astype(np.float64)), rtol=2e-5, atol=1e-5)
    assert not np.shares_memory(J, x)
