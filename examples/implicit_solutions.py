"""Derivatives of solutions: the sensitivity of an equilibrium found by ``root``, and a bilevel
problem (a hyper-parameter tuned through an inner ``minimize``).

Inside ``dd.grad``, ``dd.jacobian``, ``dd.hessian``, ... the ``x`` of ``dualdiff.optimize.root``,
``minimize`` and ``least_squares`` is differentiable in traced ``args`` (and in traced values
``fun`` closes over) by the implicit function theorem: SciPy solves on plain values, and the
derivative solves one linear system with the Jacobian (or Hessian) at the solution. No
derivative flows through SciPy's iterations.

Run: python examples/implicit_solutions.py
"""

import os

import numpy as np

import dualdiff as dd


def predator_prey(z, theta):
    """Logistic prey x, predator y: dx/dt = r x (1 - x/K) - a x y, dy/dt = b x y - m y."""
    x, y = z[0], z[1]
    r, K, a, b, m = theta[0], theta[1], theta[2], theta[3], theta[4]
    return dd.numpy.array([r * x * (1 - x / K) - a * x * y, b * x * y - m * y])


def equilibrium(theta):
    """The coexistence equilibrium, found numerically (from a rough guess) by root."""
    return dd.optimize.root(predator_prey, np.array([2.0, 2.0]), args=(theta,)).x


def equilibrium_closed_form(theta):
    r, K, a, b, m = theta
    x = m / b
    return np.array([x, r * (1 - x / K) / a])


def sensitivity():
    theta = np.array([1.2, 10.0, 0.4, 0.25, 0.6])  # r, K, a, b, m
    z = equilibrium(theta)
    J = dd.jacobian(equilibrium)(theta)  # (2 states, 5 parameters), one linear solve
    J_exact = dd.jacobian(equilibrium_closed_form)(theta)
    print("predator-prey equilibrium (x*, y*) =", np.round(z, 6))
    print("d(x*, y*) / d(r, K, a, b, m):")
    print(np.round(J, 6) + 0.0)  # + 0.0: no negative zeros
    np.testing.assert_allclose(z, equilibrium_closed_form(theta), rtol=1e-8)
    np.testing.assert_allclose(J, J_exact, rtol=1e-8, atol=1e-12)
    # second order too: the rules of the solution are differentiable again
    H = dd.hessian(lambda t: equilibrium(t)[1])(theta)
    H_exact = dd.hessian(lambda t: equilibrium_closed_form(t)[1])(theta)
    np.testing.assert_allclose(H, H_exact, rtol=1e-7, atol=1e-10)
    print("  matches the closed form, Hessian of y* included")


def ridge_weights(log_lam, X, y):
    """Inner problem: ridge regression solved by minimize (trust-exact: exact Hessians)."""

    def objective(w, log_lam):
        return np.sum((X @ w - y) ** 2) + np.exp(log_lam) * np.sum(w**2)

    return dd.optimize.minimize(
        objective,
        np.zeros(X.shape[1]),
        args=(log_lam,),
        method="trust-exact",
        options={"gtol": 1e-10},
    ).x


def bilevel(quick):
    rng = np.random.default_rng(0)
    n, d = (40, 8) if quick else (200, 30)
    w_true = rng.normal(size=d) * (rng.random(d) < 0.5)
    X, X_val = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    y = X @ w_true + 1.5 * rng.normal(size=n)
    y_val = X_val @ w_true + 1.5 * rng.normal(size=n)

    def validation_loss(log_lam):  # outer loss, through the inner solution w*(lambda)
        return np.mean((X_val @ ridge_weights(log_lam, X, y) - y_val) ** 2)

    log_lam = 0.0
    g = dd.grad(validation_loss)(log_lam)
    # closed form: w* = (X^T X + lam I)^{-1} X^T y, dw*/dlam = -(X^T X + lam I)^{-1} w*
    lam = np.exp(log_lam)
    A = X.T @ X + lam * np.eye(d)
    w = np.linalg.solve(A, X.T @ y)
    g_exact = 2 / n * (X_val @ w - y_val) @ (X_val @ -np.linalg.solve(A, w)) * lam
    np.testing.assert_allclose(g, g_exact, rtol=1e-6)
    print(f"bilevel ridge (n = {n}, d = {d}): d(validation loss)/d(log lambda) at 0 = {g:.6f}")

    # tune log lambda with an outer minimize whose gradient goes through the inner minimize
    outer = dd.optimize.minimize(validation_loss, np.array([0.0]), method="BFGS")
    print(
        f"  tuned lambda = {np.exp(outer.x[0]):.4g}: validation loss "
        f"{validation_loss(0.0):.4f} -> {outer.fun:.4f} in {outer.nit} outer iterations"
    )
    assert outer.success and outer.fun <= validation_loss(0.0)


def main():
    quick = bool(os.environ.get("DUALDIFF_EXAMPLE_QUICK"))
    sensitivity()
    bilevel(quick)


if __name__ == "__main__":
    main()
