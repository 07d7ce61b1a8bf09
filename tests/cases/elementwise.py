"""Test-table lines for elementwise ufuncs (rules in dualdiff/rules/elementwise.py)."""

import numpy as np

from tests._table import Case, pos, rand

x, y = rand(3, 4), rand(3, 4, seed=1)
p, q = pos(3, 4), pos(3, 4, seed=1)
row = rand(4, seed=2)
u = rand(5, low=-0.9, high=0.9)

UNARY = [
    (np.negative, x), (np.positive, x), (np.conjugate, x), (np.reciprocal, p), (np.square, x),
    (np.sqrt, p), (np.cbrt, p), (np.absolute, x), (np.fabs, x),
    (np.exp, x), (np.exp2, x), (np.expm1, x), (np.log, p), (np.log2, p), (np.log10, p),
    (np.log1p, p), (np.sin, x), (np.cos, x), (np.tan, x), (np.arcsin, u), (np.arccos, u),
    (np.arctan, x), (np.sinh, x), (np.cosh, x), (np.tanh, x), (np.arcsinh, x),
    (np.arccosh, p + 1.0), (np.arctanh, u), (np.deg2rad, x), (np.rad2deg, x),
    (np.radians, x), (np.degrees, x),
]  # fmt: skip
BINARY = [
    (np.add, x, y), (np.subtract, x, y), (np.multiply, x, y), (np.true_divide, x, p),
    (np.power, p, y), (np.float_power, p, y), (np.fmod, 3 * x, p), (np.remainder, 3 * x, p),
    (np.copysign, x, y), (np.hypot, x, y), (np.logaddexp, x, y), (np.logaddexp2, x, y),
    (np.arctan2, x, y), (np.maximum, x, y), (np.minimum, x, y), (np.fmax, x, y),
    (np.fmin, x, y),
]  # fmt: skip

CASES = [Case(op, op, (a,)) for op, a in UNARY]
CASES += [Case(op, op, (a, b)) for op, a, b in BINARY]
CASES += [
    Case(np.add, lambda a, b: a + b, (x, row), name="broadcast"),
    Case(np.multiply, lambda a, b: a * b, (row, x), name="broadcast"),
    Case(np.true_divide, lambda a, b: a / b, (x, pos(3, 1)), name="broadcast-keepdim"),
    Case(np.power, lambda a: np.power(a, 2), (x,), name="two"),  # the (2, x) scaled form
    Case(np.square, lambda a: a**2, (x,), name="operator"),  # ** 2 records np.square
    Case(np.power, lambda a: a**3, (x,), name="cube-literal"),
    Case(np.power, lambda a: a**-1.5, (p,), name="negative-exponent"),
    Case(np.power, lambda b: 2.0**b, (x,), name="base-constant"),
    Case(np.ldexp, lambda a: np.ldexp(a, np.array([1, 2, 3, 4])), (x,)),
    Case(np.multiply, lambda a: np.multiply.outer(a, a), (row,), name="outer-method"),
]
