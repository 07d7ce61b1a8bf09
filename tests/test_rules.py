"""Every rule of the table: forward vs finite differences, reverse vs forward (dot-product
test), batched vs stacked, and second order, through ``dualdiff.testing.check_grads``."""

import importlib
import pkgutil

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import _registry
from dualdiff.testing import check_grads
from tests import cases

ALL = []
for info in pkgutil.iter_modules(cases.__path__):
    ALL += importlib.import_module(f"tests.cases.{info.name}").CASES


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_rule(case):
    check_grads(
        case.f,
        *case.args,
        modes=case.modes,
        order=case.order,
        rtol=case.rtol,
        atol=case.atol,
        eps=case.eps,
    )


def _builtin(op):
    """Ops dualdiff registers itself (user rules from examples or doctests are not counted)."""
    return _registry.op_name(op).startswith(("numpy", "scipy", "dualdiff"))


def test_every_registered_op_has_a_table_line():
    covered = {c.op for c in ALL}
    builtin = {op for op in _registry.registered_ops() | set(_registry.COMPOSITE) if _builtin(op)}
    missing = sorted(_registry.op_name(op) for op in builtin - covered)
    assert not missing, f"registered ops without a test-table line: {missing}"


def test_every_registered_op_has_both_modes():
    lopsided = [
        _registry.op_name(fn)
        for fn in set(_registry.JVP) | set(_registry.VJP)
        if _registry.argnums(_registry.JVP, fn) != _registry.argnums(_registry.VJP, fn)
    ]
    assert not lopsided, f"forward and reverse rules cover different arguments: {lopsided}"


def test_registered_op_count():
    public = {
        op
        for op in _registry.registered_ops() | _registry.CONSTANT
        if not getattr(op, "__module__", "").startswith("dualdiff")
    }
    assert len(public) >= 150, len(public)


def test_table_lines_exercise_their_op():
    # A line must actually call its op: run it under forward mode and watch the table.
    for case in ALL:
        seen = set()
        _watch(case, seen)
        assert case.op in seen, f"{case.id} does not call {_registry.op_name(case.op)}"


def _watch(case, seen):
    jvp_tables = (_registry.JVP, _registry.UFUNC_PARTIALS)
    originals = {}
    for table in jvp_tables:
        originals[id(table)] = dict(table)
    try:
        for table in jvp_tables:
            for op in list(table):
                table[op] = _Spy(table[op], op, seen)
        composites = dict(_registry.COMPOSITE)
        for op, impl in composites.items():  # ops written in ops with rules (np.piecewise)
            _registry.COMPOSITE[op] = _seen_call(impl, op, seen)
        dd.jvp(case.f, case.args, tuple(np.ones(np.shape(a)) for a in case.args))
    finally:
        for table in jvp_tables:
            table.clear()
            table.update(originals[id(table)])
        _registry.COMPOSITE.clear()
        _registry.COMPOSITE.update(composites)


def _seen_call(impl, op, seen):
    def call(*args, **kwargs):
        seen.add(op)
        return impl(*args, **kwargs)

    return call


class _Spy(dict):
    """A rule entry that records which op looked it up."""

    def __init__(self, entry, op, seen):
        self.entry, self.op, self.seen = entry, op, seen

    def __getitem__(self, key):
        self.seen.add(self.op)
        return self.entry[key]

    def __contains__(self, key):
        return key in self.entry

    def get(self, key, default=None):
        self.seen.add(self.op)
        return self.entry.get(key, default)
