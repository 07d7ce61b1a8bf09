"""``jacobian``: the one place where forward or reverse mode is chosen for a Jacobian."""

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from dualdiff.transforms import jacfwd, jacrev

MODES = ("auto", "forward", "reverse")


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    *,
    mode: Literal["auto", "forward", "reverse"] = "auto",
) -> Callable:
    """Jacobian of ``f`` with shape ``out.shape + in.shape``, by the cheaper mode.

    Parameters
    ----------
    f : callable
        Function written with ``numpy``.
    argnums : int or tuple of int
        Arguments to differentiate; a tuple gives a tuple of Jacobians.
    mode : {"auto", "forward", "reverse"}
        ``"forward"`` pushes the input basis (cost grows with the input size n),
        ``"reverse"`` pulls the output basis (cost grows with the output size m);
        ``"auto"`` evaluates ``f`` once to find m and takes forward when n <= m.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff as dd
    >>> dd.jacobian(lambda x: np.array([1.0, 2.0]) * np.sum(x ** 2))(np.array([1.0, 3.0]))
    array([[ 2.,  6.],
           [ 4., 12.]])
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def jac(*args):
        chosen = mode
        if chosen == "auto":
            nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
            n = sum(np.size(args[i]) for i in nums)
            m = np.size(f(*args))
            chosen = "forward" if n <= m else "reverse"
        transform = jacfwd if chosen == "forward" else jacrev
        return transform(f, argnums)(*args)

    return jac
