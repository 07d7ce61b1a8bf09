"""The rule tables both modes read, their declarers, and the missing-rule error.

Elementwise ufuncs are described by their partial derivatives (``UFUNC_PARTIALS``); the engine
builds JVPs (``sum t_i * d_i``) and VJPs (``g * d_i``) from them. Every other op has per-argument
JVP and VJP rules keyed by the NumPy callable (``JVP[fn][argnum]``, ``VJP[fn][argnum]``).

Rule signatures (``t``/``g`` carry one leading batch axis)::

    jvp(t, ans, *args, **kwargs) -> tangent of ans             # argnum's contribution
    vjp(g, ans, *args, **kwargs) -> cotangent of args[argnum]

When the argument at ``argnum`` is a sequence (``np.concatenate([a, b])``), ``t`` is a list of
tangents and the VJP returns a list of cotangents; ``None`` stands for zero in both. Ops taking
any number of arrays (``np.einsum``, ``np.broadcast_arrays``) declare one rule for every
position (``argnum=...``), which receives the position first: ``jvp(argnum, t, ans, *args)``.
For ops with several outputs (``eigh``, ``svd``), ``ans`` is the tuple, the JVP returns a tuple
of tangents and the VJP receives a tuple of cotangents.

Structural ops that are linear in an argument are declared in one line: ``deflinear`` (the JVP
is the op on the batched tangent, only the transpose is written), ``defpermutation`` (the VJP is
the inverse op), ``defselfadjoint`` (one rule for both modes) and ``defalias`` (an op that is
another with fixed arguments).
"""

import dis
import functools
import inspect
import sys
from collections.abc import Callable
from types import EllipsisType

import numpy as np

UFUNC_PARTIALS: dict = {}  # ufunc -> tuple of partials d_i(ans, *inputs), or +1.0 / -1.0
UFUNC_KEEP: dict = {}  # ufunc -> {mask of traced inputs: (keep ans?, keep input 0?, ...)}
JVP: dict = {}  # fn -> {argnum: jvp} (an EveryArgument for ops declared with argnum=...)
VJP: dict = {}  # fn -> {argnum: vjp}
CONSTANT: set = set()  # ops whose output carries no derivative (comparisons, floor, argmax)
COMPOSITE: dict = {}  # fn -> its implementation in ops that have rules (np.piecewise)


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


class EveryArgument(dict):
    """The rules of an op for any positional argument, from one rule that takes the position
    first. The rule of a position is bound at its first lookup and kept in the dict itself, so
    that every later lookup is the plain dict access the engines make for any other op."""

    __slots__ = ("rule",)

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def __missing__(self, argnum):
        bound = self[argnum] = functools.partial(self.rule, argnum)
        return bound

    def __contains__(self, argnum):
        return type(argnum) is int and argnum >= 0

    def get(self, argnum, default=None):
        return self[argnum] if argnum in self else default


# The VJP rules that get zeros, not None, for an output of a multi-output op that nothing used:
# every rule but dualdiff's own (as JAX's custom rules get zeros). dualdiff's rules read None
# there, to skip work and to never multiply an unused output's infinite derivative (eigh's
# eigenvectors at a repeated eigenvalue) into the result.
TAKES_ZEROS: set = set()


def _module(rule):
    """The module a rule was written in (a ``functools.partial``'s function's)."""
    while isinstance(rule, functools.partial):
        rule = rule.func
    return getattr(rule, "__module__", None) or ""


def _register(table, fn, argnum, rule):
    if argnum is ...:
        table[fn] = EveryArgument(rule)
    else:
        table.setdefault(fn, {})[argnum] = rule
    if table is VJP and not _module(rule).startswith("dualdiff."):
        TAKES_ZEROS.add(rule)
    return rule


def defjvp(fn: Callable, argnum: int | EllipsisType = 0) -> Callable:
    """Register the forward rule of ``fn`` for argument ``argnum``.

    ``argnum=...`` declares one rule for every positional argument (``np.einsum``'s operands,
    ``np.broadcast_arrays``' arrays); it is called with the argument's position first.

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

    A product of any number of factors, with one rule per mode for all of them:

    >>> @dd.primitive
    ... def prod(*xs):
    ...     return np.prod(xs, axis=0)
    >>> @dd.defjvp(prod, argnum=...)
    ... def prod_jvp(argnum, t, ans, *xs):
    ...     return t * (ans / xs[argnum])
    >>> @dd.defvjp(prod, argnum=...)
    ... def prod_vjp(argnum, g, ans, *xs):
    ...     return g * (ans / xs[argnum])
    >>> [float(d) for d in dd.grad(prod, argnums=(0, 1, 2))(2.0, 3.0, 4.0)]
    [12.0, 8.0, 6.0]
    """
    return functools.partial(_register, JVP, fn, argnum)


