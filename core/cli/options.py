"""Command-line options built from the settings' declarations (core.settings): a settings
dataclass's flags, defaults, help and choices become argparse options, and the parsed options
become the settings again, with errors naming the flag the user typed."""

from __future__ import annotations

import argparse
from typing import Iterable, Optional

from core.settings import check, declared, field_type


def add_config_arguments(parser: argparse.ArgumentParser, cls, *, only: Optional[Iterable[str]] = None,
                         required: Iterable[str] = (), unset: Iterable[str] = ()) -> None:
    """An option for each declared setting of `cls` that has a flag (or each of `only`), in field
    order; the settings named in `required` must be given and take no default; those in `unset`
    read None when not given, so a command can tell "not typed" from the default."""
    only, required, unset = (set(only) if only is not None else None), set(required), set(unset)
    for f, spec in declared(cls):
        if spec.flag is None or (only is not None and f.name not in only):
            continue
        text = spec.help.replace("%", "%%")
        kind = field_type(cls, f.name)
        if kind is bool:
            parser.add_argument(spec.flag, action="store_true", help=text)  # negate: the flag turns it off
            continue
        options = {"type": kind, "help": text if f.name in required else f"{text} (default {f.default})"}
        if spec.choices is not None:
            options["choices"] = list(spec.choices)
        if f.name in required:
            options["required"] = True
        else:
            options["default"] = None if f.name in unset else f.default
        parser.add_argument(spec.flag, **options)


def config_from_args(cls, args: argparse.Namespace, **fixed):
    """The settings the parsed options say (those not on the command line keep their defaults),
    plus `fixed`; a value out of its limits is refused naming its flag."""
    values = {}
    for f, spec in declared(cls):
        if spec.flag is None or not hasattr(args, spec.dest):
            continue
        value = getattr(args, spec.dest)
        if value is None and f.default is not None:
            continue  # not on the command line: the declared default (see `train --minutes`)
        values[f.name] = (not value) if spec.negate else value
    values.update(fixed)
    check(cls, values, label=lambda name, spec: spec.flag if spec.flag and name not in fixed else name)
    return cls(**values)
