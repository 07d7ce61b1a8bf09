"""The replaying side: a :class:`~dualdiff._replay_capture.Program` made straight-line Python.

:func:`compile_program` drops the calls nothing reads (``grad`` never reads f's value), plans
buffers for elementwise results (one set per thread, reused at every call once the last reader
of a value has run), decides which outputs must be copied (those that could share memory with
an argument, a constant or a buffer), and writes one Python function of the inputs: one line
per NumPy call, a comparison per guard, no loop and no lookup. ``Replay.source`` is that code.
"""

import math
import operator
import sys

import numpy as np

from dualdiff._quiet import IGNORE, STATE
from dualdiff._replay_capture import Miss, Ref, _refs, same_content
from dualdiff._replay_rewrite import simplify
from dualdiff._snapshot import _frozen as _frozen_array

_MISS = Miss()
TUNING = {"buffers": True, "scalars": True, "simplify": True, "methods": True,
          "squeeze": True, "locals": True}  # what the benchmark compares (mechanism choice)


def _same_float(a, b):
    """Bit for bit: signed zeros and NaNs count."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b) or a != a and b != b


def _fail():
    raise _MISS


class Replay:
    """One compiled recording: ``run(*arrays)`` gives the outputs or raises :class:`Miss`.

    ``run`` is the generated function itself: it checks the environment, takes a set of
    buffers (one per thread calling at once) and gives it back, with no Python around it."""

    __slots__ = ("source", "ops", "guards", "run", "env")

    def __init__(self, source, run, ops, guards, env):
        self.source, self.run, self.ops, self.guards = source, run, ops, guards
        self.env = env  # the globals and closure variables f read, as recorded


_ABSENT = object()  # a global deleted since recording (no value of f's is this object)


def compile_program(prog, out_template, env=()):
    """The :class:`Replay` of ``prog`` whose outputs are ``out_template`` (the transform's
    result with :class:`Ref` for captured values); ``env`` is ``(namespace, name, value)`` of
    each global (``namespace`` a dict) and closure variable (a cell, ``name`` None) f read,
    which must still hold ``value`` for the recording to replay."""
    values = prog.values
    written = {i: c.slot for i, c in prog.written.items()}  # input slot -> its final value
    outputs = {r.slot for r in _refs(out_template)} | set(written.values())
    nodes = simplify(prog.nodes, values, outputs) if TUNING["simplify"] else prog.nodes
    kept = _live_nodes(nodes, outputs)
    last = _last_uses(kept, outputs, len(values))
    roots = _roots(kept, values)
    names = _Names()
    if TUNING["squeeze"]:
        _squeeze_plan(kept, values, outputs, names)
    buffers, bufname = _plan_buffers(kept, values, prog, outputs, last, roots, names.squeezed)
    copied = _copied_outputs(outputs, values, prog, bufname, roots)
    lines = _constant_guard_lines(prog, names) + _overlap_lines(prog, written, names)
    quiet = False
    ops = guards = 0
    for node in kept:
        if (node.guard is None or node.guard[0] == "raises") and node.quiet != quiet:
            lines.append("_t = _quiet(_IGNORE)" if node.quiet else "_loud(_t); _t = None")
            quiet = node.quiet
        if node.guard is not None:
            lines.append(_guard_line(node, names))
            guards += 1
            continue
        lines.append(_call_line(node, names, bufname.get(node.out), values))
        ops += 1
    if quiet:
        lines.append("_loud(_t); _t = None")
    lines += [f"v{i}[...] = v{final}" for i, final in written.items()]  # f's writes, NumPy's way
    result = _expr(out_template, names, copied)  # copied: a set, so constant outputs are copied
    params = [f"v{s}" for s in prog.inputs]
    body = _env_lines(env, names)
    if buffers:  # one set per thread calling at once, made on first need, reused after
        specs = [key for _, key in buffers]
        names.namespace["_free"] = []
        names.namespace["_new"] = lambda: [np.empty(shape, dtype) for shape, dtype in specs]
        body += ["try:", "    _bufs = _free.pop()", "except IndexError:", "    _bufs = _new()"]
        body += [f"{', '.join(name for name, _ in buffers)}, = _bufs"]
    body += ["_t = None", "try:"] + ["    " + ln for ln in lines]
    body += [f"    return {result}", "finally:", "    if _t is not None: _loud(_t)"]
    if buffers:
        body.append("    _free.append(_bufs)")
    if TUNING["locals"] and names.namespace:  # constants as fast locals, not global lookups
        params += ["*"] + [f"{n}={n}" for n in names.namespace]
    source = f"def _replay({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in body)
    helpers = {"_quiet": STATE.set, "_loud": STATE.reset, "_fail": _fail, "_same": same_content,
               "_overlap": _overlap, "_add_reduce": np.add.reduce, "_raises": _raises,
               "_IGNORE": IGNORE, "_ABSENT": _ABSENT}  # fmt: skip
    namespace = dict(names.namespace, _same_float=_same_float, _index=operator.index, **helpers)
    exec(compile(source, "<dd.replay>", "exec"), namespace)  # noqa: S102  (code we wrote)
    return Replay(source, namespace["_replay"], ops, guards, env)


def _env_lines(env, names):
    """One test of every global and closure variable f read: one rebound since recording (or a
    global deleted) misses; an emptied cell raises ValueError, so f is called directly."""
    tests = [
        f"{names.of(space)}.cell_contents is not {names.of(value)}" if name is None
        else f"{names.of(space)}.get({name!r}, _ABSENT) is not {names.of(value)}"
        for space, name, value in env
    ]  # fmt: skip
    return [f"if {' or '.join(tests)}: _fail()"] if tests else []


# -- analysis ---------------------------------------------------------------------------------


# f's own calls (not the sweep's quiet ones) are kept though nothing reads them (grad never
# reads f's value): they warn or raise under the caller's errstate as f's direct call does,
# views and reshapes excepted, which cannot
_CANNOT_FAIL = frozenset(
    (operator.getitem, np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.squeeze,
     np.expand_dims, np.ravel, np.broadcast_to, np.zeros_like, np.ones_like, np.copy,
     np.shape, np.ndim, np.size, np.result_type)
)  # fmt: skip


def _raises(fn, args, kwargs, expected):
    """Whether ``fn(*args, **kwargs)`` raises ``expected`` (as it did at recording)."""
    try:
        fn(*args, **kwargs)
    except expected:
        return True
    except Exception:  # another error: record again, to see what f makes of it
        return False
    return False


def _live_nodes(nodes, outputs):
    """The guards, f's own calls (which may warn or raise), and the calls whose results a
    guard or an output reads."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if node.guard is not None:
            needed.add(node.guard[1])
        elif node.out not in needed and (node.quiet or node.fn in _CANNOT_FAIL):
            continue
        kept.append(node)
        for r in _refs((node.args, node.kwargs)):
            needed.add(r.slot)
    kept.reverse()
    return kept


