"""``check_grads``: derivatives against finite differences and against each other.

Public, and the engine of dualdiff's own rule table tests.
"""

from collections.abc import Callable, Sequence

import numpy as np

from dualdiff import _checks
from dualdiff._jacobian import push_tree
from dualdiff._tree import flatten
from dualdiff.engine import as_input, record
from dualdiff.transforms import jvp, vjp

__all__ = ["check_grads"]


def _leaves(tree):
    return [np.asarray(x, dtype=np.float64) for x in flatten(tree)[0]]


def _vdot(a, b):
    return sum(float(np.vdot(x, y)) for x, y in zip(_leaves(a), _leaves(b)))


def _random_like(tree, rng):
    leaves, unflatten = flatten(tree)
    return unflatten([rng.standard_normal(np.shape(x)) for x in leaves])


def _axpy(a, x, y):
    """``a * x + y`` leafwise over matching structures."""
    xs, unflatten = flatten(x)
    ys = flatten(y)[0]
    return unflatten([a * np.asarray(u) + np.asarray(v) for u, v in zip(xs, ys)])


def _assert_close(actual, expected, rtol, atol, what):
    for a, e in zip(_leaves(actual), _leaves(expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def check_grads(
    f: Callable,
    *args,
    modes: Sequence[str] = ("fwd", "rev"),
    order: int = 2,
    eps: float = 1e-6,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Check the derivatives of ``f`` at ``args`` up to ``order``; raise AssertionError if off.

    Forward mode is checked against central finite differences along a random direction;
    reverse mode by the dot-product test ``<u, J v> == <J^T u, v>`` against forward mode (or
    finite differences when forward mode is not checked); a batch of three directions pushed
    or pulled at once must equal three single pushes or pulls. Higher orders repeat the checks
    on the directional derivative functions themselves.

    Parameters
    ----------
    f : callable
        Function of array arguments (every positional argument is differentiated).
    *args : array_like
        The point; nested tuples/lists/dicts of arrays are allowed.
    modes : sequence of {"fwd", "rev"}
        Which modes to check.
    order : int
        Highest derivative order to check.
    eps, rtol, atol : float
        Finite-difference step and tolerances.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.testing.check_grads(np.tanh, np.array([0.1, 0.7]), order=3)
    """
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or not set(modes) <= {"fwd", "rev"}:
        raise ValueError(
            f"dd.testing.check_grads: modes must be a sequence of 'fwd' and 'rev'; got {modes!r}"
        )
    if not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(
            "dd.testing.check_grads: order must be a positive int (the highest derivative order "
            f"to check); got {order!r}"
        )
    args = tuple(_as_float(a) for a in args)
    rng = np.random.default_rng(seed)
    v = tuple(_random_like(a, rng) for a in args)
    out = f(*args)
    _checks.output(out, "testing.check_grads")
    u = _random_like(out, rng)
    fd = _axpy(
        1.0 / (2 * eps),
        f(*[_axpy(eps, d, a) for a, d in zip(args, v)]),
        _axpy(-1.0 / (2 * eps), f(*[_axpy(-eps, d, a) for a, d in zip(args, v)]), _zeros(out)),
    )
    jv = fd
    if "fwd" in modes:
        _, jv = jvp(f, args, v)
        _assert_close(jv, fd, rtol, atol, "forward mode vs finite differences")
        _check_batched_fwd(f, args, rng, rtol, atol)
    if "rev" in modes:
        _, pullback = vjp(f, *args)
        lhs, rhs = _vdot(u, jv), _vdot(pullback(u), v)
        scale = max(1.0, abs(lhs), abs(rhs))
        assert abs(lhs - rhs) <= 10 * rtol * scale, f"reverse-mode dot test: {lhs} vs {rhs}"
        _check_batched_rev(f, args, out, rng, rtol, atol)
    if order > 1:
        sub = dict(modes=modes, order=order - 1, eps=eps, rtol=rtol, atol=atol, seed=seed + 1)
        if "fwd" in modes:
            check_grads(lambda *x: jvp(f, x, v)[1], *args, **sub)
        if "rev" in modes:
            check_grads(lambda *x: vjp(f, *x)[1](u), *args, **sub)


def _as_float(tree):
    leaves, unflatten = flatten(tree)
    return unflatten([np.asarray(as_input(x), dtype=np.float64) for x in leaves])


def _zeros(tree):
    leaves, unflatten = flatten(tree)
    return unflatten([np.zeros(np.shape(x)) for x in leaves])


def _stack(trees):
    leaves = [flatten(t)[0] for t in trees]
    unflatten = flatten(trees[0])[1]
    return unflatten([np.stack(col) for col in zip(*leaves)])


def _check_batched_fwd(f, args, rng, rtol, atol):
    vs = [tuple(_random_like(a, rng) for a in args) for _ in range(3)]
    batched = push_tree(f, args, tuple(_stack([v[i] for v in vs]) for i in range(len(args))))
    singles = _stack([jvp(f, args, v)[1] for v in vs])
    _assert_close(batched, singles, rtol, atol, "batched vs stacked forward tangents")


def _check_batched_rev(f, args, out, rng, rtol, atol):
    us = [_random_like(out, rng) for _ in range(3)]
    recording = record(f, args, tuple(range(len(args))))
    batched = tuple(recording.pull(_stack(us), release=True))
    _, pullback = vjp(f, *args)
    singles = _stack([pullback(u) for u in us])
    _assert_close(batched, singles, rtol, atol, "batched vs stacked reverse cotangents")
