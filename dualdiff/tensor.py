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
  Writing into a tensor's memory bumps it; a node remembers the versions of the values its
  rule reads, and ``backward()`` refuses to use a value changed since.
* Writes in place follow PyTorch: they go into the tensor's memory, so its base and every
  other view see them, in value and gradient (a view is a ``_View``; see its section below).
* A ``.grad`` is its tensor's own: it takes a cotangent's memory only when the sweep made it
  and nothing else holds it (``_deposit``), else it gets a copy.

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

from dualdiff._complex import is_complex
from dualdiff._complex import tensor_refused as complex_result
from dualdiff._quiet import loud, quiet
from dualdiff._registry import CONSTANT, JVP, UFUNC_KEEP, UFUNC_PARTIALS, VJP, missing_rule
from dualdiff._snapshot import snapshot
from dualdiff._tracer import Tracer, getitem, setitem, top_tracer
from dualdiff.cotangents import NodeSlots
from dualdiff.large import pool
from dualdiff.tape import LAYER, Function, Node, Outputs, Projection, Ufunc

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


class _Node:
    """A graph node: the recorded op (a tape node kind of ``dualdiff.tape``, whose parents are
    ``_Node`` objects here; None for a leaf), its creation number, the saved versions
    ``((cell, version), ...)`` of the values its rule reads, and ``owner`` (a weak reference
    to the tensor whose ``.grad`` receives this node's cotangent: a leaf, or a tensor that
    called ``retain_grad()``)."""

    __slots__ = ("op", "seq", "saved", "owner", "__weakref__")

    def __init__(self, op, saved, owner=None):
        self.op = op
        self.saved = saved
        self.owner = owner
        self.seq = next(_seq)


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
    return _Node(None, (), weakref.ref(t))


