"""Timing helpers: ratios measured in one run, never bare wall times."""

import importlib
import timeit


def best_time(fn, min_total=0.2, repeat=5):
    """Best seconds per call of ``fn`` over ``repeat`` rounds of at least ``min_total`` s."""
    fn()  # warm up (imports, caches, allocator)
    number = 1
    while timeit.timeit(fn, number=number) < min_total / repeat and number < 10**6:
        number *= 2
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def optional(name):
    """Import a peer if it is installed, else None (peers are never required)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
