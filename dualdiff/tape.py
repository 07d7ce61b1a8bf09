"""Reverse mode: the tape (a flat Wengert list), Var, recording, and the backward sweep.

The tape is a list of nodes in execution order, so its reverse is a topological order. A node
keeps its rule (looked up once, when recorded), its primal arguments and answer, and integer
indices of its parents; cotangents live in a list indexed by node and are freed as the sweep
passes. This is the hot path: identity type checks, no validation, no closure per op.
"""

import numpy as np

from dualdiff._batch import unbroadcast
from dualdiff._registry import UFUNC_PARTIALS, VJP, missing_rule
from dualdiff._tracer import Tracer, unwrap


class Node:
    """One recorded op: ``pullback(node, g, ct)`` adds its parents' cotangents into ``ct``."""

    __slots__ = ("pullback", "rule", "args", "kwargs", "ans", "parents")

    def __init__(self, pullback, rule, args, kwargs, ans, parents):
        self.pullback = pullback
        self.rule = rule
        self.args = args
        self.kwargs = kwargs
        self.ans = ans
        self.parents = parents


class Var(Tracer):
    """A traced value in reverse mode: its primal ``value`` and its node on a tape."""

    __slots__ = ("value", "tape", "index", "level")
    mode = "reverse"

    def __init__(self, value, tape, index, level):
        self.value = value
        self.tape = tape
        self.index = index
        self.level = level

    def __repr__(self):
        return f"Var(value={self.value!r})"

    def _clone(self):
        return Var(self.value, self.tape, self.index, self.level)

    def _rebind(self, other):
        self.value, self.index = other.value, other.index

    def ufunc(self, ufunc, inputs, kwargs):
        level = self.level
        tape = self.tape
        if len(inputs) == 1:
            vals = (self.value,)
            parents = ((0, self.index),)
        else:
            vals = list(inputs)
            parents = []
            for i, x in enumerate(inputs):
                if type(x) is Var and x.level == level:
                    vals[i] = x.value
                    parents.append((i, x.index))
        ans = ufunc(*vals, **kwargs)
        tape.append(Node(_ufunc_pullback, UFUNC_PARTIALS[ufunc], vals, None, ans, parents))
        return Var(ans, tape, len(tape) - 1, level)

    def apply(self, fn, impl, args, kwargs):
        level = self.level
        vals, traced = unwrap(args, level)
        rules = VJP.get(fn, {})
        parents = []
        for pos, x in traced:
            if pos not in rules:
                raise missing_rule(fn, pos, "reverse")
            p = [e.index if e is not None else None for e in x] if type(x) is list else x.index
            parents.append((pos, p, rules[pos]))
        ans = impl(*vals, **kwargs)
        tape = self.tape
        if isinstance(ans, tuple | list):
            tape.append(Node(_tuple_pullback, None, vals, kwargs, ans, parents))
            return _project(ans, tape, len(tape) - 1, level)
        tape.append(Node(_fn_pullback, None, vals, kwargs, ans, parents))
        return Var(ans, tape, len(tape) - 1, level)


def _project(ans, tape, index, level):
    """One Var per floating output of a multi-output op, each on a projection node."""
    outs = []
    for j, a in enumerate(ans):
        dtype = a.dtype if hasattr(a, "dtype") else np.result_type(a)
        if not np.issubdtype(dtype, np.inexact):
            outs.append(a)
            continue
        tape.append(Node(_proj_pullback, j, None, None, len(ans), ((0, index),)))
        outs.append(Var(a, tape, len(tape) - 1, level))
    return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)


class Scatter:
    """A cotangent that is zero except at ``index``, where it is ``values``: what a slice's
    VJP returns for plain arrays, so that the sweep adds it into an owned slot in place."""

    __slots__ = ("shape", "index", "values")

    def __init__(self, shape, index, values):
        self.shape, self.index, self.values = shape, index, values

    def dense(self):
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.index] = self.values
        return out


