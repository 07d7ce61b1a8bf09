"""``scipy.linalg``: the ops behind :mod:`dualdiff.scipy.linalg` and their rules.

Each op is a primitive that calls SciPy on the primal values (so values are SciPy's own, bit for
bit) and takes its options as keywords. Its rules are written in ops that have rules themselves
(these primitives, NumPy's linalg rules of :mod:`dualdiff.rules.linalg`, matmul, masks), so
every order is exact. SciPy's batch support (a stack of matrices in the leading axes) carries
the tangents' batch axis: a tangent of ``a`` is a stack of matrices.

What SciPy reads is what is differentiated: ``solve_triangular``, ``cho_solve`` and
``lu_solve`` read one triangle (or the packed factors), ``cholesky``, ``eigh`` and the
``assume_a='sym' | 'pos'`` solvers build a symmetric matrix from one triangle, ``solve_banded``
reads the band of its packed storage, and the other entries get zero derivatives.

- ``solve_triangular``: ``dx = -T^-1 dT x``, ``gb = T^-T g``, ``gT = -gb x^T`` (masked).
- ``cholesky`` / ``cho_factor``: NumPy's Cholesky rules; ``cho_factor``'s other triangle is the
  input's own (SciPy leaves it there), so its derivative there is the identity.
- ``cho_solve`` and ``lu_solve``: differentiate ``A x = b`` with ``A`` rebuilt from the factors
  (``L L^T``, ``U^T U``, ``P^T L U``); the solves are the ops themselves.
- ``lu_factor`` (square): ``G = L^-1 P dA``, ``S = tril(G U^-1, -1)``, ``dL = L S``,
  ``dU = G - S U``; the pivots are integers and carry no derivative.
- ``expm`` and ``logm``: the Frechet derivative ``L(A, E)``, the top-right block of
  ``f([[A, E], [0, A]])``; its adjoint is ``L(A^T, G)``.
- ``sqrtm``: ``X dX + dX X = dA``, a Sylvester equation (adjoint: the same with ``X^T``).
- ``solve_sylvester`` / ``solve_continuous_lyapunov``: the equation differentiated, solved by
  ``solve_sylvester``; the adjoint equation has the transposed coefficients.
- ``solve``, ``inv``, ``det``, ``svd``, ``qr``, ``eigh``: NumPy's rules on the matrix SciPy
  reads; ``eigh`` also for the generalized problem ``A v = w B v`` (``type=1``).

Degenerate points follow NumPy's rules: singular matrices give inf / NaN where an inverse is
needed or SciPy raises (``det`` stays exact); where SciPy answers a singular problem with a
perturbed, finite value (``solve_sylvester`` when an eigenvalue of ``a`` is minus one of ``b``,
``logm`` and ``sqrtm`` of a singular matrix) the derivative is NaN, never a finite number of
size ``1 / eps``. ``lu_factor`` is differentiated at singular matrices whose last pivot alone
is zero (rank n - 1, where the factors are still differentiable); at lower rank its rules
raise LinAlgError. At repeated eigenvalues ``eigh``'s eigenvector derivatives are
infinite or NaN (the eigenvectors are not unique) while functions of the eigenvalues alone stay
exact (their rules never read the eigenvector terms).
"""

import functools

import numpy as np
import scipy.linalg as sl

from dualdiff._batch import align
from dualdiff._pattern import HANDLERS, fallback
from dualdiff._registry import JVP, VJP, defjvp, defvjp
from dualdiff._tracer import innermost, primitive, shape_of
from dualdiff.rules import linalg as nl

_mT = nl._mT
_col, _unpromote = nl._col, nl._unpromote
_sym_tangent, _sym_cotangent = nl._sym_tangent, nl._sym_cotangent


def _ndim(x):
    return len(shape_of(x))


def _transposed(trans):
    """SciPy's ``trans`` (0 / 'N', 1 / 'T', 2 / 'C') as a bool (real matrices: C is T)."""
    return trans not in (0, "N", "n")


def _tri(n, lower, k=0):
    """The mask of a triangle: lower (``k <= 0``: from diagonal ``k`` down) or upper."""
    return np.tri(n, k=k) if lower else np.tri(n, k=k).T


def _x_col(ans, b):
    vec = _ndim(b) == 1
    return _col(ans, vec), vec


# -- solve_triangular ---------------------------------------------------------------------------
# The ops' check_finite defaults to False, which is what rules get: an inf or NaN reached at a
# degenerate point (a singular factor) propagates into the derivative, as NumPy's would, instead
# of raising. The public functions of dualdiff.scipy.linalg pass SciPy's default, True.
@primitive
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, check_finite=False):
    """``scipy.linalg.solve_triangular`` as a dualdiff op (see :mod:`dualdiff.scipy.linalg`)."""
    return sl.solve_triangular(
        a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal, check_finite=check_finite
    )


def _tri_mask(a, lower, unit_diagonal):
    return _tri(shape_of(a)[-1], lower, -1 if unit_diagonal else 0)


