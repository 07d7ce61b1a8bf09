"""dualdiff.optimize: SciPy's optimizers with exact derivatives, checked against SciPy's own
hand-written derivatives (rosen_der, rosen_hess_prod, rosen_hess) and analytic Jacobians."""

import warnings
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dualdiff as dd
from dualdiff.optimize import MINIMIZE_USES

X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
FINITE = st.floats(-2.0, 2.0, allow_nan=False)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


class Counted:
    """A function that counts its calls (to see what SciPy was given and used)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def handed(solver, call):
    """The positional arguments and keywords ``call`` hands ``scipy.optimize.<solver>``
    (caught: SciPy does not run)."""
    caught = {}

    def catch(*args, **kwargs):
        caught.update(args=args, kwargs=kwargs)
        return so.OptimizeResult(x=np.zeros(1))

    with mock.patch.object(so, solver, catch):
        call()
    return caught["args"], caught["kwargs"]


def objective(fun=rosen, x0=X0, method="trust-ncg"):
    """What ``dd.optimize.minimize`` hands SciPy: ``fun`` (value and gradient, as jac=True),
    ``hessp`` or ``hess``."""
    (value_and_grad, _), kwargs = handed("minimize", lambda: dd.optimize.minimize(fun, x0,
                                                                                method=method))
    assert kwargs["jac"] is True
    return SimpleNamespace(value_and_grad=value_and_grad, hessp=kwargs.get("hessp"),
                           hess=kwargs.get("hess"))  # fmt: skip


# -- the derivatives handed to SciPy ---------------------------------------------------------------


@settings(max_examples=30, deadline=None, derandomize=True)
@given(arrays(np.float64, 6, elements=FINITE))
def test_value_and_grad_matches_rosen_der(x):
    value, g = objective().value_and_grad(x)
    assert value == pytest.approx(so.rosen(x), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(g, so.rosen_der(x), rtol=1e-10, atol=1e-10)
    assert type(value) is float and g.dtype == np.float64


@settings(max_examples=30, deadline=None, derandomize=True)
@given(arrays(np.float64, 6, elements=FINITE), arrays(np.float64, 6, elements=FINITE))
def test_hessp_matches_rosen_hess_prod(x, v):
    np.testing.assert_allclose(
        objective().hessp(x, v), so.rosen_hess_prod(x, v), rtol=1e-10, atol=1e-9
    )


def test_hess_matches_rosen_hess():
    hess = objective(method="dogleg").hess
    np.testing.assert_allclose(hess(X0), so.rosen_hess(X0), rtol=1e-12)


def test_hessp_records_once_per_point():
    fun = Counted(rosen)
    obj = objective(fun)
    rng = np.random.default_rng(0)
    for x in (X0, X0 + 0.1):
        before = fun.calls
        for v in rng.standard_normal((5, X0.size)):
            np.testing.assert_allclose(obj.hessp(x, v), so.rosen_hess_prod(x, v), rtol=1e-12)
        assert fun.calls - before == 1  # five products, one run of fun


def test_hessp_accepts_int8_vectors():
    v = np.array([1, 0, -1, 2, 0], dtype=np.int8)  # what trust-constr passes
    np.testing.assert_allclose(objective().hessp(X0, v), so.rosen_hess_prod(X0, v), rtol=1e-12)


def test_hessian_at_a_linear_function_is_zero():
    hessp = objective(lambda x: np.sum(3.0 * x), np.ones(3)).hessp
    np.testing.assert_array_equal(hessp(np.ones(3), np.arange(3.0)), np.zeros(3))


# -- minimize: every method, against SciPy with hand-written derivatives -----------------------


def analytic_kwargs(method):
    uses = MINIMIZE_USES[method]
    return {
        "jac": so.rosen_der if "jac" in uses else None,
        "hess": so.rosen_hess if "hess" in uses else None,
        "hessp": so.rosen_hess_prod if "hessp" in uses else None,
    }


SMOOTH = [m for m, uses in MINIMIZE_USES.items() if "jac" in uses and m != "dogleg"]


@pytest.mark.parametrize("method", SMOOTH)
def test_minimize_matches_analytic_run(method):
    ours = dd.optimize.minimize(rosen, X0, method=method)
    theirs = so.minimize(so.rosen, X0, method=method, **analytic_kwargs(method))
    assert ours.success and theirs.success
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-3)
    np.testing.assert_allclose(ours.x, np.ones(5), atol=2e-3)
    assert abs(ours.nit - theirs.nit) <= max(2, theirs.nit // 10)


def test_dogleg_on_a_convex_problem():
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, 2.0])
    res = dd.optimize.minimize(
        lambda x: 0.5 * x @ A @ x - b @ x + np.sum(x**4),
        np.ones(2),
        method="dogleg",
        options={"gtol": 1e-8},
    )
    assert res.success and res.nhev > 0
    np.testing.assert_allclose(A @ res.x - b + 4 * res.x**3, 0.0, atol=1e-8)  # the gradient


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell", "COBYLA", "COBYQA"])
def test_derivative_free_methods_get_no_derivatives(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SciPy warns when given a jac it does not use
        res = dd.optimize.minimize(lambda x: np.sum((x - 2.0) ** 2), np.zeros(2), method=method)
    np.testing.assert_allclose(res.x, [2.0, 2.0], atol=1e-3)


def test_gradient_comes_with_the_value():
    fun = Counted(rosen)
    res = dd.optimize.minimize(fun, X0, method="BFGS")
    assert fun.calls == res.nfev == res.njev  # one traced run gives value and gradient


def test_default_method_is_scipys():
    res = dd.optimize.minimize(rosen, X0)
    assert res.success and "hess_inv" in res and res.hess_inv.shape == (5, 5)  # BFGS
    res = dd.optimize.minimize(rosen, X0, bounds=[(0, 0.9)] * 5)
    np.testing.assert_allclose(res.x[0], 0.9, atol=1e-6)  # L-BFGS-B honours the bounds


def test_user_derivatives_win():
    jac, hessp = Counted(so.rosen_der), Counted(so.rosen_hess_prod)
    res = dd.optimize.minimize(so.rosen, X0, method="Newton-CG", jac=jac, hessp=hessp)
    assert res.success and jac.calls > 0 and hessp.calls == res.nhev
    hess = Counted(so.rosen_hess)
    res = dd.optimize.minimize(rosen, X0, method="trust-exact", hess=hess)
    assert res.success and hess.calls == res.nhev
    res = dd.optimize.minimize(lambda x: (so.rosen(x), so.rosen_der(x)), X0, jac=True)
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-4)


def test_args_pass_through():
    res = dd.optimize.minimize(
        lambda x, c, s: s * np.sum((x - c) ** 2),
        np.zeros(3),
        args=(np.arange(3.0), 2.0),
        method="Newton-CG",
    )
    np.testing.assert_allclose(res.x, np.arange(3.0), atol=1e-6)


# -- structures, dtypes and errors -----------------------------------------------------------------


def test_dict_x0_comes_back_as_a_dict_with_per_key_bounds():
    target = {"w": np.array([0.0, 1.0, 2.0]), "b": 2.0, "m": np.zeros((2, 2))}

    def loss(p):
        return (
            np.sum((p["w"] - target["w"]) ** 2)
            + (p["b"] - target["b"]) ** 2
            + np.sum((p["m"] - 1.0) ** 2)
        )

    x0 = {"w": np.zeros(3, np.float32), "b": 0.0, "m": np.zeros((2, 2))}
    res = dd.optimize.minimize(loss, x0, method="L-BFGS-B", bounds={"w": (None, 1.5), "b": (0, 1)})
    assert set(res.x) == {"w", "b", "m"} and isinstance(res.x["b"], float)
    np.testing.assert_allclose(res.x["w"], [0.0, 1.0, 1.5], atol=1e-6)
    assert res.x["b"] == pytest.approx(1.0)
    np.testing.assert_allclose(res.x["m"], np.ones((2, 2)), atol=1e-6)
    with pytest.raises(ValueError, match="keys that x0 lacks"):
        dd.optimize.minimize(loss, x0, method="L-BFGS-B", bounds={"v": (0, 1)})


def test_nested_x0_callback_and_hessp_see_the_structure():
    seen = []

    def loss(p):
        a, (b, c) = p
        return (a - 1.0) ** 2 + np.sum((b - 2.0) ** 2) + np.sum((c + 1.0) ** 4)

    def callback(intermediate_result):
        seen.append(intermediate_result.x)

    x0 = (0.0, (np.zeros(2), np.zeros((2, 2))))
    res = dd.optimize.minimize(loss, x0, method="trust-krylov", callback=callback)
    a, (b, c) = res.x
    assert a == pytest.approx(1.0) and b.shape == (2,) and c.shape == (2, 2)
    np.testing.assert_allclose(b, [2.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(c, -np.ones((2, 2)), atol=2e-2)
    assert seen and all(isinstance(x, tuple) and x[1][1].shape == (2, 2) for x in seen)


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
def test_constraints_on_a_dict_x0(method):
    loss = lambda p: np.sum(p["a"] ** 2) + 2.0 * p["b"] ** 2  # noqa: E731
    con = {"type": "eq", "fun": lambda p: np.sum(p["a"]) + p["b"] - 3.0}
    res = dd.optimize.minimize(loss, {"a": np.zeros(2), "b": 0.0}, method=method, constraints=con)
    # Lagrange: 2 a_i = lam, 4 b = lam, 2 a + b = 3 -> a_i = 1.2, b = 0.6
    np.testing.assert_allclose(res.x["a"], [1.2, 1.2], atol=1e-5)
    assert res.x["b"] == pytest.approx(0.6, abs=1e-5)


def test_user_jac_on_a_dict_x0_may_return_a_dict():
    jac = Counted(lambda p: {"a": 2.0 * (p["a"] - 1.0), "b": 4.0 * p["b"]})
    res = dd.optimize.minimize(
        lambda p: np.sum((p["a"] - 1.0) ** 2) + 2.0 * p["b"] ** 2,
        {"a": np.zeros(3), "b": 1.0},
        method="BFGS",
        jac=jac,
    )
    assert jac.calls == res.njev > 0
    np.testing.assert_allclose(res.x["a"], np.ones(3), atol=1e-6)


def test_matrix_x0_keeps_its_shape():
    res = dd.optimize.minimize(
        lambda m: np.sum((m @ m - np.eye(2)) ** 2) + np.sum(m**2) * 1e-3,
        np.array([[1.2, 0.1], [0.0, 0.9]]),
        method="BFGS",
    )
    assert res.x.shape == (2, 2)
    m = res.x
    assert np.sum((m @ m - np.eye(2)) ** 2) < 1e-5


def test_bounds_shaped_like_a_matrix_x0():
    upper = np.array([[1.0, 3.0], [3.0, 1.0]])
    res = dd.optimize.minimize(
        lambda m: np.sum((m - 2.0) ** 2), np.zeros((2, 2)), bounds=so.Bounds(0.0, upper)
    )
    np.testing.assert_allclose(res.x, [[1.0, 2.0], [2.0, 1.0]], atol=1e-8)
    res = dd.optimize.least_squares(
        lambda m: np.ravel(m - 2.0), np.full((2, 2), 0.5), bounds=(0.0, upper)
    )
    np.testing.assert_allclose(res.x, [[1.0, 2.0], [2.0, 1.0]], atol=1e-8)


def test_float32_x0_runs_in_float64():
    res = dd.optimize.minimize(
        lambda x: np.sum((x - 0.5) ** 2), np.ones(4, np.float32), method="L-BFGS-B"
    )
    assert res.success and res.x.dtype == np.float64 and res.jac.dtype == np.float64
    np.testing.assert_allclose(res.x, 0.5, atol=1e-7)


def test_non_scalar_objective_raises_with_the_shape():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        dd.optimize.minimize(lambda x: x**2, np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        dd.optimize.minimize(lambda x: x**2, np.ones(3), method="Nelder-Mead")


def test_scipy_rosen_raises_a_type_error_naming_the_fix():
    with pytest.raises(TypeError, match="scipy.optimize.rosen"):
        dd.optimize.minimize(so.rosen, X0)


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "Newton-CG"])
def test_nan_gradient_stops_with_a_message(method):
    with np.errstate(invalid="ignore"):
        res = dd.optimize.minimize(
            lambda x: np.sum(np.sqrt(x)), np.array([1.0, 2.0]), method=method
        )
    assert not res.success and "NaN" in res.message
    assert np.isfinite(res.x).all() and np.all(res.x > 0)
    assert res.fun == pytest.approx(np.sum(np.sqrt(res.x)))
    np.testing.assert_allclose(res.jac, 0.5 / np.sqrt(res.x))


# -- constraints -------------------------------------------------------------------------------


def tutorial_problem():
    """SciPy's SLSQP tutorial problem: the optimum is (1.4, 1.7)."""
    fun = lambda x: (x[0] - 1) ** 2 + (x[1] - 2.5) ** 2  # noqa: E731
    cons = (
        {"type": "ineq", "fun": lambda x: x[0] - 2 * x[1] + 2},
        {"type": "ineq", "fun": lambda x: -x[0] - 2 * x[1] + 6},
        {"type": "ineq", "fun": lambda x: -x[0] + 2 * x[1] + 2},
    )
    return fun, cons


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr", "COBYLA"])
def test_dict_constraints(method):
    fun, cons = tutorial_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", so.OptimizeWarning)
        res = dd.optimize.minimize(
            fun, (2.0, 0.0), method=method, constraints=cons, bounds=((0, None), (0, None))
        )
    # COBYLA uses no derivatives; its accuracy is its trust region's final radius (SciPy < 1.16
    # stops about 1e-4 away)
    np.testing.assert_allclose(res.x, [1.4, 1.7], atol=1e-3 if method == "COBYLA" else 1e-4)


