"""Base of Dual and Var: trace levels, the numpy hooks, operator dunders, and clear errors.

Every transform call opens a fresh level (a number from one increasing counter, so an inner
transform always outranks the outer one that called it). A numpy call on tracers is handled by
the tracer class of the highest level among its inputs; lower-level tracers ride along as
constants inside its primal values, which is how Dual-in-Var and Var-in-Dual nest to any order.
"""

import functools
import inspect
import itertools
import operator

import numpy as np

from dualdiff._registry import (
    COMPOSITE,
    CONSTANT,
    JVP,
    UFUNC_PARTIALS,
    VJP,
    missing_rule,
)

_levels = itertools.count(1)


def new_level() -> int:
    """A level above every level opened before (thread-safe: ``count`` is atomic in CPython)."""
    return next(_levels)


def top_tracer(args):
    """The tracer of highest level among ``args`` (one level of list/tuple nesting), or None."""
    top = None
    for a in args:
        if isinstance(a, Tracer):
            if top is None or a.level > top.level:
                top = a
        elif type(a) is list or type(a) is tuple:
            for e in a:
                if isinstance(e, Tracer) and (top is None or e.level > top.level):
                    top = e
    return top


def unwrap(args, level):
    """Primal values of ``args`` at ``level`` and the ``(argnum, tracer-or-list)`` traced there."""
    vals = list(args)
    traced = []
    for pos, a in enumerate(args):
        if isinstance(a, Tracer):
            if a.level == level:
                vals[pos] = a.value
                traced.append((pos, a))
        elif (type(a) is list or type(a) is tuple) and _has_level(a, level):
            vals[pos] = type(a)(e.value if _at(e, level) else e for e in a)
            traced.append((pos, [e if _at(e, level) else None for e in a]))
    return vals, traced


def _at(x, level):
    return isinstance(x, Tracer) and x.level == level


def _has_level(seq, level):
    for e in seq:  # a loop, not any(...): every index tuple of every getitem passes here
        if isinstance(e, Tracer) and e.level == level:
            return True
    return False


def shape_of(x):
    """The shape of an array, a number or a tracer (read without converting a tracer)."""
    shape = getattr(x, "shape", None)
    return np.shape(x) if shape is None else shape


def innermost(x):
    """The plain primal inside ``x``, through every level of tracers."""
    while isinstance(x, Tracer):
        x = x.value
    return x


def strip(x, level):
    """``x`` with its tracer at ``level`` replaced by the primal value (for constant ops)."""
    return x.value if _at(x, level) else x


def apply_function(fn, args, kwargs):
    """Run a non-ufunc op on tracers through the rule table of the top tracer's mode."""
    if kwargs and any(isinstance(v, Tracer) for v in kwargs.values()):
        args, kwargs = _traced_keywords_positional(fn, args, kwargs)
    top = top_tracer(args)
    if fn in CONSTANT:
        vals = [strip(a, top.level) for a in args]
        return fn(*vals, **kwargs)
    out = top.apply(fn, fn, args, kwargs)
    if fn in _views.VIEW_FUNCS and args[0] is top and top.tracks_views:
        _views.link(top, out, fn, args[1:], kwargs)
    return out


@functools.cache
def _parameters(fn):
    return list(inspect.signature(fn).parameters.values())


def _traced_keywords_positional(fn, args, kwargs):
    """Move traced keyword arguments (``np.average(a, weights=w)``) to their positions, where
    the rules are registered; parameters skipped on the way take their defaults."""
    name = getattr(fn, "__name__", fn)
    traced = [key for key, v in kwargs.items() if isinstance(v, Tracer)]
    try:
        params = _parameters(fn)
        bound = inspect.Signature(params).bind(*args, **kwargs)
    except (TypeError, ValueError):
        params = None
    names = [p.name for p in params or ()]
    last = max((names.index(k) for k in traced if k in names), default=-1)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if (
        params is None
        or any(k not in names for k in traced)
        or any(p.kind not in positional for p in params[: last + 1])
    ):
        raise TypeError(
            f"{name}: pass the traced argument {traced[0]!r} positionally; dualdiff "
            "differentiates positional arguments only."
        )
    bound.apply_defaults()
    moved = names[: last + 1]
    rest = {k: v for k, v in kwargs.items() if k not in moved}
    return tuple(bound.arguments[k] for k in moved), rest


