"""Stateful tensors: backward(), .grad, no_grad, PyTorch's errors, version counters, memory."""

import copy
import gc
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dualdiff as dd
from dualdiff.tensor import Tensor, is_grad_enabled
from tests._fd import slope

X = np.array([0.3, -1.2, 2.0])


def test_seed_snippet_prints_three_three(capsys):
    x = dd.tensor([2.0, 3.0], requires_grad=True)
    y = 3 * x + 2
    loss = sum(y)  # Python's sum: 0 + y[0] + y[1], through indexing and __radd__
    loss.backward()
    print(x.grad)
    assert capsys.readouterr().out.strip() == "[3. 3.]"
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_np_sum_gives_the_same_gradient():
    x = dd.tensor([2.0, 3.0], requires_grad=True)
    np.sum(3 * x + 2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


finite = st.floats(-3.0, 3.0, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 6), elements=finite))
def test_elementwise_gradients_match_analytic(x):
    t = dd.tensor(x, requires_grad=True)
    loss = np.sum(np.tanh(t) * t + np.exp(t / 4) - t**2 / 3)
    loss.backward()
    expected = (1 - np.tanh(x) ** 2) * x + np.tanh(x) + np.exp(x / 4) / 4 - 2 * x / 3
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_matmul_broadcast_and_indexing_match_reverse_mode():
    rng = np.random.default_rng(0)
    w0, b0, a0 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(5, 3))

    def f(w, b):
        h = np.tanh(a0 @ w.T + b)
        return np.mean(h[1:, ::2] ** 2) + np.sum(h[[0, 0, 3], 1])

    w, b = dd.tensor(w0, requires_grad=True), dd.tensor(b0, requires_grad=True)
    f(w, b).backward()
    gw, gb = dd.grad(f, argnums=(0, 1))(w0, b0)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-12)


def test_sequence_and_multi_output_ops():
    x = dd.tensor(np.arange(6.0), requires_grad=True)
    a, b = np.split(x, 2)
    y = np.concatenate([a * 2, b * b])
    np.sum(y * np.arange(1.0, 7.0)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6, 2 * 3 * 4, 2 * 4 * 5, 2 * 5 * 6])


def test_eigh_through_tensors_matches_grad():
    a0 = np.array([[2.0, 1.0], [1.0, 3.0]])
    a = dd.tensor(a0, requires_grad=True)
    w, _ = np.linalg.eigh(a)
    np.sum(w**3).backward()
    expected = dd.grad(lambda m: np.sum(np.linalg.eigh(m)[0] ** 3))(a0)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-12)


def test_grad_accumulates_until_cleared():
    x = dd.tensor(X, requires_grad=True)
    for k in (1, 2, 3):
        np.sum(x * x).backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * X * k)
    x.grad.zero_()
    np.sum(5 * x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0, 5.0])
    x.grad = None
    np.sum(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_grads_of_two_leaves_never_share_memory():
    a, b = dd.tensor(X, requires_grad=True), dd.tensor(X, requires_grad=True)
    (a + b).backward(gradient=np.ones(3))
    a.grad.zero_()  # must not zero b's gradient
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])


def test_grad_never_aliases_the_gradient_argument():
    x = dd.tensor(X, requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    (x + 0.0).backward(gradient=seed)
    x.grad.zero_()
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])


def test_backward_with_gradient_is_a_vector_jacobian_product():
    x = dd.tensor(X, requires_grad=True)
    v = np.array([1.0, 10.0, 100.0])
    np.sin(x).backward(gradient=v)
    np.testing.assert_allclose(x.grad.numpy(), v * np.cos(X), rtol=1e-14)


def test_backward_of_non_scalar_without_gradient_raises():
    x = dd.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="one element"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(gradient=np.ones(2))


def test_backward_of_a_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        np.sum(dd.tensor(X) * 2).backward()


def test_second_backward_through_freed_graph_raises_and_retain_graph_allows_it():
    x = dd.tensor(X, requires_grad=True)
    loss = np.sum(np.sin(x))
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    x.grad = None
    loss = np.sum(np.sin(x))
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(X), rtol=1e-14)


