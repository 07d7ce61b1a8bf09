"""Shape and indexing ops: linear maps of their array arguments, both modes side by side.

Every rule here moves, copies, selects or sums values. Where the op itself maps the batched
tangent, it is declared with ``deflinear`` (only the VJP, its transpose, is written),
``defpermutation`` (the transpose is the inverse op) or ``defalias`` (the op is another with
fixed arguments: fliplr is flip along axis 1); ``defselfadjoint`` gives one rule to both modes
(masks, the identity). Transposes slice for padding, sum for repeats and scatter for gathers.
Rules address primal axes with negative numbers (``neg_axis``) so that the same call serves
the primal and a tangent with its leading batch axis. Writes go into fresh zero arrays only; a
traced cotangent (higher order) is written functionally.
"""

from functools import partial

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
from dualdiff._registry import (
    defalias,
    defconstant,
    defjvp,
    deflinear,
    defpermutation,
    defselfadjoint,
    defvjp,
)
from dualdiff._tracer import Tracer, getitem, primitive, setitem

# Queries about a value's layout or order: they carry no derivative.
defconstant(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero)
defconstant(np.argwhere, np.flatnonzero, np.searchsorted, np.count_nonzero, np.argpartition)


def _identity(t, ans, *args, **kwargs):
    return t


def _reshaped_like_answer(t, ans, *args, **kwargs):
    return np.reshape(t, t.shape[:1] + ans.shape)


def _reshaped_like_input(g, ans, x, *args, **kwargs):
    return np.reshape(g, g.shape[:1] + np.shape(x))


# -- index bookkeeping ---------------------------------------------------------------------------
def _batched_index(idx):
    """Index for a batched array: keep the batch axis, then apply ``idx`` to the primal axes."""
    if type(idx) is not tuple:
        idx = (idx,)
    for i in idx:  # a loop with `is`: `Ellipsis in idx` would compare arrays with ==
        if i is Ellipsis:
            return (slice(None),) + idx
    return (slice(None),) + idx + (Ellipsis,)


def _is_index_array(i):
    return type(i) is list or isinstance(i, np.ndarray)


def _has_array(idx):
    if type(idx) is tuple:
        return any(_is_index_array(i) for i in idx)
    return _is_index_array(idx)


def _front(idx):
    """Rank of the advanced index when its parts are separated (``x[[0, 1], :, 0]``), else 0.

    NumPy moves the axes of separated advanced indices to the front of the result, ahead of
    the batch axis of a batched array; adjacent ones stay in place, behind it.
    """
    if not _has_array(idx):
        return 0
    items = idx if type(idx) is tuple else (idx,)
    where = [
        p for p, i in enumerate(items)
        if _is_index_array(i) or isinstance(i, int | np.integer) and not isinstance(i, bool)
    ]  # fmt: skip
    if where[-1] - where[0] == len(where) - 1:
        return 0
    shapes = []
    for i in items:
        if _is_index_array(i):
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
    """Whether an integer array in ``idx`` reaches some element of ``shape`` twice."""
    items = idx if type(idx) is tuple else (idx,)
    if not any(_is_index_array(i) and np.asarray(i).dtype != bool for i in items):
        return False  # slices, integers and masks reach each element at most once
    picked = 0  # the C-order position of each element x[idx] reads, one axis at a time
    for d, n in enumerate(shape):  # (indexing broadcast views: no array of x's size is made)
        ids = np.arange(n).reshape((n,) + (1,) * (len(shape) - d - 1))
        picked = picked * n + np.broadcast_to(ids, shape)[idx]
    return np.size(picked) != np.unique(picked).size


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
    if _front(idx) == 0:
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
defselfadjoint(index_add, _identity)


def setitem_x(t, ans, x, idx, v):  # the places written lose x's derivative
    return setitem(t, _batched_index(idx), 0.0)


defselfadjoint(setitem, setitem_x)


