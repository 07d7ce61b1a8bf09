"""dualdiff.integrate: values equal SciPy's, results owned and inputs untouched, derivatives
against closed forms (expm for y' = Ay, exponential decay, Gaussian and polynomial integrals),
central differences of the solvers at tight tolerances, and forward against reverse."""

import types

import numpy as np
import pytest
import scipy.integrate as si
import scipy.linalg
import scipy.sparse as sp

import dualdiff as dd
import dualdiff.integrate as di
from tests._fd import jacobian as fd_jacobian

TIGHT = {"rtol": 1e-10, "atol": 1e-12}
METHODS = ["RK45", "DOP853", "Radau", "BDF", "LSODA"]
A = np.array([[-1.0, 2.0, 0.0], [-2.0, -1.0, 0.5], [0.0, -0.5, -3.0]])
T = np.array([0.3, 1.0, 2.0])


def linear(t, y, a):
    return a @ y


def lotka(t, y, p):
    a, b, c, d = p[0], p[1], p[2], p[3]
    return np.array([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


P_LV = np.array([1.1, 0.4, 0.9, 0.3])
Y_LV = np.array([2.0, 1.0])


def lv_states(y0, p, method="RK45", **kw):
    sol = di.solve_ivp(lotka, (0.0, 3.0), y0, method=method, t_eval=T, args=(p,), **TIGHT, **kw)
    return sol.y


# -- oracle 1: SciPy's own values ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853"])
def test_explicit_methods_give_scipy_values_plain_and_traced(method):
    ref = si.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method, t_eval=T, args=(P_LV,))
    sol = di.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method, t_eval=T, args=(P_LV,))
    np.testing.assert_array_equal(sol.y, ref.y)
    np.testing.assert_array_equal(sol.t, ref.t)
    assert (sol.nfev, sol.status, sol.message) == (ref.nfev, ref.status, ref.message)
    traced, _ = dd.vjp(lambda p: di.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method,
                                              t_eval=T, args=(p,)).y, P_LV)  # fmt: skip
    np.testing.assert_array_equal(traced, ref.y)


def lotka_jac(t, y, p):
    a, b, c, d = p
    return np.array([[a - b * y[1], -b * y[0]], [d * y[1], -c + d * y[0]]])


@pytest.mark.parametrize("method", ["Radau", "BDF", "LSODA"])
def test_stiff_methods_get_the_exact_jacobian_and_scipy_values(method):
    ref = si.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method, t_eval=T, args=(P_LV,),
                       jac=lotka_jac)  # fmt: skip
    sol = di.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method, t_eval=T, args=(P_LV,))
    np.testing.assert_allclose(sol.y, ref.y, rtol=1e-12)
    assert sol.njev == ref.njev and sol.success
    traced, _ = dd.vjp(lambda p: di.solve_ivp(lotka, (0.0, 3.0), Y_LV, method=method,
                                              t_eval=T, args=(p,)).y, P_LV)  # fmt: skip
    np.testing.assert_array_equal(traced, sol.y)


def test_a_users_own_jac_is_kept():
    calls = []

    def jac(t, y, p):
        calls.append(t)
        return lotka_jac(t, y, p)

    sol = di.solve_ivp(lotka, (0.0, 3.0), Y_LV, method="BDF", args=(P_LV,), jac=jac)
    ref = si.solve_ivp(lotka, (0.0, 3.0), Y_LV, method="BDF", args=(P_LV,), jac=lotka_jac)
    assert calls and len(calls) == ref.njev
    np.testing.assert_array_equal(sol.y, ref.y)


def test_odeint_gives_scipy_values_and_full_output():
    t = np.linspace(0.0, 3.0, 7)
    ref = si.odeint(lotka, Y_LV, t, args=(P_LV,), tfirst=True, Dfun=lotka_jac)
    out = di.odeint(lotka, Y_LV, t, args=(P_LV,), tfirst=True)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    swapped = di.odeint(lambda y, t, p: lotka(t, y, p), Y_LV, t, args=(P_LV,))
    np.testing.assert_array_equal(swapped, out)
    infos = []

    def traced(p):
        y, info = di.odeint(lotka, Y_LV, t, (p,), tfirst=True, full_output=1)
        infos.append(info)
        return y

    y, _ = dd.vjp(traced, P_LV)
    np.testing.assert_array_equal(y, out)
    assert infos[0]["message"] == "Integration successful." and infos[0]["nfe"][-1] > 0