def _last_uses(kept, outputs, n):
    last = [-1] * n
    for i, node in enumerate(kept):
        if node.guard is not None and node.guard[1] is not None:
            last[node.guard[1]] = i
        for r in _refs((node.args, node.kwargs)):
            last[r.slot] = i
    for s in outputs:
        last[s] = len(kept)
    return last


def _roots(kept, values):
    """For each result, the earlier results whose memory it may share (views, pass-throughs)."""
    roots = {}
    for node in kept:
        if node.guard is not None:
            continue
        out = values[node.out]
        mine = {node.out}
        if type(out) is np.ndarray:
            for r in _refs((node.args, node.kwargs)):
                v = values[r.slot]
                if type(v) is np.ndarray and np.may_share_memory(out, v):
                    mine |= roots.get(r.slot, {r.slot})
        elif type(out) in (tuple, list):  # a multi-output call: its items are its own
            pass
        roots[node.out] = mine
    return roots


def _plan_buffers(kept, values, prog, outputs, last, roots, squeezed):
    """``(buffer slots, {slot: buffer name})``: elementwise results written into buffers of
    their shape and dtype, each reused once every reader of what it holds has run."""
    end = {}  # root -> index of the last node that reads it or a view of it
    for s, rs in roots.items():
        for r in rs:
            end[r] = max(end.get(r, -1), last[s])
    protected = set()  # buffers an output could share memory with
    for s in outputs:
        protected |= roots.get(s, set())
    free = {}  # (shape, dtype) -> names of free buffers
    busy = []  # (end, key, name)
    specs = {}  # name -> (shape, dtype)
    bufname = {}
    for i, node in enumerate(kept):
        for item in [b for b in busy if b[0] < i]:
            busy.remove(item)
            free.setdefault(item[1], []).append(item[2])
        s = node.out
        if not TUNING["buffers"] or not _bufferable(node, values, prog, outputs, protected):
            continue
        key = (squeezed.get(s, values[s].shape), values[s].dtype)
        names = free.get(key)
        name = names.pop() if names else f"b{len(specs)}"
        specs[name] = key
        bufname[s] = name
        busy.append((end.get(s, last[s]), key, name))
    return list(specs.items()), bufname


