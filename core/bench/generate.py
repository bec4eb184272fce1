"""``superhf bench generate``: ``superhf generate`` against plain ``transformers`` ``generate``,
each a whole process of its own, on the same model, prompts, sampling settings (temperature 1,
top-p 0.95 without a top-k cut, the same stop tokens), token limit and batch size.

It reports, for each side, the answer tokens per second of the sampling itself and of the
whole process (start-up and model load included), milliseconds per forward pass, and the
share of this machine's measured matrix-multiply throughput that the useful work reaches.
The plain side runs as ``python -m core.bench.generate MODEL_DIR SPEC.json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from core.bench.common import _model_name, _starter_prompts
from core.errors import SuperHFError
from core.models.devices import choose_device
from core.models.precision import CACHE_FILE, choose_precision
from core.models.importing import import_model
from core.records import write_records
from core.store.database import Store, open_store


def matmul_gflops(dtype, size: int = 1536, seconds: float = 1.0) -> float:
    """Measured matrix-multiply throughput of this machine in ``dtype``, GFLOP/s."""
    import torch

    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * size ** 3 * runs / (time.perf_counter() - start) / 1e9


def flops_per_token(config, parameters: int) -> float:
    """Matrix-multiply work of one sampled token: twice the weights it passes through (the
    embedding lookup is not a product; the output projection is, tied or not)."""
    embedding = config.vocab_size * config.hidden_size
    tied = getattr(config, "tie_word_embeddings", False)
    return 2.0 * (parameters - (0 if tied else embedding))


def plain_generate(model_dir: Path, spec: dict) -> dict:
    """The baseline, as a user of transformers would write it: repeat each prompt n times,
    left-pad, call ``generate`` batch by batch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.sampling.generation import STOP_TOKENS, format_prompt

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True).eval()
    vocab = tokenizer.get_vocab()
    stops = sorted({tokenizer.eos_token_id, *(vocab[t] for t in STOP_TOKENS if t in vocab)} - {None})
    passes = [0]
    model.register_forward_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))
    texts = [format_prompt(tokenizer, p) for p in spec["prompts"] for _ in range(spec["n"])]
    torch.manual_seed(spec["seed"])
    tokens, start = 0, time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(texts), spec["batch_size"]):
            enc = tokenizer(texts[first:first + spec["batch_size"]], return_tensors="pt", padding=True,
                            add_special_tokens=False)
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=0.95, top_k=0,
                                 max_new_tokens=spec["max_new_tokens"], eos_token_id=stops,
                                 pad_token_id=tokenizer.pad_token_id)
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                tokens += next((j for j, t in enumerate(row) if t in stops), len(row))
    return {"tokens": tokens, "seconds": time.perf_counter() - start, "forward_passes": passes[0],
            "dtype": "float32", "batch_size": spec["batch_size"]}


