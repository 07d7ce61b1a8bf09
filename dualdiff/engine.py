"""The engine API the transforms, the Jacobian machinery and the optimizers build on.

``record(f, args, argnums)`` runs ``f`` once with the leaves of the chosen arguments traced on
a fresh tape and returns a :class:`Recording`; its ``pull`` sweeps that tape back from batched
output cotangents, as often as wanted. ``push(f, args, tangents)`` is forward mode's
counterpart. Nothing outside the engine reads a tape or a node.
"""

import math

import numpy as np

from dualdiff import _array_scope
from dualdiff._checks import as_input, not_none, weak_dtype  # noqa: F401  (as_input: API)
from dualdiff._registry import VJP
from dualdiff._tracer import Tracer, new_level
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.large import pool
from dualdiff.tape import Function, Var, backward, leaf


def primal(x, level, held=()):
    """``x``'s value at ``level``, the caller's own (``pool.handed``): the memory of an input
    among ``held`` (``f`` returned it, or a view of it) or of a constant is copied."""
    if isinstance(x, Tracer) and x.level == level:
        return pool.handed(x.value, held)
    return x.copy() if type(x) is np.ndarray else x


class Recording:
    """``f`` run once with some arguments traced on a tape, ready to be swept back.

    Attributes
    ----------
    out : f's output, as f returned it (tracers of ``level`` where it depends on the inputs).
    level : the trace level of the recording.
    ops : the number of recorded ops (the leaves excluded).
    """

    __slots__ = ("out", "level", "_tape", "_n_leaves", "_rebuild", "_single", "_dtypes")

    def __init__(self, out, level, tape, n_leaves, rebuild, single=False):
        self.out = out
        self.level = level
        self._tape = tape
        self._n_leaves = n_leaves
        self._rebuild = rebuild
        self._single = single  # one argument, a bare array: pull returns [its cotangent]
        # each leaf's dtype: its cotangent has it, as in JAX and PyTorch (float32 stays float32)
        self._dtypes = [tape[i].ans.dtype for i in range(n_leaves)]

    @property
    def ops(self):
        return len(self._tape) - self._n_leaves

    @property
    def leaf_sizes(self):
        """Elements of each traced input leaf, in recording order."""
        return [math.prod(s) for _, shapes in self._rebuild for s in shapes]

    def calls_any(self, fns):
        """Whether a recorded op is one of ``fns`` (NumPy functions with reverse rules)."""
        rules = {rule for fn in fns for rule in VJP.get(fn, {}).values()}
        return any(
            rule in rules
            for node in self._tape[self._n_leaves :]
            for _, _, rule in getattr(node, "parents", None) or ()
            if isinstance(node, Function)
        )

    def op_sizes(self):
        """``(output elements, largest argument elements)`` of each recorded op, in order:
        what the dispatcher's cost model reads."""
        tape, n = self._tape, self._n_leaves
        sizes = [node.size(()) for node in tape[:n]]
        result = []
        for node in tape[n:]:
            size = node.size(sizes)
            sizes.append(size)
            args = [a for a in getattr(node, "args", None) or () if _sized(a)]
            result.append((size, max(map(np.size, args), default=0)))
        return result

    def out_shape(self):
        """The shape of a single-array output, read without computing a deferred value."""
        out = self.out
        return tuple(out.shape) if isinstance(out, Tracer) else np.shape(out)

    def pull(self, ct, *, release=False):
        """Cotangents of the traced arguments for output cotangents ``ct`` (batched: each leaf
        ``(k, *out_leaf.shape)``, in the structure of ``out``): one structure per argnum, each
        leaf ``(k, *in_leaf.shape)``.

        ``release``: the recording is not swept again, so the sweep frees its nodes as it goes.
        """
        out = self.out
        if type(ct) is np.ndarray and isinstance(out, Var):  # one array: no structure to walk
            k, seeds = ct.shape[0], {out.index: ct} if out.level == self.level else {}
        else:
            cts, _ = flatten(ct)
            k = np.shape(cts[0])[0] if cts else 1
            seeds = self._seeds(cts)
        if release:  # what only the output's value needed is freed before the sweep
            self.out = out = None
        # the caller's: the pool never hands out a pooled cotangent (or what it views) again
        swept = backward(self._tape, seeds, self._n_leaves, release)
        leaves = [_of_dtype(pool.disown(g), d) for g, d in zip(swept, self._dtypes)]
        if len(leaves) == 1 and leaves[0] is not None and self._single:
            return [leaves[0]]
        result, start = [], 0
        for unflatten, shapes in self._rebuild:
            chunk = leaves[start : start + len(shapes)]
            dtypes = self._dtypes[start : start + len(shapes)]
            start += len(shapes)
            result.append(unflatten([np.zeros((k, *s), d) if g is None else g
                                     for g, s, d in zip(chunk, shapes, dtypes)]))  # fmt: skip
        return result

    def zeros(self, k):
        """What :meth:`pull` returns when no cotangent reaches the inputs, for a batch of k."""
        result, start = [], 0
        for unflatten, shapes in self._rebuild:  # each leaf in its input's dtype
            dtypes = self._dtypes[start : start + len(shapes)]
            start += len(shapes)
            result.append(unflatten([np.zeros((k, *s), d) for s, d in zip(shapes, dtypes)]))
        return result

    def _seeds(self, cts):
        """``{node index: cotangent}`` for the outputs traced at this level."""
        outs, _ = flatten(self.out)
        seeds = {}
        level = self.level
        for o, g in zip(outs, cts):
            if isinstance(o, Var) and o.level == level:
                seeds[o.index] = g if o.index not in seeds else seeds[o.index] + g
        return seeds


