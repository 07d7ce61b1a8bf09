"""Shape and indexing ops: linear maps of their array arguments, both modes side by side.

Every rule here moves, copies, selects or sums values, so a JVP applies the op itself to the
batched tangent and a VJP applies its transpose (slicing for padding, summing for repeats,
scattering for gathers). Rules address primal axes with negative numbers (``neg_axis``) so
that the same call serves the primal and a tangent with its leading batch axis. Writes go
into fresh zero arrays only; a traced cotangent (higher order) is written functionally.
"""

import numpy as np

from dualdiff._batch import (
    Scatter,
    align,
    basic_slices,
    neg_axis,
    plain_dual,
    slice_scatter,
    unbroadcast,
)
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._tracer import Tracer, astype, getitem, primitive, setitem

# Queries about a value's layout or order: they carry no derivative.
defconstant(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero)
defconstant(np.argwhere, np.flatnonzero, np.searchsorted, np.count_nonzero, np.argpartition)
# Arrays shaped like a value but independent of it; the imaginary part of a real array is 0.
defconstant(np.zeros_like, np.ones_like, np.full_like, np.empty_like, np.imag)


# -- index bookkeeping ---------------------------------------------------------------------------
def _batched_index(idx):
    """Index for a batched array: keep the batch axis, then apply ``idx`` to the primal axes."""
    if type(idx) is not tuple:
        idx = (idx,)
    for i in idx:  # a loop with `is`: `Ellipsis in idx` would compare arrays with ==
        if i is Ellipsis:
            return (slice(None),) + idx
    return (slice(None),) + idx + (Ellipsis,)


def _is_array(i):
    return type(i) is list or isinstance(i, np.ndarray)


def _has_array(idx):
    if type(idx) is tuple:
        return any(_is_array(i) for i in idx)
    return _is_array(idx)


def _is_int(i):
    return isinstance(i, int | np.integer) and not isinstance(i, bool)


def _front(idx):
    """Rank of the advanced index when its parts are separated (``x[[0, 1], :, 0]``), else 0.

    NumPy moves the axes of separated advanced indices to the front of the result, ahead of
    the batch axis of a batched array; adjacent ones stay in place, behind it.
    """
    if not _has_array(idx):
        return 0
    items = idx if type(idx) is tuple else (idx,)
    where = [p for p, i in enumerate(items) if _is_array(i) or _is_int(i)]
    if where[-1] - where[0] == len(where) - 1:
        return 0
    shapes = []
    for i in items:
        if _is_array(i):
            a = np.asarray(i)
            shapes.append((np.count_nonzero(a),) if a.dtype == bool else a.shape)
    return len(np.broadcast_shapes(*shapes))


def _batch_first(r, idx):
    """``t[_batched_index(idx)]`` with its batch axis put back in front."""
    n = _front(idx)
    return r if n == 0 else np.moveaxis(r, n, 0)


def _batch_inner(v, idx):
    """A batched value laid out for writing into ``t[_batched_index(idx)]``."""
    n = _front(idx)
    return v if n == 0 else np.moveaxis(v, 0, n)


def _has_repeats(idx, shape):
    """Whether the advanced part of ``idx`` reaches some element of ``shape`` twice."""
    items = idx if type(idx) is tuple else (idx,)
    used = sum(_index_rank(i) for i in items if i is not None and i is not Ellipsis)
    arrays, dims, axis, counted = [], [], 0, False
    for i in items:
        if i is None:
            continue
        if i is Ellipsis:
            axis += len(shape) - used
            continue
        if _is_array(i):
            a = np.asarray(i)
            if a.dtype == bool:
                arrays += np.nonzero(a)
                dims += shape[axis : axis + a.ndim]
                axis += a.ndim
                continue
            arrays.append(a)
            dims.append(shape[axis])
            counted = True
        axis += 1
    if not counted:  # boolean masks alone never reach a place twice
        return False
    flat = np.ravel_multi_index(
        tuple(np.mod(a, n) for a, n in zip(np.broadcast_arrays(*arrays), dims)), dims
    ).ravel()
    return flat.size != np.unique(flat).size


def _index_rank(i):
    if _is_array(i) and np.asarray(i).dtype == bool:
        return np.ndim(i)
    return 1


def _indexed_shape(shape, idx):
    """Shape of ``x[idx]`` for ``x`` of ``shape``, without touching any data of ``x``."""
    return np.broadcast_to(np.empty((), dtype=np.int8), shape)[idx].shape


def _scatter(shape, idx, g, repeats):
    """Zeros of ``shape`` with ``g`` written at ``idx`` (added, where ``idx`` repeats)."""
    if repeats:
        return index_add(np.zeros(shape, dtype=g.dtype), idx, g)
    if isinstance(g, Tracer) and _has_array(idx):
        return setitem(np.zeros(shape, dtype=g.dtype), idx, g)
    if isinstance(g, Tracer):
        return scatter(shape, idx, g)
    out = np.zeros(shape, dtype=g.dtype)
    out[idx] = g  # a fresh array: a plain write is the fast path (basic slices, Rosenbrock)
    return out


def _scatter_impl(shape, idx, v):
    return Scatter(shape, idx, v).dense()


# Zeros with ``v`` written at ``idx``: a traced cotangent of getitem (higher order) is written
# into a zeros array of its own, without the copy that a general setitem must make.
scatter = primitive(_scatter_impl)
scatter.__name__ = "scatter"


@defjvp(scatter, argnum=2)
def scatter_jvp(t, ans, shape, idx, v):
    return scatter(t.shape[:1] + tuple(shape), _batched_index(idx), t)


@defvjp(scatter, argnum=2)
def scatter_vjp(g, ans, shape, idx, v):
    return g[_batched_index(idx)]


