"""Central differences of plain NumPy functions: the independent reference of the tests."""

import numpy as np


def slope(f, x, v, h=1e-6):
    """The derivative of ``f`` at ``x`` along ``v``."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def jacobian(f, x, eps=1e-6):
    """All partial derivatives, of shape ``f(x).shape + x.shape``."""
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.moveaxis(np.array(cols), 0, -1).reshape(np.shape(f(x)) + x.shape)
