"""Reverse mode: the tape (a flat Wengert list), Var, recording, and the backward sweep.

The tape is a list of nodes in execution order, so its reverse is a topological order. A node
keeps its rule (looked up once, when recorded), the primal arguments and answer its rule reads,
and integer indices of its parents; cotangents live in a list indexed by node and are freed as
the sweep passes. This is the hot path: identity type checks, no validation, no closure per op.

At sizes where memory traffic sets the cost (``IN_PLACE_MIN`` elements and up), the sweep
writes into cotangents nobody else holds instead of making new ones, and new large arrays come
from the buffer pool (``_pool.py``); below that, plain NumPy expressions are cheaper.
"""

import math

import numpy as np

from dualdiff import _defer, _pool
from dualdiff._batch import (
    IN_PLACE_MIN,
    Scatter,
    basic_slices,
    plain_dual,
    slice_scatter,
    unbroadcast,
)
from dualdiff._defer import Pending
from dualdiff._pool import NUMBERS
from dualdiff._quiet import loud, quiet
from dualdiff._registry import UFUNC_KEEP, UFUNC_PARTIALS, VJP, missing_rule
from dualdiff._scaled import (
    Scaled,
    axpy,
    dual_parts,
    large_dual,
    negated,
    product,
    put,
    shares,
)
from dualdiff._tracer import Tracer, getitem, unwrap
from dualdiff._views import link, link_slice
from dualdiff.dual import Dual


class Node:
    """One recorded op: ``pullback(node, g, ct, own)`` adds its parents' cotangents into ``ct``.

    ``own`` says the sweep allocated ``g`` and nothing else holds it, so it may be written into.
    An elementwise node's parents are ``(input position, parent, input shape)``; its ``args``
    and ``ans`` hold only what the partials of its traced inputs read (None for the rest).
    """

    __slots__ = ("pullback", "rule", "args", "kwargs", "ans", "parents")

    def __init__(self, pullback, rule, args, kwargs, ans, parents):
        self.pullback = pullback
        self.rule = rule
        self.args = args
        self.kwargs = kwargs
        self.ans = ans
        self.parents = parents


