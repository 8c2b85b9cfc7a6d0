"""tinygrad_edu.vision: torchvision's most used parts, with torchvision's names.

    import tinygrad_edu.vision as vision
    from tinygrad_edu.vision import datasets, transforms, utils

    datasets.py    MNIST, FashionMNIST, CIFAR10 (the real file formats, sha256-checked) and Digits (offline)
    transforms.py  Compose, ToTensor, Normalize, RandomCrop, RandomHorizontalFlip, Lambda
    utils.py       make_grid, save_image (a PNG written with zlib + struct)
"""
from . import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]
