"""Generated test programs: the function a program's source defines."""

import numpy as np


def function_of(source, **names):
    """The function ``f`` that ``source`` defines, run with ``np`` and ``names`` in scope."""
    namespace = {"np": np, **names}
    exec(source, namespace)  # noqa: S102  (a generated test program)
    return namespace["f"]


def source_of(lines, loss):
    """The source of ``def f(x)`` running ``lines`` and returning ``loss``."""
    body = "\n    ".join(lines)
    return f"def f(x):\n    {body}\n    return {loss}\n"
