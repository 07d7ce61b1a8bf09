"""The cost model and the choice of mode: the one place a Jacobian's mode is chosen.

Forward mode pushes the input basis (n directions), reverse mode pulls the output basis (m
directions); both push a whole chunk of directions through one batched pass
(``dualdiff._jacobian``). A probe records ``f`` once on a tape: that gives m, the number of ops
and the work per direction, and when reverse mode wins without an executor, the same tape is
swept again for every chunk.

The cost model, in seconds, with N ops on the tape, work W (the elements an op touches,
summed over the tape) and p passes (chunks)::

    forward  = p * N * OP_FORWARD + n * W * ELEMENT_FORWARD
    reverse  = N * OP_RECORD + p * N * OP_REVERSE + m * W * ELEMENT_REVERSE

The per-op constants are the Python overhead of one op in each mode (a Dual op, recording a
node, one step of the sweep), measured on the 100-op chain of ``benchmarks/bench_engine.py``
on arrays too small for the arithmetic to matter; the per-element constants are the cost of
one element of one direction flowing through an op, fitted over the grid of
``python -m dualdiff bench --fit``, which prints both the fitted values and those in use. Only
the ratio of the two sides decides the mode, so a machine that is uniformly faster or slower
keeps the same choices.

The model is a guess where the two estimates are close: an element of a BLAS product, of an
elementwise sweep written in place and of a forward tangent do not cost the same. So when the
estimates are within ``TRIAL_RATIO`` of each other and large enough for a wrong guess to
matter, the first call times one chunk of directions in each mode and keeps the faster; the
plan (and its reason) is kept for later calls with the same shapes.

A sparse Jacobian's mode is the side with fewer colors (:func:`sparse_mode`): its passes
carry one direction per color.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dualdiff import _checks
from dualdiff._coloring import color_columns, color_rows
from dualdiff._jacobian import (
    DEFAULT_MAX_MEMORY,
    PerShape,
    Seeds,
    check_options,
    chunk_directions,
    direction_bytes,
    run,
)
from dualdiff._tree import flatten
from dualdiff.engine import as_input, record
from dualdiff.large import pool

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
    per_direction: int
    recording: object


def _probe(f, args, argnum):
    recording = record(f, args, (argnum,))
    _checks.output(recording.out, "jacobian", _checks.ARRAY)
    out_shape = recording.out_shape()
    sizes = recording.op_sizes()
    work = sum(max(size, args_size) for size, args_size in sizes)
    n = int(np.size(args[argnum]))
    m = math.prod(out_shape)
    per_direction = direction_bytes(n, m, sizes)
    return _Probe(n, m, out_shape, recording.ops, work, per_direction, recording)


def _choose(probe, mode, chunk_size, max_memory, reason=None):
    """The plan for ``mode``; ``reason`` says why that mode, when the caller decided it."""
    budget = chunk_directions(probe.per_direction, max_memory)
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
        memory=k * probe.per_direction, cost_forward=costs["forward"][0],
        cost_reverse=costs["reverse"][0], ops=probe.ops, work=probe.work, reason=reason,
    )  # fmt: skip


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
    check_options(mode, chunk_size, max_memory)
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
            pool.release_memory()
    return plan, probe


def _trial(probe, f, args, argnum, k):
    """Seconds for ``k`` directions in each mode (the reverse one sweeps the probe's tape)."""
    nums = (argnum,)
    start = time.perf_counter()
    for _ in run(f, args, nums, True, "forward", Seeds(probe.n), k):
        break
    middle = time.perf_counter()
    for _ in run(f, args, nums, True, "reverse", Seeds(probe.m), k, recording=probe.recording):
        break
    return middle - start, time.perf_counter() - middle


def sparse_mode(pattern, mode):
    """``(mode, colors)`` for a sparse Jacobian of ``pattern``: forward colors columns,
    reverse colors rows; ``"auto"`` takes the side with fewer colors (forward on a tie)."""
    if mode == "forward":
        return "forward", color_columns(pattern)
    if mode == "reverse":
        return "reverse", color_rows(pattern)
    # A row with k nonzeros needs k column colors (a column with k, k row colors): color the
    # side with the smaller bound first, the other only if it can still win. This skips the
    # dense intersection graph a dense row or column would build.
    bound_cols = int(np.diff(pattern.indptr).max(initial=0))
    bound_rows = int(np.bincount(pattern.indices, minlength=pattern.shape[1]).max(initial=0))
    if bound_cols <= bound_rows:
        cols = color_columns(pattern)
        if bound_rows >= cols.max(initial=-1) + 1:
            return "forward", cols
        rows = color_rows(pattern)
    else:
        rows = color_rows(pattern)
        if bound_cols > rows.max(initial=-1) + 1:
            return "reverse", rows
        cols = color_columns(pattern)
    if cols.max(initial=-1) <= rows.max(initial=-1):
        return "forward", cols
    return "reverse", rows


# -- dense Jacobians: one plan per argument and shapes -------------------------------------------


def dense_jacobian(f, nums, single, mode, chunk_size, max_memory, executor):
    """``jacobian(f, argnums)`` without sparsity: the probe runs once per argument shapes,
    later calls reuse its plan and seeds."""
    plans = PerShape(lambda args, i: _Dense(f, args, i, mode, chunk_size, max_memory))

    def jac(*args, **kwargs):
        nums_ = _checks.resolve(nums, len(args), "jacobian")
        args = tuple(as_input(a) if i in nums_ else a for i, a in enumerate(args))
        if kwargs:  # another f at each call: its plan is made for the call, never kept
            g = _checks.bound(f, kwargs)
            jacs = [_Dense(g, args, i, mode, chunk_size, max_memory)(g, args, executor)
                    for i in nums_]  # fmt: skip
        else:
            jacs = [plans(args, i)(f, args, executor) for i in nums_]
        return jacs[0] if single else tuple(jacs)

    return jac


class _Dense:
    """One argument's plan and seeds; the probe's recording serves the first reverse call."""

    def __init__(self, f, args, argnum, mode, chunk_size, max_memory):
        self.plan, probe = _plan(f, args, argnum, mode, chunk_size, max_memory)
        self.argnum = argnum
        self.out_shape = probe.out_shape
        forward = self.plan.mode == "forward"
        self.seeds = Seeds(self.plan.n if forward else self.plan.m, max_memory=max_memory)
        # else the probe's values go before the passes run
        self.recording = None if forward else probe.recording

    def __call__(self, f, args, executor):
        plan = self.plan
        shape = tuple(self.out_shape) + tuple(np.shape(args[self.argnum]))
        recording, self.recording = self.recording, None
        if plan.n == 0 or plan.m == 0:  # nothing to push or pull
            return np.zeros(shape)
        forward = plan.mode == "forward"
        blocks = run(f, args, (self.argnum,), True, plan.mode, self.seeds, plan.chunk_size,
                     executor=executor, recording=recording)  # fmt: skip
        J = None
        for start, stop, block in blocks:
            if start == 0 and stop == self.seeds.count and block.ndim == 2:
                if block.flags.writeable:  # one pass over vectors: the block is the Jacobian
                    J = block.T if forward else block  # (a read-only one is a kept seed: f = x)
                    break
            if J is None:  # rows: outputs, columns: inputs; blocks land in place
                J = np.empty((plan.m, plan.n))
            block = np.reshape(block, (stop - start, -1))
            if forward:
                J[:, start:stop] = block.T
            else:
                J[start:stop, :] = block
        dtype = getattr(args[self.argnum], "dtype", None)  # the input's, in either mode
        if dtype is not None and J.dtype != dtype and J.dtype.kind == dtype.kind == "f":
            J = J.astype(dtype)
        return pool.handed(J.reshape(shape), flatten(args)[0])
