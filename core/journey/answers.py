"""Generating answers for the user to rate: prompts from a file or a stored set, sampled by
a workspace model, every batch stored as soon as it is done."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.sampling.generation import Completion, SamplingSettings, sample
from core.models.importing import load_model
from core.models.loading import LoadedModel
from core.progress import CancelToken, ProgressCallback
from core.store.prompts import auto_split, parse_prompts, prompts_of
from core.store.database import Store, now, to_json
from core.store.generations import add_generations
from core.store.models import get_model


def resolve_prompts(store: Store, source: str, split: Optional[str] = None) -> list[tuple[Optional[int], str]]:
    """(prompt id or None, text) for a prompts file or the name of a stored prompt set."""
    path = Path(source).expanduser()
    if path.is_file():
        return [(None, text) for text, s in parse_prompts(path) if split is None or (s or auto_split(text)) == split]
    return [(row["id"], row["text"]) for row in prompts_of(store, source, split)]


def generate_answers(store: Store, model: str | LoadedModel, prompts: list[tuple[Optional[int], str]], n: int,
                     settings: SamplingSettings = SamplingSettings(), *, device: Optional[str] = None,
                     on_progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelToken] = None, stats: Optional[dict] = None) -> list[dict]:
    """Sample ``n`` answers per prompt and store them; returns the stored rows. ``stats``
    receives the sampler's figures (see ``sample``)."""
    from core.sampling.decoder import sampling_dtype

    lm = model if isinstance(model, LoadedModel) else load_model(  # loaded straight in the sampling dtype
        store, model, device=device, dtype="sampling" if settings.precision == "auto" else settings.precision,
        on_progress=on_progress)
    model_id = get_model(store, lm.name)["id"]
    settings = settings.with_seed()  # the stored seed repeats the run
    stored_settings = to_json({**settings.to_dict(), "n": n, "device": lm.device,
                                  "dtype": str(sampling_dtype(lm.device, lm.dtype, settings.precision,
                                                               folder=lm.path))})
    rows: list[dict] = []

    def store_batch(done: list[Completion]) -> None:
        batch = [{"model_id": model_id, "prompt_id": prompts[c.prompt_index][0], "prompt": c.prompt,
                  "completion": c.text, "finished": int(c.finished), "new_tokens": c.new_tokens,
                  "settings": stored_settings, "created_at": now()} for c in done]
        add_generations(store, batch)
        rows.extend(batch)

    sample(lm, [text for _, text in prompts], n, settings, on_progress=on_progress, cancel=cancel,
           on_batch=store_batch, stats=stats)
    return rows
