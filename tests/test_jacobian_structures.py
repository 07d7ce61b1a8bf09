"""dd.jacobian on structures: tuples, lists and dicts of arrays and numbers in and out (None an
empty structure, as in JAX), dense in every mode, chunked and on an executor, and sparse (one
flat matrix in ravel order, with dd.ravel_pytree and dd.sparse.unravel_jacobian to map back).

Three oracles: (1) values and structure equal dd.jacfwd / dd.jacrev (exact structure and dtypes,
values to 1e-12) and central differences of f on plain NumPy; (2) ownership: no returned array
shares memory with an input or another result, inputs are unchanged (checksums), a later call
leaves an earlier result alone; (3) forward, reverse and auto modes, chunk_size 1 and 2, an
executor, and special leaves (size 0, 0-d, Python floats, NumPy scalars, integers, float32).

Every family runs at a small size and a large one (a leaf of pool.MIN_SIZE = 16384 elements,
where the large-array layer engages), the other side of the Jacobian kept small: a large input
with a few outputs ("wide", whose cheap mode is reverse) or a few inputs with a large output
("tall", forward). Forward mode on a wide problem (or reverse on a tall one) at the large size
costs n passes of a large f, so it runs once per problem, unchunked.
"""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

import dualdiff as dd
from dualdiff.large import pool
from tests._oracles import assert_owned
from tests._trees import leaves as leaves_of
from tests._trees import rebuilt

SMALL, LARGE = 5, pool.MIN_SIZE
SIZES = {"small": SMALL, "large": LARGE}
ATOL = RTOL = 1e-12  # dd.jacobian against jacfwd / jacrev: the same arithmetic, reordered


@pytest.fixture(scope="module")
def executor():
    with ThreadPoolExecutor(2) as ex:
        yield ex


# -- reading structures (the tests' own: no dualdiff helper checks itself) ---------------------


def assert_same(got, want, path="J", rtol=RTOL, atol=ATOL, dtypes=True):
    """The same nesting (types, lengths, keys in order, None where None) and leaves: arrays of
    the same shape (and dtype) and values."""
    if isinstance(want, tuple | list):
        assert type(got) is type(want) and len(got) == len(want), f"{path}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]", rtol, atol, dtypes)
    elif isinstance(want, dict):
        assert type(got) is dict and list(got) == list(want), f"{path}: keys {list(got)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]", rtol, atol, dtypes)
    elif want is None:
        assert got is None, f"{path}: {got!r} where None was expected"
    else:
        assert type(got) is np.ndarray, f"{path}: {type(got).__name__}, not an ndarray"
        assert got.shape == np.shape(want), f"{path}: shape {got.shape} vs {np.shape(want)}"
        if dtypes:
            assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} vs {want.dtype}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=path)


def checksums(tree):
    return [hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() + str(np.shape(x))
            for x in leaves_of(tree)]  # fmt: skip


def as_float64(tree):
    return rebuilt(tree, iter([np.asarray(x, dtype=np.float64) for x in leaves_of(tree)]))


def blocks_fd(f, tree, h=1e-6):
    """Central differences of f (on float64 copies of the leaves), one block per output leaf
    and input leaf, in (output, input) order: the leaves of the nested Jacobian."""
    tree = as_float64(tree)
    out_shapes = [np.shape(x) for x in leaves_of(f(tree))]
    columns = []  # per input leaf: per element, the output leaves' differences
    for j, leaf in enumerate(leaves_of(tree)):
        per_element = []
        for e in range(leaf.size):
            step = np.zeros(leaf.size)
            step[e] = h
            ends = []
            for sign in (1, -1):
                leaves = leaves_of(tree)
                leaves[j] = leaves[j] + sign * step.reshape(leaf.shape)
                ends.append(leaves_of(f(rebuilt(tree, iter(leaves)))))
            per_element.append([(np.asarray(a, float) - np.asarray(b, float)) / (2 * h)
                                for a, b in zip(*ends)])  # fmt: skip
        columns.append((leaf.shape, per_element))
    blocks = []
    for o, o_shape in enumerate(out_shapes):
        for shape, per_element in columns:
            if not per_element:  # a leaf of size 0
                blocks.append(np.zeros(o_shape + shape))
                continue
            stacked = np.array([d[o] for d in per_element]).reshape((len(per_element),) + o_shape)
            blocks.append(np.moveaxis(stacked, 0, -1).reshape(o_shape + shape))
    return blocks


def slope_fd(f, tree, v, h=1e-6):
    """Central differences of f along the direction ``v`` (a structure like ``tree``): the
    output leaves' derivatives."""
    tree, v = as_float64(tree), as_float64(v)

    def at(s):
        return leaves_of(f(rebuilt(tree, iter([x + s * d for x, d in
                                               zip(leaves_of(tree), leaves_of(v))]))))  # fmt: skip

    return [(np.asarray(a, float) - np.asarray(b, float)) / (2 * h) for a, b in zip(at(h), at(-h))]


