"""What every page shares: the workspace, the one job that may run at a time, and a signal
when the workspace's contents change. Pages read small things from the store directly (a
count or a short list: well under a millisecond in WAL mode); anything longer is a job."""

from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.store.database import Store, open_store
from core.store.workspace import open_workspace
from desktop.jobs import Job, ProcessJob, ThreadJob

log = logging.getLogger("superhf.desktop")


class Studio(QObject):
    changed = Signal()  # the workspace's contents changed: pages refresh what they show
    job_started = Signal(object)  # Job
    job_ended = Signal(object)
    navigate = Signal(str)  # a page asks to show another page, by key

    def __init__(self, home: Optional[str | Path] = None, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.job: Optional[Job] = None
        self.background: set[Job] = set()  # other jobs (pairs prepared ahead on the Rate page)
        self.open(home)

    def open(self, home: Optional[str | Path]) -> None:
        workspace = open_workspace(home)
        with open_store(workspace.home):  # creates and migrates it now, not on the first page's read
            pass
        self.home = workspace.home
        _log_to(self.home / "studio.log")
        log.info("workspace %s opened", self.home)
        self.changed.emit()

    @contextmanager
    def store(self):
        with open_store(self.home) as store:
            yield store

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def run_in_thread(self, title: str, fn: Callable[[Store, Callable, object], object]) -> Optional[ThreadJob]:
        """Run ``fn(store, on_progress, cancel)`` off the GUI thread, with its own store
        connection (SQLite connections stay in the thread that made them)."""
        home = self.home

        def work(on_progress, cancel):
            with open_store(home) as store:
                return fn(store, on_progress, cancel)

        return self._start(ThreadJob(title, work, self))

    def run_command(self, title: str, args: list[str], *, background: bool = False) -> Optional[ProcessJob]:
        """A ``superhf`` command in a child process (all model work): see ``desktop.jobs``.
        A background job does not take the one-at-a-time slot."""
        job = ProcessJob(title, str(self.home), args, self)
        job.log_line.connect(lambda line: log.info("[%s] %s", title, line))
        if background:
            job.failed.connect(lambda message, details: log.error("%s failed: %s\n%s", title, message, details))
            self.track(job).start()
            return job
        return self._start(job)

    def track(self, job: Job) -> Job:
        """A job outside the one-at-a-time slot, stopped with the others when the app closes."""
        self.background.add(job)
        job.ended.connect(lambda: self.background.discard(job))
        return job

    def shutdown(self, wait_ms: int = 15000) -> None:
        """Cancel every job and wait for them: no thread may outlive the window."""
        jobs = [j for j in [self.job, *self.background] if j is not None and j.running]
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(wait_ms)

    def _start(self, job: Job):
        if self.busy:
            job.deleteLater()
            return None
        self.job = job
        job.failed.connect(lambda message, details: log.error("%s failed: %s\n%s", job.title, message, details))
        job.ended.connect(lambda: self._ended(job))
        job.start()
        self.job_started.emit(job)
        return job

    def _ended(self, job: Job) -> None:
        if self.job is job:
            self.job = None
        self.job_ended.emit(job)
        self.changed.emit()


def _log_to(path: Path) -> None:
    root = logging.getLogger("superhf")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def show_error(parent: QWidget, message: str, details: str = "") -> None:
    """A failure in plain words with what to do next; details go to the log, not the dialog."""
    if details:
        log.error("%s\n%s", message, details)
    box = QMessageBox(QMessageBox.Warning, "SuperHF Studio", message, QMessageBox.Ok, parent)
    box.setObjectName("error-dialog")
    box.setInformativeText("Details are in studio.log in the workspace folder." if details else "")
    box.open()  # not exec(): the event loop, and any running job, go on


def guard(parent: QWidget, fn: Callable, *args, **kwargs):
    """Run a quick action from a button; a user error becomes a dialog, not a crash."""
    from core.errors import SuperHFError

    try:
        return fn(*args, **kwargs)
    except SuperHFError as e:
        show_error(parent, str(e))
    except Exception as e:  # noqa: BLE001 - the window stays; the log has the trace
        show_error(parent, f"Something went wrong ({type(e).__name__}: {e}). Nothing stored was lost.",
                   traceback.format_exc())
    return None
