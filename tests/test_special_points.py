"""Rules at special points: powers at 0, division by a Python 0, det at singular matrices, size-0
inputs for every line of the rule table, and a named error for every op without a rule.

Every family runs at a small size and at a large one (``LARGE`` elements, where the buffer pool,
deferred values and in-place sweeps engage). Each result is checked against an independent
reference (an analytic derivative, NumPy's own value, finite differences of NumPy code) and for
ownership: no result shares memory with an input, and inputs are left unchanged.
"""

import importlib
import itertools
import math
import pkgutil
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualdiff as dd
from dualdiff._tree import flatten
from tests import _fd, cases

LARGE = 16384 + 2  # at least the pool's threshold, and not a power of two


def _points(size, *, negative=True, seed=0):
    """``size`` points holding exact zeros and ones, and random values (positive ones only when
    ``negative`` is False)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0 if negative else 0.1, 2.0, size)
    x[: size // 3] = 0.0
    x[size // 3 : size // 3 + 2] = 1.0
    return x


def _owned(result, *inputs):
    """Oracle 2: no returned array shares memory with an input or with another result."""
    arrays = [a for a in flatten(result)[0] if isinstance(a, np.ndarray)]
    for i, a in enumerate(arrays):
        for x in inputs:
            assert not np.shares_memory(a, x), "a result shares memory with an input"
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b), "two results share memory"


def _checksums(*arrays):
    return [(a.shape, a.tobytes()) for a in arrays]


# -- powers at 0 ----------------------------------------------------------------------------------
def _elementwise_derivative(f, mode):
    """The elementwise derivative of an elementwise ``f``: reverse (grad of the sum) or forward
    (a JVP with a tangent of ones)."""
    if mode == "r":
        return lambda x: dd.grad(lambda z: np.sum(f(z)))(x)
    return lambda x: dd.jvp(f, (x,), (np.ones(x.shape),))[1]


def _derivative(f, modes):
    """``f`` differentiated once per letter of ``modes``, innermost first ("rf": forward over
    reverse, the order of ``hvp``)."""
    for mode in modes:
        f = _elementwise_derivative(f, mode)
    return f


def _power_reference(k, x, n):
    """The n-th derivative of x ** k: the falling factorial times x ** (k - n); exactly 0 when
    the factorial is (the derivative of a polynomial past its degree)."""
    c = math.prod(k - j for j in range(n))
    if c == 0:
        return np.zeros_like(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return c * x ** (k - n)


def _exponent_forms(k):
    """The spellings of one constant exponent: Python's, NumPy's scalars, 0-d and full arrays."""
    forms = [("float", float(k)), ("np.float64", np.float64(k)), ("0-d", np.array(float(k)))]
    if float(k).is_integer():
        forms += [("int", int(k)), ("np.int64", np.int64(int(k)))]
    return forms


EXPONENTS = [0, 1, 2, 3, 4, -1, -2, 0.5, 2.5]
ORDERS = ["r", "f", "rr", "ff", "rf", "fr", "rrr", "fff", "rfr", "frf", "rrf"]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 0 ** -1: inf, as NumPy
@pytest.mark.parametrize("size", [7, LARGE])
@pytest.mark.parametrize("k", EXPONENTS)
def test_power_derivatives_at_zero_every_order_mode_and_exponent_form(k, size):
    x = _points(size, negative=float(k).is_integer())
    before = _checksums(x)
    for (name, y), modes in itertools.product(_exponent_forms(k), ORDERS):
        if size == LARGE and len(modes) == 3 and name not in ("int", "float"):
            continue  # third order at the large size: once per exponent is enough
        got = _derivative(lambda z, y=y: z**y, modes)(x)
        want = _power_reference(k, x, len(modes))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=f"{name} {modes}")
        _owned(got, x)
    assert _checksums(x) == before


@pytest.mark.parametrize("size", [5, LARGE])
def test_power_with_an_array_of_exponents_per_element(size):
    x = np.zeros(size)
    k = np.resize(np.array([0.0, 1.0, 2.0, 3.0]), size)
    for modes in ORDERS:
        got = _derivative(lambda z: z**k, modes)(x)
        n = len(modes)
        want = np.where(k == n, math.factorial(n), 0.0)  # d^n x^k / dx^n at 0
        np.testing.assert_array_equal(got, want, err_msg=modes)


@pytest.mark.parametrize("size", [1, LARGE])
def test_polynomial_at_zero_has_its_coefficients_times_factorials(size):
    def p(x):
        return 1 + 2 * x + 3 * x**2 + 4 * x**3

    x = np.zeros(size)
    value, g = dd.value_and_grad(lambda z: np.sum(p(z)))(x)
    assert value == np.sum(p(x))  # oracle 1: NumPy's value
    np.testing.assert_array_equal(g, np.full(size, 2.0))
    np.testing.assert_array_equal(_derivative(p, "rf")(x), np.full(size, 6.0))
    np.testing.assert_array_equal(_derivative(p, "rrr")(x), np.full(size, 24.0))
    np.testing.assert_array_equal(_derivative(p, "fff")(x), np.full(size, 24.0))


def test_issue_examples_power_zero_and_one():
    x = np.zeros(3)
    np.testing.assert_array_equal(dd.grad(lambda z: np.sum(z**0))(x), np.zeros(3))
    np.testing.assert_array_equal(dd.hessian(lambda z: np.sum(z**1))(x), np.zeros((3, 3)))
    for order in ("r", "rf", "rrr"):
        a = _derivative(lambda z: z ** np.float64(0), order)(x)
        b = _derivative(lambda z: z**0, order)(x)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, np.zeros(3))
    for k, order in itertools.product((0, 1, 2, 3), ("r", "rf", "rrr", "fff")):
        got = _derivative(lambda z, k=k: np.float_power(z, k), order)(x)
        np.testing.assert_array_equal(got, _power_reference(k, x, len(order)), err_msg=order)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    coefficients=st.lists(st.integers(-5, 5), min_size=1, max_size=6),
    order=st.integers(1, 3),
    modes=st.sampled_from(["r", "f"]),
)
def test_random_polynomials_at_zero(coefficients, order, modes):
    def p(x):
        return sum(c * x**j for j, c in enumerate(coefficients))

    x = np.zeros(4)
    got = _derivative(p, modes * order)(x)
    want = coefficients[order] * math.factorial(order) if order < len(coefficients) else 0
    np.testing.assert_array_equal(got, np.full(4, float(want)))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 0 ** -0.5: inf
@pytest.mark.parametrize("size", [4, LARGE])
def test_traced_exponent_at_zero_base(size):
    # d/dy x**y = x**y log x and d2/dy2 = x**y log(x)**2: 0 at x = 0 for y > 0 (JAX's limit)
    x = _points(size, negative=False)
    y = np.resize(np.array([0.5, 1.0, 2.0, 3.5]), size)

    def f(b, e):
        return np.sum(b**e)

    with np.errstate(divide="ignore"):
        logx = np.where(x == 0, 0.0, np.log(np.where(x == 0, 1.0, x)))
    gx, gy = dd.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gy, x**y * logx, rtol=1e-12, atol=0)
    np.testing.assert_allclose(gx, _power_reference_array(y, x), rtol=1e-12, atol=0)
    for modes in ("r", "f", "rf", "fr", "rr"):
        d = _derivative(lambda e: x**e, modes)(y)
        want = x**y * logx ** len(modes)
        np.testing.assert_allclose(d, want, rtol=1e-12, atol=1e-300, err_msg=modes)
    # the mixed derivative d2/dxdy = x**(y-1) (1 + y log x) at x = 0 is 0 for y > 1
    mixed = dd.grad(lambda e: np.sum(dd.grad(f)(x, e)))(y)
    with np.errstate(divide="ignore"):
        ref = np.where(x == 0, 0.0, x ** (y - 1) * (1 + y * logx))
    keep = (x != 0) | (y > 1)
    np.testing.assert_allclose(mixed[keep], ref[keep], rtol=1e-12, atol=1e-300)
    _owned((gx, gy, mixed), x, y)


def _power_reference_array(y, x):
    with np.errstate(divide="ignore"):
        return np.where(y == 0, 0.0, y * x ** (y - 1))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_powers_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for k in (0, 1, 2, 3, -1, 0.5):
        x = np.array([0.0, 1.5, 0.3] + ([-0.7] if float(k).is_integer() else []))
        jf = lambda z, k=k: z**k  # noqa: E731
        for n in (1, 2, 3):
            jf = jax.grad(jf)
            want = np.array([float(jf(v)) for v in x])
            for modes in ("r" * n, "f" * n):
                got = _derivative(lambda z, k=k: z**k, modes)(x)
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{k} {modes}")
    x = np.zeros(3)
    y = np.array([0.5, 1.0, 2.0])
    want = [float(jax.grad(lambda e: jax.numpy.asarray(0.0) ** e)(v)) for v in y]
    np.testing.assert_array_equal(dd.grad(lambda e: np.sum(x**e))(y), want)


# -- division by a Python zero: NumPy's inf, never ZeroDivisionError ------------------------------
DIVISIONS = [
    ("x / 0.0", lambda x: x / 0.0, lambda x: np.full(x.shape, np.inf)),
    ("x / 0", lambda x: x / 0, lambda x: np.full(x.shape, np.inf)),
    (
        "np.true_divide(x, 0.0)",
        lambda x: np.true_divide(x, 0.0),
        lambda x: np.full(x.shape, np.inf),
    ),
    ("x / np.float64(0)", lambda x: x / np.float64(0), lambda x: np.full(x.shape, np.inf)),
    ("x * (1 / x)", lambda x: x * (1 / x), lambda x: np.zeros(x.shape)),
    ("0.0 / x", lambda x: 0.0 / x, lambda x: -0.0 / x**2),
    ("1 / x", lambda x: 1 / x, lambda x: -1.0 / x**2),
    ("x % 0.0", lambda x: x % 0.0, lambda x: np.ones(x.shape)),  # NaN values, slope 1 as JAX
    ("x % 1.0", lambda x: x % 1.0, lambda x: np.ones(x.shape)),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own x / 0 warnings
@pytest.mark.parametrize("size", [3, LARGE])
@pytest.mark.parametrize("name, f, slope", DIVISIONS, ids=[d[0] for d in DIVISIONS])
def test_division_by_python_zero_gives_numpys_inf(name, f, slope, size):
    x = _points(size, seed=1) + 2.5  # no zero in x itself: the divisor is the constant
    before = _checksums(x)
    value, g = dd.value_and_grad(lambda z: np.sum(f(z)))(x)
    np.testing.assert_array_equal(value, np.sum(f(x)))  # oracle 1: NumPy's value, inf or NaN
    np.testing.assert_allclose(g, slope(x), rtol=1e-12, atol=1e-15)
    out, t = dd.jvp(f, (x,), (np.ones(size),))
    np.testing.assert_array_equal(out, f(x))
    np.testing.assert_allclose(t, slope(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        _derivative(f, "rf")(x), _derivative(f, "ff")(x), rtol=1e-9, atol=1e-12
    )
    _owned((value, g, out, t), x)
    assert _checksums(x) == before


def test_division_by_zero_raises_where_numpy_does():
    # under errstate(divide="raise") NumPy raises FloatingPointError at the division itself
    x = np.array([1.0, 2.0])
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        dd.grad(lambda z: np.sum(z / 0.0))(x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_zero_divisor_inside_a_rule_is_numpys_division():
    # np.var of a size-0 axis divides by N - ddof = 0 (a Python int) inside its own rule, which
    # a second derivative differentiates (a traced array divided by a Python 0)
    x = np.zeros((0, 3))

    def f(a):
        return np.var(a, axis=0)

    out, t = dd.jvp(f, (x,), (np.ones(x.shape),))
    np.testing.assert_array_equal(out, f(x))
    assert t.shape == (3,)
    second = dd.jvp(lambda a: dd.jvp(f, (a,), (np.ones(x.shape),))[1], (x,), (np.ones(x.shape),))
    assert second[1].shape == (3,)
    assert dd.hessian(lambda a: np.sum(np.std(a, axis=0)))(x).shape == (0, 3, 0, 3)


# -- det at singular matrices: the cofactor matrix (the adjugate's transpose) ---------------------
def _cofactors(a):
    """Reference cofactors from NumPy's det of each minor (independent of the rules)."""
    n = a.shape[-1]
    out = np.empty(a.shape)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
        out[..., i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def _leibniz_third(n):
    """The third derivative of det for n = 3, a constant: sign(s) at entries (i, s(i))."""
    out = np.zeros((n, n) * 3)
    for perm in itertools.permutations(range(n)):
        sign = np.linalg.det(np.eye(n)[list(perm)])
        for order in itertools.permutations(range(n)):
            out[tuple(x for i in order for x in (i, perm[i]))] = sign
    return out


SINGULAR = {
    "2x2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "rank2-3x3": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
    "rank1-3x3": np.outer([1.0, 2.0, -1.0], [3.0, 1.0, 2.0]),
    "zero-column-3x3": np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 1.0], [0.0, 1.0, 5.0]]),
    "rank3-4x4": np.array([[2.0, 1, 0, 3], [1, 1, 1, 2], [3, 2, 1, 5], [0, 1, 2, 1]]),
    "rank2-4x4": np.outer([1.0, 2, 3, 4], [1.0, 0, 1, 2])
    + np.outer([0.0, 1, 0, 1], [2.0, 1, 1, 0]),
}


