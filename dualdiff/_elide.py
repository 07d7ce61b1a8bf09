"""Temporary elision in recording: ``a - b * c`` writes its answer into ``b * c``'s buffer.

NumPy does this for its own temporaries; a recorded op used to make a new array every time,
so at large sizes the recording cost what f costs with every intermediate named (about twice
f). An input's buffer takes the answer only when all of these hold:

- the op is a binary operator written in Python code (``BINARY_OP`` in the frame that called
  the operator dunder), so every reference to the operand is counted: the interpreter's stack
  owns its values on CPython 3.11 to 3.13 (3.14 borrows them, and there this is off);
- the operand's tracer has the reference count of a value nobody named: measured at import
  on the same call path (:func:`calibrate`), never assumed;
- it is the newest node on its tape (the value just computed, as an expression's
  temporaries are);
- its value is a float64 buffer of the pool that only the tracer holds (no view, no other
  tracer, no tape node keeps it), and the answer has its shape;
- the op's partials do not read that input (``UFUNC_KEEP``).

Anything else makes a new array as before. What Python cannot see: compiled code (Cython,
mypyc) that keeps a tracer in a C variable and applies an operator to it from inside an
operator call looks like a temporary. NumPy guards that case by reading the C stack; here
the environment variable ``DUALDIFF_NO_ELISION=1`` turns elision off.
"""

import dis
import os
import sys

import numpy as np

from dualdiff import _pool

_BINARY_OP = dis.opmap.get("BINARY_OP")
_SUPPORTED = (
    not os.environ.get("DUALDIFF_NO_ELISION")
    and sys.implementation.name == "cpython"
    and (3, 11) <= sys.version_info[:2] <= (3, 13)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)
_F64 = np.dtype(np.float64)

# Set by calibrate(): the tracer reference counts that mean "a temporary", for the operand
# that is the dispatching tracer and for the other one; None while off.
_temporary = None
_dunder_code = None
_calibrating = None  # a list while calibrating: what into() saw
elided = 0  # how many answers were written into a temporary (read by the tests)


def into(x, y, vx, vy, keep, top):
    """The buffer of ``x``'s or ``y``'s value that the op's answer may be written into, or
    None. ``vx``/``vy`` are their values, ``keep`` the op's ``UFUNC_KEEP`` entry, ``top`` the
    tracer whose ``ufunc`` was called. Called only for large arrays."""
    if _temporary is None and _calibrating is None:
        return None
    try:
        dunder = sys._getframe(2)
    except ValueError:  # a stack too shallow to have come through an operator
        return None
    if dunder.f_code is not _dunder_code:
        return None
    caller = dunder.f_back
    if caller is None or caller.f_lasti < 0 or caller.f_code.co_code[caller.f_lasti] != _BINARY_OP:
        return None
    global elided
    if not keep[1] and _free(x, vx, vy, top):
        elided += 1
        return vx
    if not keep[2] and _free(y, vy, vx, top):
        elided += 1
        return vy
    return None


def _free(var, value, other, top):
    if type(value) is not np.ndarray or not hasattr(var, "tape"):
        return False  # a constant input, or a tracer of another kind
    if value.dtype != _F64 or not value.flags.writeable:
        return False
    if type(other) is np.ndarray:
        if other.dtype != _F64 or other.ndim > value.ndim:
            return False
        if other.shape != value.shape and any(
            n != m and n != 1 for n, m in zip(other.shape[::-1], value.shape[::-1])
        ):
            return False  # the answer would not have value's shape
    elif type(other) is not float and type(other) is not int:
        return False
    var_count, value_count = sys.getrefcount(var), sys.getrefcount(value)
    if _calibrating is not None:
        _calibrating.append((var is top, var_count, value_count))
        return False
    # the newest node: a value computed just before this op, by this code (narrows the
    # candidates to what an expression's temporaries are)
    return (
        var_count == _temporary[var is top]
        and value_count == _temporary[2]
        and var.index == len(var.tape) - 1
        and _pool.holds(value)
    )


def calibrate(record, dunder_code):
    """Measure the counts on the real call path: ``record(probe)`` must run ``probe`` on a
    large traced array. Turns elision on only if, at each operand position, a temporary shows
    exactly one reference fewer than a named value."""
    global _temporary, _calibrating, _dunder_code
    if not _SUPPORTED or _BINARY_OP is None:
        return
    _dunder_code = dunder_code
    seen = {}

    def probe(t):
        global _calibrating
        a = t * 1.0
        _calibrating = seen["temp, named"] = []
        (t * 1.0) - a
        _calibrating = seen["named, temp"] = []
        a - (t * 1.0)
        return a

    try:
        record(probe)
    finally:
        _calibrating = None
    try:  # the last two operands seen are the subtraction's: (is top, tracer, value count)
        (top1, tmp1, val1), (top2, named2, _) = seen["temp, named"][-2:]
        (top3, named3, _), (top4, tmp4, val4) = seen["named, temp"][-2:]
    except (KeyError, ValueError):
        return
    if (top1, top2, top3, top4) != (True, False, True, False):
        return
    if named3 != tmp1 + 1 or named2 != tmp4 + 1 or val1 != val4:
        return
    _temporary = {True: tmp1, False: tmp4, 2: val1}
