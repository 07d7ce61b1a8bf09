"""``dd.replay``: record a transform once per argument signature, then run only its NumPy calls.

The first call with a new signature (the shapes, dtypes and layout of the array arguments, and
the values of every other argument) runs the transform on captures (``_replay_capture``) and
compiles what they recorded into straight-line Python (``_replay_code``). Later calls run that
code: forward values and the sweep, into buffers allocated once, with no tracer, no rule
lookup and no Python from f. A guard that fails (a branch taken the other way, an index that
moved, a constant changed in place) records again; the recordings of one function are kept up
to a bound, most recently used first.
"""

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from dualdiff._replay_capture import Miss, Program
from dualdiff._replay_code import Replay, compile_program
from dualdiff._tracer import Tracer
from dualdiff.options import engine_options

__all__ = ["Replayed", "replay", "replay_derivatives"]

_STATIC = (bool, int, float, complex, str, bytes, type(None), np.generic, np.dtype)


def replay(fun: Callable, *, max_recordings: int = 8) -> "Replayed":
    """``fun`` (a transform such as ``dd.value_and_grad(f)``, or any NumPy function) recorded
    once per argument signature and replayed as its NumPy calls alone.

    Parameters
    ----------
    fun : callable
        Any function of arrays written with NumPy: a dualdiff transform (``dd.grad(f)``,
        ``dd.value_and_grad(f)``, ``dd.hessian(f)``, ``dd.jacobian(f)``, nested ones), or a
        step function that calls one.
    max_recordings : int
        How many recordings to keep (different signatures, or the two sides of a branch);
        the least recently made is dropped first.

    Returns
    -------
    Replayed
        Call it as ``fun``. Array arguments are inputs of the recording; every other argument
        (numbers, strings, callables) is part of its signature, as JAX's static arguments.

    Notes
    -----
    The answer is always ``fun``'s at the new point: every place where f turned a traced value
    into Python (``if x > 0``, ``while``, ``int(np.argmax(x))``, ``float(...)``, a boolean
    mask's count) is checked at each call and a different outcome records again; so is the
    content of every array f reads that something else could change in place. Python side
    effects of f (printing, appending to a list, drawing random numbers with ``np.random``) run
    when it is recorded, not at every call, as under ``jax.jit``. A global or closure variable
    of f's functions rebound since (``scale = 3.0``, ``W = W + 1``) records again; an object's
    attribute or a dict's item rebound (``self.w = w2``, ``d["w"] = w2``) is not seen: pass
    such arrays as arguments. A call that raises at the new point (``LinAlgError``, a
    ``FloatingPointError`` under the caller's ``np.errstate``), and every call of a signature
    where f sets ``np.errstate`` or warnings filters itself, run f directly (a warning
    replay gave before such an error then appears twice). The results are new arrays each call.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> fast = dd.replay(dd.value_and_grad(lambda x: np.sum(np.sin(x) ** 2)))
    >>> value, g = fast(np.array([0.5, 1.0]))
    >>> value, g = fast(np.array([0.1, 0.2]))  # replayed: no Python from f runs
    >>> bool(np.allclose(g, np.sin(2 * np.array([0.1, 0.2]))))
    True
    >>> fast.stats()["recordings"], fast.stats()["replays"]
    (1, 1)
    """
    if not callable(fun):
        raise TypeError(f"dd.replay: expected a callable, got {type(fun).__name__}")
    if type(max_recordings) is not int or max_recordings < 1:
        raise ValueError(
            f"dd.replay: max_recordings must be a positive int, got {max_recordings!r}"
        )
    return Replayed(fun, max_recordings)


