"""The evaluations SciPy's solver loop repeats (the derived systems' right-hand sides, dense exact
Jacobians), replayed by :func:`dualdiff.replay`.

A small right-hand side is a dozen scalar ops, and a solve evaluates it thousands of times: traced
afresh, each evaluation pays dualdiff's per-op cost; replayed, it runs its NumPy calls alone
(bit for bit the same results, re-recorded when the function's Python control flow changes).
Only plain evaluations come here: every argument is a plain array, and anything the function
reads otherwise is a constant of the solve (replay checks those at every call).
"""

import functools
import types

import numpy as np

from dualdiff.replay import replay

# Tests switch replay off to compare the replayed evaluations with the unreplayed ones.
ENABLED = True

_STATIC = (bool, int, float, complex, str, bytes, type(None), np.generic, np.dtype)
# Functions are keyed by identity; an object with a __call__ could change behind replay's back.
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, functools.partial, np.ufunc)


# A recording costs about as much as 20 traced evaluations of a small right-hand side: the first
# calls are traced, so that a solve needing a handful (a plain solve's Jacobians) records none.
TRACED_CALLS = 16


class Evaluation:
    """``fn(t, *args)`` called with ``t`` as a 0-d float64 array; from the
    :data:`TRACED_CALLS`-th call on replayed, while :data:`ENABLED` and the arguments are arrays,
    numbers or functions.

    ``t`` is an array because replay keys its recordings on the values of Python numbers: SciPy's
    float ``t`` would record again at every step. Unreplayed calls get the same 0-d ``t``, so both
    ways compute the same thing. One evaluation serves one solve: what ``fn`` reads besides its
    arguments (a global, an object's attribute) cannot change within it, but may between solves,
    where replay would not see it."""

    __slots__ = ("_fn", "_replayed", "_calls")

    def __init__(self, fn):
        self._fn = fn
        self._replayed = replay(fn)
        self._calls = 0

    def __call__(self, t, *args):
        t = np.array(t, dtype=np.float64)
        if not self._due(args):
            return self._fn(t, *args)
        try:
            return self._replayed(t, *args)
        except Exception:
            # What replay cannot record must not fail a solve the traced way serves: fn's own
            # error is raised again here, and otherwise this evaluation is no longer replayed.
            out = self._fn(t, *args)
            self._replayed = None
            return out

    def _due(self, args):
        """Whether this call is replayed. The arguments' kinds are checked once: a solve passes
        the same ones at every call."""
        if not ENABLED or self._replayed is None:
            return False
        if self._calls >= TRACED_CALLS:
            return True
        self._calls += 1
        if self._calls < TRACED_CALLS:
            return False
        if not replayable(args):
            self._replayed = None
            return False
        return True


def replayable(tree) -> bool:
    """Whether replay takes ``tree`` as arguments: arrays, numbers, strings, functions, and
    tuples, lists and dicts of them (replay would read another object at recording time only)."""
    t = type(tree)
    if t is np.ndarray or isinstance(tree, _STATIC):
        return True
    if t is tuple or t is list:
        return all(replayable(e) for e in tree)
    if t is dict:
        return all(replayable(e) for e in tree.values())
    return isinstance(tree, _FUNCTIONS)
