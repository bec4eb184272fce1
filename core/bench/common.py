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
