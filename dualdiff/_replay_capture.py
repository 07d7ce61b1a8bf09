"""The recording side of replay: a trace level below every transform that writes down NumPy calls.

A :class:`Capture` wraps a concrete array. It sits at a trace level opened before the
transform's own, so the transform runs unchanged on top of it (as ``hessian`` runs reverse
mode on top of forward mode), and every NumPy call that reaches a capture (f's forward values,
the rules' partials, the sweep's products and sums) is executed for real and appended to a
:class:`Program`: a straight-line list of calls on slots. No rule is looked up at this level:
a call is a call.

Whatever turns a captured value into Python (``bool``, ``int``, ``float``, ``__index__``,
``__array__``, ``tolist``, a Python result of a NumPy function, the raw array read through
``.value``) is a *guard*: its value at recording is kept and checked at replay. Shapes are
fixed by the argument shapes for the ops in :data:`STABLE` and for ufuncs; reading the shape
of any other op's result (``np.nonzero``, a boolean mask) is a guard too.
"""

import operator
import sys
import warnings

import numpy as np

from dualdiff import _jacobian, _tracer, _views, engine
from dualdiff._quiet import IGNORE, STATE
from dualdiff._snapshot import _frozen
from dualdiff._tracer import Tracer, _traced_keywords_positional, new_level, top_tracer
from dualdiff.rules import numpy_extra
from dualdiff.rules import shape as shape_rules


class Ref:
    """A slot of the program inside a call's arguments."""

    __slots__ = ("slot",)

    def __init__(self, slot):
        self.slot = slot


class Node:
    """``out = fn(*args, **kwargs)``; ``out`` a slot, or None for a guard; ``quiet``: the
    call ran with floating-point errors ignored (the sweep's arithmetic)."""

    __slots__ = ("fn", "args", "kwargs", "out", "quiet", "guard", "expected")

    def __init__(self, fn, args, kwargs, out, quiet, guard=None, expected=None):
        self.fn, self.args, self.kwargs, self.out, self.quiet = fn, args, kwargs, out, quiet
        self.guard, self.expected = guard, expected


def _codes(*fns):
    """The code objects of ``fns`` (a class: its methods) and of the comprehensions inside."""
    out = set()
    for fn in fns:
        todo = (
            [fn.__code__]
            if hasattr(fn, "__code__")
            else [m.__code__ for m in vars(fn).values() if hasattr(m, "__code__")]
        )
        while todo:
            code = todo.pop()
            out.add(code)
            todo.extend(c for c in code.co_consts if hasattr(c, "co_code"))
    return out


# Who may read a capture's raw array without a guard: they read its shape, dtype or memory
# layout only, which the argument signature fixes.
_STRUCTURAL_READERS = _codes(
    _views._link_one, _views.inplace, numpy_extra._shaped_like, engine.record, _jacobian.Layout
)
_PASS_THROUGH = _codes(engine.value_of)
_INNERMOST = _tracer.innermost.__code__

# NumPy functions whose result's shape follows from their arguments' shapes (with ufuncs)
STABLE = frozenset(
    getattr(np, name)
    for name in (
        "sum mean prod max min amax amin var std cumsum cumprod dot matmul vdot inner outer "
        "tensordot einsum transpose swapaxes moveaxis reshape ravel squeeze expand_dims "
        "concatenate stack hstack vstack column_stack broadcast_to broadcast_arrays where clip "
        "diag diagonal trace tril triu flip fliplr flipud roll tile pad zeros_like ones_like "
        "full_like empty_like copy argmax argmin argsort sort take take_along_axis "
        "searchsorted interp cross kron atleast_1d atleast_2d atleast_3d real imag "
        "nan_to_num round around average linalg.norm"
    ).split()
    if hasattr(np, name)
) | {np.linalg.norm, np.linalg.solve, np.linalg.inv, np.linalg.det, np.linalg.slogdet,
     np.linalg.cholesky, np.linalg.eigh, np.linalg.svd, np.linalg.qr, operator.getitem}  # fmt: skip

# dualdiff's own primitives whose answer has the shape of an argument or of a constant
STABLE |= {
    p.__wrapped__
    for p in (_tracer.getitem, _tracer.setitem, _tracer.astype, shape_rules.scatter,
              shape_rules.index_add, numpy_extra.like, numpy_extra.nan_to_num)
}  # fmt: skip

