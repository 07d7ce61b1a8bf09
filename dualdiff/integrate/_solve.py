"""The public ``solve_ivp`` and ``odeint``: SciPy's own call on plain arrays (with an exact
Jacobian for the stiff methods), the differentiable op ``_ivp`` when something is traced."""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.integrate as si
import scipy.sparse as sp

import dualdiff.numpy as dnp
from dualdiff._tracer import innermost
from dualdiff.integrate._ivp import Problem, _ivp, reverse_traced
from dualdiff.integrate._systems import (
    IntegrationError,
    UserSystem,
    checked,
    is_implicit,
    plain,
    solver_class,
    unreached,
)

OdeResult = si._ivp.ivp.OdeResult
ODEINT_TOL = 1.49012e-8  # odeint's default rtol and atol


def solve_ivp(
    fun: Callable,
    t_span: Sequence[float],
    y0: Any,
    method: str | type = "RK45",
    t_eval: Any = None,
    dense_output: bool = False,
    events: Any = None,
    vectorized: bool = False,
    args: tuple | None = None,
    **options: Any,
) -> OdeResult:
    """Solve an initial value problem, as :func:`scipy.integrate.solve_ivp`, differentiably.

    Same signature and result. For ``method`` ``"BDF"``, ``"Radau"`` and ``"LSODA"`` without
    a ``jac`` of your own, ``fun``'s exact Jacobian in ``y`` is supplied (``scipy.sparse``
    from 100 states on). Inside a dualdiff transform, ``sol.y`` (and ``sol.sol(t)`` with
    ``dense_output=True``) is differentiable in ``y0`` and in the traced values among
    ``args``: forward sensitivities in forward mode, the adjoint method in reverse mode (see
    :mod:`dualdiff.integrate`). A traced value may reach ``fun`` through ``args`` or its
    closure, defaults or ``functools.partial`` arguments; one read otherwise (a global, an
    object's attribute) raises a TypeError naming ``args``. Without ``t_eval`` the outputs are
    at the solver's steps ``sol.t``, held fixed: the derivatives are those at these times.

    Parameters
    ----------
    fun : callable
        ``fun(t, y, *args)``, the right-hand side, written with ``numpy``; returns shape (n,).
    t_span : pair of float
        ``(t0, tf)``: the interval of integration (plain numbers).
    y0 : array_like, shape (n,)
        Initial state.
    method : str or OdeSolver subclass
        ``"RK45"``, ``"RK23"``, ``"DOP853"``, ``"Radau"``, ``"BDF"``, ``"LSODA"``, ...
    t_eval : array_like, optional
        Times at which to store the solution (plain numbers).
    dense_output : bool
        Also return ``sol.sol``, a continuous solution (differentiable when ``sol.y`` is).
    events : callable or list of callables, optional
        SciPy's events; not with traced inputs (the event times would depend on them).
    vectorized : bool
        Whether ``fun`` accepts ``y`` of shape (n, m).
    args : tuple, optional
        Extra arguments of ``fun`` (and ``jac``); arrays among them may be traced.
    **options
        SciPy's options: ``rtol``, ``atol``, ``max_step``, ``first_step``, ``jac``, ...

    Returns
    -------
    OdeResult
        SciPy's fields; with traced inputs ``y`` is traced, ``t`` and the counts are plain.

    Raises
    ------
    IntegrationError
        Inside a transform, when a solve fails (SciPy's message), or when the sensitivities
        are not finite although the solution is.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.integrate import solve_ivp
    >>> A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    >>> def y1(y0):
    ...     return solve_ivp(lambda t, y: A @ y, (0.0, np.pi / 2), y0, t_eval=[np.pi / 2],
    ...                      rtol=1e-10, atol=1e-12).y[:, 0]
    >>> np.round(dd.jacobian(y1)(np.array([1.0, 0.0])), 6) + 0.0  # expm(A pi/2)
    array([[ 0.,  1.],
           [-1.,  0.]])
    """
    args = _args_tuple(args)
    _plain_times("solve_ivp", t_span=t_span, t_eval=t_eval)
    system = UserSystem(fun, args, np.shape(innermost(y0))[0] if np.ndim(innermost(y0)) == 1
                        else 0, jac=options.get("jac"))  # fmt: skip
    if system.params is None and not dnp._traced(y0):
        return _solve_plain(system, fun, t_span, y0, method, t_eval, dense_output, events,
                            vectorized, args, options)  # fmt: skip
    if events is not None:
        raise NotImplementedError(
            "solve_ivp: events= with traced inputs is not supported (the event times depend "
            "on them); solve without events, or stop the derivative with dd.stop_gradient."
        )
    y0 = _state("solve_ivp", y0)
    z, problem = _problem(system, y0, t_span, t_eval, method, options)
    problem.keep_dense = dense_output or reverse_traced(z)
    sol = problem.forward(_plain_z(z))
    if problem.t_out is None:
        problem.t_out = sol.t.copy()
    dense = _Dense(z, problem) if dense_output else None
    fields = {k: sol[k] for k in ("nfev", "njev", "nlu", "status", "message", "success")}
    return OdeResult(t=sol.t.copy(), y=_ivp(z, problem), sol=dense, t_events=None,
                     y_events=None, **fields)  # fmt: skip


