"""Dependency structure of contractions and matrix functions (see ``dualdiff._pattern_ops``).

The 2-D matrix product is the core: with one operand constant, the output's rows are a sparse
product with the constant's nonzero structure (``kron(I, B != 0).T`` or ``kron(A != 0, I)``);
with both traced, output ``(i, j)`` depends on row ``i`` of one and column ``j`` of the other,
and the Hessian couples, for each contracted index, that column of one with that row of the
other. The other contractions are re-expressed with ops the tracer already knows (transposes,
reshapes, broadcast products and sums), which also yields their second-order pairs.
"""

import functools
import operator

import numpy as np
import scipy.sparse as sp

from dualdiff._pattern import (
    Pattern,
    canonical,
    fallback,
    gather,
    layout,
    plain,
    reduce_rows,
    wrap_outputs,
    zero_structure,
)
from dualdiff._pattern_ops import FULL_LIMIT, _bound, _like, _np, _only_first, _operands, _register


def _value(a):
    return a.primal if type(a) is Pattern else plain(a)


def _matmul2(tr, a, b):
    """Rows of ``a @ b`` for operands of at most two dimensions (Pattern or constant)."""
    va, vb = _value(a), _value(b)
    m, k = (1, np.shape(va)[0]) if np.ndim(va) == 1 else np.shape(va)
    n = 1 if np.ndim(vb) == 1 else np.shape(vb)[1]
    if type(a) is Pattern and type(b) is Pattern:
        rows_a, _ = reduce_rows(a.deps, layout((m, k)), (1,))
        cols_b, _ = reduce_rows(b.deps, layout((k, n)), (0,))
        deps = gather(rows_a, np.repeat(np.arange(m), n)) + gather(cols_b, np.tile(np.arange(n), m))
        inner_a, _ = reduce_rows(a.deps, layout((m, k)), (0,))
        inner_b, _ = reduce_rows(b.deps, layout((k, n)), (1,))
        tr.second(inner_a, inner_b)
        return deps
    if type(a) is Pattern:  # (a @ B)[i, j] reads a[i, l] where B[l, j] != 0
        mask = sp.csr_array(np.reshape(~zero_structure(vb), (k, n)))
        return canonical(sp.kron(sp.eye_array(m, dtype=bool), mask.T, format="csr") @ a.deps)
    mask = sp.csr_array(np.reshape(~zero_structure(va), (m, k)))  # (A @ b)[i, j]: b[l, j], A[i, l]
    return canonical(sp.kron(mask, sp.eye_array(n, dtype=bool), format="csr") @ b.deps)


def _small_enough(*shapes):
    return int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64)) <= FULL_LIMIT


