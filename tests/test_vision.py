"""tinygrad_edu.vision (torchvision's datasets, transforms and utils) and torch.utils.data's Subset,
random_split and the DataLoader's multiprocessing options.

MNIST, FashionMNIST and CIFAR-10 are read from small files generated here in the real formats (IDX
.gz files, the CIFAR-10 binary tar archive), with the data sets' file tables pointed at them, as
tests/test_data.py does for the data loaders. No test touches the network. torchvision is not a
dependency: where it is importable the transforms and make_grid are also compared with it.
"""
import gzip
import hashlib
import io
import os
import pathlib
import struct
import tarfile
import urllib.error
import zlib

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.vision as vision
from tinygrad_edu.data import ChecksumError, DataLoader, Dataset, Subset, TensorDataset, download, random_split
from tinygrad_edu.vision import datasets, transforms as T, utils

pytestmark = pytest.mark.data

SHARED = pathlib.Path(os.environ.get("TINYGRAD_EDU_DATA", "/nonexistent"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs with a downloader that fails at once, as on a machine with no network."""
    def refuse(url, timeout=None):
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(download, "_urlopen", refuse)
    monkeypatch.setattr(download, "DEFAULT_CACHE", pathlib.Path("/nonexistent/tinygrad_edu_cache"))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def _torchvision():
    try:
        import torchvision
    except ImportError:
        return None
    return torchvision


# ---- MNIST and FashionMNIST on generated IDX files ------------------------------------------
def _idx(array):
    """An IDX file of uint8: magic 0x0000080n (n = number of dims), each dim big-endian, then the bytes."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(tmp_path, monkeypatch, cls, train, n, seed=0):
    """Write a data set's two .gz files under tmp_path/<cls>/raw and point its table at their digests."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, :2] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder = tmp_path / cls.__name__ / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    table = []
    for res, array in zip(cls.resources[train], (images, labels)):
        data = gzip.compress(_idx(array))
        (folder / res.filename).write_bytes(data)
        table.append(res._replace(sha256=sha(data)))
    monkeypatch.setitem(cls.resources, train, tuple(table))
    return images, labels


@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_files_read_back_exactly(tmp_path, monkeypatch, cls, train):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    images, labels = _write_mnist(tmp_path, monkeypatch, cls, train, 5 if train else 3)
    d = cls(tmp_path, train=train)
    assert len(d) == len(labels) and d.train is train and d.root == str(tmp_path)
    assert d.data.dtype == np.uint8 and d.data.shape == (len(labels), 28, 28)
    np.testing.assert_array_equal(d.data, images)
    assert d.targets.dtype == tg.int64 and d.targets.tolist() == labels.tolist()
    image, target = d[1]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    np.testing.assert_array_equal(image, images[1])
    assert type(target) is int and target == labels[1]
    image[:] = 0                                   # a copy: the data set is unchanged
    np.testing.assert_array_equal(d.data[1], images[1])
    assert d[-1][1] == labels[-1]
    assert len(d.classes) == 10 and d.class_to_idx[d.classes[3]] == 3
    assert d.raw_folder == os.path.join(str(tmp_path), cls.__name__, "raw")
    assert f"Dataset {cls.__name__}" in repr(d) and "Split: " + ("Train" if train else "Test") in repr(d)


def test_mnist_with_transforms_and_loader(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    images, labels = _write_mnist(tmp_path, monkeypatch, datasets.MNIST, True, 6)
    d = datasets.MNIST(tmp_path, transform=T.ToTensor(), target_transform=lambda y: y + 100)
    x, y = d[2]
    assert isinstance(x, tg.Tensor) and x.dtype == tg.float32 and x.shape == (1, 28, 28)
    np.testing.assert_array_equal(x.numpy()[0], images[2].astype(np.float32) / np.float32(255))
    assert y == labels[2] + 100
    xb, yb = next(iter(DataLoader(d, batch_size=4, num_workers=2)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == (labels[:4].astype(int) + 100).tolist()
    assert "Transform: ToTensor()" in repr(d)


def test_mnist_and_fashion_mnist_keep_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    digits_images, _ = _write_mnist(tmp_path, monkeypatch, datasets.MNIST, True, 4, seed=1)
    clothes_images, _ = _write_mnist(tmp_path, monkeypatch, datasets.FashionMNIST, True, 3, seed=2)
    np.testing.assert_array_equal(datasets.MNIST(tmp_path).data, digits_images)
    np.testing.assert_array_equal(datasets.FashionMNIST(tmp_path).data, clothes_images)
    # the $TINYGRAD_EDU_DATA folder is searched first, with the same layout
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path))
    assert len(datasets.FashionMNIST(tmp_path / "elsewhere")) == 3


def test_published_checksums_are_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    real = dict(datasets.MNIST.resources)
    _write_mnist(tmp_path, monkeypatch, datasets.MNIST, True, 4)
    monkeypatch.setitem(datasets.MNIST.resources, True, real[True])  # the published digests
    with pytest.raises(ChecksumError, match="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"):
        datasets.MNIST(tmp_path)
    # FashionMNIST: the sha256 torchvision publishes for the four files
    fashion = {r.filename: r.sha256 for pair in datasets.FashionMNIST.resources.values() for r in pair}
    assert fashion["train-images-idx3-ubyte.gz"].startswith("3aede38d") and len(fashion) == 4
    _write_mnist(tmp_path, monkeypatch, datasets.FashionMNIST, False, 2)
    (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.FashionMNIST(tmp_path, train=False)


def test_missing_files_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it") as info:
        datasets.MNIST(tmp_path)
    msg = str(info.value)
    assert "MNIST/raw/train-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in msg
    with pytest.raises(RuntimeError, match="Dataset not found") as info:
        datasets.CIFAR10(tmp_path, train=False)
    assert "cifar-10-binary.tar.gz" in str(info.value) and str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="network disabled"):  # download=True, but no network
        datasets.FashionMNIST(tmp_path, download=True)
    with pytest.raises(TypeError, match="transform must be callable"):
        datasets.MNIST(tmp_path, transform="ToTensor")


def test_download_puts_the_files_in_torchvisions_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    labels = np.array([7, 1], dtype=np.uint8)
    blobs = [gzip.compress(_idx(images)), gzip.compress(_idx(labels))]
    table = tuple(r._replace(sha256=sha(b)) for r, b in zip(datasets.MNIST.resources[False], blobs))
    monkeypatch.setitem(datasets.MNIST.resources, False, table)
    served = {r.urls[0]: b for r, b in zip(table, blobs)}
    monkeypatch.setattr(download, "_urlopen", lambda url, timeout=None: io.BytesIO(served[url]))
    d = datasets.MNIST(tmp_path / "data", train=False, download=True)
    assert sorted(os.listdir(tmp_path / "data" / "MNIST" / "raw")) == sorted(r.filename for r in table)
    np.testing.assert_array_equal(d.data, images)
    assert d.targets.tolist() == [7, 1]


def test_wrong_idx_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    images, labels = _write_mnist(tmp_path, monkeypatch, datasets.MNIST, True, 4)
    img_res, lab_res = datasets.MNIST.resources[True]
    folder = tmp_path / "MNIST" / "raw"

    def replace_images(array):
        data = gzip.compress(_idx(array))
        (folder / img_res.filename).write_bytes(data)
        monkeypatch.setitem(datasets.MNIST.resources, True, (img_res._replace(sha256=sha(data)), lab_res))
    replace_images(labels)                          # the labels file where the images should be
    with pytest.raises(ValueError, match="expected 3 dims of uint8"):
        datasets.MNIST(tmp_path)
    replace_images(images[:3])                      # 3 images, 4 labels
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        datasets.MNIST(tmp_path)


def test_indexing_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    _write_mnist(tmp_path, monkeypatch, datasets.MNIST, True, 3)
    d = datasets.MNIST(tmp_path)
    with pytest.raises(IndexError, match="MNIST: index 3 is out of range for 3 examples"):
        d[3]
    with pytest.raises(TypeError, match="index must be an int"):
        d[0:2]


# ---- CIFAR-10 on a generated binary archive ------------------------------------------------
def _write_cifar(path, per_batch, test_n, rng):
    records = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            rec = rng.integers(0, 256, size=(test_n if name == "test_batch.bin" else per_batch, 3073), dtype=np.uint8)
            rec[:, 0] %= 10
            records[name] = rec
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = rec.nbytes
            tar.addfile(info, io.BytesIO(rec.tobytes()))
    return records


@pytest.mark.parametrize("train", [True, False])
def test_cifar10_archive_reads_back_exactly(tmp_path, monkeypatch, train):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    path = tmp_path / "cifar-10-binary.tar.gz"
    records = _write_cifar(path, per_batch=2, test_n=3, rng=np.random.default_rng(0))
    published = datasets.CIFAR10.resource
    monkeypatch.setattr(datasets.CIFAR10, "resource", published._replace(sha256=sha(path.read_bytes())))
    d = datasets.CIFAR10(tmp_path, train=train)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    rec = np.concatenate([records[n] for n in names])
    # a record is a label byte, then 1024 red, 1024 green, 1024 blue bytes, each 32x32 row by row
    planes = rec[:, 1:].reshape(-1, 3, 32, 32)
    assert len(d) == len(rec) == (10 if train else 3)
    assert d.data.dtype == np.uint8 and d.data.shape == (len(rec), 32, 32, 3)
    np.testing.assert_array_equal(d.data, planes.transpose(0, 2, 3, 1))
    assert d.targets == rec[:, 0].tolist() and all(type(t) is int for t in d.targets)
    image, target = d[len(rec) - 1]
    assert image.shape == (32, 32, 3) and image[5, 17, 2] == rec[-1, 1 + 2 * 1024 + 5 * 32 + 17]
    assert target == rec[-1, 0]
    x, _ = datasets.CIFAR10(tmp_path, train=train, transform=T.ToTensor())[0]
    assert x.shape == (3, 32, 32) and x.dtype == tg.float32
    np.testing.assert_array_equal(x.numpy(), planes[0].astype(np.float32) / np.float32(255))
    assert d.classes[0] == "airplane" and d.class_to_idx["truck"] == 9
    # the published digest refuses the generated archive
    monkeypatch.setattr(datasets.CIFAR10, "resource", published)
    with pytest.raises(ChecksumError, match="cifar-10-binary.tar.gz"):
        datasets.CIFAR10(tmp_path, train=train)


# ---- Digits (the offline data) --------------------------------------------------------------
def test_digits_split_is_fixed_and_disjoint():
    if not (SHARED / "digits.csv.gz").is_file():
        pytest.skip(f"digits.csv.gz not found in TINYGRAD_EDU_DATA={SHARED}")
    train, test = datasets.Digits(), datasets.Digits(train=False)
    assert (len(train), len(test)) == (1437, 360)
    images, labels = tg.data.digits()
    assert train.data.dtype == np.float32 and train.data.shape == (1437, 8, 8)

    def examples(data, targets):
        return sorted(x.tobytes() + bytes([y]) for x, y in zip(data, targets))
    every = examples(images.numpy()[:, 0], labels.tolist())
    assert examples(np.concatenate([train.data, test.data]), train.targets.tolist() + test.targets.tolist()) == every
    np.testing.assert_array_equal(datasets.Digits().data, train.data)  # the same split every time
    x, y = datasets.Digits(transform=T.ToTensor())[0]
    assert x.shape == (1, 8, 8) and x.dtype == tg.float32 and type(y) is int
    np.testing.assert_array_equal(x.numpy()[0], train.data[0])
    xb, yb = next(iter(DataLoader(datasets.Digits(transform=T.ToTensor()), batch_size=32, shuffle=True, seed=0)))
    assert xb.shape == (32, 1, 8, 8) and yb.dtype == tg.int64


def test_digits_missing_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.setattr("tinygrad_edu.data.download.PACKAGED", tmp_path / "no-packaged-files")
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True"):
        datasets.Digits(root=tmp_path)


# ---- transforms ----------------------------------------------------------------------------
def test_to_tensor():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(4, 5), dtype=np.uint8)
    x = T.ToTensor()(grey)
    assert x.dtype == tg.float32 and x.shape == (1, 4, 5)
    np.testing.assert_array_equal(x.numpy()[0], grey.astype(np.float32) / np.float32(255))
    colour = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    x = T.ToTensor()(colour)
    assert x.shape == (3, 4, 5) and x.numpy()[2, 1, 3] == np.float32(colour[1, 3, 2]) / np.float32(255)
    floats = rng.random((3, 2))                     # float images keep their values and dtype
    x = T.ToTensor()(floats)
    assert x.dtype == tg.float64 and x.shape == (1, 3, 2)
    np.testing.assert_array_equal(x.numpy()[0], floats)
    assert T.ToTensor()(floats.astype(np.float32)).dtype == tg.float32
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(tg.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2/3 dimensional. Got 4"):
        T.ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))
    assert repr(T.ToTensor()) == "ToTensor()"


def test_to_tensor_reads_pil_images():
    image_module = pytest.importorskip("PIL.Image")
    colour = np.random.default_rng(1).integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    x = T.ToTensor()(image_module.fromarray(colour))
    np.testing.assert_array_equal(x.numpy(), colour.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    grey = image_module.fromarray(colour[:, :, 0])
    assert T.ToTensor()(grey).shape == (1, 3, 4)


def test_normalize_matches_pytorch_arithmetic():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).random((3, 4, 5)).astype(np.float32)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    out = T.Normalize(mean, std)(tg.Tensor(x))
    # torchvision: mean and std as tensors of the image's dtype, then (x - mean[:, None, None]) / std[...]
    tm, ts = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    expected = (torch.from_numpy(x) - tm[:, None, None]) / ts[:, None, None]
    assert out.dtype == tg.float32 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    batch = tg.Tensor(np.stack([x, 2 * x]))         # (..., C, H, W): a batch too
    np.testing.assert_array_equal(T.Normalize(mean, std)(batch).numpy()[0], expected.numpy())
    one = T.Normalize((0.5,), (0.25,))(tg.Tensor(x, dtype=tg.float64))
    np.testing.assert_allclose(one.numpy(), (x.astype(np.float64) - 0.5) / 0.25, rtol=1e-15)
    t = tg.Tensor(x.copy())
    assert T.Normalize(mean, std, inplace=True)(t) is t
    np.testing.assert_array_equal(t.numpy(), expected.numpy())
    assert repr(T.Normalize((0.5,), (0.25,))) == "Normalize(mean=(0.5,), std=(0.25,))"


def test_normalize_errors():
    x = tg.rand(3, 2, 2)
    with pytest.raises(TypeError, match="Normalize: img should be Tensor Image"):
        T.Normalize((0.5,), (0.5,))(np.zeros((3, 2, 2)))
    with pytest.raises(TypeError, match="should be a float tensor. Got tinygrad_edu.int64"):
        T.Normalize((0.5,), (0.5,))(tg.zeros(3, 2, 2, dtype=tg.int64))
    with pytest.raises(ValueError, match=r"size \(\.\.\., C, H, W\)"):
        T.Normalize((0.5,), (0.5,))(tg.rand(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.0, 0.5))(x)
    with pytest.raises(ValueError, match="mean has 2 values .* 3 channels"):
        T.Normalize((0.5, 0.5), (0.5,))(x)


def test_random_crop_windows_and_seeding():
    x = tg.arange(5 * 6).reshape(1, 5, 6).float()
    crop = T.RandomCrop((3, 4))
    tg.manual_seed(0)
    seen = set()
    for _ in range(200):
        out = crop(x)
        assert out.shape == (1, 3, 4)
        i, j = divmod(int(out.numpy()[0, 0, 0]), 6)  # the window's top-left value says where it was cut
        np.testing.assert_array_equal(out.numpy(), x.numpy()[:, i:i + 3, j:j + 4])
        seen.add((i, j))
    assert seen == {(i, j) for i in range(3) for j in range(3)}
    tg.manual_seed(5)
    first = [crop(x).numpy()[0, 0, 0] for _ in range(10)]
    tg.manual_seed(5)
    assert [crop(x).numpy()[0, 0, 0] for _ in range(10)] == first
    # an image array (H, W, C) is cut at the same place for the same draws
    array = np.arange(5 * 6 * 2, dtype=np.uint8).reshape(5, 6, 2)
    tg.manual_seed(9)
    a = crop(array)
    tg.manual_seed(9)
    b = crop(tg.Tensor(array.transpose(2, 0, 1).astype(np.float32)))
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.shape == (3, 4, 2)
    np.testing.assert_array_equal(a.transpose(2, 0, 1), b.numpy())
    assert T.RandomCrop(5)(tg.ones(2, 5, 5)).shape == (2, 5, 5)  # the whole image: nothing to draw


def test_random_crop_padding():
    torch = pytest.importorskip("torch")
    x = np.arange(4 * 5, dtype=np.float32).reshape(1, 4, 5)
    # crop size == padded size: the padded image itself (no draw), compared with torch's F.pad
    for mode, torch_mode in (("constant", "constant"), ("edge", "replicate"), ("reflect", "reflect")):
        out = T.RandomCrop((4 + 1 + 3, 5 + 2 + 2), padding=(2, 1, 2, 3), fill=-1, padding_mode=mode)(tg.Tensor(x))
        kwargs = {"value": -1.0} if mode == "constant" else {}
        expected = torch.nn.functional.pad(torch.from_numpy(x), (2, 2, 1, 3), mode=torch_mode, **kwargs)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    out = T.RandomCrop((6, 7), padding=1, padding_mode="symmetric")(tg.Tensor(x))
    np.testing.assert_array_equal(out.numpy(), np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="symmetric"))
    out = T.RandomCrop((6, 9), padding=(2, 1))(tg.Tensor(x))       # (left/right, top/bottom)
    np.testing.assert_array_equal(out.numpy(), np.pad(x, ((0, 0), (1, 1), (2, 2))))
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = T.RandomCrop((5, 6), padding=1, fill=7)(grey)
    np.testing.assert_array_equal(out, np.pad(grey, 1, constant_values=7))
    # pad_if_needed pads a short side by the difference on both ends, then crops
    padded = np.pad(x, ((0, 0), (2, 2), (3, 3)))     # height 4 -> 6 needs 2, width 5 -> 8 needs 3
    for seed in range(5):
        tg.manual_seed(seed)
        out = T.RandomCrop((6, 8), pad_if_needed=True)(tg.Tensor(x)).numpy()
        assert out.shape == (1, 6, 8)
        assert any(np.array_equal(out, padded[:, i:i + 6, j:j + 8]) for i in range(3) for j in range(4))


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"Required crop size \(6, 6\) is larger than input image size \(4, 5\)"):
        T.RandomCrop(6)(tg.rand(1, 4, 5))
    with pytest.raises(ValueError, match="1, 2, or 4 element tuple, not a 3 element tuple"):
        T.RandomCrop(2, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"):
        T.RandomCrop(2, padding=1, padding_mode="wrap")
    with pytest.raises(ValueError, match="smaller than the image size"):
        T.RandomCrop(2, padding=4, padding_mode="reflect")(tg.rand(1, 3, 3))
    with pytest.raises(ValueError, match="size must be a positive int"):
        T.RandomCrop((2, 3, 4))
    with pytest.raises(TypeError, match="fill must be a number"):
        T.RandomCrop(2, fill="black")
    with pytest.raises(ValueError, match=r"expected an image array \(H, W\) or \(H, W, C\)"):
        T.RandomCrop(2)(np.zeros((1, 4, 4, 3)))
    assert repr(T.RandomCrop(32, padding=4)) == "RandomCrop(size=(32, 32), padding=4)"


def test_random_horizontal_flip():
    x = tg.arange(2 * 3 * 4).reshape(2, 3, 4).float()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x).numpy(), x.numpy()[..., ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(x) is x
    array = np.arange(24, dtype=np.uint8).reshape(3, 4, 2)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1)(array), array[:, ::-1])
    flip = T.RandomHorizontalFlip()
    tg.manual_seed(3)
    flips = [T.RandomHorizontalFlip()(x).numpy()[0, 0, 0] == 3 for _ in range(400)]
    assert 150 < sum(flips) < 250
    tg.manual_seed(3)
    assert [flip(x).numpy()[0, 0, 0] == 3 for _ in range(400)] == flips
    assert repr(flip) == "RandomHorizontalFlip(p=0.5)"


def test_flip_and_crop_carry_gradients():
    x = tg.rand(1, 4, 4, requires_grad=True)
    weights = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    out = T.RandomCrop(6, padding=1)(T.RandomHorizontalFlip(p=1)(x))   # crop = padded size: no draw
    (out * tg.Tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), weights[:, 1:5, 1:5][..., ::-1])


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Lambda(lambda t: t * 2), T.Normalize((1.0,), (2.0,))])
    out = pipeline(np.full((2, 2), 255, dtype=np.uint8))
    np.testing.assert_array_equal(out.numpy(), np.full((1, 2, 2), 0.5, dtype=np.float32))
    assert repr(pipeline) == "Compose(\n    ToTensor()\n    Lambda()\n    Normalize(mean=(1.0,), std=(2.0,))\n)"
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)
    with pytest.raises(TypeError, match="transform 1 is a str"):
        T.Compose([T.ToTensor(), "Normalize"])


def test_transforms_match_torchvision():
    torchvision = _torchvision()
    if torchvision is None:
        pytest.skip("torchvision is not installed (it is not a dependency); hand-computed checks above")
    import torch
    tvT = torchvision.transforms
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToTensor()(image).numpy(), tvT.ToTensor()(image).numpy())
    x = T.ToTensor()(image)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)
    np.testing.assert_array_equal(T.Normalize(mean, std)(x).numpy(),
                                  tvT.Normalize(mean, std)(torch.from_numpy(x.numpy())).numpy())
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x).numpy(),
                                  tvT.RandomHorizontalFlip(1.0)(torch.from_numpy(x.numpy())).numpy())
    for mode in ("constant", "edge", "reflect", "symmetric"):
        ours = T.RandomCrop((10, 11), padding=2, fill=0.5, padding_mode=mode)(x)
        theirs = tvT.RandomCrop((10, 11), padding=2, fill=0.5, padding_mode=mode)(torch.from_numpy(x.numpy()))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---- make_grid and save_image --------------------------------------------------------------
def _grid_by_hand(batch, nrow, padding, pad_value):
    """torchvision's make_grid written as loops over the cells (after 1 -> 3 channels)."""
    n, c, h, w = batch.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, batch.dtype)
    for k in range(n):
        y, x = divmod(k, cols)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = batch[k]
    return grid


@pytest.mark.parametrize("n, channels, nrow, padding, pad_value", [
    (5, 3, 2, 1, -1.0), (8, 3, 8, 2, 0.0), (3, 1, 8, 2, 0.5), (7, 2, 3, 0, 0.0), (4, 3, 1, 3, 1.0)])
def test_make_grid_layout(n, channels, nrow, padding, pad_value):
    batch = np.random.default_rng(n).random((n, channels, 3, 4)).astype(np.float32)
    grid = utils.make_grid(tg.Tensor(batch), nrow=nrow, padding=padding, pad_value=pad_value)
    expected = _grid_by_hand(np.repeat(batch, 3, 1) if channels == 1 else batch, nrow, padding, pad_value)
    assert grid.shape == expected.shape and grid.dtype == tg.float32
    np.testing.assert_array_equal(grid.numpy(), expected)
    listed = utils.make_grid([tg.Tensor(b) for b in batch], nrow=nrow, padding=padding, pad_value=pad_value)
    np.testing.assert_array_equal(listed.numpy(), expected)
    torchvision = _torchvision()
    if torchvision is not None:
        import torch
        theirs = torchvision.utils.make_grid(torch.from_numpy(batch), nrow=nrow, padding=padding, pad_value=pad_value)
        np.testing.assert_array_equal(grid.numpy(), theirs.numpy())


def test_make_grid_single_images_normalize_and_gradients():
    image = np.random.default_rng(0).random((1, 3, 4)).astype(np.float32)
    out = utils.make_grid(tg.Tensor(image))          # one image: three channels, no padding, as torchvision
    np.testing.assert_array_equal(out.numpy(), np.repeat(image, 3, 0))
    assert utils.make_grid(tg.Tensor(image[0])).shape == (3, 3, 4)
    batch = np.random.default_rng(1).normal(size=(3, 3, 2, 2)).astype(np.float32)
    out = utils.make_grid(tg.Tensor(batch), normalize=True, padding=0)
    low, high = float(batch.min()), float(batch.max())
    expected = (batch - np.float32(low)) / np.float32(high - low)
    np.testing.assert_array_equal(out.numpy(), _grid_by_hand(expected, 8, 0, 0.0))
    out = utils.make_grid(tg.Tensor(batch), normalize=True, value_range=(-0.5, 0.5), padding=0)
    expected = (np.clip(batch, -0.5, 0.5) + np.float32(0.5)) / np.float32(1.0)
    np.testing.assert_array_equal(out.numpy(), _grid_by_hand(expected, 8, 0, 0.0))
    out = utils.make_grid(tg.Tensor(batch), normalize=True, scale_each=True, padding=0).numpy()
    for k in range(3):
        cell = out[:, :, 2 * k:2 * k + 2]
        assert cell.min() == 0.0 and cell.max() == 1.0
    x = tg.Tensor(batch, requires_grad=True)
    utils.make_grid(x, nrow=2).sum().backward()     # every pixel appears once in the grid
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(batch))
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(tg.Tensor(batch), normalize=True, value_range=[0, 1])
    with pytest.raises(TypeError, match="tensor or list of tensors expected, got ndarray"):
        utils.make_grid(batch)
    with pytest.raises(ValueError, match="got shape"):
        utils.make_grid(tg.rand(1, 1, 1, 2, 2))
    with pytest.raises(ValueError, match="nrow must be a positive int"):
        utils.make_grid(tg.rand(2, 3, 2, 2), nrow=0)