def _bufferable(node, values, prog, outputs, protected):
    fn, s = node.fn, node.out
    if node.guard is not None or not isinstance(fn, np.ufunc) or node.kwargs or s in outputs:
        return False
    if s in protected or fn.nout != 1 or len(node.args) != fn.nin or not prog.stable[s]:
        return False
    a = values[s]
    return type(a) is np.ndarray and a.ndim > 0 and a.base is None


def _copied_outputs(outputs, values, prog, bufname, roots):
    """Outputs that could share memory with an input, a constant or a buffer: copied."""
    held = [values[s] for s in prog.inputs] + list(prog.constants.values())
    held += [values[s] for s in bufname]
    copied = set()
    for s in outputs:
        v = values[s]
        if type(v) is not np.ndarray:
            continue
        if s in prog.inputs or any(type(h) is np.ndarray and np.may_share_memory(v, h)
                                   for h in held):  # fmt: skip
            copied.add(s)
    return copied


def _constant_guard_lines(prog, names):
    """A content guard for each array the calls read that something else could change: it, or
    an array it is a view of, is referred to from outside the program (a global, a closure,
    an object's attribute, the caller)."""
    lines = []
    for key in list(prog.constants):
        if not _held_outside(prog, key) or _frozen_array(prog.constants[key]):
            continue
        a = prog.constants[key]
        saved = (a.dtype, a.shape, a.tobytes())
        lines.append(f"if not _same({names.of(a)}, {names.of(saved)}): _fail()")
    return lines


def _overlap_lines(prog, written, names):
    """f writes into these arguments: the recording assumed no other argument and no constant
    is the same memory (a write would change them too), so any overlap replays nothing."""
    if not written:
        return []
    others = [f"v{s}" for s in prog.inputs] + [names.of(c) for c in prog.constants.values()]
    return [
        f"if _overlap({prog.inputs.index(i)}, v{i}, ({', '.join(others)},)): _fail()"
        for i in written
    ]


def _overlap(i, a, others):
    return any(j != i and np.may_share_memory(a, o) for j, o in enumerate(others))


def _held_outside(prog, key):
    """Whether anything but the program's calls (and views among them) refers to the constant
    or to an array it views; reference counts, so an unknown referrer counts as outside."""
    cur, below = prog.constants[key], 0
    while type(cur) is np.ndarray:
        i = id(cur)
        own = below + (1 + prog.uses[i] if i in prog.constants else 0)
        if sys.getrefcount(cur) - 2 - own > 0:  # - cur, - getrefcount's argument
            return True
        cur, below = cur.base, 1
    return False


# -- code -------------------------------------------------------------------------------------


class _Names:
    """Names in the generated code's namespace for the constants it reads, one per object."""

    def __init__(self):
        self.namespace = {}
        self._ids = {}
        self._scalars = {}
        self.squeezed = {}  # slot -> the shape its variable holds, without the leading 1

    def ref(self, slot):
        """A slot's value as recorded (a squeezed variable viewed with its leading 1 again)."""
        if slot in self.squeezed:
            return f"v{slot}.reshape({(1, *self.squeezed[slot])!r})"
        return f"v{slot}"

    def scalar(self, x):
        """A 0-d float64 array of ``x``, one per value (bits: -0.0 is not 0.0)."""
        bits = np.float64(x).tobytes()
        name = self._scalars.get(bits)
        if name is None:
            zero_d = np.array(x, dtype=np.float64)
            zero_d.flags.writeable = False
            name = self._scalars[bits] = self.of(zero_d)
        return name

    def of(self, obj):
        key = id(obj)
        name = self._ids.get(key)
        if name is None:
            name = self._ids[key] = f"k{len(self._ids)}"
            self.namespace[name] = obj
        return name