def _args_tuple(args):
    if args is None:
        return ()
    try:
        return tuple(args)
    except TypeError as e:
        raise TypeError(
            f"Supplied 'args' cannot be unpacked. Please supply `args` as a tuple (e.g. "
            f"`args=({args},)`)"
        ) from e


def _plain_times(caller, **times):
    for name, value in times.items():
        if dnp._traced(value):
            raise TypeError(
                f"{caller}: {name} is traced; dualdiff differentiates with respect to y0 and "
                "args, not the times (pass plain numbers, e.g. with dd.stop_gradient)."
            )


def _state(caller, y0):
    """The traced initial state as a 1-D float array; complex values are refused."""
    y0 = dnp.asarray(y0)
    if innermost(y0).dtype.kind == "c":
        raise TypeError(
            f"{caller}: a complex y0 cannot be differentiated (dualdiff's rules are real); "
            "solve for its real and imaginary parts as two real states."
        )
    if y0.ndim != 1:
        raise ValueError("`y0` must be 1-dimensional.")
    return y0


def _problem(system, y0, t_span, t_eval, method, options, odeint=None):
    """``z = [y0, traced parameters]`` (traced) and the :class:`Problem` ``_ivp`` solves."""
    z = y0 if system.params is None else np.concatenate([y0, system.p])
    t_out = None if t_eval is None else np.array(t_eval, dtype=np.float64)
    return z, Problem(system, t_span, t_out, method, options, odeint=odeint)


def _plain_z(z):
    return np.array(innermost(z), dtype=np.float64)


def _solve_plain(system, fun, t_span, y0, method, t_eval, dense_output, events, vectorized,
                 args, kw):  # fmt: skip
    y0_array = np.asarray(y0)
    n = y0_array.shape[0] if y0_array.ndim == 1 else None
    fun = unreached(checked(fun, n) if n is not None else fun)
    if n and y0_array.dtype.kind != "c" and _wants_jacobian(method, kw):
        exact = _for_method(lambda t, y, *a: system.newton(t, y, None), method)
        kw = {**kw, "jac": exact}
    return si.solve_ivp(fun, t_span, y0, method=method, t_eval=t_eval,
                        dense_output=dense_output, events=events, vectorized=vectorized,
                        args=args or None, **kw)  # fmt: skip


def _wants_jacobian(method, kw):
    """A stiff method without a Jacobian of the user's (nor a banded LSODA one)."""
    return is_implicit(method) and kw.get("jac") is None and "lband" not in kw and "uband" not in kw


def _for_method(jac, method):
    """``jac`` as the method takes it: LSODA wants dense matrices."""
    if not issubclass(solver_class(method), si.LSODA):
        return jac
    return lambda *a: _dense(jac(*a))