def defvjp(fn: Callable, argnum: int | EllipsisType = 0) -> Callable:
    """Register the reverse rule of ``fn`` for argument ``argnum`` (see :func:`defjvp`)."""
    return functools.partial(_register, VJP, fn, argnum)


def argnums(table: dict, fn) -> set:
    """The argument positions ``table`` has rules for (``{...}``: every position)."""
    rules = table.get(fn, {})
    return {...} if type(rules) is EveryArgument else set(rules)


# -- linear ops ----------------------------------------------------------------------------------
# A structural op (transpose, flip, diagonal, split) is linear in its array argument: its JVP is
# the op itself applied to the tangent, whose leading batch axis shifts every primal axis by one.
# Only the transpose (the VJP) needs writing, and for a permutation of the elements it is the
# inverse permutation, which is the op again with other arguments.


def batch_axis(axis, ndim: int):
    """A primal axis argument (int, sequence, or None for every axis) for the batched tangent:
    non-negative axes move up by one, negative ones already count from the end."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if type(axis) is tuple or type(axis) is list:
        return tuple(a + 1 if a >= 0 else a for a in axis)
    return axis + 1 if axis >= 0 else axis


class _OnTangent:
    """``fn`` applied to a batched tangent in place of argument ``argnum``, with its axis
    arguments (passed, or left at their defaults) shifted for the batch axis."""

    __slots__ = ("fn", "argnum", "position", "defaults", "axes")

    def __init__(self, fn, argnum, axes):
        params = [
            p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]  # fmt: skip
        if not isinstance(axes, dict):
            axes = dict.fromkeys(axes, batch_axis)
        self.fn, self.argnum = fn, argnum
        self.position = {p.name: i for i, p in enumerate(params)}
        # axis parameters left out are passed positionally, with the parameters before them
        self.defaults = [p.default for p in params[: 1 + max(map(self.position.get, axes))]]
        self.axes = [(self.position[name], name, shift) for name, shift in axes.items()]

    def __call__(self, t, args, kwargs, changes=None):
        args = list(args)
        args[self.argnum] = t
        if changes:  # other values for some parameters (an inverse's), by name
            for name, value in changes.items():
                p = self.position[name]
                if p < len(args):
                    args[p] = value
                else:
                    kwargs[name] = value
        if len(args) < len(self.defaults) and not kwargs:
            args += self.defaults[len(args) :]
        ndim = t.ndim - 1
        for p, name, shift in self.axes:
            if p < len(args):
                args[p] = shift(args[p], ndim)
            elif name in kwargs:
                kwargs[name] = shift(kwargs[name], ndim)
            else:
                kwargs[name] = shift(self.defaults[p], ndim)
        return self.fn(*args, **kwargs)


def deflinear(
    fn: Callable, transpose: Callable, *, argnum: int = 0, axes: tuple | dict = ("axis",)
) -> None:
    """Declare ``fn`` linear in argument ``argnum``: its JVP is ``fn`` itself applied to the
    tangent, and ``transpose(g, ans, *args, **kwargs)`` is its VJP.

    ``axes`` names the parameters of ``fn`` that are axes of its argument: for the tangent their
    values (or defaults) are shifted past the batch axis (:func:`batch_axis`); a dict maps a name
    to a shift of its own, ``shift(value, ndim)``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff._registry import deflinear
    >>> @dd.primitive
    ... def total(x, axis=0):
    ...     return np.sum(x, axis=axis)
    >>> def total_vjp(g, ans, x, axis=0):
    ...     g = np.expand_dims(g, axis - np.ndim(x) if axis >= 0 else axis)
    ...     return np.broadcast_to(g, g.shape[:1] + np.shape(x))
    >>> deflinear(total, total_vjp)
    >>> x = np.ones((2, 3))
    >>> dd.jvp(lambda x: total(x, axis=1), (x,), (np.arange(6.0).reshape(2, 3),))[1]
    array([ 3., 12.])
    >>> dd.grad(lambda x: np.sum(total(x) * [1.0, 2.0, 3.0]))(x)
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """
    on_tangent = _OnTangent(fn, argnum, axes)

    def linear_jvp(t, ans, *args, **kwargs):
        return on_tangent(t, args, kwargs)

    _register(JVP, fn, argnum, linear_jvp)
    _register(VJP, fn, argnum, transpose)


def defpermutation(
    fn: Callable,
    inverse: Callable | None = None,
    *,
    argnum: int = 0,
    axes: tuple | dict = ("axis",),
) -> None:
    """Declare ``fn`` a permutation of the elements of argument ``argnum`` (a flip, a transpose,
    a roll): its transpose is its inverse, so both rules are ``fn`` on the batched array.

    ``inverse(*args, **kwargs)`` returns the parameters, by name, with which ``fn`` undoes the
    call ``fn(*args, **kwargs)``; None declares ``fn`` its own inverse. ``axes`` is as for
    :func:`deflinear`.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff._registry import defpermutation
    >>> @dd.primitive
    ... def shift(x, n, axis=-1):
    ...     return np.roll(x, n, axis=axis)
    >>> defpermutation(shift, lambda x, n, axis=-1: {"n": -n})
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> dd.grad(lambda x: np.sum(shift(x, 1) * [1.0, 2.0, 3.0]))(x)
    array([[2., 3., 1.]])
    """
    on_tangent = _OnTangent(fn, argnum, axes)

    def permutation_jvp(t, ans, *args, **kwargs):
        return on_tangent(t, args, kwargs)

    def permutation_vjp(g, ans, *args, **kwargs):
        changes = None if inverse is None else inverse(*args, **kwargs)
        return on_tangent(g, args, kwargs, changes)

    _register(JVP, fn, argnum, permutation_jvp)
    _register(VJP, fn, argnum, permutation_jvp if inverse is None else permutation_vjp)


def defselfadjoint(fn: Callable, rule: Callable, *, argnum: int = 0) -> None:
    """Register ``rule`` as both the JVP and the VJP of ``fn`` for argument ``argnum``: for a
    linear map that is its own transpose (the identity, a mask, a symmetric matrix).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff._registry import defselfadjoint
    >>> @dd.primitive
    ... def positive_part(x, mask):
    ...     return np.where(mask, x, 0.0)
    >>> def masked(t, ans, x, mask):
    ...     return np.where(mask, t, 0.0)
    >>> defselfadjoint(positive_part, masked)
    >>> x = np.array([1.0, -2.0, 3.0])
    >>> dd.grad(lambda x: np.sum(positive_part(x, x > 0) * 2.0))(x)
    array([2., 0., 2.])
    """
    _register(JVP, fn, argnum, rule)
    _register(VJP, fn, argnum, rule)


def defalias(fn: Callable, base: Callable, bind: Callable) -> None:
    """Give ``fn`` the rules of ``base``, when ``fn(*args, **kwargs)`` is ``base(*a, **kw)``
    with ``(a, kw) = bind(*args, **kwargs)`` and the traced arguments keep their positions.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff._registry import defalias
    >>> @dd.primitive
    ... def flip_rows(m):
    ...     return np.flip(m, 0)
    >>> defalias(flip_rows, np.flip, lambda m: ((m, 0), {}))
    >>> dd.jacfwd(flip_rows)(np.array([1.0, 2.0]))
    array([[0., 1.],
           [1., 0.]])
    """
    for table in (JVP, VJP):
        for argnum, rule in table[base].items():
            _register(table, fn, argnum, functools.partial(_bound, rule, bind))


def _bound(rule, bind, t, ans, *args, **kwargs):
    args, kwargs = bind(*args, **kwargs)
    return rule(t, ans, *args, **kwargs)


def defconstant(*fns) -> None:
    """Declare ops whose output carries no derivative (zero or undefined almost everywhere)."""
    CONSTANT.update(fns)


def defcomposite(fn, impl) -> None:
    """Declare that ``fn`` called on traced values runs ``impl``, the same computation written
    in ops that have rules (for a function that calls the user's functions, as np.piecewise)."""
    COMPOSITE[fn] = impl


def registered_ops() -> set:
    """Every callable with a derivative rule in at least one mode (composites not counted:
    they are made of these)."""
    return set(UFUNC_PARTIALS) | set(JVP) | set(VJP)


def op_name(fn) -> str:
    """``numpy.sin``, ``scipy.special.gammaln``: where a user finds ``fn``."""
    module = getattr(fn, "__module__", None) or "numpy"
    name = getattr(fn, "__name__", repr(fn))
    if isinstance(fn, np.ufunc):  # ufuncs do not say where they live
        special = sys.modules.get("scipy.special")
        if getattr(np, name, None) is fn:
            return f"numpy.{name}"
        if special is not None and getattr(special, name, None) is fn:
            return f"scipy.special.{name}"
        return f"the ufunc {name}"
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
    short = getattr(fn, "__name__", "fn")
    return NotImplementedError(
        f"dualdiff has no {mode}-mode rule for {name} with respect to argument {argnum}. "
        f"Register one with @dualdiff.{decl}({short}, argnum={argnum}) "
        f"(or wrap your own function with @dualdiff.primitive and give it rules); if {short} "
        f"is piecewise constant (its derivative is zero wherever it exists, as for rounding "
        f"or counting), declare it with dualdiff.defconstant({short}).{hint}"
    )
