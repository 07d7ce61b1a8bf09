"""Forward mode: dual arrays (primal value + batched tangent) and their op handlers."""

import numpy as np

from dualdiff import _complex
from dualdiff._batch import IN_PLACE_MIN, align, negative, times
from dualdiff._checks import as_input
from dualdiff._quiet import IGNORE, STATE
from dualdiff._registry import JVP, UFUNC_PARTIALS, missing_rule
from dualdiff._tracer import Tracer, new_level, unwrap
from dualdiff.large import pool


class Dual(Tracer):
    """A primal value with tangents: ``value`` of shape ``s`` and ``tangent`` of ``(k, *s)``.

    A tangent given with the primal's own shape is read as one direction (k = 1).

    Parameters
    ----------
    value : array_like
        The primal value (float or complex-free real array).
    tangent : array_like
        Tangent directions, shape ``(k, *value.shape)`` or ``value.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> x = dd.Dual(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> y = np.sin(x) * 2
    >>> y.tangent
    array([[2.        , 1.08060461]])
    """

    __slots__ = ("value", "tangent", "level", "_view", "_views", "__weakref__")
    mode = "forward"
    tracks_views = True

    def __init__(self, value, tangent, level=None):
        if level is None:
            value = as_input(value)
            tangent = _as_tangent(tangent, value)
            level = new_level()
        self.value = value
        self.tangent = tangent
        self.level = level
        self._view = self._views = None  # see _views.py

    def __repr__(self):
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    def _clone(self):
        return Dual(self.value, self.tangent, self.level)

    def _rebind(self, other):
        self.value, self.tangent = other.value, other.tangent

    def ufunc(self, ufunc, inputs, kwargs):
        x = self.value
        # large arrays go into pooled buffers, and a tangent product into a new partial
        large = type(x) is np.ndarray and x.size >= IN_PLACE_MIN and not kwargs
        if len(inputs) == 1 and not large:  # small unary: the hot path of scalar-ish code
            ans = ufunc(x, **kwargs) if kwargs else ufunc(x)  # ** costs even when empty
            if ans.dtype.kind == "c":
                _complex.check_ufunc(ufunc)
            d = UFUNC_PARTIALS[ufunc][0]
            if type(d) is float:
                return Dual(ans, self.tangent if d > 0 else -self.tangent, self.level)
            token = STATE.set(IGNORE)  # the value is f's, its errors the caller's; not so
            try:  # the tangent's (_quiet.py)
                t = self.tangent * d(ans, x)
                if ufunc is np.absolute:  # |z| of a complex z: Re(conj(z) / |z| * t)
                    t = _complex.real_tangent(t, ans)
                return Dual(ans, t, self.level)
            finally:
                STATE.reset(token)
        level = self.level
        partials = UFUNC_PARTIALS[ufunc]
        vals = list(inputs)
        tangents = []
        for i, x in enumerate(inputs):
            if isinstance(x, Dual) and x.level == level:
                vals[i] = x.value
                tangents.append((i, x.tangent))
        if large:
            ans = pool.call(ufunc, vals)
        else:  # ** costs even when empty
            ans = ufunc(*vals, **kwargs) if kwargs else ufunc(*vals)
        if ans.dtype.kind == "c":
            _complex.check_ufunc(ufunc)
        if len(tangents) == 1 and type(partials[tangents[0][0]]) is float:
            # x + c, c - x: the tangent itself or its negation, with no arithmetic to err
            t = tangents[0][1]
            if t.ndim <= ans.ndim:
                t = align(t, ans.ndim)
            t = t if partials[tangents[0][0]] > 0 else _negative(t) if large else -t
            return _broadcast_dual(ans, t, level)
        token = STATE.set(IGNORE)
        try:
            ndim = ans.ndim
            if len(tangents) == 2 and type(partials[0]) is float and type(partials[1]) is float:
                # x + y, x - y with both traced: the ufunc itself maps the tangents, in one op
                ts = [t if t.ndim > ndim else align(t, ndim) for _, t in tangents]
                return _broadcast_dual(ans, pool.call(ufunc, ts) if large else ufunc(*ts), level)
            out = None
            for i, t in tangents:
                if t.ndim <= ndim:
                    t = align(t, ndim)
                d = partials[i]
                if type(d) is float:  # linear ufunc: the partial is +1 or -1
                    c = t if d > 0 else _negative(t) if large else -t
                else:
                    c = _times(t, d(ans, *vals), ans, vals) if large else t * d(ans, *vals)
                out = c if out is None else out + c
            if ufunc is np.absolute:  # |z| of a complex z: Re(conj(z) / |z| * t)
                out = _complex.real_tangent(out, ans)
            return _broadcast_dual(ans, out, level)
        finally:
            STATE.reset(token)

    def apply(self, fn, impl, args, kwargs):
        level = self.level
        vals, traced = unwrap(args, level)
        rules = JVP.get(fn, {})
        for pos, _ in traced:
            if pos not in rules:
                raise missing_rule(fn, pos, "forward")
        ans = impl(*vals, **kwargs)
        _complex.check_function(fn, traced, ans)
        out = None
        token = STATE.set(IGNORE)
        try:
            for pos, x in traced:
                t = _tangents(x) if type(x) is list else x.tangent
                c = rules[pos](t, ans, *vals, **kwargs)
                out = c if out is None else _add(out, c)
        finally:
            STATE.reset(token)
        return _wrap(ans, out, level)


def _tangents(seq):
    return [e.tangent if e is not None else None for e in seq]


def _times(t, d, ans, args):
    """``t * d`` in a large op: into ``d`` when the partial made it for this call."""
    return times(t, d, False, ans, args)[0] if type(t) is np.ndarray else t * d


def _negative(t):
    return negative(t) if type(t) is np.ndarray else -t


def _broadcast_dual(ans, tangent, level):
    """A Dual whose tangent is broadcast to the output's shape where an input was smaller."""
    shape = ans.shape
    if tangent.shape[1:] != shape:
        tangent = np.broadcast_to(tangent, tangent.shape[:1] + shape)
    return Dual(ans, tangent, level)


def _add(a, b):
    if type(a) is tuple:
        return tuple(y if x is None else x if y is None else x + y for x, y in zip(a, b))
    return a + b


def _wrap(ans, tangent, level):
    """Pair outputs with tangents; tuple outputs give tuples of Duals, zero tangents plain."""
    if isinstance(ans, tuple | list):
        outs = [_wrap(a, t, level) for a, t in zip(ans, tangent)]
        return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)
    if tangent is None:
        return ans
    shape = np.shape(ans) if not isinstance(ans, Tracer) else ans.shape
    if tangent.shape[1:] != shape:  # a rule that broadcasts (np.where with a scalar branch)
        tangent = np.broadcast_to(tangent, tangent.shape[:1] + shape)
    return Dual(ans, tangent, level)


def _as_tangent(tangent, value):
    tangent = np.asarray(tangent, dtype=value.dtype)
    if tangent.shape == value.shape:
        return tangent[None]
    if tangent.shape[1:] != value.shape:
        raise ValueError(
            f"tangent shape {tangent.shape} does not match the primal shape {value.shape}: "
            f"expected {value.shape} or (k, *{value.shape})."
        )
    return tangent
