"""Test-table lines for ``dualdiff.scipy.linalg`` (rules in dualdiff/rules/scipy_linalg.py).

One line per function and differentiable argument (the other arguments constants), plus the
options that change what SciPy reads (``lower``, ``trans``, ``unit_diagonal``, ``assume_a``,
``transposed``, modes). Points as in linalg.py: well conditioned, symmetric positive definite
where SciPy needs it, distinct eigen- and singular values, and functions of eigen- or singular
vectors that do not see their signs.
"""

import warnings

import numpy as np
import scipy.linalg

from dualdiff.rules import scipy_linalg as ops
from dualdiff.scipy import linalg as sla
from tests._table import Case, rand
from tests.cases.linalg import sign_free, spd, square, tall

A, B3 = square(3, seed=20), square(3, seed=21)
S, S2 = spd(3, seed=22), spd(3, seed=23)
stack = square(3, 2, seed=24)
v3, m32 = rand(3, seed=25), rand(3, 2, seed=26)
near_id = 0.3 * rand(3, 3, seed=27) + np.eye(3)  # logm / sqrtm: eigenvalues near 1
band11 = rand(3, 5, seed=28) + np.array([[0.0], [4.0], [0.0]])  # (l, u) = (1, 1), dominant
band21 = rand(4, 5, seed=29) + np.array([[0.0], [5.0], [0.0], [0.0]])  # (l, u) = (2, 1)
v5, m52 = rand(5, seed=30), rand(5, 2, seed=31)


def cho(a, b, lower=False):
    return sla.cho_solve(sla.cho_factor(a, lower=lower), b)