_GETITEMS = (operator.getitem, _tracer.getitem.__wrapped__)
_BOOL = np.dtype(bool)

# Functions of a value's shape and dtype only: their Python answers need no guard
STRUCTURAL = frozenset((np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj,
                        np.isrealobj, np.may_share_memory, np.shares_memory))  # fmt: skip


class Miss(Exception):
    """A guard of a recording does not hold at this call."""


class Program:
    """The calls of one recording, on slots: ``values[s]`` is slot ``s``'s value at recording."""

    def __init__(self):
        self.level = new_level()
        self.values = []
        self.stable = []
        self.nodes = []
        self.inputs = []
        self.constants = {}  # id -> the plain arrays the calls read (kept alive while recording)
        self.uses = {}  # id -> how many times the calls' arguments hold it
        self.shape_guarded = set()
        self.guards = 0
        self.contents = {}  # id -> a writeable constant's bytes at its last use
        self.written = {}  # input slot -> its capture, for the inputs f writes into
        # the caller's floating-point error state and warnings filters: f changing either
        # around its calls cannot be replayed under the caller's (the recording calls f)
        self.errstate = STATE.get()
        self.filters = (warnings.filters, len(warnings.filters))
        self.direct = None  # why this recording is not replayable, if it is not

    def input(self, a):
        """A capture of an input array."""
        c = self._new(a, True)
        c.origin = c.slot
        self.inputs.append(c.slot)
        return c

    def _new(self, value, stable):
        slot = len(self.values)
        self.values.append(value)
        self.stable.append(stable)
        return Capture(value, slot, self)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, fn, args, kwargs, stable=None):
        """``fn(*args, **kwargs)`` on the captures' values, recorded; captures for its arrays."""
        targs = self._template(args)
        tkw = self._template(kwargs) if kwargs else {}
        quiet = STATE.get() is IGNORE
        if not quiet and STATE.get() is not self.errstate:
            self.direct = "f sets np.errstate around its calls"
        if warnings.filters is not self.filters[0] or len(warnings.filters) != self.filters[1]:
            self.direct = "f changes the warnings filters around its calls"
        try:
            ans = fn(*_values(args), **(_values(kwargs) if kwargs else {}))
        except Exception as e:  # f (or a rule) may catch it: replay checks it raises again
            self.nodes.append(Node(fn, targs, tkw, None, quiet, ("raises", None), type(e)))
            raise
        if stable is None:
            stable = self._stable(fn, targs, tkw)
        return self._result(fn, targs, tkw, ans, stable, quiet)

    def _result(self, fn, targs, tkw, ans, stable, quiet):
        if type(ans) is np.ndarray or isinstance(ans, np.generic):
            out = self._new(ans, stable)
            self.nodes.append(Node(fn, targs, tkw, out.slot, quiet))
            self._viewed(out, targs)
            return out
        if isinstance(ans, tuple | list) and any(type(a) is np.ndarray for a in ans):
            whole = len(self.values)
            self.values.append(ans)
            self.stable.append(stable)
            self.nodes.append(Node(fn, targs, tkw, whole, quiet))
            items = [
                self._result(operator.getitem, (Ref(whole), j), {}, a, stable, quiet)
                for j, a in enumerate(ans)
            ]
            return type(ans)(items) if type(ans) in (tuple, list) else type(ans)(*items)
        # a Python answer (np.allclose, a shape): kept, and checked at replay unless structural
        if fn in STRUCTURAL or fn is operator.getitem:
            return ans
        slot = len(self.values)
        self.values.append(ans)
        self.stable.append(True)
        self.nodes.append(Node(fn, targs, tkw, slot, quiet))
        self.guard("eq", slot, ans)
        return ans

    def _viewed(self, out, targs):
        """Mark the captures ``out`` is a view of: a write into them cannot be replayed as a
        rebinding (their views would not see it)."""
        a = out._a
        if type(a) is not np.ndarray or a.base is None:
            return
        out.is_view = True

    def _stable(self, fn, targs, tkw):
        if not all(self.stable[r.slot] for r in _refs((targs, tkw))):
            return False
        if isinstance(fn, np.ufunc) or fn in STABLE or _method_of_ufunc(fn) or _ours(fn):
            if fn not in _GETITEMS and not _ours(fn):
                return True
            # a boolean mask's count is data
            masks = _refs(targs[1:] if fn in _GETITEMS else (targs, tkw))
            return not any(getattr(self.values[r.slot], "dtype", None) == _BOOL for r in masks)
        return False

    def _template(self, x):
        """``x`` with captures of this program as :class:`Ref`; plain arrays noted as read."""
        t = type(x)
        if t is Capture:
            return Ref(x.slot)
        if t is tuple or t is list:
            return t(self._template(e) for e in x)
        if t is dict:
            return {k: self._template(v) for k, v in x.items()}
        if t is slice and any(type(e) is Capture for e in (x.start, x.stop, x.step)):
            return slice(*(self._index(e) for e in (x.start, x.stop, x.step)))
        if t is np.ndarray:
            self._use_constant(x)
        return x

    def _use_constant(self, a):
        i = id(a)
        self.constants[i] = a
        self.uses[i] = self.uses.get(i, 0) + 1
        if a.dtype.hasobject or a.size == 0 or _frozen(a):
            return
        data, before = a.tobytes(), self.contents.get(i)
        if before is not None and before != data:
            self._refer_to_contents(a, before)
        self.contents[i] = data

    def finish(self):
        """Make the calls that read a constant f changed afterwards read what they read then."""
        for i, data in self.contents.items():
            a = self.constants[i]
            if self.uses[i] and a.tobytes() != data:
                self._refer_to_contents(a, data)

    def _refer_to_contents(self, a, data):
        """The calls recorded so far read ``a`` when it held ``data`` (f wrote into it since):
        they get a read-only copy of those contents, so replay does not read its new ones."""
        old = np.frombuffer(data, dtype=a.dtype).reshape(a.shape)
        for node in self.nodes:
            node.args, n_args = _swapped(node.args, a, old)
            node.kwargs, n_kw = _swapped(node.kwargs, a, old)
            self.uses[id(a)] -= n_args + n_kw
            if n_args + n_kw:
                self.constants[id(old)] = old
                self.uses[id(old)] = self.uses.get(id(old), 0) + n_args + n_kw

    def _index(self, e):
        return operator.index(e) if type(e) is Capture else e

    # -- guards --------------------------------------------------------------------------------
    def guard(self, kind, slot, expected):
        """Check at replay that slot's ``kind`` (bool, int, float, eq, shape, content) is still
        ``expected``."""
        self.guards += 1
        self.nodes.append(Node(None, (), {}, None, False, (kind, slot), expected))

    def shape_guard(self, c):
        if not self.stable[c.slot] and c.slot not in self.shape_guarded:
            self.shape_guarded.add(c.slot)
            self.guard("shape", c.slot, c._a.shape)


