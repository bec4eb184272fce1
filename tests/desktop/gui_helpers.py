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
