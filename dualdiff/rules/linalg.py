"""Linear algebra: products, contractions, decompositions and solves."""

import numpy as np

from dualdiff._registry import defjvp, defvjp


def _mT(a):
    return np.swapaxes(a, -1, -2)


# -- matmul: 1-d operands are promoted to matrices, as numpy does --------------------------------
@defjvp(np.matmul, argnum=0)
def matmul_jvp_a(t, ans, a, b, **kwargs):
    if np.ndim(b) == 1:
        return np.matmul(t, b)
    return np.matmul(t, b)


@defjvp(np.matmul, argnum=1)
def matmul_jvp_b(t, ans, a, b, **kwargs):
    if np.ndim(b) == 1:
        return np.matmul(t[..., None, :], _mT(a))[..., 0, :] if np.ndim(a) > 1 else t @ a
    return np.matmul(a, t)


@defvjp(np.matmul, argnum=0)
def matmul_vjp_a(g, ans, a, b, **kwargs):
    if np.ndim(b) == 1:
        if np.ndim(a) == 1:
            return g[..., None] * b
        return g[..., None] * b
    if np.ndim(a) == 1:
        return np.matmul(g[..., None, :], _mT(b))[..., 0, :]
    return np.matmul(g, _mT(b))


@defvjp(np.matmul, argnum=1)
def matmul_vjp_b(g, ans, a, b, **kwargs):
    if np.ndim(b) == 1:
        if np.ndim(a) == 1:
            return g[..., None] * a
        return np.matmul(g[..., None, :], a)[..., 0, :]
    if np.ndim(a) == 1:
        return a[:, None] * g[..., None, :]
    return np.matmul(_mT(a), g)
