"""Linear algebra: products, contractions, decompositions and solves.

Products and contractions (dot, inner, outer, vdot, tensordot, kron, multi_dot, einsum) share
one pair of einsum helpers: an operand's tangent is the contraction with that operand replaced
by its tangent (the batch axis gets a label of its own), and its cotangent contracts the output
cotangent with the other operands back onto the operand's labels. Rules call numpy functions
that have rules themselves (mostly matmul, einsum, solve, inv, svd, eigh), so they can be
differentiated again. matmul keeps direct rules: it is the hot path of neural networks.

Decompositions of symmetric matrices (cholesky, eigh, eigvalsh, and svd / pinv with
``hermitian=True``) read one triangle of their input, as LAPACK does. Their derivatives are
those of the function numpy computes, ``f(tril(a) + tril(a, -1).T)`` (upper triangle alike),
so they agree with finite differences along any direction, symmetric or not.

Eigen- and singular-vector derivatives need distinct eigen- / singular values; inv, solve,
slogdet, pinv and lstsq need full rank. det is differentiated everywhere: its gradient is the
cofactor matrix, a polynomial in the entries (the adjugate's transpose, zero at rank n - 2 and
below), computed without inverting where a matrix is singular, at every order. QR is
differentiated for ``m >= n`` (reduced, or complete when square). With ``full_matrices=True``
the extra singular vectors of a rectangular matrix are not unique: their tangents are NaN, and
reverse mode raises if a result depends on them.
(Norms, np.linalg.norm / vector_norm / matrix_norm, live in reductions.py.)
"""

import functools
import string
from collections import Counter

import numpy as np

from dualdiff._batch import align, neg_axis
from dualdiff._registry import defconstant, defjvp, defvjp
from dualdiff._tracer import innermost, shape_of

defconstant(np.linalg.matrix_rank)

_LETTERS = string.ascii_letters
_SUBLIST_LABELS = string.ascii_uppercase + string.ascii_lowercase  # numpy's int -> label map




def _ndim(x):
    return len(shape_of(x))


def _array(x):
    """A user's Python list or scalar operand as an array (tracers and arrays pass through)."""
    return x if hasattr(x, "shape") else np.asarray(x)


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _diag(x):
    """Diagonal of the last two axes, by a mask (differentiable with elementwise rules)."""
    return np.sum(x * np.eye(x.shape[-1]), axis=-1)


def _diag_embed(v):
    """Batched diagonal matrices from the vectors on the last axis of ``v``."""
    return v[..., None] * np.eye(v.shape[-1])


# -- matmul: 1-d operands become a row (left) or a column (right), as numpy promotes them ----
def _row(x, vec):
    return x[..., None, :] if vec else x


def _col(x, vec):
    return x[..., None] if vec else x


def _unpromote(x, a_vec, b_vec):
    x = x[..., 0, :] if a_vec else x
    return x[..., 0] if b_vec else x


def _flat_batch(t, b):
    """``t @ b`` for a 2-d ``a``'s tangent (k, m, n): one matrix product over all k * m rows."""
    k, m = t.shape[0], t.shape[1]
    out = np.matmul(np.reshape(t, (k * m, t.shape[2])), b)
    return np.reshape(out, (k, m) + out.shape[1:])


@defjvp(np.matmul, argnum=0)
def matmul_jvp_a(t, ans, a, b, **kwargs):
    b = _array(b)
    av, bv = _ndim(a) == 1, b.ndim == 1
    if _ndim(a) == 2 and b.ndim <= 2:  # the common case: one BLAS call, not k of them
        return _flat_batch(t, b)
    bm = _col(b, bv)
    # b may carry more batch dims than a: align so they never meet the tangent's batch axis
    return _unpromote(np.matmul(align(_row(t, av), bm.ndim), bm), av, bv)


@defvjp(np.matmul, argnum=0)
def matmul_vjp_a(g, ans, a, b, **kwargs):
    b = _array(b)
    av, bv = _ndim(a) == 1, b.ndim == 1
    if _ndim(a) == 2 and b.ndim == 2:
        return _flat_batch(g, _mT(b))
    c = np.matmul(_row(_col(g, bv), av), _mT(_col(b, bv)))
    return c[..., 0, :] if av else c


@defjvp(np.matmul, argnum=1)
def matmul_jvp_b(t, ans, a, b, **kwargs):
    a = _array(a)
    av, bv = a.ndim == 1, _ndim(b) == 1
    if a.ndim == 2 and bv:  # A @ x: the k tangents of x as rows, one matrix product
        return np.matmul(t, _mT(a))
    am = _row(a, av)
    return _unpromote(np.matmul(am, align(_col(t, bv), am.ndim)), av, bv)


@defvjp(np.matmul, argnum=1)
def matmul_vjp_b(g, ans, a, b, **kwargs):
    a = _array(a)
    av, bv = a.ndim == 1, _ndim(b) == 1
    if a.ndim == 2 and bv:  # A @ x: the k cotangents as rows, one matrix product
        return np.matmul(g, a)
    c = np.matmul(_mT(_row(a, av)), _row(_col(g, bv), av))
    return c[..., 0] if bv else c


