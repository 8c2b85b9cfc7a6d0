"""`python -m tinygrad_edu.classroom ...` is `tinygrad-edu ...` (what the Gradescope autograder runs)."""
import sys

from ..cli import main

sys.exit(main())
