"""Implicit derivatives of ``dualdiff.optimize.root``, ``minimize`` and ``least_squares``
solutions (dualdiff/_implicit.py), checked against three oracles: SciPy's own solve on plain
arrays, ownership (results share no memory with inputs, inputs unchanged), and closed forms,
finite differences of a polished solve, and forward against reverse mode."""

import functools
import hashlib

import numpy as np
import pytest
import scipy.optimize as so

import dualdiff as dd
from dualdiff import _implicit
from dualdiff.optimize import (
    ActiveConstraintError,
    ImplicitFunctionError,
    SingularJacobianError,
    SolverFailedError,
    TracedClosureError,
    least_squares,
    minimize,
    root,
)

RNG = np.random.default_rng(16)
LARGE = 16384  # the large-array engine's size


def checksum(*arrays):
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def every_transform(f, p, expected_jacobian, *, rtol=1e-10, atol=1e-12):
    """f: R^P -> R^n (arrays): jacfwd, jacrev, jacobian, jvp and vjp all give the expected
    Jacobian (n, P); grad of a weighted sum too. Inputs unchanged, results owned."""
    before = checksum(p)
    n = expected_jacobian.shape[0]
    w, v = RNG.normal(size=n), RNG.normal(size=p.shape)
    checks = {
        "jacfwd": (dd.jacfwd(f)(p), expected_jacobian),
        "jacrev": (dd.jacrev(f)(p), expected_jacobian),
        "jacobian": (dd.jacobian(f)(p), expected_jacobian),
        "jvp": (dd.jvp(f, (p,), (v,))[1], expected_jacobian @ v),
        "vjp": (dd.vjp(f, p)[1](w)[0], expected_jacobian.T @ w),
        "grad": (dd.grad(lambda q: np.sum(w * f(q)))(p), expected_jacobian.T @ w),
    }
    for name, (got, want) in checks.items():
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)
        assert not np.shares_memory(got, p), name
    assert checksum(p) == before


def fd_jacobian(f, p, h=1e-5):
    """Central differences of ``f`` (a polished solve) in each entry of ``p``."""
    cols = [(f(p + h * e) - f(p - h * e)) / (2 * h) for e in np.eye(p.size)]
    return np.stack(cols, axis=-1)


# -- root ----------------------------------------------------------------------------------------


def sqrt_root(p):
    return root(lambda x: x**2 - p, 1.0).x


def test_root_scalar_closed_form_every_transform():
    p = 2.0
    assert float(sqrt_root(p)) == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert dd.grad(sqrt_root)(p) == pytest.approx(0.5 / np.sqrt(p), rel=1e-10)
    assert dd.jvp(sqrt_root, (p,), (3.0,))[1] == pytest.approx(1.5 / np.sqrt(p), rel=1e-10)
    assert dd.vjp(sqrt_root, p)[1](2.0)[0] == pytest.approx(1.0 / np.sqrt(p), rel=1e-10)
    for jac in (dd.jacfwd, dd.jacrev, dd.jacobian):
        assert jac(sqrt_root)(p) == pytest.approx(0.5 / np.sqrt(p), rel=1e-10)
    # second and third order: the rules are traced again
    assert dd.hessian(sqrt_root)(p) == pytest.approx(-0.25 * p**-1.5, rel=1e-9)
    third = dd.grad(dd.grad(dd.grad(sqrt_root)))(p)
    assert third == pytest.approx(0.375 * p**-2.5, rel=1e-8)


def cubic(x, q):
    return x**3 + x - q


def cubic_root(q):
    return root(cubic, np.ones(q.shape), args=(q,)).x


@pytest.mark.parametrize("n", [3, 300])
def test_root_elementwise_closed_form(n):
    q = RNG.uniform(-2.0, 3.0, n)
    x = cubic_root(q)
    plain = so.root(cubic, np.ones(n), args=(q,), jac=lambda x, q: np.diag(3 * x**2 + 1))
    np.testing.assert_allclose(x, plain.x, rtol=1e-12, atol=1e-14)  # SciPy's own solve
    every_transform(cubic_root, q, np.diag(1.0 / (3 * x**2 + 1)))