class Var(Tracer):
    """A traced value in reverse mode: its primal ``value`` and its node on a tape."""

    __slots__ = ("value", "tape", "index", "level", "_view", "_views", "__weakref__")
    mode = "reverse"
    tracks_views = True

    def __init__(self, value, tape, index, level):
        self.value = value
        self.tape = tape
        self.index = index
        self.level = level
        self._view = self._views = None  # see _views.py

    def __repr__(self):
        return f"Var(value={self.value!r})"

    def _clone(self):
        return Var(self.value, self.tape, self.index, self.level)

    def _rebind(self, other):
        self.value, self.index = other.value, other.index

    def ufunc(self, ufunc, inputs, kwargs):
        level = self.level
        tape = self.tape
        if len(inputs) == 1:
            if type(self) is DeferredVar:
                return self._with_deferred(ufunc, inputs, kwargs)
            x = self.value
            if type(x) is np.ndarray and x.size >= IN_PLACE_MIN and not kwargs:
                out = _deferred_ufunc(ufunc, inputs, level, tape)
                if out is not None:
                    return out
                ans = _pool.unary(ufunc, x)  # into a buffer an earlier call left free
                keep_ans, keep_x = UFUNC_KEEP[ufunc][1]
            else:
                if type(x) is Dual and not kwargs and large_dual(x):
                    out = _deferred_ufunc(ufunc, inputs, level, tape)
                    if out is not None:
                        return out
                ans = ufunc(x, **kwargs) if kwargs else ufunc(x)  # ** costs even when empty
                # small plain arrays are kept whole: choosing costs more than keeping
                keep_ans, keep_x = (True, True) if type(x) is np.ndarray else UFUNC_KEEP[ufunc][1]
            args = (x,) if keep_x else None
            d = UFUNC_PARTIALS[ufunc][0]
            tape.append(Node(_unary_pullback, d, args, None, ans if keep_ans else None, self.index))
            return Var(ans, tape, len(tape) - 1, level)
        if len(inputs) != 2:
            return self._nary(ufunc, inputs, kwargs)
        x, y = inputs  # two inputs, the common case, unrolled
        if type(x) is Var and x.level == level:
            vx = x.value
            if type(y) is Var and y.level == level:
                vy = y.value
                mask, parents = 3, ((0, x.index, vx.shape), (1, y.index, vy.shape))
            elif type(y) is DeferredVar:
                return self._with_deferred(ufunc, inputs, kwargs)
            else:
                vy = y
                mask, parents = 1, ((0, x.index, vx.shape),)
        elif type(x) is DeferredVar or type(y) is DeferredVar:
            return self._with_deferred(ufunc, inputs, kwargs)
        else:
            vx, vy = x, y.value
            mask, parents = 2, ((1, y.index, vy.shape),)
        if (type(vx) is np.ndarray and vx.size >= IN_PLACE_MIN) or (
            type(vy) is np.ndarray and vy.size >= IN_PLACE_MIN
        ):
            out = None if kwargs else _deferred_ufunc(ufunc, inputs, level, tape)
            if out is not None:
                return out
            keep = UFUNC_KEEP[ufunc][mask]
            ans = ufunc(vx, vy, **kwargs) if kwargs else _pool.binary(ufunc, vx, vy)
        else:
            if (type(vx) is Dual or type(vy) is Dual) and (large_dual(vx) or large_dual(vy)):
                out = None if kwargs else _deferred_ufunc(ufunc, inputs, level, tape)
                if out is not None:
                    return out
            ans = ufunc(vx, vy, **kwargs) if kwargs else ufunc(vx, vy)
            keep = (True, True, True) if type(ans) is np.ndarray else UFUNC_KEEP[ufunc][mask]
        keep_ans, keep_x, keep_y = keep
        if mask == 1:  # one operand is a constant: keep its contents of now (a number is)
            if keep_y and type(vy) is not float:
                vy = snapshot(vy)
        elif mask == 2 and keep_x and type(vx) is not float:
            vx = snapshot(vx)
        args = (vx if keep_x else None, vy if keep_y else None)
        kept = ans if keep_ans else None
        tape.append(Node(_ufunc_pullback, UFUNC_PARTIALS[ufunc], args, None, kept, parents))
        return Var(ans, tape, len(tape) - 1, level)

    def _with_deferred(self, ufunc, inputs, kwargs):
        """``ufunc`` of a deferred input: deferred too if it can be, else recorded at once on
        the computed inputs (which are plain Vars from then on)."""
        out = None if kwargs else _deferred_ufunc(ufunc, inputs, self.level, self.tape)
        if out is None:
            for x in inputs:
                _compute(x)
            out = self.ufunc(ufunc, inputs, kwargs)
        return out

    def _nary(self, ufunc, inputs, kwargs):
        level = self.level
        args = list(inputs)
        parents = []
        mask = 0
        for i, x in enumerate(inputs):
            if isinstance(x, Var) and x.level == level:  # a DeferredVar is computed here
                v = args[i] = x.value
                parents.append((i, x.index, v.shape))
                mask |= 1 << i
        ans = ufunc(*args, **kwargs)
        keep = UFUNC_KEEP[ufunc][mask]
        args = [
            (v if mask >> i & 1 else snapshot(v)) if k else None
            for i, (v, k) in enumerate(zip(args, keep[1:]))
        ]
        self.tape.append(
            Node(
                _ufunc_pullback,
                UFUNC_PARTIALS[ufunc],
                args,
                None,
                ans if keep[0] else None,
                parents,
            )
        )
        return Var(ans, self.tape, len(self.tape) - 1, level)

    def __getitem__(self, idx):
        if type(idx) is not slice:
            return link(self, self.apply(getitem, getitem, (self, idx), {}), getitem, (idx,), {})
        out = self._slice(idx)
        if type(self.value) is np.ndarray:  # a basic slice of an array is a view of it
            return link_slice(self, out, idx)
        return link(self, out, getitem, (idx,), {})

    def _slice(self, idx):
        """``x[idx]`` for basic slices (``x[a:b]``, the common index of vectorized code, and a
        batched tangent's ``t[:, a:b, ...]``): one parent, one rule, no unwrapping."""
        value = self.value
        ans = value[idx]
        tape = self.tape
        parents = ((0, self.index, VJP[getitem][0]),)
        tape.append(Node(_slice_pullback, None, (value, idx), {}, ans, parents))
        return Var(ans, tape, len(tape) - 1, self.level)

    def _reshape(self, shape):
        """``np.reshape(x, shape)`` in C order: its pullback reshapes the cotangent back."""
        value = self.value
        ans = np.reshape(value, shape)
        tape = self.tape
        tape.append(Node(_reshape_pullback, None, (value.shape,), None, ans, self.index))
        return Var(ans, tape, len(tape) - 1, self.level)

    def apply(self, fn, impl, args, kwargs):
        if fn is getitem and args[0] is self and basic_slices(args[1]):
            return self._slice(args[1])
        if fn is np.reshape and args[0] is self and len(args) == 2 and _c_order(kwargs):
            return self._reshape(args[1])
        if fn in _DEFERRED_REDUCTIONS and _large(self):  # np.sum, np.mean
            out = _deferred_reduction(fn, args, kwargs, self.level, self.tape)
            if out is not None:
                return out
        level = self.level
        vals, traced = unwrap(args, level)
        rules = VJP.get(fn, {})
        parents = []
        for pos, x in traced:
            if pos not in rules:
                raise missing_rule(fn, pos, "reverse")
            p = [e.index if e is not None else None for e in x] if type(x) is list else x.index
            parents.append((pos, p, rules[pos]))
        ans = impl(*vals, **kwargs)
        vals, kwargs = _constants_kept(vals, traced, kwargs)
        tape = self.tape
        if isinstance(ans, tuple | list):
            tape.append(Node(_tuple_pullback, None, vals, kwargs, ans, parents))
            return _project(ans, tape, len(tape) - 1, level)
        tape.append(Node(_fn_pullback, None, vals, kwargs, ans, parents))
        return Var(ans, tape, len(tape) - 1, level)