def apply_ufunc(ufunc, inputs, kwargs):
    """Run an elementwise ufunc on tracers (operators land here directly, skipping numpy)."""
    top = top_tracer(inputs)
    if ufunc in CONSTANT:
        return ufunc(*[strip(a, top.level) for a in inputs], **kwargs)
    if "out" in kwargs or "where" in kwargs:
        raise _no_out(ufunc)
    return top.ufunc(ufunc, inputs, kwargs)


def _no_out(ufunc):
    return TypeError(
        f"numpy.{ufunc.__name__}: out= and where= are not supported on traced arrays; "
        "use the result of the call (or np.where) instead of writing into an array."
    )


_REDUCE = {"add": np.sum, "multiply": np.prod, "maximum": np.amax, "minimum": np.amin}
_ACCUMULATE = {"add": np.cumsum, "multiply": np.cumprod}


def _ufunc_method(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    if method == "reduce" and name in _REDUCE:
        return apply_function(_REDUCE[name], inputs, kwargs)
    if method == "accumulate" and name in _ACCUMULATE:
        return apply_function(_ACCUMULATE[name], inputs, kwargs)
    if method == "outer" and len(inputs) == 2:
        a, b = inputs
        return ufunc(np.reshape(a, np.shape(a) + (1,) * np.ndim(b)), b, **kwargs)
    raise NotImplementedError(
        f"dualdiff has no rule for numpy.{name}.{method}; call an equivalent numpy function "
        f"(np.sum, np.cumsum, ...) or register one with @dualdiff.primitive."
    )


def primitive(f):
    """Make ``f`` an opaque op: dualdiff calls it on primal values and uses your rules.

    Give it rules with :func:`dualdiff.defjvp` and :func:`dualdiff.defvjp`.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> @dd.primitive
    ... def logcosh(x):
    ...     return np.log(np.cosh(x))
    >>> @dd.defjvp(logcosh)
    ... def logcosh_jvp(t, ans, x):
    ...     return t * np.tanh(x)
    >>> @dd.defvjp(logcosh)
    ... def logcosh_vjp(g, ans, x):
    ...     return g * np.tanh(x)
    >>> round(float(dd.grad(logcosh)(0.5)), 6)
    0.462117
    """

    @functools.wraps(f)
    def op(*args, **kwargs):
        if top_tracer(args) is None:
            return f(*args, **kwargs)
        return apply_function(op, args, kwargs)

    # The engine calls ``op`` itself on the unwrapped arguments: tracers of an outer level
    # still in them dispatch again (to that level's rules), and plain arrays reach ``f``.
    return op


def _no_conversion(self, *args, **kwargs):
    error = TypeError(
        f"A dualdiff {type(self).__name__} (a traced array) cannot become a plain NumPy array "
        "or Python number: that would silently drop its derivative. Keep it traced: use "
        "dualdiff.numpy.array / dualdiff.numpy.stack to build arrays from traced values, "
        "np.where / y = x.copy(); y[i] = v instead of writing into a NumPy array (an array "
        "made by np.zeros_like(x) of a traced x is traced: dy = np.zeros_like(x); dy[0] = v), "
        "and dualdiff.scipy.special (logsumexp, softmax, ...) for SciPy functions that call "
        "np.asarray. Use .value to read the primal value on purpose."
    )
    # NumPy wraps it in its own ValueError when a plain array's element is set (out[0] = x):
    # the transforms raise it unwrapped (dualdiff.engine.unwrapped)
    error.dualdiff_conversion = True
    raise error


# NumPy functions that write their traced arguments into a plain array (np.full_like's fill
# value goes through np.copyto): the plain array cannot hold a derivative
_WRITES = frozenset(
    getattr(np, name)
    for name in ("copyto", "put", "place", "putmask", "put_along_axis", "fill_diagonal")
)


def _write_into_plain(func):
    return TypeError(
        f"numpy.{func.__name__} would write a traced value into a plain NumPy array, which "
        "cannot hold its derivative. Make the array from the traced value instead: "
        "np.full_like(x, v) or np.zeros_like(x) of a traced x is traced (dy = np.zeros_like(x); "
        "dy[0] = v), as are x.copy(), np.where(mask, v, x) and np.broadcast_to(v, shape)."
    )


_NO_KWARGS: dict = {}


def _ufunc_dunder(ufunc, reflected=False):
    # Operators go straight to the top tracer's handler: no numpy dispatch, no table scan.
    def op(self, other):
        top = other if isinstance(other, Tracer) and other.level > self.level else self
        inputs = (other, self) if reflected else (self, other)
        return top.ufunc(ufunc, inputs, _NO_KWARGS)

    return op


_power = _ufunc_dunder(np.power)


def _pow(self, other):
    # x ** 2 is np.square, as ndarray's ** makes it: a multiply instead of a pow call, and a
    # unary op with a cheaper derivative
    if (type(other) is int or type(other) is float) and other == 2:
        return self.ufunc(np.square, (self,), _NO_KWARGS)
    return _power(self, other)


def _constant_dunder(ufunc, reflected=False):
    if reflected:
        return lambda self, other: apply_ufunc(ufunc, (other, self), {})
    return lambda self, other: apply_ufunc(ufunc, (self, other), {})


def _inplace_dunder(op):
    # a -= b changes the object a (and, through a view, its base), as on ndarrays
    return lambda self, other: _views.inplace(self, op, other)


class Tracer:
    """Common base of :class:`dualdiff.Dual` and the reverse-mode ``Var``."""

    __slots__ = ()
    __array_priority__ = 100.0
    tracks_views = False  # Var and Dual carry NumPy's view semantics (_views.py)

    # -- numpy hooks ------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs and ufunc in UFUNC_PARTIALS:  # the hot path
            if len(inputs) == 1:  # np.sin(x): the one input is the tracer numpy called
                return self.ufunc(ufunc, inputs, kwargs)
            return top_tracer(inputs).ufunc(ufunc, inputs, kwargs)
        if method != "__call__":
            return _ufunc_method(ufunc, method, inputs, kwargs)
        if ufunc in JVP or ufunc in VJP:  # gufuncs with rules of their own (matmul, vecdot)
            if "out" in kwargs:  # the plain out would hold the value without its derivative
                raise _no_out(ufunc)
            return apply_function(ufunc, inputs, kwargs)
        if ufunc in UFUNC_PARTIALS or ufunc in CONSTANT:
            return apply_ufunc(ufunc, inputs, kwargs)
        argnum = next(i for i, x in enumerate(inputs) if isinstance(x, Tracer))
        raise missing_rule(ufunc, argnum, self.mode)

    def __array_function__(self, func, types, args, kwargs):
        if func in JVP or func in VJP or func in CONSTANT:
            return apply_function(func, args, kwargs)
        if func in COMPOSITE:  # written in ops that have rules (np.piecewise)
            return COMPOSITE[func](*args, **kwargs)
        if func in _WRITES and not isinstance(args[0], Tracer):
            raise _write_into_plain(func)
        top = top_tracer(args)
        if top is None:  # tracers nested deeper than one list level (np.block)
            raise NotImplementedError(
                f"dualdiff finds traced arrays in positional arguments and in one level of "
                f"lists; {getattr(func, '__name__', func)} got them nested deeper. Build the "
                "array with np.concatenate / np.stack instead."
            )
        argnum = next((i for i, x in enumerate(args) if top_tracer((x,)) is not None), 0)
        raise missing_rule(func, argnum, top.mode)

    __array__ = _no_conversion
    __float__ = _no_conversion
    __int__ = _no_conversion
    __complex__ = _no_conversion
    __index__ = _no_conversion
    item = _no_conversion
    tolist = _no_conversion

    def __bool__(self):
        # Control flow on a value does not drop a derivative, so it is allowed (as on ndarrays).
        return bool(self.value)

    # -- array attributes -------------------------------------------------------------------
    @property
    def shape(self):
        try:  # an ndarray, NumPy scalar or tracer: all have .shape, and it is cheap
            return self.value.shape
        except AttributeError:  # a Python number
            return np.shape(self.value)

    @property
    def ndim(self):
        try:
            return self.value.ndim
        except AttributeError:
            return np.ndim(self.value)

    @property
    def size(self):
        return np.size(self.value)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def T(self):
        return np.transpose(self)

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- operators --------------------------------------------------------------------------
    __add__ = _ufunc_dunder(np.add)
    __radd__ = _ufunc_dunder(np.add, reflected=True)
    __sub__ = _ufunc_dunder(np.subtract)
    __rsub__ = _ufunc_dunder(np.subtract, reflected=True)
    __mul__ = _ufunc_dunder(np.multiply)
    __rmul__ = _ufunc_dunder(np.multiply, reflected=True)
    __truediv__ = _ufunc_dunder(np.true_divide)
    __rtruediv__ = _ufunc_dunder(np.true_divide, reflected=True)
    __pow__ = _pow
    __rpow__ = _ufunc_dunder(np.power, reflected=True)
    # x // y is np.floor_divide(x, y), piecewise constant (declared so): a constant, as there
    __floordiv__ = _constant_dunder(np.floor_divide)
    __rfloordiv__ = _constant_dunder(np.floor_divide, reflected=True)
    __mod__ = _ufunc_dunder(np.remainder)
    __rmod__ = _ufunc_dunder(np.remainder, reflected=True)
    __lt__ = _constant_dunder(np.less)
    __le__ = _constant_dunder(np.less_equal)
    __gt__ = _constant_dunder(np.greater)
    __ge__ = _constant_dunder(np.greater_equal)
    __eq__ = _constant_dunder(np.equal)
    __ne__ = _constant_dunder(np.not_equal)
    __hash__ = None
    __iadd__ = _inplace_dunder(operator.add)
    __isub__ = _inplace_dunder(operator.sub)
    __imul__ = _inplace_dunder(operator.mul)
    __itruediv__ = _inplace_dunder(operator.truediv)
    __ifloordiv__ = _inplace_dunder(operator.floordiv)
    __imod__ = _inplace_dunder(operator.mod)
    __ipow__ = _inplace_dunder(operator.pow)
    __imatmul__ = _inplace_dunder(operator.matmul)

    def __divmod__(self, other):
        return np.divmod(self, other)  # through NumPy's hook: its rule, or a named error

    def __rdivmod__(self, other):
        return np.divmod(other, self)

    def __matmul__(self, other):
        return apply_function(np.matmul, (self, other), {})

    def __rmatmul__(self, other):
        return apply_function(np.matmul, (other, self), {})

    def __neg__(self):
        return self.ufunc(np.negative, (self,), _NO_KWARGS)

    def __pos__(self):
        return self._clone()  # +a is a new array in NumPy: writing into it leaves a alone

    def __abs__(self):
        return apply_ufunc(np.absolute, (self,), {})

    def __getitem__(self, idx):
        # Indices are never traced, so this tracer is the top one: skip the generic dispatch.
        out = self.apply(getitem, getitem, (self, idx), _NO_KWARGS)
        return _views.link(self, out, getitem, (idx,), _NO_KWARGS)

    def __setitem__(self, idx, v):
        # Tracers are immutable values; item assignment rebinds this tracer (and through a
        # view, its base and the base's other views) to the functional update (_views.py).
        _views.assign(self, setitem(self, idx, v))

    def __copy__(self):
        return self._clone()

    def __deepcopy__(self, memo):
        return self._clone()  # the value is immutable; copying the tape would detach it

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "a traced array cannot be pickled: it belongs to a transform in progress. Pickle "
            "the transform's result, or .value for the primal array (without its derivative)."
        )

    def __getattr__(self, name):
        if name.startswith("__"):  # protocol probes (NumPy's, copy's): a plain, cheap miss
            raise AttributeError(name)
        raise AttributeError(
            f"a traced array (dualdiff {self.mode} mode) has no attribute {name!r}: dualdiff "
            "supports NumPy functions and the common ndarray methods on traced arrays. Use the "
            "NumPy function (np.<name>(x)), or .value for the primal array on purpose."
        )

    # -- ndarray methods ---------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return np.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return np.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return np.cumprod(self, axis=axis)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return np.reshape(self, shape, order=order)

    def ravel(self):
        return np.ravel(self)

    def flatten(self):
        return np.ravel(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return np.transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis=axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return np.trace(self, offset, axis1, axis2)

    def dot(self, other):
        return np.dot(self, other)

    def clip(self, min=None, max=None):
        return np.clip(self, min, max)

    def round(self, decimals=0):
        return np.round(self, decimals)  # piecewise constant: a plain array

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def take(self, indices, axis=None):
        return np.take(self, indices, axis=axis)

    def copy(self):
        # A new tracer object of the same value, so item assignment on it leaves ``self`` alone.
        return self._clone()

    def astype(self, dtype, **kwargs):
        return astype(self, np.dtype(dtype))

    def conj(self):
        return np.conjugate(self)

    conjugate = conj

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

    # queries of values go through numpy's dispatch to the constant ops (no derivative), so a
    # tracer class that guards what is read (dd.replay's capture) sees them
    def argmax(self, axis=None):
        return np.argmax(self, axis=axis)

    def argmin(self, axis=None):
        return np.argmin(self, axis=axis)

    def sort(self, axis=-1, kind=None, order=None):
        # in place, as ndarray.sort: the sorted values replace this array (and its views')
        _views.inplace(self, lambda a, _: np.sort(a, axis=axis, kind=kind), None)

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        _views.inplace(self, lambda a, _: np.partition(a, kth, axis=axis), None)

    def argpartition(self, kth, axis=-1, kind="introselect", order=None):
        return np.argpartition(self, kth, axis=axis)

    def searchsorted(self, v, side="left", sorter=None):
        return np.searchsorted(self, v, side=side, sorter=sorter)

    def compress(self, condition, axis=None):
        return np.compress(condition, self, axis=axis)

    def fill(self, value):
        self[...] = value

    def put(self, indices, values, mode="raise"):
        np.put(self, indices, values, mode=mode)

    @property
    def mT(self):  # noqa: N802  (NumPy's name)
        if self.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return np.swapaxes(self, -1, -2)

    def argsort(self, axis=-1):
        return np.argsort(self, axis=axis)

    def nonzero(self):
        return np.nonzero(self)

    def any(self, axis=None):
        return np.any(self, axis=axis)

    def all(self, axis=None):
        return np.all(self, axis=axis)


def _getitem(x, idx):
    return x[idx]


def _setitem(x, idx, v):
    out = x.copy()
    out[idx] = v
    return out


def _astype(x, dtype):
    return x.astype(dtype)


getitem = primitive(_getitem)
getitem.__name__ = "getitem"
setitem = primitive(_setitem)
setitem.__name__ = "setitem"
astype = primitive(_astype)
astype.__name__ = "astype"

# _views reads getitem and setitem above; the hooks above call into it at run time
from dualdiff import _views  # noqa: E402
