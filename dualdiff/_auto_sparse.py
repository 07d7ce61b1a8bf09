"""When ``mode="auto"`` computes a dense Jacobian or Hessian by compressed (colored) passes.

A large derivative whose structural pattern needs few colors costs one direction per color
instead of one per row or column: a chained Rosenbrock Hessian at n = 3000 needs 3. Finding
that out costs a pattern trace and a coloring, about what a few dozen dense directions cost,
so detection runs once the dense work it may save is ``DETECT_RATIO`` times its estimated
cost: at the first call when the dense derivative is estimated that dear, else after enough
repeated calls have paid for it. A one-off call is never made much slower than dense.

The compressed answer is checked at every call against one more direction computed
directly (``J @ v`` by a forward pass, ``H @ v`` by a Hessian-vector product, ``v`` random):
a pattern that missed a nonzero would fail the check, and the derivative is then computed
densely from there on, with a warning. Patterns that hold at one point only (Python control
flow on traced values) are never used here: they would be traced again at every call.
"""

import time
import warnings

import numpy as np

from dualdiff._blas import one_thread
from dualdiff._jacobian import Layout, gradient, pull, push_rows
from dualdiff.engine import record

SPARSE_MIN_DIRECTIONS = 64  # fewer dense directions than this: colors cannot save much
# A pattern trace and its coloring, per element of the tape and per op (measured 20-60 ns
# and about 60 us on the bench's families; a Hessian's trace costs about three times more).
DETECT_ELEMENT = 100e-9
DETECT_OP = 100e-6
DETECT_RATIO = 4.0
SAMPLES = 8  # rows and columns computed to bound the colors below before a trace
CHECK_RTOL = 1e-5  # of |J| |v|: a missed nonzero weighs more, float32 rounding inside f less
SPARSE_GAIN = 2  # compressed passes only with at most half the dense directions as colors


class SparseChoice:
    """The compressed alternative to one dense derivative (one argument, one shape).

    ``directions`` is what a dense call pushes or pulls; ``estimate`` the dense call's
    estimated seconds; ``ops`` and ``work`` size the tape. :meth:`due` says when to
    :meth:`detect`; :meth:`__call__` returns the dense array, or None to compute it densely.
    """

    def __init__(self, directions, ops, work, estimate, hessian=False):
        self.directions = directions
        self.hessian = hessian
        self.detect_cost = (DETECT_OP * ops + DETECT_ELEMENT * work) * (3 if hessian else 1)
        self.spent = estimate  # dense seconds that detection would have saved, so far
        self.compressed = None
        self.reason = None if directions >= SPARSE_MIN_DIRECTIONS else "few directions"
        self.misses = 0  # compressed Hessians that failed their check with an unchanged pattern

    def due(self):
        return (
            self.reason is None
            and self.compressed is None
            and (self.spent >= DETECT_RATIO * self.detect_cost)
        )

    def dense_call(self, seconds):
        """A dense call took ``seconds``: detection gets nearer to paying for itself."""
        self.spent += seconds

    def detect(self, f, args, argnum, chunk_size, max_memory):
        """Trace the pattern and color it; keep it when few enough colors serve every point."""
        from dualdiff import sparse  # sparse imports the dispatcher

        if _sampled_bound(f, args, argnum, self.hessian) * SPARSE_GAIN > self.directions:
            self.reason = "sampled rows and columns have too many nonzeros for coloring to pay"
            return
        try:
            pattern, pointwise = _pattern(f, args, argnum, self.hessian)
        except Exception as e:  # the pattern tracer's limits; dense passes still serve f
            self.reason = f"sparsity detection failed ({type(e).__name__}: {e})"
            return
        if pointwise is not None:
            self.reason = f"the pattern holds at one point only ({pointwise})"
            return
        if _colors_at_least(pattern, self.hessian) * SPARSE_GAIN > self.directions:
            self.reason = "the pattern is too dense for coloring to pay"
            return
        kind = sparse.SparseHessian if self.hessian else sparse.SparseJacobian
        compressed = kind(f, *args, argnums=argnum, pattern=pattern, chunk_size=chunk_size,
                          max_memory=max_memory)  # fmt: skip
        if compressed.n_colors * SPARSE_GAIN > self.directions:
            self.reason = f"{compressed.n_colors} colors against {self.directions} dense directions"
            return
        self.compressed = compressed

    def __call__(self, f, args, argnum, chunk_size, max_memory, blas):
        """The dense derivative (shape ``(m, n)``) by compressed passes, checked (the pattern
        detected first when that is due); or None: compute it densely. ``blas``: the passes
        run matrix products, on one BLAS thread."""
        if self.due():
            self.detect(f, args, argnum, chunk_size, max_memory)
        if self.compressed is None:
            return None
        with one_thread(blas):  # a pass per color: small products
            matrix = self.compressed(*args)  # CSR: the check costs O(nonzeros)
        g = gradient(f, argnum) if self.hessian else f
        agreed = agrees(matrix, g, args, argnum)
        if agreed:
            return matrix.toarray()
        if agreed is False:
            self._failed(f, args, argnum)
        return None  # dense, for this call (or from now on)

    def _failed(self, f, args, argnum):
        """A compressed result failed its check. A pattern traced again here that differs
        from the kept one changes with the arguments not differentiated (an index array):
        dense passes from now on. A Hessian may fail where f is not twice differentiable
        (forward over reverse is not symmetric there): dense for such calls, and from the
        second on for good. A Jacobian whose pattern fails where it was traced is the
        tracer's mistake: dense from now on, with a warning."""
        from dualdiff.sparse import _same

        try:
            changed = not _same(_pattern(f, args, argnum, self.hessian)[0],
                                self.compressed.pattern)  # fmt: skip
        except Exception:
            changed = False
        if changed:
            self.compressed = None
            self.reason = "the pattern changes with the arguments that are not differentiated"
            return
        if self.hessian:
            self.misses += 1
            if self.misses >= 2:
                self.compressed = None
                self.reason = (
                    "the compressed Hessian differs from forward over reverse at these points "
                    "(f is not twice differentiable there)"
                )
            return
        self.compressed = None
        self.reason = "a compressed result failed its check"
        warnings.warn(
            "dualdiff: the structural sparsity pattern missed nonzeros of this derivative "
            "(a compressed result failed its check against a direct product); it is computed "
            "densely from now on. Please report f to the dualdiff issue tracker.",
            RuntimeWarning,
            stacklevel=5,
        )

    def describe(self):
        """One line for a plan: what the compressed path does, or why it is not used."""
        if self.compressed is not None:
            passes = "Hessian-vector" if self.hessian else self.compressed.mode
            return (
                f"structural sparsity: {self.compressed.n_colors} colors ({passes} passes) "
                f"instead of {self.directions} directions"
            )
        if self.reason is None:
            return (
                f"sparsity detection (estimated {self.detect_cost * 1e3:.3g} ms) waits until "
                f"repeated calls have paid for it"
            )
        return f"dense: {self.reason}"


