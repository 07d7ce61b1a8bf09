"""Test-table lines for the NumPy functions of dualdiff/rules/numpy_more.py (composites and
matvec/vecmat): one line per function and differentiable argument."""

import numpy as np

from tests._table import Case, pos, rand

v4 = rand(4, seed=31)
v3 = rand(3, seed=32)
m33 = rand(3, 3, seed=33) + 3.0 * np.eye(3)
m23 = rand(2, 3, seed=34)
m44 = rand(4, 4, seed=35) + 4.0 * np.eye(4)
distinct = np.array([0.3, -1.2, 2.5, 0.7, -0.4])  # no ties: unique, set functions, sorting
phases = np.array([0.1, 3.0, 6.5, -0.2, 3.3, 9.8])  # jumps over pi: unwrap corrects them
samples = np.array([0.1, 0.55, 0.35, 0.9, 0.72])  # away from the bin edges below
columns = np.array([[0.1, 3.0], [6.5, -0.2], [3.3, 9.7]])  # no jump of exactly half a period
with_zero = np.array([0.0, 0.8, -1.1, 1.6])  # vander and poly at a zero value


def _filled_diagonal(m, v):
    m = m * 1.0
    np.fill_diagonal(m, v)
    return m


def _put(x, v):
    y = x * 2.0
    np.put(y, [0, -1], v)
    return y


def _place(x, v):
    y = x * 1.0
    np.place(y, np.array([True, False, True, False, True]), v)
    return y


def _putmask(x, v):
    y = x * 1.0
    np.putmask(y, np.array([False, True, True, False, True]), v)
    return y


def _put_along_axis(m, v):
    y = m * 1.0
    np.put_along_axis(y, np.array([[2], [0]]), v, axis=1)
    return y


def _copyto(x, v):
    y = x * 1.0
    np.copyto(y, v, where=np.array([True, False, True, True, False]))
    return y


