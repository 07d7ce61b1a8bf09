"""Test-table lines for dualdiff.integrate's ops (rules in dualdiff/integrate/_ivp.py and
_quad.py): solved tightly, so that finite differences of the solver are a reference
(tests/test_integrate.py checks closed forms: expm, decay, Gaussian integrals)."""

import numpy as np

from dualdiff.integrate import odeint, quad, solve_ivp
from dualdiff.integrate._ivp import _ivp
from dualdiff.integrate._quad import _integral
from tests._table import Case, pos

TIGHT = {"rtol": 1e-11, "atol": 1e-12}
y02, k2 = pos(2, seed=51), pos(2, seed=52)


def decay_pair(y0, k):
    """A coupled nonlinear pair: y0' = -k0 y0 + 0.1 y0 y1, y1' = -k1 y1."""

    def rhs(t, y):
        return np.stack([-k[0] * y[0] + 0.1 * y[0] * y[1], -k[1] * y[1]])

    return solve_ivp(rhs, (0.0, 1.5), y0, t_eval=[0.5, 1.5], **TIGHT).y


def decay_odeint(k):
    return odeint(lambda y, t: -k * y, np.ones(2), [0.0, 1.0], rtol=1e-11, atol=1e-12)[-1]


def gaussian_mass(p):
    """The mass of a Gaussian (width, center) between two limits: args and limits traced."""
    f = lambda x, s, m: np.exp(-((x - m) ** 2) / (2 * s**2))  # noqa: E731
    return quad(f, p[2], p[3], args=(p[0], p[1]), epsabs=1e-13, epsrel=1e-13)[0]


def damped_cosine_mass(c):
    """An infinite upper limit: the Leibniz term vanishes there."""
    return quad(lambda x, c: np.exp(-c * x) * np.cos(x), 0.0, np.inf, args=(c,))[0]


CASES = [
    # first order: the solver's finite differences are the reference (second order is checked
    # against differences of the gradient in tests/test_integrate.py)
    Case(_ivp, decay_pair, (y02, k2), name="y0-and-args", order=1),
    Case(_ivp, decay_odeint, (k2,), name="odeint", order=1),
    Case(_integral, gaussian_mass, (np.array([0.8, 0.1, -1.0, 1.5]),), name="args-and-limits"),
    Case(_integral, damped_cosine_mass, (np.array(0.9),), name="infinite-limit"),
]
