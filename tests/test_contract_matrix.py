"""The transforms' contract matrix (issue 14): every transform x input/output structure x dtype
x has_aux x keyword arguments, each result checked against the others.

No outside oracle is needed: ``jacfwd`` == ``jacrev`` == ``jacobian(mode=..., chunk_size=...,
executor=...)`` == stacked ``jvp``s == stacked ``linearize`` tangents == stacked ``vjp``s ==
central differences of f run on plain NumPy; ``hessian`` == ``jacfwd(jacrev)`` == second
differences; ``hvp`` == ``hessian @ v``; ``grad`` == ``vjp`` with a cotangent of 1.0 ==
``value_and_grad``'s gradient; ``elementwise_grad`` == ``vjp`` with ones. Every result is also
checked for

- its structure, nested as JAX nests it: f's output structure outside, the differentiated
  arguments' structure inside (a tuple over ``argnums`` when it is a tuple), each leaf of shape
  ``out_leaf.shape + in_leaf.shape``; gradients, cotangents and tangents in their primal's or
  output's structure and shapes; aux as plain values;
- its dtypes: a block of float32 output by float32 input is float32, of float64 by float64 is
  float64 (mixed blocks: some float, as in JAX, whose jacfwd and jacrev differ there);
- its memory: no returned array shares memory with an input or with another result, and the
  inputs are unchanged.

JAX, when installed, is an optional outside check of the nesting, shapes and values.

Layout of the module:

1. problems: leaf and structure specs (``Leaf``, ``Expr``), the function of a problem (written
   once for NumPy and jax.numpy), Hypothesis strategies drawing them;
2. reading results: ``walk`` (a result against a model structure), ``dense`` (a nested Jacobian
   as a matrix, checking nesting, shapes and dtypes), vectors of trees, finite differences;
3. the checks, one per family (``check_jacobians``, ``check_jacobian_modes``, ``check_scalar``,
   ``check_elementwise``, ``check_against_jax``), each run by a Hypothesis test and by explicit
   table lines (one per named structure kind, dtype, has_aux and keyword arguments);
4. the large lines (a leaf of 20000 elements), None leaves in outputs, Python floats beside
   float32, float32 in the corners (zero blocks, size 0, second derivatives), arguments outside
   argnums, and the named errors of every unsupported combination (complex and string inputs,
   tangents and outputs, sparse=True with has_aux, create_graph, non-scalar losses, ...).
"""

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import dualdiff as dd
from tests._oracles import Unchanged, assert_owned
from tests._trees import leaves, tree_map

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: it reruns a lot
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FLOATS = [np.float64, np.float32]
DTYPE_IDS = ["float64", "float32"]

# == 1. problems ================================================================================


@dataclass(frozen=True)
class Leaf:
    """An input leaf to make: ``kind`` is "array" (of ``shape``), "zero_d" (a 0-d array),
    "numpy" (a NumPy scalar) or "python" (a Python float)."""

    kind: str
    shape: tuple = ()


@dataclass(frozen=True)
class Expr:
    """An output leaf: a smooth expression of input leaves ``i`` and ``j`` (indices into the
    leaves of all arguments, dict keys sorted, so that NumPy and JAX read the same leaves)."""

    kind: str
    i: int = 0
    j: int = 0


EXPRS = ["sin", "prod", "tanh", "raw", "const"]


def expression(e, ls, xp, scale):
    a, b = ls[e.i], ls[e.j]
    if e.kind == "raw":  # f returns an input leaf itself
        return a
    if e.kind == "const":  # an output that depends on no input
        return xp.full((2,), 0.5)
    if e.kind == "pyconst":  # a Python float output
        return 2.5
    if e.kind == "sin":
        out = xp.sin(a) * (1.0 + xp.sum(b * b))
    elif e.kind == "prod":
        out = xp.sum(a * 1.5) * xp.cos(xp.sum(b))
    elif e.kind == "tanh":
        out = xp.tanh(a) + 0.5 * a * a * xp.exp(0.2 * xp.sum(b))
    else:
        raise AssertionError(e.kind)
    return out if scale is None else out * scale


def aux_of(ls, xp):
    return {"first": ls[0], "norm": xp.sum(ls[0] * ls[0]), "count": len(ls), "tag": "aux"}


def function(outputs, has_aux=False, xp=np, loss_shape=None):
    """f of a problem: ``outputs`` (a tree of ``Expr``) of its arguments' leaves; a scalar
    loss of shape ``loss_shape`` (a weighted sum of those) when that is given."""

    def f(*args, scale=None):
        ls = leaves(args, sort=True)
        out = tree_map(lambda e: expression(e, ls, xp, scale), outputs)
        if loss_shape is not None:
            terms = [xp.sum(o) * (1.0 + 0.25 * k) for k, o in enumerate(leaves(out))]
            out = xp.reshape(functools.reduce(lambda s, t: s + t, terms), loss_shape)
        return (out, aux_of(ls, xp)) if has_aux else out

    return f


@dataclass
class Problem:
    args: tuple  # the primals: one structure per positional argument of f
    outputs: object  # a tree of Expr (None leaves allowed)
    argnums: object = 0
    has_aux: bool = False
    scale: float | None = None  # passed as f's keyword argument when not None
    dtype: type = np.float64
    loss_shape: tuple | None = None

    def f(self, xp=np, has_aux=None):
        aux = self.has_aux if has_aux is None else has_aux
        return function(self.outputs, aux, xp, self.loss_shape)

    @property
    def kwargs(self):
        return {} if self.scale is None else {"scale": self.scale}

    def bound(self, has_aux=None):
        """f with the keyword arguments bound, for jvp, vjp and linearize (which take none)."""
        return functools.partial(self.f(has_aux=has_aux), **self.kwargs)

    def plain(self):
        """``(out, aux)`` of f on plain NumPy (aux None without has_aux)."""
        result = self.f()(*self.args, **self.kwargs)
        return result if self.has_aux else (result, None)

    @property
    def nums(self):
        """The differentiated argument positions (negative ones counted from the end)."""
        nums = (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)
        return tuple(i % len(self.args) for i in nums)

    def inputs(self):
        """The differentiated inputs, nested as a Jacobian's inner structure."""
        if isinstance(self.argnums, int):
            return self.args[self.argnums]
        return tuple(self.args[i] for i in self.argnums)

    def columns(self):
        """Positions of the differentiated elements in ``vec(self.args)``, in argnums order."""
        sizes = [vec(a).size for a in self.args]
        starts = np.cumsum([0] + sizes)
        cols = [np.arange(starts[i], starts[i] + sizes[i]) for i in self.nums]
        return np.concatenate(cols).astype(int)


def make_leaf(spec, dtype, rng):
    value = rng.uniform(0.2, 1.1, spec.shape)
    if spec.kind == "array":
        return value.astype(dtype)
    if spec.kind == "zero_d":
        return np.array(value, dtype)
    if spec.kind == "numpy":
        return dtype(value)
    if spec.kind == "python":
        return float(value)
    raise AssertionError(spec.kind)


SHAPES = [(), (0,), (1,), (3,), (2, 2), (2, 0), (1, 3)]


def leaf_specs(dtype):
    """Leaves: arrays of random shapes (0-d and size 0 among them), 0-d arrays, NumPy scalars and
    (float64 only: a Python float beside float32 has a line of its own) Python floats."""
    kinds = ["array", "array", "zero_d", "numpy"] + (["python"] if dtype is np.float64 else [])
    return st.builds(
        lambda kind, shape: Leaf(kind, shape if kind == "array" else ()),
        st.sampled_from(kinds),
        st.sampled_from(SHAPES),
    )


