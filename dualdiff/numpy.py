"""``dualdiff.numpy``: the NumPy namespace, plus the few functions NumPy cannot dispatch.

``np.array([x, y])`` of traced scalars cannot reach a hook (NumPy converts each element
first), and ``np.asarray(tracer)`` must not drop a derivative. This module provides versions
that build traced arrays instead; every other name is NumPy's own, so
``import dualdiff.numpy as np`` is a drop-in.

Inside f, ``np.array``/``np.asarray`` of lists of traced values read from ``numpy`` at call time
build traced arrays too, with these functions (``dualdiff._array_scope``); this module's
versions also work where that scope does not reach: a name bound before the transform
(``from numpy import array``), a thread f starts, ``asarray`` of a traced array itself.

Examples
--------
>>> import dualdiff as dd
>>> import dualdiff.numpy as dnp
>>> dd.grad(lambda x: dnp.sum(dnp.array([x, 2 * x, x ** 2])))(3.0)
array(9.)
"""

import sys as _sys

import numpy as _np

from dualdiff._tracer import Tracer, astype

# ``import dualdiff.numpy.linalg`` gives NumPy's own submodule (whose functions dispatch to
# dualdiff's rules), never a second copy of it loaded under another name
for _name in ("linalg", "fft", "random"):
    _sys.modules[f"{__name__}.{_name}"] = getattr(_np, _name)


def _traced(obj) -> bool:
    if isinstance(obj, Tracer):
        return True
    if type(obj) is list or type(obj) is tuple:
        return any(_traced(e) for e in obj)
    return False


def array(object, dtype=None, *, copy=True, ndmin=0, **kwargs):
    """``numpy.array`` that also builds arrays from (nested lists of) traced values."""
    if not _traced(object):
        return _np.array(object, dtype=dtype, copy=copy, ndmin=ndmin, **kwargs)
    out = _build(object)
    if out is object and copy:  # a new array, as NumPy's: writing into it leaves ``object``
        out = out.copy()
    if dtype is not None:
        out = astype(out, _np.dtype(dtype))
    if ndmin > out.ndim:
        out = _np.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def _build(obj):
    if type(obj) is list or type(obj) is tuple:
        return _np.stack([_build(e) for e in obj])
    return obj if isinstance(obj, Tracer) else _np.asarray(obj)  # promoted by stack, as NumPy


def asarray(a, dtype=None, **kwargs):
    """``numpy.asarray`` that returns traced values (and lists of them) as traced arrays."""
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, _np.dtype(dtype))
    if _traced(a):
        return array(a, dtype=dtype)
    return _np.asarray(a, dtype=dtype, **kwargs)


asanyarray = asarray


def __getattr__(name):
    if name.startswith("__"):  # forwarding __path__ would make this module a package
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_np, name)


def __dir__():
    return sorted(set(dir(_np)) | {"array", "asarray", "asanyarray"})
