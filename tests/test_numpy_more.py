"""The NumPy functions of dualdiff/rules/numpy_more.py against NumPy's values, ownership,
finite differences with forward against reverse (at a small size and at one where the large-array
layer runs), JAX as a second oracle where jax.numpy has the function, and their special points
and named errors. (The rules' own table lines: tests/cases/numpy_more.py.)"""

import numpy as np
import pytest

import dualdiff as dd
from tests._oracles import Unchanged, assert_fd, assert_owned, check_function_of_a_vector

SMALL, LARGE = 12, 16386  # LARGE: the large-array layer engages from 16384 elements


def _point(n, seed=0):
    """Values in (-2, 2), at least 4 / n apart: no ties, and no two close enough for a
    finite-difference step to reorder them (unique and the set functions sort)."""
    return np.random.default_rng(seed).permutation(n) * (4.0 / n) - 2.0 + 0.5 / n


# Each family is f(x) of a 1-D x of even length n, returning an array, and the jax.numpy
# function that computes the same (None: jnp lacks one of the functions or it differs).
def unwrap(x):
    return np.unwrap(np.cumsum(x) * 2.0)


def polys(x):
    p = x[:4]
    q = np.polyadd(np.polymul(p, x[4:6]), np.polyder(p)) - np.polyint(p)[:5]
    return np.concatenate((q, np.polysub(p, x[6:7]), np.polydiv(p, x[4:6] + [2.0, 0.0])[0]))


def vander(x):
    return np.ravel(np.vander(x[:6], 4)) * np.sum(np.vander(x, 2), axis=1)[:24].sum()


def meshgrid(x):
    a, b = np.meshgrid(x, x[:3])
    return np.ravel(a * b)


def choose(x):
    index = np.arange(x.size) % 3
    return np.choose(index, [x, x**2, np.sin(x)])


def unique(x):
    doubled = np.concatenate((x, x[::3]))
    return np.unique(doubled) * np.union1d(x[:2], x)[0] + np.setxor1d(x[:1], x)[:2].sum()


def histogram(x):
    # the samples are constants (a sample crossing an edge is a jump finite differences would
    # straddle); the edges follow x's extremes, the counts x's weights
    samples = np.linspace(-1.0, 1.0, x.size) ** 3
    counts = np.histogram(samples, 7, weights=x**2)[0]
    density = np.histogram(samples, 5, weights=np.exp(x), density=True)[0]
    return np.concatenate((counts, np.histogram(x, 5)[1], density))


def bincount(x):
    return np.bincount(np.arange(x.size) % 5, x**2)


def matvec(x):
    a = np.reshape(x[: x.size - x.size % 4], (-1, 2, 2))
    return np.ravel(np.matvec(a, x[:2])) + np.ravel(np.vecmat(x[2:4], a))


def writes(x):
    y = np.reshape(x * 1.0, (2, -1))
    np.copyto(y, x[0] ** 2, where=np.arange(y.shape[1]) % 4 == 0)
    np.put(y, [0, 3], x[1:3] ** 2)
    np.putmask(y, np.arange(y.size).reshape(y.shape) % 5 == 1, np.sin(x[:3]))
    np.place(y, np.arange(y.size).reshape(y.shape) % 7 == 2, x[3:5] * 3.0)
    return np.ravel(y)


def _jnp():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


FAMILIES = [unwrap, polys, vander, meshgrid, choose, unique, histogram, bincount, matvec, writes]


@pytest.mark.parametrize("n", [SMALL, LARGE])
@pytest.mark.parametrize("f", FAMILIES, ids=lambda f: f.__name__)
def test_values_ownership_and_derivatives(f, n):
    if f is polys and n == LARGE:
        pytest.skip("polys reads the first seven values only")
    check_function_of_a_vector(f, _point(n))


