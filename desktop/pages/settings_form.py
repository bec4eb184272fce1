"""Form controls built from the settings' declarations (core.settings): a spin box, a checkbox or
a choice list per setting, with the declared label, tooltip, range and step, and the CLI
options that hand the chosen values to the engine. Reads the declarations only: no torch."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from core.settings import Setting, declared, field_type


def _spec(cls, name: str) -> Setting:
    return next(spec for f, spec in declared(cls) if f.name == name)


def _optional(cls, name: str) -> bool:
    """A setting whose default is None: the form shows its lowest value as "not set"."""
    return next(f.default for f, _ in declared(cls) if f.name == name) is None


def _bounds(spec: Setting, unbounded: float) -> tuple[float, float]:
    lo = spec.form_min if spec.form_min is not None else spec.min if spec.min is not None else -unbounded
    hi = spec.form_max if spec.form_max is not None else spec.max if spec.max is not None else unbounded
    return lo, hi


def setting_widget(cls, name: str, value) -> QWidget:
    """The control for setting `name` of the settings dataclass `cls`, showing `value`."""
    spec = _spec(cls, name)
    kind = field_type(cls, name)
    if spec.choices is not None:
        box = QComboBox()
        for choice, words in zip(spec.choices, spec.choice_labels or spec.choices):
            box.addItem(str(words), choice)
        box.setCurrentIndex(list(spec.choices).index(value))
    elif kind is bool:
        box = QCheckBox(spec.label)
        box.setChecked((not value) if spec.negate else bool(value))
    elif kind is int:
        lo, hi = _bounds(spec, 2**31 - 1)
        box = QSpinBox(minimum=int(lo), maximum=int(hi), value=value, singleStep=int(spec.step or 1))
    else:
        decimals = spec.decimals if spec.decimals is not None else 2
        lo, hi = _bounds(spec, 1e9)
        tick = 10**-decimals  # an open limit: the nearest value the box can show inside it
        box = QDoubleSpinBox()
        box.setDecimals(decimals)  # before the value, or the value is rounded to the default 2 decimals
        box.setRange(lo + (tick if spec.above and spec.form_min is None else 0),
                     hi - (tick if spec.below and spec.form_max is None else 0))
        box.setSingleStep(spec.step or tick)
        box.setValue(value if value is not None else box.minimum())
        if spec.at_min or _optional(cls, name):  # its lowest value stands for "not set"
            box.setSpecialValueText(spec.at_min or "no limit")
    box.setToolTip(spec.tooltip)
    return box


def setting_args(cls, widgets: dict[str, QWidget]) -> list[str]:
    """The CLI options that give the engine the controls' values (widgets keyed by field name),
    each under its declared flag, in field order."""
    args: list[str] = []
    for f, spec in declared(cls):
        box = widgets.get(f.name)
        if box is None or spec.flag is None:
            continue
        if isinstance(box, QCheckBox):
            args += [spec.flag] if box.isChecked() else []
        elif isinstance(box, QComboBox):
            args += [spec.flag, str(box.currentData())]
        elif not (_optional(cls, f.name) and box.value() == box.minimum()):  # "no limit": the flag left out
            args += [spec.flag, str(box.value())]
    return args
