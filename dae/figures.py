"""Figures written next to the numbers (PNG, matplotlib without a display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def save(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save a figure atomically (temporary name, then rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def digit_grid(
    rows: Sequence[tuple[str, torch.Tensor]], path: str | Path, title: str | None = None, dpi: int = 100, digit_columns: bool = True
) -> Path:
    """One column per digit 0-9 (headed by the digit unless ``digit_columns`` is false), one labelled
    row per ``(label, images)``; images ``(10, 1, H, W)`` in [0, 1]."""
    fig, axes = plt.subplots(len(rows), 10, figsize=(10 * 0.9, len(rows) * 0.95 + (0.4 if title else 0)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for d in range(10):
            ax = axes[r, d]
            ax.imshow(images[d, 0].detach().float().cpu().clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and digit_columns:
                ax.set_title(str(d), fontsize=9)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    if title:
        fig.suptitle(title, fontsize=10)
        fig.subplots_adjust(top=1 - 0.9 / fig.get_size_inches()[1])  # room for the title above the digit labels
    return save(fig, path, dpi)


def curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, xlabel: str, ylabel: str, title: str | None = None
) -> Path:
    """Line plot, one labelled line per ``name: (x, y)``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (x, y) in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)