def _last_writes(shape, idx):
    """Mask over ``x[idx]``: True where that write is the one that stays in ``x``."""
    target = _indexed_shape(shape, idx)
    ids = np.arange(np.prod(target, dtype=np.intp)).reshape(target)
    board = np.full(shape, -1, dtype=np.intp)
    board[idx] = ids
    return board[idx] == ids


# setitem and index_add write (or add) a value v at x[idx]: linear in v, with the same layout.
def _write_jvp(op, t, ans, x, idx, v):
    t = _stacked(t, v)  # y[:2] = [a, b] lists traced values
    out = np.zeros(t.shape[:1] + ans.shape, dtype=t.dtype)
    return op(out, _batched_index(idx), _value_layout(t, ans.shape, idx))


def _write_vjp(op, g, ans, x, idx, v):
    r = _batch_first(g[_batched_index(idx)], idx)
    if op is setitem and _has_repeats(idx, x.shape):  # a place written twice keeps its last
        r = np.where(_last_writes(x.shape, idx), r, 0.0)
    return _listed(_sum_to(r, _nested_shape(v)), v)


for _op in (setitem, index_add):
    defjvp(_op, argnum=2)(partial(_write_jvp, _op))
    defvjp(_op, argnum=2)(partial(_write_vjp, _op))


# -- reshaping and moving axes -------------------------------------------------------------------
def _layout_ids(x, order, shape):
    """C-order positions in ``x`` of the elements of ``reshape(x, shape, order)``."""
    ids = np.empty_like(x, dtype=np.intp)  # keeps x's memory layout, which orders "A" and "K" read
    ids[...] = np.arange(ids.size).reshape(ids.shape)
    if len(shape) == 1:  # ravel's order "K" has no reshape of its own
        return np.ravel(ids, order=order)
    return np.reshape(ids, shape, order=order)


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


defalias(np.ravel, np.reshape, lambda a, order="C": ((a, -1, order), {}))


# expand_dims, squeeze and the atleast_nd family only insert or drop unit axes: a reshape.
for _fn in (np.expand_dims, np.squeeze):
    defjvp(_fn)(_reshaped_like_answer)
    defvjp(_fn)(_reshaped_like_input)


def _batched_permutation(axes, ndim):
    """np.transpose's ``axes`` for the batched array: the batch axis stays in front."""
    if axes is None:
        return (0,) + tuple(range(ndim, 0, -1))
    return (0,) + tuple(a % ndim + 1 for a in axes)


def _transpose_inverse(a, axes=None):
    """Reversing the axes is its own inverse; a permutation's inverse is its argsort."""
    return {"axes": None if axes is None else tuple(np.argsort(np.mod(axes, len(axes))))}


def _rollaxis_as_moveaxis(a, axis, start=0):
    """np.rollaxis is np.moveaxis to the place before ``start``, counted without the axis."""
    n = np.ndim(a)
    axis, start = axis % n, start + n if start < 0 else start
    return (a, axis, start - 1 if axis < start else start), {}


defpermutation(np.transpose, _transpose_inverse, axes={"axes": _batched_permutation})
defpermutation(np.swapaxes, axes=("axis1", "axis2"))
defpermutation(
    np.moveaxis,
    lambda a, source, destination: {"source": destination, "destination": source},
    axes=("source", "destination"),
)
defalias(np.rollaxis, np.moveaxis, _rollaxis_as_moveaxis)


@defjvp(np.atleast_1d, argnum=...)
def atleast_jvp(argnum, t, ans, *arys):
    if len(arys) == 1:
        return np.reshape(t, t.shape[:1] + ans.shape)
    return tuple(
        np.reshape(t, t.shape[:1] + a.shape) if j == argnum else None for j, a in enumerate(ans)
    )


@defvjp(np.atleast_1d, argnum=...)
def atleast_vjp(argnum, g, ans, *arys):
    g = g if len(arys) == 1 else g[argnum]
    return None if g is None else np.reshape(g, g.shape[:1] + np.shape(arys[argnum]))


