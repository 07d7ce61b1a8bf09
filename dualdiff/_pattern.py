"""Structural sparsity tracing: a tracer whose payload is a dependency pattern.

A ``Pattern`` carries the primal value and a boolean CSR matrix ``deps`` with one row per
element of the value (flattened, C order) and one column per element of the traced input:
``deps[i, j]`` says that element ``i`` may depend on input element ``j``. Ops combine whole
row sets with vectorized CSR operations (gathers of rows, unions, products with sparse
selection matrices), so a trace costs time proportional to the number of nonzeros.

The patterns are structural, not local: ``np.where`` takes the union of its branches and a
multiplication by a traced zero keeps the dependency. Multiplying by a constant zero is a true
structural zero and is dropped.

Values read from the traced array (comparisons, ``argmax``, ``argsort``, ``nonzero``, ``sign``,
``floor``: the ops without a derivative) come back as :class:`Derived` arrays, which remember
that they change with the point. A ``Derived`` factor has no structural zeros, and an op that
moves data by a ``Derived`` index depends on the whole indexed axis, so the pattern holds at
every point. What cannot be made structural marks the trace *pointwise*
(:meth:`Trace.pointwise`): Python control flow on a traced or derived value (``if``, ``int()``,
iteration) and shapes set by values (boolean masks, ``nonzero``); such a pattern holds at the
point it was traced at only, and the sparse Jacobians detect it again at every point.

With ``hessian=True`` the trace also collects the Hessian's pattern: every op that is
nonlinear in its traced inputs records the pairs of input elements that its local second
derivative couples, as a pair of factors ``(a, b)`` (the Hessian gains ``a.T @ b`` and its
transpose). Linear and piecewise-linear ops record nothing. The op table lives in
``dualdiff._pattern_ops`` and ``dualdiff._pattern_linalg``.
"""

import operator

import numpy as np
import scipy.sparse as sp

from dualdiff._registry import CONSTANT
from dualdiff._tracer import Tracer, apply_ufunc, innermost, new_level, unwrap
from dualdiff.engine import as_input

HANDLERS: dict = {}  # fn -> handler(trace, fn, impl, vals, traced, kwargs)

# Ufuncs whose second derivatives vanish (linear, or piecewise linear almost everywhere).
LINEAR_UFUNCS = {
    np.add, np.subtract, np.negative, np.positive, np.conjugate, np.deg2rad, np.rad2deg,
    np.ldexp, np.absolute, np.fabs, np.maximum, np.minimum, np.fmax, np.fmin, np.copysign,
    np.fmod, np.remainder,
}  # fmt: skip
# Input pairs with a nonzero second partial, for ufuncs sparser than "every pair".
UFUNC_SECOND = {np.multiply: ((0, 1),), np.divide: ((0, 1), (1, 1))}


class Trace:
    """One sparsity trace: the input size, its level, and the Hessian factors if tracked.

    ``reason`` is None while the pattern holds at every point, else why it holds here only.
    """

    def __init__(self, n, hessian):
        self.n = n
        self.level = new_level()
        self.pairs = [] if hessian else None
        self.reason = None

    def pointwise(self, reason):
        """Record that the pattern depends on the values at this point (the first reason)."""
        if self.reason is None:
            self.reason = reason

    def derive(self, value, ragged=False):
        """``value`` (an op's plain output, or a tuple of them) marked as derived from values."""
        return _derive(value, self, ragged)

    def second(self, a, b=None):
        """Record that the rows of ``a`` interact at second order with those of ``b``."""
        if self.pairs is None or a.nnz == 0 or (b is not None and b.nnz == 0):
            return
        self.pairs.append((a, a if b is None else b))

    def wrap(self, value, deps):
        if type(value) is Derived:  # the Pattern itself carries the dependence on values
            value = value.view(np.ndarray)
        return Pattern(value, deps, self.level, self)

    def empty(self, rows):
        return sp.csr_array((rows, self.n), dtype=bool)

    def hessian(self):
        """The symmetric Hessian pattern from the recorded factors (n x n, bool CSR)."""
        if not self.pairs:
            return self.empty(self.n)
        left = sp.vstack([a for a, _ in self.pairs], format="csr")
        right = sp.vstack([b for _, b in self.pairs], format="csr")
        h = left.T @ right
        return canonical(sp.csr_array(h + h.T))