def _expr(t, names, copied=None):
    tt = type(t)
    if tt is Ref:
        return f"v{t.slot}.copy()" if copied and t.slot in copied else names.ref(t.slot)
    if tt is tuple:
        return "(" + "".join(_expr(e, names, copied) + ", " for e in t) + ")"
    if tt is list:
        return "[" + ", ".join(_expr(e, names, copied) for e in t) + "]"
    if tt is dict:
        return "{" + ", ".join(f"{names.of(k)}: {_expr(v, names, copied)}"
                               for k, v in t.items()) + "}"  # fmt: skip
    if tt is slice and any(type(e) is Ref for e in (t.start, t.stop, t.step)):
        return f"slice({', '.join(_expr(e, names) for e in (t.start, t.stop, t.step))})"
    if tt is np.ndarray and t.ndim > 0 and copied is not None:
        return f"{names.of(t)}.copy()"  # a constant output: the caller's own each call
    if t is None or tt is bool or tt is int:
        return repr(t)
    if isinstance(t, tuple | list):  # a namedtuple (eigh's result)
        return f"{names.of(type(t))}(" + ", ".join(_expr(e, names, copied) for e in t) + ")"
    return names.of(t)


def _call_line(node, names, buf, values):
    out, fn = f"v{node.out}", node.fn
    if fn is operator.getitem:
        x, idx = node.args
        return f"{out} = {_expr(x, names)}[{_expr(idx, names)}]"
    if TUNING["methods"] and not buf:
        call = _method_call(node, names, values)
        if call is not None:
            return f"{out} = {call}"
    if TUNING["scalars"] and fn in _BINARY_FLOAT and _float64_refs(node, values):
        args = [_operand(a, names, values) for a in node.args]
    else:
        args = [_expr(a, names) for a in node.args]
    if node.out in names.squeezed:
        args = [_squeezed_operand(a, e, names) for a, e in zip(node.args, args)]
    if buf is not None:
        args.append(buf if fn not in _OUT_BY_NAME else f"out={buf}")
    args += [f"{k}={_expr(v, names)}" for k, v in node.kwargs.items()]
    return f"{out} = {names.of(fn)}({', '.join(args)})"


# Ufuncs whose only loop on two float64 operands is float64's: a Python number among float64
# operands (a weak scalar, NEP 50) is converted to float64 by NumPy, exactly as a 0-d float64
# array holds it, and a 0-d array skips the ufunc's slow scalar conversion (half its cost at 10
# elements).
_BINARY_FLOAT = frozenset(
    (np.add, np.subtract, np.multiply, np.divide, np.power, np.maximum, np.minimum, np.fmax,
     np.fmin, np.arctan2, np.hypot, np.greater, np.greater_equal, np.less, np.less_equal,
     np.equal, np.not_equal)
)  # fmt: skip
_OUT_BY_NAME = frozenset((np.maximum, np.minimum))  # a third positional argument is deprecated
_EXACT_INT = 2**53


# Ufuncs that IEEE rounds exactly: any loop NumPy picks (contiguous, broadcast, SIMD or not)
# gives the same bits, so one may run on operands without a leading axis of length 1.
_EXACT = frozenset(
    (np.add, np.subtract, np.multiply, np.divide, np.negative, np.positive, np.sqrt, np.square,
     np.absolute, np.maximum, np.minimum)
)  # fmt: skip


def _squeeze_plan(kept, values, outputs, names):
    """Elementwise sweep calls on a cotangent of shape (1, *s) (the batch axis of grad) and
    partials of shape s: broadcasting them costs a second pass of NumPy's iterator (0.3 us at
    10 elements), so such a chain is computed in shape s and viewed as (1, *s) where read."""
    squeezed = names.squeezed
    for node in kept:
        fn = node.fn
        if node.guard is not None or fn not in _EXACT or node.kwargs or node.out in outputs:
            continue
        out = values[node.out]
        if type(out) is not np.ndarray or out.ndim < 2 or out.shape[0] != 1:
            continue
        shape = out.shape[1:]
        if len(node.args) == fn.nin and all(
            _fits(a, shape, values, squeezed) for a in node.args
        ):  # fmt: skip
            squeezed[node.out] = shape


