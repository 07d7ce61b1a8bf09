"""The pool of large buffers: reuse only what nothing else holds, per thread, within a cap."""

import threading

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.large import pool

N = pool.MIN_SIZE + 3  # large enough to be pooled
pytestmark = pytest.mark.usefixtures("empty_pool")


def test_a_buffer_is_reused_only_once_nothing_else_holds_it():
    a = pool.empty((N,))
    b = pool.empty((N,))
    assert a is not b
    a_id = id(a)
    del a
    c = pool.empty((N,))
    assert id(c) == a_id  # a's buffer, free again
    view = c[1:]
    del c
    d = pool.empty((N,))
    assert not np.shares_memory(d, view)  # a view keeps its buffer in use
    assert not np.shares_memory(d, b)


def test_small_arrays_and_other_shapes_are_not_mixed_up():
    small = pool.empty((10,))
    assert pool._pool.nbytes == 0 and small.shape == (10,)
    a = pool.empty((N,))
    del a
    other = pool.empty((N + 1,))
    assert other.shape == (N + 1,)
    assert pool.empty((N,), np.float32).dtype == np.float32


def test_release_memory_frees_only_buffers_not_in_use():
    held = pool.empty((N,))
    free = pool.empty((N,))
    del free
    freed = dd.release_memory()
    assert freed == 8 * N
    assert pool._pool.nbytes == held.nbytes
    del held
    assert dd.release_memory() == 8 * N and pool._pool.nbytes == 0


def test_the_cap_evicts_free_buffers_and_stops_keeping_more(monkeypatch):
    monkeypatch.setattr(pool, "MAX_BYTES", 3 * 8 * N)
    monkeypatch.setattr(pool, "_EVICT_EVERY", 0)  # scan at every request over the cap
    held = [pool.empty((N,)) for _ in range(3)]
    extra = pool.empty((N,))  # over the cap: given out, not kept
    assert pool._pool.nbytes == 3 * 8 * N
    del held[0]
    again = pool.empty((N - 2,))  # evicts the free one to make room
    assert pool._pool.nbytes == 2 * 8 * N + 8 * (N - 2)
    assert extra.shape == (N,) and again.shape == (N - 2,)


def test_a_buffer_kept_after_an_eviction_is_counted_where_it_is_found(monkeypatch):
    # the eviction that makes room drops empty buckets, the new shape's own among them: the
    # buffer kept must still be in a bucket, or the pool counts bytes it can never free
    monkeypatch.setattr(pool, "MAX_BYTES", 2 * 8 * N + 64)
    held = pool.empty((N,))
    free = pool.empty((N,))
    del free
    new_shape = pool.empty((N + 5,))  # over the cap: evicts the free buffer
    buckets = pool._pool.buckets
    assert any(b is new_shape for b in buckets[((N + 5,), np.dtype(np.float64))])
    assert pool._pool.nbytes == sum(b.nbytes for bucket in buckets.values() for b in bucket)
    del held, new_shape
    dd.release_memory()
    assert pool._pool.nbytes == 0


def test_each_thread_has_its_own_pool():
    ids = []

    def work():
        dd.release_memory()
        a = pool.empty((N,))
        ids.append(id(a))
        ids.append(pool._pool.nbytes)

    main = pool.empty((N,))
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert ids[1] == 8 * N and ids[0] != id(main)


def test_results_held_by_the_caller_survive_later_calls():
    rng = np.random.default_rng(0)
    x, v = rng.uniform(0.5, 1.5, N), rng.standard_normal(N)

    def f(x):
        return np.sum(np.sin(x) ** 2 * 3.0 - np.exp(-x) * x)

    g = dd.grad(f)(x)
    hv = dd.hvp(f, x, v)
    y, t = dd.jvp(lambda x: np.tanh(x) * 2.0 + x, (x,), (v,))
    copies = [g.copy(), hv.copy(), y.copy(), t.copy()]
    for _ in range(3):  # later calls reuse what the pool may reuse, never these
        dd.grad(f)(x + 1.0)
        dd.hvp(f, x * 0.5, v)
        dd.jvp(lambda x: np.tanh(x) * 2.0 + x, (x,), (v,))
    for held, copy in zip((g, hv, y, t), copies):
        np.testing.assert_array_equal(held, copy)
    np.testing.assert_allclose(g, dd.grad(f)(x), rtol=1e-14)


def test_a_full_pool_is_not_scanned_at_every_request(monkeypatch):
    monkeypatch.setattr(pool, "MAX_BYTES", 4 * 8 * N)
    scans = []
    evict = pool._evict
    monkeypatch.setattr(pool, "_evict", lambda p, n: scans.append(1) or evict(p, n))
    held = [pool.empty((N,)) for _ in range(200)]  # all in use: nothing can be evicted
    assert len(scans) <= 200 // pool._EVICT_EVERY + 1
    assert pool._pool.nbytes <= 4 * 8 * N and len(held) == 200
