"""A per-thread pool of large buffers that recording, tangents and the sweep write into.

Why: at sizes above glibc's mmap threshold (128 KiB), every new array is mapped afresh and
page-faulted in, then unmapped when freed; a derivative makes several times more arrays than
its function, and at these sizes that, not arithmetic, sets its cost. NumPy itself reuses only
temporaries of one expression. The pool keeps the large arrays it hands out; one is free again
when nothing but the pool refers to it (its reference count is the pool's own), which covers
views and values kept on a tape, since each of those holds a reference.

What a transform returns leaves the pool (:func:`disown`, :func:`handed`): the caller's arrays
are never reused, and die with the caller's last reference (a weakref's target included),
which a buffer the pool still held would not. A new buffer is made only when no buffer of the
shape is free, so the pool grows with the buffers in use at once, not with the calls; it holds
at most ``MAX_BYTES``, and :func:`release_memory` empties it.
"""

import math
import sys
import threading
from collections import deque

import numpy as np

from dualdiff.options import OPTIONS

F64 = np.dtype(np.float64)  # the dtype the pool and the sweep's in-place arithmetic serve
# immutable numbers that keep a float64 array's ufunc float64 (Python's, and NumPy's float64)
NUMBERS = frozenset((float, int, np.float64))
MIN_BYTES = 1 << 17  # below glibc's mmap threshold an allocation is cheap: no pooling
MIN_SIZE = MIN_BYTES // 8  # elements of a float64 array worth pooling
MAX_BYTES = 1 << 28  # what the pool of one thread may keep between calls (256 MiB)
_SCAN = 6  # buffers looked at per request before a new one is made


class _Pool(threading.local):
    def __init__(self):
        self.buckets: dict = {}  # (shape, dtype) -> deque of arrays, most recently given last
        self.skip: dict = {}  # (shape, dtype) -> requests to serve before a full scan again
        self.nbytes = 0
        self.wait = 0  # requests over the cap to let pass before scanning for free buffers


_pool = _Pool()


def _count(bucket, i):
    """The reference count of ``bucket[i]`` (the bucket's own reference included)."""
    return sys.getrefcount(bucket[i])


def _take_free(bucket, start, stop):
    """The most recently used buffer of ``bucket[stop + 1 : start + 1]`` that only the bucket
    refers to (moved to its back), or None. Recent first: a buffer freed a moment ago is still
    in cache."""
    for i in range(start, stop, -1):
        if _count(bucket, i) == _FREE:
            buf = bucket[i]
            del bucket[i]
            bucket.append(buf)
            return buf
    return None


def _reuse(pool, key, bucket):
    """A free buffer of ``bucket``, or None: the ``_SCAN`` most recent first, then the older
    ones. A scan of the older ones that finds none is not repeated for as many requests as the
    bucket holds buffers, so that a bucket of buffers all in use (a long tape of large values)
    costs O(1) a request, amortized, while the free buffers a loop leaves behind are found
    (the pool grows only with the buffers in use at once, within a factor of two)."""
    n = len(bucket)
    recent = max(n - 1 - _SCAN, -1)
    buf = _take_free(bucket, n - 1, recent)
    if buf is not None or recent < 0:
        return buf
    skip = pool.skip.get(key, 0)
    if skip:
        pool.skip[key] = skip - 1
        return None
    buf = _take_free(bucket, recent, -1)
    if buf is None:
        pool.skip[key] = n
    return buf


# The count _count sees for a buffer that nothing but its bucket holds: measured on one, since
# it depends on how the interpreter counts references.
_FREE = _count(deque([np.empty(1)]), 0)


def empty(shape, dtype=np.float64):
    """An uninitialised array of ``shape``: a pooled one for large sizes."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes < MIN_BYTES or not OPTIONS.pool:
        return np.empty(shape, dtype)
    key = (tuple(shape), dtype)
    pool = _pool
    bucket = pool.buckets.get(key)
    if bucket is None:
        bucket = pool.buckets[key] = deque()
    buf = _reuse(pool, key, bucket)
    if buf is not None:
        return buf
    buf = np.empty(shape, dtype)
    if pool.nbytes + nbytes <= MAX_BYTES or _make_room(pool, nbytes):
        # _make_room drops empty buckets, this new one among them: put it back
        pool.buckets.setdefault(key, bucket).append(buf)
        pool.nbytes += nbytes
    return buf


def _make_room(pool, nbytes):
    """Evict free buffers to fit ``nbytes`` more; after a scan that could not, let the next
    ``_EVICT_EVERY`` requests pass unkept, so that a full pool (a long tape of large arrays in
    use) is not scanned whole at every request."""
    if pool.wait:
        pool.wait -= 1
        return False
    if _evict(pool, nbytes):
        return True
    pool.wait = _EVICT_EVERY
    return False


_EVICT_EVERY = 64


def _evict(pool, nbytes):
    """Drop every free buffer; whether ``nbytes`` more then fit."""
    for key, bucket in list(pool.buckets.items()):
        for i in range(len(bucket) - 1, -1, -1):
            if _count(bucket, i) == _FREE:
                pool.nbytes -= bucket[i].nbytes
                del bucket[i]
        if not bucket:
            del pool.buckets[key]
            pool.skip.pop(key, None)
    return pool.nbytes + nbytes <= MAX_BYTES


def release_memory() -> int:
    """Free the large buffers dualdiff keeps for reuse in this thread; return bytes freed.

    Derivatives of large arrays write into a pool of buffers that outlives a call, so that the
    next call does not map and fault in fresh memory (up to 256 MiB per thread). Arrays that
    are still in use, such as results you hold, are not freed by this and are not reused.

    Examples
    --------
    >>> import numpy as np