@pytest.mark.parametrize("name", list(SINGULAR))
def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix(name):
    a = SINGULAR[name]
    assert np.linalg.det(a) == 0.0  # exactly singular in floating point: inv raises there
    want = _cofactors(a)
    before = _checksums(a)
    for got in (
        dd.grad(np.linalg.det)(a),
        dd.jacfwd(np.linalg.det)(a),
        dd.jacrev(np.linalg.det)(a),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        _owned(got, a)
    value, _ = dd.value_and_grad(np.linalg.det)(a)
    assert value == np.linalg.det(a)
    # second order (forward over reverse, and reverse over forward) against finite differences
    # of the reference cofactors
    fd = _fd.jacobian(_cofactors, a, eps=1e-4)
    np.testing.assert_allclose(dd.hessian(np.linalg.det)(a), fd, atol=1e-7)
    np.testing.assert_allclose(dd.jacrev(dd.jacfwd(np.linalg.det))(a), fd, atol=1e-7)
    assert _checksums(a) == before


def test_det_issue_example_and_rank_below_n_minus_1():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    for g in (dd.grad(np.linalg.det)(a), dd.jacfwd(np.linalg.det)(a)):
        np.testing.assert_allclose(g, [[4.0, -2.0], [-2.0, 1.0]], rtol=1e-14)
    np.testing.assert_allclose(dd.grad(np.linalg.det)(SINGULAR["rank1-3x3"]), 0.0, atol=1e-14)


def test_det_gradient_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for name, a in SINGULAR.items():
        want = np.asarray(jax.grad(jax.numpy.linalg.det)(a))
        np.testing.assert_allclose(dd.grad(np.linalg.det)(a), want, atol=1e-12, err_msg=name)


def test_det_third_order_at_a_singular_matrix():
    a = SINGULAR["rank2-3x3"]
    want = _leibniz_third(3)
    np.testing.assert_allclose(dd.jacfwd(dd.hessian(np.linalg.det))(a), want, atol=1e-9)
    np.testing.assert_allclose(dd.jacrev(dd.jacrev(dd.grad(np.linalg.det)))(a), want, atol=1e-9)


def test_det_hessian_near_singular_is_accurate():
    # numerically singular but not exactly: inv succeeds, and d(det inv^T) would cancel
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)) @ rng.standard_normal((3, 4))
    fd = _fd.jacobian(_cofactors, a, eps=1e-4)
    np.testing.assert_allclose(dd.hessian(np.linalg.det)(a), fd, atol=1e-6)