@defjvp(solve_triangular, argnum=0)
def solve_triangular_jvp_a(t, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kw):
    x, vec = _x_col(ans, b)
    dt = t * _tri_mask(a, lower, unit_diagonal)
    dt = _mT(dt) if _transposed(trans) else dt
    y = np.matmul(align(dt, x.ndim), x)
    dx = -solve_triangular(a, y, trans=trans, lower=lower, unit_diagonal=unit_diagonal)
    return _unpromote(dx, False, vec)


@defvjp(solve_triangular, argnum=0)
def solve_triangular_vjp_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kw):
    x, vec = _x_col(ans, b)
    w = solve_triangular(
        a, _col(g, vec), trans=0 if _transposed(trans) else 1, lower=lower,
        unit_diagonal=unit_diagonal,
    )  # fmt: skip
    ga = -np.matmul(w, _mT(x))
    ga = _mT(ga) if _transposed(trans) else ga
    return ga * _tri_mask(a, lower, unit_diagonal)


@defjvp(solve_triangular, argnum=1)
def solve_triangular_jvp_b(t, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kw):
    vec = _ndim(b) == 1
    dx = solve_triangular(
        a, align(_col(t, vec), _ndim(a)), trans=trans, lower=lower, unit_diagonal=unit_diagonal
    )
    return _unpromote(dx, False, vec)


@defvjp(solve_triangular, argnum=1)
def solve_triangular_vjp_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False, **kw):
    vec = _ndim(b) == 1
    gb = solve_triangular(
        a, _col(g, vec), trans=0 if _transposed(trans) else 1, lower=lower,
        unit_diagonal=unit_diagonal,
    )  # fmt: skip
    return _unpromote(gb, False, vec)


# -- cholesky, cho_factor, cho_solve ------------------------------------------------------------
@primitive
def cholesky(a, lower=False, check_finite=False):
    """``scipy.linalg.cholesky``: reads one triangle, zeros in the other."""
    return sl.cholesky(a, lower=lower, check_finite=check_finite)


@defjvp(cholesky)
def cholesky_jvp(t, ans, a, lower=False, **kw):
    return nl.cholesky_jvp(t, ans, a, upper=not lower)


@defvjp(cholesky)
def cholesky_vjp(g, ans, a, lower=False, **kw):
    return nl.cholesky_vjp(g, ans, a, upper=not lower)


@primitive
def cho_factor(a, lower=False, check_finite=False):
    """The ``c`` of ``scipy.linalg.cho_factor``: the factor in one triangle, and in the other
    the input's own entries, which SciPy leaves there."""
    return sl.cho_factor(a, lower=lower, check_finite=check_finite)[0]


def _factor_and_rest(c, lower):
    n = shape_of(c)[-1]
    return _tri(n, lower), _tri(n, not lower, -1)


@defjvp(cho_factor)
def cho_factor_jvp(t, ans, a, lower=False, **kw):
    mine, rest = _factor_and_rest(ans, lower)
    return nl.cholesky_jvp(t, ans * mine, a, upper=not lower) + t * rest


@defvjp(cho_factor)
def cho_factor_vjp(g, ans, a, lower=False, **kw):
    mine, rest = _factor_and_rest(ans, lower)
    return nl.cholesky_vjp(g * mine, ans * mine, a, upper=not lower) + g * rest


@primitive
def cho_solve(c, b, lower=False, check_finite=False):
    """``scipy.linalg.cho_solve((c, lower), b)`` with ``c`` and ``b`` positional."""
    return sl.cho_solve((c, lower), b, check_finite=check_finite)


def _cho_parts(ans, c, b, lower):
    x, vec = _x_col(ans, b)
    return x, vec, c * _tri(shape_of(c)[-1], lower)


@defjvp(cho_solve, argnum=0)
def cho_solve_jvp_c(t, ans, c, b, lower=False, **kw):
    x, vec, f = _cho_parts(ans, c, b, lower)
    df = align(t * _tri(shape_of(c)[-1], lower), x.ndim)
    left, right = (df, _mT(f)) if lower else (_mT(df), f)  # dA = left right + (left right)^T
    da_x = np.matmul(left, np.matmul(right, x)) + np.matmul(_mT(right), np.matmul(_mT(left), x))
    return _unpromote(-cho_solve(c, da_x, lower=lower), False, vec)


@defvjp(cho_solve, argnum=0)
def cho_solve_vjp_c(g, ans, c, b, lower=False, **kw):
    x, vec, f = _cho_parts(ans, c, b, lower)
    w = cho_solve(c, _col(g, vec), lower=lower)
    gs = -(np.matmul(w, _mT(x)) + np.matmul(x, _mT(w)))  # gA + gA^T
    gf = np.matmul(gs, f) if lower else np.matmul(f, gs)
    return gf * _tri(shape_of(c)[-1], lower)


@defjvp(cho_solve, argnum=1)
def cho_solve_jvp_b(t, ans, c, b, lower=False, **kw):
    vec = _ndim(b) == 1
    return _unpromote(cho_solve(c, align(_col(t, vec), _ndim(c)), lower=lower), False, vec)


@defvjp(cho_solve, argnum=1)
def cho_solve_vjp_b(g, ans, c, b, lower=False, **kw):
    vec = _ndim(b) == 1
    return _unpromote(cho_solve(c, _col(g, vec), lower=lower), False, vec)


