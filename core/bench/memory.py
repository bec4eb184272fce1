"""``superhf bench memory``: does the memory plan (core.superhf.memory) foresee what a run
really takes? For random-initialised Llama-architecture models of about 0.5B and 1.5B
parameters (Qwen2.5's shapes: its 151,936-token vocabulary makes the logits count), one
small LoRA iteration runs in a fresh child process; the plan's estimate is set against the
peak resident memory the child reached, both counted from the child's state after its imports
(Python, torch, transformers, peft), which the plan leaves out: it compares its figure with
the memory free at that point.

Slow (minutes) and heavy (the 1.5B run peaks near 15 GiB on a CPU): a benchmark, not a test."""

from __future__ import annotations

import random
import threading
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from core.bench.common import in_child

SIZES = {  # name: Llama config of about that many parameters (tied embeddings, as Qwen2.5's small models)
    "0.5B": dict(hidden_size=896, num_hidden_layers=24, intermediate_size=4864, num_attention_heads=14,
                 num_key_value_heads=2),
    "1.5B": dict(hidden_size=1536, num_hidden_layers=28, intermediate_size=8960, num_attention_heads=12,
                 num_key_value_heads=2),
}
VOCAB = 151_936
WORDS = ["the", "a", "of", "to", "and", "in", "is", "it", "you", "that", "what", "how", "why", "User",
         "Assistant", ":", "?", ".", ","]  # the prompts' words; every other id is a made-up word


