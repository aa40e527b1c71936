"""dae.figures: the digit grid and line plots, written as PNG files."""

import torch
from PIL import Image

from dae.figures import curves, digit_grid


def test_digit_grid_has_a_row_per_entry_and_a_column_per_digit(tmp_path):
    rows = [("original", torch.rand(10, 1, 32, 32)), ("noisy", torch.rand(10, 1, 32, 32))]
    one = digit_grid(rows[:1], tmp_path / "one.png")
    two = digit_grid(rows, tmp_path / "two.png", title="after 5 epochs")
    with Image.open(one) as a, Image.open(two) as b:
        assert a.format == b.format == "PNG" and b.size[1] > a.size[1] * 1.5 and abs(a.size[0] - b.size[0]) < 0.2 * a.size[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_curves_draw_each_series(tmp_path):
    path = curves(
        {"train": ([1, 2, 3], [0.3, 0.2, 0.1]), "validation": ([1, 2, 3], [0.35, 0.25, 0.2])}, tmp_path / "loss.png", "epoch", "loss"
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300
