"""The cotangent store of a backward sweep: one slot per node, filled by the pullbacks.

A slot holds None (a zero cotangent, never materialised) or the sum of what the node's
consumers pulled back into it. ``slots`` is a list indexed by tape position, or, for the
tensor layer's graph, a :class:`NodeSlots` dict keyed by node.

Ownership is decided here and nowhere else. ``scratch`` is the set of slots whose arrays
the sweep made itself (a sum, a broadcast undone, a scattered slice) and nothing else holds:
those may be written into, and handed to the caller as they are. Anything else in a slot may
be the caller's seed, a constant, a value kept on the tape or another slot's array; it is
never written into, and :meth:`finish` copies it before handing it out.

The large-array layer (``dualdiff/large``) replaces this store with one that writes into
scratch arrays in place and takes pending scales; this one is the reference.
"""

import numpy as np

from dualdiff._batch import Scatter, unbroadcast


class NodeSlots(dict):
    """Slots keyed by node: a missing one reads as None (a zero cotangent)."""

    __slots__ = ()

    def __missing__(self, key):
        return None


class Cotangents:
    """Cotangents of one sweep (see the module docstring)."""

    __slots__ = ("slots", "scratch", "scratch_taken")

    def __init__(self, slots):
        self.slots = slots
        self.scratch = set()
        self.scratch_taken = False  # whether the cotangent last taken was scratch

    def take(self, i, node):
        """Remove and return slot ``i``'s cotangent, the one ``node`` pulls back."""
        slots = self.slots
        g = slots[i]
        slots[i] = None
        self.scratch_taken = i in self.scratch
        self.scratch.discard(i)
        return g

    def add(self, p, c, shape=None, scratch=False):
        """Add cotangent ``c`` (batched; a :class:`Scatter` too) into slot ``p``, first summing
        away the axes it was broadcast along when ``shape``, the primal's, differs.
        ``scratch``: the sweep made ``c`` and nothing else holds it."""
        if type(c) is Scatter:
            self.scatter_add(p, c)
            return
        if shape is not None and c.shape[1:] != shape:
            c, scratch = self._unbroadcast(c, shape, scratch), True
        old = self.slots[p]
        if old is None:
            self.slots[p] = c
            if scratch:
                self.scratch.add(p)
        else:
            self._sum(p, old, c, scratch)

    def _unbroadcast(self, c, shape, scratch):
        """``c`` summed over the axes it was broadcast along to reach the primal ``shape``."""
        return unbroadcast(c, shape)

    def _sum(self, p, old, c, scratch=False):
        """``old + c`` into slot ``p``: a new array, the sweep's own."""
        self.slots[p] = old + c
        self.scratch.add(p)

    def scatter_add(self, p, c):
        """Add a :class:`Scatter` into slot ``p``: into a scratch array at its index, else as
        a dense array."""
        old = self.slots[p]
        values = c.values
        if p in self.scratch and type(values) is np.ndarray and type(old) is np.ndarray and (
            old.dtype == values.dtype
        ):
            old[c.index] += values
            return
        dense = c.dense()
        self.slots[p] = dense if old is None else old + dense
        self.scratch.add(p)

    def finish(self, n):
        """The cotangents of slots ``0 .. n-1`` (the leaves), each the caller's own."""
        leaves = self.slots[:n]
        for j, c in enumerate(leaves):
            if type(c) is np.ndarray and j not in self.scratch:
                leaves[j] = c.copy()
        return leaves