def snapshot(c):
    """What a node keeps of a constant operand: its contents now. f may change a plain array in
    place after using it; NumPy's value used the old contents, and so must the derivative. An
    array nothing can write into (read-only, and so is every array it views) is kept as is."""
    if type(c) is np.ndarray:
        return c if _frozen(c) else c.copy()
    if isinstance(c, Tracer):  # an outer level's tracer, which a write there rebinds
        return c._clone()
    return c


def _frozen(a):
    while type(a) is np.ndarray:
        if a.flags.writeable:
            return False
        a = a.base
    return a is None or type(a) is bytes


def _constants_kept(vals, traced, kwargs):
    """``vals`` and ``kwargs`` with a :func:`snapshot` of every constant in them."""
    vals = list(vals)
    done = {pos for pos, _ in traced}
    for pos, x in traced:
        if type(x) is list:  # a sequence argument: its untraced entries are constants
            vals[pos] = type(vals[pos])(
                v if e is not None else snapshot(v) for v, e in zip(vals[pos], x)
            )
    for i, v in enumerate(vals):
        if i not in done:
            vals[i] = snapshot(v) if type(v) is not list and type(v) is not tuple else _seq(v)
    if kwargs:
        kwargs = {k: snapshot(v) for k, v in kwargs.items()}
    return vals, kwargs


def _seq(v):
    for e in v:  # an index tuple of slices and numbers is kept as it is, without a rebuild
        if type(e) is np.ndarray or isinstance(e, Tracer):
            return type(v)(snapshot(e) for e in v)
    return v