for _i, (_jvp, _vjp) in enumerate([(matmul_jvp_a, matmul_vjp_a), (matmul_jvp_b, matmul_vjp_b)]):
    defjvp(np.linalg.matmul, _i)(_jvp)
    defvjp(np.linalg.matmul, _i)(_vjp)


# -- einsum helpers: every contraction's rules ------------------------------------------------
def _spare(ins, out):
    used = set("".join(ins) + out)
    return [c for c in _LETTERS if c not in used]


def _contract_jvp(ins, out, ops, i, t, optimize=False):
    """Tangent of ``einsum(ins -> out, *ops)`` along operand ``i`` (batched ``t``)."""
    z = _spare(ins, out)[-1]
    terms = ins[:i] + [z + ins[i]] + ins[i + 1 :]
    ops = ops[:i] + [t] + ops[i + 1 :]
    return np.einsum(",".join(terms) + "->" + z + out, *ops, optimize=optimize)


def _contract_vjp(ins, out, ops, i, g, optimize=False):
    """Cotangent of operand ``i`` of ``einsum(ins -> out, *ops)`` (batched ``g``)."""
    spare = _spare(ins, out)
    z = spare.pop()
    terms = [z + out] + ins[:i] + ins[i + 1 :]
    operands = [g] + ops[:i] + ops[i + 1 :]
    shape = shape_of(ops[i])
    target = ""
    for c, n in zip(ins[i], shape):
        if c in target:  # a repeated label reads a diagonal: write the cotangent back onto it
            r = spare.pop()
            terms.append(c + r)
            operands.append(np.eye(n))
            target += r
        else:
            target += c
    present = set("".join(terms))
    for c, n in zip(target, shape):
        if c not in present:  # summed over by this operand alone: constant along that axis
            terms.append(c)
            operands.append(np.ones(n))
    return np.einsum(",".join(terms) + "->" + z + target, *operands, optimize=optimize)


def _reshaped_jvp(labels, i):
    """JVP of a product given by ``labels(*args, **kwargs) -> (ins, out, operands)``.

    The operands may be reshaped views of the arguments (outer, vdot, kron); the tangent is
    reshaped alike, and the contraction's result is reshaped to the answer's shape.
    """

    def jvp(t, ans, *args, **kwargs):
        ins, out, ops = labels(*args, **kwargs)
        shape = shape_of(ops[i])
        if t.shape[1:] != shape:
            t = np.reshape(t, t.shape[:1] + shape)
        c = _contract_jvp(ins, out, ops, i, t)
        return c if c.shape[1:] == shape_of(ans) else np.reshape(c, c.shape[:1] + shape_of(ans))

    return jvp


def _reshaped_vjp(labels, i):
    """VJP counterpart of :func:`_reshaped_jvp`."""

    def vjp(g, ans, *args, **kwargs):
        ins, out, ops = labels(*args, **kwargs)
        size = {c: n for term, op in zip(ins, ops) for c, n in zip(term, shape_of(op))}
        shape = tuple(size[c] for c in out)
        if g.shape[1:] != shape:
            g = np.reshape(g, g.shape[:1] + shape)
        c = _contract_vjp(ins, out, ops, i, g)
        x_shape = shape_of(args[i])
        return c if c.shape[1:] == x_shape else np.reshape(c, c.shape[:1] + x_shape)

    return vjp


def _defproduct(fn, labels):
    """Register both modes for both operands of a bilinear product described by ``labels``."""
    for i in (0, 1):
        defjvp(fn, argnum=i)(_reshaped_jvp(labels, i))
        defvjp(fn, argnum=i)(_reshaped_vjp(labels, i))


def _flat(x):
    return x if _ndim(x) == 1 else np.reshape(x, (-1,))


def dot_labels(a, b):
    # the last axis of a meets the only (1-d) or the second-to-last axis of b; scalars multiply
    na, nb = _ndim(a), _ndim(b)
    la, lb = _LETTERS[:na], list(_LETTERS[na : na + nb])
    if not (na and nb):
        return [la, "".join(lb)], la + "".join(lb), [a, b]
    k = 0 if nb == 1 else nb - 2
    lb[k] = la[-1]
    out = la[:-1] + "".join(c for j, c in enumerate(lb) if j != k)
    return [la, "".join(lb)], out, [a, b]


def inner_labels(a, b):
    na, nb = _ndim(a), _ndim(b)
    la, lb = _LETTERS[:na], _LETTERS[na : na + nb]
    if na and nb:
        lb = lb[:-1] + la[-1]
        return [la, lb], la[:-1] + lb[:-1], [a, b]
    return [la, lb], la + lb, [a, b]


def outer_labels(a, b):
    return ["i", "j"], "ij", [_flat(a), _flat(b)]


def vdot_labels(a, b):
    return ["i", "i"], "", [_flat(a), _flat(b)]


def tensordot_labels(a, b, axes=2):
    na, nb = _ndim(a), _ndim(b)
    if np.ndim(axes) == 0:
        axes_a, axes_b = range(na - axes, na), range(axes)
    else:
        axes_a, axes_b = ([x] if np.ndim(x) == 0 else x for x in axes)
    axes_a, axes_b = [x % na for x in axes_a], [x % nb for x in axes_b]
    la, lb = list(_LETTERS[:na]), list(_LETTERS[na : na + nb])
    for i, j in zip(axes_a, axes_b):
        lb[j] = la[i]
    out = [c for i, c in enumerate(la) if i not in axes_a]
    out += [c for j, c in enumerate(lb) if j not in axes_b]
    return ["".join(la), "".join(lb)], "".join(out), [a, b]