# -- JAX as a second oracle -------------------------------------------------------------------
JAX_PAIRS = [
    ("unwrap", lambda x: np.unwrap(x * 3.0), lambda jnp, x: jnp.unwrap(x * 3.0)),
    ("poly", np.poly, lambda jnp, x: jnp.poly(x)),
    ("polymul", lambda x: np.polymul(x, x[:3]), lambda jnp, x: jnp.polymul(x, x[:3])),
    ("polyder", lambda x: np.polyder(x, 2), lambda jnp, x: jnp.polyder(x, 2)),
    ("polyint", lambda x: np.polyint(x, 2), lambda jnp, x: jnp.polyint(x, 2)),
    ("vander", np.vander, lambda jnp, x: jnp.vander(x)),
    ("cond", lambda x: np.linalg.cond(np.outer(x, x) + np.eye(x.size)),
     lambda jnp, x: jnp.linalg.cond(jnp.outer(x, x) + jnp.eye(x.size))),  # fmt: skip
    ("tensorinv", lambda x: np.linalg.tensorinv(np.reshape(np.outer(x, x) + 4 * np.eye(4),
                                                           (2, 2, 4))),
     lambda jnp, x: jnp.linalg.tensorinv(jnp.reshape(jnp.outer(x, x) + 4 * jnp.eye(4),
                                                     (2, 2, 4)))),  # fmt: skip
    # (jnp.unique's derivative is 0, though its values move with x: not an oracle here)
    ("histogram", lambda x: np.histogram(x, 3)[1], lambda jnp, x: jnp.histogram(x, 3)[1]),
    ("matvec", lambda x: np.matvec(np.outer(x, x), x), lambda jnp, x: jnp.matvec(
        jnp.outer(x, x), x)),  # fmt: skip
]


@pytest.mark.parametrize("name,f,jf", JAX_PAIRS, ids=[p[0] for p in JAX_PAIRS])
def test_jacobians_match_jax(name, f, jf):
    jax, jnp = _jnp()
    if not hasattr(jnp, name) and not hasattr(jnp.linalg, name):
        pytest.skip(f"jax.numpy has no {name}")
    x = np.array([1.3, -0.4, 2.1, 0.6])
    expected = np.asarray(jax.jacfwd(lambda x: jf(jnp, x))(x))
    np.testing.assert_allclose(np.asarray(jf(jnp, x)), f(x), rtol=1e-10, atol=1e-12)
    for jac in (dd.jacfwd(f)(x), dd.jacrev(f)(x)):
        np.testing.assert_allclose(jac, expected, rtol=1e-9, atol=1e-12)


def test_roots_match_jax():
    jax, jnp = _jnp()
    p = np.poly([1.0, 2.0, 3.5])  # distinct real roots, compared in ascending order
    mine = dd.jacfwd(lambda p: np.real(np.roots(p)))(p)[np.argsort(np.roots(p).real)]
    theirs = np.asarray(jax.jacfwd(lambda p: jnp.real(jnp.roots(p)))(p))
    theirs = theirs[np.argsort(np.asarray(jnp.roots(p)).real)]
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dd.jacrev(lambda p: np.real(np.roots(p)))(p),
                               dd.jacfwd(lambda p: np.real(np.roots(p)))(p), rtol=1e-12)


# -- special points ---------------------------------------------------------------------------
def test_unique_of_ties_sends_the_derivative_to_the_first_occurrence():
    x = np.array([2.0, 1.0, 2.0, 1.0, 3.0])
    g = dd.grad(lambda x: np.sum(np.unique(x) * [10.0, 100.0, 1000.0]))(x)
    np.testing.assert_array_equal(g, [100.0, 10.0, 0.0, 0.0, 1000.0])
    values, index, inverse, counts = np.unique(x, True, True, True)
    out = dd.jvp(lambda x: np.unique(x, True, True, True), (x,), (np.ones(5),))[0]
    for a, b in zip(out, (values, index, inverse, counts), strict=True):
        np.testing.assert_array_equal(a, b)


