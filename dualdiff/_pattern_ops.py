"""How each op of the rule table propagates dependency structure (see ``dualdiff._pattern``).

Structural (exact up to the values being structurally nonzero):

- elementwise ufuncs, ``where``, ``select``, ``clip``, ``sinc``, ``i0``, ``polygamma``,
  ``spherical_jn``: union of the inputs' rows after broadcasting (a constant zero factor of
  ``multiply`` drops its rows);
- data movement (indexing, item assignment, reshapes, transposes, joins, splits, ``pad`` with a
  constant or gathering mode, ``flip``, ``roll``, ``take``, ``repeat``, ``tile``, ``diag``,
  ``diagonal``, ``triu``, ``tril``, ``delete``, ``compress``, ...): the op itself runs on an
  array of row ids and the rows are gathered; places the op fills with zeros get no rows;
- reductions along axes (``sum``, ``mean``, ``prod``, ``max``, ``var``, ``median``,
  ``quantile``, ``average``, ``trapezoid``, norms, ``logsumexp``, ``trace``, ...): OR of the
  rows of each reduced group; ``sort``, ``softmax``, ``log_softmax``: OR over each lane;
  cumulative sums and products: OR over each prefix; ``diff`` and ``ediff1d``: OR of
  neighbours;
- contractions (``matmul``, ``dot``, ``inner``, ``vdot``, ``tensordot``, ``vecdot``, ``outer``,
  ``kron``, ``multi_dot``, ``einsum`` without ``...`` or repeated letters): products with the
  nonzero structure of a constant operand; with both operands traced, each output element
  depends on the rows and columns it contracts;
- one-input matrix functions (``det``, ``inv``, ``eigh``, ``svd``, ``qr``, ``cholesky``, ...):
  each matrix of a stack depends on itself only (dense within the matrix).

Indices computed from traced values (``Derived`` arrays, see ``dualdiff._pattern``): data moved
by one first takes the OR of its rows along the axes the index addresses (so any choice of index
gives the same rows), and an item assignment at one adds every row of the assigned value to
every element; when such an index also sets the output's shape (a mask, ``nonzero``, sizes),
the trace is marked pointwise.

Conservative fallback (every output element depends on every input element that any traced
argument depends on): ``solve``, ``lstsq``, ``cross``, ``pad`` with ``mean``/``linear_ramp``,
traced weights of ``average``/``trapezoid``/``logsumexp``, batched contractions and ``einsum``
larger than 2**25 products, ``einsum`` with ``...`` or repeated letters, and every op
registered by users (``dd.primitive``).
"""

import functools
import inspect

import numpy as np
import scipy.sparse as sp

from dualdiff._pattern import (
    HANDLERS,
    Derived,
    Pattern,
    broadcast_rows,
    derived_origin,
    fallback,
    gather,
    has_derived,
    is_inexact,
    layout,
    normalize_axes,
    plain,
    reduce_rows,
    select_rows,
    strip_derived,
    traced_patterns,
    union,
    wrap_outputs,
)
from dualdiff._tracer import astype, getitem, setitem
from dualdiff.rules.numpy_extra import like, nan_to_num
from dualdiff.rules.reductions import pad_zeros
from dualdiff.rules.shape import index_add, scatter
from dualdiff.scipy import special as dsp

FULL_LIMIT = 2**25  # products a re-expressed contraction may form before falling back


def _register(handler, *fns):
    for fn in fns:
        if fn is not None:
            HANDLERS[fn] = handler


def defpattern(fn):
    """Declare the dependency structure of ``fn`` (a primitive of its own, such as ``nn``'s) by
    a re-expression in ops the pattern tracer knows: the decorated rule takes ``fn``'s
    arguments, the traced ones as patterns, and returns an expression with ``fn``'s
    dependencies (and second-order pairs)."""

    def declare(rule):
        def handler(tr, fn, impl, vals, traced, kwargs):
            return _like(tr, impl(*vals, **kwargs), rule(*_operands(vals, traced), **kwargs))

        _register(handler, fn)
        return rule

    return declare


