"""Test-table lines for the solution op of dualdiff.optimize (rules in dualdiff/_implicit.py):
through root, minimize and least_squares, solved tightly so that the finite differences of the
solver are a reference (tests/test_implicit.py checks closed forms)."""

import numpy as np

from dualdiff._implicit import implicit_solution
from dualdiff.optimize import least_squares, minimize, root
from tests._table import Case, pos, rand

A = np.array([[3.0, 0.5, -0.2], [0.1, 2.5, 0.3], [-0.4, 0.2, 4.0]])
p3, q2 = rand(3, seed=31), pos(2, seed=32)


def root_solution(p):
    system = lambda x, p: A @ x + x**3 / 3 - np.sin(p)  # noqa: E731
    return root(system, np.zeros(3), args=(p,), options={"xtol": 1e-13}).x


def minimize_solution(p):
    objective = lambda x, p: 0.5 * x @ A @ A.T @ x + np.sum(np.cosh(x)) - np.exp(p) @ x  # noqa: E731
    return minimize(objective, np.zeros(3), args=(p,), method="trust-exact",
                    options={"gtol": 1e-11}).x  # fmt: skip


def least_squares_solution(q):
    t = np.linspace(0.0, 1.0, 8)
    residuals = lambda c, q: c[0] * np.exp(-c[1] * t) - q[0] * np.exp(-q[1] * t) - 0.05 * t**2  # noqa: E731
    tight = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return least_squares(residuals, np.ones(2), args=(q,), **tight).x


CASES = [
    Case(implicit_solution, root_solution, (p3,), name="root"),
    Case(implicit_solution, minimize_solution, (p3,), name="minimize"),
    Case(implicit_solution, least_squares_solution, (q2,), name="least_squares"),
]
