"""The functional API: grad, value_and_grad, jvp, vjp, jacfwd, jacrev, hessian, hvp.

Every call opens a fresh trace level. Tangents and cotangents are pushed with a leading batch
axis: ``jvp``/``vjp`` use one direction and squeeze it at the edge, ``jacfwd`` pushes the whole
input basis in one forward pass and ``jacrev`` pulls the whole output basis in one sweep.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dualdiff import _checks, _pool
from dualdiff._tracer import Tracer, new_level
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.tape import Var, backward, leaf


def as_input(x):
    """A differentiable input: tracers pass through, ints become float64, complex is refused."""
    if isinstance(x, Tracer):
        return x
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise TypeError(
            "dualdiff differentiates real-valued inputs only; got a complex array "
            "(differentiate its real and imaginary parts as two real inputs)."
        )
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"dualdiff differentiates real arrays and numbers; got {_checks.describe(x)} as an "
            "input (pass it as an argument that is not differentiated: leave it out of argnums)"
        )
    if a.dtype.kind != "f":
        return a.astype(np.float64)  # integer and bool inputs are promoted (documented)
    return a


def _primal(x, level, held=()):
    """``x``'s value at ``level``, the caller's own (``_pool.handed``): the memory of an input
    among ``held`` (``f`` returned it, or a view of it) or of a constant is copied."""
    if isinstance(x, Tracer) and x.level == level:
        return _pool.handed(x.value, held)
    return x.copy() if type(x) is np.ndarray else x


# -- reverse mode ----------------------------------------------------------------------------


def _record(f, args, argnums):
    """Run ``f`` with the leaves of ``args[argnums]`` traced on a fresh tape."""
    level = new_level()
    tape = []
    args = list(args)
    rebuild = []
    for i in argnums:
        leaves, unflatten = flatten(args[i])
        rebuild.append((unflatten, [np.shape(_value(x)) for x in leaves]))
        args[i] = unflatten([leaf(as_input(x), tape, level) for x in leaves])
    n_leaves = len(tape)
    out = f(*args)
    return out, tape, level, n_leaves, rebuild


def _value(x):
    return x.value if isinstance(x, Tracer) else x


def _pull(out, tape, level, n_leaves, rebuild, ct, release=False):
    """Cotangents of the traced leaves for output cotangents ``ct`` (batched, same structure).

    ``release``: the tape is not swept again, so the sweep may drop its nodes as it goes."""
    cts, _ = flatten(ct)
    k = np.shape(cts[0])[0] if cts else 1
    return _sweep(tape, _seeds(out, ct, level), n_leaves, rebuild, k, release)


def _seeds(out, ct, level):
    """``{node index: cotangent}`` for the outputs traced at ``level``."""
    outs, _ = flatten(out)
    cts, _ = flatten(ct)
    seeds = {}
    for o, g in zip(outs, cts):
        if isinstance(o, Var) and o.level == level:
            seeds[o.index] = g if o.index not in seeds else seeds[o.index] + g
    return seeds


def _sweep(tape, seeds, n_leaves, rebuild, k, release):
    """The leaves' cotangents (``k`` in a batch) for ``seeds``, in the structure of the
    differentiated args."""
    leaves = backward(tape, seeds, n_leaves, release)
    result, start = [], 0
    for unflatten, shapes in rebuild:
        chunk = leaves[start : start + len(shapes)]
        start += len(shapes)
        result.append(unflatten([_zero_if_none(g, k, s) for g, s in zip(chunk, shapes)]))
    return result


def _zero_if_none(g, k, shape):
    return np.zeros((k,) + tuple(shape)) if g is None else g


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Function returning ``(f(*args), gradient)`` of a scalar-valued ``f``.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``; its output must have exactly one element.
    argnums : int or tuple of int
        Which positional arguments to differentiate; a tuple gives a tuple of gradients.
        Each argument may be an array, a float or a nested tuple/list/dict of them, and its
        gradient comes back in the same structure. Integer inputs are promoted to float64.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> value, g = dd.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """
    nums, single = _checks.argnums(f, argnums, "value_and_grad")

    def value_and_grad_f(*args, **kwargs):
        _checks.positional(kwargs, "value_and_grad")
        return _value_and_grad(f, nums, single, args, True, "value_and_grad")

    return value_and_grad_f