class Pattern(Tracer):
    """A traced value for sparsity detection: ``value`` and its dependency rows ``deps``."""

    __slots__ = ("primal", "deps", "level", "source")
    mode = "sparsity"

    def __init__(self, value, deps, level, trace):
        self.primal = value
        self.deps = deps
        self.level = level
        self.source = trace

    @property
    def value(self):
        """The primal value as a :class:`Derived` array: what is computed from it follows the
        point (the handlers read ``primal``)."""
        return _derive(self.primal, self.source, False)

    # Shapes do not follow the values (a shape set by values has marked the trace already).
    shape = property(lambda self: np.shape(self.primal))
    ndim = property(lambda self: np.ndim(self.primal))
    size = property(lambda self: np.size(self.primal))
    dtype = property(lambda self: np.result_type(self.primal))

    def __len__(self):
        return len(self.primal)

    def __repr__(self):
        return f"Pattern(shape={np.shape(self.primal)}, nnz={self.deps.nnz})"

    def _clone(self):
        return Pattern(self.primal, self.deps, self.level, self.source)

    def _rebind(self, other):
        self.primal, self.deps = other.primal, other.deps

    def ufunc(self, ufunc, inputs, kwargs):
        return elementwise(self.source, ufunc, inputs, kwargs)

    def apply(self, fn, impl, args, kwargs):
        vals, traced = unwrap(args, self.level)
        for pos, x in traced:  # our own reads of the primal values are not derived
            vals[pos] = _primals(x, vals[pos])
        handler = HANDLERS.get(fn, fallback)
        return handler(self.source, fn, impl, vals, traced, kwargs)

    # -- reads of values: Derived arrays, pointwise traces -------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = Tracer.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)
        return self.source.derive(out) if ufunc in CONSTANT else out

    def __array_function__(self, func, types, args, kwargs):
        out = Tracer.__array_function__(self, func, types, args, kwargs)
        if func not in CONSTANT or (func in SHAPE_ONLY and not has_derived((args, kwargs))):
            return out
        return self.source.derive(out, ragged=func in RAGGED or _ragged_where(func, args))

    def __bool__(self):
        self.source.pointwise("Python control flow on a traced value (bool of a traced array)")
        return bool(self.primal)

    def argmax(self, axis=None):
        return np.argmax(self, axis=axis)

    def argmin(self, axis=None):
        return np.argmin(self, axis=axis)

    def argsort(self, axis=-1):
        return np.argsort(self, axis=axis)

    def nonzero(self):
        return np.nonzero(self)

    def any(self, axis=None):
        return self.source.derive(np.any(self.primal, axis=axis))

    def all(self, axis=None):
        return self.source.derive(np.all(self.primal, axis=axis))


def _primals(x, vals):
    if type(x) is list:
        return type(vals)(v if t is None else t.primal for t, v in zip(x, vals))
    return x.primal


def _derived_dunder(ufunc):
    return lambda self, other: self.source.derive(apply_ufunc(ufunc, (self, other), {}))


for _name, _ufunc in (("__lt__", np.less), ("__le__", np.less_equal), ("__gt__", np.greater),
                      ("__ge__", np.greater_equal), ("__eq__", np.equal),
                      ("__ne__", np.not_equal)):  # fmt: skip
    setattr(Pattern, _name, _derived_dunder(_ufunc))
Pattern.__hash__ = None


# -- arrays derived from values ------------------------------------------------------------------
# Constant ops whose output depends on the shape of their input only.
SHAPE_ONLY = {np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like}
# Ops whose output's shape depends on the values of their input.
RAGGED = {
    np.nonzero, np.flatnonzero, np.argwhere, np.extract, np.compress, np.unique, np.trim_zeros,
    np.intersect1d, np.union1d, np.setdiff1d, np.setxor1d,
    *(getattr(np, n) for n in ("unique_values", "unique_counts", "unique_inverse", "unique_all")
      if hasattr(np, n)),
}  # fmt: skip


def _ragged_where(func, args):
    return func is np.where and len(args) == 1  # np.where(cond) is np.nonzero(cond)


