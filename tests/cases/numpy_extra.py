"""Test-table lines for the NumPy functions of dualdiff/rules/numpy_extra.py."""

import numpy as np

from dualdiff.rules.numpy_extra import like, nan_to_num
from tests._table import Case, pos, rand

v6 = rand(6, seed=11)
v4 = rand(4, seed=12)
v3 = rand(3, seed=13)
m34 = rand(3, 4, seed=14)
m35 = rand(3, 5, seed=15)
xp = np.array([-1.0, -0.2, 0.5, 1.5])
fp = np.array([0.3, -0.7, 1.1, 0.4])
queries = np.array([[-1.5, -0.6, 0.1], [0.7, 1.2, 2.0]])  # below, inside and above the knots
fractions = np.array([0.33, 1.72, -0.61, 2.42, -1.18])  # away from integers and ties
spread = np.array([0.3, -1.2, 2.5, -0.4, 1.7, 0.9, -2.1])  # distinct: no ties in partition


def _filled(y):  # the ODE idiom: a traced array from zeros_like, written element by element
    dy = np.zeros_like(y)
    dy[0] = -2.0 * y[0]
    dy[1:] = y[1:] * y[0]
    return dy


def _ones_filled(y):
    dy = np.ones_like(y)
    dy[2] = y[1] ** 2
    return dy * y


def _empty_filled(y):
    dy = np.empty_like(y)
    dy[:] = np.sin(y)
    return dy


def _full_filled(y):
    dy = np.full_like(y, 3.0)
    dy[::2] = y[1::2] * y[::2]
    return dy


def _piecewise(x):
    return np.piecewise(x, [x < 0, x >= 0], [lambda v: v**2, lambda v: np.sin(v)])