def _value_layout(t, shape, idx):
    """Tangent ``(k, *v.shape)`` of a value written at ``x[idx]``, laid out like the target."""
    target = _indexed_shape(shape, idx)
    if t.ndim - 1 > len(target):  # numpy drops a value's extra leading unit axes
        t = np.reshape(t, t.shape[:1] + t.shape[t.ndim - len(target) :])
    t = align(t, len(target))
    if not _has_array(idx) or _front(idx) == 0:
        return t
    return _batch_inner(np.broadcast_to(t, t.shape[:1] + target), idx)


def _sum_to(r, shape):
    """Sum a batched target ``(k, *target)`` down to a value of ``shape`` broadcast into it."""
    core = shape[max(0, len(shape) - (r.ndim - 1)) :]
    return np.reshape(unbroadcast(r, core), r.shape[:1] + tuple(shape))


# -- indexing ------------------------------------------------------------------------------------
@defjvp(getitem)
def getitem_jvp(t, ans, x, idx):
    r = t[_batched_index(idx)]
    return _batch_first(r, idx) if _has_array(idx) else r


@defvjp(getitem)
def getitem_vjp(g, ans, x, idx):
    if basic_slices(idx) and (type(g) is np.ndarray or plain_dual(g)):  # x[a:b] and kin
        return slice_scatter(g, x.shape, idx)
    shape = g.shape[:1] + x.shape
    bidx, repeats = _batched_index(idx), False
    if _has_array(idx):
        g, repeats = _batch_inner(g, idx), _has_repeats(idx, x.shape)
    if type(g) is np.ndarray and not repeats:
        # zeros but at idx: the sweep writes it into a cotangent it owns, in place
        return Scatter(shape, bidx, g)
    return _scatter(shape, bidx, g, repeats)


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
    out = np.zeros(t.shape[:1] + ans.shape, dtype=t.dtype)
    return index_add(out, _batched_index(idx), _value_layout(t, ans.shape, idx))


@defvjp(index_add, argnum=2)
def index_add_vjp_v(g, ans, x, idx, v):
    r = g[_batched_index(idx)]
    return _sum_to(_batch_first(r, idx) if _has_array(idx) else r, np.shape(v))


@defjvp(setitem, argnum=0)
def setitem_jvp_x(t, ans, x, idx, v):
    return setitem(t, _batched_index(idx), 0.0)


@defvjp(setitem, argnum=0)
def setitem_vjp_x(g, ans, x, idx, v):
    return setitem(g, _batched_index(idx), 0.0)


@defjvp(setitem, argnum=2)
def setitem_jvp_v(t, ans, x, idx, v):
    t = _stacked(t, v)  # y[:2] = [a, b] lists traced values
    out = np.zeros(t.shape[:1] + ans.shape, dtype=t.dtype)
    return setitem(out, _batched_index(idx), _value_layout(t, ans.shape, idx))


@defvjp(setitem, argnum=2)
def setitem_vjp_v(g, ans, x, idx, v):
    r = g[_batched_index(idx)]
    if _has_array(idx):
        r = _batch_first(r, idx)
        if _has_repeats(idx, x.shape):  # a place written twice keeps only its last write
            r = np.where(_last_writes(x.shape, idx), r, 0.0)
    return _listed(_sum_to(r, _shape(v)), v)


def _last_writes(shape, idx):
    """Mask over ``x[idx]``: True where that write is the one that stays in ``x``."""
    target = _indexed_shape(shape, idx)
    ids = np.arange(np.prod(target, dtype=np.intp)).reshape(target)
    board = np.full(shape, -1, dtype=np.intp)
    board[idx] = ids
    return board[idx] == ids


@defjvp(astype)
def astype_jvp(t, ans, x, dtype):
    if not np.issubdtype(dtype, np.inexact):  # casts to integers or bools are piecewise constant
        return None
    return astype(t, dtype)


@defvjp(astype)
def astype_vjp(g, ans, x, dtype):
    if not np.issubdtype(dtype, np.inexact):
        return None
    return astype(g, x.dtype)


# -- reshaping -----------------------------------------------------------------------------------
def _layout_ids(x, order, shape=None):
    """C-order positions in ``x`` of the elements of ``reshape(x, shape, order)`` (or ravel)."""
    ids = np.empty_like(x, dtype=np.intp)  # keeps x's memory layout, which orders "A" and "K" read
    ids[...] = np.arange(ids.size).reshape(ids.shape)
    return np.ravel(ids, order=order) if shape is None else np.reshape(ids, shape, order=order)


def _gather_flat(t, ids):
    return np.reshape(t, (t.shape[0], -1))[:, ids]


def _scatter_flat(g, ids, shape):
    inverse = np.argsort(np.ravel(ids))  # ids is a permutation
    return np.reshape(np.reshape(g, (g.shape[0], -1))[:, inverse], g.shape[:1] + shape)


def _reshape_order(args, kwargs):
    return args[1] if len(args) > 1 else kwargs.get("order", "C")


@defjvp(np.reshape)
def reshape_jvp(t, ans, x, *args, **kwargs):
    order = _reshape_order(args, kwargs)
    if order == "C":
        return np.reshape(t, t.shape[:1] + ans.shape)
    return _gather_flat(t, _layout_ids(x, order, ans.shape))


@defvjp(np.reshape)
def reshape_vjp(g, ans, x, *args, **kwargs):
    order = _reshape_order(args, kwargs)
    if order == "C":
        return g.reshape(g.shape[:1] + x.shape)  # the method: a third of np.reshape's cost
    return _scatter_flat(g, _layout_ids(x, order, ans.shape), x.shape)


