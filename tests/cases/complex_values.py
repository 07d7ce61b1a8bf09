"""Test-table lines for complex values (rules in dualdiff/rules/complex_values.py, fft.py and
linalg_eig.py): real inputs through complex intermediates to real outputs, so that finite
differences of f on plain arrays are the reference (tests/test_complex.py checks complex inputs
and JAX's convention)."""

import warnings

import numpy as np

from dualdiff._tracer import astype
from tests._table import Case, pos, rand

fft = np.fft
x8, y8 = rand(8, seed=41), rand(8, seed=42)
x5 = rand(5, seed=43)
m34 = rand(3, 4, seed=44)
c8 = np.exp(1j * np.arange(8.0)) * (1 + np.arange(8.0) / 8)  # a complex constant
c34 = np.exp(0.7j * np.arange(12.0)).reshape(3, 4)


def z(x, y):
    """A complex value made of two real ones."""
    return x + 1j * y


def _re(v):
    """A real output of a complex value that sees both of its parts."""
    return np.real(v) + 0.5 * np.imag(v) ** 2


C44 = np.exp(0.9j * np.arange(16.0)).reshape(4, 4)
A4 = rand(4, 4, seed=45) + np.diag([0.0, 1.0, 2.0, 3.0])  # distinct eigenvalues, some complex

def _real_cast(v):
    """``v.astype(float)``: NumPy keeps the real part, and warns that it does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        return v.astype(np.float64)


CASES = [
    # -- the parts of a complex value -----------------------------------------------------------
    Case(np.conjugate, lambda x, y: _re(np.conj(z(x, y)) * c8), (x8, y8)),
    Case(np.conjugate, lambda x, y: _re(z(x, y).conj() * c8), (x8, y8), name="method"),
    Case(np.real, lambda x, y: np.real(z(x, y) * c8), (x8, y8)),
    Case(np.real, lambda x: np.real(x), (x8,), name="of-real"),
    Case(np.imag, lambda x, y: np.imag(z(x, y) * c8) ** 2, (x8, y8)),
    Case(np.imag, lambda x, y: z(x, y).imag * x, (x8, y8), name="attribute"),
    Case(np.absolute, lambda x, y: np.abs(z(x, y) * c8), (x8, y8), name="complex"),
    Case(np.angle, lambda x, y: np.angle(z(x, y) * c8), (x8, y8)),
    Case(np.angle, lambda x, y: np.angle(z(x, y), deg=True), (x8, y8), name="deg"),
    Case(np.angle, lambda x: np.angle(x) * x, (x8,), name="of-real"),
    Case(np.real_if_close, lambda x: np.real_if_close(x + 0j) * x, (x8,)),
    Case(np.real_if_close, lambda x, y: _re(np.real_if_close(z(x, y))), (x8, y8), name="complex"),
    Case(astype, lambda x: _re(x.astype(complex) * c8), (x8,), name="to-complex"),
    Case(astype, lambda x, y: _real_cast(z(x, y)) * x, (x8, y8), name="to-real"),
    # -- np.fft: the four transforms, every n and norm, and the composites -------------------------
    *[
        Case(op, lambda x, y, op=op, n=n, norm=norm: _re(op(z(x, y), n, norm=norm)), (x8, y8),
             name=f"n={n}-{norm}")  # fmt: skip
        for op in (fft.fft, fft.ifft)
        for n, norm in ((None, None), (5, "ortho"), (11, "forward"))
    ],
    *[
        Case(fft.rfft, lambda x, n=n, norm=norm: _re(fft.rfft(x, n, norm=norm)), (x8,),
             name=f"n={n}-{norm}")  # fmt: skip
        for n, norm in ((None, None), (5, "ortho"), (11, "forward"), (4, "backward"))
    ],
    *[
        Case(fft.irfft, lambda x, y, n=n, norm=norm: fft.irfft(z(x, y)[:5], n, norm=norm) ** 2,
             (x8, y8), name=f"n={n}-{norm}")  # fmt: skip
        for n, norm in ((None, None), (9, "ortho"), (5, "forward"), (12, "backward"))
    ],
    Case(fft.fft, lambda m: _re(fft.fft(m, axis=0)), (m34,), name="axis"),
    Case(fft.rfft, lambda m: _re(fft.rfft(m, axis=0)), (m34,), name="axis"),
    Case(fft.irfft, lambda m: fft.irfft(m * c34, axis=0) ** 2, (m34,), name="axis"),
    Case(fft.hfft, lambda x, y: fft.hfft(z(x, y)[:5]) ** 2, (x8, y8)),
    Case(fft.hfft, lambda x, y: fft.hfft(z(x, y), 7, norm="ortho") ** 2, (x8, y8), name="n"),
    Case(fft.ihfft, lambda x: _re(fft.ihfft(x)), (x8,)),
    Case(fft.ihfft, lambda x: _re(fft.ihfft(x, 6, norm="forward")), (x8,), name="n"),
    Case(fft.fftn, lambda m: _re(fft.fftn(m)), (m34,)),
    Case(fft.fftn, lambda m: _re(fft.fftn(m, s=(2, 5), axes=(0, 1))), (m34,), name="s"),
    Case(fft.ifftn, lambda m: _re(fft.ifftn(m * c34, norm="ortho")), (m34,)),
    Case(fft.fft2, lambda m: _re(fft.fft2(m)), (m34,)),
    Case(fft.ifft2, lambda m: _re(fft.ifft2(m * c34)), (m34,)),
    Case(fft.rfftn, lambda m: _re(fft.rfftn(m)), (m34,)),
    Case(fft.rfftn, lambda m: _re(fft.rfftn(m, s=(4, 6), axes=(0, 1))), (m34,), name="s"),
    Case(fft.rfft2, lambda m: _re(fft.rfft2(m)), (m34,)),
    Case(fft.irfftn, lambda m: fft.irfftn(m * c34) ** 2, (m34,)),
    Case(fft.irfftn, lambda m: fft.irfftn(m * c34, s=(3, 5), axes=(0, 1)) ** 2, (m34,), name="s"),
    Case(fft.irfft2, lambda m: fft.irfft2(m * c34) ** 2, (m34,)),
    Case(fft.fftshift, lambda m: fft.fftshift(m) * m, (m34,)),
    Case(fft.fftshift, lambda x: fft.fftshift(x) * x5, (x5,), name="odd"),
    Case(fft.ifftshift, lambda m: fft.ifftshift(m, axes=1) * m, (m34,)),
    Case(fft.ifftshift, lambda x: fft.ifftshift(x) * x5, (x5,), name="odd"),
    # -- eigenvalues and eigenvectors of a general matrix ---------------------------------------
    Case(np.linalg.eigvals, lambda a: _re(np.linalg.eigvals(a)), (A4,)),
    Case(np.linalg.eig, lambda a: _re(np.linalg.eig(a)[0]), (A4,), name="values"),
    # a unit vector with its largest component real (LAPACK's choice): a function of it
    Case(np.linalg.eig, lambda a: _re(np.linalg.eig(a)[1] * C44), (A4,), name="vectors"),
    Case(np.linalg.eig, lambda a: _re(np.linalg.eig(a)[1]), (pos(3, 3) + np.diag([0.0, 2.0, 5.0]),),
         name="real-eigenvalues"),  # fmt: skip
]
