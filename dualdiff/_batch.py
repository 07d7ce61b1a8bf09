"""Helpers for the leading batch axis that every tangent and cotangent carries.

A tangent of a primal with shape ``s`` has shape ``(k, *s)``; rules address primal axes with
negative numbers so that one call serves the primal and the batched tangent alike.
"""

import numpy as np

from dualdiff.large import pool


def neg_axis(axis, ndim):
    """Primal axis (int, tuple or None) as negative axes; None means every primal axis."""
    if axis is None:
        return tuple(range(-ndim, 0))
    if isinstance(axis, tuple | list):
        return tuple(a - ndim if a >= 0 else a for a in axis)
    return axis - ndim if axis >= 0 else axis


def align(t, ndim):
    """Insert unit axes after the batch axis so ``t`` broadcasts against a rank-``ndim`` primal."""
    missing = ndim + 1 - t.ndim
    if missing <= 0:
        return t
    return t.reshape(t.shape[:1] + (1,) * missing + t.shape[1:])


def unbroadcast(g, shape):
    """Sum a batched cotangent ``(k, *out_shape)`` back to ``(k, *shape)``."""
    lead = g.ndim - 1 - len(shape)
    if lead > 0:
        g = g.sum(axis=tuple(range(1, lead + 1)))
    axes = tuple(i + 1 for i, n in enumerate(shape) if n == 1 and g.shape[i + 1] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


# Below this many elements a new array is as cheap as writing into one (NumPy caches small
# blocks); above it, reusing memory saves an allocation and, for blocks that glibc maps
# afresh each time, its page faults, which dominate the cost of an op at these sizes. The
# same line as the pool's: what is written in place is what would be pooled.
IN_PLACE_MIN = pool.MIN_SIZE


def times(g, d, scratch, ans, args):
    """``g * d`` for a large batched ``g`` (a tangent or cotangent) and an unbatched partial
    ``d`` of an op with answer ``ans`` and inputs ``args``; and whether the result is a new
    array that nothing else holds.

    Writes into ``g`` when it is ``scratch`` (the caller's to overwrite), else into ``d`` when
    the partial made a new array for this call, else into a pooled buffer; a uniform ``g`` (a
    broadcast scalar, as ``sum`` pulls back) times a scalar partial stays a broadcast, and
    times ``d`` is ``d`` itself when the scalar is 1.
    """
    s = uniform_scalar(g)
    if isinstance(d, float):
        if scratch:
            return np.multiply(g, d, out=g), True
        if s is not None:
            return np.broadcast_to(s * d, g.shape), False
        return product(g, d), True
    if s == 1.0 and np.shape(d) == g.shape[1:] and getattr(d, "dtype", None) == g.dtype:
        # a loss's cotangent of ones times a partial is the partial itself (an array of
        # ours or not, or a Dual of forward over reverse): handed on, and the sweep's own
        # when the partial made it for this call
        return _batched(d), scratch_partial(d, ans, args)
    if (
        type(d) is not np.ndarray
        or d.ndim >= g.ndim
        or d.shape != g.shape[g.ndim - d.ndim :]
        or d.dtype not in _MULTIPLIABLE
    ):
        return g * d, True  # a tracer, a partial that broadcasts g, or an unusual dtype
    if scratch and g.dtype == np.float64:
        return np.multiply(g, d, out=g), True
    if (
        d.shape == g.shape[1:]
        and g.shape[0] == 1
        and g.dtype == d.dtype  # a complex g's product cannot go into a real partial
        and scratch_partial(d, ans, args)
    ):
        out = d.reshape(g.shape)
        return np.multiply(out, g if s is None else s, out=out), True
    return product(g, d), True


_MULTIPLIABLE = (np.dtype(np.float64), np.dtype(bool))


def scratch_partial(d, ans, args):
    """Whether partial ``d`` is a float64 array made for this call: not the op's answer or an
    input, not a view (the rules' partials never keep what they return)."""
    return (
        type(d) is np.ndarray
        and d.dtype == np.float64
        and d.base is None
        and d.flags.writeable
        and d is not ans
        and all(d is not a for a in args)
    )


def product(g, d):
    """``g * d`` into a pooled buffer (``g`` a large array, ``d`` no bigger)."""
    if g.dtype != np.float64:
        return g * d
    return np.multiply(g, d, out=pool.empty(g.shape))


def negative(g):
    """``-g`` into a pooled buffer (``g`` a large array)."""
    if g.dtype != np.float64:
        return -g
    return np.negative(g, out=pool.empty(g.shape))


def _uniform(g):
    """Whether batched ``g`` is one direction holding one number everywhere (a broadcast)."""
    return g.shape[0] == 1 and not any(g.strides[1:])


def uniform_scalar(g):
    """The number a uniform batched array ``g`` holds everywhere, or None."""
    return g[(0,) * g.ndim] if type(g) is np.ndarray and _uniform(g) else None


def _batched(d):
    """``d`` with a batch axis of one in front (a view; for a Dual, of both its arrays)."""
    value, tangent = getattr(d, "value", None), getattr(d, "tangent", None)
    if type(value) is np.ndarray and type(tangent) is np.ndarray:  # a Dual of plain arrays
        return type(d)(value[None], tangent[:, None], d.level)
    return d[None]


def plain_dual(g):
    """Whether ``g`` is a Dual of plain arrays (a cotangent of forward over reverse)."""
    return (
        getattr(type(g), "mode", None) == "forward"
        and type(g.value) is np.ndarray
        and type(g.tangent) is np.ndarray
    )


class Scatter:
    """A batched cotangent that is zero except at ``index``, where it is ``values``: what the
    VJP of ``x[index]`` returns for plain ``values``, so that the cotangent store can add it
    into a slot in place instead of adding a dense array of zeros."""

    __slots__ = ("shape", "index", "values")

    def __init__(self, shape, index, values):
        self.shape, self.index, self.values = shape, index, values

    def dense(self):
        """The cotangent as an array (a Dual of arrays for Dual values)."""
        values = self.values
        if type(values) is not np.ndarray:  # a Dual of arrays: value and tangent alike
            tshape = values.tangent.shape[:1] + self.shape
            value = Scatter(self.shape, self.index, values.value).dense()
            tangent = Scatter(tshape, (slice(None),) + self.index, values.tangent).dense()
            return type(values)(value, tangent, values.level)
        out = np.zeros(self.shape, values.dtype)
        out[self.index] = values
        return out


def slice_scatter(g, shape, idx):
    """Batched ``g`` at basic slices ``idx`` of zeros of the primal ``shape``: the cotangent
    of ``x[idx]``, as a :class:`Scatter`."""
    index = (slice(None),) + idx if type(idx) is tuple else (slice(None), idx)
    k = getattr(g, "array", g).shape[0]  # a Scaled g (the large-array sweep) has an array
    return Scatter((k,) + tuple(shape), index, g)


def basic_slices(idx):
    """Whether ``idx`` is a slice, or a tuple of slices and Ellipsis (a view, never a copy)."""
    if type(idx) is slice:
        return True
    if type(idx) is not tuple:
        return False
    for i in idx:  # a loop, not all(...): this runs at every slice of every recording
        if type(i) is not slice and i is not Ellipsis:
            return False
    return True