@defjvp(np.ravel)
def ravel_jvp(t, ans, a, order="C"):
    if order == "C":
        return np.reshape(t, t.shape[:1] + ans.shape)
    return _gather_flat(t, _layout_ids(a, order))


@defvjp(np.ravel)
def ravel_vjp(g, ans, a, order="C"):
    if order == "C":
        return np.reshape(g, g.shape[:1] + np.shape(a))
    return _scatter_flat(g, _layout_ids(a, order), np.shape(a))


def _batched_axes(axes, ndim):
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    return (0,) + tuple(a % ndim + 1 for a in axes)


@defjvp(np.transpose)
def transpose_jvp(t, ans, x, axes=None):
    return np.transpose(t, _batched_axes(axes, x.ndim))


@defvjp(np.transpose)
def transpose_vjp(g, ans, x, axes=None):
    if axes is None:  # reversing the axes is its own inverse
        return np.transpose(g, _batched_axes(None, x.ndim))
    return np.transpose(g, tuple(np.argsort(_batched_axes(axes, x.ndim))))


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


def _rollaxis_axes(ndim, axis, start):
    """The permutation ``np.rollaxis`` applies, following numpy's own bookkeeping."""
    axis = axis % ndim
    start = start + ndim if start < 0 else start
    if axis < start:
        start -= 1
    axes = [a for a in range(ndim) if a != axis]
    axes.insert(start, axis)
    return axes


@defjvp(np.rollaxis)
def rollaxis_jvp(t, ans, a, axis, start=0):
    return np.transpose(t, _batched_axes(_rollaxis_axes(a.ndim, axis, start), a.ndim))


@defvjp(np.rollaxis)
def rollaxis_vjp(g, ans, a, axis, start=0):
    axes = _batched_axes(_rollaxis_axes(a.ndim, axis, start), a.ndim)
    return np.transpose(g, np.argsort(axes))


# expand_dims, squeeze and the atleast_nd family only insert or drop unit axes: a reshape.
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


def _atleast_jvp(i):
    def atleast_jvp(t, ans, *arys):
        if len(arys) == 1:
            return np.reshape(t, t.shape[:1] + ans.shape)
        return tuple(
            np.reshape(t, t.shape[:1] + a.shape) if j == i else None for j, a in enumerate(ans)
        )

    return atleast_jvp


def _atleast_vjp(i):
    def atleast_vjp(g, ans, *arys):
        g = g if len(arys) == 1 else g[i]
        return None if g is None else np.reshape(g, g.shape[:1] + np.shape(arys[i]))

    return atleast_vjp


# numpy takes any number of arrays positionally; eight covers real use.
for _fn in (np.atleast_1d, np.atleast_2d, np.atleast_3d):
    for _i in range(8):
        defjvp(_fn, argnum=_i)(_atleast_jvp(_i))
        defvjp(_fn, argnum=_i)(_atleast_vjp(_i))


@defjvp(np.broadcast_to)
def broadcast_to_jvp(t, ans, x, shape, **kwargs):
    return np.broadcast_to(align(t, ans.ndim), t.shape[:1] + ans.shape)


@defvjp(np.broadcast_to)
def broadcast_to_vjp(g, ans, x, shape, **kwargs):
    return unbroadcast(g, np.shape(x))


def _broadcast_arrays_jvp(i):
    def broadcast_arrays_jvp(t, ans, *args, **kwargs):
        return tuple(
            np.broadcast_to(align(t, a.ndim), t.shape[:1] + a.shape) if j == i else None
            for j, a in enumerate(ans)
        )

    return broadcast_arrays_jvp


def _broadcast_arrays_vjp(i):
    def broadcast_arrays_vjp(g, ans, *args, **kwargs):
        return g[i]  # the engine sums it back to the argument's shape

    return broadcast_arrays_vjp


for _i in range(8):
    defjvp(np.broadcast_arrays, argnum=_i)(_broadcast_arrays_jvp(_i))
    defvjp(np.broadcast_arrays, argnum=_i)(_broadcast_arrays_vjp(_i))


@defjvp(np.copy)
def copy_jvp(t, ans, a, *args, **kwargs):
    return t


@defvjp(np.copy)
def copy_vjp(g, ans, a, *args, **kwargs):
    return g


@defjvp(np.real)
def real_jvp(t, ans, val):
    return t  # dualdiff traces real arrays only, where real is the identity


@defvjp(np.real)
def real_vjp(g, ans, val):
    return g


# -- joining and splitting -----------------------------------------------------------------------
def _shape(a):
    """np.shape that also reads a list of traced values, which np.shape cannot convert."""
    if (type(a) is list or type(a) is tuple) and a:
        return (len(a),) + _shape(a[0])
    return np.shape(a)


def _stacked(t, v):
    """Tangents of a listed argument (``[a, b]`` of traced values) as one batched array."""
    return np.stack(_fill(t, v), axis=1) if type(t) is list else t


def _listed(c, v):
    """A cotangent split into one per listed value when the argument was a list."""
    if type(v) is list or type(v) is tuple:
        return [c[:, i] for i in range(len(v))]
    return c


def _fill(ts, arrays):
    """Tangents of a sequence's members, with zeros for the untraced ones."""
    ref = next(t for t in ts if t is not None)
    k, dtype = ref.shape[:1], ref.dtype
    return [np.zeros(k + _shape(a), dtype=dtype) if t is None else t for t, a in zip(ts, arrays)]


def _join(ts, arrays, shapes, axis):
    """Concatenate member tangents along negative ``axis``, member i reshaped to ``shapes[i]``."""
    if type(ts) is not list:  # the sequence was one array: its members are its rows
        ts = [ts[:, i] for i in range(len(arrays))]
    ts = _fill(ts, arrays)
    return np.concatenate([np.reshape(t, t.shape[:1] + s) for t, s in zip(ts, shapes)], axis=axis)


