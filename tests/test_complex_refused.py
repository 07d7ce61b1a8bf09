"""Complex intermediates are refused by name: dualdiff's rules are real, and a derivative carried
through a complex value would be wrong. Real functions of real values that merely mention the
complex vocabulary (np.real, np.conj, np.abs of a real array) keep working."""

import numpy as np
import pytest

import dualdiff as dd
from tests._fd import jacobian as fd_jacobian

SIZES = {"small": 3, "large": 20000}
COMPLEX = {
    "complex constant": lambda x: np.sum(np.real(np.exp(1j * x))),
    "complex array constant": lambda x: np.sum(np.abs(x * np.full(x.shape, 1 + 1j))),
    "astype(complex)": lambda x: np.sum(np.abs(x.astype(complex))),
    "complex dot": lambda x: np.real(np.dot(x, np.full(x.shape, 1j))),
}
TRANSFORMS = {
    "grad": lambda f, x: dd.grad(f)(x),
    "jacfwd": lambda f, x: dd.jacfwd(f)(x),
    "jacrev": lambda f, x: dd.jacrev(f)(x),
    "jvp": lambda f, x: dd.jvp(f, (x,), (x,)),
    "vjp": lambda f, x: dd.vjp(f, x)[1](1.0),
    "hessian": lambda f, x: dd.hessian(f)(x),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("kind", COMPLEX)
def test_a_complex_intermediate_raises_a_named_type_error(kind, transform, size):
    x = np.linspace(0.1, 1.0, SIZES[size])
    before = x.copy()
    with pytest.raises(TypeError, match="gave a complex result from values being differentiated"):
        TRANSFORMS[transform](COMPLEX[kind], x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("size", SIZES)
def test_the_complex_vocabulary_on_real_values_still_differentiates(size):
    f = lambda x: np.sum(np.real(x) * np.conj(x) + np.abs(x) ** 3 + np.angle(x) * x)  # noqa: E731
    x = np.linspace(-1.0, 1.0, SIZES[size] + 1)[1:]
    expected = 2 * x + 3 * x * np.abs(x) + np.angle(x)  # the angle of a real x: 0 or pi
    np.testing.assert_allclose(dd.grad(f)(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dd.jvp(f, (x,), (np.ones_like(x),))[1], expected.sum(), rtol=1e-9)
    if size == "small":
        np.testing.assert_allclose(dd.grad(f)(x), fd_jacobian(f, x), rtol=1e-6)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", COMPLEX)
def test_the_tensor_layer_refuses_a_complex_intermediate(kind, size):
    data = np.linspace(0.1, 1.0, SIZES[size])
    t = dd.tensor(data.copy(), requires_grad=True)
    with pytest.raises(TypeError, match="gave a complex result from values being differentiated"):
        COMPLEX[kind](t).backward()
    np.testing.assert_array_equal(t.value, data)
    plain = dd.tensor(data)  # no gradient: complex values are NumPy's business
    np.testing.assert_array_equal(np.asarray((plain * 1j).value), data * 1j)
