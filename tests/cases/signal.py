"""Test-table lines for ``dualdiff.scipy.signal`` (rules in dualdiff/rules/signal.py).

Each op in each mode, along each operand, in 1-D (the kernel shorter and longer than the signal,
even and odd lengths: 'same' centres differently) and in 2-D; ``fftconvolve`` also over
``axes`` with a broadcast axis.
"""

from dualdiff.rules import signal as ops
from dualdiff.scipy import signal as sig
from tests._table import Case, rand

x7, k3, k4 = rand(7, seed=40), rand(3, seed=41), rand(4, seed=42)
img, ker = rand(5, 6, seed=43), rand(3, 2, seed=44)

fft = sig.fftconvolve

CASES = []
for _op, _fn in ((ops.convolve, sig.convolve), (ops.correlate, sig.correlate)):
    for _mode in ("full", "same", "valid"):
        CASES += [
            Case(_op, lambda x, m=_mode, f=_fn: f(x, k3, m), (x7,), name=f"{_mode}-in1"),
            Case(_op, lambda k, m=_mode, f=_fn: f(x7, k, m), (k4,), name=f"{_mode}-in2"),
            Case(_op, lambda x, k, m=_mode, f=_fn: f(x, k, m), (k4, x7), name=f"{_mode}-short-in1"),
            Case(_op, lambda x, k, m=_mode, f=_fn: f(x, k, m), (img, ker), name=f"{_mode}-2d"),
        ]
    CASES.append(Case(_op, lambda x, k, f=_fn: f(x, k, "same", "direct"), (x7, k4), name="direct"))
for _mode in ("full", "same", "valid"):
    CASES += [
        Case(ops.fftconvolve, lambda x, m=_mode: fft(x, k4, m), (x7,), name=f"{_mode}-in1"),
        Case(ops.fftconvolve, lambda k, m=_mode: fft(x7, k, m), (k3,), name=f"{_mode}-in2"),
        Case(ops.fftconvolve, lambda x, k, m=_mode: fft(x, k, m), (img, ker), name=f"{_mode}-2d"),
        Case(
            ops.fftconvolve,
            lambda x, k, m=_mode: fft(x, k, m, axes=-1),
            (rand(1, 7, seed=45), rand(3, 4, seed=46)),
            name=f"{_mode}-axes-broadcast",
        ),
    ]
