"""NumPy functions HIPS autograd or ``jax.numpy`` differentiate that the other families lacked:
polynomials (``poly``, ``polyadd`` ... ``polydiv``, ``roots``), ``unwrap``, ``vander``,
``meshgrid``, ``block``, ``choose``, ``trim_zeros``, ``unstack``, the set functions
(``unique`` and kin, ``union1d``, ``intersect1d``, ``setdiff1d``, ``setxor1d``), ``histogram``,
``bincount``, ``apply_along_axis``, the tensor solvers and ``cond`` of ``np.linalg``,
``matvec``/``vecmat``, the writers into a traced array (``fill_diagonal``, ``put``, ``place``,
``putmask``, ``put_along_axis``, ``copyto``) and the predicates and index functions that carry
no derivative.

Almost all are composites: NumPy's own definition written in ops that have rules, so both modes
and every order come from those rules, and the values are NumPy's (the same ops on the same
numbers). Where a choice depends on the values (which elements are unique, which bin a sample
falls in, how many zeros to trim), it is made on the primal values and applied to the traced
array as a gather, as JAX does: exact wherever the choice does not change under a small step.
"""

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from dualdiff import numpy as dnp
from dualdiff._batch import align, unbroadcast
from dualdiff._complex import allow
from dualdiff._registry import defcomposite, defconstant, defjvp, defvjp
from dualdiff._tracer import Tracer, _write_into_plain, innermost
from dualdiff.rules.shape import index_add

# -- no derivative: predicates, dtypes, indices ----------------------------------------------------
defconstant(
    np.all, np.any, np.iscomplexobj, np.isrealobj, np.result_type, np.can_cast,
    np.nanargmax, np.nanargmin, np.tril_indices_from, np.triu_indices_from,
    np.diag_indices_from, np.einsum_path,
)  # fmt: skip


# np.lexsort takes its keys in one sequence, which the constant ops' unwrapping does not enter
defcomposite(np.lexsort, lambda keys, axis=-1: np.lexsort(tuple(map(innermost, keys)), axis))


# -- names of functions the table already has ------------------------------------------------------
def _astype(x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype)


defcomposite(np.astype, _astype)
defcomposite(np.matrix_transpose, lambda x, /: np.linalg.matrix_transpose(x))
defcomposite(np.linalg.diagonal, lambda x, /, *, offset=0: np.diagonal(x, offset, -2, -1))
defcomposite(
    np.linalg.trace,
    lambda x, /, *, offset=0, dtype=None: np.trace(x, offset, -2, -1, dtype),
)
defcomposite(np.unstack, lambda x, /, *, axis=0: tuple(np.moveaxis(x, axis, 0)))


# -- polynomials ---------------------------------------------------------------------------------
# numpy's definitions, with atleast_1d where numpy calls asarray (which a tracer refuses)
def _aligned(a1, a2):
    """Two coefficient vectors, the shorter padded with leading zeros to the longer's length."""
    a1, a2 = np.atleast_1d(a1), np.atleast_1d(a2)
    diff = len(a2) - len(a1)
    if diff > 0:
        a1 = np.concatenate((np.zeros(diff, a1.dtype), a1))
    elif diff < 0:
        a2 = np.concatenate((np.zeros(-diff, a2.dtype), a2))
    return a1, a2


def _polyadd(a1, a2):
    a1, a2 = _aligned(a1, a2)
    return a1 + a2


def _polysub(a1, a2):
    a1, a2 = _aligned(a1, a2)
    return a1 - a2


def _poly1d_coefficients(a):
    """``np.poly1d(a).coeffs``: leading zeros dropped, ``[0.]`` for a zero polynomial (a choice
    made on the values: at an exact leading zero the result's length, NumPy's, jumps)."""
    a = np.atleast_1d(a)
    nonzero = np.flatnonzero(innermost(a))
    if nonzero.size:
        return a[nonzero[0] :]
    return a[-1:] if np.size(a) else np.zeros(1)


def _polymul(a1, a2):
    # NumPy multiplies the coefficients of poly1d(a1) and poly1d(a2)
    return np.convolve(_poly1d_coefficients(a1), _poly1d_coefficients(a2))


def _polyder(p, m=1):
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = np.atleast_1d(p)
    for _ in range(m):
        p = p[:-1] * np.arange(len(p) - 1, 0, -1)
    return p