def test_dict_constraint_jacobian_is_exact_and_args_pass():
    con = {"type": "eq", "fun": lambda x, c: x[0] ** 2 + x[1] - c, "args": (1.0,)}
    res = dd.optimize.minimize(
        lambda x: np.sum(x**2),
        np.array([1.0, 1.0]),
        method="SLSQP",
        constraints=con,
        options={"ftol": 1e-12},
    )
    # min x0^2 + x1^2 on x1 = 1 - x0^2: x0^2 = 1/2, x1 = 1/2
    np.testing.assert_allclose(res.x, [np.sqrt(0.5), 0.5], atol=1e-6)
    _, kwargs = handed("minimize", lambda: dd.optimize.minimize(
        lambda x: np.sum(x**2), np.zeros(2), method="SLSQP", constraints=con))  # fmt: skip
    (given,) = kwargs["constraints"]
    x = np.array([0.3, -2.0])
    assert given["fun"](x) == pytest.approx(0.3**2 - 2.0 - 1.0)
    np.testing.assert_allclose(given["jac"](x), [[0.6, 1.0]])


def test_trust_constr_gets_the_constraint_hessian():
    def cons(x):
        return dd.numpy.array([x[0] ** 2 + x[1], x[0] ** 2 - x[1]])

    nlc = so.NonlinearConstraint(cons, -np.inf, 1.0)
    fun = lambda x: -x[0] - x[1] + 0.1 * np.sum(x**2)  # noqa: E731
    ours = dd.optimize.minimize(fun, np.array([0.5, 0.0]), method="trust-constr", constraints=[nlc])
    exact = so.NonlinearConstraint(
        lambda x: np.array([x[0] ** 2 + x[1], x[0] ** 2 - x[1]]),
        -np.inf,
        1.0,
        jac=lambda x: np.array([[2 * x[0], 1.0], [2 * x[0], -1.0]]),
        hess=lambda x, v: np.array([[2.0 * (v[0] + v[1]), 0.0], [0.0, 0.0]]),
    )
    theirs = so.minimize(
        fun,
        np.array([0.5, 0.0]),
        method="trust-constr",
        constraints=[exact],
        jac=lambda x: -1.0 + 0.2 * x,
        hess=lambda x: 0.2 * np.eye(2),
    )
    assert ours.success and ours.constr_nhev[0] > 0  # the exact Hessian term was used
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)