def trees(leaf, max_leaves):
    """Nests of tuples, lists and dicts (or a bare leaf) of ``leaf``."""
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.lists(children, min_size=1, max_size=3),
            st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def problems(draw, loss_shapes=None, one_output=False, leaves_only=False, none_leaves=False):
    """A drawn problem: dtype, 1 or 2 argument structures, argnums, output structure, has_aux and
    keyword arguments; ``loss_shapes``: f is a scalar loss of one of those shapes;
    ``leaves_only``: every argument and the output are single leaves (no containers);
    ``none_leaves``: the output structure may hold None leaves."""
    dtype = draw(st.sampled_from(FLOATS))
    n_args = draw(st.integers(1, 2))
    arg = leaf_specs(dtype) if leaves_only else trees(leaf_specs(dtype), 3)
    specs = [draw(arg) for _ in range(n_args)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    args = tuple(tree_map(lambda s: make_leaf(s, dtype, rng), spec) for spec in specs)
    n = len(leaves(args))
    index = st.integers(0, n - 1)
    if one_output:  # one array (elementwise_grad)
        outputs = draw(st.builds(Expr, st.sampled_from(["sin", "tanh"]), index, index))
    elif leaves_only:
        outputs = draw(st.builds(Expr, st.sampled_from(EXPRS), index, index))
    else:
        expr = st.builds(Expr, st.sampled_from(EXPRS), index, index)
        outputs = draw(trees(st.one_of(expr, st.none()) if none_leaves else expr, 4))
        outputs = Expr("sin") if outputs is None else outputs
    argnums = draw(st.sampled_from([0, (0,)] if n_args == 1 else [0, 1, (0, 1), (1, 0), (1,)]))
    return Problem(
        args=args,
        outputs=outputs,
        argnums=argnums,
        has_aux=draw(st.booleans()),
        scale=draw(st.sampled_from([None, 0.75])),
        dtype=dtype,
        loss_shape=draw(st.sampled_from(loss_shapes)) if loss_shapes else None,
    )


# == 2. reading results ==========================================================================


def kind_of(x):
    return "None" if x is None else type(x).__name__


def walk(tree, model, where):
    """``[(leaf of tree, model leaf, path)]`` after checking that ``tree`` nests as ``model``:
    the same container types (tuple, list, dict with the same keys) and None where it is None."""
    if isinstance(model, tuple | list):
        assert type(tree) is type(model) and len(tree) == len(model), (
            f"{where}: {kind_of(tree)} {tree!r:.80} where the structure has a {kind_of(model)} "
            f"of {len(model)}"
        )
        return [p for k, (t, m) in enumerate(zip(tree, model)) for p in walk(t, m, f"{where}[{k}]")]
    if isinstance(model, dict):
        assert isinstance(tree, dict) and set(tree) == set(model), (
            f"{where}: {kind_of(tree)} {tree!r:.80} where the structure has a dict with keys "
            f"{sorted(model)}"
        )
        return [p for k in model for p in walk(tree[k], model[k], f"{where}[{k!r}]")]
    if model is None:
        assert tree is None, f"{where}: {kind_of(tree)} where f returned None (JAX: None)"
        return []
    return [(tree, model, where)]


def floating(x):
    """The dtype of a derivative with respect to ``x`` (or of ``x``'s tangent): its own floating
    dtype; Python floats, ints and bools give float64."""
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def check_leaf(x, shape, dtype, where, values=False):
    """A returned array: a plain NumPy value (a Python float too where ``values``), of ``shape``
    and ``dtype`` (None: some floating dtype)."""
    plain = np.ndarray | np.generic | (float if values else np.ndarray)
    assert isinstance(x, plain), f"{where}: a {kind_of(x)}, not a NumPy array"
    assert np.shape(x) == tuple(shape), f"{where}: shape {np.shape(x)}, expected {tuple(shape)}"
    got = np.asarray(x).dtype
    if dtype is None:
        assert got.kind == "f", f"{where}: dtype {got}, expected a floating dtype"
    else:
        assert got == dtype, f"{where}: dtype {got}, expected {np.dtype(dtype)}"


def block_dtype(o, i):
    """The dtype a block d o / d i must have: theirs when they agree, else unchecked."""
    do, di = floating(o), floating(i)
    return do if do == di else None


def dense(J, out_model, in_model, where):
    """A nested Jacobian as a matrix (output elements by input elements), after checking that it
    nests as JAX's (``out_model`` outside, ``in_model`` inside), its blocks' shapes and dtypes."""
    n = vec(in_model).size
    rows = []
    for sub, o, at in walk(J, out_model, where):
        blocks = []
        for block, i, at_block in walk(sub, in_model, at):
            check_leaf(block, np.shape(o) + np.shape(i), block_dtype(o, i), at_block)
            blocks.append(np.asarray(block, np.float64).reshape(np.size(o), np.size(i)))
        rows.append(np.concatenate(blocks, axis=1) if blocks else np.zeros((np.size(o), 0)))
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, n))


def like(tree, model, where, dtype_of=floating):
    """``vec(tree)`` after checking that ``tree`` has ``model``'s structure, shapes and dtypes
    (a gradient, cotangent or tangent of ``model``)."""
    for x, m, at in walk(tree, model, where):
        check_leaf(x, np.shape(m), dtype_of(m), at)
    return vec(tree)


def check_values(out, model, where, rtol):
    """f's output as a transform returns it: f's own values, shapes and dtypes."""
    for x, m, at in walk(out, model, where):
        check_leaf(x, np.shape(m), floating(m), at, values=True)
        np.testing.assert_allclose(
            np.asarray(x, float), np.asarray(m, float), rtol=rtol, err_msg=at
        )


def check_aux(aux, model, where):
    """aux as plain values (no tracers) equal to f's own aux on plain NumPy."""
    for x, m, at in walk(aux, model, where):
        if isinstance(m, str):
            assert x == m, f"{where}: {x!r} != {m!r}"
            continue
        assert isinstance(x, np.ndarray | np.generic | float | int), (
            f"{at}: aux leaf is a {kind_of(x)}, not a plain value"
        )
        np.testing.assert_allclose(
            np.asarray(x, float), np.asarray(m, float), rtol=1e-6, err_msg=at
        )


def split_aux(result, has_aux, where, aux_model):
    """The derivative part of a transform's result, aux checked when there is one."""
    if not has_aux:
        return result
    assert isinstance(result, tuple) and len(result) == 2, f"{where}: not (result, aux)"
    check_aux(result[1], aux_model, f"{where} aux")
    return result[0]


def vec(tree):
    """Every element of every leaf, as one float64 vector (leaves in the tree's own order)."""
    parts = [np.ravel(np.asarray(x, dtype=np.float64)) for x in leaves(tree)]
    return np.concatenate(parts) if parts else np.zeros(0)


def unvec(v, model, python_scalars=False):
    """A tree of ``model``'s structure from the vector ``v``: each leaf of its model leaf's kind
    (Python float, NumPy scalar or array) and floating dtype; with ``python_scalars``, 0-d
    float64 leaves become Python floats (as a user writes ``pullback(1.0)``)."""
    pos = 0

    def leaf(m):
        nonlocal pos
        size = int(np.size(m))
        part, pos = v[pos : pos + size], pos + size
        dtype = floating(m)
        if (
            type(m) is float
            or isinstance(m, int)
            or (python_scalars and np.ndim(m) == 0 and dtype == np.float64)
        ):
            return float(part[0])
        if isinstance(m, np.generic):
            return dtype.type(part[0])
        return part.reshape(np.shape(m)).astype(dtype)

    return tree_map(leaf, model)


