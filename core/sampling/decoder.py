"""The sampling engine behind ``sample``: what plain ``generate`` does, built for superbatches.

Four things make it faster than ``generate`` at the same settings, each measured by
``superhf bench generate``:
  * each prompt is encoded once and its key/value cache shared by its ``n`` samples;
  * rows that have finished leave the running batch instead of being computed to the end;
  * top-p looks at the most likely tokens only (a top-k cut that provably holds the nucleus,
    with a full sort for the rare row where it does not) instead of sorting the vocabulary;
  * bfloat16 where it is measured faster on this machine (``core.models.precision``).
The distribution is that of ``generate`` with temperature and top-p (and ``top_k=0``):
temperature 0 means greedy decoding.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

PRE_CUTS = (64, 2048, 1 << 62)  # candidates top-p looks at, widened until they hold the nucleus
COMPACT_SHARE = 0.125  # drop finished rows once they are this share of the running batch
CPU_BATCH_CAP = 256  # past this, larger CPU batches gained little throughput (measured)
GPU_BATCH_CAP = 1024


def nucleus_sample(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row of ``logits`` (B, V): greedy at temperature 0, else the temperature-
    scaled distribution restricted to its top-p nucleus exactly as ``TopPLogitsWarper`` keeps
    it: a token stays when the mass of the tokens above it is below ``top_p``."""
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p >= 1:
        return _draw(probs)
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    pending = torch.arange(probs.shape[0], device=probs.device)
    for k in PRE_CUTS:  # widen the cut for rows whose nucleus it does not hold yet
        k = min(k, probs.shape[-1])
        top, index = probs[pending].topk(k, dim=-1)
        # The cut holds the nucleus when its mass reaches top_p: every token outside it then
        # has at least top_p of mass above it.
        held = (top.sum(-1) >= top_p) | (k == probs.shape[-1])
        out[pending[held]] = _pick(top[held], index[held], top_p)
        pending = pending[~held]
        if not len(pending):
            break
    return out


def _pick(top: torch.Tensor, index: torch.Tensor, top_p: float) -> torch.Tensor:
    """Draw from ``top`` (rows sorted descending) restricted to its nucleus."""
    keep = (top.cumsum(-1) - top) < top_p
    keep[:, 0] = True
    return index.gather(-1, _draw(top * keep)[:, None]).squeeze(-1)


def _draw(weights: torch.Tensor) -> torch.Tensor:
    """One column per row, with probability proportional to its weight, by inverting the
    cumulative distribution: much cheaper than ``torch.multinomial`` on CPU (measured)."""
    cumulative = weights.cumsum(-1)
    u = torch.rand((weights.shape[0], 1), device=weights.device, dtype=cumulative.dtype) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, u, right=True).clamp(max=weights.shape[-1] - 1).squeeze(-1)


def sampling_precision(device: str, model_dtype: torch.dtype, precision: str = "auto", *, folder=None):
    """The dtype to sample in, with the reason (``core.models.precision.Choice``): as asked,
    else measured on this machine for the model in ``folder`` (float32 against bfloat16: CPU
    flags do not say which is faster). A float16 model samples in float16 on a GPU. Without a
    folder to measure, or for a model too small to measure: the model's own dtype (on CUDA
    without a folder, bfloat16 where the card has it)."""
    from core.models.precision import Choice, choose_precision

    name = str(model_dtype).replace("torch.", "")
    if precision == "auto" and model_dtype == torch.float16 and not device.startswith("cpu"):
        return Choice(name, "the model's own float16")
    if precision == "auto" and folder is None and not device.startswith("cuda"):
        return Choice(name, f"the model's own {name} (no model folder to measure)")
    return choose_precision("sampling", device, requested=precision, folder=folder,
                            unmeasured=name if name in ("float32", "bfloat16") else None)


def sampling_dtype(device: str, model_dtype: torch.dtype, precision: str = "auto", *, folder=None) -> torch.dtype:
    """The dtype ``sampling_precision`` chooses."""
    return sampling_precision(device, model_dtype, precision, folder=folder).torch_dtype


@contextmanager
def model_in(model: torch.nn.Module, dtype: torch.dtype):
    """``model`` itself when it already computes in ``dtype``; else a copy in ``dtype`` (LoRA
    adapters merged into it), dropped on exit. The copy is skipped, and the model used as it
    is, when memory would not hold it."""
    current = next(model.parameters()).dtype
    if current == dtype or not _copy_fits(model, dtype):
        yield model
        return
    twin = copy.deepcopy(model)
    if hasattr(twin, "merge_and_unload"):  # a PeftModel: one plain model is faster to sample
        twin = twin.merge_and_unload()
    twin = twin.to(dtype).eval()
    try:
        yield twin
    finally:
        del twin