# -- deferred values (_defer.py): grad computes what its sweep reads, not all f computes -------

_VALUE = Var.__dict__["value"]  # Var's slot, which DeferredVar's property stands in front of
_DEFERRED_REDUCTIONS = (np.sum, np.mean)
_F64 = np.dtype(np.float64)


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
    dtype = _F64


def _large(var):
    """Whether ``var`` is deferred, or its value a large array or Dual (cheap checks first)."""
    if type(var) is DeferredVar:
        return True
    value = var.value
    if type(value) is Dual:
        value = value.value
    return type(value) is np.ndarray and value.size >= IN_PLACE_MIN


def _compute(x):
    """Compute ``x``'s value if it is deferred (it becomes a plain Var)."""
    if type(x) is DeferredVar:
        x.value  # noqa: B018 - reading it computes it


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
        if type(array) is not np.ndarray or value.tangent.dtype != _F64:
            return None
    else:
        return None
    node = x.tape[x.index]
    if array.dtype != _F64 or array.size < IN_PLACE_MIN or node.pullback is None:
        return None  # a leaf: the caller's own array
    if _passed_through(value, array, node.args):
        return None  # np.real(x), np.atleast_1d(x) return x itself: maybe the caller's
    return value if _pool.holds(array) else None


def _passed_through(value, array, args):
    """Whether a node's answer ``value`` (or its ``array``) is one of its inputs ``args``."""
    if args is None:
        return False
    for a in args:
        if a is value or a is array or (type(a) is Dual and a.value is array):
            return True
    return False


def _deferred_ufunc(ufunc, inputs, level, tape):
    """Record ``ufunc(*inputs)`` (no keywords) with its value deferred; None if it cannot be."""
    if not _defer.enabled or not _defer.deferrable(ufunc):
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
    depth = _defer.depth_of(handles)
    if depth is None or math.prod(shape) < IN_PLACE_MIN:
        return None
    state = _defer.errstate()
    if state is None:
        return None  # its errors must surface here, under the caller's handling
    pending = Pending(ufunc, tuple(handles), shape, depth, state)
    traced = [i for i, x in enumerate(inputs) if isinstance(x, Var)]
    keep = UFUNC_KEEP[ufunc][sum(1 << i for i in traced)]
    ans = pending if keep[0] else None
    if len(inputs) == 1:
        args = (handles[0],) if keep[1] else None
        node = Node(_deferred_pullback, UFUNC_PARTIALS[ufunc][0], args, None, ans, inputs[0].index)
    else:
        args = tuple(h if k else None for h, k in zip(handles, keep[1:]))
        parents = tuple((i, inputs[i].index, shapes[i]) for i in traced)
        node = Node(_deferred_pullback, UFUNC_PARTIALS[ufunc], args, None, ans, parents)
    tape.append(node)
    return DeferredVar(pending, tape, len(tape) - 1, level)


def _deferred_reduction(fn, args, kwargs, level, tape):
    """Record a full ``np.sum`` / ``np.mean`` of one input with its value deferred, or None.
    Their VJPs read only the input's shape, so the sweep never computes the input for them."""
    if not _defer.enabled or len(args) != 1:
        return None
    for k, v in kwargs.items():  # only a full reduction: x.sum() passes axis=None, keepdims=False
        if k not in ("axis", "keepdims") or (v is not None and v is not False):
            return None
    x = args[0]
    h = _handle(x, level)
    if h is None or not isinstance(x, Var):
        return None
    depth = _defer.depth_of((h,))
    state = _defer.errstate()
    if depth is None or state is None:
        return None
    tape.append(Node(_fn_pullback, None, (h,), {}, None, ((0, x.index, VJP[fn][0]),)))
    return DeferredVar(Pending(fn, (h,), (), depth, state), tape, len(tape) - 1, level)


