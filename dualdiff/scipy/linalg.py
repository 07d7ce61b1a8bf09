"""``scipy.linalg`` with differentiable factorizations, solves and matrix functions.

SciPy's linear algebra is written in Python around LAPACK and starts with ``np.asarray``, so a
traced array never reaches a hook. The functions below are drop-ins with SciPy's signatures:
on plain arrays they return exactly what SciPy returns, and on traced arrays they are dualdiff
ops (rules in :mod:`dualdiff.rules.scipy_linalg`), differentiable in both modes and at every
order. ``overwrite_*`` options are accepted and ignored (dualdiff never writes into inputs);
``check_finite`` is passed on. Every other name is SciPy's own.

Differentiable arguments: ``a`` and ``b`` of ``solve_triangular``, ``solve`` and ``eigh``
(``b`` of the generalized problem, ``type=1``); the factor ``c`` and ``b`` of ``cho_solve``;
``lu`` and ``b`` of ``lu_solve`` (the pivots are integers); ``ab`` and ``b`` of
``solve_banded``; every matrix of ``solve_sylvester``, ``solve_continuous_lyapunov`` and
``block_diag``; the input of the others. Only what SciPy reads has a derivative: the other
triangle of a triangular or symmetric solve, the unused corners of ``ab``. ``cho_factor``
returns ``(c, lower)`` with the input's own entries in the unused triangle, as SciPy does, so
they have the identity as derivative. Results must be real (complex ``logm`` / ``sqrtm``
results are out of scope); ``qr`` is differentiated for ``m >= n``, ``lu_factor`` for square
matrices. At repeated eigenvalues ``eigh``'s eigenvector derivatives are infinite or NaN (the
eigenvectors are not unique), as for ``np.linalg.eigh``; the eigenvalues' stay exact.

Examples
--------
>>> import numpy as np
>>> import dualdiff as dd
>>> from dualdiff.scipy import linalg
>>> a = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> b = np.array([1.0, 2.0])
>>> def energy(a):
...     return b @ linalg.cho_solve(linalg.cho_factor(a), b)
>>> x = np.linalg.solve(a, b)
>>> np.allclose(dd.grad(energy)(a), -np.triu(np.outer(x, x) * (2 - np.eye(2))))
True
>>> t = np.array([[0.0, 1.0], [-1.0, 0.0]])
>>> np.allclose(dd.grad(lambda s: np.sum(linalg.expm(s * t)))(0.3),
...             np.sum(t @ linalg.expm(0.3 * t)))
True
"""

import numpy as np
import scipy.linalg

from dualdiff._tracer import top_tracer
from dualdiff.rules import scipy_linalg as ops
from dualdiff.scipy._fallback import fallback

__all__ = [
    "block_diag", "cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "inv",
    "logm", "lu_factor", "lu_solve", "qr", "solve", "solve_banded", "solve_continuous_lyapunov",
    "solve_sylvester", "solve_triangular", "sqrtm", "svd",
]  # fmt: skip


