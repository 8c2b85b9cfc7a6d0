"""`tinygrad-edu`, the command-line tool: classroom assignments and grading (classroom/cli.py)."""
from .classroom.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