class Replayed:
    """A replayed function (see :func:`replay`): call it as the function it wraps."""

    def __init__(self, fun, max_recordings=8):
        self.__wrapped__ = fun
        self._max = max_recordings
        self._cache: dict = {}  # signature -> tuple of Replay, most recently used first
        self._order: list = []  # (signature, Replay) in the order they were recorded
        self._lock = threading.RLock()
        # "other": calls not replayed (traced, recorded, or calling f directly)
        self._counts = {"replays": 0, "other": 0, "recordings": 0, "misses": 0, "direct": 0}
        # The last call's arguments when all were plain ndarrays passed by position: (their
        # kinds, its signature, the recordings of that signature then); see _kinds.
        self._last = None

    def __repr__(self):
        return f"dd.replay({getattr(self.__wrapped__, '__name__', self.__wrapped__)!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        last = self._last
        if last is not None and not kwargs and len(args) == len(last[0]):
            for a, (shape, dtype, strides, writeable) in zip(args, last[0]):
                if (
                    type(a) is not np.ndarray
                    or a.dtype is not dtype
                    or a.shape != shape
                    or a.strides != strides
                    or a.flags.writeable is not writeable
                ):
                    break
            else:  # the last call's signature, found without recursing (see _kinds)
                reps = last[2]
                if reps:
                    try:
                        out = reps[0].run(*args)
                    except Miss:
                        self._counts["misses"] += 1
                        return self._replay(last[1], reps, args, args, kwargs, 1)
                    except Exception:  # noqa: BLE001  (as in _replay)
                        return self._direct(args, kwargs)
                    self._counts["replays"] += 1
                    return out
                return self._replay(last[1], reps, args, args, kwargs, 0)
        arrays = []
        try:
            key = _signature((args, kwargs), arrays)
        except _Traced:  # inside another transform: the function itself, traced as usual
            self._counts["other"] += 1
            return self.__wrapped__(*args, **kwargs)
        reps = self._cache.get(key, ())
        if not kwargs and len(arrays) == len(args) and all(type(a) is np.ndarray for a in args):
            # plain ndarrays only, by position: the next call may take the fast path
            self._last = (_kinds(args), key, reps)  # until the recordings change
        return self._replay(key, reps, arrays, args, kwargs, 0)

    def _replay(self, key, reps, arrays, args, kwargs, start):
        """The first of ``reps[start:]`` whose guards hold, else a new recording."""
        counts = self._counts
        for i in range(start, len(reps)):
            rep = reps[i]
            try:
                out = rep.run(*arrays)
            except Miss:
                counts["misses"] += 1
                continue
            except Exception:  # noqa: BLE001  (f's error here, or one f catches: f decides)
                return self._direct(args, kwargs)
            counts["replays"] += 1
            if i:  # the recording that held goes first next time (a branch taken for a while)
                self._cache[key] = (rep,) + tuple(r for r in reps if r is not rep)
                self._last = None
            return out
        counts["other"] += 1
        return self._record(key, args, kwargs, arrays)

    def _direct(self, args, kwargs):
        self._counts["other"] += 1
        self._counts["direct"] += 1
        return self.__wrapped__(*args, **kwargs)

    def stats(self) -> dict:
        """Counts of calls, replays (no recording), recordings made and failed guards."""
        c = self._counts
        return {"calls": c["replays"] + c["other"], "replays": c["replays"],
                "recordings": c["recordings"], "misses": c["misses"], "direct": c["direct"],
                "kept": len(self._order)}  # fmt: skip

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The Python code replayed for these arguments (recorded first if need be).

        Examples
        --------
        >>> import numpy as np
        >>> import dualdiff as dd
        >>> code = dd.replay(dd.grad(lambda x: np.sum(x * x))).source(np.ones(3))
        >>> code.splitlines()[0].split(", *")[0]  # then the constants, as fast locals
        'def _replay(v0'
        """
        arrays = []
        key = _signature((args, kwargs), arrays)
        if key not in self._cache:
            self._record(key, args, kwargs, arrays)
        return self._cache[key][0].source

    def _record(self, key, args, kwargs, arrays):
        with self._lock:
            prog = Program()
            cargs, ckwargs = _captured((args, kwargs), prog)
            with engine_options(large=False):  # replay has its own buffers
                out = self.__wrapped__(*cargs, **ckwargs)
            _refuse_functions(out)
            prog.finish()
            template = prog._template(out)
            del out, cargs, ckwargs
            env = _environment(self.__wrapped__)
            rep = _Direct(prog.direct) if prog.direct else compile_program(prog, template, env)
            self._counts["recordings"] += 1
            self._keep(key, rep)
        try:
            return rep.run(*arrays)
        except Exception:  # noqa: BLE001  a Miss: f is not a function of its arguments (it
            # reads a clock, a counter); or an error, or a recording made not to be replayed
            self._counts["direct"] += 1
            return self.__wrapped__(*args, **kwargs)

    def _keep(self, key, rep: Replay):
        self._last = None  # its recordings are about to change
        self._cache[key] = (rep,) + self._cache.get(key, ())
        self._order.append((key, rep))
        while len(self._order) > self._max:
            old_key, old = self._order.pop(0)
            left = tuple(r for r in self._cache[old_key] if r is not old)
            if left:
                self._cache[old_key] = left
            else:
                del self._cache[old_key]


def _environment(fun):
    """``(namespace, name, value)`` for each global and closure variable the Python functions
    of ``fun`` name (``fun`` and those it reaches through closures and globals; dualdiff's own
    only passed through): a name rebound after recording (``scale = 3.0``, ``W = W + 1``)
    makes the recording miss. Attributes and container items are not followed."""
    entries, seen, todo = [], set(), [fun]
    while todo:
        fn = todo.pop()
        fn = getattr(fn, "__func__", fn)  # a bound method
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for inner in (getattr(fn, "__wrapped__", None), getattr(fn, "func", None)):
            if callable(inner):
                todo.append(inner)
        code = getattr(fn, "__code__", None)
        if code is None:
            continue
        cells = zip(code.co_freevars, fn.__closure__ or ())
        ours = (getattr(fn, "__module__", None) or "").startswith("dualdiff.")
        for _, cell in cells:
            try:
                value = cell.cell_contents
            except ValueError:  # not yet bound
                continue
            if not ours:
                entries.append((cell, None, value))
            if callable(value):
                todo.append(value)
        if ours:
            continue
        g = fn.__globals__
        for name in _names(code):
            if name in g:
                entries.append((g, name, g[name]))
                if callable(g[name]) and not isinstance(g[name], type):
                    todo.append(g[name])
    return tuple(entries)


def _names(code):
    names, todo = set(), [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    return names


class _Direct:
    """A signature whose calls go to f itself (f sets ``np.errstate`` or warnings filters
    around its calls, which replay cannot reproduce under the caller's)."""

    def __init__(self, reason):
        self.source = f"# not replayed: {reason}; each call calls f"

    def run(self, *arrays):
        raise _CallDirect


class _CallDirect(Exception):
    """Call f directly."""


def _refuse_functions(out):
    """A function in the result (``dd.vjp``'s pullback, ``dd.linearize``'s linear map) closes
    over the values of one recording: replaying would hand back that recording's function."""
    leaves = [out]
    while leaves:
        leaf = leaves.pop()
        if type(leaf) in (tuple, list):
            leaves.extend(leaf)
        elif type(leaf) is dict:
            leaves.extend(leaf.values())
        elif callable(leaf) and not isinstance(leaf, np.ndarray | Tracer | np.generic):
            raise TypeError(
                "dd.replay: the replayed function returned a function "
                f"({getattr(leaf, '__name__', type(leaf).__name__)}), as dd.vjp and "
                "dd.linearize do; replay returns arrays. Replay the function that applies it "
                "instead: dd.replay(lambda x, ct: dd.vjp(f, x)[1](ct)), or "
                "dd.replay(lambda x, t: dd.jvp(f, (x,), (t,))), or dd.replay(dd.grad(f)), "
                "dd.replay(dd.value_and_grad(f)), dd.replay(dd.jacobian(f)), "
                "dd.replay(lambda x, v: dd.hvp(f, x, v))."
            )


class _Traced(Exception):
    """An argument is traced by an outer transform."""


def _kinds(arrays):
    """What :func:`_signature` reads of each array, as ``Replayed.__call__`` compares it: the
    same kinds (the dtype the same object) give the same signature. C-contiguity follows from
    the shape, strides and itemsize; the strides of a C-contiguous array, which the signature
    leaves out, are kept here, so the test is only stricter: a mismatch takes the full path."""
    return tuple((a.shape, a.dtype, a.strides, a.flags.writeable) for a in arrays)


def _signature(tree, arrays):
    """A hashable key of ``tree``'s structure, array layouts and other values; its arrays are
    appended to ``arrays``."""
    t = type(tree)
    if t is np.ndarray:
        arrays.append(tree)
        flags = tree.flags
        strides = None if flags.c_contiguous else tree.strides
        return (tree.shape, tree.dtype, strides, flags.writeable)
    if t is tuple or t is list:
        return (t, tuple(_signature(e, arrays) for e in tree))
    if t is dict:
        return (dict, tuple(tree), tuple(_signature(v, arrays) for v in tree.values()))
    if isinstance(tree, _STATIC):
        return (t, tree)
    if isinstance(tree, Tracer):
        raise _Traced
    if isinstance(tree, tuple):  # a namedtuple
        return (t, tuple(_signature(e, arrays) for e in tree))
    if callable(tree):
        return (t, id(tree), tree)  # held by the key: its id is not reused
    raise TypeError(
        f"dd.replay: an argument of type {t.__name__} is neither an array, a number, a string, "
        "a callable nor a tuple, list or dict of them; pass its arrays instead (a replayed "
        "function does not see changes to an object's attributes)."
    )


def _captured(tree, prog):
    """``tree`` with each array replaced by a capture of it (in :func:`_signature`'s order)."""
    t = type(tree)
    if t is np.ndarray:
        return prog.input(tree)
    if t is tuple or t is list:
        return t(_captured(e, prog) for e in tree)
    if t is dict:
        return {k: _captured(v, prog) for k, v in tree.items()}
    if isinstance(tree, tuple) and not isinstance(tree, _STATIC):
        return t(*(_captured(e, prog) for e in tree))
    return tree


class _Derivatives:
    """Replayed derivatives of one scalar or vector function ``f(x)`` for the SciPy bridge."""

    def __init__(self, f, max_recordings):
        from dualdiff.transforms import hvp, jacobian, value_and_grad

        self.value = replay(f, max_recordings=max_recordings)
        self.value_and_grad = replay(value_and_grad(f), max_recordings=max_recordings)
        self.hessp = replay(lambda x, p: hvp(f, x, p), max_recordings=max_recordings)
        self.jacobian = replay(jacobian(f), max_recordings=max_recordings)


def replay_derivatives(f: Callable[[np.ndarray], Any], *, max_recordings: int = 8) -> Any:
    """Replayed ``value(x)``, ``value_and_grad(x)``, ``hessp(x, p)`` and ``jacobian(x)`` of
    ``f``: what ``dd.optimize``'s ``replay=True`` hands SciPy.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.replay import replay_derivatives
    >>> d = replay_derivatives(lambda x: np.sum(x ** 4))
    >>> d.value_and_grad(np.array([1.0, 2.0]))[1], d.hessp(np.array([1.0, 2.0]), np.ones(2))
    (array([ 4., 32.]), array([12., 48.]))
    """
    return _Derivatives(f, max_recordings)