def defdense(fn):
    """Declare ``fn``'s outputs dependent on everything its traced arguments depend on (the
    conservative pattern, for an op with no structure to exploit)."""
    _register(fallback, fn)
    return fn


def _np(*names):
    """NumPy functions by dotted name; None where this NumPy version lacks one."""
    out = []
    for name in names:
        obj = np
        for part in name.split("."):
            obj = getattr(obj, part, None)
        out.append(obj)
    return out


@functools.cache
def _signature(fn):
    return inspect.signature(fn)


def _bound(fn, vals, kwargs):
    """Arguments of a call by name, defaults filled in."""
    bound = _signature(fn).bind(*vals, **kwargs)
    bound.apply_defaults()
    return {k: (None if v is np._NoValue else v) for k, v in bound.arguments.items()}


def _only_first(traced):
    return [pos for pos, _ in traced] == [0]


def _operands(vals, traced):
    """The call's arguments with the traced ones (and traced sequence entries) as Patterns."""
    args = list(vals)
    for pos, x in traced:
        if type(x) is list:
            args[pos] = [t if t is not None else v for t, v in zip(x, vals[pos])]
        else:
            args[pos] = x
    return args


def _like(tr, ans, expr):
    """``ans`` (the op's own value) carrying the rows of a re-expression ``expr``."""
    if type(expr) is Pattern:
        return tr.wrap(ans, expr.deps)
    return ans