def _deferred_pullback(node, g, ct, own):
    """A deferred op's pullback: puts the values its partials read into the node (computing
    them if nothing has), which from then on is an ordinary elementwise node."""
    if node.args is not None:
        node.args = tuple(a.get() if type(a) is Pending else a for a in node.args)
    if type(node.ans) is Pending:
        node.ans = node.ans.get()
    node.pullback = _unary_pullback if type(node.parents) is int else _ufunc_pullback
    node.pullback(node, g, ct, own)


def _project(ans, tape, index, level):
    """One Var per floating output of a multi-output op, each on a projection node."""
    outs = []
    for j, a in enumerate(ans):
        dtype = a.dtype if hasattr(a, "dtype") else np.result_type(a)
        if not np.issubdtype(dtype, np.inexact):
            outs.append(a)
            continue
        tape.append(Node(_proj_pullback, j, None, None, len(ans), ((0, index),)))
        outs.append(Var(a, tape, len(tape) - 1, level))
    return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)


def dense_scatter(c):
    """A :class:`Scatter` as an array; values may be Scaled, and a large one is written into a
    pooled buffer zeroed only outside the box of slices it fills."""
    values = c.values
    if _is_dual(values):  # value and tangent scattered alike (hvp's slices)
        value, tangent, level = dual_parts(values)
        tshape = getattr(tangent, "array", tangent).shape[:1] + c.shape
        value = dense_scatter(Scatter(c.shape, c.index, value))
        tangent = dense_scatter(Scatter(tshape, (slice(None),) + c.index, tangent))
        return Dual(value, tangent, level)
    dtype = values.array.dtype if type(values) is Scaled else values.dtype
    box = None if math.prod(c.shape) < IN_PLACE_MIN else _box(c.index, c.shape)
    if box is None:
        out = _pool.zeros(c.shape, dtype)
        put(out, c.index, values)
        return out
    # a box of slices: write the values, then zero only what lies outside the box
    out = _pool.empty(c.shape, dtype)
    put(out, c.index, values)
    inside = ()
    for (start, stop), n in zip(box, c.shape):
        if start > 0:
            out[inside + (slice(0, start),)] = 0
        if stop < n:
            out[inside + (slice(stop, n),)] = 0
        inside += (slice(start, stop),)
    return out


def _box(index, shape):
    """``[(start, stop), ...]`` per axis when ``index`` is a tuple of unit-step slices, else
    None."""
    if type(index) is not tuple or len(index) > len(shape):
        return None
    box = []
    for i, n in zip(index, shape):
        if type(i) is not slice:
            return None
        start, stop, step = i.indices(n)
        if step != 1:
            return None
        box.append((start, max(start, stop)))
    return box + [(0, n) for n in shape[len(box) :]]


def accumulate(ct, p, c, shape, fresh=False):
    """Add cotangent ``c`` into slot ``p``, summing away broadcast axes first.

    ``fresh`` says ``c`` was allocated for this call and nothing else holds it."""
    if type(c) is Scatter:
        _accumulate_scatter(ct, p, c)
        return
    if type(c) is Scaled:
        if c.array.shape[1:] != shape:  # a broadcast to undo: the scale is applied first
            c, fresh = unbroadcast(c.dense(fresh), shape), True
        _store(ct, p, c, fresh)
        return
    if c.shape[1:] != shape:
        c = unbroadcast(c, shape)
        fresh = True
    _store(ct, p, c, fresh)


def _store(ct, p, c, fresh):
    """Slot ``p`` takes ``c`` when empty (the sweep's own if ``fresh``), else adds it."""
    old = ct[p]
    if old is None:
        ct[p] = c
        if fresh:
            ct[OWNED].add(p)
    else:
        _add(ct, p, old, c, fresh)