def coupled(x, p, A, B):
    return A @ x + x**3 / 3 - B @ np.sin(p)


def coupled_root(p, A, B):
    return root(coupled, np.zeros(A.shape[0]), args=(p, A, B), options={"xtol": 1e-12}).x


def newton_polished(solve, F):
    """``solve(p)`` refined by Newton steps on ``F(x, p) = 0`` (for finite differences)."""

    def polished(p):
        x = solve(p)
        for _ in range(3):
            x = x - np.linalg.solve(dd.jacfwd(F)(x, p), F(x, p))
        return x

    return polished


@pytest.mark.parametrize("n", [4, 200])
def test_root_coupled_closed_form_and_finite_differences(n):
    A = np.eye(n) * 4 + RNG.normal(size=(n, n)) / np.sqrt(n)
    B = RNG.normal(size=(n, 3))
    p = RNG.normal(size=3)
    args_before = checksum(A, B)
    f = functools.partial(coupled_root, A=A, B=B)
    x = f(p)
    expected = np.linalg.solve(A + np.diag(x**2), B * np.cos(p))  # -F_x^{-1} F_p
    every_transform(f, p, expected)
    F = functools.partial(coupled, A=A, B=B)
    fd = fd_jacobian(newton_polished(f, F), p)
    np.testing.assert_allclose(fd, expected, rtol=1e-7, atol=1e-9)
    assert checksum(A, B) == args_before


def test_root_large_sparse_path():
    q = RNG.uniform(1.0, 2.0, LARGE)
    q_before = checksum(q)

    def xs(q):
        return root(cubic, np.ones(LARGE), args=(q,), method="krylov", tol=1e-12).x

    x = xs(q)
    d = 1.0 / (3 * x**2 + 1)
    g = dd.grad(lambda q: np.sum(xs(q) ** 2))(q)
    np.testing.assert_allclose(g, 2 * x * d, rtol=1e-12)
    v = RNG.normal(size=LARGE)
    out, tangent = dd.jvp(xs, (q,), (v,))
    np.testing.assert_allclose(tangent, v * d, rtol=1e-12)
    np.testing.assert_allclose(out, x, rtol=0, atol=0)
    _, pullback = dd.vjp(xs, q)
    (ct,) = pullback(v)
    np.testing.assert_allclose(ct, v * d, rtol=1e-12)
    for a in (g, tangent, ct, out):
        assert not np.shares_memory(a, q) and not np.shares_memory(a, v)
    assert checksum(q) == q_before


def test_root_structured_x0_and_closure_parameters():
    def f(p):
        system = lambda x: np.concatenate([np.reshape(x["a"] ** 2 - p, (1,)), x["b"] - 2 * p])  # noqa: E731
        sol = root(system, {"a": 1.0, "b": np.zeros(2)})
        return sol.x["a"] + np.sum(sol.x["b"])

    assert dd.grad(f)(4.0) == pytest.approx(0.25 + 4.0, rel=1e-10)
    model = lambda x, p: x**2 - p  # noqa: E731
    nested = lambda p: root(lambda x: model(x, p) * 1.0, 1.0).x  # noqa: E731
    partial = lambda p: root(functools.partial(model, p=p), 1.0).x  # noqa: E731
    default = lambda p: root(lambda x, p=p: x**2 - p, 1.0).x  # noqa: E731
    for f in (nested, partial, default):
        assert dd.grad(f)(4.0) == pytest.approx(0.25, rel=1e-10)
    in_dict = lambda d: root(lambda x, d: x**2 - d["p"] * d["q"], 1.0, args=(d,)).x  # noqa: E731
    g = dd.grad(in_dict)({"p": 2.0, "q": 8.0})
    assert g["p"] == pytest.approx(1.0, rel=1e-10)  # x = sqrt(p q) = 4: q / (2 x)
    assert g["q"] == pytest.approx(0.25, rel=1e-10)  # p / (2 x)


def test_root_traced_x0_is_a_starting_point():
    assert dd.grad(lambda p: root(lambda x: x**2 - p, p).x)(4.0) == pytest.approx(0.25)


