"""Structural sparsity tracing: a tracer whose payload is a dependency pattern.

A ``Pattern`` carries the primal value and a boolean CSR matrix ``deps`` with one row per
element of the value (flattened, C order) and one column per element of the traced input:
``deps[i, j]`` says that element ``i`` may depend on input element ``j``. Ops combine whole
row sets with vectorized CSR operations (gathers of rows, unions, products with sparse
selection matrices), so a trace costs time proportional to the number of nonzeros.

The patterns are structural, not local: ``np.where`` takes the union of its branches and a
multiplication by a traced zero keeps the dependency, so the pattern found at one ``x`` holds
at every ``x`` that takes the same branches of Python control flow. Multiplying by a constant
zero is a true structural zero and is dropped.

With ``hessian=True`` the trace also collects the Hessian's pattern: every op that is
nonlinear in its traced inputs records the pairs of input elements that its local second
derivative couples, as a pair of factors ``(a, b)`` (the Hessian gains ``a.T @ b`` and its
transpose). Linear and piecewise-linear ops record nothing. The op table lives in
``dualdiff._pattern_ops`` and ``dualdiff._pattern_linalg``.
"""

import numpy as np
import scipy.sparse as sp

from dualdiff._tracer import Tracer, innermost, new_level, unwrap
from dualdiff.transforms import as_input

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
    """One sparsity trace: the input size, its level, and the Hessian factors if tracked."""

    def __init__(self, n, hessian):
        self.n = n
        self.level = new_level()
        self.pairs = [] if hessian else None

    def second(self, a, b=None):
        """Record that the rows of ``a`` interact at second order with those of ``b``."""
        if self.pairs is None or a.nnz == 0 or (b is not None and b.nnz == 0):
            return
        self.pairs.append((a, a if b is None else b))

    def wrap(self, value, deps):
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

    __slots__ = ("value", "deps", "level", "trace")
    mode = "sparsity"

    def __init__(self, value, deps, level, trace):
        self.value = value
        self.deps = deps
        self.level = level
        self.trace = trace

    def __repr__(self):
        return f"Pattern(shape={np.shape(self.value)}, nnz={self.deps.nnz})"

    def _clone(self):
        return Pattern(self.value, self.deps, self.level, self.trace)

    def _rebind(self, other):
        self.value, self.deps = other.value, other.deps

    def ufunc(self, ufunc, inputs, kwargs):
        return elementwise(self.trace, ufunc, inputs, kwargs)

    def apply(self, fn, impl, args, kwargs):
        vals, traced = unwrap(args, self.level)
        handler = HANDLERS.get(fn, fallback)
        return handler(self.trace, fn, impl, vals, traced, kwargs)


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
    if deps is None or not is_inexact(a):
        return a
    return tr.wrap(a, deps)


# -- elementwise ufuncs and the fallback ----------------------------------------------------------
def elementwise(tr, ufunc, inputs, kwargs):
    """Union of the inputs' rows after broadcasting; a constant zero factor drops the rows."""
    traced = {i: x for i, x in enumerate(inputs) if type(x) is Pattern and x.level == tr.level}
    vals = [traced[i].value if i in traced else x for i, x in enumerate(inputs)]
    ans = ufunc(*vals, **kwargs)
    shape = np.shape(ans)
    parts = {i: broadcast_rows(x.deps, np.shape(x.value), shape) for i, x in traced.items()}
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
    zero = np.asarray(plain(value)) == 0
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
def trace(f, args, argnum, hessian=False):
    """Run ``f`` with ``args[argnum]`` traced; return (output pattern, output shape, trace)."""
    args = list(args)
    x = as_input(args[argnum])
    n = int(np.size(x))
    tr = Trace(n, hessian)
    args[argnum] = tr.wrap(x, sp.eye_array(n, dtype=bool, format="csr"))
    out = f(*args)
    if isinstance(out, tuple | list | dict):
        raise TypeError("sparsity detection needs a function with one array output")
    if type(out) is Pattern and out.level == tr.level:
        return out.deps, np.shape(out.value), tr
    return tr.empty(int(np.size(plain(out)))), np.shape(plain(out)), tr
