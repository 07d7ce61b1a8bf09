"""Rosenbrock in 1000 dimensions: SciPy's optimizers with dualdiff's exact derivatives.

The only change from plain SciPy is the import: ``dualdiff.optimize.minimize`` instead of
``scipy.optimize.minimize``. dualdiff gives L-BFGS-B the gradient (value and gradient from one
pass), and Newton-CG and trust-krylov Hessian-vector products as well (the products at one
point share one recording of the gradient). ``scipy.optimize.rosen`` itself calls np.asarray
and cannot be traced, so the function is written in NumPy below.

Run: python examples/optimize_rosenbrock.py
"""

import os
import time

import numpy as np
from scipy.optimize import minimize as scipy_minimize

import dualdiff as dd


def rosen(x):
    """The Rosenbrock function, sum of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def main():
    n = 20 if os.environ.get("DUALDIFF_EXAMPLE_QUICK") else 1000
    x0 = np.tile([-1.2, 1.0], n // 2)
    print(f"Rosenbrock, n = {n}, from (-1.2, 1, -1.2, 1, ...)")
    print(
        f"  {'method':13s} {'iterations':>10s} {'f evals':>8s} {'Hv products':>11s} "
        f"{'max |x - 1|':>12s} {'seconds':>8s}"
    )
    # Newton-CG stops on the step size, by default at 1e-5 (about 1e-2 from the optimum here).
    options = {"L-BFGS-B": {}, "Newton-CG": {"xtol": 1e-8}, "trust-krylov": {}}
    for method, opts in options.items():
        t = time.perf_counter()
        res = dd.optimize.minimize(rosen, x0, method=method, options=opts)
        t = time.perf_counter() - t
        err = np.max(np.abs(res.x - 1.0))
        print(
            f"  {method:13s} {res.nit:10d} {res.nfev:8d} {res.get('nhev', 0):11d} "
            f"{err:12.1e} {t:8.2f}"
        )
        assert res.success and err < 1e-4, res.message

    # What SciPy does without derivatives: 2-point finite differences, n + 1 evaluations each.
    res = scipy_minimize(rosen, x0, method="L-BFGS-B")
    print(
        f"  L-BFGS-B with SciPy's finite differences: {res.nfev} f evals, "
        f"{res.nit} iterations, success={res.success} ({res.message})"
    )


if __name__ == "__main__":
    main()