def test_quad_gives_scipy_values_plain_and_traced():
    f = lambda x, s: np.exp(-(x**2) / (2 * s**2)) * np.cos(x)
    ref = si.quad(f, -np.inf, np.inf, args=(1.5,))
    assert di.quad(f, -np.inf, np.inf, args=(1.5,)) == ref
    value, _ = dd.vjp(lambda s: di.quad(f, -np.inf, np.inf, args=(s,))[0], 1.5)
    assert float(value) == ref[0]
    assert di.trapezoid is si.trapezoid  # names not served here are SciPy's


# -- oracle 2: ownership -------------------------------------------------------------------------


def test_results_are_owned_and_inputs_unchanged():
    y0, p, t_eval = Y_LV.copy(), P_LV.copy(), T.copy()
    sums = [a.sum() for a in (y0, p, t_eval)]
    plain = di.solve_ivp(lotka, (0.0, 3.0), y0, t_eval=t_eval, args=(p,))
    ys = dd.jacobian(
        lambda p: di.solve_ivp(lotka, (0.0, 3.0), y0, t_eval=t_eval, args=(p,)).y,
        mode="reverse",
    )(p)
    g = dd.grad(lambda y0: np.sum(di.solve_ivp(lotka, (0.0, 3.0), y0, t_eval=t_eval,
                                               args=(p,)).y))(y0)  # fmt: skip
    for out in (plain.y, plain.t, ys, g):
        for held in (y0, p, t_eval):
            assert not np.shares_memory(out, held)
    assert [a.sum() for a in (y0, p, t_eval)] == sums


# -- oracle 3: closed forms, central differences, forward against reverse ---------------------


