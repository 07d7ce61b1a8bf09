"""Timing helpers: ratios measured in one run, never bare wall times."""

import importlib

from dualdiff.bench import best_times


def best_time(fn, min_total=0.2, repeat=5):
    """Best seconds per call of ``fn`` over ``repeat`` rounds of about ``min_total / repeat``."""
    return best_times({"fn": fn}, budget=min_total, rounds=repeat)["fn"]


def optional(name):
    """Import a peer if it is installed, else None (peers are never required)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
