"""A 1-D Bratu problem with 10,000 unknowns, solved with a detected sparse Jacobian.

    u'' + lam * exp(u) = 0 on (0, 1),   u(0) = u(1) = 0

discretised with central differences on n interior points. dualdiff finds the Jacobian's
tridiagonal pattern from the code, colors its columns (3 colors), and each Jacobian costs one
forward pass with 3 tangents. SciPy's ``least_squares`` (trust region, LSMR on the sparse
Jacobian) solves the system; the solution is checked against the exact solution of the
continuous problem, u(t) = -2 log(cosh((t - 1/2) theta / 2) / cosh(theta / 4)), with
theta = 2 arccosh(cosh(theta / 4) ... ) solved for the lower branch.

Set DUALDIFF_EXAMPLE_QUICK=1 for a small n (the test-suite does).
"""

import os

import numpy as np
from scipy.optimize import brentq, least_squares

import dualdiff as dd

LAM = 1.0


def residual(u, lam=LAM):
    """Discrete Bratu residual, scaled by h**2: (u[i-1] - 2 u[i] + u[i+1]) + h**2 lam e^u[i]."""
    h = 1.0 / (u.size + 1)
    padded = np.pad(u, 1)  # the Dirichlet boundary values u(0) = u(1) = 0
    return padded[:-2] - 2.0 * padded[1:-1] + padded[2:] + h**2 * lam * np.exp(u)


def exact(t, lam=LAM):
    """The lower-branch solution of the continuous problem."""
    theta = brentq(lambda th: th - np.sqrt(2.0 * lam) * np.cosh(th / 4.0), 0.0, 4.0)
    return -2.0 * np.log(np.cosh((t - 0.5) * theta / 2.0) / np.cosh(theta / 4.0))


def main():
    n = 200 if os.environ.get("DUALDIFF_EXAMPLE_QUICK") else 10_000
    u0 = np.zeros(n)
    jac = dd.sparse.SparseJacobian(residual, u0)
    print(f"n = {n}: Jacobian pattern {jac.shape}, {jac.pattern.nnz} nonzeros, "
          f"{jac.n_colors} colors ({jac.mode} mode)")  # fmt: skip
    sol = least_squares(residual, u0, jac=jac, method="trf", tr_solver="lsmr",
                        x_scale="jac", xtol=1e-15, ftol=1e-15, gtol=1e-15)  # fmt: skip
    t = np.arange(1, n + 1) / (n + 1)
    error = np.max(np.abs(sol.x - exact(t)))
    print(f"least_squares: {sol.nfev} residual and {sol.njev} Jacobian evaluations, "
          f"residual norm {np.linalg.norm(residual(sol.x)):.2e}")  # fmt: skip
    print(f"max |u - u_exact| = {error:.2e} (discretisation error O(h^2) = {(1 / (n + 1))**2:.1e})")
    assert np.linalg.norm(residual(sol.x)) < 1e-8 and error < 10.0 / (n + 1) ** 2


if __name__ == "__main__":
    main()
