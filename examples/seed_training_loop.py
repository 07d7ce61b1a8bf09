"""The seed post's training loop on dualdiff, with only the imports changed.

``MyNetwork`` is a small tanh network fitted to synthetic regression data; the loop is the
post's, line for line. A progress bar shows the loss (tqdm, when installed) and a PNG loss
curve is saved when matplotlib is installed.

Run: python examples/seed_training_loop.py
"""

import os

import numpy as np

import dualdiff as torch  # was: import torch
import dualdiff.optim as optim  # was: import torch.optim as optim

QUICK = os.environ.get("DUALDIFF_EXAMPLE_QUICK") == "1"  # set by the test-suite
num_epochs = 150 if QUICK else 3000


class MyNetwork(torch.nn.Module):
    """8 inputs -> 32 tanh units -> 1 output."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(8, 32)
        self.act = torch.nn.Tanh()
        self.out = torch.nn.Linear(32, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def make_data(n=512, seed=0):
    """y = sin(x . w) + cos(x_0) + noise, for x uniform in [-1, 1]^8."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 8))
    w = rng.normal(size=(8, 1))
    y = np.sin(x @ w) + np.cos(x[:, :1]) + 0.05 * rng.normal(size=(n, 1))
    return torch.tensor(x), torch.tensor(y)


def progress(epochs):
    """A tqdm progress bar when tqdm is installed, else the plain range."""
    try:
        from tqdm import tqdm
    except ImportError:
        return epochs
    return tqdm(epochs, desc="training", disable=QUICK, mininterval=0.5)


def save_curve(losses, path="seed_training_loss.png"):
    """Loss per epoch as a PNG, when matplotlib is installed (never in quick mode)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.semilogy(losses)
    ax.set(xlabel="epoch", ylabel="MSE loss", title="seed training loop on dualdiff")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main():
    torch.nn.manual_seed(0)
    input, target = make_data()
    losses = []

    # -- the post's snippet --------------------------------------------------------------------
    # Define the network and loss function
    model = MyNetwork()
    criterion = torch.nn.MSELoss()

    # Set up the optimizer
    optimizer = optim.SGD(model.parameters(), lr=0.01)

    # Training loop
    for epoch in progress(range(num_epochs)):
        optimizer.zero_grad()
        output = model(input)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        # ---------------------------------------------------------------------------------------
        losses.append(loss.item())
        if epoch % (num_epochs // 5) == 0 or epoch == num_epochs - 1:
            print(f"epoch {epoch:5d}  loss {losses[-1]:.5f}")

    assert losses[-1] < 0.8 * losses[0], "the loss should fall"
    print(f"loss fell from {losses[0]:.4f} to {losses[-1]:.4f} in {num_epochs} epochs")
    if not QUICK and (path := save_curve(losses)):
        print(f"loss curve saved to {path}")


if __name__ == "__main__":
    main()