def _matmul(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    va, vb = _value(a), _value(b)
    if np.ndim(va) <= 2 and np.ndim(vb) <= 2:
        return tr.wrap(impl(*vals, **kwargs), _matmul2(tr, a, b))
    big = not _small_enough(np.shape(va) + (1,), np.shape(vb)[:-2] + (1,) + np.shape(vb)[-2:])
    if np.ndim(va) < 2 or np.ndim(vb) < 2 or big:
        return fallback(tr, fn, impl, vals, traced, kwargs)
    expr = np.sum(np.expand_dims(a, -1) * np.expand_dims(b, -3), axis=-2)
    return _like(tr, impl(*vals, **kwargs), expr)


def _dot(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    va, vb = _value(a), _value(b)
    if np.ndim(va) == 0 or np.ndim(vb) == 0:
        expr = a * b
    elif np.ndim(va) <= 2 and np.ndim(vb) <= 2:
        return tr.wrap(impl(*vals, **kwargs), _matmul2(tr, a, b))
    else:
        expr = np.tensordot(a, b, axes=([-1], [-2]))
    return _like(tr, impl(*vals, **kwargs), expr)


def _inner(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    zero_dim = np.ndim(_value(a)) == 0 or np.ndim(_value(b)) == 0
    expr = a * b if zero_dim else np.tensordot(a, b, axes=([-1], [-1]))
    return _like(tr, impl(*vals, **kwargs), expr)


def _vdot(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    return _like(tr, impl(*vals, **kwargs), np.dot(np.ravel(a), np.ravel(b)))


def _tensordot(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    na, nb = np.ndim(_value(a)), np.ndim(_value(b))
    axes = _bound(fn, vals, kwargs)["axes"]
    if isinstance(axes, int | np.integer):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = ([int(i) for i in np.atleast_1d(ax)] for ax in axes)
    axes_a, axes_b = [i % na for i in axes_a], [i % nb for i in axes_b]
    free_a = [i for i in range(na) if i not in axes_a]
    free_b = [i for i in range(nb) if i not in axes_b]
    sa = np.shape(_value(a))
    contracted = int(np.prod([sa[i] for i in axes_a], dtype=np.int64))
    left = np.reshape(np.transpose(a, free_a + axes_a), (-1, contracted))
    right = np.reshape(np.transpose(b, axes_b + free_b), (contracted, -1))
    return tr.wrap(impl(*vals, **kwargs), _matmul2(tr, left, right))


def _vecdot(tr, fn, impl, vals, traced, kwargs):
    if "axes" in kwargs:
        return fallback(tr, fn, impl, vals, traced, kwargs)
    a, b = _operands(vals, traced)[:2]
    return _like(tr, impl(*vals, **kwargs), np.sum(a * b, axis=kwargs.get("axis", -1)))


def _outer(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    return _like(tr, impl(*vals, **kwargs), np.ravel(a)[:, None] * np.ravel(b)[None, :])


def _kron(tr, fn, impl, vals, traced, kwargs):
    a, b = _operands(vals, traced)[:2]
    sa, sb = np.shape(_value(a)), np.shape(_value(b))
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    left = np.reshape(a, [d for s in sa for d in (s, 1)])  # axes (a0, 1, a1, 1, ...)
    right = np.reshape(b, [d for s in sb for d in (1, s)])  # axes (1, b0, 1, b1, ...)
    ans = impl(*vals, **kwargs)
    return _like(tr, ans, np.reshape(left * right, np.shape(ans)))


def _multi_dot(tr, fn, impl, vals, traced, kwargs):
    arrays = _operands(vals, traced)[0]
    return _like(tr, impl(*vals, **kwargs), functools.reduce(np.dot, arrays))


def _einsum_parts(spec, operands):
    """Input letters, output letters and letter sizes; None for unsupported forms."""
    if not isinstance(spec, str) or "." in spec:
        return None
    spec = spec.replace(" ", "")
    ins, _, out = spec.partition("->")
    ins = ins.split(",")
    if "->" not in spec:
        flat = "".join(ins)
        out = "".join(sorted(c for c in set(flat) if flat.count(c) == 1))
    if len(ins) != len(operands) or any(len(set(s)) != len(s) for s in ins):
        return None
    sizes = {}
    for s, op in zip(ins, operands):
        sizes.update(zip(s, np.shape(_value(op))))
    return ins, out, sizes


def _einsum(tr, fn, impl, vals, traced, kwargs):
    args = _operands(vals, traced)
    parts = _einsum_parts(args[0], args[1:])
    full = int(np.prod(list(parts[2].values()), dtype=np.int64)) if parts else FULL_LIMIT + 1
    if parts is None or full > FULL_LIMIT:
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ins, out, sizes = parts
    letters = list(dict.fromkeys("".join(ins)))
    terms = []
    for s, op in zip(ins, args[1:]):  # each operand laid out over all letters, in one order
        order = sorted(range(len(s)), key=lambda i: letters.index(s[i]))
        shape = [sizes[c] if c in s else 1 for c in letters]
        terms.append(np.reshape(np.transpose(op, order), shape))
    expr = functools.reduce(operator.mul, terms)
    summed = tuple(i for i, c in enumerate(letters) if c not in out)
    if summed:
        expr = np.sum(expr, axis=summed)
    kept = [c for c in letters if c in out]
    expr = np.transpose(expr, [kept.index(c) for c in out])
    return _like(tr, impl(*vals, **kwargs), expr)


def _per_matrix(tr, fn, impl, vals, traced, kwargs):
    """A function of each matrix of a stack: its outputs depend on that matrix only."""
    x = traced[0][1] if _only_first(traced) else None
    if x is None or len(x.shape) < 2:
        return fallback(tr, fn, impl, vals, traced, kwargs)
    ans = impl(*vals, **kwargs)
    nd = len(x.shape)
    q, _ = reduce_rows(x.deps, layout(x.shape), (nd - 2, nd - 1))
    tr.second(q)
    count = q.shape[0]

    def rows(k, a):
        return gather(q, np.repeat(np.arange(count), np.size(plain(a)) // max(1, count)))

    return wrap_outputs(tr, ans, rows)


_register(fallback, np.linalg.solve, np.linalg.lstsq, *_np("cross", "linalg.cross"))
_register(_matmul, *_np("matmul", "linalg.matmul"))
_register(_dot, np.dot)
_register(_inner, np.inner)
_register(_vdot, np.vdot)
_register(_tensordot, *_np("tensordot", "linalg.tensordot"))
_register(_vecdot, *_np("vecdot", "linalg.vecdot"))
_register(_outer, *_np("outer", "linalg.outer"))
_register(_kron, np.kron)
_register(_multi_dot, np.linalg.multi_dot)
_register(_einsum, np.einsum)
_register(_per_matrix, *_np(
    "linalg.det", "linalg.slogdet", "linalg.inv", "linalg.pinv", "linalg.cholesky", "linalg.eigh",
    "linalg.eigvalsh", "linalg.svd", "linalg.svdvals", "linalg.qr", "linalg.matrix_power",
    "linalg.eig", "linalg.eigvals",
))  # fmt: skip