def solve_triangular(
    a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True
):
    """Solve ``a x = b`` (``trans``: ``a^T x = b``) for a triangular ``a``.

    :func:`scipy.linalg.solve_triangular`, differentiable in ``a`` (its ``lower`` or upper
    triangle, without the diagonal when ``unit_diagonal``) and ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import solve_triangular
    >>> t = np.array([[2.0, 0.0], [1.0, 4.0]])
    >>> dd.jacfwd(lambda b: solve_triangular(t, b, lower=True))(np.ones(2))
    array([[ 0.5  ,  0.   ],
           [-0.125,  0.25 ]])
    """
    return ops.solve_triangular(
        a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal, check_finite=check_finite
    )


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """Cholesky factor of a symmetric positive definite matrix (:func:`scipy.linalg.cholesky`).

    Reads the upper triangle (``lower=True``: the lower one) and is differentiated as the
    factor of the symmetric matrix built from it.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import cholesky
    >>> float(dd.grad(lambda a: cholesky(a)[0, 0])(np.array([[4.0, 1.0], [1.0, 2.0]]))[0, 0])
    0.25
    """
    return ops.cholesky(a, lower=lower, check_finite=check_finite)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for :func:`cho_solve` (:func:`scipy.linalg.cho_factor`).

    ``c`` holds the factor in one triangle and, as in SciPy, the input's entries in the other.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.scipy.linalg import cho_factor
    >>> c, lower = cho_factor(np.array([[4.0, 2.0], [2.0, 5.0]]))
    >>> c, lower
    (array([[2., 1.],
           [2., 2.]]), False)
    """
    return ops.cho_factor(a, lower=lower, check_finite=check_finite), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``A x = b`` from ``cho_factor(A)`` (:func:`scipy.linalg.cho_solve`).

    Differentiable in the factor ``c`` (its triangle) and ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import cho_factor, cho_solve
    >>> a = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> dd.grad(lambda b: np.sum(cho_solve(cho_factor(a), b)))(np.ones(2))
    array([0.1875, 0.125 ])
    """
    c, lower = c_and_lower
    return ops.cho_solve(c, b, lower=lower, check_finite=check_finite)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """Pivoted LU factorization ``(lu, piv)`` (:func:`scipy.linalg.lu_factor`).

    ``lu`` is differentiable (square ``a``); ``piv`` is an integer array.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import lu_factor
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> lu_factor(a)[1]
    array([1, 1], dtype=int32)
    >>> dd.grad(lambda a: lu_factor(a)[0][1, 1])(a)
    array([[-1.33333333,  1.        ],
           [ 0.44444444, -0.33333333]])
    """
    return ops.lu_factor(a, check_finite=check_finite)


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` (``trans``: ``a^T x = b``) from ``lu_factor(a)``
    (:func:`scipy.linalg.lu_solve`); differentiable in ``lu`` and ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import lu_factor, lu_solve
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> f = lambda a: np.sum(lu_solve(lu_factor(a), np.ones(2)))
    >>> np.allclose(dd.grad(f)(a), dd.grad(lambda a: np.sum(np.linalg.solve(a, np.ones(2))))(a))
    True
    """
    lu, piv = lu_and_piv
    return ops.lu_solve(lu, piv, b, trans=trans, check_finite=check_finite)


def solve(
    a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
    transposed=False,
):  # fmt: skip
    """Solve ``a x = b`` (:func:`scipy.linalg.solve`), differentiable in ``a`` and ``b``.

    With ``assume_a`` naming a structure, only what that solver reads of ``a`` (a triangle, a
    band, the diagonal) has a derivative.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import solve
    >>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> dd.jacfwd(lambda b: solve(a, b, assume_a="pos"))(np.ones(2))
    array([[ 0.6, -0.2],
           [-0.2,  0.4]])
    """
    return ops.solve(
        a, b, lower=lower, check_finite=check_finite, assume_a=assume_a, transposed=transposed
    )


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """Matrix inverse (:func:`scipy.linalg.inv`); ``d inv(a) = -inv(a) da inv(a)``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import inv
    >>> float(dd.grad(lambda a: inv(a)[0, 0])(np.array([[2.0]]))[0, 0])
    -0.25
    """
    return ops.inv(a, check_finite=check_finite, assume_a=assume_a, lower=lower)


def det(a, overwrite_a=False, check_finite=True):
    """Determinant (:func:`scipy.linalg.det`); the gradient is the cofactor matrix, exact at
    singular matrices too.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import det
    >>> dd.grad(det)(np.array([[1.0, 2.0], [2.0, 4.0]]))
    array([[ 4., -2.],
           [-2.,  1.]])
    """
    return ops.det(a, check_finite=check_finite)


def expm(A):
    """Matrix exponential (:func:`scipy.linalg.expm`), differentiated by its Frechet
    derivative (a block-triangular exponential).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import expm
    >>> a = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> np.allclose(dd.jacfwd(lambda s: expm(s * a))(2.0), a @ expm(2.0 * a))
    True
    """
    return ops.expm(A)


def logm(A, **kwargs):
    """Principal matrix logarithm (:func:`scipy.linalg.logm`; real results), differentiated by
    its Frechet derivative. SciPy's keywords (``disp``) are passed on.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import logm
    >>> round(float(dd.grad(lambda a: np.trace(logm(a)))(np.diag([2.0, 4.0]))[1, 1]), 12)
    0.25
    """
    return ops.logm(A, **kwargs)


def sqrtm(A, **kwargs):
    """Principal matrix square root (:func:`scipy.linalg.sqrtm`; real results); ``dX`` solves
    the Sylvester equation ``X dX + dX X = dA``. SciPy's keywords are passed on.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import sqrtm
    >>> a = np.array([[4.0, 1.0], [0.0, 9.0]])
    >>> x, dx = dd.jvp(sqrtm, (a,), (np.eye(2),))
    >>> np.allclose(x @ dx + dx @ x, np.eye(2))
    True
    """
    return ops.sqrtm(A, **kwargs)


def eigh(
    a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
    check_finite=True, subset_by_index=None, subset_by_value=None, driver=None,
):  # fmt: skip
    """Eigenvalues and eigenvectors of a symmetric matrix, or of ``a v = w b v``
    (:func:`scipy.linalg.eigh`), differentiable in ``a`` and ``b`` (``type=1``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import eigh
    >>> dd.grad(lambda a: eigh(a, eigvals_only=True)[1])(np.diag([1.0, 2.0]))
    array([[0., 0.],
           [0., 1.]])
    """
    return ops.eigh(
        a, b, lower=lower, eigvals_only=eigvals_only, type=type, check_finite=check_finite,
        subset_by_index=subset_by_index, subset_by_value=subset_by_value, driver=driver,
    )  # fmt: skip


def svd(
    a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
    lapack_driver="gesdd",
):  # fmt: skip
    """Singular value decomposition (:func:`scipy.linalg.svd`), with NumPy's rules.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import svd
    >>> dd.grad(lambda a: svd(a, compute_uv=False)[0])(np.diag([3.0, 1.0]))
    array([[1., 0.],
           [0., 0.]])
    """
    return ops.svd(
        a, full_matrices=full_matrices, compute_uv=compute_uv, check_finite=check_finite,
        lapack_driver=lapack_driver,
    )  # fmt: skip


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """QR decomposition (:func:`scipy.linalg.qr`), differentiable for ``m >= n`` in modes
    ``'full'``, ``'economic'`` and ``'r'`` (the column pivots are integers). In ``'full'`` mode
    of a tall matrix the extra columns of ``Q`` are not unique: their tangents are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import qr
    >>> dd.grad(lambda a: qr(a, mode="r")[0][0, 0] ** 2)(np.array([[3.0], [4.0]]))
    array([[6.],
           [8.]])
    """
    return ops.qr(a, lwork=lwork, mode=mode, pivoting=pivoting, check_finite=check_finite)


def solve_sylvester(a, b, q):
    """Solve ``a x + x b = q`` (:func:`scipy.linalg.solve_sylvester`), differentiable in all
    three.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import solve_sylvester
    >>> a, b = np.diag([1.0, 2.0]), np.diag([3.0, 5.0])
    >>> dd.grad(lambda q: solve_sylvester(a, b, q)[1, 1])(np.ones((2, 2)))
    array([[0.        , 0.        ],
           [0.        , 0.14285714]])
    """
    return ops.solve_sylvester(a, b, q)


def solve_continuous_lyapunov(a, q):
    """Solve ``a x + x a^T = q`` (:func:`scipy.linalg.solve_continuous_lyapunov`),
    differentiable in ``a`` and ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import solve_continuous_lyapunov
    >>> f = lambda s: solve_continuous_lyapunov(s * np.eye(1), np.ones((1, 1)))[0, 0]
    >>> float(dd.grad(f)(2.0))
    -0.125
    """
    return ops.solve_continuous_lyapunov(a, q)


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """Solve a banded system from its diagonal storage ``ab``
    (:func:`scipy.linalg.solve_banded`), differentiable in the band of ``ab`` and in ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import solve_banded
    >>> ab = np.array([[0.0, 1.0], [2.0, 2.0]])  # [[2, 1], [0, 2]] with one upper diagonal
    >>> dd.jacfwd(lambda b: solve_banded((0, 1), ab, b))(np.ones(2))
    array([[ 0.5 , -0.25],
           [ 0.  ,  0.5 ]])
    """
    l, u = l_and_u  # noqa: E741 (SciPy's name)
    return ops.solve_banded(l, u, ab, b, check_finite=check_finite)


def block_diag(*arrs):
    """Block diagonal matrix of the arrays (:func:`scipy.linalg.block_diag`), linear in each.

    On traced arrays it is built by concatenations, whose rules differentiate it.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.linalg import block_diag
    >>> dd.grad(lambda a: np.sum(block_diag(a, np.ones((1, 1))) * 2.0))(np.ones(2))
    array([2., 2.])
    """
    if not arrs or top_tracer(arrs) is None:
        return scipy.linalg.block_diag(*arrs)
    mats = [np.atleast_2d(a) for a in arrs]
    bad = [i for i, m in enumerate(mats) if np.ndim(m) > 2]
    if bad:
        raise ValueError(
            f"arguments in the following positions have dimension greater than 2: {bad}"
        )
    cols = [np.shape(m)[1] for m in mats]
    total, start, rows = sum(cols), 0, []
    for m, c in zip(mats, cols):
        r = np.shape(m)[0]
        left, right = np.zeros((r, start)), np.zeros((r, total - start - c))
        rows.append(np.concatenate([left, m, right], axis=1))
        start += c
    return np.concatenate(rows, axis=0)


# Everything not served here is SciPy's own.
__getattr__, __dir__ = fallback(__name__, scipy.linalg)
