"""Saving/loading, datasets, the DataLoader and the real data sets' loaders.

The real-data tests read ../shared/data through TINYGRAD_EDU_DATA (set by conftest.py) and skip
when it is absent; MNIST and CIFAR-10 are tested on small files built here in their exact formats.
No test touches the network: downloads are replaced by fakes that fail or serve bytes.
"""
import collections
import gzip
import hashlib
import io
import json
import os
import pathlib
import pickle
import struct
import tarfile
import time
import urllib.error
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from tinygrad_edu import serialization
from tinygrad_edu.data import download
from tinygrad_edu.data import (CIFAR10, MNIST, CharTokenizer, ChecksumError, DataLoader, Dataset, TensorDataset,
                               data_root, digits, download, fetch, read_cifar10_binary, read_idx, tiny_shakespeare)
from tinygrad_edu.data import datasets as ds
from tinygrad_edu.data.download import Resource

pytestmark = pytest.mark.data

SHARED = pathlib.Path(os.environ.get("TINYGRAD_EDU_DATA", "/nonexistent"))
DIGITS_SHA = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
SHAKESPEARE_SHA = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs with a downloader that fails at once, as on a machine with no network."""
    def refuse(url, timeout=None):
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(download, "_urlopen", refuse)
    monkeypatch.setattr(download, "DEFAULT_CACHE", pathlib.Path("/nonexistent/tinygrad_edu_cache"))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def same(a, b):
    assert isinstance(b, tg.Tensor)
    assert a.dtype == b.dtype and a.shape == b.shape and b.device == "cpu"
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- save / load ---------------------------------------------------------------------------
def test_state_dict_round_trip_keeps_values_dtypes_and_order(tmp_path):
    sd = {
        "fc.weight": tg.randn(4, 3),
        "fc.bias": tg.randn(4, dtype=tg.float64),
        "bn.num_batches_tracked": tg.Tensor(np.array(7, dtype=np.int64)),  # 0-d int64
        "scale": tg.Tensor(2.5),                                         # 0-d float32
        "mask": tg.Tensor(np.array([True, False, True])),
        "empty": tg.zeros(0, 3),
        "ids": tg.arange(6).reshape(2, 3),
    }
    path = tmp_path / "model.npz"
    tg.save(sd, path)
    out = tg.load(path)
    assert list(out) == list(sd)
    for k in sd:
        same(sd[k], out[k])
    assert out["bn.num_batches_tracked"].shape == () and out["bn.num_batches_tracked"].item() == 7
    assert out["scale"].dtype == tg.float32 and out["mask"].dtype == tg.bool and out["ids"].dtype == tg.int64
    assert out["fc.bias"].dtype == tg.float64


def test_optimizer_state_round_trip_keeps_python_types(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": tg.randn(2, 2), "exp_avg_sq": tg.rand(2, 2)},
                  1: {"step": 3, "momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                          "nesterov": True, "params": [0, 1], "name": "body", "foreach": None}],
    }
    tg.save(state, str(tmp_path / "opt.npz"))
    out = tg.load(str(tmp_path / "opt.npz"))
    assert set(out["state"]) == {0, 1} and all(type(k) is int for k in out["state"])
    same(state["state"][0]["exp_avg"], out["state"][0]["exp_avg"])
    same(state["state"][0]["exp_avg_sq"], out["state"][0]["exp_avg_sq"])
    assert out["state"][1] == {"step": 3, "momentum_buffer": None}
    group = out["param_groups"][0]
    assert group == state["param_groups"][0]
    assert type(group["betas"]) is tuple and type(group["params"]) is list
    assert type(group["weight_decay"]) is int and type(group["amsgrad"]) is bool and type(group["lr"]) is float
    assert type(out["state"][0]["step"]) is int


def test_real_optimizer_state_round_trip(tmp_path):
    optim = pytest.importorskip("tinygrad_edu.optim")
    if not hasattr(optim, "Adam"):
        pytest.skip("tinygrad_edu.optim.Adam is not built yet")
    from tinygrad_edu.nn import Parameter
    params = [Parameter(tg.randn(3, 2)), Parameter(tg.randn(2))]
    opt = optim.Adam(params, lr=1e-2)
    (params[0].sum() + (params[1] * 2).sum()).backward()
    opt.step()
    tg.save(opt.state_dict(), tmp_path / "adam.npz")
    loaded = tg.load(tmp_path / "adam.npz")
    sd = opt.state_dict()
    assert loaded["param_groups"] == sd["param_groups"]
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            if isinstance(v, tg.Tensor):
                same(v, loaded["state"][i][k])
            else:
                assert loaded["state"][i][k] == v and type(loaded["state"][i][k]) is type(v)
    fresh = optim.Adam([Parameter(tg.randn(3, 2)), Parameter(tg.randn(2))], lr=1.0)
    fresh.load_state_dict(loaded)
    assert fresh.param_groups[0]["lr"] == 1e-2


def test_nested_containers_numpy_and_special_values(tmp_path):
    obj = collections.OrderedDict([
        ("0", "string key"), (0, "int key"), (("a", 1), "tuple key"), (1.5, None),
        ("arrays", [np.arange(5, dtype=np.int32), np.eye(2, dtype=np.float16), np.array("text")]),
        ("scalars", (np.float32(0.25), np.int64(-3), np.bool_(True))),
        ("floats", [float("inf"), -0.0, 0.1, 2 ** 70]),
        ("deep", {"a": [{"b": ({"c": tg.ones(2)},)}]}),
        ("empty", ([], (), {})),
    ])
    tg.save(obj, tmp_path / "x.npz")
    out = tg.load(tmp_path / "x.npz")
    assert type(out) is collections.OrderedDict and list(out) == list(obj)
    assert out["0"] == "string key" and out[0] == "int key" and out[("a", 1)] == "tuple key" and out[1.5] is None
    for a, b in zip(obj["arrays"], out["arrays"]):
        assert isinstance(b, np.ndarray) and b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
    for a, b in zip(obj["scalars"], out["scalars"]):
        assert type(b) is type(a) and b == a
    assert out["floats"][0] == float("inf") and str(out["floats"][1]) == "-0.0" and out["floats"][2] == 0.1
    assert out["floats"][3] == 2 ** 70 and type(out["floats"][3]) is int
    same(obj["deep"]["a"][0]["b"][0]["c"], out["deep"]["a"][0]["b"][0]["c"])
    assert type(out["deep"]["a"][0]["b"]) is tuple
    assert out["empty"] == ([], (), {})


def test_nan_and_shared_tensors_and_requires_grad(tmp_path):
    w = tg.randn(3, requires_grad=True)
    tg.save({"w": w, "tied": w, "list": [w], "nan": float("nan")}, tmp_path / "t.npz")
    out = tg.load(tmp_path / "t.npz")
    assert out["w"] is out["tied"] and out["list"][0] is out["w"]  # saved once, one object again
    assert out["w"].requires_grad and out["w"].is_leaf
    assert np.isnan(out["nan"])
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert len(z.files) == 2  # one array entry plus the structure entry


def test_parameters_come_back_as_parameters(tmp_path):
    from tinygrad_edu.nn import Parameter
    p = Parameter(tg.randn(2, 2))
    tg.save({"p": p}, tmp_path / "p.npz")
    out = tg.load(tmp_path / "p.npz")["p"]
    assert isinstance(out, Parameter) and out.requires_grad
    np.testing.assert_array_equal(out.numpy(), p.numpy())


def test_file_objects_and_exact_path(tmp_path):
    buf = io.BytesIO()
    tg.save({"x": tg.arange(3)}, buf)
    buf.seek(0)
    same(tg.arange(3), tg.load(buf)["x"])
    tg.save([1, 2], tmp_path / "weights.bin")  # no ".npz" is appended
    assert os.listdir(tmp_path) == ["weights.bin"]
    assert tg.load(tmp_path / "weights.bin") == [1, 2]


@given(st.lists(st.tuples(st.sampled_from(["float32", "float64", "int64", "bool"]),
                          st.lists(st.integers(0, 4), max_size=3)), max_size=4))
def test_random_tensors_round_trip(specs):
    rng = np.random.default_rng(0)
    tensors = [tg.Tensor((rng.standard_normal(shape) * 100).astype(dt), dtype=dt) for dt, shape in specs]
    buf = io.BytesIO()
    tg.save(tensors, buf)
    buf.seek(0)
    out = tg.load(buf)
    assert type(out) is list and len(out) == len(tensors)
    for a, b in zip(tensors, out):
        same(a, b)


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(TypeError, match="cannot save .* of type"):
        tg.save({"f": lambda x: x}, path)
    with pytest.raises(TypeError, match=r"whole Linear.*tg.save\(obj.state_dict\(\), path\)"):
        tg.save(tg.nn.Linear(2, 2), path)                 # torch.save(model, path): refused, with the way out
    with pytest.raises(TypeError, match="object"):
        tg.save({"a": np.array([1, "x"], dtype=object)}, path)
    with pytest.raises(TypeError, match="dict keys"):
        tg.save({tg.ones(1): 1}, path)
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="cycle"):
        tg.save(cyclic, path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fail_in", ["write", "fsync", "interrupt"])
def test_atomic_write_keeps_the_last_good_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "ckpt.npz"
    good = {"w": tg.arange(10)}
    tg.save(good, path)
    before = path.read_bytes()

    def half_write(f, entries):
        f.write(b"PK\x03\x04 half an archive")
        if fail_in == "interrupt":
            raise KeyboardInterrupt
        raise OSError("disk full")

    def bad_fsync(fd):
        raise OSError("I/O error")
    if fail_in == "fsync":
        monkeypatch.setattr(serialization.os, "fsync", bad_fsync)
    else:
        monkeypatch.setattr(serialization, "_write_npz", half_write)
    with pytest.raises(KeyboardInterrupt if fail_in == "interrupt" else OSError):
        tg.save({"w": tg.zeros(1000)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind
    assert path.read_bytes() == before
    same(good["w"], tg.load(path)["w"])


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(f, entries):
        raise RuntimeError("crash")
    monkeypatch.setattr(serialization, "_write_npz", boom)
    with pytest.raises(RuntimeError):
        tg.save({"w": tg.ones(2)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_contents(tmp_path):
    path = tmp_path / "m.npz"
    tg.save({"v": 1}, path)
    tg.save({"v": 2}, path)
    assert tg.load(path) == {"v": 2} and os.listdir(tmp_path) == ["m.npz"]


def _good_file(tmp_path):
    path = tmp_path / "good.npz"
    tg.save({"w": tg.zeros(20000), "b": tg.ones(3)}, path)
    return path


@pytest.mark.parametrize("kind", ["text", "empty", "npy", "truncated", "flipped", "plain_npz", "pickle"])
def test_bad_files_give_a_clear_value_error(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "text":
        path.write_text("hello, I am not an archive")
        expect = "not a tinygrad_edu save file"
    elif kind == "empty":
        path.write_bytes(b"")
        expect = "empty"
    elif kind == "npy":
        np.save(tmp_path / "a.npy", np.arange(3))
        path.write_bytes((tmp_path / "a.npy").read_bytes())
        expect = "not a tinygrad_edu save file"
    elif kind == "truncated":
        data = _good_file(tmp_path).read_bytes()
        path.write_bytes(data[: len(data) // 2])
        expect = "corrupt or truncated"
    elif kind == "flipped":
        data = bytearray(_good_file(tmp_path).read_bytes())
        data[len(data) // 2] ^= 0xFF  # inside the 80 kB of zeros: the zip CRC no longer matches
        path.write_bytes(bytes(data))
        expect = "corrupt: the CRC of its entry 'a0' does not match"
    elif kind == "plain_npz":
        np.savez(path, x=np.arange(3))
        expect = "not a tinygrad_edu save file"
    else:
        path.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
        expect = "not a tinygrad_edu save file"
    with pytest.raises(ValueError, match=expect) as info:
        tg.load(path)
    assert isinstance(info.value, serialization.SaveFileError)
    assert str(path) in str(info.value)


UNPICKLED = []


def _mark_unpickled(*args):
    UNPICKLED.append(args)
    return "pwned"


class _Evil:
    def __reduce__(self):
        return (_mark_unpickled, ("ran",))


def _write_raw(path, structure, **arrays):
    """A hand-made save file: `structure` as the root, `arrays` as entries, each with its true record."""
    records = {k: serialization._record(np.asarray(v)) for k, v in arrays.items() if np.asarray(v).dtype != object}
    meta = json.dumps({"format": serialization.FORMAT, "version": serialization.VERSION, "root": structure,
                       "arrays": records})
    arrays[serialization.STRUCTURE_KEY] = np.frombuffer(meta.encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_load_never_unpickles_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    _write_raw(path, {"t": "ndarray", "key": "a0"}, a0=np.array([_Evil()], dtype=object))
    UNPICKLED.clear()
    with pytest.raises(ValueError, match="object array or pickled data") as info:
        tg.load(path)
    assert str(path) in str(info.value)
    assert UNPICKLED == []
    # and the same payload as a whole-file pickle is refused before numpy sees it
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ValueError):
        tg.load(path)
    assert UNPICKLED == []


@pytest.mark.parametrize("structure, arrays, expect", [
    ({"t": "tensor", "key": "a9", "dtype": "float32"}, {}, "missing"),
    ({"t": "tensor", "key": "a0", "dtype": "float64"}, {"a0": np.zeros(2, np.float32)}, "holds float32"),
    ({"t": "tensor", "key": "a0", "dtype": "complex"}, {"a0": np.zeros(2)}, "unsupported dtype"),
    ({"t": "gizmo"}, {}, "unknown type"),
    ({"t": "dict", "items": [[{"t": "str"}]]}, {}, "malformed"),
    ({"t": "int", "v": "7"}, {}, "int node"),
])
def test_malformed_structures_are_reported(tmp_path, structure, arrays, expect):
    path = tmp_path / "m.npz"
    _write_raw(path, structure, **arrays)
    with pytest.raises(ValueError, match=expect):
        tg.load(path)


def test_unknown_version_and_missing_file(tmp_path):
    path = tmp_path / "v.npz"
    meta = json.dumps({"format": serialization.FORMAT, "version": 99, "root": {"t": "none"}})
    np.savez(path, **{serialization.STRUCTURE_KEY: np.frombuffer(meta.encode(), dtype=np.uint8)})
    with pytest.raises(ValueError, match="version 99"):
        tg.load(path)
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "nope.npz")


def test_tensors_load_on_cpu_and_map_location(tmp_path):
    path = tmp_path / "gpu.npz"
    _write_raw(path, {"t": "tensor", "key": "a0", "dtype": "float32", "device": "cuda"},
               a0=np.arange(3, dtype=np.float32))
    for kwargs in ({}, {"map_location": "cpu"}, {"map_location": {"cuda": "cpu"}}):
        t = tg.load(path, **kwargs)
        assert t.device == "cpu" and t.dtype == tg.float32 and t.tolist() == [0, 1, 2]
    if tg.cuda.is_available():
        x = tg.load(path, map_location="cuda")
        assert x.device == "cuda" and x.tolist() == [0, 1, 2]


# ---- Dataset / TensorDataset ---------------------------------------------------------------
def test_tensor_dataset_indexing_and_errors():
    x, y = tg.randn(5, 2), tg.arange(5)
    d = TensorDataset(x, y)
    assert len(d) == 5
    xi, yi = d[3]
    np.testing.assert_array_equal(xi.numpy(), x.numpy()[3])
    assert yi.item() == 3
    assert len(TensorDataset(np.zeros((4, 2)))) == 4
    with pytest.raises(ValueError, match=r"same size in dim 0.*\(5, 2\).*\(4,\)"):
        TensorDataset(x, tg.arange(4))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(tg.Tensor(1.0))
    with pytest.raises(TypeError, match="list"):
        TensorDataset([1, 2, 3])
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        len(Dataset())


# ---- DataLoader ----------------------------------------------------------------------------
def _xy(n=10):
    x = tg.Tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    return x, tg.arange(n)


def test_batches_in_order_and_len():
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x.numpy())
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == list(range(10))
    dropped = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(TensorDataset(x, y), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(TensorDataset(x, y))) == 10
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(TensorDataset(x, y), batch_size=bad)


def test_tensor_dataset_batches_use_one_index_per_tensor(monkeypatch):
    x, y = _xy(100)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
    calls = []
    original = tg.Tensor.__getitem__

    def counting(self, index):
        calls.append(getattr(index, "shape", None))
        return original(self, index)
    monkeypatch.setattr(tg.Tensor, "__getitem__", counting)
    batches = list(loader)
    assert len(batches) == 4
    assert len(calls) == 4 * 2  # one fancy index per tensor per batch, no per-example loop
    assert all(shape is not None for shape in calls)


def _epochs(loader, n):
    return [np.concatenate([b[1].numpy() for b in loader]).tolist() for _ in range(n)]


def test_shuffle_with_seed_reproduces_and_differs_between_epochs():
    x, y = _xy(50)
    a = _epochs(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=123), 3)
    b = _epochs(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=123), 3)
    c = _epochs(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=124), 3)
    assert a == b
    assert a[0] != a[1] != a[2] and a != c
    assert all(sorted(epoch) == list(range(50)) for epoch in a)
    assert a[0] != list(range(50))
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.numpy(), x.numpy()[yb.numpy()])  # rows stay paired


def test_shuffle_without_seed_follows_manual_seed():
    x, y = _xy(40)
    np.random.seed(0)
    tg.manual_seed(7)
    a = _epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True), 2)
    np.random.seed(1)  # numpy's global state must not matter
    tg.manual_seed(7)
    b = _epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True), 2)
    assert a == b and a[0] != a[1]
    tg.manual_seed(8)
    assert _epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True), 1)[0] != a[0]


class _Pairs(Dataset):
    def __init__(self, n):
        self.n, self.calls = n, 0

    def __getitem__(self, i):
        self.calls += 1
        return {"img": np.full((2, 2), i, dtype=np.float32), "label": i, "weight": i / 2, "name": f"ex{i}",
                "t": tg.Tensor([i, i + 1])}

    def __len__(self):
        return self.n


def test_generic_dataset_collate():
    d = _Pairs(5)
    batches = list(DataLoader(d, batch_size=2))
    assert d.calls == 5 and len(batches) == 3
    b = batches[0]
    assert b["img"].shape == (2, 2, 2) and b["img"].dtype == tg.float32
    assert b["label"].tolist() == [0, 1] and b["label"].dtype == tg.int64
    assert b["weight"].dtype == tg.float64 and b["weight"].tolist() == [0.0, 0.5]
    assert b["name"] == ["ex0", "ex1"]
    assert b["t"].tolist() == [[0, 1], [1, 2]]
    assert batches[2]["label"].tolist() == [4]
    singles = list(DataLoader(d, batch_size=None))
    assert len(singles) == 5 and singles[3]["label"] == 3
    custom = list(DataLoader(d, batch_size=3, collate_fn=lambda items: [it["label"] for it in items]))
    assert custom == [[0, 1, 2], [3, 4]]


def test_subclass_with_own_getitem_is_not_sliced():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            (x,) = super().__getitem__(i)
            return (x * 2,)
    batches = list(DataLoader(Doubled(tg.arange(4)), batch_size=4))
    assert batches[0][0].tolist() == [0, 2, 4, 6]


# ---- download machinery --------------------------------------------------------------------
def _serve(monkeypatch, payloads):
    """Replace the downloader: URLs in `payloads` return those bytes, others fail. Records calls."""
    calls = []

    def fake(url, timeout=None):
        calls.append((url, timeout))
        if url not in payloads:
            raise urllib.error.URLError("unreachable")
        return io.BytesIO(payloads[url])
    monkeypatch.setattr(download, "_urlopen", fake)
    return calls


def test_download_verifies_caches_and_uses_mirrors(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    res = Resource("blob.bin", ("https://a.invalid/blob.bin", "https://b.invalid/blob.bin"), sha(b"hello"))
    calls = _serve(monkeypatch, {"https://b.invalid/blob.bin": b"hello"})
    (path,) = fetch([res], root=tmp_path / "cache")
    assert path == tmp_path / "cache" / "blob.bin" and path.read_bytes() == b"hello"
    assert [c[0] for c in calls] == list(res.urls) and all(c[1] for c in calls)  # a timeout is always set
    assert os.listdir(tmp_path / "cache") == ["blob.bin"]
    calls.clear()
    assert fetch([res], root=tmp_path / "cache") == [path] and calls == []  # cached: no second download
    assert data_root(tmp_path) == tmp_path and data_root().name == "tinygrad_edu_cache"


def test_download_with_wrong_checksum_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    res = Resource("blob.bin", ("https://a.invalid/blob.bin",), sha(b"hello"))
    _serve(monkeypatch, {"https://a.invalid/blob.bin": b"tampered"})
    with pytest.raises(FileNotFoundError, match="ChecksumError"):
        fetch([res], root=tmp_path)
    assert os.listdir(tmp_path) == []


def test_the_small_data_sets_ship_inside_the_package(tmp_path, monkeypatch):
    """A fresh machine with no network and no data folder still has the digits and tiny-shakespeare."""
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    images, labels = digits(root=tmp_path / "empty-cache")
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert len(tiny_shakespeare(root=tmp_path / "empty-cache")) == 1_115_394
    assert not (tmp_path / "empty-cache").exists()          # nothing downloaded, nothing cached


def test_no_network_and_no_data_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.setattr(download, "PACKAGED", tmp_path / "no-packaged-files")   # as if the package shipped none
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError) as info:
        digits(root=cache)
    msg = str(info.value)
    assert "digits.csv.gz" in msg
    assert "https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/digits.csv.gz" \
        in msg
    assert str(cache) in msg and "TINYGRAD_EDU_DATA" in msg and "network disabled" in msg
    assert os.listdir(cache) == []  # no partial download left
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=cache, train=False)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in msg
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="switched off"):
        tiny_shakespeare(root=cache)


def test_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    bogus = tmp_path / "digits.csv.gz"
    bogus.write_bytes(gzip.compress(b"0,1,2\n"))
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path))
    with pytest.raises(ChecksumError) as info:
        digits(root=tmp_path / "cache")
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(bogus) in msg and DIGITS_SHA in msg and sha(bogus.read_bytes()) in msg
    assert "digits.csv.gz" in msg and "download it again" in msg


# ---- real data (offline copies) ------------------------------------------------------------
def _need(name):
    if not (SHARED / name).is_file():
        pytest.skip(f"{name} not found in TINYGRAD_EDU_DATA={SHARED}; the offline data folder is absent")
    return SHARED / name


def test_digits_from_the_offline_folder():
    path = _need("digits.csv.gz")
    assert download.sha256_of(path) == DIGITS_SHA
    images, labels = digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == tg.float32 and images.device == "cpu"
    assert labels.shape == (1797,) and labels.dtype == tg.int64
    x = images.numpy()
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # the raw values were integers 0..16
    assert sorted(set(labels.tolist())) == list(range(10))
    assert labels[:3].tolist() == [0, 1, 2]
    xb, yb = next(iter(DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True, seed=0)))
    assert xb.shape == (64, 1, 8, 8) and yb.shape == (64,)


def test_tiny_shakespeare_from_the_offline_folder():
    path = _need("tinyshakespeare.txt")
    assert download.sha256_of(path) == SHAKESPEARE_SHA
    text = tiny_shakespeare()
    assert isinstance(text, str) and len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:")
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65 and tok.itos[tok.stoi["a"]] == "a" and tok.stoi["\n"] == 0
    ids = tok.encode("To be, or not to be")
    assert tok.decode(ids) == "To be, or not to be" and tok.decode(tg.Tensor(ids)) == "To be, or not to be"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("€")
    with pytest.raises(ValueError, match="not in 0..64"):
        tok.decode([70])


# ---- MNIST and CIFAR-10 on files built in their exact formats -------------------------------
def _idx(magic_dtype, array):
    header = bytes([0, 0, magic_dtype, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def test_read_idx_parses_the_format(tmp_path):
    a = (np.arange(24) - 5).astype(">i4").reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(_idx(0x0C, a))
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.int32
    np.testing.assert_array_equal(out, a)
    f = np.linspace(0, 1, 6, dtype=">f8")
    (tmp_path / "f.idx.gz").write_bytes(gzip.compress(_idx(0x0E, f)))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx.gz"), f)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(_idx(0x0C, a)[:-3])
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(b"\x01\x02\x03\x04")


def _mnist_files(tmp_path, monkeypatch, train, n):
    rng = np.random.default_rng(train)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    img_res, lab_res = ds.MNIST_FILES[train]
    files = []
    for res, blob in ((img_res, _idx(0x08, images)), (lab_res, _idx(0x08, labels))):
        data = gzip.compress(blob)
        (tmp_path / res.filename).write_bytes(data)
        files.append(res._replace(sha256=sha(data)))  # the synthetic files' own digests
    monkeypatch.setitem(ds.MNIST_FILES, train, tuple(files))
    return images, labels


@pytest.mark.parametrize("train", [True, False])
def test_mnist_parses_idx_files(tmp_path, monkeypatch, train):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    images, labels = _mnist_files(tmp_path, monkeypatch, train, 6 if train else 3)
    d = MNIST(root=tmp_path, train=train)
    assert len(d) == len(labels) and d.images.shape == (len(labels), 1, 28, 28)
    assert d.images.dtype == tg.float32 and d.labels.dtype == tg.int64
    np.testing.assert_array_equal(d.images.numpy()[:, 0], images.astype(np.float32) / np.float32(255))
    assert d.images.numpy().max() == 1.0 and d.images.numpy().min() == 0.0
    assert d.labels.tolist() == labels.tolist()
    xb, yb = next(iter(DataLoader(d, batch_size=2)))
    assert xb.shape == (2, 1, 28, 28) and yb.tolist() == labels[:2].tolist()


def test_mnist_checks_magic_numbers_and_sizes(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    images, labels = _mnist_files(tmp_path, monkeypatch, True, 4)
    img_res, lab_res = ds.MNIST_FILES[True]
    # swap the two files: the images file now holds labels (magic 2049 instead of 2051)
    data = gzip.compress(_idx(0x08, labels))
    (tmp_path / img_res.filename).write_bytes(data)
    monkeypatch.setitem(ds.MNIST_FILES, True, (img_res._replace(sha256=sha(data)), lab_res))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        MNIST(root=tmp_path)
    data = gzip.compress(_idx(0x08, images[:3]))  # 3 images, 4 labels
    (tmp_path / img_res.filename).write_bytes(data)
    monkeypatch.setitem(ds.MNIST_FILES, True, (img_res._replace(sha256=sha(data)), lab_res))
    with pytest.raises(ValueError, match="3 images .* 4 labels"):
        MNIST(root=tmp_path)
    # and a real-format file that does not match the published digest is refused
    monkeypatch.setitem(ds.MNIST_FILES, True, (img_res, lab_res))
    with pytest.raises(ChecksumError):
        MNIST(root=tmp_path)


def _cifar_tar(path, per_batch, test_n, rng, extra=None, record_size=3073):
    expected = {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("cifar-10-batches-bin/batches.meta.txt", b"airplane\nautomobile\n")
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for name in names:
            n = test_n if name == "test_batch.bin" else per_batch
            records = rng.integers(0, 256, size=(n, record_size), dtype=np.uint8)
            records[:, 0] %= 10
            expected[name] = records
            add("cifar-10-batches-bin/" + name, records.tobytes())
        for name, data in (extra or {}).items():
            add(name, data)
    return expected


@pytest.mark.parametrize("train", [True, False])
def test_cifar10_parses_the_binary_archive(tmp_path, monkeypatch, train):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    path = tmp_path / "cifar-10-binary.tar.gz"
    rec = _cifar_tar(path, per_batch=2, test_n=3, rng=np.random.default_rng(0))
    monkeypatch.setattr(ds, "CIFAR10_FILE", ds.CIFAR10_FILE._replace(sha256=sha(path.read_bytes())))
    d = CIFAR10(root=tmp_path, train=train)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    records = np.concatenate([rec[n] for n in names])
    assert len(d) == len(records) == (10 if train else 3)
    assert d.images.shape == (len(records), 3, 32, 32) and d.images.dtype == tg.float32
    assert d.labels.dtype == tg.int64 and d.labels.tolist() == records[:, 0].tolist()
    x = d.images.numpy()
    # record layout: label, then 1024 red, 1024 green, 1024 blue bytes, each 32x32 row-major
    i, c, r, col = len(records) - 1, 2, 5, 17
    assert x[i, c, r, col] == np.float32(records[i, 1 + c * 1024 + r * 32 + col]) / np.float32(255)
    np.testing.assert_array_equal(x.reshape(len(records), -1) * np.float32(255), records[:, 1:].astype(np.float32))
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert len(CIFAR10.classes) == 10


def test_cifar10_rejects_bad_archives(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "short.tar.gz"
    _cifar_tar(path, per_batch=1, test_n=1, rng=rng, record_size=3000)
    with pytest.raises(ValueError, match="whole number of 3073-byte records"):
        read_cifar10_binary(path, train=False)
    path = tmp_path / "python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(ValueError, match="lacks .*test_batch.bin.*binary version"):
        read_cifar10_binary(path, train=False)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(ValueError, match="cannot read the tar archive"):
        read_cifar10_binary(tmp_path / "junk.tar.gz")
    images, labels = read_cifar10_binary(_write_ok(tmp_path, rng), train=False)
    assert images.dtype == np.uint8 and images.shape == (2, 3, 32, 32) and labels.shape == (2,)


def _write_ok(tmp_path, rng):
    path = tmp_path / "ok.tar.gz"
    _cifar_tar(path, per_batch=1, test_n=2, rng=rng)
    return path


# ---- a checkpoint never loads different data silently --------------------------------------------------------
def _rewrite_member(path, name, change):
    """Rewrite one member of a save file's zip with `change(bytes) -> bytes`; the zip's own CRCs stay consistent."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)


