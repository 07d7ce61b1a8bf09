"""``jacobian`` and ``plan_jacobian``: the one place where a Jacobian's mode is chosen.

Forward mode pushes the input basis (n directions), reverse mode pulls the output basis (m
directions); both push a whole chunk of directions through one batched pass. A probe records
``f`` once on a tape: that gives m, the number of ops and the work per direction, and when
reverse mode wins without an executor, the same tape is swept again for every chunk.

The cost model, in seconds, with N ops on the tape, work W (the elements an op touches,
summed over the tape) and p passes (chunks)::

    forward  = p * N * OP_FORWARD + n * W * ELEMENT_FORWARD
    reverse  = N * OP_RECORD + p * N * OP_REVERSE + m * W * ELEMENT_REVERSE

The per-op constants are the Python overhead of one op in each mode (a Dual op, recording a
node, one step of the sweep); the per-element constants are the cost of one element of one
direction flowing through an op (a tangent in forward mode; a cotangent times its partials in
reverse mode). They come from this machine's measurements: the 100-op chain of
``benchmarks/bench_engine.py`` gives the per-op terms (about 2.1 us per Dual op, and 2.6 us
to record a node and sweep it back, split 1.4 + 1.2 by profiling; on arrays too small for
the arithmetic to matter), and a
least-squares fit over the grid of ``python -m dualdiff bench --fit`` gives the per-element
terms (about 1.1 ns per element either way; the fit cannot separate the reverse per-op terms
from the recording, which is why those come from the chain). Only the ratio of the two sides
decides the mode, so a machine that is uniformly faster or slower keeps the same choices; on
that grid the auto mode's regret (auto time / best fixed mode) stays within 1.15.

The model is a guess where the two estimates are close: an element of a BLAS product, of an
elementwise sweep written in place and of a forward tangent do not cost the same. So when the
estimates are within ``TRIAL_RATIO`` of each other and large enough for a wrong guess to
matter, the first call times one chunk of directions in each mode and keeps the faster; the
plan (and its reason) is kept for later calls with the same shapes.
"""

import functools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dualdiff import _checks, _pool
from dualdiff._tree import flatten
from dualdiff.engine import as_input, record
from dualdiff.transforms import push_tree

MODES = ("auto", "forward", "reverse")
DEFAULT_MAX_MEMORY = 256 * 2**20  # bytes of tangents/cotangents in flight for one chunk
OVERHEAD = 64 * 2**10  # bytes of Python objects (nodes, tracers) a pass needs besides arrays

OP_FORWARD = 2.1e-6
OP_RECORD = 1.4e-6
OP_REVERSE = 1.2e-6
ELEMENT_FORWARD = 1.1e-9
ELEMENT_REVERSE = 1.2e-9

# A close call is settled by measuring: when the model's two estimates are within TRIAL_RATIO
# of each other and the dearer one is above TRIAL_MIN_COST seconds, one chunk of
# TRIAL_DIRECTIONS directions is timed in each mode (once per argument shapes). The model's
# per-element terms are one number per mode, while what an element costs differs with the op:
# a BLAS product next to in-place elementwise sweeps, for one.
TRIAL_RATIO = 2.0
TRIAL_MIN_COST = 0.02
TRIAL_DIRECTIONS = 256


@dataclass(frozen=True)
class JacobianPlan:
    """What :func:`jacobian` will do for one argument, and why (``print(plan)`` explains)."""

    mode: str
    n: int
    m: int
    chunk_size: int
    passes: int
    memory: int
    cost_forward: float
    cost_reverse: float
    ops: int
    work: int
    reason: str

    def __str__(self):
        return (
            f"Jacobian plan: {self.mode} mode, {self.passes} pass(es) of up to {self.chunk_size} "
            f"direction(s)\n"
            f"  input size n = {self.n}, output size m = {self.m}, {self.ops} ops on the tape, "
            f"work {self.work} elements per direction\n"
            f"  estimated cost: forward {self.cost_forward * 1e3:.3g} ms, "
            f"reverse {self.cost_reverse * 1e3:.3g} ms\n"
            f"  estimated memory per pass: {self.memory / 2**20:.3g} MiB\n"
            f"  why: {self.reason}"
        )


@dataclass
class _Probe:
    """One recording of ``f``: sizes, and the tape to reuse in reverse mode."""

    n: int
    m: int
    out_shape: tuple
    ops: int
    work: int
    live: int
    widest: int
    recording: tuple


