"""The large-array sweep: a cotangent store that writes in place, and the elementwise nodes
that use it.

At sizes where memory traffic sets the cost (``MIN_SIZE`` elements and up), the sweep writes
into cotangents only it holds (the store's ``scratch`` slots, and a ``g`` taken from one,
``scratch_taken``) instead of making new ones, takes new large arrays from the buffer pool, and
leaves negations and scalar factors pending (:class:`~dualdiff.large.scaled.Scaled`) until a pass
that writes the array anyway applies them. Below that size plain NumPy expressions are cheaper,
and the reference nodes and store of ``tape.py`` and ``cotangents.py`` do the work.
"""

import math

import numpy as np

from dualdiff._batch import IN_PLACE_MIN, Scatter, negative, times, unbroadcast
from dualdiff.cotangents import Cotangents
from dualdiff.dual import Dual
from dualdiff.large import pool
from dualdiff.large.scaled import (
    Scaled,
    axpy,
    dual_parts,
    large_dual,
    negated,
    product,
    put,
    shares,
)
from dualdiff.options import OPTIONS
from dualdiff.tape import Ufunc, Unary


class LargeCotangents(Cotangents):
    """The store of a sweep with the in-place and scaling mechanisms on. ``scratch_taken``
    says the cotangent last taken is the sweep's to write into or hand on; ``made`` maps a
    slot to the Dual that a scattered Dual slice made there (only that one is written into)."""

    __slots__ = ("made", "in_place", "scale")

    def __init__(self, slots):
        super().__init__(slots)
        self.made = {}
        self.in_place = OPTIONS.in_place
        self.scale = OPTIONS.scale

    def take(self, i, node):
        slots = self.slots
        g = slots[i]
        slots[i] = None
        scratch = i in self.scratch
        if scratch:
            self.scratch.discard(i)  # g is the pullback's to write into or hand on
        tg = type(g)
        if tg is Scaled or (tg is np.ndarray and g.size >= IN_PLACE_MIN):
            large = LARGE_KINDS.get(type(node))
            if large is not None:  # a small op with a large batch of directions: in place too
                node.__class__ = large
            if tg is Scaled and not node.takes_scaled:
                g, scratch = g.dense(scratch and self.in_place), True
        self.scratch_taken = scratch and self.in_place
        return g

    def _unbroadcast(self, c, shape, scratch):
        if type(c) is Scaled:  # the scale is applied first
            c = c.dense(scratch and self.in_place)
        return unbroadcast(c, shape)

    def _writable(self, p):
        return self.in_place and p in self.scratch

    def _sum(self, p, old, c, scratch=False):
        """``old + c`` into slot ``p``: in place into whichever of the two the sweep owns."""
        if type(c) is Scaled:
            self._sum_scaled(p, old, c, scratch)
            return
        if type(old) is Scaled:
            old = self._settle(p, old)
        if (
            type(old) is np.ndarray
            and type(c) is np.ndarray
            and old.shape == c.shape
            and old.dtype == c.dtype
            and self.in_place
        ):
            if p in self.scratch:
                np.add(old, c, out=old)
                return
            if scratch:
                self.slots[p] = np.add(c, old, out=c)
                self.scratch.add(p)
                return
        self.slots[p] = old + c
        self.scratch.add(p)

    def _sum_scaled(self, p, old, c, scratch):
        """``old + c`` for a Scaled ``c``: in one pass (axpy) into an array the sweep owns,
        or into ``c``'s own array after scaling it in place."""
        array = c.array
        if type(old) is Scaled:
            old = self._settle(p, old)
        if (
            type(old) is np.ndarray
            and type(array) is np.ndarray  # not a Dual: its arrays are never written into
            and old.shape == array.shape
            and old.dtype == array.dtype
            and self.in_place
        ):
            if p in self.scratch:
                axpy(old, c.scale, array)
                return
            if scratch:
                self.slots[p] = np.add(c.dense(True), old, out=array)
                self.scratch.add(p)
                return
        self._sum(p, old, c.dense(scratch and self.in_place), True)

    def _settle(self, p, old):
        """Apply the scale of the Scaled in slot ``p`` (in place if the sweep owns it)."""
        dense = self.slots[p] = old.dense(self._writable(p))
        self.scratch.add(p)
        return dense

    def scatter_add(self, p, c):
        old = self.slots[p]
        values = c.values
        if _is_dual(values):
            self._scatter_dual(p, c, old)
            return
        if type(old) is Scaled:
            old = self._settle(p, old)
        if old is None:
            self.slots[p] = dense_scatter(c)
            self.scratch.add(p)
        elif type(values) is Scaled and self._writable(p) and type(old) is np.ndarray:
            target = old[c.index]  # a slice of an array only the sweep holds (a view)
            if not np.may_share_memory(target, old):
                self._sum(p, old, dense_scatter(c), True)
                return
            axpy(target, values.scale, values.array)
        elif self._writable(p) and type(old) is np.ndarray and old.dtype == values.dtype:
            old[c.index] += values  # a slice of an array only the sweep holds
        else:
            self._sum(p, old, dense_scatter(c), True)

    def _scatter_dual(self, p, c, old):
        """A Dual slice cotangent (of plain arrays) goes into a Dual the sweep made for the
        slot, in place; one replaced since (by a sum with another cotangent) is never
        written into."""
        value, tangent, level = dual_parts(c.values)
        if old is None:
            self.slots[p] = self.made[p] = dense_scatter(c)
        elif self.in_place and self.made.get(p) is old and old.level == level:
            _add_into(old.value[c.index], value)
            _add_into(old.tangent[(slice(None),) + c.index], tangent)
        else:  # a plain or Scaled cotangent there (a Scaled one is settled first), or a sum
            self._sum(p, old, dense_scatter(c), True)

    def finish(self, n):
        leaves = self.slots[:n]
        for j, c in enumerate(leaves):
            if type(c) is Scaled:
                c = c.dense(self._writable(j))
            elif type(c) is np.ndarray and j not in self.scratch:  # a broadcast, or a seed
                c = c.copy()  # passed through: the caller gets an array of its own, writeable
            leaves[j] = c
        return leaves


