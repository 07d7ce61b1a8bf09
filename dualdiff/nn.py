"""Neural-network building blocks on :mod:`dualdiff.tensor`: modules, layers, losses.

Micrograd-sized and named as in PyTorch: a :class:`Module` finds its parameters and submodules
by looking at its attributes (a :class:`Parameter`, a :class:`Module`, or a list or tuple of
modules), so ``super().__init__()`` is optional. Layers compute with plain NumPy calls on
tensors; every derivative comes from the engine's rule table.

:func:`linear` and :func:`mse_loss` are fused ops (one node each instead of three, as
PyTorch's ``addmm`` and ``mse_loss`` kernels), declared with the public rule API
(``primitive`` + ``defjvp``/``defvjp``), so they work under every transform too.
"""

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.special

from dualdiff._batch import align
from dualdiff._pattern_ops import defpattern
from dualdiff._registry import defjvp, defvjp
from dualdiff._tracer import primitive, shape_of
from dualdiff.tensor import Tensor, no_grad

__all__ = [
    "CrossEntropyLoss",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional_call",
    "linear",
    "manual_seed",
    "mse_loss",
]

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator that initialises new layers (as ``torch.manual_seed`` does).

    Examples
    --------
    >>> import dualdiff as dd
    >>> dd.nn.manual_seed(0); a = dd.nn.Linear(2, 1).weight.item(0)
    >>> dd.nn.manual_seed(0); b = dd.nn.Linear(2, 1).weight.item(0)
    >>> a == b
    True
    """
    global _rng
    _rng = np.random.default_rng(seed)


# -- fused ops ---------------------------------------------------------------------------------


@primitive
def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` as one op (``torch.nn.functional.linear``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.nn.linear(np.ones((2, 3)), np.ones((4, 3)), np.arange(4.0))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    """
    y = x @ weight.T
    return y if bias is None else y + bias


def _rows(a, batched):
    """``a`` as a matrix of rows over its last axis (with the batch axis kept in front)."""
    if a.ndim == 2 + batched:
        return a
    rows = math.prod(a.shape[batched:-1])  # not -1: ambiguous when the last axis is empty
    return a.reshape(a.shape[:batched] + (rows, a.shape[-1]))


@defjvp(linear, argnum=0)
def linear_jvp_x(t, ans, x, weight, bias=None):
    return t @ weight.T


@defvjp(linear, argnum=0)
def linear_vjp_x(g, ans, x, weight, bias=None):
    return np.matmul(g, weight)


@defjvp(linear, argnum=1)
def linear_jvp_weight(t, ans, x, weight, bias=None):
    # leading axes of x must not meet the tangent's batch axis: align puts unit axes between
    return np.matmul(x, align(np.swapaxes(t, -1, -2), np.ndim(x)))


@defvjp(linear, argnum=1)
def linear_vjp_weight(g, ans, x, weight, bias=None):
    return np.swapaxes(_rows(g, True), -1, -2) @ _rows(x, False)


@defjvp(linear, argnum=2)
def linear_jvp_bias(t, ans, x, weight, bias=None):
    return align(t, np.ndim(ans))


@defvjp(linear, argnum=2)
def linear_vjp_bias(g, ans, x, weight, bias=None):
    return _rows(g, True).sum(axis=1)


@defpattern(linear)
def linear_pattern(x, weight, bias=None):
    """linear's sparsity: that of the matrix product it fuses (``dualdiff.sparse``)."""
    y = np.matmul(x, np.swapaxes(weight, -1, -2))
    return y if bias is None else y + bias


@primitive
def mse_loss(input, target, reduction="mean"):
    """Squared error of ``input`` against ``target`` as one op (``"mean"``, ``"sum"``,
    ``"none"``), as ``torch.nn.functional.mse_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> float(dd.nn.mse_loss(np.array([1.0, 3.0]), np.zeros(2)))
    5.0
    """
    d = input - target
    sq = d * d
    if reduction == "mean":
        return np.mean(sq)
    if reduction == "sum":
        return np.sum(sq)
    _check_reduction(reduction)
    return sq