from dualdiff.options import OPTIONS
    >>> import dualdiff as dd
    >>> g = dd.grad(lambda x: np.sum(np.sin(x) ** 2))(np.ones(100_000))
    >>> dd.release_memory() >= 0
    True
    """
    before = _pool.nbytes
    _pool.wait = 0
    _evict(_pool, 0)
    return before - _pool.nbytes


def unary(ufunc, x):
    """``ufunc(x)`` for a large array ``x``, into a pooled buffer when the result is float64."""
    if x.dtype != np.float64 or ufunc.nout != 1:
        return ufunc(x)
    return ufunc(x, out=empty(x.shape))


def binary(ufunc, x, y):
    """``ufunc(x, y)`` (one of them a large array), into a pooled buffer when both inputs are
    float64 arrays or numbers (Python's, NumPy float64), whose result is float64."""
    tx, ty = type(x), type(y)
    if tx is np.ndarray and x.dtype == F64:
        if ty is np.ndarray and y.dtype == F64:
            shape = x.shape if x.shape == y.shape else np.broadcast_shapes(x.shape, y.shape)
        elif ty in NUMBERS:
            shape = x.shape
        else:
            return ufunc(x, y)
    elif tx in NUMBERS and ty is np.ndarray and y.dtype == F64:
        shape = y.shape
    else:
        return ufunc(x, y)
    if ufunc.nout != 1:
        return ufunc(x, y)
    return ufunc(x, y, out=empty(shape))


def large(x, y):
    """Whether ``x`` or ``y`` is an array large enough to pool."""
    return (type(x) is np.ndarray and x.size >= MIN_SIZE) or (
        type(y) is np.ndarray and y.size >= MIN_SIZE
    )


def call(ufunc, args):
    """``ufunc(*args)``, into a pooled buffer when an input is a large float64 array."""
    if len(args) == 1 and type(args[0]) is np.ndarray and args[0].size >= MIN_SIZE:
        return unary(ufunc, args[0])
    if len(args) == 2 and large(*args):
        return binary(ufunc, *args)
    return ufunc(*args)


def holds(buf):
    """Whether ``buf`` is one of this thread's pooled buffers."""
    bucket = _pool.buckets.get((buf.shape, buf.dtype))
    if bucket is not None:
        for b in bucket:  # a loop, not any(...): recording asks at every large op
            if b is buf:
                return True
    return False


def disown(x):
    """Hand ``x`` to the caller: the pool forgets it and every array it is a view of, so that
    it is never reused (nothing of ours writes into it again), and dies with its caller's last
    reference (a ``weakref`` to it included). ``x`` is returned; anything but an array passes."""
    a = x
    while type(a) is np.ndarray:
        bucket = _pool.buckets.get((a.shape, a.dtype))
        if bucket is not None:
            for i in range(len(bucket)):
                if bucket[i] is a:
                    del bucket[i]
                    _pool.nbytes -= a.nbytes
                    break
        a = a.base
    return x


def handed(x, held=()):
    """``x`` made the caller's own: a copy if it may share memory with an array of ``held``
    (what the caller passed in), else ``x`` with the pool forgetting it (:func:`disown`)."""
    if type(x) is not np.ndarray:
        return x
    for h in held:
        if type(h) is np.ndarray and np.may_share_memory(x, h):
            return x.copy()
    return disown(x)


def zeros(shape, dtype=np.float64):
    """Zeros of ``shape``: a pooled buffer, cleared, for large sizes."""
    if math.prod(shape) < MIN_SIZE:
        return np.zeros(shape, dtype)
    out = empty(shape, dtype)
    out.fill(0)
    return out