# -- data movement -------------------------------------------------------------------------------
def _move(data=None):
    """Run the op on row ids (1-based; 0 is a filled place) and gather the rows."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        if has_derived(_steering(vals, kwargs, data)):
            return _moved_by_values(tr, fn, impl, vals, traced, kwargs, data)
        return _moved(tr, impl, vals, traced, kwargs, data)

    return handler


def _moved(tr, impl, vals, traced, kwargs, data):
    ans = impl(*vals, **kwargs)
    ids, stack = _id_arguments(vals, traced, data)
    kw = {k: v for k, v in kwargs.items() if k not in ("dtype", "out")}
    out = impl(*ids, **kw)
    return _gathered(tr, ans, out, stack)


def _steering(vals, kwargs, data):
    """The arguments that say where data goes (indices, shifts, shapes, axes)."""
    kept = [v for pos, v in enumerate(vals) if data is not None and pos not in data]
    return kept, kwargs


# Ops whose output shape does not depend on the values of an integer index they are given.
_FIXED_SHAPE = {getitem, np.take, np.take_along_axis, np.roll}


def _moved_by_values(tr, fn, impl, vals, traced, kwargs, data):
    """Data moved by an index computed from traced values: any element along the indexed axes
    may land anywhere the index can put it, so each traced input's rows are first made the same
    along those axes (their OR), and the op then moves them as usual."""
    steering = _steering(vals, kwargs, data)
    _, ragged = derived_origin(steering)
    name = getattr(fn, "__name__", repr(fn))
    if ragged or fn not in _FIXED_SHAPE or (fn is getitem and _mask_or_slice(vals[1])):
        tr.pointwise(f"{name} with an index or size computed from traced values")
    smeared = []
    for pos, x in traced:
        if data is not None and pos not in data:
            continue
        if type(x) is list:
            x = [None if e is None else _smeared(tr, e, fn, vals, kwargs) for e in x]
        else:
            x = _smeared(tr, x, fn, vals, kwargs)
        smeared.append((pos, x))
    return _moved(tr, impl, strip_derived(list(vals)), smeared, strip_derived(kwargs), data)


def _mask_or_slice(idx):
    """Whether a value-derived part of an index is a boolean mask or a slice bound."""
    parts = idx if type(idx) is tuple else (idx,)
    for p in parts:
        if isinstance(p, slice) and has_derived(p):
            return True
        if isinstance(p, Derived) and p.dtype == np.bool_:
            return True
        if type(p) is list and has_derived(p) and np.asarray(strip_derived(p)).dtype == np.bool_:
            return True
    return False


def _smeared(tr, x, fn, vals, kwargs):
    """``x`` with the rows of its elements ORed along the axes a value-derived index picks."""
    ndim = len(x.shape)
    axes = _indexed_axes(fn, x, vals, kwargs)
    if axes is None or axes == ():  # (axis=0 is an axis: `not axes` took it for none)
        return x
    q, kept = reduce_rows(x.deps, layout(x.shape), normalize_axes(axes, ndim))
    return tr.wrap(x.primal, gather(q, np.broadcast_to(layout(kept), x.shape)))


def _indexed_axes(fn, x, vals, kwargs):
    ndim = len(x.shape)
    everything = tuple(range(ndim))
    if fn is getitem:
        return _getitem_axes(ndim, vals[1])
    try:
        axis = _bound(fn, vals, kwargs).get("axis", None)
    except TypeError:
        return everything
    return everything if axis is None else axis


def _getitem_axes(ndim, idx):
    """Axes of an ``ndim``-dimensional array addressed by the value-derived parts of ``idx``."""
    parts = idx if type(idx) is tuple else (idx,)

    def width(p):
        if p is None:
            return 0
        if isinstance(p, np.ndarray | list) and np.asarray(strip_derived(p)).dtype == np.bool_:
            return np.ndim(strip_derived(p))
        return 1

    try:
        used = sum(width(p) for p in parts if p is not Ellipsis)
        axes, ax = [], 0
        for p in parts:
            w = ndim - used if p is Ellipsis else width(p)
            if p is not Ellipsis and has_derived(p):
                axes.extend(range(ax, ax + w))
            ax += w
        return tuple(a for a in axes if a < ndim)
    except (TypeError, ValueError):
        return tuple(range(ndim))


def _id_arguments(vals, traced, data):
    """The arguments with data replaced by row ids, and the stacked rows the ids index."""
    traced = dict(traced)
    args = list(vals)
    mats = []
    offset = [1]

    def ids_of(v, pattern):
        if pattern is None:
            return np.zeros(np.shape(plain(v)), dtype=np.intp)
        out = offset[0] + layout(np.shape(pattern.primal))
        offset[0] += pattern.deps.shape[0]
        mats.append(pattern.deps)
        return out

    for pos in range(len(args)) if data is None else data:
        if pos >= len(args) or args[pos] is None:
            continue
        v, x = args[pos], traced.get(pos)
        if type(v) in (list, tuple):
            entries = x if type(x) is list else [None] * len(v)
            args[pos] = type(v)(ids_of(e, t) for e, t in zip(v, entries))
        else:
            args[pos] = ids_of(v, x)
    stack = mats[0] if len(mats) == 1 else sp.vstack(mats, format="csr")
    return args, stack


def _gathered(tr, ans, ids, stack):
    multi = isinstance(ans, tuple | list)

    def rows(k, a):
        return gather(stack, np.asarray(ids[k] if multi else ids).astype(np.intp) - 1)

    return wrap_outputs(tr, ans, rows)


def _identity(tr, fn, impl, vals, traced, kwargs):
    ans = impl(*vals, **kwargs)
    # x.astype(int) carries no derivative but follows the values, as a comparison does
    return tr.wrap(ans, traced[0][1].deps) if is_inexact(ans) else tr.derive(ans)


_PAD_GATHER = ("edge", "wrap", "reflect", "symmetric")


def _pad(tr, fn, impl, vals, traced, kwargs):
    mode = vals[2] if len(vals) > 2 else kwargs.get("mode", "constant")
    options = {k: v for k, v in kwargs.items() if k not in ("mode", "constant_values")}
    gathers = mode in _PAD_GATHER and options.get("reflect_type", "even") == "even"
    if not _only_first(traced) or not (mode == "constant" or gathers):
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    x = traced[0][1]
    ids = np.pad(1 + layout(x.shape), vals[1], mode)  # constant mode fills with 0: no rows
    return tr.wrap(ans, gather(x.deps, ids - 1))


def _written_by_values(tr, fn, impl, vals, traced, kwargs, data):
    """``x[idx] = v`` (or ``+=``) with a value-derived ``idx``: any element may keep its own
    rows or receive any element of ``v``."""
    vals = strip_derived(list(vals))
    ans = impl(*vals, **kwargs)
    traced = dict(traced)
    parts = [traced[0].deps] if 0 in traced and data != (2,) else []
    v = traced.get(2)
    if v is not None:
        total, _ = reduce_rows(v.deps, layout(v.shape), tuple(range(len(v.shape))))
        parts.append(gather(total, np.zeros(np.size(ans), dtype=np.intp)))
    if not parts:
        return ans
    return tr.wrap(ans, union(parts))


def _write(data):
    """Item assignment: moved data, or :func:`_written_by_values` under a value-derived index."""
    move = _move(data)

    def handler(tr, fn, impl, vals, traced, kwargs):
        if has_derived(vals[1]):
            return _written_by_values(tr, fn, impl, vals, traced, kwargs, data)
        return move(tr, fn, impl, vals, traced, kwargs)

    return handler


def _index_add(tr, fn, impl, vals, traced, kwargs):
    if has_derived(vals[1]):
        return _written_by_values(tr, fn, impl, vals, traced, kwargs, (0, 2))
    ans = impl(*vals, **kwargs)
    x, idx, v = vals
    traced = dict(traced)
    parts = [traced[0].deps] if 0 in traced else []
    if 2 in traced:
        targets = layout(np.shape(x))[idx]
        sources = np.broadcast_to(layout(np.shape(v)), targets.shape)
        parts.append(select_rows(traced[2].deps, targets.ravel(), sources.ravel(), ans.size))
    return tr.wrap(ans, union(parts))


# -- elementwise functions -----------------------------------------------------------------------
def _union(data=None, nonlinear=False):
    """Union of the traced data arguments' rows, broadcast to the output."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        ans = impl(*vals, **kwargs)
        deps = _union_rows(tr, traced, data, np.shape(ans), nonlinear)
        return ans if deps is None else tr.wrap(ans, deps)

    return handler


