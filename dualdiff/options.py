"""Engine options: the switches of the large-array layer (``dualdiff/large``), per thread.

Each mechanism only changes speed and memory, never a value, so switching it off is how one
compares answers (the test-suite runs its differential tests with each off) or rules it out
when chasing a problem. Defaults come from the environment, read once at import:
``DUALDIFF_DEFER=0`` (or ``DUALDIFF_EAGER=1``), ``DUALDIFF_ELIDE=0``, ``DUALDIFF_SCALE=0``,
``DUALDIFF_POOL=0``, ``DUALDIFF_IN_PLACE=0``, and ``DUALDIFF_LARGE=0`` for all of them.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["engine_options"]

NAMES = ("defer", "elide", "scale", "pool", "in_place")


def _default(name):
    if os.environ.get("DUALDIFF_LARGE", "1") == "0":
        return False
    if name == "defer" and os.environ.get("DUALDIFF_EAGER"):
        return False
    return os.environ.get(f"DUALDIFF_{name.upper()}", "1") != "0"


DEFAULTS = {name: _default(name) for name in NAMES}


class _Options(threading.local):
    """This thread's options (a new thread starts from the defaults)."""

    def __init__(self):
        self.__dict__.update(DEFAULTS)
        self.large = any(DEFAULTS.values())  # whether any mechanism is on


OPTIONS = _Options()


@contextmanager
def engine_options(
    *,
    defer: bool | None = None,
    elide: bool | None = None,
    scale: bool | None = None,
    pool: bool | None = None,
    in_place: bool | None = None,
    large: bool | None = None,
) -> Iterator[dict]:
    """Switch the large-array mechanisms on or off in this thread, inside a ``with`` block.

    Parameters
    ----------
    defer : bool, optional
        Compute a large elementwise result only when something reads it.
    elide : bool, optional
        Let a deferred result reuse the buffer of a deferred input nothing else holds.
    scale : bool, optional
        Keep negations and scalar factors of large cotangents pending (one pass saved each).
    pool : bool, optional
        Take large buffers from the per-thread pool instead of fresh memory.
    in_place : bool, optional
        Let the backward sweep write into large cotangents only it holds.
    large : bool, optional
        Every mechanism at once (False: the reference engine alone).

    Options left as None keep their current value. Yields the options in force.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> x = np.linspace(0.0, 1.0, 20_000)
    >>> with dd.engine_options(large=False):
    ...     g = dd.grad(lambda x: np.sum(np.sin(x) ** 2))(x)
    >>> bool(np.allclose(g, np.sin(2 * x)))
    True
    """
    changes = {n: v for n, v in zip(NAMES, (defer, elide, scale, pool, in_place)) if v is not None}
    if large is not None:
        changes = {n: changes.get(n, large) for n in NAMES}
    saved = {n: getattr(OPTIONS, n) for n in NAMES}
    for n, v in changes.items():
        setattr(OPTIONS, n, bool(v))
    OPTIONS.large = any(getattr(OPTIONS, n) for n in NAMES)
    try:
        yield {n: getattr(OPTIONS, n) for n in NAMES}
    finally:
        for n, v in saved.items():
            setattr(OPTIONS, n, v)
        OPTIONS.large = any(saved.values())