def kron_labels(a, b):
    # kron is the outer product with the axes of a and b interleaved, then merged pairwise
    nd = max(_ndim(a), _ndim(b))
    ops = [
        x if _ndim(x) == nd else np.reshape(x, (1,) * (nd - _ndim(x)) + shape_of(x)) for x in (a, b)
    ]
    la, lb = _LETTERS[:nd], _LETTERS[nd : 2 * nd]
    return [la, lb], "".join(x + y for x, y in zip(la, lb)), ops


_defproduct(np.dot, dot_labels)
_defproduct(np.inner, inner_labels)
_defproduct(np.outer, outer_labels)
_defproduct(np.linalg.outer, outer_labels)
_defproduct(np.vdot, vdot_labels)
_defproduct(np.tensordot, tensordot_labels)
_defproduct(np.linalg.tensordot, tensordot_labels)
_defproduct(np.kron, kron_labels)


# -- einsum: any subscripts, implicit or explicit, ellipses, repeated labels, both call forms --
def _einsum_key(args):
    """Subscripts, operand positions and shapes of an einsum call (hashable, for the cache)."""
    if isinstance(args[0], str):
        positions = tuple(range(1, len(args)))
        spec = args[0]
    else:  # interleaved: einsum(op0, sublist0, op1, sublist1, ..., [sublist_out])
        positions = tuple(range(0, len(args) - 1, 2))
        subs = [_sublist(args[p + 1]) for p in positions]
        spec = ",".join(subs) + ("->" + _sublist(args[-1]) if len(args) % 2 else "")
    return spec, positions, tuple(shape_of(args[p]) for p in positions)


def _sublist(sub):
    return "".join("..." if s is Ellipsis else _SUBLIST_LABELS[s] for s in sub)


@functools.lru_cache(maxsize=256)
def _einsum_labels(spec, shapes):
    """Explicit labels ``(ins, out)``: ellipses become letters, and an axis of size 1 that
    broadcasts against a longer one gets a label of its own (summed away), so each label has
    one size across operands."""
    lhs, arrow, rhs = spec.replace(" ", "").partition("->")
    terms = lhs.split(",")
    spare = _spare([t.replace(".", "") for t in terms], rhs.replace(".", ""))
    ranks = [len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)]
    n_ell = max((r for t, r in zip(terms, ranks) if "..." in t), default=0)
    ell = "".join(spare.pop() for _ in range(n_ell))
    ins = [t.replace("...", ell[n_ell - r :]) for t, r in zip(terms, ranks)]
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit mode: broadcast axes first, then the labels seen once, in label order
        counts = Counter(lhs.replace(",", "").replace(".", ""))
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    size = {}  # each label's length: the one that is not 1, if any (0 too: 1 broadcasts to 0)
    for term, shape in zip(ins, shapes):
        for c, n in zip(term, shape):
            size[c] = size.get(c, 1) if n == 1 else n
    ins = [
        "".join(c if n == size[c] else spare.pop() for c, n in zip(term, shape))
        for term, shape in zip(ins, shapes)
    ]
    return tuple(ins), out


# Operands are varargs (at even positions in the interleaved form): one rule for every position.
@defjvp(np.einsum, argnum=...)
def einsum_jvp(argnum, t, ans, *args, optimize=False, **kwargs):
    spec, positions, shapes = _einsum_key(args)
    ins, out = _einsum_labels(spec, shapes)
    ops = [args[p] for p in positions]
    return _contract_jvp(list(ins), out, ops, positions.index(argnum), t, optimize)


@defvjp(np.einsum, argnum=...)
def einsum_vjp(argnum, g, ans, *args, optimize=False, **kwargs):
    spec, positions, shapes = _einsum_key(args)
    ins, out = _einsum_labels(spec, shapes)
    ops = [args[p] for p in positions]
    return _contract_vjp(list(ins), out, ops, positions.index(argnum), g, optimize)


# -- multi_dot: a chain of matrix products (first and last may be vectors) ----------------------
def _multi_dot_labels(arrays):
    n = len(arrays)
    chain = _LETTERS[: n + 1]
    ins = [chain[j : j + 2] for j in range(n)]
    first, last = _ndim(arrays[0]) == 2, _ndim(arrays[-1]) == 2
    ins[0] = ins[0] if first else ins[0][1:]
    ins[-1] = ins[-1] if last else ins[-1][:1]
    return ins, (chain[0] if first else "") + (chain[n] if last else "")


@defjvp(np.linalg.multi_dot)
def multi_dot_jvp(t, ans, arrays, **kwargs):
    ins, out = _multi_dot_labels(arrays)
    ops = list(arrays)
    terms = [
        _contract_jvp(ins, out, ops, i, ti, optimize="greedy")
        for i, ti in enumerate(t)
        if ti is not None
    ]
    return functools.reduce(np.add, terms)