def _unjoin(g, arrays, shapes, axis):
    """The members' cotangents: slices of ``g`` along negative ``axis``, in their own shapes."""
    out, start = [], 0
    for a, s in zip(arrays, shapes):
        stop = start + s[axis]
        piece = g[(Ellipsis, slice(start, stop)) + (slice(None),) * (-axis - 1)]
        out.append(np.reshape(piece, g.shape[:1] + _shape(a)))
        start = stop
    if type(arrays) is not list and type(arrays) is not tuple:  # one array: stack its rows
        return np.stack(out, axis=1)
    return out


def _concatenate_layout(arrays, axis):
    if axis is None:
        return [(int(np.prod(_shape(a))),) for a in arrays], -1
    shapes = [_shape(a) for a in arrays]
    return shapes, neg_axis(axis, len(shapes[0]))


@defjvp(np.concatenate)
def concatenate_jvp(t, ans, arrays, axis=0, *args, **kwargs):
    return _join(t, arrays, *_concatenate_layout(arrays, axis))


@defvjp(np.concatenate)
def concatenate_vjp(g, ans, arrays, axis=0, *args, **kwargs):
    return _unjoin(g, arrays, *_concatenate_layout(arrays, axis))


def _stack_layout(arrays, axis):
    shape = _shape(arrays[0])
    ax = neg_axis(axis, len(shape) + 1)
    p = len(shape) + 1 + ax
    return [shape[:p] + (1,) + shape[p:]] * len(arrays), ax


@defjvp(np.stack)
def stack_jvp(t, ans, arrays, axis=0, *args, **kwargs):
    return _join(t, arrays, *_stack_layout(arrays, axis))


@defvjp(np.stack)
def stack_vjp(g, ans, arrays, axis=0, *args, **kwargs):
    return _unjoin(g, arrays, *_stack_layout(arrays, axis))


def _promote(shape, ndim, where):
    """``shape`` padded with unit axes to ``ndim``; ``where`` places the original axes."""
    if len(shape) >= ndim:
        return shape
    if ndim == 3 and len(shape) == 1:  # atleast_3d puts a vector in the middle: (1, n, 1)
        return (1,) + shape + (1,)
    pad = (1,) * (ndim - len(shape))
    return shape + pad if where == "front" else pad + shape


def _hstack_layout(tup):
    shapes = [_promote(_shape(a), 1, "back") for a in tup]
    return shapes, (0 if len(shapes[0]) == 1 else 1) - len(shapes[0])


def _vstack_layout(tup):
    shapes = [_promote(_shape(a), 2, "back") for a in tup]
    return shapes, -len(shapes[0])


def _dstack_layout(tup):
    shapes = [_promote(_shape(a), 3, "front") for a in tup]
    return shapes, 2 - len(shapes[0])


def _column_stack_layout(tup):
    shapes = [_promote(_shape(a), 2, "front") for a in tup]  # a vector becomes a column
    return shapes, 1 - len(shapes[0])


@defjvp(np.hstack)
def hstack_jvp(t, ans, tup, **kwargs):
    return _join(t, tup, *_hstack_layout(tup))


@defvjp(np.hstack)
def hstack_vjp(g, ans, tup, **kwargs):
    return _unjoin(g, tup, *_hstack_layout(tup))


@defjvp(np.vstack)
def vstack_jvp(t, ans, tup, **kwargs):
    return _join(t, tup, *_vstack_layout(tup))


@defvjp(np.vstack)
def vstack_vjp(g, ans, tup, **kwargs):
    return _unjoin(g, tup, *_vstack_layout(tup))


@defjvp(np.dstack)
def dstack_jvp(t, ans, tup):
    return _join(t, tup, *_dstack_layout(tup))


@defvjp(np.dstack)
def dstack_vjp(g, ans, tup):
    return _unjoin(g, tup, *_dstack_layout(tup))


@defjvp(np.column_stack)
def column_stack_jvp(t, ans, tup):
    return _join(t, tup, *_column_stack_layout(tup))


@defvjp(np.column_stack)
def column_stack_vjp(g, ans, tup):
    return _unjoin(g, tup, *_column_stack_layout(tup))


def _append_layout(arr, values, axis):
    pair = (arr, values)
    return pair, *_concatenate_layout(pair, axis)


@defjvp(np.append, argnum=0)
def append_jvp_arr(t, ans, arr, values, axis=None):
    return _join([t, None], *_append_layout(arr, values, axis))


@defjvp(np.append, argnum=1)
def append_jvp_values(t, ans, arr, values, axis=None):
    return _join([None, _stacked(t, values)], *_append_layout(arr, values, axis))


@defvjp(np.append, argnum=0)
def append_vjp_arr(g, ans, arr, values, axis=None):
    return _unjoin(g, *_append_layout(arr, values, axis))[0]


@defvjp(np.append, argnum=1)
def append_vjp_values(g, ans, arr, values, axis=None):
    return _listed(_unjoin(g, *_append_layout(arr, values, axis))[1], values)


def _unsplit(g, ans, axis):
    """Cotangent of a split: the pieces' cotangents (zeros for unused ones) joined back."""
    return np.concatenate(_fill(g, ans), axis=axis)


@defjvp(np.split)
def split_jvp(t, ans, ary, indices_or_sections, axis=0):
    return tuple(np.split(t, indices_or_sections, axis=neg_axis(axis, np.ndim(ary))))


@defvjp(np.split)
def split_vjp(g, ans, ary, indices_or_sections, axis=0):
    return _unsplit(g, ans, neg_axis(axis, np.ndim(ary)))