@pytest.fixture
def adjoint_always(monkeypatch):
    """Reverse mode by the adjoint even for more cotangents than inputs (by default those go
    through the forward sensitivities of the inputs' basis)."""
    monkeypatch.setattr(di._ivp, "ADJOINT_ALWAYS", True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.usefixtures("adjoint_always")
def test_linear_ode_jacobian_in_y0_is_expm(method, mode):
    y0 = np.array([1.0, -0.5, 2.0])

    def states(y0):
        return di.solve_ivp(linear, (0.0, 2.0), y0, method=method, t_eval=T, args=(A,),
                            **TIGHT).y  # fmt: skip

    jac = dd.jacobian(states, mode=mode)(y0)  # (3, len(T), 3)
    for j, t in enumerate(T):
        np.testing.assert_allclose(jac[:, j, :], scipy.linalg.expm(A * t), atol=2e-7)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_linear_ode_derivative_in_the_matrix_matches_expm_differences(mode):
    y0 = np.array([1.0, -0.5, 2.0])

    def final(a):
        return di.solve_ivp(linear, (0.0, 1.0), y0, t_eval=[1.0], args=(a,), method="DOP853",
                            **TIGHT).y[:, 0]  # fmt: skip

    jac = dd.jacobian(final, mode=mode)(A)
    ref = fd_jacobian(lambda a: scipy.linalg.expm(a) @ y0, A.copy(), eps=1e-5)
    np.testing.assert_allclose(jac, ref, atol=1e-7)


@pytest.mark.parametrize("method", ["RK45", "BDF", "LSODA"])
def test_exponential_decay_gradient_and_hessian(method):
    def final(k, y0):
        sol = di.solve_ivp(lambda t, y, k: -k * y, (0.0, 1.5), y0, method=method,
                           t_eval=[1.5], args=(k,), **TIGHT)  # fmt: skip
        return sol.y[0, 0]

    k, y0 = 0.7, np.array([2.0])
    e = np.exp(-1.5 * k)
    np.testing.assert_allclose(dd.grad(final)(k, y0), -1.5 * 2.0 * e, rtol=1e-6)
    np.testing.assert_allclose(dd.grad(final, argnums=1)(k, y0), [e], rtol=1e-6)
    np.testing.assert_allclose(dd.hessian(final)(k, y0), 1.5**2 * 2.0 * e, rtol=1e-6)
    # reverse over forward: the adjoint of the sensitivity equations
    np.testing.assert_allclose(dd.jacrev(dd.jacfwd(final))(k, y0), 1.5**2 * 2.0 * e, rtol=1e-6)


@pytest.mark.parametrize("method", ["RK45", "BDF"])
def test_lotka_volterra_sensitivities_match_central_differences(method):
    p = P_LV.copy()
    fwd = dd.jacfwd(lambda p: lv_states(Y_LV, p, method))(p)
    rev = dd.jacrev(lambda p: lv_states(Y_LV, p, method))(p)
    ref = fd_jacobian(lambda p: lv_states(Y_LV, p, method), p, eps=1e-5)
    np.testing.assert_allclose(fwd, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rev, fwd, rtol=1e-6, atol=1e-9)


def test_hessian_of_a_loss_through_solve_ivp_matches_differences_of_the_gradient():
    data = np.array([[1.5, 0.8], [1.2, 2.1]])

    def loss(p):  # forward over reverse: the adjoint's rule differentiated forward
        sol = di.solve_ivp(lotka, (0.0, 1.0), Y_LV, t_eval=T[:2], args=(p,), **TIGHT)
        return np.sum((sol.y - data) ** 2)

    p = P_LV.copy()
    hess = dd.hessian(loss)(p)
    ref = fd_jacobian(dd.grad(loss), p, eps=1e-5)
    np.testing.assert_allclose(hess, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-6, atol=1e-8)


def test_jvp_and_vjp_agree_by_the_dot_product_test():
    rng = np.random.default_rng(0)
    v, w = rng.normal(size=4), rng.normal(size=(2, 3))
    f = lambda p: lv_states(Y_LV, p, "BDF")
    _, jv = dd.jvp(f, (P_LV,), (v,))
    _, pullback = dd.vjp(f, P_LV)
    np.testing.assert_allclose(np.sum(w * jv), pullback(w)[0] @ v, rtol=1e-6)


def test_dense_output_is_scipys_and_differentiable():
    k, ts = 0.8, np.array([0.25, 1.1, 1.7])

    def at(k):
        sol = di.solve_ivp(lambda t, y, k: -k * y, (0.0, 2.0), np.array([3.0]),
                           dense_output=True, args=(k,), **TIGHT)  # fmt: skip
        return sol.sol(ts)[0]

    ref = si.solve_ivp(lambda t, y: -k * y, (0.0, 2.0), np.array([3.0]), dense_output=True,
                       **TIGHT).sol(ts)[0]  # fmt: skip
    np.testing.assert_array_equal(dd.vjp(at, k)[0], ref)
    expected = -ts * 3.0 * np.exp(-k * ts)
    np.testing.assert_allclose(dd.jacfwd(at)(k), expected, rtol=1e-6)
    np.testing.assert_allclose(dd.jacrev(at)(k), expected, rtol=1e-6)


def test_without_t_eval_the_solution_at_the_solvers_steps_is_differentiable():
    def states(y0):
        return di.solve_ivp(linear, (0.0, 1.0), y0, args=(A,), **TIGHT)

    y0 = np.array([1.0, 0.0, 0.0])
    ts = states(y0).t
    jac = dd.jacobian(lambda y0: states(y0).y)(y0)
    for j, t in enumerate(ts):
        np.testing.assert_allclose(jac[:, j, :], scipy.linalg.expm(A * t), atol=1e-7)


@pytest.mark.usefixtures("adjoint_always")
def test_backward_in_time_and_repeated_output_times():
    y0 = np.array([1.0, -0.5, 2.0])

    def states(y0):
        return di.solve_ivp(linear, (1.0, -0.5), y0, t_eval=[1.0, 0.2, -0.5], args=(A,),
                            method="Radau", **TIGHT).y  # fmt: skip

    for mode in ("forward", "reverse"):
        jac = dd.jacobian(states, mode=mode)(y0)
        for j, t in enumerate([0.0, -0.8, -1.5]):
            np.testing.assert_allclose(jac[:, j, :], scipy.linalg.expm(A * t), atol=1e-6)


def test_odeint_derivatives_match_the_closed_form():
    t = np.array([0.0, 0.5, 1.0])

    def decay(y0, k):
        return di.odeint(lambda y, t, k: -k * y, y0, t, args=(k,), rtol=1e-11, atol=1e-12)[:, 0]

    y0, k = np.array([2.0]), 0.5
    expected = -t * 2.0 * np.exp(-k * t)
    np.testing.assert_allclose(dd.jacfwd(decay, argnums=1)(y0, k), expected, atol=1e-8)
    np.testing.assert_allclose(dd.jacrev(decay, argnums=1)(y0, k), expected, atol=1e-8)
    np.testing.assert_allclose(dd.jacrev(decay)(y0, k)[:, 0], np.exp(-k * t), atol=1e-8)


def test_odeint_takes_repeated_and_initial_only_times_inside_transforms():
    # SciPy's odeint takes repeated times and a t of the initial time alone; inside a transform
    # the derivatives' solve_ivp refused the first ("t_eval not properly sorted") and the second
    # failed with "Nothing was done"
    y0 = np.array([1.0, -0.5, 2.0])
    t = np.array([0.0, 0.5, 0.5, 1.0, 1.0])

    def states(y0):
        return di.odeint(linear, y0, t, args=(A,), tfirst=True, rtol=1e-11, atol=1e-12)

    np.testing.assert_array_equal(states(y0), si.odeint(linear, y0, t, args=(A,), tfirst=True,
                                                        rtol=1e-11, atol=1e-12))  # fmt: skip
    for mode in ("forward", "reverse"):
        jac = dd.jacobian(states, mode=mode)(y0)
        for j, tj in enumerate(t):
            np.testing.assert_allclose(jac[j], scipy.linalg.expm(A * tj), atol=1e-8)

    def start(y0, k):
        ys, info = di.odeint(lambda y, t: -k * y, y0, [0.5], full_output=1)
        assert info["message"] == "Nothing was done; the integration time was 0."
        return ys

    assert start(y0, 2.0).shape == (1, 3)
    np.testing.assert_array_equal(dd.jacfwd(start)(y0, 2.0), np.eye(3)[None])
    np.testing.assert_array_equal(dd.jacrev(start, argnums=1)(y0, 2.0), np.zeros((1, 3)))


def test_first_step_is_the_forward_solves_only():
    # the adjoint's segments between output times are shorter than first_step: SciPy refused
    # ("first_step exceeds bounds")
    y0 = np.array([1.0, -0.5, 2.0])
    for method in ("RK45", "Radau"):
        def final(y0, method=method):
            return di.solve_ivp(linear, (0.0, 1.0), y0, t_eval=[0.001, 1.0], args=(A,),
                                method=method, first_step=0.1, **TIGHT).y[:, -1]  # fmt: skip

        np.testing.assert_allclose(dd.jacrev(final)(y0), scipy.linalg.expm(A), atol=1e-8)


def test_a_closure_over_a_traced_value_is_a_parameter():
    def final(k):
        sol = di.solve_ivp(lambda t, y: -k * y, (0.0, 1.0), np.array([1.0]), method="BDF",
                           t_eval=[1.0], **TIGHT)  # fmt: skip
        return sol.y[0, 0]

    np.testing.assert_allclose(dd.grad(final)(2.0), -np.exp(-2.0), rtol=1e-7)
    np.testing.assert_allclose(dd.jacfwd(final)(2.0), -np.exp(-2.0), rtol=1e-7)


# -- the large, sparse path ----------------------------------------------------------------------

N = 1000
X = np.linspace(0.0, 1.0, N)
H = X[1] - X[0]


def reaction_diffusion(t, u, k):
    up = np.concatenate([u[1:], u[-1:]])
    um = np.concatenate([u[:1], u[:-1]])
    return 1e-2 * (up - 2 * u + um) / H**2 + k * u * (1 - u)


def test_a_large_system_gets_a_sparse_exact_jacobian_and_its_adjoint_matches_forward():
    u0, k = np.exp(-100 * (X - 0.5) ** 2), 1.0 + 0.5 * np.sin(2 * np.pi * X)
    kw = {"method": "BDF", "t_eval": [0.2], "rtol": 1e-8, "atol": 1e-10}
    system = di._systems.UserSystem(reaction_diffusion, (k,), N)
    jac = system.newton(0.0, u0, None)
    assert sp.issparse(jac) and jac.nnz == 3 * N - 2
    ref = si.solve_ivp(reaction_diffusion, (0.0, 0.2), u0, args=(k,), **kw,
                       jac_sparsity=sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1],
                                                   shape=(N, N)))  # fmt: skip
    sol = di.solve_ivp(reaction_diffusion, (0.0, 0.2), u0, args=(k,), **kw)
    np.testing.assert_allclose(sol.y, ref.y, rtol=1e-6, atol=1e-9)

    def loss(k):
        u = di.solve_ivp(reaction_diffusion, (0.0, 0.2), u0, args=(k,), **kw).y[:, 0]
        return np.sum(u**2)

    g = dd.grad(loss)(k)
    v = np.random.default_rng(1).normal(size=N)
    _, jv = dd.jvp(loss, (k,), (v,))
    np.testing.assert_allclose(g @ v, jv, rtol=1e-6)


