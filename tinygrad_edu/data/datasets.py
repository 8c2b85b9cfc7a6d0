"""Real data sets: digits, tiny-shakespeare, MNIST and CIFAR-10.

What each returns (always CPU tensors; move them with `.to(device)`):

  digits(root=None)              -> (images, labels): float32 (1797, 1, 8, 8) in [0, 1], int64 (1797,)
  tiny_shakespeare(root=None)    -> str, 1,115,394 characters (65 distinct)
  MNIST(root=None, train=True)   -> a TensorDataset: .images float32 (N, 1, 28, 28) in [0, 1], .labels int64
  CIFAR10(root=None, train=True) -> a TensorDataset: .images float32 (N, 3, 32, 32) in [0, 1], .labels int64

So `TensorDataset(*digits())` and `DataLoader(MNIST(), batch_size=64)` work directly.
Files are found, downloaded and verified by `download.fetch` (TINYGRAD_EDU_DATA, then the cache
folder, then the network; sha256 always checked). The raw formats are parsed here by hand:
IDX for MNIST and the *binary* CIFAR-10 archive (never the pickled python version).
"""
import gzip
import tarfile

import numpy as np

from ..backends import get_backend
from ..tensor import Tensor
from .dataset import TensorDataset
from .download import Resource, fetch

__all__ = ["digits", "tiny_shakespeare", "CharTokenizer", "MNIST", "CIFAR10", "read_idx", "read_cifar10_binary"]

# ---- file tables ---------------------------------------------------------------------------
# sha256 of digits.csv.gz and tinyshakespeare.txt: /work/shared/data/README.md (checked against the
# files kept there). The scikit-learn file has not changed in many years; the sha256 pins it anyway.
DIGITS = Resource(
    "digits.csv.gz",
    ("https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/digits.csv.gz",),
    "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")
SHAKESPEARE = Resource(
    "tinyshakespeare.txt",  # the repository calls it input.txt; it is cached under this clearer name
    ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")

# MNIST: the sha256 of the four original LeCun .gz files (train images 9,912,422 bytes, train labels
# 28,881, test images 1,648,877, test labels 4,542), the same files every mirror serves. The digests
# are the ones published in many independent projects' download scripts (torchvision's mirror,
# MLDatasets.jl, Nix and Go packagers, ...), cross-checked for this file.
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "https://storage.googleapis.com/cvdf-datasets/mnist/")


def _mnist(name, sha256):
    return Resource(name, tuple(m + name for m in _MNIST_MIRRORS), sha256)