@defjvp(np.array_split)
def array_split_jvp(t, ans, ary, indices_or_sections, axis=0):
    return tuple(np.array_split(t, indices_or_sections, axis=neg_axis(axis, np.ndim(ary))))


@defvjp(np.array_split)
def array_split_vjp(g, ans, ary, indices_or_sections, axis=0):
    return _unsplit(g, ans, neg_axis(axis, np.ndim(ary)))


def _hsplit_axis(ary):
    return 1 - np.ndim(ary) if np.ndim(ary) > 1 else -1


@defjvp(np.hsplit)
def hsplit_jvp(t, ans, ary, indices_or_sections):
    return tuple(np.split(t, indices_or_sections, axis=_hsplit_axis(ary)))


@defvjp(np.hsplit)
def hsplit_vjp(g, ans, ary, indices_or_sections):
    return _unsplit(g, ans, _hsplit_axis(ary))


@defjvp(np.vsplit)
def vsplit_jvp(t, ans, ary, indices_or_sections):
    return tuple(np.split(t, indices_or_sections, axis=-np.ndim(ary)))


@defvjp(np.vsplit)
def vsplit_vjp(g, ans, ary, indices_or_sections):
    return _unsplit(g, ans, -np.ndim(ary))


@defjvp(np.dsplit)
def dsplit_jvp(t, ans, ary, indices_or_sections):
    return tuple(np.split(t, indices_or_sections, axis=2 - np.ndim(ary)))


@defvjp(np.dsplit)
def dsplit_vjp(g, ans, ary, indices_or_sections):
    return _unsplit(g, ans, 2 - np.ndim(ary))


# -- repeating, flipping, rolling, padding -------------------------------------------------------
def _tile_layout(shape, reps):
    reps = tuple(np.atleast_1d(reps))
    d = max(len(reps), len(shape))
    return (1,) * (d - len(shape)) + shape, (1,) * (d - len(reps)) + reps


@defjvp(np.tile)
def tile_jvp(t, ans, A, reps):
    shape, reps = _tile_layout(np.shape(A), reps)
    return np.tile(np.reshape(t, t.shape[:1] + shape), (1,) + reps)


@defvjp(np.tile)
def tile_vjp(g, ans, A, reps):
    # Output axis i holds reps[i] copies of a block of shape[i]: split it as (rep, n), sum reps.
    shape, reps = _tile_layout(np.shape(A), reps)
    split = g.shape[:1] + sum(((r, n) for r, n in zip(reps, shape)), ())
    summed = np.sum(np.reshape(g, split), axis=tuple(range(1, 2 * len(shape), 2)))
    return np.reshape(summed, g.shape[:1] + np.shape(A))


@defjvp(np.repeat)
def repeat_jvp(t, ans, a, repeats, axis=None):
    if axis is None:
        return np.repeat(np.reshape(t, (t.shape[0], -1)), repeats, axis=-1)
    return np.repeat(t, repeats, axis=neg_axis(axis, np.ndim(a)))


@defvjp(np.repeat)
def repeat_vjp(g, ans, a, repeats, axis=None):
    shape = (np.size(a),) if axis is None else np.shape(a)
    ax = -1 if axis is None else neg_axis(axis, len(shape))
    n, p = shape[ax], g.ndim + ax
    if np.size(repeats) == 1:  # equal runs: split the axis as (n, r) and sum the runs
        split = g.shape[:p] + (n, np.ravel(repeats)[0]) + g.shape[p + 1 :]
        summed = np.sum(np.reshape(g, split), axis=p + 1)
    else:
        source = np.repeat(np.arange(n), repeats)
        zeros = np.zeros(g.shape[:p] + (n,) + g.shape[p + 1 :], dtype=g.dtype)
        summed = index_add(zeros, (Ellipsis, source) + (slice(None),) * (-ax - 1), g)
    return np.reshape(summed, g.shape[:1] + np.shape(a))


@defjvp(np.flip)
def flip_jvp(t, ans, m, axis=None):
    return np.flip(t, neg_axis(axis, np.ndim(m)))


@defvjp(np.flip)
def flip_vjp(g, ans, m, axis=None):
    return np.flip(g, neg_axis(axis, np.ndim(m)))


@defjvp(np.fliplr)
def fliplr_jvp(t, ans, m):
    return np.flip(t, 1 - np.ndim(m))


@defvjp(np.fliplr)
def fliplr_vjp(g, ans, m):
    return np.flip(g, 1 - np.ndim(m))


@defjvp(np.flipud)
def flipud_jvp(t, ans, m):
    return np.flip(t, -np.ndim(m))


@defvjp(np.flipud)
def flipud_vjp(g, ans, m):
    return np.flip(g, -np.ndim(m))


def _roll(t, shift, axis, ndim):
    if axis is None:  # numpy rolls the flattened array
        return np.reshape(np.roll(np.reshape(t, (t.shape[0], -1)), shift, axis=-1), t.shape)
    return np.roll(t, shift, axis=neg_axis(axis, ndim))


@defjvp(np.roll)
def roll_jvp(t, ans, a, shift, axis=None):
    return _roll(t, shift, axis, np.ndim(a))


@defvjp(np.roll)
def roll_vjp(g, ans, a, shift, axis=None):
    return _roll(g, np.negative(shift), axis, np.ndim(a))


@defjvp(np.rot90)
def rot90_jvp(t, ans, m, k=1, axes=(0, 1)):
    return np.rot90(t, k, neg_axis(tuple(axes), np.ndim(m)))


@defvjp(np.rot90)
def rot90_vjp(g, ans, m, k=1, axes=(0, 1)):
    return np.rot90(g, -k, neg_axis(tuple(axes), np.ndim(m)))


