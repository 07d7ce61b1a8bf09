"""Engine options (``dd.engine_options``): one switch per large-array mechanism, per thread.

Each mechanism changes speed and memory only: with any one of them off, or all of them (the
reference engine alone), values and derivatives are those NumPy and finite differences give.
"""

import threading
import warnings

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.large import pool
from dualdiff.options import NAMES
from tests._fd import slope

N = 1 << 15  # large: every mechanism engages


def f(x):
    y = np.sin(x) * 2.0 - x[::-1] ** 2
    z = y[1:] - y[:-1] * 0.5
    return np.sum(np.exp(-(z**2))) + np.sum(y) * 0.25


@pytest.fixture
def x():
    return np.random.default_rng(3).uniform(-1.0, 1.0, N)


def test_the_context_manager_sets_and_restores_each_option():
    with dd.engine_options() as before:
        pass
    with dd.engine_options(defer=False, pool=False) as inside:
        assert not inside["defer"] and not inside["pool"]
        assert inside["elide"] == before["elide"]
        with dd.engine_options(large=False) as all_off:
            assert not any(all_off.values())
        with dd.engine_options() as again:
            assert again == inside
    with dd.engine_options() as after:
        assert after == before


def test_options_are_restored_when_the_block_raises():
    with dd.engine_options() as before:
        pass
    with pytest.raises(ZeroDivisionError), dd.engine_options(large=False):
        1 / 0  # noqa: B018
    with dd.engine_options() as after:
        assert after == before


def test_options_are_per_thread():
    seen = {}

    def other():
        with dd.engine_options() as options:
            seen.update(options)

    with dd.engine_options(large=False):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    with dd.engine_options() as defaults:
        assert seen == defaults  # the other thread kept its own (the defaults)


@pytest.mark.parametrize("off", [*[(n,) for n in NAMES], ("scale", "in_place"), ("large",)])
def test_each_mechanism_off_gives_numpy_and_finite_differences(x, off):
    x0 = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # deferral on where it is not off
        value, g = dd.value_and_grad(f)(x)
        with dd.engine_options(**dict.fromkeys(off, False)):
            value_off, g_off = dd.value_and_grad(f)(x)
            hv_off = dd.hvp(f, x, np.cos(x))
        hv = dd.hvp(f, x, np.cos(x))
    assert value_off == f(x) and value == f(x)
    np.testing.assert_allclose(g_off, g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hv_off, hv, rtol=1e-10, atol=1e-10)
    v = np.random.default_rng(4).standard_normal(N)
    np.testing.assert_allclose(g_off @ v, slope(f, x, v), rtol=1e-6)
    assert not np.shares_memory(g_off, x) and not np.shares_memory(g_off, g)
    assert not pool.holds(g_off) and not pool.holds(hv_off)  # the caller's, never reused
    np.testing.assert_array_equal(x, x0)


def test_an_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="elision"):
        with dd.engine_options(elision=False):
            pass
