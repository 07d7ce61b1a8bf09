"""The one Jacobian machinery: seeds, the chunk runner, the memory budget, the option checks
and the per-shape cache. Dense and sparse Jacobians, ``jacfwd``, ``jacrev`` and sparse Hessians
all run on it; only the choice of mode (``dualdiff.dispatch``) and the reading of the blocks
(placed in a dense array, or decompressed from a coloring by ``dualdiff.sparse``) differ.

A Jacobian is read off batched passes. Forward mode pushes a chunk of k input seeds through
``f`` in one pass and gets ``J @ s`` for each; reverse mode records ``f`` once and pulls a chunk
of k output seeds back through that recording, getting ``s @ J``. Seeds are the rows of the
identity (a dense Jacobian: one direction per element) or the indicator vectors of the groups
of a coloring (a sparse one: one direction per color). Chunks are as large as the memory
budget allows, estimated from one recording of ``f``.
"""

import itertools
import math

import numpy as np

from dualdiff import _checks
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.engine import primal, push, record, value_of
from dualdiff.large import pool

MODES = ("auto", "forward", "reverse")
DEFAULT_MAX_MEMORY = 256 * 2**20  # bytes of tangents/cotangents in flight for one chunk
OVERHEAD = 64 * 2**10  # bytes of Python objects (nodes, tracers) a pass needs besides arrays
SEED_CACHE = 2**22  # bytes of seeds a per-shape plan keeps between calls; more are rebuilt


