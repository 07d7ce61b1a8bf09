"""The large-array recorder: how an elementwise op with a large input is recorded.

``tape.Var.ufunc`` offers such an op here first (:func:`ufunc`). It is deferred when it can
be (``large/defer.py``: computed only when something reads it), else computed into a pooled
buffer; either way its node is a :class:`~dualdiff.large.sweep.LargeUnary` or
:class:`~dualdiff.large.sweep.LargeUfunc`, whose pullback writes in place. A full ``np.sum``
/ ``np.mean`` of a large value is deferred too (:func:`reduction`). Returning None hands the
op back to the reference recorder.
"""

import math

import numpy as np

from dualdiff._batch import IN_PLACE_MIN
from dualdiff._complex import is_complex
from dualdiff._registry import UFUNC_KEEP, UFUNC_PARTIALS, VJP
from dualdiff._snapshot import snapshot
from dualdiff.dual import Dual
from dualdiff.large import defer, pool
from dualdiff.large.defer import Pending
from dualdiff.large.pool import F64, NUMBERS
from dualdiff.large.scaled import large_dual
from dualdiff.large.sweep import LargeUfunc, LargeUnary
from dualdiff.options import OPTIONS
from dualdiff.tape import Function, Leaf, Var

_VALUE = Var.__dict__["value"]  # Var's slot, which DeferredVar's property stands in front of


def ufunc(var, ufunc, inputs, kwargs):
    """Record ``ufunc(*inputs)`` (``var`` one of the inputs, a large one among them), or
    return None to leave it to the reference recorder."""
    if any(is_complex(x.value if type(x) is Var else x) for x in inputs):
        return None  # complex values: the reference recorder's (the pool holds float64)
    if any(type(x) is DeferredVar for x in inputs):
        return _with_deferred(var, ufunc, inputs, kwargs)
    if len(inputs) > 2 or not OPTIONS.large:
        return None
    level = var.level
    vals, parents, mask = [], [], 0
    for i, x in enumerate(inputs):
        if isinstance(x, Var) and x.level == level:
            vals.append(x.value)
            parents.append((i, x.index, x.value.shape))
            mask |= 1 << i
        else:
            vals.append(x)
    if not any(_large_value(v) for v in vals):
        return None  # a small Dual of forward over reverse, a small constant
    if not kwargs:
        out = _deferred(ufunc, inputs, level, var.tape)
        if out is not None:
            return out
    if kwargs:
        ans = ufunc(*vals, **kwargs)
    elif OPTIONS.pool:
        ans = pool.call(ufunc, vals)
    else:
        ans = ufunc(*vals)
    keep = UFUNC_KEEP[ufunc][mask]
    if len(inputs) == 1:
        node = LargeUnary(
            UFUNC_PARTIALS[ufunc][0],
            (vals[0],) if keep[1] else None,
            ans if keep[0] else None,
            inputs[0].index,
        )
        return var._append(node, ans)
    args = tuple(
        (v if mask >> i & 1 else snapshot(v)) if k else None
        for i, (v, k) in enumerate(zip(vals, keep[1:]))
    )
    node = LargeUfunc(UFUNC_PARTIALS[ufunc], args, ans if keep[0] else None, tuple(parents))
    return var._append(node, ans)


def _large_value(v):
    if type(v) is np.ndarray:
        return v.size >= IN_PLACE_MIN
    return type(v) is Dual and large_dual(v)


def _with_deferred(var, ufunc, inputs, kwargs):
    """``ufunc`` of a deferred input: deferred too if it can be, else recorded on the
    computed inputs (which are plain Vars from then on)."""
    out = None if kwargs else _deferred(ufunc, inputs, var.level, var.tape)
    if out is None:
        for x in inputs:
            if type(x) is DeferredVar:
                x.value  # noqa: B018 - reading it computes it
        out = var.ufunc(ufunc, inputs, kwargs)
    return out


# -- deferred values (defer.py): grad computes what its sweep reads, not all f computes ---------


class DeferredVar(Var):
    """A Var whose value is a :class:`Pending`, computed when something reads ``value``;
    from then on it is an ordinary Var (its class changes back). Shapes are read without it."""

    __slots__ = ()

    def __init__(self, pending, tape, index, level):
        _VALUE.__set__(self, pending)
        self.tape = tape
        self.index = index
        self.level = level
        self._view = self._views = None

    @property
    def value(self):
        value = _VALUE.__get__(self).get()
        _VALUE.__set__(self, value)
        self.__class__ = Var
        return value

    @value.setter
    def value(self, value):  # item assignment rebinds the tracer (Tracer.__setitem__)
        _VALUE.__set__(self, value)
        self.__class__ = Var

    shape = property(lambda self: _VALUE.__get__(self).shape)
    ndim = property(lambda self: _VALUE.__get__(self).ndim)
    size = property(lambda self: _VALUE.__get__(self).size)
    dtype = F64


class DeferredUnary(LargeUnary):
    """A deferred op's node: puts the values its partial reads into the node (computing them
    if nothing has) at its first pull, and is a :class:`LargeUnary` from then on."""

    __slots__ = ()

    def pull(self, g, ct):
        _computed_now(self, LargeUnary).pull(g, ct)


