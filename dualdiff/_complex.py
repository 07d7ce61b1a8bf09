"""Complex values inside transforms, under JAX's convention.

A real input may pass through complex intermediates (``np.exp(1j * x)``, ``np.fft.fft``) to a
real output. Tangents are complex where the primal is. A cotangent ``c`` of a complex value
``z`` stands for the real linear map ``dz -> Re(c * dz)`` (JAX's convention: no conjugation),
so that

- a holomorphic op keeps its real rules as they are: ``g * f'(z)`` is its VJP, the transpose
  (not the adjoint) of its JVP ``f'(z) * t``;
- a real input of an op with a complex result gets the real part of its cotangent
  (:func:`real_parts`), so every real value's cotangent is real;
- an op that is not holomorphic (``conj``, ``real``, ``imag``, ``abs``, ``angle``) has rules of
  its own, and the forward rule of a real-valued one takes the real part.

Only the ops whose rules are written for this may see a complex value being differentiated
(:data:`HOLOMORPHIC` ufuncs and the functions marked by :func:`allow`); any other raises
:func:`unsupported` at the point of use, never a wrong number.
"""

import numpy as np

HOLOMORPHIC = frozenset(
    (
        np.add, np.subtract, np.negative, np.positive, np.multiply, np.true_divide,
        np.reciprocal, np.square, np.power, np.float_power, np.sqrt, np.exp, np.exp2,
        np.expm1, np.log, np.log2, np.log10, np.log1p, np.sin, np.cos, np.tan, np.sinh,
        np.cosh, np.tanh, np.arcsin, np.arccos, np.arctan, np.arcsinh, np.arccosh,
        np.arctanh,
    )
)  # fmt: skip
"""Ufuncs whose partials, written for real numbers, are their complex derivatives as well."""

COMPLEX_OK: set = set()
"""Functions whose rules hold for complex values under the convention above."""


def allow(*fns):
    """Mark ``fns`` as differentiable through complex values (their rules are written so)."""
    COMPLEX_OK.update(fns)


def is_complex(x) -> bool:
    """Whether ``x`` (an array, a number, a tracer, or a tuple or list of them) is complex."""
    if isinstance(x, tuple | list):
        return any(is_complex(a) for a in x)
    if type(x) is complex:
        return True
    dtype = getattr(x, "dtype", None)
    return getattr(dtype, "kind", None) == "c"


def check_ufunc(ufunc):
    """Refuse ``ufunc`` with a complex result unless its partials hold for complex values."""
    if ufunc not in HOLOMORPHIC:
        raise unsupported(ufunc)


def check_function(fn, traced, ans):
    """Refuse ``fn`` on complex values being differentiated unless its rules are written for
    them; ``traced`` are ``unwrap``'s ``(position, tracer or list)`` pairs."""
    if fn in COMPLEX_OK:
        return
    dtype = getattr(ans, "dtype", None)  # the common case first: one real array
    if dtype is not None and dtype.kind != "c" and len(traced) == 1:
        x = traced[0][1]
        if type(x) is not list and x.value.dtype.kind != "c":
            return
    if is_complex(ans) or any(
        is_complex([e for e in x if e is not None] if type(x) is list else x) for _, x in traced
    ):
        raise unsupported(fn)


def real_parts(fn, traced, rules):
    """The VJP rules of ``fn``'s traced arguments with a complex result: a real argument's
    cotangent is the real part of its rule's (``traced``/``rules`` in the same order)."""
    out = []
    for (_, x), rule in zip(traced, rules):
        if type(x) is list:
            mask = [e is not None and not is_complex(e) for e in x]
            out.append(_real_list(rule, mask) if any(mask) else rule)
        else:
            out.append(rule if is_complex(x) else _real_rule(rule))
    return out


def _real_rule(rule):
    def real_cotangent(g, ans, *args, **kwargs):
        c = rule(g, ans, *args, **kwargs)
        return None if c is None else np.real(c)

    return real_cotangent


def _real_list(rule, mask):
    def real_cotangents(g, ans, *args, **kwargs):
        cs = rule(g, ans, *args, **kwargs)
        return [np.real(c) if m and c is not None else c for c, m in zip(cs, mask)]

    return real_cotangents


def real_tangent(t, ans):
    """The tangent of a real-valued answer from a complex one: its real part (the forward
    rule of a real function of a complex value is ``Re(d * t)``)."""
    return np.real(t) if is_complex(t) and not is_complex(ans) else t


def unsupported(fn):
    """The TypeError for ``fn`` met with complex values being differentiated."""
    name = getattr(fn, "__name__", repr(fn))
    return TypeError(
        f"{name} met complex values being differentiated (inside a dualdiff transform), and "
        "its derivative rules are written for real values only. dualdiff differentiates "
        "complex intermediates through arithmetic, exp, log, powers, trigonometric and "
        "hyperbolic functions, np.real, np.imag, np.conj, np.abs, np.angle, shape and "
        "indexing ops, sums, products, einsum / matmul / dot, np.fft and np.linalg.solve / "
        "inv / det / eig / eigvals. Rewrite this step with those (np.abs(z) ** 2 for "
        "z * conj(z), for example), or keep it real."
    )


def tensor_refused(fn):
    """The TypeError for a complex value in the tensor layer's graph."""
    name = getattr(fn, "__name__", repr(fn))
    return TypeError(
        f"{name} gave a complex result from a tensor that requires grad: the tensor layer "
        "differentiates real values only. Keep the computation real (cos(x) and sin(x) for "
        "exp(1j * x), hypot for abs), or use the transforms (dd.grad, dd.vjp, dd.jvp), which "
        "differentiate complex intermediates."
    )
