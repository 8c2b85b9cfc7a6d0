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