# Ops whose VJP rules read only the shapes of their inputs and answer (and the indices): their
# nodes save no versions, so changing those values in place afterwards is harmless, as in
# PyTorch (a slice, a reshape or a sum saves no tensor).
_SHAPES_ONLY = frozenset((getitem, setitem, np.reshape, np.transpose, np.sum, np.mean, np.copy))
_NEW = frozenset((np.zeros_like, np.ones_like, np.empty_like, np.full_like))


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
        return self._node is None or self._node.op is None

    @property
    def grad(self):
        if self._node is not None and self._node.op is not None and self._grad is None:
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
            Cotangent of this tensor: a tensor or array of its shape, or, for a tensor with one
            element, a number (``2.0``, a NumPy scalar, a 0-d array). Required unless the
            tensor has one element (then it defaults to 1).
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
        >>> loss = (x * x).sum()
        >>> x.grad = None
        >>> loss.backward(gradient=0.5)
        >>> print(x.grad)
        [2. 3.]
        """
        if self._node is None:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no op that produced it was "
                "recorded (it must depend on a tensor with requires_grad=True, computed "
                "outside dd.no_grad())."
            )
        token = quiet()  # the sweep's infinities are not errors of f (see _quiet.py)
        try:
            _pull_graph(((self._node, _seed(self, gradient)),), retain_graph)
        finally:
            loud(token)

    # -- conversions ------------------------------------------------------------------------
    def detach(self) -> "Tensor":
        """The same values (shared memory and version counter), outside the graph."""
        return _new(self.value, None, self._version)

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, other):
        # a tensor's memory is shared, as PyTorch's; an array is copied (it is the caller's)
        if isinstance(other, Tensor):
            self.value, self._version = other.value, other._version
        else:
            self.value = np.array(other)

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

    def __getattr__(self, name):  # only for names nothing else provides
        raise AttributeError(
            f"a dualdiff tensor has no attribute {name!r}: tensors support NumPy functions "
            f"on them (np.{name}(t) where NumPy has one), the operators and the common ndarray "
            "methods; .detach().numpy() gives the values as an array."
        )

    # -- copies and pickles, as PyTorch's: values and the requires_grad flag, never the graph --
    def __reduce_ex__(self, protocol):  # pickle: a leaf with the values (a view's own only)
        return (_rebuild, (_pickled_type(self), np.array(self.value), self.requires_grad))

    def __copy__(self):
        """A tensor sharing this one's memory (and version counter), a leaf, as torch's."""
        t = _new(self.value, None, self._version)
        if type(self) is not Tensor and type(self) is not _View:
            t.__class__ = type(self)  # a Parameter stays one
        if self._node is not None:
            t._node = _leaf_node(t)
        return t

    def __deepcopy__(self, memo):
        """A leaf with a copy of the values and of ``.grad``; refused for a tensor made by a
        recorded op, as PyTorch refuses it (``.detach()`` first, or copy the leaves)."""
        if not self.is_leaf:
            raise RuntimeError(
                "Only tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol: deepcopy t.detach() (and set requires_grad on the copy), or deepcopy "
                "the leaf tensors and recompute."
            )
        t = _rebuild(_pickled_type(self), np.array(self.value), self.requires_grad)
        if self._grad is not None:
            t._grad = _new(np.array(self._grad.value), None, [0])
        memo[id(self)] = t
        return t

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
        if func in CONSTANT or not _tracked(args) or func in _NEW and not _tracked(args[1:]):
            # np.zeros_like(t) and kin are new tensors outside the graph, as PyTorch's are
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
            keep_ans, keep_x = UFUNC_KEEP[ufunc][1]
            saved = ((self._version, self._version[0]),) if keep_x else ()
            args = (x if keep_x else None,)
            op = Ufunc(partials, args, ans if keep_ans else None, ((0, parent, x.shape),))
            node = _Node(op, saved + ((cell, 0),) if keep_ans else saved)
            return _new(ans, node, cell)
        vals = list(inputs)
        parents = []
        mask = 0
        for i, x in enumerate(inputs):
            if isinstance(x, Tensor):
                vals[i] = x.value
                if x._node is not None:
                    parents.append((i, x._node, vals[i].shape))
                    mask |= 1 << i
        ans = ufunc(*vals, **kwargs)
        if not parents or not _mode.enabled:
            return _new(ans, None, [0])
        if ans.dtype.kind == "c":  # the real rules would give wrong gradients through it
            raise complex_result(ufunc)
        # a node keeps (and checks the versions of) only the values its partials read, as
        # PyTorch saves only what a backward formula needs
        keep = UFUNC_KEEP[ufunc][mask]
        saved = []
        for i, x in enumerate(inputs):
            if not keep[i + 1]:
                vals[i] = None
            elif isinstance(x, Tensor):
                saved.append((x._version, x._version[0]))
            else:  # a plain array has no version counter: keep its contents of now
                vals[i] = snapshot(x)
        cell = [0]
        if keep[0]:
            saved.append((cell, 0))
        kept = ans if keep[0] else None
        node = _Node(Ufunc(partials, vals, kept, parents), saved)
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
        if parents and is_complex(ans):
            raise complex_result(fn)
        if isinstance(ans, tuple | list):
            return _outputs(ans, (fn, impl, vals, kwargs), args, parents, saved)
        if fn is getitem and isinstance(ans, np.generic) and type(vals[0]) is _ndarray:
            # x[i] of an array: a 0-d view, as PyTorch's, so that writes into it reach x
            idx = vals[1] if type(vals[1]) is tuple else (vals[1],)
            vals[1] = idx + (Ellipsis,)
            ans = vals[0][vals[1]]
        viewed = _viewed(ans, args)
        cell = [0] if viewed is None else viewed[1]._version
        node = None
        if parents:
            if fn in _SHAPES_ONLY:
                saved = ()
            else:
                saved.append((cell, cell[0]))
            vals = [_snapshot_entries(a, v) for a, v in zip(args, vals)]
            node = _Node(Function(vals, kwargs, ans, parents), saved)
        if viewed is None:
            return _new(ans, node, cell)
        pos, parent = viewed
        return _new_view(ans, node, parent, (fn, impl, vals, pos, kwargs, None))

    # -- in-place updates -------------------------------------------------------------------
    def _inplace(self, ufunc, other):
        if _recorded(self, (other,)):
            _write(self, functools.partial(_inplace_value, ufunc, other))
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

    def __ifloordiv__(self, other):
        return self._inplace(np.floor_divide, other)

    def __imod__(self, other):
        return self._inplace(np.remainder, other)

    def __ipow__(self, other):
        return self._inplace(np.power, other)

    def __imatmul__(self, other):
        if _recorded(self, (other,)):
            _write(self, lambda t: t @ other)
            return self
        with no_grad():
            new = self @ other
        return self.copy_(new)

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
        if _recorded(self, (v, idx)):
            _write(self, lambda t: t.apply(setitem, setitem, (t, idx, v), _NO_KWARGS))
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


def _snapshot_entries(a, v):
    """The value ``v`` of a plain argument ``a`` as it is now (and of a sequence's plain
    entries): a plain array has no version counter to say it changed before ``backward()``."""
    if _is_tensor(a):
        return v
    if type(a) is list or type(a) is tuple:
        return type(v)(e if _is_tensor(t) else snapshot(e) for t, e in zip(a, v))
    return snapshot(v)


def _rebuild(cls, value, requires_grad):
    return cls(value, requires_grad=requires_grad)


def _pickled_type(t):
    return Tensor if type(t) is _View else type(t)


# -- views and writes in place -----------------------------------------------------------------
#
# A tensor whose value views another tensor's memory (a slice, a reshape, ``.T``, ``x[i]``) is
# a _View: it knows its parent and the op that made it. A write in place goes into memory, so
# the parent and every other view see it, and is recorded as PyTorch records it: the written
# tensor's node becomes the op's, and each parent up the chain gets a node that takes its old
# values outside the written region and the new ones inside (PyTorch's CopySlices). A view
# whose parent's node changed since its own was made replays its op on the parent's new node
# the next time its node is read, as PyTorch regenerates a view's grad_fn.

_NODE = Tensor.__dict__["_node"]  # Tensor's slot, which _View's property stands in front of


class _View(Tensor):
    """A tensor viewing its ``_parent``'s memory through ``_op``: ``(fn, impl, vals, pos,
    kwargs, j)``, the recorded call with the parent at ``vals[pos]`` (and output ``j`` of a
    multi-output op, else None); ``_seen`` is the parent's node its own node was made from."""

    __slots__ = ("_parent", "_op", "_seen")

    @property
    def _node(self):
        node = _NODE.__get__(self)
        parent = self._parent._node
        if parent is self._seen:
            return node
        node = _replay(self._op, self._parent) if parent is not None else None
        _NODE.__set__(self, node)
        self._seen = parent
        return node

    @_node.setter
    def _node(self, node):
        _NODE.__set__(self, node)
        self._seen = self._parent._node