def test_root_user_jacobian():
    def f(p):
        return root(lambda x: (x**2 - p, np.diag(2 * x)), np.ones(1), jac=True).x[0]

    assert dd.grad(f)(4.0) == pytest.approx(0.25, rel=1e-10)


# -- minimize ------------------------------------------------------------------------------------

N_QUAD = 5
M = RNG.normal(size=(N_QUAD, N_QUAD))
A_QUAD = M @ M.T + N_QUAD * np.eye(N_QUAD)
C_QUAD = RNG.normal(size=(N_QUAD, 3))


def quadratic(x, p):
    return 0.5 * x @ A_QUAD @ x - (C_QUAD @ np.sin(p)) @ x


def quadratic_min(p, method="BFGS"):
    options = {"gtol": 1e-12} if method in ("BFGS", "trust-exact") else {}
    options = {"ftol": 1e-15, "gtol": 1e-12} if method == "L-BFGS-B" else options
    return minimize(quadratic, np.zeros(N_QUAD), args=(p,), method=method, options=options).x


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B", "Newton-CG", "trust-exact", "CG"])
def test_minimize_quadratic_closed_form(method):
    p = RNG.normal(size=3)
    K = np.linalg.solve(A_QUAD, C_QUAD)
    f = functools.partial(quadratic_min, method=method)
    np.testing.assert_allclose(f(p), K @ np.sin(p), rtol=1e-5)
    every_transform(f, p, K * np.cos(p))


def test_minimize_values_equal_scipy():
    p = RNG.normal(size=3)
    plain = so.minimize(
        quadratic,
        np.zeros(N_QUAD),
        args=(p,),
        method="trust-exact",
        jac=lambda x, p: A_QUAD @ x - C_QUAD @ np.sin(p),
        hess=lambda x, p: A_QUAD,
        options={"gtol": 1e-12},
    )
    np.testing.assert_allclose(quadratic_min(p, "trust-exact"), plain.x, rtol=1e-12, atol=1e-14)
    traced = dd.jvp(functools.partial(quadratic_min, method="trust-exact"), (p,), (p,))[0]
    np.testing.assert_allclose(traced, plain.x, rtol=1e-12, atol=1e-14)


def test_minimize_outer_hessian_closed_form():
    """A bilevel Hessian: L(p) = |x*(p)|^2 with x* = K sin(p)."""
    p = RNG.normal(size=3)
    K = np.linalg.solve(A_QUAD, C_QUAD)
    G = K.T @ K
    u = np.sin(p)
    expected = 2 * np.outer(np.cos(p), np.cos(p)) * G - 2 * np.diag((G @ u) * u)
    loss = lambda q: np.sum(quadratic_min(q, "trust-exact") ** 2)  # noqa: E731
    np.testing.assert_allclose(dd.hessian(loss)(p), expected, rtol=1e-8, atol=1e-10)
    # both nestings of the two modes, and forward over forward
    for outer, inner in ((dd.jacrev, dd.jacfwd), (dd.jacfwd, dd.jacfwd), (dd.jacrev, dd.jacrev)):
        got = outer(inner(loss))(p)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_minimize_large_separable():
    a = RNG.uniform(1.0, 2.0, LARGE)
    p = RNG.normal(size=LARGE)

    def xs(p):
        f = lambda x, p: np.sum(0.5 * a * x**2 + 0.25 * x**4 - p * x)  # noqa: E731
        return minimize(
            f, np.zeros(LARGE), args=(p,), method="Newton-CG", options={"xtol": 1e-12}
        ).x

    x = xs(p)
    np.testing.assert_allclose(a * x + x**3, p, atol=1e-6)  # the derivative is exact at x
    v = RNG.normal(size=LARGE)
    np.testing.assert_allclose(dd.jvp(xs, (p,), (v,))[1], v / (a + 3 * x**2), rtol=1e-10)
    np.testing.assert_allclose(dd.vjp(xs, p)[1](v)[0], v / (a + 3 * x**2), rtol=1e-10)


