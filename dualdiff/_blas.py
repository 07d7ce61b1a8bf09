"""BLAS on one thread while a small Jacobian's batched passes run.

A batched pass turns ``f``'s matrix-vector products into matrix-matrix products (one column
per direction), and OpenBLAS runs those on every core. For a small product that gains
microseconds; on a machine whose cores are busy with other work it loses a scheduler time
slice waiting for the second thread: a 100 x 100 product measured 0.05 ms on one thread and
20-50 ms on two, with two other processes busy. So :func:`one_thread` pins NumPy's BLAS library
to one thread for the passes of a Jacobian whose estimated cost is small (as scikit-learn does
around its own small products). The limit is process-wide, as BLAS's thread count is: while
it is held, BLAS calls of other threads run on one thread too; the count is restored when the
last holder leaves. OpenBLAS (0.3.31) may ignore a count set from a thread other than the main
one once the main thread has changed it: passes started there then run as BLAS is set. The
limit never changes a result, only where the work runs.
"""

import sys
import threading
from contextlib import nullcontext

_lock = threading.Lock()
_holders = 0
_restore = []  # (library controller, its thread count before the first holder pinned it)
_libraries = None  # (len(sys.modules) when found, controllers)


def _blas_libraries():
    """threadpoolctl's controllers of NumPy's BLAS (of every BLAS library loaded, where none
    is NumPy's own: an MKL or system build). Finding them takes about 20 ms: they are found
    again only after new modules were imported."""
    global _libraries
    if _libraries is None or _libraries[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        found = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        # NumPy's own BLAS runs the products of the rules that ask for one thread (dispatch's
        # BLAS_FNS); pinning another library as well would double the cost (~7 us a set)
        numpy_own = [lib for lib in found if "numpy" in str(lib.filepath)]
        _libraries = (len(sys.modules), numpy_own or found)
    return _libraries[1]


class _OneThread:
    """The pin as a context manager: every holder counts, the last one out restores."""

    def __enter__(self):
        global _holders, _restore
        with _lock:
            if _holders == 0:
                _restore = [(lib, lib.num_threads) for lib in _blas_libraries()]
                for lib, threads in _restore:
                    if threads > 1:
                        lib.set_num_threads(1)
            _holders += 1

    def __exit__(self, *exc):
        global _holders, _restore
        with _lock:
            _holders -= 1
            if _holders == 0:
                for lib, threads in _restore:
                    if threads > 1:
                        lib.set_num_threads(threads)
                _restore = []


_PIN, _NOTHING = _OneThread(), nullcontext()  # no state of their own: shared by every use


def one_thread(enabled=True):
    """Every BLAS library NumPy uses on one thread inside the block (when ``enabled``)."""
    return _PIN if enabled else _NOTHING
