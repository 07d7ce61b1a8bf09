"""What the transforms accept from a user: argnums, f's output, tangents and cotangents.

Each refusal is a TypeError or ValueError that names the transform, what was wrong and how to
fix it. These run once per transform call, never per op.
"""

import functools
import operator
from collections.abc import Sequence

import numpy as np

from dualdiff._tracer import Tracer
from dualdiff._tree import flatten

# What each family of transforms supports as f's output (completes "dd.<name> supports ...").
SCALAR = "one real scalar: a float, or an array with one element (a scalar loss)"
TREE = "real arrays and numbers, alone or in (nested) tuples, lists and dicts"
ARRAY = "one real array (use dd.jacfwd or dd.jacrev for tuples, lists and dicts of arrays)"


def argnums(f, argnums, name):
    """``(positions, single)``: ``argnums`` as a tuple of ints, and whether it was one int
    (checked with ``f`` when the transform is made)."""
    if not callable(f):
        raise TypeError(
            f"dd.{name}: f must be a function (a callable); got {describe(f)}. Write "
            f"dd.{name}(f)(x), not dd.{name}(f(x))"
        )
    try:
        if isinstance(argnums, Sequence) and not isinstance(argnums, str):
            return _distinct(tuple(operator.index(i) for i in argnums), argnums, name), False
        return (operator.index(argnums),), True
    except TypeError:
        raise TypeError(
            f"dd.{name}: argnums must be an int or a tuple of ints (the positions of the "
            f"arguments to differentiate); got {argnums!r}"
        ) from None


def resolve(nums, n_args, name):
    """``nums`` as positions in ``range(n_args)``; negative ones count from the end."""
    if len(nums) == 1 and 0 <= nums[0] < n_args or all(0 <= i < n_args for i in nums):
        return nums
    for i in nums:
        if not -n_args <= i < n_args:
            raise TypeError(
                f"dd.{name}: argnums asks for argument {i}, but f was called with {n_args} "
                "positional argument(s): pass that argument, or change argnums"
            )
    return _distinct(tuple(i % n_args for i in nums), nums, name)


def bound(f, kwargs):
    """``f`` with the keyword arguments of a call to a transformed function bound: they reach
    f as they are and are not differentiated (as in JAX and autograd)."""
    return functools.partial(f, **kwargs) if kwargs else f


def positional(kwargs, name):
    """Refuse keyword arguments where a transform keeps what it learned about f across calls
    (a sparsity pattern), which other keyword values could change."""
    if kwargs:
        raise TypeError(
            f"dd.{name}: keyword arguments are not passed through here, since the sparsity "
            f"pattern is kept per f; got {', '.join(map(repr, kwargs))}. Bind them first, as "
            f"in dd.{name}(functools.partial(f, {next(iter(kwargs))}=...))"
        )


def aux_pair(result, name):
    """``(out, aux)`` from what f returned under ``has_aux=True``; a named TypeError when it is
    not a pair."""
    if isinstance(result, tuple | list) and len(result) == 2:
        return result
    if isinstance(result, tuple | list):
        got = f"a {type(result).__name__} of length {len(result)}"
    elif isinstance(result, Tracer | np.ndarray) and result.dtype.kind in "biuf":
        got = f"one array of shape {tuple(result.shape)}"
    else:
        got = describe(result)
    raise TypeError(
        f"dd.{name}: with has_aux=True, f must return a pair (out, aux), out being what is "
        f"differentiated and aux anything else; f returned {got}. Return `out, aux`, or drop "
        "has_aux=True"
    )


def _distinct(nums, given, name):
    if len(set(nums)) != len(nums):
        raise ValueError(
            f"dd.{name}: argnums={given!r} names an argument twice; name each argument once "
            "(as JAX, dualdiff differentiates with respect to distinct arguments)"
        )
    return nums