def _dense(m):
    return m.toarray() if sp.issparse(m) else m


class _Dense:
    """``sol.sol`` of a traced solve: ``sol(t)`` is the state at ``t`` (shape (n,) for a number,
    (n, m) for m times), SciPy's dense output in value and differentiable like ``sol.y``."""

    def __init__(self, z, problem):
        self._z, self._problem = z, problem
        self.t_min, self.t_max = sorted(problem.t_span)

    def __call__(self, t):
        t = np.asarray(t, dtype=np.float64)
        if np.any(t < self.t_min) or np.any(t > self.t_max):
            raise ValueError(
                f"sol.sol(t): t must lie within t_span [{self.t_min}, {self.t_max}] to be "
                "differentiated (outside it the dense output extrapolates)."
            )
        return _ivp(self._z, self._problem.at(t))


def odeint(
    func: Callable,
    y0: Any,
    t: Any,
    args: tuple = (),
    Dfun: Callable | None = None,
    col_deriv: int = 0,
    full_output: int = 0,
    ml: int | None = None,
    mu: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    tcrit: Any = None,
    h0: float = 0.0,
    hmax: float = 0.0,
    hmin: float = 0.0,
    ixpr: int = 0,
    mxstep: int = 0,
    mxhnil: int = 0,
    mxordn: int = 12,
    mxords: int = 5,
    printmessg: int = 0,
    tfirst: bool = False,
) -> Any:
    """Integrate ``dy/dt = func(y, t, *args)`` with LSODA, as :func:`scipy.integrate.odeint`.

    Same signature and values (an array of shape ``(len(t), len(y0))``, plus the info dict
    with ``full_output``). Without a ``Dfun`` of yours (and without ``ml``/``mu``), the exact
    Jacobian is supplied. Inside a transform the result is differentiable in ``y0`` and in the
    traced values among ``args``; its derivatives are computed by ``solve_ivp(method="LSODA")``
    at the same ``rtol``/``atol`` (forward sensitivities, or the adjoint in reverse mode).

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)`` (``func(t, y, *args)`` with ``tfirst=True``), returns shape (n,).
    y0 : array_like, shape (n,)
        Initial state.
    t : array_like
        Times (monotonic, plain numbers); ``t[0]`` is the initial time.
    args : tuple
        Extra arguments of ``func``; arrays among them may be traced.
    Dfun, col_deriv, full_output, ml, mu, rtol, atol, tcrit, h0, hmax, hmin, ixpr, mxstep, \
mxhnil, mxordn, mxords, printmessg, tfirst
        As in :func:`scipy.integrate.odeint`.

    Returns
    -------
    y : ndarray, shape (len(t), n)
        The state at each time (traced inside a transform).
    infodict : dict
        Only with ``full_output``: SciPy's info dict.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.integrate import odeint
    >>> t = np.array([0.0, 1.0])
    >>> decay = lambda y0, k: odeint(lambda y, t, k: -k * y, y0, t, args=(k,))[-1, 0]
    >>> bool(np.isclose(dd.grad(decay, argnums=1)(np.array([2.0]), 0.5), -2 * np.exp(-0.5),
    ...                 rtol=1e-6))
    True
    """
    args = args if type(args) is tuple else (args,)
    kw = dict(col_deriv=col_deriv, ml=ml, mu=mu, rtol=rtol, atol=atol, tcrit=tcrit, h0=h0,
              hmax=hmax, hmin=hmin, ixpr=ixpr, mxstep=mxstep, mxhnil=mxhnil, mxordn=mxordn,
              mxords=mxords, printmessg=printmessg, tfirst=tfirst)  # fmt: skip
    _plain_times("odeint", t=t)
    n = np.shape(innermost(y0))[0] if np.ndim(innermost(y0)) == 1 else 0
    jac = _user_newton(Dfun, col_deriv, ml, mu, tfirst)
    system = UserSystem(func, args, n, jac=jac, tfirst=tfirst)
    if system.params is None and not dnp._traced(y0):
        return _odeint_plain(system, func, y0, t, args, Dfun, full_output, kw)
    y0 = _state("odeint", y0)
    t = np.array(t, dtype=np.float64)
    if t.size and np.all(t == t[0]):  # SciPy's "Nothing was done": the state is y0 throughout
        fun, plain_args = system.bound(_plain_z(system.p))
        _, info = _odeint_plain(system, fun, innermost(y0), t, plain_args, Dfun, True, kw)
        ys = np.stack([y0 * 1.0] * t.size)
        return (ys, info) if full_output else ys
    info = {}

    def by_odeint(z):
        p = z[n:]
        fun = lambda t, y: plain(system.fun(t, y, p), "func")  # noqa: E731  (shape checked)
        dfun, col = _traced_dfun(system, p, Dfun, kw)
        y, info_ = si.odeint(fun, z[:n], t, Dfun=dfun, full_output=True,
                             **{**kw, "tfirst": True, "col_deriv": col})  # fmt: skip
        if info_["message"] != "Integration successful.":
            raise IntegrationError(f"odeint failed inside a dualdiff transform: {info_['message']}")
        info.update(info_)
        return y.T.copy()

    options = {"rtol": ODEINT_TOL if rtol is None else rtol,
               "atol": ODEINT_TOL if atol is None else atol}  # fmt: skip
    options.update({k: v for k, v in (("max_step", hmax), ("min_step", hmin)) if v})
    z, problem = _problem(system, y0, (t[0], t[-1]), t, "LSODA", options, odeint=by_odeint)
    ys = np.transpose(_ivp(z, problem))
    return (ys, info) if full_output else ys