def agrees(matrix, g, args, argnum):
    """Whether the CSR ``matrix`` (a Jacobian of ``g`` in argument ``argnum``, rows and
    columns flattened) times a random direction v equals ``J @ v`` computed directly by one
    forward pass of ``g``: True, False, or None when either product is not finite. A pattern
    that missed a nonzero fails, but for a chance cancellation; rounding never does."""
    n = matrix.shape[1]
    v = np.random.default_rng(n).standard_normal(n)
    direct = np.reshape(push_rows(g, args, (argnum,), True, v[None]), -1)
    product = matrix @ v
    if direct.shape != product.shape:
        return False
    if not (np.all(np.isfinite(direct)) and np.all(np.isfinite(product))):
        return None
    dtype = getattr(args[argnum], "dtype", None)
    eps = np.finfo(dtype if dtype is not None and dtype.kind == "f" else np.float64).eps
    # the rounding of the two products; f may compute in float32 inside a float64 input
    relative = max(np.sqrt(eps), CHECK_RTOL)
    tolerance = relative * (abs(matrix) @ np.abs(v)) + np.abs(direct) * 1e-12
    return bool(np.all(np.abs(product - direct) <= tolerance))


def _pattern(f, args, argnum, hessian):
    """``(pattern, pointwise reason or None)`` of f's Jacobian, or of its Hessian."""
    from dualdiff import _pattern
    from dualdiff.sparse import _hessian_pattern

    if hessian:
        pattern, reason = _hessian_pattern(f, args, argnum, "dd.hessian")
        return _pattern.canonical(pattern + pattern.T), reason
    deps, _, trace = _pattern.trace(f, args, argnum, caller="dd.jacobian")
    return _pattern.canonical(deps), trace.reason


def _sampled_bound(f, args, argnum, hessian, k=SAMPLES):
    """A lower bound on the colors from ``k`` random columns and ``k`` random rows, computed
    directly: nonzeros of a value are structural nonzeros, so the densest sampled column
    bounds the row colors below and the densest sampled row the column colors. It keeps a
    dense derivative from paying for a pattern trace as large as its ``m * n`` entries."""
    nums = (argnum,)
    n = int(np.size(args[argnum]))
    rng = np.random.default_rng(1)
    g = gradient(f, argnum) if hessian else f
    columns = np.zeros((min(k, n), n))
    columns[np.arange(len(columns)), rng.choice(n, len(columns), replace=False)] = 1.0
    per_column = np.count_nonzero(
        np.reshape(push_rows(g, args, nums, True, columns), (len(columns), -1)), axis=1
    ).max(initial=0)
    if hessian:  # symmetric: a column is a row
        return int(per_column) if per_column > n // SPARSE_GAIN else 1
    recording = record(f, args, nums)
    out = Layout(recording.out)
    rows = np.zeros((min(k, out.size), out.size))
    rows[np.arange(len(rows)), rng.choice(out.size, len(rows), replace=False)] = 1.0
    per_row = np.count_nonzero(
        np.reshape(pull(recording, out, True, rows, release=True), (len(rows), -1)), axis=1
    ).max(initial=0)
    return int(min(per_row, per_column))


def _colors_at_least(pattern, hessian):
    """A lower bound on the colors (a Jacobian: the densest row, or column, on its side)."""
    if hessian:  # a star coloring of a pattern with a full row may still take two colors
        return 1 if pattern.nnz <= pattern.shape[0] ** 2 // 4 else pattern.shape[0]
    per_row = int(np.diff(pattern.indptr).max(initial=0))
    per_column = int(np.bincount(pattern.indices, minlength=pattern.shape[1]).max(initial=0))
    return min(per_row, per_column)


def timed(compute):
    """``(compute(), seconds)``."""
    start = time.perf_counter()
    result = compute()
    return result, time.perf_counter() - start
