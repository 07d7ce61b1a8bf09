"""The dispatcher's choices beyond the cost model: plans learned from repeated calls, compressed
(colored) passes for sparse derivatives in auto mode, and BLAS on one thread for small
Jacobians. Every choice returns what the dense transforms return (NumPy-free oracles: jacfwd,
jacrev and finite differences), owned by the caller."""

import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen_hess
from threadpoolctl import threadpool_info, threadpool_limits

import dualdiff as dd
from dualdiff import _auto_sparse, _blas, dispatch
from tests._fd import jacobian as fd_jacobian

SIZES = {"small": 300, "large": 16384}


def _blas_threads():
    """Threads of NumPy's BLAS (the library the pin is for), or of every BLAS if none is."""
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return [i["num_threads"] for i in [i for i in blas if "numpy" in i["filepath"]] or blas]


def chained_rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def block_sums(x):
    """R^n -> R^64: each output sums one block of inputs (one row color, many column ones)."""
    return np.sin(np.sum(np.reshape(x, (64, -1)) ** 2, axis=1))


def assert_owned(result, *held):
    for h in held:
        assert not np.shares_memory(result, h)


# -- compressed passes in auto mode ------------------------------------------------------------


def test_a_banded_jacobian_is_computed_by_compressed_passes_and_returned_dense():
    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    x = np.linspace(-1.0, 1.0, 3000)
    before = x.copy()
    jac = dd.jacobian(f)
    J = jac(x)
    plan = jac.plan(x)
    assert "structural sparsity: 2 colors" in plan.sparsity, plan
    assert isinstance(J, np.ndarray) and J.shape == (2999, 3000) and J.flags.writeable
    np.testing.assert_array_equal(J, dd.jacfwd(f)(x))  # each entry is read off alone
    closed = np.zeros((2999, 3000))  # d/dx of x[1:] cos(x[:-1])
    closed[np.arange(2999), np.arange(1, 3000)] = np.cos(x[:-1])
    closed[np.arange(2999), np.arange(2999)] = -x[1:] * np.sin(x[:-1])
    np.testing.assert_array_equal(J, closed)
    np.testing.assert_array_equal(x, before)
    assert_owned(J, x)
    rows = np.array([0, 1500, 2998])
    np.testing.assert_allclose(J[rows], fd_jacobian(f, x)[rows], atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_a_jacobian_with_one_row_color_goes_reverse_compressed(size):
    x = np.random.default_rng(0).uniform(-1.0, 1.0, SIZES[size] // 64 * 64)
    jac = dd.jacobian(block_sums)
    reference = dd.jacrev(block_sums)(x)
    for _ in range(20):  # 64 dense directions are cheap: detection waits for repeated calls
        J = jac(x)
        np.testing.assert_allclose(J, reference, rtol=1e-14, atol=1e-14)
        assert_owned(J, x)
    if size == "large":
        assert "1 colors (reverse passes)" in jac.plan(x).sparsity


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_sparse_hessian_is_compressed_and_equals_forward_over_reverse(dtype):
    x = np.linspace(-1.0, 1.0, 3000).astype(dtype)
    hess = dd.hessian(chained_rosenbrock)
    H = hess(x)
    assert hess.plan(x).method == "compressed", hess.plan(x)
    assert "3 colors" in str(hess.plan(x))
    assert H.dtype == dtype and H.shape == (3000, 3000)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(H, rosen_hess(x.astype(np.float64)), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(H, dd.jacfwd(dd.grad(chained_rosenbrock))(x), rtol=1e-6)
    assert_owned(H, x)


def test_a_hessian_detects_its_pattern_once_repeated_calls_pay_for_it():
    x = np.linspace(-1.0, 1.0, 300)
    hess = dd.hessian(chained_rosenbrock)
    reference = dd.jacfwd(dd.grad(chained_rosenbrock))(x)
    seen = []
    for _ in range(10):  # detection waits until the dense calls' time pays for it
        np.testing.assert_array_equal(hess(x), reference)
        seen.append(hess.plan(x).method)
    assert seen[0] == "dense" and seen[-1] == "compressed", seen


def test_a_dense_jacobian_skips_the_pattern_trace(monkeypatch):
    A = np.random.default_rng(1).standard_normal((500, 500))
    f = lambda x: np.tanh(A @ np.sin(x))  # noqa: E731
    x = np.linspace(-1.0, 1.0, 500)

    def no_trace(*args):
        raise AssertionError("a dense Jacobian must not pay for a pattern trace")

    monkeypatch.setattr(_auto_sparse, "_pattern", no_trace)
    jac = dd.jacobian(f)
    for _ in range(6):
        J = jac(x)
    assert "too many nonzeros" in jac.plan(x).sparsity
    np.testing.assert_allclose(J, dd.jacfwd(f)(x), rtol=1e-12, atol=1e-13)


def test_a_pattern_that_misses_nonzeros_is_caught_and_the_answer_stays_right(monkeypatch):
    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    x = np.linspace(-1.0, 1.0, 3000)
    real = _auto_sparse._pattern

    def diagonal_only(f, args, argnum, hessian):
        pattern, reason = real(f, args, argnum, hessian)
        return _diagonal(pattern), reason

    monkeypatch.setattr(_auto_sparse, "_pattern", diagonal_only)
    jac = dd.jacobian(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # the compressed Jacobian's own check traces the pattern again
            np.testing.assert_array_equal(jac(x), dd.jacfwd(f)(x))
    assert "2 colors" in jac.plan(x).sparsity


def test_a_pattern_that_fails_where_it_was_traced_warns_and_goes_dense(monkeypatch):
    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    x = np.linspace(-1.0, 1.0, 3000)
    choice = _auto_sparse.SparseChoice(2999, 4, 12000, 1.0)
    choice.detect(f, (x,), 0, None, dispatch.DEFAULT_MAX_MEMORY)
    monkeypatch.setattr(_auto_sparse, "agrees", lambda *args: False)
    with pytest.warns(RuntimeWarning, match="missed nonzeros"):
        assert choice(f, (x,), 0, None, dispatch.DEFAULT_MAX_MEMORY, False) is None
    assert choice.compressed is None and "failed its check" in choice.describe()


def test_a_pointwise_pattern_or_a_failed_trace_keeps_dense_passes(monkeypatch):
    def branchy(x):
        return x[1:] * x[:-1] if x[0] > 0 else x[1:] - x[:-1]

    x = np.linspace(0.5, 1.0, 3000)
    jac = dd.jacobian(branchy)
    np.testing.assert_array_equal(jac(x), dd.jacfwd(branchy)(x))
    assert "one point only" in jac.plan(x).sparsity

    def failing(*args):
        raise NotImplementedError("no pattern rule")

    monkeypatch.setattr(_auto_sparse, "_pattern", failing)
    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    jac = dd.jacobian(f)
    np.testing.assert_array_equal(jac(x), dd.jacfwd(f)(x))
    assert "detection failed (NotImplementedError" in jac.plan(x).sparsity


def test_requested_modes_and_executors_never_use_compressed_passes():
    from concurrent.futures import ThreadPoolExecutor

    f = lambda x: x[1:] * np.cos(x[:-1])  # noqa: E731
    x = np.linspace(-1.0, 1.0, 3000)
    assert dd.jacobian(f, mode="forward").plan(x).sparsity == "not considered"
    with ThreadPoolExecutor(2) as pool:
        np.testing.assert_array_equal(dd.jacobian(f, executor=pool)(x), dd.jacfwd(f)(x))


# -- plans learned over repeated calls ---------------------------------------------------------


def test_a_close_call_alternates_the_modes_then_keeps_the_faster(monkeypatch):
    f = lambda x: np.sin(x) * np.sum(x)  # noqa: E731  (n = m: the estimates are close)
    x = np.linspace(-1.0, 1.0, 40)
    modes = []
    fake = {"forward": 2.0, "reverse": 1.0}

    def timed(compute):
        modes.append(compute.__closure__ and _mode_of(compute))
        return compute(), fake[modes[-1]]

    def _mode_of(compute):
        cells = [c.cell_contents for c in compute.__closure__]
        return next(c.mode for c in cells if isinstance(c, dispatch.JacobianPlan))

    monkeypatch.setattr(dispatch, "timed", timed)
    jac = dd.jacobian(f)
    first = jac.plan(x).mode
    reference = dd.jacrev(f)(x)
    learn = dispatch.LEARN_CALLS
    for _ in range(2 * learn + 2):
        np.testing.assert_allclose(jac(x), reference, rtol=1e-15, atol=1e-15)
    other = "reverse" if first == "forward" else "forward"
    assert modes[: 2 * learn] == [first, other] * learn
    assert modes[2 * learn :] == ["reverse", "reverse"]
    assert jac.plan(x).mode == "reverse"
    assert f"timed faster over {learn} calls" in jac.plan(x).reason


def test_a_clear_call_is_not_second_guessed():
    f = lambda x: np.sin(x[:3]) * np.sum(x ** 2)  # noqa: E731  (n = 2000, m = 3)
    x = np.linspace(-1.0, 1.0, 2000)
    jac = dd.jacobian(f)
    for _ in range(5):
        J = jac(x)
    assert jac.plan(x).mode == "reverse" and "estimated cheaper" in jac.plan(x).reason
    np.testing.assert_allclose(J, fd_jacobian(f, x), atol=1e-6)


# -- BLAS on one thread ------------------------------------------------------------------------


@pytest.fixture
def two_blas_threads():
    """BLAS on two threads for a test of pinning (the suite runs on one: conftest.py)."""
    with threadpool_limits(2, user_api="blas"):
        yield


@pytest.mark.usefixtures("two_blas_threads")
def test_a_small_jacobians_passes_run_blas_on_one_thread_and_restore_it():
    A = np.random.default_rng(2).standard_normal((100, 100))
    seen = []

    def f(x):
        seen.append(_blas_threads())
        return np.tanh(A @ np.sin(x))

    before = _blas_threads()
    x = np.linspace(-1.0, 1.0, 100)
    jac = dd.jacobian(f, mode="forward")
    J = jac(x)
    assert jac.plan(x).one_thread and "BLAS on one thread" in str(jac.plan(x))
    assert all(t == 1 for t in seen[-1]) and _blas_threads() == before
    np.testing.assert_allclose(J, fd_jacobian(lambda x: np.tanh(A @ np.sin(x)), x), atol=1e-6)


@pytest.mark.usefixtures("two_blas_threads")
def test_one_thread_is_held_until_its_last_holder_leaves():
    before = _blas_threads()
    assert all(t == 2 for t in before)
    seen = []

    def enter_and_leave():
        with _blas.one_thread():
            seen.append(_blas_threads())

    with _blas.one_thread():
        assert all(t == 1 for t in _blas_threads())
        worker = threading.Thread(target=enter_and_leave)
        worker.start()
        worker.join()
        assert all(t == 1 for t in _blas_threads())  # the worker left; this block still holds
    assert seen and all(t == 1 for t in seen[0])
    assert _blas_threads() == before
    with _blas.one_thread(enabled=False):
        assert _blas_threads() == before


def _diagonal(pattern):
    """Only the diagonal of a pattern: a pattern that misses nonzeros."""
    coo = sp.coo_array(pattern)
    keep = coo.row == coo.col
    return sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
