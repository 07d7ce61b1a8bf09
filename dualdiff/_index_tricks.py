"""``np.r_[...]`` and ``np.c_[...]`` with traced entries.

NumPy's index tricks convert every entry with ``np.array`` before concatenating, which a traced
array refuses (it would drop the derivative), and offer no hook. So ``AxisConcatenator``'s
``__getitem__`` is wrapped once, at import: with no traced entry it is NumPy's own, unchanged
(one scan of the entries); with traced entries, NumPy's own runs twice on plain stand-ins, once
with each traced entry replaced by the positions of its elements (the other entries by NaN) and
once by zeros, which lays out the directives (``'0,2,1'``, np.c_'s columns, slices, scalars) as
NumPy does; the traced result gathers the traced elements into that layout, and takes the other
entries' values from the run with zeros.
"""

import numpy as np
from numpy.lib import _index_tricks_impl

from dualdiff._tracer import Tracer, innermost

_numpy_getitem = _index_tricks_impl.AxisConcatenator.__getitem__


def _getitem(self, key):
    items = key if type(key) is tuple else (key,)
    for item in items:  # a loop with isinstance: the common call has no tracer at all
        if isinstance(item, Tracer):
            return _traced(self, items)
    return _numpy_getitem(self, key)


def _traced(self, items):
    if self.matrix or any(isinstance(i, str) and i in ("r", "c") for i in items):
        raise NotImplementedError(
            "dualdiff: np.r_ / np.c_ with the matrix directives 'r' and 'c' (np.matrix results) "
            "do not trace; use np.concatenate / np.stack on the traced arrays."
        )
    traced = [i for i in items if isinstance(i, Tracer)]
    where, offset = [], 0.0
    for item in items:  # each traced entry's elements numbered, one past another's
        if isinstance(item, Tracer):
            size = int(np.size(innermost(item)))
            where.append(np.arange(offset, offset + size).reshape(np.shape(innermost(item))))
            offset += size
        else:
            where.append(item)
    zeros = [np.zeros(np.shape(innermost(i))) if isinstance(i, Tracer) else i for i in items]
    ids = _numpy_getitem(self, tuple(_marked(where, items)))
    constant = _numpy_getitem(self, tuple(zeros))
    mask = ~np.isnan(ids)
    flat = np.concatenate([np.ravel(t) for t in traced])
    picked = flat[np.where(mask, ids, 0.0).astype(np.intp)]
    return np.where(mask, picked, constant)


def _marked(where, items):
    """The stand-ins of the position run: plain entries become NaN (positions of no traced
    element), keeping their shape; directives and slices stay as they are."""
    out = []
    for w, item in zip(where, items):
        if isinstance(item, Tracer) or isinstance(item, str):
            out.append(w)
        elif isinstance(item, slice):  # NumPy expands a slice into a range: as long a NaN run
            out.append(np.full(np.size(_numpy_getitem(np.r_, (item,))), np.nan))
        else:
            out.append(np.full(np.shape(item), np.nan))
    return out


_index_tricks_impl.AxisConcatenator.__getitem__ = _getitem