def _value_and_grad(f, nums, single, args, want_value, name):
    """``(f(*args), gradient)``; without ``want_value`` the value is None and never computed
    where it was deferred (``_defer.py``): a gradient does not read it."""
    nums = _checks.resolve(nums, len(args), name)
    out, tape, level, n_leaves, rebuild = _record(f, args, nums)
    _checks.output(out, name, _checks.SCALAR)
    seeds = _seeds(out, np.ones((1,) + _loss_shape(out, name)), level)
    value = _primal(out, level, flatten(args)[0]) if want_value else None
    del out  # what only the output's value needed is freed before the sweep
    grads = _sweep(tape, seeds, n_leaves, rebuild, 1, release=True)
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


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Gradient of a scalar-valued ``f`` (reverse mode), as a function of ``f``'s arguments.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``; its output must have exactly one element.
    argnums : int or tuple of int
        Which positional arguments to differentiate (see :func:`value_and_grad`).

    Notes
    -----
    At large sizes (16384 elements and up) the recording computes an elementwise result only
    when something reads it, and ``grad`` does not read f's value: ops whose results only
    the loss reads (the final squares, their sum, the sum itself) are never computed. The
    README's "Large arrays" section says what defers; ``DUALDIFF_EAGER=1`` turns it off.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.grad(lambda x: np.sum(np.sin(x)))(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    return _grad(f, argnums, "grad")


def _grad(f, argnums, name):
    nums, single = _checks.argnums(f, argnums, name)

    def grad_f(*args, **kwargs):
        _checks.positional(kwargs, name)
        return _value_and_grad(f, nums, single, args, False, name)[1]

    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Output of ``f(*primals)`` and its pullback ``ct -> tuple of cotangents``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> out, pullback = dd.vjp(lambda x: x ** 2, np.array([1.0, 3.0]))
    >>> pullback(np.array([1.0, 1.0]))
    (array([2., 6.]),)
    """
    nums = tuple(range(len(primals)))
    # the pullback's rules read the primals when it is called: the caller's arrays may have
    # changed in place by then, so the recording keeps copies
    primals = tuple(_tree_copied(p) for p in primals)
    out, tape, level, n_leaves, rebuild = _record(f, primals, nums)
    _checks.output(out, "vjp")
    out_leaves, unflatten_out = flatten(out)
    # copies: the tape, alive in the pullback, may keep an output for its rules (exp's answer)
    values = unflatten_out([_copied(_value_at(o, level)) for o in out_leaves])

    def pullback(ct):
        cts = _checks.like(ct, values, "vjp", "cotangent")
        batched = unflatten_out([c[None] for c in cts])
        return tuple(_squeeze(g) for g in _pull(out, tape, level, n_leaves, rebuild, batched))

    return values, pullback


# -- forward mode ----------------------------------------------------------------------------


def push(f, args, tangents):
    """Run ``f`` with Duals for ``args`` carrying batched ``tangents`` (None for constants)."""
    level = new_level()
    wrapped = []
    for x, t in zip(args, tangents):
        if t is None:
            wrapped.append(x)
            continue
        leaves, unflatten = flatten(x)
        t_leaves, _ = flatten(t)
        wrapped.append(unflatten([Dual(as_input(a), b, level) for a, b in zip(leaves, t_leaves)]))
    out = f(*wrapped)
    return out, level


def _value_at(x, level):
    return x.value if isinstance(x, Tracer) and x.level == level else x


def _copied(x):
    return x.copy() if type(x) is np.ndarray else x


def _tree_copied(x):
    leaves, unflatten = flatten(x)
    return unflatten([_copied(a) for a in leaves])


def _tangent_of(o, level, k):
    if isinstance(o, Dual) and o.level == level:
        return _pool.disown(o.tangent)  # the caller's: the pool forgets it
    return np.zeros((k,) + np.shape(_primal(o, level)))


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Output of ``f(*primals)`` and its directional derivative along ``tangents``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jvp(np.sin, (np.array([0.0, 1.0]),), (np.array([1.0, 2.0]),))[1]
    array([1.        , 1.08060461])
    """
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError(
            "dd.jvp: primals and tangents must be tuples (or lists) with one entry per "
            f"positional argument of f; got {type(primals).__name__} and "
            f"{type(tangents).__name__}. Write dd.jvp(f, (x,), (t,)) for one argument."
        )
    if len(primals) != len(tangents):
        raise ValueError(
            f"dd.jvp: got {len(primals)} primals but {len(tangents)} tangents; pass one "
            "tangent per primal"
        )
    batched = []
    for i, (x, t) in enumerate(zip(primals, tangents)):
        ts = _checks.like(t, x, "jvp", "tangent", f"[{i}]")
        batched.append(flatten(x)[1]([as_input(b)[None] for b in ts]))
    out, level = push(f, primals, batched)
    _checks.output(out, "jvp")
    leaves, unflatten_out = flatten(out)
    held = flatten(primals)[0] + flatten(tangents)[0]
    values = unflatten_out([_primal(o, level, held) for o in leaves])
    ts = [_pool.handed(_tangent_of(o, level, 1)[0, ...], held) for o in leaves]
    return values, unflatten_out(ts)


