"""Finding, downloading, verifying and caching data files.

Every data set is a list of `Resource`s (file name, public URLs, sha256). `fetch` looks for each
file, in this order:

  1. the folder named by the environment variable TINYGRAD_EDU_DATA (an override: offline copies);
  2. the files shipped inside the package (tinygrad_edu/data/files: the digits and tiny-shakespeare,
     small enough to ship, so the lessons and tests run on a machine with no network);
  3. the cache folder `data_root(root)`: `root` when a loader is given one, else
     ~/.cache/tinygrad_edu;
  4. the network: the file is downloaded with urllib (with a timeout) into a temporary file in the
     cache folder, its sha256 checked, and only then renamed into place, so a broken download never
     leaves a half-written file under the real name.

Every file is checked against its sha256 wherever it was found; a mismatch raises `ChecksumError`.
When a file is neither on disk nor downloadable (no network), `FileNotFoundError` says which files
to download, from where, and which folder to put them in. Set TINYGRAD_EDU_OFFLINE=1 to never try
the network.
"""
import hashlib
import os
import pathlib
import secrets
import sys
import urllib.request
from collections import namedtuple

__all__ = ["Resource", "ChecksumError", "data_root", "search_dirs", "fetch", "sha256_of"]

ENV_DATA = "TINYGRAD_EDU_DATA"
ENV_OFFLINE = "TINYGRAD_EDU_OFFLINE"
DEFAULT_CACHE = pathlib.Path("~/.cache/tinygrad_edu")
PACKAGED = pathlib.Path(__file__).with_name("files")   # the data sets shipped with the package
TIMEOUT_S = 30.0
_CHUNK = 1 << 20

Resource = namedtuple("Resource", ["filename", "urls", "sha256"])
Resource.__doc__ = ("One data file: its name on disk (a path relative to each search folder, e.g. "
                    "'MNIST/raw/x.gz'), public URLs to try in order, and its sha256 (hex).")

# a mutable hook so tests (and users behind a proxy) can replace how URLs are opened
_urlopen = urllib.request.urlopen
_verified = {}  # (path, size, mtime_ns) -> sha256, so a file is hashed once per process


class ChecksumError(ValueError):
    """A data file's sha256 does not match the published one."""


def data_root(root=None):
    """The cache folder that downloads go to: `root` if given, else ~/.cache/tinygrad_edu."""
    return pathlib.Path(root if root is not None else DEFAULT_CACHE).expanduser()


def search_dirs(root=None):
    """The folders `fetch` looks in, in order: $TINYGRAD_EDU_DATA (if set), the package's own files, then
    `data_root(root)`."""
    dirs = []
    env = os.environ.get(ENV_DATA)
    if env:
        dirs.append(pathlib.Path(env).expanduser())
    dirs.append(PACKAGED)
    cache = data_root(root)
    if cache not in dirs:
        dirs.append(cache)
    return dirs


def sha256_of(path):
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(path, resource):
    st = os.stat(path)
    memo = (str(path), st.st_size, st.st_mtime_ns)
    digest = _verified.get(memo) or sha256_of(path)
    if digest != resource.sha256:
        raise ChecksumError(
            f"{path} has sha256 {digest}, but {resource.filename} should have sha256 {resource.sha256}: the file "
            f"is corrupt, truncated or a different version. Delete it and download it again from "
            f"{resource.urls[0]}")
    _verified[memo] = digest
    return path


def _download(url, dest, resource, timeout):
    """Download url to dest through a temporary file in dest's folder; verify sha256; rename into place."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    h = hashlib.sha256()
    try:
        with _urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != resource.sha256:
            raise ChecksumError(f"the download from {url} has sha256 {h.hexdigest()}, expected {resource.sha256}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    _verified[(str(dest), dest.stat().st_size, dest.stat().st_mtime_ns)] = resource.sha256
    return dest


def fetch(resources, root=None, download=True, timeout=TIMEOUT_S):
    """Paths of the files of `resources` (a list of Resource), found, downloaded or cached; see the module doc.

    Raises ChecksumError for a file on disk whose sha256 is wrong, and FileNotFoundError, listing
    every missing file with its URL and the folder to put it in, when some cannot be had.
    """
    dirs = search_dirs(root)
    cache = data_root(root)
    offline = os.environ.get(ENV_OFFLINE, "") not in ("", "0")
    found, missing = [], []
    for res in resources:
        path = next((d / res.filename for d in dirs if (d / res.filename).is_file()), None)
        if path is not None:
            found.append(_check(path, res))
            continue
        errors = []
        if download and not offline:
            try:
                (cache / res.filename).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                errors.append(f"cannot create the cache folder {cache}: {exc}")
            else:
                for url in res.urls:
                    print(f"tinygrad_edu: downloading {url} -> {cache / res.filename}", file=sys.stderr)
                    try:
                        path = _download(url, cache / res.filename, res, timeout)
                        break
                    except Exception as exc:  # URLError, timeouts, HTTP errors, checksum mismatches
                        errors.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            errors.append("downloading is switched off" + (f" ({ENV_OFFLINE} is set)" if offline else ""))
        if path is None:
            missing.append((res, errors))
        else:
            found.append(path)
    if missing:
        raise FileNotFoundError(_missing_message(missing, dirs, cache))
    return found


def _missing_message(missing, dirs, cache):
    lines = [f"tinygrad_edu could not find {len(missing)} data file(s) and could not download them:"]
    for res, errors in missing:
        lines.append(f"  - {res.filename}: download it from {res.urls[0]}")
        for url in res.urls[1:]:
            lines.append(f"      (or from the mirror {url})")
        lines.append(f"      sha256 {res.sha256}")
        for e in errors:
            lines.append(f"      download failed: {e}")
    lines.append(f"Put the file(s) in the folder {cache}")
    lines.append(f"or in any folder and point the environment variable {ENV_DATA} at it "
                 f"(e.g. {ENV_DATA}=/path/to/data).")
    lines.append("Searched: " + ", ".join(str(d) for d in dirs))
    return "\n".join(lines)
