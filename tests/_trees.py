"""Nests of tuples, lists and dicts in the tests, written apart from dualdiff's own _tree (an
oracle must not share the code it checks). None is an empty nest, as in JAX."""


def leaves(tree, sort=False):
    """The leaves of ``tree`` (None is no leaf), dict keys in insertion order or sorted."""
    if isinstance(tree, tuple | list):
        return [x for t in tree for x in leaves(t, sort)]
    if isinstance(tree, dict):
        return [x for k in (sorted(tree) if sort else tree) for x in leaves(tree[k], sort)]
    return [] if tree is None else [tree]


def rebuilt(tree, new):
    """``tree`` with its leaves replaced, in order, by those of the iterator ``new``."""
    if isinstance(tree, tuple | list):
        return type(tree)(rebuilt(t, new) for t in tree)
    if isinstance(tree, dict):
        return {k: rebuilt(t, new) for k, t in tree.items()}
    return None if tree is None else next(new)


def tree_map(fn, tree):
    """``fn`` on every leaf of ``tree``; None stays None."""
    return rebuilt(tree, iter([fn(x) for x in leaves(tree)]))
