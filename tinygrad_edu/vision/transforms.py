"""torchvision.transforms: the image transforms most training scripts use, with torchvision's names.

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ])

Two kinds of image go through them, as in torchvision:
  * an image array, the stand-in for a PIL image (what the data sets here return): numpy (H, W) or
    (H, W, C), usually uint8; a real PIL image is read as its array;
  * a tensor (..., C, H, W) or (..., H, W), after ToTensor: handled with Tensor ops.
RandomCrop and RandomHorizontalFlip take either and return the same kind. ToTensor turns the first
kind into the second; Normalize takes tensors only.

The random transforms draw from the library's generator (`tinygrad_edu.random.generator()`), so
`tg.manual_seed(n)` repeats them, as `torch.manual_seed` does for torchvision's.
"""
import numbers

import numpy as np

from .. import dtypes
from .. import random as _random
from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Lambda"]

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


class Compose:
    """Apply `transforms` one after the other: Compose([f, g])(x) == g(f(x))."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {i} is a {type(t).__name__}, which is not callable")
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return f"{type(self).__name__}(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class ToTensor:
    """An image array (H, W) or (H, W, C) -> a tensor (C, H, W); uint8 values v become float32 v / 255.

    Arrays of any other dtype keep their values (a float image is taken to be in [0, 1] already) and
    their dtype as far as tinygrad_edu has it, as torchvision's ToTensor does. A PIL image is read as
    its array first (mode "1" as 0 / 255).
    """

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: pic should be PIL Image or ndarray. Got a Tensor (it is already one)")
        array = _image_array(pic, "ToTensor")
        if array.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional. Got {array.ndim} dimensions "
                             f"(shape {array.shape}); expected (H, W) or (H, W, C)")
        if array.ndim == 2:
            array = array[:, :, None]
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            return Tensor(chw, dtype=dtypes.float32) / 255
        return Tensor(chw)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Normalize:
    """out[..., c, :, :] = (x[..., c, :, :] - mean[c]) / std[c] for a float tensor (..., C, H, W).

    mean and std are sequences of C numbers (or of one, for every channel). As in torchvision they are
    converted to the tensor's dtype first, and a std that becomes 0 is refused. inplace=True changes
    the tensor itself (sub_ then div_).
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: img should be Tensor Image. Got {type(tensor).__name__}; "
                            f"use ToTensor() first")
        if not tensor.dtype.is_floating_point:
            raise TypeError(f"Normalize: Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.ndim < 3:
            raise ValueError(f"Normalize: Expected tensor to be a tensor image of size (..., C, H, W). Got "
                             f"tensor.size() = {tensor.shape}")
        mean = self._per_channel("mean", self.mean, tensor)
        std = self._per_channel("std", self.std, tensor)
        if (std == 0).any():
            raise ValueError(f"Normalize: std evaluated to zero after conversion to {tensor.dtype}, leading to "
                             f"division by zero.")
        mean, std = Tensor(mean, device=tensor.device), Tensor(std, device=tensor.device)
        if self.inplace:
            return tensor.sub_(mean).div_(std)
        return (tensor - mean) / std

    @staticmethod
    def _per_channel(name, values, tensor):
        """`values` as a (C, 1, 1) array (or a scalar array) of the tensor's dtype."""
        array = np.asarray(values, dtype=tensor.dtype.np)
        channels = tensor.shape[-3]
        if array.ndim > 1 or array.size not in (1, channels):
            raise ValueError(f"Normalize: {name} has {array.size} values (shape {array.shape}), but the tensor of "
                             f"shape {tensor.shape} has {channels} channels (dim -3)")
        return array.reshape(-1, 1, 1) if array.ndim == 1 else array

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class RandomCrop:
    """Cut a random size[0] x size[1] window out of the image (optionally padded first).

    RandomCrop(size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant")

    size           int (a square) or (h, w)
    padding        added around the image first: an int (every side), (left/right, top/bottom) or
                   (left, top, right, bottom)
    pad_if_needed  pad a side shorter than the crop by the difference on both ends (after padding)
    fill           the value of constant padding
    padding_mode   "constant" (fill), "edge" (repeat the border pixel), "reflect" (mirror without
                   repeating the border: 3 2 | 1 2 3 4), "symmetric" (mirror with it: 2 1 | 1 2 3 4)

    The window's top-left corner (i, j) is uniform over 0..H-h x 0..W-w: i is drawn, then j (no draw
    when the image already has the crop's size), as torchvision's `RandomCrop.get_params`.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _crop_size(size)
        self.padding = padding
        self._sides = None if padding is None else _padding_sides(padding)
        self.pad_if_needed = pad_if_needed
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
            raise TypeError(f"RandomCrop: fill must be a number, got {type(fill).__name__} {fill!r}")
        self.fill = fill
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"RandomCrop: Padding mode should be either constant, edge, reflect or symmetric, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        """(i, j, h, w): the top-left corner and size of a random crop of `output_size` from img."""
        height, width = _height_width(img, "RandomCrop")
        th, tw = output_size
        if height < th or width < tw:
            raise ValueError(f"RandomCrop: Required crop size {(th, tw)} is larger than input image size "
                             f"{(height, width)}")
        if height == th and width == tw:
            return 0, 0, height, width
        rng = _random.generator()
        i = int(rng.integers(0, height - th + 1))
        j = int(rng.integers(0, width - tw + 1))
        return i, j, th, tw

    def __call__(self, img):
        img = _image(img, "RandomCrop")
        if self._sides is not None:
            img = _pad(img, self._sides, self.fill, self.padding_mode)
        height, width = _height_width(img, "RandomCrop")
        if self.pad_if_needed and width < self.size[1]:
            extra = self.size[1] - width
            img = _pad(img, (extra, 0, extra, 0), self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            extra = self.size[0] - height
            img = _pad(img, (0, extra, 0, extra), self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        if isinstance(img, Tensor):
            return img[..., i:i + h, j:j + w]
        return img[i:i + h, j:j + w].copy()

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right (reverse its width dim) with probability p."""

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"RandomHorizontalFlip: p must be a number, got {type(p).__name__}")
        self.p = p

    def __call__(self, img):
        img = _image(img, "RandomHorizontalFlip")
        if _random.generator().random() < self.p:
            if isinstance(img, Tensor):
                return img[..., ::-1]
            return img[:, ::-1].copy()
        return img

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class Lambda:
    """A user function as a transform: Lambda(lambd)(x) == lambd(x)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"


# ---- helpers -------------------------------------------------------------------------------
def _image_array(pic, op):
    """A numpy image array from a numpy array or a PIL image (anything exposing the array interface)."""
    if isinstance(pic, np.ndarray):
        return pic
    if hasattr(pic, "__array_interface__") and hasattr(pic, "mode"):  # a PIL image
        array = np.array(pic)
        return array.astype(np.uint8) * 255 if pic.mode == "1" else array
    raise TypeError(f"{op}: pic should be PIL Image or ndarray. Got {type(pic).__name__}")


def _image(img, op):
    """A tensor (..., H, W) as it is, an image array (H, W) / (H, W, C) or PIL image as a numpy array."""
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise ValueError(f"{op}: expected a tensor image (..., H, W), got shape {img.shape}")
        return img
    array = _image_array(img, op)
    if array.ndim not in (2, 3):
        raise ValueError(f"{op}: expected an image array (H, W) or (H, W, C), got shape {array.shape}")
    return array


def _height_width(img, op):
    if isinstance(img, Tensor):
        return img.shape[-2], img.shape[-1]
    return _image(img, op).shape[:2]


def _crop_size(size):
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if not (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"RandomCrop: size must be a positive int or a sequence of two positive ints (h, w), "
                         f"got {size!r}")
    return tuple(int(s) for s in size)


def _padding_sides(padding):
    """torchvision's padding forms as (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = [padding]
    if not isinstance(padding, (tuple, list)) or len(padding) not in (1, 2, 4):
        count = f"a {len(padding)} element tuple" if isinstance(padding, (tuple, list)) else repr(padding)
        raise ValueError(f"RandomCrop: Padding must be an int or a 1, 2, or 4 element tuple, not {count}")
    if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 0 for p in padding):
        raise ValueError(f"RandomCrop: padding must be non-negative ints, got {padding!r}")
    if len(padding) == 1:
        return tuple(padding) * 4
    if len(padding) == 2:
        return tuple(padding) * 2
    return tuple(padding)


def _pad(img, sides, fill, padding_mode):
    """Pad an image by (left, top, right, bottom): Tensor.pad for constant padding of a tensor, else the
    rows and columns to read, found by padding their indices (np.pad of arange) in the same mode."""
    left, top, right, bottom = sides
    height, width = _height_width(img, "RandomCrop")
    if padding_mode == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
        raise ValueError(f"RandomCrop: padding {sides} (left, top, right, bottom) must be smaller than the image "
                         f"size {(height, width)} for padding_mode='reflect'")
    if isinstance(img, Tensor):
        if padding_mode == "constant":
            return img.pad((left, right, top, bottom), value=fill)
        rows = np.pad(np.arange(height), (top, bottom), mode=padding_mode)
        cols = np.pad(np.arange(width), (left, right), mode=padding_mode)
        return img[..., rows[:, None], cols]
    width_per_axis = ((top, bottom), (left, right)) + ((0, 0),) * (img.ndim - 2)
    if padding_mode == "constant":
        return np.pad(img, width_per_axis, mode="constant", constant_values=fill)
    return np.pad(img, width_per_axis, mode=padding_mode)
