"""Packaging the grader for the platforms instructors use: Gradescope and GitHub Classroom.

Gradescope: an autograder zip with `setup.sh` (run once, as root, when the image is
built) and `run_autograder` (run per submission). The zip carries the answer key (the
release, under release/) and the data the tests read; setup.sh installs only the
dependencies, never the answer key into site-packages, and run_autograder makes
/autograder/source unreadable to the unprivileged `student` account the tests run as.

GitHub Classroom: a workflow `.github/workflows/classroom.yml` (the current form: one
command-grader step per graded test, then the reporter) and the older
`.github/classroom/autograding.json` for the same tests. Both run in the student's own
repository, so they are feedback for students; grade with `tinygrad-edu grade` or
Gradescope where the score must be trusted.
"""
import ast
import io
import json
import pathlib
import shlex
import sys
import zipfile
from importlib import metadata

from . import catalogue
from .source import repository_root, source_files

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd /autograder/source
if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q -r requirements.txt
mkdir -p /autograder/data && cp -r data/. /autograder/data/ && chmod -R a+rX /autograder/data
id -u student >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin student
chmod +x /autograder/source/run_autograder
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. The tests run as the unprivileged user `student`,
# who can read the submission but not the answer key in /autograder/source.
set -uo pipefail
chmod -R go-rwx /autograder/source
chmod -R a+rX /autograder/submission
mkdir -p /autograder/results
cd /autograder
PYTHONPATH=/autograder/source/release TINYGRAD_EDU_DATA=/autograder/data \\
    /autograder/venv/bin/python -m tinygrad_edu.classroom grade \\
    --source /autograder/source/release --submission /autograder/submission \\
    --results /autograder/results/results.json --user student {options}
"""


def gradescope_autograder(assignment_ids, out, source=None, hidden_tests=None, timeout=300):
    """Write the Gradescope autograder zip for these assignments to `out`; returns the list of its members."""
    assignments = [catalogue.get(i) for i in dict.fromkeys(assignment_ids)]
    if not assignments:
        raise ValueError("assignment autograder: name at least one assignment")
    root = repository_root(source)
    options = " ".join([f"--assignment {a.id}" for a in assignments] + [f"--timeout {timeout:g}"])
    members = {}
    for relative in source_files(root):
        members[f"release/{relative}"] = (root / relative).read_bytes()
    if hidden_tests:
        hidden = sorted(pathlib.Path(hidden_tests).glob("test_*.py"))
        if not hidden:
            raise ValueError(f"assignment autograder: --hidden-tests {hidden_tests} holds no test_*.py files")
        for path in hidden:
            members[f"hidden/{path.name}"] = path.read_bytes()
        options += " --hidden-tests /autograder/source/hidden"
    for name, data in _data_files(assignments).items():
        members[f"data/{name}"] = data
    members["data/README.txt"] = b"Data files the graded tests read (TINYGRAD_EDU_DATA points at a copy of this folder).\n"
    members["requirements.txt"] = ("\n".join(_requirements()) + "\n").encode()
    members["setup.sh"] = SETUP_SH.encode()
    members["run_autograder"] = RUN_AUTOGRADER.format(options=options).encode()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members.items()):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    out.write_bytes(buffer.getvalue())
    return sorted(members)


def _requirements():
    """tinygrad_edu's runtime dependencies and pytest (from the installed package's metadata): what grading needs."""
    needed = []
    for requirement in metadata.requires("tinygrad_edu") or []:
        name, _, marker = requirement.partition(";")
        if not marker.strip() or (requirement.startswith("pytest") and "extra" in marker):
            needed.append(name.strip())
    return needed


def _data_files(assignments):
    """{file name: bytes} of the data sets the chosen assignments train on (the digits for mlp-digits)."""
    if not any(a.id == "mlp-digits" for a in assignments):
        return {}
    from ..data.datasets import DIGITS
    from ..data.download import fetch
    (path,) = fetch([DIGITS])
    return {pathlib.Path(path).name: pathlib.Path(path).read_bytes()}


# ---- GitHub Classroom ------------------------------------------------------------------------------
def graded_tests(root, assignment):
    """[("file::test", points)] of an assignment's graded tests, read from their source (no import)."""
    return [(f"{test_file}::{name}", points) for test_file in assignment.tests
            for name, points in tests_in_file(root / test_file)]


def tests_in_file(path):
    """[(test function name, points)] of one test file, from its source: `@pytest.mark.points(n)`, else 1."""
    tree = ast.parse(pathlib.Path(path).read_text(), str(path))
    return [(node.name, _points(node)) for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]


def _points(function):
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "points" and decorator.args):
            return ast.literal_eval(decorator.args[0])
    return 1


def github_classroom(assignment_ids, out, source=None, timeout_minutes=10):
    """Write .github/workflows/classroom.yml and .github/classroom/autograding.json into `out`; returns their paths."""
    assignments = [catalogue.get(i) for i in dict.fromkeys(assignment_ids)]
    if not assignments:
        raise ValueError("assignment classroom: name at least one assignment")
    root = repository_root(source)
    tests = [(a, test, points) for a in assignments for test, points in graded_tests(root, a)]
    setup = 'python -m pip install -q -e ".[dev]"'
    steps, runners, legacy = [], [], []
    for index, (assignment, test, points) in enumerate(tests, 1):
        step_id = f"test-{index}"
        name = f"{assignment.id}: {test.split('::')[-1]}"
        command = f"python -m pytest -q -p no:cacheprovider {shlex.quote(test)}"
        runners.append(step_id)
        steps.append(f"""    - name: {json.dumps(name)}
      id: {step_id}
      uses: classroom-resources/autograding-command-grader@v1
      with:
        test-name: {json.dumps(name)}
        command: {json.dumps(command)}
        timeout: {timeout_minutes}
        max-score: {points}""")
        legacy.append({"name": name, "setup": setup if index == 1 else "", "run": command, "input": "",
                       "output": "", "comparison": "included", "timeout": timeout_minutes, "points": points})
    results_env = "\n".join(f"        {r.upper()}_RESULTS: \"${{{{steps.{r}.outputs.result}}}}\"" for r in runners)
    workflow = f"""name: Autograding Tests
'on':
- push
- repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
    - name: Checkout code
      uses: actions/checkout@v4
    - name: Set up Python
      uses: actions/setup-python@v5
      with:
        python-version: '{sys.version_info.major}.{sys.version_info.minor}'
    - name: Install
      run: {setup}
{chr(10).join(steps)}
    - name: Autograding Reporter
      uses: classroom-resources/autograding-grading-reporter@v1
      env:
{results_env}
      with:
        runners: {','.join(runners)}
"""
    out = pathlib.Path(out)
    workflow_path = out / ".github" / "workflows" / "classroom.yml"
    legacy_path = out / ".github" / "classroom" / "autograding.json"
    for path in (workflow_path, legacy_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    workflow_path.write_text(workflow)
    legacy_path.write_text(json.dumps({"tests": legacy}, indent=2) + "\n")
    return [str(workflow_path), str(legacy_path)]
