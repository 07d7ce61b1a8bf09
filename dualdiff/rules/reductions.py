"""Reductions: sums, means, products, extrema, moments, order statistics, norms, cumulative ops.

Most reductions here have a derivative of one shape: ``d ans = sum over the reduced axes of
t * D`` for a "gradient" array ``D`` shaped like the input (``1`` for sums, the selection
mask for extrema, ``2 (x - mean) / (N - ddof)`` for variances). Such ops declare ``D`` with
``@_reduction(fn)``, which registers the JVP (``sum(t * D)``) and the VJP (``g * D``, with the
reduced axes put back) in one place. Order statistics (max, median, quantiles) have a ``D``
that is constant almost everywhere; ties in max/min split the derivative equally, as JAX does.

Products and cumulative products never divide by ``x``: they use prefix products and a
log-depth scan of ``h[i] = a[i] * h[i-1] + b[i]``, so they stay exact (at every order) when
the input holds zeros.
"""

import numpy as np

from dualdiff._batch import align, neg_axis, unbroadcast
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import primitive, setitem


# -- axis helpers ---------------------------------------------------------------------------------
def _axes(axis, ndim):
    """The reduced axes as a tuple of negative primal axes (None means all of them)."""
    axes = neg_axis(axis, ndim)
    return axes if type(axes) is tuple else (axes,)


def _count(x, axes):
    """Number of elements reduced into each output element."""
    return int(np.prod([np.shape(x)[a] for a in axes]))


def _keep(y, axes, keepdims):
    """``y`` with the reduced axes back as unit axes (works with or without a batch axis)."""
    if keepdims or not axes:
        return y
    shape = list(np.shape(y))
    ndim = len(shape) + len(axes)
    for a in sorted(a + ndim for a in axes):
        shape.insert(a, 1)
    return np.reshape(y, tuple(shape))  # one reshape, the cheapest way to add unit axes


def _empty(x):
    return np.size(x) == 0


def _empty_cotangent(g, x):
    """The cotangent of an empty input: empty (and no 0 / 0 computed on the way to it, whose
    warnings would not be NumPy's)."""
    return np.zeros(g.shape[:1] + np.shape(x))


def _no_where(fn, where):
    if where is not None and where is not True:
        raise NotImplementedError(f"dualdiff: numpy.{fn} with where= is not differentiable yet.")


def _to_last(x, axes):
    """Move ``axes`` to the end and merge them into one axis of length ``_count(x, axes)``."""
    dest = tuple(range(-len(axes), 0))
    xm = np.moveaxis(x, axes, dest) if axes else x
    # the length spelled out: -1 is ambiguous when another axis has length 0
    return np.reshape(xm, xm.shape[: xm.ndim - len(axes)] + (_count(x, axes),))


def _from_last(y, shape, axes):
    """Undo ``_to_last``: split the last axis into the reduced axes of ``shape``."""
    dest = tuple(range(-len(axes), 0))
    y = np.reshape(y, y.shape[:-1] + tuple(shape[a] for a in axes))
    return np.moveaxis(y, dest, axes) if axes else y


def _along(axis, index):
    """An index applying ``index`` along negative ``axis`` (any leading batch axes)."""
    return (Ellipsis, index) + (slice(None),) * (-axis - 1)


def _flip(x, axis):
    return x[_along(axis, slice(None, None, -1))]


def _pad_zeros(x, before, after, axis):
    widths = [(0, 0)] * np.ndim(x)
    widths[axis] = (before, after)
    return np.pad(x, widths)


# ``x`` with ``before`` and ``after`` zeros added along negative ``axis``: an internal linear op,
# one tape node where a write into a zeros array would take a setitem and its bookkeeping.
pad_zeros = primitive(_pad_zeros)
pad_zeros.__name__ = "pad_zeros"


@defjvp(pad_zeros)
def pad_zeros_jvp(t, ans, x, before, after, axis):
    return pad_zeros(t, before, after, axis)


@defvjp(pad_zeros)
def pad_zeros_vjp(g, ans, x, before, after, axis):
    return g[_along(axis, slice(before, before + np.shape(x)[axis]))]


def _shift(x, n, axis, fill):
    """``out[i] = x[i - n]`` along ``axis``, with ``fill`` where ``i - n`` is out of range."""
    length = np.shape(x)[axis]
    if n == 0:
        return x
    if abs(n) >= length:
        return setitem(x, Ellipsis, fill)
    if n > 0:
        out = pad_zeros(x[_along(axis, slice(None, -n))], n, 0, axis)
        filled = np.arange(length) < n
    else:
        out = pad_zeros(x[_along(axis, slice(-n, None))], 0, -n, axis)
        filled = np.arange(length) >= length + n
    if fill == 0:
        return out
    return out + fill * np.reshape(filled, (length,) + (1,) * (-axis - 1))


