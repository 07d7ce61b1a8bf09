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

The model's constants are the same for every function, so a close call below that threshold
can still go the wrong way (a reduction over a broadcast product, for one). A Jacobian called
again and again (inside a solver) settles it from its own calls: while the estimates are
within ``LEARN_RATIO`` of each other, its first calls alternate the two modes, ``LEARN_CALLS``
of each, and it keeps the one timed faster. ``jac.plan(x)`` shows the plan in force.

In auto mode a large Jacobian, or Hessian, whose structural pattern needs few colors is
computed by compressed passes and returned dense (``dualdiff._auto_sparse`` says when the
detection pays and how every compressed answer is checked).

The passes of a Jacobian estimated cheaper than ``BLAS_ONE_THREAD_COST`` run with BLAS on one
thread (``dualdiff._blas``): the matrix products of a small batched pass gain nothing from a
second thread and, on a busy machine, wait a scheduler time slice for it.

A sparse Jacobian's mode is the side with fewer colors (:func:`sparse_mode`): its passes
carry one direction per color.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from dualdiff import _checks
from dualdiff._auto_sparse import SPARSE_MIN_DIRECTIONS, SparseChoice, timed
from dualdiff._blas import one_thread
from dualdiff._coloring import color_columns, color_rows
from dualdiff._jacobian import (
    DEFAULT_MAX_MEMORY,
    PerShape,
    Seeds,
    Stale,
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
# A close call below TRIAL_MIN_COST is settled by the calls themselves: a Jacobian called again
# and again (inside a solver) alternates the two modes for its first LEARN_CALLS calls of each,
# then keeps the one timed faster. Beyond LEARN_RATIO the model is trusted.
LEARN_RATIO = 4.0
LEARN_CALLS = 4
# Passes of a Jacobian estimated cheaper than this, with a matrix product or a solve among its
# ops, run with BLAS on one thread (dualdiff._blas). Pinning and restoring costs ~30 us: an f
# of elementwise ops and reductions, which BLAS never runs, does not pay it.
BLAS_ONE_THREAD_COST = 0.05
BLAS_FNS = (
    np.matmul, np.dot, np.inner, np.vdot, np.tensordot, np.einsum, np.kron,
    np.linalg.solve, np.linalg.inv, np.linalg.cholesky, np.linalg.eigh, np.linalg.svd,
    np.linalg.qr, np.linalg.det, np.linalg.slogdet, np.linalg.lstsq, np.linalg.pinv,
)  # fmt: skip


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
    one_thread: bool = False
    sparsity: str = "not considered"

    def __str__(self):
        threads = "BLAS on one thread (small products)" if self.one_thread else "BLAS as set"
        return (
            f"Jacobian plan: {self.mode} mode, {self.passes} pass(es) of up to {self.chunk_size} "
            f"direction(s)\n"
            f"  input size n = {self.n}, output size m = {self.m}, {self.ops} ops on the tape, "
            f"work {self.work} elements per direction\n"
            f"  estimated cost: forward {self.cost_forward * 1e3:.3g} ms, "
            f"reverse {self.cost_reverse * 1e3:.3g} ms; {threads}\n"
            f"  estimated memory per pass: {self.memory / 2**20:.3g} MiB\n"
            f"  sparsity: {self.sparsity}\n"
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
    blas: bool  # a matrix product or a solve among the ops


def _probe(f, args, argnum):
    recording = record(f, args, (argnum,))
    _checks.output(recording.out, "jacobian", _checks.ARRAY)
    out_shape = recording.out_shape()
    sizes = recording.op_sizes()
    work = sum(max(size, args_size) for size, args_size in sizes)
    n = int(np.size(args[argnum]))
    m = math.prod(out_shape)
    per_direction = direction_bytes(n, m, sizes)
    blas = recording.calls_any(BLAS_FNS)
    return _Probe(n, m, out_shape, recording.ops, work, per_direction, recording, blas)


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
    cheaper = min(costs["forward"][0], costs["reverse"][0])
    return JacobianPlan(
        mode=chosen, n=probe.n, m=probe.m, chunk_size=k, passes=passes,
        memory=k * probe.per_direction, cost_forward=costs["forward"][0],
        cost_reverse=costs["reverse"][0], ops=probe.ops, work=probe.work, reason=reason,
        one_thread=probe.blas and cheaper < BLAS_ONE_THREAD_COST,
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
    return _Dense(f, args, argnum, mode, chunk_size, max_memory).plan


def _measured(plan, probe, f, args, argnum, mode, chunk_size, max_memory):
    """The plan; a close call in auto mode, dear enough, settled by a trial."""
    lo, hi = sorted((plan.cost_forward, plan.cost_reverse))
    if not (mode == "auto" and hi >= TRIAL_MIN_COST and hi < TRIAL_RATIO * lo):
        return plan
    k = min(TRIAL_DIRECTIONS, plan.chunk_size, probe.n, probe.m)
    with one_thread(plan.one_thread):
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
    return plan


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
    later calls reuse its plan and seeds (and learn from their own timings, in auto mode)."""
    plans = PerShape(lambda args, i: _Dense(f, args, i, mode, chunk_size, max_memory))

    def jac(*args, **kwargs):
        nums_ = _checks.resolve(nums, len(args), "jacobian")
        args = tuple(as_input(a) if i in nums_ else a for i, a in enumerate(args))
        if kwargs:  # another f at each call: its plan is made for the call, never kept
            g = _checks.bound(f, kwargs)
            jacs = [_Dense(g, args, i, mode, chunk_size, max_memory)(g, args, executor)
                    for i in nums_]  # fmt: skip
        else:
            jacs = [_kept(plans, f, args, i, executor) for i in nums_]
        return jacs[0] if single else tuple(jacs)

    def plan(*args) -> JacobianPlan:
        """The plan the next call at arguments of these shapes follows (what earlier calls
        learned included); one plan per differentiated argument, as the Jacobians."""
        nums_ = _checks.resolve(nums, len(args), "jacobian")
        args = tuple(as_input(a) if i in nums_ else a for i, a in enumerate(args))
        found = [plans(args, i).plan for i in nums_]
        return found[0] if single else tuple(found)

    jac.plan = plan
    return jac


def _kept(plans, f, args, i, executor):
    """Argument ``i``'s Jacobian by its kept plan, or by a new one where f's output shape
    changed since the plan was made (an argument the description does not see set it)."""
    try:
        return plans(args, i)(f, args, executor)
    except Stale:
        return plans.rebuild(args, i)(f, args, executor)


class _Dense:
    """One argument's plans and seeds, kept per shapes. The probe's recording serves the first
    reverse call. In auto mode a close call is settled by timing the calls themselves, and a
    large Jacobian may be computed by compressed passes (``dualdiff._auto_sparse``)."""

    def __init__(self, f, args, argnum, mode, chunk_size, max_memory):
        probe = _probe(f, args, argnum)
        plan = _choose(probe, mode, chunk_size, max_memory)
        self.argnum, self.out_shape, self.blas = argnum, probe.out_shape, probe.blas
        self.chunk_size, self.max_memory = chunk_size, max_memory
        lo, hi = sorted((plan.cost_forward, plan.cost_reverse))
        self.sparse = None
        if mode == "auto":  # first: a compressed Jacobian needs no trial of the dense modes
            self.sparse = SparseChoice(min(probe.n, probe.m), probe.ops, probe.work, lo)
            if self.sparse.due():
                self.sparse.detect(f, args, argnum, chunk_size, max_memory)
        compressed = self.sparse is not None and self.sparse.compressed is not None
        if not compressed:  # a trial, timed cold, picks the first mode; the calls confirm it
            plan = _measured(plan, probe, f, args, argnum, mode, chunk_size, max_memory)
        self._plan = plan  # the dense plan in force
        self.plans = {plan.mode: plan}
        self.seeds = {}
        self.times = None  # while learning: seconds of each mode's calls
        if mode == "auto" and not compressed and hi < LEARN_RATIO * lo and min(probe.n, probe.m):
            other = "reverse" if plan.mode == "forward" else "forward"
            self.plans[other] = _choose(probe, other, chunk_size, max_memory, "learning")
            self.times = {"forward": [], "reverse": []}
        # else the probe's values go before the passes run
        self.recording = None if plan.mode == "forward" else probe.recording

    @property
    def plan(self):
        """The plan in force, with what the sparsity choice does now (read by jac.plan)."""
        if self.sparse is None:
            return self._plan
        return replace(self._plan, sparsity=self.sparse.describe())

    def __call__(self, f, args, executor):
        shape = tuple(self.out_shape) + tuple(np.shape(args[self.argnum]))
        recording, self.recording = self.recording, None
        if self._plan.n == 0 or self._plan.m == 0:  # nothing to push or pull
            return np.zeros(shape)
        J = None
        if self.sparse is not None and executor is None:  # an executor spreads dense passes
            try:
                J = self.sparse(f, args, self.argnum, self.chunk_size, self.max_memory, self.blas)
            except ValueError as e:  # f's output has another size than where it was detected
                if "sparsity pattern was detected" in str(e):
                    raise Stale from None
                raise
        if J is None:
            mode = self._next_mode()
            recording = recording if mode == "reverse" else None
            plan = self.plans[mode]
            J, seconds = timed(lambda: self._passes(plan, f, args, executor, recording))
            self._learn(mode, seconds)
        dtype = getattr(args[self.argnum], "dtype", None)  # the input's, in either mode
        if dtype is not None and J.dtype != dtype and J.dtype.kind == dtype.kind == "f":
            J = J.astype(dtype)
        return pool.handed(J.reshape(shape), flatten(args)[0])

    def _next_mode(self):
        """The plan's mode; while learning, the mode with fewer timed calls (the plan's first)."""
        first = self._plan.mode
        if self.times is None:
            return first
        other = "reverse" if first == "forward" else "forward"
        return other if len(self.times[other]) < len(self.times[first]) else first

    def _learn(self, mode, seconds):
        if self.sparse is not None:
            self.sparse.dense_call(seconds)
        if self.times is None:
            return
        self.times[mode].append(seconds)
        if min(len(t) for t in self.times.values()) < LEARN_CALLS:
            return
        best = {name: min(t) for name, t in self.times.items()}
        chosen = min(best, key=best.get)
        self.times = None
        reason = (
            f"{chosen} mode timed faster over {LEARN_CALLS} calls of each "
            f"({best[chosen] * 1e3:.3g} ms vs {max(best.values()) * 1e3:.3g} ms), the model's "
            f"estimates being within {LEARN_RATIO:g}x of each other"
        )
        self._plan = replace(self.plans[chosen], reason=reason)

    def _seeds(self, plan):
        if plan.mode not in self.seeds:
            count = plan.n if plan.mode == "forward" else plan.m
            self.seeds[plan.mode] = Seeds(count, max_memory=self.max_memory)
        return self.seeds[plan.mode]

    def _passes(self, plan, f, args, executor, recording):
        """J as an (m, n) array from the plan's batched passes."""
        forward = plan.mode == "forward"
        seeds = self._seeds(plan)
        if not forward and executor is None:
            recording = recording or record(f, args, (self.argnum,))
            if recording.out_shape() != tuple(self.out_shape):
                raise Stale
        with one_thread(plan.one_thread):
            blocks = run(f, args, (self.argnum,), True, plan.mode, seeds, plan.chunk_size,
                         executor=executor, recording=recording)  # fmt: skip
            J, traced = None, []
            for start, stop, block in blocks:
                if forward and np.size(block) != (stop - start) * plan.m:
                    raise Stale  # f's output has another size than when the plan was made
                if type(block) is not np.ndarray:  # traced (a Jacobian inside a transform):
                    traced.append(np.reshape(block, (stop - start, -1)))  # joined below
                    continue
                if start == 0 and stop == seeds.count and block.ndim == 2:
                    if block.flags.writeable:  # one pass over vectors: the block is J itself
                        return block.T if forward else block  # (a read-only one: a kept seed)
                if J is None:  # rows: outputs, columns: inputs; blocks land in place
                    J = np.empty((plan.m, plan.n))
                block = np.reshape(block, (stop - start, -1))
                if forward:
                    J[:, start:stop] = block.T
                else:
                    J[start:stop, :] = block
        if traced:  # every chunk depends on the outer transform's values, or none does
            if J is not None:
                raise RuntimeError("dd.jacobian: chunks both traced and plain; please report f")
            J = traced[0] if len(traced) == 1 else np.concatenate(traced)
            return np.transpose(J) if forward else J
        return J


# -- dense Hessians: compressed passes when their pattern is sparse ------------------------------

ELEMENT_HESSIAN = 5e-9  # seconds per element of the tape per direction, forward over reverse


@dataclass(frozen=True)
class HessianPlan:
    """What ``dd.hessian`` does at one argument shape, and why (``print(plan)`` explains)."""

    n: int
    method: str  # "dense" (forward over reverse, n directions) or "compressed"
    sparsity: str

    def __str__(self):
        return f"Hessian plan: {self.method}, n = {self.n}\n  sparsity: {self.sparsity}"


def dense_hessian(f, argnum, dense):
    """``dd.hessian(f, argnum)`` for one array argument and a scalar f: ``dense`` (forward over
    reverse) until the pattern, detected once it pays, needs few colors; then compressed."""
    plans = PerShape(lambda args, i: _Hessian(f, args, i))

    def hess(*args, **kwargs):
        (i,) = _checks.resolve((argnum,), len(args), "hessian")
        if kwargs or not isinstance(args[i], np.ndarray | float | int | np.number):
            return dense(*args, **kwargs)  # structures and bound keywords: no kept plan
        args = tuple(as_input(a) if j == i else a for j, a in enumerate(args))
        return plans(args, i)(args, dense)

    def plan(*args) -> HessianPlan:
        """The plan the next call at arguments of these shapes follows."""
        (i,) = _checks.resolve((argnum,), len(args), "hessian")
        args = tuple(as_input(a) if j == i else a for j, a in enumerate(args))
        return plans(args, i).plan()

    hess.plan = plan
    return hess


class _Hessian:
    """One argument shape's Hessian: dense, or compressed once the pattern pays."""

    def __init__(self, f, args, argnum):
        self.f, self.argnum = f, argnum
        self.n = int(np.size(args[argnum]))
        self.sparse = None
        self.blas = False
        if self.n < SPARSE_MIN_DIRECTIONS:
            return
        try:
            recording = record(f, args, (argnum,))
            scalar = recording.out_shape() == ()
        except Exception:  # the dense path raises it again, named as a Hessian's error
            return
        if not scalar:
            return
        self.blas = recording.calls_any(BLAS_FNS)
        work = sum(max(size, args_size) for size, args_size in recording.op_sizes())
        estimate = self.n * (work * ELEMENT_HESSIAN + recording.ops * OP_FORWARD)
        self.sparse = SparseChoice(self.n, recording.ops, work, estimate, hessian=True)

    def plan(self):
        sparse = self.sparse
        if sparse is None:
            return HessianPlan(self.n, "dense", "not considered: a small or non-scalar problem")
        method = "dense" if sparse.compressed is None else "compressed"
        return HessianPlan(self.n, method, sparse.describe())

    def __call__(self, args, dense):
        sparse = self.sparse
        if sparse is not None:
            H = sparse(self.f, args, self.argnum, None, DEFAULT_MAX_MEMORY, self.blas)
            if H is not None:
                x = args[self.argnum]
                H = H.reshape(np.shape(x) * 2)
                if x.dtype.kind == "f" and H.dtype != x.dtype:
                    H = H.astype(x.dtype)
                return pool.handed(H, flatten(args)[0])
        H, seconds = timed(lambda: dense(*args))
        if sparse is not None:
            sparse.dense_call(seconds)
        return H