def _copy_fits(model: torch.nn.Module, dtype: torch.dtype) -> bool:
    device = next(model.parameters()).device
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    needed = size + size * torch.finfo(dtype).bits // (8 * next(model.parameters()).element_size())
    return needed < 0.6 * available_memory(device)


def available_memory(device: torch.device | str) -> int:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import psutil

    return psutil.virtual_memory().available


def auto_batch_size(model: torch.nn.Module, dtype: torch.dtype, context_tokens: int) -> int:
    """Sequences per batch from the memory free now: the key/value cache of a sequence of
    ``context_tokens`` plus its logits, within 40% of what is available."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", 12)
    heads = getattr(config, "num_attention_heads", 12)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    width = torch.finfo(dtype).bits // 8
    per_sequence = 2 * layers * kv_heads * head_dim * width * context_tokens + 4 * 4 * config.vocab_size
    device = next(model.parameters()).device
    cap = CPU_BATCH_CAP if device.type == "cpu" else GPU_BATCH_CAP
    return max(1, min(cap, int(0.4 * available_memory(device) // per_sequence)))


@dataclass
class Decoded:
    tokens: list[int]  # sampled, up to and without the stop token
    finished: bool  # ended with a stop token (False: cut at the token limit)


def decode(model, prompts: Sequence[Sequence[int]], repeats: Sequence[int], *, pad_id: int,
           stop_ids: Sequence[int], max_new_tokens: int, temperature: float, top_p: float,
           on_step: Optional[Callable[[int], None]] = None, stats: Optional[dict] = None) -> list[Decoded]:
    """Sample ``repeats[j]`` continuations of token list ``prompts[j]``, in one running batch;
    returns them prompt by prompt. ``on_step(finished_rows)`` runs after every decode step
    (the place to check for cancellation); ``stats["forward_passes"]`` counts the model calls."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for j, p in enumerate(prompts):
        ids[j, width - len(p):] = torch.tensor(p)
        mask[j, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate and generation.position_ids
    # The last position's logits only, picked by index: a contiguous slice. (``logits_to_keep=1``
    # hands the output projection a strided view, which bfloat16 on CPU turns into a copy of the
    # projection's weight per prompt: seconds per batch, measured.)
    last = torch.tensor([width - 1], device=device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=last)
    cache = model_cache(out)
    passes = 1
    rows = torch.repeat_interleave(torch.arange(len(prompts), device=device),
                                   torch.tensor(list(repeats), device=device))
    cache.batch_select_indices(rows)  # each prompt's cache, shared by its samples
    logits = out.logits[:, -1][rows]
    mask, position = mask[rows], positions[rows, -1]
    total = len(rows)
    alive = torch.arange(total, device=device)  # the original row of each running row
    sampled = torch.full((total, max_new_tokens), pad_id, dtype=torch.long, device=device)
    ends = torch.full((total,), max_new_tokens, dtype=torch.long, device=device)  # tokens kept
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    done_here = torch.zeros(total, dtype=torch.bool, device=device)  # finished but still in the batch
    with_stop = torch.zeros(total, dtype=torch.bool, device=device)
    finished = done_in_batch = 0  # rows ended by a stop token: in all, and among the running rows
    for step in range(max_new_tokens):
        token = nucleus_sample(logits, temperature, top_p)
        sampled[alive, step] = token
        stopped = torch.isin(token, stops) & ~done_here
        n_stopped = int(stopped.sum())  # the step's one wait for the device
        if n_stopped:
            ends[alive[stopped]] = step
            with_stop[alive[stopped]] = True
            done_here |= stopped
            finished, done_in_batch = finished + n_stopped, done_in_batch + n_stopped
        if on_step is not None:
            on_step(finished)
        if step == max_new_tokens - 1 or done_in_batch == len(alive):
            break
        if done_in_batch >= max(1, COMPACT_SHARE * len(alive)):
            keep = (~done_here).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            alive, token, mask, position = alive[keep], token[keep], mask[keep], position[keep]
            done_here, done_in_batch = done_here[keep], 0
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=-1)
        position = position + 1
        out = model(input_ids=token[:, None], attention_mask=mask, position_ids=position[:, None],
                    cache=cache, use_cache=True)
        cache = model_cache(out)
        logits = out.logits[:, -1]
        passes += 1
    if stats is not None:
        stats["forward_passes"] = stats.get("forward_passes", 0) + passes
    sampled, ends, with_stop = sampled.tolist(), ends.tolist(), with_stop.tolist()
    return [Decoded(sampled[r][:ends[r]], with_stop[r]) for r in range(total)]


def model_cache(out):
    """The key/value cache a forward pass returned, under either name transformers has used."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