_View.__name__ = _View.__qualname__ = "Tensor"  # to users a view is a tensor, as in PyTorch


def _new_view(value, node, parent, op):
    t = _object_new(_View)
    t.value = value
    _NODE.__set__(t, node)
    t._grad = None
    t._version = parent._version
    t._parent = parent
    t._op = op
    t._seen = parent._node
    return t


def _replay(op, parent):
    """The node of ``op`` applied to ``parent``'s current node (recorded even under no_grad:
    the view's values are the parent's, whatever the mode)."""
    fn, impl, vals, pos, kwargs, j = op
    args = list(vals)
    args[pos] = parent
    enabled = _mode.enabled
    _mode.enabled = True
    try:
        out = Tensor.apply(parent, fn, impl, args, kwargs)
    finally:
        _mode.enabled = enabled
    return (out if j is None else out[j])._node


def _viewed(ans, args):
    """``(position, tensor)`` of the argument whose memory the array ``ans`` views, or None."""
    if type(ans) is not _ndarray:
        return None
    base = ans.base
    for pos, a in enumerate(args):
        if isinstance(a, Tensor):
            value = a.value
            if ans is value or (base is not None and (base is value or base is value.base)):
                return pos, a
    return None


def _recorded(t, args):
    """Whether a write of ``args`` into ``t`` is recorded (and goes through ``_write``)."""
    return _mode.enabled and (t._node is not None or _tracked(args) or _in_graph(t))


def _in_graph(t):
    """Whether ``t`` views (through its parents) a tensor that requires grad."""
    while type(t) is _View:
        t = t._parent
        if t._node is not None:
            return True
    return False


