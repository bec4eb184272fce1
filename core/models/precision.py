"""Precision chosen by measurement: float32 or bfloat16, for sampling and for training.

CPU flags do not say which is faster: bfloat16 sampled twice as fast as float32 on an AMD EPYC
with AVX512-BF16 and 20% slower on an Intel Xeon with the same flag. So a short probe times
both on this machine, with the model's own shapes: a shortened copy of its architecture (two
layers, the vocabulary cut to keep the output projection's share of the work), random weights,
run through the real sampler (prompt, then decode steps of batch x 1 token over a key/value
cache) and through a forward and backward pass on a short batch. The faster one wins; float32,
the exact one, wins ties (bfloat16 must be ``MARGIN`` faster).

The answer is cached in the workspace (``cache/precision.json``), keyed by everything that
changes it: purpose, device, CPU model or GPU name, torch version, threads and the model's
shapes, so the probe runs once per machine and model shape, not per run: the workspace holding
the model folder, else the default one (see ``workspace_cache_dir``). Where neither exists, the
probe runs without a file and its answer is kept for the life of the process. Models under ``SMALL_MODEL`` parameters get float32 without a probe:
there the work is too small for bfloat16 to pay and timings are mostly noise.

An explicit precision (``--precision``, a ``dtype`` argument) or ``SUPERHF_DTYPE`` overrides.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MARGIN = 1.05  # bfloat16 must be this much faster to be chosen over float32
SMALL_MODEL = 10_000_000  # parameters: below, float32 without a probe
CACHE_FILE = "precision.json"
PURPOSES = ("sampling", "training")
_memo: dict[str, dict] = {}  # key -> measured entry, for this process


@dataclass(frozen=True)
class Choice:
    dtype: str  # "float32" or "bfloat16" (or an asked-for "float16")
    reason: str  # in plain words, e.g. "measured: bfloat16 1.9x faster here"

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def choose_precision(purpose: str, device: str, *, requested: Optional[str] = None, config=None,
                     folder: Optional[Path] = None, cache_dir: Optional[Path] = None,
                     unmeasured: Optional[str] = None) -> Choice:
    """float32 or bfloat16 for ``purpose`` ("sampling" or "training") on ``device``: as asked,
    else as ``SUPERHF_DTYPE`` says, else measured (see the module's docstring). ``config`` (or
    ``folder``, a model folder whose config.json is read) gives the shapes to measure; without
    either, or for a model too small to measure, ``unmeasured`` where given, else float32
    (bfloat16 on a CUDA card that has it). The cache lives in ``cache_dir``, else in the
    workspace holding ``folder``, else in this process only."""
    if requested and requested != "auto":
        return Choice(requested, f"asked for {requested}")
    env = os.environ.get("SUPERHF_DTYPE")
    if env and env != "auto":
        return Choice(env, f"SUPERHF_DTYPE={env}")
    if device.startswith("mps"):
        return Choice("float32", "float32 on Apple MPS (not measured)")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_bf16_supported():
            return Choice("float32", "this GPU has no bfloat16")
    if config is None and folder is not None:
        config = _read_config(folder)
    if config is None:
        if unmeasured:
            return Choice(unmeasured, f"{unmeasured}, the model's own (no model to measure)")
        return Choice(*(("bfloat16", "bfloat16 on CUDA (no model to measure)") if device.startswith("cuda")
                        else ("float32", "float32 on CPU (no model to measure)")))
    if _parameters(config) < SMALL_MODEL:
        dtype = unmeasured or "float32"
        return Choice(dtype, f"{dtype}: the model is too small for bfloat16 to pay (not measured)")
    if cache_dir is None and folder is not None:
        cache_dir = workspace_cache_dir(folder)
    entry = measured(purpose, device, config, cache_dir)
    ratio = entry["float32"] / max(entry["bfloat16"], 1e-9)
    if ratio >= MARGIN:
        return Choice("bfloat16", f"measured: bfloat16 {ratio:.1f}x faster here")
    if ratio >= 1:
        return Choice("float32", f"measured: bfloat16 only {ratio:.2f}x as fast here, float32 kept (exact)")
    return Choice("float32", f"measured: float32 {1 / ratio:.1f}x faster here")


def measured(purpose: str, device: str, config, cache_dir: Optional[Path]) -> dict:
    """Seconds for the probe in each dtype, {"float32": s, "bfloat16": s}: from this process's
    memory, else the cache file, else measured now (and written to both)."""
    key = probe_key(purpose, device, config)
    if key in _memo:
        return _memo[key]
    path = cache_dir / CACHE_FILE if cache_dir is not None else None
    entries = _read_cache(path)
    entry = entries.get(key)
    if not _valid(entry):
        entry = {**_measure(purpose, device, config), "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        if path is not None:
            _write_cache(path, {**_read_cache(path), key: entry})
    _memo[key] = entry
    return entry


def probe_key(purpose: str, device: str, config) -> str:
    """Everything that changes the answer: purpose, device and its model name, torch version,
    threads, the model's architecture and widths."""
    import torch

    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        where = f"cuda {torch.cuda.get_device_name(index)}"
    else:
        where = f"{device} {cpu_name()} threads={torch.get_num_threads()}"
    shape = [getattr(config, k, None) for k in ("model_type", "hidden_size", "intermediate_size",
                                                 "num_attention_heads", "num_key_value_heads", "head_dim",
                                                 "num_hidden_layers", "vocab_size")]
    return f"{purpose} | {where} | torch {torch.__version__} | " + " ".join(map(str, shape))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def workspace_cache_dir(folder: Path) -> Optional[Path]:
    """The cache folder of the workspace holding model folder ``folder`` (``<home>/models/<name>``);
    for a model used where it lies (an imported folder is not copied), that of the default
    workspace (SUPERHF_HOME, else the user data folder) where one exists; else None."""
    from core.store.workspace import DB_NAME, default_home

    folder = Path(folder).resolve()
    for home in ([folder.parent.parent] if folder.parent.name == "models" else []) + [default_home()]:
        if (home / DB_NAME).is_file():
            return home / "cache"
    return None


def _valid(entry) -> bool:
    return (isinstance(entry, dict) and all(isinstance(entry.get(d), (int, float)) and entry[d] > 0
                                            for d in ("float32", "bfloat16")))


def _read_cache(path: Optional[Path]) -> dict:
    """The cached entries; a missing, unreadable or broken file counts as empty."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def _write_cache(path: Path, entries: dict) -> None:
    """Written whole and renamed into place; a folder we cannot write to only loses the cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "entries": entries}, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _read_config(folder: Path):
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception:  # noqa: BLE001 - no readable config: the caller falls back unmeasured
        return None


def _parameters(config) -> int:
    """Roughly the model's weight count, from its config alone."""
    hidden = getattr(config, "hidden_size", 0) or 0
    inner = getattr(config, "intermediate_size", None) or 4 * hidden
    layers = getattr(config, "num_hidden_layers", 0) or 0
    return layers * (4 * hidden * hidden + 3 * hidden * inner) + (getattr(config, "vocab_size", 0) or 0) * hidden


def _measure(purpose: str, device: str, config) -> dict:
    from core.models.precision_probe import probe

    return probe(purpose, device, config)

