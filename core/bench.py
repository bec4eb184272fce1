"""Benchmarks, run by ``superhf bench ...``. Their figures go into issue notes; tests never
assert on timings."""

from __future__ import annotations

import time
from typing import Callable, Optional

from core.generation import SamplingSettings, format_prompt, sample, stop_token_ids
from core.models import STARTER_NAME, import_model, load_model
from core.progress import ProgressCallback
from core.records import read_records
from core.resources import starter_prompts_file
from core.store import Store


def _starter_prompts(count: int) -> list[str]:
    texts = [r["prompt"] for _, r in read_records(starter_prompts_file())]
    return [texts[i % len(texts)] for i in range(count)]


def _model_name(store: Store, model: Optional[str], say: Callable[[str], None]) -> str:
    if model:
        return model
    if not store.one("SELECT id FROM models WHERE name = ?", [STARTER_NAME]):
        say("Importing the starter model into the workspace first (once).")
        import_model(store, starter=True)
    return STARTER_NAME


def bench_generate(store: Store, *, model: Optional[str] = None, n_prompts: int = 16, n: int = 4,
                   max_new_tokens: int = 64, batch_size: int = 16, seed: int = 0, device: Optional[str] = None,
                   on_progress: Optional[ProgressCallback] = None,
                   say: Callable[[str], None] = print) -> dict:
    """Our ``sample`` against plain ``transformers`` ``generate`` on the same prompts, batches,
    sampling settings (temperature 1, top-p 0.95 with no top-k cut, the same stop tokens) and
    token limit; tokens per second counts the answer tokens each produced up to the first
    stop token."""
    import torch

    lm = load_model(store, _model_name(store, model, say), device=device, on_progress=on_progress)
    prompts = _starter_prompts(n_prompts)
    settings = SamplingSettings(max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    stops = stop_token_ids(lm)

    def plain() -> int:
        torch.manual_seed(seed)
        texts = [format_prompt(lm.tokenizer, p) for p in prompts for _ in range(n)]
        tokens = 0
        for start in range(0, len(texts), batch_size):
            enc = lm.tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                               add_special_tokens=False).to(lm.device)
            out = lm.model.generate(**enc, do_sample=True, temperature=1.0, top_p=0.95, top_k=0,
                                    max_new_tokens=max_new_tokens, eos_token_id=stops,
                                    pad_token_id=lm.tokenizer.pad_token_id)
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                tokens += next((j for j, t in enumerate(row) if t in stops), len(row))
        return tokens

    def ours() -> int:
        return sum(c.new_tokens for c in sample(lm, prompts, n, settings))

    say(f"Model {lm.name} on {lm.device} ({lm.dtype}), {torch.get_num_threads()} threads; "
        f"{n_prompts} prompts x {n} answers, batch {batch_size}, {max_new_tokens} new tokens at most.")
    sample(lm, prompts[:1], 1, SamplingSettings(max_new_tokens=4, seed=seed))  # warm-up: first-call costs
    results = {}
    for label, fn in (("transformers_generate", plain), ("superhf_sample", ours)):
        start = time.perf_counter()
        tokens = fn()
        seconds = time.perf_counter() - start
        results[label] = {"tokens": tokens, "seconds": round(seconds, 3),
                          "tokens_per_second": round(tokens / seconds, 1)}
        say(f"{label:>22}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tokens/s")
    ratio = results["superhf_sample"]["tokens_per_second"] / results["transformers_generate"]["tokens_per_second"]
    say(f"{'ratio':>22}: {ratio:.2f}x")
    return {"model": lm.name, "device": lm.device, "dtype": str(lm.dtype), "prompts": n_prompts, "n": n,
            "batch_size": batch_size, "max_new_tokens": max_new_tokens, "threads": torch.get_num_threads(),
            **results, "ratio": round(ratio, 3)}
