"""The Qt binding itself: PySide6 6.12.0 dropped a reference to ``True`` on every
``Signal.emit`` and crashed the app after a few hundred progress events (found by
``superhf bench gui``). pyproject.toml excludes it; this guards against a release that
brings the bug back."""

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    happened = Signal(object)


def test_emitting_a_signal_keeps_reference_counts():
    emitter = Emitter()
    seen = []
    emitter.happened.connect(seen.append)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(300):
        emitter.happened.emit(i)
    assert (sys.getrefcount(True), sys.getrefcount(None)) == before
    assert seen == list(range(300))