def _inplace_value(ufunc, other, t):
    """``t <ufunc> other`` recorded on ``t``: a piecewise-constant ufunc (``t //= 2``) gives the
    new values with a zero derivative; a ufunc without a rule, the named error."""
    if ufunc in UFUNC_PARTIALS:
        return t.ufunc(ufunc, (t, other), _NO_KWARGS)
    if ufunc not in CONSTANT:
        raise missing_rule(ufunc, 0, "reverse")
    new = ufunc(t.value, _value_of(other))
    return t.apply(setitem, setitem, (t, Ellipsis, new), _NO_KWARGS)


def _write(t, compute):
    """Write ``compute(t)`` (a recorded op on ``t``) into ``t``'s memory and rebase the graph.

    Nodes that read values of ``t``'s memory get copies of them first, so the write changes
    nothing they read; the version counter then marks every earlier reader as stale."""
    _refuse_write(t)
    new = compute(t)
    value = t.value
    if new.value.shape != value.shape:
        raise ValueError(
            f"in-place op would change the shape {value.shape} to {new.value.shape}; use an "
            "out-of-place op (y = x + other)."
        )
    node = new._node
    if node is not None and not np.issubdtype(value.dtype, np.inexact):
        raise RuntimeError(
            f"a write in place would make a {value.dtype} tensor require grad; only "
            "floating-point tensors can: write into a float tensor (t.astype(float))."
        )
    cell = t._version
    if node is not None:  # its arguments may lie in t's memory (a view, or t.detach().numpy())
        _keep_values(node, value, cell)
    np.copyto(value, new.value, casting="same_kind")
    cell[0] += 1
    _rebase(t, node)


def _keep_values(node, value, cell):
    """Give ``node`` copies of its arguments in ``value``'s memory, which is being written."""
    memory = value if value.base is None else value.base
    op = node.op
    args = getattr(op, "args", None)
    if args is not None and any(
        type(a) is _ndarray and np.may_share_memory(a, memory) for a in args
    ):
        op.args = [
            a.copy() if type(a) is _ndarray and np.may_share_memory(a, memory) else a for a in args
        ]
    node.saved = [(c, v) for c, v in node.saved if c is not cell]


def _rebase(t, node):
    """Make ``node`` the producer of ``t``'s new values; each parent up a view chain gets a
    node that merges them into its old values (PyTorch's CopySlices). A tensor that retains
    its grad keeps it for its new values."""
    old = t._node
    if node is not None and old is not None and old.owner is not None and old.owner() is t:
        node.owner, old.owner = old.owner, None
    if type(t) is not _View:
        t._node = node
        return
    parent = t._parent
    fn, impl, vals, pos, kwargs, _ = t._op
    parents = []
    old = parent._node
    if old is not None:
        parents.append((0, old, parent.value.shape))
    if node is not None:
        parents.append((1, node, t.value.shape))
    merged = None
    if parents:
        region = functools.partial(_region, impl, vals, pos, kwargs)
        merged = _Node(_CopySlices(region, tuple(parents)), ())
    _rebase(parent, merged)
    _NODE.__set__(t, node)
    t._seen = merged


def _region(impl, vals, pos, kwargs, a):
    """The view of array ``a`` that the recorded op makes (the written region of a parent)."""
    args = list(vals)
    args[pos] = a
    return impl(*args, **kwargs)


class _CopySlices(Node):
    """The cotangent of ``parent`` after ``region(parent)[...] = value``: ``g`` outside the
    region goes to the old parent (position 0), ``g`` inside it to the written value (1)."""

    __slots__ = ("region", "parents")

    def __init__(self, region, parents):
        self.region, self.parents = region, parents

    def pull(self, g, ct):
        g0 = np.array(g[0])
        inside = self.region(g0)
        if not (inside is g0 or inside.base is g0):
            raise RuntimeError(
                "backward(): a write in place went through a view that the same op does not "
                "make of the gradient; write into a .clone() instead."
            )
        value = inside.copy()
        inside[...] = 0
        for pos, p, shape in self.parents:
            ct.add(p, (g0 if pos == 0 else value)[None], shape, True)


