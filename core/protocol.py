"""The desktop ↔ engine protocol: what a ``superhf`` child process prints and how the window
reads it. Both sides use this module — the CLI writes with it (``core.cli.output``), the
desktop reads with it (``desktop.jobs.ProcessJob``) — so the format lives in one place.
Standard library only: no torch, no Qt.

The desktop starts ``python -m core.cli.main --home H --json --progress-json <command> ...``.

stdout
    Lines for a person go to stderr under ``--json``, so stdout carries only what the command
    returns. Its **last line** is the result: one JSON object (``result_line`` writes it,
    ``read_result`` reads it). A command that writes data to stdout (``generate`` with no
    ``--out``) prints that data first, the result last. A last line that is not JSON is read
    as ``{"output": line}``.

stderr
    * Progress, one JSON object per line (``progress_line``)::

          {"progress": "<stage>", "done": <int>, "total": <int>, ...detail}

      ``detail`` is the event's ``Progress.detail`` flattened into the object; keys it may
      carry include ``notice`` (a message for a person, e.g. an out-of-memory retry) and
      ``metrics`` (an iteration's numbers). Plain steps of one stage are thinned to at most
      one every ``PROGRESS_INTERVAL`` seconds (``ProgressWriter``); the first step of a stage,
      its last step (``done >= total``) and any event with details always go out.
    * The run event (``run_event``): stage ``"run"``, ``done = total = 0``, detail
      ``{"run": name, "run_id": id}``, written by ``train`` and ``resume`` once the run is
      stored and before training begins. The window learns which run it started from it.
    * Anything else is a log line for a person. ``error: <message>`` is the one line that
      says why a command failed; ``warning: <text>`` lines are shown as warnings.

Exit status (``core.cli.main``)
    * 0: done; with ``--json`` the result is the last line of stdout.
    * 1: refused or failed for a reason the user can act on (``SuperHFError``, or the system
      refused: disk full, permissions); ``error: ...`` says why.
    * 2: the command line was wrong (argparse), one ``error: ...`` line.
    * 3: a bug of ours (an unexpected exception), one ``error: unexpected ...`` line.
    * 130: cancelled (Ctrl-C, SIGTERM from the window's Stop); finished work is stored.

A line that does not parse — truncated JSON, a library printing to stderr, a progress object
with a missing field — is read as a ``LogLine``, never an exception.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TextIO, Union

from core.progress import Progress

PROGRESS_KEY = "progress"
PROGRESS_INTERVAL = 0.05  # seconds between plain steps of one stage; ends and details always go out
RUN_STAGE = "run"  # the event that names the run a `train` or `resume` is training
ERROR_PREFIX = "error: "
WARNING_PREFIX = "warning: "

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG, EXIT_CANCELLED = 0, 1, 2, 3, 130


@dataclass(frozen=True)
class LogLine:
    """A line for a person (or for the log): anything that is not a progress object."""

    text: str

    @property
    def error(self) -> Optional[str]:
        """The message of an ``error: ...`` line, else None."""
        return self.text[len(ERROR_PREFIX):] if self.text.startswith(ERROR_PREFIX) else None

    @property
    def warning(self) -> Optional[str]:
        """The text of a ``warning: ...`` line, else None."""
        return self.text[len(WARNING_PREFIX):] if self.text.startswith(WARNING_PREFIX) else None


@dataclass(frozen=True)
class Result:
    """What a command returned (``--json``): the last line of its stdout."""

    value: Any


# -- writing (the engine side)

def progress_line(event: Progress) -> str:
    """One progress event as one JSON line (no newline). Detail keys come after the three
    fixed keys and cannot replace them."""
    line = {PROGRESS_KEY: event.stage, "done": event.done, "total": event.total}
    line.update((k, v) for k, v in event.detail.items() if k not in line)
    return json.dumps(line, ensure_ascii=False, default=str)


def write_progress(event: Progress, stream: Optional[TextIO] = None) -> None:
    """Write one progress line now (no thinning), flushed. ``stream`` defaults to stderr."""
    stream = sys.stderr if stream is None else stream
    print(progress_line(event), file=stream, flush=True)


class ProgressWriter:
    """``on_progress`` that writes JSON progress lines, thinning a flood of plain steps: a step
    of the same stage as the last line written, strictly between its first and last, with no
    details, is dropped if the last line went out less than ``interval`` seconds ago (a tiny
    model steps thousands of times a second, and the window must not fall behind)."""

    def __init__(self, stream: Optional[TextIO] = None, interval: float = PROGRESS_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.stream, self.interval, self.clock = stream, interval, clock
        self._stage: Optional[str] = None
        self._at = 0.0

    def wanted(self, event: Progress, now: float) -> bool:
        plain_step = event.stage == self._stage and 0 < event.done < event.total and not event.detail
        return not (plain_step and now - self._at < self.interval)

    def __call__(self, event: Progress) -> bool:
        """Write ``event`` unless thinned; True if it was written."""
        now = self.clock()
        if not self.wanted(event, now):
            return False
        self._stage, self._at = event.stage, now
        write_progress(event, self.stream)  # stderr looked up now: tests and redirections replace it
        return True


def result_line(result: Any) -> str:
    """The ``--json`` result: one JSON line (no newline), the last of stdout."""
    return json.dumps(result, ensure_ascii=False, default=str)


def run_event(name: str, run_id: int) -> Progress:
    """The event that names the run being trained, written before training begins."""
    return Progress(RUN_STAGE, 0, 0, {"run": name, "run_id": run_id})


# -- reading (the window side)

def read_line(line: Union[str, bytes], *, stdout: bool = False) -> Union[Progress, Result, LogLine]:
    """What one line the child printed means. On stderr: a ``Progress`` or a ``LogLine``. With
    ``stdout=True``: a JSON line is a ``Result``, anything else a ``LogLine``. Never raises."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.rstrip("\r\n")
    if stdout:
        text = line.strip()
        if text[:1] in ("{", "["):
            try:
                return Result(json.loads(text))
            except ValueError:
                pass
        return LogLine(line)
    if line.startswith("{") and f'"{PROGRESS_KEY}"' in line:
        event = _progress(line)
        if event is not None:
            return event
    return LogLine(line)


def _progress(line: str) -> Optional[Progress]:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    stage, done, total = data.pop(PROGRESS_KEY, None), data.pop("done", None), data.pop("total", None)
    if not isinstance(stage, str) or not _count(done) or not _count(total):
        return None
    return Progress(stage, done, total, data)


def _count(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_result(stdout: Union[str, bytes]) -> Optional[Result]:
    """The result in a finished command's stdout: its last non-empty line, parsed; a last line
    that is not JSON is ``{"output": line}``. None if stdout is empty."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", errors="replace")
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    try:
        return Result(json.loads(lines[-1]))
    except ValueError:
        return Result({"output": lines[-1]})


def started_run(event: Progress) -> Optional[dict]:
    """``{"run": name, "run_id": id}`` if ``event`` is the run event, else None."""
    if event.stage == RUN_STAGE and isinstance(event.detail.get("run"), str):
        return {"run": event.detail["run"], "run_id": event.detail.get("run_id")}
    return None
