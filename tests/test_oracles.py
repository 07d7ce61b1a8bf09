"""The three oracles of issue 12 on random programs (see tests/_oracles.py): NumPy's own value,
ownership of every returned array, and derivatives against finite differences and the other
mode. Each family of programs runs at a small size and at a large one (where the pool,
deferral, elision and in-place sweeps engage) with the mechanisms on, and at the large size
with them off (at the small size they never engage).
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given

import dualdiff as dd
from tests._oracles import (
    FAMILIES,
    LARGE,
    LARGE_SETTINGS,
    SETTINGS,
    SMALL,
    Unchanged,
    assert_fd,
    assert_owned,
    check_program,
    point,
    program,
    programs,
    weights,
)

CONFIGS = {"small": (SMALL, True), "large": (LARGE, True), "large-off": (LARGE, False)}
KNOWN = {}  # (family, config) -> reason, for failures of an issue-12 item in progress


def cases():
    for family in FAMILIES:
        for config in CONFIGS:
            reason = KNOWN.get((family, config))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(family, config, marks=marks, id=f"{family}-{config}")


# The derivative arithmetic of a program that meets 0 * inf warns (the values are checked)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("family", "config"), list(cases()))
def test_random_programs_three_oracles(family, config):
    n, on = CONFIGS[config]

    @(SETTINGS if n <= SMALL else LARGE_SETTINGS)
    @given(programs(family))
    def run(source):
        assume(check_program(source, n, on))

    run()


# -- special points ---------------------------------------------------------------------------

SIZES = [pytest.param(SMALL, id="small"), pytest.param(LARGE, id="large")]


def with_zeros(n):
    """A point with exact zeros at every third element, and other values around them."""
    x = np.resize([0.0, 0.5, -1.25, 0.0, 2.0, -0.75], n)
    return x + np.where(x == 0.0, 0.0, np.linspace(0.0, 0.01, n))


# (exponent as written, first derivative, second derivative), both as functions of x
POWER_CASES = {
    "0": (lambda x: 0 * x, lambda x: 0 * x),
    "1": (lambda x: 1 + 0 * x, lambda x: 0 * x),
    "2": (lambda x: 2 * x, lambda x: 2 + 0 * x),
    "3": (lambda x: 3 * x**2, lambda x: 6 * x),
    "0.0": (lambda x: 0 * x, lambda x: 0 * x),
    "1.0": (lambda x: 1 + 0 * x, lambda x: 0 * x),
    "2.0": (lambda x: 2 * x, lambda x: 2 + 0 * x),
    "np.float64(0)": (lambda x: 0 * x, lambda x: 0 * x),
    "np.float64(1)": (lambda x: 1 + 0 * x, lambda x: 0 * x),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", list(POWER_CASES))
def test_powers_at_zero_match_numpy_analytic_and_finite_differences(p, n):
    W = weights(n)
    f = eval(f"lambda x: np.sum(x ** {p} * W)", {"np": np, "W": W})  # noqa: S307
    x = with_zeros(n)
    v = np.random.default_rng(4).standard_normal(n)
    first, second = POWER_CASES[p]
    inputs = Unchanged(x, v, W)
    value, g = dd.value_and_grad(f)(x)
    hv = dd.hvp(f, x, v)
    inputs.check()
    assert_owned((g, hv), (x, v, W))
    assert value == f(x.copy())
    np.testing.assert_allclose(g, first(x) * W, rtol=1e-14, atol=0)
    np.testing.assert_allclose(hv, second(x) * W * v, rtol=1e-14, atol=0)
    assert_fd(f, x, v, g @ v, float(np.abs(g) @ np.abs(v)))
    np.testing.assert_allclose(dd.jvp(f, (x,), (v,))[1], g @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_polynomial_at_zero(n):
    f = lambda x: np.sum(1 + 2 * x + 3 * x**2 + 4 * x**3)  # noqa: E731
    x = with_zeros(n)
    g = dd.grad(f)(x)
    np.testing.assert_allclose(g, 2 + 6 * x + 12 * x**2, rtol=1e-14)
    assert np.all(g[x == 0] == 2.0)


def tied(n):
    """A point whose maximum, 3.0, is taken at every third element."""
    return np.resize([1.0, 3.0, -2.0, 0.5, 3.0, 2.0], n)


@pytest.mark.parametrize("n", SIZES)
def test_max_with_ties_is_a_subgradient_and_both_modes_agree(n):
    x = tied(n)
    v = np.random.default_rng(5).standard_normal(n)
    inputs = Unchanged(x, v)
    value, g = dd.value_and_grad(np.max)(x)
    t = dd.jvp(np.max, (x,), (v,))[1]
    inputs.check()
    assert_owned((g,), (x, v))
    assert value == np.max(x)
    ties = x == 3.0
    # a convex combination of the tied elements' unit vectors (JAX splits it evenly)
    assert np.all(g[~ties] == 0.0) and np.all(g[ties] >= 0.0)
    np.testing.assert_allclose(g.sum(), 1.0, rtol=1e-14)
    np.testing.assert_allclose(t, g @ v, rtol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_maximum_with_ties_both_modes_agree(n):
    x = tied(n)
    v = np.random.default_rng(6).standard_normal(n)
    f = lambda x: np.sum(np.maximum(x, 3.0) * np.arange(1.0, n + 1))  # noqa: E731
    g = dd.grad(f)(x)
    t = dd.jvp(f, (x,), (v,))[1]
    w = np.arange(1.0, n + 1)
    assert np.all(g[x < 3.0] == 0.0)
    assert np.all((g[x == 3.0] >= 0.0) & (g[x == 3.0] <= w[x == 3.0]))
    np.testing.assert_allclose(t, g @ v, rtol=1e-12)


EMPTY = [
    pytest.param(lambda x: np.sum(np.sin(x) * 2.0), id="sum"),
    pytest.param(lambda x: np.sum(x**2) + 1.0, id="square"),
    pytest.param(lambda x: np.mean(np.exp(x)), id="mean"),
]


@pytest.mark.parametrize("f", EMPTY)
def test_size_zero_scalar_functions(f):
    x = np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice"
        want = f(x)
        value, g = dd.value_and_grad(f)(x)
        hv = dd.hvp(f, x, x)
        h = dd.hessian(f)(x)
    np.testing.assert_array_equal(value, want)
    assert g.shape == (0,) and hv.shape == (0,) and h.shape == (0, 0)
    assert g.dtype == np.float64


@pytest.mark.parametrize("transform", [dd.jacfwd, dd.jacrev, dd.jacobian])
def test_size_zero_jacobians(transform):
    x = np.zeros(0)
    assert transform(lambda x: np.sin(x) * 2.0)(x).shape == (0, 0)
    assert transform(lambda x: np.sum(x) * np.ones(3))(x).shape == (3, 0)


def test_size_zero_jvp_and_vjp():
    x = np.zeros(0)
    out, t = dd.jvp(np.sin, (x,), (x,))
    assert out.shape == (0,) and t.shape == (0,)
    out, pullback = dd.vjp(np.sin, x)
    assert out.shape == (0,) and pullback(np.zeros(0))[0].shape == (0,)


# -- JAX (optional) ---------------------------------------------------------------------------


def jax_source(source):
    """The program written for JAX: the same source with jax.numpy for NumPy."""
    return source.replace("np.", "jnp.")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("family", ["pure", "indices"])
def test_against_jax(family, n):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    @LARGE_SETTINGS  # JAX dispatches each op of a program that is not jitted: slow
    @given(programs(family))
    def run(source):
        assume(not re.search(r"\]\s*[-+*/]?=", source))  # JAX arrays are immutable
        f, loss, (W,) = program(source, n)
        x = point(n)
        namespace = {"jnp": jnp, "W": jnp.asarray(W)}
        exec(jax_source(source), namespace)  # noqa: S102  (a generated test program)
        jf = namespace["f"]
        want = jax.grad(lambda x: jnp.sum(jnp.sin(jf(x)) * namespace["W"]))(jnp.asarray(x))
        g = dd.grad(loss)(x)
        np.testing.assert_allclose(g, np.asarray(want), rtol=1e-9, atol=1e-12 * n)

    run()


# -- the user's error handling sees NumPy's errors only ---------------------------------------


def guarded_sqrt(x, total=True):
    """sqrt at exact zeros (valid: NumPy raises nothing) under the strictest error handling,
    with a fallback that must not run. The derivative there is infinite: arithmetic on it
    belongs to the transform, never to the user's errstate or warnings filters."""
    z = np.maximum(x, 0.0)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            y = np.sqrt(z) * 2.0 + 1.0
        except (FloatingPointError, RuntimeWarning):
            y = z * 0.0
    return np.sum(y) if total else y