# -- Jacobians and Hessians --------------------------------------------------------------------


def basis(shape, dtype=np.float64):
    """The identity basis for a primal of ``shape``: array of shape ``(size, *shape)``."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.eye(n, dtype=dtype).reshape((n,) + tuple(shape))


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Jacobian by forward mode: the whole input basis in one batched forward pass.

    The result has shape ``out.shape + in.shape``. Outputs and differentiated arguments may be
    (nested) tuples, lists and dicts of arrays; the result nests as JAX's: f's output structure
    outside, the argument's inside, with a tuple over ``argnums`` when it is a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    >>> dd.jacfwd(lambda x: {"a": x[0] * x[1]})(np.array([1.0, 2.0]))
    {'a': array([2., 1.])}
    """
    return _jacfwd_transform(f, argnums, "jacfwd")


def _jacfwd_transform(f, argnums, name):
    nums, single = _checks.argnums(f, argnums, name)

    def jac(*args, **kwargs):
        _checks.positional(kwargs, name)
        return _jacfwd(f, args, _checks.resolve(nums, len(args), name), single, name)

    return jac


def _jacfwd(f, args, nums, single, name):
    args, leaves, unflatten_in = _diff_leaves(args, nums, single)
    shapes = [np.shape(_value(x)) for x in leaves]
    bounds = _bounds(shapes)
    n = bounds[-1][1] if bounds else 0
    eye = basis((n,))
    tangents = [None] * len(args)
    _put(tangents, nums, single, unflatten_in([_columns(eye, a, b, s) for (a, b), s in
                                                zip(bounds, shapes)]))  # fmt: skip
    out, level = push(f, args, tangents)
    _checks.output(out, name)
    out_leaves, unflatten_out = flatten(out)
    rows = []
    for o in out_leaves:
        t = _tangent_of(o, level, n)  # (n, *o.shape): column j of the Jacobian in t[j]
        rows.append([np.moveaxis(t[a:b], 0, -1).reshape(t.shape[1:] + s)
                     for (a, b), s in zip(bounds, shapes)])  # fmt: skip
    return _assemble(rows, unflatten_out, unflatten_in, flatten(args)[0])


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Jacobian by reverse mode: the whole output basis pulled back in one sweep.

    The result has shape ``out.shape + in.shape``, nested as :func:`jacfwd`'s.

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
        _checks.positional(kwargs, "jacrev")
        return _jacrev(f, args, _checks.resolve(nums, len(args), "jacrev"), single)

    return jac