# Cotangent slots are a plain list indexed by node (a dict keyed by node for tensors), and
# slot -1 holds the set of slots whose arrays the sweep allocated itself (a product, a sum, a
# scattered slice) and that nothing else can see: the sweep writes into those in place, which
# at large sizes saves the allocations (and page faults) that dominate the sweep's time.
OWNED = -1
DENSE = -2  # slot -> the Dual that a scattered Dual slice made there (see _accumulate_scatter)


def _add(ct, p, old, c, fresh=False):
    """``old + c`` into slot ``p``: in place into whichever of the two the sweep owns."""
    owned = ct[OWNED]
    if type(c) is Scaled:
        _add_scaled(ct, p, old, c, fresh)
        return
    if type(old) is Scaled:
        old = _settle(ct, p, old)
    if (
        type(old) is np.ndarray
        and type(c) is np.ndarray
        and old.shape == c.shape
        and old.dtype == c.dtype
    ):
        if p in owned:
            np.add(old, c, out=old)
            return
        if fresh:
            ct[p] = np.add(c, old, out=c)
            owned.add(p)
            return
    ct[p] = old + c
    owned.add(p)


def _add_scaled(ct, p, old, c, fresh):
    """``old + c`` into slot ``p`` for a Scaled ``c``: in one pass (axpy) into an array the
    sweep owns, or into ``c``'s own array after scaling it in place."""
    array = c.array
    if type(old) is Scaled:
        old = _settle(ct, p, old)
    if (
        type(old) is np.ndarray
        and type(array) is np.ndarray  # not a Dual: its arrays are never written into
        and old.shape == array.shape
        and old.dtype == array.dtype
    ):
        if p in ct[OWNED]:
            axpy(old, c.scale, array)
            return
        if fresh:
            ct[p] = np.add(c.dense(True), old, out=array)
            ct[OWNED].add(p)
            return
    _add(ct, p, old, c.dense(fresh), True)


def _settle(ct, p, old):
    """Apply the scale of the Scaled in slot ``p`` (in place if the sweep owns it)."""
    owned = ct[OWNED]
    dense = ct[p] = old.dense(p in owned)
    owned.add(p)
    return dense


def _accumulate_scatter(ct, p, c):
    old = ct[p]
    values = c.values
    if _is_dual(values):
        _accumulate_dual_scatter(ct, p, c, old)
        return
    if type(old) is Scaled:
        old = _settle(ct, p, old)
    if old is None:
        ct[p] = dense_scatter(c)
        ct[OWNED].add(p)
    elif type(values) is Scaled and p in ct[OWNED] and type(old) is np.ndarray:
        target = old[c.index]  # a slice of an array only the sweep holds (a view)
        if not np.may_share_memory(target, old):
            _add(ct, p, old, dense_scatter(c), True)
            return
        axpy(target, values.scale, values.array)
    elif p in ct[OWNED] and type(old) is np.ndarray and old.dtype == values.dtype:
        old[c.index] += values  # a slice of an array only the sweep holds
    else:
        _add(ct, p, old, dense_scatter(c), True)


def _accumulate_dual_scatter(ct, p, c, old):
    """A Dual slice cotangent (of plain arrays) goes into a Dual the sweep made for the slot,
    in place; ``ct[DENSE]`` maps each such slot to that Dual, so that one replaced since (by
    a sum with another cotangent) is never written into."""
    value, tangent, level = dual_parts(c.values)
    made = ct[DENSE]
    if old is None:
        ct[p] = made[p] = dense_scatter(c)
    elif made.get(p) is old and old.level == level:
        _add_into(old.value[c.index], value)
        _add_into(old.tangent[(slice(None),) + c.index], tangent)
    else:  # a plain or Scaled cotangent there (a Scaled one is settled first), or a sum
        _add(ct, p, old, dense_scatter(c), True)


def _is_dual(values):
    """A Dual of plain arrays, or a Scaled one."""
    return type(values) is Dual or (type(values) is Scaled and type(values.array) is Dual)


def _add_into(view, values):
    """``view += values`` (a view into an array the sweep made), a Scaled in one pass."""
    if type(values) is Scaled:
        axpy(view, values.scale, values.array)
    else:
        view += values