def guarded_slopes(x):
    """jacfwd's slopes of guarded_sqrt where x > 0 (1 / sqrt x; 0 if the fallback ran), times
    sqrt x and summed. (Elsewhere in the Jacobian 0 * inf is NaN, as in JAX's.)"""
    jac = dd.jacfwd(lambda y: guarded_sqrt(y, total=False))(x)
    return np.diagonal(jac)[x > 0] @ np.sqrt(x[x > 0])


# transform -> (its call, what it must return as a function of NumPy's value and x)
GUARDED_TRANSFORMS = {
    "value_and_grad": lambda x, v: dd.value_and_grad(guarded_sqrt)(x)[0],
    "vjp": lambda x, v: dd.vjp(guarded_sqrt, x)[0],
    "jvp": lambda x, v: dd.jvp(guarded_sqrt, (x,), (v,))[0],
    "hvp": lambda x, v: dd.jvp(lambda y: dd.value_and_grad(guarded_sqrt)(y)[0], (x,), (v,))[0],
    "jacfwd": lambda x, v: guarded_slopes(x),
}
GUARDED_WANT = {"jacfwd": lambda want, x: np.count_nonzero(x > 0)}
KNOWN_GUARDED = {}  # transform -> why, for a failure of an item in progress


def guarded_cases():
    for name in GUARDED_TRANSFORMS:
        for size in SIZES:
            if name == "jacfwd" and size.id == "large":
                continue  # a 16384 x 16384 Jacobian: jvp and hvp cover forward mode there
            reason = KNOWN_GUARDED.get(name)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, size.values[0], marks=marks, id=f"{name}-{size.id}")


