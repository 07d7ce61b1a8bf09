"""Plugs the large-array layer into the tape's two seams (``tape.LAYER``); imported once, by
``dualdiff/__init__.py``."""

from dualdiff import tape
from dualdiff.large import record, sweep

tape.LAYER.ufunc = record.ufunc
tape.LAYER.reduction = record.reduction
tape.LAYER.reductions = record.REDUCTIONS
tape.LAYER.store = sweep.store
