"""Reverse mode: the tape (a flat Wengert list), Var, recording, and the backward sweep.

Recording: an op on a :class:`Var` computes its answer on the primal values and appends a node
to the tape, keeping what its pullback reads (the rule, looked up once; the arguments and the
answer it needs) and its parents' tape positions. The tape is in execution order, so its
reverse is a topological order. The sweep (:func:`backward`) walks it backwards once: each node
with a cotangent ``g`` adds ``g`` times its partials into its parents' slots of the cotangent
store (``cotangents.py``). What reaches the leaves is the vector-Jacobian product.

An op on a large value is first offered to the large-array layer (``dualdiff/large``), and the
sweep takes its store from that layer: the two seams of :data:`LAYER`. Left empty, this module
is the whole engine.
"""

import numpy as np

from dualdiff import _complex
from dualdiff._batch import IN_PLACE_MIN as LARGE
from dualdiff._batch import basic_slices, plain_dual, slice_scatter
from dualdiff._quiet import loud, quiet
from dualdiff._registry import TAKES_ZEROS, UFUNC_KEEP, UFUNC_PARTIALS, VJP, missing_rule
from dualdiff._snapshot import constants_kept, snapshot
from dualdiff._tracer import Tracer, getitem, unwrap
from dualdiff._views import link, link_slice
from dualdiff.cotangents import Cotangents

NUMBERS = frozenset((float, int, np.float64))  # immutable operands: kept as they are
_C_ORDER = frozenset({("order", "C")})  # the keywords of a reshape the fast path takes


class LAYER:
    """The seams of the large-array layer: ``ufunc(var, ufunc, inputs, kwargs)`` records an
    elementwise op its own way or returns None, ``reduction`` likewise for the functions in
    ``reductions``, and ``store(slots)`` makes the sweep's cotangent store."""

    ufunc = reduction = None
    reductions = ()
    store = Cotangents


# -- node kinds: each keeps what its pullback reads -------------------------------------------


class Node:
    """A recorded op: ``pull(g, ct)`` adds its parents' cotangents for its own ``g`` into the
    store ``ct``; ``size(sizes)`` counts its answer's elements given every earlier node's."""

    __slots__ = ()
    takes_scaled = False  # whether pull takes the large store's pending scales as they are

    def size(self, sizes):
        return sizes[self.parent] if hasattr(self, "parent") else np.size(self.ans)


class Leaf(Node):
    """An input, ``ans``: nothing to pull back to."""

    __slots__ = ("ans",)
    parents = ()

    def __init__(self, ans):
        self.ans = ans


class Unary(Node):
    """An elementwise ufunc of one traced input: ``g * partial(ans, x)``."""

    __slots__ = ("partial", "args", "ans", "parent")

    def __init__(self, partial, args, ans, parent):
        self.partial, self.args, self.ans, self.parent = partial, args, ans, parent

    def pull(self, g, ct):
        d = self.partial
        if type(d) is float:  # a linear ufunc: the partial is +1 or -1
            c = g if d > 0 else -g
        else:
            c = g * d(self.ans, *(self.args or (None,)))
        slots, p = ct.slots, self.parent
        if slots[p] is None:  # the store's add, inlined: this is the sweep's innermost loop
            slots[p] = c
        else:
            ct.add(p, c)


class Ufunc(Node):
    """An elementwise ufunc of several inputs. ``parents`` are ``(input position, tape
    position, input shape)`` of the traced ones; ``args`` and ``ans`` hold only what their
    partials read (None for the rest)."""

    __slots__ = ("partials", "args", "ans", "parents")

    def __init__(self, partials, args, ans, parents):
        self.partials, self.args, self.ans, self.parents = partials, args, ans, parents

    def pull(self, g, ct):
        partials = self.partials
        slots = ct.slots
        for i, p, shape in self.parents:
            d = partials[i]
            if type(d) is float:  # a linear ufunc: the partial is +1 or -1
                c = g if d > 0 else -g
            else:
                c = g * d(self.ans, *self.args)
            if c.shape[1:] != shape or slots[p] is not None:
                ct.add(p, c, shape)
            else:  # the store's add, inlined: this is the sweep's innermost loop
                slots[p] = c

    def size(self, sizes):
        shapes = [shape for _, _, shape in self.parents]
        shapes += [np.shape(a) for a in self.args if a is not None]
        return int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64))


