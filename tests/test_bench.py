"""``python -m dualdiff bench`` runs end to end (a smoke test: no timing is asserted)."""

import subprocess
import sys

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import bench


def test_quick_bench_prints_a_table_with_every_mode(capsys):
    rows = bench.main(["--quick", "--quiet"])
    out = capsys.readouterr().out
    assert "forward" in out and "reverse" in out and "auto" in out and "regret" in out
    assert "BLAS pinned to one thread: " in out  # says what it pinned, on any install
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