def _ufunc_pullback(node, g, ct, own):
    if (type(g) is np.ndarray and g.size >= IN_PLACE_MIN) or type(g) is Scaled:
        _ufunc_pullback_reusing(node, g, ct, own)
        return
    partials = node.rule
    for i, p, shape in node.parents:
        d = partials[i]
        if type(d) is float:  # linear ufunc: the partial is +1 or -1
            if d > 0:
                c = g
            elif large_dual(g) and g.shape[1:] == shape:  # hvp's -g: deferred (_scaled.py)
                accumulate(ct, p, Scaled(-1.0, g), shape)
                continue
            else:
                c = -g
        else:
            c = g * d(node.ans, *node.args)
        if c.shape[1:] != shape:
            c = unbroadcast(c, shape)
        old = ct[p]  # accumulate, inlined: this is the sweep's innermost loop
        if old is None:
            ct[p] = c
        else:
            _add(ct, p, old, c)


def _ufunc_pullback_reusing(node, g, ct, own):
    """``_ufunc_pullback`` for a large ``g`` (an array or a Scaled): writes into memory
    nothing else holds, and leaves negations and scalar factors deferred."""
    partials = node.rule
    args = node.args
    parents = node.parents
    j = len(parents)
    while j:  # last parent first: the first parent served may be handed g to write into
        j -= 1
        i, p, shape = parents[j]
        d = partials[i]
        mine = own and j == 0  # the last parent served may take g, or write into it
        if type(d) is float:  # linear ufunc: the partial is +1 or -1
            c, fresh = (g if d > 0 else negated(g)), mine
            own = False  # g's array is handed on: nobody may write into it now
        else:
            c, fresh = product(g, d, node.ans, args, mine)
            if shares(c, g):
                own = False
        accumulate(ct, p, c, shape, fresh)


def _unary_pullback(node, g, ct, own):
    """``_ufunc_pullback`` for one input (the rule is its partial, the parent a bare index):
    the common case, with no broadcasting to undo."""
    p = node.parents
    d = node.rule
    big = (type(g) is np.ndarray and g.size >= IN_PLACE_MIN) or type(g) is Scaled
    if type(d) is float:  # linear ufunc: the partial is +1 or -1
        c = g if d > 0 else negated(g) if big or large_dual(g) else -g
    else:
        args = node.args or (None,)
        if big:
            c, own = product(g, d, node.ans, args, own)
        else:
            c, own = g * d(node.ans, *args), False
    _store(ct, p, c, own)


def _fn_pullback(node, g, ct, own=False):
    vals = node.args
    for pos, p, rule in node.parents:
        c = rule(g, node.ans, *vals, **node.kwargs)
        if type(p) is list:
            if type(c) is not list and type(c) is not tuple:  # else zip would walk the batch axis
                raise TypeError(f"the VJP rule for a sequence argument must return a list: {rule}")
            for pi, ci, x in zip(p, c, vals[pos]):
                if pi is not None and ci is not None:
                    accumulate(ct, pi, ci, x.shape)
        elif c is not None:
            accumulate(ct, p, c, vals[pos].shape)


def _slice_pullback(node, g, ct, own=False):
    """Basic slices (Var's fast path): an array, a Dual of arrays or a Scaled ``g`` is scattered
    into the parent's slot (a Scaled one with its scale applied in the same pass); a traced
    ``g`` (higher order) goes through getitem's VJP rule."""
    tg = type(g)
    if tg is not Scaled and tg is not np.ndarray and not plain_dual(g):
        _fn_pullback(node, g, ct, own)
        return
    value, idx = node.args
    accumulate(ct, node.parents[0][1], slice_scatter(g, value.shape, idx), value.shape)


