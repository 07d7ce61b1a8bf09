"""Deferred values in recording: a large elementwise result is computed when first read.

Why: ``grad`` never reads f's value, and ``hvp`` reads neither it nor the tangents that lead
only to it. In vectorized code the ops after the last nonlinear partial (``(d ** 2)``'s answer
scaled, added and summed into the loss) are passes over memory that no derivative needs, and
with the tangents of forward over reverse so are most of theirs. A recording computes them
only if something reads them.

What is deferred (reverse mode only, at least ``IN_PLACE_MIN`` elements):

- a float ufunc with one output (``np.add``, ``np.square``, ``np.exp``, ...), and a full
  ``np.sum`` / ``np.mean``, called without keywords;
- whose traced inputs are deferred values, or values this recording computed and owns (a
  float64 buffer of the pool, or a Dual of them): never the caller's arrays or views of them,
  which the caller could change before the value is read, nor an answer that is its input
  itself (``np.real(x)``); what a transform returns leaves the pool (``pool.disown``);
- whose other inputs are numbers (Python's, or NumPy float64 scalars); an array could change
  under it, like the caller's.

A deferred value is computed, once, when anything reads it: a NumPy call that is not deferred,
indexing, ``bool``/printing, a partial derivative in the sweep, or ``value_and_grad``'s value.
A chain of deferred values longer than ``MAX_DEPTH`` is computed as it is recorded, which
bounds the recursion. Computing one into the buffer of a deferred input that nothing else holds
(a Pending's value is never seen outside this module and the tape) is NumPy's elision of
temporaries, done with the whole recording in view.

Floating-point errors: an op is deferred only where its errors cannot change what the program
does (:func:`errstate`). NumPy's error state must say "ignore" or "warn" for every kind, and for
a "warn", Python's warnings must ignore RuntimeWarning or show it on stderr as by default. Under
``np.errstate(...="raise" | "call" | "log" | "print")``, a warnings filter that could turn a
RuntimeWarning into an error (one for some messages only included), while warnings are
recorded (``warnings.catch_warnings(record=True)``, which pytest does around every test) or
shown by a replaced ``warnings.showwarning``, the op is computed at once, where the caller's
``try``/``except`` and inspection of warnings see it. A deferred op is computed under the error
state it was recorded in; its warnings are issued then, unless warnings are at that moment
errors or recorded (the eager op would have issued them earlier, outside that block: they are
dropped), and an op that is never computed (the loss, in ``grad``) issues none.

The engine options (``dualdiff.options``) switch deferral (``defer``) and the reuse of an
input's buffer (``elide``) off.
"""

import math
import sys
import warnings

import numpy as np

from dualdiff._tracer import Tracer
from dualdiff.large import pool
from dualdiff.large.pool import F64
from dualdiff.options import OPTIONS

MAX_DEPTH = 64  # longest chain of deferred values (a forced value recurses this deep)
_IGNORE = {"divide": "ignore", "over": "ignore", "under": "ignore", "invalid": "ignore"}


class Pending:
    """``fn(*inputs)``, computed on the first :meth:`get`; inputs may be Pendings themselves.

    ``shape`` is known from the start (a recording reads shapes without values), and
    ``depth`` is the longest chain of Pendings below this one.
    """

    __slots__ = ("fn", "inputs", "result", "shape", "depth", "errstate")

    def __init__(self, fn, inputs, shape, depth, errstate):
        self.fn = fn
        self.inputs = inputs
        self.result = None
        self.shape = shape
        self.depth = depth
        self.errstate = errstate  # what errstate() returned when the op was recorded

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def ndim(self):
        return len(self.shape)

    dtype = F64

    def get(self):
        """The value, computed now if it was not yet."""
        if self.result is None:
            state = self.errstate
            if state is not _IGNORE and _runtime_warning() is None:
                state = _IGNORE  # warnings are errors or recorded here: the op's are dropped
            if np.geterr() != state:
                with np.errstate(**state):
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
            # a Dual among the inputs (forward over reverse) computes its own answer: no out=
            plain = not any(isinstance(a, Tracer) for a in args)
            out = _reusable(inputs, args, self.shape) if OPTIONS.elide and plain else None
            self.result = pool.call(fn, args) if out is None else fn(*args, out=out)
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
            and args[i].dtype == F64
            and _counts(inputs, i, args) == _sole()
            and pool.holds(args[i])
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
    p = Pending(None, (), (), 0, _IGNORE)
    p.result = pool.empty((pool.MIN_SIZE,))
    inputs = (p,)
    args = [p.result]
    del p
    counts = _counts(inputs, 0, args)
    inputs[0].result = None
    return counts


_SOLE = []  # the counts _calibrate measures, at the first large recording that needs them


def _sole():
    if not _SOLE:
        _SOLE.append(_calibrate())
    return _SOLE[0]

# -- when an op may be deferred: floating-point errors --------------------------------------

_QUIET = frozenset(("ignore", "warn"))


def errstate():
    """The NumPy error state to compute a deferred op under, or None if the op must be
    computed at once: when an error of it could raise, call or log, or a warning of it could
    be an error, be recorded or be shown by code of the caller's (see the module docstring)."""
    state = np.geterr()
    warn = False
    for action in state.values():
        if action not in _QUIET:
            return None
        if action == "warn":
            warn = True
    if not warn:
        return _IGNORE
    shown = _runtime_warning()
    if shown is None:
        return None
    return state if shown else _IGNORE


def _runtime_warning():
    """How Python's warnings treat NumPy's RuntimeWarning issued now: True if it may be shown
    on stderr as by default, False if it is ignored, None otherwise (it could be an error, is
    recorded, or is shown by a replaced ``showwarning``). Filters that only some messages or
    places match count for every warning: an error in any of them could raise."""
    if getattr(sys.flags, "context_aware_warnings", False):
        return None  # filters live in a context this module does not read
    shown = False
    for action, message, category, module, lineno in warnings.filters:
        if not issubclass(RuntimeWarning, category):
            continue
        if action == "error":
            return None
        if action != "ignore":
            shown = True
        if message is None and module is None and not lineno:
            break  # every RuntimeWarning stops here
    else:
        if warnings.defaultaction == "error":
            return None
        shown = shown or warnings.defaultaction != "ignore"
    if shown and not _default_display():
        return None
    return shown


def _default_display():
    """Whether warnings go to stderr through Python's own display: not recorded by
    ``catch_warnings(record=True)`` (which swaps ``_showwarnmsg_impl`` for a list's append),
    nor shown by a replaced ``showwarning`` (``logging.captureWarnings``, a user's)."""
    impl = getattr(warnings, "_showwarnmsg_impl", None)
    return (
        warnings.showwarning is getattr(warnings, "_showwarning_orig", None)
        and getattr(impl, "__name__", None) == "_showwarnmsg_impl"
        and getattr(impl, "__module__", None) in ("warnings", "_py_warnings")
    )

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
