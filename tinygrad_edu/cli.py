"""`tinygrad-edu`, the command-line tool.

    tinygrad-edu assignment list|show|make|autograder|classroom ...   classroom assignments (classroom/cli.py)
    tinygrad-edu grade ...                                            grade a submission
    tinygrad-edu torch script.py [args]                               run a PyTorch script on tinygrad_edu
"""
import argparse
import sys

from .classroom.cli import add_commands


def _torch(args):
    from .torch_compat import run
    run(args.script, args.args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tinygrad-edu", description="tinygrad_edu's command-line tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(commands)
    torch = commands.add_parser("torch", help="run a PyTorch script unchanged, with torch bound to tinygrad_edu")
    torch.add_argument("script")
    torch.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    torch.set_defaults(run=_torch)
    args = parser.parse_args(argv)
    if args.command == "torch":
        args.run(args)          # the script's own errors are its own: let them show as Python shows them
        return 0
    try:
        args.run(args)
    except (KeyError, ValueError, RuntimeError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"tinygrad-edu: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
