"""Elementwise ufuncs as partial derivatives: ``d_i(ans, *inputs)`` for each input.

The engine turns these into JVPs (``sum_i t_i * d_i``) and VJPs (``g * d_i``) and handles
broadcasting. Partials are written in numpy calls so they are differentiable again. Linear
ufuncs give the constants +1.0 / -1.0 and skip the multiplication.
"""

import numpy as np

from dualdiff._registry import defconstant, defpartials
from dualdiff.large import pool

LN2 = np.log(2.0)
LN10 = np.log(10.0)

# -- arithmetic ----------------------------------------------------------------------------------
defpartials(np.add, 1.0, 1.0)
defpartials(np.subtract, 1.0, -1.0)
defpartials(np.negative, -1.0)
defpartials(np.positive, 1.0)
defpartials(np.multiply, lambda ans, x, y: y, lambda ans, x, y: x)


def _divide_dx(ans, x, y):
    if type(y) is float or type(y) is int:  # x / c: a Python float, which the sweep defers
        # 1.0 / 0 raises ZeroDivisionError in Python; NumPy's x / 0.0 is inf, and so is this
        return 1.0 / y if y else np.true_divide(1.0, y)
    return np.true_divide(1.0, y)


defpartials(np.true_divide, _divide_dx, lambda ans, x, y: -ans / y)
defpartials(np.reciprocal, lambda ans, x: -(ans * ans))


def _square_dx(ans, x):
    return 2.0 * x


def _twice(ans, x, y=2):
    """A partial ``2 * x`` as ``(2, x)`` (see dualdiff/_scaled.py): the sweep multiplies by
    ``x`` and leaves the 2 to the pass that writes the product elsewhere."""
    if (type(y) is int or type(y) is float) and y == 2:
        return 2.0, x
    return None


_square_dx.scaled = _twice
defpartials(np.square, _square_dx)


def _power_dx(ans, x, y):
    """``y * x ** (y - 1)``, finite at ``x = 0`` wherever the true derivative is, at every
    order: exponent 0 has the partial 0 and exponent 1 the partial 1 (written as such, never
    ``0 * 0 ** -1`` or, one order up, ``1 * 0 * 0 ** -1``), and the partial of an integer
    power is a power of one degree less, so that a chain of derivatives ends in these."""
    if type(y) is int or type(y) is float or isinstance(y, _SCALARS):  # a constant exponent
        if y == 2:  # the commonest: 2 * x (into a pooled buffer for a large array)
            return pool.call(np.multiply, (x, 2.0))
        if y == 1:
            return 1.0
        if y == 0:
            return 0.0
        return y * x ** (y - 1)
    # an array or traced exponent: the same cases, held by masks so that 0 ** -1 where y == 0
    # cannot poison the product (np.where's rules keep the unselected branch out at every order)
    return np.where(y == 0, 0.0, y * x ** np.where(y == 0, 1.0, y - 1))


_SCALARS = (np.integer, np.floating)  # NumPy's scalars: x ** np.float64(0) is x ** 0


def _power_dy(ans, x, y):
    # ans * log(x); at x == 0 the limit of the product is 0 (for y > 0), not 0 * -inf, as JAX
    # gives. Both factors are masked, so no inf * 0 is computed (and warned about) even where
    # ans is inf (y < 0), nor by the derivatives of this partial.
    zero = x == 0
    return np.where(zero, 0.0, ans) * np.log(np.where(zero, 1.0, x))


_power_dx.scaled = _twice  # x ** 2, the commonest power
defpartials(np.power, _power_dx, _power_dy)
defpartials(np.float_power, _power_dx, _power_dy)
defpartials(np.sqrt, lambda ans, x: 0.5 / ans)
# ans ** -2 / 3, a power, not 1 / (3 ans ans): the product's derivative at 0 is 0 * inf (NaN),
# the power's is -2 ans ** -3 ans' (the second derivative's infinity, as JAX gives)
defpartials(np.cbrt, lambda ans, x: ans**-2.0 / 3.0)
defpartials(np.fabs, lambda ans, x: np.sign(x))
defpartials(np.fmod, lambda ans, x, y: np.ones_like(ans), lambda ans, x, y: -np.trunc(x / y))
defpartials(np.remainder, lambda ans, x, y: np.ones_like(ans), lambda ans, x, y: -np.floor(x / y))
defpartials(
    np.copysign,
    lambda ans, x, y: np.sign(x) * np.where(np.signbit(y), -1.0, 1.0),
    lambda ans, x, y: np.zeros_like(ans),
)
defpartials(np.ldexp, lambda ans, x, i: np.ldexp(1.0, i))
defpartials(np.hypot, lambda ans, x, y: x / ans, lambda ans, x, y: y / ans)