@defvjp(np.linalg.multi_dot)
def multi_dot_vjp(g, ans, arrays, **kwargs):
    ins, out = _multi_dot_labels(arrays)
    ops = list(arrays)
    return [_contract_vjp(ins, out, ops, i, g, optimize="greedy") for i in range(len(ops))]


# -- cross products of 3-vectors ------------------------------------------------------------------
def _cross_axes(a, b, ans, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    axisa, axisb = neg_axis(axisa, _ndim(a)), neg_axis(axisb, _ndim(b))
    if shape_of(a)[axisa] != 3 or shape_of(b)[axisb] != 3:
        raise NotImplementedError("dualdiff differentiates np.cross of 3-vectors only.")
    return dict(axisa=axisa, axisb=axisb, axisc=neg_axis(axisc, _ndim(ans)))


@defjvp(np.cross, argnum=0)
def cross_jvp_a(t, ans, a, b, *args, **kwargs):
    ax = _cross_axes(a, b, ans, *args, **kwargs)
    return np.cross(align(t, max(_ndim(a), _ndim(b))), b, **ax)


@defvjp(np.cross, argnum=0)
def cross_vjp_a(g, ans, a, b, *args, **kwargs):
    # <g, da x b> = <da, b x g>
    ax = _cross_axes(a, b, ans, *args, **kwargs)
    return np.cross(b, g, axisa=ax["axisb"], axisb=ax["axisc"], axisc=ax["axisa"])


@defjvp(np.cross, argnum=1)
def cross_jvp_b(t, ans, a, b, *args, **kwargs):
    ax = _cross_axes(a, b, ans, *args, **kwargs)
    return np.cross(a, align(t, max(_ndim(a), _ndim(b))), **ax)


@defvjp(np.cross, argnum=1)
def cross_vjp_b(g, ans, a, b, *args, **kwargs):
    # <g, a x db> = <db, g x a>
    ax = _cross_axes(a, b, ans, *args, **kwargs)
    return np.cross(g, a, axisa=ax["axisc"], axisb=ax["axisa"], axisc=ax["axisb"])


for _i, (_jvp, _vjp) in enumerate([(cross_jvp_a, cross_vjp_a), (cross_jvp_b, cross_vjp_b)]):
    defjvp(np.linalg.cross, _i)(_jvp)
    defvjp(np.linalg.cross, _i)(_vjp)


# -- vecdot and matrix_transpose (numpy 2's array-API names) --------------------------------------
def _vecdot_operands(x1, x2, axis):
    # vecdot's axis counts within each operand; move it last, where broadcasting is plain
    return np.moveaxis(x1, axis, -1), np.moveaxis(x2, axis, -1)


@defjvp(np.linalg.vecdot, argnum=0)
def vecdot_jvp_x1(t, ans, x1, x2, axis=-1):
    _, y = _vecdot_operands(x1, x2, axis)
    t = np.moveaxis(t, neg_axis(axis, _ndim(x1)), -1)
    return np.sum(align(t, y.ndim) * y, axis=-1)


@defvjp(np.linalg.vecdot, argnum=0)
def vecdot_vjp_x1(g, ans, x1, x2, axis=-1):
    _, y = _vecdot_operands(x1, x2, axis)
    return np.moveaxis(g[..., None] * y, -1, neg_axis(axis, _ndim(x1)))


@defjvp(np.linalg.vecdot, argnum=1)
def vecdot_jvp_x2(t, ans, x1, x2, axis=-1):
    x, _ = _vecdot_operands(x1, x2, axis)
    t = np.moveaxis(t, neg_axis(axis, _ndim(x2)), -1)
    return np.sum(x * align(t, x.ndim), axis=-1)


@defvjp(np.linalg.vecdot, argnum=1)
def vecdot_vjp_x2(g, ans, x1, x2, axis=-1):
    x, _ = _vecdot_operands(x1, x2, axis)
    return np.moveaxis(g[..., None] * x, -1, neg_axis(axis, _ndim(x2)))


# numpy 2's np.vecdot is a gufunc of the same meaning: the hook routes it to these rules too
for _i, (_jvp, _vjp) in enumerate([(vecdot_jvp_x1, vecdot_vjp_x1), (vecdot_jvp_x2, vecdot_vjp_x2)]):
    defjvp(np.vecdot, _i)(_jvp)
    defvjp(np.vecdot, _i)(_vjp)


@defjvp(np.linalg.matrix_transpose)
def matrix_transpose_jvp(t, ans, x):
    return _mT(t)


@defvjp(np.linalg.matrix_transpose)
def matrix_transpose_vjp(g, ans, x):
    return _mT(g)


# -- inverse, solve, determinants ----------------------------------------------------------------
@defjvp(np.linalg.inv)
def inv_jvp(t, ans, a):
    return -np.matmul(ans, np.matmul(t, ans))


@defvjp(np.linalg.inv)
def inv_vjp(g, ans, a):
    ans_t = _mT(ans)
    return -np.matmul(ans_t, np.matmul(g, ans_t))


# numpy 2 reads b as a vector only when it is 1-d; otherwise b is a (stack of) matrices.
@defjvp(np.linalg.solve, argnum=0)
def solve_jvp_a(t, ans, a, b):
    vec = _ndim(b) == 1
    x = _col(ans, vec)
    return _unpromote(-np.linalg.solve(a, np.matmul(align(t, x.ndim), x)), False, vec)


@defvjp(np.linalg.solve, argnum=0)
def solve_vjp_a(g, ans, a, b):
    vec = _ndim(b) == 1
    gb = np.linalg.solve(_mT(a), _col(g, vec))
    return -np.matmul(gb, _mT(_col(ans, vec)))


@defjvp(np.linalg.solve, argnum=1)
def solve_jvp_b(t, ans, a, b):
    vec = _ndim(b) == 1
    return _unpromote(np.linalg.solve(a, align(_col(t, vec), _ndim(a))), False, vec)


@defvjp(np.linalg.solve, argnum=1)
def solve_vjp_b(g, ans, a, b):
    vec = _ndim(b) == 1
    return _unpromote(np.linalg.solve(_mT(a), _col(g, vec)), False, vec)


def _det_grad(ans, a):
    """``d det(a) / da``: ``det(a) inv(a)^T``, or the cofactor matrix when a matrix of the
    stack is singular (where ``inv`` fails and the gradient, a polynomial in ``a``, is still
    defined: the adjugate's transpose, zero at rank n - 2 and below).

    A traced ``a`` (a higher derivative) near singular takes the cofactors too: the derivative
    of ``det(a) inv(a)^T`` there is a difference of two terms of size ``1 / rcond``."""
    if not _plain(a) and _nearly_singular(innermost(a)):
        return _cofactors(a)
    try:
        inv = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return _cofactors(a)
    return ans[..., None, None] * _mT(inv)


def _plain(a):
    """A value without derivatives: an array, or dd.replay's capture of one (which records
    the plain array's calls, so it must take the plain array's path)."""
    return isinstance(a, np.ndarray) or getattr(a, "mode", None) == "replay"


def _nearly_singular(a):
    """Whether a matrix of the stack has a reciprocal condition number below sqrt(eps)."""
    if a.size == 0:
        return False
    s = np.linalg.svd(a, compute_uv=False)
    return bool(np.any(s[..., -1] <= _SQRT_EPS * s[..., 0]))


_SQRT_EPS = np.sqrt(np.finfo(np.float64).eps)
_MINORS_MAX = 12  # n * n minors of (n - 1) * (n - 1) entries each: 17424 numbers at n = 12


def _cofactors(a):
    """The cofactor matrix of each matrix of ``a``, singular or not."""
    n = shape_of(a)[-1]
    if _plain(a) or n > _MINORS_MAX:
        # traced and large, this is differentiated through svd: exact where the singular
        # values are distinct (rank n - 1 included), NaN where they are not
        return _cofactors_svd(a)
    # traced (a higher derivative): the signed minors, a polynomial whose derivatives are the
    # minors' own (det again), exact at every order, in O(n^4) memory
    keep = np.array([[j for j in range(n) if j != i] for i in range(n)], dtype=np.intp)
    keep = np.reshape(keep, (n, n - 1))  # (1, 0) when n == 1: the empty minor, det 1
    minors = a[..., keep[:, None, :, None], keep[None, :, None, :]]
    signs = 1.0 - 2.0 * (np.add.outer(np.arange(n), np.arange(n)) % 2)
    return signs * np.linalg.det(minors)


def _cofactors_svd(a):
    """Cofactors from ``a = u diag(s) vh``: ``det(u) det(vh) u diag(p) vh`` with ``p_i`` the
    product of the other singular values (prefix and suffix products: no division by s)."""
    u, s, vh = np.linalg.svd(a)
    ones = np.ones(s.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vh))
    return sign[..., None, None] * np.matmul(u * (left * right)[..., None, :], vh)


