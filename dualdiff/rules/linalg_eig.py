"""``np.linalg.eig`` and ``eigvals``: eigenvalues and eigenvectors of a general square matrix,
complex in general (JAX's convention for complex values: ``dualdiff/_complex.py``).

With ``A = V diag(w) V^-1`` and ``M = V^-1 dA V``: ``dw = diag(M)`` and ``dV = V (F o M)``,
``F_ij = 1 / (w_j - w_i)`` off the diagonal. NumPy's eigenvectors are normalised by LAPACK to
unit length with their largest component real, so the tangent is corrected to keep both:
the component along each column that would change its length is removed, and a phase
rotation ``i theta_j v_j`` keeps the largest component real. The reverse rules are the
transposes of these steps, in reverse order.

At a repeated eigenvalue ``F`` is infinite: the eigenvectors are not differentiable there and
their derivatives come out infinite or NaN. The eigenvalues are not differentiable there either;
``diag(M)`` is the derivative for the basis LAPACK returned (right for their sum), as for ``eigh``
and in JAX.
"""

import numpy as np

from dualdiff._complex import allow, is_complex
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import innermost
from dualdiff.rules.linalg import _diag, _diag_embed, _gaps, _mT


def _largest(v):
    """One-hot mask of each column's largest component (LAPACK makes it real), a constant."""
    values = innermost(v)
    k = np.argmax(np.abs(values), axis=-2)
    return np.arange(values.shape[-1])[:, None] == k[..., None, :]


def _unit_length(dv, v):
    """``dv`` without the part along each column of ``v`` that changes its length."""
    return dv - v * np.real(np.sum(np.conjugate(v) * dv, axis=-2, keepdims=True))


def _pivot(v, e):
    """Each column's largest component (marked by ``e``), real: a row of them."""
    return np.real(np.sum(e * v, axis=-2, keepdims=True))


def _real_largest(dv, v, e):
    """``dv + i theta v``, theta per column keeping the largest component (``e``) real."""
    theta = -np.imag(np.sum(e * dv, axis=-2, keepdims=True)) / _pivot(v, e)
    return dv + 1j * v * theta


@defjvp(np.linalg.eig)
def eig_jvp(t, ans, a):
    w, v = ans
    m = np.matmul(np.linalg.inv(v), np.matmul(t, v))
    dv = _unit_length(np.matmul(v, _gaps(w) * m), v)
    if is_complex(v):
        dv = _real_largest(dv, v, _largest(v))
    return _diag(m), dv


@defvjp(np.linalg.eig)
def eig_vjp(g, ans, a):
    w, v = ans
    gw, gv = g
    if gw is None and gv is None:
        return None
    inner = 0.0 if gw is None else _diag_embed(gw)
    if gv is not None:
        if is_complex(v):  # the transpose of _real_largest
            e = _largest(v)
            g_theta = -np.imag(np.sum(gv * v, axis=-2, keepdims=True))
            gv = gv + e * (1j * g_theta / _pivot(v, e))
        # the transpose of _unit_length
        gv = gv - np.conjugate(v) * np.real(np.sum(gv * v, axis=-2, keepdims=True))
        inner = inner + _gaps(w) * np.matmul(_mT(v), gv)
    ga = np.matmul(_mT(np.linalg.inv(v)), np.matmul(inner, _mT(v)))
    return ga if is_complex(a) else np.real(ga)


@defjvp(np.linalg.eigvals)
def eigvals_jvp(t, ans, a):
    v = np.linalg.eig(a)[1]
    return _diag(np.matmul(np.linalg.inv(v), np.matmul(t, v)))


@defvjp(np.linalg.eigvals)
def eigvals_vjp(g, ans, a):
    v = np.linalg.eig(a)[1]
    ga = np.matmul(_mT(np.linalg.inv(v)) * g[..., None, :], _mT(v))
    return ga if is_complex(a) else np.real(ga)


allow(np.linalg.eig, np.linalg.eigvals)