def _refuse_write(t):
    """PyTorch's refusals of a recorded write in place into ``t``."""
    if t._node is not None and t._node.op is None:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation: its "
            "gradient would refer to values that no longer exist. Update it inside "
            "`with dd.no_grad():`, or use an out-of-place op (y = x + 1)."
        )
    while type(t) is _View:
        fn, j = t._op[0], t._op[5]
        if j is not None:
            raise RuntimeError(
                f"output {j} of {getattr(fn, '__name__', fn)} is a view and is being modified "
                "in place; the function returns multiple views, which do not allow that. "
                "Replace the in-place operation by an out-of-place one."
            )
        parent = t._parent
        if t._node is None and parent._node is not None:
            raise RuntimeError(
                "a view was created in no_grad mode and is being modified in place with grad "
                "mode enabled; make the view outside dd.no_grad(), or write into a .clone()."
            )
        if parent._node is not None and parent._node.op is None:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation. Update the leaf inside `with dd.no_grad():`, or write into a "
                ".clone() of it."
            )
        t = parent


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
    plain = {k: _value_of(v) for k, v in kwargs.items()}
    ans = fn(*map(_value_of, args), **plain)
    out = kwargs.get("out")
    if out is None:
        return _wrap_plain(ans, fn, args, plain)
    out = out if type(out) is tuple else (out,)
    for o in out:
        if isinstance(o, Tensor):
            o._version[0] += 1
    return out[0] if len(out) == 1 else out


def _wrap_plain(ans, fn=None, args=(), kwargs=_NO_KWARGS, j=None):
    if type(ans) is _ndarray:
        viewed = _viewed(ans, args)
        if viewed is None:
            return _new(ans, None, [0])
        vals = list(map(_value_of, args))
        return _new_view(ans, None, viewed[1], (fn, fn, vals, viewed[0], kwargs, j))
    if type(ans) is tuple or type(ans) is list:
        return type(ans)(_wrap_plain(a, fn, args, kwargs, j) for j, a in enumerate(ans))
    return ans


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


def _outputs(ans, op, args, parents, saved):
    """Tensors for a multi-output op: one projection node per floating output. An output that
    views an input's memory (``np.split``) is a view that refuses recorded writes, as PyTorch's
    multi-output views do."""
    fn, impl, vals, kwargs = op
    node = None
    if parents:
        node = _Node(Outputs(vals, kwargs, ans, parents), list(saved))
    outs = []
    for j, a in enumerate(ans):
        if not _is_numpy_value(a) or (node is not None and not _is_inexact(a)):
            outs.append(a)
            continue
        viewed = _viewed(a, args)
        cell = [0] if viewed is None else viewed[1]._version
        proj = None
        if node is not None:
            node.saved.append((cell, cell[0]))  # the op's rule may read its outputs
            proj = _Node(Projection(j, len(ans), node), ())
        if viewed is None:
            outs.append(_new(a, proj, cell))
        else:
            pos, parent = viewed
            outs.append(_new_view(a, proj, parent, (fn, impl, vals, pos, kwargs, j)))
    return type(ans)(outs) if type(ans) in (tuple, list) else type(ans)(*outs)


def _is_inexact(a):
    return np.issubdtype(np.result_type(a), np.inexact)


def _is_numpy_value(a):
    return isinstance(a, _ndarray | np.generic)


# -- the backward sweep ----------------------------------------------------------------------


_PLAIN = Node()  # what the store sees of a node whose .grad takes g: a kind that takes arrays


def _seed(t, gradient, i=0):
    """The cotangent that starts a sweep at ``t`` (output ``i``): ``gradient`` checked against
    ``t`` (PyTorch's messages) and copied into a new batch of one, which the sweep owns."""
    shape = t.value.shape
    if gradient is None:
        if t.value.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs: output[{i}] has shape "
                f"{shape}, not one element; pass a gradient of that shape "
                "(backward(gradient=...), or grad_outputs= of dd.autograd.grad)."
            )
        return np.ones((1,) + shape, dtype=t.value.dtype)
    g = gradient.value if isinstance(gradient, Tensor) else gradient
    if isinstance(g, Tracer):
        raise TypeError(
            f"grad_output[{i}] is a {type(g).__name__} of a dualdiff transform; a tensor's "
            "gradient must be a number, an array or a tensor."
        )
    g = np.asarray(g)
    if not (np.issubdtype(g.dtype, np.number) or g.dtype == np.bool_):
        raise TypeError(f"grad_output[{i}] must hold numbers, not {g.dtype}.")
    if np.iscomplexobj(g) and not np.iscomplexobj(t.value):
        raise RuntimeError(
            f"Mismatch in dtype: grad_output[{i}] has a dtype of {g.dtype} and output[{i}] has "
            f"a dtype of {t.value.dtype}; a real tensor takes a real gradient."
        )
    if g.shape != shape and not (g.ndim == 0 and t.value.size == 1):
        raise RuntimeError(
            f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] has "
            f"a shape of {shape}."
            + (" A number is accepted only for a tensor with one element." if g.ndim == 0 else "")
        )
    return np.array(np.broadcast_to(g, shape), dtype=t.value.dtype)[None]  # a copy: ours


