"""Scaled cotangents: ``scale * array`` with the multiplication put off, in the backward sweep
of large arrays.

Why: NumPy has no fused multiply-add, so every negation (``b - a``) and every product of a
uniform cotangent with a partial (``sum(100 * d ** 2)`` pulls back 100 times ``2 * d``) would
be a pass over memory of its own. Deferred, those cost nothing, and the scale is applied in the one
pass that writes the array somewhere else anyway: a scatter into a slice, a sum into a slot
(BLAS ``axpy``, ``y += a * x`` in one pass), or the end of the sweep.

Only the sweep makes them, and only for large float64 arrays (forward mode's tangents stay
arrays), or Duals of them (forward over reverse: a negated Dual cotangent is deferred too, and
its -1 goes into the next partial or scatter). The elementwise pullbacks and the slice
pullback take them as they are; every other pullback, a tensor's ``.grad`` and the sweep's
result get plain arrays (:meth:`Scaled.dense`).
"""

import numpy as np
from scipy.linalg.blas import daxpy

from dualdiff._batch import (
    _batched,
    _uniform,
    negative,
    plain_dual,
    scratch_partial,
    times,
    uniform_scalar,
)
from dualdiff.dual import Dual
from dualdiff.large import pool
from dualdiff.large.pool import F64


class Scaled:
    """``scale * array``: ``array`` a large batched float64 array (or a Dual of two), ``scale``
    a Python float. Whether the array may be written into is the sweep's to say (its OWNED
    slots); a Dual's arrays never are."""

    __slots__ = ("scale", "array")

    def __init__(self, scale, array):
        self.scale = scale
        self.array = array

    shape = property(lambda self: self.array.shape)

    def dense(self, scratch):
        """The product as an array: in place when ``scratch`` (the array is the sweep's to
        overwrite), else in a pooled buffer."""
        if type(self.array) is not np.ndarray:  # a Dual
            return self.array * self.scale
        out = self.array if scratch else pool.empty(self.array.shape)
        return np.multiply(self.array, self.scale, out=out)


def scaled(scale, c):
    """``scale * c`` deferred (``c`` an array or a Scaled)."""
    if type(c) is Scaled:
        return Scaled(scale * c.scale, c.array)
    return Scaled(scale, c)


def large_dual(g):
    """Whether ``g`` is a Dual of large float64 arrays (a cotangent of forward over reverse)."""
    return (
        plain_dual(g)
        and g.value.dtype == F64
        and g.tangent.dtype == F64
        and g.value.size >= pool.MIN_SIZE
    )


def dual_parts(values):
    """(value, tangent, level) of a Dual or of a Scaled Dual, the parts Scaled alike."""
    if type(values) is Dual:
        return values.value, values.tangent, values.level
    g, s = values.array, values.scale
    return Scaled(s, g.value), Scaled(s, g.tangent), g.level


def negated(g):
    """``-g`` for a large ``g`` (an array, a Scaled or a Dual of arrays), deferred: a uniform
    ``g`` stays a broadcast."""
    s = uniform_scalar(g)
    if s is not None:
        return np.broadcast_to(-s, g.shape)
    if type(g) is np.ndarray and g.dtype != F64:  # scales are for float64 arrays only
        return negative(g)
    return scaled(-1.0, g)


def product(g, partial, ans, args, scratch):
    """``g`` times the partial ``partial(ans, *args)`` for the sweep, and whether the result
    is scratch (the sweep's own): :func:`dualdiff._batch.times` with the scales left deferred (``g``
    Scaled, a uniform ``g`` times a whole partial, and a partial with a ``scaled`` form,
    such as ``2 * x`` for ``x ** 2``, whose 2 then costs no pass)."""
    form = getattr(partial, "scaled", None)
    scale_array = None if form is None else form(ans, *args)
    if scale_array is None:
        return _product(g, partial(ans, *args), scratch, ans, args)
    scale, d = scale_array
    if type(d) is np.ndarray:
        return _scale(scale, *_product(g, d, scratch, ans, args))
    # forward over reverse: the partial is scale * d for a Dual (or tracer) d
    s = uniform_scalar(g)
    if s is not None:
        if large_dual(d):  # both factors deferred: d is the tape's, never written
            return Scaled(float(s) * scale, _batched(d)), False
        return _batched(d * (float(s) * scale)), True  # a tracer: both factors in one op
    if type(g) is Scaled:  # g's scale goes into the partial's one op
        return g.array * (d * (g.scale * scale)), True
    return _scale(scale, *_product(g, d, scratch, ans, args))


def _product(g, d, scratch, ans, args):
    if type(d) is float:  # a constant factor: deferred, g's array handed on as it is
        if type(g) is Scaled:
            return Scaled(g.scale * d, g.array), scratch
        if type(g) is np.ndarray and g.dtype == F64 and not _uniform(g):
            return Scaled(d, g), scratch
    if type(g) is Scaled:
        if type(g.array) is not np.ndarray:  # a Dual: the scale goes into the partial
            return g.array * (d * g.scale), True
        return _scale(g.scale, *times(g.array, d, scratch, ans, args))
    s = uniform_scalar(g)
    if s is not None and s != 1.0 and type(d) is np.ndarray and d.dtype == F64:
        if d.shape == g.shape[1:]:  # a uniform g times a whole partial: deferred
            return Scaled(float(s), d[None]), scratch_partial(d, ans, args)
    return times(g, d, scratch, ans, args)


def shares(c, g):
    """Whether cotangent ``c`` holds ``g``'s array (so that no one may now write into it)."""
    return type(c) is Scaled and c.array is (g.array if type(g) is Scaled else g)


def _scale(scale, c, scratch):
    s = uniform_scalar(c)
    if s is not None:  # a broadcast scalar stays one
        return np.broadcast_to(s * scale, c.shape), False
    if type(c) is Scaled or (type(c) is np.ndarray and c.dtype == F64):
        return scaled(scale, c), scratch
    return c * scale, True  # a Dual or a tracer (forward over reverse): scaled now


def axpy(y, a, x):
    """``y += a * x`` in one pass (BLAS daxpy when both are contiguous float64 arrays)."""
    if (
        y.shape == x.shape
        and y.dtype == F64
        and x.dtype == F64
        and y.flags.c_contiguous
        and x.flags.c_contiguous
        and y.flags.writeable
    ):
        flat = y.reshape(-1)
        out = daxpy(x.reshape(-1), flat, a=a)
        if out is not flat:  # BLAS worked on a copy (never seen; kept correct regardless)
            flat[...] = out
        return
    y += x * a


def put(out, index, values):
    """``out[index] = values``, with a Scaled's scale applied in the same pass."""
    if type(values) is Scaled:
        view = out[index]
        if np.may_share_memory(view, out):  # a basic index gives a view
            np.multiply(values.array, values.scale, out=view)
            return
        values = values.array * values.scale
    out[index] = values
