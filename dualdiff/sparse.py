"""Sparse Jacobians and Hessians: structural sparsity detection, coloring, compressed passes.

``jacobian_sparsity(f, x)`` traces ``f`` once with a tracer whose payload is a dependency
pattern (``dualdiff._pattern``; the op table and its documented conservative fallbacks are in
``dualdiff._pattern_ops``), so the pattern comes from the structure of the code, not from the
zeros of one dense Jacobian. A coloring of the columns (forward mode) or rows (reverse mode)
groups directions that never meet in one row or column; :class:`SparseJacobian` then pushes
one batch of color seeds per chunk through ``f`` and reads every nonzero off the compressed
result. :class:`SparseHessian` does the same for a Hessian with a star coloring and batched
Hessian-vector products (forward over reverse). Results are ``scipy.sparse.csr_array``. The
seeds, passes and memory budget are those of every Jacobian (``dualdiff._jacobian``); the
mode is the side with fewer colors (``dualdiff.dispatch.sparse_mode``).

The pattern is computed at one ``x`` and reused: it is structural, so it holds at every ``x``.
``np.where``, ``max``, ``sort``, ``abs`` count every branch, and data picked by an index computed
from the values (``x[np.argmax(x)]``, ``x[np.argsort(x)]``, ``np.take_along_axis``) depends on
the whole indexed axis. Where the structure itself follows the values (Python ``if`` on traced
values, boolean masks and ``nonzero``, which set a shape), the pattern is detected again at
every call (the coloring is kept while the pattern does not change); ``reason`` says why.
Pass ``pattern=`` to supply one yourself.

Every result is checked against one more direction computed directly (``J @ v`` by a forward
pass, ``H @ v`` by a Hessian-vector product, ``v`` random), at the cost of that one direction:
a pattern that no longer holds (an argument that is not differentiated, a closure or a Python
branch on a constant changed it) is detected again at that call, and never gives a wrong
number.

``sparse_jacobian`` and ``sparse_hessian`` (``dd.jacobian(f, sparse=True)``,
``dd.hessian(f, sparse=True)``) also take structures (tuples, lists and dicts of arrays) as
arguments and outputs: they are flattened in the order of ``dualdiff.ravel_pytree`` (leaves
raveled in C order, depth first, dict entries in insertion order), and the one matrix has a row
per output element and a column per input element in that order. ``unravel_jacobian`` cuts it
into the dense Jacobian's nested blocks.
"""

from collections.abc import Callable
from typing import Literal

import numpy as np
import scipy.sparse as sp

from dualdiff import _pattern_linalg, _pattern_ops  # noqa: F401  (they fill the op table)
from dualdiff._auto_sparse import agrees
from dualdiff._checks import argnums as checked_argnums
from dualdiff._checks import positional
from dualdiff._coloring import (
    color_columns,
    color_rows,
    column_recovery,
    row_recovery,
    star_coloring,
    symmetric_recovery,
)
from dualdiff._jacobian import (
    DEFAULT_MAX_MEMORY,
    PerShape,
    Seeds,
    check_options,
    chunk_directions,
    direction_bytes,
    gradient,
    run,
)
from dualdiff._pattern import canonical, check_argnum, trace
from dualdiff._structured import structured, unravel_jacobian
from dualdiff.dispatch import sparse_mode
from dualdiff.engine import as_input, record

__all__ = [
    "SparseHessian",
    "SparseJacobian",
    "color_columns",
    "color_rows",
    "hessian_sparsity",
    "jacobian_sparsity",
    "sparse_hessian",
    "sparse_jacobian",
    "star_coloring",
    "unravel_jacobian",
]