class Derived(np.ndarray):
    """A plain array computed from a traced array's values: a mask, an index, a count.

    It carries no derivative, but it changes with the point: ``source`` is the sparsity trace it
    came from, and ``ragged`` says that its shape depends on the values as well (``nonzero``).
    NumPy ops on it give Derived arrays (scalars become 0-d ones); turning it into a Python
    value (``bool``, ``int``, iteration) marks the trace pointwise.
    """

    source = None
    ragged = False

    def __array_finalize__(self, obj):
        self.source = getattr(obj, "source", None)
        self.ragged = getattr(obj, "ragged", False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if has_tracer(inputs):
            return NotImplemented  # the tracer's hook runs the op, with this array a constant
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(o) for o in kwargs["out"])
        ans = getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
        trace, ragged = derived_origin(inputs)
        return _derive(ans, trace, ragged)

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, np.ndarray) for t in types):
            return NotImplemented
        ans = super().__array_function__(func, types, args, kwargs)
        trace, ragged = derived_origin((args, kwargs))
        if func in SHAPE_ONLY:
            if ragged:
                _pointwise(trace, f"the shape of a value-dependent array ({func.__name__})")
            return ans
        return _derive(ans, trace, ragged or func in RAGGED or _ragged_where(func, args))

    def __getitem__(self, key):
        ans = super().__getitem__(strip_derived(key))
        return _derive(ans, self.source, self.ragged or has_derived(key) or _has_mask(key))

    def _python(self, what):
        _pointwise(self.source, f"Python control flow on a value of a traced array ({what})")
        return self.view(np.ndarray)

    def __bool__(self):
        return bool(self._python("bool"))

    def __index__(self):
        return operator.index(self._python("an index or a size")[()])

    def __int__(self):
        return int(self._python("int"))

    def __float__(self):
        return float(self._python("float"))

    def __complex__(self):
        return complex(self._python("complex"))

    def __iter__(self):
        return iter(self._python("iteration"))

    def __len__(self):
        if self.ragged:
            self._python("the length of a value-dependent array")
        return super().__len__()

    def item(self, *args):
        return self._python("item").item(*args)

    def tolist(self):
        return self._python("tolist").tolist()


def _method(name, ragged=False):
    # ndarray methods that return plain arrays or NumPy scalars from a subclass
    def method(self, *args, **kwargs):
        ans = getattr(np.ndarray, name)(self.view(np.ndarray), *strip_derived(args), **kwargs)
        return _derive(ans, self.source, self.ragged or ragged)

    method.__name__ = name
    return method


for _name in ("argmax", "argmin", "searchsorted", "dot"):
    setattr(Derived, _name, _method(_name))
Derived.nonzero = _method("nonzero", ragged=True)


def _pointwise(trace, reason):
    if trace is not None:
        trace.pointwise(reason)


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, Derived) else x


def _derive(value, trace, ragged):
    """``value`` (nested in tuples and lists) with its arrays and numbers made Derived."""
    if isinstance(value, tuple | list):
        items = [_derive(v, trace, ragged) for v in value]
        return type(value)(items) if type(value) in (tuple, list) else type(value)(*items)
    if isinstance(value, np.ndarray):
        out = value.view(Derived)
    elif isinstance(value, np.generic | int | float | complex):
        out = np.asarray(value).view(Derived)
    else:
        return value
    out.source = trace if trace is not None else getattr(value, "source", None)
    out.ragged = ragged or getattr(value, "ragged", False)
    return out


def _entries(obj):
    """The leaves of ``obj`` through tuples, lists, dicts and slices."""
    if isinstance(obj, tuple | list):
        for e in obj:
            yield from _entries(e)
    elif isinstance(obj, dict):
        for e in obj.values():
            yield from _entries(e)
    elif isinstance(obj, slice):
        yield from (obj.start, obj.stop, obj.step)
    else:
        yield obj


def derived_origin(obj):
    """The trace of the first Derived leaf of ``obj``, and whether any leaf is ragged."""
    trace, ragged = None, False
    for e in _entries(obj):
        if isinstance(e, Derived):
            trace = trace if trace is not None else e.source
            ragged = ragged or e.ragged
    return trace, ragged


def has_derived(obj):
    """Whether ``obj`` (through tuples, lists, dicts and slices) holds a Derived array."""
    return any(isinstance(e, Derived) for e in _entries(obj))


def has_tracer(obj):
    return any(isinstance(e, Tracer) for e in _entries(obj))


def _has_mask(key):
    """Whether an index holds a boolean array (its result's shape counts True values)."""
    return any(isinstance(e, np.ndarray) and e.ndim > 0 and e.dtype == np.bool_
               for e in _entries(key))  # fmt: skip