def _polyint(p, m=1, k=None):
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = np.zeros(m, float) if k is None else np.atleast_1d(dnp.asarray(k))
    if len(k) == 1 and m > 1:
        k = k[0] * np.ones(m, float)
    if len(k) < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = np.atleast_1d(p)
    for i in range(m):  # the constant of the i-th integration is k[i], as numpy's recursion
        p = np.concatenate((p / np.arange(len(p), 0, -1), np.reshape(k[i], (1,))))
    return p


def _polydiv(u, v):
    # numpy's long division, with each step's update written out (r[k:k+n+1] -= d*v would
    # write a traced d into a plain r when only v is traced); the leading remainder terms
    # numpy drops are those allclose to 0 at the primal values
    # numpy computes in the common type of u[0] + v[0] (float32 stays float32)
    u, v = np.atleast_1d(u) + 0.0, np.atleast_1d(v) + 0.0
    dtype = (innermost(u)[0] + innermost(v)[0]).dtype
    m, n = len(u) - 1, len(v) - 1
    scale = 1.0 / v[0]
    q, r = [], u.astype(dtype)
    for k in range(m - n + 1):
        d = scale * r[k]
        q.append(d)
        step = np.concatenate((np.zeros(k, dtype), d * v, np.zeros(m - n - k, dtype)))
        r = r - step
    while np.allclose(innermost(r)[0], 0, rtol=1e-14) and r.shape[-1] > 1:
        r = r[1:]
    return (np.stack(q).astype(dtype) if q else np.zeros(1, dtype)), r


def _poly(seq_of_zeros):
    z = np.atleast_1d(seq_of_zeros)
    if z.ndim != 1:  # numpy takes a square matrix's eigenvalues: complex, which convolve refuses
        raise NotImplementedError(
            "dualdiff differentiates np.poly of a 1-D sequence of roots; for a matrix's "
            "characteristic polynomial pass its eigenvalues when they are real."
        )
    if len(z) == 0:
        return 1.0
    a = np.ones((1,), dtype=z.dtype)
    for zero in z:
        a = np.convolve(a, np.concatenate((np.ones(1, z.dtype), -np.reshape(zero, (1,)))))
    return a


# -- roots: NumPy's values; derivatives by the implicit function theorem ---------------------------
# Each simple root r of p(x) = sum_k p_k x^(n-k) moves as dr = -(sum_k dp_k r^(n-k)) / p'(r), over
# every coefficient, the ones np.roots strips included: a trailing zero coefficient is a root at 0
# that moves with it, and a leading zero one moves the finite roots (the root it adds is at
# infinity). At a repeated root p'(r) = 0 and the derivative is infinite, as it is.
def _root_terms(ans, p):
    """``r_i^(n-k)`` for every root and coefficient, and ``p'(r_i)``."""
    n = np.shape(p)[0] - 1
    powers = np.power(np.reshape(ans, (-1, 1)), np.arange(n, -1, -1.0))
    slope = np.matmul(powers[:, 1:], p[:-1] * np.arange(n, 0, -1.0))
    return powers, slope


@defjvp(np.roots)
def roots_jvp(t, ans, p):
    powers, slope = _root_terms(ans, p)
    return -np.matmul(t, np.swapaxes(powers, -1, -2)) / slope


@defvjp(np.roots)
def roots_vjp(g, ans, p):
    powers, slope = _root_terms(ans, p)
    c = np.matmul(-g / slope, powers)
    return c if np.iscomplexobj(innermost(p)) else np.real(c)


allow(np.roots)


defcomposite(np.polyadd, _polyadd)
defcomposite(np.polysub, _polysub)
defcomposite(np.polymul, _polymul)
defcomposite(np.polyder, _polyder)
defcomposite(np.polyint, _polyint)
defcomposite(np.polydiv, _polydiv)
defcomposite(np.poly, _poly)


