import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))


@pytest.fixture
def empty_pool():
    """This thread's buffer pool holding nothing but what is in use, before and after a test.

    Deferral and elision take only pooled buffers, and the pool keeps a new one only while it
    has room: an earlier test's garbage (reference cycles the collector has not reached yet)
    would still hold buffers, so it is collected first."""
    import dualdiff as dd

    gc.collect()
    dd.release_memory()
    yield
    dd.release_memory()