def store(slots):
    """The sweep's cotangent store: this one while a sweep mechanism is on."""
    if OPTIONS.in_place or OPTIONS.scale:
        return LargeCotangents(slots)
    return Cotangents(slots)


# -- elementwise nodes recorded with a large input ------------------------------------------


def _big(g):
    return (type(g) is np.ndarray and g.size >= IN_PLACE_MIN) or type(g) is Scaled


class LargeUnary(Unary):
    """:class:`~dualdiff.tape.Unary` for a large input: takes pending scales, and writes
    into ``g`` when the store says it is scratch."""

    __slots__ = ()
    takes_scaled = True

    def pull(self, g, ct):
        if type(ct) is not LargeCotangents:
            Unary.pull(self, g, ct)
            return
        d = self.partial
        scratch = ct.scratch_taken
        big = _big(g)
        if type(d) is float:  # a linear ufunc: the partial is +1 or -1
            c = g if d > 0 else _negated(g, ct) if big or large_dual(g) else -g
        else:
            args = self.args or (None,)
            if big:
                c, scratch = _product(g, d, self.ans, args, scratch, ct)
            else:
                c, scratch = g * d(self.ans, *args), False
        ct.add(self.parent, c, None, scratch)


class LargeUfunc(Ufunc):
    """:class:`~dualdiff.tape.Ufunc` for a large input: the last parent served may take
    ``g`` (or write into it) when the store says it is scratch."""

    __slots__ = ()
    takes_scaled = True

    def pull(self, g, ct):
        if type(ct) is not LargeCotangents:
            Ufunc.pull(self, g, ct)
        elif _big(g):
            self._pull_large(g, ct)
        else:
            self._pull_small(g, ct)

    def _pull_small(self, g, ct):
        partials = self.partials
        for i, p, shape in self.parents:
            d = partials[i]
            if type(d) is not float:
                c = g * d(self.ans, *self.args)
            elif d > 0:
                c = g
            elif large_dual(g) and g.shape[1:] == shape and ct.scale:  # hvp's -g: pending
                c = Scaled(-1.0, g)
            else:
                c = -g
            ct.add(p, c, shape)

    def _pull_large(self, g, ct):
        partials = self.partials
        parents = self.parents
        g_scratch = ct.scratch_taken
        j = len(parents)
        while j:  # last parent first: the first parent served may be handed g to write into
            j -= 1
            i, p, shape = parents[j]
            d = partials[i]
            last = g_scratch and j == 0  # the last parent served may take g, or write into it
            if type(d) is float:  # a linear ufunc: the partial is +1 or -1
                c, scratch = (g if d > 0 else _negated(g, ct)), last
                g_scratch = False  # g's array is handed on: nobody may write into it now
            else:
                c, scratch = _product(g, d, self.ans, self.args, last, ct)
                if shares(c, g):
                    g_scratch = False
            ct.add(p, c, shape, scratch)


def _negated(g, ct):
    """``-g``: pending when the store takes scales, else into a pooled buffer."""
    if ct.scale:
        return negated(g)
    if type(g) is np.ndarray:
        return negative(g)
    return -g


def _product(g, d, ans, args, scratch, ct):
    """``g`` times the partial ``d(ans, *args)``, and whether the result is the sweep's."""
    if ct.scale:
        return product(g, d, ans, args, scratch)
    return times(g, d(ans, *args), scratch, ans, args)


# -- scattered slices ---------------------------------------------------------------------------


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
        out = pool.zeros(c.shape, dtype)
        put(out, c.index, values)
        return out
    # a box of slices: write the values, then zero only what lies outside the box
    out = pool.empty(c.shape, dtype)
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


def _is_dual(values):
    """A Dual of plain arrays, or a Scaled one."""
    return type(values) is Dual or (type(values) is Scaled and type(values.array) is Dual)


def _add_into(view, values):
    """``view += values`` (a view into an array the sweep made), a Scaled in one pass."""
    if type(values) is Scaled:
        axpy(view, values.scale, values.array)
    else:
        view += values


# the reference kinds a large cotangent promotes to their in-place form (same slots)
LARGE_KINDS = {Unary: LargeUnary, Ufunc: LargeUfunc}
