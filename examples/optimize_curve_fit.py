"""A nonlinear curve fit with the exact Jacobian: two overlapping Gaussian peaks on a slope.

``dualdiff.optimize.curve_fit`` is SciPy's ``curve_fit`` with the Jacobian of the model with
respect to its parameters computed by dualdiff (forward mode: 7 parameters, 400 residuals).
It returns ``popt, pcov`` as SciPy does.

Run: python examples/optimize_curve_fit.py
"""

import os

import numpy as np

import dualdiff as dd

NAMES = ("a1", "mu1", "s1", "a2", "mu2", "s2", "slope")


def peaks(x, a1, mu1, s1, a2, mu2, s2, slope):
    """Two Gaussian peaks on a linear background, in plain NumPy."""
    g1 = a1 * np.exp(-0.5 * ((x - mu1) / s1) ** 2)
    g2 = a2 * np.exp(-0.5 * ((x - mu2) / s2) ** 2)
    return g1 + g2 + slope * x


def main():
    m = 100 if os.environ.get("DUALDIFF_EXAMPLE_QUICK") else 400
    rng = np.random.default_rng(0)
    truth = np.array([3.0, -1.0, 0.6, 2.0, 0.8, 0.9, 0.3])
    x = np.linspace(-4.0, 4.0, m)
    y = peaks(x, *truth) + 0.05 * rng.standard_normal(m)

    p0 = [2.0, -1.5, 1.0, 1.0, 1.0, 1.0, 0.0]
    widths_positive = ([0, -np.inf, 0, 0, -np.inf, 0, -np.inf], np.inf)
    popt, pcov = dd.optimize.curve_fit(peaks, x, y, p0=p0, bounds=widths_positive)
    perr = np.sqrt(np.diag(pcov))
    print(f"Two-peak fit to {m} noisy points (exact Jacobian from dualdiff):")
    for name, t, p, e in zip(NAMES, truth, popt, perr):
        print(f"  {name:6s} true {t:6.3f}   fit {p:7.4f} +- {e:.4f}")
        assert abs(p - t) < 5 * e + 1e-3, (name, p, t, e)
    rms = np.sqrt(np.mean((peaks(x, *popt) - y) ** 2))
    print(f"  residual rms {rms:.4f} (noise level 0.05)")


if __name__ == "__main__":
    main()