def output(out, name, supported=TREE):
    """Refuse an output of f that is not made of real arrays, numbers and tracers, or (for
    ``SCALAR`` and ``ARRAY``) that is a container."""
    if isinstance(out, Tracer):  # the common case, first: one traced array
        if out.dtype.kind == "c" and (name not in COMPLEX or supported is SCALAR):
            _real_output(out, name)
        return
    what = None
    if out is None:  # a None inside a structure is an empty one (as in JAX); f itself, a bug
        what = "None (a missing return?)"
    elif supported is not TREE and isinstance(out, tuple | list | dict):
        what = f"a {type(out).__name__}"
    for leaf in () if what else flatten(out)[0]:
        if not (
            isinstance(leaf, Tracer) or _is_real(leaf) or name in COMPLEX and _kind(leaf) == "c"
        ):
            what = describe(leaf) if leaf is out else f"an output containing {describe(leaf)}"
            break
    if what:
        raise TypeError(f"dd.{name}: f returned {what}; dd.{name} supports {supported}")
    if name not in COMPLEX or supported is SCALAR:
        _real_output(out, name)


def _real_output(out, name):
    """Refuse a complex output where the transform's result would need two real passes."""
    for leaf in flatten(out)[0]:
        if isinstance(leaf, Tracer) and leaf.dtype.kind == "c":
            raise TypeError(
                f"dd.{name}: f returned a complex value; dd.{name} differentiates real-valued "
                "outputs (as JAX's grad and jacrev without holomorphic=True). Return a real "
                "value of it (np.real(z), np.abs(z) ** 2), or stack its real and imaginary "
                "parts; dd.vjp and dd.jvp take complex outputs."
            )


def _kind(x):
    """The dtype kind of an array, a number or a tracer."""
    dtype = getattr(x, "dtype", None)
    return dtype.kind if dtype is not None else np.asarray(x).dtype.kind


def _is_real(x):
    if isinstance(x, np.ndarray | np.generic):
        return x.dtype.kind in "biuf"
    return isinstance(x, int | float)


def describe(x):
    """``x`` in a few words, for an error message: what it is, and the way out when known."""
    if x is None:
        return "None"
    if isinstance(x, str):
        return f"a str ({x[:40]!r})"
    if isinstance(x, np.ndarray | np.generic) and x.dtype == object:
        return (
            "a NumPy array of dtype object (to return traced values as an array, build it with "
            "np.stack or dualdiff.numpy.array, not inside an object array)"
        )
    if isinstance(x, complex | np.ndarray | np.generic) and np.iscomplexobj(x):
        return (
            "a complex value (dualdiff differentiates real values: split it into its real and "
            "imaginary parts)"
        )
    if isinstance(x, np.ndarray | np.generic):
        return f"an array of dtype {x.dtype}"
    return f"a value of type {type(x).__name__}"


def like(tree, model, name, what, path=""):
    """The leaves of ``tree`` (tangents or cotangents) in ``model``'s leaf order, each a float
    array or tracer of its model leaf's shape; ``model`` is the primal or the output."""
    if isinstance(model, tuple | list):
        if not isinstance(tree, tuple | list) or len(tree) != len(model):
            _mismatch(tree, model, name, what, path)
        return [c for i, (t, m) in enumerate(zip(tree, model))
                for c in like(t, m, name, what, f"{path}[{i}]")]  # fmt: skip
    if type(model) is dict:
        if type(tree) is not dict or tree.keys() != model.keys():
            _mismatch(tree, model, name, what, path)
        return [c for k in model for c in like(tree[k], model[k], name, what, f"{path}[{k!r}]")]
    if model is None:  # an empty structure (as in JAX): its tangent or cotangent is None too
        if tree is not None:
            _mismatch(tree, model, name, what, path)
        return []
    return [_leaf(tree, model, name, what, path)]


def _mismatch(tree, model, name, what, path):
    raise ValueError(
        f"dd.{name}: the {what}{' ' + path if path else ''} must have the structure of "
        f"{_counterpart(what)}: {_structure(model)}; got {_structure(tree)}"
    )