for _fn in (np.atleast_2d, np.atleast_3d):
    defjvp(_fn, argnum=...)(atleast_jvp)
    defvjp(_fn, argnum=...)(atleast_vjp)


@defjvp(np.broadcast_to)
def broadcast_to_jvp(t, ans, x, shape, **kwargs):
    return np.broadcast_to(align(t, ans.ndim), t.shape[:1] + ans.shape)


@defvjp(np.broadcast_to)
def broadcast_to_vjp(g, ans, x, shape, **kwargs):
    return unbroadcast(g, np.shape(x))


@defjvp(np.broadcast_arrays, argnum=...)
def broadcast_arrays_jvp(argnum, t, ans, *args, **kwargs):
    return tuple(
        np.broadcast_to(align(t, a.ndim), t.shape[:1] + a.shape) if j == argnum else None
        for j, a in enumerate(ans)
    )


@defvjp(np.broadcast_arrays, argnum=...)
def broadcast_arrays_vjp(argnum, g, ans, *args, **kwargs):
    return g[argnum]  # the engine sums it back to the argument's shape


defselfadjoint(np.copy, _identity)


# -- joining and splitting -----------------------------------------------------------------------
def _nested_shape(a):
    """np.shape that also reads a list of traced values, which np.shape cannot convert."""
    if (type(a) is list or type(a) is tuple) and a:
        return (len(a),) + _nested_shape(a[0])
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
    return [
        np.zeros(k + _nested_shape(a), dtype=dtype) if t is None else t for t, a in zip(ts, arrays)
    ]


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
        out.append(np.reshape(piece, g.shape[:1] + _nested_shape(a)))
        start = stop
    if type(arrays) is not list and type(arrays) is not tuple:  # one array: stack its rows
        return np.stack(out, axis=1)
    return out


# Each join places its members by a layout: (member shapes with unit axes added, negative axis).
def _concatenate_layout(arrays, axis=0, *args, **kwargs):
    if axis is None:
        return [(int(np.prod(_nested_shape(a))),) for a in arrays], -1
    shapes = [_nested_shape(a) for a in arrays]
    return shapes, neg_axis(axis, len(shapes[0]))


def _stack_layout(arrays, axis=0, *args, **kwargs):
    shape = _nested_shape(arrays[0])
    ax = neg_axis(axis, len(shape) + 1)
    p = len(shape) + 1 + ax
    return [shape[:p] + (1,) + shape[p:]] * len(arrays), ax


def _stacking_layout(ndim, where, axis, tup, **kwargs):
    """hstack & co: members promoted to ``ndim`` axes (``where`` the original axes go; a vector
    in three is ``(1, n, 1)``), joined along ``axis``, or the last axis when there are fewer."""
    shapes = []
    for shape in map(_nested_shape, tup):
        if len(shape) == 1 and ndim == 3:
            shape = (1,) + shape + (1,)
        elif len(shape) < ndim:
            pad = (1,) * (ndim - len(shape))
            shape = shape + pad if where == "front" else pad + shape
        shapes.append(shape)
    n = len(shapes[0])
    return shapes, min(axis, n - 1) - n


def _join_jvp(layout, t, ans, arrays, *args, **kwargs):
    return _join(t, arrays, *layout(arrays, *args, **kwargs))


def _join_vjp(layout, g, ans, arrays, *args, **kwargs):
    return _unjoin(g, arrays, *layout(arrays, *args, **kwargs))


for _fn, _layout in (
    (np.concatenate, _concatenate_layout),
    (np.stack, _stack_layout),
    (np.hstack, partial(_stacking_layout, 1, "back", 1)),
    (np.vstack, partial(_stacking_layout, 2, "back", 0)),
    (np.dstack, partial(_stacking_layout, 3, "front", 2)),
    (np.column_stack, partial(_stacking_layout, 2, "front", 1)),  # a vector becomes a column
):
    defjvp(_fn)(partial(_join_jvp, _layout))
    defvjp(_fn)(partial(_join_vjp, _layout))


