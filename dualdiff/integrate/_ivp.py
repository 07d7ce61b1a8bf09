"""One differentiable op, ``_ivp(z, problem)``: the states of an initial value problem at given
times, as a function of ``z = [y0, p]`` (the initial state and the traced parameters, flat).

Forward rule: the forward sensitivity equations, the state and ``k`` tangent directions solved
together by the same SciPy method (:class:`ForwardSystem`), through ``_ivp`` itself, so the rule
is differentiable again. Reverse rule: the adjoint equations solved backwards along the forward
solution's dense output, in segments between the output times (:class:`AdjointSystem`). It
contracts the cotangents with the forward sensitivities of the whole basis of ``z`` instead when
they outnumber ``z``'s entries (cheaper), and when the reverse rule is itself differentiated (its
``z`` or cotangent traced: a Hessian), as those are traceable.
"""

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp

from dualdiff._pattern_ops import defdense
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import Tracer, innermost, primitive
from dualdiff.integrate._systems import (
    AdjointSystem,
    ForwardSystem,
    IntegrationError,
    is_implicit,
    plain,
    solver_class,
)

# k output cotangents cost the adjoint k backward solves (batched in one system); more of them
# than z has entries are pulled back faster through the forward sensitivities of z's basis (a
# least-squares Jacobian by reverse mode: 80 residuals, 6 entries). Tests set this to exercise
# the adjoint for every k.
ADJOINT_ALWAYS = False

# Options that describe the user's Jacobian (its format or its pattern): the derived systems
# get exact Newton matrices of their own instead.
JACOBIAN_OPTIONS = ("jac", "jac_sparsity", "lband", "uband", "vectorized")


def run(system, y0, p, t_span, method, options, *, t_eval=None, dense_output=False):
    """SciPy's solve_ivp on ``system`` at parameters ``p`` (plain), with its Newton matrix for
    the implicit methods; a failure raises :class:`IntegrationError` with SciPy's message."""
    kw = {k: v for k, v in options.items() if k not in JACOBIAN_OPTIONS}
    if is_implicit(method):
        dense_jac = issubclass(solver_class(method), si.LSODA)  # LSODA takes dense ones only

        def jac(t, y):
            m = system.newton(t, y, p)
            return m.toarray() if dense_jac and sp.issparse(m) else m

        kw["jac"] = jac
    rhs = system.rhs(p)
    sol = si.solve_ivp(
        lambda t, y: plain(rhs(t, y)),
        t_span,
        y0,
        method=method,
        t_eval=t_eval,
        dense_output=dense_output,
        **kw,
    )
    if not sol.success:
        raise IntegrationError(f"solve_ivp failed inside a dualdiff transform: {sol.message}")
    return sol


class Problem:
    """What ``_ivp`` solves: the system, the time span, the output times ``t_out`` (read off
    the solver's steps, or, with ``dense``, off its dense output), the method and options.

    The forward solution at the last ``z`` is cached (the reverse rule needs its dense output,
    kept from the start when ``keep_dense``: a reverse-mode tracer is among ``z``'s levels);
    ``primal`` computes the op's value, by ``odeint`` when ``odeint`` holds its arguments."""

    def __init__(self, system, t_span, t_out, method, options, *, dense=False, odeint=None,
                 keep_dense=True):  # fmt: skip
        self.system, self.t_span, self.t_out = system, tuple(t_span), t_out
        self.method, self.options, self.dense, self.odeint = method, options, dense, odeint
        self.keep_dense = keep_dense
        self._cache = [None, None]  # shared by the problems .at() makes

    def at(self, t_out):
        """This problem with outputs read off the dense output at ``t_out``."""
        other = Problem(self.system, self.t_span, np.asarray(t_out, dtype=np.float64),
                        self.method, self.options, dense=True)  # fmt: skip
        other._cache = self._cache
        return other

    @property
    def out_shape(self):
        return (self.system.n,) + np.shape(self.t_out)

    def forward(self, z, dense=False):
        """The forward solution at plain ``z``; with dense output when ``dense`` asks for it or
        this problem needs it (outputs read off it, or kept for the reverse rule). Building it
        costs SciPy 5-10 % of a solve, wasted in forward mode."""
        key = z.tobytes()
        dense = dense or self.dense or self.keep_dense
        cached = self._cache[1]
        if self._cache[0] != key or dense and cached.sol is None:
            n = self.system.n
            t_eval = None if self.dense or self.t_out is None else _distinct(self.t_out)[0]
            sol = run(self.system, z[:n], z[n:], self.t_span, self.method, self.options,
                      t_eval=t_eval, dense_output=dense)  # fmt: skip
            self._cache[:] = [key, sol]
        return self._cache[1]

    def primal(self, z):
        if self.odeint is not None:
            return self.odeint(z)
        sol = self.forward(z)
        if self.dense:
            return sol.sol(self.t_out)
        index = _distinct(self.t_out)[1] if self.t_out is not None else None
        return sol.y.copy() if index is None else sol.y[:, index]

    def tangent(self, z, t):
        """Tangents ``(k, *out_shape)`` of the output for input tangents ``t`` of shape
        ``(k, z.size)``, by the forward sensitivity equations (traceable)."""
        n, k = self.system.n, np.shape(t)[0]
        z_aug = np.concatenate([z[:n], np.reshape(t[:, :n], (-1,)),
                                z[n:], np.reshape(t[:, n:], (-1,))])  # fmt: skip
        aug = Problem(ForwardSystem(self.system, k), self.t_span, self.t_out, self.method,
                      _tiled_tolerances(self.options, k), dense=self.dense,
                      keep_dense=reverse_traced(z_aug))  # fmt: skip
        out = _ivp(z_aug, aug)
        return np.reshape(out[n:], (k,) + self.out_shape)

    def adjoint(self, z, g):
        """Cotangents ``(k, z.size)`` for output cotangents ``g`` (plain), by the adjoint
        equations solved backwards from the last output time to the initial time."""
        sol = self.forward(z, dense=True)
        n, k = self.system.n, g.shape[0]
        times = np.reshape(self.t_out, (-1,))
        g = np.reshape(g, (k, n, times.size))
        system = AdjointSystem(self.system, k, sol.sol, z[n:])
        options = _adjoint_tolerances(self.options, g)
        direction = np.sign(self.t_span[1] - self.t_span[0]) or 1.0
        v, now = np.zeros(system.n), None
        for j in np.argsort(-direction * times, kind="stable"):  # the last time first
            if now is not None and times[j] != now:
                v = run(system, v, None, (now, times[j]), self.method, options).y[:, -1]
            now = times[j]
            v[: k * n] += np.reshape(g[:, :, j], (-1,))
        if now is not None and now != self.t_span[0]:
            v = run(system, v, None, (now, self.t_span[0]), self.method, options).y[:, -1]
        a = np.reshape(v[: k * n], (k, n))
        return np.concatenate([a, np.reshape(v[k * n :], (k, self.system.n_p))], axis=1)