# -- lu_factor, lu_solve ------------------------------------------------------------------------
@primitive
def lu_factor(a, check_finite=False):
    """``scipy.linalg.lu_factor``: ``(lu, piv)``; the pivots carry no derivative."""
    return sl.lu_factor(a, check_finite=check_finite)


def _permutation(piv):
    """The matrix ``P`` with ``P @ A == L @ U`` for LAPACK's row interchanges ``piv``."""
    piv = np.asarray(innermost(piv))
    perm = np.broadcast_to(np.arange(piv.shape[-1]), piv.shape).copy()
    for index in np.ndindex(piv.shape[:-1]):
        row = perm[index]
        for i, p in enumerate(piv[index]):
            row[i], row[p] = row[p], row[i]
    return np.eye(piv.shape[-1])[perm]


def _square(a, name):
    m, n = shape_of(a)[-2:]
    if m != n:
        raise NotImplementedError(f"dualdiff differentiates {name} of square matrices only.")
    return n


def _lu_parts(lu):
    n = shape_of(lu)[-1]
    low, up = np.tri(n, k=-1), np.tri(n).T
    return low, up, lu * low + np.eye(n), lu * up


def _right_solve(lu, x, transpose):
    """``x[:, :n-1] U1^-1`` (``transpose``: ``U1^-T``), ``U1`` the leading ``n - 1`` block of
    ``U``, with a zero last column: the strictly lower part of ``x U^-1`` needs no more, so a
    zero last pivot (a singular matrix of rank n - 1) is no obstacle."""
    n = shape_of(lu)[-1]
    zero = np.zeros(shape_of(x)[:-1] + (1,))
    if n == 1:
        return zero
    u1 = lu[..., : n - 1, : n - 1]
    y = solve_triangular(u1, _mT(x[..., :, : n - 1]), trans=int(not transpose), lower=False)
    return np.concatenate([_mT(y), zero], axis=-1)


# P A = L U with the pivots' P. With G = L^-1 P dA and S the strictly lower part of G U^-1:
# dL = L S and dU = G - S U, so d(lu) = L S + G - S U.
@defjvp(lu_factor)
def lu_factor_jvp(t, ans, a, **kw):
    _square(a, "scipy.linalg.lu_factor")
    lu, piv = ans
    low, up, lower, upper = _lu_parts(lu)
    g = solve_triangular(lu, np.matmul(_permutation(piv), t), lower=True, unit_diagonal=True)
    s = _right_solve(lu, g, False) * low
    return np.matmul(lower, s) + g - np.matmul(s, upper), None


@defvjp(lu_factor)
def lu_factor_vjp(g, ans, a, **kw):
    _square(a, "scipy.linalg.lu_factor")
    lu, piv = ans
    glu = g[0]
    if glu is None:
        return None
    low, up, lower, upper = _lu_parts(lu)
    r = (np.matmul(_mT(lower), glu) - np.matmul(glu, _mT(upper))) * low
    gg = glu + _right_solve(lu, r, True)
    ga = solve_triangular(lu, gg, trans=1, lower=True, unit_diagonal=True)
    return np.matmul(_mT(_permutation(piv)), ga)


@primitive
def lu_solve(lu, piv, b, trans=0, check_finite=False):
    """``scipy.linalg.lu_solve((lu, piv), b, trans)`` with ``lu``, ``piv``, ``b`` positional."""
    return sl.lu_solve((lu, piv), b, trans=trans, check_finite=check_finite)


def _other(trans):
    return 0 if _transposed(trans) else 1


@defjvp(lu_solve, argnum=0)
def lu_solve_jvp_lu(t, ans, lu, piv, b, trans=0, **kw):
    x, vec = _x_col(ans, b)
    low, up, lower, upper = _lu_parts(lu)
    # A = P^T L U: dA = P^T (dL U + L dU)
    da = np.matmul(_mT(_permutation(piv)), np.matmul(t * low, upper) + np.matmul(lower, t * up))
    da = _mT(da) if _transposed(trans) else da
    dx = -lu_solve(lu, piv, np.matmul(align(da, x.ndim), x), trans=trans)
    return _unpromote(dx, False, vec)


@defvjp(lu_solve, argnum=0)
def lu_solve_vjp_lu(g, ans, lu, piv, b, trans=0, **kw):
    x, vec = _x_col(ans, b)
    low, up, lower, upper = _lu_parts(lu)
    w = lu_solve(lu, piv, _col(g, vec), trans=_other(trans))
    ga = -np.matmul(w, _mT(x))
    ga = _mT(ga) if _transposed(trans) else ga
    gm = np.matmul(_permutation(piv), ga)  # the cotangent of L U
    return np.matmul(gm, _mT(upper)) * low + np.matmul(_mT(lower), gm) * up


@defjvp(lu_solve, argnum=2)
def lu_solve_jvp_b(t, ans, lu, piv, b, trans=0, **kw):
    vec = _ndim(b) == 1
    return _unpromote(lu_solve(lu, piv, align(_col(t, vec), _ndim(lu)), trans=trans), False, vec)


