"""Sparse Jacobians and Hessians, as ratios measured in one run.

    python -m benchmarks.bench_sparse [--quick]

On the tridiagonal Bratu residual at n = 10,000 (``examples/sparse_bratu.py``):

- the sparse Jacobian (pattern and coloring reused) in multiples of one evaluation of f
  (target < 50), against the dense ``dd.jacobian`` (target >= 100x faster) and against SciPy's
  sparse finite differences with a hand-given pattern (``approx_derivative`` with the
  precomputed column groups, as ``least_squares(jac_sparsity=...)`` uses them);
- pattern detection (and coloring) at n = 10^4, 10^5 and 10^6, in multiples of f and per
  nonzero, to show the cost grows with the number of nonzeros;
- the sparse Hessian of the chained Rosenbrock function in multiples of f, against the dense
  ``dd.hessian`` at n = 2,000.

``--quick`` divides the sizes by 10 (a smoke test).
"""

import argparse
import time

import numpy as np
from scipy.optimize._numdiff import approx_derivative, group_columns

import dualdiff as dd
from benchmarks._timing import best_time


def bratu(u, lam=1.0):
    """The Bratu residual of ``examples/sparse_bratu.py``: tridiagonal Jacobian."""
    h = 1.0 / (u.size + 1)
    padded = np.pad(u, 1)
    return (padded[:-2] - 2.0 * padded[1:-1] + padded[2:]) / h**2 + lam * np.exp(u)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def once(fn):
    """Seconds of one call after a warm-up call (for calls too slow to repeat)."""
    fn()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def jacobian_figures(n):
    x = np.linspace(0.0, 0.1, n)
    jac = dd.sparse.SparseJacobian(bratu, x)
    groups = group_columns(jac.pattern)
    exact = jac(x).toarray()
    fd = approx_derivative(bratu, x, sparsity=(jac.pattern, groups)).toarray()
    t_f = best_time(lambda: bratu(x))
    t_sparse = best_time(lambda: jac(x))
    t_fd = best_time(lambda: approx_derivative(bratu, x, sparsity=(jac.pattern, groups)))
    t_dense = once(lambda: dd.jacobian(bratu)(x))
    dense_ok = np.array_equal(dd.jacobian(bratu)(x), exact)
    print(
        f"Jacobian of the Bratu residual, n = {n}: {jac.pattern.nnz} nonzeros, "
        f"{jac.n_colors} colors, {jac.mode} mode"
    )
    print(f"  sparse dd (pattern reused)     {t_sparse / t_f:8.1f} x f   (target < 50)")
    print(
        f"  dense dd.jacobian / sparse dd  {t_dense / t_sparse:8.0f} x     (target >= 100); "
        f"same values: {dense_ok}"
    )
    print(
        f"  SciPy sparse FD (2-point)      {t_fd / t_f:8.1f} x f   "
        f"sparse dd / FD = {t_sparse / t_fd:.2f}; FD max rel. error "
        f"{np.max(np.abs(fd - exact)) / np.max(np.abs(exact)):.1e}"
    )


def detection_figures(sizes):
    print("Pattern detection on the Bratu residual (trace, then color columns and rows):")
    for n in sizes:
        detection_row(np.zeros(n))


def detection_row(x):
    t_f = best_time(lambda: bratu(x))
    t_detect = best_time(lambda: dd.jacobian_sparsity(bratu, x), min_total=0.5, repeat=3)
    pattern = dd.jacobian_sparsity(bratu, x)
    t_setup = once(lambda: dd.sparse.SparseJacobian(bratu, x, pattern=pattern))
    print(
        f"  n = {x.size:>9}: detection {t_detect / t_f:7.1f} x f "
        f"({t_detect / pattern.nnz * 1e9:6.1f} ns per nonzero), "
        f"coloring {t_setup / t_f:7.1f} x f ({t_setup / pattern.nnz * 1e9:6.1f} ns per nonzero)"
    )


def hessian_figures(n, n_dense):
    x = np.linspace(-1.0, 1.0, n)
    hess = dd.sparse.SparseHessian(rosenbrock, x)
    t_f = best_time(lambda: rosenbrock(x))
    t_sparse = best_time(lambda: hess(x))
    print(
        f"Hessian of chained Rosenbrock, n = {n}: {hess.pattern.nnz} nonzeros, "
        f"{hess.n_colors} star colors: sparse dd {t_sparse / t_f:.1f} x f"
    )
    x = np.linspace(-1.0, 1.0, n_dense)
    small = dd.sparse.SparseHessian(rosenbrock, x)
    t_small = best_time(lambda: small(x))
    t_dense = once(lambda: dd.hessian(rosenbrock)(x))
    same = np.allclose(dd.hessian(rosenbrock)(x), small(x).toarray(), rtol=1e-12, atol=1e-9)
    print(
        f"  n = {n_dense}: dense dd.hessian / sparse dd {t_dense / t_small:.0f} x; "
        f"same values: {same}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by 10")
    quick = parser.parse_args(argv).quick
    scale = 10 if quick else 1
    jacobian_figures(10_000 // scale)
    detection_figures([10**4 // scale, 10**5 // scale, 10**6 // scale])
    hessian_figures(10_000 // scale, 2_000 // scale)


if __name__ == "__main__":
    main()
