"""``tsloop --help`` lists every command, each with an example."""

from __future__ import annotations

import pytest

from tsloop.cli.main import build_parser, main


def test_when_help_is_asked_then_every_command_is_listed_with_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    commands = build_parser()._subparsers._group_actions[0].choices
    assert len(commands) == 9
    for name in commands:
        assert f"\n    tsloop {name} " in text, f"no example of `tsloop {name}` in --help"


def test_when_no_command_is_given_then_help_is_printed_and_exit_is_zero(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
