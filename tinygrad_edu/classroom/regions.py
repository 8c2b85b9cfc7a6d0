"""Solution regions: the code a student writes, marked in the library's own source.

The released library is the answer key. A region is a run of lines between a pair
of marker comments; the student copy replaces it with a stub. Three conventions are
understood, so instructors can bring code they already have:

    | # BEGIN SOLUTION conv2d  dx is col2im of W^T dy     ours: assignment id, then an optional hint
    | ...solution...
    | # END SOLUTION

    | ### BEGIN SOLUTION                                     nbgrader
    | ...
    | ### END SOLUTION

    | # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****      CS231n
    | ...
    | # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

nbgrader's and CS231n's markers carry no id; the catalogue names such a region by
its file and the function it sits in (`lessons/01_scalar_autograd.py::Value.backward`).

Inside a region an optional prompt block, written as comments, is the stub the
student sees instead of the default `raise NotImplementedError("<id>: <hint>")`:

    | # BEGIN PROMPT
    | # dx = ...        # becomes the line `dx = ...` in the student copy
    | # END PROMPT

In the student copy every region becomes

    | # BEGIN YOUR CODE (conv2d)
    |     <the stub>
    | # END YOUR CODE (conv2d)

so that a student sees where to write, and tools can find the region again.
(The examples above carry a leading '|' so that this file is not read as marked.)
"""
import dataclasses
import re

