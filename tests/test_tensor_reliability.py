"""The tensor layer against NumPy, hand formulas, finite differences (and PyTorch when it is
installed): ownership of .grad, writes in place through views, state dicts, copies.

Every family runs at a small size and at a large one (>= 16384 elements), where the sweep's
in-place and pooled mechanisms engage.
"""

import copy
import pickle

import numpy as np
import pytest

import dualdiff as dd
from tests import _fd
from tests._oracles import assert_disjoint

SIZES = (6, 20_000)
rng = np.random.default_rng(12)


def _point(n):
    return rng.uniform(0.5, 1.5, n)


def _checksum(a):
    return np.asarray(a).tobytes()


# -- .grad is owned by its tensor -------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_second_backward_accumulates_into_grads_not_into_the_operands(n):
    a = dd.tensor(np.full(n, 2.0), requires_grad=True)
    b = dd.tensor(np.full(n, 3.0), requires_grad=True)
    for _ in range(2):
        np.sum(a * b).backward()
    np.testing.assert_array_equal(a.detach().numpy(), np.full(n, 2.0))
    np.testing.assert_array_equal(b.detach().numpy(), np.full(n, 3.0))
    np.testing.assert_array_equal(a.grad.numpy(), np.full(n, 6.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(n, 4.0))
    assert_disjoint(a.value, b.value, a.grad.value, b.grad.value)


@pytest.mark.parametrize("n", SIZES)
def test_grad_of_a_retained_non_leaf_is_its_own(n):
    x0 = _point(n)
    x = dd.tensor(x0, requires_grad=True)
    y = x * 1.0
    y.retain_grad()
    z = y + 0.0
    z.retain_grad()
    np.sum(z * 2.0).backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.full(n, 2.0))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(n, 2.0))
    assert_disjoint(x.grad.value, y.grad.value, z.grad.value, x.value, y.value, z.value)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("make", ["sgd_momentum", "adam"])
def test_training_steps_keep_data_parameters_grads_and_state_apart(n, make):
    data, target = _point(n), _point(n)
    sums = [_checksum(data), _checksum(target)]
    w0 = np.ones(n)
    w = dd.tensor(w0, requires_grad=True)
    if make == "adam":
        opt = dd.optim.Adam([w], lr=0.1)
    else:
        opt = dd.optim.SGD([w], lr=0.1, momentum=0.9)
    for set_to_none in (False, True, False):
        opt.zero_grad(set_to_none=set_to_none)
        np.sum((w * data - target) ** 2).backward()
        expected = 2 * (w.detach().numpy() * data - target) * data
        np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-14)
        before = w.detach().numpy().copy()
        opt.step()
        state = [v for v in opt.state[w].values() if isinstance(v, np.ndarray)]
        assert_disjoint(data, target, w.value, w.grad.value, *state)
        assert not np.array_equal(w.detach().numpy(), before)
    assert [_checksum(data), _checksum(target)] == sums


def test_adam_step_matches_the_hand_formula():
    g, p = np.array([0.5, -2.0]), np.array([1.0, -1.0])
    w = dd.tensor(p, requires_grad=True)
    opt = dd.optim.Adam([w], lr=0.1)
    np.sum(w * g).backward()
    opt.step()
    m, v = 0.1 * g, 0.001 * g**2
    expected = p - 0.1 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-15)


# -- writes in place through views, as PyTorch ------------------------------------------------


def _slice_write(x, lib):
    y = x * 2.0
    v = y[1:3]
    v *= 10.0
    return (y * y).sum()


