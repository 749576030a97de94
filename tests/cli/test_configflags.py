"""Training flags come from TrainConfig: every field, with its default, type and help."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from tsloop.cli.configflags import add_config_flags, config_from_args, field_help
from tsloop.cli.main import build_parser
from tsloop.train.config import TrainConfig


def train_parser() -> argparse.ArgumentParser:
    return build_parser()._subparsers._group_actions[0].choices["train"]


def test_when_train_help_is_built_then_every_trainconfig_field_has_a_flag():
    flags = {s for action in train_parser()._actions for s in action.option_strings}
    for f in dataclasses.fields(TrainConfig):
        assert f"--{f.name.replace('_', '-')}" in flags, f.name
    for name in ("--weight-decay", "--num-workers", "--no-deterministic"):
        assert name in flags


def test_when_no_flag_is_given_then_the_config_is_the_dataclass_default():
    parser = argparse.ArgumentParser()
    add_config_flags(parser, TrainConfig)
    assert config_from_args(parser.parse_args([]), TrainConfig) == TrainConfig()


@pytest.mark.parametrize("argv, field, value", [
    (["--weight-decay", "0.1"], "weight_decay", 0.1),
    (["--num-workers", "2"], "num_workers", 2),
    (["--no-deterministic"], "deterministic", False),
    (["--devices", "auto"], "devices", "auto"),
    (["--limit-train-batches", "1"], "limit_train_batches", 1.0),  # Lightning: 1.0 = every batch
    (["--limit-train-batches", "5"], "limit_train_batches", 5),
    (["--range-margin", "none"], "range_margin", None),
])
def test_when_a_flag_is_given_then_the_config_holds_its_typed_value(argv, field, value):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, TrainConfig)
    got = getattr(config_from_args(parser.parse_args(argv), TrainConfig), field)
    assert got == value and type(got) is type(value)


def test_when_a_new_field_is_declared_then_it_gets_a_flag_and_its_comment_as_help():
    @dataclasses.dataclass
    class Future:
        val_check_every: int | None = None  # validate every N steps; None = at epoch ends

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Future)
    assert config_from_args(parser.parse_args(["--val-check-every", "50"]), Future).val_check_every == 50
    assert field_help(Future)["val_check_every"].startswith("validate every N steps")
    with pytest.raises(SystemExit):
        parser.parse_args(["--val-check-every", "often"])