def _probe(f, args, argnum):
    recording = record(f, args, (argnum,))
    _checks.output(recording.out, "jacobian", _checks.ARRAY)
    out_shape = recording.out_shape()
    work = live = widest = 0
    for size, args_size in recording.op_sizes():
        work += max(size, args_size)
        live += size
        widest = max(widest, size)  # a tangent has its result's shape, not a constant's
    n = int(np.size(args[argnum]))
    m = math.prod(out_shape)
    return _Probe(n, m, out_shape, recording.ops, work, live, widest, recording)


def _choose(probe, mode, chunk_size, max_memory, reason=None):
    """The plan for ``mode``; ``reason`` says why that mode, when the caller decided it."""
    # A direction's tangents or cotangents: every op's result (an upper bound: most die before
    # the pass ends), the seed and the result, and three arrays of the widest op (a product
    # rule's two terms and their sum). f's own values take as much again once, and the tape's
    # and tracers' Python objects up to OVERHEAD, out of the same budget.
    bytes_per_direction = 8 * (probe.live + probe.n + probe.m + 3 * probe.widest) or 8
    budget = max(1, (max_memory - OVERHEAD) // bytes_per_direction - 1)
    costs = {}
    for name, directions in (("forward", probe.n), ("reverse", probe.m)):
        k = min(chunk_size or budget, max(directions, 1))
        passes = math.ceil(directions / k) if directions else 0
        if name == "forward":
            cost = passes * probe.ops * OP_FORWARD + directions * probe.work * ELEMENT_FORWARD
        else:
            cost = probe.ops * (OP_RECORD + passes * OP_REVERSE)
            cost += directions * probe.work * ELEMENT_REVERSE
        costs[name] = (cost, k, passes)
    if mode == "auto":
        chosen = min(costs, key=lambda name: costs[name][0])
        reason = (
            f"{chosen} mode is estimated cheaper "
            f"({costs[chosen][0] * 1e3:.3g} ms vs "
            f"{costs['reverse' if chosen == 'forward' else 'forward'][0] * 1e3:.3g} ms): "
            f"{'n' if chosen == 'forward' else 'm'} = "
            f"{probe.n if chosen == 'forward' else probe.m} directions"
        )
    else:
        chosen, reason = mode, reason or f"mode={mode!r} was requested"
    _, k, passes = costs[chosen]
    limit = "chunk_size" if chunk_size else f"max_memory={max_memory / 2**20:.3g} MiB"
    if passes > 1:
        reason += f"; chunked to {k} directions per pass by {limit}"
    return JacobianPlan(
        mode=chosen, n=probe.n, m=probe.m, chunk_size=k, passes=passes,
        memory=k * bytes_per_direction, cost_forward=costs["forward"][0],
        cost_reverse=costs["reverse"][0], ops=probe.ops, work=probe.work, reason=reason,
    )  # fmt: skip


def _check_options(mode, chunk_size, max_memory):
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"dd.jacobian: mode must be one of {MODES}, got {mode!r}")
    if chunk_size is not None and not (_is_int(chunk_size) and chunk_size > 0):
        raise ValueError(
            "dd.jacobian: chunk_size must be a positive int (directions per pass) or None "
            f"(as many as fit in max_memory); got {chunk_size!r}"
        )
    if not (_is_int(max_memory) and max_memory > 0):
        raise ValueError(
            "dd.jacobian: max_memory must be a positive int, in bytes (for example "
            f"256 * 2**20 for 256 MiB); got {max_memory!r}"
        )