# -- the weighted-reduction pattern ---------------------------------------------------------------
def _reduction(*fns):
    """Register ``fns`` through ``grad(ans, *args, **kwargs) -> (D, axes, keepdims)``.

    ``D`` broadcasts against the input; the JVP is ``sum(t * D)`` over ``axes`` and the VJP
    is ``g`` with the reduced axes restored, times ``D``.
    """

    def register(grad):
        def jvp(t, ans, *args, **kwargs):
            d, axes, keepdims = grad(ans, *args, **kwargs)
            return np.sum(t * d, axis=axes, keepdims=keepdims)

        def vjp(g, ans, *args, **kwargs):
            if _empty(args[0]):
                return _empty_cotangent(g, args[0])
            d, axes, keepdims = grad(ans, *args, **kwargs)
            return _keep(g, axes, keepdims) * d

        jvp.__name__ = grad.__name__.replace("_grad", "_jvp")
        vjp.__name__ = grad.__name__.replace("_grad", "_vjp")
        for fn in fns:
            defjvp(fn)(jvp)
            defvjp(fn)(vjp)
        return grad

    return register


# -- sums and means (linear: own rules, no multiplication by ones) --------------------------------
@defjvp(np.sum)
def sum_jvp(t, ans, x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    if where is True:  # the common call, without numpy's masked-reduction path
        return np.sum(t, axis=_axes(axis, x.ndim), keepdims=keepdims)
    return np.sum(t, axis=_axes(axis, x.ndim), keepdims=keepdims, where=where)


@defvjp(np.sum)
def sum_vjp(g, ans, x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    if axis is None and where is True:  # the common full sum (a loss)
        return _spread(g, x.shape)
    g = np.broadcast_to(_keep(g, _axes(axis, x.ndim), keepdims), g.shape[:1] + x.shape)
    return g if where is True else np.where(where, g, 0.0)


def _spread(g, shape):
    """Batched scalars ``g`` of shape ``(k,)`` as a read-only ``(k, *shape)`` broadcast."""
    if type(g) is np.ndarray and g.ndim == 1 and g.flags.c_contiguous:
        # np.broadcast_to's own checks cost more than the rest of a small sweep's sum node
        out = np.ndarray(g.shape + shape, g.dtype, g, 0, g.strides + (0,) * len(shape))
        out.flags.writeable = False
        return out
    return np.broadcast_to(np.reshape(g, g.shape[:1] + (1,) * len(shape)), g.shape[:1] + shape)


@defjvp(np.mean)
def mean_jvp(t, ans, x, axis=None, dtype=None, out=None, keepdims=False, where=True):
    if where is True:
        return np.mean(t, axis=_axes(axis, x.ndim), keepdims=keepdims)
    return np.mean(t, axis=_axes(axis, x.ndim), keepdims=keepdims, where=where)


@defvjp(np.mean)
def mean_vjp(g, ans, x, axis=None, dtype=None, out=None, keepdims=False, where=True):
    size = x.size
    if axis is None and where is True and size:  # the common full mean (a loss)
        return _spread(g / size, x.shape)
    if not size:
        return _empty_cotangent(g, x)
    axes = _axes(axis, x.ndim)
    g = _keep(g, axes, keepdims)
    if where is True:
        return np.broadcast_to(g / _count(x, axes), g.shape[:1] + x.shape)
    mask = np.broadcast_to(where, x.shape)
    return np.where(mask, g / np.sum(mask, axis=axes, keepdims=True), 0.0)


@_reduction(np.nansum)
def nansum_grad(ans, x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_where("nansum", where)
    return np.where(np.isnan(x), 0.0, 1.0), _axes(axis, x.ndim), keepdims


@_reduction(np.nanmean)
def nanmean_grad(ans, x, axis=None, dtype=None, out=None, keepdims=False, where=True):
    _no_where("nanmean", where)
    axes = _axes(axis, x.ndim)
    valid = np.where(np.isnan(x), 0.0, 1.0)
    return valid / np.sum(valid, axis=axes, keepdims=True), axes, keepdims


# -- products: prefix products instead of ans / x -------------------------------------------------
def _prod_others(x, axes):
    """Product of all the other elements of each reduced slice, for every element of ``x``."""
    xm = _to_last(x, axes)
    left = _shift(np.cumprod(xm, axis=-1), 1, -1, 1.0)
    right = _flip(_shift(np.cumprod(_flip(xm, -1), axis=-1), 1, -1, 1.0), -1)
    return _from_last(left * right, np.shape(x), axes)


@_reduction(np.prod)
def prod_grad(ans, x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_where("prod", where)
    axes = _axes(axis, x.ndim)
    others = _prod_others(x, axes)
    return (others if initial is None else initial * others), axes, keepdims


@_reduction(np.nanprod)
def nanprod_grad(ans, x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_where("nanprod", where)
    axes = _axes(axis, x.ndim)
    nan = np.isnan(x)
    others = _prod_others(np.where(nan, 1.0, x), axes)
    return np.where(nan, 0.0, others), axes, keepdims


# -- extrema: the derivative is shared equally among the tied maximisers --------------------------
def _select(x, target):
    """Weights 1/count on the entries of ``x`` equal to ``target`` (0 where none is)."""
    mask = x == target
    count = np.sum(mask, axis=_all_but_broadcast(mask, target), keepdims=True)
    return mask / np.maximum(count, 1)


def _all_but_broadcast(x, target):
    """Axes along which ``target`` (kept dims) was reduced from ``x``."""
    shape = np.shape(target)
    lead = np.ndim(x) - len(shape)
    return tuple(i for i in range(np.ndim(x)) if i < lead or shape[i - lead] == 1)


def _extremum_grad(ans, x, axis, keepdims, where):
    _no_where("max/min", where)
    axes = _axes(axis, x.ndim)
    return _select(x, _keep(ans, axes, keepdims)), axes, keepdims


@_reduction(np.max, np.amax, np.min, np.amin, np.nanmax, np.nanmin)
def extremum_grad(ans, x, axis=None, out=None, keepdims=False, initial=None, where=True):
    # A NaN is never equal to the answer, so nanmax/nanmin select the same way.
    return _extremum_grad(ans, x, axis, keepdims, where)


@_reduction(np.ptp)
def ptp_grad(ans, x, axis=None, out=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    top = _select(x, np.max(x, axis=axes, keepdims=True))
    bottom = _select(x, np.min(x, axis=axes, keepdims=True))
    return top - bottom, axes, keepdims


# -- moments --------------------------------------------------------------------------------------
def _var_grad(x, axes, ddof, kwargs, skip_nan=False):
    """``2 (x - mean) / (N - ddof)``, the gradient of the variance over ``axes``."""
    _no_where("var/std", kwargs.get("where", True))
    ddof = kwargs.get("correction", ddof)
    mean = kwargs.get("mean")
    if not skip_nan:
        if mean is None:
            mean = np.mean(x, axis=axes, keepdims=True)
        return 2.0 * (x - mean) / (_count(x, axes) - ddof)
    valid = np.where(np.isnan(x), 0.0, 1.0)
    x0 = np.where(np.isnan(x), 0.0, x)  # keeps NaN out of every product, at any order
    n = np.sum(valid, axis=axes, keepdims=True)
    if mean is None:
        mean = np.sum(x0, axis=axes, keepdims=True) / n
    return 2.0 * valid * (x0 - mean) / (n - ddof)


@_reduction(np.var)
def var_grad(ans, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    axes = _axes(axis, x.ndim)
    return _var_grad(x, axes, ddof, kwargs), axes, keepdims


@_reduction(np.std)
def std_grad(ans, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    axes = _axes(axis, x.ndim)
    d = _var_grad(x, axes, ddof, kwargs) / (2.0 * _keep(ans, axes, keepdims))
    return d, axes, keepdims


@_reduction(np.nanvar)
def nanvar_grad(ans, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    axes = _axes(axis, x.ndim)
    return _var_grad(x, axes, ddof, kwargs, skip_nan=True), axes, keepdims


@_reduction(np.nanstd)
def nanstd_grad(ans, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    axes = _axes(axis, x.ndim)
    d = _var_grad(x, axes, ddof, kwargs, skip_nan=True) / (2.0 * _keep(ans, axes, keepdims))
    return d, axes, keepdims


# -- order statistics: median, quantiles (the derivative follows the selected entries) ------------
def _order_grad(x, axes, position, skip_nan=False):
    """Weights of the interpolated order statistic at ``position(n)`` (shape ``Q``).

    Numpy's quantile of a sorted sample is ``(1 - f) * s[i] + f * s[i + 1]`` where ``i + f`` is
    the same quantile of ``arange(n)``; ``position`` evaluates that, so every method numpy
    offers is matched exactly. Returns ``D`` of shape ``Q + x.shape``.
    """
    xm = _to_last(x, axes)
    n = np.shape(xm)[-1]
    rank = np.argsort(np.argsort(xm, axis=-1), axis=-1)  # NaNs sort last
    if skip_nan:
        counts = np.sum(~np.isnan(xm), axis=-1, keepdims=True)
        v = _positions_by_count(position, counts)
    else:
        v = np.asarray(position(n), dtype=float)
        v = np.reshape(v, v.shape + (1,) * np.ndim(xm))
    valid = ~np.isnan(v)
    v = np.where(valid, v, 0.0)
    lo = np.floor(v)
    frac = v - lo
    hi = np.minimum(lo + 1, n - 1)
    w = np.where(rank == lo, 1.0 - frac, 0.0) + np.where(rank == hi, frac, 0.0)
    return _from_last(np.where(valid, w, 0.0), np.shape(x), axes)


def _positions_by_count(position, counts):
    """``position(c)`` for each slice's count ``c`` of non-NaN entries (NaN where c is 0)."""
    q_shape = np.shape(np.asarray(position(1)))
    v = np.full(q_shape + counts.shape, np.nan)
    for c in np.unique(counts):
        if c > 0:
            pos = np.asarray(position(int(c)), dtype=float)
            v = np.where(counts == c, np.reshape(pos, q_shape + (1,) * counts.ndim), v)
    return v


def _order_rules(fn, positions, skip_nan=False):
    """Register ``fn(a, [q,] axis, ...)``: an order statistic; ``positions(n, *q)`` picks it."""

    def grad(x, q, axis, keepdims, method, kwargs):
        if kwargs.get("weights") is not None or kwargs.get("overwrite_input"):
            raise NotImplementedError(
                f"dualdiff: numpy.{fn.__name__} with weights= or overwrite_input=True is not "
                "differentiable."
            )
        axes = _axes(axis, x.ndim)
        return _order_grad(x, axes, lambda n: positions(n, *q, method), skip_nan), axes

    def jvp(t, ans, x, *args, **kwargs):
        q, axis, keepdims, method = _order_args(fn, args, kwargs)
        d, axes = grad(x, q, axis, keepdims, method, kwargs)
        return np.sum(align(t, np.ndim(d)) * d, axis=axes, keepdims=keepdims)

    def vjp(g, ans, x, *args, **kwargs):
        q, axis, keepdims, method = _order_args(fn, args, kwargs)
        d, axes = grad(x, q, axis, keepdims, method, kwargs)
        gx = _keep(g, axes, keepdims) * d
        return np.sum(gx, axis=tuple(range(1, 1 + np.ndim(d) - x.ndim)))

    jvp.__name__, vjp.__name__ = f"{fn.__name__}_jvp", f"{fn.__name__}_vjp"
    defjvp(fn)(jvp)
    defvjp(fn)(vjp)


def _order_args(fn, args, kwargs):
    """``(q, axis, keepdims, method)`` from a median/quantile call; q is () for medians."""
    names = ("axis", "out", "overwrite_input", "keepdims")
    if fn not in (np.median, np.nanmedian):
        names = ("q", "axis", "out", "overwrite_input", "method", "keepdims")
    bound = dict(zip(names, args)) | kwargs
    q = (bound["q"],) if "q" in bound else ()
    return q, bound.get("axis"), bound.get("keepdims", False), bound.get("method", "linear")


def _median_position(n, method):
    return np.median(np.arange(n, dtype=float))


def _quantile_position(n, q, method):
    return np.quantile(np.arange(n, dtype=float), q, method=method)


def _percentile_position(n, q, method):
    return np.percentile(np.arange(n, dtype=float), q, method=method)


_order_rules(np.median, _median_position)
_order_rules(np.quantile, _quantile_position)
_order_rules(np.percentile, _percentile_position)
_order_rules(np.nanmedian, _median_position, skip_nan=True)
_order_rules(np.nanquantile, _quantile_position, skip_nan=True)
_order_rules(np.nanpercentile, _percentile_position, skip_nan=True)


# -- norms ----------------------------------------------------------------------------------------
def _vector_norm_grad(x, norm, ord):
    """Gradient of the vector ``ord``-norm; ``norm`` is the answer with the reduced axes kept."""
    if ord is None or ord == 2:
        return x / norm
    if ord == 1:
        return np.sign(x)
    if ord == 0:  # a count of nonzeros: piecewise constant
        return np.zeros(np.shape(x))
    if ord == np.inf or ord == -np.inf:
        return np.sign(x) * _select(np.abs(x), norm)
    return np.sign(x) * (np.abs(x) / norm) ** (ord - 1)


def _matrix_norm_grad(x, norm, ord, axes):
    """Gradient of the matrix ``ord``-norm over ``axes = (rows, cols)`` (answer kept)."""
    rows, cols = axes
    if np.size(x) == 0:  # numpy's norm of an empty matrix is 0 whatever the order
        return np.zeros(np.shape(x))
    if ord is None or ord == "fro":
        return x / norm
    if ord in (1, -1, np.inf, -np.inf):
        # Column sums for ord 1, row sums for ord inf; then the extreme one is selected.
        summed = rows if ord in (1, -1) else cols
        sums = np.sum(np.abs(x), axis=summed, keepdims=True)
        return np.sign(x) * _select(sums, norm)
    xm = np.moveaxis(x, axes, (-2, -1))
    u, _, vh = np.linalg.svd(xm, full_matrices=False)
    if ord == "nuc":
        dm = u @ vh
    else:  # ord 2 or -2: the outer product of the extreme singular vectors
        k = slice(0, 1) if ord == 2 else slice(-1, None)
        dm = u[..., :, k] * vh[..., k, :]
    return np.moveaxis(dm, (-2, -1), axes)


@_reduction(np.linalg.norm)
def norm_grad(ans, x, ord=None, axis=None, keepdims=False):
    if axis is None and (ord is None or x.ndim == 1):
        axes = _axes(None, x.ndim)  # ord None: the 2-norm of the flattened array
        return _vector_norm_grad(x, _keep(ans, axes, keepdims), ord), axes, keepdims
    axes = _axes((0, 1) if axis is None else axis, x.ndim)
    norm = _keep(ans, axes, keepdims)
    if len(axes) == 1:
        return _vector_norm_grad(x, norm, ord), axes, keepdims
    return _matrix_norm_grad(x, norm, ord, axes), axes, keepdims


@_reduction(np.linalg.vector_norm)
def vector_norm_grad(ans, x, *, axis=None, keepdims=False, ord=2):
    axes = _axes(axis, x.ndim)
    return _vector_norm_grad(x, _keep(ans, axes, keepdims), ord), axes, keepdims


@_reduction(np.linalg.matrix_norm)
def matrix_norm_grad(ans, x, *, keepdims=False, ord="fro"):
    axes = (-2, -1)
    return _matrix_norm_grad(x, _keep(ans, axes, keepdims), ord, axes), axes, keepdims


# -- average: weights may be traced too -----------------------------------------------------------
def _average_parts(a, axis, weights):
    """``(axes, w, total)``: weights placed to broadcast against ``a`` and their sums (kept)."""
    axes = _axes(axis, a.ndim)
    if weights is None:
        return axes, None, _count(a, axes)
    w = _place_weights(weights, axes, a.ndim)
    total = np.sum(np.broadcast_to(w, np.shape(a)), axis=axes, keepdims=True)
    return axes, w, total


def _place_weights(w, axes, ndim, batched=False):
    """Weights of ``a.shape`` as they are, or weights of ``a``'s ``axes`` placed as numpy does."""
    m = np.ndim(w) - batched  # primal rank of w
    if m == ndim:
        return w
    w = np.reshape(w, np.shape(w) + (1,) * (ndim - m))
    return np.moveaxis(w, tuple(range(-ndim, m - ndim)), axes)


def _unplace_weights(gw, axes, w):
    """Sum a cotangent of shape ``(k, *a.shape)`` back to the shape of the weights ``w``."""
    ndim, m = gw.ndim - 1, np.ndim(w)
    if m == ndim:
        return gw
    gw = np.moveaxis(gw, axes, tuple(range(-ndim, m - ndim)))
    return np.sum(gw, axis=tuple(range(-(ndim - m), 0)))


def _average_split(ans, returned):
    return (ans[0], ans[1]) if returned else (ans, None)


@defjvp(np.average, argnum=0)
def average_jvp_a(t, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    axes, w, total = _average_parts(a, axis, weights)
    tw = t if w is None else t * w
    ta = np.sum(tw / total, axis=axes, keepdims=keepdims)
    return (ta, None) if returned else ta


@defvjp(np.average, argnum=0)
def average_vjp_a(g, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    g, _ = _average_split(g, returned)
    if g is None:
        return None
    if _empty(a):
        return _empty_cotangent(g, a)
    axes, w, total = _average_parts(a, axis, weights)
    ga = _keep(g, axes, keepdims) / total
    ga = ga if w is None else ga * w
    return np.broadcast_to(ga, ga.shape[:1] + a.shape)


@defjvp(np.average, argnum=2)
def average_jvp_w(t, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    axes, w, total = _average_parts(a, axis, weights)
    avg, _ = _average_split(ans, returned)
    tw = _place_weights(t, axes, a.ndim, batched=True)
    ta = np.sum(tw * ((a - _keep(avg, axes, keepdims)) / total), axis=axes, keepdims=keepdims)
    if not returned:
        return ta
    tsum = np.sum(np.broadcast_to(tw, t.shape[:1] + a.shape), axis=axes, keepdims=keepdims)
    return ta, tsum


@defvjp(np.average, argnum=2)
def average_vjp_w(g, ans, a, axis=None, weights=None, returned=False, *, keepdims=False):
    axes, w, total = _average_parts(a, axis, weights)
    avg, _ = _average_split(ans, returned)
    g, gsum = _average_split(g, returned)
    k = (g if g is not None else gsum).shape[:1]
    gw = np.zeros(k + a.shape)
    if g is not None:
        gw = gw + _keep(g, axes, keepdims) * ((a - _keep(avg, axes, keepdims)) / total)
    if gsum is not None:
        gw = gw + _keep(gsum, axes, keepdims)
    return _unplace_weights(gw, axes, weights)


# -- cumulative sums and products -----------------------------------------------------------------
def _scan(a, b, axis, reverse=False):
    """Solve ``h[i] = a[i] * h[i - 1] + b[i]`` (``h[i + 1]`` if ``reverse``) along ``axis``.

    Hillis-Steele doubling: log2(n) steps of products and sums only, so no division, and the
    result is a polynomial in ``a`` and ``b`` (exact derivatives of every order).
    """
    n = np.shape(b)[axis]
    step = -1 if reverse else 1
    d = 1
    while d < n:
        b = b + a * _shift(b, step * d, axis, 0.0)
        if 2 * d < n:
            a = a * _shift(a, step * d, axis, 1.0)
        d *= 2
    return b


def _cumprod_jvp(t, x, y, axis):
    # dy[i] = x[i] dy[i-1] + y[i-1] t[i]
    return _scan(x, _shift(y, 1, axis, 1.0) * t, axis)


def _cumprod_vjp(g, x, y, axis):
    # r[j] = g[j] + x[j+1] r[j+1]; the cotangent of x[j] is y[j-1] r[j]
    return _shift(y, 1, axis, 1.0) * _scan(_shift(x, -1, axis, 0.0), g, axis, reverse=True)


def _flat(x, axis):
    """``(x, axis)`` with axis=None meaning the flattened array."""
    return (np.reshape(x, (-1,)), -1) if axis is None else (x, neg_axis(axis, x.ndim))


def _flat_batched(t, axis):
    return np.reshape(t, t.shape[:1] + (_size(t.shape[1:]),)) if axis is None else t


def _size(shape):
    """Number of elements of ``shape`` (a reshape's -1 is ambiguous when another axis is 0)."""
    return int(np.prod(shape, dtype=np.intp))


@defjvp(np.cumsum)
def cumsum_jvp(t, ans, x, axis=None, dtype=None, out=None):
    return np.cumsum(_flat_batched(t, axis), axis=_flat(x, axis)[1])


@defvjp(np.cumsum)
def cumsum_vjp(g, ans, x, axis=None, dtype=None, out=None):
    ax = _flat(x, axis)[1]
    return np.reshape(_flip(np.cumsum(_flip(g, ax), axis=ax), ax), g.shape[:1] + x.shape)


@defjvp(np.cumprod)
def cumprod_jvp(t, ans, x, axis=None, dtype=None, out=None):
    xf, ax = _flat(x, axis)
    return _cumprod_jvp(_flat_batched(t, axis), xf, ans, ax)


@defvjp(np.cumprod)
def cumprod_vjp(g, ans, x, axis=None, dtype=None, out=None):
    xf, ax = _flat(x, axis)
    return np.reshape(_cumprod_vjp(g, xf, ans, ax), g.shape[:1] + x.shape)


@defjvp(np.nancumsum)
def nancumsum_jvp(t, ans, x, axis=None, dtype=None, out=None):
    return cumsum_jvp(np.where(np.isnan(x), 0.0, t), ans, x, axis)


@defvjp(np.nancumsum)
def nancumsum_vjp(g, ans, x, axis=None, dtype=None, out=None):
    return np.where(np.isnan(x), 0.0, cumsum_vjp(g, ans, x, axis))


@defjvp(np.nancumprod)
def nancumprod_jvp(t, ans, x, axis=None, dtype=None, out=None):
    nan = np.isnan(x)
    return cumprod_jvp(np.where(nan, 0.0, t), ans, np.where(nan, 1.0, x), axis)


@defvjp(np.nancumprod)
def nancumprod_vjp(g, ans, x, axis=None, dtype=None, out=None):
    nan = np.isnan(x)
    return np.where(nan, 0.0, cumprod_vjp(g, ans, np.where(nan, 1.0, x), axis))


def _cumulative_axis(x, axis):
    return -1 if axis is None else neg_axis(axis, x.ndim)


def _drop_initial(y, axis, include_initial):
    return y[_along(axis, slice(1, None))] if include_initial else y


@defjvp(np.cumulative_sum)
def cumulative_sum_jvp(t, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax = _cumulative_axis(x, axis)
    return np.cumulative_sum(t, axis=ax, include_initial=include_initial)


@defvjp(np.cumulative_sum)
def cumulative_sum_vjp(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax = _cumulative_axis(x, axis)
    g = _drop_initial(g, ax, include_initial)
    return _flip(np.cumsum(_flip(g, ax), axis=ax), ax)


@defjvp(np.cumulative_prod)
def cumulative_prod_jvp(t, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax = _cumulative_axis(x, axis)
    dy = _cumprod_jvp(t, x, _drop_initial(ans, ax, include_initial), ax)
    return pad_zeros(dy, 1, 0, ax) if include_initial else dy


@defvjp(np.cumulative_prod)
def cumulative_prod_vjp(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
    ax = _cumulative_axis(x, axis)
    y = _drop_initial(ans, ax, include_initial)
    return _cumprod_vjp(_drop_initial(g, ax, include_initial), x, y, ax)


# -- differences and integrals --------------------------------------------------------------------
def _diff_width(x, axis, extra):
    """How many entries ``prepend``/``append`` add along ``axis`` (numpy broadcasts scalars)."""
    if extra is None or extra is np._NoValue:  # left out (NumPy's default, when passed on)
        return 0
    return 1 if np.ndim(extra) == 0 else np.shape(extra)[axis]


def _diff_transpose(g, n, axis):
    """Adjoint of ``n`` first differences along ``axis``: the output is ``n`` entries longer."""
    for _ in range(n):
        g = -np.diff(g, axis=axis, prepend=0.0, append=0.0)
    return g


@defjvp(np.diff)
def diff_jvp(t, ans, x, n=1, axis=-1, prepend=None, append=None):
    ax = neg_axis(axis, x.ndim)
    pre, app = _diff_width(x, ax, prepend), _diff_width(x, ax, append)
    if pre or app:  # the constants carry no tangent: difference zeros in their place
        t = pad_zeros(t, pre, app, ax)
    return np.diff(t, n=n, axis=ax)


@defvjp(np.diff)
def diff_vjp(g, ans, x, n=1, axis=-1, prepend=None, append=None):
    ax = neg_axis(axis, x.ndim)
    pre = _diff_width(x, ax, prepend)
    g = _diff_transpose(g, n, ax)
    return g[_along(ax, slice(pre, pre + x.shape[ax]))]


# prepend and append: the differences are linear in them too. A tangent of one is broadcast to
# its block of the extended array (NumPy broadcasts a scalar along the other axes), zeros stand
# for the rest; its cotangent is its block of the transposed differences, summed back.
def _block(t, x, ax, width):
    """The batched tangent ``t`` of prepend/append broadcast to its block of the array."""
    shape = list(np.shape(x))
    shape[ax] = width
    if np.ndim(t) - 1 < len(shape):
        t = np.reshape(t, t.shape[:1] + (1,) * len(shape))
    return np.broadcast_to(t, t.shape[:1] + tuple(shape))


def _extra_jvp(which):
    def jvp(t, ans, x, n=1, axis=-1, prepend=None, append=None):
        ax = neg_axis(axis, x.ndim)
        pre, app = _diff_width(x, ax, prepend), _diff_width(x, ax, append)
        block = _block(t, x, ax, pre if which == "prepend" else app)
        before, after = (0, x.shape[ax] + app) if which == "prepend" else (pre + x.shape[ax], 0)
        return np.diff(pad_zeros(block, before, after, ax), n=n, axis=ax)

    return jvp


def _extra_vjp(which):
    def vjp(g, ans, x, n=1, axis=-1, prepend=None, append=None):
        ax = neg_axis(axis, x.ndim)
        pre, app = _diff_width(x, ax, prepend), _diff_width(x, ax, append)
        g = _diff_transpose(g, n, ax)
        start = 0 if which == "prepend" else pre + x.shape[ax]
        block = g[_along(ax, slice(start, start + (pre if which == "prepend" else app)))]
        extra = prepend if which == "prepend" else append
        if np.ndim(extra) == 0:
            return np.sum(np.reshape(block, block.shape[:1] + (-1,)), axis=-1)
        return unbroadcast(block, np.shape(extra))

    return vjp


for _argnum, _which in ((3, "prepend"), (4, "append")):
    defjvp(np.diff, argnum=_argnum)(_extra_jvp(_which))
    defvjp(np.diff, argnum=_argnum)(_extra_vjp(_which))


def _ediff1d_widths(to_end, to_begin):
    before = 0 if to_begin is None else np.size(to_begin)
    return before, 0 if to_end is None else np.size(to_end)


@defjvp(np.ediff1d)
def ediff1d_jvp(t, ans, x, to_end=None, to_begin=None):
    before, after = _ediff1d_widths(to_end, to_begin)
    d = np.diff(np.reshape(t, t.shape[:1] + (_size(t.shape[1:]),)), axis=-1)
    return pad_zeros(d, before, after, -1) if before or after else d


@defvjp(np.ediff1d)
def ediff1d_vjp(g, ans, x, to_end=None, to_begin=None):
    before, after = _ediff1d_widths(to_end, to_begin)
    if np.size(x) == 0:  # no differences: the cotangent is empty (not one entry longer)
        return np.zeros(g.shape[:1] + np.shape(x))
    g = g[:, before : g.shape[1] - after]
    return np.reshape(_diff_transpose(g, 1, -1), g.shape[:1] + np.shape(x))


def _trapezoid_steps(y, x, dx, axis):
    """Step widths ``d`` (length n - 1 along ``axis``), shaped to broadcast against ``y``."""
    if x is None:
        return dx
    if np.ndim(x) == 1:
        shape = [1] * y.ndim
        shape[axis] = np.shape(x)[0] - 1
        return np.reshape(np.diff(x), tuple(shape))
    return np.diff(x, axis=axis)


def _trapezoid_midpoints(y, axis):
    return (y[_along(axis, slice(None, -1))] + y[_along(axis, slice(1, None))]) / 2.0


@defjvp(np.trapezoid, argnum=0)
def trapezoid_jvp_y(t, ans, y, x=None, dx=1.0, axis=-1):
    return np.trapezoid(t, x, dx, axis=neg_axis(axis, y.ndim))


@defvjp(np.trapezoid, argnum=0)
def trapezoid_vjp_y(g, ans, y, x=None, dx=1.0, axis=-1):
    ax = neg_axis(axis, y.ndim)
    shape = list(y.shape)
    if shape[ax] == 0:  # an integral over no samples: 0 whatever y is
        return np.zeros(g.shape[:1] + y.shape)
    shape[ax] -= 1
    d = _trapezoid_steps(y, x, dx, ax) * np.ones(tuple(shape))
    weights = (pad_zeros(d, 1, 0, ax) + pad_zeros(d, 0, 1, ax)) / 2.0  # each y[i] borders two steps
    return _keep(g, (ax,), False) * weights


@defjvp(np.trapezoid, argnum=1)
def trapezoid_jvp_x(t, ans, y, x=None, dx=1.0, axis=-1):
    ax = neg_axis(axis, y.ndim)
    if np.ndim(x) == 1:
        dt = np.diff(t, axis=-1)
        dt = np.reshape(dt, dt.shape[:1] + (1,) * (y.ndim + ax) + dt.shape[1:] + (1,) * (-ax - 1))
    else:  # y may have more axes than x (it broadcasts), as a batched tangent does
        dt = align(np.diff(t, axis=ax), y.ndim)
    return np.sum(dt * _trapezoid_midpoints(y, ax), axis=ax)


@defvjp(np.trapezoid, argnum=1)
def trapezoid_vjp_x(g, ans, y, x=None, dx=1.0, axis=-1):
    ax = neg_axis(axis, y.ndim)
    if np.shape(x)[-1 if np.ndim(x) == 1 else ax] == 0:  # no steps: nothing depends on x
        return np.zeros(g.shape[:1] + np.shape(x))
    gd = _keep(g, (ax,), False) * _trapezoid_midpoints(y, ax)
    if np.ndim(x) == 1:  # one grid for every slice: collect the other axes
        gd = np.moveaxis(gd, ax, -1)
        gd = np.sum(gd, axis=tuple(range(1, gd.ndim - 1)))
        ax = -1
    return _diff_transpose(gd, 1, ax)


@defjvp(np.trapezoid, argnum=2)
def trapezoid_jvp_dx(t, ans, y, x=None, dx=1.0, axis=-1):
    if x is not None:  # numpy ignores dx when x is given
        return np.zeros(t.shape[:1] + np.shape(ans))
    return align(t, np.ndim(ans)) * np.trapezoid(y, None, 1.0, axis)


@defvjp(np.trapezoid, argnum=2)
def trapezoid_vjp_dx(g, ans, y, x=None, dx=1.0, axis=-1):
    if x is not None:
        return None
    return g * np.trapezoid(y, None, 1.0, axis)
