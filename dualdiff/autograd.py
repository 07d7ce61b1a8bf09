"""``dd.autograd.grad``: gradients of tensors returned, as ``torch.autograd.grad`` returns them.

The same sweep as ``Tensor.backward()`` (``dualdiff.tensor._pull_graph``), told to hand the
cotangents of the input nodes back instead of accumulating into ``.grad``.
"""

from collections.abc import Sequence

import numpy as np

from dualdiff._quiet import loud, quiet
from dualdiff.large import pool
from dualdiff.tensor import Tensor, _new, _pull_graph, _seed

__all__ = ["grad"]


class HigherOrderNotSupported(NotImplementedError):
    """``create_graph=True``: the tensor layer does not record its own backward sweep."""


def _as_tuple(x, name):
    if isinstance(x, Tensor):
        return (x,)
    if isinstance(x, Sequence) and all(isinstance(e, Tensor) for e in x):
        return tuple(x)
    raise TypeError(f"{name} must be a tensor or a sequence of tensors, not {type(x).__name__}.")


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """The sum of the gradients of ``outputs`` with respect to ``inputs`` (PyTorch's
    ``torch.autograd.grad``), returned; no ``.grad`` is changed.

    Parameters
    ----------
    outputs : Tensor or sequence of Tensor
        Tensors to differentiate; each must require grad.
    inputs : Tensor or sequence of Tensor
        Tensors (leaves or not) to differentiate with respect to; each must require grad.
    grad_outputs : sequence, optional
        The cotangent of each output (a tensor, an array, or a number for an output with one
        element); None, or a None entry, means 1 for an output with one element. A single
        tensor, array or number is the cotangent of a single output.
    retain_graph : bool, optional
        Keep the graph for another sweep; defaults to ``create_graph``.
    create_graph : bool
        Record the sweep for higher derivatives: not supported, raises
        :class:`HigherOrderNotSupported` (use ``dd.hessian`` or nested ``dd.grad``).
    allow_unused : bool
        An input that the sweep never reaches (no output depends on it) gets None instead of
        raising. An input the graph reaches but whose cotangent is zero (an output of
        ``np.broadcast_arrays`` that nothing used) gets zeros, its exact gradient.

    Returns
    -------
    tuple of Tensor
        One gradient per input, of the input's shape and dtype, in memory of its own (shared
        with no input, parameter, ``.grad`` or graph), not requiring grad.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> x = dd.tensor([1.0, 2.0], requires_grad=True)
    >>> y = np.sum(x ** 3)
    >>> (gx,) = dd.autograd.grad(y, x)
    >>> print(gx)
    [ 3. 12.]
    >>> x.grad is None
    True
    """
    if create_graph:
        raise HigherOrderNotSupported(
            "dd.autograd.grad(create_graph=True): the tensor layer does not record its backward "
            "sweep, so its gradients cannot be differentiated again. Write the loss as a NumPy "
            "function of arrays and nest the transforms: dd.hessian(f)(x), dd.hvp(f, x, v), or "
            "dd.grad(lambda x: g(dd.grad(f)(x)))(x)."
        )
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor | np.ndarray | np.generic | float | int):
        grad_outputs = (grad_outputs,)  # one array is one output's, never a list of rows
    else:
        grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad requires one grad_output per output: got {len(grad_outputs)} grad_outputs "
            f"for {len(outputs)} outputs."
        )
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if out._node is None:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        seeds.append((out._node, _seed(out, g, i)))
    nodes = []
    for t in inputs:
        if t._node is None:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        nodes.append(t._node)
    capture = dict.fromkeys(nodes)
    token = quiet()  # the sweep's infinities are not errors of f (see _quiet.py)
    try:
        _pull_graph(seeds, create_graph if retain_graph is None else retain_graph, capture)
    finally:
        loud(token)
    return tuple(_result(t, n, capture, allow_unused) for t, n in zip(inputs, nodes))


def _result(t, node, capture, allow_unused):
    """The caller's gradient for input ``t`` from its node's ``(cotangent, owned)``."""
    entry = capture[node]
    if entry is None:  # the sweep never reached the input
        if allow_unused:
            return None
        raise RuntimeError(
            "One of the differentiated Tensors appears to not have been used in the graph. "
            "Set allow_unused=True if this is the desired behavior."
        )
    g, own = entry
    dtype = t.value.dtype
    if g is None:  # reached with a zero cotangent
        return _new(np.zeros(t.value.shape, dtype=dtype), None, [0])
    if own and g.flags.writeable and g.dtype == dtype:
        capture[node] = (g, False)  # an input listed twice gets a copy the second time
        return _new(pool.disown(g)[0], None, [0])
    return _new(np.array(g[0], dtype=dtype), None, [0])