def _odeint_plain(system, func, y0, t, args, Dfun, full_output, kw):
    y0_array = np.asarray(y0)
    if y0_array.ndim == 1 and y0_array.dtype.kind != "c":
        Dfun = _dfun(system, None, Dfun, kw)
    func = unreached(func, "func")
    return si.odeint(func, y0, t, args, Dfun=Dfun, full_output=full_output, **kw)


def _dfun(system, p, Dfun, kw):
    """odeint's Dfun: the user's, none for a banded Jacobian SciPy approximates, else the exact
    one, called as odeint calls it (``Dfun(y, t, *args)`` unless ``tfirst``)."""
    if Dfun is not None or kw["ml"] is not None or kw["mu"] is not None:
        return Dfun

    def exact(t, y):
        m = _dense(system.newton(t, y, p))
        return m.T if kw["col_deriv"] else m

    if kw["tfirst"]:
        return lambda t, y, *_: exact(t, y)
    return lambda y, t, *_: exact(t, y)


def _traced_dfun(system, p, Dfun, kw):
    """``(Dfun(t, y), col_deriv)`` for odeint on the bound system: the user's or the exact
    Jacobian by rows; a banded one of the user's (``ml``/``mu``) as the user wrote it."""
    if kw["ml"] is None and kw["mu"] is None:
        return (lambda t, y: _dense(system.newton(t, y, p))), 0
    if Dfun is None:
        return None, kw["col_deriv"]
    _, args = system.bound(p)
    if kw["tfirst"]:
        return (lambda t, y: Dfun(t, y, *args)), kw["col_deriv"]
    return (lambda t, y: Dfun(y, t, *args)), kw["col_deriv"]


def _user_newton(Dfun, col_deriv, ml, mu, tfirst):
    """The user's Dfun as ``jac(t, y, *args)`` for the sensitivity solves, or None (then the
    exact one) when there is none or it is banded."""
    if Dfun is None or ml is not None or mu is not None:
        return None

    def jac(t, y, *a):
        m = np.asarray(plain(Dfun(t, y, *a) if tfirst else Dfun(y, t, *a), "Dfun"))
        return m.T if col_deriv else m

    return jac