def _logdet_grad(ans, a):
    """``d log|det a| / da = inv(a)^T``; NaN for a singular matrix of a stack (its log|det|
    is -inf), the others' exact."""
    try:
        return _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:
        pass
    singular = (ans[0] == 0)[..., None, None]
    safe = np.where(singular, np.eye(shape_of(a)[-1]), a)
    return np.where(singular, np.nan, _mT(np.linalg.inv(safe)))


@defjvp(np.linalg.det)
def det_jvp(t, ans, a):
    return np.sum(_det_grad(ans, a) * t, axis=(-2, -1))


@defvjp(np.linalg.det)
def det_vjp(g, ans, a):
    return g[..., None, None] * _det_grad(ans, a)


@defjvp(np.linalg.slogdet)
def slogdet_jvp(t, ans, a):
    return None, np.sum(_logdet_grad(ans, a) * t, axis=(-2, -1))  # the sign: piecewise constant


@defvjp(np.linalg.slogdet)
def slogdet_vjp(g, ans, a):
    if g[1] is None:
        return None
    return g[1][..., None, None] * _logdet_grad(ans, a)


# -- symmetric input read from one triangle (cholesky, eigh, hermitian svd / pinv) --------------
def _sym_tangent(t, lower):
    """Tangent of the symmetric matrix numpy builds from one triangle of its input."""
    strict = np.tri(t.shape[-1], k=-1)
    strict = strict if lower else strict.T
    return t * (strict + np.eye(t.shape[-1])) + _mT(t * strict)


