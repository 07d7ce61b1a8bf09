"""Reductions: sums, means, products, extrema, moments, cumulative ops, norms."""

import numpy as np

from dualdiff._batch import neg_axis
from dualdiff._registry import defjvp, defvjp


def _expand(g, x, axis, keepdims):
    """Broadcast a reduced cotangent ``g`` back over the reduced axes of ``x`` (batched)."""
    if axis is None and not keepdims:  # the common full reduction: one reshape
        g = np.reshape(g, g.shape[:1] + (1,) * x.ndim)
    elif not keepdims:
        axes = tuple(a % x.ndim + 1 for a in np.atleast_1d(neg_axis(axis, x.ndim)))
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, g.shape[:1] + x.shape)


@defjvp(np.sum)
def sum_jvp(t, ans, x, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return np.sum(t, axis=neg_axis(axis, x.ndim), keepdims=keepdims)


@defvjp(np.sum)
def sum_vjp(g, ans, x, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return _expand(g, x, axis, keepdims)


@defjvp(np.mean)
def mean_jvp(t, ans, x, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return np.mean(t, axis=neg_axis(axis, x.ndim), keepdims=keepdims)


@defvjp(np.mean)
def mean_vjp(g, ans, x, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    return _expand(g, x, axis, keepdims) / (np.size(x) / max(np.size(ans), 1))
