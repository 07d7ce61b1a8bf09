"""``scipy.special`` with differentiable versions of SciPy's Python-level functions.

``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma`` and ``spherical_jn`` are Python
functions in SciPy that call ``np.asarray`` on their input, so a traced
array never reaches a hook. Here they are dualdiff primitives (their rules live in
:mod:`dualdiff.rules.special`); on plain arrays they return exactly what SciPy returns. Every
other name is looked up in ``scipy.special`` (its ufuncs are differentiable through the hooks).

Examples
--------
>>> import numpy as np
>>> import dualdiff as dd
>>> import dualdiff.scipy.special as sp
>>> x = np.array([0.0, 1.0, 2.0])
>>> np.allclose(dd.grad(sp.logsumexp)(x), sp.softmax(x))
True
>>> float(dd.grad(lambda x: sp.gammaln(x))(3.0)) == float(sp.digamma(3.0))
True
"""

import numpy as np
import scipy.special

from dualdiff._tracer import primitive

__all__ = [
    "log_softmax", "logsumexp", "multigammaln", "polygamma", "softmax", "spherical_jn",
]  # fmt: skip


@primitive
def _logsumexp(a, b, axis, keepdims, return_sign):
    """The op behind :func:`logsumexp`: its first output alone, ``a`` and ``b`` positional."""
    out = scipy.special.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    return out[0] if return_sign else out


@primitive
def _logsumexp_sign(a, b, axis, keepdims):
    """The sign output of ``logsumexp(..., return_sign=True)``: piecewise constant."""
    return scipy.special.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)[1]


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))`` computed stably, differentiable in ``a`` and ``b``.

    Same signature and results as :func:`scipy.special.logsumexp`. ``b`` may be traced or a
    constant; with ``return_sign=True`` the sign output carries no derivative.

    Parameters
    ----------
    a : array_like
        Input array.
    axis : None or int or tuple of int
        Axes to reduce over; None reduces over all axes.
    b : array_like, optional
        Scaling factors for ``exp(a)``, broadcast against ``a``.
    keepdims : bool
        Keep the reduced axes with length one.
    return_sign : bool
        Also return the sign of the sum (then ``b`` may hold negative numbers).

    Returns
    -------
    res : ndarray
        ``log(abs(sum(b * exp(a), axis)))``.
    sgn : ndarray
        The sign of the sum, only if ``return_sign`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import logsumexp
    >>> x = np.array([0.0, np.log(3.0)])
    >>> bool(np.isclose(logsumexp(x), np.log(4.0)))
    True
    >>> dd.grad(logsumexp)(x)
    array([0.25, 0.75])
    """
    # Two ops rather than one with two outputs: the sign is a constant op of its own.
    out = _logsumexp(a, b, axis, keepdims, return_sign)
    return (out, _logsumexp_sign(a, b, axis, keepdims)) if return_sign else out


@primitive
def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)`` computed stably; :func:`scipy.special.softmax`, traced.

    Parameters
    ----------
    x : array_like
        Input array.
    axis : None or int or tuple of int
        Axes the probabilities sum to one over; None means all axes.

    Returns
    -------
    ndarray
        Same shape as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import softmax
    >>> out, t = dd.jvp(lambda x: softmax(x), (np.zeros(2),), (np.array([1.0, 0.0]),))
    >>> out, t
    (array([0.5, 0.5]), array([ 0.25, -0.25]))
    """
    return scipy.special.softmax(x, axis=axis)


@primitive
def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis)`` computed stably; :func:`scipy.special.log_softmax`, traced.

    Parameters
    ----------
    x : array_like
        Input array.
    axis : None or int or tuple of int
        Axes to normalise over; None means all axes.

    Returns
    -------
    ndarray
        Same shape as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import log_softmax
    >>> dd.grad(lambda x: log_softmax(x)[0])(np.zeros(2))
    array([ 0.5, -0.5])
    """
    return scipy.special.log_softmax(x, axis=axis)


def multigammaln(a, d):
    """Log of the multivariate gamma function of dimension ``d``; SciPy's, differentiable in ``a``.

    ``log Gamma_d(a) = d (d - 1) / 4 log(pi) + sum_{j=1..d} gammaln(a - (j - 1) / 2)``, as
    :func:`scipy.special.multigammaln` computes it (which calls ``np.asarray``).

    Parameters
    ----------
    a : array_like
        Argument, every element above ``(d - 1) / 2``.
    d : int
        Dimension.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import multigammaln, digamma
    >>> float(dd.grad(lambda a: multigammaln(a, 2))(3.0)) == float(digamma(3.0) + digamma(2.5))
    True
    """
    if not (isinstance(d, int | np.integer) and d > 0):
        raise ValueError(f"multigammaln: d must be a positive integer (a dimension); got {d!r}")
    if np.any(a <= 0.5 * (d - 1)):  # a comparison of a traced value is a plain array
        raise ValueError(f"multigammaln: every a must exceed (d - 1) / 2 = {0.5 * (d - 1)}")
    res = (d * (d - 1) * 0.25) * np.log(np.pi)
    return res + sum(scipy.special.gammaln(a - (j - 1.0) / 2) for j in range(1, d + 1))


@primitive
def polygamma(n, x):
    """The ``n``-th derivative of the digamma function; :func:`scipy.special.polygamma`, traced.

    Differentiable in ``x``; the integer order ``n`` is a constant.

    Parameters
    ----------
    n : array_like of int
        Order of the derivative of digamma.
    x : array_like
        Real argument.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import polygamma
    >>> bool(dd.grad(lambda x: polygamma(1, x))(2.5) == polygamma(2, 2.5))
    True
    """
    return scipy.special.polygamma(n, x)


@primitive
def spherical_jn(n, z, derivative=False):
    """Spherical Bessel function of the first kind ``j_n(z)`` (or its derivative), traced.

    :func:`scipy.special.spherical_jn`, differentiable in ``z``; the integer order ``n`` is a
    constant. ``np.sinc`` is differentiated through it (``sinc(x) = j_0(pi x)``).

    Parameters
    ----------
    n : array_like of int
        Order, ``n >= 0``.
    z : array_like
        Real argument.
    derivative : bool
        Return ``j_n'(z)`` instead of ``j_n(z)``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.special import spherical_jn
    >>> round(float(dd.grad(lambda z: spherical_jn(1, z))(0.0)), 12)
    0.333333333333
    """
    return scipy.special.spherical_jn(n, z, derivative=derivative)


def __getattr__(name):
    # Everything not served here is SciPy's own (its ufuncs are differentiable via the hooks).
    try:
        return getattr(scipy.special, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(dir(scipy.special)))