def jacobian_sparsity(f: Callable, *args, argnums: int = 0) -> sp.csr_array:
    """Structural sparsity pattern of the Jacobian of ``f`` with respect to ``args[argnums]``.

    Parameters
    ----------
    f : callable
        Function of arrays with one array output, written with ``numpy``.
    *args
        Arguments of ``f``; the pattern is traced at these values.
    argnums : int
        Which argument is the input.

    Returns
    -------
    scipy.sparse.csr_array of bool, shape (m, n)
        ``m`` output elements by ``n`` input elements (both flattened in C order). It holds
        at every point, unless ``f`` branches on its values in Python or sets a shape by them
        (``SparseJacobian(f, x).reason`` says when); then it holds at ``args`` only.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> f = lambda x: x[1:] * x[:-1] + np.sin(x[1:])
    >>> dd.jacobian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    deps, _, _ = trace(f, args, argnums, caller="jacobian_sparsity")
    return canonical(deps)


def hessian_sparsity(f: Callable, *args, argnums: int = 0) -> sp.csr_array:
    """Structural sparsity pattern of the Hessian of a scalar ``f`` (symmetric, n x n).

    Every op nonlinear in its traced inputs couples the input elements its own second
    derivative couples; linear and piecewise-linear ops couple none. Like
    :func:`jacobian_sparsity`, the pattern holds at every point unless ``f``'s structure
    follows its values (``SparseHessian(f, x).reason`` says when).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> f = lambda x: np.sum(x[1:] * x[:-1]) + np.sum(np.exp(x[:1]))
    >>> dd.sparse.hessian_sparsity(f, np.ones(3)).toarray().astype(int)
    array([[1, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    return _hessian_pattern(f, args, argnums, "hessian_sparsity")[0]


def _hessian_pattern(f, args, argnums, caller):
    """The Hessian's pattern and the trace's pointwise reason (None: it holds everywhere)."""
    _, shape, tr = trace(f, args, argnums, hessian=True, caller=caller)
    if int(np.prod(shape, dtype=np.int64)) != 1:
        raise ValueError(
            f"{caller} needs a scalar function; f returned an output of shape {shape} "
            "(sum it, or take the Jacobian of its gradient)."
        )
    return tr.hessian(), tr.reason


class _Compressed:
    """A pattern, its coloring as seeds, and where each nonzero sits in the compressed result:
    everything one call needs, replaced as one object."""

    def __init__(self, pattern, mode, colors, positions, seed_size, chunk_size, max_memory):
        self.pattern = pattern
        self.mode = mode
        self.colors = colors
        self.positions = positions
        self.seeds = Seeds(seed_size, colors, max_memory)
        self.chunk_size = chunk_size

    def matrix(self, blocks, width):
        """The sparse matrix from the compressed blocks (each of shape ``(k, width)``)."""
        blocks = [np.reshape(b, (stop - start, width)) for start, stop, b in blocks]
        compressed = np.concatenate(blocks or [[]])
        data = compressed.ravel().take(self.positions) if self.positions.size else self.positions
        dtype = np.result_type(compressed.dtype, np.float64)  # complex outputs stay complex
        p = self.pattern
        return sp.csr_array(
            (np.asarray(data, dtype=dtype), p.indices.copy(), p.indptr.copy()), shape=p.shape
        )


def _same(p, q):
    return (
        p.shape == q.shape
        and np.array_equal(p.indptr, q.indptr)
        and np.array_equal(p.indices, q.indices)
    )


def _symmetric(p):
    return canonical(p + p.T)


def _given_pattern(pattern, n, caller):
    """A user's pattern as a bool CSR array with ``n`` columns, or a named error."""
    try:
        pattern = canonical(pattern)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{caller}: pattern must be a 2-D sparse matrix or array ({e})") from None
    if pattern.shape[1] != n:
        raise ValueError(
            f"{caller}: pattern has shape {pattern.shape}, but the input has {n} element(s): "
            "it needs one column per input element (m x n, both flattened in C order)."
        )
    return pattern


def _input_shape(args, argnums, caller):
    hint = "pass the example arguments after f (SparseJacobian(f, x, ...))."
    check_argnum(args, argnums, caller, hint)
    return np.shape(args[argnums])


def _check_input(args, argnums, shape, caller):
    got = np.shape(args[argnums]) if -len(args) <= argnums < len(args) else None
    if got != shape:
        raise ValueError(
            f"{caller} was built for argument {argnums} of shape {shape}; got "
            f"{'no such argument' if got is None else f'shape {got}'}. Build one per shape "
            "(dd.jacobian(f, sparse=True) and dd.hessian(f, sparse=True) keep one per shape)."
        )


def _check_output(size, expected, caller):
    if size != expected:
        raise ValueError(
            f"{caller}: f's output has {size} element(s) here but {expected} where the sparsity "
            "pattern was detected: its structure depends on values the pattern tracer cannot "
            "see (a .value read?). Compute the Jacobian densely, or pass pattern= yourself."
        )


class _Planned:
    """What both sparse derivatives share: the kept plan, re-made where a pointwise pattern
    (``reason`` not None) changes."""

    pattern = property(lambda self: self._plan.pattern, doc="The pattern (bool CSR).")
    colors = property(lambda self: self._plan.colors, doc="Color of each column, row or variable.")
    shape = property(lambda self: self._plan.pattern.shape, doc="The pattern's shape.")

    @property
    def n_colors(self):
        return int(self._plan.colors.max(initial=-1)) + 1

    def _checked(self, args, g):
        """The compressed result at ``args``, checked against one direct product (``J @ v`` by
        a forward pass of ``g``, v random). A pattern that fails is detected again here (an
        argument not differentiated, a closure or a Python branch changed it): the new one
        serves from now on. A Jacobian whose pattern fails where it was detected is the
        tracer's mistake, and raises. A Hessian may fail at a point where f is not twice
        differentiable (a tie of ``max``): forward over reverse is not symmetric there, and
        the compressed Hessian reads each pair from one side; it is returned."""
        matrix = self._compute(args)
        if agrees(matrix, g, args, self.argnums) is not False:
            return matrix
        pattern = self._detect(args)
        if not _same(pattern, self._plan.pattern):
            self._plan = self._compress(pattern)
            matrix = self._compute(args)
            if agrees(matrix, g, args, self.argnums) is not False:
                return matrix
        if isinstance(self, SparseHessian):
            return matrix
        raise RuntimeError(
            "dualdiff: the structural sparsity pattern missed nonzeros of this Jacobian (its "
            "compressed result failed a check against a direct product at the point where it "
            "was detected). Compute it densely (dd.jacobian(f)), or pass pattern= yourself; "
            "please report f to the dualdiff issue tracker."
        )

    def _plan_at(self, args):
        """The plan for ``args``: the kept one, or one for the pattern detected at ``args``."""
        plan = self._plan
        if self.reason is None:
            return plan
        pattern = self._detect(args)
        if not _same(pattern, plan.pattern):
            plan = self._plan = self._compress(pattern)
        return plan


class SparseJacobian(_Planned):
    """A reusable sparse Jacobian of ``f`` for ``args[argnums]``: pattern and coloring kept.

    Calling it at new arguments costs one batched forward pass (or one recording and one
    backward sweep) per chunk of colors, and returns a ``csr_array`` of shape ``(m, n)``.

    Parameters
    ----------
    f : callable
        Function of arrays with one array output, written with ``numpy``.
    *args
        Example arguments: the pattern is detected at these values (shapes are fixed).
    argnums : int
        Which argument to differentiate.
    mode : {"auto", "forward", "reverse"}
        ``"forward"`` colors columns and pushes tangents; ``"reverse"`` colors rows and pulls
        cotangents; ``"auto"`` takes the one with fewer colors (forward on a tie).
    pattern : sparse matrix, optional
        The Jacobian's pattern, if known; detection is skipped.
    chunk_size : int, optional
        Colors per pass; by default as many as fit in ``max_memory`` bytes.
    max_memory : int
        Byte budget for one chunk's seeds, results and intermediates (roughly).

    Attributes
    ----------
    pattern : scipy.sparse.csr_array of bool
    colors : ndarray of int
        Color of every column (forward) or row (reverse).
    n_colors : int
    mode : str
        ``"forward"`` or ``"reverse"``.
    reason : str or None
        None when the pattern is structural (it holds at every point); else why it holds at
        its own point only (Python control flow on traced values, a shape set by values), and
        then every call detects it again, keeping the coloring while the pattern is unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> f = lambda x: np.diff(x) ** 2
    >>> jac = dd.sparse.SparseJacobian(f, np.zeros(5))
    >>> jac.n_colors, jac.mode
    (2, 'forward')
    >>> jac(np.arange(5.0)).toarray()
    array([[-2.,  2.,  0.,  0.,  0.],
           [ 0., -2.,  2.,  0.,  0.],
           [ 0.,  0., -2.,  2.,  0.],
           [ 0.,  0.,  0., -2.,  2.]])
    """

    def __init__(
        self,
        f: Callable,
        *args,
        argnums: int = 0,
        mode: Literal["auto", "forward", "reverse"] = "auto",
        pattern=None,
        chunk_size: int | None = None,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ):
        check_options(mode, chunk_size, max_memory, "SparseJacobian")
        self.f, self.argnums, self._mode, self._max_memory = f, argnums, mode, max_memory
        self.in_shape = _input_shape(args, argnums, "SparseJacobian")
        self.reason = None  # why the pattern holds at its own point only (then: re-detected)
        if pattern is None:
            deps, _, tr = trace(f, args, argnums, caller="SparseJacobian")
            pattern, self.reason = canonical(deps), tr.reason
        n = int(np.prod(self.in_shape, dtype=np.int64))
        pattern = _given_pattern(pattern, n, "SparseJacobian")
        per_direction = direction_bytes(n, pattern.shape[0])
        self._chunk_size = chunk_directions(per_direction, max_memory, chunk_size)
        self._plan = self._compress(pattern)

    mode = property(lambda self: self._plan.mode, doc='"forward" or "reverse".')

    def _compress(self, pattern):
        mode, colors = sparse_mode(pattern, self._mode)
        m, n = pattern.shape
        if mode == "forward":
            where, seed_size = column_recovery(pattern, colors), n
        else:
            where, seed_size = row_recovery(pattern, colors), m
        return _Compressed(pattern, mode, colors, where, seed_size, self._chunk_size,
                           self._max_memory)  # fmt: skip

    def _detect(self, args):
        return canonical(trace(self.f, args, self.argnums, caller="SparseJacobian")[0])

    def __call__(self, *args, **kwargs) -> sp.csr_array:
        positional(kwargs, "sparse_jacobian")
        _check_input(args, self.argnums, self.in_shape, "SparseJacobian")
        args = tuple(as_input(a) if i == self.argnums else a for i, a in enumerate(args))
        return self._checked(args, self.f)

    def _compute(self, args):
        plan = self._plan_at(args)
        m, n = plan.pattern.shape
        nums = (self.argnums,)
        if plan.mode == "forward":  # rows of J @ S, one batched forward pass per chunk
            blocks = list(run(self.f, args, nums, True, "forward", plan.seeds, plan.chunk_size))
            for _, _, b in blocks[:1]:
                _check_output(np.size(b) // max(1, len(b)), m, "SparseJacobian")
            return plan.matrix(blocks, m)
        rec = record(self.f, args, nums)
        _check_output(int(np.prod(rec.out_shape(), dtype=np.int64)), m, "SparseJacobian")
        blocks = run(self.f, args, nums, True, "reverse", plan.seeds, plan.chunk_size,
                     recording=rec)  # fmt: skip
        return plan.matrix(blocks, n)  # rows of S @ J


class SparseHessian(_Planned):
    """A reusable sparse Hessian of a scalar ``f``: pattern and star coloring kept.

    Each call pushes one batch of color seeds per chunk through the gradient of ``f``
    (forward over reverse: a batch of Hessian-vector products) and returns a symmetric
    ``csr_array``. Parameters are those of :class:`SparseJacobian` (without ``mode``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> f = lambda x: np.sum((x[1:] - x[:-1] ** 2) ** 2)
    >>> hess = dd.sparse.SparseHessian(f, np.zeros(4))
    >>> hess.n_colors
    3
    >>> hess(np.ones(4)).toarray()
    array([[ 8., -4.,  0.,  0.],
           [-4., 10., -4.,  0.],
           [ 0., -4., 10., -4.],
           [ 0.,  0., -4.,  2.]])
    """

    def __init__(
        self,
        f: Callable,
        *args,
        argnums: int = 0,
        pattern=None,
        chunk_size: int | None = None,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ):
        check_options("auto", chunk_size, max_memory, "SparseHessian")
        self.f, self.argnums, self._max_memory = f, argnums, max_memory
        self.in_shape = _input_shape(args, argnums, "SparseHessian")
        self.reason = None  # why the pattern holds at its own point only (then: re-detected)
        if pattern is None:
            pattern, self.reason = _hessian_pattern(f, args, argnums, "SparseHessian")
        n = int(np.prod(self.in_shape, dtype=np.int64))
        pattern = _given_pattern(pattern, n, "SparseHessian")
        if pattern.shape[0] != n:
            raise ValueError(f"SparseHessian: pattern has shape {pattern.shape}; needs ({n}, {n})")
        # a direction carries tangents of f's values and of the gradient's cotangents
        self._chunk_size = chunk_directions(direction_bytes(n, n), max_memory, chunk_size)
        self._plan = self._compress(_symmetric(pattern))
        self._gradient = gradient(f, argnums)

    def _detect(self, args):
        return _symmetric(_hessian_pattern(self.f, args, self.argnums, "SparseHessian")[0])

    def _compress(self, pattern):
        """The plan for a symmetric ``pattern``."""
        colors = star_coloring(pattern)
        n = pattern.shape[0]
        where = symmetric_recovery(pattern, colors)
        return _Compressed(pattern, "forward", colors, where, n, self._chunk_size, self._max_memory)

    def __call__(self, *args, **kwargs) -> sp.csr_array:
        positional(kwargs, "sparse_hessian")
        _check_input(args, self.argnums, self.in_shape, "SparseHessian")
        args = tuple(as_input(a) if i == self.argnums else a for i, a in enumerate(args))
        return self._checked(args, self._gradient)

    def _compute(self, args):
        plan = self._plan_at(args)
        nums = (self.argnums,)
        blocks = run(self._gradient, args, nums, True, "forward", plan.seeds, plan.chunk_size)
        return plan.matrix(blocks, plan.pattern.shape[0])


def sparse_jacobian(
    f: Callable,
    argnums: int | tuple[int, ...] = 0,
    *,
    mode: Literal["auto", "forward", "reverse"] = "auto",
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> Callable:
    """Function returning the Jacobian of ``f`` as a ``csr_array`` of shape ``(m, n)``.

    The pattern and the coloring are found at the first call and reused for every later call
    with arguments of the same shapes (see :class:`SparseJacobian`). Output and input are
    flattened (C order); a tuple ``argnums`` gives a tuple of matrices, one per argument.

    The output and the differentiated arguments may be structures (tuples, lists and dicts of
    arrays and numbers; ``None`` is an empty one). Each is flattened as
    :func:`dualdiff.ravel_pytree` flattens it: every leaf raveled in C order, the leaves one
    after the other, depth first, dict entries in insertion order. The matrix has one row per
    output element and one column per element of the argument, in that order;
    :func:`unravel_jacobian` cuts it into the nested blocks of the dense Jacobian.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> jac = dd.sparse_jacobian(lambda x: x[1:] - x[:-1] ** 2)
    >>> jac(np.array([1.0, 2.0, 3.0])).toarray()
    array([[-2.,  1.,  0.],
           [ 0., -4.,  1.]])
    >>> jac = dd.sparse_jacobian(lambda p: (p["w"] * p["b"], np.sum(p["w"])))
    >>> jac({"w": np.array([1.0, 2.0]), "b": 3.0}).toarray()  # columns: w[0], w[1], b
    array([[3., 0., 1.],
           [0., 3., 2.],
           [1., 1., 0.]])
    """
    check_options(mode, chunk_size, max_memory, "dd.sparse_jacobian")
    nums, single = checked_argnums(f, argnums, "sparse_jacobian")

    def of_arrays(g):  # g: f of flat vectors (structured does the flattening)
        if not single:
            jacs = [of_arrays_at(g, i) for i in nums]
            return lambda *args: tuple(jac(*args) for jac in jacs)
        return of_arrays_at(g, nums[0])

    def of_arrays_at(g, i):
        built = PerShape(
            lambda args: SparseJacobian(
                g, *args, argnums=i, mode=mode, chunk_size=chunk_size, max_memory=max_memory
            )
        )
        return lambda *args: built(args)(*args)

    return structured(f, nums, single, of_arrays, "sparse_jacobian", kwargs_name="sparse_jacobian")


def sparse_hessian(
    f: Callable,
    argnums: int = 0,
    *,
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> Callable:
    """Function returning the Hessian of a scalar ``f`` as a symmetric ``csr_array``.

    The pattern and the star coloring are found at the first call and reused for every later
    call with arguments of the same shapes (see :class:`SparseHessian`); the input is
    flattened (C order). A structure of arrays as the argument is flattened as
    :func:`dualdiff.ravel_pytree` flattens it (leaves raveled, depth first, dict entries in
    insertion order): rows and columns are its elements in that order.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> hess = dd.sparse_hessian(lambda x: np.sum(x ** 3) + x[0] * x[1])
    >>> hess(np.array([1.0, 2.0, 3.0])).toarray()
    array([[ 6.,  1.,  0.],
           [ 1., 12.,  0.],
           [ 0.,  0., 18.]])
    """
    check_options("auto", chunk_size, max_memory, "dd.sparse_hessian")
    nums, single = checked_argnums(f, argnums, "sparse_hessian")
    if not single:
        raise TypeError(
            f"dd.sparse_hessian: argnums must be one int (one argument, a structure of arrays "
            f"if need be); got {argnums!r}"
        )

    def of_arrays(g):  # g: f of a flat vector (structured does the flattening)
        built = PerShape(
            lambda args: SparseHessian(
                g, *args, argnums=argnums, chunk_size=chunk_size, max_memory=max_memory
            )
        )
        return lambda *args: built(args)(*args)

    return structured(f, nums, True, of_arrays, "sparse_hessian", flatten_out=False,
                      kwargs_name="sparse_hessian")  # fmt: skip
