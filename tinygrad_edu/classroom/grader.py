"""The grader: run the graded tests on a submission, score them, write Gradescope's results file.

How it stays honest, when the submission's code is the thing being tested:

* Tests come from the instructor's copy (the repository this tinygrad_edu was installed
  from, or --source), never from the submission: they are copied into a fresh folder with
  the grader's own pytest.ini, and run with no conftest.py and no entry-point plugins.
* Each group of tests (one assignment's file, or one hidden test file) runs in its own
  child process (runner.py) with a time limit. An infinite loop is killed with its whole
  process group; a crash, `os._exit` or an exception ends only that group; output is kept
  to its first and last few kilobytes, so a flood of prints cannot fill memory or disk.
* The same tests also run against the answer key (the instructor's copy). A test scores
  only if it passed in the submission's run *and* the values it observed (grading.observe)
  match the answer key's, so tampering with the test run itself gains nothing.
* The results file is written by this process, after every child has ended, atomically.
"""
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from ..data.download import data_root
from . import catalogue
from .make import make_student_copy
from .platforms import tests_in_file
from .source import is_student_copy, repository_root

RUNNER = pathlib.Path(__file__).with_name("runner.py")
OUTPUT_LIMIT = 16_000          # characters of a child's output kept (half from the start, half from the end)
PYTEST_INI = """[pytest]
markers =
    assignment(id): a graded test of that assignment
    points(n): what the test is worth
"""


class GradeError(RuntimeError):
    """The grader cannot run (no tests, no submission, a broken answer key)."""


@dataclasses.dataclass
class Group:
    """Tests that run in one child process: one assignment's test file, or one hidden test file."""
    name: str            # the assignment id, or "hidden: <file>"
    file: str            # path relative to the tests folder
    visibility: str      # Gradescope visibility of its tests


def grade(submission=None, assignments=None, source=None, hidden_tests=None, results=None, timeout=300.0,
          user=None, jobs=None, hidden_visibility="after_published", echo=print):
    """Grade `submission` (a repository, or a folder of submitted files; default: the repository around the
    current folder) and return Gradescope's results dict; also write it to `results` if given."""
    started = time.time()
    reference = repository_root(source)
    chosen = [catalogue.get(a) for a in assignments] if assignments else list(catalogue.ASSIGNMENTS)
    with tempfile.TemporaryDirectory(prefix="tinygrad_edu_grade_") as work:
        work = pathlib.Path(work)
        submitted = _submission_root(submission, reference, chosen, work)
        tests_dir, groups = _prepare_tests(reference, chosen, hidden_tests, hidden_visibility, work / "tests")
        runner = work / RUNNER.name            # a copy: the answer key's folder may be unreadable to --user
        shutil.copyfile(RUNNER, runner)
        account = _account(user)
        if account:
            _open_to_all(work)
        has_key = not is_student_copy(reference)
        if not has_key:
            echo("note: the tests come from a student copy, so there is no answer key to compare with: each test "
                 "is scored on its own verdict (feedback, not a grade)", file=sys.stderr)
        same = has_key and submitted.resolve() == reference.resolve()
        runs = [(g, "reference", reference, None) for g in groups] if has_key else []
        runs += [] if same else [(g, "submission", submitted, account) for g in groups]
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            done = list(pool.map(lambda run: _run_group(run, runner, tests_dir, work, timeout), runs))
        by_run = {(g.name, kind): outcome for (g, kind, _, _), outcome in zip(runs, done)}
        tests = []
        for number, group in enumerate(groups, 1):
            key = by_run.get((group.name, "reference"))
            student = key if same else by_run[(group.name, "submission")]
            tests.extend(_score_group(number, group, key, student, tests_dir, echo))
    result = _results(tests, time.time() - started)
    if results:
        _write_atomically(pathlib.Path(results), json.dumps(result, indent=2) + "\n")
    return result


