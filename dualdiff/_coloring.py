"""Graph colorings that compress sparse Jacobians and Hessians, and the recovery of values.

- Columns (forward mode): a greedy distance-2 coloring of the bipartite row/column graph, i.e.
  a distance-1 coloring of the column intersection graph ``P.T @ P``: columns of one color
  share no row, so ``J @ S`` holds every nonzero of ``J`` once.
- Rows (reverse mode): the same on ``P @ P.T``.
- Hessians: a greedy star coloring of the adjacency graph (Gebremedhin, Manne and Pothen,
  SIAM Review 2005): a proper coloring in which no path on four vertices uses only two
  colors. Then for every nonzero ``(i, j)`` the color of ``j`` is unique among the
  neighbours of ``i`` or the other way round, and ``H_ij`` is read directly from ``H @ S``.

The greedy loops visit vertices in natural order and touch each edge a bounded number of times
(each star-coloring step looks two edges away), in plain Python over lists, which is faster
than NumPy for the few neighbours a sparse row has.
"""

import numpy as np
import scipy.sparse as sp


def _adjacency(graph):
    g = sp.csr_array(graph, dtype=bool)
    return g.indptr.tolist(), g.indices.tolist()


def greedy_coloring(graph) -> np.ndarray:
    """Greedy distance-1 coloring of a square adjacency pattern, vertices in natural order."""
    ptr, idx = _adjacency(graph)
    n = len(ptr) - 1
    colors = [-1] * n
    for v in range(n):
        forbidden = {colors[w] for w in idx[ptr[v] : ptr[v + 1]]}
        c = 0
        while c in forbidden:
            c += 1
        colors[v] = c
    return np.asarray(colors, dtype=np.intp)


def column_intersection(pattern):
    """``P.T @ P``: columns adjacent when they share a row."""
    p = sp.csr_array(pattern, dtype=bool)
    return sp.csr_array(p.T @ p)


def color_columns(pattern) -> np.ndarray:
    """Colors of the columns of ``pattern`` such that no two columns of one color share a row.

    Parameters
    ----------
    pattern : sparse matrix or array_like, shape (m, n)
        Structural nonzeros of a Jacobian.

    Returns
    -------
    ndarray of int, shape (n,)
        Color of every column, numbered from 0 (``colors.max() + 1`` colors).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import dualdiff.sparse as ds
    >>> tridiagonal = sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(6, 6))
    >>> ds.color_columns(tridiagonal)
    array([0, 1, 2, 0, 1, 2])
    """
    return greedy_coloring(column_intersection(pattern))


def color_rows(pattern) -> np.ndarray:
    """Colors of the rows of ``pattern`` such that no two rows of one color share a column.

    Examples
    --------
    >>> import numpy as np
    >>> import dualdiff.sparse as ds
    >>> ds.color_rows(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]))
    array([0, 1, 1, 0])
    """
    return color_columns(sp.csr_array(pattern, dtype=bool).T)


def _symmetric_graph(pattern):
    """The off-diagonal adjacency of a square pattern, symmetrized."""
    p = sp.csr_array(pattern, dtype=bool)
    g = sp.csr_array(p + p.T)
    g.setdiag(False)
    g.eliminate_zeros()
    return g


def star_coloring(pattern) -> np.ndarray:
    """A star coloring of the symmetric pattern ``pattern`` (a Hessian's), greedy.

    Adjacent vertices get different colors, and no path on four vertices is two-colored, so a
    symmetric matrix with this pattern is recovered directly from its products with the color
    indicator vectors (see :func:`recover_symmetric`).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> import dualdiff.sparse as ds
    >>> ds.star_coloring(sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(7, 7)))
    array([0, 1, 0, 2, 0, 1, 0])
    """
    ptr, idx = _adjacency(_symmetric_graph(pattern))
    n = len(ptr) - 1
    colors = [-1] * n
    counts = [{} for _ in range(n)]  # counts[v][c]: colored neighbours of v with color c
    for v in range(n):
        nbrs = idx[ptr[v] : ptr[v + 1]]
        forbidden = _star_forbidden(v, nbrs, ptr, idx, colors, counts)
        c = 0
        while c in forbidden:
            c += 1
        colors[v] = c
        for w in nbrs:
            counts[w][c] = counts[w].get(c, 0) + 1
    return np.asarray(colors, dtype=np.intp)


def _star_forbidden(v, nbrs, ptr, idx, colors, counts):
    """Colors that would make ``v`` share a color with a neighbour or end a 2-colored P4."""
    forbidden = set()
    own = counts[v]
    for w in nbrs:
        cw = colors[w]
        if cw < 0:
            continue
        forbidden.add(cw)
        twice = own.get(cw, 0) >= 2  # z - v - w - x with color(z) = color(w)
        for x in idx[ptr[w] : ptr[w + 1]]:
            cx = colors[x]
            if cx < 0 or x == v:
                continue
            if twice or counts[x].get(cw, 0) >= 2:  # v - w - x - y with color(y) = color(w)
                forbidden.add(cx)
    return forbidden


def seeds(colors, start, stop, n):
    """Indicator vectors of colors ``start:stop``: array of shape ``(stop - start, n)``."""
    s = np.zeros((stop - start, n))
    chosen = (colors >= start) & (colors < stop)
    s[colors[chosen] - start, np.flatnonzero(chosen)] = 1.0
    return s


def column_recovery(pattern, colors):
    """Flat positions in ``compressed`` (colors x m, row c = ``J @ s_c``) of ``J``'s nonzeros."""
    rows, cols = _coordinates(pattern)
    return colors[cols] * pattern.shape[0] + rows


def row_recovery(pattern, colors):
    """Flat positions in ``compressed`` (colors x n, row c = ``s_c @ J``) of ``J``'s nonzeros."""
    rows, cols = _coordinates(pattern)
    return colors[rows] * pattern.shape[1] + cols


def symmetric_recovery(pattern, colors):
    """Flat positions in ``compressed`` (colors x n, row c = ``H @ s_c``) of ``H``'s nonzeros.

    ``H_ij`` is ``compressed[color(j), i]`` when ``j`` is the only neighbour of ``i`` with its
    color, else ``compressed[color(i), j]``, which the star property then makes exact.
    """
    rows, cols = _coordinates(pattern)
    n = pattern.shape[0]
    off = rows != cols
    keys = rows[off] * (int(colors.max(initial=0)) + 1) + colors[cols[off]]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    unique = np.ones(rows.size, dtype=bool)
    unique[off] = counts[inverse.ravel()] == 1
    return np.where(unique, colors[cols] * n + rows, colors[rows] * n + cols)


def _coordinates(pattern):
    p = sp.csr_array(pattern)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    return rows, p.indices
