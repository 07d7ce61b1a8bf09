"""Rules for complex values, under JAX's convention (``dualdiff/_complex.py``): a cotangent
``c`` of a complex ``z`` stands for ``dz -> Re(c * dz)``.

The ops that are not holomorphic have rules of their own here, each correct for real inputs
too: ``conj``, ``real``, ``imag``, ``abs``, ``angle``, ``real_if_close`` and ``astype``. A
real-valued function ``f`` of ``z`` with ``df = Re(d * dz)`` has the JVP ``Re(d * t)`` and the
VJP ``g * d``. The functions whose real rules hold for complex values as they are (linear
structural ops, holomorphic ones) are marked with :func:`dualdiff._complex.allow`.
"""

import numpy as np

from dualdiff._complex import allow, is_complex
from dualdiff._registry import defjvp, defpartials, defvjp
from dualdiff._tracer import astype, getitem, setitem
from dualdiff.rules.numpy_extra import like
from dualdiff.rules.reductions import pad_zeros
from dualdiff.rules.shape import index_add, scatter


def _as_complex(g, x):
    """A real cotangent ``g`` of a complex ``x`` in ``x``'s dtype (the cotangent of a complex
    value is complex, so that sums into it stay in place)."""
    return astype(g, x.dtype) if is_complex(x) else g


def _nonzero(a):
    """``a`` with its zeros replaced by ones (a divisor that is 0 where the result is set)."""
    return np.where(a == 0, 1.0, a)


# -- conj: conj(t) forward, conj(g) back (Re(c * conj(dz)) = Re(conj(c) * dz)) -----------------
@defjvp(np.conjugate)
def conjugate_jvp(t, ans, x, *args, **kwargs):
    return np.conjugate(t)


@defvjp(np.conjugate)
def conjugate_vjp(g, ans, x, *args, **kwargs):
    return np.conjugate(g)


# -- real and imag: Re(1 * t) and Re(-1j * t) ---------------------------------------------------
@defjvp(np.real)
def real_jvp(t, ans, x):
    return np.real(t)


@defvjp(np.real)
def real_vjp(g, ans, x):
    return _as_complex(g, x)


@defjvp(np.imag)
def imag_jvp(t, ans, x):
    return np.imag(t)


@defvjp(np.imag)
def imag_vjp(g, ans, x):
    if not is_complex(x):
        return None  # the imaginary part of a real array is 0
    return _as_complex(g, x) * -1j


# -- abs: d = conj(z) / |z| (0 at 0, as JAX), sign(x) for real x ------------------------------
def _abs_dx(ans, x):
    if not is_complex(x):
        return np.sign(x)
    return np.conjugate(x) / _nonzero(ans) * (ans != 0)


defpartials(np.absolute, _abs_dx)  # the forward pass takes Re(d * t) (dual.py)


# -- angle: d = -1j conj(z) / |z|^2 (0 at 0); constant (0 or pi) for real values --------------
def _angle_d(x, deg):
    r2 = np.real(x) ** 2 + np.imag(x) ** 2
    d = np.conjugate(x) * (-1j / _nonzero(r2)) * (r2 != 0)
    return d * (180.0 / np.pi) if deg else d


@defjvp(np.angle)
def angle_jvp(t, ans, z, deg=False):
    if not is_complex(z):
        return None
    return np.real(t * _angle_d(z, deg))


@defvjp(np.angle)
def angle_vjp(g, ans, z, deg=False):
    if not is_complex(z):
        return None
    return g * _angle_d(z, deg)


# -- real_if_close: real(z) when NumPy drops the imaginary part, else z ------------------------
@defjvp(np.real_if_close)
def real_if_close_jvp(t, ans, a, *args, **kwargs):
    return t if is_complex(ans) else np.real(t)


@defvjp(np.real_if_close)
def real_if_close_vjp(g, ans, a, *args, **kwargs):
    return g if is_complex(ans) else _as_complex(g, a)


# -- astype: a cast to integers or bools is piecewise constant; complex to real keeps Re -------
@defjvp(astype)
def astype_jvp(t, ans, x, dtype):
    if not np.issubdtype(dtype, np.inexact):
        return None
    if is_complex(t) and not np.issubdtype(dtype, np.complexfloating):
        t = np.real(t)
    return astype(t, dtype)


@defvjp(astype)
def astype_vjp(g, ans, x, dtype):
    if not np.issubdtype(dtype, np.inexact):
        return None
    if is_complex(g) and not is_complex(x):
        g = np.real(g)
    return astype(g, x.dtype)


# -- the functions whose real rules hold for complex values ------------------------------------
allow(np.conjugate, np.real, np.imag, np.angle, np.real_if_close, astype)
# linear and structural: their rules move, copy, sum or scale values by real numbers
allow(
    getitem, setitem, index_add, scatter, like, pad_zeros, np.append, np.array_split,
    np.atleast_1d, np.atleast_2d, np.atleast_3d, np.broadcast_arrays, np.broadcast_to,
    np.column_stack, np.concatenate, np.copy, np.cumsum, np.delete, np.diag, np.diagflat,
    np.diagonal, np.diff, np.dsplit, np.dstack, np.expand_dims, np.flip, np.fliplr, np.flipud,
    np.hsplit, np.hstack, np.insert, np.moveaxis, np.pad, np.ravel, np.repeat, np.reshape,
    np.roll, np.rollaxis, np.rot90, np.split, np.squeeze, np.stack, np.sum, np.swapaxes,
    np.take, np.take_along_axis, np.tile, np.trace, np.transpose, np.tril, np.triu,
    np.vsplit, np.vstack, np.where, np.mean, np.linalg.matrix_transpose,
)  # fmt: skip
# bilinear and holomorphic: products without conjugation, whose rules transpose (never adjoin)
allow(
    np.dot, np.matmul, np.linalg.matmul, np.einsum, np.inner, np.outer, np.linalg.outer,
    np.tensordot, np.linalg.tensordot, np.kron, np.linalg.multi_dot, np.prod, np.cumprod,
    np.linalg.solve, np.linalg.inv, np.linalg.det, np.linalg.matrix_power,
)  # fmt: skip
