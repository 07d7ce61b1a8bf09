"""The large-array layer: what makes derivatives of large arrays cost about what NumPy does.

It plugs into the reference engine at two seams (``tape.LAYER``): the recorder hook, which
``Var.ufunc`` offers an op with a large input (``record.py``: deferred values, pooled
buffers), and the cotangent store of the sweep (``sweep.py``: in-place sums and products,
pending scales, scattered slices). Each mechanism is switched by the thread-local engine
options (``dualdiff.options``); with all of them off the reference engine alone runs, and it
gives the same answers. docs/internals.md explains the mechanisms.
"""
