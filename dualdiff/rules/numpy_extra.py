"""NumPy functions outside the other families: rounding, interpolation, polynomials, grids,
finite differences, covariances, convolutions, insertion, and the arrays shaped like a value.

Each rule is written in numpy calls on the primal values, so it is differentiable again, and
takes tangents with a leading batch axis. Most are linear maps of the differentiable argument
(``interp`` in ``fp``, ``polyfit`` in ``y``, ``gradient``, ``convolve``, ``insert``) whose
transpose is written out; the rest multiply by a partial derivative computed from the primal
(``interp`` in ``x``, ``polyval``, ``polyfit`` in ``x``, the grids' end points, ``cov``).
"""

import functools
from functools import partial

import numpy as np

from dualdiff import _index_tricks  # noqa: F401  (np.r_ and np.c_ with traced entries)
from dualdiff._batch import align, neg_axis, unbroadcast
from dualdiff._registry import defcomposite, defconstant, defjvp, defselfadjoint, defvjp
from dualdiff._tracer import Tracer, innermost, primitive
from dualdiff.rules.reductions import pad_zeros
from dualdiff.rules.shape import (
    _along,
    _along_axis_index,
    _axis_layout,
    _batched_index,
    _flat_if,
    _listed,
    _nested_shape,
    _scatter,
    _stacked,
    index_add,
)

# -- piecewise-constant functions: no derivative ---------------------------------------------------
# (floor, ceil, trunc, rint, sign, heaviside, floor_divide and the comparisons are declared with
# the elementwise ufuncs)
defconstant(
    np.round, np.around, np.fix, np.isclose, np.allclose, np.array_equal, np.array_equiv,
    np.isneginf, np.isposinf, np.isreal, np.iscomplex, np.digitize, np.isin,
)  # fmt: skip


# modf(x) = (x - trunc(x), trunc(x)): the fractional part has derivative 1, the integral part 0.
@defjvp(np.modf)
def modf_jvp(t, ans, x, **kwargs):
    return t, None


@defvjp(np.modf)
def modf_vjp(g, ans, x, **kwargs):
    return g[0]


# divmod(x, y) = (q, x - q y) with q = floor(x / y) piecewise constant.
def _divmod_part(argnum, t, ans, x, y, **kwargs):
    if argnum == 0:
        return None, align(t, np.ndim(ans[1]))
    return None, align(t, np.ndim(ans[1])) * -ans[0]


def _divmod_vjp(argnum, g, ans, x, y, **kwargs):
    if g[1] is None:
        return None
    return g[1] if argnum == 0 else g[1] * -ans[0]


# frexp(x) = (m, e) with x = m 2^e, e piecewise constant: dm/dx = 2^-e.
@defjvp(np.frexp)
def frexp_jvp(t, ans, x, **kwargs):
    return t * np.ldexp(1.0, -ans[1]), None


@defvjp(np.frexp)
def frexp_vjp(g, ans, x, **kwargs):
    return None if g[0] is None else g[0] * np.ldexp(1.0, -ans[1])


for _argnum in range(2):
    defjvp(np.divmod, argnum=_argnum)(partial(_divmod_part, _argnum))
    defvjp(np.divmod, argnum=_argnum)(partial(_divmod_vjp, _argnum))


