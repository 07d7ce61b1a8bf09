"""Random NumPy programs and the three oracles they are checked against (issue 12).

A program is the source of ``def f(x)``: plain NumPy code of a 1-D float64 array ``x`` of even
length ``n``, returning a 1-D array of length ``n``. The generator tracks which names may be
written into: ``x`` and its views never are (a transform's input is not f's to change, as in
JAX), everything f computed or copied is. The lines come in families, so that a test of one
family shows which kind of code fails:

- ``pure``: elementwise ops, powers with int and float exponents (0 and 1 among them), exp,
  log and sqrt of positives, sin, tanh, sum/mean/max reductions, np.maximum, and the same
  array or a view of it under another name (``x`` itself may be returned);
- ``inplace``: ``a += b``, ``a -= a.mean()``, ``a /= c``, ``a *= 2``, name aliases and
  helpers that change their argument in place (one array passed twice among them);
- ``views``: writes through views (``a[:2][0] = 0``, ``a.reshape(2, -1)[0, 0] = 0``,
  ``a.reshape(2, -1).T[...] = ...``, ``for row in a.reshape(2, -1): row /= 2``), item and
  slice assignment, named views (``a[::-1]``) written into later;
- ``copies``: ``copy.copy``, ``copy.deepcopy``, ``np.copy``, ``a.copy()``,
  ``dualdiff.numpy.array``, each followed by writes into the copy;
- ``indices``: indices computed from values (``argmax``, ``argsort``, ``argmin``), reads and
  writes through them and through boolean masks;
- ``errors``: ``warnings.simplefilter("error")`` and ``np.errstate(... = "raise")`` around an
  op in a ``try`` with a fallback in the ``except``, and recorded warnings choosing a branch;
- ``objects``: object arrays holding traced arrays (NumPy's object loops apply the operators);
- ``constants``: plain arrays f makes, used in traced ops, then changed in place;
- ``mixed``: all of the above in one program.

The oracles:

1. NumPy itself: the value a transform returns equals ``f`` on plain arrays, bit for bit (the
   same ufuncs run on the same float64 values in the same order);
2. ownership: no array a transform returns shares memory with an input, a constant or another
   result; inputs and constants are unchanged; a second call leaves the first one's results;
3. derivatives: central finite differences of NumPy's f, forward mode against reverse mode
   (the dot-product test ``u . J v``), Hessian-vector products against differences of the
   gradient (small size) or the Hessian's symmetry (large size) and, at the small size,
   jacfwd against jacrev and the Hessian against hvp.

Every run of a program (NumPy's, the finite differences', the transforms') is in NumPy's
default error state, so a program's own warnings filters and ``errstate`` blocks decide.
"""

import contextlib
import copy
import os
import warnings

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import dualdiff as dd
import dualdiff.numpy as dnp
from dualdiff.large import pool
from tests._programs import function_of, source_of