def _swapped(t, a, new):
    """``(t with the object a replaced by new, how many times)``."""
    if t is a:
        return new, 1
    tt = type(t)
    if tt is tuple or tt is list:
        items = [_swapped(e, a, new) for e in t]
        n = sum(k for _, k in items)
        return (tt(e for e, _ in items), n) if n else (t, 0)
    if tt is dict:
        items = {k: _swapped(v, a, new) for k, v in t.items()}
        n = sum(k for _, k in items.values())
        return ({k: e for k, (e, _) in items.items()}, n) if n else (t, 0)
    return t, 0


def _ours(fn):
    """dualdiff's own helpers (rules, scatters, pads): their answers' shapes follow from their
    arguments' shapes, boolean masks excepted (checked by the caller)."""
    return (getattr(fn, "__module__", None) or "").startswith("dualdiff.")


def _method_of_ufunc(fn):
    return isinstance(getattr(fn, "__self__", None), np.ufunc) and fn.__name__ != "at"


def _refs(t):
    if type(t) is Ref:
        yield t
    elif type(t) in (tuple, list):
        for e in t:
            yield from _refs(e)
    elif type(t) is dict:
        for e in t.values():
            yield from _refs(e)
    elif type(t) is slice:
        yield from _refs((t.start, t.stop, t.step))


