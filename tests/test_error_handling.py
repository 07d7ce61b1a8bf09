"""Derivative arithmetic stays out of the caller's error handling: the caller's np.errstate,
error callback and warnings filters see exactly the floating-point errors of the values f
computes (NumPy's own), never those of a derivative (sqrt's is infinite at 0), in every mode
and at both sizes."""

import warnings

import numpy as np
import pytest

import dualdiff as dd

SIZES = (6, 2 * 16384)


def point(n):
    return np.resize([0.0, 0.25, 1.0, 0.0, 4.0, 2.25], n)  # exact zeros: sqrt' is inf there


def fallback_on_error(x):
    with np.errstate(all="raise"):
        try:
            return np.sum(np.sqrt(x) * 3.0)
        except FloatingPointError:
            return np.sum(x) * 0.0


TRANSFORMS = {
    "grad": lambda f, x: dd.value_and_grad(f)(x)[0],
    "vjp": lambda f, x: dd.vjp(f, x)[0],
    "jvp": lambda f, x: dd.jvp(f, (x,), (np.ones_like(x),))[0],
    # forward over reverse: the value of f through both levels
    "hvp": lambda f, x: dd.jvp(lambda y: dd.value_and_grad(f)(y)[0], (x,), (np.ones_like(x),))[0],
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", TRANSFORMS)
def test_a_derivative_error_never_reaches_the_callers_try(name, n):
    x = point(n)
    want = fallback_on_error(x.copy())
    assert want == pytest.approx(3.0 * np.sum(np.sqrt(x)))  # NumPy took no fallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert TRANSFORMS[name](fallback_on_error, x) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("n", SIZES)
def test_the_callers_error_callback_and_recorded_warnings_see_numpys_errors_only(n):
    x = point(n)

    def f(y):
        return np.sum(np.sqrt(y) / (y + 1.0)) + np.sum(np.log(y + 0.5))

    def run(call):
        seen = []
        old = np.seterrcall(lambda kind, flag: seen.append(kind))
        try:
            with np.errstate(all="call"), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call()
        finally:
            np.seterrcall(old)
        return seen, [str(w.message) for w in caught]

    expected = run(lambda: f(x.copy()))
    for call in (
        lambda: dd.grad(f)(x),
        lambda: dd.jvp(f, (x,), (np.ones(n),)),
        lambda: dd.hvp(f, x, np.ones(n)),
    ):
        assert run(call) == expected


def test_jacfwd_takes_no_fallback():
    # small only: a large jacfwd of n inputs pushes n x n tangents (the jvp/hvp cases above
    # run the same forward arithmetic at the large size). The same f without its error
    # handling is the reference (0 * inf is NaN in forward mode).
    x = point(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        J = dd.jacfwd(lambda y: fallback_on_error(y) * np.ones(2))(x)
        want = dd.jacfwd(lambda y: np.sum(np.sqrt(y) * 3.0) * np.ones(2))(x)
    assert not np.any(J == 0.0)  # the fallback's derivative is zero
    np.testing.assert_array_equal(J, want)


@pytest.mark.parametrize("n", SIZES)
def test_an_infinite_derivative_under_raise_is_a_value_not_an_error(n):
    x = point(n)
    x0 = x.copy()
    with np.errstate(all="raise"):
        g = dd.grad(lambda y: np.sum(np.sqrt(y)))(x)
        t = dd.jvp(np.sqrt, (x,), (np.ones(n),))[1]
    with np.errstate(divide="ignore"):
        want = 0.5 / np.sqrt(x)  # NumPy's own inf at the zeros
    np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(t, want)
    np.testing.assert_array_equal(x, x0)
    assert not np.shares_memory(g, x) and not np.shares_memory(t, x)
