"""Real values only: the error for a complex value met inside a transform (or the tensor
layer's graph).

dualdiff's rules are written for real numbers: a derivative carried through a complex
intermediate (``np.exp(1j * x)``, ``x.astype(complex)``, a complex constant) would come out
wrong. So an op on traced values whose result is complex raises this TypeError instead.
"""


def is_complex(x):
    """Whether ``x`` (an array, a number, or a tuple or list of them) holds complex values."""
    if isinstance(x, tuple | list):
        return any(is_complex(a) for a in x)
    if type(x) is complex:
        return True
    dtype = getattr(x, "dtype", None)
    return getattr(dtype, "kind", None) == "c"


def complex_result(fn):
    """The TypeError for ``fn`` giving a complex result on traced values."""
    name = getattr(fn, "__name__", repr(fn))
    return TypeError(
        f"{name} gave a complex result from values being differentiated (inside a dualdiff "
        "transform, or from a tensor that requires grad): dualdiff differentiates real values, "
        "and complex intermediates are not supported. Keep the computation real "
        "(cos(x) and sin(x) for exp(1j * x), hypot for abs), or compute the complex part "
        "outside the transform."
    )