CASES = [
    # -- names of functions the table has ----------------------------------------------------------
    Case(np.astype, lambda x: np.astype(x, np.float64) * x, (v4,)),
    Case(np.matrix_transpose, lambda m: np.matrix_transpose(m) * 2.0, (m23,)),
    Case(np.linalg.diagonal, lambda m: np.linalg.diagonal(m, offset=1) ** 2, (m33,)),
    Case(np.linalg.trace, lambda m: np.linalg.trace(m * m), (m33,)),
    Case(np.unstack, lambda m: np.unstack(m, axis=1)[2] * 3.0, (m23,)),
    # -- polynomials ------------------------------------------------------------------------------
    Case(np.polyadd, lambda a, b: np.polyadd(a, b), (v4, v3)),
    Case(np.polysub, lambda a, b: np.polysub(b, a), (v4, v3)),
    Case(np.polymul, lambda a, b: np.polymul(a, b), (v4, v3)),
    Case(np.polyder, lambda p: np.polyder(p, 2), (v4,)),
    Case(np.polyint, lambda p, k: np.polyint(p, 2, k), (v4, v3[:2])),
    Case(np.polydiv, lambda u, v: np.polydiv(u, v)[0], (v4, v3 + [2.0, 0, 0]), name="quotient"),
    Case(np.polydiv, lambda u, v: np.polydiv(u, v)[1], (v4, v3 + [2.0, 0, 0]), name="remainder"),
    Case(np.poly, lambda z: np.poly(z), (with_zero,)),
    Case(np.poly, lambda z: np.poly(z[:1]) * z[1:], (v3,), name="one-root"),
    Case(np.roots, lambda p: np.roots(p), (np.array([1.0, -6.0, 11.0, -6.1]),), name="real"),
    Case(
        np.roots,
        lambda p: np.abs(np.roots(np.concatenate((p, [0.0])))),
        (np.array([1.0, 0.5, 2.0]),),
        name="complex-and-zero",
    ),  # fmt: skip
    # -- unwrap, vander, meshgrid, block, choose, trim_zeros, sort_complex ------------------------
    Case(np.unwrap, lambda p: np.unwrap(p), (phases,)),
    Case(np.unwrap, lambda p: np.unwrap(p, axis=0, period=4.0), (columns,), name="axis-period"),
    Case(np.vander, lambda x: np.vander(x), (with_zero,)),
    Case(np.vander, lambda x: np.vander(x, 3, increasing=True), (v4,), name="increasing"),
    Case(np.meshgrid, lambda x, y: np.meshgrid(x, y)[0] * np.meshgrid(x, y)[1], (v4, v3)),
    Case(np.meshgrid, lambda x, y: np.meshgrid(x, y, sparse=True, indexing="ij")[1] * x[:, None],
         (v4, v3), name="sparse-ij"),  # fmt: skip
    Case(np.block, lambda m, x: np.block([[m, x[:, None]], [x[None, :], 1.0]]), (m33, v3)),
    Case(np.choose, lambda a, b: np.choose([0, 1, 1, 0], [a, b]), (v4, v4[::-1] * 2.0)),
    Case(np.choose, lambda a, b: np.choose([[0], [3]], [a, b], mode="wrap"), (v4, v3[0]),
         name="wrap-broadcast"),  # fmt: skip
    Case(np.trim_zeros, lambda x: np.trim_zeros(x * [0.0, 1.0, 1.0, 0.0]), (v4,)),
    Case(np.lexsort, lambda x: x[np.lexsort((x, x > 0))] * 2.0, (distinct,)),
    Case(np.sort_complex, lambda x: np.real(np.sort_complex(x)) * x, (distinct,)),
    # -- functions along axes -----------------------------------------------------------------
    Case(np.apply_along_axis, lambda m: np.apply_along_axis(lambda r: r[:2] * r[2], 1, m),
         (m33,)),  # fmt: skip
    Case(np.apply_over_axes, lambda m: np.apply_over_axes(np.sum, m * m, [0, 1]), (m23,)),
    # -- np.linalg ----------------------------------------------------------------------------
    Case(np.linalg.tensorinv, lambda a: np.linalg.tensorinv(np.reshape(a, (2, 2, 4))), (m44,)),
    Case(np.linalg.tensorsolve, lambda a, b: np.linalg.tensorsolve(np.reshape(a, (4, 2, 2)), b),
         (m44, v4)),  # fmt: skip
    Case(np.linalg.cond, lambda a: np.linalg.cond(a), (m33,)),
    Case(np.linalg.cond, lambda a: np.linalg.cond(a, -2), (m33,), name="-2"),
    Case(np.linalg.cond, lambda a: np.linalg.cond(a, "fro"), (m33,), name="fro"),
    Case(np.linalg.cond, lambda a: np.linalg.cond(a, 1), (m33,), name="1"),
    # -- set functions ------------------------------------------------------------------------
    Case(np.unique, lambda x: np.unique(np.concatenate((x, x[:2]))) ** 2, (distinct,)),
    Case(np.unique, lambda m: np.unique(np.concatenate((m, m[:1])), axis=0), (m23,),
         name="axis"),  # fmt: skip
    Case(np.unique_values, lambda x: np.unique_values(x) * 2.0, (distinct,)),
    Case(np.unique_counts, lambda x: np.unique_counts(x).values * 2.0, (distinct,)),
    Case(np.unique_inverse, lambda x: np.unique_inverse(x).values * 2.0, (distinct,)),
    Case(np.unique_all, lambda x: np.unique_all(x).values * 2.0, (distinct,)),
    Case(np.union1d, lambda x, y: np.union1d(x, y), (distinct, v3)),
    Case(np.intersect1d, lambda x, y: np.intersect1d(x, np.concatenate((y, x[1:3]))),
         (distinct, v3)),  # fmt: skip
    Case(np.setdiff1d, lambda x, y: np.setdiff1d(x, np.concatenate((y, x[1:2]))),
         (distinct, v3)),  # fmt: skip
    Case(np.setxor1d, lambda x, y: np.setxor1d(x, y), (distinct, v3)),
    # -- counting with weights ----------------------------------------------------------------
    Case(np.bincount, lambda w: np.bincount([0, 2, 2, 4, 0], w, minlength=6), (distinct,)),
    Case(np.histogram, lambda a: np.histogram(a, 3)[1], (distinct,), name="edges"),
    Case(np.histogram, lambda a: np.histogram(a, 3, density=True)[0], (distinct,),
         name="density"),  # fmt: skip
    Case(np.histogram, lambda w: np.histogram(samples, 3, weights=w)[0], (distinct,),
         name="weights"),  # fmt: skip
    Case(np.histogram, lambda e, w: np.histogram(samples, e, weights=w, density=True)[0],
         (np.array([0.0, 0.3, 0.6, 1.0]), distinct), name="explicit-edges"),  # fmt: skip
    Case(np.histogram_bin_edges, lambda a: np.histogram_bin_edges(a, "auto"), (distinct,)),
    # -- matvec and vecmat --------------------------------------------------------------------
    Case(np.matvec, lambda a, x: np.matvec(a, x), (m23, v3)),
    Case(np.matvec, lambda a, x: np.matvec(a, x), (rand(2, 2, 3, seed=36), v3),
         name="broadcast"),  # fmt: skip
    Case(np.vecmat, lambda x, a: np.vecmat(x, a), (v3[:2], m23)),
    Case(np.vecmat, lambda x, a: np.vecmat(x, a), (rand(4, 2, seed=37), m23), name="broadcast"),
    # -- writes into a traced array -------------------------------------------------------------
    Case(np.fill_diagonal, _filled_diagonal, (m33, v3[:2])),
    Case(np.put, _put, (distinct, v3[:2])),
    Case(np.place, _place, (distinct, v3[:2])),
    Case(np.putmask, _putmask, (distinct, v3)),
    Case(np.put_along_axis, _put_along_axis, (m23, pos(2, 1))),
    Case(np.copyto, _copyto, (distinct, v3[0])),
]