@defvjp(lu_solve, argnum=2)
def lu_solve_vjp_b(g, ans, lu, piv, b, trans=0, **kw):
    vec = _ndim(b) == 1
    return _unpromote(lu_solve(lu, piv, _col(g, vec), trans=_other(trans)), False, vec)


# -- solve, inv, det: NumPy's rules on the matrix SciPy reads -------------------------------------
_GENERAL = (None, "gen", "general", "banded")
_SYMMETRIC = ("sym", "symmetric", "her", "hermitian", "pos", "positive definite")


def _structure(assume_a, lower):
    """The linear map from ``a`` to the matrix SciPy's solver reads, and its transpose."""
    if assume_a in _GENERAL:
        return None
    if assume_a in _SYMMETRIC:
        return lambda t: _sym_tangent(t, lower), lambda g: _sym_cotangent(g, lower)
    masks = {
        "diagonal": lambda n: np.eye(n),
        "tridiagonal": lambda n: np.tri(n, k=1) * np.tri(n, k=1).T,
        "upper triangular": lambda n: np.tri(n).T,
        "lower triangular": lambda n: np.tri(n),
    }
    if assume_a not in masks:
        raise ValueError(f"scipy.linalg: unknown assume_a={assume_a!r}")
    mask = masks[assume_a]

    def project(t):
        return t * mask(t.shape[-1])

    return project, project


def _read(x, assume_a, lower, adjoint=False):
    maps = _structure(assume_a, lower)
    return x if maps is None else maps[adjoint](x)


@primitive
def solve(a, b, lower=False, check_finite=False, assume_a=None, transposed=False):
    """``scipy.linalg.solve`` as a dualdiff op."""
    return sl.solve(
        a, b, lower=lower, check_finite=check_finite, assume_a=assume_a, transposed=transposed
    )


def _solve_matrix(a, lower, assume_a, transposed):
    a = _read(a, assume_a, lower)
    return _mT(a) if transposed else a


@defjvp(solve, argnum=0)
def solve_jvp_a(t, ans, a, b, lower=False, check_finite=True, assume_a=None, transposed=False):
    m = _solve_matrix(a, lower, assume_a, transposed)
    return nl.solve_jvp_a(_solve_matrix(t, lower, assume_a, transposed), ans, m, b)


@defvjp(solve, argnum=0)
def solve_vjp_a(g, ans, a, b, lower=False, check_finite=True, assume_a=None, transposed=False):
    m = _solve_matrix(a, lower, assume_a, transposed)
    gm = nl.solve_vjp_a(g, ans, m, b)
    return _read(_mT(gm) if transposed else gm, assume_a, lower, adjoint=True)


@defjvp(solve, argnum=1)
def solve_jvp_b(t, ans, a, b, lower=False, check_finite=True, assume_a=None, transposed=False):
    return nl.solve_jvp_b(t, ans, _solve_matrix(a, lower, assume_a, transposed), b)


@defvjp(solve, argnum=1)
def solve_vjp_b(g, ans, a, b, lower=False, check_finite=True, assume_a=None, transposed=False):
    return nl.solve_vjp_b(g, ans, _solve_matrix(a, lower, assume_a, transposed), b)


@primitive
def inv(a, check_finite=False, assume_a=None, lower=False):
    """``scipy.linalg.inv`` as a dualdiff op."""
    return sl.inv(a, check_finite=check_finite, assume_a=assume_a, lower=lower)


@defjvp(inv)
def inv_jvp(t, ans, a, check_finite=True, assume_a=None, lower=False):
    return nl.inv_jvp(_read(t, assume_a, lower), ans, a)


@defvjp(inv)
def inv_vjp(g, ans, a, check_finite=True, assume_a=None, lower=False):
    return _read(nl.inv_vjp(g, ans, a), assume_a, lower, adjoint=True)


@primitive
def det(a, check_finite=False):
    """``scipy.linalg.det`` as a dualdiff op."""
    return sl.det(a, check_finite=check_finite)


@defjvp(det)
def det_jvp(t, ans, a, **kw):
    return nl.det_jvp(t, ans, a)


@defvjp(det)
def det_vjp(g, ans, a, **kw):
    return nl.det_vjp(g, ans, a)


# -- matrix functions: expm, logm (Frechet blocks), sqrtm (Sylvester) ---------------------------
@primitive
def expm(a):
    """``scipy.linalg.expm`` as a dualdiff op."""
    return sl.expm(a)


@primitive
def logm(a, **kw):
    """``scipy.linalg.logm`` as a dualdiff op (real results only)."""
    return sl.logm(a, **kw)


def _frechet(fn, a, e):
    """``L_fn(a, e)``: the top-right block of ``fn([[a, e], [0, a]])`` (``e`` batched)."""
    n = shape_of(a)[-1]
    a = np.broadcast_to(a, shape_of(e))
    top = np.concatenate([a, e], axis=-1)
    bottom = np.concatenate([np.zeros(shape_of(e)), a], axis=-1)
    return fn(np.concatenate([top, bottom], axis=-2))[..., :n, n:]


