"""Settings declared once. Each field of a settings dataclass (``SuperHFConfig``,
``RewardSettings``) carries a ``Setting`` in its metadata: its limits, a one-line help, its CLI
flag and where the app's form shows it. Validation reads the limits from it, the CLI
(``core.cli.options``) and the desktop's forms are built from it. No torch, no Qt: the window
imports this."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core.errors import InputError


@dataclass(frozen=True)
class Setting:
    help: str  # one line: the CLI's help and the form's tooltip
    flag: Optional[str] = None  # the CLI option that sets it; None: not offered on the command line
    min: Optional[float] = None
    max: Optional[float] = None
    above: bool = False  # min itself is refused
    below: bool = False  # max itself is refused
    choices: Optional[tuple] = None
    ablation_min: Optional[float] = None  # the minimum when the settings' `ablation` is set (the paper's ablations)
    why: str = ""  # said after the limit when it is broken
    negate: bool = False  # a boolean flag that turns the setting off (--full: lora=False)
    form: Optional[str] = None  # where the app's form shows it: "basic", "advanced" or None (not shown)
    label: str = ""  # the form's label (a checkbox's text)
    tip: str = ""  # said after the help in the form's tooltip
    form_min: Optional[float] = None  # the range the form offers, where narrower than the limits
    form_max: Optional[float] = None
    step: Optional[float] = None  # the form's step
    decimals: Optional[int] = None  # the form's decimals (floats)
    choice_labels: Optional[tuple] = None  # the form's words for the choices
    at_min: str = ""  # the form's words for its lowest value, where that means "none" ("no limit")

    @property
    def dest(self) -> Optional[str]:
        """The argparse attribute the flag's value lands in."""
        return self.flag.lstrip("-").replace("-", "_") if self.flag else None

    @property
    def tooltip(self) -> str:
        """The help as a sentence, then the form's longer word on it."""
        sentence = self.help[:1].upper() + self.help[1:] + ("" if self.help.endswith(".") else ".")
        return f"{sentence} {self.tip}".strip()


def setting(default: Any, help: str, **spec) -> Any:  # noqa: A002 - the argparse word
    """A dataclass field with its default and its declaration."""
    return field(default=default, metadata={"setting": Setting(help=help, **spec)})


def declared(cls) -> list[tuple[dataclasses.Field, Setting]]:
    """Every field of a settings dataclass with its declaration, in field order."""
    return [(f, f.metadata["setting"]) for f in dataclasses.fields(cls) if "setting" in f.metadata]


def field_type(cls, name: str) -> type:
    """int, float, bool or str: the field's annotated type (Optional[...] unwrapped)."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check(cls, values: dict, label: Callable[[str, Setting], str] = lambda name, spec: name) -> None:
    """Refuse a value outside its declared limits with an InputError naming it as `label` does
    (the field's name by default; the CLI passes one that gives the flag the user typed)."""
    for f, spec in declared(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        name = label(f.name, spec)
        if spec.choices is not None:
            if value not in spec.choices:
                allowed = " or ".join(f"'{c}'" for c in spec.choices)
                raise InputError(f"{name} must be {allowed}, not '{value}'.")
            continue
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        lo = spec.ablation_min if spec.ablation_min is not None and values.get("ablation") else spec.min
        hi = spec.max
        too_low = lo is not None and (value <= lo if spec.above else value < lo)
        too_high = hi is not None and (value >= hi if spec.below else value > hi)
        if not (too_low or too_high):
            continue
        if lo is not None and hi is not None:
            bound = f"between {_num(lo)} and {_num(hi)}"
        elif lo is not None:
            bound = f"above {_num(lo)}" if spec.above else "0 or more" if lo == 0 else f"at least {_num(lo)}"
        else:
            bound = f"{'below' if spec.below else 'at most'} {_num(hi)}"
        tail = f": {spec.why}" if spec.why else f", not {_num(value)}"
        raise InputError(f"{name} must be {bound}{tail}.")


def check_instance(obj) -> None:
    """For a settings dataclass's __post_init__."""
    check(type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
