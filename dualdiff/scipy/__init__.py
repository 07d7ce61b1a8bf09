"""SciPy functions that dualdiff can differentiate although SciPy itself hides them from it.

Most of ``scipy.special`` consists of ufuncs: a traced array reaches dualdiff's
``__array_ufunc__`` hook and the rules in :mod:`dualdiff.rules.special` apply, so plain
``import scipy.special`` works. A few SciPy functions are written in Python and start with
``np.asarray`` (``scipy.special.logsumexp``, ``softmax``, ``log_softmax``, ``polygamma``): that
call would turn a traced array into a plain one and drop its derivative, so dualdiff refuses it
with a TypeError. This namespace serves those functions as dualdiff primitives with rules of
their own; on plain arrays they return SciPy's results. Everything else falls back to SciPy, so
``import dualdiff.scipy.special as sp`` is a drop-in replacement for ``scipy.special``.
"""

from dualdiff.scipy import special

__all__ = ["special"]