# -- quad ----------------------------------------------------------------------------------------


def test_quad_of_a_polynomial_in_its_coefficients_and_limits():
    def area(c, a, b):
        return di.quad(lambda x, c: c[0] + c[1] * x + c[2] * x**2, a, b, args=(c,))[0]

    c, a, b = np.array([1.0, -2.0, 3.0]), -0.5, 1.5
    moments = np.array([b - a, (b**2 - a**2) / 2, (b**3 - a**3) / 3])
    poly = lambda x: c[0] + c[1] * x + c[2] * x**2
    np.testing.assert_allclose(dd.grad(area)(c, a, b), moments, rtol=1e-12)
    np.testing.assert_allclose(dd.jacfwd(area)(c, a, b), moments, rtol=1e-12)
    np.testing.assert_allclose(dd.grad(area, argnums=(1, 2))(c, a, b), (-poly(a), poly(b)))
    np.testing.assert_allclose(dd.jacfwd(area, argnums=2)(c, a, b), poly(b))
    np.testing.assert_allclose(dd.hessian(area, argnums=2)(c, a, b), c[1] + 2 * c[2] * b)


def test_quad_of_a_gaussian_in_its_parameters_with_infinite_limits():
    def mass(p):  # integral of a * exp(-(x - m)^2 / (2 s^2)) = a * s * sqrt(2 pi)
        return di.quad(lambda x, p: p[0] * np.exp(-((x - p[1]) ** 2) / (2 * p[2] ** 2)),
                       -np.inf, np.inf, args=(p,))[0]  # fmt: skip

    p = np.array([1.3, 0.4, 0.8])
    r = np.sqrt(2 * np.pi)
    expected = np.array([p[2] * r, 0.0, p[0] * r])
    np.testing.assert_allclose(dd.grad(mass)(p), expected, atol=1e-8)
    np.testing.assert_allclose(dd.jacfwd(mass)(p), expected, atol=1e-8)
    hess = np.zeros((3, 3))
    hess[0, 2] = hess[2, 0] = r
    np.testing.assert_allclose(dd.hessian(mass)(p), hess, atol=1e-6)

    def half(m):  # from a finite limit to infinity: d/dm = exp(-m^2 / 2)
        return di.quad(lambda x: np.exp(-(x**2) / 2), m, np.inf)[0]

    np.testing.assert_allclose(dd.grad(half)(0.3), -np.exp(-0.045), rtol=1e-12)