@pytest.mark.parametrize("count", [3, LARGE // 4])  # 4 entries per 2x2 matrix
def test_det_of_a_stack_with_singular_matrices(count):
    rng = np.random.default_rng(4)
    a = np.round(rng.standard_normal((count, 2, 2)) * 8) / 8  # eighths: exact arithmetic
    a[::3, 1] = 2.0 * a[::3, 0]  # every third matrix singular (rows proportional)
    a[1, :, :] = 0.0  # one of rank 0
    assert np.all(np.linalg.det(a[::3]) == 0.0)
    adj_t = np.stack([a[:, 1, 1], -a[:, 1, 0], -a[:, 0, 1], a[:, 0, 0]], -1).reshape(a.shape)

    def f(m):
        return np.sum(np.linalg.det(m) ** 2 / 2 + np.linalg.det(m))

    d = np.linalg.det(a)[:, None, None]
    value, g = dd.value_and_grad(f)(a)
    assert value == f(a)
    np.testing.assert_allclose(g, (d + 1) * adj_t, rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(a.shape)
    _, t = dd.jvp(f, (a,), (v,))
    np.testing.assert_allclose(t, np.sum((d + 1) * adj_t * v), rtol=1e-9)
    # second order: 2x2 cofactors are linear, C(a)' v = C(v), so H v = <C, v> C + (det + 1) C(v)
    adj_v = np.stack([v[:, 1, 1], -v[:, 1, 0], -v[:, 0, 1], v[:, 0, 0]], -1).reshape(v.shape)
    want = np.sum(adj_t * v, axis=(1, 2))[:, None, None] * adj_t + (d + 1) * adj_v
    hv = dd.hvp(f, a, v)
    np.testing.assert_allclose(hv, want, rtol=1e-9, atol=1e-12)
    _owned((value, g, t, hv), a, v)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log|det| of 0 is -inf
def test_slogdet_of_a_stack_with_a_singular_matrix():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 3, 3))
    a[1] = SINGULAR["rank2-3x3"]

    def f(m):
        return np.sum(np.linalg.slogdet(m)[1])

    g = dd.grad(f)(a)
    _, t = dd.jvp(f, (a,), (np.ones(a.shape),))
    regular = [0, 2]
    np.testing.assert_allclose(g[regular], np.swapaxes(np.linalg.inv(a[regular]), -1, -2))
    assert np.all(np.isnan(g[1]))  # log|det| is -inf there: no derivative
    assert np.isnan(t)
    # a stack of regular matrices, second order, against finite differences
    b = a[regular]
    fd = _fd.jacobian(lambda m: np.swapaxes(np.linalg.inv(m), -1, -2), b, eps=1e-6)
    np.testing.assert_allclose(dd.hessian(f)(b), fd, rtol=1e-5, atol=1e-7)


# -- size-0 inputs: every line of the rule table --------------------------------------------------
TABLE = []
for _info in pkgutil.iter_modules(cases.__path__):
    TABLE += importlib.import_module(f"tests.cases.{_info.name}").CASES

# Lines whose size-0 variants fail in rules outside dualdiff/rules (reported to their owners).
ELSEWHERE = {
}
SKIP = {
    "nanquantile-q": "NumPy's nanquantile drops q's axes when the reduced axis is empty",
    # with a side of length 0 these lines read only the extra singular vectors of a full SVD,
    # which are not unique: NaN tangents and a named error in reverse mode, as documented
    "svd-u-of-full": "reads only non-unique singular vectors at size 0 (documented)",
    "svd-vh-of-full": "reads only non-unique singular vectors at size 0 (documented)",
    # the variants' other arguments are zeros: all tied, so the result's length changes under
    # any step and differences mean nothing (tests/test_numpy_more.py checks ties and size 0)
    **dict.fromkeys(
        ("union1d", "intersect1d", "setdiff1d", "setxor1d"),
        "zeros are ties: the set's length jumps under a step",
    ),
    "polymul": "zeros are leading zeros, which poly1d drops: the product's length jumps",
}


def _size0_variants(args):
    """The case's arguments with every axis of one length (all arguments alike, so that shapes
    stay compatible) made 0: one variant per distinct length other than 1."""
    lengths = sorted({n for a in args for n in np.shape(a)} - {0, 1})
    for n in lengths:
        yield n, tuple(np.zeros(tuple(0 if m == n else m for m in np.shape(a))) for a in args)


def _ones_like_tree(tree):
    leaves, unflatten = flatten(tree)
    return unflatten([np.ones(np.shape(x)) for x in leaves])


def _leaves(tree):
    return [np.asarray(x, dtype=float) for x in flatten(tree)[0]]


def _check_size0(case, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's own: mean of an empty slice, and the like
        try:
            want = case.f(*args)
        except Exception:  # NumPy refuses this variant: nothing to differentiate
            return
        rng = np.random.default_rng(0)
        v = tuple(rng.standard_normal(np.shape(a)) for a in args)
        eps = 1e-6
        plus = case.f(*[a + eps * d for a, d in zip(args, v)])
        minus = case.f(*[a - eps * d for a, d in zip(args, v)])
        fd = [(p - m) / (2 * eps) for p, m in zip(_leaves(plus), _leaves(minus))]
        try:
            _check_size0_modes(case, args, v, want, fd)
        except NotImplementedError as e:  # a documented limit of the op, named
            assert getattr(case.op, "__name__", "") in str(e)


def _check_size0_modes(case, args, v, want, fd):
    tol = dict(rtol=case.rtol, atol=case.atol, equal_nan=True)
    if "fwd" in case.modes:
        out, t = dd.jvp(case.f, args, v)
        for o, w in zip(_leaves(out), _leaves(want)):  # oracle 1: NumPy's value
            np.testing.assert_array_equal(o, w)
        for a, b in zip(_leaves(t), fd):
            assert a.shape == b.shape
            defined = np.isfinite(b)  # where NumPy's value is NaN (a mean of nothing), it is not
            np.testing.assert_allclose(a[defined], b[defined], **tol)
        if case.order > 1:
            _, t2 = dd.jvp(lambda *x: dd.jvp(case.f, x, v)[1], args, v)
            assert [a.shape for a in _leaves(t2)] == [a.shape for a in fd]
    if "rev" in case.modes:
        out, pullback = dd.vjp(case.f, *args)
        u = _ones_like_tree(want)
        cts = pullback(u)
        assert [np.shape(c) for c in cts] == [np.shape(a) for a in args]
        # dot-product test against finite differences: <u, J v> == <J^T u, v>
        if all(np.all(np.isfinite(b)) for b in fd):
            lhs = sum(float(np.sum(b)) for b in fd)
            rhs = sum(float(np.vdot(c, d)) for c, d in zip(cts, v))
            assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))
        if case.order > 1:
            second = dd.vjp(lambda *x: dd.vjp(case.f, *x)[1](u), *args)[1](cts)
            assert [np.shape(c) for c in second] == [np.shape(a) for a in args]