def _union_rows(tr, traced, data, shape, nonlinear):
    """The union of the rows of the traced arguments at ``data``, broadcast to ``shape`` (None
    when none is traced); a nonlinear op records them as a second-order factor."""
    parts = [broadcast_rows(p.deps, p.shape, shape) for p in traced_patterns(traced, data)]
    if not parts:
        return None
    deps = union(parts)
    if nonlinear:
        tr.second(deps)
    return deps


# -- reductions, lanes, scans, stencils ----------------------------------------------------------
def _reduce(nonlinear=False, axes=None):
    """OR over each reduced group (extra outputs, like average's weight sum, stay plain)."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        if not _only_first(traced):
            return fallback(tr, fn, impl, vals, traced, kwargs)
        ans = impl(*vals, **kwargs)
        x = traced[0][1]
        ndim = len(x.shape)
        reduced = axes if axes is not None else _bound(fn, vals, kwargs).get("axis")
        q, _ = reduce_rows(x.deps, layout(x.shape), normalize_axes(reduced, ndim))
        if nonlinear:
            tr.second(q)

        def rows(k, a):
            if k:
                return None
            reps = np.size(plain(a)) // max(1, q.shape[0])  # several quantiles lead the shape
            return q if reps == 1 else gather(q, np.tile(np.arange(q.shape[0]), reps))

        return wrap_outputs(tr, ans, rows)

    return handler


def _lane(nonlinear=False):
    """Each output element depends on its whole lane along ``axis`` (None: everything)."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        if not _only_first(traced):
            return fallback(tr, fn, impl, vals, traced, kwargs)
        ans = impl(*vals, **kwargs)
        x = traced[0][1]
        axes = normalize_axes(_bound(fn, vals, kwargs).get("axis"), len(x.shape))
        q, kept = reduce_rows(x.deps, layout(x.shape), axes)
        if nonlinear:
            tr.second(q)
        return tr.wrap(ans, gather(q, np.broadcast_to(layout(kept), x.shape)))

    return handler


def _transform_lane(tr, fn, impl, vals, traced, kwargs):
    """np.fft's transforms: each output element depends on the whole lane along ``axis`` of
    the input, whose length the transform may change (``n``)."""
    if not _only_first(traced):
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    x = traced[0][1]
    axes = normalize_axes(_bound(fn, vals, kwargs).get("axis", -1), len(x.shape))
    q, kept = reduce_rows(x.deps, layout(x.shape), axes)
    return tr.wrap(ans, gather(q, np.broadcast_to(layout(kept), np.shape(ans))))


