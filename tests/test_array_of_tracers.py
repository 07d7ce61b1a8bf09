"""``np.array([f1, f2])``, ``np.asarray`` and ``np.mean([a, b])`` of traced values inside f, as
written (issue 15; dualdiff/_array_scope.py).

Three oracles: NumPy's value of the same f on plain arrays (bit for bit), ownership (inputs
unchanged, results sharing no memory with them), and derivatives against central differences
and forward mode against reverse mode, at a small size and at a size where the large-array layer
runs. Then what must not change: NumPy's results without tracers, on the transform's thread and
on another thread, and NumPy's own functions back in place after a transform, raised or not.
"""

import threading
import types

import numpy as np
import pytest

import dualdiff as dd
from tests import _fd

ORIGINAL = {name: getattr(np, name) for name in ("array", "asarray", "asanyarray", "mean", "sum")}
ORIGINAL_NORM = np.linalg.norm
bound_array = np.array  # bound at import, as ``from numpy import array``: NumPy's own

SMALL = np.array([0.3, -1.2, 0.7, 2.1])

PROGRAMS = {
    "scalars": lambda x: np.array([x[0], x[1] ** 2, np.sin(x[2]), x[3] * x[0]]),
    "nested": lambda x: np.array([[x[0], x[1]], [x[2], x[0] * x[3]]]),
    "mixed with numbers": lambda x: np.array([x[0], 1.0, 2, np.float64(3.5) * x[1]]),
    "vectors": lambda x: np.array([x, 2 * x, np.exp(x)]),
    "tuple": lambda x: np.array((x[1], x[2])),
    "nested vectors and scalars": lambda x: np.array([[x[:2], x[2:]], [x[::2] ** 2, x[1::2]]]),
    "asarray": lambda x: np.asarray([x[0], x[1] * x[2]]),
    "asanyarray": lambda x: np.asanyarray([[x[0]], [x[3]]]),
    "dtype and ndmin": lambda x: np.array([x[0], x[1]], dtype=np.float64, ndmin=3),
    "ode rhs": lambda x: np.array([x[1], -x[0] - 0.1 * x[1] ** 3, x[3], -x[2]]),
    "written into": lambda x: _written(np.array([x[0], x[1], x[2]])),
    "mean": lambda x: np.mean([x[0], x[1], x[2] ** 2]),
    "std": lambda x: np.std([x[0], x[1], np.cos(x[3])]),
    "var": lambda x: np.var([x[0], 2.0, x[2]]),
    "sum": lambda x: np.sum([[x[0], x[1]], [x[2], 1.0]], axis=0),
    "norm": lambda x: np.linalg.norm([x[0], x[1], 3.0]),
    "dot": lambda x: np.dot([x[0], x[1]], [x[2], x[3]]),
    "average": lambda x: np.average([x[0], x[1]], weights=[x[2] ** 2, 1.0]),
    "cumsum": lambda x: np.cumsum([x[0], x[1], x[3]]),
    "append": lambda x: np.append(x, [x[0]]),
}


def _written(y):
    y[1] = 5.0 * y[0]  # a traced array np.array made: writes into it are recorded
    return y