def _two_views(x, lib):
    y = x * 3.0
    n = y.shape[0]
    first, last = y[: n // 2 + 1], y[n // 2 :]
    first *= x[: n // 2 + 1]
    return (last * last).sum() + y.sum()


def _rows(x, lib):
    y = x * 1.0
    for row in y.reshape(2, -1):
        row /= 2.0
    return (y**3).sum()


def _transpose_write(x, lib):
    y = (x * 1.0).reshape(2, -1)
    y.T[0, 1] = 5.0  # y[1, 0]
    y.T[1:3, 0] *= y[1, 1:3]
    return (y * y).sum()


def _into_constant(x, lib):
    z = lib(np.zeros(x.shape[0] + 2))
    v = z[1:-1]
    v += x * 3.0
    v[:2] = x[-2:] ** 2
    return (z * lib(np.arange(z.shape[0] * 1.0))).sum()


def _elements(x, lib):
    y = x * 1.0
    for e in y.reshape(-1, 1)[:3]:  # rows of one element: views in NumPy too
        e *= e
    return (y * y).sum()


def _base_changed_under_a_view(x, lib):
    y = x * 2.0
    v = y[1:3]
    y *= x
    return (v * v).sum()


def _chain_of_views(x, lib):
    y = x * 1.0
    c = y.reshape(2, -1)[:, 1:].T  # three levels of views
    c[0:2, 0] = c[0:2, 1] * 3.0
    return (y * y).sum()


def _repeated_index(x, lib):
    y = x * 2.0
    v = y[2:8]
    v[[0, 0, 3]] = x[:3] ** 2  # NumPy: the last write of a repeated index stays
    return (y * lib(np.arange(x.shape[0] * 1.0))).sum()


def _strided_updates(x, lib):
    z = x * x
    v = z[::2]
    v -= z[1::2] * 0.5
    v /= 3.0
    return (z * z).sum() + (v**3).sum()


def _rows_and_columns(x, lib):
    m = (x * 1.0).reshape(2, -1)
    m[:, 1] += m[:, 0]
    m[0] = m[1]
    return (m**2).sum()


PROGRAMS = [
    _chain_of_views,
    _repeated_index,
    _strided_updates,
    _rows_and_columns,
    _slice_write,
    _two_views,
    _rows,
    _transpose_write,
    _into_constant,
    _elements,
    _base_changed_under_a_view,
]


def _numpy(program, x):
    return float(program(np.array(x), np.array))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_writes_through_views_match_numpy_and_finite_differences(program, n):
    x0 = _point(n)
    before = _checksum(x0)
    x = dd.tensor(x0, requires_grad=True)
    loss = program(x, dd.tensor)
    assert loss.item() == pytest.approx(_numpy(program, x0), rel=1e-13)
    loss.backward()
    assert _checksum(x0) == before
    assert_disjoint(x.grad.value, x.value, x0)
    for seed in range(2):
        u = np.random.default_rng(seed).normal(size=n)
        fd = _fd.slope(lambda p: _numpy(program, p), x0, u)
        assert float(x.grad.numpy() @ u) == pytest.approx(fd, rel=1e-6, abs=1e-6)


def test_slice_write_by_hand():
    x = dd.tensor(np.ones(4), requires_grad=True)
    y = x * 2.0
    v = y[1:3]
    other = y[2:]
    v *= 10.0
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 20.0, 20.0, 2.0])
    np.testing.assert_array_equal(other.detach().numpy(), [20.0, 2.0])
    np.sum(other * np.array([1.0, 10.0])).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 20.0, 20.0])


@pytest.mark.parametrize("n", SIZES)
def test_an_element_is_a_view_as_in_pytorch(n):
    x0 = _point(n)
    x = dd.tensor(x0, requires_grad=True)
    y = x * 1.0
    for e in y[:2]:  # 0-d views (NumPy would give copies; PyTorch gives views)
        e *= e
    first = y[0]
    first += 5.0
    np.sum(y * 2.0).backward()
    expected = x0.copy()
    expected[:2] = x0[:2] ** 2
    expected[0] += 5.0
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    grad = np.full(n, 2.0)
    grad[:2] = 4 * x0[:2]
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-15)


@pytest.mark.parametrize("n", SIZES)
def test_a_saved_value_changed_through_a_view_raises_at_backward(n):
    x = dd.tensor(_point(n), requires_grad=True)
    y = np.exp(x)  # exp's derivative reads its answer
    loss = np.sum(y)
    w = y[1:3]
    w *= 2.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("n", SIZES)
def test_a_value_no_rule_reads_may_change_after_use(n):
    x = dd.tensor(_point(n), requires_grad=True)
    y = x * 2.0
    loss = np.sum(y * 3.0)  # multiplying by a constant reads nothing of y
    y[0] = 7.0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(n, 6.0))
    loss = np.sum(y * y)
    y[0] = 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_in_place_product_with_a_tensor_that_requires_grad():
    x = dd.tensor(np.ones(3), requires_grad=True)
    b = dd.tensor(np.full(3, 3.0), requires_grad=True)
    a = x * 2.0
    a *= b
    np.sum(a).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda x: x.__setitem__(0, 1.0), "leaf Variable that requires grad"),
        (lambda x: x.__iadd__(1.0), "leaf Variable that requires grad"),
        (lambda x: x[1:].__imul__(2.0), "view of a leaf Variable"),
        (lambda x: x.reshape(1, -1).T.__setitem__(0, 1.0), "view of a leaf Variable"),
        (lambda x: np.split(x * 1.0, 3)[0].__imul__(2.0), "returns multiple views"),
    ],
)
def test_writes_pytorch_refuses_raise_at_the_write(write, message):
    x = dd.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        write(x)
    np.testing.assert_array_equal(x.detach().numpy(), np.ones(3))


