"""Helpers for the desktop tests: waiting for the workspace's job, finding dialogs."""

from PySide6.QtWidgets import QApplication, QMessageBox


def wait_idle(qtbot, studio, timeout=120000):
    qtbot.waitUntil(lambda: not studio.busy, timeout=timeout)


def dialogs(name: str = "error-dialog") -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.objectName() == name
            and w.isVisible()]


def close_dialogs() -> None:
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox) and w.isVisible():
            w.done(0)


def small_run(train, iterations: int, name: str = "") -> None:
    """Settings on the Train page for a run that takes seconds on the tiny model."""
    train.iterations.setValue(iterations)
    train.prompts.setValue(2)
    train.superbatch.setValue(2)
    train.max_tokens.setValue(8)
    train.name.setText(name)
