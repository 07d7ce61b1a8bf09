"""Running one function in several threads at once, for the tests of per-thread state."""

import threading


def in_threads(work, n):
    """``[work(0), ..., work(n - 1)]``, each called in a thread of its own, all released
    together; the first error a thread met is raised here."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as e:  # pragma: no cover - raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