def test_minimize_active_bounds_closed_form():
    """x* = clip(p, 0, 1): the derivative is 1 where p is inside, 0 on an active bound."""
    bounds = [(0.0, 1.0), (0.0, None), (None, 1.0)]

    def xs(p):
        return minimize(lambda x: np.sum((x - p) ** 2), np.full(3, 0.5), bounds=bounds).x

    p = np.array([0.3, -2.0, 2.5])
    np.testing.assert_allclose(xs(p), [0.3, 0.0, 1.0], atol=1e-8)
    every_transform(xs, p, np.diag([1.0, 0.0, 0.0]))


def test_minimize_structured_x0():
    def xs(p):
        f = lambda x: np.sum((x["w"] - p) ** 2) + (x["b"] - 2 * p[0]) ** 2  # noqa: E731
        return minimize(f, {"w": np.zeros(2), "b": 0.0}).x

    J = dd.jacobian(xs)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(J["w"], np.eye(2), atol=1e-10)
    np.testing.assert_allclose(J["b"], [2.0, 0.0], atol=1e-10)


def test_minimize_inactive_constraint_is_fine():
    cons = {"type": "ineq", "fun": lambda x: 3 - x[0] - x[1]}
    f = lambda p: np.sum(minimize(lambda x: np.sum((x - p) ** 2), np.zeros(2),  # noqa: E731
                                  constraints=cons).x)  # fmt: skip
    assert dd.grad(f)(1.0) == pytest.approx(2.0, rel=1e-8)


# -- least_squares -------------------------------------------------------------------------------


def test_least_squares_linear_closed_form():
    X = RNG.normal(size=(30, 4))
    T = RNG.normal(size=(30, 3))

    def xs(p):
        y = T @ p + np.tanh(p[0])  # y(p)
        return least_squares(lambda b, y: X @ b - y, np.zeros(4), args=(y,)).x

    p = RNG.normal(size=3)
    dy = T + np.outer(np.ones(30), [1 - np.tanh(p[0]) ** 2, 0, 0])
    expected = np.linalg.pinv(X) @ dy
    np.testing.assert_allclose(xs(p), np.linalg.lstsq(X, T @ p + np.tanh(p[0]), rcond=None)[0],
                               rtol=1e-8)  # fmt: skip
    every_transform(xs, p, expected, rtol=1e-9)


T_FIT = np.linspace(0.0, 1.0, 20)
Y_FIT = 2 * np.exp(-1.3 * T_FIT) + 0.3 * np.sin(7 * T_FIT)  # not an exponential: r != 0


def residuals(q, w):
    return w * (q[0] * np.exp(q[1] * T_FIT) - Y_FIT)


def fit(w, **kw):
    tight = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return least_squares(residuals, np.array([1.0, -1.0]), args=(w,), **tight, **kw).x


def polished(w):
    """The fit, refined by Newton steps on the exact gradient (for finite differences)."""
    cost = lambda q: 0.5 * np.sum(residuals(q, w) ** 2)  # noqa: E731
    x = fit(w)
    for _ in range(4):
        x = x - np.linalg.solve(dd.hessian(cost)(x), dd.grad(cost)(x))
    return x


def test_least_squares_nonzero_residual_uses_the_exact_hessian():
    w = np.linspace(1.0, 2.0, 20)
    fd = fd_jacobian(polished, w, h=1e-4)
    every_transform(fit, w, fd, rtol=1e-6, atol=1e-8)
    # Gauss-Newton (J^T J alone) gives another, wrong, number at a nonzero residual
    x = fit(w)
    J = dd.jacfwd(residuals)(x, w)
    r_w = dd.jacfwd(residuals, argnums=1)(x, w)
    cross = dd.jacfwd(lambda w: dd.jacfwd(residuals)(x, w).T @ residuals(x, w))(w)
    gauss_newton = -np.linalg.solve(J.T @ J, cross)
    assert np.max(np.abs(gauss_newton - fd)) > 1e-3
    assert J.shape == (20, 2) and r_w.shape == (20, 20)