def _mse_scale(d, reduction):
    # np.divide: the mean of nothing is NaN (NumPy's), not a ZeroDivisionError
    return np.divide(2.0, np.size(d)) if reduction == "mean" else 2.0


def _mse_jvp(t, input, target, reduction):
    d = input - target
    c = align(t, np.ndim(d)) * (_mse_scale(d, reduction) * d)
    return c if reduction == "none" else np.sum(c, axis=tuple(range(1, np.ndim(c))))


def _mse_vjp(g, input, target, reduction):
    d = input - target
    if reduction != "none":
        g = np.reshape(g, np.shape(g)[:1] + (1,) * np.ndim(d))
    return g * (_mse_scale(d, reduction) * d)


@defjvp(mse_loss, argnum=0)
def mse_loss_jvp_input(t, ans, input, target, reduction="mean"):
    return _mse_jvp(t, input, target, reduction)


@defvjp(mse_loss, argnum=0)
def mse_loss_vjp_input(g, ans, input, target, reduction="mean"):
    return _mse_vjp(g, input, target, reduction)


@defjvp(mse_loss, argnum=1)
def mse_loss_jvp_target(t, ans, input, target, reduction="mean"):
    return -_mse_jvp(t, input, target, reduction)


@defvjp(mse_loss, argnum=1)
def mse_loss_vjp_target(g, ans, input, target, reduction="mean"):
    return -_mse_vjp(g, input, target, reduction)


@defpattern(mse_loss)
def mse_loss_pattern(input, target, reduction="mean"):
    """mse_loss's sparsity: that of the squares it sums (``dualdiff.sparse``)."""
    squares = (input - target) ** 2
    return squares if reduction == "none" else np.sum(squares)


# -- modules -----------------------------------------------------------------------------------


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` did not match (PyTorch's ``_IncompatibleKeys``)."""

    missing_keys: list
    unexpected_keys: list


def _quoted(keys):
    return ", ".join(f'"{k}"' for k in keys)


class Parameter(Tensor):
    """A tensor that a :class:`Module` registers as a parameter (requires grad by default).

    Examples
    --------
    >>> import dualdiff as dd
    >>> p = dd.nn.Parameter([1.0, 2.0])
    >>> p.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)


class Module:
    """Base class of layers and models: subclass it and write ``forward``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> class Affine(dd.nn.Module):
    ...     def __init__(self):
    ...         self.scale = dd.nn.Parameter(2.0)
    ...         self.inner = dd.nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         return self.scale * self.inner(x)
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale', 'inner.weight', 'inner.bias']
    """

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> Iterator["Module"]:
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` of this module and its submodules, each once."""
        seen = set()
        for name, p in self._walk(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk(self, prefix):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._walk(f"{prefix}{name}.")

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def state_dict(self) -> dict:
        """``{dotted name: parameter values}``, detached tensors that share the parameters'
        memory, as PyTorch's (``copy.deepcopy`` it to keep a snapshot)."""
        return {name: p.detach() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s values into the parameters of the same names, as PyTorch does.

        A value whose shape differs from its parameter's raises a RuntimeError that names the
        key and both shapes (with ``strict=False`` too); with ``strict=True`` (the default)
        missing and unexpected keys raise as well, and with ``strict=False`` they are returned.

        Examples
        --------
        >>> import dualdiff as dd
        >>> a, b = dd.nn.Linear(2, 1), dd.nn.Linear(2, 1)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.detach().numpy() == b.weight.detach().numpy()).all())
        True
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        errors = []
        if strict:
            if missing:
                errors.append(f"Missing key(s) in state_dict: {_quoted(missing)}.")
            if unexpected:
                errors.append(f"Unexpected key(s) in state_dict: {_quoted(unexpected)}.")
        values = {}
        for name, p in params.items():
            if name not in state_dict:
                continue
            v = state_dict[name]
            v = np.asarray(v.value if isinstance(v, Tensor) else v)
            if v.shape != p.shape:
                errors.append(
                    f"size mismatch for {name}: copying a param with shape {v.shape} from "
                    f"checkpoint, the shape in current model is {p.shape}."
                )
            values[name] = v
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        with no_grad():
            for name, v in values.items():
                params[name].copy_(v)  # into the parameter's memory: optimizers keep it
        return IncompatibleKeys(missing, unexpected)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set ``requires_grad`` of every parameter (to freeze or unfreeze them); returns self.

        Examples
        --------
        >>> import dualdiff as dd
        >>> net = dd.nn.Linear(2, 1).requires_grad_(False)
        >>> [p.requires_grad for p in net.parameters()]
        [False, False]
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, dtype) -> "Module":
        """Cast every parameter (and its ``.grad``) to the floating dtype ``dtype``, in place of
        its data as PyTorch does: the parameter objects stay, so an optimizer built on them
        keeps working. ``"cpu"`` changes nothing. Returns self.

        Examples
        --------
        >>> import numpy as np
        >>> import dualdiff as dd
        >>> net = dd.nn.Linear(2, 1).to(np.float32)
        >>> net.weight.dtype
        dtype('float32')
        """
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise TypeError(
                f"Module.to expects a dtype (np.float32, np.float64), not {dtype!r}"
            ) from None
        if not np.issubdtype(target, np.floating):
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={target}"
            )
        for p in self.parameters():
            if p.value.dtype != target:
                p.data = p.value.astype(target)
            if p._grad is not None and p._grad.value.dtype != target:
                p._grad = Tensor(p._grad.value.astype(target))
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [
            f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in self.named_children()
        ]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


