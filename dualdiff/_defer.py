"""Deferred values in recording: a large elementwise result is computed when first read.

Why: ``grad`` never reads f's value, and ``hvp`` reads neither it nor the tangents that lead
only to it. In vectorized code the ops after the last nonlinear partial (``(d ** 2)``'s answer
scaled, added and summed into the loss) are a third of the recording's passes over memory
(grad of Rosenbrock), and with the tangents of forward over reverse more than half of them.
A recording computes them only if something reads them.

What is deferred (reverse mode only, at least ``IN_PLACE_MIN`` elements):

- a float ufunc with one output (``np.add``, ``np.square``, ``np.exp``, ...), and a full
  ``np.sum`` / ``np.mean``, called without keywords;
- whose traced inputs are deferred values, or values this recording computed and owns (a
  float64 buffer of the pool, or a Dual of them): never the caller's arrays or views of them,
  which the caller could change before the value is read;
- whose other inputs are numbers (Python's, or NumPy float64 scalars); an array could change
  under it, like the caller's.

A deferred value is computed, once, when anything reads it: a NumPy call that is not deferred,
indexing, ``bool``/printing, a partial derivative in the sweep, or ``value_and_grad``'s value.
It is computed with the floating-point error state it was recorded under. A chain of deferred
values longer than ``MAX_DEPTH`` is computed as it is recorded, which bounds the recursion.
Computing one into the buffer of a deferred input that nothing else holds is the elision of
temporaries that NumPy does for an expression, done here with the whole recording in view.

``DUALDIFF_EAGER=1`` in the environment turns deferral off.
"""

import math
import os
import sys

import numpy as np

from dualdiff import _pool

MAX_DEPTH = 64  # longest chain of deferred values (a forced value recurses this deep)
_F64 = np.dtype(np.float64)

enabled = not os.environ.get("DUALDIFF_EAGER")


class Pending:
    """``fn(*inputs)``, computed on the first :meth:`get`; inputs may be Pendings themselves.

    ``shape`` is known from the start (a recording reads shapes without values), and
    ``depth`` is the longest chain of Pendings below this one.
    """

    __slots__ = ("fn", "inputs", "result", "shape", "depth", "errstate")

    def __init__(self, fn, inputs, shape, depth):
        self.fn = fn
        self.inputs = inputs
        self.result = None
        self.shape = shape
        self.depth = depth
        self.errstate = np.geterr()

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def ndim(self):
        return len(self.shape)

    dtype = _F64

    def get(self):
        """The value, computed now if it was not yet."""
        if self.result is None:
            if np.geterr() != self.errstate:
                with np.errstate(**self.errstate):
                    self._compute()
            else:
                self._compute()
        return self.result

    def _compute(self):
        inputs = self.inputs
        args = [x.get() if type(x) is Pending else x for x in inputs]
        fn = self.fn
        if type(fn) is not np.ufunc:
            self.result = fn(*args)
        else:
            out = _reusable(inputs, args, self.shape)
            self.result = _pool.call(fn, args) if out is None else fn(*args, out=out)
        self.inputs = None  # the inputs are freed (and Pendings only this one held, with them)


def _reusable(inputs, args, shape):
    """The buffer of an input that the answer may be written into, or None: the computed
    value of a Pending that only ``inputs`` holds, a pooled float64 array of the answer's
    shape that only that Pending holds. (Indexing, not names: a local would be counted.)"""
    for i in range(len(inputs)):
        if (
            type(inputs[i]) is Pending
            and type(args[i]) is np.ndarray
            and args[i].shape == shape
            and args[i].dtype == _F64
            and _counts(inputs, i, args) == _SOLE
            and _pool.holds(args[i])
        ):
            inputs[i].result = None  # it goes with self.inputs, never to be read again
            return args[i]
    return None


def _counts(inputs, i, args):
    """The reference counts of ``inputs[i]`` and of its value ``args[i]``."""
    return sys.getrefcount(inputs[i]), sys.getrefcount(args[i])


def _calibrate():
    """The counts :func:`_counts` sees for a Pending held only by a tuple of inputs, whose
    value is held only by it, the args list and the pool: measured, since they depend on how
    the interpreter counts references."""
    p = Pending(None, (), (), 0)
    p.result = _pool.empty((_pool.MIN_SIZE,))
    inputs = (p,)
    args = [p.result]
    del p
    counts = _counts(inputs, 0, args)
    inputs[0].result = None
    return counts


_SOLE = _calibrate()

# -- which ops defer ------------------------------------------------------------------------

_float_ufunc: dict = {}


def deferrable(ufunc):
    """Whether ``ufunc`` maps float64 inputs to one float64 output (not a comparison)."""
    ok = _float_ufunc.get(ufunc)
    if ok is None:
        sig = "d" * ufunc.nin + "->d"
        ok = ufunc.nout == 1 and ufunc.nin <= 2 and ufunc.signature is None and sig in ufunc.types
        _float_ufunc[ufunc] = ok
    return ok


def depth_of(handles):
    """The depth of a Pending made of ``handles``, or None if it would be too deep."""
    depth = 1
    for h in handles:
        if type(h) is Pending and h.depth >= depth:
            depth = h.depth + 1
    return depth if depth <= MAX_DEPTH else None


class eager:
    """Context manager: no deferral inside (for the elision's calibration, and tests)."""

    def __enter__(self):
        global enabled
        self.was, enabled = enabled, False

    def __exit__(self, *exc):
        global enabled
        enabled = self.was
