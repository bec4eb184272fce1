"""Optional sampling back ends. Our own engine (``core.sampling.decoder``) runs everywhere; on a CUDA
GPU with vLLM installed, vLLM samples instead, with the policy's current LoRA adapter loaded
from a small folder: the model itself is never re-exported. Anything that keeps vLLM from
working (not installed, no CUDA, an architecture it lacks, a full fine-tune without an
adapter: the SuperHF loop asks for our engine then, an error while starting) falls back to our engine with a notice.
"""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

from core.sampling.decoder import Decoded

BACKENDS = ("auto", "torch", "vllm")
GPU_SHARE = 0.35  # of GPU memory for vLLM's cache: the policy being trained needs the rest
_engines: dict[str, "VLLMBackend"] = {}  # one engine per base model and process: starting one takes long
_adapter_ids = itertools.count(1)


class VLLMBackend:
    """vLLM for one base model; ``generate`` samples with or without a LoRA adapter folder."""

    def __init__(self, model_path: Path, *, max_lora_rank: int = 16):
        from vllm import LLM

        self.llm = LLM(model=str(model_path), enable_lora=True, max_lora_rank=max_lora_rank,
                       gpu_memory_utilization=GPU_SHARE, seed=0)

    def generate(self, prompts: Sequence[Sequence[int]], n: int, settings, stop_ids: Sequence[int],
                 adapter: Optional[Path] = None) -> list[list[Decoded]]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        params = SamplingParams(n=n, temperature=settings.temperature, top_p=settings.top_p,
                                max_tokens=settings.max_new_tokens, stop_token_ids=list(stop_ids), seed=settings.seed)
        lora = LoRARequest(adapter.name, next(_adapter_ids), str(adapter)) if adapter is not None else None
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params,
                                    lora_request=lora, use_tqdm=False)
        stops = set(stop_ids)
        result = []
        for out in outputs:
            answers = []
            for c in out.outputs:
                tokens = list(c.token_ids)
                finished = c.finish_reason == "stop"
                if finished and tokens and tokens[-1] in stops:
                    tokens = tokens[:-1]  # as our engine: the stop token is not part of the answer
                answers.append(Decoded(tokens, finished))
            result.append(answers)
        return result


def vllm_sampler(lm, backend: str, notify: Callable[[str], None]) -> Optional[Callable]:
    """``sample_fn(prompts, n, settings, stop_ids)`` through vLLM when it should and can be used;
    None (after a notice where vLLM was asked for or would have helped) otherwise."""
    if backend == "torch" or not str(lm.device).startswith("cuda"):
        if backend == "vllm":
            notify("vLLM needs a CUDA GPU; sampling with the built-in engine.")
        return None
    if importlib.util.find_spec("vllm") is None:
        if backend == "vllm":
            notify("vLLM is not installed; sampling with the built-in engine.")
        return None
    adapter_model = lm.model if hasattr(lm.model, "peft_config") else None  # else: the weights at lm.path
    key = str(lm.path)
    try:
        if key not in _engines:
            rank = max((c.r for c in adapter_model.peft_config.values()), default=16) if adapter_model else 16
            _engines[key] = VLLMBackend(lm.path, max_lora_rank=max(16, rank))
    except Exception as e:  # noqa: BLE001 - any failure to start vLLM means: use our own engine
        notify(f"vLLM could not start ({type(e).__name__}: {e}); sampling with the built-in engine.")
        return None
    engine = _engines[key]

    def sample_fn(prompts, n, settings, stop_ids):
        if adapter_model is None:
            return engine.generate(prompts, n, settings, stop_ids)
        with tempfile.TemporaryDirectory(prefix="superhf-adapter-") as folder:
            adapter = Path(folder) / f"adapter-{next(_adapter_ids)}"
            adapter_model.save_pretrained(adapter)  # megabytes: the adapter alone
            return engine.generate(prompts, n, settings, stop_ids, adapter)

    return sample_fn