# -- unwrap: a piecewise-constant multiple of the period added to x --------------------------------
def _unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    if isinstance(period, Tracer) or isinstance(discont, Tracer):
        raise NotImplementedError(
            "dualdiff differentiates np.unwrap in p only: pass period and discont as numbers."
        )
    # numpy's correction, computed on the primal values: a multiple of the period, so its
    # derivative in p is 0 (at a jump of exactly discont it is undefined; numpy's side is kept)
    plain = innermost(p)
    dd = np.diff(plain, axis=axis)
    if discont is None:
        discont = period / 2
    integer = np.issubdtype(np.result_type(dd, period), np.integer)
    high, rem = divmod(period, 2) if integer else (period / 2, 0)
    low = -high
    ddmod = np.mod(dd - low, period) + low
    if not integer or rem == 0:
        np.copyto(ddmod, high, where=(ddmod == low) & (dd > 0))
    ph_correct = ddmod - dd
    np.copyto(ph_correct, 0, where=abs(dd) < discont)
    head, rest = [slice(None)] * np.ndim(plain), [slice(None)] * np.ndim(plain)
    head[axis], rest[axis] = slice(None, 1), slice(1, None)
    return np.concatenate((p[tuple(head)], p[tuple(rest)] + np.cumsum(ph_correct, axis)), axis)


defcomposite(np.unwrap, _unwrap)


# -- arrays built from others: vander, meshgrid, block, choose, trim_zeros, sort_complex -----------
def _vander(x, N=None, increasing=False):
    # numpy multiplies the powers up one column at a time (multiply.accumulate): cumprod does
    # the same products in the same order, and differentiates at x = 0
    if np.ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    x = x.astype(np.promote_types(x.dtype, int))  # numpy's dtype: float32 gives float64
    n = len(x) if N is None else N
    columns = [np.ones((len(x), min(n, 1)), x.dtype)]
    if n > 1:
        columns.append(np.cumprod(np.broadcast_to(x[:, None], (len(x), n - 1)), axis=1))
    v = np.concatenate(columns, axis=1)
    return v if increasing else v[:, ::-1]


def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    shapes = [[1] * ndim for _ in xi]
    for i, shape in enumerate(shapes):
        shape[i] = -1
    if indexing == "xy" and ndim > 1:
        shapes[0][:2], shapes[1][:2] = [1, -1], [-1, 1]
    out = [np.reshape(x, tuple(s)) for x, s in zip(xi, shapes, strict=True)]
    if not sparse:
        out = np.broadcast_arrays(*out)
    return tuple(np.copy(x) for x in out) if copy else tuple(out)


def _leaves(arrays, out):
    if type(arrays) is list:
        for a in arrays:
            _leaves(a, out)
    else:
        out.append(arrays)
    return out


def _numbered(arrays, offsets):
    """The nesting of ``arrays`` with each leaf replaced by the ids of its elements."""
    if type(arrays) is list:
        return [_numbered(a, offsets) for a in arrays]
    start = offsets.pop(0)
    return np.reshape(np.arange(start, start + np.size(arrays)), np.shape(arrays))


def _block(arrays):
    # np.block moves elements: numpy's own np.block of the leaves' element ids checks the
    # nesting and gives where each element goes; the result gathers them
    leaves = _leaves(arrays, [])
    sizes = [np.size(a) for a in leaves]
    offsets = list(np.cumsum([0] + sizes[:-1]))
    ids = np.block(_numbered(arrays, offsets))
    flat = np.concatenate([np.ravel(a) for a in leaves])
    return np.reshape(np.take(flat, np.ravel(ids)), np.shape(ids))


def _choose(a, choices, out=None, mode="raise"):
    if out is not None:
        raise TypeError("np.choose of traced choices cannot write into out=; use its result.")
    a = np.asarray(innermost(a))  # an index: a traced one carries no derivative
    n = len(choices)
    if mode == "wrap":
        a = a % n
    elif mode == "clip":
        a = np.clip(a, 0, n - 1)
    elif np.any((a < 0) | (a >= n)):
        raise ValueError("invalid entry in choice array")
    shape = np.broadcast_shapes(a.shape, *(np.shape(c) for c in choices))
    stacked = np.stack([np.broadcast_to(c, shape) for c in choices])
    return np.take_along_axis(stacked, np.broadcast_to(a, shape)[None], axis=0)[0]


def _trim_zeros(filt, trim="fb", axis=None):
    plain = np.asarray(innermost(filt))
    trim = trim.lower()
    if trim not in {"fb", "bf", "f", "b"}:
        raise ValueError(f"unexpected character(s) in `trim`: {trim!r}")
    if axis is None:
        axes = range(plain.ndim)
    else:
        axes = normalize_axis_tuple(axis, plain.ndim, argname="axis")
    nonzero = np.argwhere(plain)
    if nonzero.size == 0:  # all zero: numpy trims to empty whatever `trim` says
        start = stop = [0] * plain.ndim
    else:
        start = nonzero.min(axis=0) if "f" in trim else [None] * plain.ndim
        stop = nonzero.max(axis=0) + 1 if "b" in trim else [None] * plain.ndim
    index = [slice(None)] * plain.ndim
    for ax in axes:
        index[ax] = slice(start[ax], stop[ax])
    return filt[tuple(index)]


