"""What the CLI prints: the registry of commands, lines for a person, and progress (on a
terminal, or as the JSON lines of ``core.protocol`` that the desktop app reads)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from core.protocol import PROGRESS_INTERVAL, RUN_STAGE, ProgressWriter

COMMANDS: dict[str, Callable[[argparse.Namespace], dict]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register



def say(args: argparse.Namespace, text: str) -> None:
    """A line for a person; with --json it goes to stderr, keeping stdout for the JSON."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


JSON_PROGRESS_INTERVAL = PROGRESS_INTERVAL  # seconds; the first, the last and any event with details always go out


def progress_printer(args: argparse.Namespace) -> Callable[[Any], None]:
    """Progress on a terminal only: in a pipe or a log, stderr keeps to the one-line error.
    Notices (an out-of-memory retry, say) are printed everywhere. With --progress-json every
    event is one JSON line on stderr, written and thinned by ``core.protocol.ProgressWriter``:
    {"progress": stage, "done": .., "total": .., detail...}."""
    if getattr(args, "progress_json", False):
        return ProgressWriter()
    tty = sys.stderr.isatty()

    def on_progress(event) -> None:
        if event.stage == RUN_STAGE:
            return  # for the window; a person reads the run's name in the sentence before it
        if event.detail.get("notice"):
            print(f"{chr(13) if tty else ''}note: {event.detail['notice']}", file=sys.stderr, flush=True)
        if tty:
            end = "\n" if event.done >= event.total else ""
            print(f"\r{event.stage}: {event.done}/{event.total}", end=end, file=sys.stderr, flush=True)
    return on_progress