def upcast(tree):
    """``tree`` in float64, each leaf of its kind (float32 arrays and scalars become float64)."""

    def leaf(x):
        if type(x) is float:
            return x
        return np.float64(x) if isinstance(x, np.generic) else np.asarray(x, np.float64)

    return tree_map(leaf, tree)


def fd_jacobian(p, h=1e-6):
    """Central differences of f on plain NumPy in float64: rows f's output elements, columns
    every element of every argument (``p.columns()`` picks the differentiated ones)."""
    model = upcast(p.args)
    f = p.f(has_aux=False)
    x0 = vec(model)

    def at(x):
        return vec(f(*unvec(x, model), **p.kwargs))

    cols = [(at(x0 + h * e) - at(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)]
    return np.stack(cols, axis=1) if cols else np.zeros((at(x0).size, 0))


def fd_hessian(p, h=1e-4):
    """Second central differences of the scalar f on plain NumPy in float64, over the
    differentiated elements."""
    model = upcast(p.args)
    f = p.f(has_aux=False)
    x0, cols = vec(model), p.columns()

    def at(x):
        return float(np.sum(f(*unvec(x, model), **p.kwargs)))

    basis = np.eye(x0.size)[cols] * h
    H = np.empty((cols.size, cols.size))
    for k, u in enumerate(basis):
        for m, w in enumerate(basis[: k + 1]):
            H[k, m] = H[m, k] = (
                at(x0 + u + w) - at(x0 + u - w) - at(x0 - u + w) + at(x0 - u - w)
            ) / (4 * h * h)
    return H


def tolerances(dtype):
    """``(among transforms, against finite differences)`` keyword arguments of assert_allclose."""
    if dtype is np.float32:
        return {"rtol": 2e-5, "atol": 2e-6}, {"rtol": 2e-3, "atol": 2e-4}
    return {"rtol": 1e-10, "atol": 1e-12}, {"rtol": 1e-6, "atol": 1e-7}


def agree(got, want, where, **tol):
    np.testing.assert_allclose(got, want, err_msg=where, **tol)


class Results:
    """Everything the transforms returned in one check, for the ownership oracle: no array shares
    memory with an input or with another result, and the inputs are unchanged."""

    def __init__(self, args):
        self.args, self.unchanged, self.kept = args, Unchanged(args), []

    def __call__(self, result):
        self.kept.append(result)
        return result

    def check(self):
        assert_owned(self.kept, self.args)
        self.unchanged.check("an input")


# == 3. the checks ===============================================================================


def check_jacobians(p):
    """jacfwd == jacrev == stacked jvps == stacked linearize tangents == stacked vjps == finite
    differences, with their structures, dtypes, values, aux and memory."""
    exact, loose = tolerances(p.dtype)
    out_model, aux_model = p.plain()
    in_model, cols = p.inputs(), p.columns()
    kept = Results(p.args)
    want = fd_jacobian(p)[:, cols]
    J = {}
    for name, transform in (("jacfwd", dd.jacfwd), ("jacrev", dd.jacrev)):
        result = kept(transform(p.f(), p.argnums, has_aux=p.has_aux)(*p.args, **p.kwargs))
        J[name] = dense(split_aux(result, p.has_aux, name, aux_model), out_model, in_model, name)

    everything = vec(p.args).size
    tangents = [unvec(e, p.args) for e in np.eye(everything)[cols]]
    columns = []
    for t in tangents:
        result = kept(dd.jvp(p.bound(), p.args, t, has_aux=p.has_aux))
        assert isinstance(result, tuple) and len(result) == (3 if p.has_aux else 2), "dd.jvp"
        check_values(result[0], out_model, "jvp out", exact["rtol"])
        if p.has_aux:
            check_aux(result[2], aux_model, "jvp aux")
        columns.append(like(result[1], out_model, "jvp tangent"))
    J["jvp"] = np.stack(columns, axis=1) if columns else np.zeros((vec(out_model).size, 0))

    result = kept(dd.linearize(p.bound(), *p.args, has_aux=p.has_aux))
    check_values(result[0], out_model, "linearize out", exact["rtol"])
    if p.has_aux:
        check_aux(result[2], aux_model, "linearize aux")
    columns = [like(kept(result[1](*t)), out_model, "linearize f_jvp") for t in tangents]
    J["linearize"] = np.stack(columns, axis=1) if columns else np.zeros((want.shape[0], 0))

    result = kept(dd.vjp(p.bound(), *p.args, has_aux=p.has_aux))
    check_values(result[0], out_model, "vjp out", exact["rtol"])
    if p.has_aux:
        check_aux(result[2], aux_model, "vjp aux")
    rows = []
    for e in np.eye(vec(out_model).size):
        cts = kept(result[1](unvec(e, out_model, python_scalars=True)))
        rows.append(like(cts, p.args, "vjp cotangents")[cols])
    J["vjp"] = np.stack(rows, axis=0) if rows else np.zeros((0, cols.size))

    for name, got in J.items():
        agree(got, J["jacfwd"], f"{name} != jacfwd", **exact)
        agree(got, want, f"{name} != finite differences", **loose)
    kept.check()
    return J["jacfwd"]


EXECUTOR = ThreadPoolExecutor(2)  # for the chunks of dd.jacobian; its threads start on first use


def check_jacobian_modes(p, mode, chunk_size=None, executor=None):
    """dd.jacobian in ``mode`` (chunked, on an executor) == jacfwd == finite differences."""
    exact, loose = tolerances(p.dtype)
    out_model, aux_model = p.plain()
    kept = Results(p.args)
    name = f"jacobian(mode={mode!r}, chunk_size={chunk_size}, executor={executor is not None})"
    jac = dd.jacobian(
        p.f(), p.argnums, mode=mode, chunk_size=chunk_size, executor=executor, has_aux=p.has_aux
    )
    got = []
    for call in ("first call", "second call"):  # the second reuses the plan kept per shapes
        result = kept(jac(*p.args, **p.kwargs))
        got.append(
            dense(
                split_aux(result, p.has_aux, name, aux_model),
                out_model,
                p.inputs(),
                f"{name} {call}",
            )
        )
    reference = kept(dd.jacfwd(p.f(has_aux=False), p.argnums)(*p.args, **p.kwargs))
    reference = dense(reference, out_model, p.inputs(), "jacfwd")
    want = fd_jacobian(p)[:, p.columns()]
    for J in got:
        agree(J, reference, f"{name} != jacfwd", **exact)
        agree(J, want, f"{name} != finite differences", **loose)
    kept.check()


def check_scalar(p):
    """For a scalar loss: grad == value_and_grad's == vjp(1.0) == finite differences; hessian ==
    jacfwd(jacrev) == second differences, symmetric; hvp == hessian @ v."""
    exact, loose = tolerances(p.dtype)
    loss, aux_model = p.plain()
    in_model, cols = p.inputs(), p.columns()
    kept = Results(p.args)
    f, kw = p.f(), p.kwargs

    g = kept(dd.grad(f, p.argnums, has_aux=p.has_aux)(*p.args, **kw))
    g = like(split_aux(g, p.has_aux, "grad", aux_model), in_model, "grad")
    vg = kept(dd.value_and_grad(f, p.argnums, has_aux=p.has_aux)(*p.args, **kw))
    assert isinstance(vg, tuple) and len(vg) == 2, "value_and_grad returns (value, gradient)"
    value = split_aux(vg[0], p.has_aux, "value_and_grad", aux_model)
    check_values(value, loss, "value_and_grad value", exact["rtol"])
    agree(like(vg[1], in_model, "value_and_grad gradient"), g, "value_and_grad != grad", **exact)
    out, pullback = kept(dd.vjp(p.bound(has_aux=False), *p.args))
    ct = 1.0 if p.loss_shape == () else np.ones(p.loss_shape, floating(loss))
    row = like(kept(pullback(ct)), p.args, "vjp(1.0) cotangents")[cols]
    agree(row, g, "vjp with a cotangent of 1.0 != grad", **exact)
    agree(g, fd_jacobian(p)[0, cols], "grad != finite differences", **loose)

    if p.loss_shape == ():
        H = kept(dd.hessian(f, p.argnums, has_aux=p.has_aux)(*p.args, **kw))
        H = dense(split_aux(H, p.has_aux, "hessian", aux_model), in_model, in_model, "hessian")
        inner = dd.jacrev(f, p.argnums, has_aux=p.has_aux)
        nested = kept(dd.jacfwd(inner, p.argnums, has_aux=p.has_aux)(*p.args, **kw))
        nested = split_aux(nested, p.has_aux, "jacfwd(jacrev)", aux_model)
        agree(
            H,
            dense(nested, in_model, in_model, "jacfwd(jacrev)"),
            "hessian != jacfwd(jacrev)",
            **exact,
        )
        agree(H, H.T, "hessian not symmetric", **loose)
        agree(
            H,
            fd_hessian(p),
            "hessian != second differences",
            rtol=loose["rtol"] * 10,
            atol=max(1e-5, loose["atol"] * 10),
        )

        # hvp differentiates its first argument only: the Hessian block of argument 0
        plain_f = p.f(has_aux=False)
        H0 = dense(kept(dd.hessian(plain_f, 0)(*p.args, **kw)), p.args[0], p.args[0], "H00")
        v = unvec(np.random.default_rng(7).uniform(-1, 1, vec(p.args[0]).size), p.args[0])
        hv = kept(dd.hvp(plain_f, p.args[0], v, *p.args[1:], **kw))
        agree(like(hv, p.args[0], "hvp"), H0 @ vec(v), "hvp != hessian @ v", **exact)
    kept.check()


def check_elementwise(p):
    """elementwise_grad of an array-valued f == vjp with a cotangent of ones."""
    exact, _ = tolerances(p.dtype)
    out_model, _ = p.plain()
    kept = Results(p.args)
    f = p.f(has_aux=False)
    got = kept(dd.elementwise_grad(f, p.argnums)(*p.args, **p.kwargs))
    got = like(got, p.inputs(), "elementwise_grad")
    _, pullback = dd.vjp(p.bound(has_aux=False), *p.args)
    ones = unvec(np.ones(vec(out_model).size), out_model)
    agree(
        got,
        like(kept(pullback(ones)), p.args, "vjp")[p.columns()],
        "elementwise_grad != vjp",
        **exact,
    )
    kept.check()


def same_as_jax(ours, theirs, where, tol):
    """Our nested result against JAX's: the same containers, shapes and values."""
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (
            f"{where}: {kind_of(ours)} where JAX has a {kind_of(theirs)} of {len(theirs)}"
        )
        for k, (a, b) in enumerate(zip(ours, theirs)):
            same_as_jax(a, b, f"{where}[{k}]", tol)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), f"{where}: keys differ"
        for k in theirs:
            same_as_jax(ours[k], theirs[k], f"{where}[{k!r}]", tol)
    elif theirs is None:
        assert ours is None, f"{where}: {kind_of(ours)} where JAX has None"
    else:
        theirs = np.asarray(theirs)
        assert np.shape(ours) == theirs.shape, f"{where}: {np.shape(ours)} != JAX {theirs.shape}"
        agree(np.asarray(ours, float), theirs.astype(float), where, **tol)