class ComplexUfunc(Ufunc):
    """A :class:`Ufunc` with a complex answer: the inputs at the positions ``real`` are real,
    and their cotangents the real parts of ``g * partial`` (``dualdiff/_complex.py``)."""

    __slots__ = ("real",)

    def __init__(self, partials, args, ans, parents, real):
        Ufunc.__init__(self, partials, args, ans, parents)
        self.real = real

    def pull(self, g, ct):
        partials = self.partials
        for i, p, shape in self.parents:
            d = partials[i]
            c = (g if d > 0 else -g) if type(d) is float else g * d(self.ans, *self.args)
            ct.add(p, np.real(c) if i in self.real else c, shape)


class Function(Node):
    """Any other op with a VJP rule per traced argument: ``parents`` are ``(argument
    position, tape position, rule)``; a sequence argument has a list of positions."""

    __slots__ = ("args", "kwargs", "ans", "parents")

    def __init__(self, args, kwargs, ans, parents):
        self.args, self.kwargs, self.ans, self.parents = args, kwargs, ans, parents

    def pull(self, g, ct):
        vals = self.args
        for pos, p, rule in self.parents:
            c = rule(g, self.ans, *vals, **self.kwargs)
            if type(p) is not list:
                if c is not None:
                    ct.add(p, c, vals[pos].shape)
                continue
            if type(c) is not list and type(c) is not tuple:  # zip would walk the batch axis
                raise TypeError(f"the VJP rule for a sequence argument must return a list: {rule}")
            for pi, ci, x in zip(p, c, vals[pos]):
                if pi is not None and ci is not None:
                    ct.add(pi, ci, x.shape)


class Outputs(Function):
    """An op with several outputs; each has a :class:`Projection` node, and ``g`` is the list
    of their cotangents."""

    __slots__ = ()

    def pull(self, g, ct):
        if any(c is None for c in g) and any(r in TAKES_ZEROS for _, _, r in self.parents):
            k = next(c for c in g if c is not None).shape[0]
            g = [_zeros(k, a) if c is None else c for c, a in zip(g, self.ans)]
        Function.pull(self, tuple(g), ct)

    def size(self, sizes):
        return 0  # its outputs are counted by their projections


def _zeros(k, a):
    """Zero cotangents of an output ``a`` that nothing used, batch of ``k``."""
    dtype = a.dtype if hasattr(a, "dtype") else np.result_type(a)
    shape = a.shape if hasattr(a, "shape") else ()
    return np.zeros((k, *shape), dtype if np.issubdtype(dtype, np.inexact) else np.float64)


class Projection(Node):
    """Output ``j`` of ``n`` of an :class:`Outputs` node."""

    __slots__ = ("j", "n", "parent")

    def __init__(self, j, n, parent):
        self.j, self.n, self.parent = j, n, parent

    def pull(self, g, ct):
        outs = ct.slots[self.parent]
        if outs is None:
            outs = ct.slots[self.parent] = [None] * self.n
        outs[self.j] = g if outs[self.j] is None else outs[self.j] + g


class Slice(Node):
    """``x[idx]`` for basic slices: ``g`` goes into zeros of x's shape at ``idx``."""

    __slots__ = ("x", "idx", "ans", "parent")
    takes_scaled = True  # g is only placed, never computed with

    def __init__(self, x, idx, ans, parent):
        self.x, self.idx, self.ans, self.parent = x, idx, ans, parent

    def pull(self, g, ct):
        if isinstance(g, Tracer) and not plain_dual(g):  # a traced g: higher order
            g = VJP[getitem][0](g, self.ans, self.x, self.idx)
            ct.add(self.parent, g, self.x.shape)
            return
        ct.scatter_add(self.parent, slice_scatter(g, self.x.shape, self.idx))

    def size(self, sizes):
        return np.size(self.ans)


class Reshape(Node):
    """``np.reshape(x, shape)`` in C order: ``g`` reshaped back to x's shape."""

    __slots__ = ("shape", "parent")

    def __init__(self, shape, parent):
        self.shape, self.parent = shape, parent

    def pull(self, g, ct):
        ct.add(self.parent, g.reshape(g.shape[:1] + self.shape), scratch=ct.scratch_taken)


