"""cli.py: which command runs. Options may come before the command; `review` is the default."""
from __future__ import annotations

import argparse

import pytest

from aider_hooks.cli.main import COMMANDS, VALUE_OPTIONS, build_parser, command_first


@pytest.mark.parametrize(("given", "expected"), [
    ([], ["review"]),
    (["--range", "main...HEAD"], ["review", "--range", "main...HEAD"]),
    (["a.py", "fix"], ["review", "a.py", "fix"]),  # PATHs: "fix" here is a file name
    (["-v", "fix"], ["fix", "-v"]),
    (["--no-cache", "explain", "a.py"], ["explain", "--no-cache", "a.py"]),
    (["--format", "json", "-q", "fix", "--apply"], ["fix", "--format", "json", "-q", "--apply"]),
    (["--format=json", "explain"], ["explain", "--format=json"]),
    (["--model", "fix"], ["review", "--model", "fix"]),  # a model named "fix", oddly
    (["--", "fix"], ["review", "--", "fix"]),
    (["cache", "stats"], ["cache", "stats"]),
    (["--version"], ["--version"]),
])
def test_the_command_comes_first(given: list[str], expected: list[str]) -> None:
    assert command_first(given) == expected


def test_value_options_are_exactly_the_options_that_take_a_value() -> None:
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    for name in ("review", "explain", "fix"):
        parser = subparsers.choices[name]
        taking = {option for action in parser._actions if action.option_strings
                  and action.nargs != 0 for option in action.option_strings}
        assert taking == VALUE_OPTIONS, name
    assert set(subparsers.choices) == set(COMMANDS)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["review", "explain", "fix", "commit-msg", "cache",
                                     "github", "baseline"])
def test_the_parser_of_one_command_is_that_command_of_the_whole_parser(command: str) -> None:
    from aider_hooks.tasks import REGISTRY

    whole, one = build_parser(), build_parser(only=command)
    assert list(_subcommands(whole)) == list(COMMANDS)
    assert _subcommands(one)[command].format_help() == _subcommands(whole)[command].format_help()
    if command in REGISTRY:
        # A task's run (a review, on every commit) builds that task's parser alone: its help,
        # errors and parsing are its own, and no other command can be chosen after it.
        assert list(_subcommands(one)) == [command]
    else:
        assert list(_subcommands(one)) == list(COMMANDS)
        assert one.format_help() == whole.format_help()


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from aider_hooks.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(["--format", "xml"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'xml'" in err