# -- exponentials and logarithms -------------------------------------------------------------------
defpartials(np.exp, lambda ans, x: ans)
defpartials(np.exp2, lambda ans, x: ans * LN2)
defpartials(np.expm1, lambda ans, x: ans + 1.0)
defpartials(np.log, lambda ans, x: 1.0 / x)
defpartials(np.log2, lambda ans, x: 1.0 / (x * LN2))
defpartials(np.log10, lambda ans, x: 1.0 / (x * LN10))
defpartials(np.log1p, lambda ans, x: 1.0 / (x + 1.0))
defpartials(
    np.logaddexp,
    lambda ans, x, y: np.exp(x - ans),
    lambda ans, x, y: np.exp(y - ans),
)
defpartials(
    np.logaddexp2,
    lambda ans, x, y: np.exp2(x - ans),
    lambda ans, x, y: np.exp2(y - ans),
)

# -- trigonometric and hyperbolic ------------------------------------------------------------------
defpartials(np.sin, lambda ans, x: np.cos(x))
defpartials(np.cos, lambda ans, x: -np.sin(x))
defpartials(np.tan, lambda ans, x: 1.0 + ans * ans)
defpartials(np.arcsin, lambda ans, x: 1.0 / np.sqrt(1.0 - x * x))
defpartials(np.arccos, lambda ans, x: -1.0 / np.sqrt(1.0 - x * x))
defpartials(np.arctan, lambda ans, x: 1.0 / (1.0 + x * x))
defpartials(
    np.arctan2,
    lambda ans, y, x: x / (x * x + y * y),
    lambda ans, y, x: -y / (x * x + y * y),
)
defpartials(np.sinh, lambda ans, x: np.cosh(x))
defpartials(np.cosh, lambda ans, x: np.sinh(x))
defpartials(np.tanh, lambda ans, x: 1.0 - ans * ans)
defpartials(np.arcsinh, lambda ans, x: 1.0 / np.sqrt(x * x + 1.0))
defpartials(np.arccosh, lambda ans, x: 1.0 / np.sqrt(x * x - 1.0))
defpartials(np.arctanh, lambda ans, x: 1.0 / (1.0 - x * x))
# np.radians and np.degrees are ufuncs of their own, not aliases of deg2rad and rad2deg
for _to_rad in (np.deg2rad, np.radians):
    defpartials(_to_rad, lambda ans, x: np.pi / 180.0 + 0.0 * x)
for _to_deg in (np.rad2deg, np.degrees):
    defpartials(_to_deg, lambda ans, x: 180.0 / np.pi + 0.0 * x)

# -- selection: the partial goes to the chosen input (the first one on ties) -----------------------
defpartials(np.maximum, lambda ans, x, y: x >= y, lambda ans, x, y: x < y)
defpartials(np.minimum, lambda ans, x, y: x <= y, lambda ans, x, y: x > y)
# fmax/fmin ignore NaNs: the derivative follows the input that was picked.
defpartials(
    np.fmax,
    lambda ans, x, y: (x >= y) | np.isnan(y),
    lambda ans, x, y: ~((x >= y) | np.isnan(y)),
)
defpartials(
    np.fmin,
    lambda ans, x, y: (x <= y) | np.isnan(y),
    lambda ans, x, y: ~((x <= y) | np.isnan(y)),
)

# -- constant output: comparisons, predicates, and piecewise-constant functions ------------------
defconstant(
    np.floor, np.ceil, np.trunc, np.rint, np.sign, np.signbit, np.heaviside, np.floor_divide,
    np.spacing, np.nextafter,
    np.isnan, np.isinf, np.isfinite,
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
)  # fmt: skip
