"""NumPy's write semantics for traced arrays: in-place operators, item assignment, views.

A traced value is immutable: a write computes the new value (recorded like any op) and rebinds
the tracer object to it, so every name bound to that object sees the change, as with an
ndarray. Where NumPy would return a view (a basic slice, a reshape that needs no copy, a
transpose, ...), the traced result remembers its root (the tracer whose memory NumPy would
share) and the ops that made it from the root. A write through such a view puts the view's new
values into the root at the view's positions, then rebinds the root and every live view of it
to their new values, so the write is seen through the base and every other view, in value and
in derivative.

Whether NumPy would return a view is read from NumPy itself: the op is applied to the primal
values, and its answer is a view when it shares memory with the input.
"""

import weakref

import numpy as np

from dualdiff._tracer import Tracer, astype, getitem, innermost, setitem

# A view's record ``_view`` is a tuple ``(root, steps, writeable)``: ``steps`` of
# ``(fn, rest, kwargs, j)`` each compute ``fn(a, *rest, **kwargs)`` (its ``j``-th output for a
# sequence) from the root on; ``writeable`` is False where NumPy's view is read-only.


def _view_funcs():
    names = (
        "reshape ravel transpose swapaxes moveaxis squeeze expand_dims atleast_1d atleast_2d "
        "atleast_3d flip fliplr flipud rot90 diagonal broadcast_to real split array_split "
        "hsplit vsplit dsplit matrix_transpose permute_dims unstack"
    ).split()
    return frozenset([getitem] + [getattr(np, n) for n in names if hasattr(np, n)])


# the functions whose answer NumPy makes a view of the input where it can
VIEW_FUNCS = _view_funcs()
_NO_KWARGS: dict = {}


def link(x, out, fn, rest, kwargs):
    """Mark ``out`` (the answer of ``fn(x, *rest, **kwargs)``) as a view of ``x``'s root when
    NumPy's answer on the primal values shares ``x``'s memory; return ``out``."""
    if not x.tracks_views:
        return out
    if type(out) is tuple or type(out) is list:
        for j, o in enumerate(out):
            _link_one(x, o, (fn, rest, kwargs, j))
        return out
    _link_one(x, out, (fn, rest, kwargs, None))
    return out


def _link_one(x, out, step):
    if type(out) is not type(x) or out.level != x.level:  # a constant, or another kind
        return
    ov, xv = out.value, x.value
    if type(ov) is not np.ndarray or type(xv) is not np.ndarray:
        ov, xv = innermost(ov), innermost(xv)
        if type(ov) is not np.ndarray or type(xv) is not np.ndarray:
            return
    if ov is not xv and (ov.base is None or not np.may_share_memory(ov, xv)):
        return  # NumPy copied
    # read-only because of the op (np.diagonal, np.broadcast_to), not because the primal is
    # (a caller's read-only array: f sees a traced copy, which it may write into)
    _record(x, out, step, ov.flags.writeable or not xv.flags.writeable)


def link_slice(x, out, idx):
    """:func:`link` for ``x[idx]`` with basic slices of an ndarray value: always a view."""
    _record(x, out, (getitem, (idx,), _NO_KWARGS, None), True)
    return out


def _record(x, out, step, writeable):
    base = x._view
    if base is None:
        root = x
        out._view = (x, (step,), writeable)
    else:
        root = base[0]
        out._view = (root, base[1] + (step,), base[2] and writeable)
    views = root._views
    if views is None:
        root._views = [weakref.ref(out)]
        return
    views.append(weakref.ref(out))
    if len(views) % 64 == 0:  # a loop over rows: forget the views that died
        views[:] = [r for r in views if r() is not None]


def assign(target, new):
    """Make ``target`` hold ``new`` (a traced value of its shape), as a write into its memory
    would: through its root if it is a view, and seen by every other view of that root."""
    if not isinstance(new, Tracer) or type(new) is not type(target) or new.level != target.level:
        raise TypeError(
            "dualdiff cannot write a value traced by an inner transform into an array traced by "
            "an outer one (an in-place operator or item assignment on a closed-over array); "
            "make a new array instead: y = y + v, or y = dualdiff.numpy.where(mask, v, y)."
        )
    view = target._view if target.tracks_views else None
    if view is None:
        target._rebind(new)
        _refresh(target)
        return
    root, steps, writeable = view
    if not writeable:
        raise ValueError(
            "assignment destination is read-only: NumPy makes this view (np.diagonal, "
            "np.broadcast_to, ...) read-only; write into a copy instead."
        )
    root._rebind(_put(root, steps, new))
    _refresh(root)


def _put(root, steps, new):
    """``root`` with the positions that ``steps`` select from it replaced by ``new``."""
    fn, rest, kwargs, j = steps[0]
    if len(steps) == 1 and fn is getitem:
        return setitem(root, rest[0], new)
    positions = np.arange(root.size).reshape(root.shape)
    for fn, rest, kwargs, j in steps:
        positions = fn(positions, *rest, **kwargs)
        if j is not None:
            positions = positions[j]
    flat = setitem(_apply(root, np.reshape, ((-1,),)), positions.ravel(), np.reshape(new, (-1,)))
    return _apply(flat, np.reshape, (root.shape,))


def _apply(x, fn, rest, kwargs=None, j=None):
    """``fn(x, *rest)`` recorded on ``x``'s trace, without marking the answer as a view."""
    out = x.apply(fn, fn, (x,) + tuple(rest), kwargs or {})
    return out if j is None else out[j]


def _refresh(root):
    """Rebind every live view of ``root`` to its value computed from the root's new value."""
    views = root._views if root.tracks_views else None
    if not views:
        return
    alive = []
    for ref in views:
        w = ref()
        if w is None:
            continue
        out = root
        for fn, rest, kwargs, j in w._view[1]:
            out = _apply(out, fn, rest, kwargs, j)
        w._rebind(out)
        alive.append(ref)
    root._views = alive


def inplace(target, op, other):
    """``target <op>= other`` (``op`` from :mod:`operator`): NumPy's in-place operator."""
    new = op(target, other)
    if not isinstance(new, Tracer) or new.level < target.level:
        # a piecewise-constant op (y //= 2): the new values, with a zero derivative
        new = setitem(target, Ellipsis, new)
    _check_shape(target, new, op.__name__)
    dtype = getattr(innermost(target), "dtype", None)
    if dtype is not None and getattr(innermost(new), "dtype", dtype) != dtype:
        new = astype(new, dtype)  # the array keeps its dtype (NumPy's same-kind casting)
    assign(target, new)
    return target


def _check_shape(target, new, name):
    shape = np.shape(new)
    if shape != target.shape:
        raise ValueError(
            f"non-broadcastable output operand with shape {target.shape} doesn't match the "
            f"broadcast shape {shape} (in-place {name}: NumPy's rule for a -= b and friends)"
        )
