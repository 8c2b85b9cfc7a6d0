"""torchvision.datasets: MNIST, FashionMNIST and CIFAR10 with torchvision's signatures, and Digits.

    train = MNIST("data", train=True, download=True, transform=transforms.ToTensor())
    image, label = train[0]        # a float32 tensor (1, 28, 28) in [0, 1], and an int

Each data set is `Dataset(root, train=True, transform=None, target_transform=None, download=False)`.
`dataset[i]` is (transform(image), target_transform(target)) with, before any transform,
  image   a uint8 numpy array: (28, 28) for MNIST and FashionMNIST, (32, 32, 3) for CIFAR10 (the
          stand-in for torchvision's PIL image: `transforms.ToTensor()` makes it float32 (C, H, W) / 255)
  target  the class index, an int
and `.data` (every image, uint8 (N, H, W) or (N, H, W, 3)), `.targets` (an int64 tensor for the MNISTs,
a list of ints for CIFAR10, as in torchvision), `.classes`, `.class_to_idx`.

Files are where torchvision keeps them under `root` (None: ~/.cache/tinygrad_edu), and are looked for
in $TINYGRAD_EDU_DATA first, with the same layout:
  MNIST         root/MNIST/raw/{train,t10k}-images-idx3-ubyte.gz, ...-labels-idx1-ubyte.gz   (IDX format)
  FashionMNIST  root/FashionMNIST/raw/ (the same four file names)
  CIFAR10       root/cifar-10-binary.tar.gz   (the *binary* version; torchvision reads the pickled python
                version, which is never unpickled here)
They are found, downloaded (download=True) and checked against their sha256 by
`tinygrad_edu.data.download.fetch`, and parsed by the readers in `tinygrad_edu.data.datasets`. The file
tables are the class attribute `resources` (`resource` for CIFAR10): the tests point them at small
generated files in the real formats.

`Digits` wraps the 1,797 8x8 digits shipped for offline work (`tinygrad_edu.data.digits`), so MNIST-style
examples run without a download.
"""
import numbers
import os

import numpy as np

from ..data import datasets as _files
from ..data.dataset import Dataset
from ..data.download import data_root, fetch
from ..tensor import Tensor

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "Digits"]


class VisionDataset(Dataset):
    """What the data sets here share (torchvision's VisionDataset): a root folder, the two transforms,
    and `dataset[i] = (transform(data[i]), target_transform(targets[i]))`. Subclasses set `.data` and
    `.targets`."""

    def __init__(self, root, transform=None, target_transform=None):
        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{type(self).__name__}: {name} must be callable or None, got {type(fn).__name__}")
        self.root = str(data_root(root))
        self.transform = transform
        self.target_transform = target_transform

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"{type(self).__name__}: index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {n} examples")
        image = np.array(self.data[index])  # a copy, as torchvision's fresh PIL image
        targets = self.targets
        target = int(targets.numpy()[index] if isinstance(targets, Tensor) else targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __len__(self):
        return len(self.data)

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def _fetch(self, resources, download):
        """fetch(), with torchvision's error when the files are missing and download is False."""
        try:
            return fetch(resources, self.root, download=download)
        except FileNotFoundError as exc:
            if download:
                raise
            raise RuntimeError(f"Dataset not found. You can use download=True to download it\n"
                               f"{type(self).__name__}: {exc}") from None

    def extra_repr(self):
        return f"Split: {'Train' if getattr(self, 'train', True) else 'Test'}"

    def __repr__(self):
        lines = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}", self.extra_repr()]
        if self.transform is not None:
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n    "))
        if self.target_transform is not None:
            lines.append("Target transform: " + repr(self.target_transform).replace("\n", "\n    "))
        return "\n".join([f"Dataset {type(self).__name__}"] + ["    " + line for line in lines])


class MNIST(VisionDataset):
    """MNIST handwritten digits: 60,000 training or 10,000 test 28x28 grey images, from the IDX files in
    root/MNIST/raw (torchvision's layout), each file's sha256 checked."""

    resources = _files.MNIST_FILES  # train (True / False) -> (images Resource, labels Resource)
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform, target_transform)
        self.train = bool(train)
        folder = f"{type(self).__name__}/raw/"
        images_file, labels_file = (res._replace(filename=folder + res.filename) for res in self.resources[self.train])
        images_path, labels_path = self._fetch([images_file, labels_file], download)
        images = self._read(images_path, 3)
        labels = self._read(labels_path, 1)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{type(self).__name__}: {images_path} has {images.shape[0]} images but {labels_path} "
                             f"has {labels.shape[0]} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{type(self).__name__}: {labels_path} has a label {int(labels.max())} outside "
                             f"0..{len(self.classes) - 1}")
        self.data = images
        self.targets = Tensor(labels.astype(np.int64))

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    def _read(self, path, ndim):
        """An IDX file of uint8 with `ndim` dims (magic number 0x0000080n), as a numpy array."""
        array = _files.read_idx(path)
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise ValueError(f"{type(self).__name__}: {path} holds a {array.dtype} array of shape {array.shape}, "
                             f"expected {ndim} dims of uint8 (magic number {0x800 + ndim}); is it the right IDX file?")
        return array


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando Research): 28x28 grey images of 10 kinds of clothing, in MNIST's format and
    file names, from root/FashionMNIST/raw; sha256 as published by torchvision."""

    resources = _files.FASHION_MNIST_FILES
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 training or 10,000 test 32x32 colour images of 10 classes, from
    root/cifar-10-binary.tar.gz (read without extracting it), its sha256 checked.

    `.data` is uint8 (N, 32, 32, 3), height x width x RGB, as in torchvision; `.targets` a list of ints.
    """

    resource = _files.CIFAR10_FILE
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform, target_transform)
        self.train = bool(train)
        (path,) = self._fetch([self.resource], download)
        images, labels = _files.read_cifar10_binary(path, self.train)  # (N, 3, 32, 32): channel planes
        self.data = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
        self.targets = labels.astype(np.int64).tolist()


class Digits(VisionDataset):
    """scikit-learn's 1,797 8x8 handwritten digits (`tinygrad_edu.data.digits`) as an MNIST-like data set.

    Images are float32 (8, 8) arrays in [0, 1] (the raw 0..16 divided by 16), so `ToTensor()` keeps their
    values and gives (1, 8, 8). The split is fixed: a permutation drawn from np.random.default_rng(0),
    the first 80% of it (1,437 images) for train=True, the other 360 for train=False, each in file order.
    """

    classes = [str(i) for i in range(10)]
    split_seed = 0

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform, target_transform)
        self.train = bool(train)
        if not download:
            self._fetch([_files.DIGITS], download=False)
        images, labels = _files.digits(self.root)
        order = np.random.default_rng(self.split_seed).permutation(len(labels))
        n_train = len(labels) * 4 // 5
        rows = np.sort(order[:n_train] if self.train else order[n_train:])
        self.data = images.numpy()[rows, 0]
        self.targets = Tensor(labels.numpy()[rows])