MNIST_FILES = {
    True: (_mnist("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
           _mnist("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c")),
    False: (_mnist("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            _mnist("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")),
}

# Fashion-MNIST (Zalando Research): 28x28 grey images of 10 kinds of clothing, in MNIST's IDX format under
# MNIST's four file names. The sha256 are the ones torchvision publishes for these files (FashionMNIST in
# torchvision/prototype/datasets/_builtin/mnist.py; its classic datasets list only md5).
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _fashion(name, sha256):
    return Resource(name, tuple(m + name for m in _FASHION_MIRRORS), sha256)


FASHION_MNIST_FILES = {
    True: (_fashion("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
           _fashion("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845")),
    False: (_fashion("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            _fashion("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")),
}

# CIFAR-10, binary version, from the dataset authors' page (170,052,171 bytes; the page publishes md5
# c32a1d4ab5d03f1284b67883e8d87530). The sha256 below is the value published for that same file by
# several independent projects (e.g. MLDatasets.jl, Go and research-pipeline download tables).
CIFAR10_FILE = Resource(
    "cifar-10-binary.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")
CIFAR10_MEMBERS = {True: [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)],
                   False: ["cifar-10-batches-bin/test_batch.bin"]}


def _cpu_tensor(array):
    """A CPU tensor around a freshly made numpy array, without another copy of a large array."""
    return Tensor._wrap(np.require(array, requirements="C"), get_backend("cpu"), False, None)


# ---- digits --------------------------------------------------------------------------------
def digits(root=None):
    """The 1,797 8x8 handwritten digits (scikit-learn's `load_digits`).

    Returns (images, labels): float32 tensor (1797, 1, 8, 8) scaled to [0, 1] (raw values 0..16
    divided by 16) and an int64 tensor (1797,) of labels 0..9.
    """
    (path,) = fetch([DIGITS], root)
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"digits: cannot parse {path}: {exc}") from None
    if table.shape != (1797, 65):
        raise ValueError(f"digits: {path} has a table of shape {table.shape}, expected (1797, 65)")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or not np.all((labels >= 0) & (labels <= 9)):
        raise ValueError(f"digits: {path} has pixel values outside 0..16 or labels outside 0..9")
    images = (pixels / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return _cpu_tensor(images), _cpu_tensor(labels.astype(np.int64))


# ---- tiny shakespeare ----------------------------------------------------------------------
def tiny_shakespeare(root=None):
    """Karpathy's tiny-shakespeare corpus as one str (1,115,394 characters, 65 distinct)."""
    (path,) = fetch([SHAKESPEARE], root)
    with open(path, encoding="utf-8") as f:
        return f.read()


class CharTokenizer:
    """Characters <-> integer ids, the vocabulary being the sorted distinct characters of `text`.

        tok = CharTokenizer(tiny_shakespeare())
        ids = tok.encode("To be")      # list of ints
        tok.decode(ids) == "To be"
    """

    def __init__(self, text):
        self.itos = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}

    @property
    def vocab_size(self):
        return len(self.itos)

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as exc:
            raise ValueError(f"CharTokenizer.encode: character {exc.args[0]!r} is not in the vocabulary of "
                             f"{self.vocab_size} characters") from None

    def decode(self, ids):
        if isinstance(ids, Tensor):
            ids = ids.numpy()
        ids = np.asarray(ids).reshape(-1).tolist()
        try:
            return "".join(self.itos[i] for i in ids)
        except (IndexError, TypeError):
            bad = next((i for i in ids if not isinstance(i, int) or not 0 <= i < self.vocab_size), None)
            raise ValueError(f"CharTokenizer.decode: id {bad!r} is not in 0..{self.vocab_size - 1}") from None


# ---- MNIST (IDX format) --------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(source, name=None):
    """Parse an IDX file (the MNIST format): `source` is a path (gzip'd when it ends in .gz) or bytes.

    Layout: two zero bytes, a dtype byte (0x08 = uint8, ...), a byte with the number of dims, then
    each dim as a big-endian uint32, then the data in C order. Returns a numpy array.
    """
    name = name or (repr(str(source)) if not isinstance(source, (bytes, bytearray)) else "IDX data")
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    else:
        try:
            opener = gzip.open if str(source).endswith(".gz") else open
            with opener(source, "rb") as f:
                raw = f.read()
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"read_idx: cannot read {name}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {name} is not an IDX file (magic number bytes {raw[:4]!r})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {name} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"read_idx: {name} should hold {expected} data bytes for shape {shape}, "
                         f"but has {len(raw) - header} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class MNIST(TensorDataset):
    """MNIST handwritten digits: 60,000 training or 10,000 test images, parsed from the IDX files.

    A TensorDataset of (image, label): `.images` float32 (N, 1, 28, 28) in [0, 1], `.labels` int64.
    """
    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True):
        self.train = bool(train)
        images_res, labels_res = MNIST_FILES[self.train]
        images_path, labels_path = fetch([images_res, labels_res], root)
        images = _read_idx_magic(images_path, 0x00000803, 3)
        labels = _read_idx_magic(labels_path, 0x00000801, 1)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"MNIST: {images_path} has {images.shape[0]} images but {labels_path} has "
                             f"{labels.shape[0]} labels")
        if labels.size and labels.max() > 9:
            raise ValueError(f"MNIST: {labels_path} has a label {int(labels.max())} outside 0..9")
        n, h, w = images.shape
        pixels = np.divide(images.reshape(n, 1, h, w), np.float32(255), dtype=np.float32)
        super().__init__(_cpu_tensor(pixels), _cpu_tensor(labels.astype(np.int64)))

    images = property(lambda self: self.tensors[0])
    labels = property(lambda self: self.tensors[1])


def _read_idx_magic(path, magic, ndim):
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"MNIST: cannot read {path}: {exc}") from None
    got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if got != magic:
        raise ValueError(f"MNIST: {path} has magic number {got!r}, expected {magic} (0x{magic:08x}); "
                         f"is it the right IDX file?")
    array = read_idx(raw, name=str(path))
    if array.ndim != ndim or array.dtype != np.uint8:
        raise ValueError(f"MNIST: {path} holds a {array.dtype} array of shape {array.shape}, expected {ndim} "
                         f"dims of uint8")
    return array


# ---- CIFAR-10 (binary version) -------------------------------------------------------------
_CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar10_binary(path, train=True):
    """Read the train (data_batch_1..5.bin) or test (test_batch.bin) records from cifar-10-binary.tar.gz.

    Each record is 1 label byte then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each 32x32 in
    row-major order. The archive is read with tarfile (nothing is extracted to disk, nothing is
    unpickled). Returns (images uint8 (N, 3, 32, 32), labels uint8 (N,)).
    """
    wanted = CIFAR10_MEMBERS[bool(train)]
    chunks = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name in wanted:
                    if not member.isfile():
                        raise ValueError(f"CIFAR10: {member.name} in {path} is not a regular file")
                    chunks[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"CIFAR10: cannot read the tar archive {path}: {exc}") from None
    missing = [m for m in wanted if m not in chunks]
    if missing:
        raise ValueError(f"CIFAR10: {path} lacks {missing}; is it cifar-10-binary.tar.gz (the binary version)?")
    records = []
    for member in wanted:
        data = chunks.pop(member)
        if len(data) == 0 or len(data) % _CIFAR_RECORD:
            raise ValueError(f"CIFAR10: {member} in {path} has {len(data)} bytes, not a whole number of "
                             f"{_CIFAR_RECORD}-byte records")
        records.append(np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD))
    records = np.concatenate(records) if len(records) > 1 else records[0]
    labels = records[:, 0].copy()
    if labels.max() > 9:
        raise ValueError(f"CIFAR10: {path} has a label {int(labels.max())} outside 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class CIFAR10(TensorDataset):
    """CIFAR-10: 50,000 training or 10,000 test colour images of 10 classes, from the binary archive.

    A TensorDataset of (image, label): `.images` float32 (N, 3, 32, 32) in [0, 1], `.labels` int64.
    """
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root=None, train=True):
        self.train = bool(train)
        (path,) = fetch([CIFAR10_FILE], root)
        images, labels = read_cifar10_binary(path, self.train)
        pixels = np.divide(images, np.float32(255), dtype=np.float32)
        super().__init__(_cpu_tensor(pixels), _cpu_tensor(labels.astype(np.int64)))

    images = property(lambda self: self.tensors[0])
    labels = property(lambda self: self.tensors[1])