def _def_frechet(fn, singular=None):
    """Both rules of a matrix function from its Frechet derivative; NaN where ``singular(a)``
    says the derivative is infinite (SciPy then returns a perturbed, finite value)."""

    def jvp(t, ans, a, **kw):
        return _nan_where(_frechet(fn, a, t), singular and singular(a))

    def vjp(g, ans, a, **kw):
        return _nan_where(_frechet(fn, _mT(a), g), singular and singular(a))

    defjvp(fn)(jvp)
    defvjp(fn)(vjp)


def _nan_where(x, singular):
    """``x`` with NaN in the matrices of the stack where ``singular`` (None: nowhere)."""
    if singular is None or not np.any(singular):
        return x
    return np.where(np.reshape(singular, np.shape(singular) + (1, 1)), np.nan, x)


def _eigenvalues_meet(a, b):
    """Per matrix of the stack: whether an eigenvalue of ``a`` is minus one of ``b`` (to
    rounding), where ``a x + x b = q`` has no unique solution; None for size-0 matrices."""
    pa, pb = np.asarray(innermost(a)), np.asarray(innermost(b))
    if pa.size == 0 or pb.size == 0:
        return None
    la, lb = np.linalg.eigvals(pa), np.linalg.eigvals(pb)
    gap = np.min(np.abs(la[..., :, None] + lb[..., None, :]), axis=(-2, -1))
    scale = max(np.max(np.abs(pa)), np.max(np.abs(pb)), np.finfo(float).tiny)
    return gap <= 10 * np.finfo(float).eps * scale


def _singular(a):
    return _eigenvalues_meet(a, np.zeros((1, 1)))


def _sylvester(a, b, q):
    """``solve_sylvester`` for a rule: NaN where the equation is singular, for which SciPy
    returns a perturbed, finite solution (``sqrtm`` of a singular matrix: an infinite
    derivative)."""
    return _nan_where(solve_sylvester(a, b, q), _eigenvalues_meet(a, b))


_def_frechet(expm)
_def_frechet(logm, _singular)


@primitive
def sqrtm(a, **kw):
    """``scipy.linalg.sqrtm`` as a dualdiff op (real results only)."""
    return sl.sqrtm(a, **kw)


@defjvp(sqrtm)
def sqrtm_jvp(t, ans, a, **kw):
    return _sylvester(ans, ans, t)  # X dX + dX X = dA


@defvjp(sqrtm)
def sqrtm_vjp(g, ans, a, **kw):
    return _sylvester(_mT(ans), _mT(ans), g)


# -- Sylvester and Lyapunov equations -----------------------------------------------------------
@primitive
def solve_sylvester(a, b, q):
    """``scipy.linalg.solve_sylvester``: ``a x + x b = q``."""
    return sl.solve_sylvester(a, b, q)


def _times(t, x, left=True):
    """``t @ x`` (``left``) or ``x @ t`` for a batched tangent ``t`` of a matrix."""
    t = align(t, _ndim(x))
    return np.matmul(t, x) if left else np.matmul(x, t)


@defjvp(solve_sylvester, argnum=0)
def solve_sylvester_jvp_a(t, ans, a, b, q):
    return _sylvester(a, b, -_times(t, ans))


@defjvp(solve_sylvester, argnum=1)
def solve_sylvester_jvp_b(t, ans, a, b, q):
    return _sylvester(a, b, -_times(t, ans, left=False))


@defjvp(solve_sylvester, argnum=2)
def solve_sylvester_jvp_q(t, ans, a, b, q):
    return _sylvester(a, b, t)


def _fits(a, b, q):
    """SciPy solves ``a x + x b = q`` whatever the shapes, returning uninitialized memory when
    they do not fit (SciPy 1.17: ``a`` 0 x 0 with ``q`` 3 x 2): no derivative there."""
    (n, n2), (m, m2), (qn, qm) = shape_of(a)[-2:], shape_of(b)[-2:], shape_of(q)[-2:]
    if (n, m) != (qn, qm) or n != n2 or m != m2:
        raise NotImplementedError(
            f"scipy.linalg.solve_sylvester: a {shape_of(a)}, b {shape_of(b)} and q "
            f"{shape_of(q)} do not fit (SciPy returns uninitialized memory); no derivative."
        )


def _adjoint_sylvester(g, a, b):
    return _sylvester(_mT(a), _mT(b), g)


@defvjp(solve_sylvester, argnum=0)
def solve_sylvester_vjp_a(g, ans, a, b, q):
    return -np.matmul(_adjoint_sylvester(g, a, b), _mT(ans))


@defvjp(solve_sylvester, argnum=1)
def solve_sylvester_vjp_b(g, ans, a, b, q):
    return -np.matmul(_mT(ans), _adjoint_sylvester(g, a, b))


@defvjp(solve_sylvester, argnum=2)
def solve_sylvester_vjp_q(g, ans, a, b, q):
    return _adjoint_sylvester(g, a, b)


@primitive
def solve_continuous_lyapunov(a, q):
    """``scipy.linalg.solve_continuous_lyapunov``: ``a x + x a^T = q``."""
    return sl.solve_continuous_lyapunov(a, q)


@defjvp(solve_continuous_lyapunov, argnum=0)
def lyapunov_jvp_a(t, ans, a, q):
    tx = _times(t, ans)
    return _sylvester(a, _mT(a), -(tx + _mT(tx)))


