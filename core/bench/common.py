"""Benchmarks, run by ``superhf bench ...``. Their figures go into issue notes; tests never
assert on timings."""

from __future__ import annotations

from typing import Callable, Optional

from core.models.importing import STARTER_NAME, import_model
from core.records import read_records
from core.resources import starter_prompts_file
from core.store.database import Store
from core.store.models import model_exists


def _starter_prompts(count: int) -> list[str]:
    texts = [r["prompt"] for _, r in read_records(starter_prompts_file())]
    return [texts[i % len(texts)] for i in range(count)]


def _model_name(store: Store, model: Optional[str], say: Callable[[str], None]) -> str:
    if model:
        return model
    if not model_exists(store, STARTER_NAME):
        say("Importing the starter model into the workspace first (once).")
        import_model(store, starter=True)
    return STARTER_NAME


def in_child(target: Callable, *args, what: str = "the measuring process"):
    """``target(*args, queue)`` in a fresh (spawned) process, which puts its one answer on the
    queue: that answer, or an error if the process died first (out of memory, say) rather than
    a wait forever. Memory measured there is that work's alone."""
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("spawn")
    answers = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, answers))
    proc.start()
    while True:
        try:
            value = answers.get(timeout=2)
            break
        except queues.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{what} exited with status {proc.exitcode}")
    proc.join()
    return value
