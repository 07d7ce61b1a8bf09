"""The functional API: grad, value_and_grad, jvp, vjp, jacfwd, jacrev, hessian, hvp.

Every call opens a fresh trace level. Tangents and cotangents are pushed with a leading batch
axis: ``jvp``/``vjp`` use one direction and squeeze it at the edge, ``jacfwd`` pushes the whole
input basis in one forward pass and ``jacrev`` pulls the whole output basis in one sweep.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dualdiff import _pool
from dualdiff._tracer import Tracer, new_level
from dualdiff._tree import flatten
from dualdiff.dual import Dual
from dualdiff.tape import Var, backward, leaf


def as_input(x):
    """A differentiable input: tracers pass through, ints become float64, complex is refused."""
    if isinstance(x, Tracer):
        return x
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise TypeError(
            "dualdiff differentiates real-valued inputs only; got a complex array "
            "(differentiate its real and imaginary parts as two real inputs)."
        )
    if not np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float64)  # integer and bool inputs are promoted (documented)
    return x


def _argnum_tuple(argnums):
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


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
    return lambda *args: _value_and_grad(f, argnums, args, want_value=True)


def _value_and_grad(f, argnums, args, want_value):
    """``(f(*args), gradient)``; without ``want_value`` the value is None and never computed
    where it was deferred (``_defer.py``): a gradient does not read it."""
    out, tape, level, n_leaves, rebuild = _record(f, args, _argnum_tuple(argnums))
    seeds = _seeds(out, np.ones((1,) + _loss_shape(out)), level)
    value = _primal(out, level, flatten(args)[0]) if want_value else None
    del out  # what only the output's value needed is freed before the sweep
    grads = _sweep(tape, seeds, n_leaves, rebuild, 1, release=True)
    grads = [_squeeze(g) for g in grads]
    return value, grads[0] if isinstance(argnums, int) else tuple(grads)


def _loss_shape(out):
    """The shape of a scalar loss ``out`` (read without computing it); ValueError otherwise."""
    if isinstance(out, tuple | list | dict):
        shape = type(out).__name__
    else:
        shape = out.shape if isinstance(out, Tracer) else np.shape(out)
        if math.prod(shape) == 1:
            return shape
    raise ValueError(
        f"grad requires a function with one output element (a scalar loss); got an "
        f"output of shape {shape}. Use dd.jacobian / dd.jacrev, or dd.vjp with a "
        "cotangent, for non-scalar outputs."
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
    return lambda *args: _value_and_grad(f, argnums, args, want_value=False)[1]


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
    out, tape, level, n_leaves, rebuild = _record(f, primals, nums)
    out_leaves, unflatten_out = flatten(out)
    shapes = [np.shape(_value(o)) for o in out_leaves]

    def pullback(ct):
        cts, _ = flatten(ct)
        for c, s in zip(cts, shapes):
            if np.shape(_value(c)) != s:
                raise ValueError(f"cotangent shape {np.shape(_value(c))} does not match output {s}")
        batched = unflatten_out([c[None] for c in cts])
        return tuple(_squeeze(g) for g in _pull(out, tape, level, n_leaves, rebuild, batched))

    held = flatten(primals)[0]
    return unflatten_out([_primal(o, level, held) for o in out_leaves]), pullback


def pull_basis(f, args, argnum, basis_of_out):
    """Pull a batch of output cotangents back through one recording of ``f`` (for jacrev)."""
    out, tape, level, n_leaves, rebuild = _record(f, args, (argnum,))
    ct = basis_of_out(np.shape(_value(out)))
    return _primal(out, level), _pull(out, tape, level, n_leaves, rebuild, ct, True)[0]


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
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    batched = []
    for x, t in zip(primals, tangents):
        xs, _ = flatten(x)
        ts, unflatten = flatten(t)
        if len(xs) != len(ts):
            raise ValueError("tangents must have the same structure as primals")
        for a, b in zip(xs, ts):
            if np.shape(_value(a)) != np.shape(_value(b)):
                raise ValueError(
                    f"tangent shape {np.shape(_value(b))} does not match primal shape "
                    f"{np.shape(_value(a))}"
                )
        batched.append(unflatten([as_input(b)[None] for b in ts]))
    out, level = push(f, primals, batched)
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

    The result has shape ``out.shape + in.shape``; a tuple ``argnums`` gives a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    nums = _argnum_tuple(argnums)

    def jac(*args):
        jacs = tuple(_jacfwd_one(f, args, i) for i in nums)
        return jacs[0] if isinstance(argnums, int) else jacs

    return jac


def _jacfwd_one(f, args, i):
    x = as_input(args[i])
    tangents = [None] * len(args)
    tangents[i] = basis(np.shape(_value(x)))
    args = list(args)
    args[i] = x
    out, level = push(f, args, tangents)
    t = _tangent_of(out, level, tangents[i].shape[0])
    return np.moveaxis(t, 0, -1).reshape(np.shape(_primal(out, level)) + np.shape(_value(x)))


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Jacobian by reverse mode: the whole output basis pulled back in one sweep.

    The result has shape ``out.shape + in.shape``; a tuple ``argnums`` gives a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacrev(lambda x: np.cumsum(x))(np.array([1.0, 2.0]))
    array([[1., 0.],
           [1., 1.]])
    """
    nums = _argnum_tuple(argnums)

    def jac(*args):
        jacs = tuple(_jacrev_one(f, args, i) for i in nums)
        return jacs[0] if isinstance(argnums, int) else jacs

    return jac


def _jacrev_one(f, args, i):
    out, g = pull_basis(f, args, i, basis)
    in_shape = np.shape(_value(args[i]))
    return g.reshape(np.shape(out) + in_shape)


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
    return jacfwd(grad(f, argnums), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """Hessian-vector product ``H(x) @ v`` of a scalar ``f``, forward over reverse.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    return jvp(grad(f), (x,), (v,))[1]


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