def test_quad_with_a_weight_differentiates_the_weighted_integral_in_its_limits():
    # d/db of the integral of f(x) w(x) over [a, b] is f(b) w(b): the weight was left out
    # (cos: 5.0 for -3.27), and the 'alg' weights depend on the limits themselves (refused)
    f = lambda x: x**2 + 1.0
    for weight, wvar, w in [("cos", 2.0, lambda x: np.cos(2.0 * x)),
                            ("sin", 3.0, lambda x: np.sin(3.0 * x)),
                            ("cauchy", 5.0, lambda x: 1.0 / (x - 5.0))]:  # fmt: skip
        def integral(ab, weight=weight, wvar=wvar):
            return di.quad(f, ab[0], ab[1], weight=weight, wvar=wvar)[0]

        ab = np.array([0.5, 2.0])
        expected = np.array([-f(0.5) * w(0.5), f(2.0) * w(2.0)])
        np.testing.assert_allclose(dd.grad(integral)(ab), expected, rtol=1e-12)
        np.testing.assert_allclose(dd.jacfwd(integral)(ab), expected, rtol=1e-12)

    def b_cos(b):
        return di.quad(f, 0.5, b, weight="cos", wvar=2.0)[0]

    d2 = 2 * 2.0 * np.cos(4.0) - 2 * f(2.0) * np.sin(4.0)  # d/db of f(b) cos(2b)
    np.testing.assert_allclose(dd.hessian(b_cos)(2.0), d2, rtol=1e-10)
    with pytest.raises(NotImplementedError, match="depends on the limits"):
        dd.grad(lambda b: di.quad(f, 0.0, b, weight="alg", wvar=(0.5, 0.5))[0])(1.0)

    def alg(s):  # traced args with an 'alg' weight: the integral of the derivative
        return di.quad(lambda x: np.exp(-s * x), 0.0, 1.0, weight="alg", wvar=(0.5, 0.5))[0]

    expected = -si.quad(lambda x: x * np.exp(-x), 0.0, 1.0, weight="alg", wvar=(0.5, 0.5))[0]
    np.testing.assert_allclose(dd.grad(alg)(1.0), expected, rtol=1e-10)