def check_against_jax(p, jax):
    """The optional outside check: jacfwd, jacrev (and hessian for a scalar loss) as JAX's."""
    import jax.numpy as jnp

    exact, _ = tolerances(p.dtype)
    tol = {"rtol": max(exact["rtol"], 1e-9), "atol": max(exact["atol"], 1e-12)}
    pairs = [(dd.jacfwd, jax.jacfwd), (dd.jacrev, jax.jacrev)]
    if p.loss_shape == ():
        pairs.append((dd.hessian, jax.hessian))
    for ours, theirs in pairs:
        got = ours(p.f(has_aux=False), p.argnums)(*p.args, **p.kwargs)
        # jitted: one compilation per call, not one per op and shape as JAX's eager mode
        want = jax.jit(theirs(p.f(jnp, has_aux=False), p.argnums))(*p.args, **p.kwargs)
        same_as_jax(got, want, f"dd.{ours.__name__} against jax", tol)


# -- the Hypothesis lines ------------------------------------------------------------------------


@SETTINGS
@given(problems())
def test_drawn_structures_jacfwd_jacrev_jvp_linearize_vjp_and_differences_agree(p):
    check_jacobians(p)


MODES = st.sampled_from(["forward", "reverse", "auto"])
CHUNKS = st.sampled_from([None, 1, 2])


@SETTINGS
@given(problems(leaves_only=True), MODES, CHUNKS, st.booleans())
def test_drawn_leaves_dense_jacobian_in_every_mode_agrees(p, mode, chunk_size, threads):
    # arguments and output single leaves (arrays of any shape, 0-d, NumPy scalars, floats)
    check_jacobian_modes(p, mode, chunk_size, EXECUTOR if threads else None)


@SETTINGS
@given(problems(none_leaves=True), MODES, CHUNKS, st.booleans())
def test_drawn_structures_dense_jacobian_in_every_mode_agrees(p, mode, chunk_size, threads):
    # output structures with None leaves among them (JAX's empty subtrees)
    check_jacobian_modes(p, mode, chunk_size, EXECUTOR if threads else None)


@SETTINGS
@given(problems(loss_shapes=[(), (), (1,)]))
def test_drawn_structures_grad_value_and_grad_hessian_hvp_agree(p):
    check_scalar(p)


@SETTINGS
@given(problems(one_output=True))
def test_drawn_structures_elementwise_grad_is_vjp_with_ones(p):
    check_elementwise(p)


@settings(SETTINGS, max_examples=6)
@given(problems(loss_shapes=[(), None]))
def test_drawn_structures_nest_as_in_jax(p):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    check_against_jax(p, jax)


# -- the explicit table lines: one per named structure kind --------------------------------------

IN_KINDS = ["array", "python", "zero_d", "numpy", "tuple", "list", "dict", "nested"]


def structure(kind, dtype, seed=0):
    """An input of a named structure kind."""
    rng = np.random.default_rng(seed)

    def a(*shape):
        return rng.uniform(0.2, 1.1, shape).astype(dtype)

    scalar = 0.9 if dtype is np.float64 else dtype(0.9)  # a Python float beside float32: below
    return {
        "array": lambda: a(3),
        "python": lambda: 0.7,
        "zero_d": lambda: np.array(0.6, dtype),
        "numpy": lambda: dtype(0.4),
        "tuple": lambda: (a(2), a(2, 2)),
        "list": lambda: [a(3), dtype(0.5)],
        "dict": lambda: {"w": a(2, 2), "b": a(2)},
        "nested": lambda: {
            "p": (a(2), [a(1, 3), {"c": np.array(0.3, dtype)}]),
            "q": [a(0)],
            "r": scalar,
            "e": [],
        },
    }[kind]()


OUT_KINDS = {
    "array": Expr("sin", 0, -1),
    "python": Expr("pyconst"),
    "zero_d": Expr("prod", 0, -1),
    "tuple": (Expr("sin", 0, -1), Expr("prod", -1, 0)),
    "list": [Expr("tanh", -1, 0), Expr("raw", 0)],
    "dict": {"y": Expr("tanh", 0, -1), "z": Expr("prod", -1, 0)},
    "nested": {
        "y": (Expr("sin", 0, -1), [Expr("prod", -1, 0), {"c": Expr("const")}]),
        "z": Expr("raw", -1),
    },
}