# ---- what is graded --------------------------------------------------------------------------------
def _submission_root(submission, reference, chosen, work):
    """The repository to grade. A folder that is not one (files uploaded to Gradescope) is laid over a fresh
    student copy: each submitted file replaces the copy's file of the same path, or of the same name."""
    start = pathlib.Path(submission or os.getcwd()).resolve()
    if submission is None:
        for folder in (start, *start.parents):
            if (folder / "tinygrad_edu" / "__init__.py").is_file():
                return folder
        raise GradeError(f"grade: {start} is not inside a tinygrad_edu repository; pass --submission DIR")
    if not start.is_dir():
        raise GradeError(f"grade: the submission {start} is not a folder")
    if (start / "tinygrad_edu" / "__init__.py").is_file():
        return start
    copy = work / "submission"
    make_student_copy([a.id for a in chosen], copy, source=reference, git=False)
    by_name = {}
    for path in copy.rglob("*"):
        by_name.setdefault(path.name, []).append(path)
    for path in sorted(start.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(start)
        target = copy / relative
        if not target.is_file():
            matches = by_name.get(path.name, [])
            if len(matches) != 1:
                continue               # not part of the library, or ambiguous: ignored
            target = matches[0]
        if target.suffix == ".py" and target.is_relative_to(copy / "tests"):
            continue                   # a submission never replaces tests
        shutil.copyfile(path, target)
    return copy


def _prepare_tests(reference, chosen, hidden_tests, hidden_visibility, tests_dir):
    """Copy the instructor's graded tests (and hidden tests) into a fresh folder; return it and the groups."""
    source_dir = reference / "tests" / "assignments"
    tests_dir.mkdir(parents=True)
    shutil.copyfile(source_dir / "grading.py", tests_dir / "grading.py")
    (tests_dir / "pytest.ini").write_text(PYTEST_INI)
    groups = []
    for assignment in chosen:
        for test_file in assignment.tests:
            path = reference / test_file
            if not path.is_file():
                raise GradeError(f"grade: the graded tests of {assignment.id}, {path}, do not exist")
            shutil.copyfile(path, tests_dir / path.name)
            groups.append(Group(assignment.id, path.name, "visible"))
    if hidden_tests:
        hidden = pathlib.Path(hidden_tests)
        files = sorted(hidden.glob("test_*.py")) if hidden.is_dir() else []
        if not files:
            raise GradeError(f"grade: --hidden-tests {hidden} holds no test_*.py files")
        (tests_dir / "hidden").mkdir()
        for path in files:
            shutil.copyfile(path, tests_dir / "hidden" / path.name)
            groups.append(Group(f"hidden: {path.stem}", f"hidden/{path.name}", hidden_visibility))
    return tests_dir, groups


# ---- running one group -------------------------------------------------------------------------------
def _run_group(run, runner, tests_dir, work, timeout):
    """Run one group in a child process; returns {"tests": [...], "records": {nodeid: record}, "ended": why}."""
    group, kind, root, account = run
    report = work / "reports" / f"{kind}-{group.file.replace('/', '-')}.jsonl"
    report.parent.mkdir(exist_ok=True)
    report.touch()
    if account:
        os.chown(report.parent, account[0], account[1])
        os.chown(report, account[0], account[1])
    env = _child_environment(work / "home" / kind)
    command = [sys.executable, "-I", "-B", str(runner), "--source", str(root), "--tests", str(tests_dir),
               "--report", str(report), group.file]
    started = time.time()
    try:
        child = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=_drop_privileges(account) if account else None)
    except PermissionError as error:
        who = f"user id {account[0]}" if account else "this user"
        raise GradeError(f"grade: {who} cannot start {sys.executable} ({error.strerror}); with --user, the Python "
                         f"interpreter, its packages and the submission must be readable by that user") from None
    output = _BoundedOutput(child.stdout)
    try:
        child.wait(timeout=timeout)
        ended = None if child.returncode == 0 else f"the test process exited with code {child.returncode}"
    except subprocess.TimeoutExpired:
        ended = f"the test process was stopped after the time limit of {timeout:g} s"
    finally:
        _kill_group(child)
        output.join()
    return {"elapsed": time.time() - started, "ended": ended, "output": output.text(), **_read_report(report)}


