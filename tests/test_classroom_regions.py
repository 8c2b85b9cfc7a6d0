"""Solution regions and the catalogue: markers parse in all three conventions, every region of the library
belongs to an assignment, and every assignment has its regions, its graded tests and its points."""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

from tinygrad_edu.classroom import catalogue
from tinygrad_edu.classroom.regions import RegionError, cut, find_leaks, find_regions, student_regions
from tinygrad_edu.classroom.source import is_student_copy, library_regions, repository_root

pytestmark = pytest.mark.classroom
if is_student_copy(repository_root()):      # these tests make student copies from the release itself
    pytest.skip("the classroom tools are tested in the release, not in a student copy", allow_module_level=True)
ROOT = pathlib.Path(__file__).resolve().parents[1]


def source(text):
    """Test sources are written with a leading '|' on each line, so this file holds no markers itself."""
    return "\n".join(line.split("|", 1)[1] if "|" in line else line for line in text.strip("\n").splitlines()) + "\n"


OURS = source("""
|def f(x):
|    y = x + 1
|    # BEGIN SOLUTION conv2d  use the adjoint
|    z = y * 2 + x * x
|    return z
|    # END SOLUTION
""")


def test_our_markers_with_id_and_hint():
    (region,) = find_regions("a.py", OURS)
    assert (region.marker_id, region.hint, region.function, region.begin, region.end) == \
        ("conv2d", "use the adjoint", "f", 3, 6)
    assert region.solution == ["    z = y * 2 + x * x", "    return z"]
    text, removed = cut("a.py", OURS, lambda r: "conv2d")
    assert "z = y * 2 + x * x" not in text and "y = x + 1" in text
    assert "    raise NotImplementedError('conv2d: use the adjoint')" in text.splitlines()
    assert student_regions(text) == [("conv2d", 3, 5)]
    compile(text, "a.py", "exec")


def test_nbgrader_and_cs231n_markers_are_named_by_their_function():
    text = source("""
    |class Value:
    |    def mul(self):
    |        def _backward():
    |            ### BEGIN SOLUTION
    |            self.grad += 1
    |            ### END SOLUTION
    |        return _backward
    |
    |    def step(self):
    |        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    |        self.p -= 1
    |        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    """)
    first, second = find_regions("v.py", text)
    assert (first.convention, first.key, first.marker_id) == ("nbgrader", "v.py::Value.mul._backward", None)
    assert (second.convention, second.key) == ("cs231n", "v.py::Value.step")
    new, removed = cut("v.py", text, lambda r: "scalar-autograd")
    assert len(removed) == 2 and "self.p -= 1" not in new and "self.grad += 1" not in new
    compile(new, "v.py", "exec")


def test_a_prompt_block_is_the_stub():
    text = source("""
    |def g(a):
    |    # BEGIN SOLUTION adam
    |    # BEGIN PROMPT
    |    # m = ...   # the first moment
    |    # return m
    |    # END PROMPT
    |    m = a * 0.9
    |    return m
    |    # END SOLUTION
    """)
    (region,) = find_regions("g.py", text)
    assert region.prompt == ["    m = ...   # the first moment", "    return m"]
    assert region.solution == ["    m = a * 0.9", "    return m"]
    new, _ = cut("g.py", text, lambda r: "adam")
    assert "    m = ...   # the first moment" in new.splitlines() and "a * 0.9" not in new
    assert "NotImplementedError" not in new


@pytest.mark.parametrize("text, message", [
    ("|def f():\n|    # BEGIN SOLUTION x\n|    pass\n", "never closed"),
    ("|def f():\n|    pass\n|    # END SOLUTION\n", "outside any solution region"),
    ("|def f():\n|    # BEGIN SOLUTION x\n|    # BEGIN SOLUTION y\n|    # END SOLUTION\n", "opens inside"),
    ("|def f():\n|    # BEGIN SOLUTION x\n|    # BEGIN PROMPT\n|    # END SOLUTION\n", "prompt block"),
])
def test_unpaired_markers_are_errors_with_the_line(text, message):
    with pytest.raises(RegionError, match=message) as error:
        find_regions("bad.py", source(text))
    assert "bad.py:" in str(error.value)


