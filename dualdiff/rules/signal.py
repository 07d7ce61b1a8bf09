"""``scipy.signal`` convolutions: the ops behind :mod:`dualdiff.scipy.signal` and their rules.

``convolve``, ``correlate`` and ``fftconvolve`` are primitives that call SciPy on the primal
values. A convolution is bilinear, and every mode is a crop of the ``'full'`` one (``'same'``:
centred on ``in1``'s shape; ``'valid'``: ``|n - m| + 1`` from ``min(n, m) - 1``, per axis):

- the tangent along one operand is the full convolution of its tangent with the other operand,
  cropped like the answer;
- the cotangent of an operand is the output cotangent, zero-padded back to the full shape,
  correlated with the other operand (a ``'valid'`` convolution with it flipped), which has the
  operand's shape;
- ``correlate(x, y)`` is ``convolve(x, flip(y))``, so its rules are convolve's with ``y``
  flipped (and the cotangent of ``y`` flipped back).

The batch axis of tangents rides along as an axis the other operand has length 1 on:
``convolve`` convolves it with a length-1 kernel (the identity), ``fftconvolve`` leaves it out of
``axes`` (it broadcasts). The rules call the ops themselves, so every order is exact, and the
same method (``method=`` / FFT) as the answer.
"""

import functools

import numpy as np

from dualdiff._pattern import HANDLERS, fallback
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import primitive, shape_of


# scipy.signal is imported at the first call: it takes a second or more to import, which
# importing dualdiff (and so this table) should not cost.
@primitive
def convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve`` as a dualdiff op."""
    from scipy import signal

    return signal.convolve(in1, in2, mode=mode, method=method)


@primitive
def correlate(in1, in2, mode="full", method="auto"):
    """``scipy.signal.correlate`` as a dualdiff op."""
    from scipy import signal

    return signal.correlate(in1, in2, mode=mode, method=method)


@primitive
def fftconvolve(in1, in2, mode="full", axes=None):
    """``scipy.signal.fftconvolve`` as a dualdiff op."""
    from scipy import signal

    return signal.fftconvolve(in1, in2, mode=mode, axes=axes)


def _conv_axes(ndim, axes):
    """The convolved axes as non-negative ints (None: all)."""
    if axes is None:
        return tuple(range(ndim))
    axes = (axes,) if np.ndim(axes) == 0 else axes
    return tuple(sorted(a % ndim for a in axes))


def _window(n, m, mode):
    """``(start, length, full length)`` of the answer in the full convolution along an axis."""
    if mode == "full":
        return 0, n + m - 1, n + m - 1
    if mode == "same":
        return (m - 1) // 2, n, n + m - 1
    if mode == "valid":
        return min(n, m) - 1, abs(n - m) + 1, n + m - 1
    raise ValueError(f"acceptable mode flags are 'valid', 'same', or 'full'; got {mode!r}")


def _windows(s1, s2, mode, axes):
    """Each cropped axis's window. An axis ``fftconvolve`` broadcasts is cropped too in mode
    'same', to ``in1``'s length (SciPy centres the whole answer on ``in1``'s shape)."""
    windows = {a: _window(s1[a], s2[a], mode) for a in axes}
    if mode == "same":
        for a, (n, m) in enumerate(zip(s1, s2)):
            if a not in windows and m > n:
                windows[a] = ((m - n) // 2, n, m)
    return windows


def _crop(full, windows):
    """The answer's part of a batched full convolution (primal axis ``a`` is ``a + 1``)."""
    index = [slice(None)] * full.ndim
    for a, (start, length, _) in windows.items():
        index[a + 1] = slice(start, start + length)
    return full[tuple(index)]


def _pad(g, windows):
    """A batched cotangent of the answer, zero-padded to the full convolution's shape."""
    pad = [(0, 0)] * g.ndim
    for a, (start, length, size) in windows.items():
        pad[a + 1] = (start, size - start - length)
    return np.pad(g, pad)


def _nothing_to_move(direction, ans, in1, in2):
    """No directions, or an empty operand: every entry of the answer (if any: SciPy gives
    zeros in mode 'valid') is an empty sum, whose derivative is zero."""
    return not (direction.shape[0] and np.size(ans) and np.size(in1) and np.size(in2))


class _Conv:
    """The rules of a convolution-like op, from the op itself on batched arrays.

    ``full(x, y)`` and ``valid(x, y)`` convolve a batched ``x`` (batch axis first) with a
    ``y`` that has a length-1 batch axis; ``flipped`` says the op correlates (its second
    operand enters flipped).
    """

    def __init__(self, op, flipped):
        self.op, self.flipped = op, flipped

    def setup(self, in1, in2, mode, extra):
        s1, s2 = shape_of(in1), shape_of(in2)
        axes = _conv_axes(len(s1), extra.get("axes"))
        return s1, s2, axes, _windows(s1, s2, mode, axes)

    def conv(self, x, y, mode, axes, extra):
        """``x`` (batched) convolved with ``y[None]`` over ``axes`` (primal numbering)."""
        y = np.expand_dims(y, 0)
        if self.op is fftconvolve:
            return fftconvolve(x, y, mode, tuple(a + 1 for a in axes))
        return convolve(x, y, mode, extra.get("method", "auto"))

    def flip(self, x, axes, batched=False):
        return np.flip(x, axis=tuple(a + batched for a in axes)) if axes else x

    def jvp(self, argnum, t, ans, in1, in2, mode="full", *args, **kwargs):
        if _nothing_to_move(t, ans, in1, in2):
            return np.zeros(t.shape[:1] + np.shape(ans))
        extra = self.extra(args, kwargs)
        s1, s2, axes, windows = self.setup(in1, in2, mode, extra)
        if argnum == 0:
            other = self.flip(in2, axes) if self.flipped else in2
            return _crop(self.conv(t, other, "full", axes, extra), windows)
        t = self.flip(t, axes, batched=True) if self.flipped else t
        return _crop(self.conv(t, in1, "full", axes, extra), windows)

    def vjp(self, argnum, g, ans, in1, in2, mode="full", *args, **kwargs):
        if _nothing_to_move(g, ans, in1, in2):
            return np.zeros(g.shape[:1] + shape_of((in1, in2)[argnum]))
        extra = self.extra(args, kwargs)
        s1, s2, axes, windows = self.setup(in1, in2, mode, extra)
        full = _pad(g, windows)
        if argnum == 0:  # correlate with in2 (convolve with it flipped)
            other = in2 if self.flipped else self.flip(in2, axes)
            return self.conv(full, other, "valid", axes, extra)
        gy = self.conv(full, self.flip(in1, axes), "valid", axes, extra)
        return self.flip(gy, axes, batched=True) if self.flipped else gy

    def extra(self, args, kwargs):
        name = "axes" if self.op is fftconvolve else "method"
        return {name: args[0]} if args else dict(kwargs)


_OPS = (convolve, correlate, fftconvolve)
for _op, _flipped in zip(_OPS, (False, True, False)):
    _rules = _Conv(_op, _flipped)
    for _argnum in (0, 1):
        defjvp(_op, _argnum)(functools.partial(_rules.jvp, _argnum))
        defvjp(_op, _argnum)(functools.partial(_rules.vjp, _argnum))


# Sparsity detection (dualdiff.sparse): every output element may depend on every input element.
HANDLERS.update(dict.fromkeys(_OPS, fallback))