# nan_to_num replaces NaN and infinities by constants: the derivative passes where x is finite.
# On traced values it always makes a new array (copy=False would write into a traced value's
# memory, which may be the caller's): an op of its own, without the copy argument.
def _nan_to_num_value(x, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


nan_to_num = primitive(_nan_to_num_value)
nan_to_num.__name__ = "nan_to_num"


def _finite_part(t, ans, x, *args, **kwargs):
    return np.where(np.isfinite(x), t, 0.0)


defselfadjoint(nan_to_num, _finite_part)
defcomposite(
    np.nan_to_num,
    lambda x, copy=True, nan=0.0, posinf=None, neginf=None: nan_to_num(x, nan, posinf, neginf),
)


# -- arrays shaped like a value: traced, so that writing traced values into them traces ----------
# ``dy = np.zeros_like(y); dy[0] = -k * y[0]`` (SciPy's ODE examples): the new float array is
# traced, with a zero derivative until a write puts traced values into it. Integer and bool
# arrays (index bookkeeping) stay plain. The traced ones are made by ``like``, an op of its own
# whose first argument is the NumPy function.
def _like_value(fn, a, *args, **kwargs):
    return fn(a, *args, **kwargs)


like = primitive(_like_value)
like.__name__ = "like"
_DTYPE_AT = {np.zeros_like: 0, np.ones_like: 0, np.empty_like: 0, np.full_like: 1}


def _shaped_like(fn, a, *args, **kwargs):
    p = _DTYPE_AT[fn]
    dtype = args[p] if len(args) > p else kwargs.get("dtype")
    dtype = np.asarray(innermost(a)).dtype if dtype is None else np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        return fn(innermost(a), *map(innermost, args), **kwargs)
    return like(fn, a, *args, **kwargs)


@defjvp(like, argnum=1)
def like_jvp(t, ans, fn, a, *args, **kwargs):
    return np.broadcast_to(np.zeros((), dtype=t.dtype), t.shape[:1] + np.shape(ans))


@defvjp(like, argnum=1)
def like_vjp(g, ans, fn, a, *args, **kwargs):
    return None


@defjvp(like, argnum=2)  # np.full_like's fill value
def like_jvp_fill(t, ans, fn, a, fill_value, *args, **kwargs):
    return np.broadcast_to(align(t, np.ndim(ans)), t.shape[:1] + np.shape(ans))


@defvjp(like, argnum=2)
def like_vjp_fill(g, ans, fn, a, fill_value, *args, **kwargs):
    return unbroadcast(g, np.shape(fill_value))


for _fn in _DTYPE_AT:
    defcomposite(_fn, partial(_shaped_like, _fn))


# -- interp: piecewise linear ----------------------------------------------------------------------
# Inside [xp[0], xp[-1]], interp(x) = fp[lo] (1 - w) + fp[hi] w on the interval [xp[lo], xp[hi]]
# that holds x; at a knot the interval on its right is used (the last one at xp[-1]), as JAX
# does. Outside, the value is left / right (fp[0] / fp[-1] by default) and the slope is 0.
def _interp_parts(x, xp, left, right, period):
    if period is not None:
        raise NotImplementedError(
            "dualdiff differentiates np.interp without period=; map x into one period "
            "first (x % period, with xp and fp extended to cover it)."
        )
    x, xp = innermost(x), np.asarray(innermost(xp))
    n = np.shape(xp)[0]
    hi = np.clip(np.searchsorted(xp, x, side="right"), 1, max(n - 1, 1))
    lo = hi - 1 if n > 1 else hi * 0
    below, above = np.asarray(x) < xp[0], np.asarray(x) > xp[-1]
    return lo, hi, below, above


def _interp_weights(x, xp, left, right, period):
    """Weights of fp[lo] and fp[hi] in interp(x): linear inside, the end values outside."""
    lo, hi, below, above = _interp_parts(x, xp, left, right, period)
    if np.shape(xp)[0] == 1:
        inside = ~(below | above)
        w_lo = np.where(inside | below & (left is None) | above & (right is None), 1.0, 0.0)
        return lo, hi, w_lo, np.zeros(np.shape(w_lo))
    xp = np.asarray(innermost(xp))
    step = xp[hi] - xp[lo]
    w = (x - xp[lo]) / np.where(step == 0, 1.0, step)
    w_hi = np.where(below, 0.0, np.where(above, float(right is None), w))
    w_lo = np.where(below, float(left is None), np.where(above, 0.0, 1.0 - w))
    return lo, hi, w_lo, w_hi


def _interp_slope(x, xp, fp, left, right, period):
    lo, hi, below, above = _interp_parts(x, xp, left, right, period)
    if np.shape(xp)[0] == 1:
        return np.zeros(np.shape(x))
    xp = np.asarray(innermost(xp))
    fp = fp if isinstance(fp, Tracer) else np.asarray(fp)
    step = xp[hi] - xp[lo]
    slope = (fp[hi] - fp[lo]) / np.where(step == 0, 1.0, step)
    return np.where(below | above | (step == 0), 0.0, slope)


@defjvp(np.interp, argnum=0)
def interp_jvp_x(t, ans, x, xp, fp, left=None, right=None, period=None):
    return t * _interp_slope(x, xp, fp, left, right, period)


@defvjp(np.interp, argnum=0)
def interp_vjp_x(g, ans, x, xp, fp, left=None, right=None, period=None):
    return g * _interp_slope(x, xp, fp, left, right, period)


@defjvp(np.interp, argnum=2)
def interp_jvp_fp(t, ans, x, xp, fp, left=None, right=None, period=None):
    lo, hi, w_lo, w_hi = _interp_weights(x, xp, left, right, period)
    return t[:, lo] * w_lo + t[:, hi] * w_hi


@defvjp(np.interp, argnum=2)
def interp_vjp_fp(g, ans, x, xp, fp, left=None, right=None, period=None):
    lo, hi, w_lo, w_hi = _interp_weights(x, xp, left, right, period)
    k = g.shape[0]
    out = np.zeros((k, np.shape(fp)[0]), dtype=g.dtype)
    for index, w in ((lo, w_lo), (hi, w_hi)):
        out = index_add(out, (slice(None), np.ravel(index)), np.reshape(g * w, (k, -1)))
    return out


# -- polynomials -----------------------------------------------------------------------------------
def _array(v):
    """A plain argument as an array, a traced one as it is, a list holding traced values stacked
    (np.polyval([a, 1.0], x))."""
    if isinstance(v, Tracer):
        return v
    if (type(v) is list or type(v) is tuple) and any(isinstance(e, Tracer) for e in v):
        return np.stack(v)
    return np.asarray(v)


def _horner(c, x):
    """``polyval`` of batched coefficients ``c`` (k, n) at ``x``: (k, *shape(x))."""
    x, y = _array(x), 0.0
    for j in range(np.shape(c)[1]):
        y = y * x + align(c[:, j], np.ndim(x))
    return y


def _derivative_coefficients(p):
    n = _nested_shape(p)[0]
    return _array(p)[:-1] * np.arange(n - 1, 0, -1.0)


@defjvp(np.polyval, argnum=0)
def polyval_jvp_p(t, ans, p, x):
    t = _stacked(t, p)
    return np.broadcast_to(_horner(t, x), t.shape[:1] + np.shape(ans))


@defvjp(np.polyval, argnum=0)
def polyval_vjp_p(g, ans, p, x):
    n = _nested_shape(p)[0]
    if n == 0:
        return np.zeros(g.shape[:1] + (0,), dtype=g.dtype)
    x, power, out = _array(x), 1.0, []
    for _ in range(n):  # x ** (n - 1 - j), from the constant term up
        out.append(np.sum(np.reshape(g * power, g.shape[:1] + (-1,)), axis=1))
        power = power * x
    return _listed(np.stack(out[::-1], axis=1), p)


def _polyval_slope(p, x):
    if _nested_shape(p)[0] < 2:
        return np.zeros(np.shape(x))
    return np.polyval(_derivative_coefficients(p), x)


@defjvp(np.polyval, argnum=1)
def polyval_jvp_x(t, ans, p, x):
    return t * _polyval_slope(p, x)


@defvjp(np.polyval, argnum=1)
def polyval_vjp_x(g, ans, p, x):
    return g * _polyval_slope(p, x)


# polyfit is linear in y: the tangent's fit is polyfit of the tangent. Its transpose, with
# numpy's column-scaled weighted Vandermonde matrix A = Q R: the fit of y is R^-1 Q^T (w y) / s,
# so the transpose of g is w Q R^-T (g / s).
def _polyfit_options(rcond=None, full=False, w=None, cov=False):
    if full or cov is not False:
        raise NotImplementedError(
            "dualdiff differentiates np.polyfit's coefficients only (full=False, cov=False); "
            "compute residuals from np.polyval of the fit."
        )
    return w


def _polyfit_columns(t, y):
    """A batched tangent of y, (k, n) or (k, n, K), as the columns (n, k [* K]) polyfit fits."""
    return np.reshape(np.moveaxis(t, 0, 1), (t.shape[1], -1))


@defjvp(np.polyfit, argnum=1)
def polyfit_jvp_y(t, ans, x, y, deg, *args, **kwargs):
    _polyfit_options(*args, **kwargs)
    fit = np.polyfit(x, _polyfit_columns(t, y), deg, *args, **kwargs)
    return np.moveaxis(np.reshape(fit, (fit.shape[0], t.shape[0]) + np.shape(y)[1:]), 1, 0)


@defvjp(np.polyfit, argnum=1)
def polyfit_vjp_y(g, ans, x, y, deg, *args, **kwargs):
    # columns scaled to unit norm, as NumPy's fit (written so that it is differentiable in x)
    _, _, weight, a = _polyfit_matrix(x, deg, _polyfit_options(*args, **kwargs))
    scale = np.sqrt(np.sum(a * a, axis=0))
    a = a / scale
    gs = np.reshape(np.moveaxis(g, 0, -1), (deg + 1, -1))  # (deg + 1, [K *] k)
    out = weight * (a @ np.linalg.solve(np.transpose(a) @ a, gs / np.reshape(scale, (-1, 1))))
    return np.moveaxis(np.reshape(out, np.shape(y) + g.shape[:1]), -1, 0)


def _polyfit_matrix(x, deg, w):
    """Vandermonde matrix V of x, its derivative V', the weights (a column) and A = W V."""
    powers = np.arange(deg, -1, -1.0)
    xs = np.reshape(x, (-1, 1))
    vander = xs**powers
    slope_vander = powers * xs ** np.maximum(powers - 1.0, 0.0)
    weight = np.ones((np.shape(vander)[0], 1)) if w is None else np.reshape(w, (-1, 1)) * 1.0
    return vander, slope_vander, weight, vander * weight


# In x: the fit c solves A^T (A c - b) = 0 with A = W V(x), b = W y, so
# dc = -M (V'^T (W r dx) + A^T (W p' dx)) with M = (A^T A)^-1, r = A c - b, V' the Vandermonde
# matrix's derivative and p' the fitted polynomial's; the transpose takes g, with z = M g, to
# -(V' z) W r - (A z) W p'. Columns of a 2-D y are fits of their own (the axis K below).
def _polyfit_x_parts(x, y, deg, c, w):
    vander, slope_vander, weight, a = _polyfit_matrix(x, deg, w)
    c2 = np.reshape(c, (deg + 1, -1))
    wr = weight * weight * (vander @ c2 - np.reshape(y, (np.shape(vander)[0], -1)))
    wp = weight * (slope_vander @ c2)
    return a, slope_vander, wr, wp


@defjvp(np.polyfit, argnum=0)
def polyfit_jvp_x(t, ans, x, y, deg, *args, **kwargs):
    a, dv, wr, wp = _polyfit_x_parts(x, y, deg, ans, _polyfit_options(*args, **kwargs))
    rhs = np.einsum("kn,nK,nd->kdK", t, wr, dv) + np.einsum("kn,nK,nd->kdK", t, wp, a)
    dc = -np.linalg.solve(np.transpose(a) @ a, rhs)
    return np.reshape(dc, t.shape[:1] + np.shape(ans))


@defvjp(np.polyfit, argnum=0)
def polyfit_vjp_x(g, ans, x, y, deg, *args, **kwargs):
    a, dv, wr, wp = _polyfit_x_parts(x, y, deg, ans, _polyfit_options(*args, **kwargs))
    g = np.reshape(g, g.shape[:1] + (deg + 1, -1))
    z = np.linalg.solve(np.transpose(a) @ a, g)
    return -np.einsum("nd,kdK,nK->kn", dv, z, wr) - np.einsum("nd,kdK,nK->kn", a, z, wp)


# -- grids: linspace, geomspace, logspace in their end points --------------------------------------
def _grid_fraction(num, endpoint):
    """Where each sample lies between the end points (0 at start, 1 at stop)."""
    return np.linspace(0.0, 1.0, num, endpoint=endpoint)


def _grid_apply(t, ans, axis, factor):
    """Tangent of a grid from the end point's tangent ``t``: ``factor`` is the partial of each
    sample, laid out (num, *end point shape); the samples' axis goes to ``axis``."""
    ndim = np.ndim(ans)
    out = align(t, ndim - 1)[:, None] * factor
    out = np.moveaxis(out, 1, neg_axis(axis, ndim))
    return np.broadcast_to(out, t.shape[:1] + np.shape(ans))


def _grid_pull(g, ans, axis, factor):
    return np.sum(np.moveaxis(g, neg_axis(axis, np.ndim(ans)), 1) * factor, axis=1)


def _grid_factor(fn, argnum, ans, start, stop, num=50, endpoint=True, *args, axis=0, **kwargs):
    """The partials (num, *shape) of the samples in the end point ``argnum``."""
    s = _grid_fraction(num, endpoint)
    shape = np.shape(ans)
    ax = neg_axis(axis, len(shape))
    s = np.reshape(s if argnum else 1.0 - s, (num,) + (1,) * (len(shape) - 1))
    if fn is np.linspace:
        return s
    samples = np.moveaxis(ans, ax, 0)
    if fn is np.geomspace:
        return samples * s / (stop if argnum else start)
    base = args[0] if args else kwargs.get("base", 10.0)
    return samples * s * np.log(base)


def _grid_call(fn, start, stop, num=50, endpoint=True, *args, **kwargs):
    """Keyword-normalized (axis, dtype, retstep) of a grid call."""
    names = {np.linspace: ("retstep", "dtype", "axis"), np.geomspace: ("dtype", "axis"),
             np.logspace: ("base", "dtype", "axis")}[fn]  # fmt: skip
    bound = dict(zip(names, args))
    bound.update(kwargs)
    return bound.get("axis", 0), bound.get("dtype"), bound.get("retstep", False)


def _grid_jvp(fn, argnum, t, ans, *args, **kwargs):
    axis, dtype, retstep = _grid_call(fn, *args, **kwargs)
    samples = ans[0] if retstep else ans
    if dtype is not None and not np.issubdtype(dtype, np.inexact):
        return (None, None) if retstep else None
    kw = {k: v for k, v in kwargs.items() if k != "axis"}
    factor = _grid_factor(fn, argnum, samples, *args, axis=axis, **kw)
    out = _grid_apply(t, samples, axis, factor)
    if not retstep:
        return out
    num, endpoint = _grid_count(*args, **kwargs)
    div = (num - 1 if endpoint else num) or 1
    step = np.broadcast_to(align(t, np.ndim(ans[1])) / div, t.shape[:1] + np.shape(ans[1]))
    return out, step if argnum else -step


def _grid_count(start, stop, num=50, endpoint=True, *args, **kwargs):
    return kwargs.get("num", num), kwargs.get("endpoint", endpoint)


def _grid_vjp(fn, argnum, g, ans, *args, **kwargs):
    axis, dtype, retstep = _grid_call(fn, *args, **kwargs)
    if dtype is not None and not np.issubdtype(dtype, np.inexact):
        return None
    samples = ans[0] if retstep else ans
    gs = g[0] if retstep else g
    kw = {k: v for k, v in kwargs.items() if k != "axis"}
    out = None
    if gs is not None:
        factor = _grid_factor(fn, argnum, samples, *args, axis=axis, **kw)
        out = _grid_pull(gs, samples, axis, factor)
    if retstep and g[1] is not None:
        num, endpoint = _grid_count(*args, **kwargs)
        div = (num - 1 if endpoint else num) or 1
        step = g[1] / div if argnum else -g[1] / div
        out = step if out is None else out + step
    return out


for _fn in (np.linspace, np.geomspace, np.logspace):
    for _argnum in range(2):
        defjvp(_fn, argnum=_argnum)(partial(_grid_jvp, _fn, _argnum))
        defvjp(_fn, argnum=_argnum)(partial(_grid_vjp, _fn, _argnum))


# -- gradient: central differences, linear in f --------------------------------------------------
def _gradient_axes(f, varargs, axis):
    ndim = np.ndim(f)
    axes = tuple(range(ndim)) if axis is None else axis
    axes = (axes,) if type(axes) is int or isinstance(axes, np.integer) else tuple(axes)
    axes = tuple(a % ndim for a in axes)
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    else:
        spacing = list(varargs)
    return axes, spacing


@defjvp(np.gradient)
def gradient_jvp(t, ans, f, *varargs, axis=None, edge_order=1):
    axes, _ = _gradient_axes(f, varargs, axis)
    return np.gradient(t, *varargs, axis=tuple(a + 1 for a in axes), edge_order=edge_order)


@functools.lru_cache(maxsize=64)
def _stencil(n, spacing, edge_order):
    """Row i of the gradient along an axis of length n reads columns start[i] + m, m < width,
    with coefficients coef[m][i]: read from gradients of combs, one per residue mod width."""
    width = min(3, n)
    spacing = np.asarray(spacing) if type(spacing) is tuple else spacing
    combs = [np.gradient((np.arange(n) % width == r) * 1.0, spacing, edge_order=edge_order)
             for r in range(width)]  # fmt: skip
    start = np.clip(np.arange(n) - 1, 0, n - width)
    rows = np.arange(n)
    return start, [np.stack(combs)[(start + m) % width, rows] for m in range(width)]


def _gradient_transpose(g, n, spacing, edge_order, ax):
    """Transpose of np.gradient along the negative axis ``ax`` of batched ``g``."""
    key = tuple(np.ravel(spacing)) if np.ndim(spacing) else float(spacing)
    start, coef = _stencil(n, key, edge_order)
    shape = (n,) + (1,) * (-ax - 1)
    out = np.zeros(g.shape, dtype=g.dtype)
    for m, c in enumerate(coef):
        out = index_add(out, _along(ax, start + m), g * np.reshape(c, shape))
    return out


@defvjp(np.gradient)
def gradient_vjp(g, ans, f, *varargs, axis=None, edge_order=1):
    axes, spacing = _gradient_axes(f, varargs, axis)
    gs = (g,) if len(axes) == 1 else g
    out = None
    for a, dx, gj in zip(axes, spacing, gs):
        if gj is None:
            continue
        c = _gradient_transpose(gj, np.shape(f)[a], dx, edge_order, a - np.ndim(f))
        out = c if out is None else out + c
    return out


# -- partition: a permutation of the input -------------------------------------------------------
def _partition_index(a, kth, axis=-1, kind="introselect", order=None):
    """Index of ``a`` (flattened for axis=None) that gives np.partition's answer: the k-th
    smallest of ``a`` goes where the k-th smallest of the answer is (ties hold equal values)."""
    a = innermost(a)
    ans = np.partition(a, kth, axis=axis)
    shape, ax = _axis_layout(a, axis)
    a, ans = np.reshape(a, shape), np.reshape(ans, shape)
    index = np.empty(shape, dtype=np.intp)
    np.put_along_axis(
        index, np.argsort(ans, axis=ax, kind="stable"), np.argsort(a, axis=ax, kind="stable"), ax
    )
    return _along_axis_index(shape, index, ax)


@defjvp(np.partition)
def partition_jvp(t, ans, a, kth, axis=-1, *args, **kwargs):
    index = _partition_index(a, kth, axis, *args, **kwargs)
    return _flat_if(t, axis)[_batched_index(index)]


@defvjp(np.partition)
def partition_vjp(g, ans, a, kth, axis=-1, *args, **kwargs):
    index = _partition_index(a, kth, axis, *args, **kwargs)
    shape = _axis_layout(a, axis)[0]
    out = _scatter(g.shape[:1] + shape, _batched_index(index), g, False)
    return np.reshape(out, g.shape[:1] + np.shape(a))


# -- cov and corrcoef ------------------------------------------------------------------------------
# cov = Xc W Xc^T / fact for the centred variables Xc (rows) and weights W: its tangent is
# A + A^T with A = dX W Xc^T / fact (the mean's tangent drops out: Xc W 1 = 0), and its
# transpose takes G to (G + G^T) Xc W / fact.
def _cov_setup(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
               *, dtype=None):  # fmt: skip
    """The centred variables, weights (or None), divisor, and where m and y lie among the rows."""
    parts = []
    for a in (m, y):
        if a is None:
            continue
        a2 = np.reshape(a, (1, -1)) if np.ndim(a) < 2 else a
        swap = not rowvar and np.shape(a2)[0] != 1
        parts.append((np.transpose(a2) if swap else a2, swap))
    x = parts[0][0] if len(parts) == 1 else np.concatenate([p for p, _ in parts], axis=0)
    w = None
    if fweights is not None:
        w = np.asarray(fweights, dtype=float)
    if aweights is not None:
        w = np.asarray(aweights, dtype=float) if w is None else w * np.asarray(aweights)
    ddof = (0 if bias else 1) if ddof is None else ddof
    if w is None:
        total = np.shape(x)[1]
        fact = total - ddof
        avg = np.mean(x, axis=1)
    else:
        total = np.sum(w)
        fact = total - ddof if aweights is None else total - ddof * np.sum(w * aweights) / total
        avg = np.average(x, axis=1, weights=w)
    return x - avg[:, None], w, max(fact, 0.0), [s for _, s in parts]


def _cov_tangent(ts, args, swaps):
    """Batched tangents of m and y (None for a constant) as tangent rows of X: (k, nvar, nobs)."""
    rows = []
    ref = next(t for t in ts if t is not None)
    for t, a, swap in zip(ts, args, swaps):
        shape = np.shape(a)
        shape = (1,) + shape if len(shape) < 2 else shape
        if t is None:
            t = np.zeros(ref.shape[:1] + shape, dtype=ref.dtype)
        t = np.reshape(t, t.shape[:1] + shape)
        rows.append(np.swapaxes(t, -1, -2) if swap else t)
    return rows[0] if len(rows) == 1 else np.concatenate(rows, axis=1)


def _cov_dc(argnum, t, m, y, kwargs):
    xc, w, fact, swaps = _cov_setup(m, y, **kwargs)
    ts = [None, None][: len(swaps)]
    ts[argnum] = t
    dx = _cov_tangent(ts, [m, y][: len(swaps)], swaps)
    a = np.matmul(dx if w is None else dx * w, np.transpose(xc)) / fact
    return a + np.swapaxes(a, -1, -2)


def _cov_pull(argnum, g, m, y, kwargs):
    xc, w, fact, swaps = _cov_setup(m, y, **kwargs)
    n = np.shape(xc)[0]
    g = np.reshape(g, g.shape[:1] + (n, n))
    gx = np.matmul(g + np.swapaxes(g, -1, -2), xc) / fact
    if w is not None:
        gx = gx * w
    rows = 1 if np.ndim(m) < 2 else np.shape(m)[1 if swaps[0] else 0]
    part = gx[:, :rows] if argnum == 0 else gx[:, rows:]
    a = m if argnum == 0 else y
    if swaps[argnum]:
        part = np.swapaxes(part, -1, -2)
    return np.reshape(part, g.shape[:1] + np.shape(a))


def _cov_args(args, kwargs):
    names = ("y", "rowvar", "bias", "ddof", "fweights", "aweights")
    kwargs = {**dict(zip(names, args)), **kwargs}
    return kwargs.pop("y", None), kwargs


def _cov_jvp(argnum, t, ans, m, *args, **kwargs):
    y, kwargs = _cov_args(args, kwargs)
    dc = _cov_dc(argnum, t, m, y, kwargs)
    return np.reshape(dc, t.shape[:1] + np.shape(ans))


def _cov_vjp(argnum, g, ans, m, *args, **kwargs):
    y, kwargs = _cov_args(args, kwargs)
    return _cov_pull(argnum, g, m, y, kwargs)


def _corr_parts(m, y, rowvar, kwargs):
    c = np.cov(m, y, rowvar, **kwargs)
    d = np.diagonal(c)
    s = np.sqrt(d)
    return c, d, s[:, None] * s[None, :]


def _corr_jvp(argnum, t, ans, m, y=None, rowvar=True, **kwargs):
    if np.ndim(ans) == 0:  # one variable: the correlation is 1
        return None
    kw = {"rowvar": rowvar, **kwargs}
    dc = _cov_dc(argnum, t, m, y, kw)
    c, d, ss = _corr_parts(m, y, rowvar, kwargs)
    r = c / ss
    h = np.diagonal(dc, axis1=-2, axis2=-1) / (2.0 * d)
    return dc / ss - r * (h[:, :, None] + h[:, None, :])


def _corr_vjp(argnum, g, ans, m, y=None, rowvar=True, **kwargs):
    if np.ndim(ans) == 0:
        return None
    c, d, ss = _corr_parts(m, y, rowvar, kwargs)
    r = c / ss
    gr = g * r
    q = (np.sum(gr, axis=-1) + np.sum(gr, axis=-2)) / (2.0 * d)
    gc = g / ss - q[:, :, None] * np.eye(np.shape(d)[0])
    return _cov_pull(argnum, gc, m, y, {"rowvar": rowvar, **kwargs})


for _argnum in range(2):
    defjvp(np.cov, argnum=_argnum)(partial(_cov_jvp, _argnum))
    defvjp(np.cov, argnum=_argnum)(partial(_cov_vjp, _argnum))
    defjvp(np.corrcoef, argnum=_argnum)(partial(_corr_jvp, _argnum))
    defvjp(np.corrcoef, argnum=_argnum)(partial(_corr_vjp, _argnum))


# -- convolve and correlate (1-D): linear in each argument ---------------------------------------
# Each mode's answer is a window of the full one; the transpose puts the cotangent back into
# the full length (zeros around the window) and correlates it with the other operand ('valid').
@functools.lru_cache(maxsize=256)
def _window(fn, n, m, mode):
    """Where ``fn(a, v, mode)``'s answer starts in ``fn(a, v, 'full')`` for lengths n and m."""
    rng = np.random.default_rng(0)
    a, v = rng.uniform(1.0, 2.0, n), rng.uniform(1.0, 2.0, m)
    full, part = fn(a, v, "full"), fn(a, v, mode)
    for start in range(full.size - part.size + 1):
        if np.allclose(full[start : start + part.size], part, rtol=1e-12, atol=0.0):
            return start
    raise AssertionError(f"{fn.__name__} mode {mode!r}: no window of the full answer")


def _conv_mode(fn, args, kwargs):
    default = "full" if fn is np.convolve else "valid"
    return args[0] if args else kwargs.get("mode", default)


def _rows(fn, t, other, argnum, mode):
    """``fn`` of each batch row of ``t`` (in argument ``argnum``) with the constant ``other``."""
    out = [fn(r, other, mode) if argnum == 0 else fn(other, r, mode) for r in t]
    return np.stack(out) if out else np.zeros((0, 0))


def _conv_jvp(fn, argnum, t, ans, a, v, *args, **kwargs):
    mode = _conv_mode(fn, args, kwargs)
    other = v if argnum == 0 else a
    return _rows(fn, t, other, argnum, mode)


def _conv_vjp(fn, argnum, g, ans, a, v, *args, **kwargs):
    mode = _conv_mode(fn, args, kwargs)
    n, m = np.shape(a)[0], np.shape(v)[0]
    start = _window(fn, n, m, mode)
    full = n + m - 1
    g = pad_zeros(g, start, full - start - g.shape[1], -1)
    if fn is np.convolve:  # full[i + j] = sum a[i] v[j]: each operand correlates with the other
        return _rows(np.correlate, g, v if argnum == 0 else a, 0, "valid")
    # correlate(a, v) = convolve(a, v[::-1])
    if argnum == 0:
        return _rows(np.correlate, g, v[::-1], 0, "valid")
    return _rows(np.correlate, g, a, 0, "valid")[:, ::-1]


for _fn in (np.convolve, np.correlate):
    for _argnum in range(2):
        defjvp(_fn, argnum=_argnum)(partial(_conv_jvp, _fn, _argnum))
        defvjp(_fn, argnum=_argnum)(partial(_conv_vjp, _fn, _argnum))


# -- insert: a gather from arr and from values ---------------------------------------------------
def _insert_ids(arr, obj, values, axis):
    """For each element of the answer, its position in arr (and in values), or -1."""
    shape = _nested_shape(arr)
    vshape = _nested_shape(values)
    ids = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)
    from_arr = np.insert(ids, obj, np.full(vshape, -1, dtype=np.intp), axis=axis)
    vids = np.arange(int(np.prod(vshape)), dtype=np.intp).reshape(vshape)
    from_values = np.insert(np.full(shape, -1, dtype=np.intp), obj, vids, axis=axis)
    return from_arr, from_values


