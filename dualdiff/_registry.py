"""The rule tables both modes read, their declarers, and the missing-rule error.

Elementwise ufuncs are described by their partial derivatives (``UFUNC_PARTIALS``); the engine
builds JVPs (``sum t_i * d_i``) and VJPs (``g * d_i``) from them. Every other op has per-argument
JVP and VJP rules keyed by the NumPy callable (``JVP[fn][argnum]``, ``VJP[fn][argnum]``).

Rule signatures (``t``/``g`` carry one leading batch axis)::

    jvp(t, ans, *args, **kwargs) -> tangent of ans             # argnum's contribution
    vjp(g, ans, *args, **kwargs) -> cotangent of args[argnum]

When the argument at ``argnum`` is a sequence (``np.concatenate([a, b])``), ``t`` is a list of
tangents and the VJP returns a list of cotangents; ``None`` stands for zero in both.
For ops with several outputs (``eigh``, ``svd``), ``ans`` is the tuple, the JVP returns a tuple
of tangents and the VJP receives a tuple of cotangents.
"""

import dis
import inspect
from collections.abc import Callable

import numpy as np

UFUNC_PARTIALS: dict = {}  # ufunc -> tuple of partials d_i(ans, *inputs), or +1.0 / -1.0
UFUNC_KEEP: dict = {}  # ufunc -> {mask of traced inputs: (keep ans?, keep input 0?, ...)}
JVP: dict = {}  # fn -> {argnum: jvp}
VJP: dict = {}  # fn -> {argnum: vjp}
CONSTANT: set = set()  # ops whose output carries no derivative (comparisons, floor, argmax)


def defpartials(ufunc, *partials) -> None:
    """Declare an elementwise ufunc by its partial derivatives, one per input.

    Each partial is ``d(ans, *inputs)`` written in numpy calls (so it is differentiable again),
    or the constant ``1.0`` / ``-1.0`` for linear ufuncs, which skip the multiplication.
    """
    UFUNC_PARTIALS[ufunc] = partials
    UFUNC_KEEP[ufunc] = _keep_table([_reads(d, ufunc.nin) for d in partials], ufunc.nin)


def _reads(d, n_inputs: int) -> tuple:
    """Which of ``(ans, *inputs)`` the partial ``d`` reads (all of them when that is unclear).

    The tape keeps only what the partials of the traced inputs read, so that intermediates no
    rule needs (the ``x ** 2`` inside ``(x ** 2) * 100``) are freed during the forward pass.
    """
    n = n_inputs + 1
    if type(d) is float:
        return (False,) * n
    code = getattr(d, "__code__", None)
    if code is None or code.co_argcount != n or code.co_flags & inspect.CO_VARARGS:
        return (True,) * n
    used = set(code.co_cellvars)  # a parameter captured by an inner function counts as read
    for ins in dis.get_instructions(code):
        if ins.opname.startswith("LOAD_"):
            used.update(ins.argval if type(ins.argval) is tuple else (ins.argval,))
    return tuple(name in used for name in code.co_varnames[:n])


def _keep_table(reads: list, n_inputs: int) -> dict:
    """For each mask of traced inputs (bit i: input i): which of ``(ans, *inputs)`` to keep."""
    table = {}
    for mask in range(1, 1 << len(reads)):
        traced = [r for i, r in enumerate(reads) if mask >> i & 1]
        table[mask] = tuple(any(r[j] for r in traced) for j in range(n_inputs + 1))
    return table


def defjvp(fn: Callable, argnum: int = 0) -> Callable:
    """Register the forward rule of ``fn`` for argument ``argnum``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> @dd.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> @dd.defjvp(cube)
    ... def cube_jvp(t, ans, x):
    ...     return t * (3 * x ** 2)
    >>> @dd.defvjp(cube)
    ... def cube_vjp(g, ans, x):
    ...     return g * (3 * x ** 2)
    >>> float(dd.grad(cube)(2.0))
    12.0
    """

    def register(rule):
        JVP.setdefault(fn, {})[argnum] = rule
        return rule

    return register


def defvjp(fn: Callable, argnum: int = 0) -> Callable:
    """Register the reverse rule of ``fn`` for argument ``argnum`` (see :func:`defjvp`)."""

    def register(rule):
        VJP.setdefault(fn, {})[argnum] = rule
        return rule

    return register


def defconstant(*fns) -> None:
    """Declare ops whose output carries no derivative (zero or undefined almost everywhere)."""
    CONSTANT.update(fns)


def registered_ops() -> set:
    """Every callable with a derivative rule in at least one mode."""
    return set(UFUNC_PARTIALS) | set(JVP) | set(VJP)


def op_name(fn) -> str:
    module = getattr(fn, "__module__", None) or "numpy"
    name = getattr(fn, "__name__", repr(fn))
    if isinstance(fn, np.ufunc):
        return f"numpy.{name}"
    return f"{module}.{name}"


def missing_rule(fn, argnum, mode: str) -> NotImplementedError:
    """The error raised, during the forward pass, when an op lacks the rule a mode needs."""
    name = op_name(fn)
    decl = "defjvp" if mode == "forward" else "defvjp"
    hint = ""
    if name.startswith("scipy.special._logsumexp") or getattr(fn, "__name__", "") in (
        "logsumexp",
        "softmax",
        "log_softmax",
    ):
        hint = " dualdiff.scipy.special provides differentiable versions of these."
    return NotImplementedError(
        f"dualdiff has no {mode}-mode rule for {name} with respect to argument {argnum}. "
        f"Register one with @dualdiff.{decl}({getattr(fn, '__name__', 'fn')}, argnum={argnum}) "
        f"(or wrap your own function with @dualdiff.primitive and give it rules).{hint}"
    )
