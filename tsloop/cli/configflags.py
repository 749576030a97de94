"""Command-line flags generated from a config dataclass: each setting is declared once, in the
dataclass, with its type, default and (as a trailing comment) its help.

Example::

    >>> import argparse
    >>> from tsloop.train.config import TrainConfig
    >>> parser = argparse.ArgumentParser()
    >>> add_config_flags(parser, TrainConfig)
    >>> args = parser.parse_args(["--max-epochs", "3", "--no-deterministic", "--devices", "2"])
    >>> cfg = config_from_args(args, TrainConfig)
    >>> cfg.max_epochs, cfg.deterministic, cfg.devices
    (3, False, 2)
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing

from tsloop.errors import SpecError

COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


def field_help(cls) -> dict[str, str]:
    """Field name -> its trailing comment in the class source (or ``metadata["help"]``)."""
    found = {}
    for line in inspect.getsource(cls).splitlines():
        match = COMMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            found[f.name] = f.metadata["help"]
    return found


def _kinds(annotation) -> tuple[type, ...]:
    """The concrete types of ``int``, ``float | None``, ``int | str`` ... (NoneType included)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def parser_for(name: str, kinds: tuple[type, ...]):
    """A text -> value function for a field whose type is the union of ``kinds``."""
    allows_none = type(None) in kinds
    numbers = [k for k in kinds if k in (int, float)]

    def parse(text: str):
        if allows_none and text.lower() in ("none", "null", ""):
            return None
        if float in numbers and int in numbers:
            # Lightning's reading of limits: a number up to 1 is a fraction, above 1 a count
            value = float(text)
            return int(value) if value > 1 and value.is_integer() else value
        for kind in numbers:
            try:
                return kind(text)
            except ValueError:
                continue
        if str in kinds:
            return text
        raise argparse.ArgumentTypeError(f"--{name.replace('_', '-')}: expected {' or '.join(k.__name__ for k in kinds)}, got {text!r}")

    return parse


def add_config_flags(parser, cls, aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """One flag per field of ``cls``: ``--field-name``; booleans get ``--name`` / ``--no-name``.
    The default shown is the dataclass's; ``aliases`` adds older spellings of a flag."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flags = (f"--{f.name.replace('_', '-')}", *(aliases or {}).get(f.name, ()))
        text = f"{helps.get(f.name, f.name.replace('_', ' '))} (default {default})".replace("%", "%%")
        kinds = _kinds(hints[f.name])
        if kinds == (bool,):
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            metavar = "|".join(k.__name__.upper() for k in kinds if k is not type(None))
            parser.add_argument(*flags, dest=f.name, type=parser_for(f.name, kinds), default=default,
                                metavar=metavar, help=text)


def config_from_args(args: argparse.Namespace, cls):
    """The config the parsed flags describe."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise SpecError(f"training options: {err}") from None
