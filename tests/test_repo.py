"""The repository's promises about itself: CI runs exactly the README's test command."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_commands():
    lines = ROOT.joinpath("README.md").read_text().splitlines()
    return [line.strip() for line in lines[:20] if line.startswith("    python3 -m venv")]


def test_readme_opens_with_the_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2, commands
    assert "lessons/" in commands[0] and commands[1].endswith("python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [line.strip() for line in ROOT.joinpath(".ci", "run").read_text().splitlines()]
    assert _setup_commands()[1] in ci_lines