def word_tokenizer(vocab: int = VOCAB):
    """An offline tokenizer with exactly ``vocab`` ids: a word-level vocabulary of a few real
    words, the end-of-text token and made-up words ``w123``. Any id decodes to text, so the
    random model's answers are never empty."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    table = {"<|endoftext|>": 0, "<unk>": 1}
    for word in WORDS:
        table[word] = len(table)
    for i in range(len(table), vocab):
        table[f"w{i}"] = i
    core = Tokenizer(models.WordLevel(table, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # "User:" is "User" and ":"
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", unk_token="<unk>",
                                   pad_token="<|endoftext|>")


def build_random_model(folder: Path, size: str, seed: int = 0) -> Path:
    """A random-initialised Llama of ``size`` (a key of SIZES) saved as a model folder in
    bfloat16, as such models are published; made once, reused after."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = word_tokenizer()
    config = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=4096, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=0, pad_token_id=0, dtype="bfloat16", **SIZES[size])
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _rss(field: str = "VmRSS") -> int:
    """This process's resident memory (VmRSS) or its peak since the last reset (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no " + field + ": this benchmark needs Linux")


def _prompts(count: int, words: int) -> list[str]:
    """``count`` prompts of ``words`` known words each: with the template, as many tokens as
    the plan allows a prompt (core.superhf.memory.PROMPT_TOKENS)."""
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS[:13]) for _ in range(words)) + "?" for _ in range(count)]


def _child(folder: str, settings: dict, free: Optional[int], device: str, answer_queue) -> None:
    """One small LoRA iteration of a stored run in this fresh process, the memory plan made
    first as the run makes it; the peak resident memory since the imports, per phase too.
    ``free``: bytes the plan is told are free (to see its choices when memory is tight). On a
    CUDA device, the memory measured is what torch allocated there."""
    import warnings

    warnings.filterwarnings("ignore")  # library deprecations, as in the CLI
    import importlib

    for library in ("transformers", "peft"):  # what a run imports: their memory is the baseline
        importlib.import_module(library)
    import torch

    from core.models.importing import import_model
    from core.store.database import open_store
    from core.store.prompts import add_prompts, find_set_id
    from core.store.runs import create_run
    from core.superhf.config import SuperHFConfig
    from core.superhf.memory import PROMPT_TOKENS, check_memory
    from core.superhf.run import run_superhf

    if free is not None:
        import core.sampling.decoder

        core.sampling.decoder.available_memory = lambda device: free
    config = SuperHFConfig(**settings)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as home, open_store(home) as store:
        row = import_model(store, folder, name="random")
        add_prompts(store, [(p, "train") for p in _prompts(config.prompts_per_iteration, PROMPT_TOKENS - 8)], "long")
        create_run(store, name="bench", model_id=row["id"], reward_model_id=None,
                   prompt_set_id=find_set_id(store, "long"), config=config.to_dict())
        cuda = device.startswith("cuda")
        used = (lambda: torch.cuda.memory_allocated(device)) if cuda else _rss  # noqa: E731
        baseline = used()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: resets the peak (VmHWM) to the present
        plan = check_memory(row, config, device)
        stage, peaks, done = ["loading"], {}, threading.Event()

        def watch():  # the peak of each phase, seen every 20 ms (the overall peak is the kernel's)
            while not done.is_set():
                peaks[stage[0]] = max(peaks.get(stage[0], 0), used())
                done.wait(0.02)

        def on_progress(event):
            stage[0] = {"generating": "sampling", "updating": "updating"}.get(event.stage, stage[0])

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started = time.perf_counter()
        run_superhf(store, "bench", reward_fn=lambda ps, cs: [float(len(c)) for c in cs], device=device,
                    on_progress=on_progress)
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
        answer_queue.put({"plan": plan.describe(), "estimate": plan.need, "phases": plan.phases, "parts": plan.parts,
                          "peak": (torch.cuda.max_memory_allocated(device) if cuda else _rss("VmHWM")) - baseline, "baseline": baseline, "seconds": seconds,
                          "phase_peaks": {k: v - baseline for k, v in peaks.items()}})


def measure(folder: Path, settings: dict, free: Optional[int] = None, device: str = "cpu") -> dict:
    """``_child`` in a fresh process; its figures, or an error if it died (out of memory, say)."""
    return in_child(_child, str(folder), settings, free, device)


SETTINGS = dict(iterations=1, prompts_per_iteration=2, superbatch_size=2, max_new_tokens=32, epochs=1,
                eval_prompts=0)  # one small LoRA iteration: 2 prompts x 2 answers, 32 new tokens


def bench_memory(folder: Path, *, sizes: tuple[str, ...] = tuple(SIZES), say: Callable[[str], None] = print,
                 settings: Optional[dict] = None, free_gib: Optional[float] = None, device: str = "cpu") -> dict:
    """For each size: build (once, under ``folder``) the random model, run the iteration in a
    child process, and set the plan's estimate against the measured peak. ``free_gib``: tell
    the plan only this much memory is free."""
    rows = []
    say("model  parameters  estimate  measured peak  ratio  seconds   (GiB above the child's memory after its "
        "imports; the plan leaves those out)")
    for size in sizes:
        model = build_random_model(Path(folder) / size, size)
        got = measure(model, {**SETTINGS, **(settings or {})}, int(free_gib * 2**30) if free_gib else None,
                      device)
        from core.superhf.memory import model_shape

        params = model_shape(model).parameters
        ratio = got["estimate"] / got["peak"]
        rows.append({"model": size, "parameters": params, **got, "ratio": round(ratio, 3)})
        say(f"{size:>5}  {params / 1e9:9.3f}B  {got['estimate'] / 2**30:8.2f}  {got['peak'] / 2**30:13.2f}  "
            f"{ratio:5.2f}  {got['seconds']:7.1f}")
        whole = (got["peak"] + got["baseline"]) / 2**30
        say(f"       the whole process at its peak: {whole:.2f} GiB ({'within' if whole <= 24 else 'over'} 24 GiB)")
        say(f"       plan: {got['plan']}; phases estimated " + ", ".join(
            f"{k} {v / 2**30:.2f}" for k, v in got["phases"].items()) + "; measured " + ", ".join(
            f"{k} {v / 2**30:.2f}" for k, v in got["phase_peaks"].items()) + " GiB")
    return {"settings": {**SETTINGS, **(settings or {})}, "models": rows}
