"""Complex intermediates and complex inputs, under JAX's convention (dualdiff/_complex.py).

Oracles: NumPy's own value of f; ownership (results share no memory with the inputs, inputs
unchanged); central differences of f on plain arrays (for a complex input z, the convention
says d/de f(z + e v) = Re(grad * v) for every complex direction v); forward against reverse;
JAX (float64) where it is installed, whose convention this is.
"""

import numpy as np
import pytest

import dualdiff as dd
from tests._oracles import Unchanged, _optional, assert_fd, assert_owned

jax = _optional("jax")
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

W = np.linspace(0.5, 1.5, 7)  # a weight vector, sliced to a program's size


def w(n):
    return np.resize(W, n)


# f(np) for np in (numpy, jax.numpy): a real input through complex values to a real output.
PROGRAMS = {
    "exp(1j x)": lambda m: lambda x: m.sum(m.real(m.exp(1j * x)) * w(x.size)),
    "abs ** 2": lambda m: lambda x: m.sum(m.abs(x * (1 + 2j) + 0.5j) ** 2),
    "abs at 0": lambda m: lambda x: m.sum(m.abs((x - x) * 1j + x * (2 - 1j))),
    "angle": lambda m: lambda x: m.sum(m.angle(m.exp(0.3j * x) * (x + 2j)) * w(x.size)),
    "imag, conj": lambda m: lambda x: m.sum(m.imag(m.conj(m.sin(x * (1 + 1j))) * x)),
    "holomorphic": lambda m: lambda x: m.sum(
        m.real(m.log(m.sqrt(x + 3j) ** 3 / m.cosh(x * 0.5j + 1) + m.tanh(x + 1j)))
    ),
    "powers": lambda m: lambda x: m.sum(m.abs((x + 1j) ** 2.5 + m.exp2(x * 1j) - 1 / (x + 2j))),
    "inverse trig": lambda m: lambda x: m.sum(
        m.real(m.arcsin(x * 0.3 + 0.2j) + m.arctan(x + 0.5j) * m.arccosh(x + 2j))
    ),
    "astype": lambda m: lambda x: m.sum(m.abs(x.astype(m.complex128) * (1 - 1j) + 2) ** 3),
    "sum, prod, cumsum": lambda m: lambda x: m.real(
        m.sum(m.cumsum(x * (1 + 0.5j))) * m.prod(x * 0.1 + 1j)
    ),
    "indexing, concatenate": lambda m: lambda x: m.sum(
        m.abs(m.concatenate([x[::2] * 1j, m.flip(x)[1:] + 2j, (x * (1 + 1j))[:1]])) ** 2
    ),
    "where, reshape": lambda m: lambda x: m.sum(
        m.real(m.where(x > 0.5, x * 1j, x + 1j).reshape(-1, 1) * (2 - 1j))
    ),
    "matmul, einsum": lambda m: lambda x: m.real(
        m.einsum("i,ij,j->", x * (1 + 1j), m.outer(x, x * 1j) + 1, x + 0.5j)
        + (x * 1j) @ (x + 1j)
    ),
    "linalg": lambda m: lambda x: m.real(
        m.sum(m.linalg.solve(m.diag(x + 2j) + 0.1, x * (1 - 1j)))
        + m.linalg.det(m.outer(x[:2], x[:2] * 1j) + 3 * m.eye(2))
    ),
    "real_if_close": lambda m: lambda x: m.sum(m.real_if_close(x + 0j) * x)
    if m is np
    else m.sum(x * x),
    "fft": lambda m: lambda x: m.sum(m.abs(m.fft.fft(x)) ** 2 * w(x.size)),
    "fft n, ortho": lambda m: lambda x: m.sum(
        m.imag(m.fft.ifft(x * 1j, 2 * x.size, norm="ortho")) ** 2
    ),
    "rfft, irfft": lambda m: lambda x: m.sum(m.fft.irfft(m.fft.rfft(x) * (1 + 0.3j), x.size) ** 3),
    "hfft, ihfft": lambda m: lambda x: m.sum(m.fft.hfft(m.fft.ihfft(x) * (1 - 0.5j)) ** 2),
    "fft2, shifts": lambda m: lambda x: m.sum(
        m.abs(m.fft.fftshift(m.fft.fft2(m.reshape(x[: x.size // 2 * 2], (2, -1))))) ** 2
        * m.fft.ifftshift(m.reshape(x[: x.size // 2 * 2], (2, -1)))
    ),
    "rfftn, irfftn": lambda m: lambda x: m.sum(
        m.fft.irfftn(m.fft.rfftn(m.reshape(x[: x.size // 2 * 2], (2, -1))) * 1j, (2, 4), (0, 1))
        ** 2
    ),
}
SIZES = {"small": 6, "large": 16384}
POINT = lambda n: np.linspace(0.2, 1.3, n) + 0.1 * np.sin(np.arange(n))  # noqa: E731


def _fd_checks(f, x, grad):
    """Central differences along a few directions against the gradient."""
    rng = np.random.default_rng(1)
    for _ in range(2):
        v = rng.normal(size=x.shape)
        assert_fd(f, x, v, float(np.dot(grad, v)), float(np.sum(np.abs(grad * v))))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_real_function_through_complex_values(name, size):
    n = SIZES[size]
    if size == "large" and name in ("matmul, einsum", "linalg"):
        n = 60  # dense n x n intermediates
    f = PROGRAMS[name](np)
    x = POINT(n)
    kept = Unchanged(x)
    value, grad = dd.value_and_grad(f)(x)
    np.testing.assert_allclose(value, f(x.copy()), rtol=1e-13)  # NumPy's value
    assert grad.dtype == np.float64
    _fd_checks(f, x, grad)
    v = np.cos(np.arange(n))
    out, tangent = dd.jvp(f, (x,), (v,))
    np.testing.assert_allclose(tangent, np.dot(grad, v), rtol=1e-9, atol=1e-9)
    assert_owned([grad, tangent, out], [x, v])
    kept.check()
    if jax is not None and size == "small":
        reference = np.asarray(jax.grad(PROGRAMS[name](jnp))(x))
        np.testing.assert_allclose(grad, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", PROGRAMS)
def test_jacobians_and_hessians_through_complex_values(name):
    f = PROGRAMS[name](np)
    x = POINT(6)
    vec = lambda x: np.stack([f(x), f(x * x)])  # noqa: E731  (two outputs)
    J = dd.jacfwd(vec)(x)
    np.testing.assert_allclose(dd.jacrev(vec)(x), J, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dd.jacobian(vec)(x), J, rtol=1e-9, atol=1e-12)
    H = dd.hessian(f)(x)
    np.testing.assert_allclose(H, dd.jacrev(dd.grad(f))(x), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(H, H.T, rtol=1e-8, atol=1e-10)
    for i in range(2):  # the Hessian's columns against differences of the gradient
        e = np.eye(6)[i]
        g = dd.grad(f)
        fd = (g(x + 1e-5 * e) - g(x - 1e-5 * e)) / 2e-5
        np.testing.assert_allclose(H[:, i], fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))
    if jax is not None:
        reference = np.asarray(jax.hessian(PROGRAMS[name](jnp))(x))
        np.testing.assert_allclose(H, reference, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", PROGRAMS)
def test_hessian_vector_products_through_complex_values_at_large_size(name):
    # forward over reverse at 16384 elements (a full Hessian is n x n): against central
    # differences of the gradient along v, and the symmetry <u, H v> == <v, H u>
    n = 60 if name in ("matmul, einsum", "linalg") else SIZES["large"]
    f = PROGRAMS[name](np)
    x = POINT(n)
    kept = Unchanged(x)
    v, u = np.cos(np.arange(n) * 0.7), np.sin(np.arange(n) * 1.3)
    hv, hu = dd.hvp(f, x, v), dd.hvp(f, x, u)
    # (assert_fd leaves out the elements whose step straddles np.where's switch)
    assert_fd(dd.grad(f), x, v, hv, float(np.max(np.abs(hv))))
    np.testing.assert_allclose(np.dot(u, hv), np.dot(v, hu), rtol=1e-9, atol=1e-9)
    assert_owned([hv, hu], [x, v, u])
    kept.check()


# -- complex inputs: grad, value_and_grad, vjp and jvp ------------------------------------------
COMPLEX_IN = {
    "abs ** 2": lambda m: lambda z: m.sum(m.abs(z) ** 2),  # JAX's example: 2 conj(z)
    "real * imag": lambda m: lambda z: m.sum(m.real(z) * m.imag(z) ** 2),
    "holomorphic inside": lambda m: lambda z: m.sum(m.real(m.exp(z) * m.sin(z * 1j)) + m.abs(z**3)),
    "angle": lambda m: lambda z: m.sum(m.angle(z) * m.abs(z)),
    "fft": lambda m: lambda z: m.sum(m.abs(m.fft.fft(z * m.conj(z[::-1]))) ** 2),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", COMPLEX_IN)
def test_the_gradient_at_a_complex_input_follows_jax_convention(name, size):
    n = SIZES[size] if name != "fft" else min(SIZES[size], 512)
    f = COMPLEX_IN[name](np)
    z = POINT(n) + 1j * np.cos(np.arange(n))
    kept = Unchanged(z)
    value, g = dd.value_and_grad(f)(z)
    np.testing.assert_allclose(value, f(z.copy()), rtol=1e-13)
    assert g.dtype == np.complex128
    rng = np.random.default_rng(0)
    for _ in range(2):  # d/de f(z + e v) = Re(g * v) for complex directions v
        v = rng.normal(size=n) + 1j * rng.normal(size=n)
        assert_fd(f, z, v, float(np.real(np.sum(g * v))), float(np.sum(np.abs(g * v))))
        _, tangent = dd.jvp(f, (z,), (v,))
        np.testing.assert_allclose(tangent, np.real(np.sum(g * v)), rtol=1e-9, atol=1e-9)
    (pulled,) = dd.vjp(f, z)[1](1.0)
    np.testing.assert_allclose(pulled, g, rtol=1e-12, atol=1e-14)
    assert_owned([g, pulled], [z])
    kept.check()
    if jax is not None and size == "small":
        np.testing.assert_allclose(g, np.asarray(jax.grad(COMPLEX_IN[name](jnp))(z)), rtol=1e-9)


def test_jax_cookbook_examples():
    # jax.grad(f)(3 + 4j) for f(z) = |z| ** 2 is 6 - 8j: the conjugate of the steepest ascent
    np.testing.assert_allclose(dd.grad(lambda z: np.abs(z) ** 2)(3.0 + 4.0j), 6.0 - 8.0j)
    # a holomorphic map's vjp: the cotangent times f'(z), not its conjugate
    out, pullback = dd.vjp(np.sin, np.array([1.0 + 2.0j]))
    np.testing.assert_allclose(pullback(np.array([1.0 + 0j]))[0], np.cos(1.0 + 2.0j))
    # jvp of a holomorphic map: f'(z) t
    _, t = dd.jvp(np.exp, (np.array([0.5j]),), (np.array([2.0 + 1j]),))
    np.testing.assert_allclose(t, np.exp(0.5j) * (2.0 + 1j))


@pytest.mark.parametrize("size", SIZES)
def test_complex_outputs_in_vjp_and_jvp(size):
    x = POINT(SIZES[size])
    kept = Unchanged(x)
    f = lambda x: np.exp(1j * x) * x  # noqa: E731
    out, pullback = dd.vjp(f, x)
    np.testing.assert_array_equal(out, f(x))  # NumPy's value
    ct = np.cos(np.arange(x.size)) - 2.0j * np.sin(np.arange(x.size))
    (g,) = pullback(ct)  # Re(ct * f'(x)) for a real x
    deriv = np.exp(1j * x) * (1j * x + 1)
    np.testing.assert_allclose(g, np.real(ct * deriv), rtol=1e-13, atol=1e-15)
    _, t = dd.jvp(f, (x,), (np.ones(x.size),))
    np.testing.assert_allclose(t, deriv, rtol=1e-13)
    assert g.dtype == np.float64 and t.dtype == np.complex128
    assert_owned([out, g, t], [x, ct])
    kept.check()


# -- what is refused, by name -------------------------------------------------------------------
REFUSED_OPS = {
    "maximum": lambda x: np.sum(np.real(np.maximum(x * 1j, x + 1j))),
    "norm": lambda x: np.linalg.norm(x * (1 + 1j)),
    "vdot": lambda x: np.real(np.vdot(x * 1j, x + 1j)),
    "sort": lambda x: np.sum(np.real(np.sort(x * (1 + 1j)))),
    "var": lambda x: np.var(x * (1 + 1j)),
}


@pytest.mark.parametrize("transform", ["grad", "jacfwd"])
@pytest.mark.parametrize("name", REFUSED_OPS)
def test_an_op_without_complex_rules_is_refused_by_name(name, transform):
    x = np.linspace(0.1, 1.0, 4)
    kept = Unchanged(x)
    with pytest.raises(TypeError, match="met complex values being differentiated"):
        getattr(dd, transform)(REFUSED_OPS[name])(x)
    kept.check()


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian", "hessian", "hvp"])
def test_complex_inputs_where_a_transform_has_no_convention(transform):
    z = np.array([1.0 + 1j, 2.0])
    f = lambda z: np.sum(np.abs(z) ** 2)  # noqa: E731
    with pytest.raises(TypeError, match="differentiates real-valued inputs; got a complex"):
        if transform == "hvp":
            dd.hvp(f, z, z)
        else:
            getattr(dd, transform)(f)(z)


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "jacobian", "hessian"])
def test_complex_outputs_are_refused_where_they_need_two_passes(transform):
    f = (lambda x: np.sum(x * 1j)) if transform in ("grad", "hessian") else (lambda x: x * 1j)
    with pytest.raises(TypeError, match="f returned a complex value"):
        getattr(dd, transform)(f)(np.ones(3))


def test_a_real_cotangent_is_required_for_a_real_output():
    with pytest.raises(TypeError, match="pass a real array"):
        dd.vjp(np.sin, np.ones(2))[1](np.ones(2) * 1j)


def test_the_tensor_layer_refuses_complex_values_by_name():
    x = dd.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="tensor layer differentiates real values only"):
        x * 1j


@pytest.mark.parametrize("size", SIZES)
def test_the_real_vocabulary_on_real_values(size):
    x = POINT(SIZES[size])
    f = lambda x: np.sum(np.real(x) * np.conj(x) + np.imag(x) + np.angle(x - 0.5) * x)  # noqa: E731
    g = dd.grad(f)(x)
    np.testing.assert_allclose(g, 2 * x + np.angle(x - 0.5), rtol=1e-12)
    v = np.cos(np.arange(x.size))
    np.testing.assert_allclose(dd.jvp(f, (x,), (v,))[1], np.dot(g, v), rtol=1e-12)
    assert x.real is x and np.real(x) is x  # NumPy's own: real of a real array is the array
    assert_owned([g], [x])


# -- np.linalg.eig and eigvals: complex results of a real matrix --------------------------------
U = np.cos(np.arange(16.0)).reshape(4, 4) + 1j * np.sin(np.arange(16.0) ** 1.5).reshape(4, 4)
EIG = {
    "eigvals": lambda a: np.sum(np.abs(np.linalg.eigvals(a) + 0.5) ** 2),
    "eig values": lambda a: np.sum(np.imag(np.linalg.eig(a)[0] * U[0])),
    "eig vectors": lambda a: np.sum(np.real(np.linalg.eig(a)[1] * U)),
    "eig vectors imag": lambda a: np.sum(np.imag(np.linalg.eig(a)[1] * U) ** 2),
    "eig reconstructed": lambda a: np.sum(
        np.abs(np.linalg.eig(a)[1] * np.linalg.eig(a)[0][..., None, :] + 0.3) ** 2
    ),
}
MATRICES = {
    "complex pairs": np.array(
        [[0.1, -1.2, 0.4, 0.3], [1.1, 0.2, -0.5, 0.6], [0.3, 0.7, -0.4, 1.5], [-0.2, 0.1, 0.8, 0.9]]
    ),
    # similar to diag(1, 2, 3.5, -1) by a full matrix: real, distinct eigenvalues in an order
    # that small steps keep (a triangular matrix is a special point of LAPACK's ordering)
    "real eigenvalues": (lambda p: p @ np.diag([1.0, 2.0, 3.5, -1.0]) @ np.linalg.inv(p))(
        np.eye(4) + 0.3 * np.cos(np.arange(16.0) * 1.7).reshape(4, 4)
    ),
    "batched": np.cos(np.arange(48.0) ** 1.3).reshape(3, 4, 4) + np.diag([0.0, 1.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("matrix", MATRICES)
@pytest.mark.parametrize("name", EIG)
def test_eig_and_eigvals_against_differences(name, matrix):
    a = MATRICES[matrix]
    f = lambda x: EIG[name](x.reshape(a.shape))  # noqa: E731
    x = a.ravel()
    kept = Unchanged(x)
    value, g = dd.value_and_grad(f)(x)
    np.testing.assert_allclose(value, f(x.copy()), rtol=1e-13)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.normal(size=x.shape)
        assert_fd(f, x, v, float(np.dot(g, v)), float(np.sum(np.abs(g * v))))
    np.testing.assert_allclose(dd.jacfwd(f)(x), g, rtol=1e-9, atol=1e-11)
    H = dd.hessian(f)(x)
    e = np.zeros_like(x)
    e[1] = 1.0
    fd = (dd.grad(f)(x + 1e-5 * e) - dd.grad(f)(x - 1e-5 * e)) / 2e-5
    np.testing.assert_allclose(H[:, 1], fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))
    assert_owned([g, H], [x])
    kept.check()


def test_eig_at_large_size():
    n = 128  # 16384 matrix entries
    a = np.cos(np.arange(n * n) * 0.37).reshape(n, n) + np.diag(np.arange(n, dtype=float))

    def f(a):
        vectors = np.linalg.eig(a)[1][:, :3]
        return np.sum(np.real(np.linalg.eigvals(a)) ** 2) + np.sum(np.abs(vectors))

    kept = Unchanged(a)
    g = dd.grad(f)(a)
    v = np.sin(np.arange(n * n)).reshape(n, n)
    assert_fd(f, a, v, float(np.sum(g * v)), float(np.sum(np.abs(g * v))))
    _, t = dd.jvp(f, (a,), (v,))
    np.testing.assert_allclose(t, np.sum(g * v), rtol=1e-8)
    assert_owned([g], [a])
    kept.check()