def test_vander_and_poly_at_zero_have_finite_derivatives():
    x = np.array([0.0, 0.5, -1.0])
    jac = dd.jacfwd(lambda x: np.vander(x, 4))(x)
    assert np.all(np.isfinite(jac))
    np.testing.assert_array_equal(jac[0, :, 0], [0.0, 0.0, 1.0, 0.0])  # d(x^k)/dx at 0
    np.testing.assert_array_equal(dd.jacrev(lambda x: np.vander(x, 4))(x), jac)
    h = dd.hessian(lambda x: np.sum(np.vander(x, 4)))(x)
    np.testing.assert_array_equal(np.diag(h), 6.0 * x + 2.0)
    assert np.all(np.isfinite(dd.jacfwd(np.poly)(x)))


def test_unwrap_adds_a_constant_multiple_of_the_period():
    p = np.array([0.0, 3.0, 6.5, 0.2, 7.0])
    np.testing.assert_array_equal(dd.jacfwd(np.unwrap)(p), np.eye(5))
    np.testing.assert_array_equal(dd.jacrev(np.unwrap)(p), np.eye(5))


@pytest.mark.parametrize(
    "f",
    [np.unwrap, np.unique, lambda x: np.trim_zeros(x * 0.0), lambda x: np.vander(x, 3),
     lambda x: np.meshgrid(x, x)[0], lambda x: np.histogram(x, 2)[1],
     lambda x: np.bincount(np.zeros(0, int), x), lambda x: np.polyadd(x, x)],
)  # fmt: skip
def test_size_zero(f):
    x = np.zeros(0)
    out, t = dd.jvp(f, (x,), (x,))
    np.testing.assert_array_equal(out, f(x))
    assert np.shape(t) == np.shape(out)
    assert dd.vjp(f, x)[1](np.zeros(np.shape(out)))[0].shape == (0,)


def test_histogram_of_equal_samples_widens_by_half_as_numpy():
    x = np.array([1.0, 1.0, 1.0])
    edges, jac = dd.jvp(lambda x: np.histogram(x, 2)[1], (x,), (np.ones(3),))
    np.testing.assert_array_equal(edges, np.histogram(x, 2)[1])
    np.testing.assert_allclose(jac, np.ones(3))  # every edge moves with the (tied) samples


def test_constants_have_no_derivative():
    x = np.array([0.5, -1.0, 2.0])

    def f(x):
        keep = np.all(x > -5) and np.any(x > 1) and not np.iscomplexobj(x)
        i = np.nanargmax(x) + np.nanargmin(x) + np.lexsort((x,))[0]
        rows, cols = np.tril_indices_from(np.outer(x, x))
        return x * keep * i + np.sum(np.outer(x, x)[rows, cols])

    np.testing.assert_allclose(dd.jacfwd(f)(x), dd.jacrev(f)(x), rtol=1e-12)
    assert_fd(f, x, np.ones(3), dd.jvp(f, (x,), (np.ones(3),))[1], 10.0)


# -- named errors ------------------------------------------------------------------------------
def test_writing_a_traced_value_into_a_plain_array_raises_the_named_error():
    def f(x):
        y = np.zeros(3)
        np.copyto(y, x)
        return y

    with pytest.raises(TypeError, match="cannot hold its derivative"):
        dd.grad(lambda x: np.sum(f(x)))(np.ones(3))
    # fill_diagonal dispatches on the array only: NumPy itself converts the value, and the
    # conversion's own error names the way out
    with pytest.raises(TypeError, match="drop its derivative"):
        dd.jacfwd(lambda x: (np.fill_diagonal(m := np.zeros((2, 2)), x), m)[1])(np.ones(2))