def _sort_complex(a):
    # numpy sorts complex values by real part, then imaginary part: the same order, as a gather
    order = np.argsort(innermost(a), axis=-1, kind="stable")
    out = np.take_along_axis(a, order, axis=-1)
    if np.iscomplexobj(innermost(out)):
        return out
    # numpy's types: real floats become complex128 (float32 too), long double clongdouble
    return out.astype(np.clongdouble if out.dtype == np.longdouble else np.complex128)


defcomposite(np.vander, _vander)
defcomposite(np.meshgrid, _meshgrid)
defcomposite(np.block, _block)
defcomposite(np.choose, _choose)
defcomposite(np.trim_zeros, _trim_zeros)
defcomposite(np.sort_complex, _sort_complex)


# -- functions applied along axes -----------------------------------------------------------------
def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    ndim = np.ndim(arr)
    axis = _axis(axis, ndim)
    moved = np.moveaxis(arr, axis, -1)
    outer = np.shape(moved)[:-1]
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [func1d(moved[index], *args, **kwargs) for index in np.ndindex(outer)]
    res = np.stack(results)
    inner = np.ndim(res) - 1
    res = np.reshape(res, outer + np.shape(res)[1:])
    positions = list(range(len(outer), len(outer) + inner))
    return np.moveaxis(res, positions, [axis + i for i in range(inner)])


def _axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _apply_over_axes(func, a, axes):
    val, n = a, np.ndim(a)
    for axis in np.atleast_1d(axes):
        axis = int(axis) + n if axis < 0 else int(axis)
        res = func(val, axis)
        if np.ndim(res) != np.ndim(val):
            res = np.expand_dims(res, axis)
            if np.ndim(res) != np.ndim(val):
                raise ValueError("function is not returning an array of the correct shape")
        val = res
    return val


defcomposite(np.apply_along_axis, _apply_along_axis)
defcomposite(np.apply_over_axes, _apply_over_axes)


# -- np.linalg: tensor solvers and the condition number -------------------------------------------
def _tensorinv(a, ind=2):
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    shape = np.shape(a)
    inv_shape = shape[ind:] + shape[:ind]
    rows = int(np.prod(shape[ind:]))
    return np.reshape(np.linalg.inv(np.reshape(a, (rows, -1))), inv_shape)


def _tensorsolve(a, b, axes=None):
    an = np.ndim(a)
    if axes is not None:
        order = list(range(an))
        for k in axes:
            order.remove(k)
            order.insert(an, k)
        a = np.transpose(a, order)
    old_shape = np.shape(a)[-(an - np.ndim(b)) :]
    size = int(np.prod(old_shape))
    if np.size(a) != size**2:
        raise np.linalg.LinAlgError(
            "Input arrays must satisfy the requirement "
            "prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])"
        )
    x = np.linalg.solve(np.reshape(a, (size, size)), np.ravel(b))
    return np.reshape(x, old_shape)


def _cond(x, p=None):
    # numpy's values, checks and errors; the derivative through the same formula
    value = np.linalg.cond(innermost(x), p)
    finite = np.isfinite(value)
    with np.errstate(all="ignore"):
        if p is None or p == 2 or p == -2:
            s = np.linalg.svd(x, compute_uv=False)
            r = s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
        else:
            # numpy inverts each matrix in double precision (float32 too) and a singular one
            # gives cond inf: those are replaced by the identity here, so that the others'
            # inverses exist; their infinite cond is numpy's constant
            eye = np.eye(np.shape(x)[-1])
            wide = x.astype(np.promote_types(x.dtype, np.float64))
            safe = np.where(np.reshape(finite, np.shape(finite) + (1, 1)), wide, eye)
            r = np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(
                np.linalg.inv(safe), p, axis=(-2, -1)
            )
        # a singular matrix has an infinite condition number (numpy's constant); its
        # derivative is not defined there
        r = _with_value(r.astype(np.asarray(value).dtype), value)
    return r if np.all(finite) else np.where(finite, r, value)


