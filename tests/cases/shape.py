"""Test-table lines for shape and indexing ops (rules in dualdiff/rules/shape.py)."""

import numpy as np

from dualdiff._tracer import astype, getitem, setitem
from dualdiff.rules.shape import index_add, scatter
from tests._table import Case, rand

# pad_width as {axis: width} is NumPy 2.3's (Python 3.10 stops at NumPy 2.2)
PAD_WIDTH_DICT = np.lib.NumpyVersion(np.__version__) >= "2.3.0"

x = rand(3, 4)
y = rand(3, 4, seed=1)
c = rand(2, 3, 4, seed=2)  # a cube
v4 = rand(4, seed=3)
v3 = rand(3, seed=4)
s = np.array(0.7)  # 0-d
sq = rand(4, 4, seed=5)
mask = x > 0
spread = np.array([0.3, -1.2, 2.5, -0.4, 1.7, 0.9, -2.1])  # distinct values, no sort ties


def _set_row(a, w):
    b = a.copy()
    b[1] = w
    return b


def _scale_positive(a):
    b = a.copy()
    b[a > 0] *= 2
    return b


def _set_scalar(a, w):
    b = a.copy()
    b[0, 1:3] = w
    return b


def _set_repeated(a, w):
    b = a.copy()
    b[[2, 0, 2]] = w  # the last write of row 2 wins
    return b


def _set_separated(a, w):
    b = a.copy()
    b[[0, 1], :, [1, 3]] = w  # separated advanced indices move their axis first
    return b


def _set_listed(a, w):
    b = a.copy()
    b[1:3] = [w[0], a[0]]  # a list of traced values
    return b


def _grid(a, b):
    return np.broadcast_arrays(a, b)


def _many_atleast(a, b):  # a rule for every position: the tenth array is traced too
    *rest, last = np.atleast_2d(*([a] + [x] * 8 + [b]))
    return rest[0] * last


def _many_broadcast(a, b):
    out = np.broadcast_arrays(a, *([v4] * 8), b)
    return out[0] + out[-1] * out[4]


GETITEM = [
    ("int", x, 1), ("negative-int", x, -1), ("scalar", x, (2, 3)), ("slice", x, slice(1, None)),
    ("negative-step", x, (slice(None, None, -1), slice(3, 0, -2))), ("ellipsis", c, (..., 1)),
    ("newaxis", x, (None, slice(None), None)), ("int-array", x, [0, 2]),
    ("repeated", x, [2, 0, 2, 2]), ("negative-repeat", v4, [1, -3, 0]),
    ("bool-mask", x, mask), ("row-mask", x, (np.array([True, False, True]), slice(1, 3))),
    ("mixed", c, (1, slice(None), [0, 3])), ("separated", c, ([0, 1], slice(None), [1, 1])),
    ("broadcast-arrays", x, ([[0], [2]], [1, 3])), ("0-d", s, ()),
]  # fmt: skip

