"""The functional API: grad, value_and_grad, jvp, vjp, linearize, jacfwd, jacrev, jacobian,
hessian, hvp.

Every call opens a fresh trace level. Tangents and cotangents are pushed with a leading batch
axis: ``jvp``/``vjp`` use one direction and squeeze it at the edge, ``jacfwd`` pushes the whole
input basis in one forward pass and ``jacrev`` pulls the whole output basis in one sweep, both
on the Jacobian machinery (``dualdiff._jacobian``) that ``jacobian`` runs in chunks, with the
mode chosen by ``dualdiff.dispatch`` or a sparsity coloring (``dualdiff.sparse``).

With ``has_aux=True`` f returns ``(out, aux)``: the transform differentiates ``out`` and hands
``aux`` back without its own tracers (:class:`_Aux`): plain values, or an outer transform's
tracers when nested, as JAX's.
"""

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

import numpy as np

from dualdiff import _checks
from dualdiff._checks import bound, weak_dtype
from dualdiff._jacobian import (
    DEFAULT_MAX_MEMORY,
    Layout,
    Seeds,
    check_executor,
    check_options,
    pull,
    push_tree,
    seeded,
    tangent_of,
    with_seeded,
)
from dualdiff._structured import structured
from dualdiff._tracer import Tracer, strip
from dualdiff._tree import flatten
from dualdiff.dispatch import dense_hessian, dense_jacobian
from dualdiff.engine import as_input, primal, push, record, value_of
from dualdiff.large import pool
from dualdiff.sparse import sparse_hessian, sparse_jacobian


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False
) -> Callable:
    """Function returning ``(f(*args), gradient)`` of a scalar-valued ``f``.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``; its output must have exactly one element.
    argnums : int or tuple of int
        Which positional arguments to differentiate; a tuple gives a tuple of gradients.
        Each argument may be an array, a float or a nested tuple/list/dict of them, and its
        gradient comes back in the same structure. Integer inputs are promoted to float64.
    has_aux : bool
        f returns a pair ``(out, aux)``: ``out`` is differentiated, and the result is
        ``((value, aux), gradient)``, aux without this transform's tracers (arrays copied), as JAX.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> value, g = dd.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    >>> (value, aux), g = dd.value_and_grad(lambda x: (np.sum(x ** 2), x * 3), has_aux=True)(
    ...     np.array([1.0, 2.0]))
    >>> aux, g
    (array([3., 6.]), array([2., 4.]))
    """
    name = "value_and_grad"
    nums, single = _checks.argnums(f, argnums, name)

    def value_and_grad_f(*args, **kwargs):
        if not has_aux:
            return _value_and_grad(bound(f, kwargs), nums, single, args, True, name)
        aux_f = _Aux(bound(f, kwargs), name)
        (value, grads), aux = aux_f.collect(
            lambda: _value_and_grad(aux_f, nums, single, args, True, name), args
        )
        return (value, aux), grads

    return value_and_grad_f


def _value_and_grad(f, nums, single, args, want_value, name):
    """``(f(*args), gradient)``; without ``want_value`` the value is None and never computed
    where it was deferred (``large/defer.py``): a gradient does not read it."""
    nums = _checks.resolve(nums, len(args), name)
    rec = record(f, args, nums, name)
    _checks.output(rec.out, name, _checks.SCALAR)
    dtype = getattr(rec.out, "dtype", None)  # the loss's own: a float32 loss sweeps in float32
    seed = np.ones((1,) + _loss_shape(rec.out, name), dtype if _is_float(dtype) else np.float64)
    value = primal(rec.out, rec.level, flatten(args)[0]) if want_value else None
    grads = rec.pull(seed, release=True)
    grads = [_squeeze(g) for g in grads]
    return value, grads[0] if single else tuple(grads)


