"""``python -m dualdiff bench`` runs end to end (a smoke test: no timing is asserted)."""

import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import dualdiff as dd
from dualdiff import bench


def test_quick_bench_prints_a_table_with_every_mode(capsys):
    rows = bench.main(["--quick", "--quiet"])
    out = capsys.readouterr().out
    assert "forward" in out and "reverse" in out and "auto" in out and "regret" in out
    # what the numbers are, and what a regret below 1 means
    assert "multiple of one NumPy evaluation of f" in out
    assert f"best of {bench.ROUNDS} interleaved rounds" in out
    assert "regret = auto / best of (forward, reverse)" in out
    assert "regret below 1 means" in out and "timing noise" in out
    assert out.splitlines()[-1].startswith("worst regret: ") and "target <= 1.15: " in out
    # says what it pinned, on any install: threadpoolctl is a core dependency
    assert "BLAS pinned to 1 thread via threadpoolctl: " in out or "no BLAS library" in out
    assert {r.family for r in rows} == set(bench.FAMILIES)
    for r in rows:
        assert set(r.ratios) == {"forward", "reverse", "auto"}
        best = min(r.ratios["forward"], r.ratios["reverse"])
        assert r.regret == pytest.approx(r.ratios["auto"] / best)
    report = bench.fit_report(rows)  # what --fit prints: fitted constants and those in use
    assert report.count("in use") == 2 and "fitted forward" in report


@pytest.mark.parametrize("family", sorted(bench.FAMILIES))
def test_bench_problems_have_correct_jacobians(family):
    f, x = bench.problem(family, 6, 4)
    J = dd.jacobian(f)(x)
    eps = 1e-6
    fd = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(6)], axis=-1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-7)


def test_blas_line_says_what_was_pinned_and_whether_it_held():
    before = [{"internal_api": "openblas", "version": "0.3.30", "num_threads": 2}]
    pinned = [dict(before[0], num_threads=1)]
    assert bench.blas_report(before, pinned) == (
        "BLAS pinned to 1 thread via threadpoolctl: openblas 0.3.30 (was 2)"
    )
    assert bench.blas_report(before, before).startswith("BLAS NOT pinned: ")
    assert "no BLAS library" in bench.blas_report([], [])


def test_blas_is_one_thread_while_the_bench_times():
    with bench.one_blas_thread():
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert all(i["num_threads"] == 1 for i in blas)


def test_worst_regret_line_is_judged_as_printed():
    rows = [_row("matmul", 10, 100, 10.0, 20.0, 11.53), _row("mlp", 100, 10, 30.0, 20.0, 21.0)]
    assert bench.worst_regret(rows) == (
        "worst regret: 1.15 (matmul, n=10, m=100); target <= 1.15: met"
    )
    rows.append(_row("mlp", 10, 100, 10.0, 20.0, 11.6))
    assert bench.worst_regret(rows).endswith("target <= 1.15: MISSED")


def _row(family, n, m, forward, reverse, auto):
    ratios = {"forward": forward, "reverse": reverse, "auto": auto}
    return bench.Row(family, n, m, 1e-4, ratios, plan=None)


def test_plot_is_grouped_bars_per_problem_with_one_legend_and_the_regret():
    pytest.importorskip("matplotlib")
    rows = [_row("matmul", 10, 100, 9.0, 30.0, 9.5), _row("mlp", 100, 10, 90.0, 20.0, 25.0)]
    fig = bench.figure(rows)
    try:
        (ax,) = fig.axes
        assert [c.get_label() for c in ax.containers] == list(bench.MODES)
        assert all(len(c) == len(rows) for c in ax.containers)  # one bar per problem and mode
        heights = [[bar.get_height() for bar in c] for c in ax.containers]
        assert heights == [[9.0, 90.0], [30.0, 20.0], [9.5, 25.0]]
        assert ax.get_yscale() == "log"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["matmul\n10 x 100", "mlp\n100 x 10"]
        assert ax.get_legend() is not None and not fig.legends  # one legend for the figure
        assert [t.get_text() for t in ax.texts] == ["1.06", "1.25"]  # regret above each group
        assert ax.texts[1].get_color() == "red"  # above the target
    finally:
        bench._pyplot().close(fig)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "modes.png"
    bench.main(["--quick", "--quiet", "--plot", str(path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_usage():
    done = subprocess.run([sys.executable, "-m", "dualdiff"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage: python -m dualdiff bench" in done.stdout


def test_plot_without_matplotlib_fails_fast_with_the_extra_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setattr(bench, "measure", lambda *a: pytest.fail("timed before checking"))
    with pytest.raises(SystemExit, match=r"dualdiff\[bench\]"):
        bench.main(["--quick", "--quiet", "--plot", "x.png"])


def test_plain_progress_bar_without_tqdm(capsys):
    items = list(bench._plain_progress([1, 2, 3, 4]))
    err = capsys.readouterr().err
    assert items == [1, 2, 3, 4] and "0/4" in err and "4/4" in err and "#" * 30 in err