def _size0_marks(case):
    if case.id in ELSEWHERE:
        return [pytest.mark.xfail(strict=True, reason=ELSEWHERE[case.id])]
    if case.id in SKIP:
        return [pytest.mark.skip(reason=SKIP[case.id])]
    return []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_size0_marks(c)) for c in TABLE])
def test_every_table_line_at_size_0(case):
    for _, args in _size0_variants(case.args):
        _check_size0(case, args)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's: mean of an empty slice
@pytest.mark.parametrize("n", [2, LARGE])
def test_size_0_examples_of_the_issue(n):
    e = np.zeros(0)
    assert dd.hvp(np.mean, e, e).shape == (0,)
    assert dd.hessian(np.mean)(e).shape == (0, 0)
    value, g = dd.value_and_grad(np.mean)(e)
    assert np.isnan(value) and g.shape == (0,)  # NumPy's nan, and the input's shape
    for jac in (dd.jacfwd, dd.jacrev):
        assert jac(np.cumprod)(e).shape == (0, 0)
    x = np.zeros((n, 0))
    fs = {
        "prod-0": (lambda a: np.prod(a, axis=0), (0,)),
        "prod-1": (lambda a: np.prod(a, axis=1), (n,)),
        "einsum": (lambda a: np.einsum("ij,ij->i", a, a), (n,)),
        "cumprod": (lambda a: np.cumprod(a, axis=1), (n, 0)),
        "mean-0": (lambda a: np.mean(a, axis=0), (0,)),
        "mean-1": (lambda a: np.mean(a, axis=1), (n,)),
    }
    for name, (f, shape) in fs.items():
        assert dd.jacfwd(f)(x).shape == shape + x.shape, name
        out, t = dd.jvp(f, (x,), (x,))
        np.testing.assert_array_equal(out, f(x))  # a product over nothing is 1, a mean NaN
        assert t.shape == shape
        np.testing.assert_array_equal(t[np.isfinite(out)], 0.0)  # nothing to move it
        out, pullback = dd.vjp(f, x)
        (ct,) = pullback(np.ones(shape))
        assert ct.shape == x.shape
        assert dd.hvp(lambda a, f=f: np.sum(f(a)), x, x).shape == x.shape
    if n == 2:  # a Jacobian whose output basis is n x n (reverse mode): the small size only
        assert dd.jacrev(lambda a: np.prod(a, axis=1))(x).shape == (n, n, 0)
        assert dd.hessian(lambda a: np.einsum("ij,ij->", a, a))(x).shape == (n, 0, n, 0)


