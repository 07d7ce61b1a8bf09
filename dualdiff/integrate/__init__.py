"""``scipy.integrate`` with exact derivatives: ``solve_ivp``, ``odeint`` and ``quad``.

Same signatures and results as SciPy's. On plain arrays the stiff methods (``BDF``, ``Radau``,
``LSODA``, and ``odeint``) get the exact Jacobian of ``fun`` in ``y`` from dualdiff (a
``scipy.sparse`` one from 100 states on, found by sparsity detection and coloring, so BDF and
Radau factorize it with a sparse LU); a ``jac`` of your own is kept. Inside ``dd.grad``,
``dd.jacobian``, ``dd.jvp``, ``dd.hessian``, ... the solution is differentiable in ``y0`` and in
the traced values among ``args`` (the integral of ``quad`` also in its limits):

- forward mode solves the forward sensitivity equations together with the state, by the same
  method, for a whole batch of tangent directions at once;
- reverse mode solves the adjoint equations backwards along the forward solution's dense
  output, in segments between the output times, by the same method, with the same ``rtol``
  and an ``atol`` of the state's (its largest entry, for an array) times the largest
  cotangent (the adjoint is linear in it). Its error is that of an ODE solve at those
  tolerances plus the dense output's interpolation error, so tighten both to tighten the
  gradient (at ``rtol=1e-10, atol=1e-12`` forward and reverse agree to about 1e-8);
- more cotangents than inputs (a least-squares Jacobian in reverse mode) are pulled back through
  forward sensitivities of the inputs' basis instead: fewer directions to solve for;
- derivatives of derivatives (a Hessian) differentiate the forward sensitivity equations again.

SciPy's loop evaluates the sensitivity and adjoint right-hand sides, and the exact Jacobians of
small systems, thousands of times: after a few traced calls they are replayed (``dd.replay``:
their NumPy calls alone, bit for bit the traced results, recorded afresh for every solve, so a
global that ``fun`` reads may change between solves). In the sensitivity and adjoint solves,
``fun``'s Python code therefore runs at the recordings only, not at every evaluation.

Names not served here are SciPy's own (``dualdiff.integrate.trapezoid`` is
``scipy.integrate.trapezoid``).

Examples
--------
>>> import numpy as np
>>> import dualdiff as dd
>>> from dualdiff.integrate import solve_ivp
>>> def final(k):
...     sol = solve_ivp(lambda t, y, k: -k * y, (0.0, 1.0), np.array([1.0]), t_eval=[1.0],
...                     args=(k,), rtol=1e-10, atol=1e-12)
...     return sol.y[0, -1]
>>> bool(np.isclose(dd.grad(final)(2.0), -np.exp(-2.0), rtol=1e-7))
True
"""

import scipy.integrate as _si

from dualdiff.integrate._quad import quad
from dualdiff.integrate._solve import odeint, solve_ivp
from dualdiff.integrate._systems import IntegrationError
from dualdiff.scipy._fallback import fallback

OdeResult = _si._ivp.ivp.OdeResult

__all__ = ["IntegrationError", "OdeResult", "odeint", "quad", "solve_ivp"]

__getattr__, __dir__ = fallback(__name__, _si)