def _distinct(times):
    """``(distinct, index)``: monotonic ``times`` without repeats (SciPy's ``t_eval`` refuses
    them; ``odeint`` takes them) and where each time is among them (None: none repeated)."""
    new = np.concatenate([[True], times[1:] != times[:-1]]) if times.size else times
    if np.all(new):
        return times, None
    return times[new], np.cumsum(new) - 1


def reverse_traced(x) -> bool:
    """Whether a reverse-mode tracer is among ``x``'s levels: its reverse rule may run."""
    while isinstance(x, Tracer):
        if x.mode == "reverse":
            return True
        x = x.value
    return False


def _tiled_tolerances(options, k):
    """The options for the state and k tangents: an atol per state is repeated per direction."""
    atol = options.get("atol")
    if atol is None or np.ndim(atol) == 0:
        return options
    return {**options, "atol": np.tile(np.asarray(atol, dtype=np.float64), 1 + k)}


def _adjoint_tolerances(options, g):
    """The adjoint's options. Its states are cotangents, linear in ``g``: the absolute
    tolerance is the state's (its largest entry when it is an array) times ``max |g|``, so the
    gradient is as accurate relative to ``g`` whatever ``g``'s scale."""
    atol = np.max(options.get("atol", 1e-6))
    scale = np.max(np.abs(g)) if np.size(g) else 0.0
    # first_step is the forward solve's: a segment between output times may be shorter
    options = {k: v for k, v in options.items() if k != "first_step"}
    return {**options, "atol": float(atol * scale) if scale > 0 else float(atol)}


@defdense  # every output depends on every parameter
@primitive
def _ivp(z, problem):
    """The states at ``problem.t_out`` for ``z = [y0, p]``: shape ``(n, *t_out.shape)``."""
    return problem.primal(np.asarray(z, dtype=np.float64))


@defjvp(_ivp)
def _ivp_jvp(t, ans, z, problem):
    return _finite(problem.tangent(z, t), ans, "forward sensitivities")


@defvjp(_ivp)
def _ivp_vjp(g, ans, z, problem):
    if isinstance(g, Tracer) or isinstance(z, Tracer):  # differentiated again: traceable
        return _by_basis(g, z, problem)
    if not ADJOINT_ALWAYS and np.shape(g)[0] > np.shape(z)[0]:
        return _finite(_by_basis(g, z, problem), ans, "forward sensitivities")
    return _finite(problem.adjoint(z, g), ans, "adjoint")


def _by_basis(g, z, problem):
    """``g`` contracted with the forward sensitivities of the whole basis of ``z``."""
    basis = np.eye(np.shape(z)[0])
    jac = np.reshape(problem.tangent(z, basis), (basis.shape[0], -1))
    return np.reshape(g, (np.shape(g)[0], -1)) @ jac.T


def _finite(d, ans, what):
    """``d``, refused when it is not finite although the solution is."""
    values = innermost(d)
    if np.all(np.isfinite(values)) or not np.all(np.isfinite(innermost(ans))):
        return d
    raise IntegrationError(
        f"solve_ivp: the {what} are not finite although the solution is (the right-hand side's "
        "derivative is infinite or NaN somewhere along the solution, e.g. sqrt or log at 0)."
    )