# -- ops without a rule: a named NotImplementedError, never an internal exception -----------------
NO_RULE = [
    ("histogramdd", lambda x: np.histogramdd(x)[0]),
    ("histogram2d", lambda x: np.histogram2d(x, x)[0]),
]
TRANSFORMS = {
    "forward": lambda f, x: dd.jvp(f, (x,), (np.ones(x.shape),)),
    "reverse": lambda f, x: dd.vjp(f, x),
}


@pytest.mark.parametrize("size", [3, LARGE])
@pytest.mark.parametrize("mode", list(TRANSFORMS))
@pytest.mark.parametrize("name, f", NO_RULE, ids=[n for n, _ in NO_RULE])
def test_an_op_without_a_rule_is_named(name, f, mode, size):
    x = _points(size) + 0.25
    with pytest.raises(NotImplementedError) as info:
        TRANSFORMS[mode](f, x)
    msg = str(info.value)
    assert f"numpy.{name}" in msg and f"{mode}-mode" in msg and "Register" in msg
    assert f"dualdiff.defconstant({name})" in msg  # the way out for a piecewise-constant op


@pytest.mark.parametrize("size", [3, LARGE])
def test_floor_division_operators_match_np_floor_divide(size):
    # x // y is np.floor_divide(x, y), piecewise constant (declared so): NumPy's value, and
    # no derivative, through the operator as through the function
    x = _points(size) * 3.0
    for f in (lambda z: z // 1.5, lambda z: 1.5 // (z + 7.0), lambda z: np.floor_divide(z, 1.5)):
        value, g = dd.value_and_grad(lambda z, f=f: np.sum(z - f(z)))(x)
        assert value == np.sum(x - f(x))
        np.testing.assert_array_equal(g, np.ones(size))
        _, t = dd.jvp(lambda z, f=f: z - f(z), (x,), (np.ones(size),))
        np.testing.assert_array_equal(t, np.ones(size))
    # divmod's quotient is floor division; its remainder has slope 1 (numpy_extra.py)
    for f in (lambda z: divmod(z, 1.5)[1], lambda z: np.divmod(z, 1.5)[1] + np.divmod(z, 1.5)[0]):
        value, g = dd.value_and_grad(lambda z, f=f: np.sum(f(z)))(x)
        assert value == np.sum(f(x))
        np.testing.assert_array_equal(g, np.ones(size))


@pytest.mark.parametrize("size", [3, LARGE])
def test_remainder_operator_has_slope_one(size):
    x = _points(size) * 3.0
    value, g = dd.value_and_grad(lambda z: np.sum(z % 1.5))(x)
    assert value == np.sum(x % 1.5)
    np.testing.assert_array_equal(g, np.ones(size))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("size", [3, LARGE])
def test_cube_root_second_derivative_at_zero(size):
    # (1/3) x ** (-2/3) has the derivative -(2/9) x ** (-5/3): -inf at +0, as JAX gives (a
    # partial written as 1 / (3 ans ans) gave 0 * inf = NaN)
    x = np.zeros(size)
    x[1::2] = 0.5
    want = np.where(x == 0, -np.inf, -2.0 / 9.0 * x ** (-5.0 / 3.0))
    for modes in ("rr", "ff", "rf", "fr"):
        got = _derivative(np.cbrt, modes)(x)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=modes)


@pytest.mark.parametrize("n", [5, 14])  # signed minors up to 12, the SVD's derivative above
def test_det_hvp_at_a_singular_matrix_of_either_size(n):
    rng = np.random.default_rng(6)
    a = rng.integers(-3, 4, (n, n)).astype(float)
    a[-1] = a[0] + 2 * a[1]  # rank n - 1 exactly (integers: exact arithmetic)
    assert np.linalg.matrix_rank(a) == n - 1
    v = rng.standard_normal((n, n))
    eps = 1e-6
    want = (_cofactors(a + eps * v) - _cofactors(a - eps * v)) / (2 * eps)
    scale = np.abs(want).max()
    np.testing.assert_allclose(dd.hvp(np.linalg.det, a, v), want, atol=1e-6 * scale)
    np.testing.assert_allclose(dd.grad(np.linalg.det)(a), _cofactors(a), atol=1e-10 * scale)
