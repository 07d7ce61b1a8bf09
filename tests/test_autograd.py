"""dd.autograd.grad: PyTorch's torch.autograd.grad on the tensor layer.

Oracles: the analytic derivative in NumPy, central differences (tests/_fd.py) and dualdiff's
functional dd.grad on the same function; every returned gradient is checked to own its memory.
"""

import numpy as np
import pytest

import dualdiff as dd
from tests._fd import slope

SIZES = [5, 20000]


def f(x, w):
    """A scalar of two arrays (or tensors), smooth everywhere."""
    return np.sum(np.tanh(x * w) + x**2 * 0.25) + np.sum(np.sin(w))


def df(x, w):
    t = 1 - np.tanh(x * w) ** 2
    return t * w + 0.5 * x, t * x + np.cos(w)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.normal(size=n)


def _no_shared_memory(results, *others):
    for i, r in enumerate(results):
        for o in others:
            assert not np.shares_memory(r.value, o)
        for j, s in enumerate(results):
            if i != j:
                assert not np.shares_memory(r.value, s.value)


@pytest.mark.parametrize("n", SIZES)
def test_grad_matches_numpy_fd_and_dd_grad_and_leaves_grad_untouched(n):
    x0, w0 = _data(n)
    x_sum, w_sum = x0.sum(), w0.sum()
    x, w = dd.tensor(x0, requires_grad=True), dd.tensor(w0, requires_grad=True)
    gx, gw = dd.autograd.grad(f(x, w), (x, w))
    ex, ew = df(x0, w0)
    np.testing.assert_allclose(gx.numpy(), ex, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gw.numpy(), ew, rtol=1e-12, atol=1e-14)
    fx, fw = dd.grad(f, argnums=(0, 1))(x0, w0)
    np.testing.assert_allclose(gx.numpy(), fx, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gw.numpy(), fw, rtol=1e-13, atol=1e-15)
    v = np.random.default_rng(1).normal(size=n)
    np.testing.assert_allclose(np.dot(gx.numpy(), v), slope(lambda a: f(a, w0), x0, v), rtol=1e-6)
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad and gx.shape == (n,) and gx.dtype == np.float64
    _no_shared_memory((gx, gw), x.value, w.value, x0, w0)
    assert x0.sum() == x_sum and w0.sum() == w_sum
    assert x.value.sum() == x_sum and w.value.sum() == w_sum


@pytest.mark.parametrize("n", SIZES)
def test_existing_grad_is_left_as_it_is(n):
    x0, w0 = _data(n)
    x, w = dd.tensor(x0, requires_grad=True), dd.tensor(w0, requires_grad=True)
    f(x, w).backward()
    before = x.grad.numpy().copy()
    (gx,) = dd.autograd.grad(f(x, w), x)
    np.testing.assert_array_equal(x.grad.numpy(), before)
    np.testing.assert_array_equal(gx.numpy(), before)
    _no_shared_memory((gx,), x.grad.value, w.grad.value, x.value)


@pytest.mark.parametrize("n", SIZES)
def test_grad_outputs_give_a_vector_jacobian_product_summed_over_outputs(n):
    x0, w0 = _data(n)
    v0 = np.random.default_rng(2).normal(size=n)
    v_copy = v0.copy()
    x = dd.tensor(x0, requires_grad=True)
    y1, y2 = np.sin(x) * w0, np.sum(x**3)
    (gx,) = dd.autograd.grad([y1, y2], [x], grad_outputs=[v0, 2.0])
    expected = v0 * np.cos(x0) * w0 + 2.0 * 3 * x0**2
    np.testing.assert_allclose(gx.numpy(), expected, rtol=1e-12, atol=1e-14)
    pullback = dd.vjp(lambda a: np.sin(a) * w0, x0)[1]
    second = pullback(v0)[0] + dd.grad(lambda a: 2 * np.sum(a**3))(x0)
    np.testing.assert_allclose(gx.numpy(), second, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(v0, v_copy)
    _no_shared_memory((gx,), v0, x.value)


@pytest.mark.parametrize("n", SIZES)
def test_non_leaf_inputs_and_an_input_listed_twice(n):
    x0, _ = _data(n)
    x = dd.tensor(x0, requires_grad=True)
    h = np.exp(x / 4)
    loss = np.sum(h**2)
    gh, gx, gx2 = dd.autograd.grad(loss, [h, x, x])
    np.testing.assert_allclose(gh.numpy(), 2 * np.exp(x0 / 4), rtol=1e-13)
    np.testing.assert_allclose(gx.numpy(), np.exp(x0 / 2) / 2, rtol=1e-13)
    np.testing.assert_array_equal(gx.numpy(), gx2.numpy())
    _no_shared_memory((gh, gx, gx2), x.value, h.value)
    assert x.grad is None


@pytest.mark.parametrize("n", SIZES)
def test_output_as_its_own_input_gets_grad_outputs_as_a_copy(n):
    x = dd.tensor(np.ones(n), requires_grad=True)
    y = x * 3
    v = np.arange(float(n))
    (gy,) = dd.autograd.grad(y, y, grad_outputs=v)
    np.testing.assert_array_equal(gy.numpy(), v)
    _no_shared_memory((gy,), v, y.value, x.value)


@pytest.mark.parametrize("n", SIZES)
def test_float32_inputs_get_float32_gradients(n):
    x0, _ = _data(n)
    x = dd.tensor(x0.astype(np.float32), requires_grad=True)
    (gx,) = dd.autograd.grad(np.sum(x * x), x)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx.numpy(), 2 * x0.astype(np.float32), rtol=1e-6)