def _jacrev(f, args, nums, single):
    out, tape, level, n_leaves, rebuild = _record(f, args, nums)
    _checks.output(out, "jacrev")
    out_leaves, unflatten_out = flatten(out)
    shapes = [np.shape(_value(o)) for o in out_leaves]
    bounds = _bounds(shapes)
    m = bounds[-1][1] if bounds else 0
    if any(math.prod(s) for _, in_shapes in rebuild for s in in_shapes):
        eye = basis((m,))
        ct = unflatten_out([_columns(eye, a, b, s) for (a, b), s in zip(bounds, shapes)])
        grads = _sweep(tape, _seeds(out, ct, level), n_leaves, rebuild, m, release=True)
    else:  # nothing to pull back to: no m x m basis for an empty Jacobian
        grads = [unflatten([np.zeros((m,) + s) for s in in_shapes])
                 for unflatten, in_shapes in rebuild]  # fmt: skip
    del out, tape
    leaves, unflatten_in = flatten(grads[0] if single else tuple(grads))
    rows = [[g[a:b].reshape(s + g.shape[1:]) for g in leaves] for (a, b), s in zip(bounds, shapes)]
    return _assemble(rows, unflatten_out, unflatten_in, flatten(args)[0])


def _diff_leaves(args, nums, single):
    """``args`` with the differentiated leaves made inputs (floats), those leaves, and the
    function that rebuilds the differentiated part (an argument, or a tuple of them)."""
    args = list(args)
    leaves, unflatten = flatten(args[nums[0]] if single else tuple(args[i] for i in nums))
    leaves = [as_input(x) for x in leaves]
    _put(args, nums, single, unflatten(leaves))
    return args, leaves, unflatten


def _put(args, nums, single, part):
    for i, p in zip(nums, (part,) if single else part):
        args[i] = p


def _bounds(shapes):
    """``(start, stop)`` of each leaf in the concatenation of the flattened leaves."""
    stops = np.cumsum([math.prod(s) for s in shapes], dtype=np.int64).tolist()
    return list(zip([0] + stops[:-1], stops))


def _columns(eye, start, stop, shape):
    """Columns ``start:stop`` of the identity, as a batch of directions for a leaf of ``shape``."""
    return eye[:, start:stop].reshape((eye.shape[0],) + tuple(shape))


def _assemble(rows, unflatten_out, unflatten_in, held):
    """The Jacobian nested as JAX's: ``rows[i][j]`` is output leaf i's block for input leaf j.

    Every block is the caller's own (``_pool.handed``, ``held`` being the arguments); one that
    may share memory with an earlier block (f returned one array twice) is copied."""
    seen = []
    for row in rows:
        for j, block in enumerate(row):
            if type(block) is np.ndarray:
                if any(np.may_share_memory(block, other) for other in seen):
                    block = row[j] = block.copy()
                else:
                    block = row[j] = _pool.handed(block, held)
                seen.append(block)
    return unflatten_out([unflatten_in(row) for row in rows])


def hessian(f: Callable, argnums: int = 0, *, sparse: bool = False) -> Callable:
    """Hessian of a scalar ``f``: forward over reverse (``jacfwd(grad(f))``).

    With ``sparse=True`` the Hessian's structural pattern is detected and star-colored, and a
    ``scipy.sparse.csr_array`` of shape ``(x.size, x.size)`` comes from one batch of
    Hessian-vector products per chunk of colors (pattern and coloring reused across x).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    if sparse:
        from dualdiff.sparse import sparse_hessian  # sparse builds on this module

        return sparse_hessian(f, argnums)
    return _jacfwd_transform(_grad(f, argnums, "hessian"), argnums, "hessian")


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """Hessian-vector product ``H(x) @ v`` of a scalar ``f``, forward over reverse.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    _checks.like(v, x, "hvp", "tangent")
    return jvp(_grad(f, 0, "hvp"), (x,), (v,))[1]


def push_tree(f, args, batched_tangents):
    """Batched output tangents of ``f`` for batched input tangents (leading axis k)."""
    out, level = push(f, args, batched_tangents)
    k = next(t for t in flatten(batched_tangents)[0] if t is not None).shape[0]
    leaves, unflatten = flatten(out)
    return unflatten([_tangent_of(o, level, k) for o in leaves])


def pull_tree(f, args, batched_cotangent):
    """Batched input cotangents of ``f`` (a tuple over args) for a batch of output cotangents."""
    nums = tuple(range(len(args)))
    out, tape, level, n_leaves, rebuild = _record(f, args, nums)
    return tuple(_pull(out, tape, level, n_leaves, rebuild, batched_cotangent, True))
