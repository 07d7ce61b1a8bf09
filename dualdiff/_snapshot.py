"""What a recorded node keeps of a constant operand: its contents at the time of use.

f may change a plain array in place after using it (``a[0] = 5``); NumPy's value used the old
contents, and so must the derivative, which reads the kept operand in the sweep.
"""

import numpy as np

from dualdiff._tracer import Tracer


def snapshot(c):
    """``c``'s contents now: a writeable array is copied, one nothing can write into
    (read-only, and so is every array it views) is kept as is, an outer level's tracer (which
    a write there rebinds) is cloned, and anything else (a number) is immutable."""
    if type(c) is np.ndarray:
        return c if _frozen(c) else c.copy()
    if isinstance(c, Tracer):
        return c._clone()
    return c


def _frozen(a):
    while type(a) is np.ndarray:
        if a.flags.writeable:
            return False
        a = a.base
    return a is None or type(a) is bytes


def constants_kept(vals, traced, kwargs):
    """``vals`` and ``kwargs`` with a :func:`snapshot` of every constant in them; ``traced``
    are the ``(position, tracer or list)`` pairs of the traced arguments."""
    vals = list(vals)
    done = {pos for pos, _ in traced}
    for pos, x in traced:
        if type(x) is list:  # a sequence argument: its untraced entries are constants
            vals[pos] = type(vals[pos])(
                v if e is not None else snapshot(v) for v, e in zip(vals[pos], x)
            )
    for i, v in enumerate(vals):
        if i not in done:
            vals[i] = snapshot(v) if type(v) is not list and type(v) is not tuple else _seq(v)
    if kwargs:
        kwargs = {k: snapshot(v) for k, v in kwargs.items()}
    return vals, kwargs


def _seq(v):
    for e in v:  # an index tuple of slices and numbers is kept as it is, without a rebuild
        if type(e) is np.ndarray or isinstance(e, Tracer):
            return type(v)(snapshot(e) for e in v)
    return v