# -- recording ---------------------------------------------------------------------------------


class Var(Tracer):
    """A traced value in reverse mode: its primal ``value`` and its node's ``index`` on a tape."""

    __slots__ = ("value", "tape", "index", "level", "_view", "_views", "__weakref__")
    mode = "reverse"
    tracks_views = True

    def __init__(self, value, tape, index, level):
        self.value, self.tape, self.index, self.level = value, tape, index, level
        self._view = self._views = None  # see _views.py

    def __repr__(self):
        return f"Var(value={self.value!r})"

    def _clone(self):
        return Var(self.value, self.tape, self.index, self.level)

    def _rebind(self, other):
        self.value, self.index = other.value, other.index

    def _append(self, node, ans):
        tape = self.tape
        tape.append(node)
        return Var(ans, tape, len(tape) - 1, self.level)

    def ufunc(self, ufunc, inputs, kwargs):
        if len(inputs) == 1:
            x = self.value if type(self) is Var else None
            tx = type(x)  # the layer's if large, or neither an array nor a number
            if (x.size >= LARGE if tx is np.ndarray else tx not in NUMBERS) and LAYER.ufunc:
                out = LAYER.ufunc(self, ufunc, inputs, kwargs)
                if out is not None:
                    return out
                x = self.value
            ans = ufunc(x, **kwargs) if kwargs else ufunc(x)  # ** costs even when empty
            if ans.dtype.kind == "c":
                _complex.check_ufunc(ufunc)
            # a small array is kept whole: choosing what to keep costs more than keeping
            keep_ans, keep_x = (True, True) if type(x) is np.ndarray else UFUNC_KEEP[ufunc][1]
            d = UFUNC_PARTIALS[ufunc][0]
            tape = self.tape  # _append, inlined: this and the binary case are the hot path
            tape.append(Unary(d, (x,) if keep_x else None, ans if keep_ans else None, self.index))
            return Var(ans, tape, len(tape) - 1, self.level)
        if len(inputs) == 2:  # the common case, unrolled
            x, y = inputs
            level = self.level
            if type(x) is Var and x.level == level:
                vx = x.value
                if type(y) is Var and y.level == level:
                    vy, mask = y.value, 3
                    parents = ((0, x.index, vx.shape), (1, y.index, vy.shape))
                else:
                    vy, mask, parents = y, 1, ((0, x.index, vx.shape),)
            elif type(y) is Var and y.level == level:
                vx, vy, mask, parents = x, y.value, 2, ((1, y.index, y.value.shape),)
            else:
                return self._nary(ufunc, inputs, kwargs)  # a deferred Var among them
            tx, ty = type(vx), type(vy)  # the layer's if large, or neither an array nor a number
            if (vx.size >= LARGE if tx is np.ndarray else tx not in NUMBERS) or (
                vy.size >= LARGE if ty is np.ndarray else ty not in NUMBERS
            ):
                out = None if LAYER.ufunc is None else LAYER.ufunc(self, ufunc, inputs, kwargs)
                if out is not None:
                    return out
            ans = ufunc(vx, vy, **kwargs) if kwargs else ufunc(vx, vy)
            if ans.dtype.kind == "c":  # real inputs among them get real cotangents
                return self._nary(ufunc, inputs, kwargs)
            keep = (True, True, True) if type(ans) is np.ndarray else UFUNC_KEEP[ufunc][mask]
            keep_ans, keep_x, keep_y = keep
            if mask == 1:  # one operand is a constant: keep its contents of now
                vy = snapshot(vy) if keep_y and ty is not float else vy
            elif mask == 2:
                vx = snapshot(vx) if keep_x and tx is not float else vx
            args = (vx if keep_x else None, vy if keep_y else None)
            tape = self.tape
            tape.append(Ufunc(UFUNC_PARTIALS[ufunc], args, ans if keep_ans else None, parents))
            return Var(ans, tape, len(tape) - 1, level)
        return self._nary(ufunc, inputs, kwargs)

    def _nary(self, ufunc, inputs, kwargs):
        out = None if LAYER.ufunc is None else LAYER.ufunc(self, ufunc, inputs, kwargs)
        if out is not None:
            return out
        level = self.level
        vals = list(inputs)
        parents = []
        mask = 0
        for i, x in enumerate(inputs):
            if isinstance(x, Var) and x.level == level:  # a deferred Var is computed here
                v = vals[i] = x.value
                parents.append((i, x.index, v.shape))
                mask |= 1 << i
        ans = ufunc(*vals, **kwargs)
        keep = UFUNC_KEEP[ufunc][mask]
        args = [
            (v if mask >> i & 1 else snapshot(v)) if k else None
            for i, (v, k) in enumerate(zip(vals, keep[1:]))
        ]
        kept = ans if keep[0] else None
        if _complex.is_complex(ans):
            _complex.check_ufunc(ufunc)
            real = {i for i, _, _ in parents if not _complex.is_complex(vals[i])}
            node = ComplexUfunc(UFUNC_PARTIALS[ufunc], args, kept, parents, real)
            return self._append(node, ans)
        return self._append(Ufunc(UFUNC_PARTIALS[ufunc], args, kept, parents), ans)

    def __getitem__(self, idx):
        if type(idx) is not slice:
            return link(self, self.apply(getitem, getitem, (self, idx), {}), getitem, (idx,), {})
        out = self._slice(idx)
        if type(self.value) is np.ndarray:  # a basic slice of an array is a view of it
            return link_slice(self, out, idx)
        return link(self, out, getitem, (idx,), {})

    def _slice(self, idx):
        """``x[idx]`` for basic slices (``x[a:b]``, the common index of vectorized code):
        one parent, no rule lookup, no unwrapping."""
        value = self.value
        ans = value[idx]
        tape = self.tape
        tape.append(Slice(value, idx, ans, self.index))
        return Var(ans, tape, len(tape) - 1, self.level)

    def apply(self, fn, impl, args, kwargs):
        if fn is getitem and args[0] is self and basic_slices(args[1]):
            return self._slice(args[1])
        if fn is np.reshape and args[0] is self and len(args) == 2 and kwargs.items() <= _C_ORDER:
            ans = np.reshape(self.value, args[1])
            return self._append(Reshape(self.value.shape, self.index), ans)
        if fn in LAYER.reductions:
            out = LAYER.reduction(self, fn, args, kwargs)
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
        _complex.check_function(fn, traced, ans)
        if _complex.is_complex(ans):  # a real argument's cotangent is real
            rules = _complex.real_parts(fn, traced, [r for _, _, r in parents])
            parents = [(pos, p, r) for (pos, p, _), r in zip(parents, rules)]
        vals, kwargs = constants_kept(vals, traced, kwargs)
        if not isinstance(ans, tuple | list):
            return self._append(Function(vals, kwargs, ans, parents), ans)
        self._append(Outputs(vals, kwargs, ans, parents), None)
        return self._project(ans, len(self.tape) - 1)

    def _project(self, ans, index):
        """One Var per floating output of a multi-output op, each on a projection node."""
        outs = []
        for j, a in enumerate(ans):
            dtype = a.dtype if hasattr(a, "dtype") else np.result_type(a)
            if np.issubdtype(dtype, np.inexact):
                a = self._append(Projection(j, len(ans), index), a)
            outs.append(a)
        return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)


def leaf(value, tape, level):
    """Record an input on ``tape`` and return its Var."""
    tape.append(Leaf(value))
    return Var(value, tape, len(tape) - 1, level)


# -- the sweep ---------------------------------------------------------------------------------


def backward(tape, seeds, n_leaves, release=False):
    """Sweep ``tape`` backwards from ``{node index: cotangent}``; return the leaves' cotangents.

    ``release`` drops each node once it is pulled back (a tape swept only once), so that the
    values it kept are freed while the sweep still allocates. The sweep's arithmetic ignores
    floating-point errors (``_quiet``): an infinite derivative is not an error of f.
    """
    token = quiet()
    try:
        ct = LAYER.store([None] * len(tape))
        for i, g in seeds.items():
            ct.add(i, g)
        slots, take = ct.slots, ct.take
        for i in range(max(seeds, default=-1), n_leaves - 1, -1):
            if slots[i] is None:
                continue
            node = tape[i]
            g = take(i, node)
            if release:
                tape[i] = None
            node.pull(g, ct)
        return ct.finish(n_leaves)
    finally:
        loud(token)