def test_constraint_hessian_term_matches_analytic():
    nlc = so.NonlinearConstraint(
        lambda x: dd.numpy.array([x[0] ** 2 * x[1], np.sin(x[1])]), -np.inf, 1.0
    )
    _, kwargs = handed("minimize", lambda: dd.optimize.minimize(
        lambda x: np.sum(x**2), X0[:2], method="trust-constr", constraints=[nlc]))  # fmt: skip
    (vec,) = kwargs["constraints"]
    x, v, p = np.array([0.7, -0.4]), np.array([2.0, 3.0]), np.array([1.0, -2.0])
    H = v[0] * np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]]) + v[1] * np.array(
        [[0.0, 0.0], [0.0, -np.sin(x[1])]]
    )
    np.testing.assert_allclose(vec.hess(x, v) @ p, H @ p, rtol=1e-12)
    np.testing.assert_allclose(vec.jac(x), [[2 * x[0] * x[1], x[0] ** 2], [0.0, np.cos(x[1])]])


# -- least_squares, root, curve_fit ------------------------------------------------------------

T = np.linspace(0.0, 3.0, 40)
Y = 2.0 * np.exp(-1.3 * T) + 0.4 + 0.01 * np.sin(7 * T)


def residuals(p):
    return p[0] * np.exp(-p[1] * T) + p[2] - Y


