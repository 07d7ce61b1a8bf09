"""``replay=True`` in dualdiff.optimize: the same iterates as without it (bit for bit), SciPy's
own answer with its hand-written derivatives, ownership, and guards that see f change branch."""

import numpy as np
import pytest
import scipy.optimize as so

import dualdiff as dd
from tests._oracles import Unchanged, assert_owned


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


SIZES = {"small": 12, "large": 16384}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("method", ["L-BFGS-B", "Newton-CG", "trust-krylov", "BFGS"])
def test_minimize_replayed_takes_the_same_steps(method, size):
    n = SIZES[size]
    if size == "large" and method == "BFGS":
        pytest.skip("BFGS keeps a dense n x n inverse Hessian")
    x0 = np.linspace(-1.0, 0.5, n)
    kept = Unchanged(x0)
    options = {"maxiter": 30} if size == "large" else {}
    plain = dd.optimize.minimize(rosen, x0, method=method, options=options)
    fast = dd.optimize.minimize(rosen, x0, method=method, options=options, replay=True)
    np.testing.assert_array_equal(fast.x, plain.x)
    assert fast.nit == plain.nit and fast.nfev == plain.nfev
    if size == "small":  # SciPy with its own derivatives lands on the same minimum
        products = {"hessp": so.rosen_hess_prod} if method in ("Newton-CG", "trust-krylov") else {}
        hand = so.minimize(rosen, x0, jac=so.rosen_der, method=method, **products)
        np.testing.assert_allclose(fast.x, hand.x, atol=1e-4)
    assert_owned([fast.x], [x0])
    kept.check()


def test_dense_hessian_methods_and_args_replayed():
    A = np.diag(np.arange(1.0, 6.0)) + 0.1
    b = np.arange(5.0)
    f = lambda x, A, b: 0.5 * x @ A @ x - b @ x + 0.1 * np.sum(x**4)  # noqa: E731
    kept = Unchanged(A, b)
    for method in ("trust-exact", "dogleg"):
        plain = dd.optimize.minimize(f, np.zeros(5), args=(A, b), method=method)
        fast = dd.optimize.minimize(f, np.zeros(5), args=(A, b), method=method, replay=True)
        np.testing.assert_array_equal(fast.x, plain.x)
    kept.check()


def test_a_branch_that_flips_during_the_run_is_followed():
    # f changes formula where sum(x) crosses 1: the replay re-records, never reuses a branch
    def f(x):
        if np.sum(x) > 1.0:
            return np.sum((x - 0.7) ** 2) + 0.1 * np.sum(x)
        return np.sum((x - 0.7) ** 2)

    x0 = np.zeros(4)
    plain = dd.optimize.minimize(f, x0, method="L-BFGS-B")
    fast = dd.optimize.minimize(f, x0, method="L-BFGS-B", replay=True)
    np.testing.assert_array_equal(fast.x, plain.x)
    np.testing.assert_allclose(fast.x, 0.65, atol=1e-6)  # minimum of the branch it ends in


def test_least_squares_root_and_curve_fit_replayed():
    t = np.linspace(0.0, 2.0, 40)
    y = 2.0 * np.exp(-1.3 * t) + 0.3
    kept = Unchanged(t, y)
    residuals = lambda p: p[0] * np.exp(-p[1] * t) + p[2] - y  # noqa: E731
    for method in ("trf", "lm"):
        plain = dd.optimize.least_squares(residuals, np.ones(3), method=method)
        fast = dd.optimize.least_squares(residuals, np.ones(3), method=method, replay=True)
        # the unreplayed dispatcher tries both modes at its first calls (plans learned over
        # calls): their Jacobians may differ in the last bit
        np.testing.assert_allclose(fast.x, plain.x, rtol=1e-14)
    np.testing.assert_allclose(fast.x, [2.0, 1.3, 0.3], rtol=1e-8)
    system = lambda z: np.array([z[0] ** 3 - 8.0, z[0] * z[1] - 1.0])  # noqa: E731
    plain = dd.optimize.root(system, np.ones(2))
    fast = dd.optimize.root(system, np.ones(2), replay=True)
    np.testing.assert_array_equal(fast.x, plain.x)
    np.testing.assert_allclose(fast.x, [2.0, 0.5])
    model = lambda t, a, b, c: a * np.exp(-b * t) + c  # noqa: E731
    popt, pcov = dd.optimize.curve_fit(model, t, y, p0=[1.0, 1.0, 0.0], replay=True)
    popt0, pcov0 = dd.optimize.curve_fit(model, t, y, p0=[1.0, 1.0, 0.0])
    np.testing.assert_allclose(popt, popt0, rtol=1e-14)
    np.testing.assert_allclose(popt, [2.0, 1.3, 0.3], rtol=1e-8)  # the data's own parameters
    np.testing.assert_allclose(pcov, pcov0, rtol=1e-10)
    kept.check()


def test_a_constant_changed_in_place_between_runs_is_seen():
    target = np.full(3, 2.0)
    f = lambda x: np.sum((x - target) ** 2)  # noqa: E731
    first = dd.optimize.minimize(f, np.zeros(3), method="BFGS", replay=True)
    target[:] = -1.0
    second = dd.optimize.minimize(f, np.zeros(3), method="BFGS", replay=True)
    np.testing.assert_allclose(first.x, 2.0, atol=1e-6)
    np.testing.assert_allclose(second.x, -1.0, atol=1e-6)