def table_problem(in_kind, out_kind, dtype, has_aux=False, scale=None, loss_shape=None):
    return Problem(
        args=(structure(in_kind, dtype),),
        outputs=OUT_KINDS[out_kind],
        has_aux=has_aux,
        scale=scale,
        dtype=dtype,
        loss_shape=loss_shape,
    )


@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
@pytest.mark.parametrize("out_kind", list(OUT_KINDS))
@pytest.mark.parametrize("in_kind", IN_KINDS)
def test_jacobians_of_each_structure_kind(in_kind, out_kind, dtype):
    check_jacobians(table_problem(in_kind, out_kind, dtype))


@pytest.mark.parametrize("scale", [None, 0.75], ids=["no_kwargs", "kwargs"])
@pytest.mark.parametrize("has_aux", [False, True], ids=["no_aux", "aux"])
@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
def test_has_aux_and_kwargs_on_nested_structures(dtype, has_aux, scale):
    check_jacobians(table_problem("nested", "nested", dtype, has_aux, scale))
    check_scalar(table_problem("nested", "nested", dtype, has_aux, scale, loss_shape=()))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), (1,), -1])
def test_argnums_over_two_structured_arguments(argnums):
    args = (structure("tuple", np.float64), structure("dict", np.float64, seed=1))
    outputs = {"y": Expr("sin", 0, -1), "z": [Expr("prod", -1, 1), Expr("tanh", 2, 0)]}
    p = Problem(args=args, outputs=outputs, argnums=argnums, has_aux=True, scale=0.5)
    check_jacobians(p)
    check_scalar(Problem(args=args, outputs=outputs, argnums=argnums, loss_shape=()))


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
@pytest.mark.parametrize("kind", IN_KINDS)
def test_dense_jacobian_of_each_input_kind(kind, mode):
    check_jacobian_modes(table_problem(kind, "array", np.float64), mode)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
@pytest.mark.parametrize("kind", list(OUT_KINDS))
def test_dense_jacobian_of_each_output_kind(kind, mode):
    check_jacobian_modes(table_problem("array", kind, np.float64), mode)