@defjvp(solve_continuous_lyapunov, argnum=1)
def lyapunov_jvp_q(t, ans, a, q):
    return _sylvester(a, _mT(a), t)


@defvjp(solve_continuous_lyapunov, argnum=0)
def lyapunov_vjp_a(g, ans, a, q):
    w = _sylvester(_mT(a), a, g)
    return -(np.matmul(w, _mT(ans)) + np.matmul(_mT(w), ans))


@defvjp(solve_continuous_lyapunov, argnum=1)
def lyapunov_vjp_q(g, ans, a, q):
    return _sylvester(_mT(a), a, g)


# -- solve_banded -------------------------------------------------------------------------------
@primitive
def solve_banded(l, u, ab, b, check_finite=False):  # noqa: E741 (SciPy's names)
    """``scipy.linalg.solve_banded((l, u), ab, b)`` with every argument positional."""
    return sl.solve_banded((l, u), ab, b, check_finite=check_finite)


def _shift_rows(x, s):
    """``y[..., i, :] = x[..., i - s, :]`` (zero where ``i - s`` is outside)."""
    n = x.shape[-2]
    if s == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2)
    if abs(s) >= n:
        return x * 0.0
    if s > 0:
        return np.pad(x[..., : n - s, :], pad + [(s, 0), (0, 0)])
    return np.pad(x[..., -s:, :], pad + [(0, -s), (0, 0)])


def _band_times(ab, x, l, u):  # noqa: E741
    """``A @ x`` for the banded ``A`` stored in ``ab`` (``x`` a stack of matrices)."""
    out = 0.0
    for r in range(l + u + 1):  # row r of ab holds the diagonal A[j + r - u, j]
        column = align(ab[..., r, :][..., None], _ndim(x)) if _ndim(ab) > 2 else ab[r][:, None]
        out = out + _shift_rows(column * x, r - u)
    return out


def _band_of_outer(w, x, l, u):  # noqa: E741
    """The band of ``w @ x^T`` in ``ab`` storage (the cotangent of ``ab``)."""
    rows = [np.sum(_shift_rows(w, u - r) * x, axis=-1) for r in range(l + u + 1)]
    return np.stack(rows, axis=-2)


def _transposed_band(ab, l, u):  # noqa: E741
    """The ``ab`` storage of ``A^T`` (bandwidths ``(u, l)``) from ``A``'s."""
    width, n = shape_of(ab)[-2:]
    r = np.arange(width)[:, None]
    j = np.arange(n)[None, :]
    cols = j + r - l
    valid = (cols >= 0) & (cols < n)
    rows = np.broadcast_to(u + l - r, cols.shape)
    return np.where(valid, ab[..., rows, np.clip(cols, 0, max(n - 1, 0))], 0.0)


@defjvp(solve_banded, argnum=2)
def solve_banded_jvp_ab(t, ans, l, u, ab, b, **kw):  # noqa: E741
    x, vec = _x_col(ans, b)
    dx = -solve_banded(l, u, ab, _band_times(t, x, l, u))
    return _unpromote(dx, False, vec)


@defvjp(solve_banded, argnum=2)
def solve_banded_vjp_ab(g, ans, l, u, ab, b, **kw):  # noqa: E741
    x, vec = _x_col(ans, b)
    w = solve_banded(u, l, _transposed_band(ab, l, u), _col(g, vec))
    return -_band_of_outer(w, x, l, u)


@defjvp(solve_banded, argnum=3)
def solve_banded_jvp_b(t, ans, l, u, ab, b, **kw):  # noqa: E741
    vec = _ndim(b) == 1
    return _unpromote(solve_banded(l, u, ab, _col(t, vec)), False, vec)


@defvjp(solve_banded, argnum=3)
def solve_banded_vjp_b(g, ans, l, u, ab, b, **kw):  # noqa: E741
    vec = _ndim(b) == 1
    gb = solve_banded(u, l, _transposed_band(ab, l, u), _col(g, vec))
    return _unpromote(gb, False, vec)


# -- eigh, svd, qr --------------------------------------------------------------------------------
@primitive
def eigh(a, b=None, lower=True, eigvals_only=False, type=1, check_finite=False,
         subset_by_index=None, subset_by_value=None, driver=None):  # fmt: skip
    """``scipy.linalg.eigh`` as a dualdiff op, ``b`` positional."""
    return sl.eigh(
        a, b, lower=lower, eigvals_only=eigvals_only, type=type, check_finite=check_finite,
        subset_by_index=subset_by_index, subset_by_value=subset_by_value, driver=driver,
    )  # fmt: skip