SMALL = 6
LARGE = pool.MIN_SIZE  # the size at which the pool, deferral, elision and in-place sweeps engage
# Examples per test: small enough for CI, raised locally with DUALDIFF_ORACLE_EXAMPLES=500.
EXAMPLES = int(os.environ.get("DUALDIFF_ORACLE_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# At the large size an example costs a few small ones.
LARGE_SETTINGS = settings(
    max_examples=max(4, EXAMPLES // 2),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

POWERS = ["0", "1", "2", "3", "0.0", "1.0", "2.0", "np.float64(0)", "np.float64(1)"]

PURE = [
    "{new} = {a} + {b}",
    "{new} = {a} - {b}",
    "{new} = {a} * {b}",
    "{new} = {a} / ({b} * {b} + 1.0)",
    "{new} = {a} ** {p}",
    "{new} = np.sqrt({a} * {a} + 0.5)",
    "{new} = (np.abs({a}) + 0.25) ** 0.5",
    "{new} = np.exp(np.tanh({a}))",
    "{new} = np.log({a} * {a} + 1.0)",
    "{new} = np.sin({a})",
    "{new} = np.tanh({a} * 1.5)",
    "{new} = {a} - np.mean({b})",
    "{new} = {a} * (np.sum({b}) / {a}.size)",
    "{new} = {a} / (1.1 + np.max(np.abs({b})))",
    "{new} = {a} * np.max({b})",
    "{new} = np.maximum({a}, {b} * 0.7)",
]

# The same array or a view of it: writable only when ``a`` is (never x or a view of x).
READS = [
    "{new} = {a}",
    "{new} = {a}[::-1]",
    "{new} = np.real({a})",
    "{new} = np.atleast_1d({a})",
    "{new} = {a}.reshape(2, -1).ravel()",
]
PURE += READS

INPLACE = [
    "{w} += {b}",
    "{w} -= {b}",
    "{w} -= {w}.mean()",
    "{w} /= 2.0",
    "{w} /= 3",
    "{w} *= 2",
    "{w} *= {b}",
    "std_({w})",
    "axpy_({w}, {w})",
    "axpy_({w}, {b})",
    "{alias} = {w}",
]

VIEWS = [
    "{w}[:2][0] = 0.0",
    "{w}[:2][1] = {b}[1] * 2.0",
    "{w}.reshape(2, -1)[0, 0] = 0.5",
    "{w}.reshape(2, -1).T[1, 0] = {b}[0]",
    "{w}.reshape(2, -1).T[...] = {b}.reshape(-1, 2) * 0.5",
    "for row in {w}.reshape(2, -1):\n        row /= 2.0",
    "{w}[1] = np.sin({b}[2])",
    "{w}[2:4] = {b}[:2] * 3.0",
    "{w}[::2] = {b}[1::2]",
    "{w}[...] = {b} * 0.5",
    "{w}[:] = np.tanh({b})",
    "{aliasview} = {w}[::-1]",
    "{aliasview} = {w}.reshape(2, -1).ravel()",
]

COPIES = [
    "{new} = copy.copy({a})",
    "{new} = copy.deepcopy({a})",
    "{new} = np.copy({a})",
    "{new} = {a}.copy()",
    "{new} = dnp.array({a})",
]

INDICES = [
    "{new} = {a} * {b}[np.argmax({b})]",
    "{new} = {a}[np.argsort({b})]",
    "{new} = {a} - {a}[np.argmin({a})]",
    "{new} = np.where({b} > 0, {a}, -{a})",
    "{w}[np.argmax({b})] = 0.0",
    "{w}[np.argsort({b})[:2]] = {b}[:2] * 2.0",
    "{w}[{b} > 0] = 0.0",
    "{w}[{b} < 0] *= 2.0",
]

ERRORS = [
    "with warnings.catch_warnings():\n"
    "        warnings.simplefilter('error')\n"
    "        try:\n"
    "            {new} = np.log({a})\n"
    "        except RuntimeWarning:\n"
    "            {new} = np.log(np.abs({a}) + 1.0)",
    "with np.errstate(invalid='raise'):\n"
    "        try:\n"
    "            {new} = np.sqrt({a}) + 1.0\n"
    "        except FloatingPointError:\n"
    "            {new} = np.sqrt(np.abs({a}) + 0.1)",
    "with np.errstate(over='raise'):\n"
    "        try:\n"
    "            {new} = np.exp({a} * 400.0) * 1e-300\n"
    "        except FloatingPointError:\n"
    "            {new} = np.tanh({a})",
    "with np.errstate(divide='raise', invalid='raise'):\n"
    "        try:\n"
    "            {new} = np.sin({a}) / {a}\n"
    "        except FloatingPointError:\n"
    "            {new} = np.cos({a})",
    "with warnings.catch_warnings(record=True) as w{i}:\n"
    "        warnings.simplefilter('always')\n"
    "        {new} = np.log({a})\n"
    "    if w{i}:\n"
    "        {new} = np.log(np.abs({a}) + 1.0)",
    "{new} = np.maximum({a}, 0.0)",
]

OBJECTS = [
    "o{i} = np.empty(2, object)\n"
    "    o{i}[0] = {a}\n"
    "    o{i}[1] = {b}\n"
    "    p{i} = o{i} * 2.0 - 1.0\n"
    "    {new} = p{i}[0] * p{i}[1]",
    "q{i} = np.empty(1, object)\n"
    "    q{i}[0] = {b} + 0.0\n"
    "    o{i} = np.empty(1, object)\n"
    "    o{i}[0] = {a} * 1.5\n"
    "    {new} = (o{i} - q{i})[0]",
]

# Plain arrays f makes itself ({c}: never traced), used in traced ops and changed later
# (with plain values only: a traced value written into a plain array is a named TypeError).
MAKE_CONSTANT = "{c} = np.cos(np.arange(x.size) * 0.5) + 1.5"
CONSTANTS = [
    MAKE_CONSTANT,
    "{new} = {a} * {c}",
    "{new} = np.sin({a}) + {c}[::-1]",
    "{new} = {a} / {c}",
    "{c} += 1.0",
    "{c} *= 2",
    "{c}[:2][0] = 5.0",
    "std_({c})",
    "{c}.reshape(2, -1)[0, 0] = -1.0",
]

FAMILIES = {
    "pure": [],
    "inplace": INPLACE,
    "views": VIEWS + INPLACE[:3],
    "copies": COPIES + VIEWS[:4] + INPLACE[:4],
    "indices": INDICES,
    "errors": ERRORS,
    "objects": OBJECTS,
    "constants": CONSTANTS,
    "mixed": CONSTANTS + INPLACE + VIEWS + COPIES + INDICES + ERRORS + OBJECTS,
}


@st.composite
def programs(draw, family):
    """The source of a program: a few lines of ``family`` (and of ``pure``), then a return."""
    names = [("x", False), ("v0", True)]
    lines = ["v0 = x * 0.5 + 0.25"]
    templates = FAMILIES[family]
    plain = []
    for i in range(1, draw(st.integers(2, 7))):
        own = templates and draw(st.booleans())
        line = draw(st.sampled_from(templates if own else PURE))
        if line == MAKE_CONSTANT or ("{c}" in line and not plain):
            line = MAKE_CONSTANT
            plain.append(f"c{i}")
        c = plain[-1] if line == MAKE_CONSTANT else draw(st.sampled_from(plain or ["-"]))
        writable = [n for n, w in names if w]
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        w = draw(st.sampled_from(writable))
        new = f"v{i}"
        lines.append(
            line.format(
                new=new,
                alias=new,
                aliasview=new,
                a=a[0],
                b=b[0],
                w=w,
                i=i,
                c=c,
                p=draw(st.sampled_from(POWERS)),
            )
        )
        if line in READS:
            names.append((new, a[1]))
        elif "{new}" in line or "{alias}" in line or "{aliasview}" in line:
            names.append((new, True))
    picked = draw(st.lists(st.sampled_from([n for n, _ in names]), min_size=1, max_size=2))
    return source_of(lines, " + ".join(picked))


def std_(v):
    """Standardizes ``v`` in place (a helper that changes its argument)."""
    v -= v.mean()
    v /= v.std() + 0.1


def axpy_(y, x):
    """``y += 2 x`` in place; ``axpy_(a, a)`` passes one array twice."""
    y += 2.0 * x


def weights(n):
    """A closure constant of f's loss (checked unchanged and never shared)."""
    return np.random.default_rng(9).uniform(0.5, 1.5, n)


def program(source, n):
    """``(f, loss, constants)``: f from ``source`` and a scalar loss of it, with weights of
    length ``n``."""
    W = weights(n)
    f = function_of(source, copy=copy, warnings=warnings, dnp=dnp, std_=std_, axpy_=axpy_)

    def loss(x):
        return np.sum(np.sin(f(x)) * W)

    return f, loss, (W,)


def point(n, seed=0):
    """A point with no ties, no zeros and no value near one (1 / x, log x), random signs; the
    special points have tests of their own."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.linspace(0.2, 1.5, n)) * rng.choice([-1.0, 1.0], n)


# NumPy's own error state, in which every run of a program (NumPy's and the transforms') takes
# place: the programs' warnings filters and errstate blocks see the warnings it issues.
NUMPY_DEFAULT = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}


def on_numpy(f, x):
    """f on a plain copy of x in NumPy's default error state, with the warnings that reach the
    top silenced (a program's own filters inside still see them); None when NumPy's value is
    not finite (a program to skip)."""
    with np.errstate(**NUMPY_DEFAULT), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = f(x.copy())
    return out if np.all(np.isfinite(out)) else None


# -- mechanisms -------------------------------------------------------------------------------


@contextlib.contextmanager
def mechanisms(on):
    """The large-array mechanisms on (as configured) or all off (the reference engine alone),
    for the run inside."""
    with dd.engine_options(large=None if on else False):
        yield


def _optional(name):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# -- oracle 2: ownership ----------------------------------------------------------------------


def arrays_of(*values):
    """The ndarrays among ``values`` (nested in tuples, lists and dicts)."""
    out = []
    for v in values:
        if isinstance(v, tuple | list):
            out.extend(arrays_of(*v))
        elif isinstance(v, dict):
            out.extend(arrays_of(*v.values()))
        elif isinstance(v, np.ndarray):
            out.append(v)
    return out


def assert_owned(results, held):
    """No result shares memory with anything in ``held`` or with another result."""
    results, held = arrays_of(results), arrays_of(held)
    for i, r in enumerate(results):
        for h in held:
            assert not np.shares_memory(r, h), "a result shares memory with an input/constant"
        for other in results[i + 1 :]:
            assert not np.shares_memory(r, other), "two results share memory"


def assert_disjoint(*arrays):
    """No two of ``arrays`` share memory."""
    for i, a in enumerate(arrays):
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b), "two arrays share memory"


class Unchanged:
    """Copies of arrays taken now, to check later that nobody wrote into them."""

    def __init__(self, *values):
        self.arrays = arrays_of(values)
        self.copies = [a.copy() for a in self.arrays]

    def check(self, what="an input or constant"):
        for a, c in zip(self.arrays, self.copies, strict=True):
            np.testing.assert_array_equal(a, c, err_msg=f"{what} changed")


# -- oracle 3: derivatives --------------------------------------------------------------------


def central(fn, x, v, h):
    """Central difference of NumPy's ``fn`` at ``x`` along ``v`` with step ``h`` (in NumPy's
    default error state, so that a program takes the branches it takes at x)."""
    with np.errstate(**NUMPY_DEFAULT), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (fn(x + h * v) - fn(x - h * v)) / (2 * h)


def assert_fd(fn, x, v, derivative, scale):
    """``derivative`` (a number or array) matches finite differences of ``fn`` along ``v``.

    The step is relative to x's scale; the tolerance is relative to the size of the terms
    summed, plus ten times the difference between the estimates at steps h and h / 2 (the
    difference's own error). Where those two disagree by more than 0.1 % f is nearly singular
    along v (1 / x near 0): no difference quotient means anything there, so that element is
    not checked (the forward-against-reverse oracle still is)."""
    h = 1e-5 * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    fd, fd2 = central(fn, x, v, h), central(fn, x, v, h / 2)
    atol = 1e-6 * (1.0 + scale)
    spread = np.abs(fd - fd2)
    reliable = spread <= 1e-3 * (np.abs(fd2) + atol)
    error = np.abs(derivative - fd2)
    bound = atol + 1e-5 * np.abs(fd2) + 10 * spread
    bad = reliable & ~(error <= bound)
    assert not np.any(bad), (
        f"derivative {np.ravel(derivative)[np.ravel(bad)][:3]} against finite differences "
        f"{np.ravel(fd2)[np.ravel(bad)][:3]}"
    )


def check_program(source, n, on=True, seed=0):
    """Every oracle on one program at size ``n``, mechanisms ``on`` or off. Returns False when
    NumPy's own value is not finite (the caller rejects the example)."""
    f, loss, constants = program(source, n)
    x = point(n, seed)
    rng = np.random.default_rng(seed + 7)
    v, u = rng.standard_normal(n), rng.standard_normal(n)
    want = on_numpy(f, x)
    if want is None:
        return False
    want_loss = on_numpy(loss, x)
    held = (x, v, u, *constants)
    inputs = Unchanged(*held)
    with mechanisms(on), np.errstate(**NUMPY_DEFAULT):
        value, g = dd.value_and_grad(loss)(x)
        inputs.check()
        assert_owned((g,), held)
        first = Unchanged(g)
        g2 = dd.grad(loss)(x)
        out, pullback = dd.vjp(f, x)
        (ct,) = pullback(u)
        out2, t = dd.jvp(f, (x,), (v,))
        inputs.check()
        first.check("an earlier result")
        assert_owned((g, g2, out, ct, out2, t), held)
        hv = dd.hvp(loss, x, v)
        inputs.check()
        assert_owned((g, g2, out, ct, out2, t, hv), held)
        again = Unchanged(out, ct, out2, t, hv)
        out3, pullback3 = dd.vjp(f, x)
        second = (out3, pullback3(u), pullback(u), dd.jvp(f, (x,), (v,)), dd.hvp(loss, x, v))
        again.check("an earlier result")
        assert_owned((g, g2, out, ct, out2, t, hv, second), held)
    # oracle 1: NumPy's values, bit for bit
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(out2, want)
    assert value == want_loss
    np.testing.assert_array_equal(g2, g)
    # oracle 3: finite differences, and forward against reverse
    scale = float(np.abs(g) @ np.abs(v))
    assert_fd(loss, x, v, g @ v, scale)
    assert_fd(f, x, v, t, float(np.max(np.abs(t), initial=0.0)))
    np.testing.assert_allclose(u @ t, ct @ v, rtol=1e-9, atol=1e-11 * (np.abs(u) @ np.abs(t) + 1))
    if n <= SMALL:  # the Hessian-vector product against differences of the gradient
        assert_fd(lambda z: u @ dd.grad(loss)(z), x, v, u @ hv, float(np.abs(u) @ np.abs(hv)))
    else:  # the Hessian is symmetric: u . H v = v . H u
        with mechanisms(on), np.errstate(**NUMPY_DEFAULT):
            hu = dd.hvp(loss, x, u)
        # loose: second derivatives of quotients near 0 (sin(v) / v) lose digits to cancellation
        scale = np.abs(u) @ np.abs(hv) + np.abs(v) @ np.abs(hu)
        np.testing.assert_allclose(u @ hv, v @ hu, rtol=1e-6, atol=1e-9 * scale)
    if n <= SMALL:
        with mechanisms(on), np.errstate(**NUMPY_DEFAULT):
            jf, jr = dd.jacfwd(f)(x), dd.jacrev(f)(x)
            hess = dd.hessian(loss)(x)
        inputs.check()
        assert_owned((jf, jr, hess, hv), held)
        hs = 1 + np.abs(hess).max()
        np.testing.assert_allclose(hess, hess.T, rtol=1e-9, atol=1e-11 * hs)
        np.testing.assert_allclose(hess @ v, hv, rtol=1e-9, atol=1e-11 * hs * np.abs(v).max())
        np.testing.assert_allclose(jf, jr, rtol=1e-10, atol=1e-12 * (1 + np.abs(jr).max()))
        np.testing.assert_allclose(jf @ v, t, rtol=1e-10, atol=1e-12 * (1 + np.abs(t).max()))
    return True


def check_function_of_a_vector(f, x):
    """The three oracles for an array function ``f`` of a vector ``x``: NumPy's value bit for
    bit in both modes, ownership (results share nothing, inputs unchanged), and central
    differences with forward against reverse (``<u, J v> == <J^T u, v>``)."""
    v = np.random.default_rng(1).standard_normal(np.shape(x))
    expected = f(x.copy())
    u = np.random.default_rng(2).standard_normal(np.shape(expected))
    held = Unchanged(x, v, u)
    out, tangent = dd.jvp(f, (x,), (v,))
    out_r, pull = dd.vjp(f, x)
    (cot,) = pull(u)
    held.check()
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out_r, expected)
    assert_owned((out, tangent, out_r, cot), (x, v, u))
    assert_fd(f, x, v, tangent, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(np.vdot(u, tangent), np.vdot(cot, v), rtol=1e-9, atol=1e-9)