def accumulate(ct, p, c, shape):
    """Add cotangent ``c`` into slot ``p``, summing away broadcast axes first."""
    if type(c) is Scatter:
        _accumulate_scatter(ct, p, c)
        return
    if c.shape[1:] != shape:
        c = unbroadcast(c, shape)
    old = ct[p]
    if old is None:
        ct[p] = c
    else:
        _add(ct, p, old, c)


# Cotangent slots are a plain list indexed by node (a dict keyed by node for tensors), and
# slot -1 holds the set of slots whose arrays the sweep allocated itself (a sum, a scattered
# slice) and that nothing else can see: the sweep adds into those in place. A slot leaves the
# set when its cotangent is taken to be pulled back, since it may then be handed on as is.
OWNED = -1


def _add(ct, p, old, c):
    """``old + c`` into slot ``p``: in place when the sweep owns ``old`` and nothing changes."""
    if (
        p in ct[OWNED]
        and type(old) is np.ndarray
        and type(c) is np.ndarray
        and old.shape == c.shape
        and old.dtype == c.dtype
    ):
        np.add(old, c, out=old)
        return
    ct[p] = old + c
    ct[OWNED].add(p)


def _accumulate_scatter(ct, p, c):
    old = ct[p]
    if old is None:
        ct[p] = c.dense()
        ct[OWNED].add(p)
    elif p in ct[OWNED] and type(old) is np.ndarray and old.dtype == c.values.dtype:
        old[c.index] += c.values  # a slice of an array only the sweep holds
    else:
        _add(ct, p, old, c.dense())


def _ufunc_pullback(node, g, ct):
    partials = node.rule
    vals = node.args
    for i, p in node.parents:
        d = partials[i]
        if type(d) is float:  # linear ufunc: the partial is +1 or -1
            c = g if d > 0 else -g
        else:
            c = g * d(node.ans, *vals)
        shape = vals[i].shape
        if c.shape[1:] != shape:
            c = unbroadcast(c, shape)
        old = ct[p]  # accumulate, inlined: this is the sweep's innermost loop
        if old is None:
            ct[p] = c
        else:
            _add(ct, p, old, c)


def _fn_pullback(node, g, ct):
    vals = node.args
    for pos, p, rule in node.parents:
        c = rule(g, node.ans, *vals, **node.kwargs)
        if type(p) is list:
            if type(c) is not list and type(c) is not tuple:  # else zip would walk the batch axis
                raise TypeError(f"the VJP rule for a sequence argument must return a list: {rule}")
            for pi, ci, x in zip(p, c, vals[pos]):
                if pi is not None and ci is not None:
                    accumulate(ct, pi, ci, x.shape)
        elif c is not None:
            accumulate(ct, p, c, vals[pos].shape)


def _tuple_pullback(node, g, ct):
    _fn_pullback(node, tuple(g), ct)


def _proj_pullback(node, g, ct):
    p = node.parents[0][1]
    slots = ct[p]
    if slots is None:
        slots = ct[p] = [None] * node.ans
    j = node.rule
    slots[j] = g if slots[j] is None else slots[j] + g


def backward(tape, seeds, n_leaves):
    """Sweep ``tape`` backwards from ``{node index: cotangent}``; return the leaves' cotangents."""
    ct = [None] * len(tape)
    ct.append(set())  # slot OWNED
    for i, g in seeds.items():
        ct[i] = g if ct[i] is None else ct[i] + g
    owned = ct[OWNED]
    for i in range(max(seeds, default=-1), n_leaves - 1, -1):
        g = ct[i]
        if g is None:
            continue
        ct[i] = None
        owned.discard(i)  # g may now be handed on as is: no longer ours to add into
        node = tape[i]
        node.pullback(node, g, ct)
    return ct[:n_leaves]


def leaf(value, tape, level):
    """Record an input on ``tape`` and return its Var."""
    tape.append(Node(None, None, None, None, value, ()))
    return Var(value, tape, len(tape) - 1, level)