def test_a_view_made_under_no_grad_refuses_a_recorded_write():
    x = dd.tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    with dd.no_grad():
        v = y[1:]
    with pytest.raises(RuntimeError, match="no_grad mode"):
        v *= 3.0
    with dd.no_grad():
        v *= 3.0  # allowed without recording, as in PyTorch
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 6.0, 6.0])


def test_writes_without_recording_reach_the_base_and_bump_its_version():
    c = dd.tensor(np.arange(4.0))
    e = c[2]
    e += 10.0
    np.split(c, 2)[0][...] = -1.0
    np.testing.assert_array_equal(c.numpy(), [-1.0, -1.0, 12.0, 3.0])
    assert c._version_counter == 2


def test_views_against_torch():
    torch = pytest.importorskip("torch")
    x0 = _point(6)
    # PyTorch iterates by unbind, whose views refuse writes (dualdiff's are views, as NumPy's),
    # and refuses a product in place with a value of the same memory (dualdiff's node keeps a
    # copy of it: the finite-difference test above checks that gradient)
    # (and a repeated index in a write keeps an unspecified one of its values)
    for program in set(PROGRAMS) - {_rows, _elements, _transpose_write, _repeated_index}:
        x = dd.tensor(x0, requires_grad=True)
        program(x, dd.tensor).backward()
        xt = torch.tensor(x0, requires_grad=True)
        program(xt, torch.tensor).backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-13)


# -- state dicts --------------------------------------------------------------------------------


def test_load_state_dict_of_a_wrong_shape_raises_at_load_naming_key_and_shapes():
    net = dd.nn.Linear(3, 2, rng=np.random.default_rng(0))
    weight = net.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: .*\(4, 3\).*\(2, 3\)"):
        net.load_state_dict({"weight": np.zeros((4, 3)), "bias": np.zeros(2)})
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        net.load_state_dict({"weight": np.zeros((4, 3))}, strict=False)
    np.testing.assert_array_equal(net.weight.detach().numpy(), weight)  # nothing loaded


def test_load_state_dict_keys_strict_and_not():
    net = dd.nn.Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match='Missing key.*"bias".*\n.*Unexpected key.*"extra"'):
        net.load_state_dict({"weight": np.zeros((2, 3)), "extra": np.zeros(1)})
    result = net.load_state_dict({"weight": np.ones((2, 3)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net.weight.detach().numpy(), np.ones((2, 3)))


def test_state_dict_round_trip_copies_values_into_the_parameters():
    a = dd.nn.Sequential(dd.nn.Linear(2, 3), dd.nn.Tanh(), dd.nn.Linear(3, 1))
    b = dd.nn.Sequential(dd.nn.Linear(2, 3), dd.nn.Tanh(), dd.nn.Linear(3, 1))
    weight = b.layers[0].weight
    result = b.load_state_dict(copy.deepcopy(a.state_dict()))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.layers[0].weight is weight  # loaded in place: an optimizer keeps its parameters
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        assert not np.shares_memory(p.value, q.value)


def test_optimizer_state_of_the_wrong_shape_raises_at_load():
    a = dd.tensor(np.ones(3), requires_grad=True)
    b = dd.tensor(np.ones(4), requires_grad=True)
    opt_a, opt_b = dd.optim.SGD([a], lr=0.1, momentum=0.9), dd.optim.SGD([b], lr=0.1, momentum=0.9)
    np.sum(a * a).backward()
    opt_a.step()
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3,\)"):
        opt_b.load_state_dict(opt_a.state_dict())


# -- copies and pickles -------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_deepcopy_and_pickle_keep_values_in_memory_of_their_own(n):
    x0 = _point(n)
    x = dd.tensor(x0, requires_grad=True)
    np.sum(x * x).backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.detach().numpy(), x0)
    np.testing.assert_array_equal(y.grad.numpy(), 2 * x0)
    assert_disjoint(x.value, y.value, x.grad.value, y.grad.value)
    z = pickle.loads(pickle.dumps(x))
    assert z.requires_grad and z.is_leaf and z.grad is None
    np.testing.assert_array_equal(z.detach().numpy(), x0)
    p = copy.deepcopy(dd.nn.Parameter(x0))
    assert type(p) is dd.nn.Parameter and not np.shares_memory(p.value, x0)
    view = pickle.loads(pickle.dumps(dd.tensor(x0)[1:3]))
    np.testing.assert_array_equal(view.numpy(), x0[1:3])


