"""Rewrites of a recorded program that keep every result bit for bit.

The program is in single assignment form: a slot's value never changes once computed (a write
rebinds, constants that f changed are read through copies of what they held), so a call that
repeats an earlier one on the same slots and equal constants computes the same bits, and a
multiplication by an exact one returns its operand's bits. Such calls become aliases of the
earlier slot. Only the sweep's calls (run with floating-point errors ignored) are merged into
earlier ones: a repeated call of f's own may warn twice under the user's filters, as NumPy
does, so it stays. Outputs are never aliases, so each result the user holds is its own.
"""

import math
import operator

import numpy as np

from dualdiff._replay_capture import STABLE, Node, Ref, _method_of_ufunc

# Calls whose results are never a signaling NaN (IEEE arithmetic quiets NaNs): multiplying one
# of their results by 1.0 returns it unchanged, bit for bit.
_ARITHMETIC = frozenset(
    (np.add, np.subtract, np.multiply, np.divide, np.power, np.matmul, np.sin, np.cos, np.tan,
     np.tanh, np.sinh, np.cosh, np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.square,
     np.reciprocal, np.arctan, np.arcsin, np.arccos, np.arctanh, np.arcsinh, np.hypot)
)  # fmt: skip
_PURE = (STABLE - {np.empty_like}) | {operator.getitem}


class _NoKey(Exception):
    """An argument that cannot be compared by value (merging would need identity)."""


def simplify(nodes, values, keep):
    """``nodes`` without the calls that repeat an earlier one or multiply by one, every
    reference to their results redirected to the earlier slot; ``keep``: slots never
    redirected (outputs)."""
    alias, seen, made_by, out = {}, {}, {}, []
    for node in nodes:
        node = _renamed(node, alias)
        if node.guard is not None:
            out.append(node)
            continue
        s = node.out
        made_by[s] = node.fn
        if s not in keep:
            same = _operand_times_one(node, values, made_by)
            if same is None and node.quiet:
                key = _call_key(node)
                same = seen.get(key) if key is not None else None
                if same is None and key is not None:
                    seen[key] = s
            elif same is None:
                key = _call_key(node)
                if key is not None:
                    seen.setdefault(key, s)
            if same is not None:
                alias[s] = same
                continue
        out.append(node)
    return out


def _renamed(node, alias):
    if not alias:
        return node
    if node.guard is not None and node.guard[0] != "raises":
        kind, slot = node.guard
        if slot not in alias:
            return node
        return Node(None, (), {}, None, False, (kind, alias[slot]), node.expected)
    args, kwargs = _sub(node.args, alias), _sub(node.kwargs, alias)
    if args is node.args and kwargs is node.kwargs:
        return node
    return Node(node.fn, args, kwargs, node.out, node.quiet, node.guard, node.expected)


def _sub(t, alias):
    tt = type(t)
    if tt is Ref:
        return Ref(alias[t.slot]) if t.slot in alias else t
    if tt is tuple or tt is list:
        items = [_sub(e, alias) for e in t]
        return tt(items) if any(a is not b for a, b in zip(items, t)) else t
    if tt is dict:
        items = {k: _sub(v, alias) for k, v in t.items()}
        return items if any(items[k] is not t[k] for k in t) else t
    if tt is slice:
        parts = [_sub(e, alias) for e in (t.start, t.stop, t.step)]
        return slice(*parts)
    return t


# -- multiplication by one -------------------------------------------------------------------


def _operand_times_one(node, values, made_by):
    """The slot ``node`` returns unchanged (``y * 1.0``), or None."""
    if node.fn is not np.multiply or node.kwargs or len(node.args) != 2:
        return None
    a, b = node.args
    for r, c in ((a, b), (b, a)):
        if type(r) is Ref and type(c) is not Ref and _is_one(c):
            if made_by.get(r.slot) in _ARITHMETIC and _same_kind(values[r.slot], values[node.out]):
                return r.slot
    return None


def _is_one(c):
    t = type(c)
    if t is float or t is int or t is np.float64:
        return c == 1
    if t is np.ndarray and c.dtype == np.float64 and c.size:
        return bool(np.all(c == 1.0))
    return False


def _same_kind(v, out):
    """Same type, shape and dtype: the operand can stand for the product."""
    return (
        type(v) is type(out)
        and isinstance(v, np.ndarray | np.float64)
        and v.dtype == np.float64 == out.dtype
        and v.shape == out.shape
    )


# -- repeated calls --------------------------------------------------------------------------


def _call_key(node):
    """What makes two calls equal: the function, slots, and constants by value (arrays by
    identity: a constant f wrote into in between is a different, copied, object)."""
    fn = node.fn
    if _method_of_ufunc(fn):
        fkey = (id(fn.__self__), fn.__name__)
    elif isinstance(fn, np.ufunc) or fn in _PURE:
        fkey = id(fn)
    else:
        return None
    try:
        return fkey, _key(node.args), _key(node.kwargs)
    except _NoKey:
        return None


def _key(t):
    tt = type(t)
    if tt is Ref:
        return ("r", t.slot)
    if tt is tuple or tt is list:
        return (tt, tuple(_key(e) for e in t))
    if tt is dict:
        return (dict, tuple((k, _key(v)) for k, v in t.items()))
    if tt is float:
        return (float, math.copysign(1.0, t), t.hex())  # -0.0 and 0.0 differ, NaN equals NaN
    if tt is int or tt is bool or tt is str or t is None or t is Ellipsis:
        return (tt, t)
    if tt is slice:
        return (slice, _key((t.start, t.stop, t.step)))
    if tt is np.ndarray:
        return ("a", id(t))
    if isinstance(t, np.generic):
        return (tt, t.tobytes())
    if tt is np.dtype:
        return (np.dtype, t.str)
    raise _NoKey