@pytest.mark.parametrize(("transform", "n"), list(guarded_cases()))
def test_derivative_arithmetic_stays_out_of_the_users_error_handling(transform, n):
    x = np.resize([-1.0, 0.0, 0.5, 2.0, -0.25, 1.5], n)
    v = np.ones(n)
    want = guarded_sqrt(x.copy())
    # NumPy's own value: the fallback (0) did not run
    np.testing.assert_allclose(want, 2.0 * np.sum(np.sqrt(np.maximum(x, 0.0))) + n, rtol=1e-12)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the transform's own infinities are its business
        got = GUARDED_TRANSFORMS[transform](x, v)
    np.testing.assert_allclose(got, GUARDED_WANT.get(transform, lambda w, x: w)(want, x))


# -- arrays f changes after using them --------------------------------------------------------


def scaled_then_changed(x):
    c = np.cos(np.arange(x.size) * 0.5) + 1.5  # f's own plain array
    y = np.sin(x) * c
    c += 1.0  # NumPy: y is already computed; its derivative is cos(x) * (old c)
    return np.sum(y * y)


def scaled_then_changed_grad(x):
    c = np.cos(np.arange(x.size) * 0.5) + 1.5
    return 2 * np.sin(x) * np.cos(x) * c * c


CHANGED = {
    "grad": lambda x, v: dd.grad(scaled_then_changed)(x),
    "vjp": lambda x, v: dd.vjp(lambda y: np.sin(y) * scaled_then_changed(y), x)[1](v)[0],
    "jvp": lambda x, v: dd.jvp(scaled_then_changed, (x,), (v,))[1],
    "hvp": lambda x, v: dd.hvp(scaled_then_changed, x, v),
}


def changed_reference(name, x, v):
    """What each transform must give: by hand, and by finite differences for the hvp."""
    g = scaled_then_changed_grad(x)
    if name == "grad":
        return g
    if name == "vjp":
        f = scaled_then_changed(x)
        return v * np.cos(x) * f + (np.sin(x) @ v) * g
    if name == "jvp":
        return g @ v
    h = 1e-6
    return (scaled_then_changed_grad(x + h * v) - scaled_then_changed_grad(x - h * v)) / (2 * h)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", list(CHANGED))
def test_a_plain_array_changed_after_use(name, n):
    x = np.linspace(-1.0, 1.5, n)
    v = np.random.default_rng(8).standard_normal(n)
    got = CHANGED[name](x, v)
    want = changed_reference(name, x, v)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8 * np.abs(want).max())