_IDENT = r"[a-z0-9][a-z0-9_-]*"
BEGIN = [  # (convention, pattern of the opening line)
    ("nbgrader", re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")),
    ("cs231n", re.compile(r"^(?P<indent>[ \t]*)# \*+ ?START OF YOUR CODE\b.*\*+[ \t]*$")),
    ("ours", re.compile(rf"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:[ \t]+(?P<id>{_IDENT}))?(?:[ \t]+(?P<hint>\S.*?))?[ \t]*$")),
]
END = {
    "nbgrader": re.compile(r"^[ \t]*### END SOLUTION[ \t]*$"),
    "cs231n": re.compile(r"^[ \t]*# \*+ ?END OF YOUR CODE\b.*\*+[ \t]*$"),
    "ours": re.compile(r"^[ \t]*# END SOLUTION[ \t]*$"),
}
PROMPT_BEGIN = re.compile(r"^[ \t]*# BEGIN PROMPT[ \t]*$")
PROMPT_END = re.compile(r"^[ \t]*# END PROMPT[ \t]*$")
STUDENT_BEGIN = re.compile(rf"^(?P<indent>[ \t]*)# BEGIN YOUR CODE \((?P<id>{_IDENT})\)[ \t]*$")
STUDENT_END = re.compile(rf"^[ \t]*# END YOUR CODE \((?P<id>{_IDENT})\)[ \t]*$")
_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")


class RegionError(ValueError):
    """Markers that do not pair up, or a region that cannot be cut."""


@dataclasses.dataclass
class Region:
    """One marked region of one file. Line numbers count from 1; `begin`/`end` are the marker lines."""
    path: str
    begin: int
    end: int
    convention: str
    indent: str
    marker_id: str | None     # the assignment id written on an "ours" marker, else None
    hint: str | None
    function: str             # the qualified name of the def/class the region sits in ("" at module level)
    prompt: list              # the stub lines shown to students, uncommented (empty: the default stub)
    solution: list            # the lines the student writes (the region minus markers and prompt)

    @property
    def key(self):
        """How the catalogue names this region: `path::Function.name`."""
        return f"{self.path}::{self.function}"

    def stub(self, assignment_id):
        """The lines that replace the region in the student copy, markers included."""
        body = self.prompt or [
            f"{self.indent}raise NotImplementedError({_stub_message(assignment_id, self):s})"]
        return ([f"{self.indent}# BEGIN YOUR CODE ({assignment_id})"] + body +
                [f"{self.indent}# END YOUR CODE ({assignment_id})"])


def _stub_message(assignment_id, region):
    hint = region.hint or f"write this part of {region.function or region.path}"
    return repr(f"{assignment_id}: {hint}")


def find_regions(path, text):
    """Every solution region of one file's text, in order; RegionError for unpaired or nested markers."""
    lines = text.splitlines()
    regions, open_region = [], None
    for number, line in enumerate(lines, 1):
        if open_region is None:
            for convention, pattern in BEGIN:
                match = pattern.match(line)
                if match:
                    open_region = (number, convention, match)
                    break
            else:
                if any(END[c].match(line) for c in END) or PROMPT_BEGIN.match(line) or PROMPT_END.match(line):
                    raise RegionError(f"{path}:{number}: a closing or prompt marker outside any solution region")
            continue
        begin, convention, match = open_region
        if END[convention].match(line):
            regions.append(_make_region(path, lines, begin, number, convention, match))
            open_region = None
        elif any(p.match(line) for _, p in BEGIN):
            raise RegionError(f"{path}:{number}: a solution region opens inside the one opened at line {begin}")
    if open_region is not None:
        raise RegionError(f"{path}:{open_region[0]}: solution region is never closed "
                          f"(expected its END marker, {open_region[1]} convention)")
    return regions


def _make_region(path, lines, begin, end, convention, match):
    indent = match.group("indent")
    inside = lines[begin:end - 1]
    prompt, solution, in_prompt = [], [], False
    for offset, line in enumerate(inside):
        if PROMPT_BEGIN.match(line):
            in_prompt = True
        elif PROMPT_END.match(line):
            in_prompt = False
        elif in_prompt:
            prompt.append(_uncomment(path, begin + 1 + offset, line))
        else:
            solution.append(line)
    if in_prompt:
        raise RegionError(f"{path}:{begin}: a prompt block in this region is never closed (# END PROMPT)")
    groups = match.groupdict()
    return Region(path, begin, end, convention, indent, groups.get("id"), groups.get("hint"),
                  _enclosing_function(lines, begin - 1, indent), prompt, solution)


def _uncomment(path, number, line):
    """'    # x = ...' -> '    x = ...' (a prompt line is a comment in the release)."""
    match = re.match(r"^([ \t]*)# ?(.*)$", line)
    if match is None:
        raise RegionError(f"{path}:{number}: prompt lines must be comments (they must not run in the release)")
    return match.group(1) + match.group(2)


def _enclosing_function(lines, index, indent):
    """Qualified name of the defs/classes around line `index` (0-based), innermost last."""
    names, width = [], len(indent)
    for line in reversed(lines[:index]):
        match = _DEF.match(line)
        if match and len(match.group("indent")) < width:
            names.append(match.group("name"))
            width = len(match.group("indent"))
            if width == 0:
                break
    return ".".join(reversed(names))


def cut(path, text, chosen):
    """`text` with every region that `chosen(region)` assigns (returns an assignment id, or None) replaced by
    its stub; regions not chosen keep their solution and lose only their markers' meaning for students
    (they stay as they are). Returns (new text, [(region, assignment id)])."""
    lines = text.splitlines()
    out, cut_regions, position = [], [], 0
    for region in find_regions(path, text):
        assignment_id = chosen(region)
        if assignment_id is None:
            continue
        out.extend(lines[position:region.begin - 1])
        out.extend(region.stub(assignment_id))
        position = region.end
        cut_regions.append((region, assignment_id))
    out.extend(lines[position:])
    new_text = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    return new_text, cut_regions


def student_regions(text):
    """[(assignment id, first line, last line)] of the `# BEGIN YOUR CODE (id)` regions of a student copy's file
    (1-based, marker lines included)."""
    found, open_region = [], None
    for number, line in enumerate(text.splitlines(), 1):
        begin = STUDENT_BEGIN.match(line)
        if begin and open_region is None:
            open_region = (begin.group("id"), number)
            continue
        end = STUDENT_END.match(line)
        if end and open_region is not None and end.group("id") == open_region[0]:
            found.append((open_region[0], open_region[1], number))
            open_region = None
    return found


def significant_lines(lines):
    """The lines of a solution worth searching for elsewhere: code (not comments or blank), normalised
    (whitespace collapsed), at least 12 characters long. Short lines such as `return x` prove nothing."""
    found = []
    for line in lines:
        code = " ".join(line.split())
        if len(code) >= 12 and not code.startswith("#"):
            found.append(code)
    return found


WINDOW = 3   # this many consecutive solution lines, found together elsewhere, are a copy of the solution


def find_leaks(files, cut_regions, common=frozenset()):
    """[(path, line number, region key, solution text)] for solution text of `cut_regions` that survives in
    `files` ({path: text}, the student copy).

    Two kinds of survival are found: a *distinctive* solution line (one that is not in `common`, the lines
    the release has outside its regions, such as `xp = self.xp`) anywhere in a line; and WINDOW
    consecutive solution lines appearing one after another (a pasted block, even of common lines)."""
    distinctive, windows = {}, {}
    for region, _ in cut_regions:
        code = significant_lines(region.solution)
        for line in code:
            if line not in common:
                distinctive.setdefault(line, region.key)
        for i in range(len(code) - WINDOW + 1):
            windows.setdefault(tuple(code[i:i + WINDOW]), region.key)
    leaks = []
    for path, text in files.items():
        code_lines = [(n, " ".join(line.split())) for n, line in enumerate(text.splitlines(), 1)]
        code_lines = [(n, c) for n, c in code_lines if len(c) >= 12 and not c.startswith("#")]
        for number, code in code_lines:
            for solution_line, key in distinctive.items():
                if solution_line in code:
                    leaks.append((path, number, key, solution_line))
        for i in range(len(code_lines) - WINDOW + 1):
            window = tuple(c for _, c in code_lines[i:i + WINDOW])
            if window in windows:
                leaks.append((path, code_lines[i][0], windows[window], " / ".join(window)))
    return leaks


def common_lines(texts, regions, owner):
    """The release's shared code: significant lines of `texts` ({path: text}) outside every region, and lines
    that regions of two or more assignments share (idioms such as `if self.needs_input_grad[0]:`).
    `owner(region)` is the assignment a region belongs to."""
    inside, owners = {}, {}
    for region in regions:
        inside.setdefault(region.path, set()).update(range(region.begin, region.end + 1))
        for line in significant_lines(region.solution):
            owners.setdefault(line, set()).add(owner(region))
    common = {line for line, who in owners.items() if len(who) > 1}
    for path, text in texts.items():
        skip = inside.get(path, ())
        common.update(c for n, line in enumerate(text.splitlines(), 1) if n not in skip
                      for c in significant_lines([line]))
    return common