def _child_environment(home):
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o777)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "MPLBACKEND": "Agg", "NUMBA_CACHE_DIR": str(home),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if os.environ.get("TINYGRAD_EDU_REAL_GPU") != "1":
        env["NUMBA_ENABLE_CUDASIM"] = "1"      # the GPU assignments are graded under Numba's CUDA simulator
    for name in ("TINYGRAD_EDU_REAL_GPU", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    # the data sets: where this process finds them (the child's HOME is a fresh folder, with no download cache)
    env["TINYGRAD_EDU_DATA"] = os.environ.get("TINYGRAD_EDU_DATA") or str(data_root())
    return env


class _BoundedOutput:
    """Reads a child's output to its end on a thread, keeping the first and last OUTPUT_LIMIT/2 characters."""

    def __init__(self, stream):
        self.head, self.tail, self.dropped = b"", b"", 0
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        half = OUTPUT_LIMIT // 2
        for chunk in iter(lambda: stream.read(65536), b""):
            if len(self.head) < half:
                take = half - len(self.head)
                self.head, chunk = self.head + chunk[:take], chunk[take:]
            self.tail += chunk
            if len(self.tail) > half:
                self.dropped += len(self.tail) - half
                self.tail = self.tail[-half:]
        stream.close()

    def join(self):
        self.thread.join(timeout=10)

    def text(self):
        middle = f"\n[... {self.dropped} bytes of output left out ...]\n" if self.dropped else ""
        return (self.head + middle.encode() + self.tail).decode("utf-8", "replace")


def _kill_group(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)      # the child and anything it started
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()


def _read_report(report):
    """The runner's JSON lines. Lines that do not parse are ignored; a test reported twice counts as failed."""
    collected, records, twice = [], {}, set()
    for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if record.get("event") == "collected" and not collected:
            collected = record.get("tests") or []
        elif record.get("event") == "test" and isinstance(record.get("nodeid"), str):
            if record["nodeid"] in records:
                twice.add(record["nodeid"])
            records[record["nodeid"]] = record
    for nodeid in twice:
        records[nodeid] = {"outcome": "failed", "message": "this test was reported twice (the test run was "
                                                           "tampered with)", "observations": {}}
    return {"tests": collected, "records": records}


# ---- privileges (Gradescope runs everything as root) ------------------------------------------------
def _account(user):
    """(uid, gid) of `user` when the grader runs as root and a user is named; else None."""
    if not user:
        return None
    if os.geteuid() != 0:
        return None                               # already unprivileged: nothing to drop
    import pwd
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _open_to_all(work):
    """Let the unprivileged account read the work folder (tests, runner, an assembled submission)."""
    os.chmod(work, 0o755)
    for folder, dirs, files in os.walk(work):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _drop_privileges(account):
    uid, gid = account

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return drop


# ---- scoring ------------------------------------------------------------------------------------
def _score_group(number, group, key, student, tests_dir, echo):
    """One Gradescope test entry per test that the answer key's run collected (without an answer key: per test
    function in the file)."""
    if key is None:
        listed = [{"nodeid": f"{group.file}::{name}", "points": points}
                  for name, points in tests_in_file(tests_dir / group.file)]
    elif key["tests"]:
        listed = key["tests"]
    else:
        raise GradeError(f"grade: the answer key's run of {group.file} collected no tests:\n{key['output'][-3000:]}")
    entries = []
    for index, test in enumerate(listed, 1):
        nodeid, points = test["nodeid"], test["points"]
        expected = key["records"].get(nodeid) if key else None
        got = student["records"].get(nodeid)
        passed, output = _verdict(got, expected, student)
        if key is not None and (expected is None or expected["outcome"] != "passed"):
            problem = (f"GRADER PROBLEM: the answer key fails this test too, so it is scored on the submission's "
                       f"run alone; tell your instructor. The answer key's failure:\n"
                       f"{(expected or {}).get('message') or key['ended'] or 'it did not finish'}")
            echo(f"warning: the answer key fails its own test {nodeid}", file=sys.stderr)
            output = problem[:3000] + ("\n\n" + output if output else "")
        entries.append({
            "name": f"{group.name} › {nodeid.split('::')[-1]}", "number": f"{number}.{index}",
            "score": points if passed else 0, "max_score": points, "status": "passed" if passed else "failed",
            "output": output, "visibility": group.visibility, "tags": [group.name]})
    return entries


def _verdict(got, expected, student):
    if got is None:
        why = student["ended"] or "the test process ended before this test finished"
        return False, f"Not run to the end: {why}.\n{_tail(student['output'])}"
    if got.get("outcome") != "passed":
        return False, str(got.get("message", ""))[:4000]
    if expected is None or expected.get("outcome") != "passed":
        return True, ""
    mismatch = _compare_observations(got.get("observations") or {}, expected.get("observations") or {})
    if mismatch:
        return False, f"The values this test checked do not match the answer key's: {mismatch}"
    return True, ""


def _compare_observations(got, expected):
    """None if `got` matches `expected` (names, shapes, values within the recorded tolerances), else why not."""
    if not isinstance(got, dict) or set(got) != set(expected):
        missing = sorted(set(expected) - set(got if isinstance(got, dict) else {}))
        return f"expected observations {sorted(expected)}, missing {missing}"
    for name, want in expected.items():
        have = got[name]
        try:
            value = np.asarray(have["value"], dtype=np.float64).reshape(have["shape"])
        except (TypeError, ValueError, KeyError):
            return f"{name}: unreadable"
        if want["at_least"] is not None:
            if not value.size == 1 or not float(value.reshape(())) >= want["at_least"]:
                return f"{name}: below {want['at_least']}"
            continue
        target = np.asarray(want["value"], dtype=np.float64).reshape(want["shape"])
        if value.shape != target.shape:
            return f"{name}: shape {value.shape}, expected {target.shape}"
        if not np.allclose(value, target, rtol=want["rtol"], atol=want["atol"], equal_nan=True):
            return f"{name}: values differ"
    return None


def _tail(text, limit=2000):
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _results(tests, elapsed):
    score = sum(t["score"] for t in tests)
    total = sum(t["max_score"] for t in tests)
    return {"score": score, "execution_time": round(elapsed, 2), "output": score_table(tests, score, total),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def score_table(tests, score=None, total=None):
    """Per assignment (and hidden group): score / max, then the total."""
    rows = {}
    for t in tests:
        group = t["tags"][0]
        have, most = rows.get(group, (0, 0))
        rows[group] = (have + t["score"], most + t["max_score"])
    width = max([len(g) for g in rows] + [5])
    lines = [f"{'assignment':<{width}}  score"]
    lines += [f"{group:<{width}}  {have:g} / {most:g}" for group, (have, most) in rows.items()]
    score = sum(t["score"] for t in tests) if score is None else score
    total = sum(t["max_score"] for t in tests) if total is None else total
    lines.append(f"{'total':<{width}}  {score:g} / {total:g}")
    return "\n".join(lines)


def write_failure(results, error):
    """A results file that says the grader itself could not run (score 0), in place of whatever was there."""
    text = (f"The grader could not run: {error}\nThis is not a verdict on your code; "
            f"tell your instructor.")
    _write_atomically(pathlib.Path(results), json.dumps({"score": 0, "output": text, "tests": []}, indent=2) + "\n")


def _write_atomically(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)