def check_options(mode, chunk_size, max_memory, caller="dd.jacobian"):
    """Named errors for a mode, chunk size or memory budget a Jacobian cannot take."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{caller}: mode must be one of {MODES}, got {mode!r}")
    if chunk_size is not None and not (_is_int(chunk_size) and chunk_size > 0):
        raise ValueError(
            f"{caller}: chunk_size must be a positive int (directions per pass) or None "
            f"(as many as fit in max_memory); got {chunk_size!r}"
        )
    if not (_is_int(max_memory) and max_memory > 0):
        raise ValueError(
            f"{caller}: max_memory must be a positive int, in bytes (for example "
            f"256 * 2**20 for 256 MiB); got {max_memory!r}"
        )


def check_executor(executor, caller="dd.jacobian"):
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"{caller}: executor must be a concurrent.futures.Executor (an object with a "
            f"submit method), or None to run the passes here; got {_checks.describe(executor)}"
        )


def _is_int(x):
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


# -- the memory budget -------------------------------------------------------------------------


def direction_bytes(n, m, op_sizes=None):
    """Bytes one direction needs in flight, from a recording's ``op_sizes()`` when there is one.

    Every op's result (an upper bound: most die before the pass ends), the seed and the
    result, and three arrays of the widest op (a product rule's two terms and their sum).
    Without a recording (a sparse Jacobian's forward passes record nothing), ``f`` counts as
    one op as large as its input and output together."""
    live = widest = 0
    for size, _ in [(n + m, 0)] if op_sizes is None else op_sizes:
        live += size
        widest = max(widest, size)  # a tangent has its result's shape, not a constant's
    return 8 * (live + n + m + 3 * widest) or 8


def chunk_directions(per_direction, max_memory, chunk_size=None):
    """Directions per pass: ``chunk_size``, or as many as fit in ``max_memory`` (one at least).
    ``f``'s own values take a direction's worth once, and Python objects up to ``OVERHEAD``."""
    return chunk_size or max(1, (max_memory - OVERHEAD) // per_direction - 1)


# -- seeds -------------------------------------------------------------------------------------


class Seeds:
    """Directions by groups: direction c is the indicator vector of the elements colored c.

    Without ``colors`` every one of ``size`` elements has a group of its own: the rows of the
    identity. A plan kept per shape passes ``max_memory``: its seeds are then kept between
    calls (read-only) when they take at most ``SEED_CACHE`` bytes and an eighth of the budget.
    """

    def __init__(self, size, colors=None, max_memory=None):
        self.size = size
        self.colors = colors
        self.count = size if colors is None else int(colors.max(initial=-1)) + 1
        total = 8 * self.count * size
        self._kept = {} if max_memory and total <= min(SEED_CACHE, max_memory // 8) else None

    def bounds(self, chunk_size):
        """``(start, stop)`` of each chunk of at most ``chunk_size`` directions."""
        k = max(1, chunk_size)
        return [(s, min(s + k, self.count)) for s in range(0, self.count, k)]

    def rows(self, start, stop):
        """Directions ``start:stop`` as an array of shape ``(stop - start, size)``."""
        if self._kept is not None and (start, stop) in self._kept:
            return self._kept[start, stop]
        rows = np.zeros((stop - start, self.size))
        if self.colors is None:
            rows[np.arange(stop - start), np.arange(start, stop)] = 1.0
        else:
            chosen = (self.colors >= start) & (self.colors < stop)
            rows[self.colors[chosen] - start, np.flatnonzero(chosen)] = 1.0
        if self._kept is not None:
            rows.flags.writeable = False
            self._kept[start, stop] = rows
        return rows


class Layout:
    """The leaves of a tree laid end to end: a flat direction's columns, leaf by leaf."""

    def __init__(self, tree):
        leaves, self.unflatten = flatten(tree)
        self.shapes = [np.shape(value_of(x)) for x in leaves]
        stops = list(itertools.accumulate(math.prod(s) for s in self.shapes))
        self.bounds = list(zip([0] + stops[:-1], stops))
        self.size = stops[-1] if stops else 0

    def split(self, rows):
        """Flat directions ``(k, size)`` as the tree, each leaf ``(k, *leaf.shape)``."""
        k = rows.shape[0]
        return self.unflatten(
            [rows[:, a:b].reshape((k,) + s) for (a, b), s in zip(self.bounds, self.shapes)]
        )


def seeded(args, nums, single):
    """The differentiated part of ``args``: one argument, or a tuple of them."""
    return args[nums[0]] if single else tuple(args[i] for i in nums)


def with_seeded(args, nums, single, part):
    """``args`` (a list) with the differentiated part replaced by ``part``."""
    args = list(args)
    for i, p in zip(nums, (part,) if single else part):
        args[i] = p
    return args


# -- the chunk runner --------------------------------------------------------------------------


def run(f, args, nums, single, mode, seeds, chunk_size, *, executor=None, recording=None):
    """``(start, stop, block)`` for each chunk of ``seeds``, in order, one chunk at a time.

    Forward: ``block`` is the tree of output tangents, each leaf ``(k, *out.shape)``, for
    input directions. Reverse: the input cotangents, each leaf ``(k, *in.shape)`` in the
    structure of the differentiated part, for output directions, every chunk swept through
    one recording (``recording``, when given). ``executor`` runs each chunk as a task (a
    reverse task records ``f`` on its own)."""
    bounds = seeds.bounds(chunk_size)
    task = _push_chunk if mode == "forward" else _pull_chunk
    if executor is not None:
        futures = [executor.submit(task, f, args, nums, single, seeds, a, b) for a, b in bounds]
        return ((a, b, future.result()) for (a, b), future in zip(bounds, futures))
    if mode == "forward":
        return ((a, b, _push_chunk(f, args, nums, single, seeds, a, b)) for a, b in bounds)
    recording = recording or record(f, args, nums)
    layout = Layout(recording.out)
    return ((a, b, pull(recording, layout, single, seeds.rows(a, b))) for a, b in bounds)


def _push_chunk(f, args, nums, single, seeds, start, stop):
    return push_rows(f, args, nums, single, seeds.rows(start, stop))


def _pull_chunk(f, args, nums, single, seeds, start, stop):
    recording = record(f, args, nums)
    return pull(recording, Layout(recording.out), single, seeds.rows(start, stop))


def push_rows(f, args, nums, single, rows):
    """Output tangents of ``f`` for flat input directions ``rows`` (k, n) of the seeded part."""
    layout = Layout(seeded(args, nums, single))
    tangents = with_seeded([None] * len(args), nums, single, layout.split(rows))
    return push_tree(f, args, tangents)


def pull(recording, layout, single, rows, release=False):
    """Input cotangents for flat output directions ``rows`` (k, m), laid out by ``layout``."""
    grads = recording.pull(layout.split(rows), release=release)
    return grads[0] if single else tuple(grads)


def push_tree(f, args, batched_tangents, caller=None):
    """Batched output tangents of ``f`` for batched input tangents (leading axis k); ``caller``
    names the transform whose output check runs on f's output."""
    out, level = push(f, args, batched_tangents)
    if caller is not None:
        _checks.output(out, caller)
    k = next((t.shape[0] for t in flatten(batched_tangents)[0] if t is not None), 0)
    leaves, unflatten = flatten(out)
    return unflatten([tangent_of(o, level, k) for o in leaves])


def tangent_of(o, level, k):
    """The batched tangent of output ``o`` at ``level``, the caller's own; zeros for a constant."""
    if isinstance(o, Dual) and o.level == level:
        return pool.disown(o.tangent)  # the caller's: the pool forgets it
    value = primal(o, level)
    dtype = getattr(value, "dtype", None)  # a float32 output's zeros stay float32
    floating = dtype is not None and dtype.kind == "f"
    return np.zeros((k, *np.shape(value)), dtype if floating else np.float64)


def gradient(f, argnum):
    """``*args -> the gradient of a scalar f`` (reverse mode), to push tangents through (a
    Hessian's columns are the gradient's tangents: forward over reverse)."""

    def gradient_f(*args):
        recording = record(f, args, (argnum,))
        _checks.output(recording.out, "hessian", _checks.SCALAR)
        seed = np.ones((1,) + recording.out_shape())
        return recording.pull(seed, release=True)[0][0]  # [0]: the batch axis of one seed

    return gradient_f


# -- one plan per argument shapes --------------------------------------------------------------


class PerShape:
    """``make(args, *key)``, built at the first call with arguments of that description and
    key, and kept: a Jacobian's plan (mode, chunks, seeds, pattern, coloring) depends on the
    arguments' shapes, and on the Python ints, strings and flags among them (``x[:n]``: an
    output shape set by a number). Floats count by type only: they are data, new at each call.
    A plan found stale at a call (f's output shape changed anyway) is replaced (``rebuild``).
    """

    def __init__(self, make):
        self.make = make
        self.built = {}

    def __call__(self, args, *key):
        index = (key, tuple(describe(a) for a in args))
        if index not in self.built:
            self.built[index] = self.make(args, *key)
        return self.built[index]

    def rebuild(self, args, *key):
        """A new plan for ``args``, replacing the kept one."""
        self.built[key, tuple(describe(a) for a in args)] = built = self.make(args, *key)
        return built


class Stale(Exception):
    """A kept plan met an f whose output shape changed at the same argument description."""


def describe(a):
    """What a kept plan depends on in argument ``a`` (hashable)."""
    if isinstance(a, tuple | list):
        return type(a), tuple(describe(x) for x in a)
    if type(a) is dict:
        return dict, tuple((k, describe(v)) for k, v in a.items())
    if a is None or isinstance(a, int | str | np.integer | np.bool_):
        return type(a), a
    shape = getattr(a, "shape", None)
    if shape is not None:
        return tuple(shape), getattr(a, "dtype", None)  # a dtype is hashable; its str is slow
    return type(a)
