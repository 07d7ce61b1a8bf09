"""dd.nn.functional_call: a model as a pure function of its parameters, for the transforms and
for dd.replay (a training step replayed with the parameters as inputs)."""

import numpy as np
import pytest

import dualdiff as dd
from tests._oracles import Unchanged, assert_owned

SIZES = {"small": (4, 8), "large": (128, 128)}  # 16384 weights in the large first layer


def model(n_in, hidden):
    rng = np.random.default_rng(0)
    return dd.nn.Sequential(
        dd.nn.Linear(n_in, hidden, rng=rng), dd.nn.Tanh(), dd.nn.Linear(hidden, 1, rng=rng)
    )


def data(n_in):
    rng = np.random.default_rng(1)
    return rng.normal(size=(16, n_in)), rng.normal(size=(16, 1))


def arrays(net):
    return {k: p.detach().numpy().copy() for k, p in net.named_parameters()}


def loss_of(net):
    def loss(params, x, y):
        return dd.nn.mse_loss(dd.nn.functional_call(net, params, (x,)), y)

    return loss


@pytest.mark.parametrize("size", SIZES)
def test_gradients_equal_the_tensor_layers_backward(size):
    n_in, hidden = SIZES[size]
    net, (x, y) = model(n_in, hidden), data(n_in)
    params = arrays(net)
    kept = Unchanged(params, x, y)
    g = dd.grad(loss_of(net))(params, x, y)
    out = dd.nn.mse_loss(net(dd.tensor(x)), dd.tensor(y))  # PyTorch's workflow as the oracle
    out.backward()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(g[name], p.grad.numpy(), rtol=1e-13, atol=1e-15)
        assert type(getattr(net[int(name[0])], name[2:])) is dd.nn.Parameter  # restored
    v = {k: np.cos(np.arange(a.size)).reshape(a.shape) for k, a in params.items()}
    _, t = dd.jvp(lambda p: loss_of(net)(p, x, y), (params,), (v,))
    np.testing.assert_allclose(t, sum(np.sum(g[k] * v[k]) for k in g), rtol=1e-10)
    h = 1e-6  # central differences along v
    plus = {k: params[k] + h * v[k] for k in params}
    minus = {k: params[k] - h * v[k] for k in params}
    fd = (loss_of(net)(plus, x, y) - loss_of(net)(minus, x, y)) / (2 * h)
    np.testing.assert_allclose(t, fd, rtol=1e-6)
    assert_owned(list(g.values()), list(params.values()) + [x, y])
    kept.check()


@pytest.mark.parametrize("size", SIZES)
def test_a_training_step_replayed_with_the_parameters_as_inputs(size):
    n_in, hidden = SIZES[size]
    net, (x, y) = model(n_in, hidden), data(n_in)
    loss = loss_of(net)

    def step(params, x, y):
        g = dd.grad(loss)(params, x, y)
        return {k: params[k] - 0.05 * g[k] for k in params}

    fast = dd.replay(step)
    a = b = arrays(net)
    for _ in range(4):
        held = dict(a)
        a, b = fast(a, x, y), step(b, x, y)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])  # bit for bit
        assert_owned(list(a.values()), list(held.values()) + [x, y])
    assert fast.stats()["recordings"] == 1
    assert float(loss(a, x, y)) < float(loss(arrays(net), x, y))


def test_parameters_are_restored_when_forward_raises_and_names_are_checked():
    net = model(4, 8)
    before = {k: id(p) for k, p in net.named_parameters()}
    with pytest.raises(ValueError):
        dd.nn.functional_call(net, arrays(net), (np.ones((2, 5)),))  # wrong width: NumPy's error
    assert {k: id(p) for k, p in net.named_parameters()} == before
    with pytest.raises(ValueError, match="'3.weight' is not a parameter of Sequential"):
        dd.nn.functional_call(net, {"3.weight": np.ones(2)}, (np.ones((2, 4)),))
