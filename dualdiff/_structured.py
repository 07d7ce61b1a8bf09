"""Jacobians of structures: ``dd.jacobian`` (dense or sparse) and ``dd.hessian(sparse=True)`` on
tuples, lists and dicts of arrays, and the helpers that map flat vectors and flat Jacobians back.

The Jacobian machinery (``dualdiff.dispatch``, ``dualdiff.sparse``) differentiates functions of
arrays with one array output. For structures, :func:`structured` hands it a function of flat
vectors instead: each differentiated argument that is a tuple, list or dict is laid end to end
in one vector (:func:`ravel_pytree`: its leaves raveled in C order, one after the other in the
order of ``dualdiff._tree.flatten``: depth first, dict entries in insertion order, ``None`` an
empty structure), f is called on the leaves cut back out of the traced vector (cheap slice and
reshape nodes, each leaf in its own dtype), and an output that is a structure is concatenated
the same way. A dense result is then cut into the blocks of JAX's nesting (output structure
outside, input structure inside); a sparse one is returned flat, rows and columns in that
ravel order, and :func:`unravel_jacobian` cuts it when wanted.

Each input structure (its tree, leaf shapes and dtypes, and the other arguments as the
machinery's per-shape plans describe them) gets a transform of its own, so two structures of one
flat size never share a plan. The output's structure and shape are learned from f's calls; when
an argument outside argnums changes them anyway (a float flag), the plan is made again for the
new output, and an output that changes within one Jacobian is a named ValueError.
"""

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from dualdiff import _checks
from dualdiff._jacobian import describe
from dualdiff._tracer import Tracer, shape_of
from dualdiff._tree import flatten

_LEAF = "leaf"


def _is_tree(x):
    return isinstance(x, tuple | list | dict)


def _treedef(tree):
    """A hashable description of ``tree``'s structure (``_LEAF`` for each leaf)."""
    if isinstance(tree, tuple | list):
        return type(tree), tuple(_treedef(x) for x in tree)
    if type(tree) is dict:
        return dict, tuple((k, _treedef(v)) for k, v in tree.items())
    return None if tree is None else _LEAF


def _float_dtype(leaf):
    """The dtype a leaf is differentiated in: its own floating one, else float64."""
    dtype = getattr(leaf, "dtype", None)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(np.float64)


class _Layout:
    """A structure's leaves laid end to end: where each sits in the flat vector, its shape and
    dtype, and the function that rebuilds the structure from new leaves."""

    def __init__(self, tree, leaves, unflatten, dtypes=True):
        self.unflatten = unflatten
        self.shapes = [tuple(shape_of(x)) for x in leaves]
        self.dtypes = [_float_dtype(x) for x in leaves] if dtypes else None
        stops = list(itertools.accumulate(math.prod(s) for s in self.shapes))
        self.bounds = list(zip([0] + stops[:-1], stops))
        self.size = stops[-1] if stops else 0
        self.key = (_treedef(tree), tuple(self.shapes), tuple(self.dtypes or ()))
        self.dtype = np.result_type(*self.dtypes) if self.dtypes else np.dtype(np.float64)

    @classmethod
    def of(cls, tree, convert=None, dtypes=True):
        """``(layout, leaves)`` of ``tree``, its leaves passed through ``convert`` (which refuses
        what cannot be a leaf) except tracers; ``dtypes``: record the leaves' floating dtypes."""
        leaves, unflatten = flatten(tree)
        if convert is not None:
            leaves = [x if isinstance(x, Tracer) else convert(x) for x in leaves]
        return cls(tree, leaves, unflatten, dtypes), leaves

    def ravel(self, leaves):
        """The leaves (arrays, numbers or tracers) raveled and concatenated, in ``dtype``."""
        if not leaves:
            return np.zeros(0, self.dtype)
        flat = np.concatenate([np.ravel(x) for x in leaves])  # a copy: never the caller's
        return flat if flat.dtype == self.dtype else flat.astype(self.dtype)

    def unravel(self, flat, copy=False):
        """The structure with its leaves cut out of ``flat`` (an array or a tracer), each in its
        shape and dtype; ``copy``: each leaf a new array, never a view of ``flat``."""
        leaves = []
        for (a, b), shape, dtype in zip(self.bounds, self.shapes, self.dtypes):
            leaf = flat[a:b].reshape(shape)
            if leaf.dtype != dtype:
                leaf = leaf.astype(dtype)
            elif copy:
                leaf = leaf.copy()
            leaves.append(leaf)
        return self.unflatten(leaves)


# -- the public helpers ------------------------------------------------------------------------


