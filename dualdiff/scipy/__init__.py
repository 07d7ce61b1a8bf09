"""SciPy functions that dualdiff can differentiate although SciPy itself hides them from it.

Most of ``scipy.special`` consists of ufuncs: a traced array reaches dualdiff's
``__array_ufunc__`` hook and the rules in :mod:`dualdiff.rules.special` apply, so plain
``import scipy.special`` works. A few SciPy functions are written in Python and start with
``np.asarray`` (``scipy.special.logsumexp``, ``softmax``, ``log_softmax``, ``polygamma``): that
call would turn a traced array into a plain one and drop its derivative, so dualdiff refuses it
with a TypeError. This namespace serves those functions as dualdiff primitives with rules of
their own; on plain arrays they return SciPy's results. Everything else falls back to SciPy, so
``import dualdiff.scipy.special as sp`` is a drop-in replacement for ``scipy.special``.

``dualdiff.scipy.stats`` (distributions' densities, cumulative functions and entropies),
``dualdiff.scipy.linalg`` (factorizations, solves, matrix functions) and
``dualdiff.scipy.signal`` (convolutions and correlations) are drop-ins of the same kind, their
functions dualdiff ops with SciPy's values; they are imported when first used.
"""

import importlib

from dualdiff.scipy import special

__all__ = ["linalg", "signal", "special", "stats"]
_LAZY = ("linalg", "signal", "stats")  # their SciPy modules take up to seconds to import


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"dualdiff.scipy.{name}")
    raise AttributeError(f"module 'dualdiff.scipy' has no attribute {name!r}")