def test_grad_of_non_leaf_is_none_with_a_warning_unless_retained():
    x = dd.tensor(X, requires_grad=True)
    y = x * 2
    z = y * 3
    z.retain_grad()
    np.sum(z * z).backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None
    np.testing.assert_allclose(z.grad.numpy(), 2 * (6 * X))
    assert not y.is_leaf and x.is_leaf and y.grad_fn is not None and x.grad_fn is None


def test_in_place_change_of_a_saved_value_is_detected():
    x = dd.tensor(X, requires_grad=True)
    loss = np.sum(x * x)  # multiply saves x
    with dd.no_grad():
        x -= 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_in_place_change_of_a_saved_output_is_detected():
    x = dd.tensor(X, requires_grad=True)
    y = np.tanh(x)  # tanh's derivative reads its output
    loss = np.sum(y)
    with dd.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="version 1"):
        loss.backward()


def test_in_place_change_through_a_view_is_detected():
    x = dd.tensor(X, requires_grad=True)
    c = dd.tensor([1.0, 2.0, 3.0])
    loss = np.sum(x * c)
    view = c[1:]  # shares c's memory and version counter
    view += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    np.testing.assert_array_equal(c.numpy(), [1.0, 3.0, 4.0])


def test_in_place_change_of_an_operand_of_a_sum_is_harmless():
    # addition saves no value, so (as in PyTorch) changing an operand afterwards is allowed
    x = dd.tensor(X, requires_grad=True)
    c = dd.tensor([1.0, 2.0, 3.0])
    loss = np.sum(x + c)
    c.add_(5.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    x = dd.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1.0
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 5.0
    with dd.no_grad():
        x[0] = 5.0
        x *= 2.0
    np.testing.assert_array_equal(x.detach().numpy(), [10.0, -2.4, 4.0])
    assert x.requires_grad and x._version_counter == 2


def test_in_place_on_a_recorded_tensor_stays_differentiable():
    x = dd.tensor(X, requires_grad=True)
    y = x * 2
    y[0] = 0.0
    y += x
    np.sum(y * y).backward()  # y = [x0, 3 x1, 3 x2]
    np.testing.assert_allclose(x.grad.numpy(), [2 * X[0], 18 * X[1], 18 * X[2]], rtol=1e-14)


def test_manual_sgd_under_no_grad_keeps_the_leaf():
    w = dd.tensor([1.0, -2.0], requires_grad=True)
    for _ in range(3):
        np.sum(w * w).backward()
        with dd.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.detach().numpy(), np.array([1.0, -2.0]) * 0.8**3)
    assert w.requires_grad and w.is_leaf


def test_no_grad_stops_recording_and_is_per_thread():
    x = dd.tensor(X, requires_grad=True)
    seen = []

    def other_thread():
        seen.append((is_grad_enabled(), (x * 2).requires_grad))

    with dd.no_grad():
        assert not (x * 2).requires_grad and not np.sum(x).requires_grad
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert seen == [(True, True)]
    assert (x * 2).requires_grad and is_grad_enabled()

    @dd.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad


def test_constant_tensors_behave_like_arrays():
    a = dd.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = np.linalg.inv(a) @ a  # inv has no reverse rule needed: nothing is recorded
    assert isinstance(b, Tensor) and not b.requires_grad
    np.testing.assert_allclose(np.asarray(b), np.eye(2), atol=1e-12)
    spectrum = np.fft.fft(a)  # no rule at all: fine on tensors that need no graph
    np.testing.assert_allclose(np.asarray(spectrum), np.fft.fft(np.asarray(a)))
    mask = a > 2
    assert isinstance(mask, Tensor) and mask.dtype == bool
    np.testing.assert_array_equal(a[mask].numpy(), [3.0, 4.0])


def test_conversions_of_a_tensor_that_requires_grad():
    x = dd.tensor(X, requires_grad=True)
    for convert in (np.asarray, lambda t: t.numpy()):
        with pytest.raises(TypeError, match="detach"):
            convert(x)
        with pytest.raises(RuntimeError):
            convert(x)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.detach().numpy())
    loss = np.sum(x * x)
    assert loss.item() == pytest.approx(np.sum(X**2)) and float(loss) == loss.item()
    assert f"{loss:.3f}" == f"{np.sum(X**2):.3f}" and x.tolist() == X.tolist()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating-point"):
        dd.tensor([1, 2, 3], requires_grad=True)
    assert dd.tensor([1, 2]).dtype == np.int64