def _eigh_parts(ans, a, b, lower, eigvals_only=False, type=1, subset_by_index=None,
                subset_by_value=None, **kw):  # fmt: skip
    """All eigenpairs ``(w, v)`` and the selection matrix of the ones SciPy returned (None: all)."""
    if type != 1:
        raise NotImplementedError("dualdiff differentiates scipy.linalg.eigh with type=1 only.")
    if not eigvals_only and subset_by_index is None and subset_by_value is None:
        w, v = ans
        return w, v, None
    w, v = eigh(a, b, lower=lower)
    n = shape_of(a)[-1]
    if subset_by_index is not None:
        index = np.arange(subset_by_index[0], subset_by_index[1] + 1)
    elif subset_by_value is not None:
        plain = np.asarray(innermost(w))
        if plain.ndim != 1:
            raise NotImplementedError(
                "dualdiff differentiates scipy.linalg.eigh(subset_by_value=...) of one matrix "
                "only (a stack may select different counts)."
            )
        lo, hi = subset_by_value
        index = np.flatnonzero((plain > lo) & (plain <= hi))
    else:
        index = np.arange(n)
    return w, v, np.eye(n)[:, index]


def _eigh_push(t, ans, a, b, lower, kw):
    """``(w, v, sel, p)``: the eigenpairs, the selection, and ``v^T dS v`` for the symmetric
    matrix ``dS`` SciPy reads from the tangent ``t`` (of ``a`` or of ``b``)."""
    w, v, sel = _eigh_parts(ans, a, b, lower, **kw)
    return w, v, sel, np.matmul(_mT(v), np.matmul(_sym_tangent(t, lower), v))


def _select(dw, dv, sel, kw):
    if sel is not None:
        dw, dv = np.matmul(dw[..., None, :], sel)[..., 0, :], np.matmul(dv, sel)
    return dw if kw.get("eigvals_only") else (dw, dv)


def _eigh_pull(g, ans, a, b, lower, kw):
    """``(w, v, gw, gv)`` for a VJP: cotangents of all eigenpairs (None: none reaches them)."""
    w, v, sel = _eigh_parts(ans, a, b, lower, **kw)
    gw, gv = (g, None) if kw.get("eigvals_only") else g
    if sel is not None:
        gw = None if gw is None else np.matmul(gw[..., None, :], sel.T)[..., 0, :]
        gv = None if gv is None else np.matmul(gv, sel.T)
    return None if gw is None and gv is None else (w, v, gw, gv)


def _sandwich(v, inner, lower):
    """The cotangent of the triangle SciPy reads, from ``v inner v^T``."""
    return _sym_cotangent(np.matmul(v, np.matmul(inner, _mT(v))), lower)


@defjvp(eigh, argnum=0)
def eigh_jvp_a(t, ans, a, b=None, lower=True, **kw):
    w, v, sel, p = _eigh_push(t, ans, a, b, lower, kw)
    return _select(nl._diag(p), np.matmul(v, nl._gaps(w) * p), sel, kw)


@defjvp(eigh, argnum=1)
def eigh_jvp_b(t, ans, a, b=None, lower=True, **kw):
    # A v = w B v with v^T B v = I: dw = -w diag(q), dv = v c with q = v^T dB v
    w, v, sel, q = _eigh_push(t, ans, a, b, lower, kw)
    dq = nl._diag(q)
    c = -(nl._gaps(w) * (q * w[..., None, :])) - 0.5 * nl._diag_embed(dq)
    return _select(-w * dq, np.matmul(v, c), sel, kw)


def eigh_vjp(argnum, g, ans, a, b=None, lower=True, **kw):
    """VJP of ``a`` (argnum 0) or ``b`` (argnum 1), with ``m = v^T gv`` and ``F`` the gaps:
    ``ga = v (diag(gw) + F*m) v^T``, ``gb = -v (diag(gw w) + (F*m) diag(w) + diag(m) / 2) v^T``
    (each read back onto the triangle SciPy reads)."""
    pulled = _eigh_pull(g, ans, a, b, lower, kw)
    if pulled is None:
        return None
    w, v, gw, gv = pulled
    inner = 0.0 if gw is None else nl._diag_embed(gw if argnum == 0 else gw * w)
    if gv is not None:
        m = np.matmul(_mT(v), gv)
        fm = nl._gaps(w) * m
        if argnum == 1:
            fm = fm * w[..., None, :] + 0.5 * nl._diag_embed(nl._diag(m))
        inner = inner + fm
    cotangent = _sandwich(v, inner, lower)
    return cotangent if argnum == 0 else -cotangent


for _argnum in (0, 1):
    defvjp(eigh, _argnum)(functools.partial(eigh_vjp, _argnum))


@primitive
def svd(a, full_matrices=True, compute_uv=True, check_finite=False, lapack_driver="gesdd"):
    """``scipy.linalg.svd`` as a dualdiff op."""
    return sl.svd(
        a, full_matrices=full_matrices, compute_uv=compute_uv, check_finite=check_finite,
        lapack_driver=lapack_driver,
    )  # fmt: skip


@defjvp(svd)
def svd_jvp(t, ans, a, full_matrices=True, compute_uv=True, **kw):
    return nl.svd_jvp(t, ans, a, full_matrices, compute_uv)


@defvjp(svd)
def svd_vjp(g, ans, a, full_matrices=True, compute_uv=True, **kw):
    return nl.svd_vjp(g, ans, a, full_matrices, compute_uv)


@primitive
def qr(a, lwork=None, mode="full", pivoting=False, check_finite=False):
    """``scipy.linalg.qr`` as a dualdiff op."""
    return sl.qr(a, lwork=lwork, mode=mode, pivoting=pivoting, check_finite=check_finite)


