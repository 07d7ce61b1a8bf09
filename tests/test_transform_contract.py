"""The transforms' contract at its edges: output structures, argnums, size 0, the Jacobian's
memory budget, scalar (co)tangents, and a named error for every bad input.

Each family runs at a small size and a large one (at least 16384 elements, where the buffer
pool and deferred values engage); values are checked against NumPy, analytic derivatives and
finite differences, and returned arrays against the inputs' memory.
"""

import gc
import tracemalloc

import numpy as np
import pytest

import dualdiff as dd
from tests import _fd
from tests._oracles import assert_owned

SIZES = [5, 20_000]
RNG = np.random.default_rng(12)


@pytest.fixture(params=SIZES, ids=["small", "large"])
def x(request, deferring):
    return np.random.default_rng(request.param).uniform(0.5, 1.5, request.param)




# -- f's output structure --------------------------------------------------------------------

NOT_OUTPUTS = [
    (lambda x: None, "None"),
    (lambda x: "abc", "str"),
    (lambda x: (np.sin(x), "label"), "containing a str"),
    (lambda x: {"a": np.sum(x), "b": "label"}, "containing a str"),
]


# the transforms that push an input basis get a small input (the basis is n x n); the others a
# large one; those that take one scalar refuse any container first (None inside a structure is
# an empty structure, as in JAX: tests/test_jacobian_structures.py)
ONE_ARRAY = {"grad", "value_and_grad", "hessian"}


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacfwd", "jacrev", "jacobian",
                                       "hessian"])  # fmt: skip
@pytest.mark.parametrize("f, what", NOT_OUTPUTS)
def test_an_output_that_is_not_arrays_is_refused_by_name(transform, f, what, x):
    if transform in ONE_ARRAY and what.startswith("containing"):
        what = "(tuple|dict)"
    arg = x if transform in ("grad", "value_and_grad", "jacrev") else x[:3]
    with pytest.raises(TypeError, match=rf"dd\.{transform}: f returned .*{what}.*supports"):
        getattr(dd, transform)(f)(arg)


@pytest.mark.parametrize("f, what", NOT_OUTPUTS)
def test_jvp_and_vjp_refuse_an_output_that_is_not_arrays(f, what, x):
    with pytest.raises(TypeError, match=rf"dd\.jvp: f returned .*{what}"):
        dd.jvp(f, (x,), (x,))
    with pytest.raises(TypeError, match=rf"dd\.vjp: f returned .*{what}"):
        dd.vjp(f, x)


def test_an_object_array_of_traced_values_is_refused_with_the_way_out():
    def f(x):
        out = np.empty(2, dtype=object)
        out[0], out[1] = x[0], x[1]
        return out

    for transform in (dd.jacfwd, dd.jacrev):
        with pytest.raises(TypeError, match="dtype object.*np.stack"):
            transform(f)(np.array([1.0, 2.0]))


def test_grad_refuses_containers_and_names_the_shape_of_a_non_scalar(x):
    with pytest.raises(TypeError, match=r"dd\.grad: f returned a tuple"):
        dd.grad(lambda x: (np.sum(x), np.sum(x)))(x)
    with pytest.raises(ValueError, match=rf"dd\.grad .*\({x.size},\)"):
        dd.grad(np.sin)(x)
    with pytest.raises(ValueError, match=r"dd\.hessian .*\(3,\)"):
        dd.hessian(np.sin)(x[:3])


def test_constant_outputs_have_zero_derivatives(x):
    # a real constant is a value whose derivative is zero, not a structure error (as JAX)
    np.testing.assert_array_equal(dd.grad(lambda x: 2.0)(x), np.zeros(x.size))
    np.testing.assert_array_equal(dd.jacrev(lambda x: np.ones(2))(x[:4]), np.zeros((2, 4)))


def test_jacobians_of_dict_and_tuple_outputs_nest_as_jax(x):
    def f(x):
        return {"a": np.sin(x[:3]), "b": (np.sum(x**2), x[0] * x[1])}

    small = x[:4]
    for transform in (dd.jacfwd, dd.jacrev):
        J = transform(f)(small)
        assert set(J) == {"a", "b"} and isinstance(J["b"], tuple)
        np.testing.assert_allclose(J["a"], np.eye(3, 4) * np.cos(small[:3])[:, None], rtol=1e-12)
        np.testing.assert_allclose(J["b"][0], 2 * small, rtol=1e-12)
        np.testing.assert_allclose(J["b"][1], [small[1], small[0], 0.0, 0.0], rtol=1e-12)
        assert_owned(J, (small,))