CASES = [Case(getitem, lambda a, i=i: a[i], (a,), name=n) for n, a, i in GETITEM]
CASES += [
    Case(setitem, _set_row, (x, v4), name="row"),
    Case(setitem, _scale_positive, (x,), name="mask-inplace"),
    Case(setitem, _set_scalar, (x, s), name="broadcast-scalar"),
    Case(setitem, _set_repeated, (x, rand(3, 4, seed=7)), name="repeated"),
    Case(setitem, _set_separated, (c, rand(2, 3, seed=8)), name="separated"),
    Case(setitem, _set_listed, (v4, v3), name="listed-values"),
    Case(index_add, lambda a, w: index_add(a, ([0, 2, 0],), w), (x, rand(3, 4, seed=9))),
    Case(scatter, lambda v: scatter((4, 5), (slice(1, 3), slice(None, None, 2)), v), (rand(2, 3),)),
    Case(scatter, lambda v: scatter((4, 5), (Ellipsis, 1), v), (rand(4),), name="ellipsis"),
    Case(
        astype,
        lambda a: a.astype(np.float64) * a.astype(np.float32),
        (x,),
        eps=1e-2,
        name="float32-rounding-needs-a-wide-fd-step",
    ),
    Case(astype, lambda a: a * np.sum(a.astype(int)), (x * 3,), name="to-int"),
    # reshaping
    Case(np.reshape, lambda a: np.reshape(a, (2, 6)), (x,)),
    Case(np.reshape, lambda a: a.reshape(-1, 2)[1:], (x,), name="method"),
    Case(np.reshape, lambda a: np.reshape(a, (6, 2), order="F"), (x,), name="fortran"),
    Case(np.reshape, lambda a: np.reshape(a.T, (2, 6), order="A"), (x,), name="order-A"),
    Case(np.ravel, np.ravel, (c,)),
    Case(np.ravel, lambda a: np.ravel(a, order="F"), (x,), name="fortran"),
    Case(np.ravel, lambda a: np.ravel(a.T, order="K"), (x,), name="order-K"),
    Case(np.transpose, np.transpose, (c,)),
    Case(np.transpose, lambda a: np.transpose(a, (1, -1, 0)), (c,), name="axes"),
    Case(np.transpose, lambda a: a.T @ a, (x,), name="T-attribute"),
    Case(np.transpose, lambda a: np.transpose(a, axes=[-1, 0, 1]), (c,), name="axes-keyword"),
    Case(np.swapaxes, lambda a: np.swapaxes(a, 0, -1), (c,)),
    Case(np.moveaxis, lambda a: np.moveaxis(a, 0, -1), (c,)),
    Case(np.moveaxis, lambda a: np.moveaxis(a, (0, 1), (-1, 0)), (c,), name="tuple"),
    Case(np.moveaxis, lambda a: np.moveaxis(a, destination=0, source=-1), (c,), name="keywords"),
    Case(np.rollaxis, lambda a: np.rollaxis(a, 2, 1), (c,)),
    Case(np.rollaxis, lambda a: np.rollaxis(a, -3, 3), (c,), name="to-end"),
    Case(np.rollaxis, lambda a: np.rollaxis(a, 0, -1), (c,), name="negative-start"),
    Case(np.rollaxis, lambda a: np.rollaxis(a, 1, 2), (c,), name="stays"),
    Case(np.squeeze, lambda a: np.squeeze(a[:, None, :1]), (x,)),
    Case(np.squeeze, lambda a: np.squeeze(a[None], axis=0), (x,), name="axis"),
    Case(np.expand_dims, lambda a: np.expand_dims(a, (0, -1)), (x,)),
    Case(np.atleast_1d, np.atleast_1d, (s,)),
    Case(np.atleast_2d, np.atleast_2d, (v4,)),
    Case(np.atleast_3d, np.atleast_3d, (v4,)),
    Case(np.atleast_3d, lambda a, b: np.atleast_3d(a, b), (x, s), name="several"),
    Case(np.atleast_2d, _many_atleast, (v4, s), name="ten-arrays"),
    Case(np.broadcast_to, lambda a: np.broadcast_to(a, (2, 3, 4)), (v4,)),
    Case(np.broadcast_to, lambda a: np.broadcast_to(a, (3, 4)), (rand(3, 1),), name="unit"),
    Case(np.broadcast_arrays, _grid, (v3[:, None], v4)),
    Case(np.broadcast_arrays, _many_broadcast, (v3[:, None], s), name="ten-arrays"),
    Case(np.copy, lambda a: np.copy(a) * a, (x,)),
    Case(np.real, lambda a: np.real(a) * a, (x,)),
    # joining and splitting
    Case(np.concatenate, lambda a, b: np.concatenate([a, b]), (x, y)),
    Case(np.concatenate, lambda a, b: np.concatenate((a, b), axis=-1), (x, y), name="axis"),
    Case(np.concatenate, lambda a: np.concatenate([a, x, a], axis=1), (x,), name="constant"),
    Case(np.concatenate, lambda a, b: np.concatenate([a, b], axis=None), (x, v3), name="None"),
    Case(np.concatenate, np.concatenate, (c,), name="array-of-rows"),
    Case(np.stack, lambda a, b: np.stack([a, b]), (x, y)),
    Case(np.stack, lambda a: np.stack(a, axis=-1), (c,), name="array-of-rows"),
    Case(np.stack, lambda a, b: np.stack((a, y, b), axis=-1), (x, y), name="axis"),
    Case(np.hstack, lambda a, b: np.hstack([a, b]), (v4, s)),
    Case(np.hstack, lambda a, b: np.hstack([a, b]), (x, y), name="2-d"),
    Case(np.vstack, lambda a, b: np.vstack([a, b]), (x, v4)),
    Case(np.dstack, lambda a, b: np.dstack([a, b]), (x, y)),
    Case(np.dstack, lambda a, b: np.dstack((a, b, a)), (v4, y[0]), name="promote"),
    Case(np.column_stack, lambda a, b: np.column_stack([a, b]), (v3, x)),
    Case(np.append, np.append, (x, v3)),
    Case(np.append, lambda a, b: np.append(a, b, axis=0), (x, y[:1]), name="axis"),
    Case(np.append, lambda a, b: np.append(a, [b[1], a[0, 0]]), (x, v3), name="listed"),
    Case(np.split, lambda a: np.split(a, 2, axis=1), (x,)),
    Case(np.split, lambda a: np.split(a, [1, 3], axis=-1)[1], (c,), name="indices"),
    Case(np.split, lambda a: np.split(a, 3), (x,), name="default-axis"),
    Case(np.array_split, lambda a: np.array_split(a, 3, axis=1), (x,)),
    Case(np.hsplit, lambda a: np.hsplit(a, [1]), (x,)),
    Case(np.hsplit, lambda a: np.hsplit(a, 2), (v4,), name="vector"),
    Case(np.vsplit, lambda a: np.vsplit(a, [2]), (x,)),
    Case(np.dsplit, lambda a: np.dsplit(a, 2), (c,)),
    Case(np.vsplit, lambda a: np.vsplit(a, 2)[1] * a[0], (c,), name="cube"),
    # repeating, flipping, rolling, padding
    Case(np.tile, lambda a: np.tile(a, 2), (x,)),
    Case(np.tile, lambda a: np.tile(a, (2, 1, 2)), (x,), name="promote"),
    Case(np.tile, lambda a: np.tile(a, (2, 1)), (c,), name="short-reps"),
    Case(np.repeat, lambda a: np.repeat(a, 2), (x,)),
    Case(np.repeat, lambda a: np.repeat(a, 3, axis=-1), (x,), name="axis"),
    Case(np.repeat, lambda a: np.repeat(a, [1, 0, 2], axis=0), (x,), name="counts"),
    Case(np.repeat, lambda a: x.repeat(2, axis=1) * a.repeat(2, axis=1), (x,), name="method"),
    Case(np.flip, np.flip, (c,)),
    Case(np.flip, lambda a: np.flip(a, (0, -1)), (c,), name="axes"),
    Case(np.flip, lambda a: np.flip(a, axis=1), (c,), name="axis-keyword"),
    Case(np.fliplr, np.fliplr, (c,)),
    Case(np.flipud, np.flipud, (x,)),
    Case(np.roll, lambda a: np.roll(a, 2), (x,)),
    Case(np.roll, lambda a: np.roll(a, -1, axis=1), (x,), name="axis"),
    Case(np.roll, lambda a: np.roll(a, (1, 2), axis=(0, -1)), (c,), name="tuple"),
    Case(np.rot90, np.rot90, (x,)),
    Case(np.rot90, lambda a: np.rot90(a, -3, axes=(2, 0)), (c,), name="axes"),
    Case(np.rot90, lambda a: np.rot90(a, k=2), (c,), name="k-keyword"),
    Case(np.pad, lambda a: np.pad(a, 1), (x,)),
    Case(np.pad, lambda a: np.pad(a, ((1, 0), (0, 2)), constant_values=3.0), (x,), name="const"),
    Case(np.pad, lambda a: np.pad(a, (2, 1), mode="edge"), (x,), name="edge"),
    *(
        [Case(np.pad, lambda a: np.pad(a, {-1: (0, 2)}, "edge"), (c,), name="dict-width")]
        if PAD_WIDTH_DICT
        else []
    ),
    Case(np.pad, lambda a: np.pad(a, 3, "reflect"), (x,), name="reflect"),
    Case(np.pad, lambda a: np.pad(a, ((1, 2), (2, 1)), "symmetric"), (x,), name="symmetric"),
    Case(np.pad, lambda a: np.pad(a, ((0, 5), (1, 1)), "wrap"), (x,), name="wrap"),
    Case(np.pad, lambda a: np.pad(a, 2, "reflect", reflect_type="odd"), (x,), name="odd"),
    Case(
        np.pad, lambda a: np.pad(a, (1, 2), "mean", stat_length=((1, 2), (3, 2))), (x,), name="mean"
    ),
    Case(np.pad, lambda a: np.pad(a, 2, "linear_ramp", end_values=1.0), (x,), name="ramp"),
    # diagonals and triangles
    Case(np.diagonal, np.diagonal, (x,)),
    Case(np.diagonal, lambda a: np.diagonal(a, -1, 2, 0), (c,), name="offset-axes"),
    Case(np.diagonal, lambda a: a.diagonal(1), (x,), name="method"),
    Case(np.diagonal, lambda a: np.diagonal(a, axis2=0, axis1=-1), (c,), name="keywords"),
    Case(np.trace, np.trace, (sq,)),
    Case(np.trace, lambda a: np.trace(a, 1, axis1=-1, axis2=0), (c,), name="offset-axes"),
    Case(np.trace, np.trace, (c,), name="cube"),
    Case(np.diag, np.diag, (v4,)),
    Case(np.diag, lambda a: np.diag(a, -2), (v3,), name="offset"),
    Case(np.diag, lambda a: np.diag(a, 1), (x,), name="extract"),
    Case(np.diagflat, np.diagflat, (x[:2, :2],)),
    Case(np.diagflat, lambda a: np.diagflat(a, 1), (v3,), name="offset"),
    Case(np.diagflat, lambda a: np.diagflat(a, -1), (x[:2, :2],), name="matrix-offset"),
    Case(np.triu, np.triu, (x,)),
    Case(np.triu, lambda a: np.triu(a, -1), (c,), name="batch"),
    Case(np.triu, lambda a: np.triu(a, 1), (v4,), name="vector"),
    Case(np.tril, np.tril, (x,)),
    Case(np.tril, lambda a: np.tril(a, 1), (c,), name="batch"),
    Case(np.tril, lambda a: np.tril(a), (v3,), name="vector"),
    # selection
    Case(np.where, lambda a, b: np.where(mask, a, b), (x, y)),
    Case(np.where, lambda a: np.where(a > 0, a, 0.0), (x,), name="scalar-branch"),
    Case(np.where, lambda a, b: np.where(mask, a, b), (v4, y), name="broadcast"),
    Case(np.where, lambda a, b: np.where(b, a, 0.0), (x, y), name="traced-cond"),
    Case(np.where, lambda a: a[np.where(a)] * a.ravel(), (x,), name="indices"),
    Case(
        np.select,
        lambda a, b, d: np.select([x > 0.5, x < -0.5], [a, b], d),
        (x, v4, s),
    ),
    Case(np.clip, lambda a: np.clip(a, -0.5, 0.5), (x,)),
    Case(np.clip, lambda a, lo, hi: np.clip(a, lo, hi), (x, v4 - 0.5, v4 + 0.5), name="traced"),
    Case(np.clip, lambda a, hi: np.clip(a, None, hi), (x, v4), name="upper-only"),
    Case(np.clip, lambda a: a.clip(0.1), (x,), name="method"),
    Case(np.clip, lambda a, lo: np.clip(a, lo, -0.3), (x, y), name="crossed-bounds"),
    Case(np.sort, np.sort, (x,)),
    Case(np.sort, lambda a: np.sort(a, axis=0), (x,), name="axis0"),
    Case(np.sort, lambda a: np.sort(a, axis=None), (x,), name="None"),
    Case(np.sort, lambda a: np.sort(a)[::2], (spread,), name="vector"),
    Case(np.take, lambda a: np.take(a, [3, 0, 3]), (x,)),
    Case(np.take, lambda a: np.take(a, [[1, 0], [2, -1]], axis=1), (x,), name="axis"),
    Case(np.take, lambda a: np.take(a, 1, axis=0), (x,), name="scalar"),
    Case(np.take, lambda a: np.take(a, [5, -6], axis=-1, mode="wrap"), (x,), name="wrap"),
    Case(np.take, lambda a: np.take(a, [0, 9], axis=1, mode="clip"), (x,), name="clip"),
    Case(
        np.take_along_axis,
        lambda a: np.take_along_axis(a, np.argsort(x, axis=1), axis=1),
        (x,),
    ),
    Case(
        np.take_along_axis,
        lambda a: np.take_along_axis(a, np.array([[0, 3], [1, 1], [2, 0]]), axis=1),
        (x[:1],),
        name="repeated-broadcast",
    ),
    Case(
        np.take_along_axis,
        lambda a: np.take_along_axis(a, np.array([3, 3, 0]), axis=None),
        (x,),
        name="None",
    ),
    Case(np.delete, lambda a: np.delete(a, 1, axis=1), (x,)),
    Case(np.delete, lambda a: np.delete(a, [0, 5, 7]), (x,), name="flat"),
    Case(np.compress, lambda a: np.compress([True, False, True], a, axis=0), (x,)),
    Case(np.extract, lambda a: np.extract(mask, a), (x,)),
    Case(np.resize, lambda a: np.resize(a, (5, 3)), (x,)),
]