def _append_jvp(argnum, t, ans, arr, values, axis=None):
    pair, ts = (arr, values), [None, None]
    ts[argnum] = _stacked(t, pair[argnum])
    return _join(ts, pair, *_concatenate_layout(pair, axis))


def _append_vjp(argnum, g, ans, arr, values, axis=None):
    pair = (arr, values)
    return _listed(_unjoin(g, pair, *_concatenate_layout(pair, axis))[argnum], pair[argnum])


for _argnum in range(2):  # np.append(arr, values) is the concatenation of the pair
    defjvp(np.append, argnum=_argnum)(partial(_append_jvp, _argnum))
    defvjp(np.append, argnum=_argnum)(partial(_append_vjp, _argnum))


def split_vjp(g, ans, ary, indices_or_sections, axis=0):
    """The pieces' cotangents (zeros for unused pieces) joined back."""
    return np.concatenate(_fill(g, ans), axis=neg_axis(axis, np.ndim(ary)))


deflinear(np.split, split_vjp)
deflinear(np.array_split, split_vjp)
defalias(np.hsplit, np.split, lambda ary, s: ((ary, s, 1 if np.ndim(ary) > 1 else 0), {}))
defalias(np.vsplit, np.split, lambda ary, s: ((ary, s, 0), {}))
defalias(np.dsplit, np.split, lambda ary, s: ((ary, s, 2), {}))


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
    return np.repeat(_flat_if(t, axis), repeats, axis=_axis_layout(a, axis)[1])


@defvjp(np.repeat)
def repeat_vjp(g, ans, a, repeats, axis=None):
    shape, ax = _axis_layout(a, axis)
    n, p = shape[ax], g.ndim + ax
    if np.size(repeats) == 1:  # equal runs: split the axis as (n, r) and sum the runs
        split = g.shape[:p] + (n, np.ravel(repeats)[0]) + g.shape[p + 1 :]
        summed = np.sum(np.reshape(g, split), axis=p + 1)
    else:
        zeros = np.zeros(g.shape[:p] + (n,) + g.shape[p + 1 :], dtype=g.dtype)
        summed = index_add(zeros, _along(ax, np.repeat(np.arange(n), repeats)), g)
    return np.reshape(summed, g.shape[:1] + np.shape(a))


defpermutation(np.flip)
defalias(np.fliplr, np.flip, lambda m: ((m, 1), {}))
defalias(np.flipud, np.flip, lambda m: ((m, 0), {}))
defpermutation(np.rot90, lambda m, k=1, axes=(0, 1): {"k": -k}, axes=("axes",))


def _roll(t, shift, axis):
    if axis is None:  # numpy rolls the flattened array
        return np.reshape(np.roll(np.reshape(t, (t.shape[0], -1)), shift, axis=-1), t.shape)
    return np.roll(t, shift, axis=neg_axis(axis, t.ndim - 1))


@defjvp(np.roll)
def roll_jvp(t, ans, a, shift, axis=None):
    return _roll(t, shift, axis)


@defvjp(np.roll)
def roll_vjp(g, ans, a, shift, axis=None):
    return _roll(g, np.negative(shift), axis)


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
    return np.pad(t, width, mode, **_pad_stat_length(options, ndim))  # constants pad zeros


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


def diagonal_vjp(g, ans, a, offset=0, axis1=0, axis2=1):
    return _embed_diagonal(g, np.shape(a), offset, axis1, axis2)


def trace_vjp(g, ans, a, offset=0, axis1=0, axis2=1, *args, **kwargs):
    shape = np.shape(a)
    n = _diagonal_index(shape[axis1], shape[axis2], offset)[0].size
    d = np.broadcast_to(np.expand_dims(g, -1), g.shape + (n,))
    return _embed_diagonal(d, shape, offset, axis1, axis2)


