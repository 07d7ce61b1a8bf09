"""dualdiff.nn: parameter discovery, layers, losses, fused ops, and PyTorch agreement."""

import gc

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.nn import linear, mse_loss
from dualdiff.testing import check_grads

nn = dd.nn
RNG = np.random.default_rng(7)
XB = RNG.normal(size=(6, 4))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 5), nn.Tanh())
        self.heads = [nn.Linear(5, 2), nn.Linear(5, 1)]
        self.scale = nn.Parameter(2.0)
        self.alias = self.scale  # the same parameter twice is listed once
        self.not_a_param = dd.tensor([1.0], requires_grad=True)

    def forward(self, x):
        h = self.body(x)
        return self.scale * np.sum(self.heads[0](h)) + np.sum(self.heads[1](h))


def test_parameters_and_submodules_are_found():
    names = [name for name, _ in Net().named_parameters()]
    assert names == [
        "scale",
        "body.0.weight",
        "body.0.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "heads.1.bias",
    ]
    assert len(list(Net().parameters())) == 7


def test_module_zero_grad_train_eval_and_repr():
    net = Net()
    net(dd.tensor(XB)).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert not net.eval().body[0].training and net.train().body[0].training
    assert "Linear(in_features=4, out_features=5, bias=True)" in repr(net)


def test_linear_initialisation_is_pytorchs_uniform_bound():
    nn.manual_seed(3)
    layer = nn.Linear(400, 300)
    k = 1 / np.sqrt(400)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= k and np.abs(b).max() <= k
    assert np.std(w) == pytest.approx(k / np.sqrt(3), rel=0.01)  # std of U(-k, k)
    nn.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.detach().numpy(), w)


def test_linear_forward_and_gradients_match_the_formulas():
    layer = nn.Linear(4, 3, rng=np.random.default_rng(0))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    x = dd.tensor(XB, requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), XB @ w.T + b, rtol=1e-14)
    g = RNG.normal(size=(6, 3))
    out.backward(gradient=g)
    np.testing.assert_allclose(x.grad.numpy(), g @ w, rtol=1e-13)
    np.testing.assert_allclose(layer.weight.grad.numpy(), g.T @ XB, rtol=1e-13)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("shape", [(4,), (6, 4), (2, 3, 4)])
def test_fused_linear_rules(shape):
    x, w, b = RNG.normal(size=shape), RNG.normal(size=(3, 4)), RNG.normal(size=3)
    check_grads(linear, x, w, b, order=2)
    check_grads(lambda x, w: linear(x, w), x, w, order=2)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_mse_rules(reduction):
    a, t = RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    check_grads(lambda a, t: mse_loss(a, t, reduction), a, t, order=2)
    check_grads(lambda a, t: mse_loss(a, t, reduction), a, RNG.normal(size=2), order=2)


def test_mse_loss_values_and_gradient():
    a, t = RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    d = a - t
    for reduction, value in [("mean", np.mean(d**2)), ("sum", np.sum(d**2)), ("none", d**2)]:
        got = nn.MSELoss(reduction=reduction)(dd.tensor(a), dd.tensor(t))
        np.testing.assert_allclose(got.numpy(), value, rtol=1e-14)
    x = dd.tensor(a, requires_grad=True)
    nn.MSELoss()(x, dd.tensor(t)).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * d / d.size, rtol=1e-14)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.warns(UserWarning, match="broadcast"):
        nn.MSELoss()(dd.tensor(np.ones((3, 1))), dd.tensor(np.ones(3)))


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_cross_entropy_with_labels_and_with_probabilities():
    logits = RNG.normal(size=(6, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2, 0])
    onehot = np.eye(4)[labels]
    x = dd.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, labels)
    assert loss.item() == pytest.approx(-np.mean(_log_softmax(logits)[np.arange(6), labels]))
    loss.backward()
    softmax = np.exp(_log_softmax(logits))
    np.testing.assert_allclose(x.grad.numpy(), (softmax - onehot) / 6, rtol=1e-12, atol=1e-15)
    probs = dd.tensor(onehot * 0.9 + 0.025)
    per_row = nn.CrossEntropyLoss(reduction="none")(dd.tensor(logits), probs)
    expected = -np.sum(probs.numpy() * _log_softmax(logits), axis=-1)
    np.testing.assert_allclose(per_row.numpy(), expected, rtol=1e-13)


def test_cross_entropy_does_not_overflow():
    x = dd.tensor([[1000.0, 0.0]], requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, np.array([1]))
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0]], atol=1e-300)


def test_activations_and_their_derivatives():
    z = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    for layer, f, df in [
        (nn.ReLU(), np.maximum(z, 0), (z > 0).astype(float)),  # derivative 0 at 0, as PyTorch
        (nn.Tanh(), np.tanh(z), 1 - np.tanh(z) ** 2),
        (nn.Sigmoid(), 1 / (1 + np.exp(-z)), np.exp(-z) / (1 + np.exp(-z)) ** 2),
    ]:
        x = dd.tensor(z, requires_grad=True)
        y = layer(x)
        np.testing.assert_allclose(y.detach().numpy(), f, rtol=1e-14)
        np.sum(y).backward()
        np.testing.assert_allclose(x.grad.numpy(), df, rtol=1e-14)


def test_modules_work_under_the_functional_transforms():
    layer = nn.Linear(4, 1, rng=np.random.default_rng(1))
    w = layer.weight.detach().numpy()

    def loss(x):  # plain arrays in, so the parameters are constants here
        return np.sum(np.tanh(linear(x, w)) ** 2)

    check_grads(loss, XB, order=2)


