"""Boundary value problems with 10,000 unknowns, solved with detected sparse Jacobians.

dualdiff finds each residual's tridiagonal Jacobian pattern by tracing the code, colors its
columns (3 colors), and then every Jacobian costs one forward pass carrying 3 tangents.

1. A steady reaction-diffusion problem, eps**2 u'' - u - u**3 + s(t) = 0 with u(0) = u(1) = 0,
   solved by ``scipy.optimize.least_squares`` (trust region, LSMR on the sparse Jacobian).
   The source s is manufactured so that u(t) = sin(pi t) + sin(3 pi t) / 2 solves it.
2. The Bratu problem, u'' + lam exp(u) = 0 with u(0) = u(1) = 0, solved by Newton's method
   with a sparse direct solve. Its Jacobian is a discrete Laplacian with condition number
   about 4 n**2 / pi**2, which stalls least_squares' iterative LSMR solves at this size; a
   direct solve of the sparse Jacobian takes milliseconds. The lower solution is
   u(t) = -2 log(cosh((t - 1/2) theta / 2) / cosh(theta / 4)), theta = sqrt(2 lam) cosh(theta / 4).

Set DUALDIFF_EXAMPLE_QUICK=1 for a small n (the test-suite does).
"""

import os

import numpy as np
from scipy.optimize import brentq, least_squares
from scipy.sparse.linalg import spsolve

import dualdiff as dd

EPS = 1e-3  # diffusion length: the reaction term keeps the Jacobian well conditioned
LAM = 1.0  # Bratu parameter, below the fold at 3.51


def grid(n):
    return np.arange(1, n + 1) / (n + 1)


def second_difference(u):
    """(u[i-1] - 2 u[i] + u[i+1]) / h**2 with the Dirichlet values u(0) = u(1) = 0."""
    h = 1.0 / (u.size + 1)
    padded = np.pad(u, 1)
    return (padded[:-2] - 2.0 * padded[1:-1] + padded[2:]) / h**2


def manufactured(t):
    return np.sin(np.pi * t) + 0.5 * np.sin(3 * np.pi * t)


def source(t):
    u = manufactured(t)
    curvature = -(np.pi**2) * (np.sin(np.pi * t) + 4.5 * np.sin(3 * np.pi * t))
    return u + u**3 - EPS**2 * curvature


def reaction_diffusion(u):
    return EPS**2 * second_difference(u) - u - u**3 + source(grid(u.size))


def bratu(u):
    return second_difference(u) + LAM * np.exp(u)


def bratu_exact(t):
    theta = brentq(lambda th: th - np.sqrt(2.0 * LAM) * np.cosh(th / 4.0), 0.0, 4.0)
    return -2.0 * np.log(np.cosh((t - 0.5) * theta / 2.0) / np.cosh(theta / 4.0))


def solve_reaction_diffusion(n):
    u0 = np.zeros(n)
    jac = dd.sparse.SparseJacobian(reaction_diffusion, u0)
    sol = least_squares(
        reaction_diffusion, u0, jac=jac, tr_solver="lsmr", xtol=1e-12, ftol=1e-12, gtol=1e-12
    )
    norm = np.linalg.norm(reaction_diffusion(sol.x))
    error = np.max(np.abs(sol.x - manufactured(grid(n))))
    print(
        f"reaction-diffusion, n = {n}: {jac.pattern.nnz} nonzeros, {jac.n_colors} colors "
        f"({jac.mode} mode); least_squares used {sol.njev} Jacobians"
    )
    print(f"  residual norm {norm:.2e}, max error vs the manufactured solution {error:.2e}")
    assert norm < 1e-6 and error < 1e-6


def solve_bratu(n):
    u = np.zeros(n)
    jac = dd.sparse.SparseJacobian(bratu, u)
    steps, step = 0, np.ones(n)
    while np.max(np.abs(step)) > 1e-13 and steps < 20:
        step = spsolve(jac(u).tocsc(), bratu(u))
        u, steps = u - step, steps + 1
    norm = np.linalg.norm(bratu(u))
    error = np.max(np.abs(u - bratu_exact(grid(n))))
    print(f"Bratu, n = {n}: {jac.n_colors} colors; {steps} Newton steps with spsolve")
    print(
        f"  residual norm {norm:.2e} (entries of size 1/h**2 = {(n + 1.0) ** 2:.0e}), "
        f"max error vs the exact solution {error:.2e}"
    )
    assert norm < 1e-14 * (n + 1) ** 2 * np.sqrt(n) and error < 1.0 / (n + 1) ** 2


def main():
    n = 200 if os.environ.get("DUALDIFF_EXAMPLE_QUICK") else 10_000
    solve_reaction_diffusion(n)
    solve_bratu(n)


if __name__ == "__main__":
    main()
