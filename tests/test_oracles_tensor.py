"""The three oracles of issue 12 through the tensor layer (PyTorch's semantics): the random
programs of tests/_oracles.py run on ``dd.tensor(..., requires_grad=True)`` with ``backward()``;
the loss equals NumPy's, ``.grad`` matches finite differences of NumPy's function and the
functional ``dd.grad``, and ``.grad``, data and parameters share no memory, before and after
``zero_grad`` and optimizer steps (whose updates are checked against PyTorch's formulas written
in NumPy).
"""

import numpy as np
import pytest
from hypothesis import assume, given

import dualdiff as dd
from tests._oracles import (
    LARGE,
    LARGE_SETTINGS,
    NUMPY_DEFAULT,
    SETTINGS,
    SMALL,
    Unchanged,
    assert_disjoint,
    assert_fd,
    on_numpy,
    point,
    program,
    programs,
)

SIZES = [pytest.param(SMALL, id="small"), pytest.param(LARGE, id="large")]
KNOWN = {}  # (family, size id) -> reason, for failures of an issue-12 item in progress


def grad_of(t):
    """The ndarray of ``t.grad``."""
    return t.grad.detach().numpy()


def check_tensor_program(source, n):
    """The oracles on one program through the tensor layer; False when NumPy's value is not
    finite (the caller rejects the example)."""
    f, loss, (W,) = program(source, n)
    x0 = point(n)
    if on_numpy(f, x0) is None:
        return False
    v = np.random.default_rng(3).standard_normal(n)
    held = Unchanged(x0, W, v)
    x = dd.tensor(x0, requires_grad=True)
    try:
        with np.errstate(**NUMPY_DEFAULT):  # the program's own error handling decides
            value = loss(x)
            value.backward()
    except RuntimeError as e:  # PyTorch refuses a saved value changed in place
        assert "in-place" in str(e) or "inplace" in str(e), str(e)
        return True
    held.check()
    g = grad_of(x).copy()
    assert value.item() == on_numpy(loss, x0)
    for other in (x0, W, x.detach().numpy()):
        assert not np.shares_memory(grad_of(x), other), ".grad shares memory"
    assert_fd(loss, x0, v, g @ v, float(np.abs(g) @ np.abs(v)))
    np.testing.assert_allclose(g, dd.grad(loss)(x0), rtol=1e-12, atol=1e-13 * np.abs(g).max())
    loss(x).backward()  # PyTorch accumulates into .grad
    np.testing.assert_allclose(grad_of(x), 2 * g, rtol=1e-14)
    held.check()
    return True


def cases():
    for family in ("pure", "inplace", "views", "indices", "errors"):
        for size in SIZES:
            reason = KNOWN.get((family, size.id))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(family, size.values[0], marks=marks, id=f"{family}-{size.id}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # see test_oracles.py
@pytest.mark.parametrize(("family", "n"), list(cases()))
def test_random_programs_through_tensors(family, n):
    @(SETTINGS if n <= SMALL else LARGE_SETTINGS)
    @given(programs(family))
    def run(source):
        assume(check_tensor_program(source, n))

    run()


# -- ownership of .grad, data and parameters --------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_grad_of_a_product_with_data_is_owned(n):
    data = np.linspace(1.0, 2.0, n)
    kept = data.copy()
    w = dd.tensor(np.full(n, 0.5), requires_grad=True)
    opt = dd.optim.SGD([w], lr=0.1)
    np.sum(w * data).backward()
    np.testing.assert_array_equal(grad_of(w), kept)
    assert_disjoint(grad_of(w), data, w.detach().numpy())
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(data, kept)
    np.testing.assert_array_equal(grad_of(w), np.zeros(n))
    opt.zero_grad(set_to_none=True)
    assert w.grad is None


@pytest.mark.parametrize("n", SIZES)
def test_retain_graph_backward_three_times(n):
    x0 = np.linspace(-1.0, 1.0, n)
    x = dd.tensor(x0, requires_grad=True)
    y = np.sum(np.exp(x))
    for _ in range(3):
        y.backward(retain_graph=True)
    np.testing.assert_allclose(grad_of(x), 3 * np.exp(x0), rtol=1e-15)
    assert y.item() == pytest.approx(np.sum(np.exp(x0)), rel=1e-14)
    assert_disjoint(grad_of(x), x.detach().numpy(), x0)


@pytest.mark.parametrize("n", SIZES)
def test_backward_with_a_gradient_does_not_alias_it(n):
    x = dd.tensor(np.linspace(0.0, 1.0, n), requires_grad=True)
    seed = np.linspace(1.0, 2.0, n)
    kept = seed.copy()
    (x * 1.0).backward(gradient=seed)
    (x * 1.0).backward(gradient=seed)
    np.testing.assert_array_equal(seed, kept)
    np.testing.assert_array_equal(grad_of(x), 2 * kept)
    assert not np.shares_memory(grad_of(x), seed)
    x.grad.zero_()
    np.testing.assert_array_equal(seed, kept)


# -- optimizer steps against PyTorch's formulas -----------------------------------------------


def data_loss(w, data):
    return np.sum((w - data) ** 2) * 0.5


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("set_to_none", [False, True])
def test_sgd_momentum_steps(n, set_to_none):
    data = np.linspace(-1.0, 1.0, n)
    kept = data.copy()
    w0 = np.cos(np.arange(n, dtype=float))
    w = dd.tensor(w0, requires_grad=True)
    opt = dd.optim.SGD([w], lr=0.1, momentum=0.9)
    p, buf = w0.copy(), None
    for _ in range(3):
        opt.zero_grad(set_to_none=set_to_none)
        data_loss(w, data).backward()
        g = p - data  # the gradient of the loss, by hand
        buf = g.copy() if buf is None else 0.9 * buf + g
        p = p - 0.1 * buf
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), p, rtol=1e-14, atol=1e-15)
        momentum = opt.state[w]["momentum_buffer"]
        np.testing.assert_allclose(momentum, buf, rtol=1e-14, atol=1e-15)
        assert_disjoint(w.detach().numpy(), grad_of(w), momentum, data)
    np.testing.assert_array_equal(data, kept)
    np.testing.assert_array_equal(w0, np.cos(np.arange(n, dtype=float)))


@pytest.mark.parametrize("n", SIZES)
def test_adam_steps(n):
    data = np.linspace(-1.0, 1.0, n)
    kept = data.copy()
    w0 = np.cos(np.arange(n, dtype=float))
    w = dd.tensor(w0, requires_grad=True)
    opt = dd.optim.Adam([w], lr=0.05)
    p, m, s = w0.copy(), np.zeros(n), np.zeros(n)
    for t in range(1, 4):
        opt.zero_grad(set_to_none=False)
        data_loss(w, data).backward()
        g = p - data
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g * g
        p = p - 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(s / (1 - 0.999**t)) + 1e-8)
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), p, rtol=1e-12, atol=1e-14)
        state = [a for a in opt.state[w].values() if isinstance(a, np.ndarray)]
        assert_disjoint(w.detach().numpy(), grad_of(w), data, *state)
    np.testing.assert_array_equal(data, kept)
