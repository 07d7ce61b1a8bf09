"""Stateful tensors with ``backward()`` and ``.grad``, recorded on the reverse-mode engine.

A :class:`Tensor` is a tracer of fixed level 0 (below every transform level), so NumPy calls,
operators and indexing reach it through the same hooks as ``Dual`` and ``Var``, and its ops are
recorded as the tape's own :class:`~dualdiff.tape.Node` records, pulled back by the tape's own
pullbacks and rule table. Two differences from a transform's tape:

* Parents are nodes, not tape indices, and there is no tape: each node holds its parents, so a
  graph dies with the last tensor that reaches it (a forward pass that is never backpropagated
  keeps nothing alive). ``backward()`` collects the nodes reachable from the loss and sweeps
  them by decreasing creation number, with cotangents in a dict keyed by node.
* Every tensor carries a version counter (shared with the tensors that view its memory).
  Writing into a tensor's memory bumps it; a node remembers the versions of the tensors whose
  values it saved, and ``backward()`` refuses to use a value changed since.

Conversions: ``np.asarray(t)`` and ``t.numpy()`` work on tensors that do not require grad and
raise (a ``TypeError`` that is also a ``RuntimeError``) on tensors that do, as PyTorch's
``.numpy()`` does; ``.detach()`` is the way out. ``float(t)``, ``t.item()`` and ``t.tolist()``
read values and always work. Ops without a derivative (comparisons, ``argmax``) give results
that do not require grad.
"""

import functools
import itertools
import operator
import threading
import warnings
import weakref
from heapq import heappop, heappush

import numpy as np

from dualdiff._registry import CONSTANT, JVP, UFUNC_PARTIALS, VJP, missing_rule
from dualdiff._scaled import Scaled
from dualdiff._tracer import Tracer, setitem, top_tracer
from dualdiff.tape import (
    DENSE,
    OWNED,
    TAKES_SCALED,
    Node,
    _fn_pullback,
    _proj_pullback,
    _tuple_pullback,
    _ufunc_pullback,
)

__all__ = ["Tensor", "is_grad_enabled", "no_grad", "tensor"]

_ndarray = np.ndarray
_seq = itertools.count()
_NO_KWARGS: dict = {}


