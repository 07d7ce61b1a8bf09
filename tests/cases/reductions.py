"""Test-table lines for reductions (rules in dualdiff/rules/reductions.py).

Points keep away from ties and kinks (max/min/median, abs in norms) so that finite differences
are a valid reference; ``prod``/``cumprod`` lines hold exact zeros on purpose, where a rule that
divides by ``x`` would fail.
"""

import numpy as np

from dualdiff.rules.reductions import pad_zeros
from tests._table import Case, pos, rand

x = rand(3, 4)
y3 = rand(2, 3, 4, seed=1)
v = rand(5, seed=2)
s = np.array(0.7)
mask = rand(3, 4, seed=3) > -0.4
zero1 = np.array([0.5, -1.2, 0.0, 0.8, 1.5])  # one exact zero
zero2 = np.array([[0.5, 0.0, 1.1, 0.0], [0.9, -1.3, 0.7, 1.2], [0.0, 0.4, 0.6, -0.8]])
nanx = np.where(rand(3, 4, seed=4) > 0.5, np.nan, x)
nanx[:, 0] = x[:, 0]  # every row and column keeps a finite entry
w4 = pos(4, seed=5)
m23 = rand(2, 3, seed=6)

CASES = [
    # -- sum and mean: every axis form, keepdims, 0-d, where=, the method -------------------------
    Case(np.sum, np.sum, (x,), name="all"),
    Case(np.sum, lambda a: np.sum(a, axis=0), (x,), name="axis0"),
    Case(np.sum, lambda a: np.sum(a, axis=-1, keepdims=True), (x,), name="neg-keepdims"),
    Case(np.sum, lambda a: np.sum(a, axis=(0, 2)), (y3,), name="tuple-3d"),
    Case(np.sum, lambda a: np.sum(a, axis=(-1, 0), keepdims=True), (y3,), name="tuple-keep"),
    Case(np.sum, np.sum, (s,), name="0d"),
    Case(np.sum, lambda a: np.sum(a, axis=1, where=mask), (x,), name="where"),
    Case(np.sum, lambda a: np.sum(a, axis=0, initial=2.0), (x,), name="initial"),
    Case(np.sum, lambda a: a.sum(1) ** 2, (x,), name="method"),
    Case(np.sum, lambda a: np.add.reduce(a, axis=0), (x,), name="add-reduce"),
    Case(np.mean, np.mean, (x,), name="all"),
    Case(np.mean, lambda a: np.mean(a, axis=-2, keepdims=True), (x,), name="neg-keepdims"),
    Case(np.mean, lambda a: np.mean(a, axis=(1, 2)), (y3,), name="tuple-3d"),
    Case(np.mean, np.mean, (s,), name="0d"),
    Case(np.mean, lambda a: np.mean(a, axis=1, where=mask), (x,), name="where"),
    Case(np.mean, lambda a: a.mean(0) ** 2, (x,), name="method"),
    Case(np.nansum, lambda a: np.nansum(a, axis=1), (nanx,), name="axis"),
    Case(np.nansum, np.nansum, (nanx,), name="all"),
    Case(np.nanmean, lambda a: np.nanmean(a, axis=0, keepdims=True), (nanx,), name="keepdims"),
    Case(np.nanmean, np.nanmean, (nanx,), name="all"),
    # -- products: zeros in the input must not break them -----------------------------------------
    Case(np.prod, np.prod, (v,), name="1d"),
    Case(np.prod, np.prod, (zero1,), name="one-zero"),
    Case(np.prod, lambda a: np.prod(a, axis=1), (zero2,), name="zeros-axis1"),
    Case(np.prod, np.prod, (zero2,), name="two-zeros-all"),
    Case(np.prod, lambda a: np.prod(a, axis=(0, -1), keepdims=True), (y3,), name="tuple-keep"),
    Case(np.prod, np.prod, (s,), name="0d"),
    Case(np.prod, lambda a: np.prod(a, axis=0, initial=1.5), (x,), name="initial"),
    Case(np.prod, lambda a: a.prod(-1), (x,), name="method"),
    Case(np.nanprod, lambda a: np.nanprod(a, axis=1), (nanx,), name="axis"),
    # -- extrema (no ties at these points) --------------------------------------------------------
    Case(np.max, np.max, (x,), name="all"),
    Case(np.max, lambda a: np.max(a, axis=1), (x,), name="axis1"),
    Case(np.max, lambda a: np.max(a, axis=(0, 2), keepdims=True), (y3,), name="tuple-keep"),
    Case(np.max, np.max, (s,), name="0d"),
    Case(np.max, lambda a: a.max(-1), (x,), name="method"),
    Case(np.amax, lambda a: np.amax(a, axis=-2), (x,), name="neg"),
    Case(np.amax, lambda a: np.maximum.reduce(a, axis=0), (x,), name="maximum-reduce"),
    Case(np.min, np.min, (x,), name="all"),
    Case(np.min, lambda a: np.min(a, axis=0, keepdims=True), (x,), name="keepdims"),
    Case(np.min, lambda a: a.min(axis=(1, 2)), (y3,), name="method-tuple"),
    Case(np.amin, lambda a: np.amin(a, axis=1), (x,), name="axis1"),
    Case(np.amin, np.amin, (s,), name="0d"),
    Case(np.nanmax, lambda a: np.nanmax(a, axis=1), (nanx,), name="axis"),
    Case(np.nanmin, np.nanmin, (nanx,), name="all"),
    Case(np.ptp, np.ptp, (x,), name="all"),
    Case(np.ptp, lambda a: np.ptp(a, axis=0, keepdims=True), (x,), name="keepdims"),
    # -- moments ----------------------------------------------------------------------------------
    Case(np.var, np.var, (x,), name="all"),
    Case(np.var, lambda a: np.var(a, axis=1, ddof=1), (x,), name="ddof"),
    Case(np.var, lambda a: np.var(a, axis=(0, -1), keepdims=True), (y3,), name="tuple-keep"),
    Case(np.var, lambda a: np.var(a, axis=0, correction=1), (x,), name="correction"),
    Case(np.var, lambda a: a.var(-1), (x,), name="method"),
    Case(np.var, np.var, (s,), name="0d"),
    Case(np.std, np.std, (x,), name="all"),
    Case(np.std, lambda a: np.std(a, axis=0, ddof=1, keepdims=True), (x,), name="ddof-keep"),
    Case(np.std, lambda a: np.std(a, axis=(1, 2)), (y3,), name="tuple"),
    Case(np.std, lambda a: a.std(1), (x,), name="method"),
    Case(np.nanvar, lambda a: np.nanvar(a, axis=1, ddof=1), (nanx,), name="ddof"),
    Case(np.nanstd, np.nanstd, (nanx,), name="all"),
    # -- order statistics (no ties) ---------------------------------------------------------------
    Case(np.median, np.median, (v,), name="odd"),
    Case(np.median, np.median, (x,), name="even-all"),
    Case(np.median, lambda a: np.median(a, axis=1), (x,), name="axis"),
    Case(np.median, lambda a: np.median(a, axis=(0, 2), keepdims=True), (y3,), name="tuple"),
    Case(np.quantile, lambda a: np.quantile(a, 0.3), (x,), name="scalar-q"),
    Case(np.quantile, lambda a: np.quantile(a, [0.1, 0.65], axis=-1), (x,), name="array-q"),
    Case(np.quantile, lambda a: np.quantile(a, 0.4, axis=0, keepdims=True), (x,), name="keep"),
    Case(np.quantile, lambda a: np.quantile(a, [0.2, 0.9], method="hazen"), (v,), name="hazen"),
    Case(
        np.quantile, lambda a: np.quantile(a, 0.3, axis=0, method="nearest"), (x,), name="nearest"
    ),
    Case(np.percentile, lambda a: np.percentile(a, [25, 80], axis=(0, 1)), (y3,), name="tuple"),
    Case(np.percentile, lambda a: np.percentile(a, 40, method="lower"), (x,), name="lower"),
    Case(np.nanmedian, lambda a: np.nanmedian(a, axis=1), (nanx,), name="axis"),
    Case(np.nanquantile, lambda a: np.nanquantile(a, [0.3, 0.7], axis=0), (nanx,), name="q"),
    Case(np.nanpercentile, lambda a: np.nanpercentile(a, 60), (nanx,), name="all"),
    # -- cumulative ops ---------------------------------------------------------------------------
    Case(np.cumsum, np.cumsum, (x,), name="flatten"),
    Case(np.cumsum, lambda a: np.cumsum(a, axis=0), (x,), name="axis0"),
    Case(np.cumsum, lambda a: np.cumsum(a, axis=-2), (y3,), name="neg-3d"),
    Case(np.cumsum, np.cumsum, (s,), name="0d"),
    Case(np.cumsum, lambda a: a.cumsum(1), (x,), name="method"),
    Case(np.cumsum, lambda a: np.add.accumulate(a, axis=1), (x,), name="add-accumulate"),
    Case(np.cumprod, np.cumprod, (v,), name="1d"),
    Case(np.cumprod, np.cumprod, (zero2,), name="zeros-flatten"),
    Case(np.cumprod, lambda a: np.cumprod(a, axis=1), (zero2,), name="zeros-axis1"),
    Case(np.cumprod, lambda a: np.cumprod(a, axis=0), (y3,), name="axis0-3d"),
    Case(np.cumprod, lambda a: a.cumprod(-1), (rand(7, seed=8),), name="method-odd-length"),
    Case(np.nancumsum, lambda a: np.nancumsum(a, axis=1), (nanx,), name="axis"),
    Case(np.nancumprod, lambda a: np.nancumprod(a, axis=0), (nanx,), name="axis"),
    Case(
        np.cumulative_sum,
        lambda a: np.cumulative_sum(a, axis=1, include_initial=True),
        (x,),
        name="initial",
    ),
    Case(np.cumulative_sum, np.cumulative_sum, (v,), name="1d"),
    Case(
        np.cumulative_prod,
        lambda a: np.cumulative_prod(a, axis=0, include_initial=True),
        (zero2,),
        name="zeros-initial",
    ),
    Case(np.cumulative_prod, np.cumulative_prod, (v,), name="1d"),
    # -- average: values and weights --------------------------------------------------------------
    Case(np.average, np.average, (x,), name="plain"),
    Case(np.average, lambda a: np.average(a, axis=1, keepdims=True), (x,), name="keepdims"),
    Case(np.average, lambda a, w: np.average(a, None, w), (x, pos(3, 4)), name="weights-full"),
    Case(np.average, lambda a, w: np.average(a, 1, w), (x, w4), name="weights-1d"),
    Case(
        np.average,
        lambda a, w: np.average(a, (0, 2), w),
        (y3, pos(2, 4)),
        name="weights-tuple-axis",
    ),
    Case(np.average, lambda a, w: np.average(a, -1, w, True), (x, w4), name="returned"),
    Case(np.average, lambda a: np.average(a, 0, None, True)[0], (x,), name="returned-unweighted"),
    Case(np.average, lambda a: np.average(a, axis=0, weights=pos(3)), (x,), name="weights-kw"),
    # -- norms ------------------------------------------------------------------------------------
    Case(np.linalg.norm, np.linalg.norm, (x,), name="flatten"),
    Case(np.linalg.norm, np.linalg.norm, (y3,), name="flatten-3d"),
    Case(np.linalg.norm, np.linalg.norm, (s,), name="0d"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, axis=1), (x,), name="vec-axis"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 2, -2, True), (x,), name="vec-2-keep"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 1), (v,), name="vec-1"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, np.inf, axis=1), (x,), name="vec-inf"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, -np.inf), (v,), name="vec-neg-inf"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 3, axis=0), (x,), name="vec-3"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 0.5), (v,), name="vec-half"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 0) * a, (v,), name="vec-0"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, "fro"), (x,), name="fro"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, None, (2, 0)), (y3,), name="fro-axes"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 1), (x,), name="mat-1"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, -1), (x,), name="mat-neg-1"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, np.inf, (1, 2)), (y3,), name="mat-inf"),
    Case(
        np.linalg.norm,
        lambda a: np.linalg.norm(a, -np.inf, keepdims=True),
        (x,),
        name="mat-neg-inf-keep",
    ),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 2), (x,), name="mat-2"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, -2, (2, 1)), (y3,), name="mat-neg-2"),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, "nuc"), (x,), name="nuc"),
    Case(
        np.linalg.norm,
        lambda a: np.linalg.norm(a, "nuc", (0, 2), True),
        (y3,),
        name="nuc-axes-keep",
    ),
    Case(np.linalg.vector_norm, np.linalg.vector_norm, (x,), name="all"),
    Case(
        np.linalg.vector_norm,
        lambda a: np.linalg.vector_norm(a, axis=(0, 2), ord=3),
        (y3,),
        name="tuple-3",
    ),
    Case(
        np.linalg.vector_norm,
        lambda a: np.linalg.vector_norm(a, axis=1, ord=np.inf),
        (x,),
        name="inf",
    ),
    Case(np.linalg.matrix_norm, np.linalg.matrix_norm, (y3,), name="fro"),
    Case(
        np.linalg.matrix_norm,
        lambda a: np.linalg.matrix_norm(a, ord=1, keepdims=True),
        (y3,),
        name="1-keep",
    ),
    Case(np.linalg.matrix_norm, lambda a: np.linalg.matrix_norm(a, ord=2), (y3,), name="2"),
    # -- differences and integrals ----------------------------------------------------------------
    Case(np.diff, np.diff, (v,), name="1d"),
    Case(np.diff, lambda a: np.diff(a, 2, axis=0), (pos(4, 3),), name="n2-axis0"),
    Case(
        np.diff,
        lambda a: np.diff(a, axis=-1, prepend=0.5, append=[[1.0]] * 3),
        (x,),
        name="prepend-append",
    ),
    Case(np.diff, lambda a: np.diff(a, 0), (x,), name="n0"),
    # traced prepend and append: a scalar (broadcast along the other axes) and blocks
    Case(np.diff, lambda a, p: np.diff(a, axis=1, prepend=p), (pos(3, 4), pos()),
         name="traced-pre"),  # fmt: skip
    Case(np.diff, lambda a, q: np.diff(a, 2, axis=0, append=q), (pos(3, 4), pos(2, 4, seed=1)),
         name="traced-app"),  # fmt: skip
    Case(np.diff, lambda p, q: np.diff(v, prepend=p, append=q), (pos(2, seed=2), pos()),
         name="traced-both"),  # fmt: skip
    Case(np.ediff1d, np.ediff1d, (x,), name="flatten"),
    Case(np.ediff1d, lambda a: np.ediff1d(a, to_end=[1.0, 2.0], to_begin=-1.0), (v,), name="ends"),
    Case(np.trapezoid, np.trapezoid, (x,), name="dx"),
    Case(
        np.trapezoid,
        lambda a, b: np.trapezoid(a, b, axis=0),
        (x, np.cumsum(pos(3))),
        name="x-1d-axis0",
    ),
    Case(
        np.trapezoid,
        lambda a, b: np.trapezoid(a, b),
        (y3, np.cumsum(pos(2, 3, 4), axis=-1)),
        name="x-nd",
    ),
    Case(
        np.trapezoid,
        lambda a, d: np.trapezoid(a, None, d, 1),
        (y3, np.array(0.3)),
        name="traced-dx",
    ),
    Case(
        np.trapezoid,
        lambda a, b, d: np.trapezoid(a, b, d),
        (v, np.cumsum(pos(5)), s),
        name="x-overrides-dx",
    ),
    # -- internal ops -----------------------------------------------------------------------------
    Case(pad_zeros, lambda a: pad_zeros(a, 1, 2, -2) ** 2, (y3,), name="middle-axis"),
]