def _fd_jacobian(f, x):
    return _fd.jacobian(lambda v: np.asarray(f(v), dtype=float), x)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_small_values_ownership_and_derivatives(name):
    f = PROGRAMS[name]
    x = SMALL.copy()
    expected = f(SMALL.copy())  # NumPy's own, on plain arrays
    value, pullback = dd.vjp(f, x)
    np.testing.assert_array_equal(value, expected)
    assert np.asarray(value).dtype == np.asarray(expected).dtype
    _, tangent = dd.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(x, SMALL)  # the input is unchanged
    assert not np.shares_memory(value, x)
    jf, jr = dd.jacfwd(f)(x), dd.jacrev(f)(x)
    np.testing.assert_array_equal(x, SMALL)
    for j in (jf, jr, tangent, pullback(np.ones_like(value))[0]):
        assert not np.shares_memory(j, x)
    np.testing.assert_allclose(jf, _fd_jacobian(f, x), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(jr, jf, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(tangent, jf @ np.ones_like(x), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["scalars", "nested", "vectors", "mean", "norm", "dot"])
def test_second_order_nested_transforms(name):
    f = PROGRAMS[name]

    def loss(x):
        return np.sum(f(x) ** 2)

    h = dd.hessian(loss)(SMALL)
    np.testing.assert_allclose(h, _fd.jacobian(dd.grad(loss), SMALL), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, dd.jacrev(dd.grad(loss))(SMALL), rtol=1e-12, atol=1e-12)
    # the list built inside the inner transform of a nested one holds tracers of both levels
    inner = dd.jacfwd(lambda x: dd.grad(lambda y: np.sum(np.array([y[0] * x[0], x[1]])))(x))
    want = np.zeros((4, 4))
    want[0, 0] = 1.0  # d/dx of the gradient in y, [x0, 0, 0, 0]
    np.testing.assert_array_equal(inner(SMALL), want)


N = 16384
K = 5000


def _large_point():
    return np.random.default_rng(15).standard_normal(N)


LARGE = {
    "sums of slices": lambda x: np.array([np.sum(x[:K] ** 2), np.sum(np.sin(x[K:]))]),
    "vectors": lambda x: np.array([x, 2 * x, x * x]),
    "mean of sums": lambda x: np.mean([np.sum(x[:K]), np.sum(x[K:] ** 2), 1.0]),
}


@pytest.mark.parametrize("name", list(LARGE))
def test_large_values_ownership_and_derivatives(name):
    f = LARGE[name]
    x0 = _large_point()
    x = x0.copy()
    rng = np.random.default_rng(1)
    v = rng.standard_normal(N)
    expected = f(x0.copy())
    value, pullback = dd.vjp(f, x)
    u = rng.standard_normal(np.shape(value))
    (back,) = pullback(u)
    out, tangent = dd.jvp(f, (x,), (v,))
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, x0)
    for a in (value, out, tangent, back):
        assert not np.shares_memory(a, x)
    np.testing.assert_allclose(tangent, _fd.slope(f, x0, v), rtol=1e-6, atol=1e-6)
    # forward against reverse: u . (J v) = (J^T u) . v
    assert np.vdot(u, tangent) == pytest.approx(np.vdot(back, v), rel=1e-11)


def test_scipy_ode_right_hand_side_idiom():
    def rhs(t, y):
        return np.array([y[1], -y[0]])

    y = np.array([1.0, 2.0])
    for mode in ("forward", "reverse"):
        jac = dd.jacobian(lambda y: rhs(0.0, y), mode=mode)(y)
        np.testing.assert_array_equal(jac, [[0.0, 1.0], [-1.0, 0.0]])
    # with a parameter, through SciPy's own integrator: the Jacobian SciPy asks for
    scipy_integrate = pytest.importorskip("scipy.integrate")
    k = 3.0

    def stiff(t, y):
        return np.array([-k * y[0] + y[1] ** 2, -y[1]])

    jac = dd.jacobian(stiff, argnums=1)
    sol = scipy_integrate.solve_ivp(stiff, (0, 1), y, method="BDF", jac=jac, rtol=1e-10)
    ref = scipy_integrate.solve_ivp(stiff, (0, 1), y, method="BDF", rtol=1e-10)
    assert sol.success
    np.testing.assert_allclose(sol.y[:, -1], ref.y[:, -1], rtol=1e-6)
    np.testing.assert_allclose(jac(0.0, y), [[-k, 2 * y[1]], [0.0, -1.0]], rtol=1e-15)


PLAIN_CALLS = [
    lambda n: n.array([1.0, 2.0, 3.0]),
    lambda n: n.array([1.7, 2.2], dtype=int),
    lambda n: n.array([[1, 2], [3, 4]], ndmin=3),
    lambda n: n.array([1, "a", None], dtype=object),
    lambda n: n.array((1.0, [2.0, 3.0]), dtype=object),
    lambda n: n.asarray([1, 2], dtype=np.float32),
    lambda n: n.asanyarray([[True], [False]]),
    lambda n: n.mean([1.0, 2.0, 4.0]),
    lambda n: n.linalg.norm([3.0, 4.0]),
    lambda n: n.sum([[1, 2], [3, 4]], axis=1),
]
# NumPy's own functions, read before any transform ran
NUMPYS = types.SimpleNamespace(**ORIGINAL, linalg=types.SimpleNamespace(norm=ORIGINAL_NORM))


def _same(a, b):
    assert type(a) is type(b)
    assert np.asarray(a).dtype == np.asarray(b).dtype
    assert np.shape(a) == np.shape(b)
    assert np.asarray(a).tolist() == np.asarray(b).tolist()


def _plain_results_unchanged():
    """``np.<name>`` as the caller reads it now gives NumPy's own results without tracers."""
    for call in PLAIN_CALLS:
        _same(call(np), call(NUMPYS))
    a = np.arange(3.0)
    assert np.array(a, copy=False) is a
    assert np.asarray(a) is a
    assert np.array(a) is not a
    with pytest.raises(ValueError):
        np.array([[1.0], [1.0, 2.0]])
    return True


def _restored():
    return all(getattr(np, name) is fn for name, fn in ORIGINAL.items()) and (
        np.linalg.norm is ORIGINAL_NORM
    )


def test_results_without_tracers_are_numpys_inside_a_transform():
    seen = []

    def f(x):
        seen.append(_plain_results_unchanged())
        seen.append(np.array is not ORIGINAL["array"])  # the scoped np.array was in place
        return np.array([x[0], x[1]])

    dd.jacrev(f)(SMALL)
    dd.jacfwd(f)(SMALL)
    assert seen == [True, True, True, True]
    assert _restored()


def test_another_thread_gets_numpys_results_while_a_transform_runs():
    inside, done = threading.Event(), threading.Event()
    report = {}

    def other():
        assert inside.wait(30)
        try:
            report["installed"] = np.array is not ORIGINAL["array"]
            report["same"] = _plain_results_unchanged()
            report["leaked"] = None
            try:  # a tracer on a thread that runs no transform is refused, as before
                np.array([leaked[0], 1.0])
            except TypeError as e:
                report["leaked"] = "dualdiff.numpy.array" in str(e)
        finally:
            done.set()

    leaked = []

    def f(x):
        leaked.append(x[0])
        inside.set()
        assert done.wait(30)
        return np.array([x[0], x[1] ** 2])

    thread = threading.Thread(target=other)
    thread.start()
    g = dd.jacrev(f)(SMALL)
    thread.join()
    np.testing.assert_array_equal(g, [[1, 0, 0, 0], [0, 2 * SMALL[1], 0, 0]])
    assert report == {"installed": True, "same": True, "leaked": True}
    assert _restored()


def test_transforms_on_several_threads_at_once():
    from tests._threads import in_threads

    def work(i):
        x = SMALL + i
        j = dd.jacrev(lambda x: np.array([x[0] * x[1], np.mean([x[2], x[3]])]))(x)
        want = [[x[1], x[0], 0, 0], [0, 0, 0.5, 0.5]]
        np.testing.assert_array_equal(j, want)
        return _plain_results_unchanged()

    assert in_threads(work, 8) == [True] * 8
    assert _restored()


def test_numpys_functions_are_back_after_a_transform_raises():
    def f(x):
        np.array([x[0], x[1]])
        raise RuntimeError("inside f")

    for transform in (dd.grad, dd.jacfwd, dd.hessian):
        with pytest.raises(RuntimeError, match="inside f"):
            transform(lambda x: np.sum(f(x)))(SMALL)
        assert _restored()

    def inner_raises(x):  # an inner transform raises, the outer one catches it and goes on
        try:
            dd.grad(lambda y: np.sum(f(y)))(x)
        except RuntimeError:
            pass
        return np.sum(np.array([x[0], x[1] ** 2]))

    np.testing.assert_array_equal(dd.grad(inner_raises)(SMALL), [1, 2 * SMALL[1], 0, 0])
    assert _restored()
    assert np.array([1, 2]).dtype == ORIGINAL["array"]([1, 2]).dtype


def test_limits_name_the_way_out():
    # a name bound before the transform is NumPy's own: dualdiff's TypeError names the fix
    with pytest.raises(TypeError, match="dualdiff.numpy.array"):
        dd.grad(lambda x: np.sum(bound_array([x[0], x[1]])))(SMALL)
    # a traced array itself is not converted (SciPy's Python functions start with np.asarray)
    with pytest.raises(TypeError, match="dualdiff.numpy.array"):
        dd.grad(lambda x: np.sum(np.asarray(x)))(SMALL)
    # a list is always copied: copy=False refuses, as NumPy does
    with pytest.raises(ValueError, match="avoid copy"):
        dd.grad(lambda x: np.sum(np.array([x[0], x[1]], copy=False)))(SMALL)
    # the tensor layer: a list of tensors that require grad is refused by name, as in PyTorch
    t = dd.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="requires grad"):
        np.array([t[0], t[1]])
