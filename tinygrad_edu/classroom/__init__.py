"""Classroom assignments cut from the library's own source, and a grader for them.

    regions.py    the solution markers in the source, and cutting them out
    catalogue.py  the assignments: id, title, points, regions, graded tests, statement
    make.py       the student repository (`tinygrad-edu assignment make`)
    runner.py     the child process that runs graded tests against one source tree
    grader.py     the grader: isolation, time limits, scoring, Gradescope's results file
    platforms.py  the Gradescope autograder zip and GitHub Classroom's workflow
    cli.py        `tinygrad-edu assignment ...` and `tinygrad-edu grade`

The instructor's guide is docs/teaching.md.
"""
from .catalogue import ASSIGNMENTS, Assignment
from .grader import grade
from .make import make_student_copy

__all__ = ["ASSIGNMENTS", "Assignment", "grade", "make_student_copy"]