def _is_int(x):
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def plan_jacobian(
    f: Callable,
    *args,
    argnums: int = 0,
    mode: Literal["auto", "forward", "reverse"] = "auto",
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> JacobianPlan:
    """The dispatcher's plan for ``jacobian(f, argnums)(*args)``: mode, chunks, and why.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> plan = dd.plan_jacobian(lambda x: np.sin(x) * np.sum(x), np.ones(3))
    >>> plan.mode, plan.n, plan.m
    ('forward', 3, 3)
    """
    _check_options(mode, chunk_size, max_memory)
    nums, single = _checks.argnums(f, argnums, "plan_jacobian")
    if not single:
        raise TypeError(
            f"dd.plan_jacobian: argnums must be one int (one plan per argument); got {argnums!r}"
        )
    (argnum,) = _checks.resolve(nums, len(args), "plan_jacobian")
    args = tuple(as_input(a) if i == argnum else a for i, a in enumerate(args))
    return _plan(f, args, argnum, mode, chunk_size, max_memory)[0]


def _plan(f, args, argnum, mode, chunk_size, max_memory):
    """The plan and the probe it came from; a close call in auto mode is measured."""
    probe = _probe(f, args, argnum)
    plan = _choose(probe, mode, chunk_size, max_memory)
    lo, hi = sorted((plan.cost_forward, plan.cost_reverse))
    if mode == "auto" and hi >= TRIAL_MIN_COST and hi < TRIAL_RATIO * lo:
        k = min(TRIAL_DIRECTIONS, plan.chunk_size, probe.n, probe.m)
        forward, reverse = _trial(probe, f, args, argnum, k)
        forward, reverse = forward / k * probe.n, reverse / k * probe.m
        chosen = "forward" if forward <= reverse else "reverse"
        reason = (
            f"{chosen} mode measured cheaper on {k} directions of each ("
            f"{min(forward, reverse) * 1e3:.3g} ms vs {max(forward, reverse) * 1e3:.3g} ms "
            f"for all), the model's estimates being within {TRIAL_RATIO:g}x of each other"
        )
        plan = _choose(probe, chosen, chunk_size, max_memory, reason)
        if chosen == "forward":  # the reverse trial's buffers, kept for reuse, would sit idle
            _pool.release_memory()
    return plan, probe


def _trial(probe, f, args, argnum, k):
    """Seconds for ``k`` directions in each mode (the reverse one sweeps the probe's tape)."""
    start = time.perf_counter()
    _forward_chunk(f, args, argnum, 0, k)
    middle = time.perf_counter()
    _sweep(probe.recording, probe.out_shape, 0, k)
    return middle - start, time.perf_counter() - middle


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    *,
    mode: Literal["auto", "forward", "reverse"] = "auto",
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    executor: Executor | None = None,
    sparse: bool = False,
) -> Callable:
    """Jacobian of ``f`` with shape ``out.shape + in.shape``, by the cheaper mode, in chunks.

    Parameters
    ----------
    f : callable
        Function of arrays with one array output, written with ``numpy``.
    argnums : int or tuple of int
        Arguments to differentiate; a tuple gives a tuple of Jacobians.
    mode : {"auto", "forward", "reverse"}
        ``"forward"`` pushes the input basis, ``"reverse"`` pulls the output basis; ``"auto"``
        lets the cost model choose (see :func:`plan_jacobian` to see the choice and why).
    chunk_size : int, optional
        Directions per batched pass; by default as many as fit in ``max_memory``.
    max_memory : int
        Bytes of working memory beside the Jacobian itself (default 256 MiB): the tangents or
        cotangents in flight, their temporaries and ``f``'s own values, as estimated from one
        recording of ``f``; the passes are chunked to fit (one direction per pass at least).
        With an executor, each pass running at once takes as much.
    executor : concurrent.futures.Executor, optional
        Runs the chunks; any executor works (a thread pool, or a ``dask.distributed``
        client's ``get_executor()`` to spread a large Jacobian over many machines).
    sparse : bool
        Detect the Jacobian's structural sparsity, color it, and return a
        ``scipy.sparse.csr_array`` of shape ``(out.size, in.size)`` computed in one batched
        pass per chunk of colors; pattern and coloring are kept per argument shapes and
        reused at every new x (see :mod:`dualdiff.sparse`). ``mode="auto"`` then takes the
        side with fewer colors.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacobian(lambda x: np.array([1.0, 2.0]) * np.sum(x ** 2))(np.array([1.0, 3.0]))
    array([[ 2.,  6.],
           [ 4., 12.]])
    """
    _check_options(mode, chunk_size, max_memory)
    nums, single = _checks.argnums(f, argnums, "jacobian")
    if sparse:
        if executor is not None:
            raise ValueError(
                "dd.jacobian: sparse=True computes its few compressed passes locally: no executor"
            )
        from dualdiff.sparse import sparse_jacobian  # sparse builds on this module

        return sparse_jacobian(f, argnums, mode=mode, chunk_size=chunk_size, max_memory=max_memory)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(
            "dd.jacobian: executor must be a concurrent.futures.Executor (an object with a "
            f"submit method), or None to run the passes here; got {_checks.describe(executor)}"
        )
    plans = {}  # the probe runs once per argument shapes; later calls reuse its plan

    def jac(*args, **kwargs):
        _checks.positional(kwargs, "jacobian")
        nums_ = _checks.resolve(nums, len(args), "jacobian")
        args = tuple(as_input(a) if i in nums_ else a for i, a in enumerate(args))
        key = tuple(np.shape(a) for a in args)
        jacs = []
        for i in nums_:
            recording = None
            if (i, key) not in plans:
                plan, probe = _plan(f, args, i, mode, chunk_size, max_memory)
                plans[i, key] = (plan, probe.out_shape)
                if plan.mode == "reverse":  # else the probe's values go before the passes run
                    recording = probe.recording
                del probe
            plan, out_shape = plans[i, key]
            jacs.append(_run(plan, f, args, i, out_shape, executor, recording))
        return jacs[0] if single else tuple(jacs)

    return jac