# -- named errors --------------------------------------------------------------------------------


def test_a_wrong_shape_from_fun_is_a_named_error():
    bad = lambda t, y: np.concatenate([y, y])
    with pytest.raises(ValueError, match="fun returned an array of shape"):
        di.solve_ivp(bad, (0.0, 1.0), np.ones(2))
    with pytest.raises(ValueError, match="fun returned an array of shape"):
        dd.grad(lambda y0: np.sum(di.solve_ivp(bad, (0.0, 1.0), y0).y))(np.ones(2))
    with pytest.raises(ValueError, match="func returned an array of shape"):
        dd.grad(lambda y0: np.sum(di.odeint(lambda y, t: y[:1], y0, [0.0, 1.0])))(np.ones(2))
    with pytest.raises(ValueError, match="must return a number"):
        dd.grad(lambda s: di.quad(lambda x, s: np.ones(2) * s, 0, 1, args=(s,))[0])(1.0)


def test_a_failed_solve_inside_a_transform_raises_with_scipys_message():
    blowup = lambda k: di.solve_ivp(lambda t, y, k: k * y**2, (0.0, 2.0), np.array([1.0]),
                                    args=(k,)).y[0, -1]  # fmt: skip
    plain = di.solve_ivp(lambda t, y: y**2, (0.0, 2.0), np.array([1.0]))
    assert not plain.success  # plain calls return SciPy's result, as SciPy does
    with pytest.raises(di.IntegrationError, match="Required step size"):
        dd.grad(blowup)(1.0)


def test_non_finite_sensitivities_are_a_named_error():
    # sqrt at 0: the solution stays at 0, its derivative in y0 is infinite
    f = lambda y0: di.solve_ivp(lambda t, y: np.sqrt(y), (0.0, 1.0), y0, t_eval=[1.0]).y
    for transform in (dd.jacfwd, dd.jacrev):
        with pytest.raises(di.IntegrationError):
            transform(f)(np.zeros(1))


def test_unsupported_inputs_are_named_errors():
    decay = lambda t, y, k: -k * y
    with pytest.raises(TypeError, match="complex y0"):
        dd.grad(lambda k: di.solve_ivp(decay, (0, 1), np.array([1j]), args=(k,)).y.real.sum())(1.0)
    with pytest.raises(TypeError, match="t_span is traced"):
        dd.grad(lambda t1: di.solve_ivp(decay, (0, t1), np.ones(1), args=(1.0,)).y.sum())(1.0)
    with pytest.raises(NotImplementedError, match="events"):
        dd.grad(lambda k: di.solve_ivp(decay, (0, 1), np.ones(1), args=(k,),
                                       events=lambda t, y, k: y[0] - 0.5).y.sum())(1.0)  # fmt: skip
    holder = types.SimpleNamespace()  # an attribute of an object: out of dualdiff's reach

    def reads_an_attribute(t, y):
        return -holder.k * y

    def f(k):
        holder.k = k
        return di.solve_ivp(reads_an_attribute, (0, 1), np.ones(1)).y.sum()

    with pytest.raises(TypeError, match="args="):
        dd.grad(f)(1.0)