def _insert_jvp(argnum, t, ans, arr, obj, values, axis=None):
    ids = _insert_ids(arr, obj, values, axis)[0 if argnum == 0 else 1]
    t = _stacked(t, values) if argnum == 2 else t
    flat = np.reshape(t, t.shape[:1] + (-1,))
    picked = flat[:, np.maximum(ids, 0)]
    return np.where(ids >= 0, picked, 0.0)


def _insert_vjp(argnum, g, ans, arr, obj, values, axis=None):
    ids = _insert_ids(arr, obj, values, axis)[0 if argnum == 0 else 1]
    target = arr if argnum == 0 else values
    size = int(np.prod(_nested_shape(target)))
    mask = ids >= 0
    source = np.reshape(g, g.shape[:1] + (-1,))[:, np.ravel(mask)]
    index = (slice(None), ids[mask])
    out = _scatter((g.shape[0], size), index, source, argnum == 2)
    out = np.reshape(out, g.shape[:1] + _nested_shape(target))
    return _listed(out, values) if argnum == 2 else out


for _argnum in (0, 2):
    defjvp(np.insert, argnum=_argnum)(partial(_insert_jvp, _argnum))
    defvjp(np.insert, argnum=_argnum)(partial(_insert_vjp, _argnum))


# -- piecewise: NumPy's own algorithm, on a traced array from zeros_like -------------------------
def _piecewise(x, condlist, funclist, *args, **kw):
    """np.piecewise as NumPy computes it, with ``y = np.zeros_like(x)`` traced, so that the
    pieces written into it carry the derivatives of the user's functions."""
    n2 = len(funclist)
    if np.isscalar(condlist) or (
        not isinstance(condlist[0], list | np.ndarray)
        and not hasattr(condlist[0], "shape")  # a tensor of bools
        and np.ndim(x) != 0
    ):
        condlist = [condlist]
    condlist = np.asarray(condlist, dtype=bool)
    n = len(condlist)
    if n == n2 - 1:  # the extra function is the default
        condelse = ~np.any(condlist, axis=0, keepdims=True)
        condlist = np.concatenate([condlist, condelse], axis=0)
        n += 1
    elif n != n2:
        raise ValueError(f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    y = np.zeros_like(x)
    for cond, func in zip(condlist, funclist):
        if not callable(func):
            y[cond] = func
        else:
            vals = x[cond]
            if np.size(vals) > 0:
                y[cond] = func(vals, *args, **kw)
    return y


defcomposite(np.piecewise, _piecewise)