def functional_call(module: Module, parameters: dict, args, kwargs: dict | None = None):
    """``module(*args, **kwargs)`` with its parameters replaced by ``parameters``, as
    ``torch.func.functional_call``: a model as a pure function of its parameters, for the
    transforms (``dd.grad``, ``dd.hessian``, ...) and for :func:`dualdiff.replay`.

    Parameters
    ----------
    module : Module
        The model; its parameters are swapped for the call and restored after it (also when
        it raises). Not thread-safe on one module, as PyTorch's.
    parameters : dict
        ``{dotted name: array}`` for some or all of ``module.named_parameters()``; the names
        left out keep their parameters. Arrays and traced values are used as they are.
    args : tuple or a single argument
        The positional arguments of ``forward``.
    kwargs : dict, optional
        Its keyword arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> net = dd.nn.Linear(2, 1, rng=np.random.default_rng(0))
    >>> params = {k: p.detach().numpy() for k, p in net.named_parameters()}
    >>> x, y = np.ones((4, 2)), np.zeros((4, 1))
    >>> def loss(p):
    ...     return dd.nn.mse_loss(dd.nn.functional_call(net, p, (x,)), y)
    >>> g = dd.grad(loss)(params)
    >>> sorted(g), g["weight"].shape
    (['bias', 'weight'], (1, 2))
    """
    args = args if isinstance(args, tuple) else (args,)
    owners = {name: _owner(module, name) for name in parameters}
    with contextlib.ExitStack() as restore:
        for name, value in parameters.items():
            owner, attr = owners[name]
            old = getattr(owner, attr)
            restore.callback(setattr, owner, attr, old)
            setattr(owner, attr, value)
        return module(*args, **(kwargs or {}))


def _owner(module, name):
    """The submodule holding the parameter ``name`` and its attribute there."""
    known = dict(module.named_parameters())
    if name not in known:
        raise ValueError(
            f"functional_call: {name!r} is not a parameter of {type(module).__name__}; its "
            f"parameters are {', '.join(map(repr, known)) or 'none'}"
        )
    *path, attr = name.split(".")
    owner = module
    for part in path:
        owner = owner[int(part)] if isinstance(owner, Sequential) else _child(owner, part)
    return owner, attr


