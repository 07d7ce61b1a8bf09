import gc
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

# The suite makes thousands of tiny matrix products: on a shared machine a second BLAS thread
# makes each wait for a scheduler time slice (milliseconds). Tests of threading raise it back.
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1, user_api="blas")


@pytest.fixture
def empty_pool():
    """This thread's buffer pool holding nothing but what is in use, before and after a test.

    Deferral takes only pooled buffers, and the pool keeps a new one only while it has room:
    an earlier test's garbage (reference cycles the collector has not reached yet) would still
    hold buffers, so it is collected first."""
    import dualdiff as dd

    gc.collect()
    dd.release_memory()
    yield
    dd.release_memory()


@pytest.fixture
def deferring():
    """RuntimeWarnings ignored, so that large elementwise ops are deferred inside a test.

    pytest records warnings around each test, and code that reads recorded warnings could act
    on a deferred op's: dualdiff computes every op at once while warnings are recorded (see
    ``dualdiff/_defer.py``). Tests of deferral ignore RuntimeWarnings instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