def _sym_cotangent(g, lower):
    """Adjoint of :func:`_sym_tangent`: the other triangle gets no cotangent."""
    strict = np.tri(g.shape[-1], k=-1)
    strict = strict if lower else strict.T
    return (g + _mT(g)) * strict + g * np.eye(g.shape[-1])


def _phi(x):
    """Lower triangle with half the diagonal (the Cholesky factor's share of a symmetric step)."""
    n = x.shape[-1]
    return x * (np.tri(n, k=-1) + 0.5 * np.eye(n))


@defjvp(np.linalg.cholesky)
def cholesky_jvp(t, ans, a, upper=False):
    low = _mT(ans) if upper else ans
    low_inv = np.linalg.inv(low)
    ds = _sym_tangent(t, not upper)
    dlow = np.matmul(low, _phi(np.matmul(low_inv, np.matmul(ds, _mT(low_inv)))))
    return _mT(dlow) if upper else dlow


@defvjp(np.linalg.cholesky)
def cholesky_vjp(g, ans, a, upper=False):
    low, glow = (_mT(ans), _mT(g)) if upper else (ans, g)
    low_inv = np.linalg.inv(low)
    gs = np.matmul(_mT(low_inv), np.matmul(_phi(np.matmul(_mT(low), glow)), low_inv))
    return _sym_cotangent(gs, not upper)


def _gaps(w):
    """``1 / (w_j - w_i)`` off the diagonal, 0 on it (eigen- and singular-vector rules)."""
    eye = np.eye(w.shape[-1])
    return (1.0 - eye) / (w[..., None, :] - w[..., :, None] + eye)


@defjvp(np.linalg.eigh)
def eigh_jvp(t, ans, a, UPLO="L"):
    w, v = ans
    p = np.matmul(_mT(v), np.matmul(_sym_tangent(t, UPLO.upper() == "L"), v))
    return _diag(p), np.matmul(v, _gaps(w) * p)


@defvjp(np.linalg.eigh)
def eigh_vjp(g, ans, a, UPLO="L"):
    w, v = ans
    gw, gv = g
    if gw is None and gv is None:
        return None
    inner = 0.0 if gw is None else _diag_embed(gw)
    if gv is not None:
        inner = inner + _gaps(w) * np.matmul(_mT(v), gv)
    return _sym_cotangent(np.matmul(v, np.matmul(inner, _mT(v))), UPLO.upper() == "L")


@defjvp(np.linalg.eigvalsh)
def eigvalsh_jvp(t, ans, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO=UPLO)[1]
    return np.sum(v * np.matmul(_sym_tangent(t, UPLO.upper() == "L"), v), axis=-2)


@defvjp(np.linalg.eigvalsh)
def eigvalsh_vjp(g, ans, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO=UPLO)[1]
    return _sym_cotangent(np.matmul(v * g[..., None, :], _mT(v)), UPLO.upper() == "L")


# -- singular value decomposition ---------------------------------------------------------------
def _svd_input(x, hermitian, sym):
    """With ``hermitian=True`` numpy reads the lower triangle: map tangents or cotangents."""
    return sym(x, True) if hermitian else x


def _full_rectangular(a, full_matrices):
    m, n = shape_of(a)[-2:]
    return full_matrices and m != n


def _svdvals_jvp(t, a, hermitian=False):
    u, _, vh = np.linalg.svd(a, full_matrices=False, hermitian=hermitian)
    da = _svd_input(t, hermitian, _sym_tangent)
    return np.sum(u * np.matmul(da, _mT(vh)), axis=-2)


def _svdvals_vjp(g, a, hermitian=False):
    u, _, vh = np.linalg.svd(a, full_matrices=False, hermitian=hermitian)
    return _svd_input(np.matmul(u * g[..., None, :], vh), hermitian, _sym_cotangent)


def _nan_pad(x, size, axis):
    """Append ``size`` NaN slices along ``axis``: tangents of non-unique singular vectors."""
    if size == 0:
        return x
    shape = list(x.shape)
    shape[axis] = size
    return np.concatenate([x, np.full(shape, np.nan)], axis=axis)