def record(f, args, argnums, name=None):
    """Run ``f(*args)`` with the leaves of ``args[i]`` for ``i`` in ``argnums`` traced on a
    fresh tape; return the :class:`Recording`. ``name``: the transform (complex inputs)."""
    level = new_level()
    tape = []
    args = list(args)
    rebuild = []
    not_none(args, argnums)
    flat = {i: flatten(args[i]) for i in argnums}
    weak = weak_dtype([a for leaves, _ in flat.values() for a in leaves])
    for i in argnums:
        leaves, unflatten = flat[i]
        rebuild.append((unflatten, [np.shape(value_of(x)) for x in leaves]))
        args[i] = unflatten([leaf(as_input(x, weak, name), tape, level) for x in leaves])
    n_leaves = len(tape)
    single = len(argnums) == 1 and not isinstance(args[argnums[0]], tuple | list | dict)
    out = unwrapped(f, args)
    return Recording(out, level, tape, n_leaves, rebuild, single)


def unwrapped(f, args):
    """``f(*args)``, dualdiff's conversion error unwrapped from the ValueError NumPy raises
    when a traced value is written into a plain array's element (``out[0] = x``).

    While f runs, ``np.array([a, b])`` of traced values (and ``np.asarray``, ``np.mean`` of a
    list, ...) builds a traced array on this thread (``_array_scope``)."""
    _array_scope.enter()
    try:
        return f(*args)
    except ValueError as e:
        if getattr(e.__cause__, "dualdiff_conversion", False):
            raise e.__cause__ from None
        raise
    finally:
        _array_scope.leave()


def _sized(a):
    return isinstance(a, np.ndarray | Tracer)


def value_of(x):
    return x.value if isinstance(x, Tracer) else x


def _of_dtype(g, dtype):
    """A real cotangent in its leaf's floating dtype (the sweep may have promoted it); a traced
    one (forward over reverse) is cast by the traced astype, its tangent with it."""
    if type(g) is np.ndarray:
        if g.dtype != dtype and g.dtype.kind == dtype.kind == "f":
            return g.astype(dtype)  # never a complex cotangent: its imaginary part is kept
    elif isinstance(g, Tracer) and g.dtype != dtype and g.dtype.kind == dtype.kind == "f":
        return g.astype(dtype)
    return g


def push(f, args, tangents, name=None):
    """Run ``f`` with Duals for ``args`` carrying batched ``tangents`` (None for constants);
    return ``(out, level)``. ``name``: the transform (complex inputs)."""
    level = new_level()
    flat = [None if t is None else flatten(x) for x, t in zip(args, tangents)]
    weak = weak_dtype([a for fx in flat if fx is not None for a in fx[0]])
    wrapped = []
    for x, t, fx in zip(args, tangents, flat):
        if t is None:
            wrapped.append(x)
            continue
        leaves, unflatten = fx
        t_leaves, _ = flatten(t)
        duals = []
        for a, b in zip(leaves, t_leaves):
            a = as_input(a, weak, name)
            dtype = a.dtype
            if b.dtype != dtype and b.dtype.kind == dtype.kind == "f":  # the primal's dtype
                b = b.astype(dtype)
            duals.append(Dual(a, b, level))
        wrapped.append(unflatten(duals))
    out = unwrapped(f, wrapped)
    return out, level