class DeferredUfunc(LargeUfunc):
    """:class:`DeferredUnary` for several inputs."""

    __slots__ = ()

    def pull(self, g, ct):
        _computed_now(self, LargeUfunc).pull(g, ct)


def _computed_now(node, kind):
    """``node`` with the values its partials read computed, as an ordinary node of ``kind``."""
    node.args, node.ans = _computed(node.args), _got(node.ans)
    node.__class__ = kind
    return node


def _got(a):
    return a.get() if type(a) is Pending else a


def _computed(args):
    return None if args is None else tuple(_got(a) for a in args)


def _handle(x, level):
    """What a deferred op holds of its input ``x``: the Pending of a deferred one, the value of
    one this recording computed and owns, a number (Python's, NumPy float64) itself; None if it
    cannot be held.

    Owned means a large float64 buffer of the pool (or a Dual of them) that is not an input
    of the call: the caller cannot reach it to change it before it is read."""
    tx = type(x)
    if tx is DeferredVar:
        return _VALUE.__get__(x) if x.level == level else None
    if tx in NUMBERS:  # immutable
        return x
    if tx is not Var or x.level != level:
        return None
    value = x.value
    if type(value) is np.ndarray:
        array = value
    elif type(value) is Dual and type(value.tangent) is np.ndarray:
        array = value.value
        if type(array) is not np.ndarray or value.tangent.dtype != F64:
            return None
    else:
        return None
    node = x.tape[x.index]
    if array.dtype != F64 or array.size < IN_PLACE_MIN or type(node) is Leaf:
        return None  # a leaf: the caller's own array
    if _passed_through(value, array, getattr(node, "args", None)):
        return None  # np.real(x), np.atleast_1d(x) return x itself: maybe the caller's
    return value if pool.holds(array) else None


def _passed_through(value, array, args):
    """Whether a node's answer ``value`` (or its ``array``) is one of its inputs ``args``."""
    if args is None:
        return False
    for a in args:
        if a is value or a is array or (type(a) is Dual and a.value is array):
            return True
    return False


def _deferred(ufunc, inputs, level, tape):
    """Record ``ufunc(*inputs)`` (no keywords) with its value deferred; None if it cannot be."""
    if not OPTIONS.defer or not defer.deferrable(ufunc):
        return None
    handles = []
    for x in inputs:
        h = _handle(x, level)
        if h is None:
            return None
        handles.append(h)
    shapes = [getattr(h, "shape", ()) for h in handles]
    shape = shapes[0]
    if len(shapes) == 2 and shapes[1] != shape:
        if shape == ():
            shape = shapes[1]
        elif shapes[1] != ():
            try:
                shape = np.broadcast_shapes(*shapes)
            except ValueError:
                return None  # computed at once, NumPy raises its own error
    depth = defer.depth_of(handles)
    if depth is None or math.prod(shape) < IN_PLACE_MIN:
        return None
    state = defer.errstate()
    if state is None:
        return None  # its errors must surface here, under the caller's handling
    pending = Pending(ufunc, tuple(handles), shape, depth, state)
    traced = [i for i, x in enumerate(inputs) if isinstance(x, Var)]
    keep = UFUNC_KEEP[ufunc][sum(1 << i for i in traced)]
    ans = pending if keep[0] else None
    if len(inputs) == 1:
        args = (handles[0],) if keep[1] else None
        node = DeferredUnary(UFUNC_PARTIALS[ufunc][0], args, ans, inputs[0].index)
    else:
        args = tuple(h if k else None for h, k in zip(handles, keep[1:]))
        parents = tuple((i, inputs[i].index, shapes[i]) for i in traced)
        node = DeferredUfunc(UFUNC_PARTIALS[ufunc], args, ans, parents)
    tape.append(node)
    return DeferredVar(pending, tape, len(tape) - 1, level)


REDUCTIONS = (np.sum, np.mean)


def reduction(var, fn, args, kwargs):
    """Record a full ``np.sum`` / ``np.mean`` of one large input with its value deferred, or
    return None. Their VJPs read only the input's shape, so the sweep never computes it."""
    if not OPTIONS.defer or len(args) != 1 or not _large_var(var):
        return None
    for k, v in kwargs.items():  # only a full reduction: x.sum() passes axis=None, keepdims=False
        if k not in ("axis", "keepdims") or (v is not None and v is not False):
            return None
    x = args[0]
    level = var.level
    h = _handle(x, level)
    if h is None or not isinstance(x, Var):
        return None
    depth = defer.depth_of((h,))
    state = defer.errstate()
    if depth is None or state is None:
        return None
    tape = var.tape
    tape.append(Function((h,), {}, None, ((0, x.index, VJP[fn][0]),)))
    return DeferredVar(Pending(fn, (h,), (), depth, state), tape, len(tape) - 1, level)


def _large_var(var):
    """Whether ``var`` is deferred, or its value a large array or Dual (cheap checks first)."""
    if type(var) is DeferredVar:
        return True
    value = var.value
    if type(value) is Dual:
        value = value.value
    return type(value) is np.ndarray and value.size >= IN_PLACE_MIN
