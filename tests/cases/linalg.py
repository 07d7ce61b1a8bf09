"""Test-table lines for linear algebra (rules in dualdiff/rules/linalg.py).

Matrices are well conditioned (random + n I, or a a^T + I when symmetric positive definite),
eigen- and singular values are distinct, and functions of eigen- or singular vectors are
invariant under the vectors' sign flips (v * v, u diag(s) v^T), which numpy does not fix.
"""

import numpy as np

from tests._table import Case, rand

la = np.linalg


def square(n, *batch, seed=0):
    """A well-conditioned square matrix (or stack of them)."""
    return rand(*batch, n, n, seed=seed) + n * np.eye(n)


def spd(n, *batch, seed=0):
    """A symmetric positive definite matrix with distinct eigenvalues."""
    a = rand(*batch, n, n, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + np.diag(np.arange(1.0, n + 1))


def tall(m, n, *batch, seed=0):
    """A full-column-rank matrix with distinct singular values."""
    return rand(*batch, m, n, seed=seed) + np.eye(m, n) * np.arange(n, 0, -1)


A, B = square(3), square(3, seed=1)
S, S2 = spd(3), spd(3, 2, seed=1)
v3, w3 = rand(3, seed=2), rand(3, seed=3)
M23, M34 = rand(2, 3, seed=4), rand(3, 4, seed=5)
T234 = rand(2, 3, 4, seed=6)
stack = square(3, 2, seed=7)


def sign_free(v):
    """A function of eigen-/singular vectors that does not see their signs."""
    return v * v


CASES = [
    # -- matmul: every promotion and broadcasting case --------------------------------------------
    Case(np.matmul, np.matmul, (A, v3), name="2d-1d"),
    Case(np.matmul, np.matmul, (v3, A), name="1d-2d"),
    Case(np.matmul, np.matmul, (v3, w3), name="1d-1d"),
    Case(np.matmul, np.matmul, (v3, T234.transpose(0, 2, 1)[..., :3, :]), name="1d-3d"),
    Case(np.matmul, np.matmul, (T234, rand(4, seed=8)), name="3d-1d"),
    Case(np.matmul, np.matmul, (rand(2, 1, 3, 4), rand(5, 4, 2, seed=1)), name="batch-broadcast"),
    Case(np.matmul, np.matmul, (M34, rand(2, 4, 2, seed=1)), name="2d-3d"),
    Case(np.matmul, lambda a, b: a @ b, (M23, M34), name="operator"),
    Case(np.matmul, lambda a: a @ M34, (M23,), name="operator-const"),
    Case(np.matmul, lambda b: M23 @ b, (M34,), name="rmatmul-const"),
    Case(np.linalg.matmul, la.matmul, (T234, rand(4, 2, seed=1))),
    # -- dot and friends ------------------------------------------------------------------------
    Case(np.dot, np.dot, (v3, w3), name="1d-1d"),
    Case(np.dot, np.dot, (M23, M34), name="2d-2d"),
    Case(np.dot, np.dot, (M23, v3), name="2d-1d"),
    Case(np.dot, np.dot, (w3[:2], M23), name="1d-2d"),
    Case(np.dot, np.dot, (T234, rand(2, 4, 3, seed=1)), name="nd-nd"),
    Case(np.dot, np.dot, (T234, rand(4, seed=1)), name="nd-1d"),
    Case(np.dot, np.dot, (np.array(1.5), M23), name="scalar"),
    Case(np.dot, lambda a: a.dot(M34), (M23,), name="method"),
    Case(np.dot, np.dot, (np.array(2.0), np.array(-0.5)), name="0d-0d"),
    Case(np.dot, lambda a: np.dot(a, [1.0, 2.0, 3.0]), (M23,), name="list"),
    Case(np.vdot, np.vdot, (M23, rand(3, 2, seed=1))),
    Case(np.inner, np.inner, (T234, rand(2, 4, seed=1)), name="nd"),
    Case(np.inner, np.inner, (np.array(0.7), v3), name="scalar"),
    Case(np.outer, np.outer, (M23, v3)),
    Case(np.linalg.outer, la.outer, (v3, rand(4, seed=1))),
    Case(np.tensordot, np.tensordot, (T234, rand(3, 4, 2, seed=1)), name="axes-int"),
    Case(np.tensordot, lambda a, b: np.tensordot(a, b, 0), (v3, w3), name="axes-0"),
    Case(
        np.tensordot,
        lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])),
        (T234, rand(4, 5, 2, seed=1)),
        name="axes-pairs",
    ),
    Case(np.tensordot, lambda a, b: np.tensordot(a, b, (1, 0)), (M23, M34), name="axes-ints"),
    Case(np.tensordot, lambda a, b: np.tensordot(a, b, ([-1], [-2])), (M23, T234), name="neg"),
    Case(np.linalg.tensordot, lambda a, b: la.tensordot(a, b, axes=1), (M23, M34)),
    Case(np.kron, np.kron, (M23, rand(2, 2, seed=1)), name="2d"),
    Case(np.kron, np.kron, (v3, M23), name="1d-2d"),
    Case(np.kron, np.kron, (np.array(2.0), M23), name="0d"),
    Case(np.kron, np.kron, (T234[:, :2, :2], rand(2, 3, seed=1)), name="3d-2d"),
    Case(np.cross, np.cross, (v3, w3)),
    Case(np.cross, np.cross, (rand(4, 3), rand(2, 1, 3, seed=1)), name="broadcast"),
    Case(
        np.cross,
        lambda a, b: np.cross(a, b, axisa=0, axisb=-1, axisc=0),
        (rand(3, 2), rand(2, 3, seed=1)),
        name="axes",
    ),
    Case(np.linalg.cross, la.cross, (rand(2, 3), w3)),
    Case(np.linalg.multi_dot, lambda a, b, c: la.multi_dot([a, b, c]), (M23, M34, rand(4, 2))),
    Case(np.linalg.multi_dot, lambda a, c: la.multi_dot([a, M34, c]), (v3, rand(4)), name="1d"),
    Case(np.linalg.multi_dot, lambda b: la.multi_dot([M23, b]), (M34,), name="two"),
    Case(np.linalg.vecdot, la.vecdot, (M34, rand(2, 1, 4, seed=1))),
    Case(np.linalg.vecdot, lambda a, b: la.vecdot(a, b, axis=0), (M34, v3), name="axis0"),
    Case(np.vecdot, np.vecdot, (M34, rand(2, 1, 4, seed=1)), name="gufunc"),
    Case(np.vecdot, lambda a, b: np.vecdot(a, b, axis=0), (M34, v3), name="gufunc-axis0"),
    Case(np.linalg.matrix_transpose, la.matrix_transpose, (T234,)),
    # -- einsum -----------------------------------------------------------------------------------
    Case(np.einsum, lambda a, b: np.einsum("ij,jk->ik", a, b), (M23, M34), name="matmul"),
    Case(np.einsum, lambda a, b: np.einsum("ij,jk", a, b), (M23, M34), name="implicit"),
    Case(np.einsum, lambda a, b: np.einsum("ba,cb", a, b), (M23, rand(4, 2)), name="implicit-ba"),
    Case(np.einsum, lambda a: np.einsum("ii->i", a), (A,), name="diagonal"),
    Case(np.einsum, lambda a: np.einsum("ii", a), (A,), name="trace"),
    Case(np.einsum, lambda a, b: np.einsum("iij,j->i", a, b), (rand(3, 3, 4), rand(4)), name="rep"),
    Case(np.einsum, lambda a: np.einsum("ij->", a), (M23,), name="sum"),
    Case(np.einsum, lambda a: np.einsum("ij->j", a), (M23,), name="partial-sum"),
    Case(np.einsum, lambda a, b: np.einsum("i,j->ij", a, b), (v3, rand(2)), name="outer"),
    Case(
        np.einsum,
        lambda a, b: np.einsum("...ij,...jk->...ik", a, b),
        (rand(2, 1, 2, 3), rand(4, 3, 2, seed=1)),
        name="ellipsis-broadcast",
    ),
    Case(np.einsum, lambda a: np.einsum("...ii->...i", a), (stack,), name="ellipsis-diag"),
    Case(np.einsum, lambda a, b: np.einsum("i...,i", a, b), (T234, rand(2)), name="ellipsis-impl"),
    Case(
        np.einsum,
        lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c, optimize=True),
        (M23, M34, rand(4, 2)),
        name="three-optimize",
    ),
    Case(np.einsum, lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0]), (M23, M34), name="lists"),
    Case(np.einsum, lambda a, b: np.einsum(a, [..., 1], b, [1]), (T234, rand(4)), name="lists-ell"),
    Case(np.einsum, lambda a: np.einsum("ij,ij->i", a, a), (M23,), name="same-operand-twice"),
    Case(np.einsum, lambda a, b: np.einsum(",ij->ij", a, b), (np.array(2.0), M23), name="0d"),
    Case(np.einsum, lambda a, b: np.einsum("ij,ij->ij", a, b), (rand(1, 3), M23), name="size-1"),
    Case(np.einsum, lambda a: np.einsum("iii->i", a), (rand(3, 3, 3),), name="triple-diagonal"),
    Case(
        np.einsum,
        lambda a, b: np.einsum(a, [..., 0, 1], b, [1, 2], [2, ..., 0]),
        (T234, rand(4, 2)),
        name="lists-out-ellipsis",
    ),
    Case(
        np.einsum,
        lambda a, b, c, d: np.einsum("ij,jk,kl,l", a, b, c, d),
        (M23, M34, rand(4, 2), rand(2)),
        name="four",
    ),
    # -- inverse, solve, determinants --------------------------------------------------------------
    Case(np.linalg.inv, la.inv, (A,)),
    Case(np.linalg.inv, la.inv, (stack,), name="batched"),
    Case(np.linalg.solve, la.solve, (A, v3), name="vector"),
    Case(np.linalg.solve, la.solve, (A, rand(3, 2)), name="matrix"),
    Case(np.linalg.solve, la.solve, (stack, rand(2, 3, 2)), name="batched"),
    Case(np.linalg.solve, la.solve, (stack, v3), name="batched-vector"),
    Case(np.linalg.solve, la.solve, (A, rand(2, 3, 2)), name="broadcast-b"),
    Case(np.linalg.solve, la.solve, (square(3, 2, 1), rand(4, 3, 2)), name="broadcast-both"),
    Case(np.linalg.det, la.det, (A,)),
    Case(np.linalg.det, la.det, (stack,), name="batched"),
    Case(np.linalg.slogdet, lambda a: la.slogdet(a).logabsdet, (A,)),
    Case(np.linalg.slogdet, lambda a: la.slogdet(a)[1] * la.slogdet(a)[0], (-stack,), name="stack"),
    # -- symmetric decompositions (one triangle read, as numpy does) -------------------------------
    Case(np.linalg.cholesky, la.cholesky, (S,)),
    Case(np.linalg.cholesky, lambda a: la.cholesky(a, upper=True), (S,), name="upper"),
    Case(np.linalg.cholesky, la.cholesky, (S2,), name="batched"),
    Case(np.linalg.cholesky, la.cholesky, (S + np.triu(rand(3, 3), 1),), name="asymmetric"),
    Case(np.linalg.cholesky, lambda a: la.cholesky(a @ a.T + np.eye(3)), (A,), name="of-product"),
    Case(np.linalg.eigh, lambda a: la.eigh(a)[0], (S,), name="values"),
    Case(np.linalg.eigh, lambda a: sign_free(la.eigh(a)[1]), (S,), name="vectors"),
    Case(np.linalg.eigh, lambda a: sign_free(la.eigh(a, UPLO="U")[1]), (S,), name="upper"),
    Case(np.linalg.eigh, lambda a: sign_free(la.eigh(a).eigenvectors), (S2,), name="batched"),
    Case(
        np.linalg.eigh,
        lambda a: (lambda w, v: v @ (w[:, None] * v.T))(*la.eigh(a + a.T)),
        (A,),
        name="reconstruct",
    ),
    Case(np.linalg.eigvalsh, la.eigvalsh, (S,)),
    Case(np.linalg.eigvalsh, lambda a: la.eigvalsh(a, UPLO="U"), (S2,), name="batched-upper"),
    # -- svd, qr, pinv, lstsq -----------------------------------------------------------------
    Case(np.linalg.svd, lambda a: la.svd(a, compute_uv=False), (tall(4, 3),), name="values"),
    Case(np.linalg.svd, lambda a: la.svd(a, full_matrices=False)[1], (tall(4, 3),), name="s"),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, full_matrices=False)[0]),
        (tall(4, 3),),
        name="u-tall",
    ),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, full_matrices=False)[2]),
        (tall(4, 3),),
        name="vh-tall",
    ),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, full_matrices=False).U),
        (tall(4, 3).T,),
        name="u-wide",
    ),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, full_matrices=False).Vh),
        (tall(4, 3).T,),
        name="vh-wide",
    ),
    Case(np.linalg.svd, lambda a: sign_free(la.svd(a)[0]), (tall(3, 3),), name="square-full"),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, full_matrices=False)[2]),
        (tall(3, 2, 2),),
        name="batched",
    ),
    # rectangular full_matrices=True: s and the first min(m, n) vectors are unique
    Case(np.linalg.svd, lambda a: la.svd(a)[1], (tall(4, 2),), name="s-of-full"),
    Case(np.linalg.svd, lambda a: sign_free(la.svd(a)[0][:, :2]), (tall(4, 2),), name="u-of-full"),
    Case(np.linalg.svd, lambda a: sign_free(la.svd(a)[2][:2]), (tall(4, 2).T,), name="vh-of-full"),
    Case(
        np.linalg.svd,
        lambda a: sign_free(la.svd(a, hermitian=True)[0]),
        (S - 2.5 * np.eye(3),),
        name="hermitian",
    ),
    Case(
        np.linalg.svd,
        lambda a: (lambda u, s, vh: (u * s) @ vh + u * u + vh * vh)(*la.svd(a)),
        (tall(3, 3),),
        name="all-outputs",
    ),
    Case(np.linalg.svdvals, la.svdvals, (tall(3, 4),)),
    Case(np.linalg.qr, lambda a: la.qr(a).R, (tall(4, 3),), name="tall-r"),
    Case(np.linalg.qr, lambda a: la.qr(a).Q, (tall(4, 3),), name="tall-q"),
    Case(np.linalg.qr, lambda a: la.qr(a)[0] * la.qr(a)[1][..., :1, :], (A,), name="square"),
    Case(np.linalg.qr, lambda a: la.qr(a, mode="r"), (tall(4, 3),), name="mode-r"),
    Case(np.linalg.qr, lambda a: la.qr(a)[0], (tall(4, 3, 2),), name="batched"),
    Case(np.linalg.pinv, la.pinv, (tall(4, 3),), name="tall"),
    Case(np.linalg.pinv, la.pinv, (tall(4, 3).T,), name="wide"),
    Case(np.linalg.pinv, la.pinv, (stack,), name="batched"),
    Case(np.linalg.pinv, lambda a: la.pinv(a, hermitian=True), (S,), name="hermitian"),
    Case(np.linalg.lstsq, lambda a, b: la.lstsq(a, b)[0], (tall(4, 3), rand(4)), name="x"),
    Case(np.linalg.lstsq, lambda a, b: la.lstsq(a, b)[1], (tall(4, 3), rand(4, 2)), name="res"),
    Case(np.linalg.lstsq, lambda a, b: la.lstsq(a, b)[3], (tall(4, 3), rand(4)), name="s"),
    Case(np.linalg.lstsq, lambda a, b: la.lstsq(a, b)[0], (tall(4, 3).T, rand(3)), name="wide"),
    Case(
        np.linalg.lstsq,
        lambda a, b: (lambda x, r, k, s: x.sum() + r.sum() + s.sum())(*la.lstsq(a, b)),
        (tall(5, 3), rand(5)),
        name="all-outputs",
    ),
    Case(np.linalg.matrix_power, lambda a: la.matrix_power(a, 3), (A,)),
    Case(np.linalg.matrix_power, lambda a: la.matrix_power(a, -2), (stack,), name="negative"),
    Case(
        np.linalg.matrix_power,
        lambda a: la.matrix_power(a, 1) + la.matrix_power(a, 0),
        (A,),
        name="0-1",
    ),  # fmt: skip
]