def test_a_kept_jacobian_follows_a_pattern_that_changes_with_args():
    def coupled(t, y, c):  # c = 0: diagonal; c = 1: every state drives the next
        return -y + c * np.concatenate([np.zeros(1), y[:-1]]) ** 2

    y0 = np.linspace(0.5, 1.5, 120)
    for c in (0.0, 1.0):
        sol = di.solve_ivp(coupled, (0.0, 1.0), y0, method="BDF", args=(c,), **TIGHT)
        ref = si.solve_ivp(coupled, (0.0, 1.0), y0, method="BDF", args=(c,), **TIGHT)
        np.testing.assert_allclose(sol.y[:, -1], ref.y[:, -1], rtol=1e-8)
    kept = di._systems._KEPT[coupled][(120, True)]
    jac = kept(0.0, y0, 1.0).toarray()
    expected = -np.eye(120) + np.diag(2 * y0[:-1], -1)
    np.testing.assert_allclose(jac, expected, rtol=1e-14)


# -- replayed evaluations in the solver loop -----------------------------------------------------


@pytest.fixture
def unreplayed(monkeypatch):
    """A function running its argument with the solver loop's evaluations traced afresh."""

    def run(f, *args):
        with monkeypatch.context() as m:
            m.setattr(di._loop, "ENABLED", False)
            return f(*args)

    return run


def robertson(t, y, k):
    r1, r2, r3 = k[0] * y[0], k[1] * y[1] ** 2, k[2] * y[1] * y[2]
    return np.array([-r1 + r3, r1 - r2 - r3, r2])


K_ROB = np.array([0.04, 3e7, 1e4])


CASES = {  # stiff Robertson by the implicit methods, Lotka-Volterra by an explicit one
    "BDF": (robertson, np.array([1.0, 0.0, 0.0]), K_ROB, 40.0),
    "Radau": (robertson, np.array([1.0, 0.0, 0.0]), K_ROB, 40.0),
    "LSODA": (robertson, np.array([1.0, 0.0, 0.0]), K_ROB, 40.0),
    "RK45": (lotka, Y_LV, P_LV, 3.0),
}


@pytest.mark.parametrize("method", list(CASES))
def test_replayed_solutions_and_sensitivities_are_bit_for_bit_the_unreplayed(method, unreplayed):
    fun, y0, p, t_end = CASES[method]

    def solve(p, t_eval=None):
        return di.solve_ivp(fun, (0.0, t_end), y0, method=method, t_eval=t_eval, args=(p,),
                            rtol=1e-8, atol=1e-10).y  # fmt: skip

    states = lambda p: solve(p, [t_end / 100, t_end / 10, t_end])
    loss = lambda p: np.sum(states(p) ** 2)
    for f in (solve, dd.jacfwd(states), dd.grad(loss)):
        np.testing.assert_array_equal(f(p), unreplayed(f, p))


def test_replayed_hessian_is_bit_for_bit_the_unreplayed(unreplayed):
    def loss(p):
        sol = di.solve_ivp(lotka, (0.0, 1.0), Y_LV, method="BDF", t_eval=T[:2], args=(p,),
                           **TIGHT)  # fmt: skip
        return np.sum(sol.y**2)

    hess = dd.hessian(loss)(P_LV)
    np.testing.assert_array_equal(hess, unreplayed(dd.hessian(loss), P_LV))
    ref = fd_jacobian(dd.grad(loss), P_LV.copy(), eps=1e-5)
    np.testing.assert_allclose(hess, ref, rtol=1e-3, atol=1e-4)


def switching(t, y, p):
    """A rate written one way above y[0] = 1 and another below (a Python branch on the state;
    continuously differentiable across it, so that the sensitivities exist)."""
    rate = y[0] ** 2 if y[0] > 1.0 else 2.0 * y[0] - 1.0
    return np.array([-p[0] * rate, p[1] * rate - p[2] * y[1]])