def _fits(a, shape, values, squeezed):
    t = type(a)
    if t is Ref:
        v = values[a.slot]
        return a.slot in squeezed or type(v) is np.ndarray and v.shape == shape
    if t is np.ndarray:
        return a.shape in (shape, (1, *shape), ())
    return t is float or t is int or isinstance(a, np.generic)


def _squeezed_operand(a, expr, names):
    """An operand of a squeezed call: squeezed variables as they are, constants reshaped."""
    if type(a) is Ref and a.slot in names.squeezed:
        return f"v{a.slot}"
    if type(a) is np.ndarray and a.ndim and a.shape[0] == 1 and a.ndim > 1:
        return names.of(a.reshape(a.shape[1:]))
    return expr


def _float64_refs(node, values):
    refs = [values[a.slot] for a in node.args if type(a) is Ref]
    return (
        not node.kwargs
        and refs
        and all(type(v) in (np.ndarray, np.float64) and v.dtype == np.float64 for v in refs)
    )


def _operand(a, names, values):
    """``a`` in a ufunc call of float64 operands: a Python or float64 number as a 0-d array."""
    t = type(a)
    if t is Ref or not (t is float or t is np.float64 or t is int and abs(a) <= _EXACT_INT):
        return _expr(a, names)
    return names.scalar(a)


def _method_call(node, names, values):
    """NumPy's function called as what it calls for an ndarray (``np.reshape(a, s)`` is
    ``a.reshape(s)``, ``np.sum`` is ``np.add.reduce``): the same computation, without the
    dispatch (0.3-0.9 us a call)."""
    fn, args, kwargs = node.fn, node.args, node.kwargs
    form = _METHODS.get(fn)
    if form is None or not args or type(args[0]) is not Ref:
        return None
    if type(values[args[0].slot]) is not np.ndarray:
        return None
    try:
        bound = form[0].bind(*args, **kwargs).arguments
    except TypeError:
        return None
    if not set(bound) <= form[1]:
        return None
    return form[2](bound, lambda t: _expr(t, names))


def _sum_call(b, e):
    if b.get("dtype") is not None:
        return None
    axis, keepdims = e(b.get("axis")), e(b.get("keepdims", False))
    return f"_add_reduce({e(b['a'])}, {axis}, None, None, {keepdims})"


def _signature_of(fn):
    import inspect

    return inspect.signature(fn)


_METHODS = {
    np.sum: (_signature_of(np.sum), {"a", "axis", "dtype", "keepdims"}, _sum_call),
    np.reshape: (
        _signature_of(np.reshape),
        {"a", "shape"},
        lambda b, e: f"{e(b['a'])}.reshape({e(b['shape'])})",
    ),
    np.transpose: (
        _signature_of(np.transpose),
        {"a", "axes"},
        lambda b, e: f"{e(b['a'])}.transpose({e(b.get('axes'))})",
    ),
    np.swapaxes: (
        _signature_of(np.swapaxes),
        {"a", "axis1", "axis2"},
        lambda b, e: f"{e(b['a'])}.swapaxes({e(b['axis1'])}, {e(b['axis2'])})",
    ),
}


def _guard_line(node, names):
    kind, slot = node.guard
    if kind == "raises":
        call = f"{names.of(node.fn)}, {_expr(node.args, names)}, {_expr(node.kwargs, names)}"
        return f"if not _raises({call}, {names.of(node.expected)}): _fail()"
    v, e = names.ref(slot), names.of(node.expected)
    if kind == "bool":
        return f"if {'not ' if node.expected else ''}{v}: _fail()"
    if kind == "int":
        return f"if int({v}) != {e}: _fail()"
    if kind == "index":
        return f"if _index({v}) != {e}: _fail()"
    if kind == "float":
        return f"if not _same_float(float({v}), {e}): _fail()"
    if kind == "shape":
        return f"if {v}.shape != {e}: _fail()"
    if kind == "eq":
        return f"if {v} != {e}: _fail()"
    return f"if not _same({v}, {e}): _fail()"  # content