CASES = [
    # -- partly piecewise constant (round, fix and the other constants: test_numpy_extra.py) ------
    Case(np.modf, lambda x: np.modf(x)[0] * 2.0, (fractions,), name="fraction"),
    Case(np.modf, lambda x: np.modf(x)[0] * np.modf(x)[1] + x, (fractions,), name="both"),
    Case(np.frexp, lambda x: np.frexp(x)[0] ** 2, (fractions,)),
    Case(np.divmod, lambda x: divmod(x, 0.7)[1] ** 2, (fractions,), name="x"),
    Case(np.divmod, lambda y: np.divmod(fractions, y)[1], (pos(5, seed=3),), name="y"),
    Case(np.divmod, lambda x, y: np.divmod(x, y)[1] * x, (fractions, pos(5, seed=4)), name="xy"),
    Case(np.nan_to_num, lambda x: np.nan_to_num(x * x), (v4,)),
    Case(nan_to_num, lambda x: nan_to_num(np.log(x), 0.0, 1.0), (pos(4),)),
    # -- arrays shaped like a value --------------------------------------------------------------
    Case(np.zeros_like, _filled, (v4,)),
    Case(np.ones_like, _ones_filled, (v4,)),
    Case(np.empty_like, _empty_filled, (v4,)),
    Case(np.full_like, _full_filled, (v6,)),
    Case(np.full_like, lambda y: np.full_like(y, y[1]) * y, (v4,), name="fill"),
    Case(
        np.full_like,
        lambda y: np.full_like(m34, 0.0) + np.full_like(y, y[:, :1]) ** 2,
        (m34,),
        name="fill-column",
    ),  # fmt: skip
    Case(like, lambda y: like(np.zeros_like, y) + y, (v4,), name="a"),
    Case(like, lambda y, c: like(np.full_like, y, c) * y, (v4, np.array(0.3)), name="fill"),
    # -- interp ------------------------------------------------------------------------------------
    Case(np.interp, lambda x: np.interp(x, xp, fp), (queries,), name="x"),
    Case(
        np.interp,
        lambda x: np.interp(x, xp, fp, left=2.0, right=-1.0),
        (queries,),
        name="x-left-right",
    ),  # fmt: skip
    Case(np.interp, lambda f: np.interp(queries, xp, f), (fp,), name="fp"),
    Case(np.interp, lambda f: np.interp(queries, xp, f, 0.5, 0.25), (fp,), name="fp-left-right"),
    Case(np.interp, lambda x, f: np.interp(x, xp, f) ** 2, (np.array(0.2), fp), name="both"),
    # -- polynomials -------------------------------------------------------------------------------
    Case(np.polyval, lambda p: np.polyval(p, queries), (v4,), name="p"),
    Case(np.polyval, lambda x: np.polyval(v4, x), (queries,), name="x"),
    Case(np.polyval, np.polyval, (v3, v6), name="both"),
    Case(np.polyval, lambda x: np.polyval(np.array([0.5]), x), (v3,), name="constant"),
    Case(np.polyval, lambda x: np.polyval([x[0], 1.0, x[1]], x), (v3,), name="listed-both"),
    Case(np.polyfit, lambda y: np.polyfit(np.linspace(0, 1, 6), y, 2), (v6,), name="y"),
    Case(np.polyfit, lambda x: np.polyfit(x, v6, 2), (np.linspace(0, 1, 6) + 0.1 * v6,), name="x"),
    Case(
        np.polyfit,
        lambda x, y: np.polyfit(x, y, 1, w=pos(4)),
        (np.arange(4.0) + 0.1 * v4, v4),
        name="x-y-weights",
    ),
    Case(np.polyfit, lambda y: np.polyfit(np.linspace(0, 1, 4), y, 1), (m34.T,), name="columns"),
    Case(
        np.polyfit,
        lambda y: np.polyfit(np.linspace(0, 1, 6), y, 2, w=pos(6)),
        (v6,),
        name="weights",
    ),  # fmt: skip
    # -- grids -------------------------------------------------------------------------------------
    Case(np.linspace, lambda a, b: np.linspace(a, b, 5), (np.array(0.3), np.array(1.9))),
    Case(np.linspace, lambda a: np.linspace(a, 2.0, 4, endpoint=False), (v3,), name="array"),
    Case(np.linspace, lambda b: np.linspace(0.0, b, 4, axis=-1), (v3,), name="axis"),
    Case(
        np.linspace,
        lambda a, b: np.linspace(a, b, 4, retstep=True)[1] * a,
        (v3, v3 + 2),
        name="retstep",
    ),  # fmt: skip
    Case(np.geomspace, lambda a, b: np.geomspace(a, b, 5), (np.array(0.3), np.array(1.9))),
    Case(np.geomspace, lambda a: np.geomspace(a, 2.0 * a, 4, axis=1), (-pos(3),), name="axis"),
    Case(np.logspace, lambda a, b: np.logspace(a, b, 5), (np.array(0.3), np.array(0.9))),
    Case(np.logspace, lambda a: np.logspace(a, 1.0, 3, base=2.0), (v3,), name="base"),
    # -- gradient ----------------------------------------------------------------------------------
    Case(np.gradient, np.gradient, (v6,)),
    Case(np.gradient, lambda f: np.gradient(f, 0.5, edge_order=2), (v6,), name="edge-order-2"),
    Case(np.gradient, lambda f: np.gradient(f, np.cumsum(pos(6))), (v6,), name="coordinates"),
    Case(
        np.gradient,
        lambda f: np.gradient(f, np.cumsum(pos(6)), edge_order=2),
        (v6,),
        name="coordinates-2",
    ),  # fmt: skip
    Case(np.gradient, lambda f: np.stack(np.gradient(f)), (m34,), name="2d"),
    Case(np.gradient, lambda f: np.gradient(f, 2.0, axis=1), (m34,), name="axis"),
    Case(np.gradient, lambda f: np.gradient(f, axis=0)[1:] ** 2, (m35,), name="axis-0"),
    Case(
        np.gradient,
        lambda f: np.gradient(f, np.arange(3.0) ** 2, 1.5)[0],
        (m34,),
        name="one-output",
    ),  # fmt: skip
    Case(np.gradient, np.gradient, (v3[:2],), name="two-points"),
    # -- partition ---------------------------------------------------------------------------------
    Case(np.partition, lambda a: np.partition(a, 3), (spread,)),
    Case(np.partition, lambda a: np.partition(a, (1, 4)) * spread, (spread,), name="kth-list"),
    Case(np.partition, lambda a: np.partition(a, 1, axis=0), (m34,), name="axis"),
    Case(np.partition, lambda a: np.partition(a, 5, axis=None), (m34,), name="flat"),
    # -- cov, corrcoef -----------------------------------------------------------------------------
    Case(np.cov, np.cov, (m35,)),
    Case(np.cov, np.cov, (v6,), name="vector"),
    Case(np.cov, lambda m: np.cov(m, rowvar=False, bias=True), (m35,), name="columns"),
    Case(np.cov, lambda m, y: np.cov(m, y), (v6, rand(6, seed=5)), name="y"),
    Case(np.cov, lambda y: np.cov(m35, y, ddof=2), (rand(2, 5, seed=6),), name="y-only"),
    Case(
        np.cov,
        lambda m: np.cov(m, fweights=[1, 2, 1, 3, 1], aweights=pos(5)),
        (m35,),
        name="weights",
    ),  # fmt: skip
    Case(np.corrcoef, np.corrcoef, (m35,)),
    Case(np.corrcoef, lambda m, y: np.corrcoef(m, y), (v6, rand(6, seed=7)), name="y"),
    Case(np.corrcoef, lambda m: np.corrcoef(m, rowvar=False), (m35.T,), name="columns"),
    # -- convolve, correlate -----------------------------------------------------------------------
    Case(np.convolve, np.convolve, (v6, v3), name="full"),
    Case(np.convolve, lambda a, v: np.convolve(a, v, "same"), (v6, v4), name="same"),
    Case(np.convolve, lambda a, v: np.convolve(a, v, mode="valid"), (v3, v6), name="valid"),
    Case(np.convolve, lambda a, v: np.convolve(a, v, "same"), (v3, v6), name="same-short"),
    Case(np.correlate, np.correlate, (v6, v3), name="valid"),
    Case(np.correlate, lambda a, v: np.correlate(a, v, "full"), (v3, v6), name="full"),
    Case(np.correlate, lambda a, v: np.correlate(a, v, "same"), (v6, v4), name="same"),
    Case(np.correlate, lambda a: np.correlate(a, v4, "same"), (v3,), name="same-short"),
    # -- insert ------------------------------------------------------------------------------------
    Case(np.insert, lambda a: np.insert(a, 2, 5.0), (v4,), name="arr"),
    Case(np.insert, lambda a, v: np.insert(a, [1, 3], v), (v4, rand(2, seed=8)), name="values"),
    Case(np.insert, lambda a, v: np.insert(a, 1, v, axis=1), (m34, v3), name="axis"),
    Case(
        np.insert,
        lambda v: np.insert(m34, slice(0, 2), v, axis=0),
        (np.array(0.4),),
        name="broadcast-value",
    ),  # fmt: skip
    Case(np.insert, lambda a: np.insert(a, 3, [a[0], 1.0]), (v4,), name="listed"),
    # -- piecewise ---------------------------------------------------------------------------------
    Case(np.piecewise, _piecewise, (spread,)),
    Case(
        np.piecewise,
        lambda x: np.piecewise(x, [x < 0], [lambda v: 3 * v, 0.5]),
        (spread,),
        name="default-constant",
    ),  # fmt: skip
    # -- real arguments of complex-valued functions ---------------------------------------------
    Case(np.real_if_close, lambda x: np.real_if_close(x) ** 2, (spread,), name="real"),
]