# np.pad: 'constant' adds constants (its transpose slices); 'edge', 'wrap' and the even
# reflections copy values along each axis (a gather: its transpose adds them back); 'mean',
# 'linear_ramp' and the odd reflections are linear per axis (the transpose is a small matrix).
_PAD_GATHER = ("edge", "wrap", "reflect", "symmetric")
_PAD_LINEAR = ("mean", "linear_ramp", "reflect", "symmetric")


def _pad_pairs(pad_width, ndim):
    """(before, after) per axis, from any form numpy accepts."""
    if isinstance(pad_width, dict):  # {axis: width}; axes not named stay unpadded
        pairs = np.zeros((ndim, 2), dtype=np.intp)
        for axis, width in pad_width.items():
            pairs[axis] = width
        return pairs
    return np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2))


def _pad_mode(args, kwargs):
    """Mode, kind and tangent options: constants and ramp end values do not move tangents."""
    mode = args[0] if args else kwargs.get("mode", "constant")
    options = {k: v for k, v in kwargs.items() if k not in ("mode", "end_values")}
    if mode == "constant":
        return mode, "constant", {}
    if mode in _PAD_GATHER and options.get("reflect_type", "even") == "even":
        return mode, "gather", {}
    if mode in _PAD_LINEAR and set(options) <= {"stat_length", "reflect_type"}:
        return mode, "linear", options
    raise NotImplementedError(
        f"dualdiff differentiates np.pad with mode 'constant', 'edge', 'wrap', 'reflect', "
        f"'symmetric', 'mean' and 'linear_ramp'; mode={mode!r} with options {sorted(kwargs)} "
        "has no rule (it picks values by order, or leaves them undefined)."
    )


def _pad_stat_length(options, ndim):
    """Options for a batched pad: numpy wants a stat_length pair for the batch axis too."""
    length = options.get("stat_length")
    if length is None:
        return options
    return {**options, "stat_length": ((1, 1),) + tuple(map(tuple, _pad_pairs(length, ndim)))}


@defjvp(np.pad)
def pad_jvp(t, ans, array, pad_width, *args, **kwargs):
    mode, kind, options = _pad_mode(args, kwargs)
    ndim = np.ndim(array)
    width = ((0, 0),) + tuple(map(tuple, _pad_pairs(pad_width, ndim)))
    if kind == "constant":
        return np.pad(t, width)
    return np.pad(t, width, mode, **_pad_stat_length(options, ndim))


@defvjp(np.pad)
def pad_vjp(g, ans, array, pad_width, *args, **kwargs):
    mode, kind, options = _pad_mode(args, kwargs)
    shape = np.shape(array)
    pairs = _pad_pairs(pad_width, len(shape))
    if kind == "constant":
        return g[(slice(None),) + tuple(slice(b, b + n) for (b, _), n in zip(pairs, shape))]
    for ax in range(-len(shape), 0):  # numpy pads axis by axis; each axis's map is 1-D
        (before, after), n = pairs[ax], shape[ax]
        if before or after:
            g = _pad_transpose(g, ax, n, (before, after), mode, kind, options)
    return g


def _pad_transpose(g, ax, n, width, mode, kind, options):
    """Transpose of padding the negative axis ``ax`` of ``g`` from length ``n`` by ``width``."""
    if kind == "gather":  # add each padded place back to the place it copies
        source = np.pad(np.arange(n), width, mode)
        p = g.ndim + ax
        zeros = np.zeros(g.shape[:p] + (n,) + g.shape[p + 1 :], dtype=g.dtype)
        return index_add(zeros, _along(ax, source), g)
    if options.get("stat_length") is not None:  # this axis's pair; the other axis is unpadded
        pair = tuple(_pad_pairs(options["stat_length"], g.ndim - 1)[ax])
        options = {**options, "stat_length": (pair, (1, 1))}
    matrix = np.pad(np.eye(n), (width, (0, 0)), mode, **options)  # column i: pad of e_i
    return np.moveaxis(np.matmul(np.moveaxis(g, ax, -1), matrix), -1, ax)


# -- diagonals and triangles ---------------------------------------------------------------------
def _diagonal_index(n1, n2, offset):
    """Rows and columns of the ``offset`` diagonal of an ``n1 x n2`` matrix."""
    rows = np.arange(max(0, -offset), max(0, min(n1, n2 - offset)))
    return rows, rows + offset


def _embed_diagonal(d, shape, offset=0, axis1=0, axis2=1):
    """Transpose of np.diagonal: batched ``d`` (diagonal last) placed in zeros of ``shape``."""
    a1, a2 = neg_axis(axis1, len(shape)), neg_axis(axis2, len(shape))
    rest = tuple(n for i, n in enumerate(shape) if i - len(shape) not in (a1, a2))
    rows, cols = _diagonal_index(shape[a1], shape[a2], offset)
    full = d.shape[:1] + rest + (shape[a1], shape[a2])
    return np.moveaxis(_scatter(full, (Ellipsis, rows, cols), d, False), (-2, -1), (a1, a2))


@defjvp(np.diagonal)
def diagonal_jvp(t, ans, a, offset=0, axis1=0, axis2=1):
    return np.diagonal(t, offset, neg_axis(axis1, np.ndim(a)), neg_axis(axis2, np.ndim(a)))


@defvjp(np.diagonal)
def diagonal_vjp(g, ans, a, offset=0, axis1=0, axis2=1):
    return _embed_diagonal(g, np.shape(a), offset, axis1, axis2)


@defjvp(np.trace)
def trace_jvp(t, ans, a, offset=0, axis1=0, axis2=1, *args, **kwargs):
    return np.trace(t, offset, neg_axis(axis1, np.ndim(a)), neg_axis(axis2, np.ndim(a)))


