"""`python -m tinygrad_edu.torch_compat script.py [args]`: run a PyTorch script with torch bound to tinygrad_edu."""
import sys

from . import run

if len(sys.argv) < 2:
    sys.exit("usage: python -m tinygrad_edu.torch_compat script.py [args]")
run(sys.argv[1], sys.argv[2:])
