"""The grader's child process: run graded tests against one source tree, and report each test.

    python -I -B runner.py --source ROOT --tests DIR --report FILE [test files...]

The grader (grader.py) starts one of these per group of tests, with a time limit, and
reads FILE after it has ended. It is a plain script, not part of the package, because it
must decide which tinygrad_edu gets imported before any is:

* `python -I` ignores PYTHONPATH, the user's site-packages and the current folder;
* SourceTreeFinder makes `import tinygrad_edu` load ROOT/tinygrad_edu and
  `tinygrad_edu.kernels` load ROOT/kernels (as pyproject.toml installs them), so a student
  copy is graded on its own code even where the released library is installed;
* the instructor's `grading.py` (in DIR) is imported first, so it holds the real numpy;
* pytest runs with no conftest.py, no plugins from entry points and no cache, from DIR
  (the instructor's tests), so nothing in ROOT can change how tests are collected or run.

FILE gets one JSON line per event: the tests collected (with their points), then one line
per finished test, with its outcome, message, duration and the values it observed. A
test that never finishes (a crash, a hang) has no line; the grader scores it zero.
"""
import argparse
import importlib.machinery
import json
import os
import sys
import time


class SourceTreeFinder:
    """Find `tinygrad_edu` and `tinygrad_edu.kernels` in one source tree, before any installed copy."""

    def __init__(self, root):
        self.locations = {"tinygrad_edu": root, "tinygrad_edu.kernels": root}

    def find_spec(self, name, path=None, target=None):
        folder = self.locations.get(name)
        if folder is None:
            return None
        return importlib.machinery.PathFinder.find_spec(name, [folder])


class Recorder:
    """A pytest plugin that writes each test's result to the report, one JSON line each, as soon as it ends."""

    def __init__(self, report, grading):
        self.report, self.grading = report, grading
        self.results = {}

    def _write(self, record):
        self.report.write(json.dumps(record) + "\n")
        self.report.flush()

    def pytest_collection_modifyitems(self, session, config, items):
        tests = []
        for item in items:
            marker = item.get_closest_marker("points")
            tests.append({"nodeid": item.nodeid, "points": marker.args[0] if marker else 1})
        self._write({"event": "collected", "tests": tests})

    def pytest_runtest_logstart(self, nodeid, location):
        self.grading.take_observations()          # nothing left over from an earlier test
        self.results[nodeid] = {"outcome": "passed", "message": "", "duration": 0.0, "start": time.time()}

    def pytest_runtest_logreport(self, report):
        result = self.results[report.nodeid]
        result["duration"] += report.duration
        if report.failed or (report.skipped and result["outcome"] == "passed"):
            result["outcome"] = "failed" if report.failed else "skipped"
            result["message"] = _short(report.longreprtext)

    def pytest_runtest_logfinish(self, nodeid, location):
        result = self.results.pop(nodeid)
        observations = {name: {"value": o["value"].tolist(), "shape": list(o["value"].shape), "rtol": o["rtol"],
                               "atol": o["atol"], "at_least": o["at_least"]}
                        for name, o in self.grading.take_observations().items()}
        self._write({"event": "test", "nodeid": nodeid, "outcome": result["outcome"], "message": result["message"],
                     "duration": result["duration"], "observations": observations})


def _short(text, limit=4000):
    return text if len(text) <= limit else text[:limit // 4] + "\n...\n" + text[-3 * limit // 4:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the repository whose tinygrad_edu is graded")
    parser.add_argument("--tests", required=True, help="the folder of graded tests (the instructor's copy)")
    parser.add_argument("--report", required=True, help="where to write the JSON lines")
    parser.add_argument("files", nargs="*", help="test files in --tests (default: all)")
    args = parser.parse_args(argv)

    source, tests = os.path.abspath(args.source), os.path.abspath(args.tests)
    for name in [n for n in sys.modules if n == "tinygrad_edu" or n.startswith("tinygrad_edu.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, SourceTreeFinder(source))
    sys.path.insert(0, tests)
    os.environ["TINYGRAD_EDU_SUBMISSION"] = source
    import grading          # the instructor's checks, before anything of the submission is imported

    import pytest
    with open(args.report, "a", encoding="utf-8") as report:
        recorder = Recorder(report, grading)
        targets = [os.path.join(tests, f) for f in args.files] or [tests]
        # -s: no output capture, so whatever the submission prints goes straight to the grader's bounded reader
        # (pytest would otherwise collect it in a temporary file without limit)
        code = pytest.main(["-q", "-s", "--tb=short", "-p", "no:cacheprovider", "--noconftest", "--rootdir", tests,
                            "-c", os.path.join(tests, "pytest.ini"), *targets], plugins=[recorder])
        report.write(json.dumps({"event": "finished", "exit_code": int(code)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
