"""Make a student repository: the release with the chosen assignments' regions replaced by stubs.

Everything else is copied as it is. The copy is then searched for every line of the
removed solutions (a solution line that also sits in another file would hand the answer
over), and made a git repository with one commit, so no history holds the solutions.
Caches, virtual environments, lesson outputs and the release's own git history are never
copied (see source.source_files).
"""
import os
import pathlib
import shutil
import subprocess

from . import catalogue
from .regions import common_lines, cut, find_leaks, find_regions
from .source import is_marked, repository_root, source_files

MANIFEST = "ASSIGNMENT.md"


class LeakError(RuntimeError):
    """Solution text would survive in the student copy."""


def make_student_copy(assignment_ids, out, source=None, git=True):
    """Write the student repository for `assignment_ids` into `out` (a new or empty folder).

    Returns {"files": number copied, "regions": [(region key, assignment id, file line)], "out": path}.
    Raises LeakError (and leaves nothing behind) when solution text would survive in the copy.
    """
    assignments = [catalogue.get(i) for i in dict.fromkeys(assignment_ids)]
    if not assignments:
        raise ValueError("assignment make: name at least one assignment (`tinygrad-edu assignment list`)")
    root = repository_root(source)
    out = pathlib.Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"assignment make: {out} exists and is not empty; choose a new folder")
    if out.resolve().is_relative_to(root):
        raise ValueError(f"assignment make: {out} is inside the source repository {root}; choose a folder outside")
    chosen_ids = {a.id for a in assignments}

    def chosen(region):
        assignment_id = catalogue.assignment_of(region)
        return assignment_id if assignment_id in chosen_ids else None

    texts, binaries, removed, release, all_regions = {}, {}, [], {}, []
    for relative in source_files(root):
        data = (root / relative).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            binaries[relative] = data
            continue
        release[relative] = text
        if is_marked(relative):
            all_regions.extend(find_regions(relative, text))
            text, cut_regions = cut(relative, text, chosen)
            removed.extend(cut_regions)
        texts[relative] = text
    _check_every_assignment_cut(assignments, removed)
    texts[MANIFEST] = _manifest(assignments)

    leaks = find_leaks(texts, removed, common_lines(release, all_regions, catalogue.assignment_of))
    if leaks:
        shown = "\n".join(f"  {path}:{line}: {solution!r} (from {key})" for path, line, key, solution in leaks[:20])
        raise LeakError(f"assignment make: {len(leaks)} line(s) of the removed solutions would survive in the "
                        f"student copy:\n{shown}\nMove the shared code into the region, or out of the other file.")

    out.mkdir(parents=True, exist_ok=True)
    for relative, text in texts.items():
        _write(out / relative, text.encode("utf-8"), root / relative)
    for relative, data in binaries.items():
        _write(out / relative, data, root / relative)
    if git:
        _git_init(out, assignments)
    return {"out": str(out), "files": len(texts) + len(binaries),
            "regions": [(r.key, a, r.path, r.begin) for r, a in removed]}


def _check_every_assignment_cut(assignments, removed):
    cut_ids = {a for _, a in removed}
    for assignment in assignments:
        if assignment.id not in cut_ids:
            raise LeakError(f"assignment make: {assignment.id} removes no region from the source; its regions "
                            f"{list(assignment.regions)} are not marked (is this the release?)")


def _write(path, data, original):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if original.exists():
        path.chmod(original.stat().st_mode & 0o777)   # scripts such as .ci/run stay executable


def _manifest(assignments):
    lines = ["# Your assignments", "",
             "Each part you write is marked in the source by `# BEGIN YOUR CODE (<id>)` ... `# END YOUR CODE (<id>)`;",
             "replace the `raise NotImplementedError` there with your code. Run the graded tests of one",
             "assignment with `python -m pytest <its test file>`, and see your score with `tinygrad-edu grade`.", ""]
    for a in assignments:
        lines += [f"## {a.id}: {a.title} ({a.points} points, about {a.minutes} minutes)", "", a.statement, "",
                  f"Tests: {', '.join(a.tests)}", ""]
    return "\n".join(lines)


def _git_init(out, assignments):
    """One commit, author 'tinygrad_edu', so the copy is a repository with no history of the solutions."""
    if shutil.which("git") is None:
        return
    env = dict(os.environ, GIT_AUTHOR_NAME="tinygrad_edu", GIT_AUTHOR_EMAIL="tinygrad_edu@localhost",
               GIT_COMMITTER_NAME="tinygrad_edu", GIT_COMMITTER_EMAIL="tinygrad_edu@localhost",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    message = "Student copy: " + ", ".join(a.id for a in assignments)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message]):
        subprocess.run(command, cwd=out, env=env, check=True, capture_output=True)
