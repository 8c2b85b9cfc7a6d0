"""torchvision.utils: lay a batch of images out as one grid image, and save it as a PNG file.

    grid = make_grid(images, nrow=8)          # (B, C, H, W) -> (C, rows*(H+2)+2, cols*(W+2)+2)
    save_image(images, "samples.png")         # the same grid, written as an 8-bit PNG

The PNG is written here with zlib and struct (no imaging library): see `_png_bytes`.
"""
import math
import numbers
import os
import pathlib
import struct
import zlib

import numpy as np

from ..tensor import Tensor, cat, stack

__all__ = ["make_grid", "save_image"]


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Images side by side, `nrow` to a row, with `padding` pixels of `pad_value` around each: torchvision's layout.

    tensor       a batch (B, C, H, W), one image (C, H, W) or (H, W), or a list of (C, H, W) images
    normalize    rescale to [0, 1]: clamp to value_range (low, high), then (x - low) / max(high - low, 1e-5);
                 value_range None uses the min and max of the whole batch, or of each image with scale_each

    With cols = min(nrow, B) and rows = ceil(B / cols), the grid is (C, rows * (H + padding) + padding,
    cols * (W + padding) + padding); image k sits at row k // cols, column k % cols, its top-left pixel at
    (padding + row * (H + padding), padding + col * (W + padding)). One-channel images become three
    channels (the channel repeated), and a batch of one image is returned as that image, unpadded, as
    torchvision does. Built from Tensor ops (pad, reshape, permute), so gradients flow through it.
    """
    tensor = _batch_of_images(tensor)
    if not isinstance(nrow, numbers.Integral) or isinstance(nrow, bool) or nrow < 1:
        raise ValueError(f"make_grid: nrow must be a positive int, got {nrow!r}")
    if not isinstance(padding, numbers.Integral) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"make_grid: padding must be a non-negative int, got {padding!r}")
    if tensor.shape[1] == 1:
        tensor = cat([tensor, tensor, tensor], 1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError(f"make_grid: value_range has to be a tuple (min, max) if specified. min and max are "
                            f"numbers; got {value_range!r}")
        if scale_each:
            tensor = stack([_rescale(image, value_range) for image in tensor], 0)
        else:
            tensor = _rescale(tensor, value_range)
    if tensor.shape[0] == 1:
        return tensor.squeeze(0)
    count, channels, height, width = tensor.shape
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    if rows * cols > count:  # the empty cells of the last row
        tensor = cat([tensor, tensor.new_full((rows * cols - count, channels, height, width), pad_value)], 0)
    cells = tensor.pad((padding, 0, padding, 0), value=pad_value)  # each image with its top and left border
    grid = (cells.reshape(rows, cols, channels, height + padding, width + padding)
            .permute(2, 0, 3, 1, 4)
            .reshape(channels, rows * (height + padding), cols * (width + padding)))
    return grid.pad((0, padding, 0, padding), value=pad_value)  # the border on the right and at the bottom


def save_image(tensor, fp, format=None, **kwargs):  # noqa: A002  (torchvision's name)
    """Save `make_grid(tensor, **kwargs)` as an 8-bit PNG image at path `fp` (or into a binary file object).

    Each value v in [0, 1] becomes the byte floor(clamp(255 v + 0.5, 0, 255)), as in torchvision. Only PNG
    is written: `format` may be None or "png", and a path's extension, if any, must be .png.
    """
    if format is not None and str(format).lower() != "png":
        raise ValueError(f"save_image: only PNG files can be written, got format={format!r}")
    if not hasattr(fp, "write"):
        suffix = pathlib.Path(os.fspath(fp)).suffix
        if format is None and suffix and suffix.lower() != ".png":
            raise ValueError(f"save_image: only PNG files can be written, got the file name {os.fspath(fp)!r}; "
                             f"use a .png extension")
    grid = make_grid(tensor, **kwargs).detach()
    pixels = (grid * 255 + 0.5).clamp(0, 255).permute(1, 2, 0).numpy().astype(np.uint8)
    data = _png_bytes(pixels)
    if hasattr(fp, "write"):
        fp.write(data)
    else:
        with open(fp, "wb") as f:
            f.write(data)


# ---- helpers -------------------------------------------------------------------------------
def _batch_of_images(tensor):
    """make_grid's input as a (B, C, H, W) tensor."""
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"make_grid: tensor or list of tensors expected, got a list containing "
                                f"{type(t).__name__}")
        if not tensor:
            raise ValueError("make_grid: got an empty list of images")
        tensor = stack(tensor, 0)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"make_grid: tensor or list of tensors expected, got {type(tensor).__name__}")
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[0] == 0:
        raise ValueError(f"make_grid: expected a batch (B, C, H, W) with B >= 1, one image (C, H, W) or (H, W), "
                         f"or a list of (C, H, W) images; got shape {tensor.shape}")
    return tensor


def _rescale(tensor, value_range):
    """Clamp to (low, high) (default: the tensor's min and max), then map low..high to 0..1."""
    if value_range is None:
        low, high = float(tensor.min()), float(tensor.max())
    else:
        low, high = value_range
    return (tensor.clamp(low, high) - low) / max(high - low, 1e-5)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> colour type: grey, grey + alpha, RGB, RGBA


def _png_bytes(pixels):
    """A PNG file holding `pixels`, a uint8 array (H, W) or (H, W, C) with C = 1 (grey), 2, 3 (RGB) or 4.

    The file is the 8-byte signature, then chunks, each = data length (4 bytes, big-endian), a 4-letter
    type, the data, and the CRC-32 of type + data:
      IHDR  width, height (4 bytes each), bit depth 8, colour type, compression 0, filter 0, no interlace
      IDAT  the zlib stream of the scanlines, each one filter-type byte (0: stored as is) + the row's bytes
      IEND  nothing: the end
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in _PNG_COLOUR_TYPES:
        raise ValueError(f"save_image: a PNG image needs uint8 pixels (H, W) or (H, W, C) with C in 1..4, got "
                         f"{pixels.dtype} of shape {pixels.shape}")
    height, width, channels = pixels.shape
    if height == 0 or width == 0:
        raise ValueError(f"save_image: a PNG image cannot be empty, got shape {pixels.shape}")
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * channels)], 1)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes()))
            + _png_chunk(b"IEND", b""))


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