def test_numpy_errors_are_kept():
    with pytest.raises(ValueError, match="invalid entry"):
        dd.jacfwd(lambda x: np.choose([0, 2], [x, x]))(np.ones(2))
    with pytest.raises(ValueError, match="2-d"):
        dd.jacfwd(lambda x: (np.fill_diagonal(y := x * 1.0, 0.0), y)[1])(np.ones(2))
    with pytest.raises(NotImplementedError, match="period"):
        dd.grad(lambda t: np.sum(np.unwrap(np.ones(3) * t, period=t)))(4.0)
    with pytest.raises(NotImplementedError, match="1-D"):
        dd.jacfwd(np.poly)(np.eye(2))


# -- ndarray methods of traced arrays: in place where NumPy's are (sort, partition, fill, put) ----
def _methods(x):
    y = x * 2.0
    y.sort()  # in place, returns None
    s = x.copy()
    s[1:4].sort()  # through a view: the base sees it
    p = x.copy()
    p.partition(2)
    t = x.copy()
    t.put([0, x.size - 1], x[1:3] * 3.0)
    f = x.copy()
    f[: x.size // 2].fill(x[0])
    w = (x[:4] ** 2).reshape(2, 2).mT
    return np.concatenate(
        [y * np.arange(x.size), s, p[:2] * 0 + p[2], t, f, np.ravel(w), x.compress(x > 0)]
    )


def _methods_numpy(x):
    y = np.sort(x * 2.0)
    s = x.copy()
    s[1:4] = np.sort(s[1:4])
    p = np.partition(x, 2)
    t = x.copy()
    t[[0, x.size - 1]] = x[1:3] * 3.0
    f = x.copy()
    f[: x.size // 2] = x[0]
    w = np.swapaxes((x[:4] ** 2).reshape(2, 2), -1, -2)
    return np.concatenate(
        [y * np.arange(x.size), s, p[:2] * 0 + p[2], t, f, np.ravel(w), x[x > 0]]
    )


@pytest.mark.parametrize("n", [7, 16386])
def test_ndarray_methods_of_traced_arrays(n):
    x = np.cos(np.arange(n) * 1.3) + 0.01 * np.arange(n)  # distinct values: no ties
    kept = Unchanged(x)
    np.testing.assert_array_equal(_methods(x.copy()), _methods_numpy(x))
    out, t = dd.jvp(_methods, (x,), (np.sin(np.arange(n)),))
    np.testing.assert_array_equal(out, _methods_numpy(x))
    _, t_numpy = dd.jvp(_methods_numpy, (x,), (np.sin(np.arange(n)),))
    np.testing.assert_allclose(t, t_numpy, rtol=1e-15)
    w = np.cos(np.arange(out.size))
    g = dd.grad(lambda x: np.dot(_methods(x), w))(x)
    v = np.sin(np.arange(n))
    assert_fd(lambda x: np.dot(_methods_numpy(x), w), x, v, float(np.dot(g, v)),
              float(np.sum(np.abs(g * v))))  # fmt: skip
    assert_owned([g, t, out], [x])
    kept.check()
    assert np.searchsorted(np.sort(x), 0.5) == dd.jvp(
        lambda x: np.sort(x).searchsorted(0.5) + 0.0 * x[0], (x,), (v,)
    )[0]
    with pytest.raises(ValueError, match="matrix transpose with ndim < 2"):
        dd.grad(lambda x: np.sum(x.mT))(x)


def test_polymul_drops_leading_zeros_as_numpy_and_empty_writes_are_no_ops():
    # NumPy multiplies poly1d's coefficients: leading zeros dropped, [0.] for nothing
    b = np.array([1.0, 1.0])
    for a in (np.array([0.0, 1.0]), np.zeros(0), np.zeros(2), np.array([2.0, 0.0, 1.0])):
        out, t = dd.jvp(lambda a: np.polymul(a, b), (a,), (np.ones(a.shape),))
        np.testing.assert_array_equal(out, np.polymul(a, b))
        assert t.shape == out.shape
    # fill_diagonal with an empty value and a histogram with no bins write nothing, as NumPy's
    m = np.arange(9.0).reshape(3, 3)

    def filled(m, v):
        m = m * 1.0
        np.fill_diagonal(m, v)
        return m

    out, t = dd.jvp(filled, (m, np.zeros(0)), (np.ones((3, 3)), np.zeros(0)))
    np.testing.assert_array_equal(out, m)
    np.testing.assert_array_equal(t, np.ones((3, 3)))
    w = np.ones(5)
    out, t = dd.jvp(lambda w: np.histogram(np.arange(5.0), np.zeros(0), weights=w)[0], (w,), (w,))
    np.testing.assert_array_equal(out, np.histogram(np.arange(5.0), np.zeros(0), weights=w)[0])


@pytest.mark.parametrize("p", [[1.0, -3.0, 2.0, 0.0], [1.0, 0.5, 2.0, 1.0], [2.0, 0.3, -1.0, 0.0]])
def test_roots_move_with_every_coefficient_the_stripped_trailing_zero_included(p):
    # a trailing zero coefficient is a root at 0 that moves with it (np.roots strips it and
    # appends a zero): the implicit function theorem over all coefficients, against differences
    from tests._fd import jacobian as fd_jacobian

    p = np.array(p)
    for part in (np.real, np.imag):
        f = lambda p, part=part: part(np.roots(p))  # noqa: E731
        np.testing.assert_array_equal(dd.jvp(f, (p,), (p,))[0], f(p))
        J = dd.jacfwd(f)(p)
        np.testing.assert_allclose(J, fd_jacobian(f, p), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dd.jacrev(f)(p), J, rtol=1e-12, atol=1e-14)


# -- review: NumPy's dtypes and edge values ------------------------------------------------------
def _value_and_modes(f, x):
    """f's value through jvp and vjp, and jacfwd against jacrev and central differences."""
    from tests._fd import jacobian as fd_jacobian

    expected = f(x.copy())
    for out in (dd.jvp(f, (x,), (np.ones_like(x),))[0], dd.vjp(f, x)[0]):
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == expected.dtype and out.shape == expected.shape
    J = dd.jacfwd(f)(x)
    np.testing.assert_allclose(dd.jacrev(f)(x), J, rtol=1e-5, atol=1e-6)
    if x.dtype == np.float64:
        np.testing.assert_allclose(J, fd_jacobian(f, x), rtol=1e-6, atol=1e-8)
    return expected, J


def test_polydiv_computes_in_float32_as_numpy():
    # NumPy divides in u[0] + v[0]'s type: float32 stays float32, and its remainder trimming
    # sees float32 residues (we gave float64 values and an untrimmed remainder term)
    x = np.array([1.5, -0.3, 2.0, 0.7], np.float32)
    _value_and_modes(lambda a: np.concatenate(np.polydiv(a, a[:2])), x)
    _value_and_modes(lambda a: np.polydiv(a, np.array([1.0, 2.0]))[0], x)
    _value_and_modes(lambda a: np.concatenate(np.polydiv(a, a[:2])), x.astype(float))


def test_vander_and_sort_complex_give_numpys_dtypes():
    # np.vander promotes with int (float32 -> float64, multiplied in float64); np.sort_complex
    # of real floats gives complex128 (we gave float32 and complex64)
    x = np.array([0.0, 0.5, -1.3, 2.1], np.float32)
    _value_and_modes(lambda a: np.vander(a, 3), x)
    _value_and_modes(lambda a: np.real(np.sort_complex(a)), x)
    out = dd.jvp(np.sort_complex, (x,), (np.ones(4, np.float32),))[0]
    assert out.dtype == np.sort_complex(x).dtype == np.complex128
    _, J = _value_and_modes(lambda a: np.vander(a, 4, increasing=True), x.astype(float))
    np.testing.assert_array_equal(J[0, :, 0], [0.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("trim", ["fb", "f", "b", "B"])
def test_trim_zeros_of_all_zeros_is_empty_for_every_trim(trim):
    # NumPy trims an all-zero array to nothing whatever `trim` says ('f' kept it whole)
    x = np.array([0.7, 0.3, 1.5, 0.2])
    _value_and_modes(lambda a: np.trim_zeros(a * 0.0, trim), x)
    mask = np.array([0.0, 1.0, 0.0, 1.0])
    _value_and_modes(lambda a: np.trim_zeros(a * mask, trim), x)
    _value_and_modes(lambda a: np.trim_zeros(np.reshape(a * mask, (2, 2)), trim, axis=-1), x)
    with pytest.raises(np.exceptions.AxisError):
        dd.jacfwd(lambda a: np.trim_zeros(np.reshape(a, (2, 2)), axis=2))(x)


@pytest.mark.parametrize("p", [1, -1, np.inf, -np.inf, "fro", "nuc", None, -2])
def test_cond_of_a_stack_with_a_singular_matrix_and_in_float32(p):
    # NumPy inverts each matrix on its own in double precision: a singular one gives inf and
    # leaves the others' values (we gave inf for the whole stack), float32 is inverted in
    # float64 (we inverted in float32: a last-bit difference at p=-inf)
    m = np.array([2.0, 0.3, -0.5, 0.1, 1.5, 0.4, -0.2, 0.6, 3.0])
    _, J = _value_and_modes(lambda a: np.linalg.cond(np.reshape(a, (3, 3)), p), m)
    _value_and_modes(lambda a: np.linalg.cond(np.reshape(a, (3, 3)), p), m.astype(np.float32))
    if p in (None, -2):
        return  # through the SVD: an outer product is not exactly singular there
    stack = lambda a: np.stack([np.reshape(a, (3, 3)), np.outer(a[:3], a[:3])])  # noqa: E731
    cond = lambda a: np.linalg.cond(stack(a), p)  # noqa: E731
    if p == "nuc":  # NumPy's SVD of the inverse's infinities fails: the same error
        with pytest.raises(np.linalg.LinAlgError):
            cond(m)
        with pytest.raises(np.linalg.LinAlgError):
            dd.jacfwd(cond)(m)
        return
    out, t = dd.jvp(cond, (m,), (np.ones(9),))
    np.testing.assert_array_equal(out, cond(m))
    assert np.isinf(out[1]) and np.isfinite(out[0]) and np.isfinite(t[0])
    np.testing.assert_allclose(dd.jacfwd(cond)(m)[0], J, rtol=1e-12)
    np.testing.assert_allclose(dd.jacrev(cond)(m)[0], J, rtol=1e-12)


def test_intersect1d_and_empty_bincount_give_numpys_dtypes():
    # intersect1d's values have both arrays' common type (a float32 ar1 with a float64 ar2 gave
    # float32); a bincount of no samples is NumPy's int zeros, weighted or not (we gave float)
    x = np.array([0.3, -1.2, 2.5, 0.7], np.float32)
    other = np.array([0.75, 5.0, 2.5])
    _value_and_modes(lambda a: np.intersect1d(a, other), x)
    _value_and_modes(lambda a: np.intersect1d(a, np.concatenate((a[1:3], other))), x)
    for n in (0, 3):
        f = lambda w, n=n: np.bincount(np.zeros(0, int), w, minlength=n)  # noqa: E731
        out, t = dd.jvp(f, (np.zeros(0),), (np.zeros(0),))
        np.testing.assert_array_equal(out, f(np.zeros(0)))
        assert out.dtype == f(np.zeros(0)).dtype and t.shape == (n,)
        assert dd.vjp(f, np.zeros(0))[1](np.ones(n))[0].shape == (0,)


def _written(write):
    def f(a):
        y = np.reshape(a[:12] * 1.0, (4, 3))
        write(y, a)
        return np.ravel(y)

    return f


@pytest.mark.parametrize(
    "write",
    [lambda y, a: np.place(y, np.ravel(y > 0), a[12:14]),  # a mask of the same size, flat
     lambda y, a: np.putmask(y, np.reshape(y > 0, (2, 6)), a[12:15]),
     lambda y, a: np.put_along_axis(y, np.array([0, -12, 11]), a[12:15], axis=None),
     lambda y, a: np.put(y, [0.0, 1.7, -1], a[12:15])],
    ids=["place-flat-mask", "putmask-reshaped-mask", "put_along_axis-None-negative", "put-float"],
)  # fmt: skip
def test_writers_accept_what_numpy_accepts(write):
    # place raised on a flat mask NumPy takes (it pairs mask and array by size)
    x = np.random.default_rng(0).standard_normal(16)
    kept = Unchanged(x)
    _value_and_modes(_written(write), x)
    kept.check()


@pytest.mark.parametrize(
    "write,error",
    [(lambda y, a: np.put(y, [0], a[12:14], mode="x"), ValueError),  # we wrote with "raise"
     (lambda y, a: np.putmask(y, np.array([True, False, True]), a[12:15]), ValueError),  # we
     (lambda y, a: np.place(y, np.ones(5, bool), a[12:15]), ValueError),  # broadcast masks
     (lambda y, a: np.put_along_axis(y, np.array([0, 50]), a[12:14], axis=None), IndexError),
     (lambda y, a: np.put(y[:0], [0], a[12:14], mode="wrap"), IndexError),  # ValueError
     (lambda y, a: np.put(y[:0], [0], a[12:14], mode="clip"), IndexError)],
    ids=["put-mode", "putmask-broadcast", "place-size", "put_along_axis-None-out-of-bounds",
         "put-empty-wrap", "put-empty-clip"],
)  # fmt: skip
def test_writers_raise_where_numpy_raises(write, error):
    # each of these wrote a value (or raised another error) where NumPy raises: the index 50
    # of 12 elements wrapped to 2
    x = np.random.default_rng(0).standard_normal(16)
    with pytest.raises(error):
        _written(write)(x.copy())
    with pytest.raises(error):
        dd.jvp(_written(write), (x,), (x,))
    with pytest.raises(error):
        dd.vjp(_written(write), x)


def test_histogram_density_of_float32_weights_is_float64_as_numpy():
    # NumPy divides by the bin widths as float64: float32 samples and weights gave float32
    w = np.array([0.3, -1.2, 2.5, 0.7, -0.4, 1.1], np.float32)
    s = np.array([0.1, 0.55, 0.35, 0.9, 0.72, 0.2], np.float32)
    _value_and_modes(lambda a: np.histogram(s, 3, weights=a, density=True)[0], w)
    _value_and_modes(lambda a: np.histogram(a, 3, weights=a * a, density=True)[0], w)
    _value_and_modes(lambda a: np.histogram(s, 3, weights=a, density=True)[0], w.astype(float))


@pytest.mark.parametrize("fn", [np.matvec, np.vecmat])
@pytest.mark.parametrize(
    "kw", [{"axes": [(1, 0), 0, 0]}, {"dtype": np.float32}, {"out": np.zeros(2)}]
)
def test_matvec_keywords_raise_a_named_error(fn, kw):
    # the rules know the default axes only: a keyword crashed inside the rule (TypeError:
    # unexpected keyword argument) instead of naming itself
    a, x = np.arange(1.0, 5.0).reshape(2, 2), np.array([0.5, -1.0])
    if fn is np.vecmat and "axes" in kw:
        kw = {"axes": [0, (1, 0), 0]}
    fn(a, x, **kw) if fn is np.matvec else fn(x, a, **kw)  # NumPy accepts them
    call = (lambda x: fn(a, x, **kw)) if fn is np.matvec else (lambda x: fn(x, a, **kw))
    for transform in (lambda f: dd.jvp(f, (x,), (x,)), lambda f: dd.vjp(f, x)[1](x)):
        name = next(iter(kw))  # out= is refused for every ufunc, by the hook
        match = f"numpy.{fn.__name__}: out=" if name == "out" else f"np.{fn.__name__}: {name}="
        with pytest.raises(TypeError, match=match):
            transform(call)