def ravel_pytree(tree: Any) -> tuple[np.ndarray, Callable[[Any], Any]]:
    """Flatten a structure of arrays into one vector, and the function that maps it back.

    As JAX's ``jax.flatten_util.ravel_pytree``: the leaves of ``tree`` (arrays, Python and NumPy
    numbers, nested in tuples, lists and dicts; ``None`` is an empty structure) are raveled in C
    order and concatenated, depth first, dict entries in insertion order. This is the order of
    the rows and columns of ``dd.jacobian(f, sparse=True)`` and ``dd.hessian(f, sparse=True)``
    on structures.

    Parameters
    ----------
    tree : array, number, or (nested) tuple, list or dict of them
        The leaves must be real; traced values (inside a transformed function) are accepted.

    Returns
    -------
    flat : ndarray, shape (total size,)
        A new array, of the leaves' common floating dtype (float32 when every leaf is float32;
        integer and bool leaves count as float64, as dualdiff promotes them).
    unravel : callable
        ``unravel(flat)`` rebuilds the structure from a vector of ``flat``'s shape, each leaf a
        new array of its shape and floating dtype (integer and bool leaves come back float64).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> flat, unravel = dd.ravel_pytree({"w": np.array([[1.0, 2.0]]), "b": 3.0})
    >>> flat
    array([1., 2., 3.])
    >>> unravel(np.array([4.0, 5.0, 6.0]))
    {'w': array([[4., 5.]]), 'b': array(6.)}
    """
    layout, leaves = _Layout.of(tree, lambda x: _real(x, "ravel_pytree"))
    flat = layout.ravel(leaves)

    def unravel(flat):
        """The structure of ``tree`` with its leaves cut out of the vector ``flat``."""
        shape = tuple(shape_of(flat))
        if shape != (layout.size,):
            raise ValueError(
                f"dd.ravel_pytree: unravel takes a flat vector of shape ({layout.size},), as "
                f"ravel_pytree returned; got shape {shape}"
            )
        if not isinstance(flat, Tracer):
            flat = _real(flat, "ravel_pytree: unravel")
        return layout.unravel(flat, copy=True)

    return flat, unravel