defcomposite(np.linalg.tensorinv, _tensorinv)
defcomposite(np.linalg.tensorsolve, _tensorsolve)
defcomposite(np.linalg.cond, _cond)


# -- set functions: the values chosen at the primal point, gathered from the traced array ---------
# Equal values are one unique value; its derivative is that of its first occurrence (JAX's
# stable sort picks the same one). Where two values tie the derivative is not defined.
def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
            *, equal_nan=True, sorted=True):  # fmt: skip
    out = np.unique(innermost(ar), True, return_inverse, return_counts, axis, equal_nan=equal_nan)
    values = np.take(np.ravel(ar) if axis is None else ar, out[1], axis=axis or 0)
    picked = (values,) + ((out[1],) if return_index else ()) + out[2:]
    return picked if len(picked) > 1 else values


def _unique_named(fn, x):
    out = fn(innermost(x))
    indices = np.unique_all(innermost(x)).indices  # numpy's order for every unique_* function
    values = np.take(np.ravel(x), indices)
    return values if fn is np.unique_values else out._replace(values=values)


def _union1d(ar1, ar2):
    return np.unique(np.concatenate((np.ravel(ar1), np.ravel(ar2))))


def _intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    # a common value is taken from ar1 (JAX's choice too): ar2's derivative there is 0
    out = np.intersect1d(innermost(ar1), innermost(ar2), assume_unique, return_indices=True)
    values = np.take(np.ravel(ar1), out[1]).astype(out[0].dtype)  # both's type (numpy's)
    return (values,) + out[1:] if return_indices else values


def _setdiff1d(ar1, ar2, assume_unique=False):
    plain = np.ravel(innermost(ar1))
    index = np.arange(plain.size) if assume_unique else np.unique(plain, return_index=True)[1]
    keep = np.isin(plain[index], innermost(ar2), assume_unique=assume_unique, invert=True)
    return np.take(np.ravel(ar1), index[keep])


def _setxor1d(ar1, ar2, assume_unique=False):
    if not assume_unique:
        ar1, ar2 = np.unique(ar1), np.unique(ar2)
    both = np.concatenate((np.ravel(ar1), np.ravel(ar2)))
    plain = innermost(both)
    order = np.argsort(plain, kind="stable")
    aux = plain[order]
    if aux.size == 0:
        return both
    flag = np.concatenate(([True], aux[1:] != aux[:-1], [True]))
    return np.take(both, order[flag[1:] & flag[:-1]])


defcomposite(np.unique, _unique)
for _fn in (np.unique_values, np.unique_counts, np.unique_inverse, np.unique_all):
    defcomposite(_fn, lambda x, _fn=_fn: _unique_named(_fn, x))
defcomposite(np.union1d, _union1d)
defcomposite(np.intersect1d, _intersect1d)
defcomposite(np.setdiff1d, _setdiff1d)
defcomposite(np.setxor1d, _setxor1d)


# -- counting with weights: bincount, histogram ----------------------------------------------------
def _bincount(x, weights=None, minlength=0):
    # the counts are piecewise constant; the weighted sums are linear in the weights
    x = np.asarray(innermost(x))
    counts = np.bincount(x, None, minlength)
    if weights is None:
        return counts
    if np.shape(weights) != x.shape:
        raise ValueError("The weights and list don't have the same length.")
    if x.size == 0:  # numpy counts no weights in its int type: nothing depends on them
        return np.bincount(x, innermost(weights), minlength)
    return index_add(np.zeros(counts.shape, np.result_type(weights, float)), x, weights)


def _outer_edges(a, range_):
    if range_ is not None:
        return range_
    if np.size(a) == 0:
        return 0.0, 1.0
    first, last = np.min(a), np.max(a)
    if innermost(first) == innermost(last):
        return first - 0.5, last + 0.5
    return first, last