@defjvp(np.linalg.svd)
def svd_jvp(t, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    if not compute_uv:
        return _svdvals_jvp(t, a, hermitian)
    u, s, vh = ans
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    if _full_rectangular(a, full_matrices):
        u, vh = u[..., :, :k], vh[..., :k, :]
    v = _mT(vh)
    da = _svd_input(t, hermitian, _sym_tangent)
    dav = np.matmul(da, v)
    dp = np.matmul(_mT(u), dav)
    f = _gaps(s * s)
    dp_s, s_dp = dp * s[..., None, :], s[..., :, None] * dp
    du = np.matmul(u, f * (dp_s + _mT(dp_s)))
    dv = np.matmul(v, f * (s_dp + _mT(s_dp)))
    if m > k:  # the part of da v outside the span of u
        du = du + (dav - np.matmul(u, dp)) / s[..., None, :]
    if n > k:
        dv = dv + (np.matmul(_mT(da), u) - np.matmul(v, _mT(dp))) / s[..., None, :]
    dvh = _mT(dv)
    if _full_rectangular(a, full_matrices):
        # The extra columns of u (rows of vh) are any basis of a complement: NaN says so loudly,
        # while everything computed from s and the first min(m, n) vectors stays exact.
        du, dvh = _nan_pad(du, m - k, -1), _nan_pad(dvh, n - k, -2)
    return du, _diag(dp), dvh


def _unique_part(g, k, axis):
    """The cotangent of the first ``k`` singular vectors; the rest must be exactly zero."""
    if g is None or g.shape[axis] == k:
        return g
    rest = g[..., :, k:] if axis == -1 else g[..., k:, :]
    if np.any(rest != 0):
        raise NotImplementedError(
            "np.linalg.svd(a, full_matrices=True) of a rectangular matrix: the result uses the "
            "extra singular vectors, which are not unique, so it has no derivative here. "
            "Pass full_matrices=False (or use only s and the first min(m, n) vectors)."
        )
    return g[..., :, :k] if axis == -1 else g[..., :k, :]


@defvjp(np.linalg.svd)
def svd_vjp(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    if not compute_uv:
        return _svdvals_vjp(g, a, hermitian)
    u, s, vh = ans
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    gu, gs, gvh = _unique_part(g[0], k, -1), g[1], _unique_part(g[2], k, -2)
    if gs is None and gu is None and gvh is None:
        return None
    if _full_rectangular(a, full_matrices):
        u, vh = u[..., :, :k], vh[..., :k, :]
    v = _mT(vh)
    f = _gaps(s * s)
    inner = 0.0 if gs is None else _diag_embed(gs)
    outer = 0.0
    if gu is not None:
        j = f * np.matmul(_mT(u), gu)
        inner = inner + (j + _mT(j)) * s[..., None, :]
        if m > k:
            proj = gu - np.matmul(u, np.matmul(_mT(u), gu))
            outer = outer + np.matmul(proj / s[..., None, :], vh)
    if gvh is not None:
        gv = _mT(gvh)
        j = f * np.matmul(vh, gv)
        inner = inner + s[..., :, None] * (j + _mT(j))
        if n > k:
            proj = gv - np.matmul(v, np.matmul(vh, gv))
            outer = outer + np.matmul(u / s[..., None, :], _mT(proj))
    ga = np.matmul(u, np.matmul(inner, vh)) + outer
    return _svd_input(ga, hermitian, _sym_cotangent)


@defjvp(np.linalg.svdvals)
def svdvals_jvp(t, ans, x):
    return _svdvals_jvp(t, x)


@defvjp(np.linalg.svdvals)
def svdvals_vjp(g, ans, x):
    return _svdvals_vjp(g, x)


# -- QR (m >= n) --------------------------------------------------------------------------------
def _qr_factors(ans, a, mode):
    m, n = shape_of(a)[-2:]
    if m < n or mode not in ("reduced", "complete", "r") or (mode == "complete" and m != n):
        raise NotImplementedError(
            "dualdiff differentiates np.linalg.qr for m >= n in mode 'reduced' or 'r' "
            f"('complete' when square); got shape {shape_of(a)} and mode {mode!r}."
        )
    return np.linalg.qr(a) if mode == "r" else ans


@defjvp(np.linalg.qr)
def qr_jvp(t, ans, a, mode="reduced"):
    q, r = _qr_factors(ans, a, mode)
    r_inv = np.linalg.inv(r)
    c = np.matmul(_mT(q), np.matmul(t, r_inv))
    low = c * np.tri(c.shape[-1], k=-1)
    dr_rinv = c - (low - _mT(low))  # dR R^-1: c minus its antisymmetric (Q^T dQ) part
    dr = np.matmul(dr_rinv, r)
    if mode == "r":
        return dr
    return np.matmul(t, r_inv) - np.matmul(q, dr_rinv), dr


@defvjp(np.linalg.qr)
def qr_vjp(g, ans, a, mode="reduced"):
    q, r = _qr_factors(ans, a, mode)
    gq, gr = (None, g) if mode == "r" else g
    if gq is None and gr is None:
        return None
    m = 0.0 if gr is None else np.matmul(r, _mT(gr))
    if gq is not None:
        m = m - np.matmul(_mT(gq), q)
    b = np.matmul(q, _sym_tangent(m, True))  # the lower triangle of m copied to the upper
    b = b if gq is None else b + gq
    return np.matmul(b, _mT(np.linalg.inv(r)))


# -- pseudo-inverse and least squares (full rank) ---------------------------------------------
def _pinv_jvp(p, a, da):
    """Tangent of p = pinv(a) at full rank."""
    pp_t = np.matmul(p, _mT(p))
    pt_p = np.matmul(_mT(p), p)
    da_t = _mT(da)
    y = np.matmul(pp_t, da_t)
    z = np.matmul(da_t, pt_p)
    return (
        -np.matmul(p, np.matmul(da, p))
        + y - np.matmul(np.matmul(y, a), p)
        + z - np.matmul(p, np.matmul(a, z))
    )  # fmt: skip


def _pinv_vjp(p, a, g):
    """Cotangent of a from the cotangent g of p = pinv(a) at full rank."""
    p_t = _mT(p)
    g_t = _mT(g)
    w = np.matmul(g_t, np.matmul(p, p_t))
    x = np.matmul(np.matmul(p_t, p), g_t)
    return (
        -np.matmul(p_t, np.matmul(g, p_t))
        + w - np.matmul(a, np.matmul(p, w))
        + x - np.matmul(np.matmul(x, p), a)
    )  # fmt: skip


@defjvp(np.linalg.pinv)
def pinv_jvp(t, ans, a, rcond=None, hermitian=False, **kwargs):
    a_eff = _svd_input(a, hermitian, _sym_tangent)
    return _pinv_jvp(ans, a_eff, _svd_input(t, hermitian, _sym_tangent))


@defvjp(np.linalg.pinv)
def pinv_vjp(g, ans, a, rcond=None, hermitian=False, **kwargs):
    a_eff = _svd_input(a, hermitian, _sym_tangent)
    return _svd_input(_pinv_vjp(ans, a_eff, g), hermitian, _sym_cotangent)


def _lstsq_parts(ans, a, b):
    x, _, rank, _ = ans
    if rank < min(shape_of(a)):
        raise NotImplementedError("dualdiff differentiates np.linalg.lstsq at full rank only.")
    vec = _ndim(b) == 1
    x, b = _col(x, vec), _col(b, vec)
    return np.linalg.pinv(a), x, b, b - np.matmul(a, x), vec


# outputs: x, residuals (non-empty when m > n), rank (an int), singular values of a
@defjvp(np.linalg.lstsq, argnum=0)
def lstsq_jvp_a(t, ans, a, b, rcond=None):
    p, x, bm, r, vec = _lstsq_parts(ans, a, b)
    dx = _unpromote(np.matmul(_pinv_jvp(p, a, t), bm), False, vec)
    # at the optimum a^T r = 0, so the residuals move only through da x
    dres = -2.0 * np.sum(r * np.matmul(t, x), axis=-2) if np.size(ans[1]) else None
    return dx, dres, None, _svdvals_jvp(t, a)


@defvjp(np.linalg.lstsq, argnum=0)
def lstsq_vjp_a(g, ans, a, b, rcond=None):
    p, x, bm, r, vec = _lstsq_parts(ans, a, b)
    gx, gres, _, gs = g
    terms = []
    if gx is not None:
        terms.append(_pinv_vjp(p, a, np.matmul(_col(gx, vec), _mT(bm))))
    if gres is not None and np.size(ans[1]):
        terms.append(-2.0 * np.matmul(r * gres[..., None, :], _mT(x)))
    if gs is not None:
        terms.append(_svdvals_vjp(gs, a))
    return functools.reduce(np.add, terms) if terms else None


@defjvp(np.linalg.lstsq, argnum=1)
def lstsq_jvp_b(t, ans, a, b, rcond=None):
    p, x, bm, r, vec = _lstsq_parts(ans, a, b)
    dx = np.matmul(p, _col(t, vec))
    dres = 2.0 * np.sum(r * _col(t, vec), axis=-2) if np.size(ans[1]) else None
    return _unpromote(dx, False, vec), dres, None, None


@defvjp(np.linalg.lstsq, argnum=1)
def lstsq_vjp_b(g, ans, a, b, rcond=None):
    p, x, bm, r, vec = _lstsq_parts(ans, a, b)
    gx, gres, _, _ = g
    terms = []
    if gx is not None:
        terms.append(np.matmul(_mT(p), _col(gx, vec)))
    if gres is not None and np.size(ans[1]):
        terms.append(2.0 * r * gres[..., None, :])
    return _unpromote(functools.reduce(np.add, terms), False, vec) if terms else None


# -- matrix powers ---------------------------------------------------------------------------
def _powers(x, m):
    """``[x^0 (None), x, x^2, ..., x^(m-1)]``, None standing for the identity."""
    out = [None, x]
    while len(out) < m:
        out.append(np.matmul(out[-1], x))
    return out[:m]


def _sandwich(left, mid, right):
    mid = mid if left is None else np.matmul(left, mid)
    return mid if right is None else np.matmul(mid, right)


def _power_sum(x, d, m, transpose=False):
    # d(x^m) = sum_i x^i dx x^(m-1-i); its adjoint uses the transposed powers
    pw = [p if p is None or not transpose else _mT(p) for p in _powers(x, m)]
    return functools.reduce(np.add, [_sandwich(pw[i], d, pw[m - 1 - i]) for i in range(m)])


@defjvp(np.linalg.matrix_power)
def matrix_power_jvp(t, ans, a, n):
    if n == 0:
        return None
    if n > 0:
        return _power_sum(a, t, n)
    b = np.linalg.inv(a)
    return _power_sum(b, -np.matmul(b, np.matmul(t, b)), -n)


@defvjp(np.linalg.matrix_power)
def matrix_power_vjp(g, ans, a, n):
    if n == 0:
        return None
    if n > 0:
        return _power_sum(a, g, n, transpose=True)
    b_t = _mT(np.linalg.inv(a))
    return -np.matmul(b_t, np.matmul(_power_sum(_mT(b_t), g, -n, transpose=True), b_t))
