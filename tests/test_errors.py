"""Bad input gets a clear error, never a wrong number."""

import numpy as np
import pytest

import dualdiff as dd

X = np.array([1.0, 2.0, 3.0])
# bound at import, before any transform: NumPy's own np.array (np.array itself, read inside f,
# builds a traced array: tests/test_array_of_tracers.py)
bound_array = np.array


@pytest.mark.parametrize(
    "transform, mode",
    [(lambda f: dd.jacfwd(f), "forward"), (lambda f: dd.jacrev(f), "reverse")],
)
def test_unsupported_function_names_function_argument_mode_and_the_way_out(transform, mode):
    with pytest.raises(NotImplementedError) as info:
        transform(lambda x: np.histogram2d(x, x)[0])(X)
    msg = str(info.value)
    assert "numpy.histogram2d" in msg
    assert "argument 0" in msg and f"{mode}-mode" in msg
    assert "defjvp" in msg or "defvjp" in msg
    assert "primitive" in msg


def test_unsupported_ufunc_is_named():
    def halve_(a):
        return a / 2

    halve = np.frompyfunc(halve_, 1, 1)  # a ufunc of the user's, with no rule
    with pytest.raises(NotImplementedError, match="halve_"):
        dd.grad(lambda x: np.sum(halve(x)))(X)


def test_missing_rule_raises_during_the_forward_pass():
    calls = []

    def f(x):
        y = np.histogramdd(x)[0]
        calls.append("after")
        return y

    with pytest.raises(NotImplementedError):
        dd.grad(f)(X)
    assert calls == []


@pytest.mark.parametrize(
    "convert",
    [np.asarray, np.array, float, lambda x: x[0].item(), lambda x: bound_array([x[0], x[1]])],
)
def test_tracer_to_plain_array_or_float_raises_type_error(convert):
    for transform in (dd.grad, lambda f: lambda x: dd.jvp(f, (x,), (X,))[1]):
        with pytest.raises(TypeError, match="dualdiff.numpy"):
            transform(lambda x: np.sum(convert(x)))(X)


def test_writing_a_tracer_into_a_plain_array_raises():
    def f(x):
        out = np.zeros(3)
        out[:2] = x[1:]
        return np.sum(out)

    with pytest.raises(TypeError, match="drop its derivative"):
        dd.grad(f)(X)


@pytest.mark.parametrize("n", [3, 20000])
@pytest.mark.parametrize("transform", ["grad", "jvp", "hessian", "jacobian"])
def test_writing_a_traced_scalar_into_a_plain_array_element_names_the_fix(transform, n):
    # NumPy wraps dualdiff's TypeError in its own ValueError ("setting an array element with a
    # sequence"); the transforms raise dualdiff's, which names np.zeros_like
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]
        return np.sum(out)

    x = np.ones(n)
    calls = {
        "grad": lambda: dd.grad(f)(x),
        "jvp": lambda: dd.jvp(f, (x,), (x,)),
        "hessian": lambda: dd.hessian(f)(x[:3]),
        "jacobian": lambda: dd.jacobian(lambda x: np.atleast_1d(f(x)))(x),
    }
    with pytest.raises(TypeError, match=r"np.zeros_like\(x\)") as info:
        calls[transform]()
    assert not isinstance(info.value, ValueError)


def test_grad_of_non_scalar_output_names_the_shape():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        dd.grad(lambda x: x**2)(X)


def test_jvp_tangent_shape_mismatch():
    with pytest.raises(ValueError, match="tangent shape"):
        dd.jvp(np.sin, (X,), (np.ones(2),))
    with pytest.raises(ValueError, match="tangent shape"):
        dd.Dual(X, np.ones((2, 2)))


def test_vjp_cotangent_shape_mismatch():
    _, pullback = dd.vjp(np.sin, X)
    with pytest.raises(ValueError, match="cotangent shape"):
        pullback(np.ones(4))


def test_complex_input_is_refused_where_a_transform_has_no_convention():
    # grad, vjp and jvp take complex inputs (JAX's convention: tests/test_complex.py)
    with pytest.raises(TypeError, match="differentiates real-valued inputs; got a complex"):
        dd.jacfwd(lambda z: np.abs(z))(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="complex"):
        dd.Dual(np.array([1j]), np.array([1.0]))


def test_out_argument_on_traced_ufunc_is_refused():
    def f(x):
        buf = np.empty(3)
        np.sin(x, out=buf)
        return np.sum(buf)

    with pytest.raises(TypeError, match="out="):
        dd.grad(f)(X)


def test_unknown_jacobian_mode():
    with pytest.raises(ValueError, match="mode"):
        dd.jacobian(np.sin, mode="sideways")(X)


def test_tracers_nested_two_list_levels_deep_in_np_block():
    a = np.arange(4.0).reshape(2, 2)
    g = dd.grad(lambda a: np.sum(np.block([[a, 2 * a], [a * a, a]])))(a)
    np.testing.assert_allclose(g, 4.0 + 2 * a)


@pytest.mark.parametrize("n", [3, 20000])
def test_a_scipy_ufunc_without_a_rule_is_named_where_it_lives(n):
    import scipy.special as sc

    x = np.linspace(0.5, 1.5, n)
    for transform in (dd.grad, lambda f: lambda x: dd.jvp(f, (x,), (x,))):
        with pytest.raises(NotImplementedError, match=r"scipy\.special\.struve"):
            transform(lambda x: np.sum(sc.struve(1.0, x)))(x)


@pytest.mark.parametrize("n", [2, 16384])
def test_out_argument_on_a_traced_gufunc_is_refused(n):
    # np.matmul(a, x, out=buf) would leave buf holding the value without its derivative
    a, buf = np.ones((3, n)), np.zeros(3)
    for transform in (dd.grad, lambda f: lambda x: dd.jvp(f, (x,), (x,))[1]):
        with pytest.raises(TypeError, match="numpy.matmul: out= and where= are not supported"):
            transform(lambda x: np.sum(np.matmul(a, x, out=buf)))(np.ones(n))
    np.testing.assert_array_equal(buf, 0.0)
    if hasattr(np, "matvec"):
        with pytest.raises(TypeError, match="numpy.matvec: out="):
            dd.jvp(lambda x: np.matvec(a, x, out=np.zeros(3)), (np.ones(n),), (np.ones(n),))
