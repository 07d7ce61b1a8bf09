"""Constrained minimization: SLSQP and trust-constr with exact constraint derivatives.

Problem 1 is SciPy's own trust-constr tutorial: Rosenbrock in 2-d with a linear and a
nonlinear constraint and bounds. dualdiff gives SLSQP the gradient and the constraint
Jacobians, and trust-constr Hessian-vector products and the constraints' Hessian term too.

Problem 2 has a dict of parameters: the box of largest volume with a surface area of 10
and a height of at most 0.8. The result comes back as a dict, and the bound is given per key.

Run: python examples/optimize_constrained.py
"""

import numpy as np
from scipy.optimize import LinearConstraint, NonlinearConstraint

import dualdiff as dd
import dualdiff.numpy as dnp


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def tutorial():
    # x0 + 2 x1 <= 1 and 2 x0 + x1 = 1 (SLSQP wants equalities and inequalities apart)
    linear = [
        LinearConstraint([[1.0, 2.0]], -np.inf, 1.0),
        LinearConstraint([[2.0, 1.0]], 1.0, 1.0),
    ]
    nonlinear = NonlinearConstraint(
        lambda x: dnp.array([x[0] ** 2 + x[1], x[0] ** 2 - x[1]]), -np.inf, 1.0
    )
    bounds = [(0.0, 1.0), (-0.5, 2.0)]
    x0 = np.array([0.5, 0.0])
    print("Rosenbrock with constraints (SciPy's trust-constr tutorial; optimum (0.4149, 0.1701)):")
    for method in ("SLSQP", "trust-constr"):
        res = dd.optimize.minimize(
            rosen, x0, method=method, bounds=bounds, constraints=[*linear, nonlinear]
        )
        extra = f", constraint Hessian terms {res.constr_nhev}" if method == "trust-constr" else ""
        print(
            f"  {method:12s} x = {np.round(res.x, 4)}  f = {res.fun:.6f}  "
            f"{res.nit} iterations{extra}"
        )
        np.testing.assert_allclose(res.x, [0.4149, 0.1701], atol=2e-4)


def box():
    def neg_volume(p):
        return -p["length"] * p["width"] * p["height"]

    def area(p):
        l, w, h = p["length"], p["width"], p["height"]  # noqa: E741
        return 2.0 * (l * w + l * h + w * h) - 10.0

    x0 = {"length": 1.0, "width": 1.0, "height": 0.5}
    print("Largest box with surface area 10 and height <= 0.8 (a dict of parameters):")
    for method in ("SLSQP", "trust-constr"):
        res = dd.optimize.minimize(
            neg_volume,
            x0,
            method=method,
            constraints={"type": "eq", "fun": area},
            bounds={"height": (0.0, 0.8), "length": (0.0, None), "width": (0.0, None)},
        )
        dims = {k: round(v, 4) for k, v in res.x.items()}
        print(f"  {method:12s} {dims}  volume {-res.fun:.4f}")
        # With h at its bound, l = w and 2 (l^2 + 2 l h) = 10.
        h = 0.8
        side = -h + np.sqrt(h**2 + 5.0)
        np.testing.assert_allclose(
            [res.x["length"], res.x["width"], res.x["height"]], [side, side, h], atol=1e-4
        )


if __name__ == "__main__":
    tutorial()
    box()