def _pull_graph(seeds, retain_graph, capture=None):
    """Pull the cotangents ``seeds`` (pairs of a node and its batch of one, made by the caller
    for the sweep) back through the graph, latest node first (a heap on creation numbers).

    With ``capture`` None, cotangents reaching a node with an owner accumulate into the owner's
    ``.grad``; else ``capture`` is a dict keyed by nodes, which receives ``(cotangent, owned)``
    for each of its nodes that the sweep reaches (with a cotangent, else None) and no ``.grad``
    is touched (``dd.autograd.grad``)."""
    ct = LAYER.store(NodeSlots())
    heap = []
    seen = set()
    for root, g in seeds:
        ct.add(root, g, None, True)
        if root not in seen:
            seen.add(root)
            heappush(heap, (-root.seq, root))
    keep = _deposit if capture is None else functools.partial(_capture, capture)
    while heap:
        node = heappop(heap)[1]
        op = node.op
        kept = node.owner is not None if capture is None else node in capture
        g = ct.take(node, op if op is not None and not kept else _PLAIN)
        if op is None:  # a leaf
            if kept and (g is not None or capture is not None):
                keep(node, g, ct.scratch_taken)
            continue
        parents = ((0, op.parent),) if type(op) is Projection else op.parents
        for entry in parents:  # (position, parent node or list of them, shape or rule)
            p = entry[1]
            for q in p if type(p) is list else (p,):
                if q is not None and q not in seen:
                    seen.add(q)
                    heappush(heap, (-q.seq, q))
        if kept and g is None and capture is not None:
            keep(node, None, False)  # reached, with a zero cotangent
        if g is not None:
            for cell, version in node.saved:
                if cell[0] != version:
                    raise _modified(cell[0], version)
            if kept:
                keep(node, g, ct.scratch_taken)
                ct.scratch_taken = False  # .grad (or the caller) may have taken g's memory
            op.pull(g, ct)
        if not retain_graph:
            node.op = _FREED
            node.saved = ()


def _capture(capture, node, g, own):
    capture[node] = (g, own)


def _deposit(node, g, own):
    """Accumulate cotangent ``g`` (batch of one) into ``.grad`` of the node's tensor.

    This is where a ``.grad`` gets its memory, so it decides ownership: a new ``.grad`` takes
    ``g``'s memory only when the sweep owns it (it made ``g`` and nothing else holds it), else
    a copy. A cotangent the sweep does not own may be a saved value, an input's data, another
    leaf's cotangent or the caller's ``gradient``: a ``.grad`` on that memory would alias it.
    """
    t = node.owner()
    if t is None:
        return
    old = t._grad
    if old is not None:
        np.add(old.value, g[0], out=old.value)
        old._version[0] += 1
        return
    if not own or not g.flags.writeable or g.dtype != t.value.dtype:
        g = np.array(g, dtype=t.value.dtype)
    else:
        pool.disown(g)  # the user's now: the pool never hands it out again
    t._grad = _new(g[0], None, [0])


def _modified(version, expected):
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: a tensor is at version {version}, but the graph saved it at version "
        f"{expected} (it was modified in place after it was used). Update tensors "
        "after backward() (or work on a .clone()); an optimizer step between the forward pass "
        "and backward() causes this."
    )


class _Freed(Node):
    """What a node is after a backward() without retain_graph: going through it again raises."""

    __slots__ = ()
    parents = ()

    def pull(self, g, ct):
        raise RuntimeError(
            "backward() through a part of the graph that an earlier backward() already freed; "
            "pass retain_graph=True to the first backward() to go through the graph again, or "
            "recompute the forward pass."
        )


_FREED = _Freed()


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
