"""Image grids as numpy arrays and PNG files (no TensorFlow needed)."""

import math

import numpy as np


def make_grid(images, columns=None, padding=2, background=0):
    """Tiles uint8 images [N, H, W, C] into one [rows*(H+p)+p, columns*(W+p)+p, C] image."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"make_grid needs uint8 images [N, H, W, C], got {images.dtype} {images.shape}")
    count, height, width, channels = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels), background, np.uint8
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def save_png(grid, path):
    """Writes a uint8 [H, W, 1 or 3] array as a PNG (grayscale or RGB)."""
    from PIL import Image

    array = grid[..., 0] if grid.shape[-1] == 1 else grid
    Image.fromarray(array).save(path, format="PNG")