def residuals_jac(p):
    e = np.exp(-p[1] * T)
    return np.stack([e, -p[0] * T * e, np.ones_like(T)], axis=1)


@pytest.mark.parametrize("method", ["lm", "trf", "dogbox"])
def test_least_squares_matches_analytic(method):
    ours = dd.optimize.least_squares(residuals, np.ones(3), method=method)
    theirs = so.least_squares(residuals, np.ones(3), jac=residuals_jac, method=method)
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-8)
    np.testing.assert_allclose(ours.jac, residuals_jac(ours.x), rtol=1e-10)


def test_least_squares_structured_x0_and_bounds():
    res = dd.optimize.least_squares(
        lambda p: p["a"] * np.exp(-p["k"] * T) + 0.4 - Y,
        {"a": 1.0, "k": np.array(1.0)},
        bounds={"a": (0.0, 1.5)},
    )
    assert res.x["a"] == pytest.approx(1.5) and isinstance(res.x["a"], float)


def system(x):
    return dd.numpy.array([x[0] + 0.5 * (x[0] - x[1]) ** 3 - 1.0, 0.5 * (x[1] - x[0]) ** 3 + x[1]])


@pytest.mark.parametrize("method", ["hybr", "lm", "broyden1", "df-sane"])
def test_root(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SciPy warns when given a jac it does not use
        sol = dd.optimize.root(system, [0.0, 0.0], method=method)
    assert sol.success
    np.testing.assert_allclose(sol.x, [0.8411639, 0.1588361], atol=1e-6)
    if method in ("hybr", "lm"):
        assert sol.njev >= 1  # the exact Jacobian was given


def test_root_value_and_jacobian_come_from_one_pass():
    x = np.array([0.3, -0.2])
    d = 1.5 * (x[0] - x[1]) ** 2
    J = np.array([[1.0 + d, -d], [-d, 1.0 + d]])
    (value_and_jac, _), kwargs = handed("root", lambda: dd.optimize.root(system, x))
    assert kwargs["jac"] is True
    value, jac = value_and_jac(x)
    np.testing.assert_allclose(value, system(x), rtol=1e-15)
    np.testing.assert_allclose(jac, J, rtol=1e-12)
    _, kwargs = handed("least_squares", lambda: dd.optimize.least_squares(system, x))
    np.testing.assert_allclose(kwargs["jac"](x), J, rtol=1e-12)  # dd.jacobian's
    counted = Counted(system)
    sol = dd.optimize.root(counted, np.zeros(2), method="hybr")
    assert sol.njev >= 1 and counted.calls <= sol.nfev  # no extra runs for the Jacobian


def test_curve_fit_matches_analytic_jacobian():
    model = lambda x, a, b, c: a * np.exp(-b * x) + c  # noqa: E731
    popt, pcov = dd.optimize.curve_fit(model, T, Y, p0=[1.0, 1.0, 0.0])
    ref, ref_cov = so.curve_fit(
        model, T, Y, p0=[1.0, 1.0, 0.0], jac=lambda x, a, b, c: residuals_jac([a, b, c])
    )
    np.testing.assert_allclose(popt, ref, rtol=1e-10)
    np.testing.assert_allclose(pcov, ref_cov, rtol=1e-6)
    _, kwargs = handed("curve_fit", lambda: dd.optimize.curve_fit(model, T, Y, p0=[1.0, 1.0, 0.0]))
    np.testing.assert_allclose(kwargs["jac"](T, *popt), residuals_jac(popt), rtol=1e-12)


def test_newton_cg_records_each_point_once():
    recordings = Counted(rosen)  # each recording runs fun once; products reuse it
    x0 = np.linspace(-1.0, 1.5, 8)
    res = dd.optimize.minimize(recordings, x0, method="Newton-CG")
    exact = so.minimize(
        so.rosen, x0, method="Newton-CG", jac=so.rosen_der, hessp=so.rosen_hess_prod
    )
    np.testing.assert_allclose(res.x, exact.x, rtol=1e-6, atol=1e-8)
    # one recording per point SciPy evaluates gives f, the gradient and every product there
    assert recordings.calls == res.nfev and res.nhev > 2 * recordings.calls