@pytest.mark.parametrize("method", ["RK45", "BDF"])
def test_a_branch_on_the_state_is_followed_by_the_replayed_evaluations(method, unreplayed):
    p, y0 = np.array([2.0, 0.5, 1.0]), np.array([3.0, 0.0])

    def states(p):
        return di.solve_ivp(switching, (0.0, 3.0), y0, method=method, t_eval=[0.2, 1.0, 3.0],
                            args=(p,), rtol=1e-9, atol=1e-11).y  # fmt: skip

    y = states(p)
    assert y[0, 0] > 1.0 > y[0, -1]  # both sides of the branch are taken
    jac = dd.jacfwd(states)(p)
    np.testing.assert_array_equal(jac, unreplayed(dd.jacfwd(states), p))
    grad = dd.grad(lambda p: states(p)[0, -1])
    np.testing.assert_array_equal(grad(p), unreplayed(grad, p))
    ref = fd_jacobian(states, p, eps=1e-6)
    np.testing.assert_allclose(jac, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad(p), jac[0, -1], rtol=1e-5)


def test_the_sensitivity_solve_runs_fun_at_recordings_only(unreplayed):
    # an object, not a list: the lists in fun's closure are rebuilt with the traced parameters
    count = types.SimpleNamespace(calls=0)

    def counted(t, y, k):
        count.calls += 1
        return robertson(t, y, k)

    def states(k):
        return di.solve_ivp(counted, (0.0, 40.0), np.array([1.0, 0.0, 0.0]), method="BDF",
                            t_eval=[40.0], args=(k,), rtol=1e-8, atol=1e-10).y  # fmt: skip

    def calls_of(f, *args):
        count.calls = 0
        f(*args)
        return count.calls

    primal = calls_of(states, K_ROB)  # the same solve runs in jacfwd, fun called by SciPy
    replayed = calls_of(dd.jacfwd(states), K_ROB) - primal
    traced = calls_of(unreplayed, dd.jacfwd(states), K_ROB) - primal
    assert 0 < replayed < traced / 10  # the first traced calls and the recordings


def test_what_fun_reads_besides_its_arguments_may_change_between_solves():
    state = {"rate": 1.0}  # a Python number fun reads: replay would keep it as recorded

    def decay(t, y, k):
        return -state["rate"] * k * y

    def final(k):
        return di.solve_ivp(decay, (0.0, 1.0), np.array([2.0, 1.0]), method="BDF",
                            t_eval=[1.0], args=(k,), **TIGHT).y[:, 0]  # fmt: skip

    for rate in (1.0, 5.0):
        state["rate"] = rate
        k = 0.7
        expected = -rate * np.array([2.0, 1.0]) * np.exp(-rate * k)
        np.testing.assert_allclose(dd.jacfwd(final)(k), expected, rtol=1e-6)
        np.testing.assert_allclose(dd.jacrev(final)(k), expected, rtol=1e-6)
        ref = si.solve_ivp(decay, (0.0, 1.0), np.array([2.0, 1.0]), method="BDF", args=(k,),
                           jac=lambda t, y, k, r=rate: -r * k * np.eye(2), **TIGHT)  # fmt: skip
        sol = di.solve_ivp(decay, (0.0, 1.0), np.array([2.0, 1.0]), method="BDF", args=(k,),
                           **TIGHT)  # fmt: skip
        np.testing.assert_array_equal(sol.y, ref.y)


def test_dense_output_is_built_for_the_reverse_rule_only(monkeypatch):
    solves = []
    run = di._ivp.run

    def counted(system, *args, dense_output=False, **kw):
        solves.append((type(system).__name__, dense_output))
        return run(system, *args, dense_output=dense_output, **kw)

    monkeypatch.setattr(di._ivp, "run", counted)
    final = lambda p: np.sum(lv_states(Y_LV, p, "BDF")[:, -1])
    for transform, expected in (
        (dd.jacfwd, [("UserSystem", False), ("ForwardSystem", False)]),
        (dd.grad, [("UserSystem", True)] + [("AdjointSystem", False)] * len(T)),
    ):
        solves.clear()
        transform(final)(P_LV)
        assert solves == expected
