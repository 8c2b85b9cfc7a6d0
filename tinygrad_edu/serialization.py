"""`save` and `load`: state dicts, optimizer states and nested containers as a numpy .npz file.

File format (a plain zip archive that `numpy.load` can open):

  a0, a1, ...                 one .npy entry per tensor / numpy array, in its exact dtype
  __tinygrad_edu__.json       a uint8 array holding UTF-8 JSON that describes the structure:
                              {"format": "tinygrad_edu.save", "version": 2, "root": NODE,
                               "arrays": {"a0": {"shape": [64, 64], "dtype": "<f4", "crc32": 123}, ...}}

A NODE is a small tagged JSON object, so that nothing is ambiguous on the way back:

  {"t": "none"} | {"t": "bool", "v": true} | {"t": "int", "v": 3} | {"t": "float", "v": 0.5}
  {"t": "str", "v": "lr"}
  {"t": "list", "items": [NODE, ...]} | {"t": "tuple", "items": [...]}
  {"t": "dict", "items": [[KEY_NODE, NODE], ...]}    (keys keep their type: "0" and 0 differ)
  {"t": "odict", ...}                                (same, restored as collections.OrderedDict)
  {"t": "tensor", "key": "a0", "dtype": "float32", "device": "cuda", "requires_grad": false,
   "parameter": false}
  {"t": "ndarray", "key": "a1"} | {"t": "npscalar", "key": "a2"}

Safety: loading never unpickles. Files are read with `numpy.load(..., allow_pickle=False)`,
object arrays are refused on save and on load, and every failure to read a file becomes a
`SaveFileError` (a `ValueError`) that names the path and says what is wrong.

Integrity: a file never loads different data silently. Every zip member's CRC is verified,
every member must be a .npy array, and each array's shape, dtype and CRC-32 of its bytes must
match what the structure recorded when it was saved; any mismatch names the entry.
(Version-1 files, written before these records existed, still load, with the zip CRCs checked.)

Atomicity: `save` writes to a temporary file in the destination folder, flushes and fsyncs it,
then renames it over the destination with `os.replace`. A crash or an exception part-way
through leaves the previous file untouched and removes the temporary file; a process killed
part-way leaves it behind, and the next save to the same path removes such stale ones.

Differences from `torch.save`/`torch.load`, on purpose:
  * tensors load on "cpu" unless `map_location` says otherwise (a file saved on a GPU machine
    loads anywhere); `map_location` may be a device string or a {saved_device: device} dict;
  * only data is stored, never code or arbitrary Python objects.
"""
import collections
import glob
import json
import os
import secrets
import time
import zipfile
import zlib

import numpy as np

from . import dtypes
from .tensor import Tensor

__all__ = ["save", "load", "SaveFileError"]

FORMAT = "tinygrad_edu.save"
VERSION = 2
READABLE_VERSIONS = (1, 2)
STALE_AFTER_S = 600        # a temporary file of the same save path untouched this long belongs to a dead save
STRUCTURE_KEY = "__tinygrad_edu__.json"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


class SaveFileError(ValueError):
    """A file given to `tinygrad_edu.load` is corrupt, truncated, or not a tinygrad_edu save file."""


# ---- save ----------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays = {}      # npz entry name -> numpy array
        self.records = {}     # npz entry name -> {"shape", "dtype", "crc32"}, checked on load
        self._by_id = {}      # id(tensor or array) -> entry name, so shared tensors are stored once
        self._keep = []       # keep encoded objects alive so their ids stay unique
        self._active = set()  # ids of containers being encoded, to detect cycles

    def _store(self, obj, array):
        name = self._by_id.get(id(obj))
        if name is None:
            if array.dtype.hasobject:
                raise TypeError(f"save: cannot store an array of dtype {array.dtype} (object arrays would need "
                                f"pickle, which tinygrad_edu never uses)")
            name = f"a{len(self.arrays)}"
            self.arrays[name] = array
            self.records[name] = _record(array)
            self._by_id[id(obj)] = name
            self._keep.append(obj)
        return name

    def node(self, obj, where):
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, Tensor):
            parameter = _parameter_class()
            return {"t": "tensor", "key": self._store(obj, obj.numpy()), "dtype": obj.dtype.name,
                    "device": str(obj.device), "requires_grad": bool(obj.requires_grad),
                    "parameter": parameter is not None and isinstance(obj, parameter)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "key": self._store(obj, obj)}
        if isinstance(obj, np.generic):  # numpy scalars (np.float32(1.0), np.int64(3), ...)
            return {"t": "npscalar", "key": self._store(obj, np.asarray(obj))}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": float(obj)}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, (list, tuple, dict)):
            if id(obj) in self._active:
                raise ValueError(f"save: {where} contains itself (a reference cycle); cannot save it")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = [[self.key(k, where), self.node(v, f"{where}[{k!r}]")] for k, v in obj.items()]
                    return {"t": "odict" if isinstance(obj, collections.OrderedDict) else "dict", "items": items}
                items = [self.node(v, f"{where}[{i}]") for i, v in enumerate(obj)]
                return {"t": "tuple" if isinstance(obj, tuple) else "list", "items": items}
            finally:
                self._active.discard(id(obj))
        if hasattr(obj, "state_dict") and callable(obj.state_dict):   # a Module or an Optimizer, as torch.save(model)
            raise TypeError(f"save: cannot save {where}, a whole {type(obj).__qualname__}: that would need pickle, "
                            f"which tinygrad_edu never uses. Save its state instead, tg.save(obj.state_dict(), path), "
                            f"and load it into a new {type(obj).__qualname__} with load_state_dict(tg.load(path))")
        raise TypeError(f"save: cannot save {where} of type {type(obj).__module__}.{type(obj).__qualname__}; "
                        f"supported are Tensors, numpy arrays, dicts, lists, tuples, str, int, float, bool and None")

    def key(self, k, where):
        if isinstance(k, (str, int, float, np.integer, np.floating)) or k is None:
            return self.node(k.item() if isinstance(k, np.generic) else k, where)
        if isinstance(k, tuple):
            return {"t": "tuple", "items": [self.key(x, where) for x in k]}
        raise TypeError(f"save: dict keys must be str, int, float, bool, None or tuples of those; {where} has a "
                        f"key of type {type(k).__name__}")