deflinear(np.diagonal, diagonal_vjp, axes=("axis1", "axis2"))
deflinear(np.trace, trace_vjp, axes=("axis1", "axis2"))


def _diag_jvp(flat, t, ans, v, k=0):
    """np.diag of a matrix takes a diagonal; of a vector, as np.diagflat of any array, embeds."""
    if np.ndim(v) == 2 and not flat:
        return np.diagonal(t, k, -2, -1)
    return _embed_diagonal(np.reshape(t, (t.shape[0], -1)), ans.shape, k)


def _diag_vjp(flat, g, ans, v, k=0):
    if np.ndim(v) == 2 and not flat:
        return _embed_diagonal(g, np.shape(v), k)
    return np.reshape(np.diagonal(g, k, -2, -1), g.shape[:1] + np.shape(v))


for _fn, _flat in ((np.diag, False), (np.diagflat, True)):
    defjvp(_fn)(partial(_diag_jvp, _flat))
    defvjp(_fn)(partial(_diag_vjp, _flat))


def _triangle_jvp(op, t, ans, m, k=0):
    if np.ndim(m) == 1:  # np.triu and np.tril read a vector as every row of a square matrix
        t = np.broadcast_to(np.expand_dims(t, -2), t.shape[:1] + ans.shape)
    return op(t, k)


def _triangle_vjp(op, g, ans, m, k=0):
    g = op(g, k)  # selects with where, so masked-out infinities never reach a product
    return np.sum(g, axis=-2) if np.ndim(m) == 1 else g


for _fn in (np.triu, np.tril):
    defjvp(_fn)(partial(_triangle_jvp, _fn))
    defvjp(_fn)(partial(_triangle_vjp, _fn))


# -- selection -----------------------------------------------------------------------------------
# np.where must not multiply the unselected branch's derivative (possibly inf) by zero: its
# rules, and those of select and clip, pick with where, never with a 0/1 mask product. A mask
# is its own transpose: one rule serves both modes (align is a no-op on a cotangent).
@defjvp(np.where, argnum=0)
def where_jvp_cond(t, ans, cond, *args):
    # A condition only selects, and np.where(cond) alone returns indices: no derivative.
    return tuple(None for _ in ans) if type(ans) is tuple else None


@defvjp(np.where, argnum=0)
def where_vjp_cond(g, ans, cond, *args):
    return None


def where_x(t, ans, cond, x, y):
    return np.where(cond, align(t, ans.ndim), 0.0)


def where_y(t, ans, cond, x, y):
    return np.where(cond, 0.0, align(t, ans.ndim))


defselfadjoint(np.where, where_x, argnum=1)
defselfadjoint(np.where, where_y, argnum=2)


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


def select_default(t, ans, condlist, choicelist, default=0):
    return np.where(_first_true(condlist, ans.shape) == len(condlist), align(t, ans.ndim), 0.0)


defselfadjoint(np.select, select_default, argnum=2)


def _clip_masks(a, a_min, a_max, kwargs):
    """Where clip returns ``a``, the lower bound, and the upper bound (numpy applies max last)."""
    lo, hi = kwargs.get("min", a_min), kwargs.get("max", a_max)
    above = np.zeros((), dtype=bool) if hi is None else a > hi
    if lo is not None and hi is not None:
        above = above | (lo > hi)
    below = np.zeros((), dtype=bool) if lo is None else (lo > a) & ~above
    return ~(above | below), below, above


def _clip_part(argnum, t, ans, a, a_min=None, a_max=None, out=None, **kwargs):
    """Where clip returns argument ``argnum`` (``a``, the lower or the upper bound)."""
    return np.where(_clip_masks(a, a_min, a_max, kwargs)[argnum], align(t, ans.ndim), 0.0)


for _argnum in range(3):
    defselfadjoint(np.clip, partial(_clip_part, _argnum), argnum=_argnum)


