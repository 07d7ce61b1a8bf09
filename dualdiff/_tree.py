"""Nested tuples, lists and dicts of arrays: flatten to leaves and rebuild the same structure.

``None`` is an empty structure, as in JAX: it has no leaves and comes back as ``None`` (a Jacobian
block, a cotangent or a tangent for a ``None`` in f's output is ``None``).
"""


def flatten(tree):
    """Leaves of ``tree`` in a fixed order (depth first; dict entries in insertion order), and a
    function that rebuilds it from new leaves; ``None`` is a structure without leaves."""
    leaves = []
    spec = _flatten(tree, leaves)
    return leaves, lambda new: _unflatten(spec, iter(new))


def _flatten(tree, leaves):
    if isinstance(tree, tuple | list):  # namedtuples too (eigh, svd, qr results)
        return (type(tree), [_flatten(x, leaves) for x in tree])
    if type(tree) is dict:
        return (dict, {k: _flatten(v, leaves) for k, v in tree.items()})
    if tree is None:
        return _NONE
    leaves.append(tree)
    return None


_NONE = (None, None)  # the spec of None: no leaves


def _unflatten(spec, it):
    if spec is None:
        return next(it)
    if spec is _NONE:
        return None
    kind, children = spec
    if kind is dict:
        return {k: _unflatten(v, it) for k, v in children.items()}
    values = [_unflatten(c, it) for c in children]
    return kind(values) if kind in (tuple, list) else kind(*values)
