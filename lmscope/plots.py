"""Figures: vector PDF, written atomically, with the numbers behind each figure saved beside it as CSV."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmscope.atomic import atomic_path  # noqa: E402


def loss_curve(history: list[dict], path, title: str) -> None:
    """Training loss per step and validation loss at the saved checkpoints, on a log step axis (the
    checkpoints are log-spaced)."""
    train = [(r["step"], r["train_loss"]) for r in history if r["step"] > 0 and not math.isnan(r["train_loss"])]
    val = [(r["step"], r["val_loss"]) for r in history if not math.isnan(r["val_loss"])]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(*zip(*train), lw=0.8, color="tab:blue", label="training loss")
    # step 0 (the untrained model) is drawn at step 1 so that it fits on the log axis
    ax.plot([max(s, 1) for s, _ in val], [v for _, v in val], "o-", color="tab:orange",
            label="validation loss (step 0 drawn at 1)")
    ax.set(xscale="log", xlabel="training step", ylabel="next-token loss (nats)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf")
    plt.close(fig)
