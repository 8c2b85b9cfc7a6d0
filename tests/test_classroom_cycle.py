"""The whole classroom cycle, as an instructor runs it: make a student copy, grade it, put the solutions back,
grade again; no solution text in the copy; a lesson exercise that runs once filled in; the Gradescope and
GitHub Classroom files; and submissions that try to hang, crash or fool the grader."""
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

from tinygrad_edu.classroom import catalogue, grade, make_student_copy
from tinygrad_edu.classroom.platforms import github_classroom, gradescope_autograder
from tinygrad_edu.classroom.regions import common_lines, find_leaks, find_regions, student_regions
from tinygrad_edu.classroom.source import is_marked, is_student_copy, repository_root, source_files

pytestmark = [pytest.mark.classroom, pytest.mark.slow]
if is_student_copy(repository_root()):      # these tests make student copies from the release itself
    pytest.skip("the classroom tools are tested in the release, not in a student copy", allow_module_level=True)
ROOT = repository_root()
RUNNER_DIR = ROOT / "tinygrad_edu" / "classroom"
CUT = ["conv2d", "adam", "gpu-reduce"]


def fill_in_solutions(copy, assignment_ids=None):
    """Put the release's solutions back into a student copy (what a student who solved everything hands in)."""
    for path in copy.rglob("*.py"):
        relative = path.relative_to(copy).as_posix()
        text = path.read_text()
        found = [r for r in student_regions(text) if assignment_ids is None or r[0] in assignment_ids]
        if not found:
            continue
        originals = [r for r in find_regions(relative, (ROOT / relative).read_text())
                     if catalogue.assignment_of(r) in {f[0] for f in found}]
        lines = text.splitlines()
        for (assignment_id, first, last), original in reversed(list(zip(found, originals))):
            lines[first - 1:last] = original.solution
        path.write_text("\n".join(lines) + "\n")


def run_in_copy(copy, code, *args, timeout=600):
    """Run Python `code` with the copy's tinygrad_edu importable as if installed (as `pip install -e .` would)."""
    bootstrap = (f"import sys; sys.path.insert(0, {str(RUNNER_DIR)!r}); from runner import SourceTreeFinder; "
                 f"sys.meta_path.insert(0, SourceTreeFinder({str(copy)!r})); sys.path.remove({str(RUNNER_DIR)!r}); "
                 + code)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", bootstrap, *args], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    copy = tmp_path_factory.mktemp("classroom") / "student"
    make_student_copy(CUT, copy)
    return copy


def test_the_copy_has_stubs_where_the_regions_were(student_copy):
    backend = (student_copy / "tinygrad_edu/backends/numpy_backend.py").read_text()
    assert backend.count("# BEGIN YOUR CODE (conv2d)") == 2
    assert "raise NotImplementedError('conv2d: " in backend
    assert "# BEGIN YOUR CODE (adam)" in (student_copy / "tinygrad_edu/optim/adam.py").read_text()
    assert (student_copy / "kernels/reduce.py").read_text().count("raise NotImplementedError('gpu-reduce: ") == 2
    untouched = "tinygrad_edu/ops/matmul.py"          # not assigned: as in the release
    assert (student_copy / untouched).read_text() == (ROOT / untouched).read_text()
    assert "## conv2d:" in (student_copy / "ASSIGNMENT.md").read_text()