def _child(module, part):
    if hasattr(module, part):
        return getattr(module, part)
    seq, _, index = part.rpartition(".")  # a list of modules: "blocks.0"
    return getattr(module, seq)[int(index)]


class Linear(Module):
    """``y = x @ weight.T + bias`` with PyTorch's default initialisation.

    ``weight`` has shape ``(out_features, in_features)``; weight and bias are drawn from
    ``U(-k, k)`` with ``k = 1 / sqrt(in_features)`` (the bound PyTorch's Kaiming-uniform
    default gives), from the generator seeded by :func:`manual_seed` unless ``rng`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> layer = dd.nn.Linear(3, 2, rng=np.random.default_rng(0))
    >>> layer(dd.tensor(np.ones((4, 3)))).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype=np.float64,
        rng: np.random.Generator | None = None,
    ):
        rng = _rng if rng is None else rng
        k = 1.0 / np.sqrt(in_features) if in_features else 0.0
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(rng.uniform(-k, k, (out_features, in_features)), dtype=dtype)
        self.bias = Parameter(rng.uniform(-k, k, out_features), dtype=dtype) if bias else None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Modules applied one after the other; parameters are named ``"0.weight"``, ...

    Examples
    --------
    >>> import dualdiff as dd
    >>> net = dd.nn.Sequential(dd.nn.Linear(2, 4), dd.nn.Tanh(), dd.nn.Linear(4, 1))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Module):
        self.layers = list(modules)

    def named_children(self):
        return ((str(i), m) for i, m in enumerate(self.layers))

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x


class ReLU(Module):
    """``max(x, 0)``, with derivative 0 at 0 (as PyTorch's)."""

    def forward(self, x):
        return np.maximum(0.0, x)  # ties go to the constant: derivative 0 at x == 0


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return np.tanh(x)


class Sigmoid(Module):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""

    def forward(self, x):
        return scipy.special.expit(x)


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")
    return reduction


def _reduce(losses, reduction):
    if reduction == "mean":
        return np.mean(losses)
    return np.sum(losses) if reduction == "sum" else losses


class MSELoss(Module):
    """Squared error ``(input - target) ** 2``, averaged (default), summed, or elementwise.

    Examples
    --------
    >>> import dualdiff as dd
    >>> dd.nn.MSELoss()(dd.tensor([1.0, 3.0]), dd.tensor([0.0, 0.0])).item()
    5.0
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = _check_reduction(reduction)

    def forward(self, input, target):
        if shape_of(input) != shape_of(target):
            warnings.warn(
                f"MSELoss: input shape {shape_of(input)} and target shape {shape_of(target)} "
                "differ and are broadcast against each other, which is usually a bug "
                "(reshape the target).",
                UserWarning,
                stacklevel=2,
            )
        return mse_loss(input, target, self.reduction)


class CrossEntropyLoss(Module):
    """Cross entropy of logits ``(N, C)`` against class indices ``(N,)`` or probabilities.

    The log-softmax is taken over the last axis, shifted by each row's maximum (a constant,
    which changes no derivative) so that ``exp`` never overflows.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> logits = dd.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(dd.nn.CrossEntropyLoss()(logits, np.array([0, 1])).item(), 6)
    0.126928
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = _check_reduction(reduction)

    def forward(self, input, target):
        logits = input.value if isinstance(input, Tensor) else np.asarray(input)
        z = input - np.max(logits, axis=-1, keepdims=True)
        log_p = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
        labels = target.value if isinstance(target, Tensor) else np.asarray(target)
        if np.issubdtype(labels.dtype, np.integer):
            rows = np.arange(labels.size).reshape(labels.shape)
            losses = -log_p[rows, labels] if log_p.ndim > 1 else -log_p[labels]
        else:
            losses = -np.sum(target * log_p, axis=-1)
        return _reduce(losses, self.reduction)
