"""``np.fft``: the four one-dimensional transforms as linear ops; every other is made of them.

Under JAX's convention for complex values (``dualdiff/_complex.py``) the VJP of a linear op is
its transpose, not its adjoint. The DFT matrix is symmetric, so the transpose of ``fft`` (and
of ``ifft``) is ``fft`` (``ifft``) itself, with the same ``norm``; padding or truncating the
input to ``n`` points transposes to truncating or padding back. ``rfft`` keeps the first
``n // 2 + 1`` outputs of ``fft`` of a real input: its transpose pads the cotangent to ``n``
points, and a real input takes the real part. ``irfft`` reads only the real part of the zero
and Nyquist frequencies and counts every other one twice (the Hermitian half it stands for):
its transpose is ``ihfft`` of the cotangent, weighted 1, 2, ..., 2, 1.

``hfft``, ``ihfft``, the n-dimensional transforms and the shifts are composites: NumPy's own
definitions, written in the ops above.
"""

import numpy as np

from dualdiff._batch import neg_axis
from dualdiff._complex import allow, is_complex
from dualdiff._registry import defcomposite, deflinear
from dualdiff._tracer import getitem

_fft = np.fft


def _fit(c, m, axis):
    """Batched ``c`` cut or zero-padded to ``m`` points along the primal ``axis``."""
    ax = neg_axis(axis, np.ndim(c) - 1)
    n = np.shape(c)[ax]
    if n > m:
        idx = [slice(None)] * np.ndim(c)
        idx[ax] = slice(0, m)
        return getitem(c, tuple(idx))
    if n < m:
        widths = [(0, 0)] * np.ndim(c)
        widths[ax] = (0, m - n)
        return np.pad(c, widths)
    return c


def _length(x, axis):
    return np.shape(x)[axis]


def _no_out(out):
    if out is not None:
        raise TypeError(
            "np.fft: out= is not supported on traced arrays; use the result of the call"
        )


def _like_input(c, a):
    """A real input's cotangent is the real part (``dualdiff/_complex.py``)."""
    return c if is_complex(a) else np.real(c)


def fft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    c = _fft.fft(g, axis=neg_axis(axis, np.ndim(a)), norm=norm)
    return _like_input(_fit(c, _length(a, axis), axis), a)


def ifft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    c = _fft.ifft(g, axis=neg_axis(axis, np.ndim(a)), norm=norm)
    return _like_input(_fit(c, _length(a, axis), axis), a)


def rfft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    n = _length(a, axis) if n is None else n
    ax = neg_axis(axis, np.ndim(a))
    c = _fft.fft(_fit(g, n, axis), axis=ax, norm=norm)  # g padded to the n points of fft
    return np.real(_fit(c, _length(a, axis), axis))


def irfft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    n = 2 * (_length(a, axis) - 1) if n is None else n
    ax = neg_axis(axis, np.ndim(a))
    c = _fft.ihfft(g, axis=ax, norm=norm)  # n // 2 + 1 points, the half irfft reads
    weights = np.full(n // 2 + 1, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    shape = [1] * np.ndim(c)
    shape[ax] = n // 2 + 1
    c = c * weights.reshape(shape)
    return _like_input(_fit(c, _length(a, axis), axis), a)


for _fn, _vjp in ((_fft.fft, fft_vjp), (_fft.ifft, ifft_vjp), (_fft.rfft, rfft_vjp),
                  (_fft.irfft, irfft_vjp)):  # fmt: skip
    deflinear(_fn, _vjp)
    allow(_fn)


# -- composites: NumPy's definitions in the four transforms above ------------------------------
_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _hfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    return _fft.irfft(np.conjugate(a), n, axis, norm=_SWAP[norm])


def _ihfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    return np.conjugate(_fft.rfft(a, n, axis, norm=_SWAP[norm]))


def _axes_and_sizes(a, s, axes, last=None):
    """The axes and point counts of an n-dimensional transform, as NumPy reads ``s`` and
    ``axes``; ``last(m)`` gives the default count of the last axis (irfftn's)."""
    ndim = np.ndim(a)
    if axes is None:
        axes = list(range(ndim)) if s is None else list(range(-len(s), 0))
    axes = [ax % ndim for ax in axes] if ndim else list(axes)
    shape = np.shape(a)
    if s is None:
        s = [shape[ax] for ax in axes]
        if last is not None and s:
            s[-1] = last(s[-1])
    if len(s) != len(axes):
        raise ValueError("np.fft: s and axes must have the same length")
    return [shape[ax] if n == -1 else n for n, ax in zip(s, axes)], axes


def _nd(one_d):
    def transform(a, s=None, axes=None, norm=None, out=None):
        _no_out(out)
        s, axes = _axes_and_sizes(a, s, axes)
        for n, ax in reversed(list(zip(s, axes))):
            a = one_d(a, n, ax, norm=norm)
        return a

    return transform


def _rfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    s, axes = _axes_and_sizes(a, s, axes)
    a = _fft.rfft(a, s[-1], axes[-1], norm=norm)
    for n, ax in reversed(list(zip(s[:-1], axes[:-1]))):
        a = _fft.fft(a, n, ax, norm=norm)
    return a


def _irfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    s, axes = _axes_and_sizes(a, s, axes, last=lambda m: 2 * (m - 1))
    for n, ax in zip(s[:-1], axes[:-1]):
        a = _fft.ifft(a, n, ax, norm=norm)
    return _fft.irfft(a, s[-1], axes[-1], norm=norm)


def _two_d(nd):
    def transform(a, s=None, axes=(-2, -1), norm=None, out=None):
        return nd(a, s, axes, norm, out)

    return transform


def _shift(sign):
    def shift(x, axes=None):
        axes = tuple(range(np.ndim(x))) if axes is None else axes
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        shifts = [sign * (np.shape(x)[ax] // 2) for ax in axes]
        return np.roll(x, shifts, axes)

    return shift


defcomposite(_fft.hfft, _hfft)
defcomposite(_fft.ihfft, _ihfft)
defcomposite(_fft.fftn, _nd(_fft.fft))
defcomposite(_fft.ifftn, _nd(_fft.ifft))
defcomposite(_fft.rfftn, _rfftn)
defcomposite(_fft.irfftn, _irfftn)
defcomposite(_fft.fft2, _two_d(_nd(_fft.fft)))
defcomposite(_fft.ifft2, _two_d(_nd(_fft.ifft)))
defcomposite(_fft.rfft2, _two_d(_rfftn))
defcomposite(_fft.irfft2, _two_d(_irfftn))
defcomposite(_fft.fftshift, _shift(1))
defcomposite(_fft.ifftshift, _shift(-1))
