"""Helpers for the leading batch axis that every tangent and cotangent carries.

A tangent of a primal with shape ``s`` has shape ``(k, *s)``; rules address primal axes with
negative numbers so that one call serves the primal and the batched tangent alike.
"""


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
