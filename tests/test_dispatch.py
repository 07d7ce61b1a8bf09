"""jacobian(mode=...), the cost-model plan, memory-aware chunking, executors."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualdiff as dd


def f_tall(x):  # n = 4 inputs, m = 40 outputs
    return np.sin(x)[:, None] * np.cos(np.arange(10.0)) + x[:, None] ** 2


def f_wide(x):  # n = 60 inputs, m = 3 outputs
    return np.stack([np.sum(np.sin(x)), np.sum(x**2), np.sum(np.tanh(x) * x)])


def analytic_tall(x):
    J = np.zeros((4, 10, 4))
    for i in range(4):
        J[i, :, i] = np.cos(x[i]) * np.cos(np.arange(10.0)) + 2 * x[i]
    return J


X4 = np.linspace(0.1, 0.9, 4)
X60 = np.linspace(-1.0, 1.0, 60)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_every_mode_and_chunking_gives_the_same_jacobian(mode, chunk_size):
    J = dd.jacobian(f_tall, mode=mode, chunk_size=chunk_size)(X4)
    np.testing.assert_allclose(J, analytic_tall(X4), rtol=1e-12)


def test_wide_function_rows_are_gradients():
    J = dd.jacobian(f_wide)(X60)
    expected = np.stack([np.cos(X60), 2 * X60, np.tanh(X60) + X60 / np.cosh(X60) ** 2])
    np.testing.assert_allclose(J, expected, rtol=1e-12)


def test_auto_picks_forward_for_tall_and_reverse_for_wide():
    tall = dd.plan_jacobian(lambda x: np.tanh(np.outer(np.sin(x), np.ones(1000))), np.ones(10))
    wide = dd.plan_jacobian(lambda x: np.sin(x)[:10] * np.sum(x), np.ones(1000))
    assert (tall.mode, tall.n, tall.m) == ("forward", 10, 10000)
    assert (wide.mode, wide.n, wide.m) == ("reverse", 1000, 10)
    assert "forward" in str(tall) and "why" in str(tall) and "n = 10" in str(tall)


def test_max_memory_chunks_the_basis():
    plan = dd.plan_jacobian(f_wide, X60, mode="forward", max_memory=8 * 1000)
    assert plan.passes > 1 and plan.chunk_size < 60 and plan.memory <= 8 * 1000
    J = dd.jacobian(f_wide, mode="forward", max_memory=8 * 1000)(X60)
    np.testing.assert_allclose(J, dd.jacrev(f_wide)(X60), rtol=1e-12)


def test_plan_reports_requested_mode_and_passes():
    plan = dd.plan_jacobian(f_tall, X4, mode="reverse", chunk_size=7)
    assert plan.mode == "reverse" and plan.chunk_size == 7 and plan.passes == 6
    assert "chunk_size" in plan.reason


def test_tuple_argnums():
    g = lambda a, b: np.sin(a) * b  # noqa: E731
    Ja, Jb = dd.jacobian(g, argnums=(0, 1))(X4, X4 + 1)
    np.testing.assert_allclose(Ja, np.diag(np.cos(X4) * (X4 + 1)), rtol=1e-12)
    np.testing.assert_allclose(Jb, np.diag(np.sin(X4)), rtol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_thread_pool_executor(mode):
    with ThreadPoolExecutor(4) as ex:
        J = dd.jacobian(f_tall, mode=mode, chunk_size=3, executor=ex)(X4)
    np.testing.assert_allclose(J, analytic_tall(X4), rtol=1e-12)


def test_dask_distributed_local_cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        J = dd.jacobian(f_tall, mode="reverse", chunk_size=8, executor=client.get_executor())(X4)
    np.testing.assert_allclose(J, analytic_tall(X4), rtol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobians_are_fresh_writeable_arrays(mode):
    jac = dd.jacobian(lambda x: x, mode=mode)  # the block is the basis itself here
    J = jac(X4)
    J[0, 0] = 5.0
    np.testing.assert_array_equal(jac(X4), np.eye(4))
    J = dd.jacobian(np.sin, mode=mode)(X4)
    J[1, 1] = 0.0  # writeable
    np.testing.assert_allclose(np.diag(dd.jacobian(np.sin, mode=mode)(X4)), np.cos(X4))


def test_plan_counts_intermediates_the_tape_does_not_keep():
    # 100 * x**2 and the sums keep no answer on the tape (no partial reads them); the plan's
    # work and memory still count every intermediate, as for a tape that kept them all
    n = 50
    x = np.linspace(0.1, 1.0, n)

    def f(x):
        return np.sin(100.0 * x**2 + x[::-1]) + 2.0 * x

    plan = dd.plan_jacobian(f, x, mode="reverse")
    assert plan.ops == 7
    assert plan.work == 7 * n  # every op touches n elements
    assert plan.memory >= 8 * (6 * n + n + n) * plan.chunk_size


def _square(x):
    return np.tanh(np.outer(x, x).sum(axis=1)) * x


@pytest.mark.parametrize("times, expected", [((1.0, 0.1), "reverse"), ((0.1, 1.0), "forward")])
def test_a_close_call_is_settled_by_timing_both_modes(monkeypatch, times, expected):
    from dualdiff import dispatch

    monkeypatch.setattr(dispatch, "TRIAL_MIN_COST", 0.0)
    calls = []

    def trial(probe, f, args, argnum, k):
        calls.append(k)
        return times

    monkeypatch.setattr(dispatch, "_trial", trial)
    x = np.linspace(0.1, 1.0, 30)
    plan = dd.plan_jacobian(_square, x)
    assert calls == [30] and plan.mode == expected and "measured" in plan.reason
    jac = dd.jacobian(_square)
    np.testing.assert_allclose(jac(x), dd.jacfwd(_square)(x), rtol=1e-12)
    jac(x + 1.0)
    assert calls == [30, 30]  # once per argument shapes: the second call reuses the plan


def test_small_or_clear_cut_plans_are_not_timed(monkeypatch):
    from dualdiff import dispatch

    def trial(*args):
        raise AssertionError("timed")

    monkeypatch.setattr(dispatch, "_trial", trial)
    assert dd.plan_jacobian(_square, np.ones(30)).mode in ("forward", "reverse")  # small
    monkeypatch.setattr(dispatch, "TRIAL_MIN_COST", 0.0)
    wide = dd.plan_jacobian(lambda x: np.sin(x) * np.sum(x), np.ones(3000), mode="forward")
    assert "measured" not in wide.reason  # a requested mode is never second-guessed
    tall = dd.plan_jacobian(lambda x: np.sum(np.sin(x)) * np.ones(1), np.ones(300))
    assert tall.mode == "reverse" and "measured" not in tall.reason  # n = 300 vs m = 1


# -- the one machinery: seeds, chunks, ownership, large sizes -------------------------------


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_kept_seeds_never_reach_the_caller(mode, chunk_size):
    # f = x hands the seeds back as its tangents or cotangents: the plan keeps them between
    # calls, so every Jacobian must be a fresh array all the same
    jac = dd.jacobian(lambda v: v, mode=mode, chunk_size=chunk_size)
    first = jac(X4)
    first[:] = 7.0
    second = jac(X4 + 1.0)
    np.testing.assert_array_equal(second, np.eye(4))
    assert not np.shares_memory(first, second) and second.flags.writeable


def test_a_new_shape_gets_its_own_plan():
    jac = dd.jacobian(lambda v: np.cumsum(v) * v)
    for n in (3, 5, 3):
        x = np.linspace(0.5, 1.0, n)
        expected = np.tril(np.ones((n, n))) * x[:, None] + np.diag(np.cumsum(x))
        np.testing.assert_allclose(jac(x), expected, rtol=1e-12)


def _wide_large(x):
    return np.stack([np.sum(np.sin(x)), np.sum(x**2), np.sum(np.tanh(x) * x)])


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_large_wide_jacobian_matches_numpy_and_owns_its_memory(mode):
    x = np.linspace(-1.0, 1.0, 16384)
    J = dd.jacobian(_wide_large, mode=mode, max_memory=2 * 2**20)(x)
    expected = np.stack([np.cos(x), 2 * x, np.tanh(x) + x / np.cosh(x) ** 2])
    np.testing.assert_allclose(J, expected, rtol=1e-12, atol=1e-15)
    assert not np.shares_memory(J, x)
    rows = [dd.grad(lambda v, i=i: _wide_large(v)[i])(x) for i in range(3)]  # one at a time
    np.testing.assert_allclose(J, np.stack(rows), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_large_sparse_jacobian_in_chunks_matches_the_dense_rows(mode):
    x = np.linspace(-1.0, 1.0, 16384)
    f = lambda v: v[1:] * np.sin(v[:-1]) + np.exp(v[1:])  # noqa: E731
    J = dd.jacobian(f, mode=mode, sparse=True, chunk_size=1)(x)
    diag = np.sin(x[:-1]) + np.exp(x[1:])  # d/dv[i+1]
    lower = x[1:] * np.cos(x[:-1])  # d/dv[i]
    np.testing.assert_allclose(J.diagonal(1), diag, rtol=1e-12)
    np.testing.assert_allclose(J.diagonal(0), lower, rtol=1e-12)
    assert J.nnz == 2 * (x.size - 1) and not np.shares_memory(J.data, x)
    t = np.random.default_rng(0).standard_normal(x.size)
    np.testing.assert_allclose(J @ t, dd.jvp(f, (x,), (t,))[1], rtol=1e-10, atol=1e-12)


def test_sparse_hessian_under_a_small_budget_matches_the_dense_one():
    f = lambda v: np.sum(v[1:] * v[:-1] ** 2) + np.sum(np.sin(v))  # noqa: E731
    x = np.linspace(-1.0, 1.0, 40)
    H = dd.sparse.SparseHessian(f, x, max_memory=4096)(x)  # a few colors per pass
    np.testing.assert_allclose(H.toarray(), dd.hessian(f)(x), rtol=1e-12, atol=1e-14)


JACOBIAN_MODULES = ["_jacobian", "dispatch", "sparse", "transforms", "optimize", "_pattern",
                    "_pattern_ops", "_pattern_linalg"]  # fmt: skip


@pytest.mark.parametrize("name", JACOBIAN_MODULES)
def test_jacobian_modules_import_at_the_top_only(name):
    # an import inside a function would hide a cycle; the sparsity core does not import nn
    import ast
    import importlib
    import inspect

    tree = ast.parse(inspect.getsource(importlib.import_module(f"dualdiff.{name}")))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"dualdiff.{name}.{node.name} imports inside a function"
    modules = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "dualdiff.nn" not in modules and "dualdiff.tape" not in modules
