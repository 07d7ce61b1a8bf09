"""Test-table lines for the fused ops of dualdiff.nn (rules in dualdiff/nn.py)."""

from dualdiff.nn import linear, mse_loss
from tests._table import Case, rand

x1, x2, x3 = rand(3, seed=1), rand(4, 3, seed=2), rand(2, 4, 3, seed=3)
w, b = rand(2, 3, seed=4), rand(2, seed=5)
a, t = rand(4, 3, seed=6), rand(4, 3, seed=7)

CASES = [
    Case(linear, lambda x, w, b: linear(x, w, b), (x1, w, b), name="vector"),
    Case(linear, lambda x, w, b: linear(x, w, b), (x2, w, b), name="batch"),
    Case(linear, lambda x, w, b: linear(x, w, b), (x3, w, b), name="stacked-batch"),
    Case(linear, lambda x, w: linear(x, w), (x2, w), name="no-bias"),
    Case(mse_loss, lambda a, t: mse_loss(a, t), (a, t), name="mean"),
    Case(mse_loss, lambda a, t: mse_loss(a, t, "sum"), (a, t), name="sum"),
    Case(mse_loss, lambda a, t: mse_loss(a, t, "none"), (a, t), name="none"),
    Case(mse_loss, lambda a, t: mse_loss(a, t), (a, rand(3, seed=8)), name="broadcast-target"),
]
