"""The classroom commands of `tinygrad-edu`: `assignment list|show|make|autograder|classroom` and `grade`."""
import textwrap

from . import catalogue


def add_commands(commands):
    """Register `assignment` and `grade` on the top-level `tinygrad-edu` subparsers."""
    assignment = commands.add_parser("assignment", help="list, show, make and package classroom assignments")
    actions = assignment.add_subparsers(dest="action", required=True, metavar="ACTION")

    actions.add_parser("list", help="the catalogue, one line each").set_defaults(run=_list)

    show = actions.add_parser("show", help="an assignment's statement, regions, tests and points")
    show.add_argument("id")
    show.add_argument("--source", help="the release's repository (default: where tinygrad_edu is installed from)")
    show.set_defaults(run=_show)

    make = actions.add_parser("make", help="a student repository with these assignments' regions replaced by stubs")
    make.add_argument("ids", nargs="+", metavar="ID")
    make.add_argument("--out", required=True, help="a new (or empty) folder")
    make.add_argument("--source", help="the release's repository (default: where tinygrad_edu is installed from)")
    make.add_argument("--no-git", action="store_true", help="do not make the copy a git repository")
    make.set_defaults(run=_make)

    zip_ = actions.add_parser("autograder", help="the Gradescope autograder zip for these assignments")
    zip_.add_argument("ids", nargs="+", metavar="ID")
    zip_.add_argument("--out", required=True, help="the zip file to write")
    zip_.add_argument("--source", help="the release's repository")
    zip_.add_argument("--hidden-tests", help="a folder of the instructor's hidden test_*.py files to include")
    zip_.add_argument("--timeout", type=float, default=300, help="seconds per test group (default 300)")
    zip_.set_defaults(run=_autograder)

    classroom = actions.add_parser("classroom", help="GitHub Classroom autograding files for these assignments")
    classroom.add_argument("ids", nargs="+", metavar="ID")
    classroom.add_argument("--out", required=True, help="the student repository to write .github/ into")
    classroom.add_argument("--source", help="the release's repository")
    classroom.set_defaults(run=_classroom)

    grade = commands.add_parser("grade", help="run the graded tests on a submission and score them")
    grade.add_argument("--assignment", action="append", metavar="ID",
                       help="grade this assignment (repeatable; default: every assignment in the catalogue)")
    grade.add_argument("--submission", help="the student repository or folder of submitted files "
                                            "(default: the repository around the current folder)")
    grade.add_argument("--source", help="the answer key: the release's repository (default: where tinygrad_edu "
                                        "is installed from)")
    grade.add_argument("--hidden-tests", help="a folder of hidden test_*.py files kept by the instructor")
    grade.add_argument("--hidden-visibility", default="after_published",
                       choices=["hidden", "after_due_date", "after_published", "visible"])
    grade.add_argument("--results", help="write Gradescope's results.json here")
    grade.add_argument("--timeout", type=float, default=300, help="seconds per test group (default 300)")
    grade.add_argument("--user", help="run the tests as this unprivileged user (when the grader runs as root)")
    grade.add_argument("--jobs", type=int, help="test groups run at once (default: the number of CPUs)")
    grade.add_argument("--verbose", action="store_true", help="print every test, not only the failures")
    grade.set_defaults(run=_grade)


def _list(args):
    width = max(len(a.id) for a in catalogue.ASSIGNMENTS)
    for a in catalogue.ASSIGNMENTS:
        print(f"{a.id:<{width}}  {a.points:>3} pts  {a.title}")
    total = sum(a.points for a in catalogue.ASSIGNMENTS)
    print(f"{len(catalogue.ASSIGNMENTS)} assignments, {total} points; `tinygrad-edu assignment show ID` for one")


def _show(args):
    from .platforms import graded_tests
    from .source import library_regions, repository_root
    a = catalogue.get(args.id)
    root = repository_root(args.source)
    print(f"{a.id}: {a.title}\n{a.points} points, about {a.minutes} minutes\n")
    print(textwrap.fill(a.statement, 100) + "\n")
    regions = catalogue.regions_of(a, library_regions(root))
    print("Regions the student writes:")
    for region in [r for r in regions if not r.path.startswith("tests/")]:
        print(f"  {region.path}:{region.begin}-{region.end}  {region.function}  ({len(region.solution)} lines)")
    references = [r for r in regions if r.path.startswith("tests/")]
    if references:
        print("Also cut from the student copy (reference implementations in tests that would give it away):")
        for region in references:
            print(f"  {region.path}:{region.begin}-{region.end}  {region.function}")
    print("Graded tests:")
    for test, points in graded_tests(root, a):
        print(f"  {points:>2} pts  {test}")


def _make(args):
    from .make import make_student_copy
    made = make_student_copy(args.ids, args.out, source=args.source, git=not args.no_git)
    print(f"student copy in {made['out']}: {made['files']} files, {len(made['regions'])} regions replaced by stubs")
    for key, assignment, path, line in made["regions"]:
        print(f"  {assignment:<22} {path}:{line}  {key.split('::')[-1]}")


def _autograder(args):
    from .platforms import gradescope_autograder
    members = gradescope_autograder(args.ids, args.out, source=args.source, hidden_tests=args.hidden_tests,
                                    timeout=args.timeout)
    print(f"wrote {args.out} ({len(members)} files): upload it as the assignment's autograder on Gradescope")


def _classroom(args):
    from .platforms import github_classroom
    for path in github_classroom(args.ids, args.out, source=args.source):
        print(f"wrote {path}")


def _grade(args):
    from .grader import grade, score_table, write_failure
    try:
        result = grade(submission=args.submission, assignments=args.assignment, source=args.source,
                       hidden_tests=args.hidden_tests, results=args.results, timeout=args.timeout, user=args.user,
                       jobs=args.jobs, hidden_visibility=args.hidden_visibility,
                       echo=lambda *a, **k: print(*a, **k))
    except Exception as error:
        if args.results:           # never leave a missing (or a stale, forged) results file behind
            write_failure(args.results, error)
        raise
    for test in result["tests"]:
        if args.verbose or test["status"] != "passed":
            mark = "ok  " if test["status"] == "passed" else "FAIL"
            print(f"{mark} {test['score']:g}/{test['max_score']:g}  {test['name']}")
            if test["status"] != "passed" and test["output"]:
                print(textwrap.indent(test["output"].strip()[-1500:], "       "))
    print()
    print(score_table(result["tests"]))
    print(f"({result['execution_time']:.1f} s)" + (f"; results written to {args.results}" if args.results else ""))