def _reshape_pullback(node, g, ct, own=False):
    """``np.reshape`` in C order (Var's fast path): the cotangent reshaped back, a view of an
    array the sweep owns being the sweep's too."""
    (shape,) = node.args
    _store(ct, node.parents, g.reshape(g.shape[:1] + shape), own)


def _c_order(kwargs):
    """Whether a reshape's keywords ask for C order and nothing else."""
    for k, v in kwargs.items():
        if k != "order" or v != "C":
            return False
    return True


# the pullbacks that take a Scaled g; the sweep gives every other one a plain array
TAKES_SCALED = frozenset((_ufunc_pullback, _unary_pullback, _slice_pullback, _deferred_pullback))


def _tuple_pullback(node, g, ct, own=False):
    _fn_pullback(node, tuple(g), ct)


def _proj_pullback(node, g, ct, own=False):
    p = node.parents[0][1]
    slots = ct[p]
    if slots is None:
        slots = ct[p] = [None] * node.ans
    j = node.rule
    slots[j] = g if slots[j] is None else slots[j] + g


def backward(tape, seeds, n_leaves, release=False):
    """Sweep ``tape`` backwards from ``{node index: cotangent}``; return the leaves' cotangents.

    ``release`` drops each node once it is pulled back (a tape swept only once), so that the
    values it kept are freed while the sweep still allocates: the sweep then reuses memory
    that is still in cache. The sweep's arithmetic ignores floating-point errors (``_quiet``).
    """
    token = quiet()
    try:
        return _sweep(tape, seeds, n_leaves, release)
    finally:
        loud(token)


def _sweep(tape, seeds, n_leaves, release):
    ct = [None] * len(tape)
    ct += [{}, set()]  # slots DENSE and OWNED
    for i, g in seeds.items():
        ct[i] = g if ct[i] is None else ct[i] + g
    owned = ct[OWNED]
    for i in range(max(seeds, default=-1), n_leaves - 1, -1):
        g = ct[i]
        if g is None:
            continue
        ct[i] = None
        own = i in owned
        if own:
            owned.discard(i)  # g is the pullback's to write into or hand on
        node = tape[i]
        if release:
            tape[i] = None
        if type(g) is Scaled and node.pullback not in TAKES_SCALED:
            g, own = g.dense(own), True
        node.pullback(node, g, ct, own)
    leaves = ct[:n_leaves]
    for j, c in enumerate(leaves):
        if type(c) is Scaled:
            c = c.dense(j in owned)
        elif type(c) is np.ndarray and j not in owned:  # a broadcast, or a seed passed through:
            c = c.copy()  # the caller gets an array of its own, writeable
        leaves[j] = _pool.disown(c)  # the caller's: never reused by the pool
    return leaves


def leaf(value, tape, level):
    """Record an input on ``tape`` and return its Var."""
    tape.append(Node(None, None, None, None, value, ()))
    return Var(value, tape, len(tape) - 1, level)


def op_sizes(tape, n_leaves):
    """``(output elements, largest argument elements)`` of each op of ``tape`` after the
    leaves. An elementwise node may not keep its answer (the tape drops what no partial
    reads), so its size comes from its inputs' shapes."""
    sizes = [np.size(node.ans) for node in tape[:n_leaves]]
    result = []
    for node in tape[n_leaves:]:
        size = _output_size(node, sizes)
        sizes.append(size)
        args = max((np.size(a) for a in node.args or () if _is_array(a)), default=0)
        result.append((size, args))
    return result


def _output_size(node, sizes):
    if node.pullback is _unary_pullback or (
        node.pullback is _deferred_pullback and type(node.parents) is int
    ):
        return sizes[node.parents]
    if node.pullback is _ufunc_pullback or node.pullback is _deferred_pullback:
        shapes = [shape for _, _, shape in node.parents]
        shapes += [np.shape(a) for a in node.args if a is not None]
        return int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64))
    return np.size(node.ans) if not isinstance(node.ans, tuple | list | int) else 0


def _is_array(a):
    return isinstance(a, np.ndarray | Tracer)