def test_requires_grad_flag_on_leaves_only():
    x = dd.tensor(X)
    x.requires_grad_()
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.requires_grad = False
    assert not (x * 2).requires_grad


def test_float32_tensors_get_float32_gradients():
    x = dd.tensor(X, requires_grad=True, dtype=np.float32)
    np.sum(x * x).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * X.astype(np.float32), rtol=1e-6)


def test_repr_str_and_deepcopy():
    x = dd.tensor([2.0, 3.0], requires_grad=True)
    assert repr(x) == "tensor([2., 3.], requires_grad=True)" and str(x) == "[2. 3.]"
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and not np.shares_memory(y.value, x.value)
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 3.0])


# the class of graph nodes, read from the public grad_fn of a recorded op
_NODE = type((dd.tensor([1.0], requires_grad=True) * 2.0).grad_fn)


def _live_nodes():
    return sum(1 for o in gc.get_objects() if type(o) is _NODE)


def test_graph_dies_with_its_tensors_without_the_cycle_collector():
    w = dd.tensor(np.ones((4, 3)), requires_grad=True)
    x = np.ones((5, 3))
    gc.collect()
    base = _live_nodes()
    gc.disable()
    try:
        for _ in range(200):  # forward passes never backpropagated: freed by reference counts
            out = np.sum(np.tanh(x @ w.T) ** 2)
        alive = _live_nodes() - base
        del out
        after = _live_nodes() - base
    finally:
        gc.enable()
    assert 0 < alive <= 6 and after == 0


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("gradient", [2.0, 2, np.float32(2.0), np.array(2.0)])
def test_backward_takes_a_number_for_a_one_element_tensor(shape, gradient):
    x = dd.tensor([0.5, -1.5], requires_grad=True)
    y = np.reshape(np.sum(np.sin(x)), shape)
    kept = np.array(gradient, copy=True)
    y.backward(gradient=gradient)
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * np.cos([0.5, -1.5]), rtol=1e-15)
    np.testing.assert_array_equal(gradient, kept)
    if isinstance(gradient, np.ndarray):
        assert not np.shares_memory(x.grad.value, gradient)


@pytest.mark.parametrize("n", [5, 20000])
def test_backward_gradient_scales_the_loss_at_every_size(n):
    x0 = np.random.default_rng(4).normal(size=n)
    x = dd.tensor(x0, requires_grad=True)
    np.sum(np.tanh(x) * x).backward(gradient=0.5)

    def f(a):
        return np.sum(np.tanh(a) * a)

    expected = 0.5 * ((1 - np.tanh(x0) ** 2) * x0 + np.tanh(x0))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * dd.grad(f)(x0), rtol=1e-14, atol=1e-15)
    v = np.random.default_rng(5).normal(size=n)
    np.testing.assert_allclose(np.dot(x.grad.numpy(), v), 0.5 * slope(f, x0, v), rtol=1e-6)
    assert not np.shares_memory(x.grad.value, x.value)


@pytest.mark.parametrize("n", [5, 20000])
def test_backward_gradient_array_for_a_vector_output(n):
    x0 = np.random.default_rng(6).normal(size=n)
    v = np.random.default_rng(7).normal(size=n).astype(np.float32)  # cast to the tensor's dtype
    x = dd.tensor(x0, requires_grad=True)
    (x**3).backward(gradient=v)
    np.testing.assert_allclose(x.grad.numpy(), v.astype(np.float64) * 3 * x0**2, rtol=1e-14)
    assert not np.shares_memory(x.grad.value, v)


def test_backward_gradient_mismatches_raise_named_errors():
    x = dd.tensor(X, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"Mismatch in shape: grad_output\[0\] has a shape of "
        r"\(\) and output\[0\] has a shape of \(3,\)\. A number is accepted",
    ):
        (x * 2).backward(gradient=2.0)
    with pytest.raises(RuntimeError, match=r"has a shape of \(1,\) and output\[0\] has a shape"):
        np.sum(x).backward(gradient=[2.0])
    with pytest.raises(RuntimeError, match="Mismatch in dtype"):
        np.sum(x).backward(gradient=1j)
    with pytest.raises(TypeError, match="must hold numbers"):
        np.sum(x).backward(gradient="2.0")
    np.sum(x * 2).backward(gradient=True)  # a bool is a number: 1
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