@defvjp(np.trace)
def trace_vjp(g, ans, a, offset=0, axis1=0, axis2=1, *args, **kwargs):
    shape = np.shape(a)
    a1, a2 = neg_axis(axis1, len(shape)), neg_axis(axis2, len(shape))
    m = _diagonal_index(shape[a1], shape[a2], offset)[0].size
    d = np.broadcast_to(np.expand_dims(g, -1), g.shape + (m,))
    return _embed_diagonal(d, shape, offset, axis1, axis2)


@defjvp(np.diag)
def diag_jvp(t, ans, v, k=0):
    if np.ndim(v) == 1:
        return _embed_diagonal(t, ans.shape, k)
    return np.diagonal(t, k, -2, -1)


@defvjp(np.diag)
def diag_vjp(g, ans, v, k=0):
    if np.ndim(v) == 1:
        return np.diagonal(g, k, -2, -1)
    return _embed_diagonal(g, np.shape(v), k)


@defjvp(np.diagflat)
def diagflat_jvp(t, ans, v, k=0):
    return _embed_diagonal(np.reshape(t, (t.shape[0], -1)), ans.shape, k)


@defvjp(np.diagflat)
def diagflat_vjp(g, ans, v, k=0):
    return np.reshape(np.diagonal(g, k, -2, -1), g.shape[:1] + np.shape(v))


def _as_square(t, m):
    """np.triu and np.tril read a vector as every row of a square matrix."""
    if np.ndim(m) != 1:
        return t
    n = np.shape(m)[0]
    return np.broadcast_to(np.expand_dims(t, -2), t.shape[:1] + (n, n))


@defjvp(np.triu)
def triu_jvp(t, ans, m, k=0):
    return np.triu(_as_square(t, m), k)


@defvjp(np.triu)
def triu_vjp(g, ans, m, k=0):
    g = np.triu(g, k)  # selects with where, so masked-out infinities never reach a product
    return np.sum(g, axis=-2) if np.ndim(m) == 1 else g


@defjvp(np.tril)
def tril_jvp(t, ans, m, k=0):
    return np.tril(_as_square(t, m), k)


@defvjp(np.tril)
def tril_vjp(g, ans, m, k=0):
    g = np.tril(g, k)
    return np.sum(g, axis=-2) if np.ndim(m) == 1 else g


# -- selection -----------------------------------------------------------------------------------
# np.where must not multiply the unselected branch's derivative (possibly inf) by zero:
# it selects tangents and cotangents with where, never with a 0/1 mask product.
@defjvp(np.where, argnum=0)
def where_jvp_cond(t, ans, cond, *args):
    # A condition only selects, and np.where(cond) alone returns indices: no derivative.
    return tuple(None for _ in ans) if type(ans) is tuple else None


@defvjp(np.where, argnum=0)
def where_vjp_cond(g, ans, cond, *args):
    return None


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


def _first_true(condlist, shape):
    """Per element, the index of the first true condition (``len(condlist)`` if none is)."""
    which = np.full(shape, len(condlist))
    for i in reversed(range(len(condlist))):
        which = np.where(condlist[i], i, which)
    return which


@defjvp(np.select, argnum=1)
def select_jvp_choices(t, ans, condlist, choicelist, default=0):
    which = _first_true(condlist, ans.shape)
    out = 0.0
    for i, ti in enumerate(t):
        if ti is not None:
            out = np.where(which == i, align(ti, ans.ndim), out)
    return out


@defvjp(np.select, argnum=1)
def select_vjp_choices(g, ans, condlist, choicelist, default=0):
    which = _first_true(condlist, ans.shape)
    return [np.where(which == i, g, 0.0) for i in range(len(choicelist))]


@defjvp(np.select, argnum=2)
def select_jvp_default(t, ans, condlist, choicelist, default=0):
    return np.where(_first_true(condlist, ans.shape) == len(condlist), align(t, ans.ndim), 0.0)


@defvjp(np.select, argnum=2)
def select_vjp_default(g, ans, condlist, choicelist, default=0):
    return np.where(_first_true(condlist, ans.shape) == len(condlist), g, 0.0)


def _clip_masks(a, a_min, a_max, kwargs):
    """Where clip returns ``a``, the lower bound, and the upper bound (numpy applies max last)."""
    lo, hi = kwargs.get("min", a_min), kwargs.get("max", a_max)
    above = np.zeros((), dtype=bool) if hi is None else a > hi
    if lo is not None and hi is not None:
        above = above | (lo > hi)
    below = np.zeros((), dtype=bool) if lo is None else (lo > a) & ~above
    return ~(above | below), below, above


@defjvp(np.clip, argnum=0)
def clip_jvp_a(t, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[0], align(t, ans.ndim), 0.0)


@defjvp(np.clip, argnum=1)
def clip_jvp_min(t, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[1], align(t, ans.ndim), 0.0)


@defjvp(np.clip, argnum=2)
def clip_jvp_max(t, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[2], align(t, ans.ndim), 0.0)


@defvjp(np.clip, argnum=0)
def clip_vjp_a(g, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[0], g, 0.0)


@defvjp(np.clip, argnum=1)
def clip_vjp_min(g, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[1], g, 0.0)


@defvjp(np.clip, argnum=2)
def clip_vjp_max(g, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[2], g, 0.0)


# -- gathers: take, take_along_axis, sort, delete, compress, extract, resize -----------------
def _axis_layout(a, axis):
    """Shape the op works on (flattened for axis=None) and its negative axis."""
    shape = (np.size(a),) if axis is None else np.shape(a)
    return shape, -1 if axis is None else neg_axis(axis, len(shape))


def _flat_if(t, axis):
    return np.reshape(t, (t.shape[0], -1)) if axis is None else t


