"""``np.array([f1, f2])`` of traced values inside f, as written (issue 15).

NumPy converts each element of a list before any hook runs, so ``np.array``, ``np.asarray`` and
the functions that take a list (``np.mean([a, b])``, ``np.linalg.norm([a, b])``) never reach
``__array_function__``: the conversion calls the tracer's ``__array__``, which raises
dualdiff's TypeError (flagged ``dualdiff_conversion``).

While a transform runs f (``engine.unwrapped``, which ``record`` and ``push`` call), those
module attributes of ``numpy`` (and ``numpy.linalg.norm``) are replaced by wrappers; the last
transform to finish, on any thread, puts NumPy's own back. A wrapper calls NumPy's own first,
with the same arguments, and returns its answer: a call without a tracer gets NumPy's result,
unchanged, for one extra Python call. Only when NumPy raises dualdiff's conversion error and
the calling thread is inside a transform does it build the traced array instead
(``dualdiff.numpy.array``) or, for a function of lists, call NumPy's own again with each list
that holds tracers made a traced array. So:

- outside transforms nothing is replaced: NumPy's functions cost what they cost;
- on a thread that runs no transform while another thread does, the wrappers return NumPy's
  answers and raise NumPy's errors (a traced value leaked to that thread still raises);
- a result that involves no tracer is NumPy's own, whatever the arguments (``dtype=``,
  ``copy=``, ``ndmin=``, objects);
- an exception in f, or nested transforms, leave the counters right (``try``/``finally``).

Only lists and tuples (nested, mixing tracers with numbers and arrays) are built:
``np.asarray(x)`` of a traced array itself is NumPy's own and raises the TypeError, as before
(SciPy's Python functions start with it, and the error names ``dualdiff.scipy``).

Limits: a name bound before the transform (``from numpy import array``, ``asarray = np.asarray``
at import) is NumPy's own function and raises the TypeError naming ``dualdiff.numpy.array``;
ufuncs called on a list (``np.exp([a, b])``) and functions not in ``_LISTS`` raise it too; a
name another library patched onto ``numpy`` (``mock.patch``) is left alone; a thread that f
starts itself is not inside the transform.
"""

import functools
import operator
import threading

import numpy as np

from dualdiff import numpy as dnp
from dualdiff._tracer import Tracer


class _Thread(threading.local):
    depth = 0  # transforms running f on this thread (nested ones counted)


_thread = _Thread()
_lock = threading.Lock()
_active = 0  # transforms running f on all threads


def _traced(obj) -> bool:
    if isinstance(obj, Tracer):
        return True
    if type(obj) is list or type(obj) is tuple:
        for e in obj:
            if _traced(e):
                return True
    return False


def _conversion(e) -> bool:
    return _thread.depth > 0 and getattr(e, "dualdiff_conversion", False)


_np_array = np.array
_np_asarray = np.asarray
_np_asanyarray = np.asanyarray


def _copy_refused():
    return ValueError("Unable to avoid copy while creating an array as requested.")


def _array(np_fn, like):
    """``np_fn`` (``np.array``, ``np.asarray``, ``np.asanyarray``) that builds a traced array
    from traced values; ``like`` reads its arguments when it does."""

    def wrapper(*args, **kwargs):
        try:
            return np_fn(*args, **kwargs)  # the caller's arguments, as given
        except TypeError as e:
            if not (_conversion(e) and args and _list_of_tracers(args[0])):
                raise
        return like(*args, **kwargs)

    return functools.wraps(np_fn)(wrapper)


def _traced_array(object, dtype=None, *, copy=True, ndmin=0, **_):
    if copy is False:  # a list is always copied
        raise _copy_refused() from None
    return dnp.array(object, dtype, ndmin=ndmin)


def _traced_asarray(a, dtype=None, order=None, *, copy=None, **_):
    if copy is False:
        raise _copy_refused() from None
    return dnp.array(a, dtype)


def _of_lists(np_fn):
    """``np_fn`` whose list arguments holding tracers become traced arrays."""

    def of_lists(*args, **kwargs):
        try:
            return np_fn(*args, **kwargs)
        except TypeError as e:
            if not (_conversion(e) and (_lists(args) or _lists(kwargs.values()))):
                raise

        def made(a):
            return dnp.array(a) if _list_of_tracers(a) else a

        return np_fn(*map(made, args), **{k: made(v) for k, v in kwargs.items()})

    return functools.wraps(np_fn)(of_lists)


def _list_of_tracers(a) -> bool:
    return (type(a) is list or type(a) is tuple) and _traced(a)


def _lists(values):
    return any(_list_of_tracers(a) for a in values)


# NumPy functions of array_like arguments that users call on lists of values
_LISTS = (
    "sum", "prod", "mean", "std", "var", "max", "min", "amax", "amin", "ptp", "average",
    "median", "cumsum", "cumprod", "diff", "dot", "inner", "outer", "vdot",
)  # fmt: skip

_REPLACED = [
    (np, "array", _np_array, _array(_np_array, _traced_array)),
    (np, "asarray", _np_asarray, _array(_np_asarray, _traced_asarray)),
    (np, "asanyarray", _np_asanyarray, _array(_np_asanyarray, _traced_asarray)),
    (np.linalg, "norm", np.linalg.norm, _of_lists(np.linalg.norm)),
] + [(np, name, getattr(np, name), _of_lists(getattr(np, name))) for name in _LISTS]


def _swaps():
    """Per module: its names, a getter of them, NumPy's own functions and the wrappers."""
    out = []
    for module in {id(m): m for m, *_ in _REPLACED}.values():
        rows = [(name, o, w) for m, name, o, w in _REPLACED if m is module]
        names = [name for name, _, _ in rows]
        get = operator.itemgetter(*names, names[0])  # a tuple, even of one name
        out.append((vars(module), get,
                    (*(o for _, o, _ in rows), rows[0][1]), (*(w for _, _, w in rows), rows[0][2]),
                    dict(zip(names, (o for _, o, _ in rows))),
                    dict(zip(names, (w for _, _, w in rows)))))  # fmt: skip
    return out


_SWAPS = _swaps()


def _install():
    for names, get, originals, _, _, wrappers in _SWAPS:
        if get(names) == originals:  # the common case: one C-level pass of the module dict
            names.update(wrappers)
            continue
        for name, wrapper in wrappers.items():  # a name someone else patched stays theirs
            if names[name] is _ORIGINAL_OF[wrapper]:
                names[name] = wrapper


def _restore():
    for names, get, _, wrapped, originals, wrappers in _SWAPS:
        if get(names) == wrapped:
            names.update(originals)
            continue
        for name, wrapper in wrappers.items():
            if names[name] is wrapper:
                names[name] = originals[name]


_ORIGINAL_OF = {w: o for _, _, o, w in _REPLACED}


def enter():
    """f starts running under a transform on this thread."""
    global _active
    if _thread.depth == 0:  # a nested transform: this thread's outer one counts already
        with _lock:
            if _active == 0:
                _install()
            _active += 1
    _thread.depth += 1


def leave():
    """f has returned or raised (call in a ``finally``)."""
    global _active
    _thread.depth -= 1
    if _thread.depth == 0:
        with _lock:
            _active -= 1
            if _active == 0:
                _restore()