def test_leaks_are_found_by_distinctive_line_and_by_pasted_block():
    (region,) = find_regions("a.py", OURS)
    removed = [(region, "conv2d")]
    assert find_leaks({"a.py": "z = y * 2 + x * x  # copied\n"}, removed)                       # a distinctive line
    assert not find_leaks({"b.py": "z = y * 2 + x * x\n"}, removed, common={"z = y * 2 + x * x"})        # shared code is not a leak
    assert not find_leaks({"b.py": "w = 3\n"}, removed)


# ---- the library's own regions and the catalogue ---------------------------------------------------
@pytest.fixture(scope="module")
def regions():
    return library_regions(repository_root())


def test_the_catalogue_makes_a_course(regions):
    ids = [a.id for a in catalogue.ASSIGNMENTS]
    assert len(ids) >= 12 and len(set(ids)) == len(ids)
    for required in ("scalar-autograd", "topo-sort", "unbroadcast", "matmul-backward", "softmax-cross-entropy",
                     "mlp-digits", "conv2d", "max-pool-backward", "batchnorm-backward", "lstm-cell",
                     "attention-backward", "adam", "gpu-reduce", "gpu-matmul"):
        assert required in ids
    conventions = {r.convention for r in regions}
    assert conventions == {"ours", "nbgrader", "cs231n"}, "the library shows all three marker conventions"


def test_every_region_belongs_to_an_assignment_and_every_assignment_has_regions(regions):
    for region in regions:
        owner = catalogue.assignment_of(region)
        assert owner in catalogue.BY_ID, f"{region.path}:{region.begin} ({region.function}) is in no assignment"
    for assignment in catalogue.ASSIGNMENTS:
        mine = catalogue.regions_of(assignment, regions)
        assert [r for r in mine if not r.path.startswith("tests/")], f"{assignment.id} cuts no library code"
        for spec in assignment.regions:
            assert any(r.key == spec or r.path == spec for r in mine), f"{assignment.id}: {spec} matches no region"


def test_every_region_is_inside_a_function_so_the_student_copy_imports(regions):
    for region in regions:
        assert region.function, f"{region.path}:{region.begin}: a region at module level would break imports"


@pytest.mark.parametrize("assignment", catalogue.ASSIGNMENTS, ids=lambda a: a.id)
def test_graded_tests_exist_and_their_points_add_up(assignment):
    points = 0
    for test_file in assignment.tests:
        tree = ast.parse((ROOT / test_file).read_text())
        marks = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and getattr(node.func, "attr", None) == "assignment"]
        assert any(ast.literal_eval(m.args[0]) == assignment.id for m in marks), f"{test_file}: no assignment mark"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                declared = [d for d in node.decorator_list if getattr(getattr(d, "func", None), "attr", "") == "points"]
                assert len(declared) == 1, f"{test_file}::{node.name} declares no points"
                points += ast.literal_eval(declared[0].args[0])
    assert points == assignment.points, f"{assignment.id}: tests give {points} points, the catalogue {assignment.points}"
    assert assignment.statement.count(".") >= 2 and assignment.minutes > 0


def test_cli_list_and_show():
    listed = subprocess.run([sys.executable, "-m", "tinygrad_edu.classroom", "assignment", "list"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for assignment in catalogue.ASSIGNMENTS:
        assert any(line.split()[:2] == [assignment.id, str(assignment.points)] for line in listed)
    shown = subprocess.run([sys.executable, "-m", "tinygrad_edu.classroom", "assignment", "show", "conv2d"],
                           capture_output=True, text=True, check=True).stdout
    assert "tinygrad_edu/ops/conv.py" in shown and "test_conv2d.py::" in shown and "15 points" in shown
    unknown = subprocess.run([sys.executable, "-m", "tinygrad_edu.classroom", "assignment", "show", "nope"],
                             capture_output=True, text=True)
    assert unknown.returncode == 2 and "no assignment 'nope'" in unknown.stderr and "conv2d" in unknown.stderr


def test_grade_leaves_a_valid_results_file_even_when_it_cannot_run(tmp_path):
    results = tmp_path / "results.json"
    results.write_text('{"score": 999}')            # stale, or forged: it must not survive
    proc = subprocess.run([sys.executable, "-m", "tinygrad_edu.classroom", "grade", "--submission",
                           str(tmp_path / "missing"), "--results", str(results)], capture_output=True, text=True)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    written = json.loads(results.read_text())
    assert written["score"] == 0 and written["tests"] == [] and "could not run" in written["output"]