def lu_of_singular(a):
    """``lu_factor(a)[0]`` without SciPy's warning that the last pivot is zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return sla.lu_factor(a)[0]


def lu_then_solve(a, b, trans=0):
    return sla.lu_solve(sla.lu_factor(a), b, trans=trans)


lyap = sla.solve_continuous_lyapunov

CASES = [
    # -- solve_triangular: a (its triangle) and b ------------------------------------------------
    Case(ops.solve_triangular, lambda a: sla.solve_triangular(a, v3), (A,), name="a"),
    Case(ops.solve_triangular, lambda b: sla.solve_triangular(A, b), (m32,), name="b"),
    Case(
        ops.solve_triangular,
        lambda a, b: sla.solve_triangular(a, b, trans="T", lower=True),
        (A, m32),
        name="lower-T",
    ),
    Case(
        ops.solve_triangular,
        lambda a, b: sla.solve_triangular(a, b, trans=2, unit_diagonal=True),
        (A, v3),
        name="unit-C",
    ),
    Case(ops.solve_triangular, sla.solve_triangular, (stack, rand(2, 3, 2)), name="batched"),
    Case(ops.solve_triangular, sla.solve_triangular, (stack, m32), name="broadcast-b"),
    # -- cholesky, cho_factor, cho_solve ---------------------------------------------------------
    Case(ops.cholesky, sla.cholesky, (S,)),
    Case(ops.cholesky, lambda a: sla.cholesky(a, lower=True), (S,), name="lower"),
    Case(ops.cholesky, sla.cholesky, (S + np.tril(rand(3, 3), -1),), name="reads-upper"),
    Case(ops.cho_factor, lambda a: sla.cho_factor(a)[0], (S,), name="with-garbage"),
    Case(ops.cho_factor, lambda a: sla.cho_factor(a, lower=True)[0], (S2,), name="lower"),
    Case(ops.cho_solve, lambda c: sla.cho_solve((c, False), v3), (sla.cholesky(S),), name="c"),
    Case(ops.cho_solve, lambda b: cho(S, b), (m32,), name="b"),
    Case(ops.cho_solve, lambda a, b: cho(a, b, lower=True), (S2, v3), name="through-factor"),
    # -- lu_factor, lu_solve ---------------------------------------------------------------------
    Case(ops.lu_factor, lambda a: sla.lu_factor(a)[0], (A,)),
    Case(ops.lu_factor, lambda a: sla.lu_factor(a)[0], (rand(4, 4, seed=32),), name="pivots"),
    Case(ops.lu_factor, lambda a: sla.lu_factor(a)[0], (stack,), name="batched"),
    Case(
        ops.lu_factor,
        lu_of_singular,
        (np.arange(1.0, 10.0).reshape(3, 3),),
        name="rank-2",
    ),
    Case(
        ops.lu_solve,
        lambda lu: sla.lu_solve((lu, sla.lu_factor(A)[1]), v3),
        (sla.lu_factor(A)[0],),
        name="lu",
    ),
    Case(ops.lu_solve, lambda b: lu_then_solve(A, b), (m32,), name="b"),
    Case(ops.lu_solve, lambda a, b: lu_then_solve(a, b, trans=1), (B3, v3), name="trans"),
    # -- solve, inv, det -------------------------------------------------------------------------
    Case(ops.solve, lambda a: sla.solve(a, v3), (A,), name="a"),
    Case(ops.solve, lambda b: sla.solve(A, b), (m32,), name="b"),
    Case(ops.solve, lambda a, b: sla.solve(a, b, transposed=True), (A, m32), name="transposed"),
    Case(ops.solve, lambda a, b: sla.solve(a, b, assume_a="pos"), (S, v3), name="pos-upper"),
    Case(
        ops.solve,
        lambda a, b: sla.solve(a, b, assume_a="sym", lower=True),
        (S + np.triu(rand(3, 3), 1), m32),
        name="sym-lower",
    ),
    Case(ops.solve, lambda a: sla.solve(a, v3, assume_a="lower triangular"), (A,), name="tri"),
    Case(ops.solve, lambda a: sla.solve(a, v3, assume_a="diagonal"), (A,), name="diagonal"),
    Case(ops.solve, lambda a: sla.solve(a, v3, assume_a="tridiagonal"), (A,), name="tridiag"),
    Case(ops.solve, sla.solve, (stack, rand(2, 3, 2)), name="batched"),
    Case(ops.inv, sla.inv, (A,)),
    Case(ops.inv, lambda a: sla.inv(a, assume_a="pos", lower=True), (S,), name="pos-lower"),
    Case(ops.inv, sla.inv, (stack,), name="batched"),
    Case(ops.det, sla.det, (A,)),
    Case(ops.det, sla.det, (np.array([[1.0, 2.0], [2.0, 4.0]]),), name="singular"),
    Case(ops.det, sla.det, (stack,), name="batched"),
    # -- matrix functions --------------------------------------------------------------------------
    Case(ops.expm, sla.expm, (A / 3.0,)),
    Case(ops.expm, sla.expm, (stack / 3.0,), name="batched"),
    Case(ops.expm, sla.expm, (np.array([[0.7]]),), name="1x1"),
    Case(ops.logm, sla.logm, (near_id,)),
    Case(ops.sqrtm, sla.sqrtm, (near_id,)),
    Case(ops.sqrtm, sla.sqrtm, (S,), name="spd"),
    # -- Sylvester and Lyapunov ----------------------------------------------------------------
    Case(ops.solve_sylvester, lambda a: sla.solve_sylvester(a, B3[:2, :2], m32), (A,), name="a"),
    Case(ops.solve_sylvester, lambda b: sla.solve_sylvester(A, b, m32), (B3[:2, :2],), name="b"),
    Case(ops.solve_sylvester, lambda q: sla.solve_sylvester(A, B3[:2, :2], q), (m32,), name="q"),
    Case(ops.solve_continuous_lyapunov, lambda a: lyap(a, S), (A,), name="a"),
    Case(ops.solve_continuous_lyapunov, lambda q: lyap(A, q), (B3,), name="q"),
    # -- solve_banded ----------------------------------------------------------------------------
    Case(ops.solve_banded, lambda ab: sla.solve_banded((1, 1), ab, v5), (band11,), name="ab"),
    Case(ops.solve_banded, lambda b: sla.solve_banded((1, 1), band11, b), (m52,), name="b"),
    Case(ops.solve_banded, lambda ab, b: sla.solve_banded((2, 1), ab, b), (band21, m52), name="21"),
    Case(
        ops.solve_banded,
        lambda ab, b: sla.solve_banded((0, 0), ab, b),
        (band11[1:2], v5),
        name="diagonal",
    ),
    # -- eigh: a and b ---------------------------------------------------------------------------
    Case(ops.eigh, lambda a: sla.eigh(a)[0], (S,), name="values"),
    Case(ops.eigh, lambda a: sign_free(sla.eigh(a)[1]), (S,), name="vectors"),
    Case(ops.eigh, lambda a: sla.eigh(a, eigvals_only=True, lower=False), (S,), name="only-upper"),
    Case(ops.eigh, lambda a: sign_free(sla.eigh(a)[1]), (S2,), name="batched"),
    Case(ops.eigh, lambda a: sla.eigh(a, S2)[0], (S,), name="gen-values-a"),
    Case(ops.eigh, lambda b: sla.eigh(S, b)[0], (S2,), name="gen-values-b"),
    Case(ops.eigh, lambda a, b: sign_free(sla.eigh(a, b)[1]), (S, S2), name="gen-vectors"),
    Case(
        ops.eigh,
        lambda a: sign_free(sla.eigh(a, subset_by_index=[1, 2])[1]),
        (S,),
        name="subset-index",
    ),
    Case(
        ops.eigh,
        lambda a: sla.eigh(a, eigvals_only=True, subset_by_value=(-np.inf, 3.0)),
        (np.diag([1.0, 2.0, 5.0]) + 0.1 * S,),
        name="subset-value",
    ),
    # -- svd, qr ---------------------------------------------------------------------------------
    Case(ops.svd, lambda a: sla.svd(a, compute_uv=False), (tall(4, 3),), name="values"),
    Case(
        ops.svd,
        lambda a: (lambda u, s, vh: (u * s) @ vh + u * u + vh * vh)(*sla.svd(a)),
        (tall(3, 3),),
        name="all",
    ),
    Case(ops.svd, lambda a: sign_free(sla.svd(a, full_matrices=False)[0]), (tall(4, 3),), name="u"),
    Case(ops.qr, lambda a: sla.qr(a)[1], (A,), name="full-square"),
    Case(ops.qr, lambda a: sla.qr(a)[0], (A,), name="full-q"),
    Case(ops.qr, lambda a: sla.qr(a)[1], (tall(4, 3),), name="full-tall-r"),
    Case(ops.qr, lambda a: sla.qr(a, mode="economic")[0], (tall(4, 3),), name="economic"),
    Case(ops.qr, lambda a: sla.qr(a, mode="r")[0], (tall(4, 3),), name="r"),
    Case(ops.qr, lambda a: sum(sla.qr(a, pivoting=True)[:2]), (A,), name="pivoting"),
    # -- block_diag (composed of concatenations) ------------------------------------------------
    Case(np.concatenate, sla.block_diag, (A, v3, np.array(2.0)), name="block_diag"),
]