def _structure(tree):
    if isinstance(tree, tuple | list):
        inner = ", ".join(_structure(t) for t in tree)
        if isinstance(tree, list):
            return f"[{inner}]"
        return f"({inner}{',' if len(tree) == 1 else ''})"
    if type(tree) is dict:
        return "{" + ", ".join(f"{k!r}: {_structure(v)}" for k, v in tree.items()) + "}"
    return "None" if tree is None else "array"


def _counterpart(what):
    return "the primal" if what == "tangent" else "f's output"


def _leaf(t, model, name, what, path):
    shape = tuple(model.shape) if isinstance(model, Tracer) else np.shape(model)
    if not isinstance(t, Tracer):
        kind = "complex" if _kind(model) == "c" else "real"
        a = None if t is None else t if isinstance(t, np.ndarray) else np.asarray(t)
        if a is None or not (_is_real(a) or kind == "complex" and a.dtype.kind == "c"):
            raise TypeError(
                f"dd.{name}: the {what}{' ' + path if path else ''} is {describe(t)}; pass a "
                f"{kind} array of shape {shape} (np.zeros({shape}) for a zero {what})"
            )
        t = (
            a
            if a.dtype.kind in "fc"
            else a.astype(np.complex128 if kind == "complex" else np.float64)
        )
    t_shape = tuple(t.shape) if isinstance(t, Tracer) else np.shape(t)
    if t_shape != shape:
        raise ValueError(
            f"dd.{name}: {what} shape {t_shape}{' at ' + path if path else ''} does not match "
            f"{'primal' if what == 'tangent' else 'output'} shape {shape}; pass a {what} of "
            f"shape {shape}"
        )
    return t


def not_none(args, nums):
    """Refuse a differentiated argument that is None: inside a structure None is an empty one
    (as in JAX), but a whole argument of None is a mistake."""
    for i in nums:
        if args[i] is None:
            as_input(None)  # the named TypeError


_F64 = np.dtype(np.float64)


def weak_dtype(leaves):
    """The dtype a Python number among ``leaves`` is differentiated in: the floating dtype of
    the array leaves (float32 beside float32 arrays, as NumPy and JAX combine them), or None
    (float64) when there is none or it is float64."""
    floats = {x.dtype for x in leaves if isinstance(x, np.ndarray | np.floating | Tracer)}
    floats = {d for d in floats if d.kind == "f"}
    if not floats or _F64 in floats:  # the common case, without result_type's cost
        return None
    dtype = np.result_type(*floats)
    return None if dtype == _F64 else dtype


# The transforms that take complex inputs and outputs, with JAX's convention (_complex.py).
COMPLEX = frozenset(("grad", "value_and_grad", "vjp", "jvp", "linearize"))


def as_input(x, weak=None, name=None):
    """A differentiable input: tracers pass through, ints become float64 (a Python number
    becomes ``weak``, when given); complex is refused unless the transform ``name`` takes it."""
    if isinstance(x, Tracer):  # dd.replay's capture of an array is promoted as the array
        return x if type(x).mode != "replay" else x.as_input(weak)
    if weak is not None and type(x) in (float, int):
        return np.asarray(x, weak)
    a = np.asarray(x)
    if a.dtype.kind == "c":
        if name in COMPLEX:
            return a
        raise TypeError(
            f"{'dd.' + name if name else 'this transform'} differentiates real-valued inputs; "
            "got a complex array. dd.grad, dd.value_and_grad, dd.vjp and dd.jvp take complex "
            "inputs (JAX's convention); for a Jacobian, differentiate the real and imaginary "
            "parts as two real inputs (f(re + 1j * im))."
        )
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"dualdiff differentiates real arrays and numbers; got {describe(x)} as an "
            "input (pass it as an argument that is not differentiated: leave it out of argnums)"
        )
    if a.dtype.kind != "f":
        return a.astype(np.float64)  # integer and bool inputs are promoted (documented)
    return a
