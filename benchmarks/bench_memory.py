"""Working memory of a chunked Jacobian: n = m = 5000 under ``max_memory=100 MB``.

    python -m benchmarks.bench_memory [--n 5000] [--max-memory-mb 100]

Prints the dispatcher's plan and the peak memory NumPy allocated during the call (tracemalloc
sees NumPy's buffers), beyond the Jacobian itself.
"""

import argparse
import time
import tracemalloc

import numpy as np

import dualdiff as dd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--max-memory-mb", type=float, default=100.0)
    args = parser.parse_args(argv)
    n, budget = args.n, int(args.max_memory_mb * 2**20)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.uniform(-1.0, 1.0, n)
    f = lambda x: np.tanh(A @ np.sin(x))  # noqa: E731
    for mode in ("forward", "reverse"):
        plan = dd.plan_jacobian(f, x, mode=mode, max_memory=budget)
        tracemalloc.start()
        start = time.perf_counter()
        J = dd.jacobian(f, mode=mode, max_memory=budget)(x)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        exact = (1 - np.tanh(A @ np.sin(x)) ** 2)[:, None] * A * np.cos(x)
        np.testing.assert_allclose(J, exact, rtol=1e-10, atol=1e-12)
        print(
            f"{mode}: {plan.passes} passes of {plan.chunk_size} directions "
            f"(all {n} at once would be 1 pass), {seconds:.2f} s"
        )
        print(
            f"  peak NumPy memory during the call: {peak / 2**20:.0f} MiB, of which the "
            f"Jacobian is {J.nbytes / 2**20:.0f} MiB -> working memory "
            f"{(peak - J.nbytes) / 2**20:.0f} MiB (budget {budget / 2**20:.0f} MiB)"
        )
        del J


if __name__ == "__main__":
    main()