def strip_derived(obj):
    """``obj`` with its Derived arrays as plain ones (for index arithmetic of our own)."""
    if isinstance(obj, Derived):
        return obj.view(np.ndarray)
    if type(obj) in (tuple, list):
        return type(obj)(strip_derived(e) for e in obj)
    if type(obj) is dict:
        return {k: strip_derived(v) for k, v in obj.items()}
    if isinstance(obj, slice):
        return slice(strip_derived(obj.start), strip_derived(obj.stop), strip_derived(obj.step))
    return obj


def zero_structure(value):
    """Where a constant operand is zero at every point (a Derived one: nowhere), as bools."""
    v = plain(value)
    if isinstance(v, Derived):
        return np.zeros(np.shape(v), dtype=bool)
    return np.asarray(v) == 0


# -- CSR helpers ---------------------------------------------------------------------------------
def canonical(m):
    """``m`` as a bool CSR array with sorted, unique column indices."""
    m = sp.csr_array(m, dtype=bool)
    m.sum_duplicates()
    return m


def gather(p, ids):
    """Rows ``ids`` of ``p`` (an id of -1 gives an empty row), vectorized."""
    ids = np.asarray(ids, dtype=np.intp).ravel()
    starts = p.indptr[ids]
    lens = np.where(ids < 0, 0, p.indptr[ids + 1] - starts)
    indptr = np.zeros(ids.size + 1, dtype=np.intp)
    np.cumsum(lens, out=indptr[1:])
    src = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
    indices = p.indices[src]
    return sp.csr_array((np.ones(indices.size, dtype=bool), indices, indptr),
                        shape=(ids.size, p.shape[1]))  # fmt: skip


def union(parts):
    """Row-wise OR of equally shaped patterns."""
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def select_rows(p, rows, cols, n_rows):
    """``S @ p`` where ``S[rows[k], cols[k]] = 1``: OR of the chosen rows of ``p`` per row."""
    keep = cols >= 0
    rows, cols = rows[keep], cols[keep]
    s = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(n_rows, p.shape[0]))
    return canonical(s @ p)


def layout(shape):
    """Row ids of a value of ``shape``: ``arange(size).reshape(shape)``."""
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.intp).reshape(shape)


def broadcast_rows(p, shape, out_shape):
    """Rows of a value of ``shape`` broadcast to ``out_shape``."""
    if tuple(shape) == tuple(out_shape):
        return p
    return gather(p, np.broadcast_to(layout(shape), out_shape))


def reduce_rows(p, ids, axes):
    """OR of the rows ``ids`` (an array, -1 for none) over ``axes``: one row per group."""
    kept = tuple(1 if a in axes else s for a, s in enumerate(ids.shape))
    groups = np.broadcast_to(layout(kept), ids.shape)
    return select_rows(p, groups.ravel(), ids.ravel(), int(np.prod(kept, dtype=np.int64))), kept


def normalize_axes(axis, ndim):
    """``axis`` (None, int or sequence) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    return tuple(int(a) % ndim if ndim else 0 for a in axes)


plain = innermost  # the innermost primal (tracers of outer levels are constants here)


def is_inexact(a):
    return np.issubdtype(np.result_type(plain(a)), np.inexact)


def traced_patterns(traced, positions=None):
    """The Patterns among the traced arguments (sequence entries flattened)."""
    out = []
    for pos, x in traced:
        if positions is not None and pos not in positions:
            continue
        if type(x) is list:
            out.extend(e for e in x if e is not None)
        else:
            out.append(x)
    return out


def wrap_outputs(tr, ans, rows_of):
    """Wrap each inexact output of ``ans`` with ``rows_of(index, output)`` (None: stay plain)."""
    if isinstance(ans, tuple | list):
        outs = [_wrap_one(tr, a, rows_of(k, a)) for k, a in enumerate(ans)]
        return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)
    return _wrap_one(tr, ans, rows_of(0, ans))


def _wrap_one(tr, a, deps):
    if deps is None:
        return a
    if not is_inexact(a):  # an integer or boolean output of traced data follows the values
        return tr.derive(a)
    return tr.wrap(a, deps)


# -- elementwise ufuncs and the fallback ----------------------------------------------------------
def elementwise(tr, ufunc, inputs, kwargs):
    """Union of the inputs' rows after broadcasting; a constant zero factor drops the rows."""
    traced = {i: x for i, x in enumerate(inputs) if type(x) is Pattern and x.level == tr.level}
    vals = [traced[i].primal if i in traced else x for i, x in enumerate(inputs)]
    ans = ufunc(*vals, **kwargs)
    shape = np.shape(ans)
    parts = {i: broadcast_rows(x.deps, np.shape(x.primal), shape) for i, x in traced.items()}
    if ufunc is np.multiply:
        zero = _constant_zeros(inputs[0], vals[0], shape, tr) | _constant_zeros(
            inputs[1], vals[1], shape, tr
        )
        if zero.any():
            keep = np.where(zero, -1, np.arange(zero.size))
            parts = {i: gather(p, keep) for i, p in parts.items()}
    _ufunc_second(tr, ufunc, parts)
    return tr.wrap(ans, union(list(parts.values())))


