"""A line of the rule test table: which op it covers, the function, and the point."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """``f(*args)`` exercises registered op ``op``; every arg is differentiated.

    ``modes`` and ``order`` say what ``check_grads`` checks; tolerances loosen only where the
    finite-difference reference itself is noisy (say why in ``name``).
    """

    op: object
    f: object
    args: tuple
    name: str = ""
    order: int = 2
    modes: tuple = ("fwd", "rev")
    rtol: float = 1e-4
    atol: float = 1e-6
    eps: float = 1e-6
    extra: dict = field(default_factory=dict)

    @property
    def id(self):
        op = getattr(self.op, "__name__", str(self.op))
        return f"{op}-{self.name}" if self.name else op


def rand(*shape, low=-1.0, high=1.0, seed=0):
    """Reproducible uniform array (fixed seed per shape/range)."""
    rng = np.random.default_rng(abs(hash((shape, low, high, seed))) % 2**32)
    return rng.uniform(low, high, size=shape)


def pos(*shape, seed=0):
    """Reproducible array in (0.5, 2)."""
    return rand(*shape, low=0.5, high=2.0, seed=seed)