def test_deepcopy_of_a_module_and_of_a_non_leaf():
    net = dd.nn.Linear(2, 2, rng=np.random.default_rng(1))
    twin = copy.deepcopy(net)
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        assert not np.shares_memory(p.value, q.value) and q.requires_grad
    x = dd.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2.0)
    shallow = copy.copy(x)
    assert np.shares_memory(shallow.value, x.value) and shallow.is_leaf


def test_a_value_that_requires_grad_written_into_an_integer_tensor_raises():
    x = dd.tensor([1.5, 2.5], requires_grad=True)
    z = dd.tensor([0, 0])
    with pytest.raises(RuntimeError, match="int64 tensor require grad"):
        z[0] = x[0]
    np.testing.assert_array_equal(z.numpy(), [0, 0])


def test_data_assigned_from_an_array_is_copied():
    a = np.ones(3)
    w = dd.tensor(np.zeros(3), requires_grad=True)
    w.data = a
    with dd.no_grad():
        w -= 1.0
    np.testing.assert_array_equal(a, np.ones(3))
    np.testing.assert_array_equal(w.detach().numpy(), np.zeros(3))


@pytest.mark.parametrize("n", (2, 128))
def test_matmul_and_power_in_place(n):
    x0, w0 = _point(n * n).reshape(n, n), _point(n * n).reshape(n, n)
    x, w = dd.tensor(x0, requires_grad=True), dd.tensor(w0, requires_grad=True)
    y = x * 1.0
    y @= w
    y **= 2
    np.sum(y).backward()
    np.testing.assert_allclose(y.detach().numpy(), (x0 @ w0) ** 2, rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), (2 * (x0 @ w0)) @ w0.T, rtol=1e-13)
    np.testing.assert_allclose(w.grad.numpy(), x0.T @ (2 * (x0 @ w0)), rtol=1e-13)
    c = dd.tensor(x0)
    c @= w0
    np.testing.assert_allclose(c.numpy(), x0 @ w0, rtol=1e-14)


@pytest.mark.parametrize("recorded", [True, False])
def test_an_output_a_multi_output_rule_reads_changed_in_place_raises(recorded):
    a0 = np.array([[2.0, 1.0], [1.0, 3.0]])
    a = dd.tensor(a0, requires_grad=True)
    w, v = np.linalg.eigh(a)
    loss = np.sum(v * np.arange(4.0).reshape(2, 2))  # eigh's VJP for v reads w
    if recorded:
        w *= 2.0
    else:
        with dd.no_grad():
            w *= 2.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    w, v = np.linalg.eigh(a)
    np.sum(v * np.arange(4.0).reshape(2, 2)).backward()  # a fresh forward pass, against grad
    g = dd.grad(lambda m: np.sum(np.linalg.eigh(m)[1] * np.arange(4.0).reshape(2, 2)))(a0)
    np.testing.assert_allclose(a.grad.numpy(), g, rtol=1e-12)


def test_errors_name_the_tensor_not_an_internal_class():
    view = dd.tensor([1.0, 2.0, 3.0])[1:]
    assert type(view).__name__ == "Tensor" and isinstance(view, dd.Tensor)
    with pytest.raises(AttributeError, match="dualdiff tensor has no attribute 'exp'.*np.exp"):
        view.exp()


def test_a_grad_is_never_a_buffer_of_the_pool():
    from dualdiff.large import pool

    n = 20_000
    x0, y0 = np.linspace(0.0, 1.0, n), np.linspace(1.0, 2.0, n)
    x, y = dd.tensor(x0, requires_grad=True), dd.tensor(y0, requires_grad=True)
    np.sum((x * y - 1.0) ** 2).backward()  # the sweep's own products become the grads
    for t in (x, y):
        a = t.grad.value
        while a is not None:
            assert not pool.holds(a)
            a = a.base
    np.testing.assert_allclose(x.grad.numpy(), 2 * (x0 * y0 - 1.0) * y0, rtol=1e-14)
    np.testing.assert_allclose(y.grad.numpy(), 2 * (x0 * y0 - 1.0) * x0, rtol=1e-14)