def test_jacobians_of_tree_outputs_at_a_large_size(x):
    # reverse mode: a large input and few outputs; forward mode: few inputs, a large output
    def wide(x):
        return {"s": np.sum(np.sin(x)), "head": 2.0 * x[:2]}

    J = dd.jacrev(wide)(x)
    np.testing.assert_allclose(J["s"], np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(J["head"], 2.0 * np.eye(2, x.size), rtol=0)
    assert_owned(J, (x,))

    def tall(p):
        return (np.sin(p[0] * x), p[1] * x)

    p = np.array([0.3, -1.2])
    J = dd.jacfwd(tall)(p)
    np.testing.assert_allclose(J[0], np.stack([x * np.cos(p[0] * x), 0 * x], axis=1), rtol=1e-12)
    np.testing.assert_allclose(J[1], np.stack([0 * x, x], axis=1), rtol=0)
    assert_owned(J, (p, x))


def test_one_array_returned_twice_gives_two_arrays_of_their_own(x):
    for transform in (dd.jacfwd, dd.jacrev):
        small = x[:3]
        J = transform(lambda v: (v, v, {"again": v}))(small)
        for block in (J[0], J[1], J[2]["again"]):
            np.testing.assert_array_equal(block, np.eye(3))
        assert_owned(J, (small,))


def test_tree_inputs_and_tuple_argnums_nest_as_jax(x):
    def f(params, c):
        return np.tanh(params["w"] * c[:3] + params["b"]) * c[:3]

    params = {"w": np.array([0.5, -0.2, 1.1]), "b": np.array(0.3)}
    c = x[:3]
    for transform in (dd.jacfwd, dd.jacrev):
        J = transform(f, argnums=(0, 1))(params, c)
        assert isinstance(J, tuple) and set(J[0]) == {"w", "b"}
        for key in ("w", "b"):
            ref = _fd.jacobian(lambda v, k=key: f({**params, k: v}, c), params[key])
            np.testing.assert_allclose(J[0][key], ref, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(J[1], _fd.jacobian(lambda v: f(params, v), c), rtol=1e-6)
    H = dd.hessian(lambda a, b: np.sum(a**2 * b), argnums=(0, 1))(c, c + 1)
    np.testing.assert_allclose(H[0][1], np.diag(2 * c), rtol=1e-12)
    np.testing.assert_allclose(H[1][1], np.zeros((3, 3)), rtol=0)


# -- argnums -----------------------------------------------------------------------------------

TRANSFORMS = ["grad", "value_and_grad", "jacfwd", "jacrev", "jacobian", "hessian"]


def loss(a, b):
    return np.sum(a * np.sin(b))


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_repeated_argnums_are_refused_as_in_jax(transform, x):
    with pytest.raises(
        ValueError, match=rf"dd\.{transform}: argnums=\(0, 0\) names an argument twice"
    ):
        getattr(dd, transform)(loss, argnums=(0, 0))
    with pytest.raises(ValueError, match="twice"):  # the same argument, counted from the end
        getattr(dd, transform)(loss, argnums=(1, -1))(x, x)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_argnums_out_of_range_or_not_an_int_is_named(transform, x):
    with pytest.raises(TypeError, match=rf"dd\.{transform}: argnums asks for argument 2.* 2 "):
        getattr(dd, transform)(loss, argnums=2)(x, x)
    for bad in (1.5, "0", None):
        with pytest.raises(TypeError, match=rf"dd\.{transform}: argnums must be an int"):
            getattr(dd, transform)(loss, argnums=bad)


def test_negative_argnums_count_from_the_end(x):
    a, b = x, x[::-1].copy()
    np.testing.assert_allclose(dd.grad(loss, argnums=-1)(a, b), a * np.cos(b), rtol=1e-12)
    ga, gb = dd.grad(loss, argnums=(0, -1))(a, b)
    np.testing.assert_allclose(ga, np.sin(b), rtol=1e-12)
    np.testing.assert_allclose(gb, a * np.cos(b), rtol=1e-12)
    J = dd.jacobian(lambda a, b: a[:3] * b[:3], argnums=-1)(a, b)
    np.testing.assert_allclose(J, np.eye(3, b.size) * a[:3, None], rtol=1e-12)


def test_f_that_is_not_a_function_is_named(x):
    with pytest.raises(TypeError, match=r"dd\.grad: f must be a function .*dd\.grad\(f\)\(x\)"):
        dd.grad(np.sum(x))


# -- size 0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_dense_jacobian_of_size_zero_inputs_and_outputs(mode, x):
    empty = np.zeros((0, 3))
    J = dd.jacobian(lambda v: np.sin(v), mode=mode)(empty)
    assert J.shape == (0, 3, 0, 3)
    J = dd.jacobian(lambda v: np.sum(v) * x, mode=mode)(empty)  # a large output of size-0 input
    assert J.shape == (x.size, 0, 3)
    J = dd.jacobian(lambda v: v[:0] * 2.0, mode=mode)(x)  # no outputs
    assert J.shape == (0, x.size)
    J = dd.jacobian(lambda v: np.sum(v), mode=mode)(np.zeros(0))
    assert J.shape == (0,)
    plan = dd.plan_jacobian(lambda v: np.sin(v), np.zeros(0), mode=mode)
    assert (plan.n, plan.m, plan.passes) == (0, 0, 0)


def test_jacfwd_jacrev_hessian_hvp_of_size_zero(x):
    empty = np.zeros(0)
    for transform in (dd.jacfwd, dd.jacrev):
        assert transform(np.sin)(empty).shape == (0, 0)
        small = x if transform is dd.jacrev else x[:3]  # jacfwd's basis is n x n
        assert transform(lambda v: v[:0])(small).shape == (0, small.size)
        J = transform(lambda v: np.sum(v) + x)(empty)
        np.testing.assert_array_equal(J, np.zeros((x.size, 0)))
    assert dd.hessian(lambda v: np.sum(v**2))(empty).shape == (0, 0)
    assert dd.hvp(lambda v: np.sum(v**2), empty, empty).shape == (0,)
    np.testing.assert_array_equal(dd.grad(lambda v: np.sum(v**2) + np.sum(x))(empty), empty)


# -- the memory budget of a dense Jacobian ---------------------------------------------------

N = 2000
A = RNG.standard_normal((N, N)) / np.sqrt(N)
# read-only: a recording reads it by reference (a writeable constant is copied once per
# recording, since f could change it after use; that copy is f's memory, not the Jacobian's)
A.flags.writeable = False


def f_budget(x):
    return np.tanh(A @ x) * np.sin(x) + x**2


def f_budget_jacobian(x):
    return ((1 - np.tanh(A @ x) ** 2) * np.sin(x))[:, None] * A + np.diag(
        np.tanh(A @ x) * np.cos(x) + 2 * x
    )


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_max_memory_bounds_the_working_memory_of_every_mode(mode, empty_pool):
    # working memory: tracemalloc's peak (NumPy reports its buffers to it) minus the Jacobian
    budget = 8 * 2**20
    x = np.random.default_rng(3).standard_normal(N)
    gc.collect()
    tracemalloc.start()
    try:
        J = dd.jacobian(f_budget, mode=mode, max_memory=budget)(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - J.nbytes <= budget
    np.testing.assert_allclose(J, f_budget_jacobian(x), rtol=1e-10, atol=1e-12)
    plan = dd.plan_jacobian(f_budget, x, mode=mode, max_memory=budget)
    assert plan.passes > 1 and plan.memory <= budget


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_max_memory_at_a_small_size(mode, empty_pool):
    budget = 256 * 2**10
    x = np.linspace(-1.0, 1.0, 300)
    gc.collect()
    tracemalloc.start()
    try:
        J = dd.jacobian(lambda v: np.sin(v) * np.cumsum(v), mode=mode, max_memory=budget)(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - J.nbytes <= budget
    expected = np.tril(np.ones((300, 300))) * np.sin(x)[:, None]
    expected += np.diag(np.cos(x) * np.cumsum(x))
    np.testing.assert_allclose(J, expected, rtol=1e-12, atol=1e-15)


# -- scalar tangents and cotangents ----------------------------------------------------------


@pytest.mark.parametrize("ct", [1.0, 1, np.float64(1.0), np.array(1.0), np.int32(1)])
def test_a_scalar_output_takes_python_and_numpy_scalars_as_cotangents(ct, x):
    out, pullback = dd.vjp(lambda v: np.sum(v**2), x)
    (g,) = pullback(ct)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-12)
    assert g.dtype == np.float64
    assert_owned((g,), (x,))
    assert out == pytest.approx(np.sum(x**2), rel=1e-12)


@pytest.mark.parametrize("t", [2.0, 2, np.float64(2.0), np.array(2.0)])
def test_scalar_primals_take_python_and_numpy_scalars_as_tangents(t, x):
    out, tangent = dd.jvp(lambda s: s**3 * x, (1.5,), (t,))
    np.testing.assert_allclose(out, 1.5**3 * x, rtol=1e-12)
    np.testing.assert_allclose(tangent, 3 * 1.5**2 * 2.0 * x, rtol=1e-12)


def test_check_grads_of_a_scalar_function(x):
    # the reverse-mode dot test pulls back a random scalar cotangent (a float)
    dd.testing.check_grads(lambda v: np.sum(np.sin(v[:4]) * v[:4]), x, order=2)


def test_cotangents_of_tree_outputs_match_by_key_not_by_order(x):
    out, pullback = dd.vjp(lambda v: {"a": np.sum(v), "b": 2.0 * v}, x)
    (g,) = pullback({"b": np.ones(x.size), "a": 3.0})
    np.testing.assert_allclose(g, np.full(x.size, 5.0), rtol=0)


# -- errors on bad input -----------------------------------------------------------------------


def two(v):
    return np.sin(v), np.cos(v)


def test_vjp_cotangents_must_match_the_output_structure(x):
    _, pullback = dd.vjp(two, x)
    with pytest.raises(ValueError, match=r"dd\.vjp: the cotangent must have the structure .*"
                                         r"\(array, array\); got array"):  # fmt: skip
        pullback(x)
    with pytest.raises(ValueError, match=r"got \(array, array, array\)"):
        pullback((x, x, x))
    with pytest.raises(ValueError, match=r"dd\.vjp: cotangent shape \(2,\) at \[1\]"):
        pullback((x, x[:2]))
    with pytest.raises(TypeError, match=r"dd\.vjp: the cotangent \[0\] is None"):
        pullback((None, x))
    _, pullback = dd.vjp(lambda v: {"a": v}, x)
    with pytest.raises(ValueError, match=r"\{'a': array\}; got \{'b': array\}"):
        pullback({"b": x})


def test_jvp_primals_and_tangents_must_be_tuples(x):
    with pytest.raises(TypeError, match=r"dd\.jvp: primals and tangents must be tuples .*"
                                        r"dd\.jvp\(f, \(x,\), \(t,\)\)"):  # fmt: skip
        dd.jvp(np.sin, x, x)
    with pytest.raises(ValueError, match=r"dd\.jvp: got 1 primals but 2 tangents"):
        dd.jvp(np.sin, (x,), (x, x))
    with pytest.raises(ValueError, match=r"dd\.jvp: tangent shape \(3,\) at \[0\] does not "
                                         rf"match primal shape \({x.size},\)"):  # fmt: skip
        dd.jvp(np.sin, (x,), (x[:3],))
    with pytest.raises(TypeError, match=r"dd\.jvp: the tangent \[0\] is a str"):
        dd.jvp(np.sin, (x,), ("1",))
    with pytest.raises(ValueError, match=r"dd\.hvp: tangent shape \(3,\) does not match"):
        dd.hvp(lambda v: np.sum(v**3), x, x[:3])


def test_inputs_that_are_not_real_numbers_are_named(x):
    with pytest.raises(TypeError, match=r"real arrays and numbers; got a str"):
        dd.grad(lambda v: np.sum(v))("abc")
    with pytest.raises(TypeError, match=r"got a value of type object"):
        dd.jacfwd(lambda v: v)(object())
    with pytest.raises(TypeError, match="complex"):
        dd.jacrev(lambda v: v)(x + 1j)


@pytest.mark.parametrize(
    "option, message",
    [
        ({"mode": "sideways"}, r"mode must be one of \('auto', 'forward', 'reverse'\)"),
        ({"chunk_size": 0}, "chunk_size must be a positive int"),
        ({"chunk_size": 2.5}, "chunk_size must be a positive int"),
        ({"max_memory": -1}, "max_memory must be a positive int, in bytes"),
        ({"max_memory": 0}, "max_memory must be a positive int, in bytes"),
    ],
)
def test_jacobian_options_are_checked_when_given(option, message):
    with pytest.raises(ValueError, match=rf"dd\.jacobian: {message}"):
        dd.jacobian(np.sin, **option)
    with pytest.raises(ValueError, match=rf"dd\.jacobian: {message}"):
        dd.plan_jacobian(np.sin, np.ones(3), **option)


def test_jacobian_of_a_tree_output_nests_as_jacfwd(x):
    # the full contract of structures in dd.jacobian: tests/test_jacobian_structures.py
    J = dd.jacobian(lambda v: {"a": v, "b": None})(x[:3])
    assert list(J) == ["a", "b"] and J["b"] is None
    np.testing.assert_array_equal(J["a"], np.eye(3))


def scaled(a, *, b, scale=1.0):
    return scale * np.sum(a * np.sin(b))


def pair(a, *, scale=1.0):
    return scale * np.stack([np.sum(np.sin(a)), np.sum(a**2)])


@pytest.mark.parametrize("transform", ["grad", "value_and_grad"])
def test_keyword_arguments_reach_f_and_are_not_differentiated(transform, x):
    b, x0 = np.cos(x), x.copy()
    b0 = b.copy()
    out = getattr(dd, transform)(scaled)(x, b=b, scale=3.0)
    value, g = out if transform == "value_and_grad" else (None, out)
    if value is not None:
        assert value == scaled(x, b=b, scale=3.0)  # NumPy's value, bit for bit
    np.testing.assert_allclose(g, 3.0 * np.sin(b), rtol=1e-14)  # b is a constant
    assert not np.shares_memory(g, x) and not np.shares_memory(g, b)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian"])
def test_keyword_arguments_reach_f_in_every_jacobian(transform, x):
    J = getattr(dd, transform)(pair)(x, scale=-2.0)
    expected = -2.0 * np.stack([np.cos(x), 2 * x])
    np.testing.assert_allclose(J, expected, rtol=1e-13, atol=1e-13)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dd.jacobian(pair, mode=mode)(x, scale=-2.0), expected,
                                   rtol=1e-13, atol=1e-13)  # fmt: skip
    # the plan made for one keyword value is not reused for another
    np.testing.assert_allclose(dd.jacobian(pair)(x, scale=5.0), -2.5 * expected, rtol=1e-13)
    assert not np.shares_memory(J, x)


def test_keyword_arguments_reach_f_in_hessian_and_match_differences():
    x = np.random.default_rng(7).uniform(0.5, 1.5, 6)
    H = dd.hessian(lambda a, *, scale: scale * np.sum(np.sin(a) * a))(x, scale=0.5)
    np.testing.assert_allclose(H, np.diag(0.5 * (2 * np.cos(x) - x * np.sin(x))), atol=1e-14)
    J = _fd.jacobian(lambda a: pair(a, scale=1.5), x)
    np.testing.assert_allclose(dd.jacrev(pair)(x, scale=1.5), J, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [dd.sparse_jacobian, dd.sparse_hessian])
def test_keyword_arguments_to_a_sparse_transform_are_named(make, x):
    with pytest.raises(TypeError, match=r"dd\.sparse_\w+: keyword arguments .*'scale'.*partial"):
        make(lambda a, scale=1.0: np.sum(a**2) * scale)(x[:5], scale=2.0)


def test_an_executor_without_submit_is_named(x):
    with pytest.raises(TypeError, match=r"dd\.jacobian: executor must be a .*Executor"):
        dd.jacobian(np.sin, executor=4)


def test_check_grads_names_bad_options_inputs_and_outputs(x):
    with pytest.raises(ValueError, match=r"check_grads: modes must be .*'sideways'"):
        dd.testing.check_grads(np.sin, x, modes=("sideways",))
    with pytest.raises(ValueError, match="check_grads: order must be a positive int"):
        dd.testing.check_grads(np.sin, x, order=0)
    with pytest.raises(TypeError, match=r"check_grads: f returned None"):
        dd.testing.check_grads(lambda v: None, x)
    with pytest.raises(TypeError, match=r"real arrays and numbers; got a str"):
        dd.testing.check_grads(np.sin, "abc")
    with pytest.raises(AssertionError, match="forward mode vs finite differences"):
        dd.testing.check_grads(np.sin, x[:3], modes="fwd", order=1, eps=1.0)  # a coarse step


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_dense_jacobians_are_the_callers_own(mode, x):
    wide = dd.jacobian(lambda v: 2.0 * v[:3], mode=mode)
    J = wide(x)
    np.testing.assert_array_equal(J, 2.0 * np.eye(3, x.size))
    first = J.copy()
    p = np.array([0.5, -0.25])
    tall = dd.jacobian(lambda q: q[0] * x + q[1], mode=mode)(p)
    np.testing.assert_array_equal(tall, np.stack([x, np.ones(x.size)], axis=1))
    assert_owned((J, tall), (x, p))
    wide(x + 1.0)  # a later call writes nothing into an earlier result
    np.testing.assert_array_equal(J, first)
    identity = dd.jacobian(lambda v: v, mode=mode)(x[:4])
    np.testing.assert_array_equal(identity, np.eye(4))
    identity[0, 0] = 7.0  # writeable, and not a cached basis shared with later calls
    np.testing.assert_array_equal(dd.jacobian(lambda v: v, mode=mode)(x[:4]), np.eye(4))