def _constant_zeros(x, value, shape, tr):
    """Where a factor is a constant zero (a zero value that depends on no input), flattened."""
    zero = zero_structure(value)
    if type(x) is Pattern and x.level == tr.level:
        zero = zero & (np.diff(x.deps.indptr) == 0).reshape(np.shape(zero))
    return np.broadcast_to(zero, shape).ravel()


def _ufunc_second(tr, ufunc, parts):
    if tr.pairs is None or ufunc in LINEAR_UFUNCS:
        return
    pairs = UFUNC_SECOND.get(ufunc)
    if pairs is None:
        tr.second(union(list(parts.values())))
        return
    for i, j in pairs:
        if i in parts and j in parts:
            tr.second(parts[i], parts[j])


def fallback(tr, fn, impl, vals, traced, kwargs):
    """Conservative: every output element depends on everything any traced input depends on."""
    ans = impl(*vals, **kwargs)
    cols = np.unique(np.concatenate([p.deps.indices for p in traced_patterns(traced)]))
    total = sp.csr_array((np.ones(cols.size, dtype=bool), cols, [0, cols.size]), shape=(1, tr.n))
    tr.second(total)
    return wrap_outputs(tr, ans, lambda k, a: gather(total, np.zeros(np.size(plain(a)))))


# -- entry point ---------------------------------------------------------------------------------
def trace(f, args, argnum, hessian=False, caller="sparsity detection"):
    """Run ``f`` with ``args[argnum]`` traced; return (output pattern, output shape, trace)."""
    args = list(args)
    check_argnum(args, argnum, caller, "pass the arguments to trace f at after f.")
    x = _numeric_input(args[argnum], argnum, caller)
    n = int(np.size(x))
    tr = Trace(n, hessian)
    args[argnum] = tr.wrap(x, sp.eye_array(n, dtype=bool, format="csr"))
    out = f(*args)
    if type(out) is Pattern and out.level == tr.level:
        return out.deps, np.shape(out.primal), tr
    value = plain(out)
    if isinstance(value, Tracer) or not _is_numeric(value):
        raise TypeError(
            f"{caller} needs a function with one array output (of numbers); f returned "
            f"{_describe(out)}. Return one array (np.concatenate / np.stack several outputs)."
        )
    return tr.empty(int(np.size(value))), np.shape(value), tr


def check_argnum(args, argnum, caller, hint):
    """Refuse an ``argnum`` that is not an int or names no argument (``hint``: the way out)."""
    if not isinstance(argnum, int | np.integer) or isinstance(argnum, bool):
        raise TypeError(f"{caller}: argnums must be an int, got {argnum!r}")
    if not -len(args) <= argnum < len(args):
        raise ValueError(
            f"{caller}: argnums={argnum} but f was given {len(args)} argument(s); {hint}"
        )


def _numeric_input(x, argnum, caller):
    if not isinstance(x, Tracer) and not _is_numeric(x):
        raise TypeError(
            f"{caller}: argument {argnum} must be an array of numbers, got {_describe(x)}."
        )
    return as_input(x)


def _is_numeric(value):
    if isinstance(value, np.ndarray | np.generic):
        return value.dtype.kind in "biufc"
    return isinstance(value, int | float | complex)


def _describe(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray | np.generic):
        return f"an array of dtype {value.dtype}"
    if isinstance(value, Tracer):
        return "a traced value of another transform"
    if isinstance(value, tuple | list | dict):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