def test_least_squares_robust_loss():
    w = np.linspace(1.0, 2.0, 20)
    f = functools.partial(fit, loss="soft_l1", f_scale=0.05)

    def polished_robust(w):
        rho = _implicit.LOSSES["soft_l1"]
        cost = lambda q: 0.5 * 0.05**2 * np.sum(rho((residuals(q, w) / 0.05) ** 2))  # noqa: E731
        x = f(w)
        for _ in range(4):
            x = x - np.linalg.solve(dd.hessian(cost)(x), dd.grad(cost)(x))
        return x

    fd = fd_jacobian(polished_robust, w, h=1e-4)
    np.testing.assert_allclose(dd.jacfwd(f)(w), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dd.jacrev(f)(w), fd, rtol=1e-6, atol=1e-8)


def test_least_squares_kwargs_bounds_and_second_order():
    def xs(p):
        return least_squares(lambda x, *, p: x**3 - p, np.ones(3), kwargs={"p": p},
                             bounds=([0.5, -np.inf, -np.inf], np.inf)).x  # fmt: skip

    p = np.array([0.0, 2.0, 8.0])  # the first sits on its bound 0.5
    x = xs(p)
    np.testing.assert_allclose(x, [0.5, 2 ** (1 / 3), 2.0], rtol=1e-7)
    every_transform(xs, p, np.diag([0.0, 1 / (3 * x[1] ** 2), 1 / 12]), rtol=1e-7)
    H = dd.hessian(lambda p: np.sum(xs(p)))(p)
    np.testing.assert_allclose(H, np.diag([0.0, -2 / 9 * p[1] ** (-5 / 3), -2 / 9 / 8 ** (5 / 3)]),
                               rtol=1e-6, atol=1e-12)  # fmt: skip


# -- named errors --------------------------------------------------------------------------------


def test_singular_jacobian_raises():
    with pytest.raises(SingularJacobianError, match="singular or ill-conditioned"):
        dd.grad(lambda p: np.sum(root(lambda x: np.ones(2) * (x[0] + x[1] - p),
                                      np.zeros(2)).x))(1.0)  # fmt: skip
    with pytest.raises(SingularJacobianError, match="Hessian"):
        dd.grad(lambda p: np.sum(minimize(lambda x: (x[0] + x[1] - p) ** 2, np.zeros(2)).x))(1.0)


def test_failed_solve_raises_with_scipys_message():
    f = lambda p: root(lambda x: np.exp(x) - p, 5.0, options={"maxfev": 2}).x  # noqa: E731
    with pytest.raises(SolverFailedError, match="maxfev = 2") as info:
        dd.grad(f)(2.0)
    assert info.value.result.success is False
    assert root(lambda x: np.exp(x) - 2.0, 5.0, options={"maxfev": 2}).success is False  # plain


def test_a_solution_short_of_stationary_raises_instead_of_a_wrong_derivative():
    # trust-constr (interior point) stops at x0 = 0.9996 for an active bound at 1: not on it
    # to BOUND_TOL, so the unconstrained formula gave d x0 / d p0 = 1.02 for the true 0
    def solution(p, method):
        return minimize(lambda x: np.sum((x - p[:2]) ** 2) + p[2] * x[0] * x[1], np.zeros(2),
                        bounds=[(-5, 1), (-5, 5)], method=method).x  # fmt: skip

    p = np.array([2.0, 0.5, 0.3])
    expected = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, -0.5]])  # x = (1, p1 - p2 / 2)
    np.testing.assert_allclose(dd.jacrev(solution)(p, "L-BFGS-B"), expected, atol=1e-10)
    for transform in (dd.jacfwd, dd.jacrev):
        with pytest.raises(ImplicitFunctionError, match="not a stationary point"):
            transform(solution)(p, "trust-constr")
    # root 'lm' minimizes |F|^2: "success" at a point where F is not 0 (x^2 + 1 = p, p < 1)
    with pytest.raises(ImplicitFunctionError, match="not a root"):
        dd.grad(lambda p: root(lambda x: x**2 + 1.0 - p, np.array([0.5]), method="lm").x[0])(0.5)