def _along(ax, index):
    """Index applying ``index`` to the negative axis ``ax`` of a batched array."""
    return (Ellipsis, index) + (slice(None),) * (-ax - 1)


def _take_indices(indices, n, mode):
    if mode == "wrap":
        return np.mod(indices, n)
    if mode == "clip":
        return np.clip(indices, 0, n - 1)
    return indices


@defjvp(np.take)
def take_jvp(t, ans, a, indices, axis=None, out=None, mode="raise"):
    ax = _axis_layout(a, axis)[1]
    return np.take(_flat_if(t, axis), indices, axis=ax, mode=mode)


@defvjp(np.take)
def take_vjp(g, ans, a, indices, axis=None, out=None, mode="raise"):
    shape, ax = _axis_layout(a, axis)
    index = _take_indices(indices, shape[ax], mode)
    flat = np.mod(np.ravel(index), shape[ax])
    out = _scatter(g.shape[:1] + shape, _along(ax, index), g, flat.size != np.unique(flat).size)
    return np.reshape(out, g.shape[:1] + np.shape(a))


def _along_axis_index(shape, indices, ax):
    """numpy's fancy index for take_along_axis on ``shape`` (negative ``ax``)."""
    nd = len(shape)
    full = []
    for d, n in enumerate(shape):
        if d == nd + ax:
            full.append(indices)
        else:
            full.append(np.arange(n).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1)))
    return tuple(full)


@defjvp(np.take_along_axis)
def take_along_axis_jvp(t, ans, arr, indices, axis=-1):
    ax = _axis_layout(arr, axis)[1]
    return np.take_along_axis(_flat_if(t, axis), np.expand_dims(indices, 0), axis=ax)


@defvjp(np.take_along_axis)
def take_along_axis_vjp(g, ans, arr, indices, axis=-1):
    shape, ax = _axis_layout(arr, axis)
    index = _along_axis_index(shape, indices, ax)
    out = _scatter(g.shape[:1] + shape, _batched_index(index), g, _has_repeats(index, shape))
    return np.reshape(out, g.shape[:1] + np.shape(arr))


def _sort_perm(a, axis):
    return np.argsort(a, axis=axis)  # ties hold equal values, so any sorting order serves


@defjvp(np.sort)
def sort_jvp(t, ans, a, axis=-1, *args, **kwargs):
    ax = _axis_layout(a, axis)[1]
    perm = _sort_perm(a, axis)
    return np.take_along_axis(_flat_if(t, axis), np.expand_dims(perm, 0), axis=ax)


@defvjp(np.sort)
def sort_vjp(g, ans, a, axis=-1, *args, **kwargs):
    ax = _axis_layout(a, axis)[1]
    inverse = np.argsort(_sort_perm(a, axis), axis=ax)
    out = np.take_along_axis(g, np.expand_dims(inverse, 0), axis=ax)
    return np.reshape(out, g.shape[:1] + np.shape(a))


def _gather_jvp(t, a, axis, keep):
    """Take the positions ``keep`` along ``axis`` of ``a`` (flattened for None) from ``t``."""
    return _flat_if(t, axis)[_along(_axis_layout(a, axis)[1], keep)]


def _gather_vjp(g, a, axis, keep):
    """Transpose of taking the distinct positions ``keep`` along ``axis`` of ``a``."""
    shape, ax = _axis_layout(a, axis)
    out = _scatter(g.shape[:1] + shape, _along(ax, keep), g, False)
    return np.reshape(out, g.shape[:1] + np.shape(a))


def _delete_keep(arr, obj, axis):
    shape, ax = _axis_layout(arr, axis)
    return np.delete(np.arange(shape[ax]), obj)


@defjvp(np.delete)
def delete_jvp(t, ans, arr, obj, axis=None):
    return _gather_jvp(t, arr, axis, _delete_keep(arr, obj, axis))


@defvjp(np.delete)
def delete_vjp(g, ans, arr, obj, axis=None):
    return _gather_vjp(g, arr, axis, _delete_keep(arr, obj, axis))


@defjvp(np.compress, argnum=1)
def compress_jvp(t, ans, condition, a, axis=None, out=None):
    return _gather_jvp(t, a, axis, np.flatnonzero(condition))


@defvjp(np.compress, argnum=1)
def compress_vjp(g, ans, condition, a, axis=None, out=None):
    return _gather_vjp(g, a, axis, np.flatnonzero(condition))


@defjvp(np.extract, argnum=1)
def extract_jvp(t, ans, condition, arr):
    return _gather_jvp(t, arr, None, np.flatnonzero(condition))


@defvjp(np.extract, argnum=1)
def extract_vjp(g, ans, condition, arr):
    return _gather_vjp(g, arr, None, np.flatnonzero(condition))


@defjvp(np.resize)
def resize_jvp(t, ans, a, new_shape):
    if np.size(a) == 0:  # NumPy fills the new shape with zeros: a constant
        return np.zeros(t.shape[:1] + np.shape(ans), dtype=t.dtype)
    return _gather_flat(t, np.resize(np.arange(np.size(a)), new_shape))


@defvjp(np.resize)
def resize_vjp(g, ans, a, new_shape):
    if np.size(a) == 0:
        return np.zeros(g.shape[:1] + np.shape(a), dtype=g.dtype)
    source = np.resize(np.arange(np.size(a)), new_shape)  # cycles through a: repeats
    flat = index_add(
        np.zeros(g.shape[:1] + (np.size(a),), dtype=g.dtype),
        (slice(None), np.ravel(source)),
        np.reshape(g, (g.shape[0], -1)),
    )
    return np.reshape(flat, g.shape[:1] + np.shape(a))
