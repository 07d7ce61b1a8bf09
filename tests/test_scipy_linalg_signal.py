"""``dualdiff.scipy.linalg`` and ``dualdiff.scipy.signal``: SciPy's values, ownership, and
derivatives at special points and at sizes where the large-array layer engages.

The table lines (tests/cases/scipy_linalg.py, tests/cases/signal.py) check every function and
differentiable argument against finite differences, forward against reverse, batched and at
second order. Here: (1) values equal SciPy's, bit for bit, on plain arrays and inside
transforms; (2) inputs unchanged and no result sharing memory with an input; (3) closed forms,
special points (singular, near-singular, repeated eigenvalues, 1x1, size 0) and large arrays;
JAX's jax.scipy as an outside oracle when it is installed.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

import dualdiff as dd
from dualdiff.options import engine_options
from dualdiff.scipy import linalg as sla
from dualdiff.scipy import signal as sig
from tests._oracles import Unchanged, assert_owned
from tests.cases.linalg import spd, square, tall

RNG = np.random.default_rng(15)
A, S, S2 = square(4, seed=50), spd(4, seed=51), spd(4, seed=52)
V, M = RNG.standard_normal(4), RNG.standard_normal((4, 2))
T = np.triu(A)
AB = RNG.uniform(-1, 1, (3, 6)) + np.array([[0.0], [4.0], [0.0]])
X, K, IMG, KER, B6 = (RNG.standard_normal(s) for s in [(9,), (4,), (5, 6), (3, 2), (6, 2)])

# name -> (our function, SciPy's function, arguments, keywords): one call of each
CALLS = {
    "solve_triangular": (sla.solve_triangular, scipy.linalg.solve_triangular, (T, M), {}),
    "solve_triangular-T": (
        sla.solve_triangular, scipy.linalg.solve_triangular, (A, V),
        {"trans": "T", "lower": True, "unit_diagonal": True},
    ),
    "cholesky": (sla.cholesky, scipy.linalg.cholesky, (S,), {"lower": True}),
    "cho_factor": (sla.cho_factor, scipy.linalg.cho_factor, (S,), {}),
    "cho_solve": (
        sla.cho_solve, scipy.linalg.cho_solve, (scipy.linalg.cho_factor(S, lower=True), M), {}
    ),
    "lu_factor": (sla.lu_factor, scipy.linalg.lu_factor, (A,), {}),
    "lu_solve": (sla.lu_solve, scipy.linalg.lu_solve, (scipy.linalg.lu_factor(A), V), {"trans": 1}),
    "solve": (sla.solve, scipy.linalg.solve, (A, M), {}),
    "solve-pos": (sla.solve, scipy.linalg.solve, (S, V), {"assume_a": "pos", "lower": True}),
    "inv": (sla.inv, scipy.linalg.inv, (A,), {}),
    "det": (sla.det, scipy.linalg.det, (A,), {}),
    "expm": (sla.expm, scipy.linalg.expm, (A / 4,), {}),
    "sqrtm": (sla.sqrtm, scipy.linalg.sqrtm, (S,), {}),
    "logm": (sla.logm, scipy.linalg.logm, (S,), {}),
    "eigh": (sla.eigh, scipy.linalg.eigh, (S,), {}),
    "eigh-gen": (sla.eigh, scipy.linalg.eigh, (S, S2), {"eigvals_only": True}),
    "svd": (sla.svd, scipy.linalg.svd, (tall(5, 3),), {"full_matrices": False}),
    "qr": (sla.qr, scipy.linalg.qr, (tall(5, 3),), {"mode": "economic"}),
    "qr-pivoting": (sla.qr, scipy.linalg.qr, (A,), {"pivoting": True}),
    "solve_sylvester": (sla.solve_sylvester, scipy.linalg.solve_sylvester, (A, S2, M @ M.T), {}),
    "lyapunov": (
        sla.solve_continuous_lyapunov, scipy.linalg.solve_continuous_lyapunov, (A, S), {}
    ),
    "solve_banded": (sla.solve_banded, scipy.linalg.solve_banded, ((1, 1), AB, B6), {}),
    "block_diag": (sla.block_diag, scipy.linalg.block_diag, (A, V, np.array(2.0)), {}),
    "convolve": (sig.convolve, scipy.signal.convolve, (IMG, KER), {"mode": "same"}),
    "correlate": (sig.correlate, scipy.signal.correlate, (X, K), {"mode": "valid"}),
    "fftconvolve": (sig.fftconvolve, scipy.signal.fftconvolve, (X, K), {}),
}  # fmt: skip


def _leaves(x):
    return list(x) if isinstance(x, tuple) else [x]


def _assert_same(ours, theirs):
    assert type(ours) is type(theirs)
    for a, b in zip(_leaves(ours), _leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.shape(a) == np.shape(b) and np.result_type(a) == np.result_type(b)


@pytest.mark.parametrize("name", list(CALLS))
def test_plain_values_are_scipys_and_owned(name):
    ours, theirs, args, kwargs = CALLS[name]
    kept = Unchanged(args)
    out = ours(*args, **kwargs)
    _assert_same(out, theirs(*args, **kwargs))
    kept.check()
    assert_owned(out, args)


def _first_array(args):
    """The position of the first float array among ``args`` (what the transforms trace)."""
    return next(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.ndim)


@pytest.mark.parametrize("name", list(CALLS))
def test_values_inside_transforms_are_scipys(name):
    ours, theirs, args, kwargs = CALLS[name]
    i = _first_array(args)
    expected = theirs(*args, **kwargs)

    def f(x):
        out = ours(*args[:i], x, *args[i + 1 :], **kwargs)
        return out[0] if isinstance(out, tuple) else out

    first = expected[0] if isinstance(expected, tuple) else expected
    kept = Unchanged(args)
    value, tangent = dd.jvp(f, (args[i],), (np.ones_like(args[i]),))
    np.testing.assert_array_equal(value, first)
    value, pullback = dd.vjp(f, args[i])
    np.testing.assert_array_equal(value, first)
    cotangent = pullback(np.ones_like(first))
    kept.check()
    assert_owned([value, tangent, cotangent], args)


def test_overwrite_options_are_accepted_and_never_write():
    a, b = A.copy(), M.copy()
    kept = Unchanged(a, b)
    x = sla.solve(a, b, overwrite_a=True, overwrite_b=True, check_finite=False)
    np.testing.assert_array_equal(x, scipy.linalg.solve(A, M))
    sla.lu_factor(a, overwrite_a=True)
    sla.cho_factor(S.copy(), overwrite_a=True)
    g = dd.grad(lambda a: np.sum(sla.solve(a, b, overwrite_a=True, overwrite_b=True)))(a)
    kept.check()
    assert_owned(g, (a, b))


def test_namespaces_are_drop_ins():
    from dualdiff.scipy import linalg, signal

    assert linalg.hankel is scipy.linalg.hankel and signal.butter is scipy.signal.butter
    assert {"expm", "norm"} <= set(dir(linalg)) and "lfilter" in dir(signal)
    with pytest.raises(AttributeError):
        linalg.no_such_function  # noqa: B018


# -- closed forms ---------------------------------------------------------------------------------
def test_expm_closed_form():
    # d/dt expm(t A) = A expm(t A), in both modes
    d = dd.jacfwd(lambda t: sla.expm(t * A))(0.7)
    np.testing.assert_allclose(d, A @ scipy.linalg.expm(0.7 * A), rtol=1e-10)
    w = RNG.standard_normal(A.shape)
    g = dd.grad(lambda t: np.sum(w * sla.expm(t * A)))(0.7)
    np.testing.assert_allclose(g, np.sum(w * d), rtol=1e-10)


def test_sqrtm_squared_is_the_identity_map():
    # X^2 = A differentiated: X dX + dX X = dA, and the reverse mode agrees with jacfwd
    e = RNG.standard_normal(S.shape)
    x, dx = dd.jvp(sla.sqrtm, (S,), (e,))
    np.testing.assert_allclose(x @ dx + dx @ x, e, atol=1e-10)
    jac = dd.jacfwd(sla.sqrtm)(S)
    np.testing.assert_allclose(dd.jacrev(sla.sqrtm)(S), jac, atol=1e-10)
    sq = dd.jacfwd(lambda a: sla.sqrtm(a) @ sla.sqrtm(a))(S)
    np.testing.assert_allclose(sq, np.eye(16).reshape(4, 4, 4, 4), atol=1e-9)


def test_logm_closed_form_at_a_diagonal_matrix():
    d = np.array([0.5, 1.0, 2.0, 3.0])
    e = RNG.standard_normal((4, 4))
    ld = np.log(d)
    div = np.subtract.outer(ld, ld) / (np.subtract.outer(d, d) + np.eye(4)) + np.diag(1 / d)
    _, t = dd.jvp(sla.logm, (np.diag(d),), (e,))
    np.testing.assert_allclose(t, e * div, rtol=1e-8, atol=1e-10)
    g = dd.grad(lambda a: np.sum(e * sla.logm(a)))(np.diag(d))
    np.testing.assert_allclose(g, e * div, rtol=1e-8, atol=1e-10)


def test_logm_inverts_expm_to_second_order():
    b = 0.3 * RNG.standard_normal((3, 3))
    f = lambda b: sla.logm(sla.expm(b))
    np.testing.assert_allclose(dd.jacrev(f)(b), np.eye(9).reshape(3, 3, 3, 3), atol=1e-8)
    h = dd.hessian(lambda b: np.sum(f(b) ** 2))(b)
    np.testing.assert_allclose(h.reshape(9, 9), 2 * np.eye(9), atol=1e-6)


def test_cho_factor_keeps_scipys_other_triangle():
    c, lower = sla.cho_factor(S)
    np.testing.assert_array_equal(np.tril(c, -1), np.tril(S, -1))  # SciPy's "garbage"
    jac = dd.jacfwd(lambda a: sla.cho_factor(a)[0])(S)
    below = np.tril(np.ones((4, 4)), -1).astype(bool)
    np.testing.assert_array_equal(jac[below], np.eye(16).reshape(4, 4, 4, 4)[below])


def test_solve_variants_agree_with_numpy():
    grad = dd.grad(lambda a, b: np.sum(np.linalg.solve(a, b) ** 2), argnums=(0, 1))
    ref = grad(A, M)
    for f in [
        lambda a, b: sla.solve(a, b),
        lambda a, b: sla.lu_solve(sla.lu_factor(a), b),
        lambda a, b: sla.solve(a.T, b, transposed=True),
        lambda a, b: sla.lu_solve(sla.lu_factor(a.T), b, trans=1),
    ]:
        got = dd.grad(lambda a, b, f=f: np.sum(f(a, b) ** 2), argnums=(0, 1))(A, M)
        for x, y in zip(got, ref):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


# -- special points ----------------------------------------------------------------------------
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


def test_det_at_a_singular_matrix_is_exact():
    np.testing.assert_allclose(dd.grad(sla.det)(SINGULAR), [[4.0, -2.0], [-2.0, 1.0]])
    h = dd.hessian(sla.det)(SINGULAR)
    np.testing.assert_allclose(h, dd.hessian(np.linalg.det)(SINGULAR), atol=1e-12)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: sla.inv(a),
        lambda a: sla.solve(a, np.ones(2)),
        lambda a: sla.solve_triangular(a, np.ones(2)),
        lambda a: sla.lu_solve(sla.lu_factor(a), np.ones(2)),
    ],
)
def test_singular_matrices_raise_never_a_finite_wrong_number(f):
    # SciPy raises for inv, solve and solve_triangular; lu_factor only warns and lu_solve
    # gives inf / NaN: the derivatives then are not finite either
    a = np.array([[1.0, 2.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for transform in (dd.jacfwd, dd.jacrev):
            try:
                d = transform(f)(a)
            except np.linalg.LinAlgError:
                continue
            assert not np.all(np.isfinite(d))


@pytest.mark.filterwarnings("ignore")  # SciPy's own: singular, perturbed
@pytest.mark.parametrize(
    "f, x",
    [
        (sla.sqrtm, np.diag([0.0, 1.0])),
        (sla.logm, np.diag([0.0, 1.0])),
        (lambda q: sla.solve_sylvester(np.diag([0.0, 1.0]), np.diag([0.0, 2.0]), q), np.eye(2)),
        (lambda a: sla.solve_sylvester(a, np.diag([-1.0, 2.0]), np.eye(2)), np.diag([1.0, 3.0])),
        (lambda q: sla.solve_continuous_lyapunov(np.diag([0.0, -1.0]), q), np.eye(2)),
    ],
)
def test_perturbed_scipy_answers_have_nan_derivatives(f, x):
    # SciPy answers these singular problems with finite values of size 1 / eps; the derivative
    # (infinite) is NaN in both modes, never a finite number
    assert np.all(np.isfinite(f(x)))
    for transform in (dd.jacfwd, dd.jacrev):
        assert np.isnan(transform(f)(x)).any()


def test_near_singular_solve_matches_its_closed_form():
    a = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-7]])
    b = np.array([1.0, 2.0])
    e = RNG.standard_normal((2, 2))
    x = np.linalg.solve(a, b)
    _, dx = dd.jvp(lambda a: sla.solve(a, b), (a,), (e,))
    np.testing.assert_allclose(dx, -np.linalg.solve(a, e @ x), rtol=1e-6)
    g = dd.grad(lambda a: sla.solve(a, b)[0])(a)
    np.testing.assert_allclose(g, -np.outer(np.linalg.inv(a)[0], x), rtol=1e-6)


def test_repeated_eigenvalues_follow_numpys_convention():
    a = np.diag([1.0, 1.0, 2.0])
    # functions of the eigenvalues alone stay exact
    g = dd.grad(lambda a: np.sum(sla.eigh(a)[0] ** 2))(a)
    np.testing.assert_allclose(g, 2 * a)
    g = dd.grad(lambda a: np.sum(sla.eigh(a, eigvals_only=True) ** 2))(a)
    np.testing.assert_allclose(g, 2 * a)
    # the eigenvectors are not unique: their derivatives are not finite, never wrong numbers
    assert not np.all(np.isfinite(dd.grad(lambda a: np.sum(sla.eigh(a)[1] ** 3))(a)))
    ref = dd.grad(lambda a: np.sum(np.linalg.eigh(a)[1] ** 3))(a)
    np.testing.assert_array_equal(np.isfinite(ref), np.isfinite(dd.grad(
        lambda a: np.sum(sla.eigh(a)[1] ** 3))(a)))  # fmt: skip


def test_1x1_matrices():
    a = np.array([[2.0]])
    expected = {
        sla.expm: np.exp(2.0), sla.logm: 0.5, sla.sqrtm: 0.5 / np.sqrt(2.0), sla.inv: -0.25,
        sla.det: 1.0, sla.cholesky: 0.5 / np.sqrt(2.0),
        lambda a: sla.cho_factor(a)[0]: 0.5 / np.sqrt(2.0), lambda a: sla.lu_factor(a)[0]: 1.0,
        lambda a: sla.eigh(a)[0]: 1.0, lambda a: sla.svd(a)[1]: 1.0,
        lambda a: sla.solve_continuous_lyapunov(a, np.ones((1, 1))): -0.125,
    }  # fmt: skip
    for f, d in expected.items():
        for mode in (dd.jacfwd, dd.jacrev):
            np.testing.assert_allclose(np.ravel(mode(f)(a)), d, rtol=1e-12)


@pytest.mark.parametrize(
    "f, x",
    [
        (sla.expm, np.zeros((0, 0))),
        (sla.inv, np.zeros((0, 0))),
        (lambda a: sla.solve(a, np.zeros(0)), np.zeros((0, 0))),
        (lambda a: sla.solve_triangular(a, np.zeros((0, 2))), np.zeros((0, 0))),
        (lambda a: sla.block_diag(a, np.ones((1, 1))), np.zeros((0, 2))),
        (lambda x: sig.fftconvolve(x, np.ones((0, 2))), np.ones((2, 3))),
    ],
)
def test_size_0(f, x):
    out = f(x)
    for mode in (dd.jacfwd, dd.jacrev):
        assert mode(f)(x).shape == out.shape + x.shape
    assert dd.grad(lambda x: np.sum(f(x)))(x).shape == x.shape


def test_det_of_size_0_is_one_with_an_empty_gradient():
    assert sla.det(np.zeros((0, 0))) == 1.0
    assert dd.grad(sla.det)(np.zeros((0, 0))).shape == (0, 0)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_what_has_no_derivative_says_so():
    with pytest.raises(NotImplementedError, match="m >= n"):
        dd.grad(lambda a: np.sum(sla.qr(a)[1]))(np.ones((2, 3)))
    with pytest.raises(NotImplementedError, match="not unique"):
        dd.grad(lambda a: np.sum(sla.qr(a)[0]))(tall(4, 2))
    with pytest.raises(NotImplementedError, match="type=1"):
        dd.grad(lambda a: np.sum(sla.eigh(a, S2, type=2)[0]))(S)
    with pytest.raises(NotImplementedError, match="square"):
        dd.grad(lambda a: np.sum(sla.lu_factor(a)[0]))(np.ones((2, 3)))
    # SciPy's own errors pass through
    with pytest.raises(ValueError):
        dd.grad(lambda x: np.sum(sig.convolve(x, np.ones(2), mode="nope")))(np.ones(3))
    with pytest.raises(np.linalg.LinAlgError):
        dd.grad(lambda a: np.sum(sla.cholesky(a)))(-np.eye(2))


# -- large arrays (the large-array layer engages from 16384 elements) -----------------------------
@pytest.mark.parametrize("large", [True, False])
def test_large_convolve(large):
    x = RNG.standard_normal(16384)
    k = np.array([0.25, 0.5, -0.25, 0.1, 0.3])
    w = RNG.standard_normal(16388)
    kept = Unchanged(x, k, w)
    with engine_options(large=large):
        for mode in ("same", "full", "valid"):
            n = len(scipy.signal.convolve(x, k, mode))
            f = lambda x, k, n=n, mode=mode: np.sum(w[:n] * sig.convolve(x, k, mode))
            gx, gk = dd.grad(f, argnums=(0, 1))(x, k)
            full = np.zeros(16384 + 4)
            start = {"full": 0, "same": 2, "valid": 4}[mode]
            full[start : start + n] = w[:n]
            np.testing.assert_allclose(gx, scipy.signal.correlate(full, k, "valid"), atol=1e-10)
            np.testing.assert_allclose(gk, scipy.signal.correlate(full, x, "valid"), atol=1e-8)
            _, t = dd.jvp(f, (x, k), (w[:16384], k))
            np.testing.assert_allclose(t, np.vdot(gx, w[:16384]) + np.vdot(gk, k), rtol=1e-10)
            assert_owned([gx, gk], (x, k, w))
    kept.check()


def test_large_fftconvolve_matches_convolve():
    x, k = RNG.standard_normal((128, 128)), RNG.standard_normal((3, 3))
    w = RNG.standard_normal((128, 128))
    g1 = dd.grad(lambda x: np.sum(w * sig.fftconvolve(x, k, "same")))(x)
    g2 = dd.grad(lambda x: np.sum(w * sig.convolve(x, k, "same", "direct")))(x)
    np.testing.assert_allclose(g1, g2, atol=1e-10)


@pytest.mark.parametrize("large", [True, False])
def test_large_solve_triangular(large):
    t = np.triu(RNG.uniform(-1, 1, (128, 128))) + 8 * np.eye(128)
    b = RNG.standard_normal((128, 128))  # 16384 elements each
    w = RNG.standard_normal((128, 128))
    kept = Unchanged(t, b, w)
    with engine_options(large=large):
        f = lambda t, b: np.sum(w * sla.solve_triangular(t, b))
        gt, gb = dd.grad(f, argnums=(0, 1))(t, b)
        x = scipy.linalg.solve_triangular(t, b)
        wb = scipy.linalg.solve_triangular(t, w, trans=1)
        np.testing.assert_allclose(gb, wb, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gt, -np.triu(wb @ x.T), rtol=1e-10, atol=1e-12)
        e = np.triu(RNG.standard_normal((128, 128)))
        _, d = dd.jvp(f, (t, b), (e, w))
        np.testing.assert_allclose(d, np.vdot(gt, e) + np.vdot(gb, w), rtol=1e-9)
        assert_owned([gt, gb], (t, b, w))
    kept.check()


@pytest.mark.parametrize("large", [True, False])
def test_large_block_diag(large):
    blocks = [RNG.standard_normal((2, 2)) for _ in range(64)]  # a 128 x 128 result
    w = RNG.standard_normal((128, 128))
    with engine_options(large=large):
        out = dd.jvp(lambda *b: sla.block_diag(*b), tuple(blocks), tuple(blocks))
        np.testing.assert_array_equal(out[0], scipy.linalg.block_diag(*blocks))
        np.testing.assert_array_equal(out[1], scipy.linalg.block_diag(*blocks))
        grads = dd.grad(lambda *b: np.sum(w * sla.block_diag(*b)), argnums=tuple(range(64)))(
            *blocks
        )
        for i, g in enumerate(grads):
            np.testing.assert_array_equal(g, w[2 * i : 2 * i + 2, 2 * i : 2 * i + 2])
        assert_owned(list(grads), blocks + [w])


# -- JAX as an outside oracle ---------------------------------------------------------------------
def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# (name, f(module, x), x, symmetric): jax.scipy reads a symmetric input as symmetric, SciPy and
# dualdiff read one triangle; along symmetric directions they agree. The functions whose rules
# are new here (solve, inv, det, cholesky and svd reuse NumPy's, checked in tests/cases).
JAX_CASES = [
    ("solve_triangular", lambda m, a: m.solve_triangular(a, M, lower=True), A, False),
    ("cho_solve", lambda m, a: m.cho_solve(m.cho_factor(a), M), S, True),
    ("lu_solve", lambda m, a: m.lu_solve(m.lu_factor(a), V), A, False),
    ("expm", lambda m, a: m.expm(a), A / 4, False),
    ("eigh", lambda m, a: m.eigh(a)[0], S, True),
    ("qr", lambda m, a: m.qr(a, mode="economic")[1], tall(5, 3), False),
    ("solve_sylvester", lambda m, q: m.solve_sylvester(A, S2, q), M @ M.T, False),
]


@pytest.mark.parametrize("name, f, x, symmetric", JAX_CASES, ids=[c[0] for c in JAX_CASES])
def test_against_jax_scipy_linalg(name, f, x, symmetric):
    jax = _jax()
    import jax.scipy.linalg as jsl

    e = RNG.standard_normal(x.shape)
    e = e + e.T if symmetric else e
    _, ours = dd.jvp(lambda a: f(sla, a), (x,), (e,))
    _, theirs = jax.jvp(lambda a: f(jsl, a), (x,), (e,))
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "name, mode",
    [("convolve", "same"), ("correlate", "valid"), ("fftconvolve", "full")],
)
def test_against_jax_scipy_signal(name, mode):
    jax = _jax()
    import jax.scipy.signal as jss

    x, k = IMG, KER
    w = RNG.standard_normal(getattr(scipy.signal, name)(x, k, mode).shape)
    ours = dd.grad(lambda x, k: np.sum(w * getattr(sig, name)(x, k, mode)), argnums=(0, 1))(x, k)
    theirs = jax.grad(
        lambda x, k: (w * getattr(jss, name)(x, k, mode)).sum(), argnums=(0, 1)
    )(x, k)  # fmt: skip
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-9, atol=1e-12)


def test_gaussian_log_likelihood_hessian_matches_numpys():
    # the idiom the issue names: cho_factor / cho_solve inside a likelihood, to second order
    x, y = np.linspace(0.0, 1.0, 6), np.sin(np.linspace(0.0, 3.0, 6))

    def nll(theta, la):
        k = theta[0] * np.exp(-((x[:, None] - x[None, :]) ** 2) / theta[1]) + 0.1 * np.eye(6)
        if la is np.linalg:
            c = np.linalg.cholesky(k)
            return 0.5 * y @ np.linalg.solve(k, y) + np.sum(np.log(np.diagonal(c)))
        c, lower = la.cho_factor(k, lower=True)
        return 0.5 * y @ la.cho_solve((c, lower), y) + np.sum(np.log(np.diagonal(c)))

    theta = np.array([1.3, 0.4])
    np.testing.assert_allclose(nll(theta, sla), nll(theta, np.linalg), rtol=1e-12)
    for transform in (dd.grad, dd.hessian):
        np.testing.assert_allclose(
            transform(lambda t: nll(t, sla))(theta),
            transform(lambda t: nll(t, np.linalg))(theta),
            rtol=1e-9,
        )
    v = np.array([0.3, -1.0])
    hv = dd.hvp(lambda t: nll(t, sla), theta, v)
    np.testing.assert_allclose(hv, dd.hessian(lambda t: nll(t, np.linalg))(theta) @ v, rtol=1e-9)
