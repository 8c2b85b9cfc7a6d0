"""The instructor's source tree: where it is, which files it has, and its solution regions."""
import os
import pathlib
import shutil
import subprocess

from .regions import find_regions, student_regions

MARKED = ("tinygrad_edu/", "kernels/", "lessons/", "tests/")   # where solution regions may live; in tests/ they
# mark reference implementations that would hand a solution over, cut together with it
_SKIPPED_NAMES = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")


class SourceError(RuntimeError):
    """The tinygrad_edu source tree cannot be found or read."""


def repository_root(start=None):
    """The tinygrad_edu repository: `start` if given, else the one this package was imported from.

    A repository is a folder holding pyproject.toml, tinygrad_edu/ and tests/assignments/."""
    root = pathlib.Path(start) if start is not None else pathlib.Path(__file__).resolve().parents[2]
    if not is_repository(root):
        where = f"{root}" if start is not None else f"{root} (where this tinygrad_edu is installed from)"
        raise SourceError(f"{where} is not a tinygrad_edu source repository (expected pyproject.toml, "
                          f"tinygrad_edu/ and tests/assignments/ in it); install tinygrad_edu from a clone "
                          f"with `pip install -e .`, or pass --source DIR")
    return root.resolve()


def is_repository(path):
    path = pathlib.Path(path)
    return ((path / "pyproject.toml").is_file() and (path / "tinygrad_edu" / "__init__.py").is_file()
            and (path / "tests" / "assignments").is_dir())


def source_files(root):
    """Relative paths (with '/') of the files that make up the source: git's tracked and not-ignored files in a
    clone, else every file but caches, virtual environments, build outputs and lesson outputs."""
    root = pathlib.Path(root)
    if (root / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=False)
        if listed.returncode == 0:
            names = sorted({n for n in listed.stdout.decode().split("\0") if n})
            return [n for n in names if (root / n).is_file() and not _skipped(n)]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_NAMES and not d.endswith(_SKIPPED_SUFFIXES))
        for name in sorted(files):
            relative = (pathlib.Path(folder) / name).relative_to(root).as_posix()
            if not _skipped(relative):
                found.append(relative)
    return found


def _skipped(relative):
    parts = relative.split("/")
    return (any(p in _SKIPPED_NAMES or p.endswith(_SKIPPED_SUFFIXES) for p in parts)
            or relative.startswith("lessons/out/"))


def is_marked(relative):
    """Whether solution regions in this file count (Python files of the package, kernels/, lessons/ and tests/)."""
    return relative.endswith(".py") and relative.startswith(MARKED)


def library_regions(root, files=None):
    """Every solution region of the library, in file order."""
    root = pathlib.Path(root)
    regions = []
    for relative in files if files is not None else source_files(root):
        if is_marked(relative):
            regions.extend(find_regions(relative, (root / relative).read_text(encoding="utf-8")))
    return regions


def is_student_copy(root):
    """Whether `root` has stubs where the solutions were (`assignment make` wrote it): it is no answer key."""
    root = pathlib.Path(root)
    for relative in source_files(root):
        if is_marked(relative):
            text = (root / relative).read_text(encoding="utf-8", errors="replace")
            if "# BEGIN YOUR CODE (" in text and student_regions(text):
                return True
    return False