def _qr_setup(ans, a, mode, pivoting):
    """The reduced factors, the column permutation (None: none) and the shapes."""
    m, n = shape_of(a)[-2:]
    if mode not in ("full", "economic", "r") or m < n or (pivoting and _ndim(a) != 2):
        raise NotImplementedError(
            "dualdiff differentiates scipy.linalg.qr for m >= n in mode 'full', 'economic' or "
            f"'r' (pivoting for a single matrix); got shape {shape_of(a)} and mode {mode!r}."
        )
    perm = np.asarray(innermost(ans[-1])) if pivoting else None
    if mode == "economic" or (mode == "full" and m == n):
        q, r = ans[0], ans[1]
    else:  # the reduced factors: those of 'r' and the first n columns of 'full'
        q, r = qr(a[..., :, perm] if pivoting else a, mode="economic")[:2]
    return q, r, perm, m, n


@defjvp(qr)
def qr_jvp(t, ans, a, lwork=None, mode="full", pivoting=False, **kw):
    q, r, perm, m, n = _qr_setup(ans, a, mode, pivoting)
    t = t if perm is None else t[..., :, perm]
    dq, dr = nl.qr_jvp(t, (q, r), a, "reduced")
    if m > n and mode != "economic":  # R's zero rows; the extra columns of Q are not unique
        dr = np.concatenate([dr, np.zeros(dr.shape[:-2] + (m - n, n))], axis=-2)
        dq = nl._nan_pad(dq, m - n, -1)
    outs = (dr,) if mode == "r" else (dq, dr)
    return outs + ((None,) if pivoting else ())


@defvjp(qr)
def qr_vjp(g, ans, a, lwork=None, mode="full", pivoting=False, **kw):
    q, r, perm, m, n = _qr_setup(ans, a, mode, pivoting)
    gq, gr = (None, g[0]) if mode == "r" else g[:2]
    if gq is None and gr is None:
        return None
    if m > n and mode != "economic":
        gr = None if gr is None else gr[..., :n, :]
        if gq is not None:
            if np.any(innermost(gq)[..., :, n:] != 0):
                raise NotImplementedError(
                    "scipy.linalg.qr(a, mode='full') of a tall matrix: the result uses the "
                    "extra columns of Q, which are not unique, so it has no derivative here. "
                    "Pass mode='economic' (or use only the first n columns of Q)."
                )
            gq = gq[..., :, :n]
    ga = nl.qr_vjp((gq, gr), (q, r), a, "reduced")
    if perm is not None:
        ga = ga[..., :, np.argsort(perm)]
    return ga


# -- nothing to move ---------------------------------------------------------------------------
# jacfwd of a size-0 input (or jacrev of a size-0 output) pushes k = 0 directions, a batch SciPy
# refuses ("does not support zero-size batches"); and an empty answer (a solve for no right-hand
# sides, where SciPy does not look at a) has nothing to differentiate, where the rules' own
# solves could fail (a singular a). Every rule answers both with zeros.
def _empty(x):
    leaves = x if isinstance(x, tuple | list) else (x,)
    return all(np.size(v) == 0 for v in leaves if v is not None)


def _zeros_like_answer(k, ans):
    if isinstance(ans, tuple | list):  # the integer outputs (pivots) carry no tangent
        return tuple(
            np.zeros((k,) + np.shape(x)) if np.result_type(innermost(x)).kind == "f" else None
            for x in ans
        )
    return np.zeros((k,) + np.shape(ans))


def _directions(x):
    leaves = x if isinstance(x, tuple | list) else (x,)
    return next(shape_of(v)[0] for v in leaves if v is not None)


def _guard_jvp(rule, check):
    @functools.wraps(rule)
    def jvp(t, ans, *args, **kwargs):
        check(*args)
        k = shape_of(t)[0]
        if k == 0 or _empty(ans):
            return _zeros_like_answer(k, ans)
        return rule(t, ans, *args, **kwargs)

    return jvp


def _guard_vjp(rule, argnum, check):
    @functools.wraps(rule)
    def vjp(g, ans, *args, **kwargs):
        check(*args)
        k = _directions(g)
        if k == 0 or _empty(ans):
            return np.zeros((k,) + shape_of(args[argnum]))
        return rule(g, ans, *args, **kwargs)

    return vjp


_OPS = (
    solve_triangular, cholesky, cho_factor, cho_solve, lu_factor, lu_solve, solve, inv, det,
    expm, logm, sqrtm, solve_sylvester, solve_continuous_lyapunov, solve_banded, eigh, svd, qr,
)  # fmt: skip
for _op in _OPS:
    _check = _fits if _op is solve_sylvester else lambda *args: None
    for _argnum, _rule in list(JVP[_op].items()):
        JVP[_op][_argnum] = _guard_jvp(_rule, _check)
    for _argnum, _rule in list(VJP[_op].items()):
        VJP[_op][_argnum] = _guard_vjp(_rule, _argnum, _check)


# Sparsity detection (dualdiff.sparse): every output element may depend on every input element.
HANDLERS.update(dict.fromkeys(_OPS, fallback))