def contracted(J, out, v):
    """``J @ v`` per output leaf, from the nested blocks (output leaf o's blocks are the leaves
    of its input structure, in order)."""
    blocks = leaves_of(J)
    n_in = len(leaves_of(v))
    result = []
    for o, o_leaf in enumerate(leaves_of(out)):
        row = blocks[o * n_in : (o + 1) * n_in]
        result.append(sum((np.tensordot(b, d, axes=np.ndim(d)) for b, d in
                           zip(row, leaves_of(v))), np.zeros(np.shape(o_leaf))))  # fmt: skip
    return result


def random_like(tree, rng):
    return rebuilt(tree, iter([rng.standard_normal(np.shape(x)) for x in leaves_of(tree)]))


# -- the problems ------------------------------------------------------------------------------


def wide_point(n, rng):
    """A large input leaf (n elements) among small and special ones; few outputs."""
    return {
        "w": rng.uniform(0.5, 1.5, n),
        "s": {"b": 0.7, "c": np.array(1.3)},  # a Python float, a 0-d array
        "t": (np.float64(0.4), rng.uniform(0.5, 1.5, 2)),  # a NumPy scalar
        "e": np.zeros((0, 3)),  # size 0
    }


def wide(p):
    w, b, c = p["w"], p["s"]["b"], p["s"]["c"]
    return {
        "loss": np.sum(np.sin(w) * b) + np.sum(p["e"]),
        "pair": (np.mean(w**2) * p["t"][1], None),  # None: an empty structure
        "c": c * np.sum(w) + p["t"][0] ** 2,
    }


def tall_point(n, rng):
    return {"a": rng.uniform(0.5, 1.5, 2), "b": 0.9, "e": np.zeros(0)}


def tall_f(n):
    grid = np.linspace(0.0, 1.0, n)

    def tall(p):
        a, b = p["a"], p["b"]
        return (
            {"big": np.sin(grid * a[0]) * b + a[1], "const": 1.0},  # a constant leaf
            [a**2 * b, None],
            np.sum(p["e"]) * a[0],
        )

    return tall


def problem(name, n, rng):
    if name == "wide":
        return wide, wide_point(n, rng), "reverse"
    return tall_f(n), tall_point(n, rng), "forward"


CONFIGS = [
    {"mode": "auto"},
    {"mode": "forward"},
    {"mode": "reverse"},
    {"mode": "forward", "chunk_size": 1},
    {"mode": "reverse", "chunk_size": 1},
    {"mode": "forward", "chunk_size": 2},
    {"mode": "reverse", "chunk_size": 2},
    {"mode": "forward", "executor": True},
    {"mode": "reverse", "executor": True},
    {"mode": "auto", "chunk_size": 2, "executor": True},
]


def config_id(c):
    return "-".join(f"{k}={v}" if k != "executor" else "executor" for k, v in c.items())


def options(config, executor):
    config = dict(config)
    if config.pop("executor", False):
        config["executor"] = executor
    return config


def every_mode():
    """(size, problem, config); at the large size, the mode that needs n (or m) passes of a
    large f runs once (unchunked, no executor)."""
    for size in SIZES:
        for name, cheap in (("wide", "reverse"), ("tall", "forward")):
            for c in CONFIGS:
                if size == "small" or c["mode"] in (cheap, "auto") or len(c) == 1:
                    yield pytest.param(size, name, c, id=f"{size}-{name}-{config_id(c)}")


# -- oracle 1 and 3: jacfwd, jacrev, central differences, every mode ----------------------------