def _real(x, name):
    """``x`` as a real array (integers and bools as they are), or a TypeError naming it."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"dd.{name}: the leaves of a structure must be real arrays or numbers; got "
            f"{_checks.describe(x)}"
        )
    return a


def unravel_jacobian(J: Any, out_tree: Any, in_tree: Any) -> Any:
    """Cut a flat Jacobian into the nested blocks of the dense ``dd.jacobian``'s layout.

    ``J`` has one row per element of ``out_tree`` and one column per element of ``in_tree``,
    each side in the order of :func:`dualdiff.ravel_pytree` (what ``dd.jacobian(f,
    sparse=True)`` returns on structures). The result nests as JAX's Jacobians: ``out_tree``'s
    structure outside, ``in_tree``'s inside. For a tuple ``argnums``, cut each argument's
    matrix with its own ``in_tree``.

    Parameters
    ----------
    J : scipy.sparse array or matrix, or ndarray, of shape (out size, in size)
    out_tree, in_tree : structures
        f's output and the differentiated argument (or anything of their structures and leaf
        shapes: only those are read); ``None`` is an empty structure and comes back as ``None``.

    Returns
    -------
    The blocks, nested. A dense ``J`` gives arrays of shape ``out_leaf.shape + in_leaf.shape``;
    a sparse one gives ``csr_array`` blocks of shape ``(out_leaf.size, in_leaf.size)`` (sparse
    arrays have two dimensions). Every block is a new array.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> f = lambda p: {"y": p["a"] * p["b"], "s": np.sum(p["a"])}
    >>> p = {"a": np.array([1.0, 2.0]), "b": 3.0}
    >>> J = dd.jacobian(f, sparse=True)(p)
    >>> J.toarray()
    array([[3., 0., 1.],
           [0., 3., 2.],
           [1., 1., 0.]])
    >>> blocks = dd.sparse.unravel_jacobian(J, f(p), p)
    >>> blocks["y"]["b"].toarray()
    array([[1.],
           [2.]])
    """
    if not (hasattr(J, "tocsr") or isinstance(J, np.ndarray)):
        raise TypeError(
            "dd.sparse.unravel_jacobian: J must be a scipy.sparse matrix or array, or an ndarray; "
            f"got {_checks.describe(J)}"
        )
    out, into = (_Layout.of(t, lambda x: _real(x, "sparse.unravel_jacobian"), dtypes=False)[0]
                 for t in (out_tree, in_tree))  # fmt: skip
    if J.shape != (out.size, into.size):
        raise ValueError(
            f"dd.sparse.unravel_jacobian: J has shape {J.shape}, but out_tree has {out.size} "
            f"element(s) and in_tree {into.size}: J must be ({out.size}, {into.size}), one row "
            "per output element and one column per input element"
        )
    sparse = not isinstance(J, np.ndarray)
    J = J.tocsr() if sparse else np.asarray(J)  # (np.matrix has two dimensions only)
    rows = []
    for (a, b), s in zip(out.bounds, out.shapes):
        if sparse:
            rows.append([sp.csr_array(J[a:b, c:d], copy=True) for c, d in into.bounds])
        else:
            rows.append([J[a:b, c:d].reshape(s + t).copy()
                         for (c, d), t in zip(into.bounds, into.shapes)])  # fmt: skip
    return out.unflatten([into.unflatten(row) for row in rows])


# -- transforms on structures ------------------------------------------------------------------


def structured(f, nums, single, make, name, *, flatten_out=True, kwargs_name=None):
    """``make(g)``, a Jacobian transform of functions of arrays (``dense_jacobian``,
    ``sparse_jacobian``, ``sparse_hessian`` of ``g``), made to take structures.

    ``flatten_out``: an output that is a structure is concatenated (else it reaches the
    transform as f returned it). ``kwargs_name``: keyword arguments are refused under that
    name (a sparse transform keeps its pattern per f); else they are bound to f at each call.
    The result is split into nested blocks when ``make``'s is a dense array (or a tuple of
    them), and returned as it is otherwise.
    """
    kept = {}

    def entry(args, kwargs):
        """The key of these arguments' structure and shapes, the flat arguments, and the flat
        form of f for them (kept per key; made for the call with keyword arguments)."""
        nums_ = _checks.resolve(nums, len(args), name)
        _checks.not_none(args, nums_)
        layouts = {}
        key = [nums_]
        args = list(args)
        weak = _weak(args, nums_)
        for i, a in enumerate(args):
            if i in nums_ and _is_tree(a):
                layout, leaves = _Layout.of(a, lambda x: _checks.as_input(x, weak))
                layouts[i] = layout
                args[i] = layout.ravel(leaves)
                key.append(layout.key)
            elif i in nums_:
                if weak is not None and type(a) in (float, int):
                    args[i] = _checks.as_input(a, weak)  # as jacfwd and jacrev take it
                key.append(shape_of(a))
            else:  # as the machinery keys its plans: Python ints and strings by value
                key.append(describe(a))
        key = tuple(key)
        if kwargs:
            if kwargs_name is not None:
                _checks.positional(kwargs, kwargs_name)
            # another f at each call: its transform is made for the call, never kept
            g = _checks.bound(f, kwargs)
            return key, args, _Flat(g, nums_, layouts, make, name, flatten_out)
        found = kept.get(key)
        if found is None:
            found = kept[key] = _Flat(f, nums_, layouts, make, name, flatten_out)
        return key, args, found

    def transform(*args, **kwargs):
        key, args, flat = entry(args, kwargs)
        try:
            return flat.finish(flat.inner(*args), single, args)
        except _Changed:  # an argument outside argnums changed f's output: a plan for it
            pass
        flat = _Flat(flat.call.f, flat.nums, flat.layouts, make, name, flatten_out)
        if not kwargs:
            kept[key] = flat
        return flat.finish(flat.inner(*args), single, args)

    def plan(*args, **kwargs):
        """The plan (``dd.plan_jacobian``'s) for f on these arguments, flattened as above."""
        _, args, flat = entry(args, kwargs)
        return flat.inner.plan(*args)

    transform.plan = plan
    return transform


def _weak(args, nums):
    """The dtype of a Python number among the differentiated leaves (``_checks.weak_dtype``:
    float32 beside float32 arrays), None when there is no such number or it is float64."""
    if not any(_is_tree(args[i]) or type(args[i]) in (float, int) for i in nums):
        return None  # arrays only: nothing to look for
    return _checks.weak_dtype([x for i in nums for x in flatten(args[i])[0]])


class _Changed(ValueError):
    """f's output differs in structure or shape from the one its kept plan was made for (a
    ValueError when it happens again in a plan made for the call: f's output then changed
    within one Jacobian)."""


class _Flat:
    """One input structure's transform: f as a function of flat vectors (``call``), the
    transform made of it (``inner``), and the positions differentiated (``nums``)."""

    def __init__(self, f, nums, layouts, make, name, flatten_out):
        self.nums, self.layouts, self.name = nums, layouts, name
        # what the transform runs (and an executor may pickle): nothing of the transform itself
        self.call = _Flattened(f, layouts, name, flatten_out)
        self.inner = make(self.call)

    def finish(self, result, single, args):
        """The transform's result, dense Jacobians cut into their nested blocks (``args``: the
        flat arguments it was computed at)."""
        jacs = (result,) if single else result
        if not all(type(J) is np.ndarray for J in jacs):
            return result  # sparse: flat, in ravel order
        if not self.call.seen or any(J.size == 0 for J in jacs):
            # an empty Jacobian is answered without calling f: check its output once more,
            # and give it its input's floating dtype (it comes as float64 zeros)
            self.call(*args)
            jacs = tuple(J if i in self.layouts else J.astype(_float_dtype(args[i]), copy=False)
                         for i, J in zip(self.nums, jacs))  # fmt: skip
            result = jacs[0] if single else jacs
        out = self.call.out
        if out is None and not self.layouts:
            return result  # arrays in and out: the Jacobian as it is
        per_arg = [self._blocks(J, i) for i, J in zip(self.nums, jacs)]
        rows = [row[0] if single else tuple(row) for row in zip(*per_arg)]
        return rows[0] if out is None else out.unflatten(rows)

    def _blocks(self, J, i):
        """Argument ``i``'s Jacobian ``J`` cut into one structure of blocks per output leaf,
        each block a new array (or ``J`` itself reshaped, when it is the only one)."""
        out, into = self.call.out, self.layouts.get(i)
        if out is None and into is None:
            return [J]  # another argument is a structure, this one and the output are not
        if out is None:
            out_shapes, out_bounds = [J.shape[:-1]], [(0, math.prod(J.shape[:-1]))]
        else:
            out_shapes, out_bounds = out.shapes, out.bounds
        if into is None:
            in_shapes, in_bounds, dtypes = [J.shape[1:]], [(0, math.prod(J.shape[1:]))], [J.dtype]
            unflatten = _first
        else:
            in_shapes, in_bounds, dtypes = into.shapes, into.bounds, into.dtypes
            unflatten = into.unflatten
        if len(out_shapes) == len(in_shapes) == 1:
            block = J.reshape(out_shapes[0] + in_shapes[0])
            return [unflatten([block if block.dtype == dtypes[0] else block.astype(dtypes[0])])]
        J = J.reshape(_size(out_bounds), _size(in_bounds))
        return [unflatten([np.array(J[r0:r1, c0:c1].reshape(s + t), dtype=dtype)
                           for (c0, c1), t, dtype in zip(in_bounds, in_shapes, dtypes)])
                for (r0, r1), s in zip(out_bounds, out_shapes)]  # fmt: skip


class _Flattened:
    """f of the flat vectors of the structured arguments (``layouts``, by position), returning
    a structured output concatenated (when ``flatten_out``); the output's structure is learned
    from its calls (``seen``, ``out``: its layout, None for one array) and must not change."""

    def __init__(self, f, layouts, name, flatten_out):
        self.f, self.layouts, self.name, self.flatten_out = f, layouts, name, flatten_out
        self.seen, self.out, self.out_key = False, None, None

    def __call__(self, *args):
        if self.layouts:
            args = list(args)
            for i, layout in self.layouts.items():
                args[i] = layout.unravel(args[i])
        out = self.f(*args)
        if not self.flatten_out:  # the transform checks f's output (a scalar)
            return out
        _checks.output(out, self.name)
        if not _is_tree(out):
            self._keep(None, tuple(shape_of(out)))
            return out
        layout, leaves = _Layout.of(out, dtypes=False)
        self._keep(layout, layout.key)
        return layout.ravel(leaves)

    def _keep(self, layout, key):
        """Keep the output's structure and shapes (``key``) at the first call; at a later one,
        an output of another raises :class:`_Changed`: the kept plan was made for the first."""
        if not self.seen:
            self.out, self.out_key, self.seen = layout, key, True
        elif key != self.out_key:
            raise _Changed(
                f"dd.{self.name}: f's output changed between two calls at arguments of the "
                f"same structure and shapes ({_describe(self.out, self.out_key)}, then "
                f"{_describe(layout, key)}): a Jacobian needs one output structure and shape "
                "at one point"
            )


def _size(bounds):
    return bounds[-1][1] if bounds else 0


def _first(leaves):
    return leaves[0]


def _describe(layout, key):
    """f's output as an error message shows it: its structure, with each leaf's shape."""
    if layout is None:
        return f"one array of shape {key}"
    shapes = iter(layout.shapes)

    def render(treedef):
        if treedef == _LEAF:
            return f"<shape {next(shapes)}>"
        if treedef is None:
            return "None"
        kind, children = treedef
        if kind is dict:
            return "{" + ", ".join(f"{k!r}: {render(c)}" for k, c in children) + "}"
        inner = ", ".join(render(c) for c in children)
        return f"[{inner}]" if kind is list else f"{kind.__name__}({inner})"

    return render(layout.key[0])