# -- random sequences of views, writes and uses, against NumPy and finite differences ----------


def _random_program(seed, n):
    """Source of ``f(x)``: views of one array, writes in place through them, uses in between."""
    rs = np.random.default_rng(seed)
    lines = ["y = x * 1.5", "views = [y]", "acc = 0.0"]
    writes = ["*= 2.0", "+= 1.0", "/= 3.0", "-= 0.5", "*= X", "+= X * X"]
    for _ in range(rs.integers(2, 7)):
        kind = rs.choice(["slice", "reshape", "T", "row", "write", "write", "write", "use"])
        i = int(rs.integers(0, 10))
        if kind == "slice":
            a = int(rs.integers(0, n // 2))
            lines.append(f"views.append(y[{a}:{int(rs.integers(a + 2, n))}])")
        elif kind == "reshape":
            lines.append("views.append(y.reshape(3, -1))")
        elif kind == "T":
            lines.append("views.append(y.reshape(3, -1).T)")
        elif kind == "row":
            lines.append("views.append(y.reshape(3, -1)[1])")
        elif kind == "use":  # a product by a constant and tanh save no value of the view
            lines.append(f"acc = acc + (views[{i} % len(views)] * 3.0).sum()")
            lines.append(f"acc = acc + np.tanh(views[{i} % len(views)]).sum()")
        else:
            lines.append(f"w = views[{i} % len(views)]")
            lines.append("X = x.reshape(-1)[: w.size].reshape(w.shape)")
            lines.append(f"w {writes[rs.integers(len(writes))]}")
    lines.append("out = acc + (y * y).sum() + sum((u * u).sum() for u in views)")
    return "\n".join(lines)


def _run(source, x):
    scope = {"x": x, "np": np}
    exec(source, scope)
    return scope["out"]


@pytest.mark.parametrize(("n", "seeds"), [(12, range(60)), (24_000, range(8))])
def test_random_views_and_writes_match_numpy_and_finite_differences(n, seeds):
    for seed in seeds:
        source = _random_program(seed, n)
        x0 = np.random.default_rng(seed).uniform(0.5, 1.5, n)
        x = dd.tensor(x0, requires_grad=True)
        loss = _run(source, x)
        assert loss.item() == pytest.approx(float(_run(source, x0.copy())), rel=1e-12), source
        loss.backward()
        u = np.random.default_rng(seed + 1).normal(size=n)
        fd = _fd.slope(lambda p, s=source: float(_run(s, p)), x0, u)
        assert float(x.grad.numpy() @ u) == pytest.approx(fd, rel=1e-6, abs=1e-6), source
        assert_disjoint(x.grad.value, x.value, x0)


def test_a_retained_grad_is_the_gradient_of_the_current_values():
    x = dd.tensor(np.ones(4), requires_grad=True)
    y = x * 2.0
    y.retain_grad()
    y[1:3] *= 10.0
    y *= 3.0
    np.sum(y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.ones(4))  # PyTorch's too
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 60.0, 60.0, 6.0])
    x = dd.tensor(np.ones(4), requires_grad=True)
    y = x * 2.0
    v = y[1:3]
    v.retain_grad()
    v *= 10.0
    np.sum(y * np.arange(4.0)).backward()
    np.testing.assert_array_equal(v.grad.numpy(), [1.0, 2.0])  # PyTorch leaves it None


@pytest.mark.parametrize("n", SIZES)
def test_a_product_in_place_with_an_array_of_its_own_memory(n):
    x0 = _point(n)
    x = dd.tensor(x0, requires_grad=True)
    y = x * 1.0
    y *= y.detach().numpy()  # a constant that lies in y's memory: the node keeps its values
    np.sum(y).backward()
    np.testing.assert_array_equal(y.detach().numpy(), x0 * x0)
    np.testing.assert_array_equal(x.grad.numpy(), x0)  # d(x * c)/dx at c = x, as PyTorch's


def test_data_assigned_from_a_tensor_shares_its_memory_and_version():
    a = dd.tensor(np.ones(3))
    w = dd.tensor(np.zeros(3), requires_grad=True)
    w.data = a
    x = dd.tensor(np.ones(3), requires_grad=True)
    loss = np.sum(x * a)
    with dd.no_grad():
        w *= 2.0  # writes a's memory: the graph that saved a knows
    np.testing.assert_array_equal(a.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