def save(obj, path):
    """Save `obj` (a state dict, an optimizer state dict, or any nesting of dicts, lists, tuples, Tensors,
    numpy arrays, numbers, bools, None and strings) to `path` as a .npz file, atomically.

    `path` is used exactly as given (no ".npz" is appended). It may also be a writable binary file
    object, which is written directly (atomicity is then the caller's business).
    """
    enc = _Encoder()
    root = enc.node(obj, "the object")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root, "arrays": enc.records}, allow_nan=True)
    entries = dict(enc.arrays)
    entries[STRUCTURE_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)

    if hasattr(path, "write"):
        np.savez(path, **entries)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(folder, os.path.basename(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber anything; mode 0o666 lets the umask decide, as for a plain open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _record(array):
    """What load checks an array against: its shape, dtype and the CRC-32 of its bytes."""
    data = np.ascontiguousarray(array)
    return {"shape": list(data.shape), "dtype": data.dtype.str, "crc32": zlib.crc32(data.view(np.uint8).reshape(-1))}


def _remove_stale_temporaries(folder, base):
    """Temporary files of earlier saves to this path that were killed midway (untouched for STALE_AFTER_S)."""
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.*.tmp")):
        try:
            if time.time() - os.stat(tmp).st_mtime > STALE_AFTER_S:
                os.unlink(tmp)
        except OSError:
            pass


def _write_npz(f, entries):
    """Write the archive into the open file `f` (a separate function so tests can make it fail)."""
    np.savez(f, **entries)


def _fsync_dir(folder):
    """Make the rename itself durable (POSIX); harmless to skip where directories can't be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load ----------------------------------------------------------------------------------
def load(path, map_location=None):
    """Load an object written by `tinygrad_edu.save`.

    Tensors come back on "cpu" unless `map_location` names a device ("cpu", "cuda") or is a dict
    mapping saved devices to target devices ({"cuda": "cpu"}); dtypes, requires_grad, Parameters,
    tuples vs lists, dict key types and order, and tensors shared between several places are kept.
    Raises `SaveFileError` (a ValueError) naming the path if the file is not a valid save file.
    """
    name = repr(getattr(path, "name", None) or "<file object>") if hasattr(path, "read") else repr(os.fspath(path))

    def fail(what):
        return SaveFileError(f"load: {name} {what}")

    if hasattr(path, "read"):
        start = path.tell()
        head = path.read(4)
        path.seek(start)
    else:
        with open(path, "rb") as f:  # a missing file stays a FileNotFoundError
            head = f.read(4)
    if len(head) == 0:
        raise fail("is empty; it is not a tinygrad_edu save file")
    if head not in _ZIP_MAGICS:
        raise fail(f"is not a tinygrad_edu save file: it does not start with a zip/.npz header "
                   f"(first bytes {head!r})")
    try:
        _check_zip_members(path, fail)
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if STRUCTURE_KEY not in names:
                raise fail(f"is a zip/.npz archive but not a tinygrad_edu save file: it has no "
                           f"{STRUCTURE_KEY!r} entry (entries: {sorted(names)[:10]})")
            raw = archive[STRUCTURE_KEY]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise fail(f"has a malformed {STRUCTURE_KEY!r} entry (dtype {raw.dtype}, shape {raw.shape})")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise fail(f"has an unreadable structure description ({exc})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or "root" not in meta:
                raise fail("has a structure entry of an unknown format")
            if meta.get("version") not in READABLE_VERSIONS:
                raise fail(f"was written by format version {meta.get('version')!r}; this tinygrad_edu reads "
                           f"versions {READABLE_VERSIONS}")
            arrays = {k: archive[k] for k in names if k != STRUCTURE_KEY}
            if meta["version"] >= 2:
                _check_records(arrays, meta.get("arrays"), fail)
    except SaveFileError:
        raise
    except ValueError as exc:  # numpy: object arrays / pickled data refused with allow_pickle=False
        if "pickle" in str(exc):
            raise fail(f"contains an object array or pickled data, which tinygrad_edu refuses to load "
                       f"(it never unpickles): {exc}") from None
        raise fail(f"is corrupt or truncated: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile (bad CRC, truncated), EOFError, zlib/OS errors, ...
        raise fail(f"is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    return _Decoder(arrays, map_location, fail).node(meta["root"])


def _check_zip_members(path, fail):
    """Every member's CRC is right and every member is a .npy array (numpy would hand back raw bytes)."""
    start = path.tell() if hasattr(path, "read") else None
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise fail(f"has a member {info.filename!r} that is not a .npy array; it is not a tinygrad_edu "
                           f"save file, or it was altered")
        bad = archive.testzip()
        if bad is not None:
            raise fail(f"is corrupt: the CRC of its entry {bad.removesuffix('.npy')!r} does not match its data")
    if start is not None:
        path.seek(start)


def _check_records(arrays, records, fail):
    """Each array has the shape, dtype and CRC-32 recorded at save time."""
    if not isinstance(records, dict) or set(records) != set(arrays):
        raise fail(f"has array entries {sorted(arrays)} but its structure records {sorted(records or {})}")
    for name, array in arrays.items():
        want, have = records[name], _record(array)
        for field in ("shape", "dtype", "crc32"):
            if want.get(field) != have[field]:
                raise fail(f"entry {name!r} has {field} {have[field]!r} but was saved with {want.get(field)!r}; "
                           f"the file was altered or damaged")


class _Decoder:
    def __init__(self, arrays, map_location, fail):
        self.arrays, self.map_location, self.fail = arrays, map_location, fail
        self._made = {}  # entry name -> object, so a tensor saved once for several places is one object again

    def array(self, node):
        key = node.get("key")
        if key not in self.arrays:
            raise self.fail(f"refers to an array entry {key!r} that is missing from the archive")
        return self.arrays[key]

    def device(self, saved):
        m = self.map_location
        if m is None:
            return "cpu"
        if isinstance(m, dict):
            return str(m.get(saved, "cpu"))
        if callable(m):
            return str(m(saved))
        return str(m)

    def node(self, node):
        if not isinstance(node, dict) or "t" not in node:
            raise self.fail(f"has a malformed structure node {str(node)[:80]}")
        t = node["t"]
        try:
            if t == "none":
                return None
            if t in ("bool", "int", "float", "str"):
                v = node["v"]
                want = {"bool": bool, "int": int, "float": (float, int), "str": str}[t]
                if not isinstance(v, want) or (t == "int" and isinstance(v, bool)):
                    raise self.fail(f"has a {t} node holding {v!r}")
                return float(v) if t == "float" else v
            if t in ("list", "tuple"):
                items = [self.node(x) for x in node["items"]]
                return tuple(items) if t == "tuple" else items
            if t in ("dict", "odict"):
                out = collections.OrderedDict() if t == "odict" else {}
                for k, v in node["items"]:
                    out[self.node(k)] = self.node(v)
                return out
            if t in ("ndarray", "npscalar"):
                key = node.get("key")
                if key not in self._made:
                    a = self.array(node)
                    self._made[key] = a[()] if t == "npscalar" else a
                return self._made[key]
            if t == "tensor":
                return self.tensor(node)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SaveFileError):
                raise
            raise self.fail(f"has a malformed {t!r} node ({type(exc).__name__}: {exc})") from None
        raise self.fail(f"has a structure node of unknown type {t!r}")

    def tensor(self, node):
        key = node.get("key")
        if key in self._made:
            return self._made[key]
        array = self.array(node)
        try:
            dtype = dtypes.to_dtype(node["dtype"])
        except TypeError:
            raise self.fail(f"stores a tensor of unsupported dtype {node['dtype']!r}") from None
        if array.dtype != dtype.np:
            raise self.fail(f"says entry {key!r} is a {dtype.name} tensor but it holds {array.dtype} data")
        device = self.device(node.get("device", "cpu"))
        requires_grad = bool(node.get("requires_grad", False))
        parameter = _parameter_class() if node.get("parameter") else None
        if parameter is not None:
            t = parameter(Tensor(array, device=device, dtype=dtype), requires_grad=requires_grad)
        else:
            t = Tensor(array, device=device, dtype=dtype, requires_grad=requires_grad)
        self._made[key] = t
        return t



def _parameter_class():
    """nn.Parameter, imported lazily (nn imports the tensor module, not the other way round)."""
    try:
        from .nn.parameter import Parameter
    except ImportError:  # pragma: no cover - nn not built
        return None
    return Parameter