def test_a_changed_shape_in_a_npy_header_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    tg.save({"w": tg.zeros(64, 64)}, path)
    header = b"(64, 64)"
    raw = bytearray(path.read_bytes())
    at = raw.index(header)
    raw[at:at + len(header)] = b"(14, 64)"             # one digit, edited in place: the zip CRC catches it
    path.write_bytes(bytes(raw))
    with pytest.raises(serialization.SaveFileError, match="CRC of its entry 'a0'"):
        tg.load(path)
    tg.save({"w": tg.zeros(64, 64)}, path)              # the same edit with the zip rewritten consistently
    _rewrite_member(path, "a0.npy", lambda b: b.replace(header, b"(14, 64)")[:-50 * 64 * 4])
    with pytest.raises(serialization.SaveFileError,
                       match=r"entry 'a0' has shape \[14, 64\] but was saved with \[64, 64\]"):
        tg.load(path)


def test_changed_values_and_dtypes_are_refused(tmp_path):
    path = tmp_path / "w.npz"
    tg.save({"w": tg.arange(6).float()}, path)
    _rewrite_member(path, "a0.npy", lambda b: b[:-4] + np.float32(99).tobytes())
    with pytest.raises(serialization.SaveFileError, match="entry 'a0' has crc32"):
        tg.load(path)
    tg.save({"w": tg.arange(6).float()}, path)
    _rewrite_member(path, "a0.npy", lambda b: b.replace(b"'<f4'", b"'<i4'"))
    with pytest.raises(serialization.SaveFileError, match="entry 'a0' has dtype '<i4' but was saved with '<f4'"):
        tg.load(path)


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    tg.save({"w": tg.ones(2)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(serialization.SaveFileError, match="member 'notes.txt' that is not a .npy array"):
        tg.load(path)


def test_a_save_killed_midway_leaves_no_temporary_file_forever(tmp_path):
    path = tmp_path / "model.npz"
    stale = tmp_path / ".model.npz.0123456789ab.tmp"   # what a save killed before its rename leaves
    fresh = tmp_path / ".model.npz.ba9876543210.tmp"   # a save still running elsewhere: left alone
    other = tmp_path / ".other.npz.0123456789ab.tmp"   # another path's: left alone
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    old = time.time() - 2 * serialization.STALE_AFTER_S
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    tg.save({"w": tg.ones(2)}, path)
    assert not stale.exists() and fresh.exists() and other.exists()
    assert tg.load(path)["w"].tolist() == [1.0, 1.0]