def _histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002  (numpy's name)
    # equal bins span [min(a), max(a)] (their count may depend on a, piecewise constantly): the
    # edges move with a's extremes, as JAX's; explicit edges are their own
    edges = np.histogram_bin_edges(innermost(a), innermost(bins), range, innermost(weights))
    if np.ndim(bins) == 1:
        return np.copy(bins) if isinstance(bins, Tracer) else edges
    first, last = _outer_edges(a, range)
    return np.linspace(first, last, len(edges), dtype=edges.dtype)


def _histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002
    counts, plain_edges = np.histogram(
        innermost(a), innermost(bins), range, None, innermost(weights)
    )
    edges = _histogram_bin_edges(a, bins, range, weights)
    if isinstance(weights, Tracer):
        summed = index_add(np.zeros(counts.shape, counts.dtype), *_binned(a, weights, plain_edges))
        counts = _with_value(summed, counts)
    if density:  # numpy divides by the widths in float64 (float32 edges and weights too)
        return counts / np.diff(edges).astype(float) / np.sum(counts), edges
    return counts, edges


def _with_value(traced, value):
    """``traced``'s derivative with ``value``, numpy's own sums (its weighted histogram adds in
    another order than one pass over the samples, which may differ in the last bit)."""
    return value + (traced - innermost(traced))


def _binned(a, weights, edges):
    """The bin of each sample in range, and the samples' weights: the last bin is closed."""
    x = np.ravel(innermost(a))
    if np.size(edges) < 2:  # no bins (numpy's histogram of empty edges): no sample counted
        return np.zeros(0, np.intp), np.ravel(weights)[:0]
    index = np.searchsorted(edges, x, side="right") - 1
    index[x == edges[-1]] = len(edges) - 2
    keep = (x >= edges[0]) & (x <= edges[-1])
    return index[keep], np.ravel(weights)[keep]


defcomposite(np.bincount, _bincount)
defcomposite(np.histogram_bin_edges, _histogram_bin_edges)
defcomposite(np.histogram, _histogram)


# -- matvec and vecmat (numpy 2.2's gufuncs): products, real values --------------------------------
# The tangent of one operand is aligned to the loop dimensions of the answer (the other operand
# may have more of them); cotangents are summed back to the operand's own shape.
def _no_options(fn, kwargs):
    """The rules below know the gufuncs' default axes: any keyword is refused by name."""
    if kwargs:
        raise TypeError(
            f"np.{fn.__name__}: {', '.join(f'{k}=' for k in kwargs)} not supported on traced "
            "arrays by dualdiff; use the call's result (for out=), np.moveaxis (for axes=) "
            "and .astype (for dtype=) instead."
        )


@defjvp(np.matvec, argnum=0)
def matvec_jvp_a(t, ans, a, x, **kwargs):
    _no_options(np.matvec, kwargs)
    return np.matvec(align(t, np.ndim(ans) + 1), x)


@defvjp(np.matvec, argnum=0)
def matvec_vjp_a(g, ans, a, x, **kwargs):
    _no_options(np.matvec, kwargs)
    return unbroadcast(g[..., :, None] * x[..., None, :], np.shape(a))


@defjvp(np.matvec, argnum=1)
def matvec_jvp_x(t, ans, a, x, **kwargs):
    _no_options(np.matvec, kwargs)
    return np.matvec(a, align(t, np.ndim(ans)))


@defvjp(np.matvec, argnum=1)
def matvec_vjp_x(g, ans, a, x, **kwargs):
    _no_options(np.matvec, kwargs)
    return unbroadcast(np.vecmat(g, a), np.shape(x))


@defjvp(np.vecmat, argnum=0)
def vecmat_jvp_x(t, ans, x, a, **kwargs):
    _no_options(np.vecmat, kwargs)
    return np.vecmat(align(t, np.ndim(ans)), a)


@defvjp(np.vecmat, argnum=0)
def vecmat_vjp_x(g, ans, x, a, **kwargs):
    _no_options(np.vecmat, kwargs)
    return unbroadcast(np.matvec(a, g), np.shape(x))


@defjvp(np.vecmat, argnum=1)
def vecmat_jvp_a(t, ans, x, a, **kwargs):
    _no_options(np.vecmat, kwargs)
    return np.vecmat(x, align(t, np.ndim(ans) + 1))


@defvjp(np.vecmat, argnum=1)
def vecmat_vjp_a(g, ans, x, a, **kwargs):
    _no_options(np.vecmat, kwargs)
    return unbroadcast(x[..., :, None] * g[..., None, :], np.shape(a))


# -- writes into a traced array (numpy's in-place functions) ---------------------------------------
# The traced array is rebound to the functional update, as ``a[idx] = v`` does (and through a
# view, its base). Writing a traced value into a plain array raises the engine's named error.
def _writable(fn, a):
    if not isinstance(a, Tracer):
        raise _write_into_plain(fn)


def _cycled(values, n):
    """``values`` repeated to ``n`` elements, as numpy's flat writes repeat them."""
    return np.resize(np.ravel(values), (n,)) if n else np.ravel(values)[:0]


def _flat_index(a, flat):
    return np.unravel_index(flat, np.shape(a))


def _fill_diagonal(a, val, wrap=False):
    _writable(np.fill_diagonal, a)
    shape = np.shape(a)
    if len(shape) < 2:
        raise ValueError("array must be at least 2-d")
    if len(shape) == 2:
        step, end = shape[1] + 1, None if wrap else shape[1] * shape[1]
    else:
        if np.any(np.diff(shape) != 0):
            raise ValueError("All dimensions of input must be of equal length")
        step, end = 1 + int(np.cumprod(shape[:-1]).sum()), None
    if np.size(val) == 0:
        return  # numpy writes nothing from an empty val
    flat = np.arange(int(np.prod(shape)))[:end:step]
    a[_flat_index(a, flat)] = _cycled(val, flat.size)


def _put(a, ind, v, mode="raise"):
    _writable(np.put, a)
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    size = np.size(a)
    ind = np.ravel(np.asarray(innermost(ind), dtype=np.intp))
    if size == 0 and ind.size and mode != "raise":
        raise IndexError("cannot replace elements of an empty array")
    if mode == "wrap":
        ind = ind % size if size else ind
    elif mode == "clip":
        ind = np.clip(ind, 0, size - 1)
    elif np.any((ind < -size) | (ind >= size)):
        raise IndexError(f"index {ind[(ind < -size) | (ind >= size)][0]} is out of bounds "
                         f"for axis 0 with size {size}")  # fmt: skip
    if ind.size and np.size(v) == 0:
        return  # numpy writes nothing from an empty v
    a[_flat_index(a, ind % size if size else ind)] = _cycled(v, ind.size)


def _place(arr, mask, vals):
    _writable(np.place, arr)
    mask = _same_size_mask("place", arr, mask)
    n = int(np.count_nonzero(mask))
    if n and np.size(vals) == 0:
        raise ValueError("Cannot insert from an empty array!")
    if n:
        arr[mask] = _cycled(vals, n)


def _same_size_mask(name, a, mask):
    """numpy's place and putmask pair the mask with ``a`` element by element in flat order:
    the sizes must agree (shapes need not; nothing broadcasts)."""
    mask = np.asarray(innermost(mask), dtype=bool)
    if mask.size != np.size(a):
        raise ValueError(f"{name}: mask and data must be the same size")
    return np.reshape(mask, np.shape(a))


def _putmask(a, mask, values):
    _writable(np.putmask, a)
    mask = _same_size_mask("putmask", a, mask)
    if np.size(values) == 0:
        return
    # the element at flat position i takes values[i % len(values)]
    cycled = np.reshape(_cycled(values, np.size(a)), np.shape(a))
    a[mask] = cycled[mask]


def _put_along_axis(arr, indices, values, axis):
    _writable(np.put_along_axis, arr)
    indices = np.asarray(innermost(indices))
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        size = np.size(arr)
        outside = (indices < -size) | (indices >= size)
        if np.any(outside):  # numpy indexes the flat array: no wrapping beyond -size
            raise IndexError(
                f"index {indices[outside][0]} is out of bounds for axis 0 with size {size}"
            )
        arr[_flat_index(arr, indices % size)] = values
        return
    ndim = np.ndim(arr)
    axis = _axis(axis, ndim)
    if indices.ndim != ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    shape = [1] * ndim
    index = []
    for dim, n in enumerate(np.shape(arr)):
        if dim == axis:
            index.append(indices)
        else:
            shape_d = shape.copy()
            shape_d[dim] = n
            index.append(np.arange(n).reshape(shape_d))
    arr[tuple(index)] = values


def _copyto(dst, src, casting="same_kind", where=True):
    _writable(np.copyto, dst)
    # numpy's own checks of casting and shapes, on the primal values
    np.copyto(np.empty_like(innermost(dst)), innermost(src), casting, innermost(where))
    where = innermost(where)
    if where is True:
        dst[...] = src
    else:
        dst[...] = np.where(where, src, dst)


defcomposite(np.fill_diagonal, _fill_diagonal)
defcomposite(np.put, _put)
defcomposite(np.place, _place)
defcomposite(np.putmask, _putmask)
defcomposite(np.put_along_axis, _put_along_axis)
defcomposite(np.copyto, _copyto)