def _captures_mapped(x, leaf):
    """``x`` (nested tuples, lists and dicts) with every capture ``c`` replaced by ``leaf(c)``;
    a slice's bounds that are captures become Python ints."""
    t = type(x)
    if t is Capture:
        return leaf(x)
    if t is tuple or t is list:
        return t(_captures_mapped(e, leaf) for e in x)
    if t is dict:
        return {k: _captures_mapped(v, leaf) for k, v in x.items()}
    if t is slice and any(type(e) is Capture for e in (x.start, x.stop, x.step)):
        return slice(*(operator.index(e) if type(e) is Capture else e
                       for e in (x.start, x.stop, x.step)))  # fmt: skip
    return x


def _values(x):
    """``x`` with every capture replaced by its array (what the recorded call reads)."""
    return _captures_mapped(x, _array_of)


def _array_of(c):
    return c._a


def _float_guard(kind):
    def convert(self):
        value = {"float": float, "int": int, "index": operator.index}[kind](self._a)
        self.prog.guard(kind, self.slot, value)
        return value

    return convert


def _constant_op(ufunc, reflected=False):
    """A comparison or floor division: recorded like any other call (a constant at the levels
    above, data at this one)."""

    def op(self, other):
        inputs = (other, self) if reflected else (self, other)
        top = top_tracer(inputs)
        if top is not self and top.level > self.level:
            return ufunc(*inputs)
        return self.prog.call(ufunc, inputs, {})

    return op