def test_active_constraint_and_weak_bound_raise():
    cons = {"type": "ineq", "fun": lambda x: 1 - x[0] - x[1]}
    f = lambda p: np.sum(minimize(lambda x: np.sum((x - p) ** 2), np.zeros(2),  # noqa: E731
                                  constraints=cons).x)  # fmt: skip
    with pytest.raises(ActiveConstraintError, match="Lagrange"):
        dd.grad(f)(1.0)
    eq = {"type": "eq", "fun": lambda x: x[0] - 0.2}
    g = lambda p: np.sum(minimize(lambda x: np.sum((x - p) ** 2), np.zeros(2),  # noqa: E731
                                  constraints=eq).x)  # fmt: skip
    with pytest.raises(ActiveConstraintError):
        dd.grad(g)(1.0)
    weak = lambda p: minimize(lambda x: np.sum((x - p) ** 2), np.zeros(1),  # noqa: E731
                              bounds=[(0.0, 1.0)]).x[0]  # fmt: skip
    with pytest.raises(ActiveConstraintError, match="weakly active"):
        dd.grad(weak)(1.0)


def test_wrong_shape_raises():
    with pytest.raises(ValueError, match="as many elements as x0"):
        dd.grad(lambda p: np.sum(root(lambda x: x[:2] - p, np.ones(3)).x))(1.0)
    with pytest.raises(ValueError, match="as many elements as x0"):
        root(lambda x: x[:2] - 1.0, np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        dd.grad(lambda p: np.sum(minimize(lambda x: x - p, np.ones(2)).x))(1.0)


def test_unreachable_traced_value_raises():
    box = type("Box", (), {})()  # an object's attribute: not searched

    def fun(x):
        return x**2 - box.p

    def f(p):
        box.p = p
        return root(fun, 1.0).x

    with pytest.raises(TracedClosureError, match="args="):
        dd.grad(f)(2.0)


def test_callable_loss_raises():
    def rho(z):
        return np.array([z, np.ones_like(z), np.zeros_like(z)])

    def f(p):
        return least_squares(lambda x: x - p, np.ones(1), loss=rho).x[0]

    with pytest.raises(ImplicitFunctionError, match="callable loss"):
        dd.grad(f)(1.0)


def test_least_squares_large_sparse_path_and_values_equal_scipy():
    q = RNG.uniform(1.0, 2.0, LARGE)
    before = checksum(q)

    def xs(q):
        return least_squares(cubic, np.ones(LARGE), args=(q,), xtol=1e-12).x

    x = xs(q)
    plain = so.least_squares(cubic, np.ones(LARGE), args=(q,), xtol=1e-12,
                             jac=lambda x, q: sp_diags(3 * x**2 + 1))  # fmt: skip
    np.testing.assert_allclose(x, plain.x, rtol=1e-10)
    v = RNG.normal(size=LARGE)
    tangent = dd.jvp(xs, (q,), (v,))[1]
    np.testing.assert_allclose(tangent, v / (3 * x**2 + 1), rtol=1e-8)
    g = dd.grad(lambda q: np.sum(v * xs(q)))(q)
    np.testing.assert_allclose(g, v / (3 * x**2 + 1), rtol=1e-8)
    assert not np.shares_memory(g, q) and not np.shares_memory(tangent, v)
    assert checksum(q) == before


def sp_diags(d):
    import scipy.sparse as sp

    return sp.diags(d).tocsr()


def test_root_outer_hessian_matches_finite_differences():
    """Second order through root: the Hessian of a loss of x*(p) against central differences
    of the closed-form gradient at Newton-polished solutions."""
    n = 4
    A = np.eye(n) * 4 + RNG.normal(size=(n, n)) / 2
    B = RNG.normal(size=(n, 3))
    p = RNG.normal(size=3)
    polished = newton_polished(functools.partial(coupled_root, A=A, B=B),
                               functools.partial(coupled, A=A, B=B))  # fmt: skip

    def gradient(p):  # -sin(x*)^T dx*/dp, dx*/dp = (A + diag(x*^2))^{-1} B diag(cos p)
        x = polished(p)
        return -np.sin(x) @ np.linalg.solve(A + np.diag(x**2), B * np.cos(p))

    def loss(p):
        return np.sum(np.cos(coupled_root(p, A, B)))

    fd = fd_jacobian(gradient, p, h=1e-5)
    np.testing.assert_allclose(dd.hessian(loss)(p), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dd.jacrev(dd.jacfwd(loss))(p), fd, rtol=1e-6, atol=1e-8)
