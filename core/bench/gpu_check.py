"""``make gpu-check`` (``python -m core.bench.gpu_check``): the checks that need a CUDA GPU, as
one prepared script, for a machine where one is lent for a few minutes.

1. Sampling on the starter in bfloat16: tokens per second of the built-in engine, and of vLLM
   where it is installed (the ``auto`` backend picks it), with peak GPU memory.
2. The starter journey in bfloat16: simulated ratings chosen by the app's active selection, a
   reward model, a default SuperHF run, export, judged on held-out prompts (``bench journey``
   with one seed and one rater, smaller than the CPU report's).
3. One small LoRA iteration of a random-weights Llama-architecture model of about 1.5B
   parameters: seconds, the memory plan's estimate against the measured peak.

Each part prints its figures as it ends, and all of them again at the end as one JSON line;
a part that fails prints its error and the others still run. ``--quick`` makes every part
smaller (a dry run of the script itself, on any device with ``--device cpu``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None


def sampling_speed(home: Path, device: str, quick: bool, say: Callable[[str], None]) -> dict:
    """Tokens per second of sampling the starter's answers to the starter prompts, per backend."""
    from core.bench.common import _starter_prompts
    from core.models.importing import STARTER_NAME, load_model
    from core.sampling.generation import SamplingSettings, sample
    from core.store.database import open_store

    prompts = _starter_prompts(8 if quick else 32)
    answers, tokens = (2, 16) if quick else (8, 128)
    out = {}
    with open_store(home) as store:
        lm = load_model(store, STARTER_NAME, device=device)
    backends = ["torch"] + (["vllm"] if device.startswith("cuda") and importlib.util.find_spec("vllm") else [])
    for backend in backends:
        _peak_reset(device)
        sample(lm, prompts[:2], 1, SamplingSettings(max_new_tokens=4, seed=0, backend=backend))  # warm-up
        stats: dict = {}
        started = time.perf_counter()
        sample(lm, prompts, answers, SamplingSettings(max_new_tokens=tokens, seed=1, backend=backend), stats=stats)
        seconds = time.perf_counter() - started
        out[backend] = {"answers": len(prompts) * answers, "tokens": stats.get("tokens"),
                        "seconds": round(seconds, 2), "tokens_per_second": round(stats.get("tokens", 0) / seconds, 1),
                        "dtype": stats.get("dtype"), "batch_size": stats.get("batch_size"),
                        "peak_gib": _peak_gib(device)}
        say(f"sampling, {backend}: {out[backend]}")
    return out


def journey(device: str, quick: bool, say: Callable[[str], None]) -> dict:
    """The starter journey with one simulated rater and seed (``bench journey``)."""
    from core.bench.journey import bench_journey

    _peak_reset(device)
    settings = {"iterations": 1, "prompts_per_iteration": 4, "superbatch_size": 2, "max_new_tokens": 16} if quick else None
    result = bench_journey(ratings=12 if quick else 60, seeds=1, raters=["support-lead"], eval_prompts=4 if quick else 12,
                           answers_per_prompt=2, best_of=(4,), probe_prompts=2, retrain_every=0 if quick else 25,
                           settings=settings, device=device, say=lambda text: None)
    record = result["journeys"][0]
    figures = {key: record.get(key) for key in ("gain", "gain_se", "base", "tuned", "best_of_4", "agreement",
                                                "iterations", "minutes", "rating_minutes", "reward_seconds")}
    figures["seconds_per_iteration"] = round(60 * record["minutes"] / max(1, record["iterations"]), 1)
    figures["peak_gib"] = _peak_gib(device)
    say(f"journey: {figures}")
    return figures


def big_iteration(device: str, quick: bool, say: Callable[[str], None]) -> dict:
    """One small LoRA iteration of a random-weights ~1.5B model (``bench memory``): seconds, the
    memory plan's estimate and the measured peak."""
    from core.bench.memory import bench_memory

    with tempfile.TemporaryDirectory(prefix="gpu-check-model-") as tmp:
        result = bench_memory(Path(tmp), sizes=("0.5B",) if quick else ("1.5B",), device=device, say=say,
                              settings={"max_new_tokens": 8} if quick else None)
    row = result["models"][0]
    return {"model": row["model"], "parameters": row["parameters"], "seconds": round(row["seconds"], 1),
            "estimate_gib": round(row["estimate"] / 2**30, 2), "peak_gib": round(row["peak"] / 2**30, 2),
            "ratio": row["ratio"], "plan": row["plan"]}


PARTS = {"sampling": None, "journey": None, "big": None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the point of it), or cpu for a dry run with --quick")
    parser.add_argument("--quick", action="store_true", help="every part at a tiny size: checks the script itself")
    parser.add_argument("--only", choices=list(PARTS), action="append", help="run only this part (repeatable)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("No CUDA GPU is usable here: gpu-check needs one. (For a dry run of the script: "
              "python -m core.bench.gpu_check --device cpu --quick)", file=sys.stderr)
        return 2
    os.environ["SUPERHF_DTYPE"] = "bfloat16"  # the starter journey in bfloat16, as the issue asks
    say = lambda text: print(text, flush=True)  # noqa: E731
    if args.device.startswith("cuda"):
        say(f"GPU: {torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB; "
            f"torch {torch.__version__}")
    figures: dict = {"device": args.device, "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as home:
        home = Path(home)
        parts = args.only or list(PARTS)
        if "sampling" in parts:
            from core.models.importing import import_model
            from core.store.database import open_store

            with open_store(home) as store:
                import_model(store, starter=True)
        for name, part in (("sampling", lambda: sampling_speed(home, args.device, args.quick, say)),
                           ("journey", lambda: journey(args.device, args.quick, say)),
                           ("big", lambda: big_iteration(args.device, args.quick, say))):
            if name not in parts:
                continue
            started = time.perf_counter()
            try:
                figures[name] = part()
            except Exception as e:  # noqa: BLE001 - one part failing leaves the others to run
                traceback.print_exc()
                figures[name] = {"error": f"{type(e).__name__}: {e}"}
            say(f"{name}: {time.perf_counter() - started:.0f} s")
    print(json.dumps(figures))
    return 1 if any(isinstance(v, dict) and "error" in v for v in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