class Capture(Tracer):
    """A concrete array whose NumPy calls are written into a :class:`Program`."""

    __slots__ = ("_a", "slot", "prog", "level", "is_view", "origin", "_view", "_views")
    mode = "replay"

    def __init__(self, a, slot, prog):
        self._a, self.slot, self.prog, self.level = a, slot, prog, prog.level
        self.is_view = False
        self.origin = None  # the input slot, on the capture of an argument itself
        self._view = self._views = None

    def __repr__(self):
        return f"Capture({self._a!r})"

    # -- the raw value: a guard unless read for its layout -------------------------------------
    @property
    def value(self):
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code in _PASS_THROUGH or frame.f_code is _INNERMOST):
            frame = frame.f_back
        if frame is None or frame.f_code not in _STRUCTURAL_READERS:
            self.prog.guard("content", self.slot, _saved(self._a))
        return self._a

    @property
    def shape(self):
        self.prog.shape_guard(self)
        return np.shape(self._a)

    @property
    def ndim(self):
        self.prog.shape_guard(self)
        return np.ndim(self._a)

    @property
    def size(self):
        self.prog.shape_guard(self)
        return np.size(self._a)

    @property
    def dtype(self):
        return self._a.dtype

    def __len__(self):
        self.prog.shape_guard(self)
        return len(self._a)

    def as_input(self, weak=None):
        """What :func:`dualdiff._checks.as_input` makes of the array: floats as they are,
        integers and booleans promoted, anything else refused as for a plain array."""
        kind = self._a.dtype.kind
        if kind == "f":
            return self
        if kind in "biu":
            return self.astype(np.float64)
        from dualdiff._checks import as_input

        return as_input(self._a, weak)  # the named error of a plain array

    # -- conversions: guards -------------------------------------------------------------------
    def __bool__(self):
        value = bool(self._a)
        self.prog.guard("bool", self.slot, value)
        return value

    __float__ = _float_guard("float")
    __int__ = _float_guard("int")
    __index__ = _float_guard("index")

    def __complex__(self):
        value = complex(self._a)
        self.prog.guard("content", self.slot, _saved(self._a))
        return value

    def __array__(self, dtype=None, copy=None):
        self.prog.guard("content", self.slot, _saved(self._a))
        a = np.asarray(self._a)
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self, *args):
        self.prog.guard("content", self.slot, _saved(self._a))
        return self._a.item(*args)

    def tolist(self):
        self.prog.guard("content", self.slot, _saved(self._a))
        return self._a.tolist()

    # -- NumPy's hooks: every call is recorded, none needs a rule ------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        top = top_tracer(inputs + tuple(kwargs.get("out", ())))
        if top is not None and top.level > self.level:
            return Tracer.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)
        if "out" in kwargs or method == "at":
            return self._unsupported(ufunc, inputs, kwargs)
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return self.prog.call(fn, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        top = top_tracer(args)
        if top is not None and top.level > self.level or _traced_kw(kwargs, self.level):
            if any(isinstance(v, Tracer) for v in kwargs.values()):
                args, kwargs = _traced_keywords_positional(func, args, kwargs)
            return Tracer.__array_function__(self, func, types, args, kwargs)
        if func in _WRITES or "out" in kwargs:
            return self._unsupported(func, args, kwargs)
        return self.prog.call(func, args, kwargs)

    def _unsupported(self, fn, args, kwargs):
        """A call that writes into an array: on the raw values, each read a guard."""
        return fn(*_guarded(args), **_guarded(kwargs))

    def ufunc(self, ufunc, inputs, kwargs):
        return self.prog.call(ufunc, inputs, kwargs)

    def apply(self, fn, impl, args, kwargs):
        # a primitive (getitem, setitem, a dd.primitive): one opaque call of its plain function
        plain = getattr(impl, "__wrapped__", impl)
        return self.prog.call(plain, args, kwargs)

    __lt__ = _constant_op(np.less)
    __le__ = _constant_op(np.less_equal)
    __gt__ = _constant_op(np.greater)
    __ge__ = _constant_op(np.greater_equal)
    __eq__ = _constant_op(np.equal)
    __ne__ = _constant_op(np.not_equal)
    __floordiv__ = _constant_op(np.floor_divide)
    __rfloordiv__ = _constant_op(np.floor_divide, reflected=True)
    # bitwise operators of boolean and integer arguments (the tracers above have none)
    __and__ = _constant_op(np.bitwise_and)
    __rand__ = _constant_op(np.bitwise_and, reflected=True)
    __or__ = _constant_op(np.bitwise_or)
    __ror__ = _constant_op(np.bitwise_or, reflected=True)
    __xor__ = _constant_op(np.bitwise_xor)
    __rxor__ = _constant_op(np.bitwise_xor, reflected=True)
    __lshift__ = _constant_op(np.left_shift)
    __rshift__ = _constant_op(np.right_shift)
    __hash__ = None

    def __invert__(self):
        return self.prog.call(np.invert, (self,), {})

    def __getitem__(self, idx):
        top = top_tracer(idx if type(idx) is tuple else (idx,))
        if top is not None and top.level > self.level:
            return Tracer.__getitem__(self, idx)
        return self.prog.call(operator.getitem, (self, idx), {})

    # -- values are immutable: a write rebinds (as on Var), views excepted; a write into an
    # argument itself is written back into the caller's array at each call -------------------
    def _clone(self):
        c = Capture(self._a, self.slot, self.prog)
        c.is_view = self.is_view
        return c

    def _rebind(self, other):
        if self.is_view or self._a is not None and _has_views(self):
            raise NotImplementedError(
                "dd.replay: f writes into an array that is a view of (or has views into) "
                "another array it does not differentiate; replay cannot repeat writes through "
                "views. Write into a copy (y = x.copy(); y[i] = v) or use np.where."
            )
        if self.origin is not None:
            if not self.prog.values[self.origin].flags.writeable:
                raise ValueError("assignment destination is read-only")
            self.prog.written[self.origin] = self
        self._a, self.slot = other._a, other.slot


def _has_views(c):
    """Whether a later capture's array is a view of ``c``'s (its writes would need to reach it)."""
    a = c._a
    if type(a) is not np.ndarray:
        return False
    return any(
        type(v) is np.ndarray and v is not a and v.base is not None and np.may_share_memory(v, a)
        for v in c.prog.values[c.slot + 1 :]
    )


_WRITES = frozenset(
    getattr(np, n) for n in ("copyto", "put", "place", "putmask", "put_along_axis", "fill_diagonal")
)


def _traced_kw(kwargs, level):
    return any(isinstance(v, Tracer) and v.level > level for v in kwargs.values())


def _guarded(x):
    """``x`` with every capture replaced by its raw array, each read a guard."""
    return _captures_mapped(x, _guarded_value)


def _guarded_value(c):
    return c.value


def _saved(a):
    """What a content guard compares: dtype, shape and bytes."""
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def same_content(a, saved):
    """Whether ``a`` has the saved dtype, shape and bytes (NaN payloads and signed zeros too)."""
    a = np.asarray(a)
    dtype, shape, data = saved
    return a.dtype == dtype and a.shape == shape and a.tobytes() == data