def test_no_solution_text_survives_anywhere_in_the_copy(student_copy):
    release = {r: (ROOT / r).read_text() for r in source_files(ROOT) if r.endswith((".py", ".md", ".toml", ".txt"))}
    regions = [r for path, text in release.items() if is_marked(path) for r in find_regions(path, text)]
    removed = [(r, catalogue.assignment_of(r)) for r in regions if catalogue.assignment_of(r) in CUT]
    assert len(removed) >= 6
    files = {}
    for path in student_copy.rglob("*"):
        relative = path.relative_to(student_copy).as_posix()
        assert "__pycache__" not in relative and not relative.endswith(".pyc")
        assert not relative.startswith(("lessons/out/", ".venv/")) and ".egg-info" not in relative
        if path.is_file() and "/.git/" not in f"/{relative}":
            files[relative] = path.read_bytes().decode("utf-8", "replace")
    # git history: every object of the copy's repository, decompressed
    history = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=student_copy,
                             capture_output=True, check=True).stdout.decode("utf-8", "replace")
    files[".git (all objects)"] = history
    log = subprocess.run(["git", "log", "--oneline"], cwd=student_copy, capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 1
    leaks = find_leaks(files, removed, common_lines(release, regions, catalogue.assignment_of))
    assert not leaks, leaks[:5]
    # and the check itself finds solution text when it is there
    assert find_leaks({"x.py": "\n".join(removed[0][0].solution)}, removed[:1])


def test_unrelated_tests_pass_and_those_that_need_a_cut_region_are_skipped(student_copy):
    proc = run_in_copy(student_copy, "import pytest; sys.exit(pytest.main(sys.argv[1:]))",
                       "tests/test_optim.py", "tests/test_autograd.py", "-q", "-p", "no:cacheprovider", "-rs")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "needs your solution to assignment adam" in proc.stdout
    graded = run_in_copy(student_copy, "import pytest; sys.exit(pytest.main(sys.argv[1:]))",
                         "tests/assignments/test_adam.py", "-q", "-p", "no:cacheprovider")
    assert graded.returncode != 0 and "NotImplementedError" in graded.stdout      # the graded tests fail


def test_grade_the_copy_then_the_solutions(student_copy, tmp_path):
    results = tmp_path / "results.json"
    first = grade(submission=student_copy, results=results)
    on_disk = json.loads(results.read_text())
    assert on_disk == first and {"score", "execution_time", "output", "tests"} <= set(on_disk)
    by_assignment = {}
    for test in first["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "output", "visibility", "status"}
        assert test["visibility"] == "visible"
        have, most = by_assignment.get(test["tags"][0], (0, 0))
        by_assignment[test["tags"][0]] = (have + test["score"], most + test["max_score"])
    for assignment in catalogue.ASSIGNMENTS:
        have, most = by_assignment[assignment.id]
        assert most == assignment.points
        assert have == (0 if assignment.id in CUT else most), (assignment.id, have, most)
    failed = [t for t in first["tests"] if t["tags"][0] == "conv2d"]
    assert all("conv2d: " in t["output"] for t in failed)        # the stub's message reaches the student

    # the command, run inside the copy, grades the copy's code although the release is installed here
    command = pathlib.Path(sys.executable).with_name("tinygrad-edu")
    cli = subprocess.run([str(command), "grade", "--assignment", "adam"],
                         cwd=student_copy, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0 and re.search(r"^adam +0 / 10$", cli.stdout, re.M), cli.stdout[-2000:] + cli.stderr
    assert "no answer key" not in cli.stderr             # the installed release is the answer key

    fill_in_solutions(student_copy)
    second = grade(submission=student_copy, assignments=CUT)
    assert second["score"] == sum(catalogue.get(a).points for a in CUT)
    assert all(t["status"] == "passed" for t in second["tests"])


def test_lesson4_runs_in_the_copy_once_the_conv_exercise_is_filled_in(tmp_path):
    copy = tmp_path / "conv"
    make_student_copy(["conv2d"], copy, git=False)
    lesson = "import runpy; sys.argv = ['04_cnn_digits.py', '--quick', '--out', 'out']; " \
             "sys.path.insert(0, 'lessons'); runpy.run_path('lessons/04_cnn_digits.py', run_name='__main__')"
    stopped = run_in_copy(copy, lesson)
    assert stopped.returncode != 0 and "NotImplementedError: conv2d: " in stopped.stderr
    fill_in_solutions(copy)
    finished = run_in_copy(copy, lesson)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert "reloaded test accuracy" in finished.stdout


# ---- Gradescope and GitHub Classroom ---------------------------------------------------------------------
def test_gradescope_autograder_zip_grades_with_its_own_answer_key(tmp_path, student_copy):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_extra_adam.py").write_text(HIDDEN_TEST)
    zip_path = tmp_path / "autograder.zip"
    members = gradescope_autograder(["adam"], zip_path, hidden_tests=hidden, timeout=120)
    assert {"setup.sh", "run_autograder", "requirements.txt", "hidden/test_extra_adam.py",
            "release/tinygrad_edu/optim/adam.py", "release/tests/assignments/test_adam.py"} <= set(members)
    with zipfile.ZipFile(zip_path) as archive:
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        run_autograder = archive.read("run_autograder").decode()
        archive.extractall(tmp_path / "source")
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "/autograder/results/results.json" in run_autograder and "--assignment adam" in run_autograder
    assert "--user student" in run_autograder and "--hidden-tests /autograder/source/hidden" in run_autograder
    assert "numpy" in (tmp_path / "source/requirements.txt").read_text()
    # what run_autograder runs, pointed at the unpacked zip: the answer key is the zip's own release
    results = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "source/release"))
    subprocess.run([sys.executable, "-m", "tinygrad_edu.classroom", "grade", "--source",
                    str(tmp_path / "source/release"), "--submission", str(student_copy), "--assignment", "adam",
                    "--hidden-tests", str(tmp_path / "source/hidden"), "--results", str(results)],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=600)
    result = json.loads(results.read_text())
    hidden_tests = [t for t in result["tests"] if t["tags"][0].startswith("hidden")]
    assert hidden_tests and all(t["visibility"] == "after_published" for t in hidden_tests)
    assert result["score"] == sum(t["score"] for t in result["tests"])


HIDDEN_TEST = '''
import numpy as np
import pytest

import tinygrad_edu as tg
from grading import assert_close

pytestmark = pytest.mark.assignment("adam")


@pytest.mark.points(2)
def test_one_adam_step_moves_each_weight_by_about_lr():
    p = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    p.grad = tg.tensor(np.array([0.5, -0.1, 4.0]))
    tg.optim.Adam([p], lr=0.1).step()
    assert_close(p.array, np.array([0.9, -1.9, 2.9]), "weights after one step", rtol=1e-6)
'''


def test_github_classroom_files(tmp_path):
    workflow, legacy = github_classroom(["conv2d", "adam"], tmp_path)
    tests = json.loads(pathlib.Path(legacy).read_text())["tests"]
    assert sum(t["points"] for t in tests) == 25
    assert all(t["run"].startswith("python -m pytest") and "tests/assignments/test_" in t["run"] for t in tests)
    text = pathlib.Path(workflow).read_text()
    assert text.count("uses: classroom-resources/autograding-command-grader@v1") == len(tests)
    assert "classroom-resources/autograding-grading-reporter@v1" in text
    assert f"runners: {','.join(f'test-{i}' for i in range(1, len(tests) + 1))}" in text


def test_a_student_grading_their_own_copy_gets_the_tests_verdicts(tmp_path):
    """With the student copy's own tests as the only ones (a student's environment), there is no answer key."""
    copy = tmp_path / "own"
    make_student_copy(["adam"], copy, git=False)
    result = grade(submission=copy, source=copy, assignments=["adam", "unbroadcast"])
    scores = {t["tags"][0]: 0 for t in result["tests"]}
    for t in result["tests"]:
        scores[t["tags"][0]] += t["score"]
        assert "GRADER PROBLEM" not in t["output"]
    assert scores == {"adam": 0, "unbroadcast": 10}


def test_a_folder_of_uploaded_files_is_laid_over_a_fresh_copy(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "adam.py").write_text((ROOT / "tinygrad_edu/optim/adam.py").read_text())   # solved, uploaded alone
    result = grade(submission=upload, assignments=["adam"])
    assert result["score"] == catalogue.get("adam").points


# ---- submissions that try to hang, crash or fool the grader -------------------------------------------
ATTACKS = {
    "hangs": "while True:\n    pass",
    "exits the process": "import os\nos._exit(0)",
    "crashes the interpreter": "import ctypes\nctypes.string_at(0)",
    "floods the output": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
    "raises": "raise RuntimeError('boom')",
    "forges passing reports": (
        "import json, sys\n"
        "report = sys.argv[sys.argv.index('--report') + 1]\n"
        "names = ['test_matrix_times_matrix', 'test_batched_and_broadcast_batch_dims', 'test_vector_operands',\n"
        "         'test_gradient_values_by_formula', 'test_only_the_inputs_that_need_it_get_a_gradient']\n"
        "with open(report, 'a') as f:\n"
        "    for n in names:\n"
        "        f.write(json.dumps({'event': 'test', 'nodeid': 'test_matmul_backward.py::' + n,\n"
        "                            'outcome': 'passed', 'message': '', 'observations': {}}) + chr(10))\n"
        "import os\nos._exit(0)"),
    "patches the checks": (
        "import numpy, sys\n"
        "numpy.allclose = numpy.isclose = lambda *a, **k: True\n"
        "import tinygrad_edu\ntinygrad_edu.gradcheck = lambda *a, **k: True\n"
        "for m in list(sys.modules.values()):\n"
        "    if getattr(m, '__name__', '') == 'grading':\n"
        "        m.assert_close = lambda *a, **k: None\n"
        "        m.check_gradients = lambda *a, **k: None\n"
        "return tuple(self.xp.zeros_like(x) for x in self.saved)"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_submission_cannot_hang_crash_or_fool_the_grader(attack, tmp_path):
    copy = tmp_path / "student"
    make_student_copy(["matmul-backward"], copy, git=False)
    path = copy / "tinygrad_edu/ops/matmul.py"
    text = path.read_text()
    ((_, first, last),) = student_regions(text)
    lines = text.splitlines()
    indent = lines[first - 1][:len(lines[first - 1]) - len(lines[first - 1].lstrip())]
    lines[first:last - 1] = [indent + line for line in ATTACKS[attack].splitlines()]
    path.write_text("\n".join(lines) + "\n")
    # it also rewrites its own copy of the graded tests and adds a conftest that passes everything
    (copy / "tests/assignments/test_matmul_backward.py").write_text("def test_nothing():\n    pass\n")
    (copy / "tests/assignments/conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n    return True\n")
    (copy / "conftest.py").write_text("import os\nos._exit(0)\n")
    results = tmp_path / "results.json"
    results.write_text('{"score": 1000}')                  # a forged results file is overwritten
    result = grade(submission=copy, assignments=["matmul-backward"], results=results, timeout=10)
    assert json.loads(results.read_text()) == result
    assert result["score"] == 0, [(t["name"], t["output"][:200]) for t in result["tests"] if t["score"]]
    assert len(result["tests"]) == 5 and all(t["max_score"] > 0 for t in result["tests"])
    if attack == "hangs":
        assert "time limit of 10 s" in result["tests"][0]["output"]
    if attack == "floods the output":
        assert len(json.dumps(result)) < 200_000
