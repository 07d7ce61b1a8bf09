"""``scipy.signal`` with differentiable convolutions.

``convolve``, ``correlate`` and ``fftconvolve`` are Python functions in SciPy that call
``np.asarray``, so a traced array never reaches a hook. Here they are drop-ins with SciPy's
signatures: on plain arrays they return exactly what SciPy returns, and on traced arrays they
are dualdiff ops (rules in :mod:`dualdiff.rules.signal`), differentiable in both operands, in
both modes, at every order, for every ``mode`` (``'full'``, ``'same'``, ``'valid'``) and any
number of dimensions (``fftconvolve``'s ``axes`` too). Every other name is SciPy's own.

Examples
--------
>>> import numpy as np
>>> import dualdiff as dd
>>> from dualdiff.scipy import signal
>>> kernel = np.array([1.0, -1.0])
>>> dd.jacfwd(lambda x: signal.convolve(x, kernel, mode="valid"))(np.zeros(3))
array([[-1.,  1.,  0.],
       [ 0., -1.,  1.]])
"""

import scipy.signal

from dualdiff.rules import signal as ops
from dualdiff.scipy._fallback import fallback

__all__ = ["convolve", "correlate", "fftconvolve"]


def convolve(in1, in2, mode="full", method="auto"):
    """Convolve two N-dimensional arrays (:func:`scipy.signal.convolve`).

    Differentiable in ``in1`` and ``in2``: the cotangent of one operand is the output's
    cotangent correlated with the other.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.signal import convolve
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> dd.grad(lambda k: np.sum(convolve(x, k, mode="same") ** 2))(np.array([0.0, 1.0, 0.0]))
    array([16., 28., 16.])
    """
    return ops.convolve(in1, in2, mode, method)


def correlate(in1, in2, mode="full", method="auto"):
    """Cross-correlate two N-dimensional arrays (:func:`scipy.signal.correlate`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.signal import correlate
    >>> dd.jacfwd(lambda y: correlate(np.array([1.0, 2.0, 3.0]), y, mode="valid"))(np.ones(2))
    array([[1., 2.],
           [2., 3.]])
    """
    return ops.correlate(in1, in2, mode, method)


def fftconvolve(in1, in2, mode="full", axes=None):
    """Convolve two N-dimensional arrays by FFT (:func:`scipy.signal.fftconvolve`), over
    ``axes`` (the others broadcast); the same derivatives as :func:`convolve`.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> from dualdiff.scipy.signal import fftconvolve
    >>> g = dd.grad(lambda x: np.sum(fftconvolve(x, np.array([0.5, 0.5]))))(np.ones(3))
    >>> np.allclose(g, 1.0)
    True
    """
    return ops.fftconvolve(in1, in2, mode, axes)


# Everything not served here is SciPy's own.
__getattr__, __dir__ = fallback(__name__, scipy.signal)
