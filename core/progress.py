"""Progress reporting and cooperative cancellation, with no dependency on any GUI toolkit.

Long work takes an ``on_progress`` callable and a ``CancelToken``; the desktop adapts these
to Qt signals, the CLI prints them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

from core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One step of long work: ``done`` of ``total`` units of ``stage``."""

    stage: str
    done: int
    total: int
    detail: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


def no_progress(_event: Progress) -> None:
    """The default callback: report nothing."""


class CancelToken:
    """Set from any thread; checked by the engine between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if cancellation was asked for."""
        if self._event.is_set():
            raise Cancelled()


def report(on_progress: Optional[ProgressCallback], stage: str, done: int, total: int, **detail) -> None:
    if on_progress is not None:
        on_progress(Progress(stage, done, total, detail))
