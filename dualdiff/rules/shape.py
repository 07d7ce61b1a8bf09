"""Shape and indexing ops: linear in their array argument, rules side by side.

Rules address primal axes with negative numbers (``neg_axis``) so that the same call serves
the primal and the tangent with its leading batch axis.
"""

import numpy as np

from dualdiff._batch import align, neg_axis, unbroadcast
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._tracer import Tracer, astype, getitem, primitive, setitem

# Queries about a value's layout or order: they carry no derivative.
defconstant(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero)
# Arrays shaped like a value but independent of it.
defconstant(np.zeros_like, np.ones_like, np.full_like, np.empty_like)


def _batched_index(idx):
    """Index for a batched array: keep the batch axis, then apply ``idx`` to the primal axes."""
    if type(idx) is not tuple:
        idx = (idx,)
    if any(i is Ellipsis for i in idx):
        return (slice(None),) + idx
    return (slice(None),) + idx + (Ellipsis,)


# -- indexing ------------------------------------------------------------------------------------
@defjvp(getitem)
def getitem_jvp(t, ans, x, idx):
    return t[_batched_index(idx)]


@defvjp(getitem)
def getitem_vjp(g, ans, x, idx):
    shape = g.shape[:1] + x.shape
    bidx = _batched_index(idx)
    if _has_repeats(idx):  # repeated advanced indices must add up
        return index_add(np.zeros(shape, dtype=g.dtype), bidx, g)
    if isinstance(g, Tracer):  # a traced cotangent (higher order) is written functionally
        return setitem(np.zeros(shape, dtype=g.dtype), bidx, g)
    out = np.zeros(shape, dtype=g.dtype)
    out[bidx] = g  # basic slices and distinct indices: a plain write is enough
    return out


def _index_add(x, idx, v):
    out = x.copy()
    np.add.at(out, idx, v)
    return out


index_add = primitive(_index_add)
index_add.__name__ = "index_add"


@defjvp(index_add, argnum=0)
def index_add_jvp_x(t, ans, x, idx, v):
    return t


@defvjp(index_add, argnum=0)
def index_add_vjp_x(g, ans, x, idx, v):
    return g


@defjvp(index_add, argnum=2)
def index_add_jvp_v(t, ans, x, idx, v):
    return index_add(np.zeros(t.shape[:1] + ans.shape, dtype=t.dtype), _batched_index(idx), t)


@defvjp(index_add, argnum=2)
def index_add_vjp_v(g, ans, x, idx, v):
    return getitem(g, _batched_index(idx))


def _has_repeats(idx):
    for i in idx if type(idx) is tuple else (idx,):
        if isinstance(i, np.ndarray | list) and np.asarray(i).dtype != bool:
            flat = np.asarray(i).ravel()
            return flat.size != np.unique(flat).size or type(idx) is tuple and len(idx) > 1
    return False


@defjvp(setitem, argnum=0)
def setitem_jvp_x(t, ans, x, idx, v):
    return setitem(t, _batched_index(idx), 0.0)


@defjvp(setitem, argnum=2)
def setitem_jvp_v(t, ans, x, idx, v):
    out = np.zeros(t.shape[:1] + ans.shape, dtype=t.dtype)
    return setitem(out, _batched_index(idx), t)


@defvjp(setitem, argnum=0)
def setitem_vjp_x(g, ans, x, idx, v):
    return setitem(g, _batched_index(idx), 0.0)


@defvjp(setitem, argnum=2)
def setitem_vjp_v(g, ans, x, idx, v):
    target = getitem(g, _batched_index(idx))
    shape = g.shape[:1] + np.shape(v)
    lead = np.ndim(target) - len(shape)
    if lead > 0:
        target = np.sum(target, axis=tuple(range(1, lead + 1)))
    return target if np.shape(target) == shape else _sum_to(target, shape)


def _sum_to(g, shape):
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True)


@defjvp(astype)
def astype_jvp(t, ans, x, dtype):
    return astype(t, dtype)


@defvjp(astype)
def astype_vjp(g, ans, x, dtype):
    return astype(g, x.dtype)


# -- reshaping -----------------------------------------------------------------------------------
@defjvp(np.reshape)
def reshape_jvp(t, ans, x, *args, **kwargs):
    return np.reshape(t, t.shape[:1] + ans.shape)


@defvjp(np.reshape)
def reshape_vjp(g, ans, x, *args, **kwargs):
    return np.reshape(g, g.shape[:1] + x.shape)


def _batched_axes(axes, ndim):
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    return (0,) + tuple(a % ndim + 1 for a in axes)


@defjvp(np.transpose)
def transpose_jvp(t, ans, x, axes=None):
    return np.transpose(t, _batched_axes(axes, x.ndim))


@defvjp(np.transpose)
def transpose_vjp(g, ans, x, axes=None):
    return np.transpose(g, np.argsort(_batched_axes(axes, x.ndim)))



@defjvp(np.swapaxes)
def swapaxes_jvp(t, ans, x, axis1, axis2):
    return np.swapaxes(t, neg_axis(axis1, x.ndim), neg_axis(axis2, x.ndim))


@defvjp(np.swapaxes)
def swapaxes_vjp(g, ans, x, axis1, axis2):
    return np.swapaxes(g, neg_axis(axis1, x.ndim), neg_axis(axis2, x.ndim))


@defjvp(np.moveaxis)
def moveaxis_jvp(t, ans, x, source, destination):
    return np.moveaxis(t, neg_axis(source, x.ndim), neg_axis(destination, x.ndim))


@defvjp(np.moveaxis)
def moveaxis_vjp(g, ans, x, source, destination):
    return np.moveaxis(g, neg_axis(destination, x.ndim), neg_axis(source, x.ndim))


@defjvp(np.expand_dims)
def expand_dims_jvp(t, ans, x, axis):
    return np.reshape(t, t.shape[:1] + ans.shape)


@defvjp(np.expand_dims)
def expand_dims_vjp(g, ans, x, axis):
    return np.reshape(g, g.shape[:1] + x.shape)


@defjvp(np.squeeze)
def squeeze_jvp(t, ans, x, axis=None):
    return np.reshape(t, t.shape[:1] + ans.shape)


@defvjp(np.squeeze)
def squeeze_vjp(g, ans, x, axis=None):
    return np.reshape(g, g.shape[:1] + x.shape)


@defjvp(np.broadcast_to)
def broadcast_to_jvp(t, ans, x, shape, **kwargs):
    return np.broadcast_to(align(t, ans.ndim), t.shape[:1] + ans.shape)


@defvjp(np.broadcast_to)
def broadcast_to_vjp(g, ans, x, shape, **kwargs):
    return unbroadcast(g, x.shape)


# -- selection -------------------------------------------------------------------------------
# np.where must not multiply the unselected branch's derivative (possibly inf) by zero:
# it selects tangents and cotangents with where, never with a 0/1 mask product.
@defjvp(np.where, argnum=1)
def where_jvp_x(t, ans, cond, x, y):
    return np.where(cond, align(t, ans.ndim), 0.0)


@defjvp(np.where, argnum=2)
def where_jvp_y(t, ans, cond, x, y):
    return np.where(cond, 0.0, align(t, ans.ndim))


@defvjp(np.where, argnum=1)
def where_vjp_x(g, ans, cond, x, y):
    return np.where(cond, g, 0.0)


@defvjp(np.where, argnum=2)
def where_vjp_y(g, ans, cond, x, y):
    return np.where(cond, 0.0, g)