def test_graph_is_freed_unless_retained():
    x = dd.tensor([1.0, 2.0], requires_grad=True)
    y = np.sum(np.exp(x))
    (g1,) = dd.autograd.grad(y, x, retain_graph=True)
    (g2,) = dd.autograd.grad(y, x)
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    np.testing.assert_allclose(g1.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        dd.autograd.grad(y, x)


def test_allow_unused_gives_none_and_raises_by_default():
    x = dd.tensor([1.0, 2.0], requires_grad=True)
    z = dd.tensor([3.0], requires_grad=True)
    y = np.sum(x * x)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        dd.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = dd.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])


def test_module_parameters_match_backward():
    dd.nn.manual_seed(0)
    net = dd.nn.Sequential(dd.nn.Linear(3, 4), dd.nn.Tanh(), dd.nn.Linear(4, 1))
    x = dd.tensor(np.random.default_rng(3).normal(size=(8, 3)))
    params = list(net.parameters())
    grads = dd.autograd.grad(np.sum(net(x) ** 2), params)
    assert all(p.grad is None for p in params)
    np.sum(net(x) ** 2).backward()
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-13)
        _no_shared_memory((g,), p.value, p.grad.value)


def test_errors_are_pytorchs():
    x = dd.tensor([1.0, 2.0], requires_grad=True)
    c = dd.tensor([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        dd.autograd.grad(np.sum(c), x)
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require"):
        dd.autograd.grad(np.sum(y), c)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        dd.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape"):
        dd.autograd.grad(y, x, grad_outputs=[np.ones(3)])
    with pytest.raises(RuntimeError, match="one grad_output per output"):
        dd.autograd.grad(y, x, grad_outputs=[np.ones(2), np.ones(2)])
    with pytest.raises(TypeError, match="outputs must be a tensor"):
        dd.autograd.grad(np.ones(2), x)
    with pytest.raises(NotImplementedError, match=r"dd\.hessian"):
        dd.autograd.grad(np.sum(y), x, create_graph=True)
    assert isinstance(
        pytest.raises(NotImplementedError, dd.autograd.grad, np.sum(y), x, create_graph=True).value,
        dd.autograd.HigherOrderNotSupported,
    )
    (g,) = dd.autograd.grad(np.sum(y), x)  # none of the refusals freed or changed the graph
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0])


def test_one_array_is_one_outputs_cotangent_never_a_list_of_rows():
    x = dd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"has a shape of \(1, 3\) and output\[0\] has a shape"):
        dd.autograd.grad(x * 2, x, grad_outputs=np.ones((1, 3)))
    (g,) = dd.autograd.grad(np.sum(x), x, grad_outputs=np.float32(3.0))
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0, 3.0])


@pytest.mark.parametrize("n", SIZES)
def test_an_input_reached_with_a_zero_cotangent_gets_zeros(n):
    # np.broadcast_arrays: the graph reaches every input, the sum reads only outputs 0 and 2
    xs = [dd.tensor(np.full(n, i + 1.0), requires_grad=True) for i in range(3)]
    a, b, c = np.broadcast_arrays(*xs)
    g0, g1, g2 = dd.autograd.grad(np.sum(a * c), xs)
    np.testing.assert_array_equal(g0.numpy(), np.full(n, 3.0))
    np.testing.assert_array_equal(g1.numpy(), np.zeros(n))
    np.testing.assert_array_equal(g2.numpy(), np.full(n, 1.0))
    expected = dd.grad(lambda *v: np.sum(v[0] * v[2]), argnums=(0, 1, 2))(*(x.value for x in xs))
    for g, e in zip((g0, g1, g2), expected):
        np.testing.assert_array_equal(g.numpy(), e)
    assert all(x.grad is None for x in xs)
    _no_shared_memory((g0, g1, g2), *(x.value for x in xs))
    a, b, c = np.broadcast_arrays(*xs)
    np.sum(a * c).backward()  # backward() leaves the zero leaf's .grad as None, as before
    assert xs[1].grad is None
    np.testing.assert_array_equal(xs[0].grad.numpy(), np.full(n, 3.0))