class _GradMode(threading.local):
    enabled = True  # per thread, as PyTorch's grad mode


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether ops on tensors are being recorded in this thread (False inside ``no_grad``)."""
    return _mode.enabled


class no_grad:
    """Context manager (or decorator) that stops recording ops on tensors in this thread.

    Results computed inside do not require grad, and tensors may be updated in place
    (``w -= lr * w.grad``), as with PyTorch's ``torch.no_grad``.

    Examples
    --------
    >>> import dualdiff as dd
    >>> w = dd.tensor([1.0, 2.0], requires_grad=True)
    >>> with dd.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def __init__(self):
        self._saved = []

    def __enter__(self):
        self._saved.append(_mode.enabled)
        _mode.enabled = False

    def __exit__(self, *exc):
        _mode.enabled = self._saved.pop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def without_grad(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        return without_grad


class _Node(Node):
    """A tape node with what a graph without a tape needs: creation number, saved versions
    ``((cell, version), ...)``, and ``owner`` (a weak reference to the tensor whose ``.grad``
    receives this node's cotangent: a leaf, or a tensor that called ``retain_grad()``)."""

    __slots__ = ("seq", "saved", "owner")

    def __init__(self, pullback, rule, args, kwargs, ans, parents, saved, owner=None):
        super().__init__(pullback, rule, args, kwargs, ans, parents)
        self.saved = saved
        self.owner = owner
        self.seq = next(_seq)


class _Cotangents(dict):
    """Cotangents keyed by node; the tape's pullbacks read a missing one as None (zero).
    Key ``OWNED`` holds the nodes whose arrays the sweep allocated itself (see tape.py)."""

    __slots__ = ()

    def __init__(self):
        super().__init__()
        self[OWNED] = set()
        self[DENSE] = {}

    def __missing__(self, key):
        return None


class _NeedsDetach(TypeError, RuntimeError):
    """Converting a tensor that requires grad (a TypeError, as dualdiff's; a RuntimeError, as
    PyTorch's)."""


_object_new = object.__new__


def _new(value, node, cell):
    """A tensor without validation (the hot path): ``value`` is normalised to an ndarray."""
    t = _object_new(Tensor)
    t.value = value if type(value) is _ndarray else np.asarray(value)
    t._node = node
    t._grad = None
    t._version = cell
    return t


def _leaf_node(t):
    return _Node(None, None, None, None, None, (), (), weakref.ref(t))


_LINEAR: dict = {}


def _linear(partials):
    """Whether a ufunc is linear (+-1 partials): its pullback reads no saved value."""
    flag = _LINEAR.get(partials)
    if flag is None:
        flag = _LINEAR[partials] = all(type(d) is float for d in partials)
    return flag


def _compare(ufunc):
    return lambda self, other: ufunc(self, other)


def _is_tensor(x):
    return isinstance(x, Tensor)


class Tensor(Tracer):
    """An array that records the ops applied to it, for ``backward()``.

    Build tensors with :func:`tensor`. Arithmetic operators, indexing and NumPy functions
    (``np.sum(t)``, ``np.tanh(t)``, ``x @ w.T``) return tensors; the result requires grad when
    an input does and recording is on (see :class:`no_grad`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> x = dd.tensor([2.0, 3.0], requires_grad=True)
    >>> loss = np.sum(x * x)
    >>> loss.backward()
    >>> x.grad
    tensor([4., 6.])
    """

    __slots__ = ("value", "_node", "_grad", "_version", "__weakref__")
    level = 0
    mode = "reverse"

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.value
        self.value = np.array(data, dtype=dtype)
        self._node = None
        self._grad = None
        self._version = [0]
        if requires_grad:
            self.requires_grad = True

    # -- autograd state -----------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._node is not None

    @requires_grad.setter
    def requires_grad(self, flag: bool):
        if not self.is_leaf:
            raise RuntimeError(
                "requires_grad can only be changed on leaf tensors; use .detach() to get a "
                "tensor outside the graph."
            )
        if not flag:
            self._node = None
            return
        if not np.issubdtype(self.value.dtype, np.floating):
            raise RuntimeError(
                f"only floating-point tensors can require grad (this one is {self.value.dtype})."
            )
        if self._node is None:
            self._node = _leaf_node(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None or self._node.pullback is None

    @property
    def grad(self):
        if self._node is not None and self._node.pullback is not None and self._grad is None:
            if self._node.owner is None:
                warnings.warn(
                    "The .grad of a tensor that is not a leaf is not kept by backward(), so it "
                    "is None; call .retain_grad() on it before backward() to keep it, or take "
                    ".grad of the leaf tensor you created with requires_grad=True.",
                    UserWarning,
                    stacklevel=2,
                )
        return self._grad

    @grad.setter
    def grad(self, g):
        self._grad = None if g is None else g if isinstance(g, Tensor) else Tensor(g)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` at the next ``backward()``."""
        if self._node is None:
            raise RuntimeError("retain_grad() on a tensor that does not require grad.")
        if self._node.owner is None:
            self._node.owner = weakref.ref(self)

    @property
    def grad_fn(self):
        """The node that produced this tensor (None for leaves and constants)."""
        return None if self.is_leaf else self._node

    @property
    def _version_counter(self) -> int:
        return self._version[0]

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of the leaves it depends on.

        Parameters
        ----------
        gradient : array_like, optional
            Cotangent of this tensor (same shape). Required unless the tensor has one element.
        retain_graph : bool
            Keep the graph's saved values so that ``backward()`` can run through it again;
            by default they are freed as the sweep passes.

        Examples
        --------
        >>> import dualdiff as dd
        >>> x = dd.tensor([2.0, 3.0], requires_grad=True)
        >>> y = 3 * x + 2
        >>> y.backward(gradient=[1.0, 10.0])
        >>> print(x.grad)
        [ 3. 30.]
        """
        if self._node is None:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no op that produced it was "
                "recorded (it must depend on a tensor with requires_grad=True, computed "
                "outside dd.no_grad())."
            )
        shape = self.value.shape
        if gradient is None:
            if self.value.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a tensor with one element (a scalar "
                    f"loss); this one has shape {shape}. Pass gradient= of that shape."
                )
            g = np.ones((1,) + shape, dtype=self.value.dtype)
        else:
            g = np.asarray(gradient.value if isinstance(gradient, Tensor) else gradient)
            if g.shape != shape:
                raise RuntimeError(
                    f"gradient has shape {g.shape} but the tensor has shape {shape}."
                )
            g = np.array(g, dtype=self.value.dtype)[None]  # a copy: .grad may take it
        _sweep(self._node, g, retain_graph)

    # -- conversions ------------------------------------------------------------------------
    def detach(self) -> "Tensor":
        """The same values (shared memory and version counter), outside the graph."""
        return _new(self.value, None, self._version)

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, other):
        self.value = other.value if isinstance(other, Tensor) else np.asarray(other)

    def numpy(self) -> np.ndarray:
        """The values as an ndarray sharing memory; refused on a tensor that requires grad."""
        if self._node is not None:
            raise _NeedsDetach(
                "numpy() on a tensor that requires grad would drop its graph; call "
                ".detach().numpy() to read the values."
            )
        return self.value

    def __array__(self, dtype=None, copy=None):
        if self._node is not None:
            raise _NeedsDetach(
                "np.asarray on a tensor that requires grad would drop its graph; use "
                "t.detach() (or t.detach().numpy()) to read the values, or keep calling NumPy "
                "functions on the tensor itself."
            )
        if copy:
            return np.array(self.value, dtype=dtype, copy=True)
        return np.asarray(self.value, dtype=dtype)

    def item(self, *index):
        return self.value.item(*index)

    def tolist(self):
        return self.value.tolist()

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __index__(self):
        return operator.index(self.value.item())

    def __format__(self, spec):
        return format(self.value.item() if self.value.size == 1 else self.value, spec)

    def __str__(self):
        return str(self.value)

    def __repr__(self):
        body = np.array2string(self.value, separator=", ", prefix="tensor(")
        return f"tensor({body}, requires_grad=True)" if self._node else f"tensor({body})"

    def __reduce__(self):  # copy.deepcopy and pickle: values and the leaf flag, not the graph
        return (_rebuild, (type(self), self.value, self.requires_grad and self.is_leaf))

    # -- recording (the engine's hooks) -----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs and ufunc in UFUNC_PARTIALS:  # the hot path
            return top_tracer(inputs).ufunc(ufunc, inputs, kwargs)
        if top_tracer(inputs).level == 0 and (
            ufunc in CONSTANT or not _tracked(inputs + (kwargs.get("out"),))
        ):
            return _plain(getattr(ufunc, method), inputs, kwargs)
        return Tracer.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        top = top_tracer(args)
        if top is not None and top.level > 0:
            return Tracer.__array_function__(self, func, types, args, kwargs)
        if func in VJP or func in JVP:
            return self.apply(func, func, args, kwargs)
        if func in CONSTANT or not _tracked(args):
            return _plain(func, args, kwargs)
        return Tracer.__array_function__(self, func, types, args, kwargs)  # the missing rule

    def ufunc(self, ufunc, inputs, kwargs):
        partials = UFUNC_PARTIALS[ufunc]
        if len(inputs) == 1:  # unary: the input is this tensor
            x = self.value
            ans = ufunc(x, **kwargs)
            parent = self._node
            if parent is None or not _mode.enabled:
                return _new(ans, None, [0])
            cell = [0]
            saved = () if _linear(partials) else ((self._version, self._version[0]), (cell, 0))
            node = _Node(_ufunc_pullback, partials, (x,), None, ans, ((0, parent, x.shape),), saved)
            return _new(ans, node, cell)
        vals = list(inputs)
        parents = []
        saved = []
        for i, x in enumerate(inputs):
            if isinstance(x, Tensor):
                vals[i] = x.value
                saved.append((x._version, x._version[0]))
                if x._node is not None:
                    parents.append((i, x._node, vals[i].shape))
        ans = ufunc(*vals, **kwargs)
        if not parents or not _mode.enabled:
            return _new(ans, None, [0])
        cell = [0]
        if _linear(partials):
            saved = ()
        else:
            saved.append((cell, 0))
        node = _Node(_ufunc_pullback, partials, vals, None, ans, parents, saved)
        return _new(ans, node, cell)

    def apply(self, fn, impl, args, kwargs):
        rules = VJP.get(fn, _NO_KWARGS)
        vals = list(args)
        parents = []
        saved = []
        for pos, a in enumerate(args):
            if isinstance(a, Tensor):
                vals[pos] = a.value
                cell = a._version
                saved.append((cell, cell[0]))
                if a._node is not None:
                    parents.append((pos, a._node, rules.get(pos)))
            elif (type(a) is list or type(a) is tuple) and any(map(_is_tensor, a)):
                vals[pos] = type(a)(e.value if isinstance(e, Tensor) else e for e in a)
                saved.extend((e._version, e._version[0]) for e in a if isinstance(e, Tensor))
                nodes = [e._node if isinstance(e, Tensor) else None for e in a]
                if any(n is not None for n in nodes):
                    parents.append((pos, nodes, rules.get(pos)))
        if kwargs:
            kwargs = _plain_kwargs(fn, kwargs)
        if parents and not _mode.enabled:
            parents = []
        for pos, _, rule in parents:
            if rule is None:
                raise missing_rule(fn, pos, "reverse")
        ans = impl(*vals, **kwargs)
        if isinstance(ans, tuple | list):
            return _outputs(ans, fn, vals, kwargs, parents, saved)
        cell = _cell_of(ans, args)
        if not parents:
            return _new(ans, None, cell)
        saved.append((cell, cell[0]))
        return _new(ans, _Node(_fn_pullback, fn, vals, kwargs, ans, parents, saved), cell)

    # -- in-place updates -------------------------------------------------------------------
    def _inplace(self, ufunc, other):
        if _mode.enabled and (self._node is not None or _tracked((other,))):
            _refuse_leaf(self)
            out = self.ufunc(ufunc, (self, other), _NO_KWARGS)
            if out.value.shape != self.value.shape:
                raise ValueError(
                    f"in-place op would change the shape {self.value.shape} to {out.value.shape}"
                )
            self.value, self._node, self._version = out.value, out._node, out._version
            return self
        ufunc(self.value, other.value if isinstance(other, Tensor) else other, out=self.value)
        self._version[0] += 1
        return self

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other)

    def add_(self, other, *, alpha=1.0):
        return self._inplace(np.add, other if alpha == 1.0 else other * alpha)

    def sub_(self, other, *, alpha=1.0):
        return self._inplace(np.subtract, other if alpha == 1.0 else other * alpha)

    def mul_(self, other):
        return self._inplace(np.multiply, other)

    def div_(self, other):
        return self._inplace(np.true_divide, other)

    def zero_(self):
        return self.fill_(0.0)

    def fill_(self, v):
        self[...] = v
        return self

    def copy_(self, src):
        self[...] = src
        return self

    def __setitem__(self, idx, v):
        if _mode.enabled and (self._node is not None or _tracked((v, idx))):
            _refuse_leaf(self)
            out = self.apply(setitem, setitem, (self, idx, v), _NO_KWARGS)
            self.value, self._node, self._version = out.value, out._node, out._version
            return
        self.value[_value_of(idx)] = _value_of(v)
        self._version[0] += 1

    def _clone(self):
        return self.ufunc(np.positive, (self,), _NO_KWARGS)

    def clone(self) -> "Tensor":
        """A copy in new memory that stays in the graph (gradients flow back to ``self``)."""
        return self._clone()

    # Comparisons give bool tensors (through the hook), as other derivative-free ops do.
    __lt__ = _compare(np.less)
    __le__ = _compare(np.less_equal)
    __gt__ = _compare(np.greater)
    __ge__ = _compare(np.greater_equal)
    __eq__ = _compare(np.equal)
    __ne__ = _compare(np.not_equal)
    __hash__ = object.__hash__  # by identity, so tensors can key optimizer state

    # -- fast paths for the operators of a dense layer --------------------------------------
    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def T(self):
        # recorded as np.transpose (its rule), computed by the ndarray method (no dispatch)
        return self.apply(np.transpose, _ndarray.transpose, (self,), _NO_KWARGS)

    def __matmul__(self, other):
        if isinstance(other, Tracer) and other.level > 0:
            return Tracer.__matmul__(self, other)
        return self.apply(np.matmul, np.matmul, (self, other), _NO_KWARGS)

    def __rmatmul__(self, other):
        if isinstance(other, Tracer) and other.level > 0:
            return Tracer.__rmatmul__(self, other)
        return self.apply(np.matmul, np.matmul, (other, self), _NO_KWARGS)


def _rebuild(cls, value, requires_grad):
    return cls(value, requires_grad=requires_grad)


def _refuse_leaf(t):
    if t._node is not None and t._node.pullback is None:
        raise RuntimeError(
            "a leaf tensor that requires grad cannot be changed in place while ops are recorded "
            "(its gradient would refer to values that no longer exist); update it inside "
            "`with dd.no_grad():`, or use an out-of-place op (y = x + 1)."
        )


def _tracked(args):
    """Whether any tensor among ``args`` (one level of nesting) requires grad, with recording on."""
    if not _mode.enabled:
        return False
    for a in args:
        if isinstance(a, Tensor):
            if a._node is not None:
                return True
        elif type(a) is list or type(a) is tuple:
            if any(isinstance(e, Tensor) and e._node is not None for e in a):
                return True
    return False


def _value_of(a):
    if isinstance(a, Tensor):
        return a.value
    if type(a) is tuple or type(a) is list:
        return type(a)(e.value if isinstance(e, Tensor) else e for e in a)
    return a


def _plain(fn, args, kwargs):
    """Run ``fn`` on the values of tensors that need no graph: tensors out, as arrays in."""
    ans = fn(*map(_value_of, args), **{k: _value_of(v) for k, v in kwargs.items()})
    out = kwargs.get("out")
    if out is None:
        return _wrap_plain(ans)
    out = out if type(out) is tuple else (out,)
    for o in out:
        if isinstance(o, Tensor):
            o._version[0] += 1
    return out[0] if len(out) == 1 else out


def _wrap_plain(ans):
    if type(ans) is _ndarray:
        return _new(ans, None, [0])
    if type(ans) is tuple or type(ans) is list:
        return type(ans)(map(_wrap_plain, ans))
    return ans


def _cell_of(ans, args):
    """The version counter of an op's output: its input's, when the output views its memory."""
    base = ans.base if type(ans) is _ndarray else None
    if base is not None:
        for a in args:  # NumPy points a view's base at the array that owns the memory
            if isinstance(a, Tensor) and (base is a.value or base is a.value.base):
                return a._version
    return [0]


def _plain_kwargs(fn, kwargs):
    """Keyword arguments with constant tensors unwrapped; a tensor that requires grad refused."""
    out = dict(kwargs)
    for key, v in kwargs.items():
        if isinstance(v, Tensor):
            if v._node is not None and _mode.enabled:
                raise TypeError(
                    f"{getattr(fn, '__name__', fn)}: pass the tensor {key!r} positionally; "
                    "dualdiff differentiates positional arguments only."
                )
            out[key] = v.value
    return out


def _outputs(ans, fn, vals, kwargs, parents, saved):
    """Tensors for a multi-output op: one projection node per floating output."""
    if not parents:
        return type(ans)(_new(a, None, [0]) if _is_array(a) else a for a in ans)
    node = _Node(_tuple_pullback, fn, vals, kwargs, ans, parents, saved)
    outs = []
    for j, a in enumerate(ans):
        if not _is_array(a) or not np.issubdtype(np.result_type(a), np.inexact):
            outs.append(a)
            continue
        cell = [0]
        proj = _Node(_proj_pullback, j, None, None, len(ans), ((0, node),), ((cell, 0),))
        outs.append(_new(a, proj, cell))
    return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)


def _is_array(a):
    return isinstance(a, _ndarray | np.generic)


# -- the backward sweep ----------------------------------------------------------------------


def _sweep(root, g, retain_graph):
    """Pull ``g`` back from ``root``, latest node first (a heap on creation numbers)."""
    ct = _Cotangents()
    ct[root] = g
    heap = [(-root.seq, root)]
    seen = {root}
    taken: set = set()
    while heap:
        node = heappop(heap)[1]
        g = ct.pop(node, None)
        own = node in ct[OWNED]
        ct[OWNED].discard(node)
        pullback = node.pullback
        if type(g) is Scaled and (node.owner is not None or pullback not in TAKES_SCALED):
            g, own = g.dense(own), True  # .grad and the other pullbacks take plain arrays
        if pullback is None:  # a leaf
            if g is not None:
                _deposit(node, g, taken)
            continue
        for entry in node.parents:
            p = entry[1]
            if type(p) is list:
                for q in p:
                    if q is not None and q not in seen:
                        seen.add(q)
                        heappush(heap, (-q.seq, q))
            elif p not in seen:
                seen.add(p)
                heappush(heap, (-p.seq, p))
        if g is not None:
            for cell, version in node.saved:
                if cell[0] != version:
                    raise _modified(cell[0], version)
            if node.owner is not None:
                _deposit(node, g, taken)
                own = False  # .grad may have taken g's memory
            pullback(node, g, ct, own)
        if not retain_graph:
            node.pullback = _freed
            node.args = node.kwargs = node.ans = None
            node.parents = node.saved = ()


def _deposit(node, g, taken):
    """Accumulate cotangent ``g`` (batch of one) into ``.grad`` of the node's tensor.

    A new ``.grad`` takes the cotangent's memory unless another ``.grad`` of this sweep took it
    already, it is read-only (a broadcast), or its dtype differs: then it gets a copy.
    """
    t = node.owner()
    if t is None:
        return
    old = t._grad
    if old is not None:
        np.add(old.value, g[0], out=old.value)
        old._version[0] += 1
        return
    owner = id(g if g.base is None else g.base)
    if owner in taken or not g.flags.writeable or g.dtype != t.value.dtype:
        g = np.array(g, dtype=t.value.dtype)
    taken.add(owner)
    t._grad = _new(g[0], None, [0])


def _modified(version, expected):
    return RuntimeError(
        "a value that backward() needs was modified in place after it was used: a tensor is "
        f"at version {version}, but the graph saved it at version {expected}. Update tensors "
        "after backward() (or work on a .clone()); an optimizer step between the forward pass "
        "and backward() causes this."
    )


def _freed(node, g, ct, own=False):
    raise RuntimeError(
        "backward() through a part of the graph that an earlier backward() already freed; "
        "pass retain_graph=True to the first backward() to go through the graph again, or "
        "recompute the forward pass."
    )


# -- construction ----------------------------------------------------------------------------


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A tensor holding a copy of ``data``.

    Parameters
    ----------
    data : array_like
        Values (a list, an ndarray, a number, or a tensor, which is copied and detached).
    requires_grad : bool
        Record the ops on this tensor so that ``backward()`` fills its ``.grad``; only
        floating-point tensors can require grad.
    dtype : data-type, optional
        NumPy dtype; by default NumPy's choice for ``data`` (float64 for Python floats).

    Examples
    --------
    >>> import dualdiff as dd
    >>> x = dd.tensor([2.0, 3.0], requires_grad=True)
    >>> y = 3 * x + 2
    >>> loss = sum(y)
    >>> loss.backward()
    >>> print(x.grad)
    [3. 3.]
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