@pytest.mark.parametrize("size, name, config", every_mode())
def test_every_mode_equals_jacfwd_jacrev_and_differences(size, name, config, executor, deferring):
    rng = np.random.default_rng(7)
    f, p, cheap = problem(name, SIZES[size], rng)
    held = checksums(p)
    J = dd.jacobian(f, **options(config, executor))(p)
    assert checksums(p) == held, "an input changed"
    assert_owned(J, p)
    # the reference in the cheap mode (the other would push or pull 16384^2 elements at once)
    refs = [dd.jacrev(f)(p)] if cheap == "reverse" or size == "small" else []
    refs += [dd.jacfwd(f)(p)] if cheap == "forward" or size == "small" else []
    for ref in refs:
        assert_same(J, ref)
    if size == "small":
        for got, want in zip(leaves_of(J), blocks_fd(f, p), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    else:
        v = random_like(p, rng)
        for got, want in zip(contracted(J, f(p), v), slope_fd(f, p, v), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_a_plain_input_with_a_structured_output_and_back(size, deferring):
    n = SIZES[size]
    x = np.random.default_rng(3).uniform(0.5, 1.5, n)

    def out_tree(x):
        return (np.sum(x**2), {"m": np.mean(np.sin(x)), "none": None}, [x[:2] * 3])

    def in_tree(q):
        return np.stack([np.sum(q["u"] * q["v"][0]), np.sum(q["u"]) * q["v"][1]])

    q = {"u": x, "v": [2.0, np.float32(0.5)]}
    for mode in ("auto", "forward", "reverse"):
        J = dd.jacobian(out_tree, mode=mode)(x)
        assert_same(J, dd.jacrev(out_tree)(x))
        assert_owned(J, x)
        K = dd.jacobian(in_tree, mode=mode)(q)
        assert_same(K, dd.jacrev(in_tree)(q))
        assert_owned(K, q)
    v = random_like(q, np.random.default_rng(4))
    np.testing.assert_allclose(contracted(K, in_tree(q), v)[0], slope_fd(in_tree, q, v)[0],
                               rtol=1e-6, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("size", SIZES)
def test_argnums_tuple_nests_a_tuple_inside_each_output_leaf(size, mode, deferring):
    n = SIZES[size]
    rng = np.random.default_rng(5)
    p, x = {"a": rng.uniform(0.5, 1.5, 3), "b": 2.0}, rng.uniform(0.5, 1.5, n)

    def f(p, x, scale):
        return {"y": p["a"] * np.sum(np.sin(x)) * scale, "z": (np.sum(x**2) * p["b"], None)}

    for argnums in [(0, 1), (1, 0), 0, 1, (0,), (-2, 2)]:
        J = dd.jacobian(f, argnums, mode=mode)(p, x, 1.5)
        assert_same(J, dd.jacrev(f, argnums)(p, x, 1.5))
        if size == "small":
            assert_same(J, dd.jacfwd(f, argnums)(p, x, 1.5))
        assert_owned(J, (p, x))


def test_special_leaves_size_zero_0d_python_numpy_scalars_and_integers():
    p = {
        "empty": np.zeros((0, 2)),
        "zero_d": np.array(0.5),
        "py": 1.5,
        "np": np.float64(-0.25),
        "int": 3,  # promoted to float64, as everywhere in dualdiff
        "arr": np.array([0.3, 0.6]),
        "nested": [(), {}, None, (np.array([[1.0, 2.0]]),)],
    }

    def f(p):
        s = p["zero_d"] * p["py"] + p["np"] * p["int"] + np.sum(p["empty"])
        return {"s": s, "v": p["arr"] * s * p["nested"][3][0], "empty": p["empty"] * 2,
                "none": None, "t": ()}  # fmt: skip

    for mode in ("auto", "forward", "reverse"):
        for chunk_size in (None, 1, 2):
            J = dd.jacobian(f, mode=mode, chunk_size=chunk_size)(p)
            assert_same(J, dd.jacfwd(f)(p))
            assert_same(J, dd.jacrev(f)(p))
            assert J["s"]["int"].dtype == np.float64 and J["s"]["nested"][2] is None
    for got, want in zip(leaves_of(J), blocks_fd(f, p), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_empty_structures_in_and_out():
    x = np.ones(3)
    assert dd.jacobian(lambda x: ())(x) == ()
    assert dd.jacobian(lambda x: {"a": None})(x) == {"a": None}
    for mode in ("auto", "forward", "reverse"):
        J = dd.jacobian(lambda p, x: (x * 2, p), mode=mode)({}, x)
        assert J == ({}, {})  # no input leaves: empty structures, nothing to push or pull
        K = dd.jacobian(lambda p, x: x * 2, argnums=(0, 1), mode=mode)({}, x)
        assert K[0] == {} and np.array_equal(K[1], 2 * np.eye(3))


@pytest.mark.parametrize("size", SIZES)
def test_float32_leaves_give_float32_blocks(size, deferring):
    n = SIZES[size]
    rng = np.random.default_rng(9)
    p = {"w": rng.uniform(0.5, 1.5, n).astype(np.float32),
         "b": rng.uniform(0.5, 1.5, 2).astype(np.float32)}  # fmt: skip

    def f(p):
        return (np.sum(np.sin(p["w"])) * p["b"], {"m": np.mean(p["w"] * p["b"][0])})

    ref = dd.jacrev(f)(p)
    for mode in ("auto", "reverse") if size == "large" else ("auto", "forward", "reverse"):
        J = dd.jacobian(f, mode=mode)(p)
        assert all(b.dtype == np.float32 for b in leaves_of(J))
        assert_same(J, ref, rtol=1e-5, atol=1e-5)  # float32 arithmetic, in another order
        if size == "small":
            assert_same(J, dd.jacfwd(f)(p), rtol=1e-5, atol=1e-5)
    v = random_like(p, rng)
    for got, want in zip(contracted(ref, f(p), v), slope_fd(f, p, v), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)  # float32 against float64


def test_float32_leaves_of_size_zero_stay_float32():
    # (the dispatcher answers an empty Jacobian without a pass: the block is cast back)
    p = {"a": np.zeros(0, np.float32)}
    for mode in ("auto", "forward", "reverse"):
        assert dd.jacobian(lambda p: p["a"] * 2, mode=mode)(p)["a"].dtype == np.float32
        J = dd.jacobian(lambda p: (p["a"], np.sum(p["a"])), mode=mode)(p)
        assert J[0]["a"].dtype == J[1]["a"].dtype == np.float32


def test_an_empty_jacobian_of_a_float32_array_is_float32():
    for mode in ("auto", "forward", "reverse"):
        for x, f in [(np.zeros(0, np.float32), np.sin), (np.ones(2, np.float32), lambda x: x[:0])]:
            J = dd.jacobian(f, mode=mode)(x)
            assert J.dtype == np.float32 and J.shape == np.shape(f(x)) + x.shape


def test_a_python_number_beside_float32_leaves_is_float32_as_in_jacfwd_and_jacrev():
    # NumPy's and JAX's weak scalars: float32 * 3.0 is float32, and so are its derivatives
    a = np.array([1.0, 2.0], np.float32)

    def f(p, q):
        return {"y": p["a"] * p["b"] * q, "z": p["b"] ** 2}

    for argnums in (0, (0, 1), 1):
        for mode in ("auto", "forward", "reverse"):
            J = dd.jacobian(f, argnums, mode=mode)({"a": a, "b": 3.0}, 2.0)
            assert_same(J, dd.jacfwd(f, argnums)({"a": a, "b": 3.0}, 2.0), rtol=1e-6)
            assert_same(J, dd.jacrev(f, argnums)({"a": a, "b": 3.0}, 2.0), rtol=1e-6)
            if argnums != 1:  # (the float32 leaves are not differentiated with argnums=1)
                assert all(b.dtype == np.float32 for b in leaves_of(J))


def test_a_float32_leaf_beside_float64_ones_keeps_its_dtype_as_jacrev():
    # jacfwd's block is in the output's dtype there, jacrev's in the input's; dd.jacobian takes
    # the input's in every mode, as it does for a plain array (documented in its docstring)
    p = {"a": np.array([1.0, 2.0], np.float32), "b": np.array([0.5, 0.25])}

    def f(p):
        return p["a"] * np.sum(p["b"])

    for mode in ("auto", "forward", "reverse"):
        J = dd.jacobian(f, mode=mode)(p)
        assert_same(J, dd.jacrev(f)(p), rtol=1e-6, atol=1e-6)
        assert_same(J, dd.jacfwd(f)(p), rtol=1e-6, atol=1e-6, dtypes=False)


# -- has_aux, keyword arguments, the plan -------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_has_aux_and_keyword_arguments_with_structures(size, executor, deferring):
    rng = np.random.default_rng(11)
    p = wide_point(SIZES[size], rng)

    def f(p, scale=1.0):
        out = wide(p)
        return {"loss": out["loss"] * scale, "c": out["c"]}, {"scale": scale, "w0": p["w"][0]}

    for mode in ("auto", "reverse") if size == "large" else ("auto", "forward", "reverse"):
        J, aux = dd.jacobian(f, mode=mode, has_aux=True, executor=executor)(p, scale=2.0)
        J_ref, aux_ref = dd.jacrev(f, has_aux=True)(p, scale=2.0)
        assert_same(J, J_ref)
        assert aux["scale"] == 2.0 and type(aux["w0"]) is not dd.Dual
        np.testing.assert_array_equal(aux["w0"], aux_ref["w0"])
        J = dd.jacobian(lambda p, scale: f(p, scale=scale)[0], mode=mode)(p, scale=3.0)
        assert_same(J, dd.jacrev(lambda p: f(p, scale=3.0)[0])(p))


def test_the_plan_of_a_structure_counts_its_leaves():
    p = {"a": np.ones((2, 3)), "b": 1.0}
    jac = dd.jacobian(lambda p: (p["a"] * p["b"], np.sum(p["a"])))
    plan = jac.plan(p)
    assert (plan.n, plan.m) == (7, 7)


# -- the per-shape plan: two structures of one flat size ----------------------------------------


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_structures_of_one_flat_size_never_share_a_plan(mode):
    rng = np.random.default_rng(13)

    def f(p):
        leaves = leaves_of(p)
        total = sum(np.sum(x) for x in leaves)
        return {"y": [x * total for x in leaves], "n": len(leaves)}

    jac = dd.jacobian(f, mode=mode)
    points = [
        {"a": rng.uniform(size=2), "b": rng.uniform(size=3)},
        {"a": rng.uniform(size=3), "b": rng.uniform(size=2)},
        {"b": rng.uniform(size=2), "a": rng.uniform(size=3)},  # insertion order matters
        (rng.uniform(size=2), rng.uniform(size=3)),
        [rng.uniform(size=5)],
        {"a": rng.uniform(size=(1, 5))},
        {"a": rng.uniform(size=2).astype(np.float32), "b": rng.uniform(size=3)},
    ]
    for _ in range(2):  # the second round reads the kept plans
        for p in points:
            J = jac(p)
            assert_same(J, dd.jacrev(f)(p), rtol=1e-6, atol=1e-6)


# -- oracle 2: ownership -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_results_are_the_callers_own_and_a_later_call_leaves_them(size, deferring):
    n = SIZES[size]
    rng = np.random.default_rng(17)
    p = {"w": rng.uniform(0.5, 1.5, n), "v": rng.uniform(0.5, 1.5, 2)}

    def f(p):  # returns its inputs, views of them and a constant among its outputs
        return {"w": p["w"], "head": p["w"][:2] * 1.0, "v": p["v"], "s": np.sum(p["w"] ** 2)}

    for mode in ("auto", "forward", "reverse") if size == "small" else ("auto", "reverse"):
        jac = dd.jacobian(f, mode=mode) if size == "small" else dd.jacobian(
            lambda p: {"s": f(p)["s"], "head": f(p)["head"], "v": f(p)["v"]}, mode=mode)
        held = checksums(p)
        J = jac(p)
        assert checksums(p) == held
        assert_owned(J, p)
        first = checksums(J)
        q = {"w": p["w"] * 2, "v": p["v"] * 3}
        J2 = jac(q)
        assert checksums(J) == first, "a later call changed an earlier result"
        assert_owned((J, J2), (p, q))


# -- None in outputs, every transform ------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_none_in_an_output_is_an_empty_structure_in_every_transform(size, deferring):
    n = SIZES[size]
    x = np.random.default_rng(19).uniform(0.5, 1.5, n)
    small = x[:3]

    def f(x):
        return (np.sin(x), None, {"n": None, "s": np.sum(x)})

    for transform in (dd.jacfwd, dd.jacrev, dd.jacobian):
        J = transform(f)(small)
        assert J[1] is None and J[2]["n"] is None
        np.testing.assert_allclose(J[0], np.diag(np.cos(small)), rtol=1e-12)
    out, pullback = dd.vjp(f, x)
    assert out[1] is None and out[2]["n"] is None
    ct = (np.ones(n), None, {"n": None, "s": 2.0})
    (g,) = pullback(ct)
    np.testing.assert_allclose(g, np.cos(x) + 2.0, rtol=1e-12)
    with pytest.raises(ValueError, match=r"dd\.vjp: the cotangent \[1\] must have the structure"):
        pullback((np.ones(n), np.ones(n), {"n": None, "s": 2.0}))
    out, tangent = dd.jvp(f, (x,), (np.ones(n),))
    assert tangent[1] is None and tangent[2]["n"] is None
    np.testing.assert_allclose(tangent[0], np.cos(x), rtol=1e-12)
    out, f_jvp = dd.linearize(f, x)
    assert f_jvp(np.ones(n))[1] is None and out[1] is None
    (value, aux), g = dd.value_and_grad(lambda x: (np.sum(x), None), has_aux=True)(x)
    assert aux is None
    J, aux = dd.jacobian(lambda x: ((x, None), None), has_aux=True)(small)
    assert J[1] is None and aux is None
    dd.testing.check_grads(f, small, modes=("fwd", "rev"), order=1)


def test_none_inside_an_input_is_an_empty_structure_but_not_as_the_input():
    p = {"a": np.array([1.0, 2.0]), "b": None}
    for transform in (dd.jacfwd, dd.jacrev, dd.jacobian):
        J = transform(lambda p: p["a"] ** 2)(p)
        assert J["b"] is None
        np.testing.assert_array_equal(J["a"], np.diag([2.0, 4.0]))
    assert dd.grad(lambda p: np.sum(p["a"] ** 2))(p)["b"] is None
    for transform in (dd.grad, dd.jacfwd, dd.jacrev, dd.jacobian):
        with pytest.raises(TypeError, match="got None as an input"):
            transform(lambda x: np.sum(x))(None)
    with pytest.raises(TypeError, match=r"f returned None \(a missing return\?\)"):
        dd.jacobian(lambda x: None)(np.ones(2))


# -- sparse on structures ----------------------------------------------------------------------


def flat_matrix(J, out, into):
    """The nested dense Jacobian as one (out size, in size) matrix, rows and columns in the
    leaves' order (the tests' own flattening)."""
    blocks = leaves_of(J)
    o_sizes = [np.size(x) for x in leaves_of(out)]
    i_sizes = [np.size(x) for x in leaves_of(into)]
    rows = [[blocks[o * len(i_sizes) + j].reshape(so, si) for j, si in enumerate(i_sizes)]
            for o, so in enumerate(o_sizes)]  # fmt: skip
    if not rows or not i_sizes:
        return np.zeros((sum(o_sizes), sum(i_sizes)))
    return np.block(rows)


def sparse_problem(n, rng):
    p = {"w": rng.uniform(0.5, 1.5, n), "k": (1.5, np.array([0.3, 0.7])), "skip": None}

    def f(p):  # no dense row or column: both colorings need few colors
        w, (c, d) = p["w"], p["k"]
        return {"diff": w[1:] - w[:-1] ** 2, "pair": d * np.sum(w[:3]), "none": None,
                "last": w[-1:] * d[0] * c}  # fmt: skip

    return f, p


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("size", SIZES)
def test_sparse_jacobian_of_structures_is_the_dense_one_in_ravel_order(size, mode, deferring):
    rng = np.random.default_rng(23)
    f, p = sparse_problem(SIZES[size], rng)
    jac = dd.jacobian(f, sparse=True, mode=mode)
    held = checksums(p)
    J = jac(p)
    assert checksums(p) == held
    assert isinstance(J, sp.csr_array)
    assert J.shape == (sum(np.size(x) for x in leaves_of(f(p))), SIZES[size] + 3)
    assert_owned((J.data, J.indices, J.indptr), p)
    # J v and u J against jvp, vjp and central differences (flattened by the tests' own order)
    v, u = random_like(p, rng), random_like(f(p), rng)
    flat = lambda tree: np.concatenate([np.ravel(x) for x in leaves_of(tree)])  # noqa: E731
    np.testing.assert_allclose(J @ flat(v), flat(dd.jvp(f, (p,), (v,))[1]), rtol=1e-12)
    np.testing.assert_allclose(J @ flat(v), flat(slope_fd(f, p, v)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(u_J := J.T @ flat(u), flat(dd.vjp(f, p)[1](u)[0]), rtol=1e-12)
    assert u_J.shape == (SIZES[size] + 3,)
    if size == "large":
        return  # a dense Jacobian of 16384 x 16384 is 2 GiB
    dense = dd.jacobian(f)(p)
    expected = flat_matrix(dense, f(p), p)
    np.testing.assert_allclose(J.toarray(), expected, rtol=1e-12, atol=1e-12)
    # the blocks back: sparse blocks, the dense Jacobian's nesting
    blocks = dd.sparse.unravel_jacobian(J, f(p), p)
    assert blocks["none"] is None and blocks["diff"]["skip"] is None
    shapes = [(np.size(o), np.size(i)) for o in leaves_of(f(p)) for i in leaves_of(p)]
    for got, want, shape in zip(leaves_of(blocks), leaves_of(dense), shapes, strict=True):
        assert isinstance(got, sp.csr_array) and got.shape == shape
        np.testing.assert_allclose(got.toarray().ravel(), want.ravel(), rtol=1e-12, atol=1e-12)
    assert_same(dd.sparse.unravel_jacobian(expected, f(p), p), dense)
    q = {"w": p["w"] + 0.5, "k": (2.0, p["k"][1]), "skip": None}  # the kept pattern, a new point
    np.testing.assert_allclose(jac(q).toarray(), flat_matrix(dd.jacobian(f)(q), f(q), q),
                               rtol=1e-12, atol=1e-12)  # fmt: skip


def test_sparse_jacobian_and_hessian_of_a_float32_leaf_beside_float64_ones():
    # the flat vector is float64; f still computes the float32 leaf in float32
    p = {"a": np.array([1.0, 2.0, 3.0], np.float32), "b": np.array([1.0, 2.0])}

    def f(p):
        return (p["a"][1:] * p["b"], np.sum(p["a"]))

    for mode in ("auto", "forward", "reverse"):
        J = dd.jacobian(f, sparse=True, mode=mode)(p)
        np.testing.assert_allclose(J.toarray(), flat_matrix(dd.jacrev(f)(p), f(p), p), rtol=1e-6)
    loss = lambda p: np.sum(p["a"][1:] ** 2 * p["b"])  # noqa: E731
    H = dd.hessian(loss, sparse=True)(p)
    np.testing.assert_allclose(H.toarray(), flat_matrix(dd.hessian(loss)(p), p, p), rtol=1e-6)


def test_sparse_jacobian_with_tuple_argnums_is_one_matrix_per_argument():
    rng = np.random.default_rng(29)
    p, x = {"a": rng.uniform(size=3), "b": 2.0}, rng.uniform(size=4)

    def f(p, x):
        return (p["a"] * x[:3], {"s": np.sum(x) * p["b"]})

    Jp, Jx = dd.jacobian(f, argnums=(0, 1), sparse=True)(p, x)
    Dp, Dx = (dd.jacfwd(f, argnums=i)(p, x) for i in (0, 1))
    np.testing.assert_allclose(Jp.toarray(), flat_matrix(Dp, f(p, x), p), rtol=1e-12)
    np.testing.assert_allclose(Jx.toarray(), flat_matrix(Dx, f(p, x), x), rtol=1e-12)


@pytest.mark.parametrize("size", SIZES)
def test_sparse_hessian_of_a_structure(size, deferring):
    n = SIZES[size]
    rng = np.random.default_rng(31)
    p = {"w": rng.uniform(0.5, 1.5, n), "c": 0.8, "t": (np.array([[0.2, 0.4]]),)}

    def f(p):
        w, c, t = p["w"], p["c"], p["t"][0]
        return np.sum((w[1:] - w[:-1] ** 2) ** 2) * c + np.sum(t**3) * w[0] + c**3

    H = dd.hessian(f, sparse=True)(p)
    assert isinstance(H, sp.csr_array) and H.shape == (n + 3, n + 3)
    v = random_like(p, rng)
    flat_v = np.concatenate([np.ravel(x) for x in leaves_of(v)])
    hv = dd.hvp(f, p, v)
    np.testing.assert_allclose(H @ flat_v, np.concatenate([np.ravel(x) for x in leaves_of(hv)]),
                               rtol=1e-10, atol=1e-10)  # fmt: skip
    g = dd.grad(f)
    want = slope_fd(g, p, v, h=1e-5)  # differences of the gradient along v
    np.testing.assert_allclose(H @ flat_v, np.concatenate([np.ravel(x) for x in want]),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    if size == "small":
        np.testing.assert_allclose(H.toarray(), flat_matrix(dd.hessian(f)(p), p, p), rtol=1e-12)


# -- the helpers -------------------------------------------------------------------------------


def test_ravel_pytree_round_trip_order_dtypes_and_ownership():
    tree = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": (2.5, np.float64(-1.0)), "n": None,
            "i": np.array([7, 8]), "e": np.zeros((0, 4))}  # fmt: skip
    flat, unravel = dd.ravel_pytree(tree)
    np.testing.assert_array_equal(flat, [1, 2, 3, 4, 2.5, -1, 7, 8])
    assert flat.dtype == np.float64
    assert not any(np.shares_memory(flat, x) for x in leaves_of(tree) if type(x) is np.ndarray)
    back = unravel(flat)
    assert_same(back, {"w": tree["w"], "b": (np.array(2.5), np.array(-1.0)), "n": None,
                       "i": np.array([7.0, 8.0]), "e": tree["e"]})  # fmt: skip
    assert not any(np.shares_memory(flat, x) for x in leaves_of(back))
    f32 = {"a": np.ones(2, np.float32), "b": np.float32(2)}
    flat32, unravel32 = dd.ravel_pytree(f32)
    assert flat32.dtype == np.float32 and unravel32(flat32)["b"].dtype == np.float32
    mixed, unravel_mixed = dd.ravel_pytree({"a": np.ones(2, np.float32), "b": 1.0})
    assert mixed.dtype == np.float64 and unravel_mixed(mixed)["a"].dtype == np.float32
    assert dd.ravel_pytree({})[0].shape == (0,)


def test_ravel_pytree_inside_a_transformed_function():
    p = {"a": np.array([1.0, 2.0]), "b": (3.0,)}

    def loss(p):
        flat, unravel = dd.ravel_pytree(p)
        q = unravel(flat * 2)
        return np.sum(flat**2) + np.sum(q["a"]) * q["b"][0]

    # loss = |a|^2 + b^2 + 4 b sum(a): d/da = 2 a + 4 b, d/db = 2 b + 4 sum(a)
    assert_same(dd.grad(loss)(p), {"a": np.array([14.0, 16.0]), "b": (np.array(18.0),)})


def test_unravel_jacobian_of_a_plain_array_and_a_dense_flat_matrix():
    x = np.arange(6.0).reshape(2, 3)
    J = np.arange(36.0).reshape(6, 6)
    blocks = dd.sparse.unravel_jacobian(J, (x[0], {"s": 1.0, "r": x[1, :2]}), x)
    np.testing.assert_array_equal(blocks[0], J[:3].reshape(3, 2, 3))
    np.testing.assert_array_equal(blocks[1]["s"], J[3].reshape(2, 3))
    np.testing.assert_array_equal(blocks[1]["r"], J[4:].reshape(2, 2, 3))
    assert_owned(blocks, J)
    S = dd.sparse.unravel_jacobian(sp.csr_matrix(J), (x[0], {"s": 1.0, "r": x[1, :2]}), x)
    assert isinstance(S[1]["s"], sp.csr_array) and S[1]["s"].shape == (1, 6)


# -- errors --------------------------------------------------------------------------------------


def test_bad_structures_get_named_errors():
    p = {"a": np.ones(2), "label": "abc"}
    for make in (lambda f: dd.jacobian(f), lambda f: dd.jacobian(f, sparse=True),
                 lambda f: dd.jacobian(f, mode="reverse")):  # fmt: skip
        with pytest.raises(TypeError, match=r"real arrays and numbers; got a str \('abc'\)"):
            make(lambda p: p["a"])(p)
    with pytest.raises(TypeError, match=r"dd\.hessian|real arrays and numbers; got a str"):
        dd.hessian(lambda p: np.sum(p["a"]), sparse=True)(p)
    with pytest.raises(TypeError, match=r"dd\.ravel_pytree: the leaves .* got a str \('abc'\)"):
        dd.ravel_pytree(p)
    with pytest.raises(TypeError, match=r"dd\.ravel_pytree: .* got a complex value"):
        dd.ravel_pytree([1j])
    _, unravel = dd.ravel_pytree({"a": np.ones(2), "b": 1.0})
    with pytest.raises(ValueError, match=r"unravel takes a flat vector of shape \(3,\).*\(4,\)"):
        unravel(np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(3,\).*got shape \(3, 1\)"):
        unravel(np.ones((3, 1)))
    with pytest.raises(TypeError, match=r"unravel: the leaves .* a str"):
        unravel(np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"unravel_jacobian: J has shape \(3, 3\), .* \(2, 3\)"):
        dd.sparse.unravel_jacobian(np.ones((3, 3)), {"y": np.ones(2)}, (np.ones(2), 1.0))
    with pytest.raises(TypeError, match=r"unravel_jacobian: J must be a scipy\.sparse"):
        dd.sparse.unravel_jacobian([[1.0]], 1.0, 1.0)
    with pytest.raises(TypeError, match=r"unravel_jacobian: the leaves .* a str"):
        dd.sparse.unravel_jacobian(np.ones((1, 1)), "abc", 1.0)
    with pytest.raises(TypeError, match=r"dd\.sparse_hessian: argnums must be one int"):
        dd.hessian(lambda a, b: np.sum(a * b), argnums=(0, 1), sparse=True)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_an_argument_outside_argnums_may_change_the_output_between_calls(mode):
    # the plan kept for one argument structure is made again when f's output changes with an
    # argument that is not differentiated (a flag, a length): never a stale structure or shape
    def f(x, flag, n):
        return (x[:n], [x[:2] * 2]) if flag else {"a": x[:n] ** 2, "b": None}

    x = np.array([0.5, 1.0, 2.0])
    jac = dd.jacobian(f, mode=mode)
    for flag, n in [(True, 3), (False, 3), (True, 3), (True, 2), (False, 0), (False, 1)]:
        assert_same(jac(x, flag, n), dd.jacrev(f)(x, flag, n))
        assert_same(jac(x, flag=flag, n=n), dd.jacrev(f)(x, flag, n))
    sparse = dd.jacobian(f, mode=mode, sparse=True)
    for flag, n in [(True, 3), (False, 2), (True, 1)]:
        want = flat_matrix(dd.jacrev(f)(x, flag, n), f(x, flag, n), x)
        np.testing.assert_array_equal(sparse(x, flag, n).toarray(), want)
    plain = dd.jacobian(lambda x, n: np.sin(x[:n]), mode=mode)
    for n in (2, 3, 0, 2, 0):  # an empty Jacobian is answered without a pass: f is asked
        np.testing.assert_array_equal(plain(x, n), np.eye(n, 3) * np.cos(x[:n])[:, None])


def test_an_output_that_changes_within_one_jacobian_is_a_named_error():
    calls = iter(range(100))

    def f(x):  # another structure at every call (reverse mode calls f once: no conflict)
        return (x,) if next(calls) % 2 else {"a": x}

    with pytest.raises(ValueError, match=r"f's output changed between two calls .*"
                                         r"a Jacobian needs one output"):  # fmt: skip
        dd.jacobian(f, mode="forward", chunk_size=1)(np.ones(3))


def test_arguments_outside_argnums_may_be_ragged_structures():
    x, c = np.array([0.5, 1.0]), (np.ones(3), 2.0, {"k": [np.zeros((2, 2))]})

    def f(x, c):
        return {"y": np.sin(x) * np.sum(c[0]) * c[1] + np.sum(c[2]["k"][0])}

    for sparse in (False, True):
        J = dd.jacobian(f, sparse=sparse)(x, c)
        J = J.toarray() if sparse else J["y"]
        np.testing.assert_allclose(J, np.diag(np.cos(x) * 6.0), rtol=1e-12)
    assert_same(dd.jacobian(f, argnums=(0, 1))(x, c), dd.jacrev(f, argnums=(0, 1))(x, c))


def test_structures_on_a_dask_cluster_of_processes():
    # what the executor runs (f of flat vectors) is pickled to other processes: it must hold
    # nothing of the transform (the executor itself among it)
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(37)
    p = {"a": rng.uniform(size=(2, 3)), "b": (0.5, rng.uniform(size=4))}

    def f(p):
        return {"y": np.sin(p["a"]) * p["b"][0], "z": [np.sum(p["b"][1] ** 2)]}

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for mode in ("forward", "reverse"):
            J = dd.jacobian(f, mode=mode, chunk_size=3, executor=client.get_executor())(p)
            assert_same(J, dd.jacrev(f)(p))