def _run(plan, f, args, argnum, out_shape, executor, recording):
    """Carry out ``plan``: chunks of directions, sequentially or on ``executor``."""
    shape = tuple(out_shape) + tuple(np.shape(args[argnum]))
    if plan.n == 0 or plan.m == 0:  # nothing to push or pull
        return np.zeros(shape)
    forward = plan.mode == "forward"
    total = plan.n if forward else plan.m
    k = plan.chunk_size
    bounds = [(s, min(s + k, total)) for s in range(0, total, k)]
    J = np.empty((plan.m, plan.n))  # rows: outputs, columns: inputs; blocks land in place
    if executor is not None:
        task = _forward_chunk if forward else _reverse_chunk
        futures = [executor.submit(task, f, args, argnum, a, b) for a, b in bounds]
        for (a, b), future in zip(bounds, futures):
            _place(J, future.result(), a, b, forward)
    else:  # reverse mode sweeps one recording per chunk (the probe's, when it just ran)
        if not forward and recording is None:
            recording = record(f, args, (argnum,))
        for a, b in bounds:
            if forward:
                block = _forward_chunk(f, args, argnum, a, b)
            else:
                block = _sweep(recording, out_shape, a, b)
            if len(bounds) == 1 and block.ndim == 2 and block.flags.writeable:
                # one pass over vectors: the block is the Jacobian (a read-only block may be
                # the cached basis itself, as for f(x) = x, and is copied instead)
                J = block.T if forward else block
                break
            _place(J, block, a, b, forward)
    return _pool.handed(J.reshape(shape), flatten(args)[0])


def _place(J, block, start, stop, forward):
    """Write one chunk's block into the Jacobian: columns (forward) or rows (reverse)."""
    block = np.reshape(block, (stop - start, -1))
    if forward:
        J[:, start:stop] = block.T
    else:
        J[start:stop, :] = block


def _basis_chunk(shape, start, stop):
    """Rows ``start:stop`` of the identity basis for a primal of ``shape``.

    A small whole basis (up to 1 MiB, one pass) is cached read-only: repeated Jacobians at new
    points push the same directions, and building them is a noticeable part of a small
    Jacobian's cost. Chunks of a basis pushed in several passes are not: the cache would hold
    memory beyond the budget that chunked them."""
    size = int(np.prod(shape, dtype=np.int64))
    if start == 0 and stop == size and size * size <= 2**17:
        return _cached_basis_chunk(shape, start, stop)
    return _build_basis_chunk(shape, start, stop)


@functools.lru_cache(maxsize=16)
def _cached_basis_chunk(shape, start, stop):
    chunk = _build_basis_chunk(shape, start, stop)
    chunk.flags.writeable = False
    return chunk


def _build_basis_chunk(shape, start, stop):
    size = int(np.prod(shape, dtype=np.int64))
    rows = np.zeros((stop - start, size))
    rows[np.arange(stop - start), np.arange(start, stop)] = 1.0
    return rows.reshape((stop - start,) + tuple(shape))


def _forward_chunk(f, args, argnum, start, stop):
    """Tangents of the output for input basis directions ``start:stop``: (k, *out.shape)."""
    tangents = [None] * len(args)
    tangents[argnum] = _basis_chunk(np.shape(args[argnum]), start, stop)
    return push_tree(f, args, tangents)


def _reverse_chunk(f, args, argnum, start, stop):
    """Cotangents of the input for output basis directions ``start:stop``: (k, *in.shape)."""
    recording = record(f, args, (argnum,))
    return _sweep(recording, recording.out_shape(), start, stop)


def _sweep(recording, out_shape, start, stop):
    return recording.pull(_basis_chunk(out_shape, start, stop))[0]
