"""Long work off the GUI thread. Two kinds, both reporting through Qt signals and never
touching a widget:

* ``ProcessJob`` runs a ``superhf`` command in a child process: all model work (importing,
  generating, reward models, SuperHF, comparing, exporting). A crash or an out-of-memory
  there cannot close the window, cancelling is immediate, GPU memory is handed back when
  the process ends, and the window's process never imports torch: its imports and C
  extensions hold Python's global lock for hundreds of milliseconds, which in a thread of
  the window's process froze the window (measured: 360 ms stalls). Progress arrives as JSON
  lines (``--progress-json``), read with ``core.protocol``, and is relayed as signals.
* ``ThreadJob`` runs a light ``core`` function in a ``QThread`` (reading a prompt file): it
  gets ``on_progress`` and a ``CancelToken``.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QThread, QTimer, Signal

from core import protocol
from core.errors import Cancelled, SuperHFError, os_error_message
from core.progress import CancelToken, Progress

GRACE_MS = 4000  # after asking a child process to stop, how long before it is killed
ENGINE_NICENESS = 5  # the engine yields the CPU to the window (and the rest of the desktop)


class Job(QObject):
    """What a page sees of any job."""

    progress = Signal(object)  # core.progress.Progress
    succeeded = Signal(object)  # the result
    failed = Signal(str, str)  # a message for a person, details for the log
    cancelled = Signal()
    ended = Signal()  # after any of the three above

    title = "working"

    def cancel(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError


class _Runner(QObject):
    progress = Signal(object)
    finished = Signal(str, object)  # outcome ("ok", "cancelled", "failed"), payload

    def __init__(self, fn: Callable, token: CancelToken):
        super().__init__()
        self.fn, self.token = fn, token

    def run(self) -> None:
        try:
            result = self.fn(self.progress.emit, self.token)
        except Cancelled:
            self.finished.emit("cancelled", None)
        except SuperHFError as e:
            self.finished.emit("failed", (str(e), traceback.format_exc()))
        except MemoryError:
            self.finished.emit("failed", ("The computer ran out of memory. Close other programs, or choose a "
                                          "smaller model or fewer answers at a time.", traceback.format_exc()))
        except OSError as e:  # disk full, permissions, a file that vanished
            self.finished.emit("failed", (os_error_message(e), traceback.format_exc()))
        except Exception as e:  # noqa: BLE001 - a bug of ours: the window stays, the log has it
            self.finished.emit("failed", (f"Something went wrong inside SuperHF Studio ({type(e).__name__}: "
                                          f"{e}). Nothing stored was lost; the details are in the log.",
                                          traceback.format_exc()))
        else:
            self.finished.emit("ok", result)
        finally:
            QThread.currentThread().quit()  # the thread ends with its work, whoever waits for it


class ThreadJob(Job):
    """``fn(on_progress, cancel) -> result`` in a worker thread."""

    def __init__(self, title: str, fn: Callable[[Callable[[Progress], None], CancelToken], Any],
                 parent: Optional[QObject] = None):
        super().__init__(parent)
        self.title = title
        self.token = CancelToken()
        self._thread = QThread()
        self._runner = _Runner(fn, self.token)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progress.connect(self.progress)
        self._runner.finished.connect(self._finish)
        self._running = False

    def start(self) -> "ThreadJob":
        self._running = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self._running

    def wait(self, ms: int = 30000) -> bool:
        return self._thread.wait(ms)

    def _finish(self, outcome: str, payload) -> None:
        self._thread.quit()
        self._thread.wait()
        self._running = False
        if outcome == "ok":
            self.succeeded.emit(payload)
        elif outcome == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(*payload)
        self.ended.emit()


def cli_command() -> list[str]:
    """How to start the ``superhf`` command line from this process: the module from source,
    or the bundled executable itself (which runs the CLI when its first argument says so)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--superhf-cli"]
    return [sys.executable, "-m", "core.cli.main"]


class ProcessJob(Job):
    """A ``superhf`` command in a child process, with --json and --progress-json."""

    log_line = Signal(str)  # whatever else the child prints: for the log panel

    def __init__(self, title: str, home: str, args: list[str], parent: Optional[QObject] = None):
        super().__init__(parent)
        self.title = title
        self.resumable = bool(args) and args[0] in ("train", "resume")
        self.proc = QProcess(self)
        program, *head = cli_command()
        self.proc.setProgram(program)
        self.proc.setArguments([*head, "--home", str(home), "--json", "--progress-json", *args])
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("SUPERHF_NICE", str(ENGINE_NICENESS))
        if getattr(sys, "frozen", False):  # in the bundle: the child gets the library path the user had
            original = env.value("LD_LIBRARY_PATH_ORIG")  # saved there by PyInstaller's bootloader
            if original:
                env.insert("LD_LIBRARY_PATH", original)
            else:
                env.remove("LD_LIBRARY_PATH")
        self.proc.setProcessEnvironment(env)
        self.proc.readyReadStandardError.connect(self._read_stderr)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)
        self._buffer = b""
        self._error_line = ""
        self._log: list[str] = []
        self._cancelling = False
        self._ended = False
        self._kill_timer = QTimer(self, singleShot=True, interval=GRACE_MS)
        self._kill_timer.timeout.connect(self.proc.kill)

    def start(self) -> "ProcessJob":
        self.proc.start()
        return self

    @property
    def running(self) -> bool:
        return self.proc.state() != QProcess.NotRunning

    def cancel(self) -> None:
        """Ask the child to stop (it stores what it finished and exits); kill it if it has not
        within a few seconds. Work is checkpointed, so even the kill loses nothing stored."""
        if not self.running:
            return
        self._cancelling = True
        # SIGTERM on POSIX, which the CLI always turns into a clean stop. Not SIGINT: a child
        # inherits SIGINT ignored from an app started in the background, and never sees it.
        self.proc.terminate()
        self._kill_timer.start()

    def wait(self, ms: int = 30000) -> bool:
        return self.proc.waitForFinished(ms)

    def _read_stderr(self) -> None:
        self._buffer += bytes(self.proc.readAllStandardError())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace").rstrip())

    def _line(self, line: str) -> None:
        read = protocol.read_line(line)
        if isinstance(read, Progress):
            self.progress.emit(read)
            return
        if read.error is not None:
            self._error_line = read.error
        if line:
            self._log.append(line)
            self.log_line.emit(line)

    def _finished(self, code: int, status) -> None:
        if self._ended:
            return
        self._ended = True
        self._kill_timer.stop()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", errors="replace").rstrip())
            self._buffer = b""
        result = protocol.read_result(bytes(self.proc.readAllStandardOutput()))
        if code == protocol.EXIT_OK and status == QProcess.NormalExit and result is not None:
            self.succeeded.emit(result.value)
        elif self._cancelling:
            self.cancelled.emit()
        else:
            details = "\n".join(self._log[-200:])
            if status != QProcess.NormalExit or code < 0:
                message = (f"“{self.title}” stopped unexpectedly (the engine crashed or ran out of memory). "
                           "Nothing already stored was lost.")
                if self.resumable:
                    message += " Everything up to the last finished iteration is kept: resume the run to go on."
            else:
                message = self._error_line or f"The job stopped with exit status {code}; the details are in the log."
            self.failed.emit(message, details)
        self.ended.emit()

    def _error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self._ended = True
            self.failed.emit(f"“{self.title}” could not start its engine process. Reinstall SuperHF Studio; "
                             "the details are in the log.", self.proc.errorString())
            self.ended.emit()