def _scan(nonlinear=False):
    """Element ``i`` of a lane depends on the lane's elements ``0..i`` (a leading initial: none)."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        if not _only_first(traced):
            return fallback(tr, fn, impl, vals, traced, kwargs)
        ans = impl(*vals, **kwargs)
        x = traced[0][1]
        axis = _bound(fn, vals, kwargs).get("axis")
        ids, out = layout(x.shape), layout(np.shape(ans))
        if axis is None:
            ids, out = ids.reshape(1, -1), out.reshape(1, -1)
        else:
            ax = normalize_axes(axis, len(x.shape))[0]
            ids, out = np.moveaxis(ids, ax, -1), np.moveaxis(out, ax, -1)
            count = int(np.prod(ids.shape[:-1], dtype=np.int64))  # lanes (sizes may be 0)
            ids, out = ids.reshape(count, ids.shape[-1]), out.reshape(count, out.shape[-1])
        r, c = np.tril_indices(ids.shape[1])
        shift = out.shape[1] - ids.shape[1]
        deps = select_rows(x.deps, out[:, r + shift].ravel(), ids[:, c].ravel(), out.size)
        if nonlinear:
            lanes = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
            tr.second(select_rows(x.deps, lanes, ids.ravel(), ids.shape[0]))
        return tr.wrap(ans, deps)

    return handler


def _neighbours(p, shape, ax, n):
    """Rows of ``n`` successive differences along ``ax`` of a value with rows ``p``."""
    for _ in range(n):
        ids = layout(shape)
        length = shape[ax]
        hi = np.take(ids, np.arange(1, length), axis=ax)
        lo = np.take(ids, np.arange(length - 1), axis=ax)
        p, shape = gather(p, hi) + gather(p, lo), hi.shape
    return p


def _diff(tr, fn, impl, vals, traced, kwargs):
    if not _only_first(traced):
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    x = traced[0][1]
    b = _bound(fn, vals, kwargs)
    ax = normalize_axes(b["axis"], len(x.shape))[0]
    pieces = [layout(x.shape)]
    for extra, where in ((b["prepend"], 0), (b["append"], 1)):
        if extra is not None:
            shape = list(x.shape)
            shape[ax] = 1
            shape = shape if np.ndim(extra) == 0 else np.shape(extra)
            pieces.insert(where * len(pieces), np.full(shape, -1, dtype=np.intp))
    ids = np.concatenate(pieces, axis=ax)
    return tr.wrap(ans, _neighbours(gather(x.deps, ids), ids.shape, ax, b["n"]))


def _ediff1d(tr, fn, impl, vals, traced, kwargs):
    if not _only_first(traced):
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    x = traced[0][1]
    b = _bound(fn, vals, kwargs)
    body = _neighbours(x.deps, (x.deps.shape[0],), 0, 1)
    before = np.size(b["to_begin"]) if b["to_begin"] is not None else 0
    after = np.size(b["to_end"]) if b["to_end"] is not None else 0
    ids = np.concatenate([np.full(before, -1), np.arange(body.shape[0]), np.full(after, -1)])
    return tr.wrap(ans, gather(body, ids))


def _trace(tr, fn, impl, vals, traced, kwargs):
    if not _only_first(traced):
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    x = traced[0][1]
    b = _bound(fn, vals, kwargs)
    ids = np.diagonal(layout(x.shape), b["offset"], b["axis1"], b["axis2"])
    q, _ = reduce_rows(x.deps, ids, (ids.ndim - 1,))
    return tr.wrap(ans, q)


# -- the table -----------------------------------------------------------------------------------
_register(_move((0,)), getitem, pad_zeros, *_np(
    "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "rollaxis", "expand_dims", "squeeze",
    "broadcast_to", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "split",
    "array_split", "hsplit", "vsplit", "dsplit", "tile", "repeat", "flip", "fliplr", "flipud",
    "roll", "rot90", "diagonal", "diag", "diagflat", "triu", "tril", "take", "take_along_axis",
    "delete", "resize", "linalg.matrix_transpose",
))  # fmt: skip
_register(_write((0, 2)), setitem)
_register(_write((2,)), scatter)
_register(_move((0, 1)), np.append)
_register(_move((1,)), np.compress, np.extract)
_register(_move(), *_np("atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays"))
_register(_identity, astype, np.copy, np.real, np.real_if_close, np.imag, np.conjugate, np.angle)
_register(_transform_lane, np.fft.fft, np.fft.ifft, np.fft.rfft, np.fft.irfft)
_register(fallback, np.roots)  # every root depends on every coefficient
_register(_pad, np.pad)
_register(_index_add, index_add)
_register(_union((1, 2)), np.where, np.select)
_register(_union((0, 1, 2)), np.clip)
_register(_union(nonlinear=True), np.sinc, np.i0, dsp.polygamma, dsp.spherical_jn)
_register(_reduce(), *_np(
    "sum", "mean", "nansum", "nanmean", "average", "trapezoid", "max", "min", "amax", "amin",
    "nanmax", "nanmin", "ptp", "median", "nanmedian", "percentile", "quantile", "nanpercentile",
    "nanquantile",
))  # fmt: skip
_register(_reduce(nonlinear=True), dsp._logsumexp, *_np(
    "prod", "nanprod", "var", "std", "nanvar", "nanstd", "linalg.norm", "linalg.vector_norm",
))  # fmt: skip
_register(_reduce(nonlinear=True, axes=(-2, -1)), *_np("linalg.matrix_norm"))
_register(_lane(), np.sort)
_register(_lane(nonlinear=True), dsp.softmax, dsp.log_softmax)
_register(_scan(), *_np("cumsum", "nancumsum", "cumulative_sum"))
_register(_scan(nonlinear=True), *_np("cumprod", "nancumprod", "cumulative_prod"))
_register(_diff, np.diff)
_register(_ediff1d, np.ediff1d)
_register(_trace, np.trace)


def _new_like(tr, fn, impl, vals, traced, kwargs):
    """np.zeros_like and kin (numpy_extra's ``like``): new values, or the fill value's rows."""
    ans = impl(*vals, **kwargs)
    deps = _union_rows(tr, traced, (2,), np.shape(ans), False)
    return tr.wrap(ans, tr.empty(int(np.size(ans))) if deps is None else deps)


_register(_new_like, like)


def _output_of(j, positions=(0, 1), nonlinear=False):
    """An elementwise op with several outputs (np.modf, np.divmod): output ``j`` depends on the
    traced inputs at ``positions``, element by element; the others are constants."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        ans = impl(*vals, **kwargs)
        deps = _union_rows(tr, traced, positions, np.shape(ans[j]), nonlinear)
        if deps is None:
            return ans
        return wrap_outputs(tr, ans, lambda k, a: deps if k == j else None)

    return handler


def _elementwise_in(position, nonlinear=True):
    """Elementwise in the argument at ``position`` (np.interp's x, np.polyval's x); any other
    traced argument reaches every element (the fallback)."""

    def handler(tr, fn, impl, vals, traced, kwargs):
        if [pos for pos, _ in traced] != [position]:
            return fallback(tr, fn, impl, vals, traced, kwargs)
        return _union((position,), nonlinear)(tr, fn, impl, vals, traced, kwargs)

    return handler


_register(_output_of(0, (0,)), np.modf, np.frexp)
_register(_output_of(1), np.divmod)
_register(_identity, nan_to_num)
_register(_elementwise_in(0), np.interp)
_register(_elementwise_in(1), np.polyval)
_register(_lane(), np.partition)
_register(_move((0, 2)), np.insert)
# every output element may depend on every input element
_register(fallback, *_np("cov", "corrcoef", "polyfit", "linspace", "geomspace", "logspace"))
_register(fallback, np.gradient, np.convolve, np.correlate)


# numpy 2.2's matvec and vecmat (rules in dualdiff/rules/numpy_more.py): matmuls with a vector
@defpattern(np.matvec)
def _matvec(a, x):
    return np.matmul(a, x[..., None])[..., 0]


@defpattern(np.vecmat)
def _vecmat(x, a):
    return np.matmul(x[..., None, :], a)[..., 0, :]
