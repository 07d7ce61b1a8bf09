"""Derivative arithmetic runs with NumPy's floating-point errors ignored.

The caller's ``np.errstate`` and warnings filters govern the values f computes. A derivative
that is infinite or NaN where f's value is fine (``sqrt`` at 0) is not an error of f: it
propagates (README, "Errors"), and it must not raise inside the caller's ``try``, call their
``np.seterrcall`` handler, or add to the warnings they record, any of which could change what
f does. Hot paths write ``token = STATE.set(IGNORE)`` ... ``STATE.reset(token)``: NumPy's error
state is a context variable, and setting it directly costs a small fraction of entering
``np.errstate`` (forward mode does this at every op).
"""

import numpy as np

try:  # NumPy >= 2
    from numpy._core._ufunc_config import _extobj_contextvar as STATE
except ImportError:  # pragma: no cover - NumPy 1.x: the same two calls through np.errstate

    class _ErrstateShim:
        def set(self, _):
            state = np.errstate(all="ignore")
            state.__enter__()
            return state

        def reset(self, state):
            state.__exit__(None, None, None)

    STATE = _ErrstateShim()
    IGNORE = None
else:
    with np.errstate(all="ignore"):
        IGNORE = STATE.get()


def quiet():
    """Ignore floating-point errors until :func:`loud` is given the returned token."""
    return STATE.set(IGNORE)


def loud(token):
    STATE.reset(token)