# the class of graph nodes, read from the public grad_fn of a recorded op
_NODE = type((dd.tensor([1.0], requires_grad=True) * 2.0).grad_fn)


def _live_nodes():
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is _NODE)


def test_training_memory_stays_flat():
    base = _live_nodes()
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = dd.optim.SGD(model.parameters(), lr=0.01)
    x, y = dd.tensor(XB), dd.tensor(XB[:, :1])
    counts = []
    for step in range(300):
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        if step in (10, 299):
            counts.append(_live_nodes() - base)
    # the 4 leaves and the last loss's (freed) root: nothing accumulates across steps
    assert counts == [5, 5]


def test_mlp_and_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    nn.manual_seed(5)
    ours = nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    theirs = theirs.double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    labels = np.array([0, 2, 1, 1, 0, 2])
    target = RNG.normal(size=(6, 3))
    for ours_loss, their_loss, y in [
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), labels),
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), target),
    ]:
        ours.zero_grad()
        theirs.zero_grad()
        a = ours_loss(ours(dd.tensor(XB)), y)
        b = their_loss(theirs(torch.from_numpy(XB)), torch.from_numpy(y))
        a.backward()
        b.backward()
        assert a.item() == pytest.approx(b.item(), rel=1e-13)
        for p, q in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_classifier_trained_with_cross_entropy_separates_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = np.repeat(np.arange(3), 50)
    x = dd.tensor(centers[labels] + 0.5 * rng.normal(size=(150, 2)))
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    criterion = nn.CrossEntropyLoss()
    optimizer = dd.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = criterion(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with dd.no_grad():
        accuracy = np.mean(np.argmax(model(x).numpy(), axis=1) == labels)
    assert losses[-1] < 0.2 * losses[0] and accuracy >= 0.95


def test_mse_loss_refuses_unknown_reductions():
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(np.ones(2), np.zeros(2), "avg")


def _mlp(width, seed=0):
    return nn.Sequential(
        nn.Linear(3, width, rng=np.random.default_rng(seed)),
        nn.Tanh(),
        nn.Linear(width, 1, rng=np.random.default_rng(seed + 1)),
    )


@pytest.mark.parametrize("width", [4, 16384])
def test_requires_grad_freezes_and_unfreezes_every_parameter(width):
    net = _mlp(width)
    x = dd.tensor(np.random.default_rng(2).normal(size=(5, 3)))
    assert net.requires_grad_(False) is net
    assert [p.requires_grad for p in net.parameters()] == [False] * 4
    out = np.sum(net(x) ** 2)
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.backward()
    net[2].requires_grad_()  # only the head trains
    np.sum(net(x) ** 2).backward()
    assert net[0].weight.grad is None and net[0].bias.grad is None
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    h = np.tanh(x.numpy() @ net[0].weight.detach().numpy().T + net[0].bias.detach().numpy())
    r = h @ w2.T + b2
    np.testing.assert_allclose(net[2].weight.grad.numpy(), 2 * r.T @ h, rtol=1e-12)
    np.testing.assert_allclose(net[2].bias.grad.numpy(), 2 * r.sum(0), rtol=1e-12)


@pytest.mark.parametrize("width", [4, 16384])
def test_to_float32_casts_in_place_of_the_data_and_training_goes_on(width):
    net = _mlp(width)
    x0 = np.random.default_rng(3).normal(size=(5, 3))
    params = list(net.parameters())
    before = [p.detach().numpy().copy() for p in params]
    opt = dd.optim.SGD(net.parameters(), lr=0.1)
    np.sum(net(dd.tensor(x0)) ** 2).backward()
    assert net.to(np.float32) is net
    assert list(net.parameters()) == params  # the same objects: the optimizer keeps them
    for p, b in zip(params, before):
        assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
        assert p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.detach().numpy(), b.astype(np.float32))
    grads = [p.grad.numpy().copy() for p in params]
    opt.step()
    for p, b, g in zip(params, before, grads):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.detach().numpy(), b - 0.1 * g, rtol=1e-5, atol=1e-6)
    opt.zero_grad()
    x32 = dd.tensor(x0.astype(np.float32))
    loss = np.sum(net(x32) ** 2)
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in params)

    def f(w0, b0, w2, b2):
        return np.sum((np.tanh(x0 @ w0.T + b0) @ w2.T + b2) ** 2)

    expected = dd.grad(f, argnums=(0, 1, 2, 3))(*(p.detach().numpy().astype(float) for p in params))
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=2e-3, atol=1e-4)
    assert net.to("float64").to("cpu") is net and params[0].dtype == np.float64


def test_to_refuses_what_is_not_a_floating_dtype():
    net = _mlp(2)
    with pytest.raises(TypeError, match="only accepts floating point dtypes, but got desired"):
        net.to(np.int64)
    with pytest.raises(TypeError, match="expects a dtype"):
        net.to(object())
    assert all(p.dtype == np.float64 for p in net.parameters())


@pytest.mark.parametrize("width", [4, 16384])
def test_state_dict_keys_and_load_errors_are_pytorchs(width):
    a, b = _mlp(width, seed=0), _mlp(width, seed=5)
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert b.load_state_dict(state) == ([], [])
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
        assert not np.shares_memory(q.value, p.value), name
    bad = dict(state)
    bad["0.bias"] = np.zeros(width + 1)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.bias: copying a param"):
        b.load_state_dict(bad)
    del bad["0.bias"]
    bad["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0\.bias"') as e:
        b.load_state_dict(bad)
    assert 'Unexpected key(s) in state_dict: "extra"' in str(e.value)
    assert b.load_state_dict(bad, strict=False) == (["0.bias"], ["extra"])
