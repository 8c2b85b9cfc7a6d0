"""Running this test suite inside a student copy (`tinygrad-edu assignment make`).

There, the regions of the assigned work are stubs that raise
NotImplementedError("<assignment id>: <hint>"). A test outside tests/assignments/ that runs
into such a stub is not the student's to fix: conftest.py reports it as skipped, naming the
assignment it waits for, and the lesson tests do the same for a lesson that stops on one.
In the release there are no stubs, so none of this ever fires.
"""
import re

from tinygrad_edu.classroom.catalogue import BY_ID

_STUB = re.compile(r"\b(" + "|".join(re.escape(i) for i in BY_ID) + r"): ")


def stub_assignment(exception):
    """The assignment id whose stub raised `exception` (or something it wraps, or groups), else None."""
    seen = set()
    pending = [exception]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, NotImplementedError):
            match = _STUB.search(str(error))
            if match:
                return match.group(1)
        pending.extend(getattr(error, "exceptions", ()))
        pending.extend((error.__cause__, error.__context__))
    return None


def stub_assignment_in_output(text):
    """The assignment id of a stub that stopped a subprocess, read from its traceback, else None."""
    match = re.search(r"NotImplementedError: (?:.*?\s)?(" + "|".join(re.escape(i) for i in BY_ID) + r"): ", text)
    return match.group(1) if match else None


def module_as_in_a_student_copy(path, assignment_id):
    """The module at `path` (relative to the repository) as a student copy of `assignment_id` has it: that
    assignment's regions cut to their stubs, run as a new module object. Skips the test where the file marks no
    region of that assignment (this is a student copy already); fails where a region has no prompt, since a
    fast path without one would ask the student to write it. Call nothing compiled in the result: a copy of a
    file must not share that file's Numba cache."""
    import types

    import pytest

    from tinygrad_edu.classroom import regions
    from tinygrad_edu.classroom.source import repository_root
    source = repository_root() / path
    text, cut = regions.cut(path, source.read_text(), lambda r: r.marker_id if r.marker_id == assignment_id else None)
    if not cut:
        pytest.skip(f"{path} no longer marks {assignment_id}'s regions (a student copy)")
    for region, _ in cut:
        assert region.prompt, f"{region.function}: a region without a prompt would ask the student to write it"
    package, _, name = path[:-3].replace("/", ".").rpartition(".")
    module = types.ModuleType(f"{package}.{name}_student_copy")
    module.__package__ = package
    exec(compile(text, str(source), "exec"), module.__dict__)
    return module