# -- gathers: take, take_along_axis, sort, delete, compress, extract, resize ---------------------
def _axis_layout(a, axis):
    """Shape the op works on (flattened for axis=None) and its negative axis."""
    shape = (np.size(a),) if axis is None else np.shape(a)
    return shape, -1 if axis is None else neg_axis(axis, len(shape))


def _flat_if(t, axis):
    return np.reshape(t, (t.shape[0], -1)) if axis is None else t


def _along(ax, index):
    """Index applying ``index`` to the negative axis ``ax`` of a batched array."""
    return (Ellipsis, index) + (slice(None),) * (-ax - 1)


# A gather picks elements of one argument (flattened for axis=None) by an index into its shape:
# the JVP gathers from the tangent, the VJP scatters back, adding where the index repeats.
def _gather_jvp(where, t, ans, *args, **kwargs):
    a, axis, index = where(*args, **kwargs)
    return _flat_if(t, axis)[_batched_index(index)]  # adjacent advanced indices: batch in front


def _gather_vjp(where, g, ans, *args, **kwargs):
    a, axis, index = where(*args, **kwargs)
    shape = _axis_layout(a, axis)[0]
    out = _scatter(g.shape[:1] + shape, _batched_index(index), g, _has_repeats(index, shape))
    return np.reshape(out, g.shape[:1] + np.shape(a))


def _along_axis_index(shape, indices, ax):
    """numpy's fancy index for take_along_axis on ``shape`` (negative ``ax``)."""
    nd = len(shape)
    return tuple(
        indices if d == nd + ax else np.arange(n).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1))
        for d, n in enumerate(shape)
    )


def _take_index(a, indices, axis=None, out=None, mode="raise"):
    shape, ax = _axis_layout(a, axis)
    return a, axis, _along(ax, np.take(np.arange(shape[ax]), indices, mode=mode))


def _take_along_axis_index(arr, indices, axis=-1):
    shape, ax = _axis_layout(arr, axis)
    return arr, axis, _along_axis_index(shape, indices, ax)


def _sort_index(a, axis=-1, *args, **kwargs):
    shape, ax = _axis_layout(a, axis)  # ties hold equal values, so any sorting order serves
    return a, axis, _along_axis_index(shape, np.argsort(a, axis=axis), ax)


def _delete_index(arr, obj, axis=None):
    shape, ax = _axis_layout(arr, axis)
    return arr, axis, _along(ax, np.delete(np.arange(shape[ax]), obj))


def _compress_index(condition, a, axis=None, out=None):
    return a, axis, _along(_axis_layout(a, axis)[1], np.flatnonzero(condition))


def _extract_index(condition, arr):
    return arr, None, _along(-1, np.flatnonzero(condition))


for _fn, _argnum, _where in (
    (np.take, 0, _take_index),
    (np.take_along_axis, 0, _take_along_axis_index),
    (np.sort, 0, _sort_index),
    (np.delete, 0, _delete_index),
    (np.compress, 1, _compress_index),
    (np.extract, 1, _extract_index),
):
    defjvp(_fn, argnum=_argnum)(partial(_gather_jvp, _where))
    defvjp(_fn, argnum=_argnum)(partial(_gather_vjp, _where))


@defjvp(np.resize)
def resize_jvp(t, ans, a, new_shape):
    if np.size(a) == 0:  # NumPy fills the new shape with zeros: a constant
        return np.zeros(t.shape[:1] + np.shape(ans), dtype=t.dtype)
    return _gather_flat(t, np.resize(np.arange(np.size(a)), new_shape))


@defvjp(np.resize)
def resize_vjp(g, ans, a, new_shape):
    if np.size(a) == 0:
        return np.zeros(g.shape[:1] + np.shape(a), dtype=g.dtype)
    source = np.ravel(np.resize(np.arange(np.size(a)), new_shape))  # cycles through a: repeats
    flat = np.reshape(g, (g.shape[0], -1))
    out = _scatter(flat.shape[:1] + (np.size(a),), (slice(None), source), flat, True)
    return np.reshape(out, g.shape[:1] + np.shape(a))