def _decode_png(data):
    """A minimal PNG reader for 8-bit images with filter type 0: the chunks, their CRCs, then the pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * channels)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, channels)


def test_save_image_writes_a_png_that_decodes_to_the_grid(tmp_path):
    batch = np.random.default_rng(0).random((5, 3, 4, 6)).astype(np.float32) * 1.2 - 0.1  # some out of [0, 1]
    path = tmp_path / "grid.png"
    utils.save_image(tg.Tensor(batch), path, nrow=3, padding=1, pad_value=1.0)
    grid = utils.make_grid(tg.Tensor(batch), nrow=3, padding=1, pad_value=1.0).numpy()
    expected = np.floor(np.clip(grid * np.float32(255) + np.float32(0.5), 0, 255)).astype(np.uint8).transpose(1, 2, 0)
    pixels = _decode_png(path.read_bytes())
    assert pixels.shape == expected.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    np.testing.assert_array_equal(pixels, expected)
    buffer = io.BytesIO()
    utils.save_image(tg.Tensor(batch), buffer, format="png", nrow=3, padding=1, pad_value=1.0)
    assert buffer.getvalue() == path.read_bytes()
    image_module = _pil_image()
    if image_module is not None:
        with image_module.open(path) as im:
            assert im.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(im), expected)


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def test_png_grey_and_errors(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    pixels = _decode_png(utils._png_bytes(grey))
    assert pixels.shape == (3, 4, 1)
    np.testing.assert_array_equal(pixels[:, :, 0], grey)
    rgba = np.random.default_rng(0).integers(0, 256, size=(2, 3, 4), dtype=np.uint8)
    np.testing.assert_array_equal(_decode_png(utils._png_bytes(rgba)), rgba)
    image_module = _pil_image()
    if image_module is not None:
        (tmp_path / "g.png").write_bytes(utils._png_bytes(grey))
        with image_module.open(tmp_path / "g.png") as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), grey)
    with pytest.raises(ValueError, match="only PNG files can be written, got the file name"):
        utils.save_image(tg.rand(1, 3, 2, 2), tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="format='jpeg'"):
        utils.save_image(tg.rand(1, 3, 2, 2), tmp_path / "x.png", format="jpeg")
    with pytest.raises(ValueError, match="needs uint8 pixels"):
        utils._png_bytes(np.zeros((2, 2, 5), np.uint8))
    assert not (tmp_path / "x.jpg").exists()


# ---- Subset, random_split and the DataLoader's worker options -------------------------------
def test_subset_indexes_through():
    x = tg.arange(10).float() * 10
    d = TensorDataset(x, tg.arange(10))
    s = Subset(d, [7, 2, 9])
    assert len(s) == 3 and s[0][1].item() == 7 and s[-1][1].item() == 9
    assert s[[0, 1]][1].tolist() == [7, 2]            # a list of positions is passed on as one list
    nested = Subset(s, [2, 0])
    assert [nested[i][1].item() for i in range(2)] == [9, 7]
    batches = list(DataLoader(nested, batch_size=2))
    assert batches[0][1].tolist() == [9, 7] and batches[0][0].tolist() == [90.0, 70.0]


def test_subset_of_a_tensor_dataset_is_batched_with_one_index(monkeypatch):
    d = TensorDataset(tg.arange(100).float(), tg.arange(100))
    s = Subset(d, list(range(99, -1, -2)))
    calls = []
    original = tg.Tensor.__getitem__

    def counting(self, index):
        calls.append(index)
        return original(self, index)
    monkeypatch.setattr(tg.Tensor, "__getitem__", counting)
    batches = list(DataLoader(s, batch_size=25))
    assert len(batches) == 2 and len(calls) == 2 * 2
    assert batches[1][1].tolist() == list(range(49, -1, -2))


@pytest.mark.filterwarnings("ignore:Length of split at index")  # the [0.1] * 10 case, both libraries
def test_random_split_sizes_match_pytorch():
    torch = pytest.importorskip("torch")
    for n, lengths in ((1797, [0.8, 0.2]), (10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (10, [3, 7]), (3, [0.1] * 10)):
        ours = [len(s) for s in random_split(range(n), lengths)]
        theirs = [len(s) for s in torch.utils.data.random_split(range(n), lengths)]
        assert ours == theirs, (n, lengths)
    assert [len(s) for s in random_split(range(1797), [0.8, 0.2])] == [1438, 359]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        assert [len(s) for s in random_split(range(5), [1.0, 0.0])] == [5, 0]


def test_random_split_is_disjoint_and_seeded():
    d = TensorDataset(tg.arange(50))
    tg.manual_seed(0)
    a, b, c = random_split(d, [20, 20, 10])
    indices = [list(s.indices) for s in (a, b, c)]
    assert sorted(sum(indices, [])) == list(range(50))
    assert all(type(i) is int for i in indices[0])
    tg.manual_seed(0)
    assert [list(s.indices) for s in random_split(d, [20, 20, 10])] == indices
    assert [list(s.indices) for s in random_split(d, [20, 20, 10])] != indices   # the generator moved on
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    assert [s.indices for s in random_split(d, [0.5, 0.5], generator=g1)] == \
        [s.indices for s in random_split(d, [0.5, 0.5], generator=g2)]
    assert [a[i][0].item() for i in range(3)] == indices[0][:3]


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])
    with pytest.raises(TypeError, match="generator must be a numpy Generator"):
        random_split(range(10), [5, 5], generator=0)
    with pytest.raises(ValueError, match="non-negative integers"):
        random_split(range(10), [2.5, 7.5])


def test_dataloader_accepts_pytorch_worker_options():
    d = TensorDataset(tg.arange(20).float(), tg.arange(20))
    called = []
    loader = DataLoader(d, batch_size=6, shuffle=True, seed=1, num_workers=4, pin_memory=True,
                        worker_init_fn=called.append, prefetch_factor=3, persistent_workers=True)
    plain = DataLoader(d, batch_size=6, shuffle=True, seed=1)
    assert [b[1].tolist() for b in loader] == [b[1].tolist() for b in plain]
    assert called == []                              # everything runs in the main process
    assert loader.num_workers == 4 and loader.pin_memory and loader.prefetch_factor == 3
    assert DataLoader(d, num_workers=2).prefetch_factor == 2 and DataLoader(d).prefetch_factor is None
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(d, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(d, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(d, persistent_workers=True)
    with pytest.raises(TypeError, match="worker_init_fn must be callable"):
        DataLoader(d, num_workers=1, worker_init_fn=3)


def test_vision_package_layout():
    assert vision.datasets is datasets and vision.transforms is T and vision.utils is utils
    assert issubclass(datasets.MNIST, Dataset) and issubclass(datasets.FashionMNIST, datasets.MNIST)