def _loss_shape(out, name):
    """The shape of a scalar loss ``out`` (read without computing it); ValueError otherwise."""
    shape = out.shape if isinstance(out, Tracer) else np.shape(out)
    if math.prod(shape) == 1:
        return shape
    raise ValueError(
        f"dd.{name} requires a function with one output element (a scalar loss); got an "
        f"output of shape {shape}. Use dd.jacobian / dd.jacrev, or dd.vjp with a cotangent, "
        "for non-scalar outputs."
    )


def _squeeze(tree):
    leaves, unflatten = flatten(tree)
    return unflatten([g[0, ...] for g in leaves])


def grad(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable:
    """Gradient of a scalar-valued ``f`` (reverse mode), as a function of ``f``'s arguments.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``; its output must have exactly one element.
    argnums : int or tuple of int
        Which positional arguments to differentiate (see :func:`value_and_grad`).
    has_aux : bool
        f returns a pair ``(out, aux)``: the result is ``(gradient, aux)``, aux without this
        transform's tracers (arrays copied).

    Notes
    -----
    At large sizes (16384 elements and up) the recording computes an elementwise result only
    when something reads it, and ``grad`` does not read f's value: ops whose results only
    the loss reads (the final squares, their sum, the sum itself) are never computed. The
    docs/internals.md says what defers; ``dd.engine_options(defer=False)`` turns it off.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.grad(lambda x: np.sum(np.sin(x)))(np.array([0.0, np.pi]))
    array([ 1., -1.])
    >>> dd.grad(lambda x: (np.sum(x ** 2), {"mean": np.mean(x)}), has_aux=True)(np.ones(2))
    (array([2., 2.]), {'mean': np.float64(1.0)})
    """
    return _grad(f, argnums, "grad", has_aux)


def _grad(f, argnums, name, has_aux=False):
    nums, single = _checks.argnums(f, argnums, name)

    def grad_f(*args, **kwargs):
        def gradient(g):
            return _value_and_grad(g, nums, single, args, False, name)[1]

        return _called(f, args, kwargs, name, has_aux, gradient)

    return grad_f


def _called(f, args, kwargs, name, has_aux, compute):
    """``compute(g)``, g being f with ``kwargs`` bound; with ``has_aux``, ``(compute(g), aux)``
    for the f that returns ``(out, aux)``."""
    g = bound(f, kwargs)
    if not has_aux:
        return compute(g)
    aux_f = _Aux(g, name)
    return aux_f.collect(lambda: compute(aux_f), args)


def elementwise_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Gradient of ``sum(f(*args))``: for an elementwise ``f``, its derivative at every element.

    One reverse sweep with a cotangent of ones (autograd's ``elementwise_grad``). For an ``f``
    that is not elementwise it is still the gradient of the sum of its outputs (a
    vector-Jacobian product with ones), not a Jacobian's diagonal.

    Parameters
    ----------
    f : callable
        Function of arrays returning one real array.
    argnums : int or tuple of int
        Which positional arguments to differentiate (see :func:`value_and_grad`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.elementwise_grad(np.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    nums, single = _checks.argnums(f, argnums, "elementwise_grad")

    def elementwise_grad_f(*args, **kwargs):
        summed = _summed(bound(f, kwargs))
        return _value_and_grad(summed, nums, single, args, False, "elementwise_grad")[1]

    return elementwise_grad_f


def _summed(f):
    def summed(*args):
        out = f(*args)
        _checks.output(out, "elementwise_grad", _checks.ARRAY)
        return np.sum(out)

    return summed


def stop_gradient(x: Any) -> Any:
    """``x`` as a constant: its value, with a zero derivative at every level of nesting.

    Arrays, numbers and (nested) tuples, lists and dicts of them are accepted; traced values
    come back as plain copies of their values (never memory a recording holds), and a
    tensor comes back detached (``Tensor.detach()``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hessian(lambda x: np.sum(x ** 2 * dd.stop_gradient(x)))(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    leaves, unflatten = flatten(x)
    return unflatten([_constant(a) for a in leaves])


def _constant(a):
    if hasattr(type(a), "detach"):  # a tensor: PyTorch's way to stop its gradient
        return a.detach()
    while isinstance(a, Tracer):  # every level: a constant for every transform, as JAX's
        if type(a).mode == "replay":  # dd.replay's capture: data of its recording, kept
            return a._clone()
        a = a.value
    return a.copy() if type(a) is np.ndarray else a


def _plain(a, level):
    """``a`` without its tracer of this transform's ``level`` (an outer transform's stays, as in
    JAX, so that it differentiates the aux too); an array is copied (the caller's own)."""
    value = strip(a, level) if level is not None else a
    return value.copy() if type(value) is np.ndarray else value


class _Aux:
    """``f`` returning ``(out, aux)`` as a function returning ``out``, for ``has_aux=True``.

    The aux of the first call of f on this thread inside :meth:`collect` is kept, without this
    transform's tracers and with its arrays copied at once, while f runs: what the recording
    holds is later swept and freed, perhaps in place.
    """

    def __init__(self, f, name):
        self.f, self.name = f, name
        self._local = threading.local()  # a Jacobian's chunks may call f on other threads

    def __call__(self, *args, **kwargs):
        out, aux = _checks.aux_pair(self.f(*args, **kwargs), self.name)
        box = getattr(self._local, "box", None)
        if box is not None and not box:
            levels = [x.level for x in flatten(args)[0] if isinstance(x, Tracer)]
            level = max(levels, default=None)  # this transform's: the newest
            leaves, unflatten = flatten(aux)
            box.append(unflatten([_plain(a, level) for a in leaves]))
        return out

    def collect(self, compute, args, kwargs=None):
        """``(compute(), aux)``; when ``compute`` called f on no thread of ours (a plan made
        earlier, chunks run by an executor), f is called once more for its aux."""
        local = self._local
        outer, local.box = getattr(local, "box", None), []
        try:
            result = compute()
            if not local.box:
                self(*args, **(kwargs or {}))
            return result, local.box[0]
        finally:
            local.box = outer


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Output of ``f(*primals)`` and its pullback ``ct -> tuple of cotangents``.

    With ``has_aux=True``, f returns ``(out, aux)`` and the result is ``(out, pullback, aux)``,
    aux without this transform's tracers (arrays copied), as JAX's.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> out, pullback = dd.vjp(lambda x: x ** 2, np.array([1.0, 3.0]))
    >>> pullback(np.array([1.0, 1.0]))
    (array([2., 6.]),)
    >>> out, pullback, aux = dd.vjp(lambda x: (x ** 2, x.size), np.array([1.0, 3.0]),
    ...                             has_aux=True)
    >>> aux
    2
    """
    nums = tuple(range(len(primals)))
    # the pullback's rules read the primals when it is called: the caller's arrays may have
    # changed in place by then, so the recording keeps copies
    primals = tuple(_tree_copied(p) for p in primals)
    if has_aux:
        aux_f = _Aux(f, "vjp")
        (values, pullback), aux = aux_f.collect(lambda: _vjp(aux_f, primals, nums), primals)
        return values, pullback, aux
    return _vjp(f, primals, nums)


def _vjp(f, primals, nums):
    rec = record(f, primals, nums, "vjp")
    _checks.output(rec.out, "vjp")
    out_leaves, unflatten_out = flatten(rec.out)
    # copies: the tape, alive in the pullback, may keep an output for its rules (exp's answer)
    values = unflatten_out([_copied(_value_at(o, rec.level)) for o in out_leaves])

    def pullback(ct):
        cts = _checks.like(ct, values, "vjp", "cotangent")
        batched = unflatten_out([c[None] for c in cts])
        return tuple(_squeeze(g) for g in rec.pull(batched))

    return values, pullback


# -- forward mode ----------------------------------------------------------------------------


def _value_at(x, level):
    return x.value if isinstance(x, Tracer) and x.level == level else x


def _copied(x):
    return x.copy() if type(x) is np.ndarray else x


def _tree_copied(x):
    leaves, unflatten = flatten(x)
    return unflatten([_copied(a) for a in leaves])


def jvp(f: Callable, primals: Sequence, tangents: Sequence, *, has_aux: bool = False) -> tuple:
    """Output of ``f(*primals)`` and its directional derivative along ``tangents``.

    With ``has_aux=True``, f returns ``(out, aux)`` and the result is ``(out, tangent, aux)``,
    aux without this transform's tracers (arrays copied), as JAX's.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jvp(np.sin, (np.array([0.0, 1.0]),), (np.array([1.0, 2.0]),))[1]
    array([1.        , 1.08060461])
    >>> dd.jvp(lambda x: (np.sin(x), np.cos(x)), (np.array([0.0]),), (np.array([2.0]),),
    ...        has_aux=True)
    (array([0.]), array([2.]), array([1.]))
    """
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError(
            "dd.jvp: primals and tangents must be tuples (or lists) with one entry per "
            f"positional argument of f; got {type(primals).__name__} and "
            f"{type(tangents).__name__}. Write dd.jvp(f, (x,), (t,)) for one argument."
        )
    if not has_aux:
        return _jvp(f, primals, tangents, "jvp")
    aux_f = _Aux(f, "jvp")
    (out, tangent), aux = aux_f.collect(lambda: _jvp(aux_f, primals, tangents, "jvp"), primals)
    return out, tangent, aux


def _jvp(f, primals, tangents, name):
    if len(primals) != len(tangents):
        raise ValueError(
            f"dd.{name}: got {len(primals)} primals but {len(tangents)} tangents; pass one "
            "tangent per primal"
        )
    batched = []
    for i, (x, t) in enumerate(zip(primals, tangents)):
        ts = _checks.like(t, x, name, "tangent", f"[{i}]")
        batched.append(flatten(x)[1]([as_input(b, None, name)[None] for b in ts]))
    out, level = push(f, primals, batched, name)
    _checks.output(out, name)
    leaves, unflatten_out = flatten(out)
    held = flatten(primals)[0] + flatten(tangents)[0]
    values, ts = [], []  # an output f returned twice comes back as two arrays
    for o in leaves:
        values.append(primal(o, level, held + values))
    for o in leaves:
        ts.append(pool.handed(tangent_of(o, level, 1)[0, ...], held + values + ts))
    return unflatten_out(values), unflatten_out(ts)


def linearize(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Output of ``f(*primals)`` and the linear map ``f_jvp(*tangents)`` of its derivative there.

    ``f_jvp(*tangents)`` is ``jvp(f, primals, tangents)[1]``, as JAX's ``linearize``: one
    tangent per primal, each of its primal's structure and shapes; the output tangent has the
    output's. The primals are copied, so changing them afterwards does not change ``f_jvp``.
    Each call of ``f_jvp`` is one forward pass through ``f`` (f's own arithmetic included:
    nothing of ``f`` is kept between calls); for many tangents at once, :func:`jacfwd` pushes
    them in one batched pass.

    Parameters
    ----------
    f : callable
        Function of arrays (or nested tuples, lists and dicts of them) written with ``numpy``.
    *primals
        The point: one value per positional argument of ``f``.
    has_aux : bool
        f returns a pair ``(out, aux)``: the result is ``(out, f_jvp, aux)``, aux as plain
        values (arrays copied, no tracers).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> out, f_jvp = dd.linearize(np.sin, np.array([0.0, np.pi]))
    >>> f_jvp(np.array([1.0, 2.0]))
    array([ 1., -2.])
    """
    primals = tuple(_tree_copied(p) for p in primals)  # f_jvp reads them later
    inputs = tuple(_tree_inputs(p) for p in primals)
    g = _Aux(f, "linearize") if has_aux else f
    if has_aux:
        out, aux = g.collect(lambda: g(*inputs), inputs)
    else:
        out = f(*inputs)
    _checks.output(out, "linearize")
    leaves, unflatten_out = flatten(out)
    held = flatten(primals)[0]
    out = unflatten_out([primal(o, None, held) for o in leaves])

    def f_jvp(*tangents):
        return _jvp(g, primals, tangents, "linearize")[1]

    return (out, f_jvp, aux) if has_aux else (out, f_jvp)


def _tree_inputs(x):
    """``x`` with its leaves as :func:`push` gives them to f (integers promoted to floats)."""
    leaves, unflatten = flatten(x)
    weak = weak_dtype(leaves)
    return unflatten([as_input(a, weak, "linearize") for a in leaves])


# -- Jacobians and Hessians --------------------------------------------------------------------


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable:
    """Jacobian by forward mode: the whole input basis in one batched forward pass.

    The result has shape ``out.shape + in.shape``. Outputs and differentiated arguments may be
    (nested) tuples, lists and dicts of arrays; the result nests as JAX's: f's output structure
    outside, the argument's inside, with a tuple over ``argnums`` when it is a tuple. With
    ``has_aux=True``, f returns ``(out, aux)`` and the result is ``(jacobian, aux)``, aux as
    values without this transform's tracers (arrays copied).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    >>> dd.jacfwd(lambda x: {"a": x[0] * x[1]})(np.array([1.0, 2.0]))
    {'a': array([2., 1.])}
    >>> dd.jacfwd(lambda x: (x ** 2, "label"), has_aux=True)(np.array([3.0]))
    (array([[6.]]), 'label')
    """
    return _jacfwd_transform(f, argnums, "jacfwd", has_aux)


def _jacfwd_transform(f, argnums, name, has_aux=False):
    nums, single = _checks.argnums(f, argnums, name)

    def jac(*args, **kwargs):
        nums_ = _checks.resolve(nums, len(args), name)
        return _called(f, args, kwargs, name, has_aux,
                       lambda g: _jacfwd(g, args, nums_, single, name))  # fmt: skip

    return jac


def _jacfwd(f, args, nums, single, name):
    args = _inputs(args, nums, single)
    layout = Layout(seeded(args, nums, single))
    n = layout.size
    basis = _in_dtypes(layout.split(Seeds(n).rows(0, n)), seeded(args, nums, single))
    tangents = with_seeded([None] * len(args), nums, single, basis)
    out = push_tree(f, args, tangents, caller=name)
    out_leaves, unflatten_out = flatten(out)
    rows = []
    for t in out_leaves:  # (n, *o.shape): column j of the Jacobian in t[j]
        rows.append([np.moveaxis(t[a:b], 0, -1).reshape(t.shape[1:] + s)
                     for (a, b), s in zip(layout.bounds, layout.shapes)])  # fmt: skip
    return _assemble(rows, unflatten_out, layout.unflatten, flatten(args)[0])


def _is_float(dtype):
    return dtype is not None and np.dtype(dtype).kind == "f"


def _in_dtypes(tangents, primals):
    """Tangents in their primals' floating dtypes (float32 stays float32, as in JAX)."""
    leaves, unflatten = flatten(tangents)
    dtypes = [getattr(p, "dtype", None) for p in flatten(primals)[0]]
    return unflatten([t.astype(d) if d is not None and d.kind == "f" and d != t.dtype else t
                      for t, d in zip(leaves, dtypes)])  # fmt: skip


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable:
    """Jacobian by reverse mode: the whole output basis pulled back in one sweep.

    The result has shape ``out.shape + in.shape``, nested as :func:`jacfwd`'s; with
    ``has_aux=True`` it is ``(jacobian, aux)`` (see :func:`jacfwd`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacrev(lambda x: np.cumsum(x))(np.array([1.0, 2.0]))
    array([[1., 0.],
           [1., 1.]])
    """
    nums, single = _checks.argnums(f, argnums, "jacrev")

    def jac(*args, **kwargs):
        nums_ = _checks.resolve(nums, len(args), "jacrev")
        return _called(f, args, kwargs, "jacrev", has_aux,
                       lambda g: _jacrev(g, args, nums_, single))  # fmt: skip

    return jac


def _jacrev(f, args, nums, single):
    rec = record(f, args, nums)
    _checks.output(rec.out, "jacrev")
    out = Layout(rec.out)
    m = out.size
    if any(rec.leaf_sizes):  # seeds in the outputs' float dtype: float32 stays float32
        rows = Seeds(m).rows(0, m)
        dtypes = {getattr(value_of(o), "dtype", None) for o in flatten(rec.out)[0]}
        if len(dtypes) == 1 and _is_float(next(iter(dtypes))):
            rows = rows.astype(next(iter(dtypes)), copy=False)
        grads = pull(rec, out, single, rows, release=True)
    else:  # nothing to pull back to: no m x m basis for an empty Jacobian
        zeros = rec.zeros(m)
        grads = zeros[0] if single else tuple(zeros)
    del rec
    leaves, unflatten_in = flatten(grads)
    rows = [[g[a:b].reshape(s + g.shape[1:]) for g in leaves]
            for (a, b), s in zip(out.bounds, out.shapes)]  # fmt: skip
    return _assemble(rows, out.unflatten, unflatten_in, flatten(args)[0])


def _inputs(args, nums, single):
    """``args`` with the differentiated leaves made inputs (floats)."""
    _checks.not_none(args, nums)
    leaves, unflatten = flatten(seeded(args, nums, single))
    weak = weak_dtype(leaves)  # a Python float beside float32 arrays: float32, as in NumPy
    return with_seeded(args, nums, single, unflatten([as_input(x, weak) for x in leaves]))


def _assemble(rows, unflatten_out, unflatten_in, held):
    """The Jacobian nested as JAX's: ``rows[i][j]`` is output leaf i's block for input leaf j.

    Every block is the caller's own (``pool.handed``, ``held`` being the arguments); one that
    may share memory with an earlier block (f returned one array twice) is copied."""
    seen = []
    for row in rows:
        for j, block in enumerate(row):
            if type(block) is np.ndarray:
                if any(np.may_share_memory(block, other) for other in seen):
                    block = row[j] = block.copy()
                else:
                    block = row[j] = pool.handed(block, held)
                seen.append(block)
    return unflatten_out([unflatten_in(row) for row in rows])


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    *,
    mode: Literal["auto", "forward", "reverse"] = "auto",
    chunk_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    executor: Executor | None = None,
    sparse: bool = False,
    has_aux: bool = False,
) -> Callable:
    """Jacobian of ``f`` with shape ``out.shape + in.shape``, by the cheaper mode, in chunks.

    Outputs and differentiated arguments may be structures: (nested) tuples, lists and dicts of
    arrays, Python or NumPy numbers and 0-d arrays, with ``None`` an empty structure. The result
    nests as :func:`jacfwd`'s and :func:`jacrev`'s (and JAX's): f's output structure outside,
    the argument's inside, a tuple over ``argnums`` between them when it is a tuple, each leaf
    of shape ``out_leaf.shape + in_leaf.shape`` and the floating dtype of its input leaf
    (float64 for integers and numbers), and ``None`` where f's output has ``None``. Every mode,
    chunking and executor computes it from one flat vector per structured argument (its
    leaves raveled, as :func:`ravel_pytree` lays them out), so a structure costs a few slices,
    reshapes and one concatenation per pass.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``, of arrays or structures of them, returning an array
        or a structure of them.
    argnums : int or tuple of int
        Arguments to differentiate; a tuple gives a tuple of Jacobians (inside each output
        leaf, for a structured output).
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
        side with fewer colors. Structures are flattened as :func:`ravel_pytree` flattens
        them (leaves raveled in C order, depth first, dict entries in insertion order): one
        matrix per argument, rows and columns in that order;
        :func:`dualdiff.sparse.unravel_jacobian` cuts it into the nested blocks.
    has_aux : bool
        f returns a pair ``(out, aux)``: the result is ``(jacobian, aux)``, aux without this
        transform's tracers (arrays copied). Not with ``sparse=True``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacobian(lambda x: np.array([1.0, 2.0]) * np.sum(x ** 2))(np.array([1.0, 3.0]))
    array([[ 2.,  6.],
           [ 4., 12.]])
    >>> J = dd.jacobian(lambda p: {"y": p["w"] * p["b"], "s": np.sum(p["w"])})(
    ...     {"w": np.array([1.0, 2.0]), "b": 3.0})
    >>> J["y"]["w"], J["y"]["b"], J["s"]["w"]
    (array([[3., 0.],
           [0., 3.]]), array([1., 2.]), array([1., 1.]))
    """
    check_options(mode, chunk_size, max_memory)
    nums, single = _checks.argnums(f, argnums, "jacobian")
    if sparse:
        if executor is not None:
            raise ValueError(
                "dd.jacobian: sparse=True computes its few compressed passes locally: no executor"
            )
        _no_sparse_aux(has_aux, "jacobian")
        return sparse_jacobian(f, argnums, mode=mode, chunk_size=chunk_size, max_memory=max_memory)
    check_executor(executor)

    def dense(g):
        return dense_jacobian(g, nums, single, mode, chunk_size, max_memory, executor)

    if not has_aux:
        return structured(f, nums, single, dense, "jacobian")
    aux_f = _Aux(f, "jacobian")
    jac = structured(aux_f, nums, single, dense, "jacobian")

    def jac_aux(*args, **kwargs):
        return aux_f.collect(lambda: jac(*args, **kwargs), args, kwargs)

    return jac_aux


def _no_sparse_aux(has_aux, name):
    if has_aux:
        raise ValueError(
            f"dd.{name}: has_aux=True is not supported with sparse=True (the sparsity pattern is "
            f"detected on f's output alone); use the dense dd.{name}(f, has_aux=True), or "
            "return only the output and compute the aux apart"
        )


def hessian(
    f: Callable, argnums: int = 0, *, sparse: bool = False, has_aux: bool = False
) -> Callable:
    """Hessian of a scalar ``f``: forward over reverse (``jacfwd(grad(f))``).

    With ``has_aux=True``, f returns ``(out, aux)`` and the result is ``(hessian, aux)``, aux
    without this transform's tracers (as JAX's ``hessian``); not with ``sparse=True``.

    With ``sparse=True`` the Hessian's structural pattern is detected and star-colored, and a
    ``scipy.sparse.csr_array`` of shape ``(x.size, x.size)`` comes from one batch of
    Hessian-vector products per chunk of colors (pattern and coloring reused across x). A
    structure of arrays as x is flattened as :func:`ravel_pytree` flattens it (leaves raveled,
    depth first, dict entries in insertion order): rows and columns in that order.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    if sparse:
        _no_sparse_aux(has_aux, "hessian")
        return sparse_hessian(f, argnums)
    # with has_aux, the inner gradient returns (gradient, aux), its aux already plain
    gradient = _grad(f, argnums, "hessian", has_aux)
    dense = _jacfwd_transform(gradient, argnums, "hessian", has_aux)
    if has_aux or not isinstance(argnums, int):
        return dense
    return dense_hessian(f, argnums, dense)


def hvp(f: Callable, x: Any, v: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Hessian-vector product ``H(x) @ v`` of a scalar ``f``, forward over reverse.

    ``f(x, *args, **kwargs)`` is differentiated with respect to ``x`` only: the extra
    positional and keyword arguments reach f as they are.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    >>> dd.hvp(lambda x, a, p=2: a * np.sum(x ** p), np.array([1.0, 2.0]), np.ones(2), 5.0, p=3)
    array([30., 60.])
    """
    _checks.like(v, x, "hvp", "tangent")
    gradient = _grad(f, 0, "hvp")
    return _jvp(lambda y: gradient(y, *args, **kwargs), (x,), (v,), "hvp")[1]