def _run(cmd: list[str]) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SuperHFError(f"The benchmark process failed ({' '.join(cmd[:4])} ...):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def bench_generate(store: Store, *, model: Optional[str] = None, n_prompts: int = 16, n: int = 4,
                   max_new_tokens: int = 64, batch_size: Optional[int] = None, seed: int = 0,
                   precision: str = "auto", say: Callable[[str], None] = print, **_ignored) -> dict:
    import torch
    from transformers import AutoConfig

    name = _model_name(store, model, say)
    row = store.model(name)
    model_dir = Path(row["path"])
    prompts = _starter_prompts(n_prompts)
    batch = batch_size or n_prompts * n  # plain generate gets the batch ours chooses for this work
    spec = {"prompts": prompts, "n": n, "max_new_tokens": max_new_tokens, "batch_size": batch, "seed": seed}
    peaks = {"float32": matmul_gflops(torch.float32), "bfloat16": matmul_gflops(torch.bfloat16)}
    say(f"Matrix multiply on this machine ({torch.get_num_threads()} threads): {peaks['float32']:.0f} GFLOP/s "
        f"float32, {peaks['bfloat16']:.0f} GFLOP/s bfloat16.")
    say(f"Model {name}: {n_prompts} prompts x {n} answers, up to {max_new_tokens} new tokens, temperature 1, "
        f"top-p 0.95, batch {batch}; each side a whole process.")
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    started = time.perf_counter()  # auto's choice, measured once in this workspace (cached there)
    choice = choose_precision("sampling", choose_device(None), requested=precision, folder=model_dir)
    say(f"Precision for ours: {choice.dtype} ({choice.reason}; {time.perf_counter() - started:.1f} s to decide).")
    with tempfile.TemporaryDirectory(prefix="superhf-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "spec.json").write_text(json.dumps(spec))
        write_records(tmp / "prompts.jsonl", [{"prompt": p} for p in prompts], ["prompt"])
        plain, plain_wall = _run([sys.executable, "-m", "core.bench.generate", str(model_dir), str(tmp / "spec.json")])
        home = tmp / "home"  # our side in a scratch workspace: the user's holds no bench answers
        with open_store(home) as scratch:
            import_model(scratch, model_dir, name=name)
            cached = store.workspace.cache_dir / CACHE_FILE  # the measured choice, as a second run has it
            if cached.is_file():
                shutil.copy2(cached, scratch.workspace.cache_dir / CACHE_FILE)
        ours_json, ours_wall = _run([sys.executable, "-m", "core.cli.main", "--home", str(home), "--json", "generate",
                                     "--model", name, "--prompts", str(tmp / "prompts.jsonl"), "--answers", str(n),
                                     "--max-new-tokens", str(max_new_tokens), "--seed", str(seed),
                                     "--precision", precision, "--out", str(tmp / "answers.jsonl"),
                                     *(["--batch-size", str(batch_size)] if batch_size else [])])
    ours = ours_json["sampling"]
    parameters = sum(p.numel() for p in _param_shapes(model_dir))
    per_token = flops_per_token(config, parameters)
    results = {}
    for label, side, wall in (("transformers_generate", plain, plain_wall), ("superhf_generate", ours, ours_wall)):
        rate = side["tokens"] / side["seconds"]
        results[label] = {"tokens": side["tokens"], "dtype": side["dtype"], "batch_size": side["batch_size"],
                          "sampling_seconds": round(side["seconds"], 2), "tokens_per_second": round(rate, 1),
                          "process_seconds": round(wall, 2), "process_tokens_per_second": round(side["tokens"] / wall, 1),
                          "ms_per_forward_pass": round(1000 * side["seconds"] / side["forward_passes"], 1),
                          "matmul_share": round(rate * per_token / 1e9 / peaks[side["dtype"]], 3)}
        r = results[label]
        say(f"{label:>22}: {r['tokens']} tokens, sampling {r['tokens_per_second']:.1f} tokens/s, whole process "
            f"{r['process_tokens_per_second']:.1f} tokens/s ({r['process_seconds']:.1f} s), {r['ms_per_forward_pass']:.0f} ms "
            f"per forward pass, {100 * r['matmul_share']:.1f}% of {r['dtype']} matmul peak")
    ratio = results["superhf_generate"]["tokens_per_second"] / results["transformers_generate"]["tokens_per_second"]
    process_ratio = (results["superhf_generate"]["process_tokens_per_second"]
                     / results["transformers_generate"]["process_tokens_per_second"])
    say(f"{'ratio':>22}: {ratio:.2f}x sampling, {process_ratio:.2f}x whole process")
    return {"model": name, "prompts": n_prompts, "n": n, "max_new_tokens": max_new_tokens,
            "precision": precision, "precision_reason": ours.get("precision_reason", choice.reason),
            "threads": torch.get_num_threads(), "matmul_gflops": {k: round(v, 1) for k, v in peaks.items()},
            "flops_per_token": per_token, **results, "ratio": round(ratio, 3), "process_ratio": round(process_ratio, 3)}


def _param_shapes(model_dir: Path):
    """The model's weights as shapes only (no memory): its count of parameters."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return list(model.parameters())


if __name__ == "__main__":
    print(json.dumps(plain_generate(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()))))