@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
@pytest.mark.parametrize("has_aux", [False, True], ids=["no_aux", "aux"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_dense_jacobian_chunked_on_threads_with_aux_and_kwargs(mode, has_aux, dtype):
    p = Problem(
        args=(structure("array", dtype),),
        outputs=Expr("sin", 0, 0),
        has_aux=has_aux,
        scale=0.75,
        dtype=dtype,
    )
    check_jacobian_modes(p, mode, chunk_size=1, executor=EXECUTOR)
    check_jacobian_modes(p, mode, chunk_size=2)


@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", IN_KINDS)
def test_scalar_transforms_of_each_input_kind(kind, dtype):
    check_scalar(table_problem(kind, "tuple", dtype, loss_shape=()))
    check_scalar(table_problem(kind, "dict", dtype, loss_shape=(1,)))
    check_elementwise(table_problem(kind, "array", dtype))


def test_nested_structures_nest_as_in_jax():
    # JAX compiles each op anew for each shape: one nested line (tuples, lists, dicts, 0-d
    # arrays, NumPy scalars, Python floats and an empty list in; a tuple, a list, a dict, a
    # constant and an input returned as it is out), and a Hessian
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    check_against_jax(table_problem("nested", "nested", np.float64, scale=0.75), jax)
    check_against_jax(table_problem("nested", "nested", np.float64, loss_shape=()), jax)


def test_integer_and_bool_inputs_promote_to_float64():
    for x in (np.arange(1, 4), np.array([True, False, True]), 2, True):
        for J in (dd.jacfwd(np.sin)(x), dd.jacrev(np.sin)(x), dd.jacobian(np.sin)(x)):
            check_leaf(J, np.shape(x) * 2, np.float64, f"jacobian at {x!r}")
            agree(
                J,
                np.diag(np.cos(np.ravel(x).astype(float))).reshape(np.shape(x) * 2),
                "jacobian of sin",
                rtol=1e-12,
            )
        check_leaf(dd.grad(lambda v: np.sum(v * v))(x), np.shape(x), np.float64, "grad")


# == 4. large lines, None leaves, Python floats beside float32, named errors =====================

LARGE = 20_000  # at least 16384 elements: the buffer pool and deferred values engage


def large_input(kind, dtype):
    w = np.random.default_rng(3).uniform(0.5, 1.5, LARGE).astype(dtype)
    return w if kind == "array" else {"w": w, "b": np.array(0.8, dtype)}


def large_f(x):
    """A leaf of 20000 elements to four outputs (one array, or a dict of a scalar and three)."""
    if not isinstance(x, dict):
        return np.sin(x[:4]) * np.sum(x * x) / x.size
    w, b = x["w"], x["b"]
    return {"s": np.sum(np.sin(w)) * b, "t": np.sin(w[:3]) * np.sum(w * w) / w.size}


def large_loss(x):
    out = large_f(x)
    return np.sum(out["t"]) + out["s"] if isinstance(out, dict) else np.sum(out * out)


@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", ["array", "dict"])
def test_large_input_to_few_outputs(kind, dtype, deferring):
    x = large_input(kind, dtype)
    exact, loose = tolerances(dtype)
    if dtype is np.float32:  # sums of 20000 float32 terms in different orders
        exact = {"rtol": 2e-4, "atol": 2e-5}
    kept = Results((x,))
    out_model = large_f(x)
    J = dense(kept(dd.jacrev(large_f)(x)), out_model, x, "jacrev")
    out, pullback = kept(dd.vjp(large_f, x))
    check_values(out, out_model, "vjp out", exact["rtol"])
    rows = [
        like(kept(pullback(unvec(e, out_model, True))), (x,), "vjp") for e in np.eye(J.shape[0])
    ]
    agree(np.stack(rows), J, "stacked vjps != jacrev", **exact)

    rng = np.random.default_rng(5)
    h = 1e-6
    x64 = upcast(x)
    _, f_jvp = kept(dd.linearize(large_f, x))
    for _ in range(2):  # forward mode along random directions: J @ u
        u = unvec(rng.uniform(-1, 1, J.shape[1]), x)
        out, t = kept(dd.jvp(large_f, (x,), (u,)))
        agree(like(t, out_model, "jvp"), J @ vec(u), "jvp != jacrev @ u", **exact)
        agree(like(kept(f_jvp(u)), out_model, "linearize"), J @ vec(u), "linearize", **exact)
        u64 = upcast(u)
        step = [unvec(vec(x64) + s * h * vec(u64), x64) for s in (1, -1)]
        slope = (vec(large_f(step[0])) - vec(large_f(step[1]))) / (2 * h)
        agree(J @ vec(u), slope, "jacrev @ u != finite differences", **loose)

    g = like(kept(dd.grad(large_loss)(x)), x, "grad")
    value, g2 = kept(dd.value_and_grad(large_loss)(x))
    check_values(value, large_loss(x), "value_and_grad value", exact["rtol"])
    agree(like(g2, x, "value_and_grad"), g, "value_and_grad != grad", **exact)
    _, pullback = kept(dd.vjp(large_loss, x))
    agree(like(kept(pullback(1.0)), (x,), "vjp(1.0)"), g, "vjp(1.0) != grad", **exact)
    u, v = (unvec(rng.uniform(-1, 1, g.size), x) for _ in range(2))
    Hu = like(kept(dd.hvp(large_loss, x, u)), x, "hvp")
    Hv = like(kept(dd.hvp(large_loss, x, v)), x, "hvp")
    agree(vec(v) @ Hu, vec(u) @ Hv, "hvp not symmetric", **loose)
    grad64 = dd.grad(large_loss)
    h = 1e-5
    slope = (
        vec(grad64(unvec(vec(x64) + h * vec(upcast(u)), x64)))
        - vec(grad64(unvec(vec(x64) - h * vec(upcast(u)), x64)))
    ) / (2 * h)
    agree(Hu, slope, "hvp != differences of grad", rtol=loose["rtol"] * 10, atol=1e-5)
    w = x["w"] if kind == "dict" else x
    eg = like(kept(dd.elementwise_grad(np.sin)(w)), w, "elementwise_grad")
    _, pullback = dd.vjp(np.sin, w)
    agree(eg, like(kept(pullback(np.ones_like(w))), (w,), "vjp"), "elementwise_grad", **exact)
    kept.check()
    # last: dense dd.jacobian (structures in it are new), in the modes a large input takes
    for mode, chunk_size, executor in [
        ("reverse", None, None),
        ("auto", None, None),
        ("reverse", 2, EXECUTOR),
    ]:
        name = f"jacobian(mode={mode!r}, chunk_size={chunk_size})"
        got = kept(dd.jacobian(large_f, mode=mode, chunk_size=chunk_size, executor=executor)(x))
        agree(dense(got, out_model, x, name), J, name, **exact)
    kept.check()


@pytest.mark.parametrize("dtype", FLOATS, ids=DTYPE_IDS)
def test_few_inputs_to_a_large_output(dtype, deferring):
    c = np.random.default_rng(4).uniform(0.5, 1.5, LARGE).astype(dtype)

    def f(p):
        return {"y": np.sin(p["a"] * c), "z": p["b"] * c}

    p = {"a": np.array(0.7, dtype), "b": dtype(1.3)}
    exact, _ = tolerances(dtype)
    kept = Results((p, c))
    out_model = f(p)
    J = dense(kept(dd.jacfwd(f)(p)), out_model, p, "jacfwd")
    agree(J[:LARGE, 0], c * np.cos(p["a"] * c), "d y / d a", **exact)
    out, pullback = kept(dd.vjp(f, p))
    check_values(out, out_model, "vjp out", exact["rtol"])
    ct = unvec(np.random.default_rng(6).uniform(-1, 1, J.shape[0]), out_model)
    agree(like(kept(pullback(ct)), (p,), "vjp"), vec(ct) @ J, "vjp != ct @ jacfwd", **exact)
    _, f_jvp = kept(dd.linearize(f, p))
    for e in np.eye(2):  # (jacrev would pull back a 40000 x 40000 basis: not at this size)
        t = unvec(e, p)
        agree(like(kept(dd.jvp(f, (p,), (t,))[1]), out_model, "jvp"), J @ e, "jvp", **exact)
        agree(like(kept(f_jvp(t)), out_model, "linearize"), J @ e, "linearize", **exact)
    kept.check()
    for mode in ("forward", "auto"):  # last: dense dd.jacobian of a dict (structures are new)
        got = kept(dd.jacobian(f, mode=mode)(p))
        agree(dense(got, out_model, p, f"jacobian({mode})"), J, f"jacobian({mode})", **exact)
    kept.check()


# -- None leaves in outputs (allowed: JAX's empty subtree) ---------------------------------------


def with_none(x):
    return {"y": np.sin(x) * 2.0, "skip": None, "pair": (None, np.sum(x * x))}


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian"])
def test_none_leaves_in_outputs_stay_none_in_jacobians(transform):
    x = np.array([0.3, 0.8])
    J = getattr(dd, transform)(with_none)(x)
    dense_J = dense(J, with_none(x), x, transform)
    agree(dense_J, np.vstack([np.diag(2 * np.cos(x)), 2 * x]), transform, rtol=1e-12)


def test_none_leaves_in_outputs_with_jvp_vjp_and_linearize():
    x = np.array([0.3, 0.8])
    model = with_none(x)
    t = np.array([1.0, -2.0])
    out, tangent = dd.jvp(with_none, (x,), (t,))
    check_values(out, model, "jvp out", 1e-12)
    agree(
        like(tangent, model, "jvp"),
        [2 * np.cos(0.3), -4 * np.cos(0.8), 2 * (0.3 - 1.6)],
        "jvp",
        rtol=1e-12,
    )
    _, f_jvp = dd.linearize(with_none, x)
    agree(like(f_jvp(t), model, "linearize"), like(tangent, model, "jvp"), "linearize")
    _, pullback = dd.vjp(with_none, x)
    (g,) = pullback({"y": np.ones(2), "skip": None, "pair": (None, 1.0)})
    agree(g, 2 * np.cos(x) + 2 * x, "vjp", rtol=1e-12)


# -- a Python float beside float32 leaves --------------------------------------------------------


def test_a_python_float_beside_float32_keeps_float32_as_numpy_and_jax_do():
    # NumPy (NEP 50) and JAX treat a Python float as weak: float32 * 3.0 is float32. A Python
    # float input must not turn f's float32 values or their derivatives into float64.
    a = np.array([1.0, 2.0], np.float32)

    def f(p):
        return p[0] * p[1]

    args = ((a, 3.0),)
    assert f(args[0]).dtype == np.float32
    out, tangent = dd.jvp(f, args, ((np.ones(2, np.float32), 1.0),))
    check_leaf(out, (2,), np.float32, "jvp out", values=True)
    check_leaf(tangent, (2,), np.float32, "jvp tangent")
    out, _ = dd.vjp(f, *args)
    check_leaf(out, (2,), np.float32, "vjp out", values=True)
    for transform in (dd.jacfwd, dd.jacrev):
        J = transform(f)(*args)
        check_leaf(J[0], (2, 2), np.float32, f"{transform.__name__} block d out / d a")


# -- float32 in the corners: zero blocks, size 0, a float64 loss --------------------------------

F32 = np.array([0.5, 1.0], np.float32)


def test_a_block_of_zeros_keeps_float32():
    # an output that does not depend on the differentiated argument: its block is zeros, of the
    # float32 of both output and input, in forward mode as in reverse mode (and as in JAX)
    for transform in (dd.jacfwd, dd.jacrev):
        name = transform.__name__
        J = transform(lambda a, b: np.sin(a), argnums=1)(F32, np.float32(2.0))
        check_leaf(J, (2,), np.float32, f"{name} of an output independent of argument 1")
        J = transform(lambda a: np.ones(2, np.float32))(F32)
        check_leaf(J, (2, 2), np.float32, f"{name} of a float32 constant")
    # a linear loss: its Hessian is zeros
    check_leaf(dd.hessian(np.sum)(F32), (2, 2), np.float32, "hessian of a linear loss")
    check_leaf(dd.hvp(np.sum, F32, F32), (2,), np.float32, "hvp of a linear loss")


def test_jacrev_inside_forward_mode_keeps_float32():
    # reverse over a float32 input gives float32 (jacrev alone does); pushed forward through,
    # it must stay float32, as dd.hessian (forward over grad) does for the same loss
    def f(x):
        return np.sum(x**3)

    assert dd.jacrev(f)(F32).dtype == dd.hessian(f)(F32).dtype == np.float32
    check_leaf(dd.jacfwd(dd.jacrev(f))(F32), (2, 2), np.float32, "jacfwd(jacrev)")
    check_leaf(dd.jvp(dd.jacrev(f), (F32,), (F32,))[1], (2,), np.float32, "jvp of jacrev")


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian"])
def test_a_size_zero_float32_input_keeps_float32(transform):
    J = getattr(dd, transform)(np.sin)(np.zeros(0, np.float32))
    check_leaf(J, (0, 0), np.float32, f"{transform} at a float32 input of size 0")


def test_second_derivatives_of_a_float64_loss_of_float32_input_are_float32():
    # the loss is float64 (a float64 constant is added), the input float32: grad is float32
    # (the input's dtype), and so must be its derivatives, as in JAX
    def f(x):
        return np.sum(x**3) + np.sum(np.full((2,), 0.5))

    assert dd.grad(f)(F32).dtype == np.float32
    check_leaf(dd.hessian(f)(F32), (2, 2), np.float32, "hessian")
    check_leaf(dd.jacfwd(dd.jacrev(f))(F32), (2, 2), np.float32, "jacfwd(jacrev)")
    check_leaf(dd.hvp(f, F32, np.ones(2, np.float32)), (2,), np.float32, "hvp")


@pytest.mark.parametrize(
    "x",
    [0.77, np.float64(0.77), np.array(0.77), np.array([0.77, 1.0])],
    ids=["python", "numpy", "zero_d", "array"],
)
def test_an_input_returned_twice_gives_two_arrays_of_their_own(x):
    def f(x):
        return (x, x)

    kept = Results((x,))
    kept(dd.jvp(f, (x,), (np.ones_like(x),)))
    kept(dd.vjp(f, x)[0])
    kept(dd.linearize(f, x)[0])
    kept(dd.jacfwd(f)(x))
    kept(dd.jacrev(f)(x))
    kept.check()


# -- arguments outside argnums -------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["jacobian", "jacobian sparse", "hessian", "hessian sparse"])
def test_an_undifferentiated_structured_argument_reaches_f_as_it_is(transform):
    # as in JAX, an argument outside argnums is f's business: here a tuple of leaves of
    # different shapes (dd.jacfwd and dd.jacrev take it)
    x = np.array([0.5, 1.0])
    c = (np.ones(3), 2.0)

    def f(x, c):
        return np.sin(x) * np.sum(c[0]) * c[1]

    if transform.startswith("jacobian"):
        want = dd.jacfwd(f)(x, c)
        got = dd.jacobian(f, sparse=transform.endswith("sparse"))(x, c)
    else:
        want = dd.jacfwd(dd.jacrev(lambda x, c: np.sum(f(x, c))))(x, c)
        got = dd.hessian(lambda x, c: np.sum(f(x, c)), sparse=transform.endswith("sparse"))(x, c)
    agree(got.toarray() if hasattr(got, "toarray") else got, want, transform, rtol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_an_undifferentiated_argument_may_change_the_output_shape_between_calls(mode):
    # the plan dd.jacobian keeps between calls must not outlive the output shape it was made for
    x = np.array([0.5, 1.0, 2.0])
    jac = dd.jacobian(lambda x, n: np.sin(x[:n]), mode=mode)
    for n in (2, 3, 2):
        J = jac(x, n)
        check_leaf(J, (n, 3), np.float64, f"jacobian at n={n}")
        agree(J, np.eye(n, 3) * np.cos(x[:n])[:, None], f"jacobian at n={n}", rtol=1e-12)


# -- every unsupported combination raises a named error -----------------------------------------

X = np.array([0.5, 1.5, 2.0])


def loss_of(x):
    return np.sum(np.sin(x))


def complex_loss(x):
    return np.sum(np.exp(1j * x))


def created_graph():
    t = dd.tensor([1.0, 2.0], requires_grad=True)
    return dd.autograd.grad(np.sum(t**3), t, create_graph=True)


UNSUPPORTED = {
    # sparse=True keeps a pattern per f: no aux, no executor, no keyword arguments
    "jacobian sparse has_aux": (
        lambda: dd.jacobian(np.sin, sparse=True, has_aux=True),
        ValueError,
        r"dd\.jacobian: has_aux=True is not supported with "
        r"sparse=True",
    ),
    "hessian sparse has_aux": (
        lambda: dd.hessian(loss_of, sparse=True, has_aux=True),
        ValueError,
        r"dd\.hessian: has_aux=True is not supported with "
        r"sparse=True",
    ),
    "jacobian sparse executor": (
        lambda: dd.jacobian(np.sin, sparse=True, executor=EXECUTOR),
        ValueError,
        r"sparse=True .*no executor",
    ),
    "jacobian sparse kwargs": (
        lambda: dd.jacobian(lambda x, s=1: x * s, sparse=True)(X, s=2.0),
        TypeError,
        r"keyword arguments are not passed through.*'s'",
    ),
    "hessian sparse kwargs": (
        lambda: dd.hessian(lambda x, s=1: np.sum(x**3) * s, sparse=True)(X, s=2.0),
        TypeError,
        r"keyword arguments are not passed through.*'s'",
    ),
    "jacobian bad mode": (
        lambda: dd.jacobian(np.sin, mode="sideways"),
        ValueError,
        r"mode must be one of",
    ),
    "jacobian bad chunk_size": (
        lambda: dd.jacobian(np.sin, chunk_size=0),
        ValueError,
        r"chunk_size must be a positive int",
    ),
    "jacobian bad executor": (
        lambda: dd.jacobian(np.sin, executor="pool"),
        TypeError,
        r"executor must be a concurrent\.futures\.Executor",
    ),
    # create_graph in the tensor layer
    "autograd create_graph": (
        created_graph,
        dd.autograd.HigherOrderNotSupported,
        r"create_graph=True.*dd\.hessian",
    ),
    # scalar transforms of non-scalar outputs
    "grad non-scalar": (
        lambda: dd.grad(np.sin)(X),
        ValueError,
        r"dd\.grad requires a function with one output element.*\(3,\)",
    ),
    "value_and_grad non-scalar": (
        lambda: dd.value_and_grad(np.sin)(X),
        ValueError,
        r"dd\.value_and_grad requires .*one output element.*\(3,\)",
    ),
    "hessian non-scalar": (
        lambda: dd.hessian(np.sin)(X),
        ValueError,
        r"dd\.hessian requires .*one output element.*\(3,\)",
    ),
    "hvp non-scalar": (
        lambda: dd.hvp(np.sin, X, X),
        ValueError,
        r"dd\.hvp requires .*one output element.*\(3,\)",
    ),
    "grad tuple output": (
        lambda: dd.grad(lambda x: (np.sum(x), np.sum(x)))(X),
        TypeError,
        r"dd\.grad: f returned a tuple",
    ),
    "grad dict output": (
        lambda: dd.grad(lambda x: {"a": np.sum(x)})(X),
        TypeError,
        r"dd\.grad: f returned a dict",
    ),
    "elementwise_grad dict output": (
        lambda: dd.elementwise_grad(lambda x: {"a": x})(X),
        TypeError,
        r"dd\.elementwise_grad: f returned a dict",
    ),
    # has_aux with an f that does not return a pair
    "grad has_aux no pair": (
        lambda: dd.grad(loss_of, has_aux=True)(X),
        TypeError,
        r"dd\.grad: with has_aux=True, f must return a pair",
    ),
    "jacfwd has_aux triple": (
        lambda: dd.jacfwd(lambda x: (x, x, x), has_aux=True)(X),
        TypeError,
        r"dd\.jacfwd: with has_aux=True.*length 3",
    ),
    "jvp has_aux no pair": (
        lambda: dd.jvp(np.sin, (X,), (X,), has_aux=True),
        TypeError,
        r"dd\.jvp: with has_aux=True, f must return a pair",
    ),
    # tangents and cotangents not of the primal's / output's structure and shapes
    "jvp tangent structure": (
        lambda: dd.jvp(lambda p: p["a"], ({"a": X},), ({"b": X},)),
        ValueError,
        r"dd\.jvp: the tangent \[0\] must have the structure",
    ),
    "jvp tangent shape": (
        lambda: dd.jvp(np.sin, (X,), (X[:2],)),
        ValueError,
        r"dd\.jvp: tangent shape \(2,\) .*does not match primal shape \(3,\)",
    ),
    "jvp primals not a tuple": (
        lambda: dd.jvp(np.sin, X, X),
        TypeError,
        r"dd\.jvp: primals and tangents must be tuples",
    ),
    "vjp cotangent structure": (
        lambda: dd.vjp(lambda x: (x, x), X)[1](X),
        ValueError,
        r"dd\.vjp: the cotangent must have the structure",
    ),
    "vjp cotangent None": (
        lambda: dd.vjp(np.sin, X)[1](None),
        TypeError,
        r"dd\.vjp: the cotangent is None",
    ),
    "hvp v shape": (
        lambda: dd.hvp(loss_of, X, X[:2]),
        ValueError,
        r"dd\.hvp: tangent shape \(2,\)",
    ),
    "linearize tangent shape": (
        lambda: dd.linearize(np.sin, X)[1](X[:2]),
        ValueError,
        r"dd\.linearize: tangent shape \(2,\)",
    ),
    # argnums
    "argnums out of range": (
        lambda: dd.jacfwd(np.sin, argnums=1)(X),
        TypeError,
        r"dd\.jacfwd: argnums asks for argument 1",
    ),
    "argnums twice": (
        lambda: dd.jacrev(np.sin, argnums=(0, 0)),
        ValueError,
        r"dd\.jacrev: argnums=\(0, 0\) names an argument twice",
    ),
    "hessian argnums not an int": (
        lambda: dd.hessian(loss_of, argnums=0.5),
        TypeError,
        r"dd\.hessian: argnums must be an int",
    ),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_combinations_raise_a_named_error(case):
    call, error, match = UNSUPPORTED[case]
    with pytest.raises(error, match=match):
        call()


def transforms_of(f_array, f_loss):
    """Each transform called at one input ``x`` (a callable of x)."""
    return {
        "grad": lambda x: dd.grad(f_loss)(x),
        "value_and_grad": lambda x: dd.value_and_grad(f_loss)(x),
        "hessian": lambda x: dd.hessian(f_loss)(x),
        "hessian sparse": lambda x: dd.hessian(f_loss, sparse=True)(x),
        "hvp": lambda x: dd.hvp(f_loss, x, x),
        "jacfwd": lambda x: dd.jacfwd(f_array)(x),
        "jacrev": lambda x: dd.jacrev(f_array)(x),
        "jacobian forward": lambda x: dd.jacobian(f_array, mode="forward")(x),
        "jacobian reverse": lambda x: dd.jacobian(f_array, mode="reverse")(x),
        "jacobian auto": lambda x: dd.jacobian(f_array)(x),
        "jacobian sparse": lambda x: dd.jacobian(f_array, sparse=True)(x),
        "jvp": lambda x: dd.jvp(f_array, (x,), (x,)),
        "vjp": lambda x: dd.vjp(f_array, x),
        "linearize": lambda x: dd.linearize(f_array, x),
        "elementwise_grad": lambda x: dd.elementwise_grad(f_array)(x),
    }


TRANSFORMS = transforms_of(np.sin, loss_of)
COMPLEX_TAKERS = ("grad", "value_and_grad", "vjp", "jvp", "linearize")
BAD_INPUTS = {
    "complex array": (X + 1j, r"real-valued inputs only|complex"),
    "complex in a dict": ({"a": X, "z": 1j}, r"real-valued inputs only|complex"),
    "str": ("abc", r"str"),
    "str in a list": ([X, "abc"], r"str"),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_complex_and_string_inputs_raise_a_named_type_error(transform, bad):
    x, match = BAD_INPUTS[bad]
    if "complex" in bad and transform in COMPLEX_TAKERS:
        pytest.skip("takes complex inputs, as JAX's (tests/test_complex.py)")
    if "sparse" in transform:  # sparse=True may refuse the container itself, by name
        match += r"|must be an array of numbers, got a (dict|list)"
    with pytest.raises(TypeError, match=match):
        TRANSFORMS[transform](x)


@pytest.mark.parametrize("bad", ["complex", "str"])
@pytest.mark.parametrize("where", ["tangent", "cotangent", "hvp v"])
def test_complex_and_string_tangents_raise_a_named_type_error(where, bad):
    t = X * 1j if bad == "complex" else "abc"
    what = "cotangent" if where == "cotangent" else "tangent"
    name = {"tangent": "jvp", "cotangent": "vjp", "hvp v": "hvp"}[where]
    value = "a complex value" if bad == "complex" else "a str"
    with pytest.raises(TypeError, match=rf"dd\.{name}: the {what}( \[0\])? is {value}"):
        if where == "tangent":
            dd.jvp(np.sin, (X,), (t,))
        elif where == "cotangent":
            dd.vjp(np.sin, X)[1](t)
        else:
            dd.hvp(loss_of, X, t)


OUTPUT_TRANSFORMS = transforms_of(lambda x: np.exp(1j * x), complex_loss)


@pytest.mark.parametrize("transform", list(OUTPUT_TRANSFORMS))
def test_a_complex_output_raises_a_named_type_error(transform):
    # a transform whose result would need two real passes refuses a complex output rather than
    # return a wrong "derivative"; jvp, vjp and linearize take it (JAX's convention)
    if transform in ("jvp", "vjp", "linearize"):
        out = OUTPUT_TRANSFORMS[transform](X)
        agree(out[0], np.exp(1j * X), f"{transform}'s value")
        return
    with pytest.raises(TypeError, match=r"f returned a complex value"):
        OUTPUT_TRANSFORMS[transform](X)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jvp", "vjp", "linearize"])
def test_a_string_leaf_in_the_output_raises_a_named_type_error(transform):
    def f(x):
        return {"y": np.sin(x), "label": "abc"}

    call = transforms_of(f, None)[transform]
    with pytest.raises(TypeError, match=rf"dd\.{transform}: f returned an output containing a str"):
        call(X)


COMPLEX_INTERMEDIATES = {
    # a real function of a real x through complex values, and its exact derivative
    "real(exp(ix)) = cos x": (lambda x: np.real(np.exp(1j * x)), lambda x: -np.sin(x)),
    "abs(exp(ix)) = 1": (lambda x: np.abs(np.exp(1j * x)), lambda x: 0 * x),
    "abs(x exp(ix)) = |x|": (lambda x: np.abs(np.exp(1j * x) * x), np.sign),
}


@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "jvp"])
@pytest.mark.parametrize("case", list(COMPLEX_INTERMEDIATES))
def test_a_real_function_through_complex_intermediates_is_right(case, transform):
    # differentiated right: a real derivative (tests/test_complex.py covers the ops)
    f, derivative = COMPLEX_INTERMEDIATES[case]
    if transform == "grad":
        got = dd.grad(lambda x: np.sum(f(x)))(X)
    elif transform == "jvp":
        got = dd.jvp(f, (X,), (np.ones(3),))[1]
    else:
        got = np.diagonal(getattr(dd, transform)(f)(X))
    check_leaf(np.asarray(got), X.shape, np.float64, f"{transform} of {case}")
    agree(got, derivative(X), f"{transform} of {case}", rtol=1e-12, atol=1e-15)
